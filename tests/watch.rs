//! `watch` end to end: the real API server's audit log and audit webhook feed a running
//! watcher, the bed's real kubectl plays the attacker with the decoy token, and the alert
//! must arrive within seconds, once per kubectl run, with the right fields; the plugin's own
//! plant, status and remove must raise nothing.

mod attacks;
mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::pki::Pki;
use support::{Plugin, cluster};

/// A running `watch`: its stdout lines (alerts) as they come, its stderr kept.
struct Watcher {
    child: Child,
    alerts: mpsc::Receiver<(Instant, String)>,
    stderr: Arc<Mutex<String>>,
    /// Told when the stderr reader has read the pipe to its end.
    stderr_closed: mpsc::Receiver<()>,
}

impl Watcher {
    fn start(plugin: &Plugin, args: &[&str]) -> Watcher {
        let mut child = plugin
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kubectl-honeytoken watch");
        let (sender, alerts) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if sender.send((Instant::now(), line)).is_err() {
                    return;
                }
            }
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
            stderr,
            stderr_closed,
        };
        watcher.wait_for_stderr("watch: watching", Duration::from_secs(30));
        watcher
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    #[track_caller]
    fn wait_for_stderr(&self, text: &str, within: Duration) {
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

    #[track_caller]
    fn next_alert(&self, within: Duration) -> (Instant, Value) {
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

    #[track_caller]
    fn assert_quiet(&self, during: Duration, after_what: &str) {
        if let Ok((_, line)) = self.alerts.recv_timeout(during) {
            panic!("an alert after {after_what}, which must raise none: {line}");
        }
    }

    /// Stops it as a service manager would, and returns its exit code and stderr.
    fn stop(mut self) -> (Option<i32>, String) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling a child process this test started and has not reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let status = self.child.wait().expect("wait for watch");
        // Everything it wrote is in once its stderr is read to the end (bounded: an --exec
        // command it left running could hold the pipe open).
        self.stderr_closed
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("watch's stderr stayed open; so far:\n{}", self.stderr()));
        (status.code(), self.stderr())
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The audit IDs of the decoy's events in a log written after `from`, by user agent.
fn decoy_audit_ids(log: &support::AuditLog, user: &str, agent: &str) -> BTreeSet<String> {
    log.new_events()
        .iter()
        .filter(|e| e["user"]["username"] == user && e["userAgent"] == agent)
        .map(|e| e["auditID"].as_str().unwrap().to_string())
        .collect()
}

fn ids(alert: &Value) -> BTreeSet<String> {
    alert["auditIDs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_string())
        .collect()
}

#[track_caller]
fn assert_attacker_alert(alert: &Value, user: &str, namespace: &str) {
    assert_eq!(alert["kind"], "HoneytokenAlert", "{alert:#}");
    assert_eq!(alert["drill"], false, "{alert:#}");
    assert_eq!(alert["user"], user, "{alert:#}");
    assert_eq!(
        alert["sourceIPs"],
        serde_json::json!(["127.0.0.1"]),
        "{alert:#}"
    );
    assert!(
        alert["userAgent"].as_str().unwrap().starts_with("kubectl/"),
        "{alert:#}"
    );
    let requests = alert["requests"].as_array().unwrap();
    let list = requests
        .iter()
        .find(|r| r["verb"] == "list")
        .unwrap_or_else(|| panic!("no list request in {alert:#}"));
    assert!(
        list["requestURI"]
            .as_str()
            .unwrap()
            .starts_with(&format!("/api/v1/namespaces/{namespace}/secrets")),
        "{alert:#}"
    );
    assert_eq!(list["code"], 403, "{alert:#}");
    assert!(list["time"].is_string(), "{alert:#}");
    assert!(alert["firstSeen"].is_string(), "{alert:#}");
    assert!(
        alert["text"]
            .as_str()
            .unwrap()
            .starts_with(&format!("DECOY TOKEN USED: {user} from 127.0.0.1")),
        "{alert:#}"
    );
}

#[tokio::test]
async fn watch_follows_the_real_audit_log_and_alerts_once_per_attacker_action() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "watchf").await;
    let user = format!("system:serviceaccount:{namespace}:tiller");
    let plugin = Plugin::new(cluster);
    let op = |args: &[&str]| plugin.as_operator(&namespace, args);
    let audit_log = cluster.audit_log_path().display().to_string();
    let watcher = Watcher::start(
        &plugin,
        &[
            "watch",
            "--audit-log",
            &audit_log,
            "--user",
            &user,
            "--group-window",
            "1",
        ],
    );

    let planted = op(&["plant", "--yes", "-o", "json"]);
    planted.assert_code(0);
    op(&["status"]).assert_code(0);
    watcher.assert_quiet(Duration::from_secs(3), "plant and status");

    // A drill is one alert, marked as a drill. It comes first: a drill after a use finds
    // the use's stamp and stops short of re-arming (exit 3).
    let log = cluster.audit_log();
    op(&["test-trigger"]).assert_code(0);
    let (_, drill) = watcher.next_alert(Duration::from_secs(10));
    assert_eq!(drill["drill"], true, "{drill:#}");
    assert!(
        drill["userAgent"]
            .as_str()
            .unwrap()
            .starts_with("kubectl-honeytoken-drill/"),
        "{drill:#}"
    );
    let agent = drill["userAgent"].as_str().unwrap();
    let drill_ids = decoy_audit_ids(&log, &user, agent);
    assert_eq!(
        drill_ids.len(),
        6,
        "the drill sends seven requests, and the policy drops /version"
    );
    assert_eq!(ids(&drill), drill_ids);

    let secret = planted.json()["secret"].as_str().unwrap().to_string();
    let token = support::token_of(&admin, &namespace, &secret).await;
    let log = cluster.audit_log();
    let attacked = Instant::now();
    let attacker = cluster.list_secrets_with_token(&token, &namespace);
    assert!(!attacker.status.success(), "the decoy may not read Secrets");
    let (arrived, alert) = watcher.next_alert(Duration::from_secs(10));
    eprintln!(
        "file mode: alert {:?} after the attacker's kubectl started",
        arrived - attacked
    );
    assert_attacker_alert(&alert, &user, &namespace);
    assert_eq!(alert["source"], audit_log.as_str());
    // One alert holds every request of the kubectl run, as the API server logged them.
    let agent = alert["userAgent"].as_str().unwrap();
    assert_eq!(ids(&alert), decoy_audit_ids(&log, &user, agent));
    watcher.assert_quiet(Duration::from_secs(2), "the attacker's one alert");

    op(&["remove", "--yes"]).assert_code(0);
    watcher.assert_quiet(Duration::from_secs(3), "remove");
    let (code, stderr) = watcher.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("2 alerts (1 drill)"), "{stderr}");
    assert!(!plugin.transcript.borrow().contains(&token));
}

