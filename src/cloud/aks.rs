//! AKS: a diagnostic setting that sends category kube-audit somewhere, read with
//! `az monitor diagnostic-settings list` (after finding the cluster with `az aks list`) and
//! created with `az monitor diagnostic-settings create`; a drill's events read back from
//! the AKSAudit table of a Log Analytics workspace with `az monitor log-analytics query`.

use serde::Deserialize;
use serde_json::Value;

use super::logs::{LogQuery, QueryError, whole_seconds};
use super::runner::{CliRunner, command_line, strings};
use super::{
    CLUSTER, CheckOutcome, ClusterHint, Finding, ParseError, Step, guess_note, judge, not_enough,
    run_cli, unexpected_output, value_or,
};
use crate::audit::Event;

pub(super) const AZ: &str = "az";
const RESOURCE_GROUP: &str = "<RESOURCE_GROUP>";
const WORKSPACE_ID: &str = "<WORKSPACE_ID>";
/// Stands for the AKS resource ID in a command line until it is replaced by the
/// `az aks show` that prints it.
const AKS_ID: &str = "<AKS_RESOURCE_ID>";
const KUBE_AUDIT_ON: &str = r#"[{"category":"kube-audit","enabled":true}]"#;

pub(super) const REQUIREMENT: &str = "a diagnostic setting must send category kube-audit to a \
     Log Analytics workspace or storage account (kube-audit-admin alone leaves out get and \
     list)";

pub(super) fn check_command(hint: &ClusterHint) -> String {
    let name = value_or(&hint.name, CLUSTER);
    command_line(AZ, &settings_args(AKS_ID)).replace(AKS_ID, &id_expression(&name))
        + &guess_note(hint)
}

pub(super) fn fix_command(hint: &ClusterHint) -> String {
    let name = value_or(&hint.name, CLUSTER);
    command_line(AZ, &fix_args(AKS_ID)).replace(AKS_ID, &id_expression(&name)) + &guess_note(hint)
}

fn list_args() -> Vec<String> {
    strings(&["aks", "list", "-o", "json"])
}

fn show_id_args(resource_group: &str, name: &str) -> Vec<String> {
    strings(&[
        "aks",
        "show",
        "-g",
        resource_group,
        "-n",
        name,
        "--query",
        "id",
        "-o",
        "tsv",
    ])
}

fn settings_args(resource_id: &str) -> Vec<String> {
    strings(&[
        "monitor",
        "diagnostic-settings",
        "list",
        "--resource",
        resource_id,
        "-o",
        "json",
    ])
}

fn fix_args(resource_id: &str) -> Vec<String> {
    strings(&[
        "monitor",
        "diagnostic-settings",
        "create",
        "--name",
        "kube-audit",
        "--resource",
        resource_id,
        "--workspace",
        WORKSPACE_ID,
        "--logs",
        KUBE_AUDIT_ON,
    ])
}

/// The kubeconfig does not name the resource group, so a printed command looks the
/// resource ID up with a placeholder for it.
fn id_expression(name: &str) -> String {
    format!(
        "\"$({})\"",
        command_line(AZ, &show_id_args(RESOURCE_GROUP, name))
    )
}

/// The resource group is not in the kubeconfig, so the cluster is looked up among those
/// the CLI can see, by its API server host (certain) or else its guessed name.
pub(super) fn check_setting(hint: &ClusterHint, runner: &CliRunner) -> Step<CheckOutcome> {
    if hint.server_host.is_none() && hint.name.is_none() {
        return Err(not_enough("the AKS cluster's API server host or name"));
    }
    let list_args = list_args();
    let listing = run_cli(runner, AZ, &list_args)?;
    let (id, matched_by) = match find_aks_cluster(&listing, hint) {
        Ok(AksLookup::Found { id, matched_by }) => (id, matched_by),
        Ok(AksLookup::NotFound(why)) => return Err(not_enough(&why)),
        Err(e) => return Err(unexpected_output(command_line(AZ, &list_args), &e)),
    };
    let args = settings_args(&id);
    let stdout = run_cli(runner, AZ, &args)?;
    let finding = parse_aks_diagnostic_settings(&stdout).map(|f| Finding {
        evidence: format!("cluster {id} (found by {matched_by}): {}", f.evidence),
        ..f
    });
    Ok(judge(command_line(AZ, &args), finding))
}

