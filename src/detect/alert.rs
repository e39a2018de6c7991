//! Alerts from decoy events: the requests one attacker action sends (a kubectl run makes
//! discovery calls, then the call itself) become one alert. Pure: time is passed in.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::audit::{DecoySecret, Event};
use crate::decoy::tracking::{DrillClaim, drill_claim};
use crate::home::Key;
use crate::ui::terminal::printable;

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

/// The API server's stamp of a decoy's Secret (`kubernetes.io/legacy-token-last-used`), as
/// its audit event shows it: the decoy's token authenticated (first use since re-arm).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stamp {
    pub time: Option<jiff::Timestamp>,
    /// The Secret stamped, `namespace/name`.
    pub secret: String,
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
    /// A drill of this key (`test-trigger`, `verify --e2e`): its user agent carries a drill
    /// ID signed with the key.
    pub drill: bool,
    /// What the user agent claims: `none`, `genuine`, `forged` (a drill mark this key did
    /// not sign: treat as an attack) or `unverified` (no key to check it with).
    pub drill_mark: DrillClaim,
    pub user: String,
    #[serde(rename = "sourceIPs")]
    pub source_ips: Vec<String>,
    pub user_agent: String,
    pub first_seen: Option<jiff::Timestamp>,
    pub last_seen: Option<jiff::Timestamp>,
    /// `request` when the use's requests are in the audit events, `stamp` when only the
    /// API server's stamp of the decoy's Secret is (a probe the policy drops, such as
    /// `GET /version`): then who and from where are unknown. `watch --tripwire` adds
    /// `tripwire` (its watch of the Secret saw the stamp) and `broken` (the decoy stopped
    /// being a working decoy).
    pub signal: &'static str,
    pub requests: Vec<Request>,
    /// Requests of the burst beyond the ones listed.
    pub requests_not_listed: u64,
    /// The API server's stamps of the decoy's Secret that came with these requests (or
    /// alone): the token authenticated, first use since re-arm.
    pub stamps: Vec<Stamp>,
    #[serde(rename = "auditIDs")]
    pub audit_ids: Vec<String>,
    /// Where the events came from: a log file's path or `webhook`.
    pub source: String,
    /// One line for people, and the field Slack-compatible webhooks show; the fields a
    /// client chose appear in it with control and invisible characters escaped.
    pub text: String,
    /// Alerts about one use share it: a later alert with an ID already sent is an update.
    #[serde(rename = "alertID")]
    pub alert_id: String,
    /// This alert adds to an earlier one with the same `alertID` (audit events naming who
    /// and from where, after the tripwire told that the token was used): no new page.
    pub update: bool,
    /// The decoy's token Secret (`namespace/name`), for tripwire and broken alerts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The kubeconfig context whose decoy this is, when `watch` follows a fleet of
    /// clusters; absent when it watches one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// That context's API server URL, with `context`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

/// An alert of a kubectl run with a decoy token, for the tests of what sinks make of it.
#[cfg(test)]
pub(crate) fn used_alert() -> Alert {
    let at = |t: &str| Some(t.parse::<jiff::Timestamp>().unwrap());
    Alert {
        kind: "HoneytokenAlert",
        schema_version: 1,
        drill: false,
        drill_mark: DrillClaim::None,
        user: "system:serviceaccount:kube-system:tiller".into(),
        source_ips: vec!["10.0.3.7".into(), "192.168.1.4".into()],
        user_agent: "kubectl/v1.36.3 (linux/amd64)".into(),
        first_seen: at("2026-12-03T10:00:00.104215Z"),
        last_seen: at("2026-12-03T10:00:01Z"),
        signal: "request",
        requests: vec![
            Request {
                time: at("2026-12-03T10:00:00.104215Z"),
                verb: "get".into(),
                request_uri: "/api".into(),
                code: Some(200),
                audit_id: "a1".into(),
            },
            Request {
                time: at("2026-12-03T10:00:01Z"),
                verb: "list".into(),
                request_uri: "/api/v1/namespaces/kube-system/secrets".into(),
                code: Some(403),
                audit_id: "a2".into(),
            },
        ],
        requests_not_listed: 3,
        stamps: Vec::new(),
        audit_ids: vec!["a1".into(), "a2".into()],
        source: "webhook".into(),
        text: "DECOY TOKEN USED: from <!channel> & more".into(),
        alert_id: "0123456789abcdef0123456789abcdef".into(),
        update: false,
        secret: None,
        context: None,
        server: None,
    }
}

