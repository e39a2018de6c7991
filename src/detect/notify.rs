//! Where alerts go besides stdout: a generic webhook (Slack-compatible through the alert's
//! `text` field), Alertmanager's v2 API, Falcosidekick (as Falco's `http_output` posts),
//! and a command that reads the alert on stdin.
//!
//! Detection never waits for a sink: each HTTP sink has a bounded queue and a task of its
//! own that posts (a few at a time; to Alertmanager in batches, which its API takes), with
//! a timeout per attempt and a few attempts with back-off; an alert that finds the queue
//! full is not queued, and is counted. Commands run a few at a time, in a process group of
//! their own, without the plugin's credentials in their environment; at stop they are
//! waited for a while, then ended with everything they started. Credentials are read from
//! their files at each delivery (a rotated token is picked up) and never shown.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::detect::alert::Alert;
use crate::detect::alertmanager::{self, ExtraLabel};
use crate::detect::falco;
use crate::ui::terminal::printable;

/// The sinks, as reports and metrics name them.
pub const WEBHOOK: &str = "webhook";
pub const ALERTMANAGER: &str = "alertmanager";
pub const FALCOSIDEKICK: &str = "falcosidekick";
pub const EXEC: &str = "exec";
pub const STDOUT: &str = "stdout";

const POST_TIMEOUT: Duration = Duration::from_secs(10);
const POST_ATTEMPTS: u32 = 3;
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Alerts waiting for one HTTP sink; an alert beyond them is not queued, and is counted.
pub const QUEUED_AT_MOST: usize = 1024;
/// Posts under way at once to one webhook or Falcosidekick (one event per post).
const POSTS_AT_ONCE: usize = 4;
/// Alerts in one post to Alertmanager.
const BATCH_AT_MOST: usize = 64;
/// The most of a refusal's body shown.
const ANSWER_SHOWN: usize = 200;
/// `--exec` commands running at once, and alerts waiting for one to finish; alerts beyond
/// those are not given to the command, and are counted.
pub const COMMANDS_AT_ONCE: usize = 4;
pub const COMMANDS_WAITING: usize = 16;

/// Environment variables a command does not get: the kubeconfig and the plugin's own
/// settings, the key among them (`HONEYTOKEN_KEY`).
fn withheld(name: &std::ffi::OsStr) -> bool {
    name == "KUBECONFIG" || name.to_string_lossy().starts_with("HONEYTOKEN_")
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Where alerts go, as the command line says.
#[derive(Debug, Default)]
pub struct Sinks<'a> {
    pub webhook_url: Option<&'a str>,
    /// Every replica of an Alertmanager HA set gets every alert, as Prometheus sends them.
    pub alertmanager_urls: &'a [String],
    pub alertmanager_credential: Option<Credential>,
    pub falcosidekick_url: Option<&'a str>,
    pub command: Option<&'a str>,
    pub tls: TlsFiles,
    pub labels: Vec<ExtraLabel>,
}

/// TLS for the HTTPS sinks: a CA to trust besides the system's, and a client certificate
/// for sinks that ask for one.
#[derive(Debug, Default, Clone)]
pub struct TlsFiles {
    pub ca: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// A credential file.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A bearer token, the file's first line.
    Bearer(PathBuf),
    /// Basic auth, `USER:PASSWORD` on the file's first line.
    Basic(PathBuf),
}

impl Credential {
    fn path(&self) -> &Path {
        match self {
            Credential::Bearer(path) | Credential::Basic(path) => path,
        }
    }

    fn flag(&self) -> &'static str {
        match self {
            Credential::Bearer(_) => "--alertmanager-token-file",
            Credential::Basic(_) => "--alertmanager-basic-auth-file",
        }
    }

    /// The `Authorization` header, and the secret in it (to keep out of what is shown).
    fn header(&self) -> Result<(http::HeaderValue, String), SinkError> {
        let unreadable = |source| SinkError::Credential {
            flag: self.flag(),
            path: self.path().to_path_buf(),
            source,
        };
        let text = std::fs::read_to_string(self.path()).map_err(unreadable)?;
        let line = text.lines().next().unwrap_or_default().trim();
        let malformed = |why: &'static str| SinkError::CredentialFormat {
            flag: self.flag(),
            path: self.path().to_path_buf(),
            why,
        };
        let (value, secret) = match self {
            Credential::Bearer(_) if line.is_empty() => return Err(malformed("it is empty")),
            Credential::Bearer(_) => (format!("Bearer {line}"), line.to_string()),
            Credential::Basic(_) => match line.split_once(':') {
                Some((user, password)) if !user.is_empty() => (
                    format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(line)
                    ),
                    password.to_string(),
                ),
                _ => return Err(malformed("its first line is not USER:PASSWORD")),
            },
        };
        let mut value = http::HeaderValue::from_str(&value)
            .map_err(|_| malformed("it holds characters a header cannot"))?;
        value.set_sensitive(true);
        Ok((value, secret))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Webhook,
    Alertmanager,
    Falcosidekick,
}

