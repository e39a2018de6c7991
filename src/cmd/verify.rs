//! `verify`: will a request made with the decoy token be written somewhere an alert can
//! see it? Each check says PASS, WARN, FAIL or UNKNOWN with its reason and fix; nothing
//! that was not checked is reported as passing.
//!
//! [`run`] gathers what there is to know (the cluster through [`crate::cluster`], the
//! provider's CLI, policy files, a drill) into [`Findings`]; [`assemble`] makes the checks
//! from them without any I/O.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;

use crate::audit::policy::{self, Level, Policy, Stage, Target};
use crate::audit::probes::{self, Catcher, LAST_USED_LABEL, ProbeReport, Tripwire};
use crate::cli::{GlobalArgs, VerifyArgs};
use crate::cloud::{
    self, CheckOutcome, ClusterHint, Detection, Evidence, LogQuery, NodeFacts, PodFacts, Provider,
};
use crate::cluster;
use crate::cluster::fleet::{self, ContextResult, Fleet, FleetReport};
use crate::cluster::locate::{self, Located};
use crate::cluster::{ClusterError, describe_kube_error};
use crate::decoy::{DecoySpec, Ownership, ownership, token_filled};
use crate::detect::drill::{self, DrillError, DrillPlan, DrillReport, Judgement, Sink};
use crate::detect::webhook::Receiver;
use crate::error::Error;
use crate::exit::Outcome;
use crate::home::Home;
use crate::ui::output;
use crate::ui::table::{Cell, Table, Tone};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CheckStatus {
    #[serde(rename = "PASS")]
    Pass,
    #[serde(rename = "WARN")]
    Warn,
    #[serde(rename = "FAIL")]
    Fail,
    #[serde(rename = "UNKNOWN")]
    Unknown,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "PASS",
            CheckStatus::Warn => "WARN",
            CheckStatus::Fail => "FAIL",
            CheckStatus::Unknown => "UNKNOWN",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub id: String,
    pub title: String,
    pub status: CheckStatus,
    /// A critical check must pass (or only warn) for verify to exit 0.
    pub critical: bool,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// For the probes an attacker tests a token with: what sees them (`auditLog`: the
    /// probe's own event, `stampEvent`: the event of the API server's stamp of the decoy's
    /// Secret, `tripwire`: the label), empty when nothing does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caught_by: Option<Vec<Catcher>>,
}

impl Check {
    /// A check that must pass (or only warn) for verify to exit 0.
    fn critical(
        id: &str,
        title: impl Into<String>,
        status: CheckStatus,
        reason: impl Into<String>,
    ) -> Check {
        Check {
            id: id.to_string(),
            title: title.into(),
            status,
            critical: true,
            reason: reason.into(),
            fix: None,
            caught_by: None,
        }
    }

    /// A check that informs and does not decide the exit code.
    fn advisory(
        id: &str,
        title: impl Into<String>,
        status: CheckStatus,
        reason: impl Into<String>,
    ) -> Check {
        Check {
            critical: false,
            ..Check::critical(id, title, status, reason)
        }
    }

    fn with_fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

/// Every critical check passed or only warned.
pub fn all_critical_pass(checks: &[Check]) -> bool {
    checks
        .iter()
        .filter(|c| c.critical)
        .all(|c| matches!(c.status, CheckStatus::Pass | CheckStatus::Warn))
}

/// A request an attacker with the decoy token makes, as the audit policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttackRequest {
    pub name: String,
    pub request: policy::Request,
    pub long_running: bool,
    pub touches_secrets: bool,
}

/// The groups the API server gives a service account's requests.
pub fn decoy_groups(namespace: &str) -> Vec<String> {
    vec![
        "system:serviceaccounts".to_string(),
        format!("system:serviceaccounts:{namespace}"),
        "system:authenticated".to_string(),
    ]
}

/// Everything test-trigger sends, and what an attacker does next: read Secrets here and
/// everywhere, start a pod, exec into one.
pub fn attack_requests(spec: &DecoySpec) -> Vec<AttackRequest> {
    let ns = spec.namespace.as_str();
    let user = spec.username();
    let groups = decoy_groups(ns);
    let resource = |verb: &str,
                    group: &str,
                    resource: &str,
                    subresource: &str,
                    namespace: &str,
                    name: &str| policy::Request {
        user: user.clone(),
        groups: groups.clone(),
        verb: verb.to_string(),
        target: Target::Resource {
            api_group: group.to_string(),
            resource: resource.to_string(),
            subresource: subresource.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        },
    };
    let non_resource = |path: &str| policy::Request {
        user: user.clone(),
        groups: groups.clone(),
        verb: "get".to_string(),
        target: Target::NonResource {
            path: path.to_string(),
        },
    };
    // Long-running as the API server's own check says, so stages are predicted right.
    let item = |name: String, request: policy::Request, touches_secrets: bool| AttackRequest {
        name,
        long_running: policy::is_long_running(&request),
        request,
        touches_secrets,
    };
    vec![
        item("GET /api (discovery)".into(), non_resource("/api"), false),
        item("GET /apis (discovery)".into(), non_resource("/apis"), false),
        item(
            "create selfsubjectreviews (whoami)".into(),
            resource(
                "create",
                "authentication.k8s.io",
                "selfsubjectreviews",
                "",
                "",
                "",
            ),
            false,
        ),
        item(
            "create selfsubjectrulesreviews (can-i --list)".into(),
            resource(
                "create",
                "authorization.k8s.io",
                "selfsubjectrulesreviews",
                "",
                "",
                "",
            ),
            false,
        ),
        item(
            format!("list secrets -n {ns}"),
            resource("list", "", "secrets", "", ns, ""),
            true,
        ),
        item(
            format!("get secret {ns}/{}", spec.secret),
            resource("get", "", "secrets", "", ns, &spec.secret),
            true,
        ),
        item(
            format!("watch secrets -n {ns}"),
            resource("watch", "", "secrets", "", ns, ""),
            true,
        ),
        item(
            "list secrets --all-namespaces".into(),
            resource("list", "", "secrets", "", "", ""),
            true,
        ),
        item(
            "watch secrets --all-namespaces".into(),
            resource("watch", "", "secrets", "", "", ""),
            true,
        ),
        item(
            format!("create pods -n {ns}"),
            resource("create", "", "pods", "", ns, ""),
            false,
        ),
        item(
            format!("create pods/exec -n {ns}"),
            resource("create", "", "pods", "exec", ns, ""),
            false,
        ),
        item(
            format!("get pods/exec -n {ns} (websocket)"),
            resource("get", "", "pods", "exec", ns, ""),
            false,
        ),
    ]
}