/// A fresh alert ID: 16 random bytes, hex.
pub fn new_alert_id() -> String {
    let mut bytes = [0u8; 16];
    // Without randomness, a clock-based ID still tells alerts apart.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = jiff::Timestamp::now().as_nanosecond();
        bytes = nanos.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Alert {
    /// The request that says most: the last one that is not API discovery.
    pub fn main_request(&self) -> Option<&Request> {
        self.requests
            .iter()
            .rev()
            .find(|r| !is_discovery(&r.request_uri))
            .or(self.requests.last())
    }

    /// The text as chat services take it: `&`, `<` and `>` escaped the way Slack's message
    /// format asks, so a user agent an attacker chose cannot mention `<!channel>` or forge a
    /// link.
    pub fn chat_text(&self) -> String {
        self.text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    }

    /// Names the cluster the alert came from: its kubeconfig context and API server, in
    /// the fields and at the head of the text (`[context] ...`).
    pub fn name_context(&mut self, context: &str, server: &str) {
        self.context = Some(context.to_string());
        self.server = Some(server.to_string());
        self.text = format!("[{}] {}", printable(context), self.text);
    }

    fn new(actor: Actor, group: Group, drill_mark: DrillClaim) -> Alert {
        let mut requests: Vec<Request> = group.requests.into_values().collect();
        requests.sort_by(|a, b| (a.time, &a.audit_id).cmp(&(b.time, &b.audit_id)));
        let mut stamps: Vec<Stamp> = group.stamps.into_values().collect();
        stamps.sort_by(|a, b| (a.time, &a.audit_id).cmp(&(b.time, &b.audit_id)));
        let times = || {
            requests
                .iter()
                .filter_map(|r| r.time)
                .chain(stamps.iter().filter_map(|s| s.time))
        };
        let mut alert = Alert {
            kind: "HoneytokenAlert",
            schema_version: 1,
            drill: drill_mark == DrillClaim::Genuine,
            drill_mark,
            first_seen: times().min(),
            last_seen: times().max(),
            audit_ids: requests
                .iter()
                .map(|r| r.audit_id.clone())
                .chain(stamps.iter().map(|s| s.audit_id.clone()))
                .collect(),
            signal: if requests.is_empty() && group.not_listed == 0 {
                "stamp"
            } else {
                "request"
            },
            requests,
            stamps,
            requests_not_listed: group.not_listed,
            user: actor.user,
            source_ips: actor.source_ips,
            user_agent: actor.user_agent,
            source: group.source,
            text: String::new(),
            alert_id: new_alert_id(),
            update: false,
            secret: None,
            context: None,
            server: None,
        };
        alert.text = summary(&alert);
        alert
    }
}

/// Every field a client chose is shown with [`printable`]: the text goes to terminals and
/// chat messages, where control and bidi characters would act or mislead.
///
/// "DECOY TOKEN USED: system:serviceaccount:kube-system:tiller from 10.0.0.9
/// (kubectl/v1.36.3): list /api/v1/namespaces/kube-system/secrets answered 403, and 2 more
/// requests, at 2026-11-28T10:00:00Z".
fn summary(alert: &Alert) -> String {
    let stamped = alert
        .stamps
        .first()
        .map(|stamp| {
            format!(
                "the API server stamped its Secret {} (the token authenticated, first use since re-arm)",
                printable(&stamp.secret)
            )
        })
        .unwrap_or_default();
    if alert.signal == "stamp" {
        let when = alert
            .first_seen
            .map(|t| format!(" at {t}"))
            .unwrap_or_default();
        return format!(
            "DECOY TOKEN AUTHENTICATED: {}: {stamped}{when}; the request itself is in no audit event read here (a probe such as GET /version that the policy drops), so who made it and from where are unknown",
            printable(&alert.user)
        );
    }
    let stamped = if stamped.is_empty() {
        stamped
    } else {
        format!("; {stamped}")
    };
    let headline = match alert.drill_mark {
        DrillClaim::Genuine => "Honeytoken drill (not an attack)",
        DrillClaim::None => "DECOY TOKEN USED",
        DrillClaim::Forged => {
            "DECOY TOKEN USED (claims to be a drill, but the drill ID is not this key's)"
        }
        DrillClaim::Replayed => "DECOY TOKEN USED (copies the user agent of an earlier drill)",
        DrillClaim::Unverified => {
            "DECOY TOKEN USED (claims to be a drill; no key here to check it)"
        }
    };
    let what = alert
        .main_request()
        .map(|r| {
            let code = r.code.map(|c| c.to_string()).unwrap_or_else(|| "?".into());
            format!(
                "{} {} answered {code}",
                printable(&r.verb),
                printable(&r.request_uri)
            )
        })
        .unwrap_or_default();
    let more = match alert.requests.len() as u64 + alert.requests_not_listed {
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
        printable(&alert.source_ips.join(", ")).into_owned()
    };
    format!(
        "{headline}: {} from {from} ({}): {what}{more}{when}{stamped}",
        printable(&alert.user),
        printable(&alert.user_agent)
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
    /// By request key (see `request_key`).
    requests: BTreeMap<String, Request>,
    /// Requests beyond the listed ones, by key, so each is counted once and its late stages
    /// are known when they come.
    not_listed_keys: std::collections::BTreeSet<String>,
    not_listed: u64,
    /// The API server's stamps of the decoy's Secret, by audit ID.
    stamps: BTreeMap<String, Stamp>,
}

impl Group {
    fn new(now: Instant, source: &str) -> Group {
        Group {
            opened: now,
            last_event: now,
            source: source.to_string(),
            requests: BTreeMap::new(),
            not_listed_keys: Default::default(),
            not_listed: 0,
            stamps: BTreeMap::new(),
        }
    }
}

/// The burst a stamp opens when no request of its decoy is open: the stamp tells whose
/// token it was, not who used it.
fn stamp_only(user: &str) -> Actor {
    Actor {
        user: user.to_string(),
        user_agent: String::new(),
        source_ips: Vec::new(),
    }
}

/// What a reported stamp is remembered by.
fn reported_stamp_key(user: &str, secret: &str, audit_id: &str) -> String {
    format!("{user}\0stamp\0{secret}\0{audit_id}")
}

/// A request's stages share its audit ID, verb and URI, and its client. A client may choose
/// its audit ID (the Audit-ID header), so the ID alone must not merge two requests into one,
/// nor make a new request look like a stage of one already reported.
fn request_key(audit_id: &str, verb: &str, request_uri: &str) -> String {
    format!("{audit_id}\0{verb}\0{request_uri}")
}

fn actor_key(actor: &Actor) -> String {
    format!(
        "{}\0{}\0{}",
        actor.user,
        actor.user_agent,
        actor.source_ips.join(",")
    )
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

/// Requests already reported are remembered this long (longer than the API server keeps a
/// watch open, one to two times --min-request-timeout, 30 minutes by default), so late
/// stages of a request do not raise a second alert; and at most this many of them.
const REMEMBER_REPORTED: Duration = Duration::from_secs(2 * 60 * 60);
const REMEMBER_AT_MOST: usize = 100_000;
/// Requests listed in one alert; more are counted, not listed.
const REQUESTS_PER_ALERT: usize = 500;
/// Bursts open at once (each client is one); beyond, the oldest are reported early.
const OPEN_AT_MOST: usize = 10_000;

/// Collects decoy events into bursts and hands out an alert per burst once it is over.
pub struct Grouper {
    window: Window,
    drill_key: Option<Key>,
    open: HashMap<Actor, Group>,
    /// The client each genuine drill came from: the same drill from another client is a copy.
    drill_clients: HashMap<String, Vec<String>>,
    drill_order: VecDeque<String>,
    /// Request keys already reported, and when.
    reported: HashMap<String, Instant>,
    reported_order: VecDeque<(Instant, String)>,
}

impl Grouper {
    /// `drill_key` tells genuine drills from requests that only claim to be one.
    pub fn new(window: Window, drill_key: Option<Key>) -> Grouper {
        Grouper {
            window,
            drill_key,
            drill_clients: HashMap::new(),
            drill_order: VecDeque::new(),
            open: HashMap::new(),
            reported: HashMap::new(),
            reported_order: VecDeque::new(),
        }
    }

    /// Whether drills can be told from copies (the key may be made after the watcher starts).
    pub fn has_drill_key(&self) -> bool {
        self.drill_key.is_some()
    }

    pub fn set_drill_key(&mut self, key: Key) {
        self.drill_key = Some(key);
    }

    /// Adds one event of a decoy user (the caller has matched the user).
    pub fn add(&mut self, event: Event, source: &str, now: Instant) {
        let actor = Actor {
            user: event.user.username.clone(),
            user_agent: event.user_agent.clone(),
            source_ips: event.source_ips.clone(),
        };
        let key = request_key(&event.audit_id, &event.verb, &event.request_uri);
        if !event.audit_id.is_empty()
            && self
                .reported
                .contains_key(&format!("{}\0{key}", actor_key(&actor)))
        {
            return;
        }
        // A stamp of this decoy waiting alone is this use's: the API server stamps while
        // it authenticates the request, and writes the stamp's event first.
        let waiting = stamp_only(&actor.user);
        let stamps = if actor != waiting {
            self.open.remove(&waiting)
        } else {
            None
        };
        let group = self
            .open
            .entry(actor)
            .or_insert_with(|| Group::new(now, source));
        if let Some(alone) = stamps {
            group.opened = group.opened.min(alone.opened);
            group.stamps.extend(alone.stamps);
        }
        group.last_event = now;
        let key = if event.audit_id.is_empty() {
            format!("#{}", group.requests.len() as u64 + group.not_listed)
        } else {
            key
        };
        if !group.requests.contains_key(&key) && group.requests.len() >= REQUESTS_PER_ALERT {
            // Keys are kept up to a bound; past it, every event counts.
            if key.starts_with('#')
                || group.not_listed_keys.len() >= REMEMBER_AT_MOST
                || group.not_listed_keys.insert(key)
            {
                group.not_listed += 1;
            }
            return;
        }
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

    /// Adds the API server's stamp of a decoy's Secret (the caller has matched it): it joins
    /// the open burst of that decoy with the latest request, or waits alone for the use's
    /// requests (which the policy may not log at all) as long as a burst would.
    pub fn add_stamp(&mut self, event: Event, secret: &DecoySecret, source: &str, now: Instant) {
        let shown = secret.shown();
        if !event.audit_id.is_empty()
            && self.reported.contains_key(&reported_stamp_key(
                &secret.user,
                &shown,
                &event.audit_id,
            ))
        {
            return;
        }
        let actor = self
            .open
            .iter()
            .filter(|(actor, _)| actor.user == secret.user)
            .max_by_key(|(_, group)| group.last_event)
            .map(|(actor, _)| actor.clone())
            .unwrap_or_else(|| stamp_only(&secret.user));
        let group = self
            .open
            .entry(actor)
            .or_insert_with(|| Group::new(now, source));
        group.last_event = now;
        let key = if event.audit_id.is_empty() {
            format!("#{}", group.stamps.len())
        } else {
            event.audit_id.clone()
        };
        let code = event.code();
        let stamp = group.stamps.entry(key).or_insert_with(|| Stamp {
            time: event.request_received_timestamp,
            secret: shown,
            request_uri: event.request_uri,
            code: None,
            audit_id: event.audit_id,
        });
        if code.is_some() {
            stamp.code = code;
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
        let mut over: Vec<Actor> = self
            .open
            .iter()
            .filter(|(_, g)| self.deadline(g) <= now)
            .map(|(a, _)| a.clone())
            .collect();
        let still_open = self.open.len() - over.len();
        if still_open > OPEN_AT_MOST {
            let mut oldest: Vec<(&Actor, Instant)> = self
                .open
                .iter()
                .filter(|(_, g)| self.deadline(g) > now)
                .map(|(a, g)| (a, g.opened))
                .collect();
            oldest.sort_by_key(|(_, opened)| *opened);
            over.extend(
                oldest
                    .into_iter()
                    .take(still_open - OPEN_AT_MOST)
                    .map(|(a, _)| a.clone()),
            );
        }
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
        let mut closed: Vec<(Actor, Group)> = actors
            .into_iter()
            .filter_map(|actor| self.open.remove(&actor).map(|group| (actor, group)))
            .collect();
        // Oldest first; the first client of a drill is the drill (see `drill_mark`).
        closed.sort_by_cached_key(|(_, group)| {
            let received = group.requests.values().filter_map(|r| r.time).min();
            (group.opened, received)
        });
        let mut alerts = Vec::new();
        for (actor, group) in closed {
            for key in group.requests.keys().chain(group.not_listed_keys.iter()) {
                if !key.starts_with('#') {
                    let key = format!("{}\0{key}", actor_key(&actor));
                    self.reported.insert(key.clone(), now);
                    self.reported_order.push_back((now, key));
                }
            }
            for stamp in group.stamps.values().filter(|s| !s.audit_id.is_empty()) {
                let key = reported_stamp_key(&actor.user, &stamp.secret, &stamp.audit_id);
                self.reported.insert(key.clone(), now);
                self.reported_order.push_back((now, key));
            }
            let received = group.requests.values().filter_map(|r| r.time).min();
            let mark = self.drill_mark(&actor, received);
            alerts.push(Alert::new(actor, group, mark));
        }
        alerts
    }

    fn drill_mark(&mut self, actor: &Actor, received: Option<jiff::Timestamp>) -> DrillClaim {
        let claim = drill_claim(
            &actor.user_agent,
            &actor.user,
            received,
            self.drill_key.as_ref(),
        );
        let Some(id) = crate::decoy::tracking::drill_id_in(&actor.user_agent) else {
            return claim;
        };
        if claim != DrillClaim::Genuine {
            return claim;
        }
        match self.drill_clients.get(id) {
            Some(first) if *first != actor.source_ips => DrillClaim::Replayed,
            Some(_) => claim,
            None => {
                self.drill_clients
                    .insert(id.to_string(), actor.source_ips.clone());
                self.drill_order.push_back(id.to_string());
                if self.drill_order.len() > REMEMBER_AT_MOST {
                    let oldest = self.drill_order.pop_front().expect("not empty");
                    self.drill_clients.remove(&oldest);
                }
                claim
            }
        }
    }

    fn forget_before(&mut self, now: Instant) {
        while let Some((at, _)) = self.reported_order.front() {
            if now.duration_since(*at) < REMEMBER_REPORTED
                && self.reported_order.len() <= REMEMBER_AT_MOST
            {
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
        attack_as(id, ip, KUBECTL)
    }

    /// A finished request listing Secrets, from a client with this user agent.
    fn attack_as(id: &str, ip: &str, agent: &str) -> Event {
        event(id, "ResponseComplete", SECRETS, agent, ip, Some(403))
    }

    fn window() -> Window {
        Window::from_quiet(Duration::from_secs(2))
    }

    fn key() -> Key {
        Key::from_bytes([7; 32])
    }

    fn grouper() -> Grouper {
        Grouper::new(window(), Some(key()))
    }

    /// A drill of the tiller decoy that started when the test events were received.
    fn drill_id(key: &Key) -> String {
        let started = "2026-11-28T10:00:00Z".parse().unwrap();
        crate::decoy::tracking::signed_drill_id(key, DECOY, started, "3f2a9c")
    }

    #[test]
    fn a_genuine_drill_copied_by_another_client_is_an_attack() {
        let mut grouper = grouper();
        let t0 = Instant::now();
        let agent = format!(
            "kubectl-honeytoken-drill/0.1.0 (drill {})",
            drill_id(&key())
        );
        grouper.add(attack_as("d", "127.0.0.1", &agent), "f", t0);
        grouper.add(
            attack_as("e", "10.0.0.9", &agent),
            "f",
            t0 + Duration::from_millis(1),
        );
        let alerts = grouper.flush(t0);
        let by_ip = |ip: &str| {
            alerts
                .iter()
                .find(|a| a.source_ips == vec![ip.to_string()])
                .unwrap()
        };
        assert_eq!(by_ip("127.0.0.1").drill_mark, DrillClaim::Genuine);
        assert_eq!(by_ip("10.0.0.9").drill_mark, DrillClaim::Replayed);
        assert!(!by_ip("10.0.0.9").drill);
    }

    const KUBECTL: &str = "kubectl/v1.36.3 (linux/amd64) kubernetes/abcdef";
    const SECRETS: &str = "/api/v1/namespaces/kube-system/secrets";

    /// The API server's stamp of the decoy's Secret, as the bed logs it.
    fn stamp(id: &str) -> (Event, DecoySecret) {
        let secret = DecoySecret {
            namespace: "kube-system".into(),
            name: "tiller-token-bcdfg".into(),
            user: DECOY.into(),
        };
        let event = Event {
            audit_id: id.into(),
            stage: "ResponseComplete".into(),
            verb: "patch".into(),
            request_uri: secret.path(),
            user: User {
                username: crate::audit::APISERVER_USER.into(),
                groups: vec!["system:authenticated".into(), "system:masters".into()],
            },
            source_ips: vec!["127.0.0.1".into()],
            user_agent: "kube-apiserver/v1.36.3 (linux/amd64) kubernetes/$Format".into(),
            response_status: Some(ResponseStatus { code: 200 }),
            request_received_timestamp: Some("2026-11-28T10:00:00.5Z".parse().unwrap()),
            ..Event::default()
        };
        (event, secret)
    }

    #[test]
    fn a_stamp_joins_the_requests_of_its_use_in_one_alert() {
        let mut grouper = grouper();
        let start = Instant::now();
        // The API server writes the stamp's event before the request's.
        let (event, secret) = stamp("s1");
        grouper.add_stamp(event, &secret, "audit.log", start);
        grouper.add(
            attack("a1", "10.0.0.9"),
            "audit.log",
            start + Duration::from_millis(5),
        );
        // The same stamp again (another stage) changes nothing.
        let (again, _) = stamp("s1");
        grouper.add_stamp(
            again,
            &secret,
            "audit.log",
            start + Duration::from_millis(6),
        );
        let alerts = grouper.due(start + Duration::from_secs(3));
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.signal, "request");
        assert_eq!(alert.source_ips, vec!["10.0.0.9"]);
        assert_eq!(alert.requests.len(), 1);
        assert_eq!(alert.stamps.len(), 1);
        assert_eq!(alert.stamps[0].secret, "kube-system/tiller-token-bcdfg");
        assert!(alert.audit_ids.contains(&"s1".to_string()));
        assert!(!alert.drill);
        assert!(
            alert.text.contains("first use since re-arm"),
            "{}",
            alert.text
        );
        // A late copy of the stamp raises nothing.
        let (late, _) = stamp("s1");
        grouper.add_stamp(late, &secret, "audit.log", start + Duration::from_secs(4));
        assert!(grouper.flush(start + Duration::from_secs(10)).is_empty());
    }

    #[test]
    fn a_stamp_alone_is_an_alert_that_the_token_authenticated() {
        let mut grouper = grouper();
        let start = Instant::now();
        let (event, secret) = stamp("s1");
        grouper.add_stamp(event, &secret, "webhook", start);
        assert!(grouper.due(start + Duration::from_secs(1)).is_empty());
        let alerts = grouper.due(start + Duration::from_secs(3));
        assert_eq!(alerts.len(), 1);
        let alert = &alerts[0];
        assert_eq!(alert.signal, "stamp");
        assert_eq!(alert.user, DECOY);
        assert!(alert.requests.is_empty());
        assert!(alert.source_ips.is_empty() && alert.user_agent.is_empty());
        assert_eq!(alert.drill_mark, DrillClaim::None);
        assert!(
            alert.text.starts_with("DECOY TOKEN AUTHENTICATED: system:serviceaccount:kube-system:tiller: the API server stamped its Secret kube-system/tiller-token-bcdfg"),
            "{}",
            alert.text
        );
        let json = serde_json::to_value(alert).unwrap();
        assert_eq!(json["signal"], "stamp");
        assert_eq!(json["stamps"][0]["auditID"], "s1");
    }

    #[test]
    fn a_stamp_during_a_drill_is_the_drills() {
        let key = key();
        let agent = format!("kubectl-honeytoken-drill/0.1.0 (drill {})", drill_id(&key));
        let mut grouper = grouper();
        let start = Instant::now();
        grouper.add(attack_as("d1", "10.0.0.5", &agent), "audit.log", start);
        let (event, secret) = stamp("s1");
        grouper.add_stamp(
            event,
            &secret,
            "audit.log",
            start + Duration::from_millis(1),
        );
        let alerts = grouper.flush(start + Duration::from_secs(1));
        assert_eq!(alerts.len(), 1);
        assert!(alerts[0].drill);
        assert_eq!(alerts[0].stamps.len(), 1);
    }

    #[test]
    fn a_kubectl_run_is_one_alert_once_it_goes_quiet() {
        let mut grouper = grouper();
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
                "list /api/v1/namespaces/kube-system/secrets answered 403, and 2 more requests"
            ),
            "the text names the request that is not discovery: {}",
            alert.text
        );
        assert!(grouper.due(t0 + Duration::from_secs(60)).is_empty());
        assert_eq!(grouper.next_deadline(), None);
    }

    #[test]
    fn stages_of_one_request_merge_and_keep_the_final_code() {
        let mut grouper = grouper();
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
        let mut grouper = grouper();
        let t0 = Instant::now();
        grouper.add(attack("a", "10.0.0.9"), "f", t0);
        grouper.add(attack("b", "10.0.0.10"), "f", t0 + Duration::from_millis(1));
        grouper.add(
            attack_as("c", "10.0.0.9", "curl/8.0"),
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
        let mut grouper = grouper();
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
        let mut grouper = grouper();
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
        let mut grouper = grouper();
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
    fn drills_of_this_key_are_marked_and_say_so() {
        let mut grouper = grouper();
        let t0 = Instant::now();
        let id = drill_id(&key());
        let agent = format!("kubectl-honeytoken-drill/0.1.0 (drill {id})");
        grouper.add(attack_as("d", "127.0.0.1", &agent), "f", t0);
        let alerts = grouper.flush(t0);
        assert!(alerts[0].drill);
        assert_eq!(alerts[0].drill_mark, DrillClaim::Genuine);
        assert!(
            alerts[0]
                .text
                .starts_with("Honeytoken drill (not an attack)"),
            "{}",
            alerts[0].text
        );
    }

    #[test]
    fn a_copied_or_made_up_drill_mark_is_an_attack() {
        let t0 = Instant::now();
        let other = drill_id(&Key::from_bytes([9; 32]));
        let forged = format!("kubectl-honeytoken-drill/0.1.0 (drill {other})");
        let mut grouper = grouper();
        grouper.add(attack_as("d", "10.0.0.9", &forged), "f", t0);
        let alert = grouper.flush(t0).remove(0);
        assert!(!alert.drill);
        assert_eq!(alert.drill_mark, DrillClaim::Forged);
        assert!(
            alert
                .text
                .starts_with("DECOY TOKEN USED (claims to be a drill"),
            "{}",
            alert.text
        );

        // Without a key nothing can be proven a drill.
        let mut keyless = Grouper::new(window(), None);
        keyless.add(attack_as("d", "10.0.0.9", &forged), "f", t0);
        let alert = keyless.flush(t0).remove(0);
        assert!(!alert.drill);
        assert_eq!(alert.drill_mark, DrillClaim::Unverified);
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
    fn an_alert_of_a_fleet_names_its_context_and_server_and_one_of_one_cluster_does_not() {
        let mut grouper = grouper();
        let t0 = Instant::now();
        grouper.add(attack("a", "10.0.0.9"), "webhook", t0);
        let mut alert = grouper.flush(t0).remove(0);
        let json = serde_json::to_value(&alert).unwrap();
        assert!(json.get("context").is_none() && json.get("server").is_none());
        let text = alert.text.clone();
        alert.name_context("prod\u{1b}[2J", "https://10.0.0.1:6443");
        let json = serde_json::to_value(&alert).unwrap();
        assert_eq!(json["context"], "prod\u{1b}[2J");
        assert_eq!(json["server"], "https://10.0.0.1:6443");
        assert_eq!(alert.text, format!("[prod\\u{{1b}}[2J] {text}"));
    }

    #[test]
    fn the_alert_serializes_with_kubernetes_style_names() {
        let mut grouper = grouper();
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

    #[test]
    fn a_reused_audit_id_neither_merges_requests_nor_hides_new_ones() {
        let mut grouper = grouper();
        let t0 = Instant::now();
        let list = attack("same", "10.0.0.9");
        let mut get = attack("same", "10.0.0.9");
        get.verb = "get".into();
        get.request_uri = "/api/v1/namespaces/kube-system/secrets/admin-token".into();
        grouper.add(list, "f", t0);
        grouper.add(get.clone(), "f", t0);
        let alert = grouper.flush(t0).remove(0);
        assert_eq!(alert.requests.len(), 2, "{alert:#?}");
        // The same ID on a request not reported yet is a new alert.
        let mut delete = get;
        delete.verb = "delete".into();
        grouper.add(delete, "f", t0 + Duration::from_secs(5));
        assert_eq!(grouper.flush(t0 + Duration::from_secs(5)).len(), 1);
    }

    #[test]
    fn a_flood_is_bounded_but_counted() {
        let mut grouper = grouper();
        let t0 = Instant::now();
        for n in 0..(REQUESTS_PER_ALERT + 20) {
            grouper.add(attack(&format!("r{n}"), "10.0.0.9"), "f", t0);
        }
        let alert = grouper.flush(t0).remove(0);
        assert_eq!(alert.requests.len(), REQUESTS_PER_ALERT);
        assert_eq!(alert.requests_not_listed, 20);
        let more = format!("and {} more requests", REQUESTS_PER_ALERT + 19);
        assert!(alert.text.contains(&more), "{}", alert.text);

        // Clients beyond the cap of open bursts are reported early, not kept.
        for n in 0..(OPEN_AT_MOST + 5) {
            let ip = format!("10.{}.{}.{}", n >> 16, (n >> 8) & 255, n & 255);
            grouper.add(attack(&format!("c{n}"), &ip), "f", t0);
        }
        let early = grouper.due(t0);
        assert_eq!(early.len(), 5);
        assert_eq!(grouper.open.len(), OPEN_AT_MOST);
    }

    #[test]
    fn the_text_shows_control_and_bidi_characters_escaped_and_keeps_the_fields_raw() {
        let mut grouper = grouper();
        let t0 = Instant::now();
        let agent = "kubectl/v1.36.3\u{1b}]0;owned\u{7}\nALERT cleared\u{202e}";
        let mut event = attack_as("a", "10.0.0.9\u{9b}2J", agent);
        event.request_uri = "/api/v1/secrets\r\u{1b}[1A".into();
        grouper.add(event, "f", t0);
        let alert = grouper.flush(t0).remove(0);
        assert!(
            !alert
                .text
                .chars()
                .any(crate::ui::terminal::is_unsafe_for_terminal),
            "{:?}",
            alert.text
        );
        assert!(
            alert.text.contains(
                "from 10.0.0.9\\u{9b}2J (kubectl/v1.36.3\\u{1b}]0;owned\\u{7}\\u{a}ALERT cleared\\u{202e})"
            ),
            "{}",
            alert.text
        );
        assert!(
            alert
                .text
                .contains("/api/v1/secrets\\u{d}\\u{1b}[1A answered 403"),
            "{}",
            alert.text
        );
        // The structured fields keep what the audit event said.
        assert_eq!(alert.user_agent, agent);
        assert_eq!(alert.source_ips, vec!["10.0.0.9\u{9b}2J"]);
    }
}
