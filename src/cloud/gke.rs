//! GKE: Data Access audit logs for k8s.io in the project's IAM policy, read with
//! `gcloud projects get-iam-policy` and set with `set-iam-policy`; a drill's events read
//! back from Cloud Logging with `gcloud logging read`.

use serde::Deserialize;

use super::logs::{LogQuery, QueryError, quotable, whole_seconds};
use super::runner::{CliRunner, command_line, strings};
use super::{
    CheckOutcome, ClusterHint, Finding, ParseError, Step, judge, known, run_cli, value_or,
};
use crate::audit::Event;

pub(super) const GCLOUD: &str = "gcloud";
const PROJECT: &str = "<PROJECT>";

pub(super) const REQUIREMENT: &str = "Data Access audit logs (DATA_READ, and DATA_WRITE) must be \
     enabled for service k8s.io in the project's IAM audit config, else reads such as getting \
     or listing Secrets are not logged (Admin Activity logs are always on)";

pub(super) fn check_command(hint: &ClusterHint) -> String {
    command_line(GCLOUD, &policy_args(&value_or(&hint.account, PROJECT)))
}

pub(super) fn fix_command(hint: &ClusterHint) -> String {
    fix_script(&value_or(&hint.account, PROJECT))
}

fn policy_args(project: &str) -> Vec<String> {
    strings(&["projects", "get-iam-policy", project, "--format=json"])
}

/// The documented way: fetch the policy, add an auditConfigs entry, set it back (the etag
/// in the file guards against overwriting a concurrent change). ADMIN_READ is added too:
/// GKE logs metadata reads such as listing as ADMIN_READ.
fn fix_script(project: &str) -> String {
    let get = command_line(GCLOUD, &policy_args(project));
    let set = command_line(
        GCLOUD,
        &strings(&[
            "projects",
            "set-iam-policy",
            project,
            "policy-k8s-audit.json",
        ]),
    );
    format!(
        "{get} > policy.json\n\
         # add Data Access logs for k8s.io to auditConfigs (by hand, or with jq:)\n\
         jq '.auditConfigs = [(.auditConfigs // [])[] | select(.service != \"k8s.io\")] + \
         [{{\"service\":\"k8s.io\",\"auditLogConfigs\":[{{\"logType\":\"ADMIN_READ\"}},\
         {{\"logType\":\"DATA_READ\"}},{{\"logType\":\"DATA_WRITE\"}}]}}]' \
         policy.json > policy-k8s-audit.json\n\
         {set}"
    )
}

pub(super) fn check_setting(hint: &ClusterHint, runner: &CliRunner) -> Step<CheckOutcome> {
    let project = known(
        &hint.account,
        "the Google Cloud project (the kubeconfig context is not named gke_<project>_<location>_<cluster>)",
    )?;
    let args = policy_args(project);
    let stdout = run_cli(runner, GCLOUD, &args)?;
    let finding = parse_gke_iam_policy(&stdout).map(|f| Finding {
        evidence: format!("project {project}: {}", f.evidence),
        ..f
    });
    Ok(judge(command_line(GCLOUD, &args), finding))
}

#[derive(Debug, Deserialize)]
struct IamPolicy {
    #[serde(default, rename = "auditConfigs")]
    audit_configs: Vec<AuditConfig>,
}

#[derive(Debug, Deserialize)]
struct AuditConfig {
    #[serde(default)]
    service: String,
    #[serde(default, rename = "auditLogConfigs")]
    audit_log_configs: Vec<AuditLogConfig>,
}

#[derive(Debug, Deserialize)]
struct AuditLogConfig {
    #[serde(default, rename = "logType")]
    log_type: String,
}

