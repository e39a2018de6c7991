//! Where alerts go besides stdout: a generic webhook (Slack-compatible through the alert's
//! `text` field) and a command that reads the alert on stdin. Each delivery runs on its own
//! task, so a slow receiver never holds up detection. Commands run a few at a time, in a
//! process group of their own, without the plugin's credentials in their environment; at
//! stop they are waited for a while, then ended with everything they started.

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;

use crate::detect::alert::Alert;

const POST_TIMEOUT: Duration = Duration::from_secs(10);
const POST_ATTEMPTS: u32 = 3;
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
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

pub struct Notifier {
    webhook: Option<(http::Uri, HttpsClient)>,
    command: Option<Commands>,
    pending: JoinSet<Result<(), String>>,
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

/// Whether an alert went to every sink or the command's queue was full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Sent,
    /// The command was not run for this alert: `COMMANDS_AT_ONCE` were running and
    /// `COMMANDS_WAITING` waiting.
    CommandDropped,
}

impl Notifier {
    pub fn new(webhook_url: Option<&str>, command: Option<&str>) -> Result<Notifier, SinkError> {
        let webhook = match webhook_url {
            None => None,
            Some(url) => Some((parse_webhook_url(url)?, https_client()?)),
        };
        Ok(Notifier {
            webhook,
            command: command.map(|line| Commands {
                line: Arc::from(line),
                under_way: Arc::new(AtomicUsize::new(0)),
                room: Arc::new(tokio::sync::Semaphore::new(COMMANDS_AT_ONCE)),
                groups: Arc::default(),
            }),
            pending: JoinSet::new(),
        })
    }

    /// Whether alerts go to an --exec command.
    pub fn has_command(&self) -> bool {
        self.command.is_some()
    }

    /// Whether alerts go anywhere besides stdout.
    pub fn has_sinks(&self) -> bool {
        self.webhook.is_some() || self.command.is_some()
    }

    /// Starts delivering one alert.
    pub fn send(&mut self, alert: &Alert) -> Sent {
        if let Some((url, client)) = &self.webhook {
            let body = webhook_body(alert);
            let (url, client) = (url.clone(), client.clone());
            self.pending
                .spawn(async move { post(&client, &url, body).await });
        }
        let Some(commands) = &self.command else {
            return Sent::Sent;
        };
        if commands.under_way.load(Ordering::SeqCst) >= COMMANDS_AT_ONCE + COMMANDS_WAITING {
            return Sent::CommandDropped;
        }
        commands.under_way.fetch_add(1, Ordering::SeqCst);
        let under_way = UnderWay(commands.under_way.clone());
        // Escaped like stdout's alert line: the command may write it where people read.
        let input = format!(
            "{}\n",
            crate::ui::output::json(alert, false).unwrap_or_default()
        );
        let (line, room, groups) = (
            commands.line.clone(),
            commands.room.clone(),
            commands.groups.clone(),
        );
        self.pending.spawn(async move {
            let _under_way = under_way;
            let _permit = room.acquire_owned().await.map_err(|e| e.to_string())?;
            run_command(&line, input, groups).await
        });
        Sent::Sent
    }

    /// Failures of deliveries that have finished, for the caller to report.
    pub fn finished_failures(&mut self) -> Vec<String> {
        let mut failures = Vec::new();
        while let Some(done) = self.pending.try_join_next() {
            collect(done, &mut failures);
        }
        failures
    }

    /// Waits for deliveries still under way, at most `limit`; then ends the commands still
    /// running, with everything they started, and gives up the rest.
    pub async fn finish(&mut self, limit: Duration) -> Vec<String> {
        let mut failures = Vec::new();
        let wait = async {
            while let Some(done) = self.pending.join_next().await {
                collect(done, &mut failures);
            }
        };
        if tokio::time::timeout(limit, wait).await.is_err() {
            let running = self
                .command
                .as_ref()
                .map(|c| c.groups.lock().expect("not poisoned").len())
                .unwrap_or(0);
            failures.push(format!(
                "{} alert deliveries still under way after {}s were abandoned ({running} --exec commands among them ended)",
                self.pending.len(),
                limit.as_secs()
            ));
            // No waiting alert may start its command now: closing the room first, since
            // a command ended below frees a place that a waiting task could take before
            // its own abort lands.
            if let Some(commands) = &self.command {
                commands.room.close();
            }
            // Dropping a task's future ends its command's process group.
            self.pending.shutdown().await;
        }
        failures
    }
}

fn collect(done: Result<Result<(), String>, tokio::task::JoinError>, failures: &mut Vec<String>) {
    match done {
        Ok(Ok(())) => {}
        Ok(Err(why)) => failures.push(why),
        Err(e) => failures.push(format!("alert delivery failed: {e}")),
    }
}

/// The alert as JSON, its `text` escaped the way Slack's message format asks (`&`, `<`,
/// `>`), so a user agent an attacker chose cannot mention `<!channel>` or forge a link.
fn webhook_body(alert: &Alert) -> String {
    let text = alert
        .text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let escaped = Alert {
        text,
        ..alert.clone()
    };
    crate::ui::output::json(&escaped, false).unwrap_or_default()
}

/// A webhook URL as it may be shown: its path often holds the credential (Slack's does).
pub fn shown_url(url: &http::Uri) -> String {
    // Host and port only: the authority may carry user:password.
    let scheme = url.scheme_str().unwrap_or("https");
    let host = url.host().unwrap_or_default();
    let port = url.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
    match url.path() {
        "" | "/" => format!("{scheme}://{host}{port}/"),
        _ => format!("{scheme}://{host}{port}/..."),
    }
}