impl Kind {
    fn sink(self) -> &'static str {
        match self {
            Kind::Webhook => WEBHOOK,
            Kind::Alertmanager => ALERTMANAGER,
            Kind::Falcosidekick => FALCOSIDEKICK,
        }
    }

    fn flag(self) -> &'static str {
        match self {
            Kind::Webhook => "--webhook-url",
            Kind::Alertmanager => "--alertmanager-url",
            Kind::Falcosidekick => "--falcosidekick-url",
        }
    }
}

/// The end of one delivery: to which sink, how many alerts, and whether it took them.
#[derive(Debug)]
pub struct Report {
    pub sink: &'static str,
    pub alerts: u64,
    pub outcome: Result<(), String>,
}

/// An alert a sink was not given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub sink: &'static str,
    pub why: String,
}

/// An HTTP sink as the watcher feeds it.
struct Queue {
    kind: Kind,
    shown: String,
    sender: mpsc::Sender<Alert>,
    /// Alerts queued or being posted.
    under_way: Arc<AtomicUsize>,
}

/// What posts to one HTTP sink.
struct Poster {
    kind: Kind,
    url: http::Uri,
    shown: String,
    client: HttpsClient,
    credential: Option<Credential>,
    labels: Arc<[ExtraLabel]>,
    hostname: Arc<str>,
}

pub struct Notifier {
    queues: Vec<Queue>,
    command: Option<Commands>,
    runs: JoinSet<()>,
    workers: JoinSet<()>,
    report_sender: mpsc::UnboundedSender<Report>,
    reports: mpsc::UnboundedReceiver<Report>,
}

/// The `--exec` command's runs: how many are under way (running or waiting), the room to
/// run, and the process groups of those running.
struct Commands {
    line: Arc<str>,
    under_way: Arc<AtomicUsize>,
    room: Arc<tokio::sync::Semaphore>,
    groups: Arc<Mutex<HashSet<i32>>>,
}

/// Counts one run as under way until dropped.
struct UnderWay(Arc<AtomicUsize>);

impl Drop for UnderWay {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running command's process group, ended with everything in it when dropped before the
/// command finished (timed out, or still running at stop).
struct Group {
    pid: i32,
    groups: Arc<Mutex<HashSet<i32>>>,
    finished: bool,
}

impl Drop for Group {
    fn drop(&mut self) {
        self.groups.lock().expect("not poisoned").remove(&self.pid);
        if !self.finished {
            kill_group(self.pid);
        }
    }
}

fn kill_group(pid: i32) {
    // SAFETY: signalling a process group this process created (its leader is our child).
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}

impl Notifier {
    /// Checks every sink's settings (URLs, files) and starts the HTTP sinks' tasks; needs a
    /// Tokio runtime when there is an HTTP sink.
    pub fn new(sinks: Sinks<'_>) -> Result<Notifier, SinkError> {
        let mut wanted: Vec<(Kind, http::Uri)> = Vec::new();
        if let Some(url) = sinks.webhook_url {
            wanted.push((Kind::Webhook, parse_url(Kind::Webhook, url)?));
        }
        for url in sinks.alertmanager_urls {
            let base = parse_url(Kind::Alertmanager, url)?;
            wanted.push((Kind::Alertmanager, alertmanager::alerts_url(&base)));
        }
        if let Some(url) = sinks.falcosidekick_url {
            wanted.push((Kind::Falcosidekick, parse_url(Kind::Falcosidekick, url)?));
        }
        if let Some(credential) = &sinks.alertmanager_credential {
            credential.header()?;
            if let Some((_, url)) = wanted
                .iter()
                .find(|(kind, url)| *kind == Kind::Alertmanager && !protected(url))
            {
                return Err(SinkError::CredentialInTheClear {
                    flag: credential.flag(),
                    url: shown_url(url, true),
                });
            }
        }
        let (report_sender, reports) = mpsc::unbounded_channel();
        let mut notifier = Notifier {
            queues: Vec::new(),
            command: sinks.command.map(|line| Commands {
                line: Arc::from(line),
                under_way: Arc::new(AtomicUsize::new(0)),
                room: Arc::new(tokio::sync::Semaphore::new(COMMANDS_AT_ONCE)),
                groups: Arc::default(),
            }),
            runs: JoinSet::new(),
            workers: JoinSet::new(),
            report_sender: report_sender.clone(),
            reports,
        };
        if wanted.is_empty() {
            return Ok(notifier);
        }
        let any_https = wanted
            .iter()
            .any(|(_, url)| url.scheme_str() == Some("https"));
        let client = https_client(&sinks.tls, any_https)?;
        let labels: Arc<[ExtraLabel]> = sinks.labels.into();
        let hostname: Arc<str> = hostname().into();
        for (kind, url) in wanted {
            let shown = shown_url(&url, kind != Kind::Webhook);
            let (sender, queue) = mpsc::channel(QUEUED_AT_MOST);
            let under_way = Arc::new(AtomicUsize::new(0));
            let poster = Arc::new(Poster {
                kind,
                url,
                shown: shown.clone(),
                client: client.clone(),
                credential: match kind {
                    Kind::Alertmanager => sinks.alertmanager_credential.clone(),
                    _ => None,
                },
                labels: labels.clone(),
                hostname: hostname.clone(),
            });
            notifier.workers.spawn(work(
                poster,
                queue,
                report_sender.clone(),
                under_way.clone(),
            ));
            notifier.queues.push(Queue {
                kind,
                shown,
                sender,
                under_way,
            });
        }
        Ok(notifier)
    }

