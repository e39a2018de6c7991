//! The audit side of the tripwire, on the real control plane: each authentication with a
//! decoy's legacy token makes the API server stamp `kubernetes.io/legacy-token-last-used`
//! on its Secret (first use since the label was removed), with audit logging off as well;
//! the stamp's own audit event (a `patch` by `system:apiserver`) is found by `scan`, raised
//! by `watch` (grouped with the requests of the same use), and neither the re-arm nor the
//! stamp of any other Secret is taken for a use. `verify` says which probes what catches.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::Api;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::Value;
use support::watcher::Watcher;
use support::{Plugin, cluster};

const LAST_USED: &str = "kubernetes.io/legacy-token-last-used";

/// The API server forgets a token's successful authentication after 10 s; a use within
/// that time of the previous one is not stamped again.
const TOKEN_CACHE: Duration = Duration::from_secs(11);

/// The probe attackers start with: `GET /version` with the token.
async fn probe_version(cluster: &support::Cluster, token: &str) {
    let attacker = cluster.client_with_token(token).await;
    attacker
        .apiserver_version()
        .await
        .expect("GET /version with the decoy's token");
}

/// The label's value on the Secret, as admin reads it.
async fn label_of(admin: &kube::Client, namespace: &str, secret: &str) -> Option<String> {
    let secret = Api::<Secret>::namespaced(admin.clone(), namespace)
        .get(secret)
        .await
        .expect("read the decoy Secret as admin");
    secret
        .metadata
        .labels
        .unwrap_or_default()
        .get(LAST_USED)
        .cloned()
}

/// Waits for the API server to have stamped the Secret; returns the label's value.
async fn stamped(admin: &kube::Client, namespace: &str, secret: &str) -> String {
    support::eventually(Duration::from_secs(10), || async {
        label_of(admin, namespace, secret).await
    })
    .await
    .unwrap_or_else(|| panic!("the API server did not stamp {namespace}/{secret}"))
}

/// Re-arms as someone other than the API server would: removes the label (admin's JSON
/// patch, as `kubectl label ... -` sends a merge patch).
async fn rearm(admin: &kube::Client, namespace: &str, secret: &str) {
    let patch = serde_json::json!({"metadata": {"labels": {LAST_USED: null}}});
    Api::<Secret>::namespaced(admin.clone(), namespace)
        .patch(secret, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("remove the label as admin");
    assert_eq!(label_of(admin, namespace, secret).await, None);
}

fn today() -> String {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string()
}

/// The API server's patches of `namespace/secret` as `system:apiserver` in `events`.
fn stamps_in<'a>(events: &'a [Value], namespace: &str, secret: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| {
            e["user"]["username"] == "system:apiserver"
                && e["verb"] == "patch"
                && e["objectRef"]["resource"] == "secrets"
                && e["objectRef"]["namespace"] == namespace
                && e["objectRef"]["name"] == secret
        })
        .collect()
}