/// Why the alert sinks cannot be set up. The URL itself is never repeated: it may hold a
/// credential.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("--webhook-url: not a URL: {0}")]
    NotAUrl(#[source] http::uri::InvalidUri),
    #[error("--webhook-url: give an http:// or https:// URL")]
    NotHttp,
    #[error("--webhook-url: no trusted CA certificates: {0}")]
    NoTrustedCas(#[source] std::io::Error),
}

pub fn parse_webhook_url(url: &str) -> Result<http::Uri, SinkError> {
    let uri: http::Uri = url.parse().map_err(SinkError::NotAUrl)?;
    match uri.scheme_str() {
        Some("https") | Some("http") if uri.host().is_some() => Ok(uri),
        _ => Err(SinkError::NotHttp),
    }
}

fn https_client() -> Result<HttpsClient, SinkError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider)
        .map_err(SinkError::NoTrustedCas)?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// Posts the alert, retrying a failed attempt twice (one second, then two, apart).
async fn post(client: &HttpsClient, url: &http::Uri, body: String) -> Result<(), String> {
    let mut last_error = String::new();
    for attempt in 0..POST_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
        }
        let request = hyper::Request::post(url.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(
                hyper::header::USER_AGENT,
                concat!("kubectl-honeytoken/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(body.clone())))
            .map_err(|e| format!("cannot post the alert to {}: {e}", shown_url(url)))?;
        match tokio::time::timeout(POST_TIMEOUT, client.request(request)).await {
            Ok(Ok(response)) if response.status().is_success() => return Ok(()),
            Ok(Ok(response)) => last_error = format!("answered {}", response.status()),
            Ok(Err(e)) => last_error = crate::ui::causes::chain(&e),
            Err(_) => last_error = format!("no answer within {}s", POST_TIMEOUT.as_secs()),
        }
    }
    Err(format!(
        "could not post an alert to {} in {POST_ATTEMPTS} attempts: {last_error}",
        shown_url(url)
    ))
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

    #[test]
    fn webhook_urls_must_be_http_or_https() {
        assert!(parse_webhook_url("https://hooks.slack.com/services/T/B/X").is_ok());
        assert!(parse_webhook_url("http://127.0.0.1:8080/alert").is_ok());
        assert!(parse_webhook_url("ftp://example.com/").is_err());
        assert!(parse_webhook_url("hooks.slack.com/services").is_err());
        assert!(parse_webhook_url("not a url").is_err());
    }

    #[tokio::test]
    async fn the_command_gets_the_alert_on_stdin_and_its_failure_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("alert.json");
        let command = format!("cat > {}", out.display());
        let mut notifier = Notifier::new(None, Some(&command)).unwrap();
        notifier.send(&alert());
        assert!(notifier.finish(Duration::from_secs(10)).await.is_empty());
        let delivered: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(delivered["kind"], "HoneytokenAlert");
        assert_eq!(delivered["text"], alert().text);

        let mut failing = Notifier::new(None, Some("exit 7")).unwrap();
        failing.send(&alert());
        let failures = failing.finish(Duration::from_secs(10)).await;
        assert_eq!(failures.len(), 1);
        assert!(failures[0].contains("exit status: 7"), "{failures:?}");
    }

    #[tokio::test]
    async fn commands_run_a_few_at_a_time_and_are_ended_at_stop() {
        let dir = tempfile::tempdir().unwrap();
        let started = dir.path().join("started");
        let command = format!("echo $$ >> {}; exec sleep 600", started.display());
        let mut notifier = Notifier::new(None, Some(&command)).unwrap();
        let sent: Vec<Sent> = (0..30).map(|_| notifier.send(&alert())).collect();
        let under_way = COMMANDS_AT_ONCE + COMMANDS_WAITING;
        assert!(sent[..under_way].iter().all(|s| *s == Sent::Sent));
        assert!(sent[under_way..].iter().all(|s| *s == Sent::CommandDropped));
        let groups = notifier.command.as_ref().unwrap().groups.clone();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while groups.lock().unwrap().len() < COMMANDS_AT_ONCE {
            assert!(std::time::Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let running: Vec<i32> = groups.lock().unwrap().iter().copied().collect();
        let failures = notifier.finish(Duration::from_millis(300)).await;
        assert_eq!(failures.len(), 1, "{failures:?}");
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
        let mut notifier =
            Notifier::new(Some(&format!("http://127.0.0.1:{port}/hook")), None).unwrap();
        notifier.send(&alert());
        let failures = notifier.finish(Duration::from_secs(20)).await;
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
        let mut notifier = Notifier::new(None, Some("exit 0")).unwrap();
        notifier.send(&large);
        // The write fails (the pipe is gone), the command succeeded: nothing to report.
        let failures = notifier.finish(Duration::from_secs(10)).await;
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
        assert_eq!(shown_url(&url), "https://hooks.slack.com/...");
        let url = parse_webhook_url("http://127.0.0.1:8080").unwrap();
        assert_eq!(shown_url(&url), "http://127.0.0.1:8080/");
        let url = parse_webhook_url("https://alerts:s3cret@example.com/hook").unwrap();
        assert_eq!(shown_url(&url), "https://example.com/...");
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
