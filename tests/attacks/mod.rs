//! Hostile inputs for `watch`, kept together so that each new feature of the receiver or the
//! sinks is tried against all of them (`tests/withstands.rs` runs them). Each is what the
//! README's "What it withstands" promises to hold against: any local process can send to a
//! loopback receiver, any sender with the webhook's credentials to a TLS one, and anyone
//! who holds the decoy token can choose user agents the API server writes into events.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

pub const DECOY: &str = "system:serviceaccount:kube-system:tiller";

/// The size of the large bodies: just under the default `--max-body` (32 MiB).
pub const LARGE: usize = 31 << 20;

/// `{"items":[{},{},...]}` of about `bytes`: each item cost about 250 bytes once parsed.
pub fn empty_items(bytes: usize) -> Vec<u8> {
    list_of(b"{}", bytes)
}

/// Items that each name the decoy, as many as fit in `bytes`.
pub fn decoy_items(bytes: usize) -> Vec<u8> {
    list_of(
        format!(r#"{{"user":{{"username":"{DECOY}"}}}}"#).as_bytes(),
        bytes,
    )
}

fn list_of(item: &[u8], bytes: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(bytes + 64);
    body.extend_from_slice(br#"{"kind":"EventList","items":["#);
    body.extend_from_slice(item);
    while body.len() + item.len() + 3 < bytes {
        body.push(b',');
        body.extend_from_slice(item);
    }
    body.extend_from_slice(b"]}");
    body
}

/// One decoy event whose user agent is `bytes` long.
pub fn huge_user_agent(bytes: usize) -> Vec<u8> {
    format!(
        r#"{{"items":[{{"auditID":"huge","verb":"list","requestURI":"/api/v1/secrets","user":{{"username":"{DECOY}"}},"userAgent":"{}"}}]}}"#,
        "A".repeat(bytes)
    )
    .into_bytes()
}

/// One decoy event with as many (empty) source addresses as fit in `bytes`: each would be
/// a string of 24 bytes from 3 bytes of JSON.
pub fn many_source_ips(bytes: usize) -> Vec<u8> {
    let mut body = format!(
        r#"{{"items":[{{"auditID":"ips","verb":"list","requestURI":"/api/v1/secrets","user":{{"username":"{DECOY}"}},"sourceIPs":["""#
    )
    .into_bytes();
    while body.len() + 8 < bytes {
        body.extend_from_slice(b",\"\"");
    }
    body.extend_from_slice(b"]}]}");
    body
}

/// Arrays nested deeper than any parser should follow.
pub fn deeply_nested(depth: usize) -> Vec<u8> {
    let mut body = br#"{"items":"#.to_vec();
    body.extend(std::iter::repeat_n(b'[', depth));
    body.extend(std::iter::repeat_n(b']', depth));
    body.push(b'}');
    body
}

/// The hostile bodies, by name.
pub fn hostile_bodies() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("31 MiB of empty items", empty_items(LARGE)),
        ("31 MiB of items naming the decoy", decoy_items(LARGE)),
        ("a 31 MiB user agent", huge_user_agent(LARGE)),
        ("ten million source addresses", many_source_ips(LARGE)),
        ("arrays nested a million deep", deeply_nested(1 << 20)),
    ]
}

/// A real decoy event as the API server sends it: one request from `ip`, with this audit ID.
pub fn decoy_event_list(audit_id: &str, ip: &str) -> Vec<u8> {
    format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{audit_id}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/kube-system/secrets","verb":"list","user":{{"username":"{DECOY}","groups":["system:serviceaccounts"]}},"sourceIPs":["{ip}"],"userAgent":"kubectl/v1.36.3 (linux/amd64) kubernetes/abcdef","responseStatus":{{"metadata":{{}},"code":403}},"requestReceivedTimestamp":"2026-11-28T10:00:00.000000Z"}}]}}"#
    )
    .into_bytes()
}

/// Audit log lines of `count` decoy requests, each from another user agent (so each is an
/// alert of its own): what anyone with the decoy token can make the API server write.
pub fn distinct_agent_lines(count: usize) -> String {
    (0..count)
        .map(|n| {
            format!(
                "{{\"kind\":\"Event\",\"auditID\":\"agent-{n}\",\"stage\":\"ResponseComplete\",\"verb\":\"list\",\"requestURI\":\"/api/v1/secrets\",\"user\":{{\"username\":\"{DECOY}\"}},\"sourceIPs\":[\"10.0.0.9\"],\"userAgent\":\"agent-{n}\",\"responseStatus\":{{\"code\":403}},\"requestReceivedTimestamp\":\"2026-11-28T10:00:00Z\"}}\n"
            )
        })
        .collect()
}