fn stages_text(stages: &[Stage]) -> String {
    stages
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One check per attacker request: logged (PASS), logged with Secret contents (WARN), or
/// not logged at all (FAIL, naming the rule that drops it).
pub fn exposure_checks(policy: &Policy, source: &str, requests: &[AttackRequest]) -> Vec<Check> {
    requests
        .iter()
        .map(|attack| {
            let decision = policy.evaluate(&attack.request);
            let stages = decision.logged_stages(attack.long_running);
            let rule = match decision.rule {
                Some(index) => policy::describe_rule(policy, index),
                None => "no rule matches (the default is None)".to_string(),
            };
            let title = format!("policy logs: {}", attack.name);
            if decision.level == Level::None {
                return Check::critical("policy-exposure", title, CheckStatus::Fail, format!("not logged: {rule} in {source}"))
                    .with_fix(format!(
                        "add a rule before it that logs {} at level Metadata, e.g. `- level: Metadata\\n  users: [\"{}\"]` as the first rule",
                        attack.request.user, attack.request.user
                    ));
            }
            if stages.is_empty() {
                return Check::critical(
                    "policy-exposure",
                    title,
                    CheckStatus::Fail,
                    format!("level {:?} but every stage is omitted: {rule} in {source}", decision.level),
                )
                .with_fix("keep ResponseComplete: remove it from omitStages (the rule's and the policy's)");
            }
            let logged = format!("level {:?}, stages {} ({rule})", decision.level, stages_text(&stages));
            if attack.touches_secrets && decision.level >= Level::Request {
                Check::critical(
                    "policy-exposure",
                    title,
                    CheckStatus::Warn,
                    format!("logged, but at {:?}: Secret values are copied into the audit log; {logged}", decision.level),
                )
                .with_fix("log secrets at level Metadata")
            } else {
                Check::critical("policy-exposure", title, CheckStatus::Pass, format!("logged: {logged}"))
            }
        })
        .collect()
}

fn catchers_text(caught_by: &[Catcher]) -> String {
    if caught_by.is_empty() {
        return "nothing".into();
    }
    caught_by
        .iter()
        .map(|c| match c {
            Catcher::AuditLog => "audit log",
            Catcher::StampEvent => "stamp event",
            Catcher::Tripwire => "tripwire",
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How the policy treats a request, in words.
fn logged_text(policy: &Policy, logged: &probes::Logged) -> String {
    let rule = match logged.rule {
        Some(index) => policy::describe_rule(policy, index),
        None => "no rule matches (the default is None)".to_string(),
    };
    if logged.logged {
        format!("logged at {:?} ({rule})", logged.level)
    } else {
        format!("not logged ({rule})")
    }
}

fn tripwire_text(tripwire: &Tripwire) -> String {
    match tripwire {
        Tripwire::Armed => "the tripwire is armed: the API server stamps the Secret at the token's next authentication (unless its 10 s token cache answers, within 10 s of the previous use)".into(),
        Tripwire::Tripped { day } => format!(
            "the tripwire is tripped (label {LAST_USED_LABEL}={day}): no use is stamped until it is re-armed (the label removed)"
        ),
        Tripwire::Unknown => "the tripwire's state is unknown: the decoy's Secret could not be read".into(),
    }
}

/// One advisory check per probe an attacker tests a token with, one for the API server's
/// stamp of the decoy's Secret, and one more when the policy logs none of them. Advisory:
/// a policy that drops `/version` is normal, and the tripwire still sees the probe.
pub fn probe_checks(
    report: &ProbeReport,
    policy: Option<&Policy>,
    source: &str,
    secret: &str,
) -> Vec<Check> {
    let mut checks = Vec::new();
    for verdict in &report.probes {
        let audit = match (&verdict.audit, policy) {
            (Some(logged), Some(policy)) => format!("{} in {source}", logged_text(policy, logged)),
            _ => "the audit policy is unknown".to_string(),
        };
        let status = if verdict.caught_by.contains(&Catcher::AuditLog) {
            CheckStatus::Pass
        } else if verdict.caught_by.is_empty() {
            if verdict.audit.is_none() {
                CheckStatus::Unknown
            } else {
                CheckStatus::Fail
            }
        } else {
            CheckStatus::Warn
        };
        let mut reason = format!(
            "caught by: {}; audit: {audit}",
            catchers_text(&verdict.caught_by)
        );
        if !verdict.caught_by.contains(&Catcher::AuditLog)
            && verdict.caught_by.contains(&Catcher::StampEvent)
        {
            reason.push_str(
                "; the stamp's event says the token authenticated and when, not who or from where",
            );
        }
        let mut check = Check::advisory(
            "probe",
            format!("probe: GET {}", verdict.path),
            status,
            reason,
        );
        check.caught_by = Some(verdict.caught_by.clone());
        if status == CheckStatus::Fail {
            check = check.with_fix("re-arm the tripwire (remove the label; watch --tripwire does it after each alert) or log the probe");
        }
        checks.push(check);
    }
    let stamp_title = format!(
        "stamp: patch secret {secret} by {}",
        crate::audit::APISERVER_USER
    );
    let tripwire = tripwire_text(&report.tripwire);
    match (&report.stamp, policy) {
        (Some(logged), Some(policy)) => {
            let status = if logged.logged {
                CheckStatus::Pass
            } else {
                CheckStatus::Warn
            };
            let what = if logged.logged {
                "scan, watch --audit-log/--listen and the rules of `rules` see each first use since re-arm, probes the policy drops included"
            } else {
                "the audit log does not show the token authenticating; only the label does"
            };
            let mut check = Check::advisory(
                "probe-stamp",
                stamp_title,
                status,
                format!(
                    "{} in {source}: {what}; {tripwire}",
                    logged_text(policy, logged)
                ),
            );
            if !logged.logged {
                check = check.with_fix(format!(
                    "log writes to Secrets at Metadata, e.g. `- level: Metadata\\n  users: [\"{}\"]\\n  verbs: [\"patch\"]\\n  resources: [{{group: \"\", resources: [\"secrets\"]}}]` before the rule that drops it",
                    crate::audit::APISERVER_USER
                ));
            }
            checks.push(check);
        }
        _ => checks.push(Check::advisory(
            "probe-stamp",
            stamp_title,
            CheckStatus::Unknown,
            format!("the audit policy is unknown; {tripwire}"),
        )),
    }
    if report.audit_blind() {
        checks.push(
            Check::advisory(
                "probe-audit-blind",
                "probes and stamp in the audit log",
                CheckStatus::Warn,
                format!(
                    "{source} logs none of the probes an attacker tests a token with, and not the API server's stamp of the decoy's Secret either: only the tripwire (the label; watch --tripwire, status) sees a token being tried"
                ),
            )
            .with_fix("log the stamp (patch secrets by system:apiserver) at Metadata, and run watch --tripwire"),
        );
    }
    checks
}

/// The tripwire's state from the decoy's Secret as found.
fn tripwire_of(located: &Located) -> Tripwire {
    let secret = located.found.secret.as_ref();
    let label = secret
        .and_then(|s| s.metadata.labels.as_ref())
        .and_then(|labels| labels.get(LAST_USED_LABEL))
        .map(String::as_str);
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    probes::tripwire(label, secret.is_some(), today)
}

/// The audit flags on a kube-apiserver command line (`--flag=value` or `--flag value`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFlags {
    pub log_path: Option<String>,
    pub webhook_config: Option<String>,
    pub policy_file: Option<String>,
}

pub fn audit_flags(command_line: &[String]) -> AuditFlags {
    let mut flags = AuditFlags::default();
    let mut words = command_line.iter().peekable();
    while let Some(word) = words.next() {
        let (name, inline) = match word.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (word.as_str(), None),
        };
        let slot = match name {
            "--audit-log-path" => &mut flags.log_path,
            "--audit-webhook-config-file" => &mut flags.webhook_config,
            "--audit-policy-file" => &mut flags.policy_file,
            _ => continue,
        };
        *slot = inline.or_else(|| words.next_if(|w| !w.starts_with("--")).cloned());
    }
    flags.log_path = flags.log_path.filter(|p| !p.is_empty());
    flags.webhook_config = flags.webhook_config.filter(|p| !p.is_empty());
    flags.policy_file = flags.policy_file.filter(|p| !p.is_empty());
    flags
}

/// What the static kube-apiserver pods (kubeadm, kind) say about audit backends.
pub fn backend_check(pods: &Result<Vec<Pod>, String>) -> (Check, Option<String>) {
    let title = "audit backend (kube-apiserver flags)";
    let pods = match pods {
        Err(why) => {
            return (
                Check::advisory(
                    "audit-backend",
                    title,
                    CheckStatus::Unknown,
                    format!("cannot read kube-system pods: {why}"),
                ),
                None,
            );
        }
        Ok(pods) if pods.is_empty() => {
            return (
                Check::advisory(
                    "audit-backend",
                    title,
                    CheckStatus::Unknown,
                    "no static kube-apiserver pod is visible in kube-system (a managed or non-kubeadm control plane): its flags cannot be read from here",
                )
                .with_fix("run verify --e2e with the audit log (--audit-log FILE) or an audit webhook (--listen ADDR) to prove events arrive"),
                None,
            );
        }
        Ok(pods) => pods,
    };
    let command_line: Vec<String> = pods
        .iter()
        .flat_map(|pod| pod.spec.iter().flat_map(|s| s.containers.iter()))
        .filter(|c| c.name == "kube-apiserver")
        .flat_map(|c| {
            c.command
                .iter()
                .flatten()
                .chain(c.args.iter().flatten())
                .cloned()
        })
        .collect();
    let flags = audit_flags(&command_line);
    let pod_name = pods[0].metadata.name.clone().unwrap_or_default();
    match (&flags.log_path, &flags.webhook_config) {
        (None, None) => (
            Check::critical(
                "audit-backend",
                title,
                CheckStatus::Fail,
                format!("kube-system/{pod_name} runs with neither --audit-log-path nor --audit-webhook-config-file: the cluster keeps no audit log at all"),
            )
            .with_fix(
                "in /etc/kubernetes/manifests/kube-apiserver.yaml add --audit-policy-file=/etc/kubernetes/audit-policy.yaml, \
                 --audit-log-path=/var/log/kubernetes/audit/audit.log (and mount both paths), then ship that log off the node",
            ),
            flags.policy_file,
        ),
        (log, webhook) => {
            let mut places = Vec::new();
            if let Some(path) = log {
                places.push(format!("log file {path}"));
            }
            if let Some(config) = webhook {
                places.push(format!("webhook configured in {config}"));
            }
            let status = if flags.policy_file.is_some() { CheckStatus::Pass } else { CheckStatus::Fail };
            let mut check = Check::critical(
                "audit-backend",
                title,
                status,
                match &flags.policy_file {
                    Some(policy) => format!("kube-system/{pod_name} writes audit events to {}; policy {policy}", places.join(" and ")),
                    None => format!("kube-system/{pod_name} has an audit backend ({}) but no --audit-policy-file: nothing is logged", places.join(", ")),
                },
            );
            if flags.policy_file.is_none() {
                check = check.with_fix("add --audit-policy-file with a policy that logs the decoy user at Metadata");
            }
            (check, flags.policy_file)
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub schema_version: u32,
    pub server: String,
    pub provider: Provider,
    pub username: String,
    pub policy_source: Option<String>,
    pub checks: Vec<Check>,
    pub passed: bool,
}

/// The critical checks that did not pass (failed, or could not tell): exit 5's reason.
fn critical_not_passed(checks: &[Check]) -> Vec<&Check> {
    checks
        .iter()
        .filter(|c| c.critical && !matches!(c.status, CheckStatus::Pass | CheckStatus::Warn))
        .collect()
}

/// A row per check, its reason ending in its fix; what catches a probe with `-o wide` (its
/// reason says it too).
fn checks_table(report: &VerifyReport) -> Table {
    let mut table = output::table(&["check", "critical", "result", "caught by", "reason"]);
    // The reason of a probe's row starts with what catches it.
    table.wide_only(&["caught by"]);
    for check in &report.checks {
        table.add_row([
            Cell::from(&check.title),
            Cell::from(if check.critical { "yes" } else { "no" }),
            status_cell(check.status),
            check
                .caught_by
                .as_deref()
                .map(catchers_text)
                .unwrap_or_default()
                .into(),
            reason_and_fix(check).into(),
        ]);
    }
    table
}

/// A check's reason, and its fix after it: one cell, so that a fix is never a column
/// padded through every row that has none.
fn reason_and_fix(check: &Check) -> String {
    match &check.fix {
        Some(fix) => format!("{}; fix: {fix}", check.reason),
        None => check.reason.clone(),
    }
}

fn table(report: &VerifyReport) -> String {
    let table = checks_table(report);
    format!(
        "Decoy user {} on {} (provider: {:?})\n{table}\n{}\n",
        report.username,
        report.server,
        report.provider,
        verdict_line(report)
    )
}

/// The line under the table: that every critical check passed, or which did not (exit 5).
fn verdict_line(report: &VerifyReport) -> String {
    if report.passed {
        return console::style("every critical check passed")
            .green()
            .to_string();
    }
    let missed = critical_not_passed(&report.checks)
        .iter()
        .map(|c| format!("{} ({})", c.title, c.status.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{}: {missed}",
        console::style("a critical check did not pass").red().bold()
    )
}

/// What the API server said about a failed read, without the action: the check names it.
fn server_said(error: &ClusterError) -> String {
    match error {
        ClusterError::Api { source, .. } => describe_kube_error(source),
        other => other.to_string(),
    }
}

async fn detect_provider(
    client: &kube::Client,
    kube_system_pods: &Result<Vec<Pod>, String>,
) -> Detection {
    let version = cluster::server_version(client).await.ok();
    let nodes = cluster::nodes(client, 50)
        .await
        .map(|nodes| nodes.iter().map(NodeFacts::from_node).collect())
        .map_err(|e| server_said(&e));
    cloud::detect(&Evidence {
        server_git_version: version,
        nodes,
        kube_system_pods: kube_system_pods
            .as_ref()
            .map(|pods| pods.iter().map(PodFacts::from_pod).collect())
            .map_err(Clone::clone),
    })
}

/// The provider's check of its audit setting, as its CLI answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedAudit {
    pub provider: Provider,
    /// What the kubeconfig tells about the cluster at its provider.
    pub hint: ClusterHint,
    pub outcome: CheckOutcome,
}

/// Runs the provider's check of its audit setting with its CLI; None for a provider
/// without one.
async fn check_managed_audit(provider: Provider, located: &Located) -> Option<ManagedAudit> {
    if !matches!(provider, Provider::Eks | Provider::Gke | Provider::Aks) {
        return None;
    }
    let connection = &located.connection;
    let hint =
        cloud::cluster_name_hint(&connection.context, &connection.cluster, &connection.server);
    let runner = cloud::CliRunner::from_env();
    // The CLIs block for up to tens of seconds: keep them off the async runtime.
    let outcome = {
        let hint = hint.clone();
        tokio::task::spawn_blocking(move || cloud::run_check(provider, &hint, &runner))
            .await
            .unwrap_or_else(|e| CheckOutcome::CliFailed {
                command: "the provider's CLI".into(),
                message: e.to_string(),
            })
    };
    Some(ManagedAudit {
        provider,
        hint,
        outcome,
    })
}

fn managed_audit_check(managed: &ManagedAudit) -> Check {
    let ManagedAudit {
        provider,
        hint,
        outcome,
    } = managed;
    let id = "managed-audit";
    let title = format!("{provider:?} audit logging");
    let requirement = cloud::requirement(*provider);
    let check_command = cloud::check_command(*provider, hint);
    let fix_command = cloud::fix_command(*provider, hint);
    match outcome {
        CheckOutcome::Enabled { evidence } => Check::critical(
            id,
            title,
            CheckStatus::Pass,
            format!("{requirement}: yes ({evidence})"),
        ),
        CheckOutcome::Disabled { evidence } => Check::critical(
            id,
            title,
            CheckStatus::Fail,
            format!("{requirement}: no ({evidence})"),
        )
        .with_fix(fix_command),
        CheckOutcome::CliMissing { program } => Check::critical(
            id,
            title,
            CheckStatus::Unknown,
            format!("{requirement}. `{program}` is not installed here, so this was not checked; check with: {check_command}"),
        )
        .with_fix(fix_command),
        CheckOutcome::CliFailed { command, message } => Check::critical(
            id,
            title,
            CheckStatus::Unknown,
            format!("{requirement}. `{command}` failed: {message}"),
        )
        .with_fix(fix_command),
        CheckOutcome::NotEnoughToRun { missing } => Check::critical(
            id,
            title,
            CheckStatus::Unknown,
            format!("{requirement}. Not checked: {missing}; check with: {check_command}"),
        )
        .with_fix(fix_command),
    }
}

fn provider_check(detection: &Detection) -> Check {
    let status = if detection.provider == Provider::Unknown {
        CheckStatus::Unknown
    } else {
        CheckStatus::Pass
    };
    let mut reason = detection.reasons.join("; ");
    if !detection.unavailable.is_empty() {
        reason.push_str(&format!(
            " (not visible: {})",
            detection.unavailable.join("; ")
        ));
    }
    Check::advisory(
        "provider",
        format!("provider: {:?}", detection.provider),
        status,
        reason,
    )
}

fn decoy_check(located: &Located) -> Check {
    let spec = &located.spec;
    let title = format!("decoy {}/{} planted", spec.namespace, spec.account);
    if located.ephemeral_key {
        return Check::advisory(
            "decoy",
            title,
            CheckStatus::Warn,
            "no key on this workstation, so whether a decoy is planted cannot be told; the \
             checks below are for the user name it has or will have",
        )
        .with_fix("kubectl honeytoken plant (or copy the planting workstation's key here)");
    }
    let ours = ownership(spec, &located.found, located.record.as_ref()) == Ownership::Ours;
    match (&located.found.account, &located.found.secret) {
        (Some(_), Some(secret)) if ours && token_filled(secret) => Check::advisory(
            "decoy",
            title,
            CheckStatus::Pass,
            format!("Secret {} holds a token", spec.secret),
        ),
        _ if !ours && (located.found.account.is_some() || located.found.secret.is_some()) => {
            Check::advisory(
                "decoy",
                title,
                CheckStatus::Warn,
                "an account of that name exists but was not planted with this key; the checks below are for its user name",
            )
        }
        _ => Check::advisory(
            "decoy",
            title,
            CheckStatus::Warn,
            "not planted (yet); the checks below are for the user name it will have",
        )
        .with_fix("kubectl honeytoken plant"),
    }
}

/// The static kube-apiserver pods among kube-system's pods.
fn apiserver_pods(kube_system_pods: &Result<Vec<Pod>, String>) -> Result<Vec<Pod>, String> {
    kube_system_pods.as_ref().map_err(Clone::clone).map(|pods| {
        pods.iter()
            .filter(|p| {
                p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("component"))
                    .map(String::as_str)
                    == Some("kube-apiserver")
            })
            .cloned()
            .collect::<Vec<_>>()
    })
}

/// The decoy the probe checks are about.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    pub user: String,
    pub namespace: String,
    pub secret: String,
    pub tripwire: Tripwire,
}

impl ProbeTarget {
    pub fn of(spec: &DecoySpec, tripwire: Tripwire) -> ProbeTarget {
        ProbeTarget {
            user: spec.username(),
            namespace: spec.namespace.clone(),
            secret: spec.secret.clone(),
            tripwire,
        }
    }
}

/// What verify found out; [`assemble`] makes the report's checks from it without any I/O.
#[derive(Debug, Clone)]
pub struct Findings {
    /// The decoy's own check (see `decoy_check`).
    pub decoy: Check,
    pub detection: Detection,
    /// The static kube-apiserver pods in kube-system, or why kube-system's pods could not
    /// be listed.
    pub apiserver_pods: Result<Vec<Pod>, String>,
    /// The provider's audit setting, for a managed provider.
    pub managed: Option<ManagedAudit>,
    /// The audit policy to evaluate, if one was given or could be read.
    pub policy: Option<Policy>,
    /// Where the policy came from, or where the API server reads it when it could not be.
    pub policy_source: Option<String>,
    pub requests: Vec<AttackRequest>,
    /// The decoy's user, the groups of its requests, its namespace and Secret name, and the
    /// tripwire's state: what the probe checks are evaluated for.
    pub probe_target: ProbeTarget,
    /// With `--e2e`: the drill's checks (or the plan's, with `--dry-run`).
    pub e2e: Option<Vec<Check>>,
}

/// The report's checks, in the order they are shown.
pub fn assemble(findings: &Findings) -> Vec<Check> {
    let mut checks = vec![findings.decoy.clone(), provider_check(&findings.detection)];
    let (backend, _) = backend_check(&findings.apiserver_pods);
    let managed = findings.managed.as_ref().map(managed_audit_check);
    if managed.is_none() {
        checks.push(backend);
    }
    match (&findings.policy, &managed) {
        (Some(policy), _) => {
            // The API server loads a policy with unknown fields and ignores them; a
            // misspelled selector then matches everything, so say so.
            for problem in policy.warnings() {
                checks.push(Check::advisory(
                    "policy-warning",
                    "audit policy file",
                    CheckStatus::Warn,
                    format!("the API server ignores this: {problem}"),
                ));
            }
            checks.extend(exposure_checks(
                policy,
                findings.policy_source.as_deref().unwrap_or(""),
                &findings.requests,
            ))
        }
        (None, Some(_)) => {}
        (None, None) => checks.push(unknown_policy_check(findings.policy_source.as_deref())),
    }
    checks.extend(managed);
    if let Some(arrived) = &findings.e2e {
        if arrived.iter().all(|c| c.status == CheckStatus::Pass) {
            // The drill's events did arrive: an unreadable policy no longer leaves the
            // answer open, though requests other than the drill's stay unchecked.
            for check in checks
                .iter_mut()
                .filter(|c| c.id == "policy" && c.status == CheckStatus::Unknown)
            {
                check.critical = false;
                check
                    .reason
                    .push_str("; the drill's own requests were logged (see e2e)");
            }
        }
        checks.extend(arrived.iter().cloned());
    }
    // Last, and advisory: what sees the probes an attacker tests a token with.
    let target = &findings.probe_target;
    let report = probes::evaluate(
        findings.policy.as_ref(),
        &target.user,
        &decoy_groups(&target.namespace),
        &target.namespace,
        &target.secret,
        target.tripwire.clone(),
    );
    checks.extend(probe_checks(
        &report,
        findings.policy.as_ref(),
        findings.policy_source.as_deref().unwrap_or(""),
        &format!("{}/{}", target.namespace, target.secret),
    ));
    checks
}

/// No policy to evaluate: `pod_policy_path` is where the API server reads it, if known.
fn unknown_policy_check(pod_policy_path: Option<&str>) -> Check {
    Check::critical(
        "policy",
        "audit policy",
        CheckStatus::Unknown,
        match pod_policy_path {
            Some(path) => format!("the API server reads its policy from {path}, which is not readable here"),
            None => "no policy to evaluate: none given and none found on a static kube-apiserver pod".to_string(),
        },
    )
    .with_fix(match pod_policy_path {
        Some(path) => format!("copy {path} from a control-plane node and pass it: kubectl honeytoken verify --policy ./audit-policy.yaml"),
        None => "pass the API server's audit policy with --policy FILE, or prove delivery with --e2e".to_string(),
    })
}

/// The largest audit policy file read: 4 MiB. Real policies are a few KiB (the API
/// server's own examples, GKE's and kubeadm's are under 10 KiB); the bound keeps a wrong path
/// (`/dev/zero`, a log file) from being read into memory whole.
pub const POLICY_FILE_LIMIT: u64 = 4 << 20;

fn read_policy(path: &std::path::Path) -> Result<Policy, Error> {
    let text = crate::input::read_text(path, POLICY_FILE_LIMIT, "an audit policy")
        .map_err(|e| Error::Invalid(format!("cannot read audit policy {}: {e}", path.display())))?;
    policy::parse(&text)
        .map_err(|e| Error::Invalid(format!("invalid audit policy {}: {e}", path.display())))
}

/// `--e2e --listen` takes a loopback address: its receiver is there for the drill's few
/// events and speaks plain HTTP; what works beyond loopback is said instead.
fn check_listen(address: Option<std::net::SocketAddr>) -> Result<(), Error> {
    match address {
        Some(address) if !address.ip().is_loopback() => Err(Error::Invalid(format!(
            "--listen {address}: verify's receiver speaks plain HTTP, so it listens on loopback \
             only (127.0.0.1 or [::1]): run verify on the API server's node with a loopback \
             address its audit webhook posts to, or give --audit-log FILE; to prove a receiver \
             on another address, run `watch --listen {address} --tls-cert FILE --tls-key FILE` \
             and see its alert of `test-trigger`"
        ))),
        _ => Ok(()),
    }
}

pub async fn run(args: &VerifyArgs, global: &GlobalArgs, home: &Home) -> Result<Outcome, Error> {
    check_listen(args.listen)?;
    // A policy given on the command line is read first: a broken file is an input error.
    let given_policy = args.policy.as_deref().map(read_policy).transpose()?;
    let selection = locate::select(
        args.select.profile.as_deref(),
        global.namespace.as_deref(),
        args.select.name.as_deref(),
    )?;
    if let Some(fleet) = global.fleet()? {
        return run_fleet(&fleet, args, global, home, &selection, given_policy).await;
    }
    let report = gather(
        args,
        global,
        home,
        &selection,
        given_policy,
        &global.target(),
    )
    .await?;
    match output::structured(global.output, &report)? {
        Some(text) => print!("{text}"),
        None => {
            print!("{}", table(&report));
            if args.e2e && global.dry_run {
                println!("(dry run: the drill was described, not run; no token was used)");
            }
        }
    }
    Ok(if report.passed {
        Outcome::Success
    } else {
        Outcome::VerifyFailed
    })
}

/// `verify` of a fleet: each context checked at once, one table of what did not pass in
/// each (or one document of every check), and the most serious exit code of any context.
async fn run_fleet(
    fleet: &Fleet,
    args: &VerifyArgs,
    global: &GlobalArgs,
    home: &Home,
    selection: &locate::Selection,
    given_policy: Option<Policy>,
) -> Result<Outcome, Error> {
    if args.audit_log.is_some() || args.listen.is_some() || args.workspace.is_some() {
        return Err(Error::Invalid(
            "--audit-log, --listen and --workspace name one cluster's audit sink, which a \
             fleet's clusters do not share: verify --e2e over a fleet reads each provider's \
             log service (EKS, GKE, AKS), or run verify --e2e once a context"
                .into(),
        ));
    }
    // An --e2e drill waits for its events up to its own --timeout (minutes with a provider's
    // log service): the per-context deadline would cut it short and call it unreachable.
    let deadline = !args.e2e;
    let runs = fleet::each(fleet, deadline, |target| {
        let policy = given_policy.clone();
        async move { gather(args, global, home, selection, policy, &target).await }
    })
    .await;
    let report = FleetReport::new("verify", runs, |r| {
        if r.passed {
            crate::exit::OK
        } else {
            crate::exit::VERIFY_FAILED
        }
    });
    match output::structured(global.output, &report)? {
        Some(text) => print!("{text}"),
        None => print!("{}", fleet_table(&report)),
    }
    Ok(Outcome::Fleet(report.exit_code))
}

/// The table of a fleet: for each context, its critical checks that did not pass and any
/// failed one, a row counting the advisory checks that only warned or could not tell, or one
/// row saying every check passed; or why the context has no checks.
fn fleet_table(report: &FleetReport<VerifyReport>) -> String {
    let mut table = output::table(&["context", "check", "result", "reason"]);
    let state = |context: &ContextResult<VerifyReport>| match &context.report {
        Some(r) if r.passed => "passed".to_string(),
        Some(_) => "did not pass".to_string(),
        None => context.result.as_str().to_string(),
    };
    for context in &report.contexts {
        let Some(verify) = &context.report else {
            table.add_row([
                Cell::from(&context.context),
                "-".into(),
                Cell::new(state(context).to_uppercase(), Tone::Trouble),
                context.error.as_deref().unwrap_or("").into(),
            ]);
            continue;
        };
        let (shown, advisory): (Vec<&Check>, Vec<&Check>) = verify
            .checks
            .iter()
            .filter(|c| c.status != CheckStatus::Pass)
            .partition(|c| c.critical || c.status == CheckStatus::Fail);
        for check in &shown {
            let title = if check.critical {
                format!("{} (critical)", check.title)
            } else {
                check.title.clone()
            };
            let reason = reason_and_fix(check);
            table.add_row([
                Cell::from(&context.context),
                title.into(),
                status_cell(check.status),
                reason.into(),
            ]);
        }
        if !advisory.is_empty() {
            table.add_row([
                Cell::from(&context.context),
                output::count(advisory.len(), "advisory check", "advisory checks").into(),
                status_cell(CheckStatus::Warn),
                format!(
                    "warned or could not tell: {}; verify --context {} shows each",
                    advisory
                        .iter()
                        .map(|c| c.title.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    context.context
                )
                .into(),
            ]);
        }
        if shown.is_empty() && advisory.is_empty() {
            table.add_row([
                Cell::from(&context.context),
                if verify.checks.len() == 1 {
                    "the 1 check".to_string()
                } else {
                    format!("all {} checks", verify.checks.len())
                }
                .into(),
                status_cell(CheckStatus::Pass),
                format!("decoy user {}", verify.username).into(),
            ]);
        }
    }
    format!("{table}\n{}\n", report.summary(state))
}

fn status_cell(status: CheckStatus) -> Cell {
    Cell::new(
        status.as_str(),
        match status {
            CheckStatus::Pass => Tone::Good,
            CheckStatus::Warn => Tone::Warn,
            CheckStatus::Fail => Tone::Bad,
            CheckStatus::Unknown => Tone::Unknown,
        },
    )
}

/// Every check of one cluster.
async fn gather(
    args: &VerifyArgs,
    global: &GlobalArgs,
    home: &Home,
    selection: &locate::Selection,
    given_policy: Option<Policy>,
    target: &crate::cluster::connect::Target,
) -> Result<VerifyReport, Error> {
    let located =
        locate::locate(selection, target, home, locate::KeyUse::ExistingOrEphemeral).await?;
    let client = located.connection.client.clone();
    let decoy = decoy_check(&located);

    // Read once: the provider's signs and the static kube-apiserver pod both live here.
    let kube_system_pods = cluster::pods(&client, "kube-system")
        .await
        .map_err(|e| server_said(&e));
    let detection = detect_provider(&client, &kube_system_pods).await;
    let apiserver_pods = apiserver_pods(&kube_system_pods);
    let (_, pod_policy_path) = backend_check(&apiserver_pods);
    let managed = check_managed_audit(detection.provider, &located).await;
    let (policy, policy_source) = match (given_policy, &pod_policy_path) {
        (Some(policy), _) => (
            Some(policy),
            args.policy.as_ref().map(|path| path.display().to_string()),
        ),
        (None, Some(path)) if std::path::Path::new(path).is_file() => (
            Some(read_policy(std::path::Path::new(path))?),
            Some(path.clone()),
        ),
        (None, _) => (None, pod_policy_path),
    };

    let e2e = if args.e2e && global.dry_run {
        // The checks above only read; the drill would use the token, so it is only told.
        Some(planned_end_to_end(args, detection.provider, &located))
    } else if args.e2e {
        Some(end_to_end(args, detection.provider, &located, home).await?)
    } else {
        None
    };

    let findings = Findings {
        decoy,
        detection,
        apiserver_pods,
        managed,
        policy,
        policy_source,
        requests: attack_requests(&located.spec),
        probe_target: ProbeTarget::of(&located.spec, tripwire_of(&located)),
        e2e,
    };
    let checks = assemble(&findings);
    let passed = all_critical_pass(&checks);
    Ok(VerifyReport {
        schema_version: 1,
        server: located.connection.server.clone(),
        provider: findings.detection.provider,
        username: located.spec.username(),
        policy_source: findings.policy_source,
        checks,
        passed,
    })
}

/// `--e2e` without a sink to watch.
fn no_sink_check(fix: &str) -> Check {
    Check::critical(
        "e2e",
        "end to end: drill events arrive",
        CheckStatus::Unknown,
        "no sink to watch: pass a log file or a webhook address (reading a provider's log service works on EKS, GKE and AKS)",
    )
    .with_fix(fix)
}

/// The decoy cannot be drilled with (not planted, or no token).
fn not_drillable_check(why: &DrillError) -> Check {
    Check::critical(
        "e2e",
        "end to end: drill",
        CheckStatus::Fail,
        why.to_string(),
    )
    .with_fix("kubectl honeytoken plant")
}

/// `--e2e --dry-run`: what the drill would send and where its events would be looked for,
/// one check per request, none of them run. Nothing is sent, no sink is opened and no drill
/// is recorded; the checks are not critical, so the exit code is that of the checks run.
fn planned_end_to_end(args: &VerifyArgs, provider: Provider, located: &Located) -> Vec<Check> {
    let (sink, default_timeout) = match (&args.audit_log, &args.listen) {
        (Some(path), _) => (format!("audit log {}", path.display()), 30),
        (None, Some(address)) => (
            format!("audit webhook it would receive on http://{address}"),
            30,
        ),
        (None, None) if cloud::log_query_available(provider) => (
            format!("{provider:?} audit logs, read with the provider's CLI"),
            600,
        ),
        (None, None) => return vec![no_sink_check("pass --audit-log FILE or --listen ADDR")],
    };
    if let Err(e) = drill::drillable(located) {
        return vec![not_drillable_check(&e)];
    }
    let timeout = args.timeout.unwrap_or(default_timeout);
    let plan = drill::plan(located, Some(sink), Duration::from_secs(timeout));
    plan_checks(&plan, timeout)
}

fn plan_checks(plan: &DrillPlan, timeout: u64) -> Vec<Check> {
    plan.requests
        .iter()
        .map(|request| {
            let looked_for = if request.audit_event_expected {
                format!(
                    "its event looked for in the {} for up to {timeout}s",
                    plan.audit_log.as_deref().unwrap_or_default()
                )
            } else {
                format!("then the stamp of label {} looked for", plan.tripwire_label)
            };
            Check::advisory(
                "e2e",
                format!("e2e: {} {}", request.method, request.path),
                CheckStatus::Unknown,
                format!(
                    "not sent (--dry-run): would go to {} as {} with user agent \"{}\", {looked_for}",
                    plan.server, plan.username, plan.user_agent,
                ),
            )
        })
        .collect()
}

/// Runs a drill and reports, per request, whether its event reached the sink.
async fn end_to_end(
    args: &VerifyArgs,
    provider: Provider,
    located: &Located,
    home: &Home,
) -> Result<Vec<Check>, Error> {
    let (mut sink, default_timeout) = match (&args.audit_log, &args.listen) {
        (Some(path), None) => (Sink::file(path)?, 30),
        (None, Some(address)) => (
            Sink::Webhook(Receiver::start(*address, vec![located.spec.username()]).await?),
            30,
        ),
        (Some(_), Some(_)) => {
            return Err(Error::Invalid(
                "--e2e takes one sink: --audit-log FILE or --listen ADDR".into(),
            ));
        }
        (None, None) if cloud::log_query_available(provider) => {
            let connection = &located.connection;
            let query = LogQuery {
                provider,
                hint: cloud::cluster_name_hint(
                    &connection.context,
                    &connection.cluster,
                    &connection.server,
                ),
                username: located.spec.username(),
                // A margin for clocks that disagree a little.
                since: jiff::Timestamp::now() - jiff::SignedDuration::from_secs(120),
                workspace: args.workspace.clone(),
            };
            if let Err(why) = query.command() {
                return Ok(vec![
                    Check::critical(
                        "e2e",
                        "end to end: drill events arrive",
                        CheckStatus::Unknown,
                        format!("cannot read the {provider:?} audit logs: {why}"),
                    )
                    .with_fix("pass what is missing, or use --audit-log FILE / --listen ADDR"),
                ]);
            }
            let sink = Sink::ProviderLogs {
                query,
                runner: cloud::CliRunner::from_env(),
                last_poll: None,
            };
            (sink, 600)
        }
        (None, None) => {
            return Ok(vec![no_sink_check(
                "pass --audit-log FILE (a copy of the log as it is written) or --listen ADDR (and point an audit webhook at it)",
            )]);
        }
    };
    let timeout = args.timeout.unwrap_or(default_timeout);
    let secret = match drill::drillable(located) {
        Ok(secret) => secret,
        Err(e) => return Ok(vec![not_drillable_check(&e)]),
    };
    let watcher = args
        .watcher
        .as_deref()
        .map(crate::detect::notice::Watcher::new)
        .transpose()?;
    let report = drill::drill(
        located,
        &secret,
        home,
        Some(&mut sink),
        Duration::from_secs(timeout),
        watcher.as_ref(),
    )
    .await?;
    let mut checks = drill_checks(&report, &sink.describe(), timeout);
    if let (Some(watcher), Some(id)) = (&watcher, &report.notice_id) {
        checks.push(Check::advisory(
            "e2e",
            "e2e: watcher told of the drill",
            CheckStatus::Pass,
            format!(
                "the watcher at {} took the drill's signed notice {id}; test-trigger --watcher also confirms it saw the stamp",
                watcher.url()
            ),
        ));
    }
    Ok(checks)
}

/// One check per drill request: its answer, and whether its event arrived in `sink`
/// within `timeout` seconds.
fn drill_checks(report: &DrillReport, sink: &str, timeout: u64) -> Vec<Check> {
    report
        .requests
        .iter()
        .map(|outcome| {
            let title = format!("e2e: {} {}", outcome.request.method, outcome.request.path);
            let answer = outcome
                .code
                .map(|c| c.to_string())
                .or(outcome.error.clone())
                .unwrap_or_default();
            match (outcome.judgement, outcome.audit_latency_seconds) {
                (Judgement::Danger, _) if outcome.request.audit_event_expected => Check::critical(
                    "e2e",
                    title,
                    CheckStatus::Fail,
                    format!("DANGER: answered {answer}: the decoy can read Secrets"),
                )
                .with_fix("kubectl honeytoken status  # names the binding to delete"),
                (_, Some(seconds)) => Check::critical(
                    "e2e",
                    title,
                    CheckStatus::Pass,
                    format!(
                        "answered {answer}; event ({}) arrived in {sink} after {seconds:.1}s",
                        crate::ui::terminal::printable(outcome.audit_stage.as_deref().unwrap_or(""))
                    ),
                ),
                (judgement, None) if !outcome.request.audit_event_expected => Check::advisory(
                    "e2e",
                    title,
                    if judgement == Judgement::Ok { CheckStatus::Pass } else { CheckStatus::Fail },
                    format!(
                        "answered {answer}; no audit event expected (common policies drop it): the tripwire catches it"
                    ),
                ),
                (_, None) => Check::critical(
                    "e2e",
                    title,
                    CheckStatus::Fail,
                    format!("answered {answer}; no event in {sink} within {timeout}s"),
                )
                .with_fix("check the audit policy (verify --policy) and that the backend writes where you look"),
            }
        })
        .chain(std::iter::once(tripwire_check(report)))
        .collect()
}

/// Whether the drill's first request stamped the tripwire and the drill re-armed it.
fn tripwire_check(report: &DrillReport) -> Check {
    let told = report.tripwire.describe();
    let status = match report.tripwire.outcome {
        crate::home::DrillTripwire::Rearmed { .. } => CheckStatus::Pass,
        _ => CheckStatus::Fail,
    };
    let check = Check::critical("e2e", "e2e: tripwire fires and re-arms", status, told);
    match report.tripwire.outcome {
        crate::home::DrillTripwire::AlreadyStamped { .. } => {
            check.with_fix("kubectl honeytoken status  # the decoy was used")
        }
        crate::home::DrillTripwire::Left { .. } => check.with_fix(
            "grant patch on the decoy's Secret (deploy/operator-rbac.yaml), then test-trigger",
        ),
        _ => check,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_e2e_receiver_listens_on_loopback_and_says_what_works_beyond() {
        assert!(check_listen(None).is_ok());
        assert!(check_listen(Some("127.0.0.1:9444".parse().unwrap())).is_ok());
        assert!(check_listen(Some("[::1]:9444".parse().unwrap())).is_ok());
        let error = check_listen(Some("0.0.0.0:9444".parse().unwrap()))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("--listen 0.0.0.0:9444: verify's receiver"),
            "{error}"
        );
        assert!(
            error.contains("`watch --listen 0.0.0.0:9444 --tls-cert"),
            "{error}"
        );
    }
    use crate::decoy::profile::default_profile;
    use crate::home::Key;

    fn spec() -> DecoySpec {
        DecoySpec::new(
            default_profile(),
            &Key::from_bytes([1; crate::home::KEY_LEN]),
            "u",
            "kube-system",
            "tiller",
        )
    }

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn audit_flags_are_read_in_both_forms() {
        let flags = audit_flags(&words(
            "kube-apiserver --advertise-address=10.0.0.1 --audit-log-path=/var/log/audit.log --audit-policy-file /etc/kubernetes/audit.yaml --secure-port=6443",
        ));
        assert_eq!(flags.log_path.as_deref(), Some("/var/log/audit.log"));
        assert_eq!(
            flags.policy_file.as_deref(),
            Some("/etc/kubernetes/audit.yaml")
        );
        assert_eq!(flags.webhook_config, None);
        let webhook = audit_flags(&words(
            "kube-apiserver --audit-webhook-config-file=/etc/k/webhook.yaml",
        ));
        assert_eq!(
            webhook.webhook_config.as_deref(),
            Some("/etc/k/webhook.yaml")
        );
        assert_eq!(
            audit_flags(&words("kube-apiserver --audit-log-path= --v=2")),
            AuditFlags::default()
        );
    }

    fn apiserver_pod(args: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "kube-apiserver-cp1", "namespace": "kube-system"},
            "spec": {"containers": [{"name": "kube-apiserver", "command": words(args)}]}
        }))
        .unwrap()
    }

    #[test]
    fn a_static_apiserver_without_audit_flags_fails_with_the_fix() {
        let (check, policy) = backend_check(&Ok(vec![apiserver_pod(
            "kube-apiserver --secure-port=6443",
        )]));
        assert_eq!(check.status, CheckStatus::Fail);
        assert!(check.critical);
        assert!(
            check.reason.contains("no audit log at all"),
            "{}",
            check.reason
        );
        assert!(check.fix.unwrap().contains("--audit-log-path"));
        assert_eq!(policy, None);
    }

    #[test]
    fn a_static_apiserver_with_a_log_and_policy_passes_and_names_the_policy() {
        let (check, policy) = backend_check(&Ok(vec![apiserver_pod(
            "kube-apiserver --audit-log-path=/var/log/a.log --audit-policy-file=/etc/kubernetes/policy.yaml",
        )]));
        assert_eq!(check.status, CheckStatus::Pass);
        assert_eq!(policy.as_deref(), Some("/etc/kubernetes/policy.yaml"));
    }

    #[test]
    fn a_backend_without_a_policy_logs_nothing() {
        let (check, _) = backend_check(&Ok(vec![apiserver_pod(
            "kube-apiserver --audit-log-path=/var/log/a.log",
        )]));
        assert_eq!(check.status, CheckStatus::Fail);
    }

    #[test]
    fn no_visible_apiserver_is_unknown_not_pass() {
        let (check, _) = backend_check(&Ok(vec![]));
        assert_eq!(check.status, CheckStatus::Unknown);
        let (forbidden, _) = backend_check(&Err("forbidden".into()));
        assert_eq!(forbidden.status, CheckStatus::Unknown);
        assert!(forbidden.reason.contains("forbidden"));
    }

    #[test]
    fn the_attack_covers_the_drill_and_the_next_steps() {
        let names: Vec<String> = attack_requests(&spec())
            .into_iter()
            .map(|a| a.name)
            .collect();
        for expected in [
            "GET /api (discovery)",
            "list secrets -n kube-system",
            "list secrets --all-namespaces",
            "watch secrets -n kube-system",
            "create pods/exec -n kube-system",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} missing from {names:?}"
            );
        }
        for attack in attack_requests(&spec()) {
            assert_eq!(
                attack.request.user,
                "system:serviceaccount:kube-system:tiller"
            );
            assert!(
                attack
                    .request
                    .groups
                    .contains(&"system:serviceaccounts:kube-system".to_string())
            );
        }
    }

    fn policy(text: &str) -> Policy {
        policy::parse(text).unwrap()
    }

    #[test]
    fn a_policy_that_logs_everything_at_metadata_passes_every_request() {
        let checks = exposure_checks(
            &policy("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"),
            "p",
            &attack_requests(&spec()),
        );
        assert!(
            checks.iter().all(|c| c.status == CheckStatus::Pass),
            "{checks:#?}"
        );
        assert!(all_critical_pass(&checks));
    }

    #[test]
    fn a_policy_that_drops_the_decoy_fails_and_names_the_rule() {
        let text = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  users: [\"system:serviceaccount:kube-system:tiller\"]\n- level: Metadata\n";
        let checks = exposure_checks(&policy(text), "p.yaml", &attack_requests(&spec()));
        assert!(
            checks.iter().all(|c| c.status == CheckStatus::Fail),
            "{checks:#?}"
        );
        assert!(checks[0].reason.contains("rule"), "{}", checks[0].reason);
        assert!(!all_critical_pass(&checks));
    }

    #[test]
    fn omitting_every_stage_fails() {
        let text = "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived, ResponseStarted, ResponseComplete, Panic]\nrules:\n- level: Metadata\n";
        let checks = exposure_checks(&policy(text), "p", &attack_requests(&spec()));
        assert!(
            checks.iter().all(|c| c.status == CheckStatus::Fail),
            "{checks:#?}"
        );
        assert!(checks[0].reason.contains("every stage is omitted"));
    }

    #[test]
    fn logging_secret_bodies_is_a_warning_that_still_passes() {
        let text = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n";
        let checks = exposure_checks(&policy(text), "p", &attack_requests(&spec()));
        let secrets: Vec<&Check> = checks
            .iter()
            .filter(|c| c.title.contains("secret"))
            .collect();
        assert!(!secrets.is_empty());
        assert!(secrets.iter().all(|c| c.status == CheckStatus::Warn));
        assert!(all_critical_pass(&checks));
    }

    #[test]
    fn only_critical_checks_decide() {
        let pass = Check::critical("a", "a", CheckStatus::Pass, "");
        let unknown_minor = Check::advisory("b", "b", CheckStatus::Unknown, "");
        let unknown_critical = Check::critical("c", "c", CheckStatus::Unknown, "");
        assert!(all_critical_pass(&[pass.clone(), unknown_minor]));
        assert!(!all_critical_pass(&[pass, unknown_critical]));
    }

    /// What verify finds on a cluster whose provider is `provider`, with no policy to
    /// evaluate and no static kube-apiserver pod in sight.
    fn findings(provider: Provider) -> Findings {
        Findings {
            decoy: Check::advisory("decoy", "decoy", CheckStatus::Pass, ""),
            detection: Detection {
                provider,
                reasons: vec!["seen".into()],
                unavailable: vec![],
            },
            apiserver_pods: Ok(vec![]),
            managed: None,
            policy: None,
            policy_source: Some("/etc/kubernetes/audit-policy.yaml".into()),
            requests: attack_requests(&spec()),
            probe_target: ProbeTarget::of(&spec(), Tripwire::Armed),
            e2e: None,
        }
    }

    /// The checks' ids, the probe checks (always last, advisory) left out.
    fn ids(checks: &[Check]) -> Vec<&str> {
        let probes = checks.iter().filter(|c| c.id.starts_with("probe")).count();
        assert_eq!(
            probes,
            probes::PROBE_PATHS.len() + 1,
            "one check per probe and the stamp's"
        );
        assert!(
            checks[checks.len() - probes..]
                .iter()
                .all(|c| c.id.starts_with("probe") && !c.critical)
        );
        checks[..checks.len() - probes]
            .iter()
            .map(|c| c.id.as_str())
            .collect()
    }

    #[test]
    fn a_managed_provider_is_checked_by_its_setting_instead_of_flags_and_policy() {
        let managed = ManagedAudit {
            provider: Provider::Eks,
            hint: ClusterHint::default(),
            outcome: CheckOutcome::Disabled {
                evidence: "control-plane log type audit is not enabled".into(),
            },
        };
        let checks = assemble(&Findings {
            managed: Some(managed),
            ..findings(Provider::Eks)
        });
        assert_eq!(ids(&checks), ["decoy", "provider", "managed-audit"]);
        let setting = &checks[2];
        assert_eq!(setting.status, CheckStatus::Fail);
        assert!(setting.critical);
        assert!(
            setting
                .fix
                .as_deref()
                .unwrap()
                .starts_with("aws eks update-cluster-config"),
            "{setting:?}"
        );
        assert!(!all_critical_pass(&checks));
    }

    #[test]
    fn an_unreadable_policy_stays_open_unless_the_drills_events_arrived() {
        let unknown = assemble(&findings(Provider::Kind));
        assert_eq!(
            ids(&unknown),
            ["decoy", "provider", "audit-backend", "policy"]
        );
        assert!(unknown[3].critical);
        assert!(
            unknown[3]
                .reason
                .contains("/etc/kubernetes/audit-policy.yaml"),
            "{:?}",
            unknown[3]
        );
        assert!(!all_critical_pass(&unknown));

        let arrived = Check::critical("e2e", "e2e: GET /api", CheckStatus::Pass, "arrived");
        let proven = assemble(&Findings {
            e2e: Some(vec![arrived]),
            ..findings(Provider::Kind)
        });
        assert_eq!(
            ids(&proven),
            ["decoy", "provider", "audit-backend", "policy", "e2e"]
        );
        assert!(!proven[3].critical);
        assert!(
            proven[3]
                .reason
                .ends_with("; the drill's own requests were logged (see e2e)")
        );
        assert!(all_critical_pass(&proven));

        let planned = Check::advisory("e2e", "e2e: GET /api", CheckStatus::Unknown, "not sent");
        let told = assemble(&Findings {
            e2e: Some(vec![planned]),
            ..findings(Provider::Kind)
        });
        assert!(told[3].critical, "a planned drill proves nothing");
    }

    fn probe_rows(checks: &[Check]) -> Vec<(&str, CheckStatus, Vec<Catcher>)> {
        checks
            .iter()
            .filter(|c| c.id.starts_with("probe"))
            .map(|c| {
                (
                    c.title.as_str(),
                    c.status,
                    c.caught_by.clone().unwrap_or_default(),
                )
            })
            .collect()
    }

    #[test]
    fn probes_are_told_by_what_catches_them_and_a_blind_policy_is_said_clearly() {
        let bed = policy(include_str!("../../tests/controlplane/audit-policy.yaml"));
        let checks = assemble(&Findings {
            policy: Some(bed),
            policy_source: Some("bed.yaml".into()),
            ..findings(Provider::Kind)
        });
        let rows = probe_rows(&checks);
        assert_eq!(rows[0].0, "probe: GET /version");
        assert_eq!(rows[0].1, CheckStatus::Warn);
        assert_eq!(rows[0].2, vec![Catcher::StampEvent, Catcher::Tripwire]);
        assert_eq!(rows[4].0, "probe: GET /api");
        assert_eq!(rows[4].1, CheckStatus::Pass);
        let stamp = checks.iter().find(|c| c.id == "probe-stamp").unwrap();
        assert_eq!(stamp.status, CheckStatus::Pass);
        assert!(stamp.reason.contains("logged at Metadata"), "{stamp:?}");
        assert!(checks.iter().all(|c| c.id != "probe-audit-blind"));
        assert!(all_critical_pass(&checks[..1]));
        let json = serde_json::to_value(&checks[checks.len() - 2]).unwrap();
        assert!(json["caughtBy"].is_array(), "{json}");

        // Nothing logged and the label already there: nothing sees a probe, and the
        // report says so.
        let blind = policy(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  users: [system:apiserver]\n- level: None\n  nonResourceURLs: ['*']\n- level: Metadata\n",
        );
        let checks = assemble(&Findings {
            policy: Some(blind),
            policy_source: Some("blind.yaml".into()),
            probe_target: ProbeTarget::of(
                &spec(),
                Tripwire::Tripped {
                    day: "2026-12-03".into(),
                },
            ),
            ..findings(Provider::Kind)
        });
        let rows = probe_rows(&checks);
        assert!(
            rows[..8]
                .iter()
                .all(|(_, status, caught)| *status == CheckStatus::Fail && caught.is_empty()),
            "{rows:?}"
        );
        let said = checks.iter().find(|c| c.id == "probe-audit-blind").unwrap();
        assert!(!said.critical);
        assert!(said.reason.contains("logs none of the probes"), "{said:?}");
        // Advisory: the exit code is the critical checks'.
        assert!(
            checks
                .iter()
                .filter(|c| c.id.starts_with("probe"))
                .all(|c| !c.critical)
        );
    }

    #[test]
    fn a_given_policy_is_evaluated_with_its_warnings_first() {
        let text =
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  userz: [x]\n";
        let checks = assemble(&Findings {
            policy: Some(policy(text)),
            policy_source: Some("p.yaml".into()),
            ..findings(Provider::Kind)
        });
        assert_eq!(checks[3].id, "policy-warning", "{checks:#?}");
        let rest = &ids(&checks)[4..];
        assert!(rest.iter().all(|id| *id == "policy-exposure"));
        assert_eq!(rest.len(), attack_requests(&spec()).len());
    }

    fn verified(checks: Vec<Check>) -> VerifyReport {
        VerifyReport {
            schema_version: 1,
            server: "https://a".into(),
            provider: Provider::Kubeadm,
            username: "system:serviceaccount:kube-system:tiller".into(),
            policy_source: None,
            passed: all_critical_pass(&checks),
            checks,
        }
    }

    #[test]
    fn a_fleet_table_shows_what_did_not_pass_with_critical_checks_marked() {
        use crate::cluster::fleet::{ContextRun, Ran};
        let pass = Check::critical("decoy", "decoy planted", CheckStatus::Pass, "ok");
        let failing = verified(vec![
            pass.clone(),
            Check::critical(
                "audit-policy",
                "audit policy",
                CheckStatus::Fail,
                "nothing logged",
            )
            .with_fix("log the decoy user"),
            Check::advisory(
                "probe-version",
                "probe: GET /version",
                CheckStatus::Warn,
                "w",
            ),
            Check::advisory("probe-api", "probe: GET /api", CheckStatus::Unknown, "u"),
        ]);
        let runs = vec![
            ContextRun {
                context: "prod".to_string(),
                ran: Ran::Done(failing),
            },
            ContextRun {
                context: "dev".to_string(),
                ran: Ran::Done(verified(vec![pass])),
            },
            ContextRun {
                context: "edge".to_string(),
                ran: Ran::Failed(Error::Invalid("refused".into())),
            },
        ];
        let report = FleetReport::new("verify", runs, |r| {
            if r.passed {
                crate::exit::OK
            } else {
                crate::exit::VERIFY_FAILED
            }
        });
        assert_eq!(report.exit_code, crate::exit::VERIFY_FAILED);
        let text = console::strip_ansi_codes(&fleet_table(&report)).to_string();
        let rows_of = |context: &str| -> Vec<String> {
            text.lines()
                .filter(|l| l.trim_start().starts_with(&format!("{context} ")))
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect()
        };
        let prod = rows_of("prod");
        assert_eq!(prod.len(), 2, "{text}");
        assert!(
            prod[0].starts_with(
                "prod audit policy (critical) FAIL nothing logged; fix: log the decoy user"
            ),
            "{text}"
        );
        assert!(prod[1].starts_with("prod 2 advisory checks WARN warned or could not tell: probe: GET /version, probe: GET /api"), "{text}");
        assert_eq!(
            rows_of("dev"),
            ["dev the 1 check PASS decoy user system:serviceaccount:kube-system:tiller"]
        );
        assert!(
            rows_of("edge")[0].starts_with("edge - FAILED refused"),
            "{text}"
        );
        assert!(
            text.trim_end()
                .ends_with("3 contexts: 1 did not pass, 1 passed, 1 failed."),
            "{text}"
        );
        assert!(
            !text.contains("decoy planted"),
            "a passing check is not listed:\n{text}"
        );
    }

    #[test]
    fn the_table_marks_critical_checks_and_the_verdict_names_those_that_did_not_pass() {
        let report = verified(vec![
            Check::critical(
                "decoy",
                "decoy kube-system/tiller planted",
                CheckStatus::Pass,
                "Secret tiller-token-7jbhh holds a token",
            ),
            Check::critical(
                "audit-backend",
                "audit backend (kube-apiserver flags)",
                CheckStatus::Fail,
                "kube-system/kube-apiserver-bed has an audit backend (log file \
                 /var/log/kubernetes/audit/audit.log) but no --audit-policy-file: nothing is logged",
            )
            .with_fix("add --audit-policy-file with a policy that logs the decoy user at Metadata"),
            Check::advisory(
                "probe-version",
                "probe: GET /version",
                CheckStatus::Fail,
                "caught by: nothing; audit: not logged (rule 3 at line 30 (level None))",
            ),
        ]);
        assert!(!report.passed);
        let table = checks_table(&report);
        for width in [80, 120] {
            let text = table.render(crate::ui::table::Fit::terminal(width), true);
            let plain = console::strip_ansi_codes(&text).to_string();
            let lines: Vec<&str> = plain.lines().collect();
            for line in &lines {
                assert!(line.chars().count() <= width, "{plain}");
                assert_eq!(*line, line.trim_end(), "{plain}");
            }
            let header = lines[0];
            let critical = header.find("CRITICAL").expect("a CRITICAL column");
            let result = header.find("RESULT").unwrap();
            assert!(plain.split_whitespace().any(|w| w == "fix:"), "{plain}");
            let row_of = |title: &str| {
                *lines
                    .iter()
                    .find(|l| l.starts_with(title))
                    .unwrap_or_else(|| panic!("{title}:\n{plain}"))
            };
            let backend = row_of("audit backend");
            assert_eq!(&backend[critical..critical + 3], "yes", "{plain}");
            assert_eq!(&backend[result..result + 4], "FAIL", "{plain}");
            let probe = row_of("probe: GET");
            assert_eq!(&probe[critical..critical + 2], "no", "{plain}");
        }
        let verdict = console::strip_ansi_codes(&verdict_line(&report)).to_string();
        assert_eq!(
            verdict,
            "a critical check did not pass: audit backend (kube-apiserver flags) (FAIL)"
        );
        let passed = verified(vec![Check::critical(
            "decoy",
            "decoy planted",
            CheckStatus::Pass,
            "ok",
        )]);
        assert_eq!(
            console::strip_ansi_codes(&verdict_line(&passed)),
            "every critical check passed"
        );
    }
}