/// Another legacy token in the decoy's namespace, of an ordinary account, used once: its
/// Secret gets stamped by `system:apiserver` too, and must never count as the decoy's.
async fn other_token_used(
    cluster: &support::Cluster,
    admin: &kube::Client,
    namespace: &str,
) -> String {
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), namespace);
    let account = ServiceAccount {
        metadata: ObjectMeta {
            name: Some("builder".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    accounts
        .create(&PostParams::default(), &account)
        .await
        .expect("create account builder");
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), namespace);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("builder-token-q4m8x".into()),
            annotations: Some(
                [(
                    "kubernetes.io/service-account.name".to_string(),
                    "builder".to_string(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        type_: Some("kubernetes.io/service-account-token".into()),
        ..Default::default()
    };
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("create builder's token Secret");
    let token = support::eventually(Duration::from_secs(30), || async {
        let secret = secrets.get("builder-token-q4m8x").await.ok()?;
        let token = secret.data?.get("token")?.0.clone();
        Some(String::from_utf8(token).unwrap())
    })
    .await
    .expect("the token controller filled builder's token");
    probe_version(cluster, &token).await;
    stamped(admin, namespace, "builder-token-q4m8x").await;
    "builder-token-q4m8x".into()
}

#[tokio::test]
async fn scan_and_watch_report_the_stamp_of_a_probe_the_policy_drops_and_not_the_rearm() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "stamp").await;
    let user = format!("system:serviceaccount:{namespace}:tiller");
    let plugin = Plugin::new(cluster);
    let op = |args: &[&str]| plugin.as_operator(&namespace, args);
    let audit_log = cluster.audit_log_path().display().to_string();
    let log = cluster.audit_log();

    let planted = op(&["plant", "--yes", "-o", "json"]);
    planted.assert_code(0);
    let secret = planted.json()["secret"].as_str().unwrap().to_string();
    let shown = format!("{namespace}/{secret}");
    let token = support::token_of(&admin, &namespace, &secret).await;
    assert_eq!(
        label_of(&admin, &namespace, &secret).await,
        None,
        "a new decoy is armed"
    );

    // The watcher learns the decoy and its Secret from the cluster, with the key.
    let watcher = Watcher::start(plugin.command(&[
        "--context",
        "operator",
        "-n",
        &namespace,
        "watch",
        "--audit-log",
        &audit_log,
        "--group-window",
        "1",
    ]));
    assert!(
        watcher
            .stderr()
            .contains(&format!("the API server's stamps of {shown}")),
        "{}",
        watcher.stderr()
    );
    let other = other_token_used(cluster, &admin, &namespace).await;
    watcher.assert_quiet(
        Duration::from_secs(3),
        "another token's stamp in the same namespace",
    );

    // 1. GET /version: the bed's policy drops the request, and logs the stamp.
    probe_version(cluster, &token).await;
    assert_eq!(stamped(&admin, &namespace, &secret).await, today());
    let alert = watcher.next_alert(Duration::from_secs(10));
    assert_eq!(alert["signal"], "stamp", "{alert:#}");
    assert_eq!(alert["user"], user.as_str(), "{alert:#}");
    assert_eq!(alert["drill"], false, "{alert:#}");
    assert_eq!(alert["requests"], serde_json::json!([]), "{alert:#}");
    assert_eq!(alert["stamps"].as_array().unwrap().len(), 1, "{alert:#}");
    assert_eq!(alert["stamps"][0]["secret"], shown.as_str(), "{alert:#}");
    assert!(
        alert["text"]
            .as_str()
            .unwrap()
            .starts_with(&format!("DECOY TOKEN AUTHENTICATED: {user}")),
        "{alert:#}"
    );

    // 2. The re-arm: a patch of the same Secret, by someone else. No alert.
    rearm(&admin, &namespace, &secret).await;
    watcher.assert_quiet(Duration::from_secs(3), "the re-arm");

    // 3. An attacker's kubectl after the token cache has forgotten the token: the stamp
    // and the request are one alert.
    tokio::time::sleep(TOKEN_CACHE).await;
    let attacker = cluster.list_secrets_with_token(&token, &namespace);
    assert!(!attacker.status.success(), "the decoy may not read Secrets");
    stamped(&admin, &namespace, &secret).await;
    let alert = watcher.next_alert(Duration::from_secs(10));
    assert_eq!(alert["signal"], "request", "{alert:#}");
    assert!(
        alert["userAgent"].as_str().unwrap().starts_with("kubectl/"),
        "{alert:#}"
    );
    assert!(
        alert["requests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["verb"] == "list"),
        "{alert:#}"
    );
    let stamps = alert["stamps"].as_array().unwrap();
    assert_eq!(
        stamps.len(),
        1,
        "the stamp is grouped with its use: {alert:#}"
    );
    assert_eq!(stamps[0]["secret"], shown.as_str());
    watcher.assert_quiet(Duration::from_secs(2), "the attacker's one alert");

    // The log holds what was claimed: two stamps of the decoy's Secret, the re-arm by
    // admin, and the other Secret's stamp.
    let events = log.new_events();
    let truth: BTreeSet<String> = stamps_in(&events, &namespace, &secret)
        .iter()
        .map(|e| e["auditID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(truth.len(), 2, "the API server stamped twice");
    let rearm_ids: BTreeSet<String> = events
        .iter()
        .filter(|e| {
            e["user"]["username"] == "admin"
                && e["verb"] == "patch"
                && e["objectRef"]["name"] == secret.as_str()
        })
        .map(|e| e["auditID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(rearm_ids.len(), 1, "the re-arm is in the log");
    assert_eq!(stamps_in(&events, &namespace, &other).len(), 1);
    assert!(
        events
            .iter()
            .all(|e| !(e["user"]["username"] == user.as_str() && e["requestURI"] == "/version")),
        "the bed's policy drops GET /version"
    );

    // scan finds each stamp once, as real uses, and nothing for the re-arm or the other
    // Secret.
    let scan = op(&["scan", &audit_log, "-o", "json"]);
    scan.assert_code(3);
    let report = scan.json();
    assert_eq!(report["secrets"], serde_json::json!([shown]));
    let uses = report["uses"].as_array().unwrap();
    let found: BTreeSet<String> = uses
        .iter()
        .filter(|u| u["signal"] == "stamp")
        .map(|u| u["auditID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(found, truth, "{uses:#?}");
    assert_eq!(report["stamps"], 2);
    for stamp in uses.iter().filter(|u| u["signal"] == "stamp") {
        assert_eq!(stamp["user"], user.as_str());
        assert_eq!(stamp["secret"], shown.as_str());
        assert_eq!(stamp["drill"], false);
    }
    assert!(
        uses.iter()
            .all(|u| !rearm_ids.contains(u["auditID"].as_str().unwrap()))
    );
    assert!(
        uses.iter()
            .all(|u| u["secret"] != format!("{namespace}/{other}").as_str())
    );
    assert_eq!(
        uses.iter().filter(|u| u["signal"] == "request").count(),
        1,
        "the attacker's list: {uses:#?}"
    );

    drop(watcher);
    op(&["remove", "--yes"]).assert_code(0);
    assert!(!plugin.transcript.borrow().contains(&token));
}

#[tokio::test]
async fn with_audit_logging_off_a_version_probe_still_stamps_the_decoys_secret() {
    support::require_bed();
    let bed = support::ExtraBed::start_without_audit("no-audit");
    let cluster = bed.cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "noaudit").await;
    let plugin = Plugin::on(&bed.kubeconfig);
    let op = |args: &[&str]| plugin.as_operator(&namespace, args);
    let planted = op(&["plant", "--yes", "-o", "json"]);
    planted.assert_code(0);
    let secret = planted.json()["secret"].as_str().unwrap().to_string();
    let token = support::token_of(&admin, &namespace, &secret).await;

    // verify: no policy to read, so the audit side is unknown; the tripwire is armed.
    let before = op(&["verify", "-o", "json"]);
    let checks = before.json()["checks"].as_array().unwrap().clone();
    let probes: Vec<&Value> = checks.iter().filter(|c| c["id"] == "probe").collect();
    assert_eq!(probes.len(), 8, "{checks:#?}");
    for probe in &probes {
        assert_eq!(
            probe["caughtBy"],
            serde_json::json!(["tripwire"]),
            "{probe:#}"
        );
        assert_eq!(probe["critical"], false);
    }

    assert_eq!(label_of(&admin, &namespace, &secret).await, None);
    probe_version(&cluster, &token).await;
    assert_eq!(stamped(&admin, &namespace, &secret).await, today());

    // Stamped: until the label is removed, nothing sees the next probe.
    let after = op(&["verify", "-o", "json"]);
    let checks = after.json()["checks"].as_array().unwrap().clone();
    let version = checks
        .iter()
        .find(|c| c["title"] == "probe: GET /version")
        .unwrap();
    assert_eq!(version["caughtBy"], serde_json::json!([]), "{version:#}");
    let stamp = checks.iter().find(|c| c["id"] == "probe-stamp").unwrap();
    assert!(
        stamp["reason"]
            .as_str()
            .unwrap()
            .contains("the tripwire is tripped"),
        "{stamp:#}"
    );

    // Re-armed, the next probe after the token cache stamps again.
    rearm(&admin, &namespace, &secret).await;
    tokio::time::sleep(TOKEN_CACHE).await;
    probe_version(&cluster, &token).await;
    assert_eq!(stamped(&admin, &namespace, &secret).await, today());

    op(&["remove", "--yes"]).assert_code(0);
    assert!(!plugin.transcript.borrow().contains(&token));
}

#[test]
fn verify_tells_which_probes_the_beds_policy_and_the_stamp_catch() {
    let plugin = Plugin::new(cluster());
    let policy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/controlplane/audit-policy.yaml"
    );
    let run = plugin.run(&[
        "--context",
        "operator",
        "verify",
        "--policy",
        policy,
        "-o",
        "json",
    ]);
    run.assert_code(0);
    let checks = run.json()["checks"].as_array().unwrap().clone();
    let caught = |title: &str| {
        checks
            .iter()
            .find(|c| c["title"] == title)
            .unwrap_or_else(|| panic!("no check {title}: {checks:#?}"))
    };
    let stamp = checks.iter().find(|c| c["id"] == "probe-stamp").unwrap();
    assert_eq!(stamp["status"], "PASS", "{stamp:#}");
    assert!(
        stamp["reason"]
            .as_str()
            .unwrap()
            .contains("logged at Metadata")
    );
    let with_stamp: &[&str] = match stamp["reason"].as_str().unwrap() {
        r if r.contains("the tripwire is armed") => &["stampEvent", "tripwire"],
        // No decoy planted in kube-system: the tripwire's state is not known.
        _ => &[],
    };
    for path in ["/version", "/healthz", "/livez", "/readyz"] {
        let check = caught(&format!("probe: GET {path}"));
        assert_eq!(
            check["caughtBy"],
            serde_json::json!(with_stamp),
            "{check:#}"
        );
        assert!(
            check["reason"].as_str().unwrap().contains("not logged"),
            "{check:#}"
        );
    }
    for path in [
        "/api",
        "/apis",
        "/.well-known/openid-configuration",
        "/openid/v1/jwks",
    ] {
        let check = caught(&format!("probe: GET {path}"));
        assert_eq!(check["caughtBy"][0], "auditLog", "{check:#}");
        assert_eq!(check["status"], "PASS", "{check:#}");
    }
    assert!(checks.iter().all(|c| c["id"] != "probe-audit-blind"));

    // A policy that logs neither the probes nor writes by the API server says so.
    let dir = tempfile::tempdir().unwrap();
    let blind = dir.path().join("blind.yaml");
    std::fs::write(
        &blind,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: None\n    users: [\"system:apiserver\"]\n  - level: None\n    nonResourceURLs: [\"*\"]\n  - level: Metadata\n",
    )
    .unwrap();
    let run = plugin.run(&[
        "--context",
        "operator",
        "verify",
        "--policy",
        blind.to_str().unwrap(),
        "-o",
        "json",
    ]);
    // It also drops the drill's GET /api, a critical check.
    run.assert_code(5);
    let checks = run.json()["checks"].as_array().unwrap().clone();
    let said = checks
        .iter()
        .find(|c| c["id"] == "probe-audit-blind")
        .unwrap_or_else(|| panic!("{checks:#?}"));
    assert_eq!(said["status"], "WARN");
    assert!(
        said["reason"]
            .as_str()
            .unwrap()
            .contains("logs none of the probes")
    );
    let table = plugin.run(&[
        "--context",
        "operator",
        "verify",
        "--policy",
        blind.to_str().unwrap(),
    ]);
    assert!(table.stdout.contains("caught by"), "{}", table.stdout);
}
