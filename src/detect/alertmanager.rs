//! Alerts as Alertmanager's v2 API takes them (`POST /api/v2/alerts`, a JSON array of
//! `postableAlert`). Pure: the time is passed in.
//!
//! Alertmanager tells alerts apart by their labels alone (the fingerprint hashes the label
//! set), so the labels hold only what stays the same for every alert about one use: a
//! tripwire alert and the audit update that follows it (same `alertID`) post the same labels
//! and Alertmanager keeps one alert, its annotations the latest. What changes between them
//! (addresses, user agent, requests, text) is in the annotations. A broken decoy is a state,
//! not a use: its labels name the decoy, not the alert, so telling it again (a restarted
//! watcher) is the same alert.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::decoy::Decoy;
use crate::detect::alert::Alert;
use crate::detect::tripwatch::{BROKEN, TRIPWIRE};

/// The path of the v2 API's alerts, under Alertmanager's base URL.
pub const ALERTS_PATH: &str = "/api/v2/alerts";

/// How long an alert stays active: Alertmanager resolves it by itself then. Long enough to
/// outlast grouping waits and to be seen in its UI; a use is an event, nothing ends it.
pub const HOLD: Duration = Duration::from_secs(3600);

/// At most this many audit IDs in the `audit_ids` annotation; the alert's JSON elsewhere has
/// them all.
const AUDIT_IDS_SHOWN: usize = 20;

/// Label names the sink sets itself, which `--alert-label` may not take.
pub const OWN_LABELS: [&str; 8] = [
    "alertname",
    "severity",
    "drill",
    "alert_id",
    "namespace",
    "serviceaccount",
    "secret",
    "context",
];

/// One `postableAlert`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: jiff::Timestamp,
    pub ends_at: jiff::Timestamp,
}

/// A label the operator adds to every alert (`--alert-label NAME=VALUE`), like Prometheus'
/// external labels: which cluster, which team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraLabel {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("--alert-label {0:?}: give NAME=VALUE")]
    NoValue(String),
    #[error(
        "--alert-label {0:?}: a label name is a letter or _, then letters, digits or _ (and does not start with __)"
    )]
    BadName(String),
    #[error("--alert-label {0:?}: the value is empty (Alertmanager drops empty labels)")]
    EmptyValue(String),
    #[error("--alert-label {0:?}: the alerts set this label themselves: {own}", own = OWN_LABELS.join(", "))]
    Taken(String),
    #[error("--alert-label {0:?}: given twice")]
    Twice(String),
}

/// Parses `--alert-label` values: classic Prometheus label names (every Alertmanager and
/// every receiver template takes them), none of the sink's own, none twice.
pub fn parse_labels(given: &[String]) -> Result<Vec<ExtraLabel>, LabelError> {
    let mut labels: Vec<ExtraLabel> = Vec::new();
    for pair in given {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| LabelError::NoValue(pair.clone()))?;
        let mut chars = name.chars();
        let classic = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with("__");
        if !classic {
            return Err(LabelError::BadName(pair.clone()));
        }
        if value.is_empty() {
            return Err(LabelError::EmptyValue(pair.clone()));
        }
        if OWN_LABELS.contains(&name) {
            return Err(LabelError::Taken(pair.clone()));
        }
        if labels.iter().any(|l| l.name == name) {
            return Err(LabelError::Twice(pair.clone()));
        }
        labels.push(ExtraLabel {
            name: name.to_string(),
            value: value.to_string(),
        });
    }
    Ok(labels)
}

/// The alerts URL of an Alertmanager given by its base URL (`http://am:9093`, or with a
/// route prefix `http://host/alertmanager`); a URL that already ends in the API's path is
/// taken as it is.
pub fn alerts_url(base: &http::Uri) -> http::Uri {
    let path = base.path().trim_end_matches('/');
    if path.ends_with(ALERTS_PATH) {
        return base.clone();
    }
    let mut parts = base.clone().into_parts();
    let joined = format!("{path}{ALERTS_PATH}");
    parts.path_and_query = Some(
        joined
            .parse()
            .expect("a path joined to a valid path is valid"),
    );
    http::Uri::from_parts(parts).expect("a valid URL with another valid path is valid")
}

/// What the alert is about, as `alertname`: a use of the token, or a broken decoy.
pub fn alert_name(alert: &Alert) -> &'static str {
    if alert.signal == BROKEN {
        "HoneytokenDecoyBroken"
    } else {
        "HoneytokenDecoyUsed"
    }
}

