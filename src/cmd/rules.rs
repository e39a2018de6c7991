//! `rules`: ready-to-use detection rules for the decoys, one section per platform (Falco,
//! Sigma, GKE, EKS, AKS, Elastic, Splunk), and Prometheus alerting rules on the watcher's
//! own health (`prometheus`, which depends on no decoy). The text is a pure function of
//! the platform and the decoys' user names; `run` only finds the names (when a platform
//! asked for needs them) and prints.
//!
//! Field names come from each platform's own reference: Falco's k8saudit plugin
//! (`ka.user.name`, `ka.sourceips`, ...), SigmaHQ's Kubernetes audit rules (the audit
//! event's own paths, `user.username`), GKE's Cloud Audit Logs (`protoPayload.
//! authenticationInfo.principalEmail`), the EKS audit log's JSON in CloudWatch Logs, the
//! AKSAudit table's columns, the Elastic Kubernetes integration's `kubernetes.audit.*`.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::audit::{APISERVER_USER, DecoySecret};
use crate::cli::{GlobalArgs, Platform, RulesArgs};
use crate::decoy::Decoy;
use crate::error::Error;
use crate::exit::Outcome;
use crate::home::Home;
use crate::ui::output;

/// The user-agent prefix of drills; rules match drills too, and say how to tell them apart.
const DRILL_PREFIX: &str = crate::decoy::tracking::DRILL_MARK;

/// The Falco list that the stock rule "Service Account Created in Kube Namespace" of
/// falcosecurity/plugins `plugins/k8saudit/rules/k8s_audit_rules.yaml` consults, through its
/// macro `trusted_sa: (ka.target.name in (known_sa_list, user_known_sa_list))`; the `user_`
/// one is empty upstream and meant for local additions.
pub const FALCO_KNOWN_SA_LIST: &str = "user_known_sa_list";

/// The namespaces that stock rule watches.
const FALCO_KUBE_NAMESPACES: [&str; 2] = ["kube-system", "kube-public"];

/// The decoys of these user names, each validated, sorted and without repeats, so the same
/// names in any order give the same rules.
pub fn decoys(usernames: &[String]) -> Result<Vec<Decoy>, Error> {
    let mut decoys = usernames
        .iter()
        .map(|u| Decoy::parse(u))
        .collect::<Result<Vec<_>, _>>()?;
    decoys.sort();
    decoys.dedup();
    if decoys.is_empty() {
        return Err(Error::Invalid(
            "no decoys to write rules for: none of this key in the cluster; name them with \
             --user system:serviceaccount:NS:NAME"
                .into(),
        ));
    }
    Ok(decoys)
}

/// The decoy Secrets whose stamps the rules match, sorted and without repeats.
pub fn stamped_secrets(secrets: &[DecoySecret]) -> Vec<DecoySecret> {
    let mut secrets = secrets.to_vec();
    secrets.sort();
    secrets.dedup();
    secrets
}

/// Each Secret as `one(namespace, name)`, joined: the alternatives of a stamp condition.
fn each_secret(
    secrets: &[DecoySecret],
    one: impl Fn(&str, &str) -> String,
    separator: &str,
) -> String {
    secrets
        .iter()
        .map(|s| one(&s.namespace, &s.name))
        .collect::<Vec<_>>()
        .join(separator)
}

/// What the header says of the stamp, when the rules match it.
fn stamp_lines(secrets: &[DecoySecret]) -> Vec<String> {
    if secrets.is_empty() {
        return Vec::new();
    }
    let shown: Vec<String> = secrets.iter().map(DecoySecret::shown).collect();
    vec![
        format!(
            "Also matched: {APISERVER_USER} patching Secret {}, which is",
            shown.join(", ")
        ),
        "  the API server stamping kubernetes.io/legacy-token-last-used: the token".into(),
        "  authenticated (first use since re-arm), even when the request itself is not".into(),
        "  logged. No other user's write matches.".into(),
    ]
}

pub const ALL_PLATFORMS: [Platform; 8] = [
    Platform::Falco,
    Platform::Sigma,
    Platform::Gke,
    Platform::Eks,
    Platform::Aks,
    Platform::Elastic,
    Platform::Splunk,
    Platform::Prometheus,
];

/// Whether printing these platforms (all when none is named) needs the decoys: every
/// platform but `prometheus`, whose rules are on the watcher's own metrics.
pub fn needs_decoys(platforms: &[Platform]) -> bool {
    platforms.is_empty() || platforms.iter().any(|p| p.needs_decoys())
}

impl Platform {
    pub fn name(self) -> &'static str {
        match self {
            Platform::Falco => "falco",
            Platform::Sigma => "sigma",
            Platform::Gke => "gke",
            Platform::Eks => "eks",
            Platform::Aks => "aks",
            Platform::Elastic => "elastic",
            Platform::Splunk => "splunk",
            Platform::Prometheus => "prometheus",
        }
    }

    /// Whether its rules are about the decoys (all but `prometheus`).
    pub fn needs_decoys(self) -> bool {
        self != Platform::Prometheus
    }
}

/// The section for one platform: a comment header (the platform, where the rule goes, the
/// decoys, the placeholders to fill in), then the rule. Decoys must come from [`decoys`];
/// `prometheus` uses neither them nor the Secrets.
///
/// With `secrets`, each rule also matches the API server's stamp of those Secrets (a
/// `patch` of exactly that Secret by `system:apiserver`): the decoy's token authenticated
/// (first use since re-arm), also when the request itself is not logged (`GET /version`).
/// The re-arm (the label removed by someone else) and every other Secret's stamp do not
/// match.
pub fn render(platform: Platform, decoys: &[Decoy], secrets: &[DecoySecret]) -> String {
    match platform {
        Platform::Falco => falco(decoys, secrets),
        Platform::Sigma => sigma(decoys, secrets),
        Platform::Gke => gke(decoys, secrets),
        Platform::Eks => eks(decoys, secrets),
        Platform::Aks => aks(decoys, secrets),
        Platform::Elastic => elastic(decoys, secrets),
        Platform::Splunk => splunk(decoys, secrets),
        Platform::Prometheus => prometheus(),
    }
}

/// A header in the platform's comment syntax.
fn header(
    prefix: &str,
    title: &str,
    lines: &[String],
    decoys: &[Decoy],
    secrets: &[DecoySecret],
) -> String {
    let lead = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix} ")
    };
    let mut text = format!("{lead}== {title} ==\n");
    let names: Vec<&str> = decoys.iter().map(|d| d.username.as_str()).collect();
    text.push_str(&format!("{lead}Decoys: {}\n", names.join(", ")));
    for line in lines.iter().chain(&stamp_lines(secrets)) {
        text.push_str(&format!("{lead}{line}\n"));
    }
    text
}

// Quoting. The names are validated DNS names, so none of these ever has anything to escape;
// they quote correctly all the same.

/// A YAML single-quoted scalar.
fn yaml_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A double-quoted string with backslash escapes, as Cloud Logging, CloudWatch filter
/// patterns and Logs Insights, Kusto, Kibana KQL, EQL and SPL read them.
fn double_quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A POSIX shell single-quoted word.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn quoted_list(decoys: &[Decoy], quote: fn(&str) -> String, separator: &str) -> String {
    decoys
        .iter()
        .map(|d| quote(&d.username))
        .collect::<Vec<_>>()
        .join(separator)
}

/// The Falco list of the decoys' user names. Falco's rules usually live in a ConfigMap that
/// more people can read than the decoys' Secrets, so nothing in this section says decoy or
/// names this tool: its names read like an ordinary clean-up of old tokens.
const FALCO_USERS_LIST: &str = "legacy_sa_token_users";