/// A receiver for `--webhook-url`: answers 200 and hands over each request's body.
fn alert_receiver() -> (String, mpsc::Receiver<(String, String)>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/alerts", listener.local_addr().unwrap());
    let (sender, bodies) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap();
                }
                head.push_str(&line);
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            let _ = sender.send((head, String::from_utf8(body).unwrap()));
        }
    });
    (url, bodies)
}

/// POSTs a body to the watcher with curl, as a client holding the API server's certificate.
fn curl_post(pki: &Pki, url: &str, token: &str, body: &Path) -> String {
    let output = std::process::Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["--cacert", &pki.path("ca.crt")])
        .args([
            "--cert",
            &pki.path("client.crt"),
            "--key",
            &pki.path("client.key"),
        ])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args(["-H", "Content-Type: application/json"])
        .arg("--data-binary")
        .arg(format!("@{}", body.display()))
        .arg(url)
        .output()
        .expect("run curl (the tests need it; .ci/run installs it)");
    let code = String::from_utf8_lossy(&output.stdout).into_owned();
    if code == "000" {
        panic!(
            "curl reached no answer: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    code
}

#[tokio::test]
async fn watch_serves_the_real_api_servers_audit_webhook_over_tls_with_token_and_client_certificate()
 {
    support::require_bed();
    let pki = Pki::new();
    let port = support::free_port();
    let url = format!("https://127.0.0.1:{port}/audit");
    let bed = support::ExtraBed::start(
        "watch-webhook",
        &[
            ("HONEYTOKEN_AUDIT_WEBHOOK_URL", &url),
            ("HONEYTOKEN_AUDIT_WEBHOOK_CA", &pki.path("ca.crt")),
            ("HONEYTOKEN_AUDIT_WEBHOOK_TOKEN", "audit-sink-token"),
            (
                "HONEYTOKEN_AUDIT_WEBHOOK_CLIENT_CERT",
                &pki.path("client.crt"),
            ),
            (
                "HONEYTOKEN_AUDIT_WEBHOOK_CLIENT_KEY",
                &pki.path("client.key"),
            ),
        ],
    );
    let bed_cluster = bed.cluster();
    let admin = bed_cluster.client("admin").await;
    let plugin = Plugin::on(&bed.kubeconfig);
    let (hook_url, posted) = alert_receiver();
    let executed = pki.dir.path().join("executed.jsonl");
    let exec = format!("cat >> {}", executed.display());
    let listen = format!("127.0.0.1:{port}");
    let user = "system:serviceaccount:kube-system:tiller";
    let watcher = Watcher::start(
        &plugin,
        &[
            "watch",
            "--listen",
            &listen,
            "--tls-cert",
            &pki.path("server.crt"),
            "--tls-key",
            &pki.path("server.key"),
            "--client-ca",
            &pki.path("ca.crt"),
            "--token-file",
            &pki.path("token"),
            "--max-body",
            "1048576",
            "--user",
            user,
            "--group-window",
            "1",
            "--webhook-url",
            &hook_url,
            "--exec",
            &exec,
        ],
    );

    let planted = plugin.run(&["--context", "operator", "plant", "--yes", "-o", "json"]);
    planted.assert_code(0);
    plugin
        .run(&["--context", "operator", "status"])
        .assert_code(0);
    // The API server flushes its batches every second.
    watcher.assert_quiet(Duration::from_secs(4), "plant and status");

    let secret = planted.json()["secret"].as_str().unwrap().to_string();
    let token = support::token_of(&admin, "kube-system", &secret).await;
    let log = bed_cluster.audit_log();
    let attacked = Instant::now();
    let attacker = bed_cluster.list_secrets_with_token(&token, "kube-system");
    assert!(!attacker.status.success());
    let (arrived, alert) = watcher.next_alert(Duration::from_secs(15));
    eprintln!(
        "webhook mode: alert {:?} after the attacker's kubectl started",
        arrived - attacked
    );
    assert_attacker_alert(&alert, user, "kube-system");
    assert_eq!(alert["source"], "webhook");
    let agent = alert["userAgent"].as_str().unwrap();
    assert_eq!(ids(&alert), decoy_audit_ids(&log, user, agent));

    // The same alert went to the webhook (with Slack's `text`) and to the command.
    let (head, body) = posted
        .recv_timeout(Duration::from_secs(10))
        .expect("the alert was posted to --webhook-url");
    assert!(head.starts_with("POST /hooks/alerts HTTP/1.1"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let posted_alert: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(posted_alert, alert);
    assert!(posted_alert["text"].as_str().unwrap().contains(user));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&executed)
        .unwrap_or_default()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "--exec did not get the alert");
        std::thread::sleep(Duration::from_millis(50));
    }
    let executed_alert: Value =
        serde_json::from_str(std::fs::read_to_string(&executed).unwrap().trim()).unwrap();
    assert_eq!(executed_alert, alert);

    // Bad requests are answered and counted; the watcher keeps serving.
    let garbage = pki.dir.path().join("garbage");
    std::fs::write(&garbage, "this is not an EventList").unwrap();
    assert_eq!(curl_post(&pki, &url, "audit-sink-token", &garbage), "400");
    assert_eq!(curl_post(&pki, &url, "wrong-token", &garbage), "401");
    let oversized = pki.dir.path().join("oversized");
    std::fs::write(&oversized, vec![b' '; 2 << 20]).unwrap();
    assert_eq!(curl_post(&pki, &url, "audit-sink-token", &oversized), "413");
    watcher.wait_for_stderr("larger than 1048576 bytes", Duration::from_secs(5));

    let attacker = bed_cluster.list_secrets_with_token(&token, "kube-system");
    assert!(!attacker.status.success());
    let (_, second) = watcher.next_alert(Duration::from_secs(15));
    assert_attacker_alert(&second, user, "kube-system");
    assert!(ids(&second).is_disjoint(&ids(&alert)));

    assert_eq!(
        watcher.stderr().matches("refused a request from").count(),
        3,
        "each refusal told once"
    );

    // Under attack (tests/attacks): connections that never authenticate, from 127.0.0.2-9,
    // and senders with the webhook's credentials posting bodies of empty items as large as
    // --max-body allows. The real API server's next batch still gets through (retried by it
    // when refused) and the attacker is alerted on.
    let address: std::net::SocketAddr = listen.parse().unwrap();
    let sources: Vec<[u8; 4]> = (2..=9).map(|n| [127, 0, 0, n]).collect();
    let flood = attacks::Flood::start(address, &sources, 24);
    let hostile = pki.dir.path().join("empty-items");
    std::fs::write(&hostile, attacks::empty_items(1_000_000)).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let answers = std::thread::scope(|scope| {
        let senders: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let mut answers = Vec::new();
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        answers.push(curl_post(&pki, &url, "audit-sink-token", &hostile));
                    }
                    answers
                })
            })
            .collect();
        // The senders stop however this ends, or the scope would wait for them forever.
        struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let stopping = Stop(&stop);
        let attacker = bed_cluster.list_secrets_with_token(&token, "kube-system");
        assert!(!attacker.status.success());
        let (_, third) = watcher.next_alert(Duration::from_secs(40));
        drop(stopping);
        assert_attacker_alert(&third, user, "kube-system");
        assert!(ids(&third).is_disjoint(&ids(&second)));
        senders
            .into_iter()
            .flat_map(|s| s.join().unwrap())
            .collect::<Vec<String>>()
    });
    let opened = flood.opened.load(std::sync::atomic::Ordering::Relaxed);
    flood.stop();
    eprintln!(
        "under attack: {opened} unauthenticated connections, {} hostile bodies answered {:?}",
        answers.len(),
        answers.iter().collect::<BTreeSet<_>>()
    );
    assert!(
        answers.iter().all(|a| a == "200" || a == "503"),
        "{answers:?}"
    );

    plugin
        .run(&["--context", "operator", "remove", "--yes"])
        .assert_code(0);
    watcher.assert_quiet(Duration::from_secs(4), "remove");
    let (code, stderr) = watcher.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("3 alerts (0 drills)"), "{stderr}");
    assert!(stderr.contains("requests refused"), "{stderr}");
    assert!(stderr.contains("not an audit EventList"), "{stderr}");
    assert!(stderr.contains("bearer token"), "{stderr}");
    assert!(!plugin.transcript.borrow().contains(&token));
}

