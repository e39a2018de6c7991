//! Alerts as Falco's `http_output` posts them with `json_output` on, the shape Falcosidekick
//! decodes (`types.FalcoPayload` of falcosecurity/falcosidekick) and forwards to its outputs
//! (Slack, Teams, PagerDuty, Loki, Kafka, ...). Pure: the time is passed in.
//!
//! Falcosidekick refuses a payload without a known priority, a rule, a time or output
//! fields, so every alert has all four. Rule names are those of `rules --for falco`, so one
//! Falcosidekick routes the watcher's alerts and Falco's own the same way; fields read like
//! the k8saudit plugin's (`ka.user.name`, `ka.sourceips`, ...), and what k8saudit has no
//! name for is under `honeytoken.`. The keys `k8s.ns.name` and `k8s.pod.name` are never
//! sent: Falcosidekick reads them as strings without checking.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::decoy::Decoy;
use crate::detect::alert::Alert;
use crate::detect::alertmanager::ExtraLabel;
use crate::detect::tripwatch::{BROKEN, TRIPWIRE};

/// The event source of Falco's k8saudit plugin: the alerts tell of Kubernetes API requests.
pub const SOURCE: &str = "k8s_audit";

/// The rule of a request made with a decoy token (`rules --for falco` names it so).
pub const RULE_USED: &str = "Legacy Service Account Token Used";
/// The rule of the API server's stamp of a decoy's Secret (the token authenticated).
pub const RULE_AUTHENTICATED: &str = "Legacy Service Account Token Authenticated";
/// The rule of a decoy that stopped working.
pub const RULE_BROKEN: &str = "Legacy Service Account Token Broken";

/// Tags of every alert, those of `rules --for falco`; drills add `drill`.
const TAGS: [&str; 4] = ["honeytoken", "k8s", "mitre_credential_access", "T1552.007"];

/// One Falco event as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FalcoPayload {
    pub output: String,
    pub priority: &'static str,
    pub rule: &'static str,
    pub time: jiff::Timestamp,
    pub output_fields: BTreeMap<String, Value>,
    pub source: &'static str,
    pub tags: Vec<String>,
    pub hostname: String,
}

pub fn rule(alert: &Alert) -> &'static str {
    match alert.signal {
        BROKEN => RULE_BROKEN,
        TRIPWIRE | "stamp" => RULE_AUTHENTICATED,
        _ => RULE_USED,
    }
}

/// Falco's priority names. Drills keep the priority of what they rehearse: Falcosidekick's
/// outputs drop events below their minimum priority, and a drill must go where an attack
/// goes; the `drill` tag and field tell them apart.
pub fn priority(alert: &Alert) -> &'static str {
    if alert.signal == BROKEN {
        "Error"
    } else {
        "Critical"
    }
}