fn falco(decoys: &[Decoy], secrets: &[DecoySecret]) -> String {
    let mut text = String::from(
        "# == Falco (k8saudit plugin, source k8s_audit) ==\n\
         # Where: a rules file Falco loads after k8s_audit_rules.yaml (e.g.\n\
         #   /etc/falco/rules.d/legacy-tokens.yaml, or the Falco Helm chart's customRules).\n\
         # Falco's rules often end up in a ConfigMap others can read: this section names the\n\
         #   accounts only as legacy tokens.\n\
         # Placeholders: none.\n",
    );
    text.push_str(&format!(
        "- list: {FALCO_USERS_LIST}\n  items: [{}]\n\n",
        quoted_list(decoys, yaml_quote, ", ")
    ));
    // Every stage but RequestReceived: a policy that keeps that stage would otherwise
    // raise two alerts per request, and waiting for ResponseComplete alone would hold a
    // watch's alert until the watch ends.
    text.push_str(&format!(
        "- rule: Legacy Service Account Token Used\n\
         \x20 desc: >-\n\
         \x20   A request authenticated with the long-lived token of a service account that\n\
         \x20   nothing uses any more. Find out who holds the token: check the source address\n\
         \x20   and the user agent.\n\
         \x20 condition: >-\n\
         \x20   ka.user.name in ({FALCO_USERS_LIST}) and\n\
         \x20   ka.stage in (ResponseStarted, ResponseComplete, Panic)\n\
         \x20 output: >-\n\
         \x20   Legacy service-account token used (user=%ka.user.name sourceips=%ka.sourceips\n\
         \x20   useragent=%ka.useragent verb=%ka.verb uri=%ka.uri ns=%ka.target.namespace\n\
         \x20   code=%ka.response.code time=%evt.time auditid=%ka.auditid stage=%ka.stage)\n\
         \x20 priority: CRITICAL\n\
         \x20 source: k8s_audit\n\
         \x20 tags: [k8s, mitre_credential_access, T1552.007]\n"
    ));
    if !secrets.is_empty() {
        let which = each_secret(
            secrets,
            |namespace, name| {
                format!(
                    "(ka.target.namespace = {} and ka.target.name = {})",
                    double_quote(namespace),
                    double_quote(name)
                )
            },
            " or ",
        );
        text.push_str(&format!(
            "\n- rule: Legacy Service Account Token Authenticated\n\
             \x20 desc: >-\n\
             \x20   The API server marked the long-lived token Secret of a service account that\n\
             \x20   nothing uses any more as used (label kubernetes.io/legacy-token-last-used): its\n\
             \x20   token authenticated, even if the request itself is not logged. Look for the\n\
             \x20   account's requests around this time.\n\
             \x20 condition: >-\n\
             \x20   ka.user.name = {apiserver} and ka.verb = patch and\n\
             \x20   ka.target.resource = secrets and ({which}) and\n\
             \x20   ka.stage in (ResponseStarted, ResponseComplete, Panic)\n\
             \x20 output: >-\n\
             \x20   Legacy service-account token authenticated\n\
             \x20   (secret=%ka.target.namespace/%ka.target.name time=%evt.time auditid=%ka.auditid)\n\
             \x20 priority: CRITICAL\n\
             \x20 source: k8s_audit\n\
             \x20 tags: [k8s, mitre_credential_access, T1552.007]\n",
            apiserver = double_quote(APISERVER_USER),
        ));
    }
    let mut watched: Vec<&str> = decoys
        .iter()
        .filter(|d| FALCO_KUBE_NAMESPACES.contains(&d.namespace.as_str()))
        .map(|d| d.account.as_str())
        .collect();
    watched.sort();
    watched.dedup();
    if watched.is_empty() {
        return text;
    }
    text.push_str(&format!(
        "\n# The stock rule \"Service Account Created in Kube Namespace\" (k8s_audit_rules.yaml)\n\
         # reports the creation of these accounts in kube-system or kube-public. It skips the\n\
         # names its macro trusted_sa lists:\n\
         #   ka.target.name in (known_sa_list, {FALCO_KNOWN_SA_LIST})\n\
         # {FALCO_KNOWN_SA_LIST} is the list kept for local additions; this appends the account\n\
         # names with the override key of current Falco (`append: true` is deprecated). Names\n\
         # only: the stock rule stays quiet for accounts of these names there. Falco refuses an\n\
         # override of a list it has not loaded: drop this entry if k8s_audit_rules.yaml is\n\
         # not loaded before this file.\n\
         - list: {FALCO_KNOWN_SA_LIST}\n\
         \x20 items: [{}]\n\
         \x20 override:\n\
         \x20   items: append\n",
        watched
            .iter()
            .map(|a| yaml_quote(a))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    text
}

/// A UUID derived from the decoys' names (SHA-256, laid out as an RFC 9562 version 8
/// UUID), so the same decoys always give the same rule id and other decoys another.
pub fn sigma_rule_id(decoys: &[Decoy], secrets: &[DecoySecret]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"kubectl-honeytoken sigma rule\n");
    for decoy in decoys {
        hasher.update(decoy.username.as_bytes());
        hasher.update(b"\n");
    }
    // Without Secrets, the id of the rules made before stamps were matched.
    for secret in secrets {
        hasher.update(format!("stamp {}\n", secret.shown()).as_bytes());
    }
    let mut bytes: [u8; 16] = hasher.finalize()[..16].try_into().expect("16 bytes");
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn sigma(decoys: &[Decoy], secrets: &[DecoySecret]) -> String {
    let mut text = header(
        "#",
        "Sigma (logsource product: kubernetes, service: audit)",
        &[
            "Where: your Sigma rules repository, as a .yml file; convert it for your SIEM with"
                .into(),
            "  sigma-cli or pySigma. The field is the audit event's own path, user.username, as"
                .into(),
            "  in SigmaHQ's Kubernetes audit rules. The id follows from the decoys' names: when"
                .into(),
            "  they change, replace the earlier rule rather than adding this one.".into(),
            "Placeholders: none.".into(),
        ],
        decoys,
        secrets,
    );
    let values: String = decoys
        .iter()
        .map(|d| format!("            - {}\n", yaml_quote(&d.username)))
        .collect();
    let (stamp, condition) = if secrets.is_empty() {
        (String::new(), "selection")
    } else {
        let mut stamp = format!(
            "    stamp_writer:\n\
             \x20       user.username: {}\n\
             \x20       verb: 'patch'\n\
             \x20       objectRef.resource: 'secrets'\n",
            yaml_quote(APISERVER_USER)
        );
        for (i, secret) in secrets.iter().enumerate() {
            stamp.push_str(&format!(
                "    stamp_secret_{}:\n\
                 \x20       objectRef.namespace: {}\n\
                 \x20       objectRef.name: {}\n",
                i + 1,
                yaml_quote(&secret.namespace),
                yaml_quote(&secret.name)
            ));
        }
        (stamp, "selection or (stamp_writer and 1 of stamp_secret_*)")
    };
    text.push_str(&format!(
        "title: Kubernetes Decoy Service Account Token Used\n\
         id: {id}\n\
         status: experimental\n\
         description: >-\n\
         \x20   A request to the Kubernetes API authenticated as a decoy service account. Nothing\n\
         \x20   legitimate uses the decoy's token, so a request made with it means that someone\n\
         \x20   found the token (a service-account token Secret) and tried it. The stamp_\n\
         \x20   selections, when present, match the API server marking the decoy's token Secret as\n\
         \x20   used: its token authenticated, even if the request itself is not logged.\n\
         references:\n\
         \x20   - https://kubernetes.io/docs/reference/config-api/apiserver-audit.v1/\n\
         \x20   - https://attack.mitre.org/techniques/T1552/007/\n\
         author: kubectl-honeytoken\n\
         tags:\n\
         \x20   - attack.credential-access\n\
         \x20   - attack.t1552.007\n\
         \x20   - attack.t1078\n\
         logsource:\n\
         \x20   product: kubernetes\n\
         \x20   service: audit\n\
         detection:\n\
         \x20   selection:\n\
         \x20       user.username:\n\
         {values}\
         {stamp}\
         \x20   condition: {condition}\n\
         falsepositives:\n\
         \x20   - Drills of kubectl honeytoken (test-trigger, verify --e2e), which use the token on\n\
         \x20     purpose to prove that this alert fires; their user agent (userAgent) starts with\n\
         \x20     {DRILL_PREFIX}, which anyone can copy, so confirm a drill with kubectl\n\
         \x20     honeytoken scan, which checks its signature\n\
         level: critical\n",
        id = sigma_rule_id(decoys, secrets),
    ));
    text
}

/// The terms of the Cloud Logging query for the decoys' entries, all of which must hold.
/// A stamp of a decoy Secret is an Admin Activity entry (a write), logged even where Data
/// Access logs are off.
fn gke_terms(decoys: &[Decoy], secrets: &[DecoySecret]) -> Vec<String> {
    let users = format!(
        "protoPayload.authenticationInfo.principalEmail=({})",
        quoted_list(decoys, double_quote, " OR ")
    );
    let who = if secrets.is_empty() {
        users
    } else {
        let names = each_secret(
            secrets,
            |namespace, name| {
                double_quote(&format!("core/v1/namespaces/{namespace}/secrets/{name}"))
            },
            " OR ",
        );
        format!(
            "({users} OR (protoPayload.authenticationInfo.principalEmail={} AND \
             protoPayload.methodName=\"io.k8s.core.v1.secrets.patch\" AND \
             protoPayload.resourceName=({names})))",
            double_quote(APISERVER_USER),
        )
    };
    vec![
        "resource.type=\"k8s_cluster\"".into(),
        "resource.labels.cluster_name=\"<CLUSTER>\"".into(),
        who,
    ]
}

fn gke(decoys: &[Decoy], secrets: &[DecoySecret]) -> String {
    let mut text = header(
        "#",
        "GKE (Cloud Logging and Cloud Monitoring)",
        &[
            "Where: the cluster's project; the query in Logs Explorer, the commands wherever"
                .into(),
            "  gcloud works for that project. Reads of Secrets are Data Access audit logs, which"
                .into(),
            "  must be enabled for k8s.io (kubectl honeytoken verify checks it).".into(),
            "Placeholders: <PROJECT> (project id), <CLUSTER> (cluster name), <CHANNEL_ID> (an"
                .into(),
            "  existing notification channel: gcloud beta monitoring channels list --project <PROJECT>)."
                .into(),
        ],
        decoys,
        secrets,
    );
    let terms = gke_terms(decoys, secrets);
    let filter = terms.join(" AND ");
    let policy = serde_json::json!({
        "displayName": "Kubernetes decoy service-account token used (<CLUSTER>)",
        "documentation": {
            "content": format!(
                "A request authenticated as a decoy service account: someone found its token and \
                 tried it. Drills use it on purpose; their user agent starts with {DRILL_PREFIX} (anyone can copy that: kubectl honeytoken scan checks a drill's signature)."
            ),
            "mimeType": "text/markdown",
        },
        "conditions": [{
            "displayName": "Request authenticated as a decoy service account",
            "conditionMatchedLog": {
                "filter": filter,
                "labelExtractors": {
                    "principal": "EXTRACT(protoPayload.authenticationInfo.principalEmail)",
                    "method": "EXTRACT(protoPayload.methodName)",
                    "resource": "EXTRACT(protoPayload.resourceName)",
                    "callerIp": "EXTRACT(protoPayload.requestMetadata.callerIp)",
                    "userAgent": "EXTRACT(protoPayload.requestMetadata.callerSuppliedUserAgent)",
                },
            },
        }],
        "combiner": "OR",
        "alertStrategy": {
            "notificationRateLimit": {"period": "300s"},
            "autoClose": "604800s",
        },
        "severity": "CRITICAL",
        "notificationChannels": ["projects/<PROJECT>/notificationChannels/<CHANNEL_ID>"],
    });
    let policy = serde_json::to_string_pretty(&policy).expect("a JSON value renders");
    text.push_str(&format!(
        "\n# Logs Explorer query:\n\
         {query}\n\
         \n\
         # The same from the command line:\n\
         gcloud logging read {filter_word} --project <PROJECT> --freshness 1d\n\
         \n\
         # A log-based alerting policy: a notification for every matching entry (at most one\n\
         # every 5 minutes per principal, method, resource, caller IP and user agent).\n\
         cat > decoy-token-alert.json <<'EOF'\n\
         {policy}\n\
         EOF\n\
         gcloud monitoring policies create --project <PROJECT> --policy-from-file decoy-token-alert.json\n",
        query = terms.join("\n"),
        filter_word = shell_quote(&filter),
    ));
    text
}

fn eks(decoys: &[Decoy], secrets: &[DecoySecret]) -> String {
    let mut text = header(
        "#",
        "EKS (CloudWatch Logs)",
        &[
            "Where: the cluster's log group /aws/eks/<CLUSTER>/cluster, which exists once the"
                .into(),
            "  control-plane log type audit is on; the commands wherever the AWS CLI works for"
                .into(),
            "  the cluster's account.".into(),
            "Placeholders: <CLUSTER> (cluster name), <REGION> (its region), <SNS_TOPIC_ARN> (the"
                .into(),
            "  SNS topic the alarm notifies).".into(),
        ],
        decoys,
        secrets,
    );
    let mut alternatives: Vec<String> = decoys
        .iter()
        .map(|d| format!("($.user.username = {})", double_quote(&d.username)))
        .collect();
    let mut insights = format!(
        "user.username in [{}]",
        quoted_list(decoys, double_quote, ", ")
    );
    if !secrets.is_empty() {
        let filter_secrets = each_secret(
            secrets,
            |namespace, name| {
                format!(
                    "($.objectRef.namespace = {} && $.objectRef.name = {})",
                    double_quote(namespace),
                    double_quote(name)
                )
            },
            " || ",
        );
        alternatives.push(format!(
            "($.user.username = {} && $.verb = \"patch\" && $.objectRef.resource = \"secrets\" && ({filter_secrets}))",
            double_quote(APISERVER_USER),
        ));
        let insights_secrets = each_secret(
            secrets,
            |namespace, name| {
                format!(
                    "(objectRef.namespace = {} and objectRef.name = {})",
                    double_quote(namespace),
                    double_quote(name)
                )
            },
            " or ",
        );
        insights = format!(
            "{insights} or (user.username = {} and verb = \"patch\" and objectRef.resource = \"secrets\" and ({insights_secrets}))",
            double_quote(APISERVER_USER),
        );
    }
    let pattern = format!("{{ {} }}", alternatives.join(" || "));
    // PutMetricFilter takes patterns of at most 1,024 characters.
    if pattern.len() > 1024 {
        text.push_str(&format!(
            "# The pattern below is {} characters, more than the 1,024 CloudWatch takes: split\n\
             # the decoys over several metric filters.\n",
            pattern.len()
        ));
    }
    text.push_str(&format!(
        "\n# Metric filter pattern:\n\
         {pattern}\n\
         \n\
         # Count the decoys' events as a metric, and alarm on the first one:\n\
         aws logs put-metric-filter --region <REGION> \\\n\
         \x20 --log-group-name /aws/eks/<CLUSTER>/cluster \\\n\
         \x20 --filter-name kubernetes-decoy-token-use \\\n\
         \x20 --filter-pattern {pattern_word} \\\n\
         \x20 --metric-transformations metricName=DecoyTokenUse,metricNamespace=Kubernetes/<CLUSTER>,metricValue=1,defaultValue=0\n\
         aws cloudwatch put-metric-alarm --region <REGION> \\\n\
         \x20 --alarm-name '<CLUSTER>: decoy service-account token used' \\\n\
         \x20 --namespace Kubernetes/<CLUSTER> --metric-name DecoyTokenUse \\\n\
         \x20 --statistic Sum --period 60 --evaluation-periods 1 --threshold 1 \\\n\
         \x20 --comparison-operator GreaterThanOrEqualToThreshold --treat-missing-data notBreaching \\\n\
         \x20 --alarm-actions <SNS_TOPIC_ARN>\n\
         \n\
         # CloudWatch Logs Insights query, on log group /aws/eks/<CLUSTER>/cluster (sourceIPs.0 is\n\
         # the first source IP; drills have a userAgent starting with {DRILL_PREFIX},\n\
         # which anyone can copy: kubectl honeytoken scan checks a drill's signature):\n\
         fields @timestamp, user.username, verb, requestURI, sourceIPs.0, userAgent, responseStatus.code, auditID, stage\n\
         | filter @logStream like /^kube-apiserver-audit/\n\
         | filter {insights}\n\
         | sort @timestamp desc\n\
         | limit 1000\n",
        pattern_word = shell_quote(&pattern),
    ));
    text
}

fn aks(decoys: &[Decoy], secrets: &[DecoySecret]) -> String {
    let mut text = header(
        "//",
        "AKS (Azure Monitor Log Analytics, KQL)",
        &[
            "Where: the Log Analytics workspace the cluster's diagnostic setting sends category"
                .into(),
            "  kube-audit to (kube-audit-admin alone leaves out get and list). Save the query as"
                .into(),
            "  a log search alert rule: every 5 minutes, alert when it returns a row.".into(),
            "Placeholders: none.".into(),
        ],
        decoys,
        secrets,
    );
    let users = quoted_list(decoys, double_quote, ", ");
    let stamp = |user: &str, verb: &str, object: &str| {
        if secrets.is_empty() {
            return String::new();
        }
        let names = each_secret(
            secrets,
            |namespace, name| double_quote(&format!("{namespace}/{name}")),
            ", ",
        );
        format!(
            " or ({user} == {} and {verb} == \"patch\" and tostring({object}.resource) == \"secrets\" and strcat(tostring({object}.namespace), \"/\", tostring({object}.name)) in ({names}))",
            double_quote(APISERVER_USER),
        )
    };
    let table_stamp = stamp("tostring(User.username)", "Verb", "ObjectRef");
    let log_stamp = stamp(
        "tostring(event.user.username)",
        "tostring(event.verb)",
        "event.objectRef",
    );
    text.push_str(&format!(
        "\n// Resource-specific table (diagnostic setting destination \"Resource specific\"):\n\
         AKSAudit\n\
         | where tostring(User.username) in ({users}){table_stamp}\n\
         | extend ClaimsDrill = UserAgent startswith \"{DRILL_PREFIX}\"\n\
         | project TimeGenerated, Username = tostring(User.username), Verb, RequestUri, SourceIps, UserAgent, Code = toint(ResponseStatus.code), AuditId, Stage, ClaimsDrill\n\
         \n\
         // Azure diagnostics mode (destination \"Azure diagnostics\"): the event is JSON text in log_s.\n\
         AzureDiagnostics\n\
         | where Category == \"kube-audit\"\n\
         | extend event = parse_json(log_s)\n\
         | where tostring(event.user.username) in ({users}){log_stamp}\n\
         | extend UserAgent = tostring(event.userAgent)\n\
         | extend ClaimsDrill = UserAgent startswith \"{DRILL_PREFIX}\"\n\
         | project TimeGenerated, Username = tostring(event.user.username), Verb = tostring(event.verb), RequestUri = tostring(event.requestURI), SourceIps = event.sourceIPs, UserAgent, Code = toint(event.responseStatus.code), AuditId = tostring(event.auditID), Stage = tostring(event.stage), ClaimsDrill\n"
    ));
    text
}

fn elastic(decoys: &[Decoy], secrets: &[DecoySecret]) -> String {
    let mut text = header(
        "//",
        "Elastic Security (Kubernetes integration, audit logs)",
        &[
            "Where: Kibana, Security > Rules > Create new rule, on index pattern".into(),
            "  logs-kubernetes.audit_logs-* (data stream kubernetes.audit_logs of the Kubernetes"
                .into(),
            "  integration): the KQL as a custom query rule, or the EQL as an event correlation"
                .into(),
            "  rule. Drills have kubernetes.audit.userAgent starting with kubectl-honeytoken-drill/,"
                .into(),
            "  which anyone can copy: kubectl honeytoken scan checks a drill's signature."
                .into(),
            "Placeholders: none.".into(),
        ],
        decoys,
        secrets,
    );
    let kql = format!(
        "kubernetes.audit.user.username : ({})",
        quoted_list(decoys, double_quote, " or ")
    );
    let eql = format!(
        "kubernetes.audit.user.username in ({})",
        quoted_list(decoys, double_quote, ", ")
    );
    let (kql, eql) = if secrets.is_empty() {
        (kql, eql)
    } else {
        let kql_secrets = each_secret(
            secrets,
            |namespace, name| {
                format!(
                    "(kubernetes.audit.objectRef.namespace : {} and kubernetes.audit.objectRef.name : {})",
                    double_quote(namespace),
                    double_quote(name)
                )
            },
            " or ",
        );
        let eql_secrets = each_secret(
            secrets,
            |namespace, name| {
                format!(
                    "(kubernetes.audit.objectRef.namespace == {} and kubernetes.audit.objectRef.name == {})",
                    double_quote(namespace),
                    double_quote(name)
                )
            },
            " or ",
        );
        let apiserver = double_quote(APISERVER_USER);
        (
            format!(
                "({kql} or (kubernetes.audit.user.username : {apiserver} and kubernetes.audit.verb : \"patch\" and kubernetes.audit.objectRef.resource : \"secrets\" and ({kql_secrets})))"
            ),
            format!(
                "({eql} or (kubernetes.audit.user.username == {apiserver} and kubernetes.audit.verb == \"patch\" and kubernetes.audit.objectRef.resource == \"secrets\" and ({eql_secrets})))"
            ),
        )
    };
    text.push_str(&format!(
        "\n// KQL:\n\
         event.dataset : \"kubernetes.audit_logs\" and {kql}\n\
         \n\
         // EQL:\n\
         any where event.dataset == \"kubernetes.audit_logs\" and {eql}\n",
    ));
    text
}

fn splunk(decoys: &[Decoy], secrets: &[DecoySecret]) -> String {
    let mut text = String::from("```\n");
    text.push_str(&header(
        "",
        "Splunk (SPL)",
        &[
            "Where: Search & Reporting; save it as an alert (e.g. every 5 minutes, trigger when"
                .into(),
            "  results > 0). The events are the JSON audit log, with JSON fields extracted".into(),
            "  (KV_MODE = json or INDEXED_EXTRACTIONS = json).".into(),
            "Placeholders: <INDEX> (the index holding the audit log), <SOURCETYPE> (its".into(),
            "  sourcetype: kube:apiserver-audit from Splunk Connect for Kubernetes or the Splunk"
                .into(),
            "  OpenTelemetry Collector, or whatever your forwarder sets).".into(),
        ],
        decoys,
        secrets,
    ));
    text.push_str("```\n");
    let users = format!(
        "user.username IN ({})",
        quoted_list(decoys, double_quote, ", ")
    );
    let (filter, signal) = if secrets.is_empty() {
        (users, String::new())
    } else {
        let names = each_secret(
            secrets,
            |namespace, name| {
                format!(
                    "(objectRef.namespace={} objectRef.name={})",
                    double_quote(namespace),
                    double_quote(name)
                )
            },
            " OR ",
        );
        (
            format!(
                "({users} OR (user.username={} verb=\"patch\" objectRef.resource=\"secrets\" ({names})))",
                double_quote(APISERVER_USER),
            ),
            format!(
                "| eval signal=if('user.username'=={}, \"stamp\", \"request\")\n",
                double_quote(APISERVER_USER)
            ),
        )
    };
    text.push_str(&format!(
        "index=<INDEX> sourcetype=<SOURCETYPE> {filter}\n\
         {signal}\
         | eval claims_drill=if(like(userAgent, \"{DRILL_PREFIX}%\"), \"yes\", \"no\")\n\
         | table _time user.username verb requestURI \"sourceIPs{{}}\" userAgent responseStatus.code auditID stage claims_drill{columns}\n",
        columns = if secrets.is_empty() {
            ""
        } else {
            " signal objectRef.namespace objectRef.name"
        },
    ));
    text
}

/// Prometheus alerting rules on a watcher's own health (`watch --metrics-address`, see
/// `detect::metrics`): down or not scraped, a source or a fleet's context not ready, an
/// audit source silent, alerts not delivered, re-arms failing, and, as a second path, the
/// watcher's own alerts of broken tokens and of uses. Counters are summed by `job` and `instance` (and `source`
/// where it matters), so that any further labels they carry (a sink's) change nothing.
/// Like the Falco section, it names no account and never says what the tokens are, since
/// rule files are often readable by many.
fn prometheus() -> String {
    String::from(PROMETHEUS_RULES)
}

const PROMETHEUS_RULES: &str = r#"# == Prometheus (alerting rules on the token watcher's own health) ==
# What: alerts on a running `watch --metrics-address` itself: a watcher that is down or no
#   longer scraped, that went blind (a source or a fleet's context not ready, an audit
#   source silent for an hour), or that cannot deliver its alerts is noticed like any other
#   outage. The rules depend on no cluster and name no account: like the metrics, they speak
#   of a token watcher only, since rule files are often readable by many.
# Where: a rule file Prometheus loads (rule_files: in prometheus.yml; promtool check rules
#   FILE checks it), or, with the Prometheus Operator, the groups: list below as the spec
#   of a PrometheusRule that the Prometheus' ruleSelector picks.
# Placeholders: <JOB> (the job label of the watcher's scrape target: job_name in the scrape
#   configuration, or the job a ServiceMonitor or PodMonitor gives it). Where the watcher
#   shares its job with other targets, replace job="<JOB>" everywhere by matchers that
#   select the watcher alone (e.g. job="<JOB>",namespace="<NAMESPACE>").
# The descriptions' status and rbac commands are the plugin's own (`status` judges each
#   watched token's objects and its last-used stamp; `rbac` prints what the watcher needs).
groups:
  - name: token-watch-health
    rules:
      - alert: TokenWatchDown
        expr: up{job="<JOB>"} == 0
        for: 5m
        labels:
          severity: critical
        annotations:
          summary: 'Token watcher {{ $labels.instance }} is down'
          description: >-
            Prometheus has failed to scrape the token watcher at {{ $labels.instance }}
            (job {{ $labels.job }}) for 5 minutes: the watcher is not running, or its
            --metrics-address cannot be reached. Until it runs again, uses of the watched
            tokens raise no alert from it. Check the watcher's process or pod and its stderr
            (its last lines say why it stopped), start it again, then run the status command
            to see whether a watched token was used meanwhile.
      - alert: TokenWatchAbsent
        expr: absent(up{job="<JOB>"})
        for: 10m
        labels:
          severity: critical
        annotations:
          summary: 'No token watcher target in job <JOB>'
          description: >-
            Prometheus has had no scrape target in job <JOB> for 10 minutes: the watcher's
            pod or host is gone, or the scrape configuration no longer finds it (a changed
            annotation, port, ServiceMonitor or PodMonitor). Find where the watcher should
            run, start it, and check that Prometheus lists it under Status > Targets.
      - alert: TokenWatchRestarting
        expr: changes(token_watch_start_time_seconds{job="<JOB>"}[1h]) > 3
        labels:
          severity: warning
        annotations:
          summary: 'Token watcher {{ $labels.instance }} restarted {{ $value }} times in an hour'
          description: >-
            The token watcher at {{ $labels.instance }} keeps starting over; between starts
            it sees nothing. Read its stderr before each exit (kubectl logs --previous for a
            pod) for the reason: a flag refused, a source it cannot open, memory limits.
      - alert: TokenWatchSourceNotReady
        expr: token_watch_source_ready{job="<JOB>"} == 0
        for: 10m
        labels:
          severity: critical
        annotations:
          summary: 'Token watcher source {{ $labels.source }} on {{ $labels.instance }} not ready for 10 minutes'
          description: >-
            The token watcher at {{ $labels.instance }} runs, but its source
            {{ $labels.source }} has not been ready for 10 minutes, so it is blind there:
            audit-log, a followed file that does not exist or cannot be read; webhook, a
            receiver that cannot listen; tripwire, an API watch that does not list (its
            RBAC, the API server). GET /readyz on the metrics address names what is not
            ready, and the watcher's stderr says why.
      - alert: TokenWatchContextNotReady
        expr: token_watch_context_ready{job="<JOB>"} == 0
        for: 15m
        labels:
          severity: critical
        annotations:
          summary: 'Token watcher {{ $labels.instance }} is not watching context {{ $labels.context }}'
          description: >-
            The fleet watcher at {{ $labels.instance }} has not been watching kubeconfig
            context {{ $labels.context }} for 15 minutes: it cannot reach that cluster, its
            credentials or RBAC there are refused, its watched tokens were not found there,
            or its tripwire watch has not listed. It keeps trying; meanwhile uses of that
            cluster's watched tokens raise no alert from it. Its stderr lines naming context
            {{ $labels.context }} say why; GET /readyz on its metrics address lists the
            contexts not ready. Run the status command against that context.
      - alert: TokenWatchDeliveryFailing
        expr: sum by (job, instance, sink) (increase(token_watch_delivery_failures_total{job="<JOB>"}[15m])) > 0
        labels:
          severity: critical
        annotations:
          summary: 'Token watcher {{ $labels.instance }} failed to deliver alerts{{ with $labels.sink }} to {{ . }}{{ end }} in the last 15 minutes'
          description: >-
            The token watcher at {{ $labels.instance }} raised alerts that one of its sinks
            (stdout, the --exec command, a webhook, Alertmanager, Falcosidekick) did not
            take or was not given (its queue full), so they may not have reached anyone.
            Its stderr says why ("watch: could not post ..."): fix the receiver, then read
            the alerts from the sinks that did take them, or from the audit log.
            LegacyTokenUsed below fires from the same metrics whatever the sinks do.
      - alert: TokenWatchRearmFailing
        expr: sum by (job, instance) (increase(token_watch_rearm_failures_total{job="<JOB>"}[1h])) > 0
        labels:
          severity: warning
        annotations:
          summary: 'Token watcher {{ $labels.instance }} failed to re-arm a tripwire'
          description: >-
            The token watcher at {{ $labels.instance }} could not remove a token Secret's
            last-used label after a use, so a later use of that token the same day leaves no
            new stamp and the tripwire does not fire again. Its stderr says why (often its
            RBAC lacks patch on that Secret); run the status command, and grant the watcher
            what the rbac command prints.
      - alert: TokenWatchSourceErrors
        expr: sum by (job, instance, source) (increase(token_watch_source_errors_total{job="<JOB>"}[10m])) > 0
        for: 15m
        labels:
          severity: warning
        annotations:
          summary: 'Token watcher source {{ $labels.source }} on {{ $labels.instance }} keeps failing'
          description: >-
            Reads or requests of source {{ $labels.source }} of the token watcher at
            {{ $labels.instance }} have kept failing for over 15 minutes (at least one
            failure in every 10 minutes); it retries, but while they fail it may see
            nothing. Its stderr says what failed (an unreadable file, a refused or
            unreachable API server).
      - alert: TokenWatchReconnecting
        expr: sum by (job, instance, source) (increase(token_watch_source_restarts_total{job="<JOB>"}[15m])) > 10
        labels:
          severity: warning
        annotations:
          summary: 'Token watcher source {{ $labels.source }} on {{ $labels.instance }} keeps starting over'
          description: >-
            Source {{ $labels.source }} of the token watcher at {{ $labels.instance }} keeps
            starting over (more than 10 times in 15 minutes: an API watch dropped and
            re-established, a followed file reopened), and may miss events between
            restarts. Check the watcher's stderr and the path to the API server (proxies or
            load balancers that cut long requests).
      - alert: TokenWatchAuditSilent
        expr: time() - token_watch_last_event_timestamp_seconds{job="<JOB>",source=~"audit-log|webhook"} > 3600
        labels:
          severity: critical
        annotations:
          summary: 'Token watcher source {{ $labels.source }} on {{ $labels.instance }} has brought nothing for {{ $value | humanizeDuration }}'
          description: >-
            The API server writes audit events all the time, yet source
            {{ $labels.source }} of the token watcher at {{ $labels.instance }} has brought
            no audit line or webhook batch for over an hour: the audit log moved or is no
            longer written (a changed --audit-log-path, a rotation into another file, a host
            path no longer mounted), the audit policy changed, or the API server no longer
            posts to the webhook. Check the API server's audit flags and the watcher's
            stderr. The tripwire is left out: its watch may rightly stay quiet.
      - alert: TokenWatchAuditNeverHeard
        expr: token_watch_source_ready{job="<JOB>",source=~"audit-log|webhook"} == 1 unless on (job, instance, source) token_watch_last_event_timestamp_seconds{job="<JOB>"}
        for: 1h
        labels:
          severity: critical
        annotations:
          summary: 'Token watcher source {{ $labels.source }} on {{ $labels.instance }} has brought nothing since it started'
          description: >-
            Source {{ $labels.source }} of the token watcher at {{ $labels.instance }} has
            been ready for an hour (the file is open, the receiver listens) but has not
            brought a single audit line or webhook batch: it follows a file the API server
            does not write, or the API server does not post to this receiver. Check the API
            server's --audit-log-path or --audit-webhook-config-file against the watcher's
            flags.
      # A second path for the watcher's own alerts (a broken token, a use): if its sinks
      # fail, Prometheus still sees that it raised one.
      - alert: TokenWatchTokenBroken
        expr: sum by (job, instance, source) (increase(token_watch_alerts_total{job="<JOB>",signal="broken"}[15m])) > 0
        labels:
          severity: critical
        annotations:
          summary: 'Token watcher {{ $labels.instance }} found a watched token broken'
          description: >-
            The token watcher at {{ $labels.instance }} ({{ $labels.source }}) found a
            watched token's Secret or service account deleted, replaced or invalidated, or
            a RoleBinding or ClusterRoleBinding naming the account: that token may no
            longer raise alerts, or may now grant something. Its alert says which Secret
            and why; the status command says the same. Remove the binding, or remove the
            token and plant a new one.
      - alert: LegacyTokenUsed
        expr: sum by (job, instance, source, signal) (increase(token_watch_alerts_total{job="<JOB>",drill="false",signal!="broken"}[5m])) > 0
        labels:
          severity: critical
        annotations:
          summary: 'A watched legacy token was used ({{ $labels.signal }} seen by {{ $labels.source }} on {{ $labels.instance }})'
          description: >-
            The token watcher at {{ $labels.instance }} raised an alert that is not a drill:
            a watched service-account token was used. Read the alert where its sinks
            deliver it (or on its stdout) for who, from where and when, and run the status
            command.
"#;

/// The sections of these platforms (all when none is named), in the order of
/// [`ALL_PLATFORMS`], keyed by platform name.
pub fn render_all(
    platforms: &[Platform],
    decoys: &[Decoy],
    secrets: &[DecoySecret],
) -> Vec<(Platform, String)> {
    ALL_PLATFORMS
        .iter()
        .filter(|p| platforms.is_empty() || platforms.contains(p))
        .map(|&p| (p, render(p, decoys, secrets)))
        .collect()
}

pub async fn run(args: &RulesArgs, global: &GlobalArgs, home: &Home) -> Result<Outcome, Error> {
    let (decoys, secrets) = if needs_decoys(&args.platform) {
        let sought = crate::cluster::sought::decoys_to_look_for(
            &args.user,
            &args.secret,
            &global.target(),
            global.namespace.as_deref(),
            home,
        )
        .await?;
        let decoys = decoys(&sought.users)?;
        let secrets = stamped_secrets(&sought.secrets);
        if secrets.is_empty() {
            eprintln!(
                "rules: the rules do not match the API server's stamps of the decoys' Secrets (the token authenticated, also by requests the audit policy drops): name the Secrets with --secret NAMESPACE/NAME"
            );
        }
        (decoys, secrets)
    } else {
        if !args.user.is_empty() || !args.secret.is_empty() {
            eprintln!(
                "rules: --user and --secret change nothing in the prometheus section, whose rules are on the watcher's own metrics"
            );
        }
        (Vec::new(), Vec::new())
    };
    let sections = render_all(&args.platform, &decoys, &secrets);
    let map: BTreeMap<&str, &str> = sections
        .iter()
        .map(|(p, text)| (p.name(), text.as_str()))
        .collect();
    match output::structured(global.output, &map)? {
        Some(text) => print!("{text}"),
        None => {
            let texts: Vec<&str> = sections.iter().map(|(_, text)| text.as_str()).collect();
            print!("{}", texts.join("\n"));
        }
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::BTreeSet;

    /// The placeholder of the Prometheus section: the job label of the watcher's target.
    const PROMETHEUS_JOB_PLACEHOLDER: &str = "<JOB>";

    const TILLER: &str = "system:serviceaccount:kube-system:tiller";
    const APPS: &str = "system:serviceaccount:apps:helm-server";

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn yaml(text: &str) -> Value {
        serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("not YAML ({e}):\n{text}"))
    }

    fn entries_with<'a>(document: &'a Value, key: &str) -> Vec<&'a Value> {
        document
            .as_array()
            .expect("a Falco rules file is a YAML list")
            .iter()
            .filter(|entry| entry.get(key).is_some())
            .collect()
    }

    #[test]
    fn every_platform_names_every_decoy() {
        let decoys = decoys(&names(&[TILLER, APPS])).unwrap();
        for platform in ALL_PLATFORMS.into_iter().filter(|p| p.needs_decoys()) {
            let text = render(platform, &decoys, &[]);
            for user in [TILLER, APPS] {
                // Outside the header line that lists the decoys, in the rule itself.
                let body: String = text
                    .lines()
                    .filter(|l| !l.contains("Decoys:"))
                    .collect::<Vec<_>>()
                    .join("\n");
                assert!(
                    body.contains(user),
                    "{platform:?} rule lacks {user}:\n{text}"
                );
            }
            assert!(
                text.lines().take(2).any(|l| l.contains("== ")),
                "{platform:?} starts with its header:\n{text}"
            );
        }
    }

    #[test]
    fn the_falco_section_does_not_give_the_decoys_away() {
        // It usually ends up in a ConfigMap that more people can read than the decoys.
        let text = falco(&decoys(&names(&[TILLER, APPS])).unwrap(), &[]);
        let found = crate::decoy::realism::giveaways_in(&text);
        assert!(
            found.is_empty(),
            "the Falco section says {found:?}:\n{text}"
        );
    }

    #[test]
    fn falco_rule_parses_with_the_decoys_list() {
        let decoys = decoys(&names(&[TILLER, APPS])).unwrap();
        let document = yaml(&falco(&decoys, &[]));
        let rules = entries_with(&document, "rule");
        assert_eq!(rules.len(), 1, "{document:#}");
        let rule = rules[0];
        assert_eq!(rule["source"], "k8s_audit");
        assert_eq!(rule["priority"], "CRITICAL");
        let condition = rule["condition"].as_str().unwrap();
        let (users, stages) = condition
            .split_once(" and ")
            .unwrap_or_else(|| panic!("condition {condition:?}"));
        let list_name = users
            .strip_prefix("ka.user.name in (")
            .and_then(|rest| rest.strip_suffix(')'))
            .unwrap_or_else(|| panic!("condition {condition:?}"));
        // One alert per request, not one per stage: RequestReceived is left out, nothing else.
        assert_eq!(
            stages,
            "ka.stage in (ResponseStarted, ResponseComplete, Panic)"
        );
        let lists = entries_with(&document, "list");
        let decoy_list = lists
            .iter()
            .find(|l| l["list"] == list_name)
            .unwrap_or_else(|| panic!("no list {list_name}: {document:#}"));
        assert_eq!(decoy_list["items"], serde_json::json!([APPS, TILLER]));
        let output = rule["output"].as_str().unwrap();
        for field in [
            "%ka.user.name",
            "%ka.verb",
            "%ka.uri",
            "%ka.sourceips",
            "%ka.useragent",
            "%ka.response.code",
            "%ka.auditid",
            "%evt.time",
        ] {
            assert!(output.contains(field), "output lacks {field}: {output}");
        }
        for key in ["desc", "tags"] {
            assert!(rule.get(key).is_some(), "rule lacks {key}");
        }
    }

    /// From falcosecurity/plugins, plugins/k8saudit/rules/k8s_audit_rules.yaml, as published
    /// (the lists' items shortened).
    const STOCK_K8S_AUDIT_RULES: &str = r#"
