//! `watch --tripwire` end to end on the real control plane: the real API server stamps the
//! decoy's Secret when its token authenticates (a bare `GET /version` suffices, which most
//! audit policies do not log), the watcher tells it at once and re-arms; drills announced
//! to the watcher are drills, a use right after is an attack; a use while the watcher was
//! down is told when it starts; an API server restart is survived; broken decoys are told;
//! and the token appears nowhere in what the watcher says.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::Api;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use serde_json::Value;
use support::{Cluster, Plugin, cluster, eventually, operator_namespace, token_of};

const LABEL: &str = "kubernetes.io/legacy-token-last-used";

/// A running `watch`: its stdout lines (alerts) as they come, its stderr kept.
struct Watcher {
    child: Child,
    alerts: mpsc::Receiver<(Instant, String)>,
    stderr: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
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
        let stdout = Arc::new(Mutex::new(String::new()));
        let kept_out = stdout.clone();
        let pipe = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { return };
                kept_out.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = sender.send((Instant::now(), line));
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let kept = stderr.clone();
        let mut pipe = child.stderr.take().unwrap();
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
        });
        let watcher = Watcher {
            child,
            alerts,
            stderr,
            stdout,
        };
        watcher.wait_for_stderr("watch: watching", Duration::from_secs(60));
        watcher
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn wait_for_stderr(&self, text: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.stderr().contains(text) {
            assert!(
                Instant::now() < deadline,
                "the watcher did not say {text:?}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The next alert, within a generous bound.
    fn next_alert(&self, limit: Duration) -> (Instant, Value) {
        match self.alerts.recv_timeout(limit) {
            Ok((at, line)) => (
                at,
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")),
            ),
            Err(_) => panic!(
                "no alert within {}s; stderr:\n{}",
                limit.as_secs(),
                self.stderr()
            ),
        }
    }

    /// The next alert that is not broken news (a broken alert may come first in some tests).
    fn next_use(&self, limit: Duration) -> (Instant, Value) {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, alert) = self.next_alert(left.max(Duration::from_millis(1)));
            if alert["signal"] != "broken" {
                return (at, alert);
            }
        }
    }

    /// Stops it (SIGTERM) and returns everything it wrote.
    fn stop(mut self) -> String {
        // SAFETY: a signal to the child this test started.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(200));
        format!(
            "{}{}",
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The attacker's cheapest probe: `GET /version` with the token, nothing else.
async fn probe(cluster: &Cluster, token: &str) -> Instant {
    let sent = Instant::now();
    cluster
        .client_with_token(token)
        .await
        .apiserver_version()
        .await
        .expect("GET /version with the decoy token");
    sent
}

async fn label(admin: &kube::Client, namespace: &str, secret: &str) -> Option<String> {
    Api::<Secret>::namespaced(admin.clone(), namespace)
        .get_metadata(secret)
        .await
        .expect("read the Secret's metadata")
        .metadata
        .labels
        .and_then(|l| l.get(LABEL).cloned())
}

async fn wait_rearmed(admin: &kube::Client, namespace: &str, secret: &str) {
    eventually(Duration::from_secs(20), || async {
        label(admin, namespace, secret)
            .await
            .is_none()
            .then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("the stamp on {namespace}/{secret} was not removed"));
}

/// Plants a decoy in a namespace of its own; its Secret's name.
async fn planted(plugin: &Plugin, admin: &kube::Client, prefix: &str) -> (String, String) {
    let namespace = operator_namespace(admin, prefix).await;
    let run = plugin.as_operator(&namespace, &["plant", "--yes", "-o", "json"]);
    run.assert_code(0);
    let secret = run.json()["secret"].as_str().unwrap().to_string();
    (namespace, secret)
}

fn watch_args<'a>(namespace: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--context", "admin", "-n", namespace, "watch", "--tripwire"];
    args.extend_from_slice(more);
    args
}

fn assert_use(alert: &Value, namespace: &str, secret: &str, drill: bool) {
    assert_eq!(alert["kind"], "HoneytokenAlert", "{alert}");
    assert_eq!(alert["signal"], "tripwire", "{alert}");
    assert_eq!(alert["drill"], drill, "{alert}");
    assert_eq!(alert["secret"], format!("{namespace}/{secret}"), "{alert}");
    assert_eq!(
        alert["user"],
        format!("system:serviceaccount:{namespace}:tiller"),
        "{alert}"
    );
    assert_eq!(alert["alertID"].as_str().map(str::len), Some(32), "{alert}");
    assert_eq!(alert["update"], false, "{alert}");
}

/// On a bed with audit logging off entirely, as many clusters are.
#[tokio::test]
async fn each_use_of_the_token_is_told_within_seconds_and_re_armed_without_audit_logs() {
    support::require_bed();
    let bed = support::ExtraBed::start_without_audit("tripwire-no-audit");
    let cluster = &bed.cluster();
    let admin = cluster.client("admin").await;
    let plugin = Plugin::on(&bed.kubeconfig);
    let (namespace, secret) = planted(&plugin, &admin, "trip-use").await;
    let token = token_of(&admin, &namespace, &secret).await;
    let watcher = Watcher::start(&plugin, &watch_args(&namespace, &[]));

    let first = probe(cluster, &token).await;
    let (at, alert) = watcher.next_use(Duration::from_secs(30));
    eprintln!(
        "first use told {} ms after the request",
        at.duration_since(first).as_millis()
    );
    assert!(
        at.duration_since(first) < Duration::from_secs(2),
        "the alert came {:?} after the request; the tripwire must tell within 2 s",
        at.duration_since(first)
    );
    assert_use(&alert, &namespace, &secret, false);
    assert!(
        alert["text"]
            .as_str()
            .unwrap()
            .starts_with("DECOY TOKEN USED"),
        "{alert}"
    );
    wait_rearmed(&admin, &namespace, &secret).await;

    // Past the API server's token cache: a second use is a second alert.
    tokio::time::sleep(Duration::from_secs(15).saturating_sub(first.elapsed())).await;
    let second = probe(cluster, &token).await;
    let (at, again) = watcher.next_use(Duration::from_secs(30));
    assert!(at.duration_since(second) < Duration::from_secs(2));
    assert_use(&again, &namespace, &secret, false);
    assert_ne!(again["alertID"], alert["alertID"]);
    wait_rearmed(&admin, &namespace, &secret).await;

    let said = watcher.stop();
    assert!(said.contains("re-armed the tripwire"), "{said}");
    assert!(
        !said.contains(&token),
        "the token appeared in the watcher's output"
    );
    plugin.as_operator(&namespace, &["remove", "--yes"]);
}

#[tokio::test]
async fn a_drill_announced_to_the_watcher_is_a_drill_and_a_use_right_after_is_an_attack() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let plugin = Plugin::new(cluster);
    let (namespace, secret) = planted(&plugin, &admin, "trip-drill").await;
    let port = support::free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let watcher = Watcher::start(&plugin, &watch_args(&namespace, &["--listen", &listen]));

    let drill = plugin.run_with(
        &["--context", "operator", "-n", &namespace, "test-trigger"],
        |command| {
            command.env("HONEYTOKEN_WATCHER", format!("http://{listen}"));
        },
    );
    drill.assert_code(0);
    assert!(
        drill.stdout.contains("told it as a drill"),
        "{}",
        drill.text()
    );
    let drilled = Instant::now();
    let (_, alert) = watcher.next_use(Duration::from_secs(30));
    assert_use(&alert, &namespace, &secret, true);
    assert!(
        alert["text"]
            .as_str()
            .unwrap()
            .starts_with("Honeytoken drill (not an attack)"),
        "{alert}"
    );
    assert!(
        drill.stdout.contains(alert["alertID"].as_str().unwrap()),
        "test-trigger names the watcher's alert: {}",
        drill.text()
    );

    // The same minute, once the token cache has forgotten the drill: an attack.
    let token = token_of(&admin, &namespace, &secret).await;
    tokio::time::sleep(Duration::from_secs(11).saturating_sub(drilled.elapsed())).await;
    probe(cluster, &token).await;
    let (_, attack) = watcher.next_use(Duration::from_secs(30));
    assert_use(&attack, &namespace, &secret, false);

    // verify --e2e announces its drill too (once the attack has left the token cache).
    tokio::time::sleep(Duration::from_secs(11)).await;
    let audit_log = cluster.audit_log_path().display().to_string();
    let verify = plugin.run_with(
        &[
            "--context",
            "operator",
            "-n",
            &namespace,
            "verify",
            "--e2e",
            "--audit-log",
            &audit_log,
            "-o",
            "json",
        ],
        |command| {
            command.env("HONEYTOKEN_WATCHER", format!("http://{listen}"));
        },
    );
    let told = verify.json()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["title"] == "e2e: watcher told of the drill" && c["status"] == "PASS");
    assert!(told, "{}", verify.text());
    let (_, verified) = watcher.next_use(Duration::from_secs(30));
    assert_use(&verified, &namespace, &secret, true);

    // A notice not signed with the key is refused.
    let forged = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .args(["--data", r#"{"notice":{"drillID":"00112233445566778899aabbccddeeff","namespace":"a","secret":"b","issuedAt":"2026-01-01T00:00:00Z","notAfter":"2026-01-01T00:01:00Z"},"signature":"00"}"#])
        .arg(format!("http://{listen}/drill-notices"))
        .output()
        .expect("run curl");
    assert_eq!(String::from_utf8_lossy(&forged.stdout), "401");
    let said = watcher.stop();
    assert!(!said.contains(&token));
    plugin.as_operator(&namespace, &["remove", "--yes"]);
}

#[tokio::test]
async fn a_use_while_the_watcher_was_down_is_told_when_it_starts() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let plugin = Plugin::new(cluster);
    let (namespace, secret) = planted(&plugin, &admin, "trip-down").await;
    let token = token_of(&admin, &namespace, &secret).await;
    probe(cluster, &token).await;
    eventually(Duration::from_secs(10), || async {
        label(&admin, &namespace, &secret).await
    })
    .await
    .expect("the API server stamped the Secret");

    // Named on the command line this time, as a watcher without the key names it.
    let named = format!("{namespace}/{secret}");
    let watcher = Watcher::start(&plugin, &watch_args(&namespace, &["--secret", &named]));
    let (_, alert) = watcher.next_use(Duration::from_secs(30));
    assert_use(&alert, &namespace, &secret, false);
    wait_rearmed(&admin, &namespace, &secret).await;
    assert!(!watcher.stop().contains(&token));
    plugin.as_operator(&namespace, &["remove", "--yes"]);
}

#[tokio::test]
async fn deleted_and_replaced_secrets_and_a_deleted_account_are_broken_decoys() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let plugin = Plugin::new(cluster);
    let (namespace, secret) = planted(&plugin, &admin, "trip-broken").await;
    let watcher = Watcher::start(&plugin, &watch_args(&namespace, &["--no-rearm"]));
    // The watches have listed once the first look is over; give them a moment.
    std::thread::sleep(Duration::from_secs(2));

    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &namespace);
    let old = secrets.get_metadata(&secret).await.unwrap();
    secrets
        .delete(&secret, &DeleteParams::default())
        .await
        .unwrap();
    let (_, deleted) = watcher.next_alert(Duration::from_secs(30));
    assert_eq!(deleted["signal"], "broken", "{deleted}");
    assert!(
        deleted["text"]
            .as_str()
            .unwrap()
            .contains(&format!("Secret {namespace}/{secret} was deleted")),
        "{deleted}"
    );

    let again = Secret {
        metadata: ObjectMeta {
            name: Some(secret.clone()),
            annotations: old.metadata.annotations.clone(),
            ..Default::default()
        },
        type_: Some("kubernetes.io/service-account-token".into()),
        ..Default::default()
    };
    secrets
        .create(&PostParams::default(), &again)
        .await
        .unwrap();
    let (_, replaced) = watcher.next_alert(Duration::from_secs(30));
    assert_eq!(replaced["signal"], "broken", "{replaced}");
    assert!(
        replaced["text"].as_str().unwrap().contains("was replaced"),
        "{replaced}"
    );

    // Its token, once the token controller has filled it, removed: seen in the managed
    // fields, which a metadata watch carries.
    eventually(Duration::from_secs(30), || async {
        let secret = secrets.get(&secret).await.ok()?;
        secret.data?.contains_key("token").then_some(())
    })
    .await
    .expect("the token controller filled the new Secret");
    secrets
        .patch(
            &secret,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"data": {"token": null}})),
        )
        .await
        .unwrap();
    let (_, emptied) = watcher.next_alert(Duration::from_secs(30));
    assert_eq!(emptied["signal"], "broken", "{emptied}");
    assert!(
        emptied["text"].as_str().unwrap().contains("lost its token"),
        "{emptied}"
    );

    Api::<ServiceAccount>::namespaced(admin.clone(), &namespace)
        .delete("tiller", &DeleteParams::default())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, alert) = watcher.next_alert(deadline.saturating_duration_since(Instant::now()));
        if alert["text"]
            .as_str()
            .unwrap()
            .contains(&format!("ServiceAccount {namespace}/tiller was deleted"))
        {
            assert_eq!(alert["signal"], "broken");
            break;
        }
    }
    watcher.stop();
    plugin.as_operator(&namespace, &["remove", "--yes"]);
}