/// The alert as Falco would post it from `hostname`, at `now` when the alert has no time.
pub fn payload(
    alert: &Alert,
    hostname: &str,
    extra: &[ExtraLabel],
    now: jiff::Timestamp,
) -> FalcoPayload {
    let time = alert.first_seen.unwrap_or(now);
    let mut fields: BTreeMap<String, Value> = BTreeMap::new();
    let mut field = |name: &str, value: Value| {
        fields.insert(name.to_string(), value);
    };
    // Falco adds the event's time, in nanoseconds, from its output's `%evt.time`.
    field("evt.time", json!(time.as_nanosecond() as i64));
    field("ka.user.name", json!(alert.user));
    if !alert.source_ips.is_empty() {
        // A list field of k8saudit: an array, as Falco sends it.
        field("ka.sourceips", json!(alert.source_ips));
    }
    if !alert.user_agent.is_empty() {
        field("ka.useragent", json!(alert.user_agent));
    }
    // One Falco event is one request; the alert's main request stands for the burst.
    if let Some(main) = alert.main_request() {
        field("ka.verb", json!(main.verb));
        field("ka.uri", json!(main.request_uri));
        field("ka.auditid", json!(main.audit_id));
        if let Some(code) = main.code {
            // k8saudit's fields are all strings, the response code too.
            field("ka.response.code", json!(code.to_string()));
        }
    } else if let Some(stamp) = alert.stamps.first() {
        field("ka.verb", json!("patch"));
        field("ka.uri", json!(stamp.request_uri));
        field("ka.auditid", json!(stamp.audit_id));
        if let Some(code) = stamp.code {
            field("ka.response.code", json!(code.to_string()));
        }
    }
    let secret = alert
        .secret
        .clone()
        .or_else(|| alert.stamps.first().map(|s| s.secret.clone()));
    if let Some((namespace, name)) = secret.as_deref().and_then(|s| s.split_once('/')) {
        field("ka.target.namespace", json!(namespace));
        field("ka.target.name", json!(name));
        field("ka.target.resource", json!("secrets"));
    }
    if let Some(context) = &alert.context {
        field("ka.cluster.name", json!(context));
        field("honeytoken.context", json!(context));
    }
    if let Some(server) = &alert.server {
        field("honeytoken.server", json!(server));
    }
    if let Ok(decoy) = Decoy::parse(&alert.user) {
        field("honeytoken.namespace", json!(decoy.namespace));
        field("honeytoken.serviceaccount", json!(decoy.account));
    }
    if let Some(secret) = &secret {
        field("honeytoken.secret", json!(secret));
    }
    field("honeytoken.alert_id", json!(alert.alert_id));
    field("honeytoken.update", json!(alert.update));
    field("honeytoken.drill", json!(alert.drill));
    field("honeytoken.drill_mark", json!(alert.drill_mark));
    field("honeytoken.signal", json!(alert.signal));
    field(
        "honeytoken.requests",
        json!(alert.requests.len() as u64 + alert.requests_not_listed),
    );
    if let Some(last) = alert.last_seen {
        field("honeytoken.last_seen", json!(last.to_string()));
    }
    for label in extra {
        field(&label.name, json!(label.value));
    }

    let mut tags: Vec<String> = TAGS.iter().map(|t| t.to_string()).collect();
    if alert.drill {
        tags.push("drill".into());
    }
    tags.sort();
    let priority = priority(alert);
    // Falco's own shape, "<time>: <Priority> <message>", which Falcosidekick's
    // output-field formatting recognises.
    let clock = time
        .to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%H:%M:%S.%N");
    FalcoPayload {
        output: format!("{clock}: {priority} {}", alert.chat_text()),
        priority,
        rule: rule(alert),
        time,
        output_fields: fields,
        source: SOURCE,
        tags,
        hostname: hostname.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoy::tracking::DrillClaim;
    use crate::detect::alert::Stamp;

    fn used() -> Alert {
        crate::detect::alert::used_alert()
    }

    fn now() -> jiff::Timestamp {
        "2026-12-03T10:00:05Z".parse().unwrap()
    }

    /// What Falcosidekick's `FalcoPayload.Check()` asks, and the priorities its
    /// `types/priority.go` knows (lower-cased).
    fn falcosidekick_takes(payload: &Value) -> bool {
        let known = [
            "emergency",
            "alert",
            "critical",
            "error",
            "warning",
            "notice",
            "informational",
            "info",
            "debug",
        ];
        payload["priority"]
            .as_str()
            .is_some_and(|p| known.contains(&p.to_lowercase().as_str()))
            && payload["rule"].as_str().is_some_and(|r| !r.is_empty())
            && payload["time"]
                .as_str()
                .is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok())
            && payload["output_fields"]
                .as_object()
                .is_some_and(|f| !f.is_empty())
    }

    #[test]
    fn a_use_reads_like_a_k8saudit_event_of_its_main_request() {
        let payload = serde_json::to_value(payload(&used(), "watcher-1", &[], now())).unwrap();
        assert!(falcosidekick_takes(&payload), "{payload}");
        assert_eq!(payload["rule"], RULE_USED);
        assert_eq!(payload["priority"], "Critical");
        assert_eq!(payload["source"], "k8s_audit");
        assert_eq!(payload["hostname"], "watcher-1");
        assert_eq!(payload["time"], "2026-12-03T10:00:00.104215Z");
        let fields = &payload["output_fields"];
        assert_eq!(
            fields["ka.user.name"],
            "system:serviceaccount:kube-system:tiller"
        );
        assert_eq!(fields["ka.sourceips"], json!(["10.0.3.7", "192.168.1.4"]));
        assert_eq!(fields["ka.useragent"], "kubectl/v1.36.3 (linux/amd64)");
        // The last request that is not API discovery.
        assert_eq!(fields["ka.verb"], "list");
        assert_eq!(fields["ka.uri"], "/api/v1/namespaces/kube-system/secrets");
        assert_eq!(fields["ka.response.code"], "403");
        assert_eq!(fields["ka.auditid"], "a2");
        assert_eq!(fields["evt.time"], json!(1_796_292_000_104_215_000_i64));
        assert_eq!(fields["honeytoken.requests"], 5);
        assert_eq!(fields["honeytoken.drill"], false);
        assert_eq!(fields["honeytoken.drill_mark"], "none");
        assert_eq!(fields["honeytoken.serviceaccount"], "tiller");
        assert!(fields.get("k8s.ns.name").is_none() && fields.get("k8s.pod.name").is_none());
        assert_eq!(
            payload["tags"],
            json!(["T1552.007", "honeytoken", "k8s", "mitre_credential_access"])
        );
    }

    #[test]
    fn the_output_is_falcos_shape_with_the_text_escaped_for_chat() {
        let payload = payload(&used(), "h", &[], now());
        assert_eq!(
            payload.output,
            "10:00:00.104215000: Critical DECOY TOKEN USED: from &lt;!channel&gt; &amp; more"
        );
    }

    #[test]
    fn a_drill_keeps_the_priority_and_is_tagged_and_marked() {
        let drill = Alert {
            drill: true,
            drill_mark: DrillClaim::Genuine,
            ..used()
        };
        let payload = serde_json::to_value(payload(&drill, "h", &[], now())).unwrap();
        assert_eq!(payload["priority"], "Critical");
        assert!(
            payload["tags"]
                .as_array()
                .unwrap()
                .contains(&json!("drill")),
            "{payload}"
        );
        assert_eq!(payload["output_fields"]["honeytoken.drill"], true);
        assert_eq!(payload["output_fields"]["honeytoken.drill_mark"], "genuine");
    }

    #[test]
    fn tripwire_stamp_and_broken_alerts_name_the_secret_and_have_their_rules() {
        let tripwire = Alert {
            signal: TRIPWIRE,
            source_ips: Vec::new(),
            user_agent: String::new(),
            requests: Vec::new(),
            requests_not_listed: 0,
            audit_ids: Vec::new(),
            secret: Some("kube-system/tiller-token-x7k2p".into()),
            ..used()
        };
        let payload_of =
            |alert: &Alert| serde_json::to_value(payload(alert, "h", &[], now())).unwrap();
        let told = payload_of(&tripwire);
        assert!(falcosidekick_takes(&told), "{told}");
        assert_eq!(told["rule"], RULE_AUTHENTICATED);
        let fields = &told["output_fields"];
        assert_eq!(fields["ka.target.namespace"], "kube-system");
        assert_eq!(fields["ka.target.name"], "tiller-token-x7k2p");
        assert_eq!(fields["ka.target.resource"], "secrets");
        assert!(fields.get("ka.sourceips").is_none(), "{fields}");
        assert!(fields.get("ka.verb").is_none(), "{fields}");

        let stamp = Alert {
            signal: "stamp",
            secret: None,
            stamps: vec![Stamp {
                time: None,
                secret: "kube-system/tiller-token-x7k2p".into(),
                request_uri: "/api/v1/namespaces/kube-system/secrets/tiller-token-x7k2p".into(),
                code: Some(200),
                audit_id: "s1".into(),
            }],
            ..tripwire.clone()
        };
        let stamped = payload_of(&stamp);
        assert_eq!(stamped["rule"], RULE_AUTHENTICATED);
        assert_eq!(stamped["output_fields"]["ka.verb"], "patch");
        assert_eq!(stamped["output_fields"]["ka.auditid"], "s1");
        assert_eq!(
            stamped["output_fields"]["ka.target.name"],
            "tiller-token-x7k2p"
        );

        let broken = Alert {
            signal: BROKEN,
            ..tripwire
        };
        let broken = payload_of(&broken);
        assert!(falcosidekick_takes(&broken), "{broken}");
        assert_eq!(broken["rule"], RULE_BROKEN);
        assert_eq!(broken["priority"], "Error");
    }

    #[test]
    fn a_fleet_alert_names_its_cluster_and_extra_labels_become_fields() {
        let mut alert = used();
        alert.name_context("prod-eu", "https://10.0.0.1:6443");
        let extra = vec![ExtraLabel {
            name: "team".into(),
            value: "platform".into(),
        }];
        let payload = serde_json::to_value(payload(&alert, "h", &extra, now())).unwrap();
        let fields = &payload["output_fields"];
        assert_eq!(fields["ka.cluster.name"], "prod-eu");
        assert_eq!(fields["honeytoken.server"], "https://10.0.0.1:6443");
        assert_eq!(fields["team"], "platform");
    }

    #[test]
    fn an_alert_without_a_time_is_sent_at_now() {
        let alert = Alert {
            first_seen: None,
            ..used()
        };
        let payload = payload(&alert, "h", &[], now());
        assert_eq!(payload.time, now());
        assert!(payload.output.starts_with("10:00:05.000000000: Critical"));
    }
}