/// Rotation, truncation and garbage in the followed file, as logrotate and crashes leave
/// them; no cluster is needed, the decoy is named by hand.
#[test]
fn watch_follows_a_file_through_rotation_and_truncation_and_skips_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    std::fs::write(&path, "").unwrap();
    let user = "system:serviceaccount:kube-system:tiller";
    let event = |id: &str, ip: &str| {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{id}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/kube-system/secrets","verb":"list","user":{{"username":"{user}","groups":["system:serviceaccounts"]}},"sourceIPs":["{ip}"],"userAgent":"curl/8.5.0","responseStatus":{{"metadata":{{}},"code":403}},"requestReceivedTimestamp":"2026-11-28T10:00:00.000000Z"}}"#
        )
    };
    let append = |text: &str| {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    };
    let plugin = Plugin::offline();
    let log = path.display().to_string();
    let watcher = Watcher::start(
        &plugin,
        &[
            "watch",
            "--audit-log",
            &log,
            "--user",
            user,
            "--group-window",
            "0.5",
        ],
    );

    let first = event("before-rotation", "10.0.0.1");
    let cut = &first[..first.find("sourceIPs").unwrap()];
    // Lines holding the decoy's name in quotes are parsed (two are not events); the bare
    // name, or a user whose name begins with it, does not make a line worth parsing.
    let near = cut.replace(":tiller\"", ":tiller-deployer\"");
    append(&format!(
        "garbage\n{cut}\n\"{user}\" but not JSON\n{user} without quotes\n{near}\n{first}\n"
    ));
    let (_, alert) = watcher.next_alert(Duration::from_secs(10));
    assert_eq!(ids(&alert), BTreeSet::from(["before-rotation".to_string()]));
    watcher.wait_for_stderr("skipped 2 line(s)", Duration::from_secs(5));

    // logrotate's default: rename, then a new file; the watcher reads the new one.
    std::fs::rename(&path, dir.path().join("audit.log.1")).unwrap();
    append(&format!("{}\n", event("after-rotation", "10.0.0.2")));
    let (_, alert) = watcher.next_alert(Duration::from_secs(10));
    assert_eq!(ids(&alert), BTreeSet::from(["after-rotation".to_string()]));

    // copytruncate: the same file cut to nothing and at once written past its old size, as
    // a busy API server does before the watcher looks again. Whenever the watcher looks,
    // before the cut, between cut and write or after both, it must read both events.
    let old_size = std::fs::metadata(&path).unwrap().len();
    let regrown = format!(
        "{}\n{}\n",
        event("after-truncation-1", "10.0.0.3"),
        event("after-truncation-2", "10.0.0.3")
    );
    assert!(regrown.len() as u64 > old_size);
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(0).unwrap();
    file.write_all(regrown.as_bytes()).unwrap();
    drop(file);
    let mut seen = BTreeSet::new();
    while seen.len() < 2 {
        let (_, alert) = watcher.next_alert(Duration::from_secs(10));
        assert!(ids(&alert).is_disjoint(&seen), "{alert:#}");
        seen.extend(ids(&alert));
    }
    assert_eq!(
        seen,
        BTreeSet::from([
            "after-truncation-1".to_string(),
            "after-truncation-2".to_string()
        ])
    );

    let (code, stderr) = watcher.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("4 decoy events"), "{stderr}");
    assert!(stderr.contains("2 malformed lines skipped"), "{stderr}");
}