- list: user_known_sa_list
  items: []

- list: known_sa_list
  items: [
    coredns,
    coredns-autoscaler,
    cronjob-controller
  ]

- macro: trusted_sa
  condition: (ka.target.name in (known_sa_list, user_known_sa_list))

# Detect creating a service account in the kube-system/kube-public namespace
- rule: Service Account Created in Kube Namespace
  desc: Detect any attempt to create a serviceaccount in the kube-system or kube-public namespaces
  condition: kevt and serviceaccount and kcreate and ka.target.namespace in (kube-system, kube-public) and response_successful and not trusted_sa
  output: Service account created in kube namespace (user=%ka.user.name serviceaccount=%ka.target.name resource=%ka.target.resource ns=%ka.target.namespace)
  priority: WARNING
  source: k8s_audit
  tags: [k8s]
"#;

    /// The lists a macro's `x in (a, b)` names.
    fn lists_in(condition: &str) -> Vec<String> {
        let inner = condition
            .split_once(" in (")
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(inner, _)| inner)
            .unwrap_or_else(|| panic!("no `in (...)` in {condition:?}"));
        inner.split(',').map(|s| s.trim().to_string()).collect()
    }

    #[test]
    fn falco_override_appends_the_account_to_the_list_the_stock_rule_consults() {
        let stock = yaml(STOCK_K8S_AUDIT_RULES);
        let rule = entries_with(&stock, "rule")[0];
        assert!(
            rule["condition"]
                .as_str()
                .unwrap()
                .contains("not trusted_sa")
        );
        let macro_condition = entries_with(&stock, "macro")[0]["condition"]
            .as_str()
            .unwrap()
            .to_string();
        let consulted = lists_in(&macro_condition);
        let stock_lists: Vec<&Value> = entries_with(&stock, "list");

        let decoys = decoys(&names(&[TILLER, APPS])).unwrap();
        let ours = yaml(&falco(&decoys, &[]));
        let overrides: Vec<&Value> = entries_with(&ours, "override");
        assert_eq!(overrides.len(), 1, "{ours:#}");
        let entry = overrides[0];
        let name = entry["list"].as_str().unwrap();
        assert!(
            consulted.iter().any(|c| c == name),
            "{name} is not among the lists trusted_sa consults: {consulted:?}"
        );
        assert!(stock_lists.iter().any(|l| l["list"] == name));
        // Only the account in kube-system: the stock rule never looks at namespace apps.
        assert_eq!(entry["items"], serde_json::json!(["tiller"]));
        assert_eq!(entry["override"]["items"], "append");
        assert!(entry.get("append").is_none(), "deprecated append key used");
    }

    #[test]
    fn falco_needs_no_override_when_no_decoy_is_in_a_kube_namespace() {
        let decoys = decoys(&names(&[APPS])).unwrap();
        let document = yaml(&falco(&decoys, &[]));
        assert!(
            entries_with(&document, "override").is_empty(),
            "{document:#}"
        );
        assert_eq!(entries_with(&document, "rule").len(), 1);
    }

    #[test]
    fn sigma_rule_is_complete_and_matches_drills_too() {
        let decoys = decoys(&names(&[TILLER, APPS])).unwrap();
        let rule = yaml(&sigma(&decoys, &[]));
        for key in [
            "title",
            "id",
            "status",
            "description",
            "references",
            "tags",
            "falsepositives",
        ] {
            assert!(rule.get(key).is_some(), "Sigma rule lacks {key}: {rule:#}");
        }
        assert_eq!(rule["logsource"]["product"], "kubernetes");
        assert_eq!(rule["logsource"]["service"], "audit");
        assert_eq!(rule["level"], "critical");
        let detection = rule["detection"].as_object().unwrap();
        assert_eq!(detection["condition"], "selection");
        // Nothing filters drills out: the only selection is the user name.
        assert_eq!(detection.len(), 2, "{detection:#?}");
        assert_eq!(
            detection["selection"],
            serde_json::json!({ "user.username": [APPS, TILLER] })
        );
        let falsepositives = rule["falsepositives"].to_string();
        assert!(
            falsepositives.contains("kubectl-honeytoken-drill/"),
            "{falsepositives}"
        );
        let id = rule["id"].as_str().unwrap();
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, vec![8, 4, 4, 4, 12], "{id}");
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        assert_eq!(&id[14..15], "8", "version 8 UUID: {id}");
        assert!("89ab".contains(&id[19..20]), "RFC 9562 variant: {id}");
    }

    fn secrets() -> Vec<DecoySecret> {
        stamped_secrets(&[
            crate::cluster::sought::parse_secret("kube-system/tiller-token-bcdfg").unwrap(),
            crate::cluster::sought::parse_secret("apps/helm-server-token-x7k2p").unwrap(),
        ])
    }

    #[test]
    fn with_secrets_every_platform_also_matches_the_api_servers_stamp_of_them() {
        let decoys = decoys(&names(&[TILLER, APPS])).unwrap();
        let secrets = secrets();
        for platform in ALL_PLATFORMS.into_iter().filter(|p| p.needs_decoys()) {
            let without = render(platform, &decoys, &[]);
            let text = render(platform, &decoys, &secrets);
            assert!(
                !without.contains("system:apiserver"),
                "{platform:?}: {without}"
            );
            let body: String = text
                .lines()
                .filter(|l| {
                    !l.trim_start_matches(['#', '/', ' '])
                        .starts_with("Also matched")
                        && !l.starts_with("# ")
                        && !l.starts_with("// ")
                })
                .collect::<Vec<_>>()
                .join("\n");
            for needle in [
                "system:apiserver",
                "patch",
                "tiller-token-bcdfg",
                "helm-server-token-x7k2p",
                "kube-system",
            ] {
                assert!(
                    body.contains(needle),
                    "{platform:?} lacks {needle}:\n{text}"
                );
            }
            // Still every decoy's requests.
            assert!(
                body.contains(TILLER) && body.contains(APPS),
                "{platform:?}:\n{text}"
            );
        }
        let falco_text = falco(&decoys, &secrets);
        let document = yaml(&falco_text);
        let rules = entries_with(&document, "rule");
        assert_eq!(rules.len(), 2, "{document:#}");
        let stamp = rules[1]["condition"].as_str().unwrap();
        assert!(stamp.starts_with("ka.user.name = \"system:apiserver\" and ka.verb = patch and ka.target.resource = secrets and ((ka.target.namespace = \"apps\" and ka.target.name = \"helm-server-token-x7k2p\") or (ka.target.namespace = \"kube-system\""), "{stamp}");
        assert!(crate::decoy::realism::giveaways_in(&falco_text).is_empty());
        let sigma_rule = yaml(&sigma(&decoys, &secrets));
        let detection = sigma_rule["detection"].as_object().unwrap();
        assert_eq!(
            detection["condition"],
            "selection or (stamp_writer and 1 of stamp_secret_*)"
        );
        assert_eq!(
            detection["stamp_writer"],
            serde_json::json!({"user.username": "system:apiserver", "verb": "patch", "objectRef.resource": "secrets"})
        );
        assert_eq!(
            detection["stamp_secret_2"],
            serde_json::json!({"objectRef.namespace": "kube-system", "objectRef.name": "tiller-token-bcdfg"})
        );
        assert_ne!(
            sigma_rule_id(&decoys, &secrets),
            sigma_rule_id(&decoys, &[])
        );
        let eks_text = eks(&decoys, &secrets);
        assert!(eks_text.contains(r#"($.user.username = "system:apiserver" && $.verb = "patch" && $.objectRef.resource = "secrets" && (($.objectRef.namespace = "apps" && $.objectRef.name = "helm-server-token-x7k2p") || ($.objectRef.namespace = "kube-system" && $.objectRef.name = "tiller-token-bcdfg")))"#), "{eks_text}");
        let gke_text = gke(&decoys, &secrets);
        assert!(gke_text.contains(r#"protoPayload.methodName="io.k8s.core.v1.secrets.patch" AND protoPayload.resourceName=("core/v1/namespaces/apps/secrets/helm-server-token-x7k2p" OR "core/v1/namespaces/kube-system/secrets/tiller-token-bcdfg")"#), "{gke_text}");
    }

    #[test]
    fn output_is_deterministic_and_independent_of_order() {
        let one = decoys(&names(&[TILLER, APPS])).unwrap();
        let other = decoys(&names(&[APPS, TILLER, APPS])).unwrap();
        for platform in ALL_PLATFORMS {
            assert_eq!(render(platform, &one, &[]), render(platform, &one, &[]));
            assert_eq!(render(platform, &one, &[]), render(platform, &other, &[]));
        }
        let alone = decoys(&names(&[TILLER])).unwrap();
        assert_ne!(sigma_rule_id(&one, &[]), sigma_rule_id(&alone, &[]));
    }

    #[test]
    fn several_decoys_are_all_alternatives() {
        let decoys = decoys(&names(&[TILLER, APPS])).unwrap();
        let (a, t) = (format!("\"{APPS}\""), format!("\"{TILLER}\""));
        let gke = render(Platform::Gke, &decoys, &[]);
        assert!(
            gke.contains(&format!(
                "protoPayload.authenticationInfo.principalEmail=({a} OR {t})"
            )),
            "{gke}"
        );
        let eks = render(Platform::Eks, &decoys, &[]);
        assert!(
            eks.contains(&format!(
                "{{ ($.user.username = {a}) || ($.user.username = {t}) }}"
            )),
            "{eks}"
        );
        assert!(
            eks.contains(&format!("filter user.username in [{a}, {t}]")),
            "{eks}"
        );
        let aks = render(Platform::Aks, &decoys, &[]);
        assert_eq!(
            aks.matches(&format!("username) in ({a}, {t})")).count(),
            2,
            "both AKS queries: {aks}"
        );
        let elastic = render(Platform::Elastic, &decoys, &[]);
        assert!(elastic.contains(&format!("kubernetes.audit.user.username : ({a} or {t})")));
        assert!(elastic.contains(&format!("kubernetes.audit.user.username in ({a}, {t})")));
        let splunk = render(Platform::Splunk, &decoys, &[]);
        assert!(
            splunk.contains(&format!("user.username IN ({a}, {t})")),
            "{splunk}"
        );
    }

    #[test]
    fn gke_alert_policy_is_json_with_the_logging_filter() {
        let decoys = decoys(&names(&[TILLER])).unwrap();
        let text = render(Platform::Gke, &decoys, &[]);
        let body = text
            .split_once("<<'EOF'\n")
            .and_then(|(_, rest)| rest.split_once("\nEOF\n"))
            .map(|(body, _)| body)
            .unwrap_or_else(|| panic!("no here-document:\n{text}"));
        let policy: Value = serde_json::from_str(body).unwrap();
        let filter = policy["conditions"][0]["conditionMatchedLog"]["filter"]
            .as_str()
            .unwrap();
        assert!(filter.contains("resource.type=\"k8s_cluster\""), "{filter}");
        assert!(
            filter.contains(&format!(
                "protoPayload.authenticationInfo.principalEmail=(\"{TILLER}\")"
            )),
            "{filter}"
        );
        assert!(policy["alertStrategy"]["notificationRateLimit"]["period"].is_string());
        assert_eq!(policy["combiner"], "OR");
        for placeholder in ["<PROJECT>", "<CLUSTER>", "<CHANNEL_ID>"] {
            let header: String = text.lines().take_while(|l| l.starts_with('#')).collect();
            assert!(header.contains(placeholder), "{placeholder} not listed");
        }
    }

    #[test]
    fn bad_user_names_are_refused() {
        for bad in [
            "tiller",
            "system:serviceaccount:kube-system",
            "system:serviceaccount::tiller",
            "system:serviceaccount:kube-system:",
            "system:serviceaccount:Kube-System:tiller",
            "system:serviceaccount:kube-system:tiller:extra",
            "system:serviceaccount:-kube:tiller",
            "system:serviceaccount:kube.system:tiller",
            "system:serviceaccount:kube-system:til\"ler",
            "system:serviceaccount:kube-system:til'ler",
            "system:serviceaccount:kube-system:a..b",
            "system:serviceaccounts:kube-system",
            "system:node:worker-1",
        ] {
            let error = decoys(&names(&[TILLER, bad])).unwrap_err().to_string();
            assert!(
                error.contains("system:serviceaccount:NAMESPACE:NAME"),
                "{bad}: {error}"
            );
        }
        let long = format!("system:serviceaccount:{}:tiller", "a".repeat(64));
        assert!(decoys(&names(&[&long])).is_err());
        assert!(decoys(&[]).is_err());
        let dotted = decoys(&names(&["system:serviceaccount:a-1:helm.v2"])).unwrap();
        assert_eq!(dotted[0].namespace, "a-1");
        assert_eq!(dotted[0].account, "helm.v2");
    }

    #[test]
    fn quoting_helpers_escape_their_quotes() {
        assert_eq!(yaml_quote("it's"), "'it''s'");
        assert_eq!(double_quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(shell_quote("it's"), r#"'it'\''s'"#);
    }

    fn prometheus_rules() -> Vec<Value> {
        let document = yaml(&render(Platform::Prometheus, &[], &[]));
        let groups = document["groups"].as_array().expect("groups");
        assert_eq!(groups.len(), 1, "{document:#}");
        assert_eq!(groups[0]["name"], "token-watch-health");
        groups[0]["rules"].as_array().expect("rules").clone()
    }

    fn alert<'a>(rules: &'a [Value], name: &str) -> &'a Value {
        rules
            .iter()
            .find(|r| r["alert"] == name)
            .unwrap_or_else(|| panic!("no alert {name}"))
    }

    #[test]
    fn prometheus_rules_are_alerting_rules_with_severity_summary_and_description() {
        let rules = prometheus_rules();
        let mut names: Vec<&str> = rules.iter().map(|r| r["alert"].as_str().unwrap()).collect();
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count, "alert names repeat: {names:?}");
        for rule in &rules {
            let name = rule["alert"].as_str().unwrap();
            let keys: Vec<&String> = rule.as_object().unwrap().keys().collect();
            for key in &keys {
                assert!(
                    ["alert", "expr", "for", "labels", "annotations"].contains(&key.as_str()),
                    "{name}: unexpected key {key}"
                );
            }
            assert!(
                ["critical", "warning"].contains(&rule["labels"]["severity"].as_str().unwrap()),
                "{name}"
            );
            let summary = rule["annotations"]["summary"].as_str().unwrap();
            let description = rule["annotations"]["description"].as_str().unwrap();
            assert!(
                !summary.contains('\n') && summary.len() < 140,
                "{name}: {summary}"
            );
            assert!(description.len() > summary.len(), "{name}: {description}");
            // Every metric is read from the watcher's own job.
            let expr = rule["expr"].as_str().unwrap();
            for (at, _) in expr
                .match_indices("token_watch_")
                .chain(expr.match_indices("up{"))
            {
                let selector = &expr[at..];
                let selector = &selector[..selector.find('}').unwrap_or(selector.len())];
                assert!(
                    selector.contains("{job=\"<JOB>\""),
                    "{name}: {selector} is not narrowed to the job"
                );
            }
        }
        // What a watcher that died, went blind or cannot deliver looks like.
        assert_eq!(
            alert(&rules, "TokenWatchDown")["expr"],
            "up{job=\"<JOB>\"} == 0"
        );
        assert_eq!(
            alert(&rules, "TokenWatchAbsent")["expr"],
            "absent(up{job=\"<JOB>\"})"
        );
        for (name, metric) in [
            ("TokenWatchSourceNotReady", "token_watch_source_ready"),
            ("TokenWatchContextNotReady", "token_watch_context_ready"),
        ] {
            let rule = alert(&rules, name);
            assert_eq!(rule["expr"], format!("{metric}{{job=\"<JOB>\"}} == 0"));
            assert!(rule["for"].is_string(), "{name} waits before firing");
        }
        let context = alert(&rules, "TokenWatchContextNotReady");
        for annotation in ["summary", "description"] {
            assert!(
                context["annotations"][annotation]
                    .as_str()
                    .unwrap()
                    .contains("{{ $labels.context }}"),
                "{annotation} names the context"
            );
        }
    }

    #[test]
    fn prometheus_counters_are_summed_so_extra_labels_change_nothing() {
        let rules = prometheus_rules();
        for rule in &rules {
            let expr = rule["expr"].as_str().unwrap();
            if expr.contains("increase(") {
                assert!(
                    expr.starts_with("sum by (job, instance"),
                    "{}: {expr}",
                    rule["alert"]
                );
            }
        }
        for (name, by, metric) in [
            (
                "TokenWatchDeliveryFailing",
                "job, instance, sink",
                "token_watch_delivery_failures_total",
            ),
            (
                "TokenWatchRearmFailing",
                "job, instance",
                "token_watch_rearm_failures_total",
            ),
        ] {
            let expr = alert(&rules, name)["expr"].as_str().unwrap().to_string();
            assert!(
                expr.starts_with(&format!(
                    "sum by ({by}) (increase({metric}{{job=\"<JOB>\"}}["
                )) && expr.ends_with(")) > 0"),
                "{name}: {expr}"
            );
        }
    }

    #[test]
    fn prometheus_silence_rules_watch_the_audit_sources_and_not_the_tripwire() {
        use crate::detect::metrics::{AUDIT_LOG, TRIPWIRE, WEBHOOK};
        let rules = prometheus_rules();
        let audit = format!("source=~\"{AUDIT_LOG}|{WEBHOOK}\"");
        let silent = alert(&rules, "TokenWatchAuditSilent")["expr"]
            .as_str()
            .unwrap();
        assert_eq!(
            silent,
            format!(
                "time() - token_watch_last_event_timestamp_seconds{{job=\"<JOB>\",{audit}}} > 3600"
            )
        );
        let never = alert(&rules, "TokenWatchAuditNeverHeard");
        assert!(never["expr"].as_str().unwrap().contains(&audit), "{never}");
        assert_eq!(never["for"], "1h");
        let text = render(Platform::Prometheus, &[], &[]);
        assert!(!text.contains(&format!("source=\"{TRIPWIRE}\"")));
    }

    #[test]
    fn the_prometheus_section_needs_no_decoys_and_names_none() {
        let decoys = decoys(&names(&[TILLER, APPS])).unwrap();
        let text = render(Platform::Prometheus, &decoys, &secrets());
        assert_eq!(text, render(Platform::Prometheus, &[], &[]));
        for name in [TILLER, APPS, "tiller", "helm-server", "kube-system"] {
            assert!(!text.contains(name), "{name} in:\n{text}");
        }
        // Only the words the metrics themselves carry: label `drill`, source `tripwire`.
        let found = crate::decoy::realism::giveaways_in(&text);
        assert!(
            found
                .iter()
                .all(|w| ["drill", crate::detect::metrics::TRIPWIRE].contains(w)),
            "the section says {found:?}"
        );
        assert!(!needs_decoys(&[Platform::Prometheus]));
        assert!(needs_decoys(&[Platform::Prometheus, Platform::Sigma]));
        assert!(needs_decoys(&[]), "all platforms, decoy ones among them");
        // The header says what to fill in, and nothing else is to be filled in.
        let header: String = text.lines().take_while(|l| l.starts_with('#')).collect();
        assert!(header.starts_with("# == Prometheus"), "{header}");
        assert!(header.contains(&format!("Placeholders: {PROMETHEUS_JOB_PLACEHOLDER}")));
        let body: String = text.lines().skip_while(|l| l.starts_with('#')).collect();
        let placeholders: BTreeSet<&str> = body
            .match_indices('<')
            .filter_map(|(at, _)| body[at..].find('>').map(|end| &body[at..=at + end]))
            .filter(|p| p[1..p.len() - 1].chars().all(|c| c.is_ascii_uppercase()))
            .collect();
        assert_eq!(placeholders, BTreeSet::from([PROMETHEUS_JOB_PLACEHOLDER]));
    }

    #[test]
    fn all_platforms_are_printed_when_none_is_named() {
        let decoys = decoys(&names(&[TILLER])).unwrap();
        let all: Vec<Platform> = render_all(&[], &decoys, &[])
            .iter()
            .map(|(p, _)| *p)
            .collect();
        assert_eq!(all, ALL_PLATFORMS.to_vec());
        let some: Vec<Platform> = render_all(&[Platform::Splunk, Platform::Falco], &decoys, &[])
            .iter()
            .map(|(p, _)| *p)
            .collect();
        assert_eq!(some, vec![Platform::Falco, Platform::Splunk]);
    }
}