#[derive(Debug, Deserialize)]
struct DiagnosticSetting {
    #[serde(default)]
    name: String,
    /// Null and absent both mean no log categories.
    #[serde(default)]
    logs: Option<Vec<LogSetting>>,
    #[serde(default, rename = "workspaceId")]
    workspace_id: Option<String>,
    #[serde(default, rename = "storageAccountId")]
    storage_account_id: Option<String>,
    #[serde(default, rename = "eventHubAuthorizationRuleId")]
    event_hub_rule_id: Option<String>,
    #[serde(default, rename = "marketplacePartnerId")]
    partner_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LogSetting {
    #[serde(default)]
    category: Option<String>,
    #[serde(default, rename = "categoryGroup")]
    category_group: Option<String>,
    #[serde(default)]
    enabled: bool,
}

impl LogSetting {
    fn is(&self, category: &str) -> bool {
        self.enabled
            && self
                .category
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(category))
    }

    /// kube-audit itself, or a category group that contains it.
    fn covers_kube_audit(&self) -> bool {
        let group_covers = self
            .category_group
            .as_deref()
            .is_some_and(|g| g.eq_ignore_ascii_case("allLogs") || g.eq_ignore_ascii_case("audit"));
        self.is("kube-audit") || (self.enabled && group_covers)
    }
}

impl DiagnosticSetting {
    fn logs(&self) -> &[LogSetting] {
        self.logs.as_deref().unwrap_or_default()
    }

    fn destinations(&self) -> Vec<String> {
        let last = |id: &str| id.rsplit('/').next().unwrap_or(id).to_string();
        let mut places = Vec::new();
        if let Some(id) = &self.workspace_id {
            places.push(format!("Log Analytics workspace {}", last(id)));
        }
        if let Some(id) = &self.storage_account_id {
            places.push(format!("storage account {}", last(id)));
        }
        if self.event_hub_rule_id.is_some() {
            places.push("an event hub".to_string());
        }
        if self.partner_id.is_some() {
            places.push("a partner solution".to_string());
        }
        places
    }
}

/// Reads `az monitor diagnostic-settings list --resource <id> -o json`: a JSON array, or
/// an object with `value: [...]` from older CLIs; properties may be flat or nested.
pub fn parse_aks_diagnostic_settings(json: &str) -> Result<Finding, ParseError> {
    let settings = parse_diagnostic_settings(json)?;
    let sending: Vec<&DiagnosticSetting> = settings
        .iter()
        .filter(|s| !s.destinations().is_empty())
        .collect();
    if let Some(full) = sending
        .iter()
        .find(|s| s.logs().iter().any(LogSetting::covers_kube_audit))
    {
        return Ok(Finding {
            enabled: true,
            evidence: format!(
                "diagnostic setting {:?} sends kube-audit to {}",
                full.name,
                full.destinations().join(" and ")
            ),
        });
    }
    let evidence = match sending
        .iter()
        .find(|s| s.logs().iter().any(|l| l.is("kube-audit-admin")))
    {
        Some(admin) => format!(
            "diagnostic setting {:?} sends only kube-audit-admin, which leaves out get and list: \
             reading the decoy's Secret would not be logged",
            admin.name
        ),
        None if settings.is_empty() => "the cluster has no diagnostic settings".to_string(),
        None => format!(
            "none of the cluster's {} diagnostic setting(s) sends kube-audit",
            settings.len()
        ),
    };
    Ok(Finding {
        enabled: false,
        evidence,
    })
}