    /// Whether alerts go to an --exec command.
    pub fn has_command(&self) -> bool {
        self.command.is_some()
    }

    /// Whether alerts go anywhere besides stdout.
    pub fn has_sinks(&self) -> bool {
        !self.queues.is_empty() || self.command.is_some()
    }

    /// The sinks besides stdout, by name, as metrics label them.
    pub fn sink_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.queues.iter().map(|q| q.kind.sink()).collect();
        if self.command.is_some() {
            names.push(EXEC);
        }
        names.dedup();
        names
    }

    /// The sinks for people: `POST <url> (Alertmanager)`, ...
    pub fn describe(&self) -> Vec<String> {
        let mut shown: Vec<String> = self
            .queues
            .iter()
            .map(|q| match q.kind {
                Kind::Webhook => format!("POST {}", q.shown),
                Kind::Alertmanager => format!("Alertmanager {}", q.shown),
                Kind::Falcosidekick => format!("Falcosidekick {}", q.shown),
            })
            .collect();
        if let Some(commands) = &self.command {
            shown.push(format!("`{}`", commands.line));
        }
        shown
    }

    /// Starts delivering one alert; the sinks it could not be given to.
    pub fn send(&mut self, alert: &Alert) -> Vec<Dropped> {
        let mut dropped = Vec::new();
        for queue in &self.queues {
            queue.under_way.fetch_add(1, Ordering::SeqCst);
            if let Err(refused) = queue.sender.try_send(alert.clone()) {
                queue.under_way.fetch_sub(1, Ordering::SeqCst);
                let why = match refused {
                    mpsc::error::TrySendError::Full(_) => {
                        format!("{QUEUED_AT_MOST} alerts already wait for {}", queue.shown)
                    }
                    mpsc::error::TrySendError::Closed(_) => {
                        format!("delivery to {} has stopped", queue.shown)
                    }
                };
                dropped.push(Dropped {
                    sink: queue.kind.sink(),
                    why,
                });
            }
        }
        let Some(commands) = &self.command else {
            return dropped;
        };
        if commands.under_way.load(Ordering::SeqCst) >= COMMANDS_AT_ONCE + COMMANDS_WAITING {
            dropped.push(Dropped {
                sink: EXEC,
                why: format!(
                    "{COMMANDS_AT_ONCE} commands running and {COMMANDS_WAITING} alerts waiting for them"
                ),
            });
            return dropped;
        }
        commands.under_way.fetch_add(1, Ordering::SeqCst);
        let under_way = UnderWay(commands.under_way.clone());
        // Escaped like stdout's alert line: the command may write it where people read.
        let input = format!(
            "{}\n",
            crate::ui::output::json(alert, false).unwrap_or_default()
        );
        let (line, room, groups, reports) = (
            commands.line.clone(),
            commands.room.clone(),
            commands.groups.clone(),
            self.report_sender.clone(),
        );
        self.runs.spawn(async move {
            let outcome = match room.acquire_owned().await {
                Ok(_permit) => run_command(&line, input, groups).await,
                Err(e) => Err(e.to_string()),
            };
            drop(under_way);
            let _ = reports.send(Report {
                sink: EXEC,
                alerts: 1,
                outcome,
            });
        });
        dropped
    }

    /// The next delivery to end; pending while none is under way.
    pub async fn next_report(&mut self) -> Option<Report> {
        self.reports.recv().await
    }

    /// Deliveries that have ended since last asked.
    pub fn finished(&mut self) -> Vec<Report> {
        let mut reports = Vec::new();
        // Finished runs are joined only to free them; they sent their reports.
        while let Some(done) = self.runs.try_join_next() {
            reports.extend(report_of_panic(done));
        }
        while let Ok(report) = self.reports.try_recv() {
            reports.push(report);
        }
        reports
    }

