//! `watch --tripwire` end to end on the real control plane: the real API server stamps the
//! decoy's Secret when its token authenticates (a bare `GET /version` suffices, which most
//! audit policies do not log), the watcher tells it at once and re-arms; drills announced
//! to the watcher are drills, a use right after is an attack; a use while the watcher was
//! down is told when it starts; an API server restart is survived; broken decoys are told;
//! and the token appears nowhere in what the watcher says.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::Api;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use serde_json::Value;
use support::watcher::{http_get, sample};
use support::{Cluster, Plugin, cluster, eventually, planted, token_of};

const LABEL: &str = "kubernetes.io/legacy-token-last-used";

/// A running `watch --tripwire`, with its health endpoints on a free port: it is started
/// once `/readyz` answers 200, that is once every watch has listed, so a test never races
/// the first list.
struct Watcher(support::watcher::Watcher);

impl Watcher {
    fn start(plugin: &Plugin, args: &[&str]) -> Watcher {
        let mut args = args.to_vec();
        args.extend(["--metrics-address", "127.0.0.1:0"]);
        let watcher = support::watcher::Watcher::start(plugin.command(&args));
        watcher.wait_ready(Duration::from_secs(60));
        Watcher(watcher)
    }

    /// The next alert, and when it was read.
    fn next_alert(&self, limit: Duration) -> (Instant, Value) {
        self.0.next_alert_at(limit)
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
    fn stop(self) -> String {
        let (_, stdout, stderr) = self.0.stop_with_stdout();
        format!("{stdout}{stderr}")
    }
}

/// The attacker's cheapest probe: `GET /version` with the token, nothing else; when its
/// answer came (the API server has authenticated, and stamped, by then).
async fn probe(cluster: &Cluster, token: &str) -> Instant {
    cluster
        .client_with_token(token)
        .await
        .apiserver_version()
        .await
        .expect("GET /version with the decoy token");
    Instant::now()
}

/// How long after the probe's answer a use was told. Issue 12 asks for one alert within
/// 2 s, and the tripwire meets it on an idle machine (the latency is printed); but the
/// tests run on 2 shared cores beside other builds and tests, where a watch event or the
/// watcher itself can wait its turn for seconds. So only a generous bound is asserted: a
/// tripwire that told only after polling, or after the 10 s token cache, would still fail.
const TOLD_WITHIN: Duration = Duration::from_secs(10);

fn assert_told_soon(answered: Instant, told: Instant, which: &str) {
    let latency = told.saturating_duration_since(answered);
    eprintln!(
        "{which} use told {} ms after the probe's answer",
        latency.as_millis()
    );
    assert!(
        latency < TOLD_WITHIN,
        "the {which} use was told {latency:?} after the probe's answer"
    );
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
    assert_told_soon(first, at, "first");
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
    assert_told_soon(second, at, "second");
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

    // While the API server is away, the watcher is not ready: /readyz is polled meanwhile.
    let address = watcher.0.health_address();
    let stop_polling = Arc::new(AtomicBool::new(false));
    let polling = {
        let (address, stop) = (address.clone(), stop_polling.clone());
        std::thread::spawn(move || {
            let mut not_ready = false;
            while !stop.load(Ordering::Relaxed) {
                not_ready |= http_get(&address, "/readyz").0 == 503;
                std::thread::sleep(Duration::from_millis(100));
            }
            not_ready
        })
    };
    bed.restart_apiserver();
    probe(&cluster, &token).await;
    // kube's back-off waits at most 30 s between attempts.
    let (_, alert) = watcher.next_use(Duration::from_secs(90));
    assert_use(&alert, &namespace, &secret, false);
    wait_rearmed(&admin, &namespace, &secret).await;
    // Its watches failed while the API server was away; they work again, and so it is
    // ready again.
    watcher.0.wait_ready(Duration::from_secs(60));
    stop_polling.store(true, Ordering::Relaxed);
    assert!(
        polling.join().unwrap(),
        "/readyz never answered 503 while the API server was away; stderr:\n{}",
        watcher.0.stderr()
    );
    let (_, scrape) = http_get(&address, "/metrics");
    assert!(
        sample(
            &scrape,
            "token_watch_source_errors_total{source=\"tripwire\"}"
        )
        .is_some_and(|errors| errors >= 1.0),
        "{scrape}"
    );
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
    // One use, counted once: the update is not counted again.
    let (_, scrape) = http_get(&watcher.0.health_address(), "/metrics");
    let count = |source: &str, signal: &str| {
        sample(
            &scrape,
            &format!(
                "token_watch_alerts_total{{source=\"{source}\",signal=\"{signal}\",drill=\"false\"}}"
            ),
        )
        .unwrap_or(0.0)
    };
    assert_eq!(count("tripwire", "tripwire"), 1.0, "{scrape}");
    assert_eq!(count("audit-log", "request"), 0.0, "{scrape}");
    assert!(!watcher.stop().contains(&token));
    plugin.as_operator(&namespace, &["remove", "--yes"]);
}
