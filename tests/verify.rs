//! `verify` on the real control plane: the bed's own policy passes, policies that miss the
//! decoy fail and name the rule, and a drill's events are seen in a log file and through
//! an audit webhook.

mod support;

use std::path::Path;

use kube::Api;
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
    assert_drill_passed(&e2e);
    assert!(
        e2e[1]["reason"].as_str().unwrap().contains("arrived"),
        "{e2e:#?}"
    );
    plugin
        .run(&["--context", "operator", "-n", &namespace, "remove", "--yes"])
        .assert_code(0);
}

#[test]
fn end_to_end_through_an_audit_webhook() {
    support::require_bed();
    let port = support::free_port();
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
    assert_drill_passed(&e2e);
    assert!(
        e2e[1]["reason"].as_str().unwrap().contains("audit webhook"),
        "{e2e:#?}"
    );
    assert!(Path::new(&bed.audit_log).exists());
}

/// A stand-in `aws` CLI (we cannot reach AWS from here): `eks describe-cluster` answers
/// that audit logging is on, and `logs filter-log-events` answers with the bed's real
/// audit events in CloudWatch's format, as EKS would deliver them.
const STAND_IN_AWS: &str = r#"#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
with open(os.environ["STAND_IN_RECORD"], "a") as record:
    record.write(json.dumps(args) + "\n")
if args[:2] == ["eks", "describe-cluster"]:
    print(json.dumps({"clusterLogging": [{"types": ["api", "audit"], "enabled": True}]}))
elif args[:2] == ["logs", "filter-log-events"]:
    pattern = args[args.index("--filter-pattern") + 1]
    user = pattern.split('"')[1]
    events = []
    for number, line in enumerate(open(os.environ["STAND_IN_AUDIT_LOG"])):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("user", {}).get("username") == user:
            events.append({"logStreamName": "kube-apiserver-audit-0", "timestamp": 0,
                           "message": line.strip(), "ingestionTime": 0, "eventId": str(number)})
    print(json.dumps({"events": events, "searchedLogStreams": []}))
else:
    print("stand-in aws: unexpected " + " ".join(args), file=sys.stderr)
    sys.exit(2)
"#;

#[tokio::test]
async fn stand_in_aws_cli_confirms_audit_logging_and_delivers_the_drill_on_eks() {
    use k8s_openapi::api::core::v1::Node;
    use kube::api::PostParams;
    use std::os::unix::fs::PermissionsExt;

    support::require_bed();
    let bed = support::ExtraBed::start("verify-eks", &[]);
    let admin = bed.cluster().client("admin").await;
    // What an EKS worker looks like to the API: its providerID and node-group label.
    let node: Node = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "ip-10-0-1-17.ec2.internal",
                     "labels": {"eks.amazonaws.com/nodegroup": "workers"}},
        "spec": {"providerID": "aws:///us-east-1a/i-0abc123def4567890"}
    }))
    .unwrap();
    Api::<Node>::all(admin.clone())
        .create(&PostParams::default(), &node)
        .await
        .unwrap();

    // The kubeconfig `aws eks update-kubeconfig` writes names contexts by the cluster's ARN.
    let dir = tempfile::tempdir().unwrap();
    let arn = "arn:aws:eks:us-east-1:123456789012:cluster/prod-eu";
    let text = std::fs::read_to_string(&bed.kubeconfig).unwrap().replace(
        "name: operator\n    context",
        &format!("name: {arn}\n    context"),
    );
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, text).unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(bin.join("aws"), STAND_IN_AWS).unwrap();
    std::fs::set_permissions(bin.join("aws"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let record = dir.path().join("argv");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());

    let plugin = Plugin::on(&kubeconfig);
    let with_stand_in = |command: &mut std::process::Command| {
        command
            .env("PATH", &path)
            .env("STAND_IN_RECORD", &record)
            .env("STAND_IN_AUDIT_LOG", &bed.audit_log);
    };
    plugin
        .run_with(&["--context", arn, "plant", "--yes"], with_stand_in)
        .assert_code(0);
    let run = plugin.run_with(
        &[
            "--context",
            arn,
            "verify",
            "--e2e",
            "--timeout",
            "30",
            "-o",
            "json",
        ],
        with_stand_in,
    );
    run.assert_code(0);
    assert_eq!(run.json()["provider"], "eks", "{}", run.stdout);
    let checks = checks(&run);
    let managed = with_id(&checks, "managed-audit");
    assert_eq!(managed[0]["status"], "PASS", "{managed:#?}");
    let e2e = with_id(&checks, "e2e");
    assert_drill_passed(&e2e);

    let calls: Vec<Vec<String>> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let describe = calls
        .iter()
        .find(|c| c[..2] == ["eks", "describe-cluster"])
        .expect("describe-cluster was run");
    assert!(
        describe.windows(2).any(|w| w == ["--name", "prod-eu"]),
        "{describe:?}"
    );
    assert!(
        describe.windows(2).any(|w| w == ["--region", "us-east-1"]),
        "{describe:?}"
    );
    let logs = calls
        .iter()
        .find(|c| c[..2] == ["logs", "filter-log-events"])
        .expect("filter-log-events was run");
    assert!(
        logs.windows(2)
            .any(|w| w == ["--log-group-name", "/aws/eks/prod-eu/cluster"]),
        "{logs:?}"
    );
}

/// The end-to-end rows of a drill that passed: `GET /version` first, which the tripwire
/// and not the audit log is relied on to catch (advisory), then the six requests whose
/// events arrived, then the tripwire fired and re-armed.
#[track_caller]
fn assert_drill_passed(e2e: &[&serde_json::Value]) {
    assert_eq!(e2e.len(), 8, "{e2e:#?}");
    assert!(e2e.iter().all(|c| c["status"] == "PASS"), "{e2e:#?}");
    assert_eq!(e2e[0]["title"], "e2e: GET /version", "{e2e:#?}");
    assert_eq!(e2e[0]["critical"], false, "{e2e:#?}");
    assert!(
        e2e[0]["reason"].as_str().unwrap().contains("tripwire"),
        "{e2e:#?}"
    );
    assert!(e2e[1..7].iter().all(|c| c["critical"] == true), "{e2e:#?}");
    assert_eq!(
        e2e[7]["title"], "e2e: tripwire fires and re-arms",
        "{e2e:#?}"
    );
    assert!(
        e2e[7]["reason"].as_str().unwrap().contains("re-armed at"),
        "{e2e:#?}"
    );
}