fn parse_diagnostic_settings(json: &str) -> Result<Vec<DiagnosticSetting>, ParseError> {
    let document = ParseError::json(json)?;
    let items = match document {
        Value::Array(items) => items,
        Value::Object(mut object) => match object.remove("value") {
            Some(Value::Array(items)) => items,
            _ => return Err(ParseError::Unexpected("an object without a `value` list")),
        },
        _ => {
            return Err(ParseError::Unexpected(
                "neither a list nor an object with `value`",
            ));
        }
    };
    items
        .into_iter()
        .map(|item| {
            let body = match item.get("properties") {
                Some(properties) if properties.is_object() => with_name(properties.clone(), &item),
                _ => item,
            };
            serde_json::from_value(body).map_err(ParseError::shape("not a diagnostic setting"))
        })
        .collect()
}

/// The REST shape nests everything but the name under `properties`.
fn with_name(mut properties: Value, item: &Value) -> Value {
    if let (Some(object), Some(name)) = (properties.as_object_mut(), item.get("name")) {
        object.insert("name".to_string(), name.clone());
    }
    properties
}

/// Which AKS cluster a kubeconfig points at, among those `az aks list` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AksLookup {
    Found { id: String, matched_by: String },
    NotFound(String),
}

#[derive(Debug, Deserialize)]
struct AksCluster {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    fqdn: Option<String>,
    #[serde(default, rename = "privateFqdn")]
    private_fqdn: Option<String>,
}

/// Finds the cluster in `az aks list -o json` by API server host, else by a unique name.
pub fn find_aks_cluster(json: &str, hint: &ClusterHint) -> Result<AksLookup, ParseError> {
    let clusters: Vec<AksCluster> =
        serde_json::from_str(json).map_err(ParseError::shape("not a list of AKS clusters"))?;
    if let Some(host) = &hint.server_host {
        let same_host = |fqdn: &Option<String>| {
            fqdn.as_deref()
                .is_some_and(|f| f.eq_ignore_ascii_case(host))
        };
        if let Some(cluster) = clusters
            .iter()
            .find(|c| same_host(&c.fqdn) || same_host(&c.private_fqdn))
        {
            return Ok(AksLookup::Found {
                id: cluster.id.clone(),
                matched_by: format!("API server host {host}"),
            });
        }
    }
    let Some(name) = &hint.name else {
        return Ok(AksLookup::NotFound(no_aks_match(hint)));
    };
    let named: Vec<&AksCluster> = clusters
        .iter()
        .filter(|c| c.name.eq_ignore_ascii_case(&name.value))
        .collect();
    Ok(match named.as_slice() {
        [cluster] => AksLookup::Found {
            id: cluster.id.clone(),
            matched_by: format!(
                "name {}{}",
                name.value,
                if name.certain {
                    ""
                } else {
                    ", guessed from the kubeconfig"
                }
            ),
        },
        [] => AksLookup::NotFound(no_aks_match(hint)),
        several => AksLookup::NotFound(format!(
            "which AKS cluster this is: {} clusters are named {} (in different resource groups)",
            several.len(),
            name.value
        )),
    })
}

fn no_aks_match(hint: &ClusterHint) -> String {
    let host = hint.server_host.as_deref().unwrap_or("(unknown)");
    let name = hint.name.as_ref().map_or("(unknown)", |n| n.value.as_str());
    format!(
        "which AKS cluster this is: none that `az aks list` shows has API server host {host} or \
         name {name} (it lists the current subscription; change it with `az account set \
         --subscription ...`)"
    )
}

/// The `az monitor log-analytics query` arguments that find the decoy user's events.
pub(super) fn log_query_args(query: &LogQuery) -> Result<Vec<String>, QueryError> {
    let workspace = query.workspace.as_deref().ok_or(QueryError::Missing(
        "the Log Analytics workspace id is not in the kubeconfig; pass --workspace",
    ))?;
    let kql = format!(
        "AKSAudit | where TimeGenerated >= datetime({}) | where User.username == '{}' \
         | project AuditId, Stage, Verb, RequestUri, User, SourceIps, UserAgent, \
         ResponseStatus, RequestReceivedTime",
        whole_seconds(query.since),
        query.username
    );
    Ok(strings(&[
        "monitor",
        "log-analytics",
        "query",
        "--workspace",
        workspace,
        "--analytics-query",
        &kql,
        "-o",
        "json",
    ]))
}