/// A line longer than the line limit (16 MiB) is skipped without being held, told and
/// counted; the event after it still raises its alert.
#[test]
fn watch_skips_a_line_over_the_limit_and_alerts_on_the_next_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    std::fs::write(&path, "").unwrap();
    let user = "system:serviceaccount:kube-system:tiller";
    let plugin = Plugin::offline();
    let log = path.display().to_string();
    let watcher = Watcher::start(
        &plugin,
        &[
            "watch",
            "--audit-log",
            &log,
            "--user",
            user,
            "--group-window",
            "0.2",
        ],
    );
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    let mut long = format!("{user} ").into_bytes();
    long.resize((16 << 20) + 1, b'x');
    long.push(b'\n');
    file.write_all(&long).unwrap();
    file.write_all(
        format!(
            r#"{{"kind":"Event","auditID":"after-the-long-line","stage":"ResponseComplete","requestURI":"/api/v1/secrets","verb":"list","user":{{"username":"{user}"}},"sourceIPs":["10.0.0.9"],"userAgent":"curl/8.5.0","responseStatus":{{"code":403}}}}"#
        )
        .as_bytes(),
    )
    .unwrap();
    file.write_all(b"\n").unwrap();
    let (_, alert) = watcher.next_alert(Duration::from_secs(10));
    assert_eq!(
        ids(&alert),
        BTreeSet::from(["after-the-long-line".to_string()])
    );
    watcher.wait_for_stderr("skipped 1 line(s) of", Duration::from_secs(5));
    let (code, stderr) = watcher.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("over the 16 MiB line limit"), "{stderr}");
    assert!(
        stderr.contains("1 line over the line limit skipped"),
        "{stderr}"
    );
}