#[tokio::test]
async fn the_watcher_survives_an_api_server_restart_and_tells_the_next_use() {
    support::require_bed();
    let bed = support::ExtraBed::start("tripwire-restart", &[]);
    let cluster = bed.cluster();
    let admin = cluster.client("admin").await;
    let plugin = Plugin::on(&bed.kubeconfig);
    let (namespace, secret) = planted(&plugin, &admin, "trip-restart").await;
    let token = token_of(&admin, &namespace, &secret).await;
    let watcher = Watcher::start(&plugin, &watch_args(&namespace, &[]));
    std::thread::sleep(Duration::from_secs(2));

    bed.restart_apiserver();
    probe(&cluster, &token).await;
    // kube's back-off waits at most 30 s between attempts.
    let (_, alert) = watcher.next_use(Duration::from_secs(90));
    assert_use(&alert, &namespace, &secret, false);
    wait_rearmed(&admin, &namespace, &secret).await;
    let said = watcher.stop();
    assert!(!said.contains(&token));
    eprintln!("{said}");
}

#[tokio::test]
async fn audit_events_of_a_use_join_the_tripwire_alert_as_an_update() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let plugin = Plugin::new(cluster);
    let (namespace, secret) = planted(&plugin, &admin, "trip-join").await;
    let token = token_of(&admin, &namespace, &secret).await;
    let log = cluster.audit_log_path().display().to_string();
    let watcher = Watcher::start(&plugin, &watch_args(&namespace, &["--audit-log", &log]));

    let attacker = cluster.list_secrets_with_token(&token, &namespace);
    assert!(!attacker.status.success());
    let (_, stamp) = watcher.next_use(Duration::from_secs(30));
    assert_use(&stamp, &namespace, &secret, false);
    assert!(
        stamp["text"]
            .as_str()
            .unwrap()
            .contains("audit events of the use will follow"),
        "{stamp}"
    );
    let (_, audit) = watcher.next_use(Duration::from_secs(30));
    assert_eq!(audit["signal"], "request", "{audit}");
    assert_eq!(audit["alertID"], stamp["alertID"], "{audit}");
    assert_eq!(audit["update"], true, "{audit}");
    assert!(
        !audit["sourceIPs"].as_array().unwrap().is_empty(),
        "{audit}"
    );
    assert!(!watcher.stop().contains(&token));
    plugin.as_operator(&namespace, &["remove", "--yes"]);
}
