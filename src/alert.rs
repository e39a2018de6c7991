//! Alerts from decoy events: the requests one attacker action sends (a kubectl run makes
//! discovery calls, then the call itself) become one alert. Pure: time is passed in.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::audit::Event;
use crate::scan::DRILL_MARK;

/// Requests from one client: the same decoy user, user agent and source addresses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Actor {
    user: String,
    user_agent: String,
    source_ips: Vec<String>,
}

/// One request made with a decoy token, its stages merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub time: Option<jiff::Timestamp>,
    pub verb: String,
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    pub code: Option<u16>,
    #[serde(rename = "auditID")]
    pub audit_id: String,
}

/// What a watcher reports: who used a decoy, what they asked, when, and the audit IDs to
/// look the events up by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub kind: &'static str,
    pub schema_version: u32,
    /// Every request carries the drill mark of `test-trigger` or `verify --e2e`.
    pub drill: bool,
    pub user: String,
    #[serde(rename = "sourceIPs")]
    pub source_ips: Vec<String>,
    pub user_agent: String,
    pub first_seen: Option<jiff::Timestamp>,
    pub last_seen: Option<jiff::Timestamp>,
    pub requests: Vec<Request>,
    #[serde(rename = "auditIDs")]
    pub audit_ids: Vec<String>,
    /// Where the events came from: a log file's path or `webhook`.
    pub source: String,
    /// One line for people, and the field Slack-compatible webhooks show.
    pub text: String,
}

impl Alert {
    fn new(actor: Actor, group: Group) -> Alert {
        let mut requests: Vec<Request> = group.requests.into_values().collect();
        requests.sort_by(|a, b| (a.time, &a.audit_id).cmp(&(b.time, &b.audit_id)));
        let drill = actor.user_agent.contains(DRILL_MARK);
        let mut alert = Alert {
            kind: "HoneytokenAlert",
            schema_version: 1,
            drill,
            first_seen: requests.iter().filter_map(|r| r.time).min(),
            last_seen: requests.iter().filter_map(|r| r.time).max(),
            audit_ids: requests.iter().map(|r| r.audit_id.clone()).collect(),
            requests,
            user: actor.user,
            source_ips: actor.source_ips,
            user_agent: actor.user_agent,
            source: group.source,
            text: String::new(),
        };
        alert.text = summary(&alert);
        alert
    }
}

/// "DECOY TOKEN USED: system:serviceaccount:kube-system:tiller from 10.0.0.9
/// (kubectl/v1.36.3): list /api/v1/namespaces/kube-system/secrets -> 403, and 2 more
/// requests, at 2026-11-28T10:00:00Z".
fn summary(alert: &Alert) -> String {
    let headline = if alert.drill {
        "Honeytoken drill (not an attack)"
    } else {
        "DECOY TOKEN USED"
    };
    // The request that says most: the last one that is not API discovery.
    let main = alert
        .requests
        .iter()
        .rev()
        .find(|r| !is_discovery(&r.request_uri))
        .or(alert.requests.last());
    let what = main
        .map(|r| {
            let code = r.code.map(|c| c.to_string()).unwrap_or_else(|| "?".into());
            format!("{} {} -> {code}", r.verb, r.request_uri)
        })
        .unwrap_or_default();
    let more = match alert.requests.len() {
        0 | 1 => String::new(),
        n => format!(
            ", and {} more request{}",
            n - 1,
            if n == 2 { "" } else { "s" }
        ),
    };
    let when = alert
        .first_seen
        .map(|t| format!(" at {t}"))
        .unwrap_or_default();
    let from = if alert.source_ips.is_empty() {
        "an unknown address".to_string()
    } else {
        alert.source_ips.join(", ")
    };
    format!(
        "{headline}: {} from {from} ({}): {what}{more}{when}",
        alert.user, alert.user_agent
    )
}

fn is_discovery(uri: &str) -> bool {
    let path = uri.split('?').next().unwrap_or(uri);
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(
        parts.as_slice(),
        ["api"] | ["apis"] | ["api", _] | ["version"]
    ) || matches!(parts.as_slice(), ["apis", _, _])
        || matches!(parts.as_slice(), ["apis", _])
        || path.starts_with("/openapi/")
}

struct Group {
    opened: Instant,
    last_event: Instant,
    source: String,
    requests: BTreeMap<String, Request>,
}

