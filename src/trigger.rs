//! `test-trigger`: a drill. With the decoy token and nothing else, send what an attacker
//! with a stolen token sends first, every request marked as a drill in its user agent,
//! then (given an audit log) wait for each request's event.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use k8s_openapi::api::core::v1::Secret;

use crate::audit::{Event, LogFollower};
use crate::cli::{GlobalArgs, TriggerArgs};
use crate::decoy::{Ownership, ownership, token_filled};
use crate::error::Error;
use crate::exit::Outcome;
use crate::home::{DrillRecord, Home};
use crate::locate::{self, Located};
use crate::output;
use crate::webhook::Receiver;

/// What a drill request must get back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Expect {
    /// Open to every authenticated user (discovery, self reviews): 2xx.
    Answered,
    /// Secrets: the decoy may read nothing, so 403.
    Forbidden,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DrillRequest {
    pub name: &'static str,
    pub method: &'static str,
    pub path: String,
    /// The verb the API server records for it in the audit log.
    pub verb: &'static str,
    #[serde(skip)]
    pub body: Option<String>,
    pub expect: Expect,
}

/// The requests of a drill, in the order an attacker sends them. Read-only: the two
/// reviews create nothing. No /version or /healthz: common audit policies drop them.
pub fn drill_requests(namespace: &str) -> Vec<DrillRequest> {
    vec![
        DrillRequest {
            name: "discovery /api",
            method: "GET",
            path: "/api".into(),
            verb: "get",
            body: None,
            expect: Expect::Answered,
        },
        DrillRequest {
            name: "discovery /apis",
            method: "GET",
            path: "/apis".into(),
            verb: "get",
            body: None,
            expect: Expect::Answered,
        },
        DrillRequest {
            name: "whoami (SelfSubjectReview)",
            method: "POST",
            path: "/apis/authentication.k8s.io/v1/selfsubjectreviews".into(),
            verb: "create",
            body: Some(
                r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#.into(),
            ),
            expect: Expect::Answered,
        },
        DrillRequest {
            name: "can-i --list (SelfSubjectRulesReview)",
            method: "POST",
            path: "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews".into(),
            verb: "create",
            body: Some(format!(
                r#"{{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectRulesReview","spec":{{"namespace":"{namespace}"}}}}"#
            )),
            expect: Expect::Answered,
        },
        DrillRequest {
            name: "list secrets in the namespace",
            method: "GET",
            path: format!("/api/v1/namespaces/{namespace}/secrets"),
            verb: "list",
            body: None,
            expect: Expect::Forbidden,
        },
        DrillRequest {
            name: "list secrets cluster-wide",
            method: "GET",
            path: "/api/v1/secrets".into(),
            verb: "list",
            body: None,
            expect: Expect::Forbidden,
        },
    ]
}

