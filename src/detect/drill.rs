//! A drill: with the decoy token and nothing else, send what an attacker with a stolen
//! token sends first, every request marked as a drill in its user agent, then (given a
//! sink) wait for each request's audit event. `test-trigger` and `verify --e2e` run it.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use k8s_openapi::api::core::v1::Secret;

use crate::audit::{Event, LogFollower};
use crate::cloud::{CliRunner, FetchError, LogQuery};
use crate::cluster::locate::Located;
use crate::cluster::{self, ClusterError, Rearmed};
use crate::decoy::tripwire::{LAST_USED_LABEL, Mark, TOKEN_CACHE_SECONDS};
use crate::decoy::{DecoySpec, Ownership, ownership, token_filled};
use crate::detect::webhook::Receiver;
use crate::home::{DrillRecord, DrillTripwire, Home, HomeError, drills_of};

/// Why a drill could not be run or watched.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error(
        "no decoy {namespace}/{account} of this key to drill; plant one first (kubectl honeytoken plant)"
    )]
    NotPlanted { namespace: String, account: String },
    #[error(
        "decoy {namespace}/{account} has no token to drill with (Secret {secret} missing or \
         unfilled); see kubectl honeytoken status"
    )]
    NoToken {
        namespace: String,
        account: String,
        secret: String,
    },
    /// Only the position of the first bad byte is kept: the bytes are the token's.
    #[error("the token in Secret {namespace}/{secret} is not text")]
    TokenNotText {
        namespace: String,
        secret: String,
        #[source]
        source: std::str::Utf8Error,
    },
    #[error("user agent: {0}")]
    UserAgent(#[source] http::header::InvalidHeaderValue),
    #[error("cannot build the drill client: {0}")]
    Client(#[source] kube::Error),
    #[error("cannot read the audit log {path}: {source}")]
    AuditLog {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    ProviderLogs(#[from] FetchError),
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Notice(#[from] crate::detect::notice::NoticeError),
}

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
    /// Whether its audit event is waited for: not for probes that common policies drop,
    /// which the tripwire catches instead.
    pub audit_event_expected: bool,
}

/// The requests of a drill, in the order an attacker sends them. Read-only: the two
/// reviews create nothing. First `GET /version`, the cheapest check that a token works:
/// common audit policies drop it, so no audit event is waited for, but it trips the
/// tripwire like any other use.
pub fn drill_requests(namespace: &str) -> Vec<DrillRequest> {
    vec![
        DrillRequest {
            name: "does the token work (/version)",
            method: "GET",
            path: "/version".into(),
            verb: "get",
            body: None,
            expect: Expect::Answered,
            audit_event_expected: false,
        },
        DrillRequest {
            name: "discovery /api",
            method: "GET",
            path: "/api".into(),
            verb: "get",
            body: None,
            expect: Expect::Answered,
            audit_event_expected: true,
        },
        DrillRequest {
            name: "discovery /apis",
            method: "GET",
            path: "/apis".into(),
            verb: "get",
            body: None,
            expect: Expect::Answered,
            audit_event_expected: true,
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
            audit_event_expected: true,
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
            audit_event_expected: true,
        },
        DrillRequest {
            name: "list secrets in the namespace",
            method: "GET",
            path: format!("/api/v1/namespaces/{namespace}/secrets"),
            verb: "list",
            body: None,
            expect: Expect::Forbidden,
            audit_event_expected: true,
        },
        DrillRequest {
            name: "list secrets cluster-wide",
            method: "GET",
            path: "/api/v1/secrets".into(),
            verb: "list",
            body: None,
            expect: Expect::Forbidden,
            audit_event_expected: true,
        },
    ]
}

/// The user agent of every drill request: says drill, and which one.
pub fn drill_user_agent(drill_id: &str) -> String {
    format!(
        "{}{} (drill {drill_id})",
        crate::decoy::tracking::DRILL_MARK,
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
    pub tripwire: TripwireReport,
    /// What the announced watcher (`--watcher`) made of the drill's stamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watcher: Option<WatcherCheck>,
    /// The drill notice sent to the watcher, if one was.
    #[serde(skip)]
    pub notice_id: Option<String>,
}

/// The watcher a drill was announced to, and what it said of the drill afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WatcherCheck {
    pub url: String,
    #[serde(rename = "noticeID")]
    pub notice_id: String,
    /// `seen` (with the alert's ID), `pending` (not seen yet when test-trigger gave up) or
    /// `expired`.
    #[serde(flatten)]
    pub status: crate::detect::notice::NoticeStatus,
}

/// What the drill saw of the tripwire and did with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TripwireReport {
    /// The stamp the Secret carried before the drill (after re-arming one an earlier
    /// drill of this decoy had left).
    pub label_before: Option<String>,
    /// The day the drill's first request stamped, if it did.
    pub stamped: Option<String>,
    /// From sending the first request until the stamp was seen.
    pub stamped_after_ms: Option<u64>,
    #[serde(flatten)]
    pub outcome: DrillTripwire,
}

impl TripwireReport {
    /// One sentence on what the drill saw of the tripwire and did with it.
    pub fn describe(&self) -> String {
        let tripwire = self;
        let fired = match (&tripwire.stamped, tripwire.stamped_after_ms) {
            (Some(day), Some(ms)) => {
                format!("fired (stamped {day}, seen {ms} ms after the first request)")
            }
            _ => String::new(),
        };
        match &tripwire.outcome {
            DrillTripwire::Rearmed { at } => {
                format!("{fired} and re-armed at {} UTC", at.strftime("%H:%M:%S"))
            }
            DrillTripwire::Left { reason } => {
                format!("{fired} but was NOT re-armed: {reason}")
            }
            DrillTripwire::AlreadyStamped { day } => format!(
                "already stamped {day} before this drill, by a use no drill of this decoy explains; left as it is"
            ),
            DrillTripwire::NotStamped => {
                "did NOT fire: the first request left no stamp within 3s".to_string()
            }
        }
    }
}

/// How long the stamp is looked for after the first request. The API server stamps
/// before it answers, so it is normally there at the first look.
const STAMP_WAIT: Duration = Duration::from_secs(3);

/// How long to wait before the drill so the API server's token cache has forgotten the
/// decoy's token since an earlier drill of it: until then a request is not stamped. None
/// when no wait is needed.
pub fn token_cache_wait(earlier: &[DrillRecord], now: jiff::Timestamp) -> Option<Duration> {
    let last = earlier
        .iter()
        .map(|d| d.rearmed_at().unwrap_or(d.started_at).max(d.started_at))
        .max()?;
    // One second of margin for the time between our clock and the API server's.
    let ready = last + jiff::SignedDuration::from_secs(TOKEN_CACHE_SECONDS as i64 + 1);
    let wait = now.duration_until(ready);
    (wait.is_positive()).then(|| Duration::from_millis(wait.as_millis() as u64))
}

/// What to do with a stamp found before the drill (with this decoy's drill lock held, so
/// no other drill of it runs): re-arm it when a drill of this decoy said it left it, else
/// leave it as the evidence of a use.
pub fn stamp_found_before(earlier: &[DrillRecord], secret_uid: &str, day: &str) -> StampBefore {
    let left_by_a_drill = |d: &DrillRecord| {
        !secret_uid.is_empty()
            && d.secret_uid == secret_uid
            && d.day() == day
            && matches!(d.tripwire, Some(DrillTripwire::Left { .. }))
    };
    if earlier.iter().any(left_by_a_drill) {
        StampBefore::OursToRearm
    } else {
        StampBefore::Evidence
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampBefore {
    OursToRearm,
    Evidence,
}

/// The outcome when the drill re-armed (or tried to) after its stamp.
fn rearm_outcome(result: Result<Rearmed, ClusterError>) -> DrillTripwire {
    match result {
        Ok(Rearmed::Done(_)) | Ok(Rearmed::NotStamped) => DrillTripwire::Rearmed {
            at: jiff::Timestamp::now(),
        },
        Ok(Rearmed::Changed) => DrillTripwire::Left {
            reason: "the Secret changed between reading and re-arming it, so the stamp was left"
                .into(),
        },
        Ok(Rearmed::Gone) => DrillTripwire::Left {
            reason: "the Secret is gone".into(),
        },
        Err(e) => DrillTripwire::Left {
            reason: e.to_string(),
        },
    }
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
        query: LogQuery,
        runner: CliRunner,
        last_poll: Option<Instant>,
    },
}

/// How often the provider's log service is asked again.
const PROVIDER_POLL_INTERVAL: Duration = Duration::from_secs(10);

impl Sink {
    /// Starts following a log file from its current end.
    pub fn file(path: &std::path::Path) -> Result<Sink, DrillError> {
        let follower = LogFollower::from_end(path).map_err(|source| DrillError::AuditLog {
            path: path.display().to_string(),
            source,
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

    fn read(&mut self) -> Result<Vec<Event>, DrillError> {
        match self {
            Sink::File { path, follower } => {
                follower.read_new().map_err(|source| DrillError::AuditLog {
                    path: path.clone(),
                    source,
                })
            }
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
                Ok(tokio::task::block_in_place(|| query.fetch(runner))?)
            }
        }
    }
}

/// The decoy's Secret with its token, or why there is nothing to drill with.
pub fn drillable(located: &Located) -> Result<Secret, DrillError> {
    let spec = &located.spec;
    let found = &located.found;
    if ownership(spec, found, located.record.as_ref()) != Ownership::Ours || found.account.is_none()
    {
        return Err(DrillError::NotPlanted {
            namespace: spec.namespace.clone(),
            account: spec.account.clone(),
        });
    }
    match &found.secret {
        Some(secret) if token_filled(secret) => Ok(secret.clone()),
        _ => Err(DrillError::NoToken {
            namespace: spec.namespace.clone(),
            account: spec.account.clone(),
            secret: spec.secret.clone(),
        }),
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
    watcher: Option<&crate::detect::notice::Watcher>,
) -> Result<DrillReport, DrillError> {
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
        .map_err(|e| DrillError::TokenNotText {
            namespace: spec.namespace.clone(),
            secret: spec.secret.clone(),
            source: e.utf8_error(),
        })?,
    );

    let client = &located.connection.client;
    let secret_uid = secret.metadata.uid.clone().unwrap_or_default();
    let _one_at_a_time = match home.try_drill_lock(&secret_uid)? {
        Some(lock) => lock,
        None => {
            let _spinner = crate::ui::progress::Spinner::start(
                "waiting for another drill of this decoy to finish",
            );
            tokio::task::block_in_place(|| home.drill_lock(&secret_uid))?
        }
    };
    let earlier = drills_of(&home.load()?, &secret_uid);

    // Decided from the Secret as it is now, with the lock held: a stamp there is one an
    // earlier drill left (removed first) or a use (left alone as evidence).
    let mut before = clear_left_stamp(client, spec, &earlier, &secret_uid).await?;
    if !before.stamped()
        && let Some(wait) = token_cache_wait(&earlier, jiff::Timestamp::now())
    {
        let _spinner = crate::ui::progress::Spinner::start(format!(
            "waiting {:.0}s for the API server to forget the token since the last drill",
            wait.as_secs_f64().ceil()
        ));
        tokio::time::sleep(wait).await;
        // A use while waiting is evidence too.
        before = current_mark(client, spec).await?;
    }
    let evidence = before.last_used.clone();
    // Told just before the drill's requests, so the notice's short window covers the
    // drill's stamp and little else; a notice refused stops the drill before it starts.
    let notice_id = match watcher {
        Some(watcher) => Some(watcher.announce_drill(&home.key()?, spec).await?),
        None => None,
    };

    let started_at = jiff::Timestamp::now();
    let drill_id = crate::decoy::tracking::signed_drill_id(
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
            secret_uid: secret_uid.clone(),
            started_at,
            tripwire: evidence
                .clone()
                .map(|day| DrillTripwire::AlreadyStamped { day }),
        })
    })?;

    let decoy_client = token_client(
        &located.connection.config,
        &token,
        &user_agent,
        located.connection.verbosity,
    )?;
    let mut outcomes = Vec::new();
    let mut sent_at = Vec::new();
    let mut stamp: Option<(Mark, Duration)> = None;
    for (index, request) in drill_requests(&spec.namespace).into_iter().enumerate() {
        sent_at.push(Instant::now());
        let (code, error) = match send(&decoy_client, &request).await {
            Ok(code) => (Some(code), None),
            Err(e) => (None, Some(crate::cluster::describe_kube_error(&e))),
        };
        outcomes.push(RequestOutcome {
            judgement: code.map_or(Judgement::Unexpected, |c| judge(request.expect, c)),
            request,
            code,
            error,
            audit_latency_seconds: None,
            audit_stage: None,
        });
        if index == 0 && evidence.is_none() {
            stamp = wait_for_stamp(client, &spec.namespace, &spec.secret, sent_at[0]).await?;
        }
    }

    // Re-armed as soon as the requests are done: while the stamp stays, another use is
    // not stamped. Only the drill's own stamp is removed, and only if unchanged since.
    let tripwire = match (&evidence, &stamp) {
        (Some(day), _) => DrillTripwire::AlreadyStamped { day: day.clone() },
        (None, None) => DrillTripwire::NotStamped,
        (None, Some((seen, _))) => {
            // Conditional on the version the stamp was seen in: if anything wrote the
            // Secret since (a watcher's re-arm, then another use), the stamp is not ours
            // to remove.
            match cluster::rearm(client, &spec.namespace, &spec.secret, seen).await {
                Ok(Rearmed::Changed) => {
                    match cluster::secret_mark(client, &spec.namespace, &spec.secret).await {
                        // A watcher (watch --tripwire) re-armed it already.
                        Ok(Some(now)) if !now.stamped() => DrillTripwire::Rearmed {
                            at: jiff::Timestamp::now(),
                        },
                        Ok(Some(_)) => DrillTripwire::Left {
                            reason: "the Secret changed after the drill's stamp (another use, or another writer), so the stamp was left".into(),
                        },
                        Ok(None) => DrillTripwire::Left {
                            reason: "the Secret is gone".into(),
                        },
                        Err(e) => DrillTripwire::Left {
                            reason: e.to_string(),
                        },
                    }
                }
                other => rearm_outcome(other),
            }
        }
    };
    home.update(|state| {
        if let Some(record) = state.drills.iter_mut().find(|d| d.id == drill_id) {
            record.tripwire = Some(tripwire.clone());
        }
    })?;
    let tripwire = TripwireReport {
        label_before: evidence,
        stamped: stamp.as_ref().and_then(|(m, _)| m.last_used.clone()),
        stamped_after_ms: stamp.as_ref().map(|(_, after)| after.as_millis() as u64),
        outcome: tripwire,
    };

    let username = spec.username();
    let mut all_arrived = None;
    if let Some(sink) = sink.as_deref_mut() {
        let _spinner = crate::ui::progress::Spinner::start(format!(
            "waiting for the drill's events in {}",
            sink.describe()
        ));
        let deadline = Instant::now() + timeout;
        loop {
            let events = sink.read()?;
            let now = Instant::now();
            for event in events {
                for (outcome, sent) in outcomes.iter_mut().zip(&sent_at) {
                    if outcome.request.audit_event_expected
                        && outcome.audit_latency_seconds.is_none()
                        && matches_request(&event, &outcome.request, &username, &drill_id)
                    {
                        outcome.audit_latency_seconds =
                            Some(now.duration_since(*sent).as_secs_f64());
                        outcome.audit_stage = Some(event.stage.clone());
                    }
                }
            }
            let arrived = outcomes
                .iter()
                .all(|o| !o.request.audit_event_expected || o.audit_latency_seconds.is_some());
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
        tripwire,
        notice_id,
        watcher: None,
    })
}

/// The Secret's tripwire as it is now; a Secret gone is a drill with no token.
async fn current_mark(client: &kube::Client, spec: &DecoySpec) -> Result<Mark, DrillError> {
    cluster::secret_mark(client, &spec.namespace, &spec.secret)
        .await?
        .ok_or_else(|| DrillError::NoToken {
            namespace: spec.namespace.clone(),
            account: spec.account.clone(),
            secret: spec.secret.clone(),
        })
}

/// The Secret's tripwire after removing a stamp an earlier drill left (a few tries, each
/// conditional on the version read); a stamp of any other origin is returned as it is.
async fn clear_left_stamp(
    client: &kube::Client,
    spec: &DecoySpec,
    earlier: &[DrillRecord],
    secret_uid: &str,
) -> Result<Mark, DrillError> {
    for _ in 0..3 {
        let mark = current_mark(client, spec).await?;
        let Some(day) = mark.last_used.as_deref() else {
            return Ok(mark);
        };
        if stamp_found_before(earlier, secret_uid, day) == StampBefore::Evidence {
            return Ok(mark);
        }
        if let Rearmed::Done(now) =
            cluster::rearm(client, &spec.namespace, &spec.secret, &mark).await?
        {
            return Ok(now);
        }
    }
    current_mark(client, spec).await
}

/// Looks for the stamp the first request made, from `sent` on, for up to [`STAMP_WAIT`].
async fn wait_for_stamp(
    client: &kube::Client,
    namespace: &str,
    secret: &str,
    sent: Instant,
) -> Result<Option<(Mark, Duration)>, DrillError> {
    loop {
        let mark = cluster::secret_mark(client, namespace, secret).await?;
        let seen_after = sent.elapsed();
        if let Some(mark) = mark.filter(Mark::stamped) {
            return Ok(Some((mark, seen_after)));
        }
        if seen_after >= STAMP_WAIT {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
    /// The label the first request stamps on the Secret, which the drill then removes
    /// again (re-arms) if it is still the drill's.
    pub tripwire_label: &'static str,
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
        tripwire_label: LAST_USED_LABEL,
    }
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
        .filter(|o| {
            report.audit_log.is_some()
                && o.request.audit_event_expected
                && o.audit_latency_seconds.is_none()
        })
        .map(|o| format!("{} {}", o.request.method, o.request.path))
        .collect()
}

/// server, none of its credentials.
fn token_client(
    operator: &kube::Config,
    token: &SecretString,
    user_agent: &str,
    verbosity: u8,
) -> Result<kube::Client, DrillError> {
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
        http::HeaderValue::from_str(user_agent).map_err(DrillError::UserAgent)?,
    ));
    // Logged at -v as the operator's requests are (method, URL, status; never a header).
    crate::cluster::connect::client(&config, verbosity).map_err(DrillError::Client)
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
    fn the_drill_is_read_only_and_waits_for_no_event_of_endpoints_policies_drop() {
        let requests = drill_requests("kube-system");
        for request in &requests {
            assert!(
                request.method == "GET" || request.path.contains("selfsubject"),
                "{request:?} is not read-only"
            );
            let dropped = ["/version", "/healthz", "/livez", "/readyz"]
                .iter()
                .any(|d| request.path.starts_with(d));
            assert_eq!(request.audit_event_expected, !dropped, "{request:?}");
        }
        assert_eq!(
            requests[0].path, "/version",
            "the cheapest probe comes first"
        );
        let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
        assert!(paths.contains(&"/api/v1/namespaces/kube-system/secrets"));
        assert!(paths.contains(&"/api/v1/secrets"));
        assert!(paths.contains(&"/api") && paths.contains(&"/apis"));
    }

    fn record(uid: &str, at: &str, tripwire: Option<DrillTripwire>) -> DrillRecord {
        DrillRecord {
            id: "d".into(),
            namespace: "kube-system".into(),
            secret: "tiller-token-bcdfg".into(),
            secret_uid: uid.into(),
            started_at: at.parse().unwrap(),
            tripwire,
        }
    }

    #[test]
    fn a_drill_soon_after_another_waits_out_the_token_cache() {
        let now: jiff::Timestamp = "2026-12-03T10:00:05Z".parse().unwrap();
        assert_eq!(token_cache_wait(&[], now), None);
        let started = record("s", "2026-12-03T10:00:00Z", None);
        // Started 5 s ago: 10 s of cache and 1 s of margin leave 6 s.
        assert_eq!(
            token_cache_wait(std::slice::from_ref(&started), now),
            Some(Duration::from_secs(6))
        );
        // Re-armed later than it started: counted from the re-arm.
        let rearmed = record(
            "s",
            "2026-12-03T09:59:58Z",
            Some(DrillTripwire::Rearmed {
                at: "2026-12-03T10:00:02Z".parse().unwrap(),
            }),
        );
        assert_eq!(
            token_cache_wait(&[rearmed, started.clone()], now),
            Some(Duration::from_secs(8))
        );
        let later: jiff::Timestamp = "2026-12-03T10:00:11Z".parse().unwrap();
        assert_eq!(token_cache_wait(&[started], later), None);
    }

    #[test]
    fn a_stamp_before_the_drill_is_re_armed_only_if_a_drill_of_this_secret_left_it() {
        let left = record(
            "s1",
            "2026-12-03T10:00:00Z",
            Some(DrillTripwire::Left {
                reason: "conflict".into(),
            }),
        );
        assert_eq!(
            stamp_found_before(std::slice::from_ref(&left), "s1", "2026-12-03"),
            StampBefore::OursToRearm
        );
        assert_eq!(
            stamp_found_before(std::slice::from_ref(&left), "s1", "2026-12-02"),
            StampBefore::Evidence
        );
        let rearmed = record(
            "s1",
            "2026-12-03T10:00:00Z",
            Some(DrillTripwire::Rearmed {
                at: "2026-12-03T10:00:01Z".parse().unwrap(),
            }),
        );
        assert_eq!(
            stamp_found_before(&[rearmed], "s1", "2026-12-03"),
            StampBefore::Evidence
        );
        assert_eq!(
            stamp_found_before(&[], "s1", "2026-12-03"),
            StampBefore::Evidence
        );
    }

    #[test]
    fn a_failed_re_arm_leaves_the_stamp_and_says_why() {
        assert!(matches!(
            rearm_outcome(Ok(Rearmed::Changed)),
            DrillTripwire::Left { reason } if reason.contains("changed")
        ));
        assert!(matches!(
            rearm_outcome(Ok(Rearmed::Gone)),
            DrillTripwire::Left { reason } if reason.contains("gone")
        ));
        assert!(matches!(
            rearm_outcome(Ok(Rearmed::Done(Mark::default()))),
            DrillTripwire::Rearmed { .. }
        ));
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
        let request = &drill_requests("kube-system")[5];
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
            &drill_requests("kube-system")[6],
            user,
            "d1"
        ));
    }
}
