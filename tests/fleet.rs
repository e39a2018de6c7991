//! A fleet on the bed: two beds of their own and two contexts that never answer, in one
//! kubeconfig; every context at once, one table or document, one exit code.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use support::fleet::{FleetBeds, row_of, rows_of, secret_of};

#[tokio::test]
async fn status_of_a_fleet_reports_each_context_and_exits_with_the_worst() {
    let fleet = FleetBeds::start("fleet-status");
    let plugin = fleet.plugin();
    // Plant on every context: the two beds get a decoy each, the others are rows saying why
    // not, and the run exits 1 for them.
    let planted = plugin.run(&[
        "--all-contexts",
        "--context-timeout",
        "3",
        "plant",
        "--yes",
        "--profile",
        "tiller",
    ]);
    planted.assert_code(1);
    assert!(
        planted
            .stdout
            .contains("4 contexts: 2 planted, 1 unreachable, 1 timed out."),
        "{}",
        planted.stdout
    );
    let secrets = [secret_of(&plugin, "one"), secret_of(&plugin, "two")];

    // Only the reachable beds: both armed, exit 0, a row each, context first.
    let both = plugin.run(&["--context", "one,two", "status"]);
    both.assert_code(0);
    let rows: Vec<&str> = both.stdout.lines().collect();
    assert!(
        rows[0].split_whitespace().next() == Some("CONTEXT"),
        "{}",
        both.stdout
    );
    for context in ["one", "two"] {
        assert!(
            rows_of(&both.stdout, context)
                .iter()
                .any(|r| r.contains("kube-system/tiller") && r.contains("armed")),
            "no armed row for {context}:\n{}",
            both.stdout
        );
    }
    assert!(
        both.stdout.contains("2 contexts: 2 armed."),
        "{}",
        both.stdout
    );

    // verify of both beds with their audit policy: each passes, one row each says so.
    let policy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/controlplane/audit-policy.yaml"
    );
    let verified = plugin.run(&[
        "--context",
        "one,two",
        "verify",
        "--policy",
        policy,
        "-o",
        "json",
    ]);
    verified.assert_code(0);
    let report = verified.json();
    assert_eq!(report["command"], "verify");
    for context in report["contexts"].as_array().unwrap() {
        assert_eq!(context["report"]["passed"], true, "{context}");
        assert_eq!(
            context["report"]["username"],
            "system:serviceaccount:kube-system:tiller"
        );
    }
    // Without the policy, the critical policy check cannot pass anywhere: exit 5 beats the
    // unreachable context's 1, and the table marks the critical rows.
    let unknown = plugin.run(&["--context", "one,gone", "verify"]);
    unknown.assert_code(5);
    assert!(
        unknown.stdout.contains("audit policy (critical)"),
        "{}",
        unknown.stdout
    );
    assert!(unknown.stdout.contains("UNREACHABLE"), "{}", unknown.stdout);
    assert!(
        unknown
            .stdout
            .contains("2 contexts: 1 did not pass, 1 unreachable."),
        "{}",
        unknown.stdout
    );
    let sink = plugin.run(&["--all-contexts", "verify", "--e2e", "--audit-log", policy]);
    sink.assert_code(1);
    assert!(
        sink.stderr
            .contains("which a fleet's clusters do not share"),
        "{}",
        sink.stderr
    );

    // Every context: the refused one and the silent one are rows of their own, each costing
    // no more than its own timeout, and the run exits 1 (not reached beats fine).
    let all = plugin.run(&[
        "--all-contexts",
        "--context-timeout",
        "3",
        "status",
        "-o",
        "json",
    ]);
    all.assert_code(1);
    let report = all.json();
    assert_eq!(report["kind"], "FleetReport");
    assert_eq!(report["schemaVersion"], 1);
    assert_eq!(report["command"], "status");
    assert_eq!(report["exitCode"], 1);
    let contexts = report["contexts"].as_array().unwrap();
    let names: Vec<&str> = contexts
        .iter()
        .map(|c| c["context"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["one", "two", "gone", "silent"]);
    for armed in &contexts[..2] {
        assert_eq!(armed["result"], "ok");
        assert_eq!(armed["exitCode"], 0);
        assert_eq!(armed["report"]["decoys"][0]["verdict"], "armed");
        assert_eq!(armed["report"]["schemaVersion"], 1);
    }
    assert_eq!(contexts[2]["result"], "unreachable");
    assert!(
        contexts[2]["error"]
            .as_str()
            .unwrap()
            .contains("Connection refused"),
        "{}",
        contexts[2]
    );
    assert_eq!(contexts[3]["result"], "timedOut");
    assert!(
        contexts[3]["error"].as_str().unwrap().contains("3s"),
        "{}",
        contexts[3]
    );

    // The attacker uses the decoy of bed two: the fleet is TRIPPED, and the table says where.
    let admin = fleet.two.cluster().client("admin").await;
    let token = support::token_of(&admin, "kube-system", &secrets[1]).await;
    let attack = fleet
        .two
        .cluster()
        .list_secrets_with_token(&token, "kube-system");
    assert!(!attack.status.success());
    let tripped = support::eventually(Duration::from_secs(10), || async {
        let run = plugin.run(&["--all-contexts", "--skip-context", "s*", "status"]);
        (run.code == Some(3)).then_some(run)
    })
    .await
    .expect("the fleet's status did not exit 3 (TRIPPED) within 10s of the token's use");
    let row_of = |context: &str| row_of(&tripped.stdout, context);
    assert!(row_of("two").contains("TRIPPED"), "{}", tripped.stdout);
    assert!(row_of("one").contains("armed"), "{}", tripped.stdout);
    assert!(row_of("gone").contains("UNREACHABLE"), "{}", tripped.stdout);
    assert!(!tripped.stdout.contains("silent"), "{}", tripped.stdout);
    assert!(
        tripped
            .stdout
            .contains("3 contexts: 1 armed, 1 TRIPPED, 1 unreachable."),
        "{}",
        tripped.stdout
    );

    // Remove on every context leaves both beds clean; the fleet then has no decoys, each
    // context a row saying so, and exits 6.
    let removed = plugin.run(&[
        "--all-contexts",
        "--context-timeout",
        "3",
        "remove",
        "--yes",
    ]);
    removed.assert_code(1);
    for (bed, secret) in [&fleet.one, &fleet.two].into_iter().zip(&secrets) {
        let admin = bed.cluster().client("admin").await;
        let accounts = kube::Api::<ServiceAccount>::namespaced(admin.clone(), "kube-system");
        assert!(accounts.get_opt("tiller").await.unwrap().is_none());
        let in_kube_system = kube::Api::<Secret>::namespaced(admin, "kube-system");
        assert!(in_kube_system.get_opt(secret).await.unwrap().is_none());
    }
    let empty = plugin.run(&[
        "--context",
        "one",
        "--context",
        "two",
        "status",
        "-o",
        "json",
    ]);
    empty.assert_code(6);
    for context in empty.json()["contexts"].as_array().unwrap() {
        assert_eq!(context["exitCode"], 6);
        assert_eq!(context["report"]["decoys"], serde_json::json!([]));
    }
    let table = plugin.run(&["--context", "one,two", "status"]);
    table.assert_code(6);
    assert!(
        table.stdout.contains("2 contexts: 2 no decoys."),
        "{}",
        table.stdout
    );
    assert!(!plugin.transcript.borrow().contains(&token));
}

#[test]
fn a_fleet_is_refused_where_a_command_speaks_to_one_cluster_and_names_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: a\n\
         clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n\
         users: [{name: u, user: {token: t}}]\n\
         contexts: [{name: a, context: {cluster: c, user: u}}, {name: b, context: {cluster: c, user: u}}]\n",
    )
    .unwrap();
    let plugin = support::Plugin::on(&kubeconfig);
    let rules = plugin.run(&["--all-contexts", "rules"]);
    rules.assert_code(1);
    assert!(
        rules.stderr.contains("rules works with one context"),
        "{}",
        rules.stderr
    );
    let unknown = plugin.run(&["--context", "a,nope", "status"]);
    unknown.assert_code(1);
    assert!(
        unknown
            .stderr
            .contains("nope do not exist in the kubeconfig (it has: a, b)"),
        "{}",
        unknown.stderr
    );
    let shared = plugin.run(&["--all-contexts", "--user", "u", "status"]);
    shared.assert_code(1);
    assert!(
        shared.stderr.contains("--cluster and --user"),
        "{}",
        shared.stderr
    );
}