/// The user agent of every drill request: says drill, and which one.
pub fn drill_user_agent(drill_id: &str) -> String {
    format!(
        "kubectl-honeytoken-drill/{} (drill {drill_id})",
        env!("CARGO_PKG_VERSION")
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Judgement {
    Ok,
    /// The decoy read Secrets: it has permissions it must never have.
    Danger,
    /// 401: the token no longer authenticates (invalidated or deleted).
    Rejected,
    Unexpected,
}

pub fn judge(expect: Expect, code: u16) -> Judgement {
    match (expect, code) {
        (_, 401) => Judgement::Rejected,
        (Expect::Answered, 200..=299) => Judgement::Ok,
        (Expect::Forbidden, 403) => Judgement::Ok,
        (Expect::Forbidden, 200..=299) => Judgement::Danger,
        _ => Judgement::Unexpected,
    }
}

/// Finds the drill event for a request among events from the log.
pub fn matches_request(
    event: &Event,
    request: &DrillRequest,
    username: &str,
    drill_id: &str,
) -> bool {
    event.user_agent.contains(&format!("(drill {drill_id})"))
        && event.user.username == username
        && event.verb == request.verb
        && event.request_uri.split('?').next() == Some(request.path.as_str())
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestOutcome {
    #[serde(flatten)]
    pub request: DrillRequest,
    pub code: Option<u16>,
    pub error: Option<String>,
    pub judgement: Judgement,
    /// Seconds from sending the request until its audit event was read, when watched.
    pub audit_latency_seconds: Option<f64>,
    pub audit_stage: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DrillReport {
    pub drill_id: String,
    pub user_agent: String,
    pub namespace: String,
    pub service_account: String,
    pub secret: String,
    pub username: String,
    pub started_at: jiff::Timestamp,
    pub audit_log: Option<String>,
    pub requests: Vec<RequestOutcome>,
    pub danger: bool,
    pub all_events_arrived: Option<bool>,
}

pub fn new_drill_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

fn table(report: &DrillReport) -> String {
    let mut table = output::table(&["request", "code", "expected", "result", "audit event"]);
    for outcome in &report.requests {
        let result = match outcome.judgement {
            Judgement::Ok => console::style("ok").green().to_string(),
            Judgement::Danger => console::style("DANGER").red().bold().to_string(),
            Judgement::Rejected => console::style("token rejected").yellow().bold().to_string(),
            Judgement::Unexpected => console::style("unexpected").yellow().to_string(),
        };
        let audit = match (&report.audit_log, outcome.audit_latency_seconds) {
            (None, _) => "not watched".to_string(),
            (Some(_), Some(seconds)) => format!(
                "arrived after {seconds:.1}s ({})",
                crate::terminal::printable(outcome.audit_stage.as_deref().unwrap_or(""))
            ),
            (Some(_), None) => console::style("MISSING").red().bold().to_string(),
        };
        table.add_row(vec![
            format!("{} {}", outcome.request.method, outcome.request.path),
            outcome
                .code
                .map(|c| c.to_string())
                .or_else(|| outcome.error.clone())
                .unwrap_or_default(),
            expected_text(outcome.request.expect).to_string(),
            result,
            audit,
        ]);
    }
    format!(
        "Drill {} as {} (user agent \"{}\")\n{table}\n",
        report.drill_id, report.username, report.user_agent
    )
}

/// Where a drill's audit events are looked for.
pub enum Sink {
    File {
        path: String,
        follower: LogFollower,
    },
    Webhook(Receiver),
    /// The provider's log service, read with its CLI; polled sparingly, since each query
    /// is a slow call to a cloud API.
    ProviderLogs {
        query: crate::cloud::LogQuery,
        runner: crate::cloud::CliRunner,
        last_poll: Option<Instant>,
    },
}

/// How often the provider's log service is asked again.
const PROVIDER_POLL_INTERVAL: Duration = Duration::from_secs(10);

impl Sink {
    /// Starts following a log file from its current end.
    pub fn file(path: &std::path::Path) -> Result<Sink, Error> {
        let follower = LogFollower::from_end(path).map_err(|e| {
            Error::Invalid(format!("cannot read the audit log {}: {e}", path.display()))
        })?;
        Ok(Sink::File {
            path: path.display().to_string(),
            follower,
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Sink::File { path, .. } => format!("audit log {path}"),
            Sink::Webhook(receiver) => format!("audit webhook on http://{}", receiver.address),
            Sink::ProviderLogs { query, .. } => format!(
                "{:?} audit logs ({})",
                query.provider,
                query.command_line().unwrap_or_default()
            ),
        }
    }

    fn read(&mut self) -> Result<Vec<Event>, Error> {
        match self {
            Sink::File { path, follower } => follower
                .read_new()
                .map_err(|e| Error::Invalid(format!("cannot read the audit log {path}: {e}"))),
            Sink::Webhook(receiver) => Ok(receiver.drain()),
            Sink::ProviderLogs {
                query,
                runner,
                last_poll,
            } => {
                if last_poll.is_some_and(|at| at.elapsed() < PROVIDER_POLL_INTERVAL) {
                    return Ok(Vec::new());
                }
                *last_poll = Some(Instant::now());
                // The CLI blocks for seconds; let the runtime move other tasks meanwhile.
                tokio::task::block_in_place(|| query.fetch(runner)).map_err(Error::CheckFailed)
            }
        }
    }
}

/// The decoy's Secret with its token, or why there is nothing to drill with.
pub fn drillable(located: &Located) -> Result<Secret, Error> {
    let spec = &located.spec;
    let found = &located.found;
    if ownership(spec, found, located.record.as_ref()) != Ownership::Ours || found.account.is_none()
    {
        return Err(Error::Invalid(format!(
            "no decoy {}/{} of this key to drill; plant one first (kubectl honeytoken plant)",
            spec.namespace, spec.account
        )));
    }
    match &found.secret {
        Some(secret) if token_filled(secret) => Ok(secret.clone()),
        _ => Err(Error::CheckFailed(format!(
            "decoy {}/{} has no token to drill with (Secret {} missing or unfilled); see kubectl honeytoken status",
            spec.namespace, spec.account, spec.secret
        ))),
    }
}

/// Runs a drill: records it, sends every drill request with the decoy token only, and
/// waits (up to `timeout`) for each request's event in `sink`.
pub async fn drill(
    located: &Located,
    secret: &Secret,
    home: &Home,
    mut sink: Option<&mut Sink>,
    timeout: Duration,
) -> Result<DrillReport, Error> {
    let spec = &located.spec;
    let token = SecretString::from(
        String::from_utf8(
            secret
                .data
                .as_ref()
                .and_then(|d| d.get("token"))
                .map(|t| t.0.clone())
                .unwrap_or_default(),
        )
        .map_err(|_| {
            Error::Invalid(format!(
                "the token in Secret {}/{} is not text",
                spec.namespace, spec.secret
            ))
        })?,
    );

    let started_at = jiff::Timestamp::now();
    let drill_id = crate::tracking::signed_drill_id(
        &home.key()?,
        &spec.username(),
        started_at,
        &new_drill_id(),
    );
    let user_agent = drill_user_agent(&drill_id);
    // Recorded before the first request, so a status run at any moment knows about it.
    home.update(|state| {
        state.drills.push(DrillRecord {
            id: drill_id.clone(),
            namespace: spec.namespace.clone(),
            secret: spec.secret.clone(),
            secret_uid: secret.metadata.uid.clone().unwrap_or_default(),
            started_at,
        })
    })?;

    let decoy_client = token_client(&located.connection.config, &token, &user_agent)?;
    let mut outcomes = Vec::new();
    let mut sent_at = Vec::new();
    for request in drill_requests(&spec.namespace) {
        sent_at.push(Instant::now());
        let (code, error) = match send(&decoy_client, &request).await {
            Ok(code) => (Some(code), None),
            Err(e) => (None, Some(crate::error::describe_kube_error(&e))),
        };
        outcomes.push(RequestOutcome {
            judgement: code.map_or(Judgement::Unexpected, |c| judge(request.expect, c)),
            request,
            code,
            error,
            audit_latency_seconds: None,
            audit_stage: None,
        });
    }

    let username = spec.username();
    let mut all_arrived = None;
    if let Some(sink) = sink.as_deref_mut() {
        let _spinner = crate::progress::Spinner::start(format!(
            "waiting for the drill's events in {}",
            sink.describe()
        ));
        let deadline = Instant::now() + timeout;
        loop {
            let events = sink.read()?;
            let now = Instant::now();
            for event in events {
                for (outcome, sent) in outcomes.iter_mut().zip(&sent_at) {
                    if outcome.audit_latency_seconds.is_none()
                        && matches_request(&event, &outcome.request, &username, &drill_id)
                    {
                        outcome.audit_latency_seconds =
                            Some(now.duration_since(*sent).as_secs_f64());
                        outcome.audit_stage = Some(event.stage.clone());
                    }
                }
            }
            let arrived = outcomes.iter().all(|o| o.audit_latency_seconds.is_some());
            if arrived || now >= deadline {
                all_arrived = Some(arrived);
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    Ok(DrillReport {
        danger: outcomes.iter().any(|o| o.judgement == Judgement::Danger),
        drill_id,
        user_agent,
        namespace: spec.namespace.clone(),
        service_account: spec.account.clone(),
        secret: spec.secret.clone(),
        username,
        started_at,
        audit_log: sink.map(|s| s.describe()),
        requests: outcomes,
        all_events_arrived: all_arrived,
    })
}

/// What a drill would do, told by `--dry-run` instead of doing it: nothing is sent, the
/// token is not taken out of its Secret, and no drill is recorded.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DrillPlan {
    pub dry_run: bool,
    pub server: String,
    pub namespace: String,
    pub service_account: String,
    /// The Secret whose token, and nothing else, the requests would carry.
    pub secret: String,
    pub username: String,
    /// The user agent's form; the drill ID in it is made and signed when a drill starts.
    pub user_agent: String,
    pub requests: Vec<DrillRequest>,
    /// Where the requests' audit events would be looked for, if anywhere.
    pub audit_log: Option<String>,
    pub timeout_seconds: Option<u64>,
}

/// The placeholder for the drill ID in a plan's user agent.
pub const PLANNED_DRILL_ID: &str = "<drill id>";

pub fn plan(located: &Located, sink: Option<String>, timeout: Duration) -> DrillPlan {
    let spec = &located.spec;
    DrillPlan {
        dry_run: true,
        server: located.connection.server.clone(),
        namespace: spec.namespace.clone(),
        service_account: spec.account.clone(),
        secret: spec.secret.clone(),
        username: spec.username(),
        user_agent: drill_user_agent(PLANNED_DRILL_ID),
        requests: drill_requests(&spec.namespace),
        timeout_seconds: sink.is_some().then_some(timeout.as_secs()),
        audit_log: sink,
    }
}

fn expected_text(expect: Expect) -> &'static str {
    match expect {
        Expect::Answered => "2xx",
        Expect::Forbidden => "403",
    }
}

pub fn plan_text(plan: &DrillPlan) -> String {
    let mut table = output::table(&["request", "method", "path", "expected"]);
    for request in &plan.requests {
        table.add_row(vec![
            request.name.to_string(),
            request.method.to_string(),
            request.path.clone(),
            expected_text(request.expect).to_string(),
        ]);
    }
    let wait = match (&plan.audit_log, plan.timeout_seconds) {
        (Some(sink), Some(seconds)) => {
            format!("then wait up to {seconds}s for their events in the {sink}\n")
        }
        _ => String::new(),
    };
    format!(
        "A drill would send these requests to {} as {}, with the token of Secret {}/{} and no other credential, each with user agent \"{}\" (the ID is made when the drill starts):\n{table}\n{wait}(dry run: nothing was sent, the token was not used, no drill was recorded)\n",
        plan.server, plan.username, plan.namespace, plan.secret, plan.user_agent
    )
}

/// Requests that did not get the answer they should have.
pub fn wrong_answers(report: &DrillReport) -> Vec<String> {
    report
        .requests
        .iter()
        .filter(|o| o.judgement != Judgement::Ok)
        .map(|o| {
            format!(
                "{} {} got {} instead of {}",
                o.request.method,
                o.request.path,
                o.code
                    .map(|c| c.to_string())
                    .or(o.error.clone())
                    .unwrap_or_default(),
                match o.request.expect {
                    Expect::Answered => "a 2xx answer",
                    Expect::Forbidden => "403 Forbidden",
                }
            )
        })
        .collect()
}

/// Requests whose event never arrived in the sink.
pub fn missing_events(report: &DrillReport) -> Vec<String> {
    report
        .requests
        .iter()
        .filter(|o| report.audit_log.is_some() && o.audit_latency_seconds.is_none())
        .map(|o| format!("{} {}", o.request.method, o.request.path))
        .collect()
}

pub async fn run(args: &TriggerArgs, global: &GlobalArgs, home: &Home) -> Result<Outcome, Error> {
    let selection = locate::select(&args.select, global)?;
    let located = locate::locate(&selection, global, home, locate::KeyUse::Existing).await?;
    let secret = drillable(&located)?;
    if global.dry_run {
        let plan = plan(
            &located,
            args.audit_log
                .as_ref()
                .map(|path| format!("audit log {}", path.display())),
            Duration::from_secs(args.timeout),
        );
        match output::structured(global.output, &plan)? {
            Some(text) => print!("{text}"),
            None => print!("{}", plan_text(&plan)),
        }
        return Ok(Outcome::Success);
    }
    let mut sink = args.audit_log.as_deref().map(Sink::file).transpose()?;
    let report = drill(
        &located,
        &secret,
        home,
        sink.as_mut(),
        Duration::from_secs(args.timeout),
    )
    .await?;
    match output::structured(global.output, &report)? {
        Some(text) => print!("{text}"),
        None => print!("{}", table(&report)),
    }

    if report.danger {
        eprintln!(
            "DANGER: the decoy token read Secrets. Something grants {} permissions; run `kubectl honeytoken status` to find the binding and delete it.",
            report.username
        );
        return Ok(Outcome::Broken);
    }
    if let Some(wrong) = wrong_answers(&report).first() {
        return Err(Error::CheckFailed(format!("drill request {wrong}")));
    }
    let missing = missing_events(&report);
    if !missing.is_empty() {
        return Err(Error::CheckFailed(format!(
            "the {} did not record {} of the drill's {} requests within {}s: {}. The audit policy or backend misses the decoy; run kubectl honeytoken verify",
            report.audit_log.as_deref().unwrap_or(""),
            missing.len(),
            report.requests.len(),
            args.timeout,
            missing.join(", ")
        )));
    }
    Ok(Outcome::Success)
}

/// A client that authenticates with the decoy token only: the operator's TLS settings and
/// server, none of its credentials.
fn token_client(
    operator: &kube::Config,
    token: &SecretString,
    user_agent: &str,
) -> Result<kube::Client, Error> {
    let mut config = operator.clone();
    config.auth_info = kube::config::AuthInfo {
        token: Some(SecretString::from(token.expose_secret().to_string())),
        ..Default::default()
    };
    config
        .headers
        .retain(|(name, _)| name != http::header::USER_AGENT);
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_str(user_agent)
            .map_err(|e| Error::Invalid(format!("user agent: {e}")))?,
    ));
    kube::Client::try_from(config)
        .map_err(|e| Error::Invalid(format!("cannot build the drill client: {e}")))
}

async fn send(client: &kube::Client, request: &DrillRequest) -> Result<u16, kube::Error> {
    let builder = http::Request::builder()
        .method(request.method)
        .uri(&request.path)
        .header(http::header::ACCEPT, "application/json");
    let http_request = match &request.body {
        Some(body) => builder
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(kube::client::Body::from(body.clone().into_bytes())),
        None => builder.body(kube::client::Body::empty()),
    }
    .map_err(kube::Error::HttpError)?;
    let response = client.send(http_request).await?;
    Ok(response.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drill_is_read_only_and_avoids_endpoints_policies_drop() {
        let requests = drill_requests("kube-system");
        for request in &requests {
            assert!(
                request.method == "GET" || request.path.contains("selfsubject"),
                "{request:?} is not read-only"
            );
            for dropped in ["/version", "/healthz", "/livez", "/readyz"] {
                assert!(!request.path.starts_with(dropped), "{request:?}");
            }
        }
        let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
        assert!(paths.contains(&"/api/v1/namespaces/kube-system/secrets"));
        assert!(paths.contains(&"/api/v1/secrets"));
        assert!(paths.contains(&"/api") && paths.contains(&"/apis"));
    }

    #[test]
    fn secrets_requests_must_be_forbidden_and_the_rest_answered() {
        for request in drill_requests("ns") {
            let expect = if request.path.ends_with("/secrets") {
                Expect::Forbidden
            } else {
                Expect::Answered
            };
            assert_eq!(request.expect, expect, "{request:?}");
        }
    }

    #[test]
    fn the_rules_review_asks_about_the_decoy_namespace() {
        let review = drill_requests("ops")
            .into_iter()
            .find(|r| r.path.contains("selfsubjectrulesreviews"))
            .unwrap();
        let body: serde_json::Value =
            serde_json::from_str(review.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["spec"]["namespace"], "ops");
        assert_eq!(body["kind"], "SelfSubjectRulesReview");
    }

    #[test]
    fn judging_codes() {
        assert_eq!(judge(Expect::Forbidden, 403), Judgement::Ok);
        assert_eq!(judge(Expect::Forbidden, 200), Judgement::Danger);
        assert_eq!(judge(Expect::Forbidden, 401), Judgement::Rejected);
        assert_eq!(judge(Expect::Answered, 201), Judgement::Ok);
        assert_eq!(judge(Expect::Answered, 401), Judgement::Rejected);
        assert_eq!(judge(Expect::Answered, 403), Judgement::Unexpected);
        assert_eq!(judge(Expect::Forbidden, 500), Judgement::Unexpected);
    }

    #[test]
    fn the_user_agent_marks_the_drill_and_its_id() {
        let agent = drill_user_agent("abc123");
        assert!(agent.starts_with("kubectl-honeytoken-drill/"));
        assert!(agent.ends_with("(drill abc123)"));
    }

    #[test]
    fn drill_ids_are_fresh() {
        let a = new_drill_id();
        assert_eq!(a.len(), 10);
        assert_ne!(a, new_drill_id());
    }

    #[test]
    fn events_match_by_drill_user_verb_and_path() {
        let request = &drill_requests("kube-system")[4];
        let event = Event {
            verb: "list".into(),
            request_uri: "/api/v1/namespaces/kube-system/secrets?limit=500".into(),
            user_agent: drill_user_agent("d1"),
            user: crate::audit::User {
                username: "system:serviceaccount:kube-system:tiller".into(),
                groups: vec![],
            },
            ..Default::default()
        };
        let user = "system:serviceaccount:kube-system:tiller";
        assert!(matches_request(&event, request, user, "d1"));
        assert!(!matches_request(&event, request, user, "d2"));
        assert!(!matches_request(
            &event,
            request,
            "system:serviceaccount:kube-system:other",
            "d1"
        ));
        assert!(!matches_request(
            &event,
            &drill_requests("kube-system")[5],
            user,
            "d1"
        ));
    }
}
