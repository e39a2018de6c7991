//! Managed providers' audit settings: what must be on for a use of the decoy token to be
//! logged on EKS, GKE and AKS, the exact commands that check and fix it, and running the
//! check with the provider's CLI when it is installed. Also reading a drill's audit events
//! back from the provider's log service ([`LogQuery`]).
//!
//! Only parsed CLI output may say Enabled or Disabled; a CLI that is missing, fails, hangs
//! or prints something unexpected is reported as such, never as a result.

use std::ffi::OsString;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use crate::audit::Event;
use crate::provider::{ClusterHint, HintPart, Provider};

const AWS: &str = "aws";
const GCLOUD: &str = "gcloud";
const AZ: &str = "az";

const CLUSTER: &str = "<CLUSTER>";
const REGION: &str = "<REGION>";
const PROJECT: &str = "<PROJECT>";
const RESOURCE_GROUP: &str = "<RESOURCE_GROUP>";
const WORKSPACE_ID: &str = "<WORKSPACE_ID>";
/// Stands for the AKS resource ID in a command line until it is replaced by the
/// `az aks show` that prints it.
const AKS_ID: &str = "<AKS_RESOURCE_ID>";

const EKS_AUDIT_ON: &str = r#"{"clusterLogging":[{"types":["audit"],"enabled":true}]}"#;
const AKS_KUBE_AUDIT_ON: &str = r#"[{"category":"kube-audit","enabled":true}]"#;

/// The setting that must be true for the decoy's use to reach a log.
pub fn requirement(provider: Provider) -> &'static str {
    match provider {
        Provider::Eks => {
            "the EKS control-plane log type `audit` must be enabled (events go to CloudWatch \
             Logs group /aws/eks/<cluster>/cluster, streams kube-apiserver-audit-*)"
        }
        Provider::Gke => {
            "Data Access audit logs (DATA_READ, and DATA_WRITE) must be enabled for service \
             k8s.io in the project's IAM audit config, else reads such as getting or listing \
             Secrets are not logged (Admin Activity logs are always on)"
        }
        Provider::Aks => {
            "a diagnostic setting must send category kube-audit to a Log Analytics workspace \
             or storage account (kube-audit-admin alone leaves out get and list)"
        }
        _ => "no provider setting applies: the API server's own audit flags decide",
    }
}

/// The command line that shows the setting, with the hint's values or placeholders.
pub fn check_command(provider: Provider, hint: &ClusterHint) -> String {
    let name = value_or(&hint.name, CLUSTER);
    match provider {
        Provider::Eks => {
            let region = value_or(&hint.region, REGION);
            command_line(AWS, &eks_check_args(&name, &region)) + &guess_note(hint)
        }
        Provider::Gke => {
            let project = value_or(&hint.account, PROJECT);
            command_line(GCLOUD, &gke_policy_args(&project))
        }
        Provider::Aks => {
            command_line(AZ, &aks_settings_args(AKS_ID)).replace(AKS_ID, &aks_id_expression(&name))
                + &guess_note(hint)
        }
        _ => "none: no provider setting to check".to_string(),
    }
}

/// The commands that turn the setting on, with the hint's values or placeholders.
pub fn fix_command(provider: Provider, hint: &ClusterHint) -> String {
    let name = value_or(&hint.name, CLUSTER);
    match provider {
        Provider::Eks => {
            let region = value_or(&hint.region, REGION);
            command_line(AWS, &eks_fix_args(&name, &region)) + &guess_note(hint)
        }
        Provider::Gke => gke_fix_script(&value_or(&hint.account, PROJECT)),
        Provider::Aks => {
            command_line(AZ, &aks_fix_args(AKS_ID)).replace(AKS_ID, &aks_id_expression(&name))
                + &guess_note(hint)
        }
        _ => "none: no provider setting to change".to_string(),
    }
}

fn value_or(part: &Option<HintPart>, placeholder: &str) -> String {
    part.as_ref()
        .map_or_else(|| placeholder.to_string(), |p| p.value.clone())
}