/// How long a burst may stay quiet before it is one alert, and how long it may run at most.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub quiet: Duration,
    pub longest: Duration,
}

impl Window {
    /// A burst ends after `quiet` without a request; one that never goes quiet is still
    /// reported after ten times that.
    pub fn from_quiet(quiet: Duration) -> Window {
        Window {
            quiet,
            longest: quiet * 10,
        }
    }
}

/// Audit IDs already reported are remembered this long, so late stages of a request (a
/// watch's ResponseComplete arrives when it ends) do not raise a second alert.
const REMEMBER_REPORTED: Duration = Duration::from_secs(30 * 60);

/// Collects decoy events into bursts and hands out an alert per burst once it is over.
pub struct Grouper {
    window: Window,
    open: HashMap<Actor, Group>,
    reported: HashMap<String, Instant>,
    reported_order: VecDeque<(Instant, String)>,
}

impl Grouper {
    pub fn new(window: Window) -> Grouper {
        Grouper {
            window,
            open: HashMap::new(),
            reported: HashMap::new(),
            reported_order: VecDeque::new(),
        }
    }

    /// Adds one event of a decoy user (the caller has matched the user).
    pub fn add(&mut self, event: Event, source: &str, now: Instant) {
        if !event.audit_id.is_empty() && self.reported.contains_key(&event.audit_id) {
            return;
        }
        let actor = Actor {
            user: event.user.username.clone(),
            user_agent: event.user_agent.clone(),
            source_ips: event.source_ips.clone(),
        };
        let group = self.open.entry(actor).or_insert_with(|| Group {
            opened: now,
            last_event: now,
            source: source.to_string(),
            requests: BTreeMap::new(),
        });
        group.last_event = now;
        let key = if event.audit_id.is_empty() {
            format!("#{}", group.requests.len())
        } else {
            event.audit_id.clone()
        };
        let code = event.code();
        let request = group.requests.entry(key).or_insert_with(|| Request {
            time: event.request_received_timestamp,
            verb: event.verb,
            request_uri: event.request_uri,
            code: None,
            audit_id: event.audit_id,
        });
        if code.is_some() {
            request.code = code;
        }
    }