/// A use pages; a broken decoy asks for work, not for waking someone. Drills keep the
/// severity of what they rehearse: their `drill` label routes them.
pub fn severity(alert: &Alert) -> &'static str {
    if alert.signal == BROKEN {
        "warning"
    } else {
        "critical"
    }
}

/// The one-line summary: what happened to which decoy, drills said to be drills.
fn summary(alert: &Alert, decoy: Option<&Decoy>) -> String {
    let who = match decoy {
        Some(d) => format!("{}/{}", d.namespace, d.account),
        None => alert.user.clone(),
    };
    let what = match alert.signal {
        BROKEN => format!("Decoy {who} is broken"),
        TRIPWIRE | "stamp" => format!("Decoy token of {who} authenticated"),
        _ => format!("Decoy token of {who} used"),
    };
    let what = if alert.drill {
        format!("Drill (not an attack): {what}")
    } else {
        what
    };
    match &alert.context {
        Some(context) => format!("[{context}] {what}"),
        None => what,
    }
}

/// The alert as Alertmanager takes it, received at `now`: active from its first event
/// until `now + hold`.
pub fn postable(
    alert: &Alert,
    extra: &[ExtraLabel],
    now: jiff::Timestamp,
    hold: Duration,
) -> PostableAlert {
    let decoy = Decoy::parse(&alert.user).ok();
    let mut labels = BTreeMap::new();
    let mut label = |name: &str, value: &str| {
        // Alertmanager drops empty labels before fingerprinting; leaving them out says so.
        if !value.is_empty() {
            labels.insert(name.to_string(), value.to_string());
        }
    };
    label("alertname", alert_name(alert));
    label("severity", severity(alert));
    label("drill", if alert.drill { "true" } else { "false" });
    match &decoy {
        Some(d) => {
            label("namespace", &d.namespace);
            label("serviceaccount", &d.account);
        }
        None => label("serviceaccount", &alert.user),
    }
    if alert.signal == BROKEN {
        label("secret", alert.secret.as_deref().unwrap_or_default());
    } else {
        label("alert_id", &alert.alert_id);
    }
    label("context", alert.context.as_deref().unwrap_or_default());
    for l in extra {
        label(&l.name, &l.value);
    }

    let mut annotations = BTreeMap::new();
    let mut note = |name: &str, value: String| {
        if !value.is_empty() {
            annotations.insert(name.to_string(), value);
        }
    };
    note("summary", summary(alert, decoy.as_ref()));
    note("description", alert.chat_text());
    note("user", alert.user.clone());
    note("source_ips", alert.source_ips.join(", "));
    note("user_agent", alert.user_agent.clone());
    note("signal", alert.signal.to_string());
    note(
        "drill_mark",
        serde_json::to_value(alert.drill_mark)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
    );
    note("secret", alert.secret.clone().unwrap_or_default());
    note("server", alert.server.clone().unwrap_or_default());
    let requests = alert.requests.len() as u64 + alert.requests_not_listed;
    if requests > 0 {
        note("requests", requests.to_string());
    }
    if let Some(main) = alert.main_request() {
        let code = main
            .code
            .map(|c| format!(" answered {c}"))
            .unwrap_or_default();
        note(
            "request",
            format!("{} {}{code}", main.verb, main.request_uri),
        );
    }
    let mut ids: Vec<&str> = alert
        .audit_ids
        .iter()
        .take(AUDIT_IDS_SHOWN)
        .map(String::as_str)
        .collect();
    let more = alert.audit_ids.len().saturating_sub(AUDIT_IDS_SHOWN);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    ids.dedup();
    note(
        "audit_ids",
        format!("{}{more}", ids.join(", ")).trim().into(),
    );
    note(
        "first_seen",
        alert.first_seen.map(|t| t.to_string()).unwrap_or_default(),
    );
    note(
        "last_seen",
        alert.last_seen.map(|t| t.to_string()).unwrap_or_default(),
    );
    note("alert_id", alert.alert_id.clone());
    if alert.update {
        note("update", "true".into());
    }

    let starts_at = alert.first_seen.unwrap_or(now);
    // The API refuses an end before the start; the cluster's clock may run ahead of ours.
    let ends_at = starts_at.max(now) + jiff::SignedDuration::try_from(hold).unwrap_or_default();
    PostableAlert {
        labels,
        annotations,
        starts_at,
        ends_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoy::tracking::DrillClaim;

    fn used() -> Alert {
        crate::detect::alert::used_alert()
    }

    fn tripwire() -> Alert {
        Alert {
            signal: TRIPWIRE,
            source_ips: Vec::new(),
            user_agent: String::new(),
            requests: Vec::new(),
            audit_ids: Vec::new(),
            source: "tripwire".into(),
            secret: Some("kube-system/tiller-token-x7k2p".into()),
            text: "DECOY TOKEN USED: the token of Secret ...".into(),
            ..used()
        }
    }

    fn now() -> jiff::Timestamp {
        "2026-12-03T10:00:05Z".parse().unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_use_is_labelled_by_what_routes_it_and_by_its_alert_id() {
        let posted = postable(&used(), &[], now(), HOLD);
        assert_eq!(
            posted.labels,
            labels(&[
                ("alertname", "HoneytokenDecoyUsed"),
                ("severity", "critical"),
                ("drill", "false"),
                ("namespace", "kube-system"),
                ("serviceaccount", "tiller"),
                ("alert_id", "0123456789abcdef0123456789abcdef"),
            ])
        );
        assert_eq!(posted.annotations["source_ips"], "10.0.3.7, 192.168.1.4");
        assert_eq!(
            posted.annotations["request"],
            "list /api/v1/namespaces/kube-system/secrets answered 403"
        );
        assert_eq!(posted.annotations["requests"], "5");
        assert_eq!(posted.annotations["audit_ids"], "a1, a2");
        assert_eq!(
            posted.annotations["summary"],
            "Decoy token of kube-system/tiller used"
        );
    }

    #[test]
    fn the_tripwire_alert_and_its_audit_update_share_every_label() {
        let first = tripwire();
        let update = Alert {
            update: true,
            ..used()
        };
        let (a, b) = (
            postable(&first, &[], now(), HOLD),
            postable(&update, &[], now(), HOLD),
        );
        assert_eq!(a.labels, b.labels);
        // What the update adds is in the annotations, which Alertmanager takes from the
        // latest post.
        assert!(!a.annotations.contains_key("source_ips"));
        assert_eq!(b.annotations["source_ips"], "10.0.3.7, 192.168.1.4");
        assert_eq!(b.annotations["update"], "true");
        assert_eq!(
            a.annotations["summary"],
            "Decoy token of kube-system/tiller authenticated"
        );
    }

    #[test]
    fn two_uses_are_two_alerts() {
        let other = Alert {
            alert_id: "fedcba9876543210fedcba9876543210".into(),
            ..used()
        };
        assert_ne!(
            postable(&used(), &[], now(), HOLD).labels,
            postable(&other, &[], now(), HOLD).labels
        );
    }

    #[test]
    fn drills_keep_the_severity_and_are_labelled_drills() {
        let drill = Alert {
            drill: true,
            drill_mark: DrillClaim::Genuine,
            ..used()
        };
        let posted = postable(&drill, &[], now(), HOLD);
        assert_eq!(posted.labels["drill"], "true");
        assert_eq!(posted.labels["severity"], "critical");
        assert_eq!(posted.annotations["drill_mark"], "genuine");
        assert!(
            posted.annotations["summary"].starts_with("Drill (not an attack): "),
            "{:?}",
            posted.annotations
        );
        // A forged drill mark is an attack.
        let forged = Alert {
            drill_mark: DrillClaim::Forged,
            ..used()
        };
        assert_eq!(postable(&forged, &[], now(), HOLD).labels["drill"], "false");
    }

    #[test]
    fn a_broken_decoy_is_one_alert_however_often_it_is_told() {
        let broken = Alert {
            signal: BROKEN,
            source: "cluster".into(),
            ..tripwire()
        };
        let again = Alert {
            alert_id: "fedcba9876543210fedcba9876543210".into(),
            ..broken.clone()
        };
        let posted = postable(&broken, &[], now(), HOLD);
        assert_eq!(posted.labels, postable(&again, &[], now(), HOLD).labels);
        assert_eq!(posted.labels["alertname"], "HoneytokenDecoyBroken");
        assert_eq!(posted.labels["severity"], "warning");
        assert_eq!(posted.labels["secret"], "kube-system/tiller-token-x7k2p");
        assert!(!posted.labels.contains_key("alert_id"));
        assert_eq!(
            posted.annotations["summary"],
            "Decoy kube-system/tiller is broken"
        );
    }

    #[test]
    fn a_fleet_alert_carries_its_context_and_extra_labels_are_added() {
        let mut alert = used();
        alert.name_context("prod-eu", "https://10.0.0.1:6443");
        let extra = parse_labels(&["team=platform".into()]).unwrap();
        let posted = postable(&alert, &extra, now(), HOLD);
        assert_eq!(posted.labels["context"], "prod-eu");
        assert_eq!(posted.labels["team"], "platform");
        assert_eq!(posted.annotations["server"], "https://10.0.0.1:6443");
        assert!(posted.annotations["summary"].starts_with("[prod-eu] "));
    }

    #[test]
    fn the_alert_is_active_from_its_first_event_for_the_hold() {
        let posted = postable(&used(), &[], now(), HOLD);
        assert_eq!(posted.starts_at, used().first_seen.unwrap());
        assert_eq!(
            posted.ends_at,
            now() + jiff::SignedDuration::from_secs(3600)
        );
        // A cluster clock ahead of ours: the end is still after the start.
        let ahead: jiff::Timestamp = "2026-12-03T12:00:00Z".parse().unwrap();
        let early = Alert {
            first_seen: Some(ahead),
            ..used()
        };
        let posted = postable(&early, &[], now(), Duration::from_secs(60));
        assert!(posted.ends_at > posted.starts_at);
        // No event time (never the case for uses, but the field is optional): now.
        let timeless = Alert {
            first_seen: None,
            ..used()
        };
        assert_eq!(postable(&timeless, &[], now(), HOLD).starts_at, now());
    }

    #[test]
    fn the_description_is_escaped_for_chat_and_the_json_is_what_the_api_takes() {
        let posted = postable(&used(), &[], now(), HOLD);
        assert_eq!(
            posted.annotations["description"],
            "DECOY TOKEN USED: from &lt;!channel&gt; &amp; more"
        );
        let json = serde_json::to_value(vec![&posted]).unwrap();
        let alert = &json[0];
        assert_eq!(alert["startsAt"], "2026-12-03T10:00:00.104215Z");
        assert_eq!(alert["endsAt"], "2026-12-03T11:00:05Z");
        assert_eq!(alert["labels"]["alertname"], "HoneytokenDecoyUsed");
        assert!(alert.get("generatorURL").is_none());
    }

    #[test]
    fn a_user_that_is_not_a_service_account_is_labelled_whole() {
        let alert = Alert {
            user: "alice".into(),
            ..used()
        };
        let posted = postable(&alert, &[], now(), HOLD);
        assert_eq!(posted.labels["serviceaccount"], "alice");
        assert!(!posted.labels.contains_key("namespace"));
    }

    #[test]
    fn alert_labels_are_classic_names_not_the_sinks_own_and_not_twice() {
        assert_eq!(
            parse_labels(&["cluster=prod-eu".into(), "_team=a=b".into()]).unwrap(),
            vec![
                ExtraLabel {
                    name: "cluster".into(),
                    value: "prod-eu".into()
                },
                ExtraLabel {
                    name: "_team".into(),
                    value: "a=b".into()
                },
            ]
        );
        assert!(matches!(
            parse_labels(&["cluster".into()]),
            Err(LabelError::NoValue(_))
        ));
        for bad in [
            "1cluster=x",
            "clu-ster=x",
            "=x",
            "__name__=x",
            "kluster.name=x",
        ] {
            assert!(
                matches!(parse_labels(&[bad.into()]), Err(LabelError::BadName(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_labels(&["cluster=".into()]),
            Err(LabelError::EmptyValue(_))
        ));
        for own in OWN_LABELS {
            assert!(
                matches!(
                    parse_labels(&[format!("{own}=x")]),
                    Err(LabelError::Taken(_))
                ),
                "{own}"
            );
        }
        assert!(matches!(
            parse_labels(&["a=1".into(), "a=2".into()]),
            Err(LabelError::Twice(_))
        ));
    }

    #[test]
    fn the_alerts_url_is_under_the_base_url_and_kept_when_given() {
        let url = |s: &str| alerts_url(&s.parse().unwrap()).to_string();
        assert_eq!(url("http://am:9093"), "http://am:9093/api/v2/alerts");
        assert_eq!(
            url("https://host/alertmanager/"),
            "https://host/alertmanager/api/v2/alerts"
        );
        assert_eq!(
            url("http://am:9093/api/v2/alerts"),
            "http://am:9093/api/v2/alerts"
        );
    }
}