/// Reads `gcloud projects get-iam-policy --format=json`. A log type listed for k8s.io or
/// allServices is on (exemptedMembers only carve out principals, not the decoy).
pub fn parse_gke_iam_policy(json: &str) -> Result<Finding, ParseError> {
    let document = ParseError::json(json)?;
    if !document.is_object() {
        return Err(ParseError::Unexpected("not an IAM policy object"));
    }
    let policy: IamPolicy =
        serde_json::from_value(document).map_err(ParseError::shape("not an IAM policy"))?;
    let mut on: Vec<&str> = policy
        .audit_configs
        .iter()
        .filter(|config| config.service == "k8s.io" || config.service == "allServices")
        .flat_map(|config| config.audit_log_configs.iter().map(|c| c.log_type.as_str()))
        .collect();
    on.sort_unstable();
    on.dedup();
    let listed = if on.is_empty() {
        "none".to_string()
    } else {
        on.join(", ")
    };
    let evidence = if on.contains(&"DATA_READ") {
        let mut evidence =
            format!("IAM auditConfigs enable DATA_READ for k8s.io (log types on: {listed})");
        if !on.contains(&"ADMIN_READ") {
            evidence
                .push_str("; ADMIN_READ is off, so metadata reads such as listing are not logged");
        }
        evidence
    } else {
        format!(
            "the project's IAM auditConfigs do not enable DATA_READ for k8s.io or allServices \
             (log types on: {listed}); a folder or organization policy could, which this check \
             does not read"
        )
    };
    Ok(Finding {
        enabled: on.contains(&"DATA_READ"),
        evidence,
    })
}