    /// When the next burst will be over, if any is open.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.open.values().map(|g| self.deadline(g)).min()
    }

    fn deadline(&self, group: &Group) -> Instant {
        (group.last_event + self.window.quiet).min(group.opened + self.window.longest)
    }

    /// The alerts of the bursts that are over by `now`, oldest first.
    pub fn due(&mut self, now: Instant) -> Vec<Alert> {
        let over: Vec<Actor> = self
            .open
            .iter()
            .filter(|(_, g)| self.deadline(g) <= now)
            .map(|(a, _)| a.clone())
            .collect();
        let alerts = self.close(over, now);
        self.forget_before(now);
        alerts
    }

    /// Every open burst as an alert now, as when the watcher stops.
    pub fn flush(&mut self, now: Instant) -> Vec<Alert> {
        let all: Vec<Actor> = self.open.keys().cloned().collect();
        self.close(all, now)
    }

    fn close(&mut self, actors: Vec<Actor>, now: Instant) -> Vec<Alert> {
        let mut closed: Vec<(Instant, Alert)> = actors
            .into_iter()
            .filter_map(|actor| {
                let group = self.open.remove(&actor)?;
                Some((group.opened, Alert::new(actor, group)))
            })
            .collect();
        closed.sort_by_key(|(opened, _)| *opened);
        for (_, alert) in &closed {
            for id in alert.audit_ids.iter().filter(|id| !id.is_empty()) {
                self.reported.insert(id.clone(), now);
                self.reported_order.push_back((now, id.clone()));
            }
        }
        closed.into_iter().map(|(_, alert)| alert).collect()
    }

    fn forget_before(&mut self, now: Instant) {
        while let Some((at, _)) = self.reported_order.front() {
            if now.duration_since(*at) < REMEMBER_REPORTED {
                break;
            }
            let (_, id) = self.reported_order.pop_front().expect("front exists");
            self.reported.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{ResponseStatus, User};

    const DECOY: &str = "system:serviceaccount:kube-system:tiller";

    fn event(id: &str, stage: &str, uri: &str, agent: &str, ip: &str, code: Option<u16>) -> Event {
        Event {
            audit_id: id.into(),
            stage: stage.into(),
            verb: if uri.ends_with("secrets") {
                "list".into()
            } else {
                "get".into()
            },
            request_uri: uri.into(),
            user: User {
                username: DECOY.into(),
                groups: vec![],
            },
            source_ips: vec![ip.into()],
            user_agent: agent.into(),
            response_status: code.map(|code| ResponseStatus { code }),
            request_received_timestamp: Some(
                format!("2026-11-28T10:00:0{}Z", id.len() % 10)
                    .parse()
                    .unwrap(),
            ),
            ..Event::default()
        }
    }

    /// A request of the attacker's kubectl, finished.
    fn attack(id: &str, ip: &str) -> Event {
        event(id, "ResponseComplete", SECRETS, KUBECTL, ip, Some(403))
    }

    fn window() -> Window {
        Window::from_quiet(Duration::from_secs(2))
    }

    const KUBECTL: &str = "kubectl/v1.36.3 (linux/amd64) kubernetes/abcdef";
    const SECRETS: &str = "/api/v1/namespaces/kube-system/secrets";

    #[test]
    fn a_kubectl_run_is_one_alert_once_it_goes_quiet() {
        let mut grouper = Grouper::new(window());
        let t0 = Instant::now();
        for (id, uri, code) in [
            ("a", "/api", 200),
            ("bb", "/apis", 200),
            ("ccc", SECRETS, 403),
        ] {
            grouper.add(
                event(id, "ResponseComplete", uri, KUBECTL, "10.0.0.9", Some(code)),
                "webhook",
                t0,
            );
        }
        assert!(grouper.due(t0 + Duration::from_millis(1999)).is_empty());
        assert_eq!(grouper.next_deadline(), Some(t0 + Duration::from_secs(2)));
        let alerts = grouper.due(t0 + Duration::from_secs(2));
        assert_eq!(alerts.len(), 1);
        let alert = &alerts[0];
        assert!(!alert.drill);
        assert_eq!(alert.user, DECOY);
        assert_eq!(alert.source_ips, vec!["10.0.0.9"]);
        assert_eq!(alert.user_agent, KUBECTL);
        assert_eq!(alert.audit_ids, vec!["a", "bb", "ccc"]);
        assert_eq!(alert.requests[2].code, Some(403));
        assert_eq!(alert.source, "webhook");
        assert!(
            alert.text.starts_with(
                "DECOY TOKEN USED: system:serviceaccount:kube-system:tiller from 10.0.0.9"
            ),
            "{}",
            alert.text
        );
        assert!(
            alert.text.contains(
                "list /api/v1/namespaces/kube-system/secrets -> 403, and 2 more requests"
            ),
            "the text names the request that is not discovery: {}",
            alert.text
        );
        assert!(grouper.due(t0 + Duration::from_secs(60)).is_empty());
        assert_eq!(grouper.next_deadline(), None);
    }

    #[test]
    fn stages_of_one_request_merge_and_keep_the_final_code() {
        let mut grouper = Grouper::new(window());
        let t0 = Instant::now();
        grouper.add(
            event("a", "RequestReceived", SECRETS, KUBECTL, "10.0.0.9", None),
            "f",
            t0,
        );
        grouper.add(attack("a", "10.0.0.9"), "f", t0 + Duration::from_millis(5));
        let alerts = grouper.flush(t0);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].requests.len(), 1);
        assert_eq!(alerts[0].requests[0].code, Some(403));
    }

    #[test]
    fn different_clients_are_different_alerts() {
        let mut grouper = Grouper::new(window());
        let t0 = Instant::now();
        grouper.add(attack("a", "10.0.0.9"), "f", t0);
        grouper.add(attack("b", "10.0.0.10"), "f", t0 + Duration::from_millis(1));
        grouper.add(
            event(
                "c",
                "ResponseComplete",
                SECRETS,
                "curl/8.0",
                "10.0.0.9",
                Some(403),
            ),
            "f",
            t0 + Duration::from_millis(2),
        );
        let alerts = grouper.due(t0 + Duration::from_secs(3));
        assert_eq!(alerts.len(), 3);
        // Oldest first.
        assert_eq!(alerts[0].audit_ids, vec!["a"]);
        assert_eq!(alerts[1].audit_ids, vec!["b"]);
        assert_eq!(alerts[2].audit_ids, vec!["c"]);
    }

    #[test]
    fn a_pause_longer_than_the_window_starts_a_new_alert() {
        let mut grouper = Grouper::new(window());
        let t0 = Instant::now();
        grouper.add(attack("a", "10.0.0.9"), "f", t0);
        assert_eq!(grouper.due(t0 + Duration::from_secs(3)).len(), 1);
        grouper.add(attack("b", "10.0.0.9"), "f", t0 + Duration::from_secs(4));
        let second = grouper.due(t0 + Duration::from_secs(7));
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].audit_ids, vec!["b"]);
    }

    #[test]
    fn a_burst_that_never_goes_quiet_is_still_reported() {
        let mut grouper = Grouper::new(window());
        let t0 = Instant::now();
        let mut reported = Vec::new();
        for step in 0..40u64 {
            let now = t0 + Duration::from_millis(step * 1000);
            grouper.add(
                event(
                    &format!("r{step}"),
                    "ResponseComplete",
                    SECRETS,
                    KUBECTL,
                    "10.0.0.9",
                    Some(403),
                ),
                "f",
                now,
            );
            reported.extend(grouper.due(now));
        }
        assert!(
            !reported.is_empty(),
            "a continuous attack is reported within ten windows"
        );
        assert!(
            reported[0].requests.len() <= 21,
            "{}",
            reported[0].requests.len()
        );
    }

    #[test]
    fn late_stages_of_a_reported_request_raise_nothing() {
        let mut grouper = Grouper::new(window());
        let t0 = Instant::now();
        grouper.add(
            event(
                "w",
                "ResponseStarted",
                "/api/v1/secrets?watch=true",
                KUBECTL,
                "10.0.0.9",
                Some(200),
            ),
            "f",
            t0,
        );
        assert_eq!(grouper.due(t0 + Duration::from_secs(2)).len(), 1);
        grouper.add(
            event(
                "w",
                "ResponseComplete",
                "/api/v1/secrets?watch=true",
                KUBECTL,
                "10.0.0.9",
                Some(200),
            ),
            "f",
            t0 + Duration::from_secs(300),
        );
        assert!(grouper.flush(t0 + Duration::from_secs(300)).is_empty());
        // Forgotten after a while: memory does not grow without end.
        grouper.due(t0 + REMEMBER_REPORTED + Duration::from_secs(10));
        assert!(grouper.reported.is_empty());
    }

    #[test]
    fn drills_are_marked_and_say_so() {
        let mut grouper = Grouper::new(window());
        let t0 = Instant::now();
        let agent = "kubectl-honeytoken-drill/0.1.0 (drill 3f2a)";
        grouper.add(
            event(
                "d",
                "ResponseComplete",
                SECRETS,
                agent,
                "127.0.0.1",
                Some(403),
            ),
            "f",
            t0,
        );
        let alerts = grouper.flush(t0);
        assert!(alerts[0].drill);
        assert!(
            alerts[0]
                .text
                .starts_with("Honeytoken drill (not an attack)"),
            "{}",
            alerts[0].text
        );
    }

    #[test]
    fn discovery_paths_are_told_apart_from_requests_for_objects() {
        for uri in [
            "/api",
            "/apis",
            "/api/v1",
            "/apis/apps/v1",
            "/apis/apps",
            "/version",
            "/openapi/v3?timeout=32s",
            "/apis?timeout=32s",
        ] {
            assert!(is_discovery(uri), "{uri}");
        }
        for uri in [
            SECRETS,
            "/api/v1/secrets",
            "/apis/apps/v1/deployments",
            "/api/v1/namespaces/a/pods/b/exec",
        ] {
            assert!(!is_discovery(uri), "{uri}");
        }
    }

    #[test]
    fn the_alert_serializes_with_kubernetes_style_names() {
        let mut grouper = Grouper::new(window());
        let t0 = Instant::now();
        grouper.add(attack("a", "10.0.0.9"), "f", t0);
        let json = serde_json::to_value(&grouper.flush(t0)[0]).unwrap();
        assert_eq!(json["kind"], "HoneytokenAlert");
        assert_eq!(json["sourceIPs"][0], "10.0.0.9");
        assert_eq!(json["auditIDs"][0], "a");
        assert_eq!(json["requests"][0]["requestURI"], SECRETS);
        assert_eq!(json["requests"][0]["code"], 403);
        assert_eq!(json["firstSeen"], "2026-11-28T10:00:01Z");
        assert!(json["text"].as_str().unwrap().contains("DECOY TOKEN USED"));
    }
}