    /// Waits for deliveries still under way, at most `limit`; then ends the commands still
    /// running, with everything they started, and gives up the rest.
    pub async fn finish(&mut self, limit: Duration) -> Vec<Report> {
        let queues = std::mem::take(&mut self.queues);
        let under_way: Vec<(&'static str, Arc<AtomicUsize>)> = queues
            .iter()
            .map(|q| (q.kind.sink(), q.under_way.clone()))
            .collect();
        // Closing the queues: each sink's task ends once it has posted what they hold.
        drop(queues);
        let mut reports = Vec::new();
        let wait = async {
            while let Some(done) = self.runs.join_next().await {
                reports.extend(report_of_panic(done));
            }
            while self.workers.join_next().await.is_some() {}
        };
        let ended = tokio::time::timeout(limit, wait).await.is_ok();
        while let Ok(report) = self.reports.try_recv() {
            reports.push(report);
        }
        if ended {
            return reports;
        }
        let mut abandoned: Vec<(&'static str, usize, String)> = under_way
            .iter()
            .map(|(sink, n)| (*sink, n.load(Ordering::SeqCst), String::new()))
            .collect();
        if let Some(commands) = &self.command {
            let running = commands.groups.lock().expect("not poisoned").len();
            abandoned.push((
                EXEC,
                commands.under_way.load(Ordering::SeqCst),
                format!(" ({running} --exec commands among them ended)"),
            ));
            // No waiting alert may start its command now: closing the room first, since
            // a command ended below frees a place that a waiting task could take before
            // its own abort lands.
            commands.room.close();
        }
        // Dropping a task's future ends its command's process group.
        self.runs.shutdown().await;
        self.workers.shutdown().await;
        for (sink, count, more) in abandoned.into_iter().filter(|(_, n, _)| *n > 0) {
            reports.push(Report {
                sink,
                alerts: count as u64,
                outcome: Err(format!(
                    "{count} alert deliveries to {sink} still under way after {}s were abandoned{more}",
                    limit.as_secs()
                )),
            });
        }
        reports
    }
}

/// A command's run that ended without sending its report.
fn report_of_panic(done: Result<(), tokio::task::JoinError>) -> Option<Report> {
    let error = done.err()?;
    if error.is_cancelled() {
        return None;
    }
    Some(Report {
        sink: EXEC,
        alerts: 1,
        outcome: Err(format!("alert delivery failed: {error}")),
    })
}

/// Feeds one HTTP sink from its queue until the queue is closed and empty.
async fn work(
    poster: Arc<Poster>,
    mut queue: mpsc::Receiver<Alert>,
    reports: mpsc::UnboundedSender<Report>,
    under_way: Arc<AtomicUsize>,
) {
    let done = |report: Report| {
        under_way.fetch_sub(report.alerts as usize, Ordering::SeqCst);
        // The receiver gone means the watcher is past caring.
        let _ = reports.send(report);
    };
    if poster.kind == Kind::Alertmanager {
        // Its API takes a list: what has queued up goes in one post.
        while let Some(first) = queue.recv().await {
            let mut batch = vec![first];
            while batch.len() < BATCH_AT_MOST {
                match queue.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            done(poster.deliver(batch).await);
        }
        return;
    }
    futures::stream::poll_fn(|cx| queue.poll_recv(cx))
        .map(|alert| {
            let poster = poster.clone();
            async move { poster.deliver(vec![alert]).await }
        })
        .buffer_unordered(POSTS_AT_ONCE)
        .for_each(|report| {
            done(report);
            std::future::ready(())
        })
        .await;
}

impl Poster {
    /// The body of one post: the alert as JSON (the webhook), as Falco's event
    /// (Falcosidekick), or the list of postable alerts (Alertmanager).
    fn body(&self, alerts: &[Alert]) -> String {
        let now = jiff::Timestamp::now();
        let json = match self.kind {
            Kind::Webhook => return webhook_body(&alerts[0]),
            Kind::Falcosidekick => serde_json::to_string(&falco::payload(
                &alerts[0],
                &self.hostname,
                &self.labels,
                now,
            )),
            Kind::Alertmanager => serde_json::to_string(
                &alerts
                    .iter()
                    .map(|a| alertmanager::postable(a, &self.labels, now, alertmanager::HOLD))
                    .collect::<Vec<_>>(),
            ),
        };
        json.unwrap_or_default()
    }

    async fn deliver(&self, alerts: Vec<Alert>) -> Report {
        let outcome = self.post(&alerts).await;
        Report {
            sink: self.kind.sink(),
            alerts: alerts.len() as u64,
            outcome,
        }
    }

    /// Posts, trying again after a failure that may pass (no answer, 5xx, 408, 429) one
    /// second, then two, later.
    async fn post(&self, alerts: &[Alert]) -> Result<(), String> {
        let what = match alerts.len() {
            1 => "an alert".to_string(),
            n => format!("{n} alerts"),
        };
        let failed = |attempts: u32, why: String| {
            let attempts = match attempts {
                1 => String::new(),
                n => format!(" in {n} attempts"),
            };
            format!("could not post {what} to {}{attempts}: {why}", self.shown)
        };
        let credential = match &self.credential {
            None => None,
            Some(credential) => Some(
                credential
                    .header()
                    .map_err(|e| failed(1, crate::ui::causes::chain(&e)))?,
            ),
        };
        let body = Bytes::from(self.body(alerts));
        let mut last_error = String::new();
        let mut attempts = 0;
        while attempts < POST_ATTEMPTS {
            if attempts > 0 {
                tokio::time::sleep(Duration::from_secs(u64::from(attempts))).await;
            }
            attempts += 1;
            let mut request = hyper::Request::post(self.url.clone())
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .header(
                    hyper::header::USER_AGENT,
                    concat!("kubectl-honeytoken/", env!("CARGO_PKG_VERSION")),
                );
            if let Some((value, _)) = &credential {
                request = request.header(hyper::header::AUTHORIZATION, value.clone());
            }
            let request = request
                .body(Full::new(body.clone()))
                .map_err(|e| failed(attempts, e.to_string()))?;
            match tokio::time::timeout(POST_TIMEOUT, self.client.request(request)).await {
                Ok(Ok(response)) if response.status().is_success() => return Ok(()),
                Ok(Ok(response)) => {
                    let status = response.status();
                    let secret = credential.as_ref().map(|(_, s)| s.as_str());
                    let said = answer(response, secret).await;
                    last_error = format!("answered {status}{said}");
                    if !worth_retrying(status) {
                        break;
                    }
                }
                Ok(Err(e)) => last_error = crate::ui::causes::chain(&e),
                Err(_) => last_error = format!("no answer within {}s", POST_TIMEOUT.as_secs()),
            }
        }
        Err(failed(attempts, last_error))
    }
}

/// Whether a refusal may pass: the sink is busy or broken for now. Other refusals (a bad
/// credential, a payload refused) answer the same again.
fn worth_retrying(status: http::StatusCode) -> bool {
    status.is_server_error()
        || status == http::StatusCode::TOO_MANY_REQUESTS
        || status == http::StatusCode::REQUEST_TIMEOUT
}

/// The start of a refusal's body, on one line, as it may be shown (`: ...`, or nothing):
/// the secret sent never appears in it, even if the sink echoed it.
async fn answer(response: hyper::Response<hyper::body::Incoming>, secret: Option<&str>) -> String {
    let read = Limited::new(response.into_body(), 4096).collect();
    let Ok(Ok(body)) = tokio::time::timeout(Duration::from_secs(2), read).await else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&body.to_bytes()).into_owned();
    shown_answer(&text, secret)
}

fn shown_answer(text: &str, secret: Option<&str>) -> String {
    let mut text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(secret) = secret.filter(|s| !s.is_empty()) {
        text = text.replace(secret, "<redacted>");
    }
    if text.is_empty() {
        return String::new();
    }
    let mut shown: String = text.chars().take(ANSWER_SHOWN).collect();
    if shown.len() < text.len() {
        shown.push_str("...");
    }
    format!(": {}", printable(&shown))
}

/// The alert as JSON, its `text` escaped the way Slack's message format asks (`&`, `<`,
/// `>`), so a user agent an attacker chose cannot mention `<!channel>` or forge a link.
fn webhook_body(alert: &Alert) -> String {
    let escaped = Alert {
        text: alert.chat_text(),
        ..alert.clone()
    };
    crate::ui::output::json(&escaped, false).unwrap_or_default()
}

/// A sink's URL as it may be shown: scheme, host and port, never the user info; the path
/// only with `with_path` (a webhook's path often holds its credential, as Slack's does).
pub fn shown_url(url: &http::Uri, with_path: bool) -> String {
    let scheme = url.scheme_str().unwrap_or("https");
    let host = url.host().unwrap_or_default();
    let port = url.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
    match url.path() {
        "" | "/" => format!("{scheme}://{host}{port}/"),
        path if with_path => format!("{scheme}://{host}{port}{path}"),
        _ => format!("{scheme}://{host}{port}/..."),
    }
}

/// Whether a credential sent to this URL is safe from the network: TLS, or loopback.
fn protected(url: &http::Uri) -> bool {
    if url.scheme_str() == Some("https") {
        return true;
    }
    let host = url.host().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Why the alert sinks cannot be set up. A URL is shown as [`shown_url`] shows it, a
/// credential never.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{flag}: not a URL: {source}")]
    NotAUrl {
        flag: &'static str,
        #[source]
        source: http::uri::InvalidUri,
    },
    #[error("{flag}: give an http:// or https:// URL")]
    NotHttp { flag: &'static str },
    #[error(
        "{flag}: a user or password in the URL would show in the process list; give the credential with --alertmanager-basic-auth-file or --alertmanager-token-file"
    )]
    UserInfo { flag: &'static str },
    #[error(
        "{flag}: the credential would cross the network in the clear to {url}; use https:// (with --sink-ca for a private CA)"
    )]
    CredentialInTheClear { flag: &'static str, url: String },
    #[error("{flag}: cannot read {}: {source}", path.display())]
    Credential {
        flag: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{flag}: {}: {why}", path.display())]
    CredentialFormat {
        flag: &'static str,
        path: PathBuf,
        why: &'static str,
    },
    #[error(
        "no trusted CA certificates for https:// alert sinks (none in the system; give one with --sink-ca)"
    )]
    NoTrustedCas,
    #[error("{flag}: cannot read certificates from {}: {source}", path.display())]
    Pem {
        flag: &'static str,
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("{flag}: {} holds no certificate", path.display())]
    NoCertificate { flag: &'static str, path: PathBuf },
    #[error("--sink-client-cert and --sink-client-key do not make a client certificate: {0}")]
    ClientCertificate(#[source] rustls::Error),
    #[error("--sink-ca: {0}")]
    Ca(#[source] rustls::Error),
}

fn parse_url(kind: Kind, url: &str) -> Result<http::Uri, SinkError> {
    let flag = kind.flag();
    let uri: http::Uri = url
        .parse()
        .map_err(|source| SinkError::NotAUrl { flag, source })?;
    match uri.scheme_str() {
        Some("https") | Some("http") if uri.host().is_some() => {}
        _ => return Err(SinkError::NotHttp { flag }),
    }
    if kind != Kind::Webhook && uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(SinkError::UserInfo { flag });
    }
    Ok(uri)
}

fn certificates(
    flag: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, SinkError> {
    let pem = |source| SinkError::Pem {
        flag,
        path: path.to_path_buf(),
        source,
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(pem)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem)?;
    if certificates.is_empty() {
        return Err(SinkError::NoCertificate {
            flag,
            path: path.to_path_buf(),
        });
    }
    Ok(certificates)
}

fn https_client(tls: &TlsFiles, any_https: bool) -> Result<HttpsClient, SinkError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(ca) = &tls.ca {
        for certificate in certificates("--sink-ca", ca)? {
            roots.add(certificate).map_err(SinkError::Ca)?;
        }
    }
    if roots.is_empty() && any_https {
        return Err(SinkError::NoTrustedCas);
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(SinkError::Ca)?
        .with_root_certificates(roots);
    let config = match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            let chain = certificates("--sink-client-cert", cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|source| SinkError::Pem {
                flag: "--sink-client-key",
                path: key.to_path_buf(),
                source,
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(SinkError::ClientCertificate)?
        }
        _ => builder.with_no_client_auth(),
    };
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// This machine's name, as Falco names the host an event comes from.
fn hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that much.
    let written = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if written != 0 {
        return String::new();
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

async fn run_command(
    command: &str,
    input: String,
    groups: Arc<Mutex<HashSet<i32>>>,
) -> Result<(), String> {
    let mut shell = tokio::process::Command::new("sh");
    shell
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for (name, _) in std::env::vars_os().filter(|(name, _)| withheld(name)) {
        shell.env_remove(name);
    }
    let mut child = shell
        .spawn()
        .map_err(|e| format!("cannot run --exec {command:?}: {e}"))?;
    let mut group = child.id().map(|pid| {
        let pid = pid as i32;
        groups.lock().expect("not poisoned").insert(pid);
        Group {
            pid,
            groups: groups.clone(),
            finished: false,
        }
    });
    let mut stdin = child.stdin.take();
    let deliver_and_wait = async {
        if let Some(stdin) = &mut stdin {
            // A command that does not read its input is not an error (the watcher ignores
            // SIGPIPE, so this write just fails).
            let _ = stdin.write_all(input.as_bytes()).await;
        }
        drop(stdin.take());
        child.wait().await
    };
    let outcome = tokio::time::timeout(COMMAND_TIMEOUT, deliver_and_wait).await;
    if let (Some(group), Ok(_)) = (&mut group, &outcome) {
        // What it left running in the background is its own business.
        group.finished = true;
    }
    drop(group);
    match outcome {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("--exec {command:?} {status}")),
        Ok(Err(e)) => Err(format!("--exec {command:?}: {e}")),
        Err(_) => Err(format!(
            "--exec {command:?} still running after {}s, killed",
            COMMAND_TIMEOUT.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(line: &str) -> Notifier {
        Notifier::new(Sinks {
            command: Some(line),
            ..Sinks::default()
        })
        .unwrap()
    }

    fn failures(reports: Vec<Report>) -> Vec<String> {
        reports
            .into_iter()
            .filter_map(|r| r.outcome.err())
            .collect()
    }

    fn parse_webhook_url(url: &str) -> Result<http::Uri, SinkError> {
        parse_url(Kind::Webhook, url)
    }

    #[test]
    fn webhook_urls_must_be_http_or_https() {
        assert!(parse_webhook_url("https://hooks.slack.com/services/T/B/X").is_ok());
        assert!(parse_webhook_url("http://127.0.0.1:8080/alert").is_ok());
        assert!(parse_webhook_url("ftp://example.com/").is_err());
        assert!(parse_webhook_url("hooks.slack.com/services").is_err());
        assert!(parse_webhook_url("not a url").is_err());
    }

    #[tokio::test]
    async fn alertmanager_and_falcosidekick_urls_carry_no_credential_and_name_their_flag() {
        let am = ["https://admin:s3cret@am.example:9093".to_string()];
        let error = Notifier::new(Sinks {
            alertmanager_urls: &am,
            ..Sinks::default()
        })
        .err()
        .unwrap()
        .to_string();
        assert!(
            error.starts_with("--alertmanager-url: a user or password"),
            "{error}"
        );
        assert!(!error.contains("s3cret"), "{error}");
        let error = Notifier::new(Sinks {
            falcosidekick_url: Some("falcosidekick:2801"),
            ..Sinks::default()
        })
        .err()
        .unwrap()
        .to_string();
        assert_eq!(
            error,
            "--falcosidekick-url: give an http:// or https:// URL"
        );
    }

    #[tokio::test]
    async fn a_credential_goes_over_tls_or_loopback_only_and_its_file_is_checked_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "tok-3n\n").unwrap();
        let with = |url: &str, credential: Credential| {
            let urls = [url.to_string()];
            Notifier::new(Sinks {
                alertmanager_urls: &urls,
                alertmanager_credential: Some(credential),
                ..Sinks::default()
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        let bearer = || Credential::Bearer(token.clone());
        assert!(with("https://am.example:9093", bearer()).is_ok());
        assert!(with("http://127.0.0.1:9093", bearer()).is_ok());
        assert!(with("http://[::1]:9093", bearer()).is_ok());
        assert!(with("http://localhost:9093", bearer()).is_ok());
        let error = with("http://am.monitoring:9093", bearer()).unwrap_err();
        assert!(
            error.starts_with("--alertmanager-token-file: the credential would cross the network in the clear to http://am.monitoring:9093/api/v2/alerts"),
            "{error}"
        );
        let missing = with(
            "https://am.example",
            Credential::Bearer(dir.path().join("nope")),
        )
        .unwrap_err();
        assert!(
            missing.starts_with("--alertmanager-token-file: cannot read "),
            "{missing}"
        );
        let basic = dir.path().join("basic");
        std::fs::write(&basic, "just-a-password\n").unwrap();
        let malformed = with("https://am.example", Credential::Basic(basic.clone())).unwrap_err();
        assert!(
            malformed.ends_with("its first line is not USER:PASSWORD"),
            "{malformed}"
        );
        assert!(!malformed.contains("just-a-password"), "{malformed}");
        std::fs::write(&basic, "watcher:pa:ss\n").unwrap();
        assert!(with("https://am.example", Credential::Basic(basic)).is_ok());
    }

    #[test]
    fn only_refusals_that_may_pass_are_tried_again() {
        for status in [500, 502, 503, 504, 408, 429] {
            assert!(
                worth_retrying(http::StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
        for status in [400, 401, 403, 404, 413, 422] {
            assert!(
                !worth_retrying(http::StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
    }

    #[test]
    fn a_refusal_is_shown_on_one_short_line_without_the_secret() {
        assert_eq!(shown_answer("", None), "");
        assert_eq!(
            shown_answer("bad token\n  tok-3n\tnot valid", Some("tok-3n")),
            ": bad token <redacted> not valid"
        );
        let long = shown_answer(&"x".repeat(1000), None);
        assert_eq!(long.len(), ": ".len() + ANSWER_SHOWN + "...".len());
        assert_eq!(shown_answer("\u{1b}[2J", None), ": \\u{1b}[2J");
    }

    #[tokio::test]
    async fn the_command_gets_the_alert_on_stdin_and_its_failure_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("alert.json");
        let command_line = format!("cat > {}", out.display());
        let mut notifier = command(&command_line);
        notifier.send(&alert());
        let reports = notifier.finish(Duration::from_secs(10)).await;
        assert_eq!(reports.len(), 1);
        assert_eq!((reports[0].sink, reports[0].alerts), (EXEC, 1));
        assert!(reports[0].outcome.is_ok());
        let delivered: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(delivered["kind"], "HoneytokenAlert");
        assert_eq!(delivered["text"], alert().text);

        let mut failing = command("exit 7");
        failing.send(&alert());
        let failures = failures(failing.finish(Duration::from_secs(10)).await);
        assert_eq!(failures.len(), 1);
        assert!(failures[0].contains("exit status: 7"), "{failures:?}");
    }

    #[tokio::test]
    async fn commands_run_a_few_at_a_time_and_are_ended_at_stop() {
        let dir = tempfile::tempdir().unwrap();
        let started = dir.path().join("started");
        let mut notifier = command(&format!("echo $$ >> {}; exec sleep 600", started.display()));
        let sent: Vec<Vec<Dropped>> = (0..30).map(|_| notifier.send(&alert())).collect();
        let under_way = COMMANDS_AT_ONCE + COMMANDS_WAITING;
        assert!(sent[..under_way].iter().all(Vec::is_empty));
        assert!(
            sent[under_way..]
                .iter()
                .all(|d| d.len() == 1 && d[0].sink == EXEC)
        );
        let groups = notifier.command.as_ref().unwrap().groups.clone();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while groups.lock().unwrap().len() < COMMANDS_AT_ONCE {
            assert!(std::time::Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let running: Vec<i32> = groups.lock().unwrap().iter().copied().collect();
        let reports = notifier.finish(Duration::from_millis(300)).await;
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].alerts, under_way as u64, "{reports:?}");
        let failures = failures(reports);
        assert!(
            failures[0].contains("4 --exec commands among them ended"),
            "{failures:?}"
        );
        assert!(groups.lock().unwrap().is_empty());
        for pid in running {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            // SAFETY: signal 0 only asks whether the process group still exists.
            while unsafe { libc::kill(-pid, 0) } == 0 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "group {pid} left running"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    #[tokio::test]
    async fn an_unreachable_webhook_is_reported_after_its_retries() {
        // A port nothing listens on: bind one, then free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/hook");
        let mut notifier = Notifier::new(Sinks {
            webhook_url: Some(&url),
            ..Sinks::default()
        })
        .unwrap();
        notifier.send(&alert());
        let failures = failures(notifier.finish(Duration::from_secs(20)).await);
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].contains("in 3 attempts"), "{failures:?}");
        assert!(
            !failures[0].contains("/hook"),
            "the URL's path is not shown: {failures:?}"
        );
    }

    #[tokio::test]
    async fn a_command_that_exits_without_reading_a_large_alert_is_no_harm() {
        let mut large = alert();
        large.user_agent = "x".repeat(1 << 20);
        let mut notifier = command("exit 0");
        notifier.send(&large);
        // The write fails (the pipe is gone), the command succeeded: nothing to report.
        let failures = failures(notifier.finish(Duration::from_secs(10)).await);
        assert!(failures.is_empty(), "{failures:?}");
    }

    #[test]
    fn slack_text_is_escaped_in_the_posted_body_only() {
        let mut tricky = alert();
        tricky.text = "from <!channel> & <https://evil|docs>".into();
        let body: serde_json::Value = serde_json::from_str(&webhook_body(&tricky)).unwrap();
        assert_eq!(
            body["text"],
            "from &lt;!channel&gt; &amp; &lt;https://evil|docs&gt;"
        );
        assert_eq!(body["user"], tricky.user);
    }

    #[test]
    fn the_posted_body_escapes_what_a_terminal_would_act_on() {
        let mut tricky = alert();
        tricky.user_agent = "curl\u{9b}2J\u{202e}gpj.exe\u{7f}".into();
        let body = webhook_body(&tricky);
        assert!(
            !body
                .chars()
                .any(crate::ui::terminal::is_unsafe_for_terminal),
            "{body:?}"
        );
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["userAgent"], tricky.user_agent);
    }

    #[test]
    fn shown_urls_keep_their_credential_out() {
        let url = parse_webhook_url("https://hooks.slack.com/services/T000/B000/XXXX").unwrap();
        assert_eq!(shown_url(&url, false), "https://hooks.slack.com/...");
        let url = parse_webhook_url("http://127.0.0.1:8080").unwrap();
        assert_eq!(shown_url(&url, false), "http://127.0.0.1:8080/");
        let url = parse_webhook_url("https://alerts:s3cret@example.com/hook").unwrap();
        assert_eq!(shown_url(&url, false), "https://example.com/...");
        assert_eq!(shown_url(&url, true), "https://example.com/hook");
    }

    fn alert() -> Alert {
        serde_json::from_value::<crate::audit::Event>(serde_json::json!({
            "auditID": "a1", "verb": "list", "requestURI": "/api/v1/secrets",
            "user": {"username": "system:serviceaccount:kube-system:tiller"},
            "sourceIPs": ["10.0.0.9"], "userAgent": "kubectl/v1.36.3",
            "responseStatus": {"code": 403}
        }))
        .map(|event| {
            let window = crate::detect::alert::Window::from_quiet(Duration::from_secs(1));
            let mut grouper = crate::detect::alert::Grouper::new(window, None);
            let now = std::time::Instant::now();
            grouper.add(event, "test", now);
            grouper.flush(now).remove(0)
        })
        .unwrap()
    }
}