/// A command built on a guessed name says so, so nobody changes the wrong cluster.
fn guess_note(hint: &ClusterHint) -> String {
    match &hint.name {
        Some(name) if !name.certain => {
            format!(
                "  # cluster name {} is guessed from the kubeconfig",
                name.value
            )
        }
        _ => String::new(),
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

fn eks_check_args(name: &str, region: &str) -> Vec<String> {
    strings(&[
        "eks",
        "describe-cluster",
        "--name",
        name,
        "--region",
        region,
        "--query",
        "cluster.logging",
        "--output",
        "json",
    ])
}

fn eks_fix_args(name: &str, region: &str) -> Vec<String> {
    strings(&[
        "eks",
        "update-cluster-config",
        "--name",
        name,
        "--region",
        region,
        "--logging",
        EKS_AUDIT_ON,
    ])
}

fn gke_policy_args(project: &str) -> Vec<String> {
    strings(&["projects", "get-iam-policy", project, "--format=json"])
}

/// The documented way: fetch the policy, add an auditConfigs entry, set it back (the etag
/// in the file guards against overwriting a concurrent change). ADMIN_READ is added too:
/// GKE logs metadata reads such as listing as ADMIN_READ.
fn gke_fix_script(project: &str) -> String {
    let get = command_line(GCLOUD, &gke_policy_args(project));
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

fn aks_list_args() -> Vec<String> {
    strings(&["aks", "list", "-o", "json"])
}

fn aks_show_id_args(resource_group: &str, name: &str) -> Vec<String> {
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

fn aks_settings_args(resource_id: &str) -> Vec<String> {
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

fn aks_fix_args(resource_id: &str) -> Vec<String> {
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
        AKS_KUBE_AUDIT_ON,
    ])
}

/// The kubeconfig does not name the resource group, so a printed command looks the
/// resource ID up with a placeholder for it.
fn aks_id_expression(name: &str) -> String {
    format!(
        "\"$({})\"",
        command_line(AZ, &aks_show_id_args(RESOURCE_GROUP, name))
    )
}

/// The command as a user would type it in a POSIX shell.
fn command_line(program: &str, args: &[String]) -> String {
    std::iter::once(program.to_string())
        .chain(args.iter().map(|arg| shell_word(arg)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes what the shell would otherwise interpret; placeholders stay visible as such.
fn shell_word(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c);
    if is_placeholder(arg) || (!arg.is_empty() && arg.chars().all(plain)) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

fn is_placeholder(arg: &str) -> bool {
    arg.strip_prefix('<')
        .and_then(|rest| rest.strip_suffix('>'))
        .is_some_and(|inner| {
            !inner.is_empty() && inner.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        })
}

/// What running the check found out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The CLI's output shows the setting on.
    Enabled { evidence: String },
    /// The CLI's output shows the setting off.
    Disabled { evidence: String },
    /// The provider's CLI is not on the search path.
    CliMissing { program: &'static str },
    /// The CLI ran but gave no usable answer (error, timeout, unexpected output).
    CliFailed { command: String, message: String },
    /// Something needed to run the check is not known (e.g. the cluster's name).
    NotEnoughToRun { missing: String },
}

/// What a parser read from a CLI's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub enabled: bool,
    pub evidence: String,
}

/// Checks the provider's audit setting with its CLI. Reports Enabled or Disabled only
/// from the CLI's parsed output.
pub fn run_check(provider: Provider, hint: &ClusterHint, runner: &CliRunner) -> CheckOutcome {
    let result = match provider {
        Provider::Eks => check_eks(hint, runner),
        Provider::Gke => check_gke(hint, runner),
        Provider::Aks => check_aks(hint, runner),
        other => Err(CheckOutcome::NotEnoughToRun {
            missing: format!("a managed provider ({other:?} has no provider audit setting)"),
        }),
    };
    result.unwrap_or_else(|outcome| outcome)
}

/// Err carries an outcome that ends the check early.
type Step<T> = Result<T, CheckOutcome>;

fn check_eks(hint: &ClusterHint, runner: &CliRunner) -> Step<CheckOutcome> {
    let name = known(
        &hint.name,
        "the EKS cluster name (neither kubeconfig name is an EKS ARN or an eksctl name)",
    )?;
    let region = known(&hint.region, "the AWS region")?;
    let args = eks_check_args(name, region);
    let stdout = run_cli(runner, AWS, &args)?;
    Ok(judge(command_line(AWS, &args), parse_eks_logging(&stdout)))
}

fn check_gke(hint: &ClusterHint, runner: &CliRunner) -> Step<CheckOutcome> {
    let project = known(
        &hint.account,
        "the Google Cloud project (the kubeconfig context is not named gke_<project>_<location>_<cluster>)",
    )?;
    let args = gke_policy_args(project);
    let stdout = run_cli(runner, GCLOUD, &args)?;
    let finding = parse_gke_iam_policy(&stdout).map(|f| Finding {
        evidence: format!("project {project}: {}", f.evidence),
        ..f
    });
    Ok(judge(command_line(GCLOUD, &args), finding))
}

/// The resource group is not in the kubeconfig, so the cluster is looked up among those
/// the CLI can see, by its API server host (certain) or else its guessed name.
fn check_aks(hint: &ClusterHint, runner: &CliRunner) -> Step<CheckOutcome> {
    if hint.server_host.is_none() && hint.name.is_none() {
        return Err(not_enough("the AKS cluster's API server host or name"));
    }
    let list_args = aks_list_args();
    let listing = run_cli(runner, AZ, &list_args)?;
    let (id, matched_by) = match find_aks_cluster(&listing, hint) {
        Ok(AksLookup::Found { id, matched_by }) => (id, matched_by),
        Ok(AksLookup::NotFound(why)) => return Err(not_enough(&why)),
        Err(e) => return Err(unexpected_output(command_line(AZ, &list_args), &e)),
    };
    let args = aks_settings_args(&id);
    let stdout = run_cli(runner, AZ, &args)?;
    let finding = parse_aks_diagnostic_settings(&stdout).map(|f| Finding {
        evidence: format!("cluster {id} (found by {matched_by}): {}", f.evidence),
        ..f
    });
    Ok(judge(command_line(AZ, &args), finding))
}

fn known<'a>(part: &'a Option<HintPart>, what: &str) -> Step<&'a str> {
    part.as_ref()
        .map(|p| p.value.as_str())
        .ok_or_else(|| not_enough(what))
}

fn not_enough(what: &str) -> CheckOutcome {
    CheckOutcome::NotEnoughToRun {
        missing: what.to_string(),
    }
}

fn unexpected_output(command: String, error: &str) -> CheckOutcome {
    CheckOutcome::CliFailed {
        command,
        message: format!("unexpected output: {error}"),
    }
}

fn judge(command: String, parsed: Result<Finding, String>) -> CheckOutcome {
    match parsed {
        Ok(Finding {
            enabled: true,
            evidence,
        }) => CheckOutcome::Enabled { evidence },
        Ok(Finding {
            enabled: false,
            evidence,
        }) => CheckOutcome::Disabled { evidence },
        Err(e) => unexpected_output(command, &e),
    }
}

/// Runs one CLI command and returns its stdout when it succeeded.
fn run_cli(runner: &CliRunner, program: &'static str, args: &[String]) -> Step<String> {
    let failed = |message: String| CheckOutcome::CliFailed {
        command: command_line(program, args),
        message,
    };
    match runner.run(program, args) {
        Ok(output) if output.success => Ok(output.stdout),
        Ok(output) => Err(failed(failure_message(&output))),
        Err(RunError::NotFound) => Err(CheckOutcome::CliMissing { program }),
        Err(e) => Err(failed(e.to_string())),
    }
}

/// The CLI's own words (errors go to stderr), shortened, and how it exited.
fn failure_message(output: &CliOutput) -> String {
    let status = match output.exit_code {
        Some(code) => format!("exit status {code}"),
        None => "killed by a signal".to_string(),
    };
    let said: Vec<&str> = output
        .stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if said.is_empty() {
        status
    } else {
        format!("{} ({status})", shorten(&said.join(" "), 500))
    }
}

fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

#[derive(Debug, Deserialize)]
struct EksLogging {
    #[serde(rename = "clusterLogging")]
    cluster_logging: Vec<EksLogSetup>,
}

#[derive(Debug, Deserialize)]
struct EksLogSetup {
    #[serde(default)]
    types: Vec<String>,
    /// Absent counts as off: only an explicit true is evidence.
    #[serde(default)]
    enabled: bool,
}

/// Reads `cluster.logging` from `aws eks describe-cluster`, given either the
/// `--query cluster.logging` output ({"clusterLogging": [...]}) or the whole document.
pub fn parse_eks_logging(json: &str) -> Result<Finding, String> {
    let document: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    let logging = match document.get("cluster") {
        Some(cluster) => cluster.get("logging").cloned().unwrap_or(Value::Null),
        None => document,
    };
    let logging: EksLogging = serde_json::from_value(logging)
        .map_err(|e| format!("no cluster.logging.clusterLogging list: {e}"))?;
    let mut on: Vec<&str> = logging
        .cluster_logging
        .iter()
        .filter(|setup| setup.enabled)
        .flat_map(|setup| setup.types.iter().map(String::as_str))
        .collect();
    on.sort_unstable();
    on.dedup();
    let enabled = on.contains(&"audit");
    let listed = if on.is_empty() {
        "none".to_string()
    } else {
        on.join(", ")
    };
    Ok(Finding {
        enabled,
        evidence: format!(
            "control-plane log type audit is {} (enabled types: {listed})",
            if enabled { "enabled" } else { "not enabled" }
        ),
    })
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
pub fn parse_gke_iam_policy(json: &str) -> Result<Finding, String> {
    let document: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    if !document.is_object() {
        return Err("not an IAM policy object".to_string());
    }
    let policy: IamPolicy =
        serde_json::from_value(document).map_err(|e| format!("not an IAM policy: {e}"))?;
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
pub fn parse_aks_diagnostic_settings(json: &str) -> Result<Finding, String> {
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

fn parse_diagnostic_settings(json: &str) -> Result<Vec<DiagnosticSetting>, String> {
    let document: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    let items = match document {
        Value::Array(items) => items,
        Value::Object(mut object) => match object.remove("value") {
            Some(Value::Array(items)) => items,
            _ => return Err("an object without a `value` list".to_string()),
        },
        _ => return Err("neither a list nor an object with `value`".to_string()),
    };
    items
        .into_iter()
        .map(|item| {
            let body = match item.get("properties") {
                Some(properties) if properties.is_object() => with_name(properties.clone(), &item),
                _ => item,
            };
            serde_json::from_value(body).map_err(|e| format!("not a diagnostic setting: {e}"))
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
pub fn find_aks_cluster(json: &str, hint: &ClusterHint) -> Result<AksLookup, String> {
    let clusters: Vec<AksCluster> =
        serde_json::from_str(json).map_err(|e| format!("not a list of AKS clusters: {e}"))?;
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

/// Runs a provider CLI found on its own search path, never longer than its timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliRunner {
    /// Directories to find CLIs in, in PATH syntax; a field so tests need not touch PATH.
    pub search_path: OsString,
    pub timeout: Duration,
}

/// What a finished CLI printed and how it exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliOutput {
    pub success: bool,
    /// None when it was killed by a signal.
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("not found on the search path")]
    NotFound,
    #[error("could not be started: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("gave no answer within {0:?} and was stopped")]
    TimedOut(Duration),
}

/// How often a running CLI is polled for its exit.
const POLL: Duration = Duration::from_millis(20);
/// How long to wait for output after exit: a CLI's own children may hold the pipes open.
const PIPE_GRACE: Duration = Duration::from_secs(2);

impl CliRunner {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

    /// Looks on the process's PATH.
    pub fn from_env() -> CliRunner {
        CliRunner::new(
            std::env::var_os("PATH").unwrap_or_default(),
            CliRunner::DEFAULT_TIMEOUT,
        )
    }

    pub fn new(search_path: impl Into<OsString>, timeout: Duration) -> CliRunner {
        CliRunner {
            search_path: search_path.into(),
            timeout,
        }
    }

    /// The first executable of that name on the search path. Relative entries (an empty
    /// one means ".") are skipped so a file in the working directory is never run.
    pub fn find(&self, program: &str) -> Option<PathBuf> {
        std::env::split_paths(&self.search_path)
            .filter(|dir| dir.is_absolute())
            .flat_map(|dir| executable_names(program).map(move |name| dir.join(name)))
            .find(|path| is_executable(path))
    }

    pub fn run(&self, program: &str, args: &[String]) -> Result<CliOutput, RunError> {
        let path = self.find(program).ok_or(RunError::NotFound)?;
        let mut command = Command::new(path);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // No pager (aws) and no prompts (gcloud): nobody is there to answer.
            .env("AWS_PAGER", "")
            .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1");
        let mut child = spawn(&mut command).map_err(RunError::Spawn)?;
        let stdout = read_in_background(child.stdout.take());
        let stderr = read_in_background(child.stderr.take());
        let exit = self.wait(&mut child)?;
        Ok(CliOutput {
            success: exit.success(),
            exit_code: exit.code(),
            stdout: stdout.recv_timeout(PIPE_GRACE).unwrap_or_default(),
            stderr: stderr.recv_timeout(PIPE_GRACE).unwrap_or_default(),
        })
    }

    fn wait(&self, child: &mut Child) -> Result<std::process::ExitStatus, RunError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(status) = child.try_wait().map_err(RunError::Spawn)? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::TimedOut(self.timeout));
            }
            thread::sleep(POLL);
        }
    }
}

#[cfg(unix)]
fn executable_names(program: &str) -> impl Iterator<Item = String> {
    std::iter::once(program.to_string())
}

#[cfg(not(unix))]
fn executable_names(program: &str) -> impl Iterator<Item = String> {
    // az and gcloud are installed as .cmd wrappers on Windows.
    [".exe", ".cmd", ".bat", ""]
        .into_iter()
        .map(move |ext| format!("{program}{ext}"))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// A freshly written executable can be briefly "busy" (ETXTBSY) while another thread's
/// fork still holds it open for writing; that passes within milliseconds.
fn spawn(command: &mut Command) -> std::io::Result<Child> {
    let mut attempt = 0;
    loop {
        match command.spawn() {
            Err(e) if e.kind() == ErrorKind::ExecutableFileBusy && attempt < 5 => {
                attempt += 1;
                thread::sleep(Duration::from_millis(10 * attempt));
            }
            result => return result,
        }
    }
}

/// Drains a pipe on its own thread so a chatty CLI cannot block on a full pipe.
fn read_in_background(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = sender.send(String::from_utf8_lossy(&bytes).into_owned());
        });
    }
    receiver
}

/// Whether a drill's audit events can be read back from the provider's log service.
pub fn log_query_available(provider: Provider) -> bool {
    matches!(provider, Provider::Eks | Provider::Gke | Provider::Aks)
}

/// Reads a drill's audit events back from the provider's log service with its CLI, for
/// `verify --e2e` on a managed cluster whose API server log file nobody can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    pub provider: Provider,
    pub hint: ClusterHint,
    /// The decoy's user name as the API server records it, e.g.
    /// system:serviceaccount:kube-system:tiller.
    pub username: String,
    /// Drill start minus a small margin: the services stamp events with their own clocks.
    pub since: jiff::Timestamp,
    /// AKS: the Log Analytics workspace id (customerId GUID); not in the kubeconfig.
    pub workspace: Option<String>,
}