/// Reads `az monitor log-analytics query -o json` on the AKSAudit table: a list of row
/// objects keyed by column name. The dynamic columns (User, SourceIps, ResponseStatus)
/// come as JSON objects or as JSON text, depending on the CLI version.
pub fn parse_aks_audit_rows(json: &str) -> Result<Vec<Event>, ParseError> {
    let rows: Vec<serde_json::Map<String, Value>> =
        serde_json::from_str(json).map_err(ParseError::shape("not a list of query rows"))?;
    rows.iter()
        .enumerate()
        .map(|(n, row)| {
            aks_event(row).map_err(|source| ParseError::Row {
                number: n + 1,
                source: Box::new(source),
            })
        })
        .collect()
}

fn aks_event(row: &serde_json::Map<String, Value>) -> Result<Event, ParseError> {
    let text = |column: &str| {
        row.get(column)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let user = match dynamic(row.get("User")) {
        Value::Null => crate::audit::User::default(),
        value => serde_json::from_value(value).map_err(ParseError::shape("User"))?,
    };
    let source_ips = match dynamic(row.get("SourceIps")) {
        Value::Null => Vec::new(),
        value => serde_json::from_value(value).map_err(ParseError::shape("SourceIps"))?,
    };
    let code = dynamic(row.get("ResponseStatus"))
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|code| u16::try_from(code).ok());
    Ok(Event {
        audit_id: text("AuditId"),
        stage: text("Stage"),
        verb: text("Verb"),
        request_uri: text("RequestUri"),
        user,
        source_ips,
        user_agent: text("UserAgent"),
        response_status: code.map(|code| crate::audit::ResponseStatus { code }),
        request_received_timestamp: text("RequestReceivedTime").parse().ok(),
        ..Event::default()
    })
}

