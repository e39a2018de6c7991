//! A running `watch` for tests: its stdout lines (alerts) as they come, with when each
//! came, its stdout and stderr kept, and a plain HTTP GET for its health endpoints.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Watcher {
    child: Child,
    alerts: mpsc::Receiver<(Instant, String)>,
    stdout: Arc<Mutex<String>>,
    stdout_closed: mpsc::Receiver<()>,
    stderr: Arc<Mutex<String>>,
    stderr_closed: mpsc::Receiver<()>,
}

impl Watcher {
    /// Starts `command` (a `watch` command line) and waits for it to say it is watching.
    pub fn start(mut command: Command) -> Watcher {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kubectl-honeytoken watch");
        let (sender, alerts) = mpsc::channel();
        let pipe = child.stdout.take().unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let kept_out = stdout.clone();
        let (out_closed, stdout_closed) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                kept_out.lock().unwrap().push_str(&format!("{line}\n"));
                // The receiver gone (the test stopped reading): keep reading, so the
                // watcher never blocks on a full pipe and its stdout is kept whole.
                let _ = sender.send((Instant::now(), line));
            }
            let _ = out_closed.send(());
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let kept = stderr.clone();
        let mut pipe = child.stderr.take().unwrap();
        let (closed, stderr_closed) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                kept.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
            let _ = closed.send(());
        });
        let watcher = Watcher {
            child,
            alerts,
            stdout,
            stdout_closed,
            stderr,
            stderr_closed,
        };
        watcher.wait_for_stderr("watch: watching", Duration::from_secs(30));
        watcher
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    #[track_caller]
    pub fn wait_for_stderr(&self, text: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.stderr().contains(text) {
            assert!(
                Instant::now() < deadline,
                "watch did not print {text:?} within {within:?}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The address of its health endpoints, as it tells it on stderr.
    #[track_caller]
    pub fn health_address(&self) -> String {
        self.wait_for_stderr("watch: health at http://", Duration::from_secs(10));
        let stderr = self.stderr();
        let rest = &stderr[stderr.find("watch: health at http://").unwrap() + 24..];
        rest[..rest.find('/').unwrap()].to_string()
    }

    #[track_caller]
    pub fn next_alert(&self, within: Duration) -> Value {
        self.next_alert_at(within).1
    }

    /// The next alert, or None when none comes within `within`.
    pub fn try_next_alert(&self, within: Duration) -> Option<Value> {
        let (_, line) = self.alerts.recv_timeout(within).ok()?;
        Some(
            serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("an alert line is not JSON ({e}): {line}")),
        )
    }

    /// Alerts until one satisfies `wanted`, which is returned.
    #[track_caller]
    pub fn alert_where(&self, within: Duration, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let alert = self.next_alert(left.max(Duration::from_millis(1)));
            if wanted(&alert) {
                return alert;
            }
        }
    }

    /// The next alert, and when its line was read.
    #[track_caller]
    pub fn next_alert_at(&self, within: Duration) -> (Instant, Value) {
        match self.alerts.recv_timeout(within) {
            Ok((at, line)) => (
                at,
                serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("an alert line is not JSON ({e}): {line}")),
            ),
            Err(_) => panic!(
                "no alert within {within:?}; watch's stderr:\n{}",
                self.stderr()
            ),
        }
    }

    /// No alert within `during`, after something that must raise none.
    #[track_caller]
    pub fn assert_quiet(&self, during: Duration, after_what: &str) {
        if let Ok((_, line)) = self.alerts.recv_timeout(during) {
            panic!("an alert after {after_what}, which must raise none: {line}");
        }
    }

    /// Waits until its `/readyz` answers 200 (every source has started: a followed file
    /// is open, every API watch has listed); it must run with `--metrics-address`.
    #[track_caller]
    pub fn wait_ready(&self, within: Duration) {
        let address = self.health_address();
        assert!(
            wait_until(within, || http_get(&address, "/readyz").0 == 200),
            "watch was not ready within {within:?}; stderr:\n{}",
            self.stderr()
        );
    }

    /// Stops it with SIGTERM, as a service manager would; its exit code and stderr.
    pub fn stop(mut self) -> (Option<i32>, String) {
        let code = self.terminate();
        (code, self.stderr())
    }

    /// Stops it with SIGTERM; its exit code, all it wrote to stdout, and its stderr.
    pub fn stop_with_stdout(mut self) -> (Option<i32>, String, String) {
        let code = self.terminate();
        self.stdout_closed
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("watch's stdout stayed open"));
        let stdout = self.stdout.lock().unwrap().clone();
        (code, stdout, self.stderr())
    }

    fn terminate(&mut self) -> Option<i32> {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling a child process this test started and has not reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let status = self.child.wait().expect("wait for watch");
        self.stderr_closed
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("watch's stderr stayed open; so far:\n{}", self.stderr()));
        status.code()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` over plain HTTP/1.1: the status code and the body.
pub fn http_get(address: &str, path: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(address)
        .unwrap_or_else(|e| panic!("connect to {address}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {reply}"));
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The value of one sample (`name{labels}` exactly as written) in a scrape.
pub fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.split(' ').next()?.parse().ok()
    })
}

/// Polls `probe` until it is true or `within` passes.
pub fn wait_until(within: Duration, mut probe: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if probe() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The metric names of a scrape (`# TYPE` lines; counters' samples end in `_total`).
pub fn metric_names(scrape: &str) -> std::collections::BTreeSet<String> {
    scrape
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .map(|rest| {
            let (name, kind) = rest.split_once(' ').unwrap();
            if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_string()
            }
        })
        .collect()
}

/// The `token_watch_*` names in a PromQL expression.
pub fn referenced(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("token_watch_"))
        .map(String::from)
        .collect()
}