/// aws auto-paginates a first call by itself, so a nextToken is rare; a few pages bound
/// one poll, and the next poll starts again from `since`.
const EKS_MAX_PAGES: usize = 5;

impl LogQuery {
    /// The command line that would be run (for messages), or why it cannot be built.
    pub fn command(&self) -> Result<(&'static str, Vec<String>), String> {
        quotable("user name", &self.username)?;
        match self.provider {
            Provider::Eks => Ok((AWS, self.eks_args()?)),
            Provider::Gke => Ok((GCLOUD, self.gke_args()?)),
            Provider::Aks => Ok((AZ, self.aks_args()?)),
            other => Err(format!(
                "{other:?} has no provider log service to read audit events from"
            )),
        }
    }

    /// The command as a user would type it, for messages.
    pub fn command_line(&self) -> Result<String, String> {
        self.command()
            .map(|(program, args)| command_line(program, &args))
    }

    /// Runs the query once and returns the audit events found, converted to
    /// [`crate::audit::Event`]. Every poll returns all events since `since` again.
    pub fn fetch(&self, runner: &CliRunner) -> Result<Vec<Event>, String> {
        let (program, args) = self.command()?;
        let parse = match self.provider {
            Provider::Eks => return fetch_eks_pages(runner, &args),
            Provider::Gke => parse_gke_log_entries,
            // command() refused every provider but these three.
            _ => parse_aks_audit_rows,
        };
        let stdout = run_query(runner, program, &args)?;
        parse(&stdout).map_err(|e| unexpected_query_output(program, &args, &e))
    }