/// A dynamic column's value: JSON text is parsed, anything else is taken as it is.
fn dynamic(value: Option<&Value>) -> Value {
    match value {
        Some(Value::String(text)) => serde_json::from_str(text).unwrap_or(Value::Null),
        Some(value) => value.clone(),
        None => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::testing::*;
    use crate::cloud::{Provider, check_command, fix_command, run_check};

    const AKS_AUDIT: &str =
        include_str!("../../tests/fixtures/cloud/aks-diagnostic-settings-kube-audit.json");
    const AKS_ADMIN_ONLY: &str = include_str!(
        "../../tests/fixtures/cloud/aks-diagnostic-settings-kube-audit-admin-only.json"
    );
    const AKS_ALL_LOGS: &str = include_str!(
        "../../tests/fixtures/cloud/aks-diagnostic-settings-all-logs-value-wrapped.json"
    );
    const AKS_LIST: &str = include_str!("../../tests/fixtures/cloud/aks-list.json");
    const AKS_AUDIT_ROWS: &str =
        include_str!("../../tests/fixtures/cloud/aks-log-analytics-query.json");

    const AKS_PROD_ID: &str = "/subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590/resourcegroups/rg-prod/providers/Microsoft.ContainerService/managedClusters/aks-prod";

    const AKS_LOG_ARGV: &[&str] = &[
        "monitor",
        "log-analytics",
        "query",
        "--workspace",
        WORKSPACE,
        "--analytics-query",
        "AKSAudit | where TimeGenerated >= datetime(2026-11-28T09:59:00Z) | where User.username == 'system:serviceaccount:kube-system:tiller' | project AuditId, Stage, Verb, RequestUri, User, SourceIps, UserAgent, ResponseStatus, RequestReceivedTime",
        "-o",
        "json",
    ];

    // --- parsers, on output in the shape the CLIs print ---

    #[test]
    fn aks_kube_audit_setting_is_enabled() {
        let finding = parse_aks_diagnostic_settings(AKS_AUDIT).unwrap();
        assert_eq!(
            finding,
            Finding {
                enabled: true,
                evidence: "diagnostic setting \"audit-to-law\" sends kube-audit to Log Analytics workspace law-prod".into()
            }
        );
    }

    #[test]
    fn aks_kube_audit_admin_only_is_disabled_with_the_reason() {
        let finding = parse_aks_diagnostic_settings(AKS_ADMIN_ONLY).unwrap();
        assert!(!finding.enabled);
        assert_eq!(
            finding.evidence,
            "diagnostic setting \"aks-admin-audit\" sends only kube-audit-admin, which leaves out get and list: \
             reading the decoy's Secret would not be logged"
        );
    }

    #[test]
    fn aks_value_wrapped_all_logs_group_is_enabled() {
        let finding = parse_aks_diagnostic_settings(AKS_ALL_LOGS).unwrap();
        assert!(finding.enabled);
        assert!(
            finding.evidence.contains("storage account stauditprod"),
            "{}",
            finding.evidence
        );
    }

    #[test]
    fn aks_without_settings_is_disabled() {
        let finding = parse_aks_diagnostic_settings("[]\n").unwrap();
        assert_eq!(
            finding,
            Finding {
                enabled: false,
                evidence: "the cluster has no diagnostic settings".into()
            }
        );
        let other = r#"[{"name":"metrics","logs":[{"category":"kube-apiserver","enabled":true}],"workspaceId":"/x/law"}]"#;
        let finding = parse_aks_diagnostic_settings(other).unwrap();
        assert_eq!(
            finding.evidence,
            "none of the cluster's 1 diagnostic setting(s) sends kube-audit"
        );
    }

    #[test]
    fn aks_rest_shape_with_nested_properties_is_read() {
        let json = r#"{"value":[{"name":"rest","properties":{"logs":[{"categoryGroup":"audit","enabled":true}],"workspaceId":"/w/law-a"}}]}"#;
        let finding = parse_aks_diagnostic_settings(json).unwrap();
        assert_eq!(
            finding.evidence,
            "diagnostic setting \"rest\" sends kube-audit to Log Analytics workspace law-a"
        );
    }

    #[test]
    fn aks_output_that_is_not_settings_is_an_error() {
        assert!(parse_aks_diagnostic_settings(r#"{"error": "x"}"#).is_err());
        assert!(parse_aks_diagnostic_settings("ERROR: something").is_err());
    }

    #[test]
    fn aks_cluster_found_by_host_by_guessed_name_or_not_at_all() {
        assert_eq!(
            find_aks_cluster(AKS_LIST, &aks_hint()).unwrap(),
            AksLookup::Found {
                id: AKS_PROD_ID.into(),
                matched_by: "API server host aks-prod-dns-1a2b3c4d.hcp.westeurope.azmk8s.io".into()
            }
        );
        let private = ClusterHint {
            server_host: Some("aks-internal-dns-9f8e7d6c.5e6f7a8b-1111-2222-3333-444455556666.privatelink.eastus2.azmk8s.io".into()),
            ..ClusterHint::default()
        };
        assert!(matches!(
            find_aks_cluster(AKS_LIST, &private).unwrap(),
            AksLookup::Found { id, .. } if id.ends_with("/aks-internal")
        ));
        let by_name = ClusterHint {
            server_host: Some("custom.example.com".into()),
            ..aks_hint()
        };
        assert_eq!(
            find_aks_cluster(AKS_LIST, &by_name).unwrap(),
            AksLookup::Found {
                id: AKS_PROD_ID.into(),
                matched_by: "name aks-prod, guessed from the kubeconfig".into()
            }
        );
        let neither = ClusterHint {
            name: guessed_part("other"),
            server_host: Some("other.hcp.x.azmk8s.io".into()),
            ..ClusterHint::default()
        };
        assert!(
            matches!(find_aks_cluster(AKS_LIST, &neither).unwrap(), AksLookup::NotFound(why) if why.contains("az account set"))
        );
    }

    // --- commands ---

    #[test]
    fn aks_commands_look_the_id_up_and_flag_the_guessed_name() {
        assert_eq!(
            check_command(Provider::Aks, &aks_hint()),
            "az monitor diagnostic-settings list --resource \"$(az aks show -g <RESOURCE_GROUP> -n aks-prod --query id -o tsv)\" -o json  \
             # cluster name aks-prod is guessed from the kubeconfig"
        );
        assert_eq!(
            fix_command(Provider::Aks, &ClusterHint::default()),
            "az monitor diagnostic-settings create --name kube-audit --resource \"$(az aks show -g <RESOURCE_GROUP> -n <CLUSTER> --query id -o tsv)\" \
             --workspace <WORKSPACE_ID> --logs '[{\"category\":\"kube-audit\",\"enabled\":true}]'"
        );
    }

    // --- reading a drill's events back ---

    #[test]
    fn aks_rows_convert_whether_dynamic_columns_are_objects_or_json_text() {
        let events = parse_aks_audit_rows(AKS_AUDIT_ROWS).unwrap();
        assert_eq!(
            events.iter().map(seen).collect::<Vec<_>>(),
            vec![
                // Dynamic columns as JSON text.
                (
                    "list",
                    "/api/v1/namespaces/kube-system/secrets",
                    TILLER,
                    DRILL_UA,
                    Some(403)
                ),
                // Dynamic columns as objects.
                (
                    "create",
                    "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                    TILLER,
                    DRILL_UA,
                    Some(201)
                ),
                (
                    "list",
                    "/api/v1/namespaces/kube-system/pods?limit=500",
                    TILLER,
                    KUBECTL_UA,
                    Some(403)
                ),
            ]
        );
        let drill = &events[0];
        assert_eq!(drill.audit_id, "7e3f9a1c-2b4d-4c6e-8f0a-1b2c3d4e5f60");
        assert_eq!(drill.stage, "ResponseComplete");
        assert_eq!(drill.user.groups.len(), 3);
        assert_eq!(drill.source_ips, vec!["203.0.113.24"]);
        assert_eq!(
            drill.request_received_timestamp,
            at("2026-11-28T10:00:01.512345Z")
        );
        assert_eq!(events[1].source_ips, vec!["203.0.113.24"]);
        assert!(matches_drill(drill, LIST_SECRETS));
        assert!(matches_drill(&events[1], "whoami (SelfSubjectReview)"));
        assert!(!matches_drill(&events[2], LIST_SECRETS));
    }

    #[test]
    fn aks_output_that_is_not_rows_is_an_error() {
        let error = parse_aks_audit_rows(r#"{"tables": []}"#)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("not a list of query rows"), "{error}");
        let error = parse_aks_audit_rows(r#"[{"Verb":"get"},{"User":5}]"#)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("row 2: User: "), "{error}");
        assert!(parse_aks_audit_rows("[]").unwrap().is_empty());
    }

    #[test]
    fn aks_log_query_command_and_its_missing_workspace() {
        let query = log_query(Provider::Aks, aks_hint());
        assert_eq!(query.command().unwrap(), ("az", owned(AKS_LOG_ARGV)));
        let without = LogQuery {
            workspace: None,
            ..query
        };
        assert_eq!(
            without.command().unwrap_err().to_string(),
            "the Log Analytics workspace id is not in the kubeconfig; pass --workspace"
        );
    }

    // Running the check and the query with a stand-in az: Azure cannot be reached from here.
    #[cfg(unix)]
    mod stand_in_clis {
        use super::*;

        const AKS_LIST_ARGV: &[&str] = &["aks", "list", "-o", "json"];
        const AKS_SETTINGS_ARGV: &[&str] = &[
            "monitor",
            "diagnostic-settings",
            "list",
            "--resource",
            AKS_PROD_ID,
            "-o",
            "json",
        ];

        #[test]
        fn stand_in_az_finds_the_cluster_and_reports_kube_audit_enabled() {
            let clis = StandIns::new();
            clis.install(
                "az",
                &[
                    (AKS_LIST_ARGV, Reply::Prints(AKS_LIST)),
                    (AKS_SETTINGS_ARGV, Reply::Prints(AKS_AUDIT)),
                ],
            );
            assert_eq!(
                run_check(Provider::Aks, &aks_hint(), &clis.runner()),
                CheckOutcome::Enabled {
                    evidence: format!(
                        "cluster {AKS_PROD_ID} (found by API server host aks-prod-dns-1a2b3c4d.hcp.westeurope.azmk8s.io): \
                         diagnostic setting \"audit-to-law\" sends kube-audit to Log Analytics workspace law-prod"
                    )
                }
            );
            assert_eq!(
                clis.calls("az"),
                vec![bracketed(AKS_LIST_ARGV), bracketed(AKS_SETTINGS_ARGV)]
            );
        }

        #[test]
        fn stand_in_az_reports_kube_audit_admin_only_as_disabled() {
            let clis = StandIns::new();
            clis.install(
                "az",
                &[
                    (AKS_LIST_ARGV, Reply::Prints(AKS_LIST)),
                    (AKS_SETTINGS_ARGV, Reply::Prints(AKS_ADMIN_ONLY)),
                ],
            );
            let outcome = run_check(Provider::Aks, &aks_hint(), &clis.runner());
            assert!(
                matches!(&outcome, CheckOutcome::Disabled { evidence } if evidence.contains("sends only kube-audit-admin, which leaves out get and list")),
                "{outcome:?}"
            );
            assert_eq!(clis.calls("az").len(), 2);
        }

        #[test]
        fn stand_in_az_without_a_matching_cluster_stops_after_listing() {
            let clis = StandIns::new();
            clis.install("az", &[(AKS_LIST_ARGV, Reply::Prints("[]\n"))]);
            let outcome = run_check(Provider::Aks, &aks_hint(), &clis.runner());
            assert!(
                matches!(&outcome, CheckOutcome::NotEnoughToRun { missing } if missing.starts_with("which AKS cluster this is")),
                "{outcome:?}"
            );
            assert_eq!(clis.calls("az"), vec![bracketed(AKS_LIST_ARGV)]);
        }

        #[test]
        fn stand_in_az_not_logged_in_is_reported() {
            let clis = StandIns::new();
            clis.install(
                "az",
                &[(
                    AKS_LIST_ARGV,
                    Reply::Fails {
                        code: 1,
                        stderr: "ERROR: Please run 'az login' to setup account.\n",
                    },
                )],
            );
            assert_eq!(
                run_check(Provider::Aks, &aks_hint(), &clis.runner()),
                CheckOutcome::CliFailed {
                    command: "az aks list -o json".into(),
                    message: "ERROR: Please run 'az login' to setup account. (exit status 1)"
                        .into()
                }
            );
        }

        #[test]
        fn stand_in_az_log_query_converts_the_rows() {
            let clis = StandIns::new();
            clis.install("az", &[(AKS_LOG_ARGV, Reply::Prints(AKS_AUDIT_ROWS))]);
            let events = log_query(Provider::Aks, aks_hint())
                .fetch(&clis.runner())
                .unwrap();
            assert_eq!(clis.calls("az"), vec![bracketed(AKS_LOG_ARGV)]);
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
                        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                        TILLER,
                        DRILL_UA,
                        Some(201)
                    ),
                    (
                        "list",
                        "/api/v1/namespaces/kube-system/pods?limit=500",
                        TILLER,
                        KUBECTL_UA,
                        Some(403)
                    ),
                ]
            );
        }

        #[test]
        fn stand_in_az_log_query_is_not_run_without_a_workspace() {
            let clis = StandIns::new();
            clis.install("az", &[(AKS_LOG_ARGV, Reply::Prints(AKS_AUDIT_ROWS))]);
            let query = LogQuery {
                workspace: None,
                ..log_query(Provider::Aks, aks_hint())
            };
            assert_eq!(
                query.fetch(&clis.runner()).unwrap_err().to_string(),
                "the Log Analytics workspace id is not in the kubeconfig; pass --workspace"
            );
            assert!(clis.calls("az").is_empty());
        }
    }
}