/// The `gcloud logging read` arguments that find the decoy user's events.
pub(super) fn log_query_args(query: &LogQuery) -> Result<Vec<String>, QueryError> {
    let project = query.hint.account.as_ref().ok_or(QueryError::Missing(
        "the Google Cloud project is not known (the kubeconfig context is not named \
         gke_<project>_<location>_<cluster>)",
    ))?;
    let mut clauses = vec![r#"resource.type="k8s_cluster""#.to_string()];
    // Without the name the project's other clusters match too; the drill's user agent
    // still tells its events apart.
    if let Some(name) = &query.hint.name {
        quotable("cluster name", &name.value)?;
        clauses.push(format!(r#"resource.labels.cluster_name="{}""#, name.value));
    }
    clauses.push(format!(
        r#"protoPayload.authenticationInfo.principalEmail="{}""#,
        query.username
    ));
    clauses.push(format!(r#"timestamp>="{}""#, whole_seconds(query.since)));
    Ok(strings(&[
        "logging",
        "read",
        &clauses.join(" AND "),
        "--project",
        &project.value,
        "--format=json",
        "--order=asc",
        "--limit=1000",
    ]))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct LogEntry {
    insert_id: String,
    timestamp: Option<String>,
    proto_payload: Option<AuditLogPayload>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct AuditLogPayload {
    method_name: String,
    resource_name: String,
    authentication_info: AuthenticationInfo,
    request_metadata: RequestMetadata,
    status: Option<RpcStatus>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct AuthenticationInfo {
    principal_email: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RequestMetadata {
    caller_ip: Option<String>,
    caller_supplied_user_agent: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RpcStatus {
    code: i32,
}

/// Reads `gcloud logging read --format=json`: a list of LogEntry objects whose
/// protoPayload is a Cloud Audit Log of a Kubernetes request. Entries that do not
/// convert (not a Kubernetes request, or a request path that cannot be rebuilt) are
/// skipped.
pub fn parse_gke_log_entries(json: &str) -> Result<Vec<Event>, ParseError> {
    let entries: Vec<LogEntry> =
        serde_json::from_str(json).map_err(ParseError::shape("not a list of log entries"))?;
    Ok(entries.into_iter().filter_map(gke_event).collect())
}

fn gke_event(entry: LogEntry) -> Option<Event> {
    let payload = entry.proto_payload?;
    let (verb, request_uri) = gke_request(&payload.method_name, &payload.resource_name)?;
    Some(Event {
        audit_id: entry.insert_id,
        // Cloud Logging holds one entry per request, written when it completed.
        stage: "ResponseComplete".to_string(),
        verb,
        request_uri,
        user: crate::audit::User {
            username: payload.authentication_info.principal_email,
            groups: Vec::new(),
        },
        source_ips: payload.request_metadata.caller_ip.into_iter().collect(),
        user_agent: payload.request_metadata.caller_supplied_user_agent,
        response_status: gke_http_code(payload.status.map_or(0, |s| s.code))
            .map(|code| crate::audit::ResponseStatus { code }),
        request_received_timestamp: entry.timestamp.and_then(|t| t.parse().ok()),
        ..Event::default()
    })
}

/// The verb and request path of a GKE audit entry.
///
/// Resource requests: methodName `io.k8s.<group>.<version>.<resource>[.<sub>].<verb>`,
/// resourceName `<group>/<version>/...` with group `core` for the legacy API at /api.
///
/// Non-resource requests (the drill's GET /api and /apis) are ASSUMED to be written as
/// methodName `io.k8s.<verb>` and resourceName the path without its leading slash: that
/// is how public log exclusion filters match /readyz, /livez and /metrics entries
/// (`methodName=~"io.k8s.get"`, `resourceName="readyz"`); Google does not document it,
/// and GKE may not log discovery requests at all. If these do not arrive, verify says
/// which requests did not.
fn gke_request(method_name: &str, resource_name: &str) -> Option<(String, String)> {
    let rest = method_name.strip_prefix("io.k8s.")?;
    let (qualifier, verb) = match rest.rsplit_once('.') {
        Some((qualifier, verb)) => (Some(qualifier), verb),
        None => (None, rest),
    };
    let resource_name = resource_name.trim_start_matches('/');
    if verb.is_empty() || resource_name.is_empty() {
        return None;
    }
    let request_uri = match (qualifier, resource_name.strip_prefix("core/")) {
        (None, _) => format!("/{resource_name}"),
        (Some(_), Some(legacy)) => format!("/api/{legacy}"),
        (Some(_), None) => format!("/apis/{resource_name}"),
    };
    Some((verb.to_string(), request_uri))
}

/// google.rpc codes GKE writes for a Kubernetes response, as the HTTP code the API server
/// sent. OK stands for any 2xx (a create answered 201 also reads 200 here).
fn gke_http_code(rpc_code: i32) -> Option<u16> {
    match rpc_code {
        0 => Some(200),
        7 => Some(403),
        16 => Some(401),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::testing::*;
    use crate::cloud::{Provider, check_command, fix_command, run_check};

    const GKE_ENABLED: &str =
        include_str!("../../tests/fixtures/cloud/gke-iam-policy-data-access-enabled.json");
    const GKE_NONE: &str =
        include_str!("../../tests/fixtures/cloud/gke-iam-policy-no-audit-configs.json");
    const GKE_ADMIN_READ: &str =
        include_str!("../../tests/fixtures/cloud/gke-iam-policy-admin-read-only.json");
    const GKE_ALL_SERVICES: &str =
        include_str!("../../tests/fixtures/cloud/gke-iam-policy-all-services.json");
    const GKE_LOG_ENTRIES: &str = include_str!("../../tests/fixtures/cloud/gke-logging-read.json");
    const GKE_LOG_ARGV: &[&str] = &[
        "logging",
        "read",
        r#"resource.type="k8s_cluster" AND resource.labels.cluster_name="web" AND protoPayload.authenticationInfo.principalEmail="system:serviceaccount:kube-system:tiller" AND timestamp>="2026-11-28T09:59:00Z""#,
        "--project",
        "my-proj",
        "--format=json",
        "--order=asc",
        "--limit=1000",
    ];

    // --- parsers, on output in the shape the CLIs print ---

    #[test]
    fn gke_policy_with_k8s_data_read_is_enabled() {
        let finding = parse_gke_iam_policy(GKE_ENABLED).unwrap();
        assert!(finding.enabled);
        assert_eq!(
            finding.evidence,
            "IAM auditConfigs enable DATA_READ for k8s.io (log types on: ADMIN_READ, DATA_READ, DATA_WRITE)"
        );
    }

    #[test]
    fn gke_policy_without_audit_configs_is_disabled_and_says_only_the_project_was_read() {
        let finding = parse_gke_iam_policy(GKE_NONE).unwrap();
        assert!(!finding.enabled);
        assert!(
            finding.evidence.contains("log types on: none"),
            "{}",
            finding.evidence
        );
        assert!(
            finding.evidence.contains("organization policy could"),
            "{}",
            finding.evidence
        );
    }

    #[test]
    fn gke_admin_read_alone_and_other_services_do_not_count() {
        let finding = parse_gke_iam_policy(GKE_ADMIN_READ).unwrap();
        assert!(!finding.enabled);
        assert!(
            finding.evidence.contains("log types on: ADMIN_READ)"),
            "{}",
            finding.evidence
        );
    }

    #[test]
    fn gke_all_services_config_counts_for_k8s() {
        let finding = parse_gke_iam_policy(GKE_ALL_SERVICES).unwrap();
        assert!(finding.enabled);
    }

    #[test]
    fn gke_data_read_without_admin_read_says_listing_is_not_logged() {
        let json = r#"{"auditConfigs":[{"auditLogConfigs":[{"logType":"DATA_READ"}],"service":"k8s.io"}],"etag":"x","version":1}"#;
        let finding = parse_gke_iam_policy(json).unwrap();
        assert!(finding.enabled);
        assert!(
            finding.evidence.contains("ADMIN_READ is off"),
            "{}",
            finding.evidence
        );
    }

    #[test]
    fn gke_output_that_is_not_a_policy_is_an_error() {
        assert!(parse_gke_iam_policy("[]").is_err());
        assert!(parse_gke_iam_policy("ERROR: (gcloud.projects.get-iam-policy)").is_err());
    }

    // --- commands ---

    #[test]
    fn gke_commands() {
        assert_eq!(
            check_command(Provider::Gke, &gke_hint()),
            "gcloud projects get-iam-policy my-proj --format=json"
        );
        let fix = fix_command(Provider::Gke, &gke_hint());
        let lines: Vec<&str> = fix.lines().collect();
        assert_eq!(lines.len(), 4, "{fix}");
        assert_eq!(
            lines[0],
            "gcloud projects get-iam-policy my-proj --format=json > policy.json"
        );
        assert!(lines[2].starts_with("jq '.auditConfigs = "), "{fix}");
        assert!(
            lines[2].contains(r#"{"logType":"DATA_READ"},{"logType":"DATA_WRITE"}"#),
            "{fix}"
        );
        assert!(
            lines[2].ends_with("policy.json > policy-k8s-audit.json"),
            "{fix}"
        );
        assert_eq!(
            lines[3],
            "gcloud projects set-iam-policy my-proj policy-k8s-audit.json"
        );
        assert!(
            fix_command(Provider::Gke, &ClusterHint::default())
                .contains("get-iam-policy <PROJECT> --format=json")
        );
    }

    // --- reading a drill's events back ---

    #[test]
    fn gke_audit_log_entries_convert_to_audit_events() {
        let events = parse_gke_log_entries(GKE_LOG_ENTRIES).unwrap();
        assert_eq!(
            events.iter().map(seen).collect::<Vec<_>>(),
            vec![
                (
                    "list",
                    "/api/v1/namespaces/kube-system/secrets",
                    TILLER,
                    DRILL_UA,
                    Some(403)
                ),
                (
                    "create",
                    "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                    TILLER,
                    DRILL_UA,
                    Some(200)
                ),
                (
                    "list",
                    "/api/v1/namespaces/kube-system/pods",
                    TILLER,
                    KUBECTL_UA,
                    Some(403)
                ),
            ]
        );
        let drill = &events[0];
        assert_eq!(drill.audit_id, "7e3f9a1c-2b4d-4c6e-8f0a-1b2c3d4e5f60");
        assert_eq!(drill.stage, "ResponseComplete");
        assert_eq!(drill.source_ips, vec!["203.0.113.24"]);
        assert_eq!(
            drill.request_received_timestamp,
            at("2026-11-28T10:00:01.512345Z")
        );
        assert!(matches_drill(drill, LIST_SECRETS));
        assert!(matches_drill(
            &events[1],
            "can-i --list (SelfSubjectRulesReview)"
        ));
        assert!(!matches_drill(&events[2], LIST_SECRETS));
    }

    #[test]
    fn gke_method_and_resource_names_give_verb_and_path() {
        let request = |method, resource| gke_request(method, resource);
        assert_eq!(
            request(
                "io.k8s.authentication.v1.selfsubjectreviews.create",
                "authentication.k8s.io/v1/selfsubjectreviews"
            ),
            Some((
                "create".into(),
                "/apis/authentication.k8s.io/v1/selfsubjectreviews".into()
            ))
        );
        assert_eq!(
            request("io.k8s.core.v1.secrets.list", "core/v1/secrets"),
            Some(("list".into(), "/api/v1/secrets".into()))
        );
        assert_eq!(
            request(
                "io.k8s.core.v1.pods.exec.create",
                "core/v1/namespaces/default/pods/web-0/exec"
            ),
            Some((
                "create".into(),
                "/api/v1/namespaces/default/pods/web-0/exec".into()
            ))
        );
        // Assumed non-resource shape (see gke_request).
        assert_eq!(
            request("io.k8s.get", "apis"),
            Some(("get".into(), "/apis".into()))
        );
        assert_eq!(
            request(
                "google.container.v1.ClusterManager.GetCluster",
                "projects/p/locations/l/clusters/c"
            ),
            None
        );
        assert_eq!(request("io.k8s.core.v1.secrets.list", ""), None);
    }

    #[test]
    fn gke_rpc_status_codes_become_http_codes() {
        assert_eq!(gke_http_code(0), Some(200));
        assert_eq!(gke_http_code(7), Some(403));
        assert_eq!(gke_http_code(16), Some(401));
        assert_eq!(
            gke_http_code(5),
            None,
            "NOT_FOUND has no single HTTP code here"
        );
        let without_status = r#"[{"insertId":"x","protoPayload":{"methodName":"io.k8s.core.v1.pods.get","resourceName":"core/v1/namespaces/a/pods/b"}}]"#;
        assert_eq!(
            parse_gke_log_entries(without_status).unwrap()[0].code(),
            Some(200)
        );
        let other = r#"[{"protoPayload":{"methodName":"io.k8s.core.v1.pods.get","resourceName":"core/v1/namespaces/a/pods/b","status":{"code":5}}}]"#;
        assert_eq!(parse_gke_log_entries(other).unwrap()[0].code(), None);
    }

    #[test]
    fn gke_entries_that_are_not_kubernetes_requests_are_skipped() {
        let json = r#"[{"insertId":"a","protoPayload":{"methodName":"google.container.v1.ClusterManager.GetCluster","resourceName":"projects/my-proj/locations/europe-west1-b/clusters/web"}},{"insertId":"b","textPayload":"hello"}]"#;
        assert_eq!(parse_gke_log_entries(json).unwrap(), Vec::<Event>::new());
    }

    #[test]
    fn gke_output_that_is_not_a_list_of_entries_is_an_error() {
        for output in ["{}", "Listed 0 items.", r#"[{"protoPayload": 5}]"#] {
            let error = parse_gke_log_entries(output).unwrap_err().to_string();
            assert!(
                error.starts_with("not a list of log entries"),
                "{output}: {error}"
            );
        }
        assert!(parse_gke_log_entries("[]\n").unwrap().is_empty());
    }

    #[test]
    fn gke_log_query_command_with_and_without_the_cluster_name() {
        let query = log_query(Provider::Gke, gke_hint());
        assert_eq!(query.command().unwrap(), ("gcloud", owned(GKE_LOG_ARGV)));
        let hint = ClusterHint {
            name: None,
            ..gke_hint()
        };
        let (_, args) = log_query(Provider::Gke, hint).command().unwrap();
        assert_eq!(
            args[2],
            r#"resource.type="k8s_cluster" AND protoPayload.authenticationInfo.principalEmail="system:serviceaccount:kube-system:tiller" AND timestamp>="2026-11-28T09:59:00Z""#
        );
    }

    // Running the check and the query with a stand-in gcloud: Google Cloud cannot be
    // reached from here.
    #[cfg(unix)]
    mod stand_in_clis {
        use super::*;

        const GKE_ARGV: &[&str] = &["projects", "get-iam-policy", "my-proj", "--format=json"];

        #[test]
        fn stand_in_gcloud_reports_data_access_enabled() {
            let clis = StandIns::new();
            clis.install("gcloud", &[(GKE_ARGV, Reply::Prints(GKE_ENABLED))]);
            assert_eq!(
                run_check(Provider::Gke, &gke_hint(), &clis.runner()),
                CheckOutcome::Enabled {
                    evidence: "project my-proj: IAM auditConfigs enable DATA_READ for k8s.io (log types on: ADMIN_READ, DATA_READ, DATA_WRITE)".into()
                }
            );
            assert_eq!(clis.calls("gcloud"), vec![bracketed(GKE_ARGV)]);
        }

        #[test]
        fn stand_in_gcloud_reports_data_access_disabled() {
            let clis = StandIns::new();
            clis.install("gcloud", &[(GKE_ARGV, Reply::Prints(GKE_NONE))]);
            let outcome = run_check(Provider::Gke, &gke_hint(), &clis.runner());
            assert!(
                matches!(&outcome, CheckOutcome::Disabled { evidence } if evidence.starts_with("project my-proj: ")),
                "{outcome:?}"
            );
        }

        #[test]
        fn stand_in_gcloud_permission_error_is_reported() {
            let clis = StandIns::new();
            let error = "ERROR: (gcloud.projects.get-iam-policy) [alice@example.com] does not have permission to access projects instance [my-proj:getIamPolicy] (or it may not exist): The caller does not have permission\n";
            clis.install(
                "gcloud",
                &[(
                    GKE_ARGV,
                    Reply::Fails {
                        code: 1,
                        stderr: error,
                    },
                )],
            );
            let outcome = run_check(Provider::Gke, &gke_hint(), &clis.runner());
            assert_eq!(
                outcome,
                CheckOutcome::CliFailed {
                    command: "gcloud projects get-iam-policy my-proj --format=json".into(),
                    message: format!("{} (exit status 1)", error.trim())
                }
            );
        }

        #[test]
        fn stand_in_gcloud_is_not_run_without_a_project() {
            let clis = StandIns::new();
            clis.install("gcloud", &[(GKE_ARGV, Reply::Prints(GKE_ENABLED))]);
            let outcome = run_check(Provider::Gke, &ClusterHint::default(), &clis.runner());
            assert!(
                matches!(&outcome, CheckOutcome::NotEnoughToRun { missing } if missing.contains("gke_<project>")),
                "{outcome:?}"
            );
            assert!(clis.calls("gcloud").is_empty());
        }

        #[test]
        fn stand_in_gcloud_log_query_converts_the_entries() {
            let clis = StandIns::new();
            clis.install("gcloud", &[(GKE_LOG_ARGV, Reply::Prints(GKE_LOG_ENTRIES))]);
            let events = log_query(Provider::Gke, gke_hint())
                .fetch(&clis.runner())
                .unwrap();
            assert_eq!(clis.calls("gcloud"), vec![bracketed(GKE_LOG_ARGV)]);
            assert_eq!(
                events.iter().map(seen).collect::<Vec<_>>(),
                vec![
                    (
                        "list",
                        "/api/v1/namespaces/kube-system/secrets",
                        TILLER,
                        DRILL_UA,
                        Some(403)
                    ),
                    (
                        "create",
                        "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                        TILLER,
                        DRILL_UA,
                        Some(200)
                    ),
                    (
                        "list",
                        "/api/v1/namespaces/kube-system/pods",
                        TILLER,
                        KUBECTL_UA,
                        Some(403)
                    ),
                ]
            );
        }

        #[test]
        fn stand_in_gcloud_printing_no_json_is_an_error_naming_the_command() {
            let clis = StandIns::new();
            clis.install(
                "gcloud",
                &[(GKE_LOG_ARGV, Reply::Prints("Listed 0 items.\n"))],
            );
            let error = log_query(Provider::Gke, gke_hint())
                .fetch(&clis.runner())
                .unwrap_err()
                .to_string();
            assert!(error.starts_with("`gcloud logging read "), "{error}");
            assert!(
                error.contains("--limit=1000`: unexpected output: not a list of log entries"),
                "{error}"
            );
        }

        #[test]
        fn stand_in_gcloud_log_query_is_not_run_without_a_project() {
            let clis = StandIns::new();
            clis.install("gcloud", &[(GKE_LOG_ARGV, Reply::Prints(GKE_LOG_ENTRIES))]);
            let hint = ClusterHint {
                account: None,
                ..gke_hint()
            };
            let error = log_query(Provider::Gke, hint)
                .fetch(&clis.runner())
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with("the Google Cloud project is not known"),
                "{error}"
            );
            assert!(clis.calls("gcloud").is_empty());
        }
    }
}