    fn eks_args(&self) -> Result<Vec<String>, String> {
        let name = self.hint.name.as_ref().ok_or(
            "the EKS cluster name is not known (neither kubeconfig name is an EKS ARN or an \
             eksctl name), and it names the log group /aws/eks/<name>/cluster",
        )?;
        let mut args = strings(&[
            "logs",
            "filter-log-events",
            "--log-group-name",
            &format!("/aws/eks/{}/cluster", name.value),
            "--log-stream-name-prefix",
            "kube-apiserver-audit",
            "--start-time",
            &self.since.as_millisecond().to_string(),
            "--filter-pattern",
            &format!(r#"{{ $.user.username = "{}" }}"#, self.username),
        ]);
        // Without --region the CLI's configured default applies.
        if let Some(region) = &self.hint.region {
            args.extend(strings(&["--region", &region.value]));
        }
        args.extend(strings(&["--output", "json"]));
        Ok(args)
    }

    fn gke_args(&self) -> Result<Vec<String>, String> {
        let project = self.hint.account.as_ref().ok_or(
            "the Google Cloud project is not known (the kubeconfig context is not named \
             gke_<project>_<location>_<cluster>)",
        )?;
        let mut clauses = vec![r#"resource.type="k8s_cluster""#.to_string()];
        // Without the name the project's other clusters match too; the drill's user agent
        // still tells its events apart.
        if let Some(name) = &self.hint.name {
            quotable("cluster name", &name.value)?;
            clauses.push(format!(r#"resource.labels.cluster_name="{}""#, name.value));
        }
        clauses.push(format!(
            r#"protoPayload.authenticationInfo.principalEmail="{}""#,
            self.username
        ));
        clauses.push(format!(r#"timestamp>="{}""#, whole_seconds(self.since)));
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

    fn aks_args(&self) -> Result<Vec<String>, String> {
        let workspace = self
            .workspace
            .as_deref()
            .ok_or("the Log Analytics workspace id is not in the kubeconfig; pass --workspace")?;
        let query = format!(
            "AKSAudit | where TimeGenerated >= datetime({}) | where User.username == '{}' \
             | project AuditId, Stage, Verb, RequestUri, User, SourceIps, UserAgent, \
             ResponseStatus, RequestReceivedTime",
            whole_seconds(self.since),
            self.username
        );
        Ok(strings(&[
            "monitor",
            "log-analytics",
            "query",
            "--workspace",
            workspace,
            "--analytics-query",
            &query,
            "-o",
            "json",
        ]))
    }
}

/// Values are put inside quoted strings of three query languages; rather than trust three
/// escaping rules, a value that would need escaping is refused (Kubernetes user and GKE
/// cluster names never do).
fn quotable(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if value
        .chars()
        .any(|c| c == '"' || c == '\'' || c == '\\' || c.is_control())
    {
        return Err(format!(
            "the {what} {value:?} has a quote, backslash or control character, which the \
             log query cannot carry"
        ));
    }
    Ok(())
}

/// RFC 3339 without fractional seconds: KQL datetime() takes at most 7 digits, and a
/// second earlier than asked is harmless.
fn whole_seconds(at: jiff::Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_second(at.as_second()).unwrap_or(at)
}

/// Follows nextToken for up to [`EKS_MAX_PAGES`] pages.
fn fetch_eks_pages(runner: &CliRunner, first: &[String]) -> Result<Vec<Event>, String> {
    let mut events = Vec::new();
    let mut args = first.to_vec();
    for _ in 0..EKS_MAX_PAGES {
        let stdout = run_query(runner, AWS, &args)?;
        let page =
            parse_eks_log_events(&stdout).map_err(|e| unexpected_query_output(AWS, &args, &e))?;
        events.extend(page.events);
        let Some(token) = page.next_token else { break };
        // An explicit --next-token also turns the CLI's own pagination off: one page a call.
        args = first.to_vec();
        args.extend(["--next-token".to_string(), token]);
    }
    Ok(events)
}

/// Runs one query command and returns its stdout when it succeeded; errors are one line
/// that names the command.
fn run_query(runner: &CliRunner, program: &'static str, args: &[String]) -> Result<String, String> {
    match runner.run(program, args) {
        Ok(output) if output.success => Ok(output.stdout),
        Ok(output) => Err(query_failed(program, args, &failure_message(&output))),
        Err(RunError::NotFound) => Err(query_failed(
            program,
            args,
            &format!("{program} is not on the search path"),
        )),
        Err(e) => Err(query_failed(program, args, &e.to_string())),
    }
}

fn query_failed(program: &str, args: &[String], message: &str) -> String {
    format!("`{}`: {message}", command_line(program, args))
}

fn unexpected_query_output(program: &str, args: &[String], error: &str) -> String {
    query_failed(program, args, &format!("unexpected output: {error}"))
}

/// One page of `aws logs filter-log-events --output json`.
#[derive(Debug, Clone, PartialEq)]
pub struct EksLogPage {
    pub events: Vec<Event>,
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FilteredLogEvents {
    events: Vec<FilteredLogEvent>,
    #[serde(default, rename = "nextToken")]
    next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FilteredLogEvent {
    #[serde(default)]
    message: String,
}

/// Reads a page of CloudWatch Logs events whose messages are Kubernetes audit events.
/// A message that is not one is skipped; a page where none is, is an error, since the
/// log group then holds something else.
pub fn parse_eks_log_events(json: &str) -> Result<EksLogPage, String> {
    let page: FilteredLogEvents =
        serde_json::from_str(json).map_err(|e| format!("not a filter-log-events result: {e}"))?;
    let mut events = Vec::new();
    let mut first_error = None;
    for event in &page.events {
        match serde_json::from_str::<Event>(&event.message) {
            Ok(audit_event) => events.push(audit_event),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if events.is_empty()
        && let Some(e) = first_error
    {
        return Err(format!(
            "none of the {} log messages is a Kubernetes audit event: {e}",
            page.events.len()
        ));
    }
    Ok(EksLogPage {
        events,
        next_token: page.next_token.filter(|t| !t.is_empty()),
    })
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
pub fn parse_gke_log_entries(json: &str) -> Result<Vec<Event>, String> {
    let entries: Vec<LogEntry> =
        serde_json::from_str(json).map_err(|e| format!("not a list of log entries: {e}"))?;
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

/// Reads `az monitor log-analytics query -o json` on the AKSAudit table: a list of row
/// objects keyed by column name. The dynamic columns (User, SourceIps, ResponseStatus)
/// come as JSON objects or as JSON text, depending on the CLI version.
pub fn parse_aks_audit_rows(json: &str) -> Result<Vec<Event>, String> {
    let rows: Vec<serde_json::Map<String, Value>> =
        serde_json::from_str(json).map_err(|e| format!("not a list of query rows: {e}"))?;
    rows.iter()
        .enumerate()
        .map(|(n, row)| aks_event(row).map_err(|e| format!("row {}: {e}", n + 1)))
        .collect()
}

fn aks_event(row: &serde_json::Map<String, Value>) -> Result<Event, String> {
    let text = |column: &str| {
        row.get(column)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let user = match dynamic(row.get("User")) {
        Value::Null => crate::audit::User::default(),
        value => serde_json::from_value(value).map_err(|e| format!("User: {e}"))?,
    };
    let source_ips = match dynamic(row.get("SourceIps")) {
        Value::Null => Vec::new(),
        value => serde_json::from_value(value).map_err(|e| format!("SourceIps: {e}"))?,
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

    const EKS_ENABLED: &str =
        include_str!("../tests/fixtures/cloud/eks-logging-audit-enabled.json");
    const EKS_DISABLED: &str = include_str!("../tests/fixtures/cloud/eks-logging-disabled.json");
    const EKS_FULL: &str =
        include_str!("../tests/fixtures/cloud/eks-describe-cluster-audit-enabled.json");
    const GKE_ENABLED: &str =
        include_str!("../tests/fixtures/cloud/gke-iam-policy-data-access-enabled.json");
    const GKE_NONE: &str =
        include_str!("../tests/fixtures/cloud/gke-iam-policy-no-audit-configs.json");
    const GKE_ADMIN_READ: &str =
        include_str!("../tests/fixtures/cloud/gke-iam-policy-admin-read-only.json");
    const GKE_ALL_SERVICES: &str =
        include_str!("../tests/fixtures/cloud/gke-iam-policy-all-services.json");
    const AKS_AUDIT: &str =
        include_str!("../tests/fixtures/cloud/aks-diagnostic-settings-kube-audit.json");
    const AKS_ADMIN_ONLY: &str =
        include_str!("../tests/fixtures/cloud/aks-diagnostic-settings-kube-audit-admin-only.json");
    const AKS_ALL_LOGS: &str =
        include_str!("../tests/fixtures/cloud/aks-diagnostic-settings-all-logs-value-wrapped.json");
    const AKS_LIST: &str = include_str!("../tests/fixtures/cloud/aks-list.json");

    const AKS_PROD_ID: &str = "/subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590/resourcegroups/rg-prod/providers/Microsoft.ContainerService/managedClusters/aks-prod";

    fn known_part(value: &str) -> Option<HintPart> {
        Some(HintPart {
            value: value.to_string(),
            certain: true,
        })
    }

    fn guessed_part(value: &str) -> Option<HintPart> {
        Some(HintPart {
            value: value.to_string(),
            certain: false,
        })
    }

    fn eks_hint() -> ClusterHint {
        ClusterHint {
            name: known_part("prod-1"),
            region: known_part("us-west-2"),
            account: known_part("111122223333"),
            server_host: Some("abc.gr7.us-west-2.eks.amazonaws.com".into()),
        }
    }

    fn gke_hint() -> ClusterHint {
        ClusterHint {
            name: known_part("web"),
            region: known_part("europe-west1-b"),
            account: known_part("my-proj"),
            server_host: Some("34.1.2.3".into()),
        }
    }

    fn aks_hint() -> ClusterHint {
        ClusterHint {
            name: guessed_part("aks-prod"),
            region: known_part("westeurope"),
            account: None,
            server_host: Some("aks-prod-dns-1a2b3c4d.hcp.westeurope.azmk8s.io".into()),
        }
    }

    // --- parsers, on output in the shape the CLIs print ---

    #[test]
    fn eks_query_output_with_audit_enabled() {
        let finding = parse_eks_logging(EKS_ENABLED).unwrap();
        assert_eq!(
            finding,
            Finding {
                enabled: true,
                evidence: "control-plane log type audit is enabled (enabled types: api, audit)"
                    .into()
            }
        );
    }

    #[test]
    fn eks_query_output_with_everything_disabled() {
        let finding = parse_eks_logging(EKS_DISABLED).unwrap();
        assert!(!finding.enabled);
        assert_eq!(
            finding.evidence,
            "control-plane log type audit is not enabled (enabled types: none)"
        );
    }

    #[test]
    fn eks_whole_describe_cluster_document_is_read_too() {
        let finding = parse_eks_logging(EKS_FULL).unwrap();
        assert!(finding.enabled);
        assert!(
            finding.evidence.contains("enabled types: audit)"),
            "{}",
            finding.evidence
        );
    }

    #[test]
    fn eks_audit_in_a_disabled_entry_does_not_count() {
        let json = r#"{"clusterLogging":[{"types":["api"],"enabled":true},{"types":["audit"],"enabled":false}]}"#;
        assert!(!parse_eks_logging(json).unwrap().enabled);
    }

    #[test]
    fn eks_output_without_logging_is_an_error() {
        assert!(parse_eks_logging("null").is_err());
        assert!(parse_eks_logging(r#"{"cluster": {"name": "x"}}"#).is_err());
        assert!(parse_eks_logging("An error occurred").is_err());
    }

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
    fn eks_commands_with_known_names() {
        assert_eq!(
            check_command(Provider::Eks, &eks_hint()),
            "aws eks describe-cluster --name prod-1 --region us-west-2 --query cluster.logging --output json"
        );
        assert_eq!(
            fix_command(Provider::Eks, &eks_hint()),
            r#"aws eks update-cluster-config --name prod-1 --region us-west-2 --logging '{"clusterLogging":[{"types":["audit"],"enabled":true}]}'"#
        );
    }

    #[test]
    fn eks_commands_with_placeholders() {
        let hint = ClusterHint {
            region: known_part("eu-west-1"),
            ..ClusterHint::default()
        };
        assert_eq!(
            check_command(Provider::Eks, &hint),
            "aws eks describe-cluster --name <CLUSTER> --region eu-west-1 --query cluster.logging --output json"
        );
        assert!(
            fix_command(Provider::Eks, &ClusterHint::default()).starts_with(
                "aws eks update-cluster-config --name <CLUSTER> --region <REGION> --logging"
            )
        );
    }

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

    #[test]
    fn values_are_quoted_for_the_shell() {
        assert_eq!(shell_word("example.com:my-proj"), "example.com:my-proj");
        assert_eq!(shell_word("it's; rm"), r"'it'\''s; rm'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("<CLUSTER>"), "<CLUSTER>");
        assert_eq!(shell_word("<not one>"), "'<not one>'");
    }

    #[test]
    fn requirements_name_the_setting() {
        assert!(requirement(Provider::Eks).contains("`audit`"));
        assert!(requirement(Provider::Eks).contains("/aws/eks/<cluster>/cluster"));
        assert!(requirement(Provider::Gke).contains("DATA_READ"));
        assert!(requirement(Provider::Gke).contains("k8s.io"));
        assert!(
            requirement(Provider::Aks).contains("kube-audit-admin alone leaves out get and list")
        );
    }

    #[test]
    fn missing_aws_cli_is_reported() {
        let empty = tempfile::tempdir().unwrap();
        let runner = CliRunner::new(empty.path(), Duration::from_secs(10));
        assert_eq!(
            run_check(Provider::Eks, &eks_hint(), &runner),
            CheckOutcome::CliMissing { program: "aws" }
        );
    }

    #[test]
    fn unmanaged_providers_are_not_checked() {
        let empty = tempfile::tempdir().unwrap();
        let runner = CliRunner::new(empty.path(), Duration::from_secs(1));
        assert!(matches!(
            run_check(Provider::Kind, &ClusterHint::default(), &runner),
            CheckOutcome::NotEnoughToRun { .. }
        ));
    }

    // --- reading a drill's events back from the provider's log service ---

    const EKS_LOG_EVENTS: &str = include_str!("../tests/fixtures/cloud/eks-filter-log-events.json");
    const EKS_LOG_FIRST_PAGE: &str =
        include_str!("../tests/fixtures/cloud/eks-filter-log-events-first-page.json");
    const GKE_LOG_ENTRIES: &str = include_str!("../tests/fixtures/cloud/gke-logging-read.json");
    const AKS_AUDIT_ROWS: &str =
        include_str!("../tests/fixtures/cloud/aks-log-analytics-query.json");

    const TILLER: &str = "system:serviceaccount:kube-system:tiller";
    const DRILL_UA: &str = "kubectl-honeytoken-drill/0.1.0 (drill d1)";
    const KUBECTL_UA: &str = "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350";
    const WORKSPACE: &str = "5e2c8a41-7b3d-4f6e-9a0c-1d2e3f4a5b6c";
    /// The first page's nextToken in EKS_LOG_FIRST_PAGE.
    const EKS_NEXT_TOKEN: &str = "Bxkq6kVGFtq2y_MoigeqscPOdhXVbhiVtLoAmXb5jCrI7fXHTRhp5g8SJUuxMkpH9SGF1VoMpOsPE1vuo3Q5fM7VSs4gJr3zYFOTwVUh4rpfkb8lxpETX9Y3u0YcfENnrNyJqOBmUN4gvNXW6i1t2w1dKSE2Lzlwp1KT58yW8bWJyYx1Z5n";

    // Written out rather than built, so a change in what the code builds fails a test.
    // `since` is 2026-11-28T09:59:00.75Z.
    const EKS_LOG_ARGV: &[&str] = &[
        "logs",
        "filter-log-events",
        "--log-group-name",
        "/aws/eks/prod-1/cluster",
        "--log-stream-name-prefix",
        "kube-apiserver-audit",
        "--start-time",
        "1795859940750",
        "--filter-pattern",
        r#"{ $.user.username = "system:serviceaccount:kube-system:tiller" }"#,
        "--region",
        "us-west-2",
        "--output",
        "json",
    ];
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

    fn log_query(provider: Provider, hint: ClusterHint) -> LogQuery {
        LogQuery {
            provider,
            hint,
            username: TILLER.to_string(),
            since: "2026-11-28T09:59:00.75Z".parse().unwrap(),
            workspace: (provider == Provider::Aks).then(|| WORKSPACE.to_string()),
        }
    }

    fn owned(argv: &[&str]) -> Vec<String> {
        argv.iter().map(|a| a.to_string()).collect()
    }

    /// What the drill's matching reads: verb, request URI, user name, user agent, code.
    fn seen(event: &Event) -> (&str, &str, &str, &str, Option<u16>) {
        (
            event.verb.as_str(),
            event.request_uri.as_str(),
            event.user.username.as_str(),
            event.user_agent.as_str(),
            event.code(),
        )
    }

    /// Whether trigger's own matching takes the event for drill d1's request of that name.
    fn matches_drill(event: &Event, request_name: &str) -> bool {
        let request = crate::trigger::drill_requests("kube-system")
            .into_iter()
            .find(|r| r.name == request_name)
            .unwrap();
        crate::trigger::matches_request(event, &request, TILLER, "d1")
    }

    const LIST_SECRETS: &str = "list secrets in the namespace";

    fn at(text: &str) -> Option<jiff::Timestamp> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn eks_log_messages_convert_to_the_audit_events_they_hold() {
        let page = parse_eks_log_events(EKS_LOG_EVENTS).unwrap();
        assert_eq!(page.next_token, None);
        assert_eq!(
            page.events.iter().map(seen).collect::<Vec<_>>(),
            vec![
                (
                    "list",
                    "/api/v1/namespaces/kube-system/secrets",
                    TILLER,
                    DRILL_UA,
                    Some(403)
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
        let drill = &page.events[0];
        assert_eq!(drill.audit_id, "7e3f9a1c-2b4d-4c6e-8f0a-1b2c3d4e5f60");
        assert_eq!(drill.stage, "ResponseComplete");
        assert_eq!(drill.source_ips, vec!["203.0.113.24"]);
        assert_eq!(
            drill.request_received_timestamp,
            at("2026-11-28T10:00:01.512345Z")
        );
        assert!(matches_drill(drill, LIST_SECRETS));
        assert!(!matches_drill(&page.events[1], LIST_SECRETS));
    }

    #[test]
    fn eks_first_page_carries_the_next_token() {
        let page = parse_eks_log_events(EKS_LOG_FIRST_PAGE).unwrap();
        assert_eq!(page.next_token.as_deref(), Some(EKS_NEXT_TOKEN));
        assert_eq!(page.events.len(), 1);
        assert_eq!(
            seen(&page.events[0]),
            ("get", "/api", TILLER, DRILL_UA, Some(200))
        );
        assert!(matches_drill(&page.events[0], "discovery /api"));
    }

    #[test]
    fn eks_messages_that_are_not_audit_events_are_skipped_unless_none_is() {
        let mixed = r#"{"events":[{"message":"not an event"},{"message":"{\"verb\":\"get\",\"requestURI\":\"/api\"}"}],"nextToken":""}"#;
        let page = parse_eks_log_events(mixed).unwrap();
        assert_eq!(page.events.len(), 1);
        assert_eq!(page.events[0].request_uri, "/api");
        assert_eq!(page.next_token, None, "an empty token ends the pages");
        let none = r#"{"events":[{"message":"START RequestId: 1"}],"searchedLogStreams":[]}"#;
        let error = parse_eks_log_events(none).unwrap_err();
        assert!(
            error.starts_with("none of the 1 log messages is a Kubernetes audit event"),
            "{error}"
        );
        let empty = parse_eks_log_events(r#"{"events":[],"searchedLogStreams":[]}"#).unwrap();
        assert!(empty.events.is_empty());
    }

    #[test]
    fn eks_output_that_is_not_filter_log_events_is_an_error() {
        for output in ["[]", "None", r#"{"logGroups": []}"#] {
            let error = parse_eks_log_events(output).unwrap_err();
            assert!(
                error.starts_with("not a filter-log-events result"),
                "{output}: {error}"
            );
        }
    }

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
            let error = parse_gke_log_entries(output).unwrap_err();
            assert!(
                error.starts_with("not a list of log entries"),
                "{output}: {error}"
            );
        }
        assert!(parse_gke_log_entries("[]\n").unwrap().is_empty());
    }

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
        let error = parse_aks_audit_rows(r#"{"tables": []}"#).unwrap_err();
        assert!(error.starts_with("not a list of query rows"), "{error}");
        let error = parse_aks_audit_rows(r#"[{"Verb":"get"},{"User":5}]"#).unwrap_err();
        assert!(error.starts_with("row 2: User: "), "{error}");
        assert!(parse_aks_audit_rows("[]").unwrap().is_empty());
    }

    #[test]
    fn log_queries_exist_for_the_managed_providers_only() {
        assert!(log_query_available(Provider::Eks));
        assert!(log_query_available(Provider::Gke));
        assert!(log_query_available(Provider::Aks));
        assert!(!log_query_available(Provider::Kind));
        assert!(!log_query_available(Provider::Unknown));
        let error = log_query(Provider::K3s, ClusterHint::default())
            .command()
            .unwrap_err();
        assert_eq!(
            error,
            "K3s has no provider log service to read audit events from"
        );
    }

    #[test]
    fn eks_log_query_command() {
        let query = log_query(Provider::Eks, eks_hint());
        assert_eq!(query.command().unwrap(), ("aws", owned(EKS_LOG_ARGV)));
        assert_eq!(
            query.command_line().unwrap(),
            "aws logs filter-log-events --log-group-name /aws/eks/prod-1/cluster \
             --log-stream-name-prefix kube-apiserver-audit --start-time 1795859940750 \
             --filter-pattern '{ $.user.username = \"system:serviceaccount:kube-system:tiller\" }' \
             --region us-west-2 --output json"
        );
    }

    #[test]
    fn eks_log_query_without_a_region_leaves_it_to_the_cli() {
        let hint = ClusterHint {
            region: None,
            ..eks_hint()
        };
        let (_, args) = log_query(Provider::Eks, hint).command().unwrap();
        let without_region: Vec<String> = EKS_LOG_ARGV
            .iter()
            .filter(|a| **a != "--region" && **a != "us-west-2")
            .map(|a| a.to_string())
            .collect();
        assert_eq!(args, without_region);
    }

    #[test]
    fn eks_log_query_needs_the_cluster_name() {
        let hint = ClusterHint {
            name: None,
            ..eks_hint()
        };
        let error = log_query(Provider::Eks, hint).command().unwrap_err();
        assert!(
            error.starts_with("the EKS cluster name is not known"),
            "{error}"
        );
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

    #[test]
    fn aks_log_query_command_and_its_missing_workspace() {
        let query = log_query(Provider::Aks, aks_hint());
        assert_eq!(query.command().unwrap(), ("az", owned(AKS_LOG_ARGV)));
        let without = LogQuery {
            workspace: None,
            ..query
        };
        assert_eq!(
            without.command().unwrap_err(),
            "the Log Analytics workspace id is not in the kubeconfig; pass --workspace"
        );
    }

    #[test]
    fn values_a_query_cannot_carry_are_refused() {
        let query = LogQuery {
            username: r#"system:serviceaccount:x:a" OR "1"="1"#.into(),
            ..log_query(Provider::Gke, gke_hint())
        };
        let error = query.command().unwrap_err();
        assert!(error.contains("has a quote, backslash"), "{error}");
        let hint = ClusterHint {
            name: known_part("web'"),
            ..gke_hint()
        };
        let error = log_query(Provider::Gke, hint).command().unwrap_err();
        assert!(error.starts_with("the cluster name \"web'\""), "{error}");
        let empty = LogQuery {
            username: String::new(),
            ..log_query(Provider::Aks, aks_hint())
        };
        assert_eq!(empty.command().unwrap_err(), "the user name is empty");
    }

    // Running the check, with stand-in CLIs: the clouds cannot be reached from here.
    #[cfg(unix)]
    mod stand_in_clis {
        use super::*;

        enum Reply<'a> {
            Prints(&'a str),
            Fails { code: i32, stderr: &'a str },
        }

        /// A folder of shell scripts posing as aws, gcloud and az: each records its argv
        /// (one [arg] per argument) and answers only the argv it expects.
        struct StandIns {
            dir: tempfile::TempDir,
        }

        impl StandIns {
            fn new() -> StandIns {
                StandIns {
                    dir: tempfile::tempdir().unwrap(),
                }
            }

            fn file(&self, name: &str) -> PathBuf {
                self.dir.path().join(name)
            }

            fn install(&self, program: &str, replies: &[(&[&str], Reply)]) {
                let quote = |path: PathBuf| shell_word(path.to_str().unwrap());
                let mut script = format!(
                    "#!/bin/sh\nline=''\nfor arg in \"$@\"; do line=\"$line[$arg]\"; done\n\
                     printf '%s\\n' \"$line\" >> {}\ncase \"$line\" in\n",
                    quote(self.file(&format!("{program}.calls")))
                );
                for (n, (argv, reply)) in replies.iter().enumerate() {
                    let pattern = shell_word(&bracketed(argv));
                    let reply_file = self.file(&format!("{program}.{n}.reply"));
                    let (text, action) = match reply {
                        Reply::Prints(stdout) => (
                            *stdout,
                            format!("cat {}; exit 0", quote(reply_file.clone())),
                        ),
                        Reply::Fails { code, stderr } => (
                            *stderr,
                            format!("cat {} >&2; exit {code}", quote(reply_file.clone())),
                        ),
                    };
                    std::fs::write(&reply_file, text).unwrap();
                    script.push_str(&format!("  {pattern}) {action} ;;\n"));
                }
                script.push_str(&format!(
                    "esac\necho \"stand-in {program}: unexpected arguments $line\" >&2\nexit 97\n"
                ));
                self.write_executable(program, &script);
            }

            fn write_executable(&self, program: &str, script: &str) {
                use std::os::unix::fs::PermissionsExt;
                let path = self.file(program);
                std::fs::write(&path, script).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            }

            fn runner(&self) -> CliRunner {
                CliRunner::new(self.dir.path(), Duration::from_secs(10))
            }

            /// Each call's argv as "[arg][arg]...", in order; empty if never called.
            fn calls(&self, program: &str) -> Vec<String> {
                std::fs::read_to_string(self.file(&format!("{program}.calls")))
                    .map(|text| text.lines().map(str::to_string).collect())
                    .unwrap_or_default()
            }
        }

        fn bracketed(argv: &[&str]) -> String {
            argv.iter().map(|a| format!("[{a}]")).collect()
        }

        const EKS_ARGV: &[&str] = &[
            "eks",
            "describe-cluster",
            "--name",
            "prod-1",
            "--region",
            "us-west-2",
            "--query",
            "cluster.logging",
            "--output",
            "json",
        ];
        const EKS_COMMAND: &str = "aws eks describe-cluster --name prod-1 --region us-west-2 --query cluster.logging --output json";
        const GKE_ARGV: &[&str] = &["projects", "get-iam-policy", "my-proj", "--format=json"];
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
        fn stand_in_aws_reports_audit_enabled() {
            let clis = StandIns::new();
            clis.install("aws", &[(EKS_ARGV, Reply::Prints(EKS_ENABLED))]);
            let outcome = run_check(Provider::Eks, &eks_hint(), &clis.runner());
            assert_eq!(
                outcome,
                CheckOutcome::Enabled {
                    evidence: "control-plane log type audit is enabled (enabled types: api, audit)"
                        .into()
                }
            );
            assert_eq!(clis.calls("aws"), vec![bracketed(EKS_ARGV)]);
        }

        #[test]
        fn stand_in_aws_reports_audit_disabled() {
            let clis = StandIns::new();
            clis.install("aws", &[(EKS_ARGV, Reply::Prints(EKS_DISABLED))]);
            let outcome = run_check(Provider::Eks, &eks_hint(), &clis.runner());
            assert!(
                matches!(outcome, CheckOutcome::Disabled { ref evidence } if evidence.contains("not enabled")),
                "{outcome:?}"
            );
            assert_eq!(clis.calls("aws"), vec![bracketed(EKS_ARGV)]);
        }

        #[test]
        fn stand_in_aws_error_is_reported_with_its_message() {
            let clis = StandIns::new();
            let error = "\nAn error occurred (ResourceNotFoundException) when calling the DescribeCluster operation: No cluster found for name: prod-1.\n";
            clis.install(
                "aws",
                &[(
                    EKS_ARGV,
                    Reply::Fails {
                        code: 254,
                        stderr: error,
                    },
                )],
            );
            assert_eq!(
                run_check(Provider::Eks, &eks_hint(), &clis.runner()),
                CheckOutcome::CliFailed {
                    command: EKS_COMMAND.into(),
                    message: "An error occurred (ResourceNotFoundException) when calling the DescribeCluster operation: \
                              No cluster found for name: prod-1. (exit status 254)"
                        .into()
                }
            );
        }

        #[test]
        fn stand_in_aws_printing_no_json_is_not_a_result() {
            let clis = StandIns::new();
            clis.install("aws", &[(EKS_ARGV, Reply::Prints("None\n"))]);
            let outcome = run_check(Provider::Eks, &eks_hint(), &clis.runner());
            assert!(
                matches!(&outcome, CheckOutcome::CliFailed { command, message } if command == EKS_COMMAND && message.starts_with("unexpected output: not JSON")),
                "{outcome:?}"
            );
        }

        #[test]
        fn non_executable_file_is_not_a_cli() {
            let clis = StandIns::new();
            std::fs::write(clis.file("gcloud"), "#!/bin/sh\nexit 0\n").unwrap();
            assert_eq!(
                run_check(Provider::Gke, &gke_hint(), &clis.runner()),
                CheckOutcome::CliMissing { program: "gcloud" }
            );
        }

        #[test]
        fn relative_search_path_entries_are_ignored() {
            let clis = StandIns::new();
            clis.install("aws", &[(EKS_ARGV, Reply::Prints(EKS_ENABLED))]);
            // The same folder, reached relative to the working directory.
            let up: PathBuf = std::env::current_dir()
                .unwrap()
                .components()
                .skip(1)
                .map(|_| "..")
                .collect();
            let relative = up.join(clis.dir.path().strip_prefix("/").unwrap());
            assert!(relative.join("aws").is_file());
            let search_path = std::env::join_paths([PathBuf::new(), relative]).unwrap();
            assert_eq!(
                CliRunner::new(search_path, Duration::from_secs(1)).find("aws"),
                None
            );
            assert_eq!(clis.runner().find("aws"), Some(clis.file("aws")));
        }

        #[test]
        fn stand_in_aws_is_not_run_without_a_cluster_name() {
            let clis = StandIns::new();
            clis.install("aws", &[(EKS_ARGV, Reply::Prints(EKS_ENABLED))]);
            let hint = ClusterHint {
                name: None,
                ..eks_hint()
            };
            let outcome = run_check(Provider::Eks, &hint, &clis.runner());
            assert!(
                matches!(&outcome, CheckOutcome::NotEnoughToRun { missing } if missing.starts_with("the EKS cluster name")),
                "{outcome:?}"
            );
            assert!(clis.calls("aws").is_empty());
        }

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
        fn stand_in_cli_that_hangs_is_stopped_at_the_timeout() {
            let clis = StandIns::new();
            // The sleep is a child of the script and keeps the output pipes open after the kill.
            clis.write_executable("aws", "#!/bin/sh\nsleep 5\necho '{}'\n");
            let runner = CliRunner::new(clis.dir.path(), Duration::from_millis(300));
            let started = Instant::now();
            let outcome = run_check(Provider::Eks, &eks_hint(), &runner);
            assert!(
                started.elapsed() < Duration::from_secs(4),
                "took {:?}",
                started.elapsed()
            );
            assert_eq!(
                outcome,
                CheckOutcome::CliFailed {
                    command: EKS_COMMAND.into(),
                    message: "gave no answer within 300ms and was stopped".into()
                }
            );
        }

        // --- reading a drill's events back, through stand-in CLIs ---

        fn eks_next_page_argv() -> Vec<&'static str> {
            [EKS_LOG_ARGV, &["--next-token", EKS_NEXT_TOKEN]].concat()
        }

        #[test]
        fn stand_in_aws_log_query_follows_next_token_to_the_second_page() {
            let clis = StandIns::new();
            let second = eks_next_page_argv();
            clis.install(
                "aws",
                &[
                    (EKS_LOG_ARGV, Reply::Prints(EKS_LOG_FIRST_PAGE)),
                    (&second, Reply::Prints(EKS_LOG_EVENTS)),
                ],
            );
            let events = log_query(Provider::Eks, eks_hint())
                .fetch(&clis.runner())
                .unwrap();
            assert_eq!(
                clis.calls("aws"),
                vec![bracketed(EKS_LOG_ARGV), bracketed(&second)]
            );
            assert_eq!(
                events.iter().map(seen).collect::<Vec<_>>(),
                vec![
                    ("get", "/api", TILLER, DRILL_UA, Some(200)),
                    (
                        "list",
                        "/api/v1/namespaces/kube-system/secrets",
                        TILLER,
                        DRILL_UA,
                        Some(403)
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
        fn stand_in_aws_log_query_stops_after_a_few_pages() {
            let clis = StandIns::new();
            // A service that always has another page must not keep the poll going.
            clis.install(
                "aws",
                &[
                    (EKS_LOG_ARGV, Reply::Prints(EKS_LOG_FIRST_PAGE)),
                    (&eks_next_page_argv(), Reply::Prints(EKS_LOG_FIRST_PAGE)),
                ],
            );
            let events = log_query(Provider::Eks, eks_hint())
                .fetch(&clis.runner())
                .unwrap();
            assert_eq!(clis.calls("aws").len(), EKS_MAX_PAGES);
            assert_eq!(events.len(), EKS_MAX_PAGES);
        }

        #[test]
        fn stand_in_aws_log_query_error_names_the_command() {
            let clis = StandIns::new();
            clis.install(
                "aws",
                &[(
                    EKS_LOG_ARGV,
                    Reply::Fails {
                        code: 254,
                        stderr: "\nAn error occurred (ResourceNotFoundException) when calling the FilterLogEvents operation: The specified log group does not exist.\n",
                    },
                )],
            );
            let error = log_query(Provider::Eks, eks_hint())
                .fetch(&clis.runner())
                .unwrap_err();
            assert_eq!(
                error,
                "`aws logs filter-log-events --log-group-name /aws/eks/prod-1/cluster \
                 --log-stream-name-prefix kube-apiserver-audit --start-time 1795859940750 \
                 --filter-pattern '{ $.user.username = \"system:serviceaccount:kube-system:tiller\" }' \
                 --region us-west-2 --output json`: An error occurred (ResourceNotFoundException) \
                 when calling the FilterLogEvents operation: The specified log group does not exist. \
                 (exit status 254)"
            );
            assert!(!error.contains('\n'));
        }

        #[test]
        fn stand_in_less_folder_reports_the_missing_cli_with_the_command() {
            let clis = StandIns::new();
            let error = log_query(Provider::Aks, aks_hint())
                .fetch(&clis.runner())
                .unwrap_err();
            assert!(
                error.starts_with("`az monitor log-analytics query --workspace "),
                "{error}"
            );
            assert!(
                error.ends_with("-o json`: az is not on the search path"),
                "{error}"
            );
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
                .unwrap_err();
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
                .unwrap_err();
            assert!(
                error.starts_with("the Google Cloud project is not known"),
                "{error}"
            );
            assert!(clis.calls("gcloud").is_empty());
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
                query.fetch(&clis.runner()).unwrap_err(),
                "the Log Analytics workspace id is not in the kubeconfig; pass --workspace"
            );
            assert!(clis.calls("az").is_empty());
        }
    }
}
