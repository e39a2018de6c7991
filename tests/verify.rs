//! `verify` on the real control plane: the bed's own policy passes, policies that miss the
//! decoy fail and name the rule, and a drill's events are seen in a log file and through
//! an audit webhook.

mod support;

use std::path::Path;

use support::{Plugin, cluster};

const POLICIES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/controlplane");

fn checks(run: &support::Run) -> Vec<serde_json::Value> {
    run.json()["checks"].as_array().unwrap().clone()
}

fn with_id<'a>(checks: &'a [serde_json::Value], id: &str) -> Vec<&'a serde_json::Value> {
    checks.iter().filter(|c| c["id"] == id).collect()
}

#[test]
fn the_beds_policy_logs_every_attacker_request() {
    let plugin = Plugin::new(cluster());
    let policy = format!("{POLICIES}/audit-policy.yaml");
    let run = plugin.run(&[
        "--context",
        "operator",
        "verify",
        "--policy",
        &policy,
        "-o",
        "json",
    ]);
    run.assert_code(0);
    let checks = checks(&run);
    let exposure = with_id(&checks, "policy-exposure");
    assert!(exposure.len() >= 10, "{checks:#?}");
    assert!(
        exposure.iter().all(|c| c["status"] == "PASS"),
        "{exposure:#?}"
    );
    assert_eq!(run.json()["passed"], true);
    // The bed's apiserver is no static pod: its flags were not read, and verify says so.
    let backend = with_id(&checks, "audit-backend");
    assert_eq!(backend[0]["status"], "UNKNOWN", "{backend:#?}");
}

#[test]
fn a_policy_that_drops_the_decoy_fails_and_names_the_rule() {
    let plugin = Plugin::new(cluster());
    let policy = format!("{POLICIES}/audit-policy-blind.yaml");
    let run = plugin.run(&[
        "--context",
        "operator",
        "verify",
        "--policy",
        &policy,
        "-o",
        "json",
    ]);
    run.assert_code(5);
    let checks = checks(&run);
    let exposure = with_id(&checks, "policy-exposure");
    assert!(
        exposure.iter().all(|c| c["status"] == "FAIL"),
        "{exposure:#?}"
    );
    let reason = exposure[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("rule") && reason.contains("system:serviceaccount:kube-system:tiller"),
        "{reason}"
    );
    assert_eq!(run.json()["passed"], false);

    let table = plugin.run(&["--context", "operator", "verify", "--policy", &policy]);
    table.assert_code(5);
    assert!(table.stdout.contains("FAIL"), "{}", table.stdout);
}

#[test]
fn a_policy_that_omits_every_stage_fails() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("omit-all.yaml");
    std::fs::write(
        &policy,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived, ResponseStarted, ResponseComplete, Panic]\nrules:\n  - level: RequestResponse\n",
    )
    .unwrap();
    let plugin = Plugin::new(cluster());
    let run = plugin.run(&[
        "--context",
        "operator",
        "verify",
        "--policy",
        policy.to_str().unwrap(),
        "-o",
        "json",
    ]);
    run.assert_code(5);
    let checks = checks(&run);
    let exposure = with_id(&checks, "policy-exposure");
    assert!(
        exposure.iter().all(|c| c["status"] == "FAIL"
            && c["reason"]
                .as_str()
                .unwrap()
                .contains("every stage is omitted")),
        "{exposure:#?}"
    );
}

#[test]
fn an_invalid_policy_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("bad.yaml");
    std::fs::write(
        &policy,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Verbose\n",
    )
    .unwrap();
    let plugin = Plugin::new(cluster());
    let run = plugin.run(&[
        "--context",
        "operator",
        "verify",
        "--policy",
        policy.to_str().unwrap(),
    ]);
    run.assert_code(1);
    assert!(run.stderr.contains("bad.yaml"), "{}", run.stderr);
    assert!(run.stderr.contains("line 4"), "{}", run.stderr);
    assert!(run.stderr.contains("Verbose"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

#[tokio::test]
async fn end_to_end_through_the_audit_log_file() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "e2efile").await;
    let plugin = Plugin::new(cluster);
    plugin
        .run(&["--context", "operator", "-n", &namespace, "plant", "--yes"])
        .assert_code(0);
    let audit_log = cluster.audit_log_path().display().to_string();
    let run = plugin.run(&[
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
    ]);
    run.assert_code(0);
    let checks = checks(&run);
    let e2e = with_id(&checks, "e2e");
    assert_eq!(e2e.len(), 6, "{checks:#?}");
    assert!(e2e.iter().all(|c| c["status"] == "PASS"), "{e2e:#?}");
    assert!(
        e2e[0]["reason"].as_str().unwrap().contains("arrived"),
        "{e2e:#?}"
    );
    plugin
        .run(&["--context", "operator", "-n", &namespace, "remove", "--yes"])
        .assert_code(0);
}

#[test]
fn end_to_end_through_an_audit_webhook() {
    support::require_bed();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let bed = support::ExtraBed::start(
        "verify-webhook",
        &[
            ("HONEYTOKEN_AUDIT_WEBHOOK_URL", &url),
            ("HONEYTOKEN_AUDIT_WEBHOOK_MODE", "batch"),
        ],
    );
    let plugin = Plugin::on(&bed.kubeconfig);
    plugin
        .run(&["--context", "operator", "plant", "--yes"])
        .assert_code(0);
    let listen = format!("127.0.0.1:{port}");
    let policy = format!("{POLICIES}/audit-policy.yaml");
    let run = plugin.run(&[
        "--context",
        "operator",
        "verify",
        "--policy",
        &policy,
        "--e2e",
        "--listen",
        &listen,
        "--timeout",
        "20",
        "-o",
        "json",
    ]);
    run.assert_code(0);
    let checks = checks(&run);
    let e2e = with_id(&checks, "e2e");
    assert_eq!(e2e.len(), 6, "{checks:#?}");
    assert!(e2e.iter().all(|c| c["status"] == "PASS"), "{e2e:#?}");
    assert!(
        e2e[0]["reason"].as_str().unwrap().contains("audit webhook"),
        "{e2e:#?}"
    );
    assert!(Path::new(&bed.audit_log).exists());
}