/// An `--exec` command that exits without reading a large alert closes the pipe under the
/// watcher's write: the watcher must note nothing worse than that and go on.
#[test]
fn an_exec_command_that_ignores_a_large_alert_does_not_stop_the_watcher() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    std::fs::write(&path, "").unwrap();
    let user = "system:serviceaccount:kube-system:tiller";
    // A user agent of 1 MiB makes the alert far larger than a pipe's buffer.
    let agent = "x".repeat(1 << 20);
    let event = |id: &str| {
        format!(
            r#"{{"kind":"Event","auditID":"{id}","stage":"ResponseComplete","requestURI":"/api/v1/secrets","verb":"list","user":{{"username":"{user}"}},"sourceIPs":["10.0.0.9"],"userAgent":"{agent}","responseStatus":{{"code":403}},"requestReceivedTimestamp":"2026-11-28T10:00:00Z"}}"#
        ) + "\n"
    };
    let plugin = Plugin::offline();
    let log = path.display().to_string();
    // The command notes that it ran, and exits without reading its input.
    let ran = dir.path().join("ran");
    let exec = format!("echo ran >> {}", ran.display());
    let watcher = Watcher::start(
        &plugin,
        &[
            "watch",
            "--audit-log",
            &log,
            "--user",
            user,
            "--group-window",
            "0.2",
            "--exec",
            &exec,
        ],
    );
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(event("first").as_bytes()).unwrap();
    let (_, first) = watcher.next_alert(Duration::from_secs(10));
    assert_eq!(ids(&first), BTreeSet::from(["first".to_string()]));
    // Once the command has run and gone, the watcher is still alive: the next use is
    // alerted too (and the exit code below shows no SIGPIPE ended it meanwhile).
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&ran).unwrap_or_default().is_empty() {
        assert!(Instant::now() < deadline, "--exec did not run");
        std::thread::sleep(Duration::from_millis(20));
    }
    file.write_all(event("second").as_bytes()).unwrap();
    let (_, second) = watcher.next_alert(Duration::from_secs(10));
    assert_eq!(ids(&second), BTreeSet::from(["second".to_string()]));
    let (code, stderr) = watcher.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("2 alerts"), "{stderr}");
}

#[test]
fn watch_needs_a_source_and_refuses_plain_http_beyond_loopback() {
    let plugin = Plugin::offline();
    let user = "system:serviceaccount:kube-system:tiller";
    plugin.run(&["watch", "--user", user]).assert_code(2);
    let run = plugin.run(&["watch", "--user", user, "--listen", "0.0.0.0:0"]);
    run.assert_code(1);
    assert!(run.stderr.contains("loopback only"), "{}", run.stderr);
    let run = plugin.run(&[
        "watch",
        "--user",
        user,
        "--listen",
        "127.0.0.1:0",
        "--tls-key",
        "k",
    ]);
    run.assert_code(2);
    // A kubeconfig user's name where a decoy's belongs would watch for nothing.
    for args in [
        &["watch", "--user", "alice", "--audit-log", "/dev/null"][..],
        &["scan", "--user", "alice"],
        &["rules", "--user", "alice"],
    ] {
        let run = plugin.run(args);
        run.assert_code(1);
        assert!(
            run.stderr
                .contains("choose the kubeconfig user with --context"),
            "{args:?}: {}",
            run.stderr
        );
    }
}