/// POSTs a body over plain HTTP; the status, or None when no answer came.
pub fn post(address: SocketAddr, body: &[u8], token: Option<&str>) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .ok()?;
    let authorization = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{authorization}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // A refusal may come before the body is all sent; the answer counts, not the write.
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body));
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.get(9..12)?.parse().ok()?;
    Some((status, answer))
}

/// POSTs as the API server's webhook backend does: a 503 or 429 with Retry-After is sent
/// again after that many seconds, at most `attempts` times. The last status.
pub fn post_as_api_server(address: SocketAddr, body: &[u8], attempts: u32) -> Option<u16> {
    let mut last = None;
    for _ in 0..attempts {
        let (status, answer) = post(address, body, None)?;
        last = Some(status);
        let retry_after = answer
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("retry-after:")
                    .map(|v| v.trim().to_string())
            })
            .and_then(|v| v.parse::<u64>().ok());
        match (status, retry_after) {
            (503 | 429, Some(seconds)) => std::thread::sleep(Duration::from_secs(seconds)),
            _ => break,
        }
    }
    last
}

/// The peak resident memory of a process so far (VmHWM), in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read its status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

/// Processes still alive (not zombies) in the process group `group`.
pub fn alive_in_group(group: u32) -> Vec<u32> {
    let mut alive = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...; comm may hold spaces, so split after its ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(2) == Some(&group.to_string().as_str()) && fields.first() != Some(&"Z") {
            alive.push(pid);
        }
    }
    alive
}

/// Connections that never authenticate, held open from each of `sources` (loopback
/// addresses: all of 127.0.0.0/8 is this machine) to `target`, `per_source` at a time, each
/// opened again as soon as the receiver closes it.
pub struct Flood {
    runtime: tokio::runtime::Runtime,
    pub opened: Arc<AtomicU64>,
}

impl Flood {
    pub fn start(target: SocketAddr, sources: &[[u8; 4]], per_source: usize) -> Flood {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the flood");
        let opened = Arc::new(AtomicU64::new(0));
        for source in sources {
            for _ in 0..per_source {
                let (opened, source) = (opened.clone(), *source);
                runtime.spawn(async move {
                    use tokio::io::AsyncReadExt;
                    loop {
                        if let Ok(mut stream) = connect_from(source, target).await {
                            opened.fetch_add(1, Ordering::Relaxed);
                            // Held, sending nothing, until the receiver closes it.
                            let mut buffer = [0u8; 256];
                            while let Ok(1..) = stream.read(&mut buffer).await {}
                        }
                        // Pacing, so a receiver that closes at once is not a busy loop.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                });
            }
        }
        Flood { runtime, opened }
    }

    pub fn stop(self) {
        self.runtime.shutdown_background();
    }
}

async fn connect_from(
    source: [u8; 4],
    target: SocketAddr,
) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    socket.connect(target).await
}

/// A running `watch`: its alert lines as they come, its stderr kept.
pub struct Watcher {
    pub child: Child,
    alerts: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Watcher {
    pub fn start(mut command: std::process::Command) -> Watcher {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kubectl-honeytoken watch");
        let (sender, alerts) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let kept = stderr.clone();
        let mut pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buffer) {
                if n == 0 {
                    return;
                }
                kept.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        let watcher = Watcher {
            child,
            alerts,
            stderr,
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

    /// The next alert, as JSON.
    #[track_caller]
    pub fn next_alert(&self, within: Duration) -> serde_json::Value {
        match self.alerts.recv_timeout(within) {
            Ok(line) => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("an alert line is not JSON ({e}): {line}")),
            Err(_) => panic!(
                "no alert within {within:?}; watch's stderr:\n{}",
                self.stderr()
            ),
        }
    }

    /// Alerts until one satisfies `wanted`, which is returned.
    #[track_caller]
    pub fn alert_where(
        &self,
        within: Duration,
        wanted: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let alert = self.next_alert(left);
            if wanted(&alert) {
                return alert;
            }
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops it as a service manager would; its exit code and stderr.
    pub fn stop(mut self) -> (Option<i32>, String) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling a child process this test started and has not reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let status = self.child.wait().expect("wait for watch");
        // Its stderr pipe is read to its end by the thread above.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.stderr().contains("watch: stopped") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        (status.code(), self.stderr())
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Limits the address space of a command about to start, so a receiver that would take
/// gigabytes fails on this machine instead of taking them from everything else on it.
pub fn limit_address_space(command: &mut std::process::Command, bytes: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
