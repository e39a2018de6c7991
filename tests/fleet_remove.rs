//! remove and test-trigger over a fleet on the bed: two beds of their own, a context that is
//! refused and one that never answers, in one kubeconfig. Each decides for every context,
//! then acts in each on its own, and ends with one table or document and one exit code.

mod support;

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::Api;

use support::fleet::{FleetBeds, row_of};

/// Whether the decoy's account and Secret are in the bed, as its admin sees them.
async fn present(admin: &kube::Client, secret: &str) -> (bool, bool) {
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), "kube-system");
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), "kube-system");
    (
        accounts.get_opt("tiller").await.unwrap().is_some(),
        secrets.get_opt(secret).await.unwrap().is_some(),
    )
}

/// The lines of `context`'s plan in a fleet's plans, below its heading.
fn plan_of(stdout: &str, context: &str) -> String {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with(&format!("{context} (https://")))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `command` over the fleet's `one`, `two` and `gone` contexts on a terminal (the
/// terminal merges stdout and stderr), answers `answer` once the question is asked, and
/// returns all it printed.
fn on_a_terminal(
    fleet: &FleetBeds,
    plugin: &support::Plugin,
    command: &str,
    answer: &str,
) -> String {
    let mut run = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-honeytoken"));
    run.args(["--context", "one,two,gone"])
        .args(command.split_whitespace())
        .env("KUBECONFIG", &fleet.kubeconfig)
        .env("HONEYTOKEN_HOME", plugin.home.path())
        .env_remove("HONEYTOKEN_KEY")
        .env("NO_COLOR", "1");
    let (_, shown, answered) = support::terminal::on_a_terminal(
        &run,
        &[("clusters?", answer.as_bytes())],
        std::time::Duration::from_secs(60),
    );
    let text = shown.replace('\r', "");
    plugin
        .transcript
        .borrow_mut()
        .push_str(&format!("$ (on a terminal) {command}\n{text}"));
    assert!(answered, "the question was never asked:\n{text}");
    text
}

#[tokio::test]
async fn a_fleet_is_drilled_then_removed_each_cluster_on_its_own() {
    let fleet = FleetBeds::start("fleet-remove");
    let plugin = fleet.plugin();
    let secrets = fleet.plant_in_each(&plugin);
    let admins = [
        fleet.one.cluster().client("admin").await,
        fleet.two.cluster().client("admin").await,
    ];
    let tokens = [
        support::token_of(&admins[0], "kube-system", &secrets[0]).await,
        support::token_of(&admins[1], "kube-system", &secrets[1]).await,
    ];

    // test-trigger over both beds: a drill in each, one table with the context first.
    let drill = plugin.run(&["--context", "one,two", "test-trigger"]);
    drill.assert_code(0);
    assert_eq!(
        drill.stdout.split_whitespace().next(),
        Some("CONTEXT"),
        "{}",
        drill.stdout
    );
    for context in ["one", "two"] {
        let row = row_of(&drill.stdout, context);
        assert!(
            row.contains("kube-system/tiller") && row.contains("re-armed") && row.ends_with("ok"),
            "{row}\n{}",
            drill.stdout
        );
    }
    assert!(
        drill.stdout.contains("2 contexts: 2 ok."),
        "{}",
        drill.stdout
    );
    // A dry run tells each context's drill and sends nothing.
    let plans = plugin.run(&["--context", "one,two", "test-trigger", "--dry-run"]);
    plans.assert_code(0);
    for context in ["one", "two"] {
        assert!(
            plans
                .stdout
                .contains(&format!("{context}: A drill would send these requests")),
            "{}",
            plans.stdout
        );
        assert!(
            row_of(&plans.stdout, context).ends_with("would drill"),
            "{}",
            plans.stdout
        );
    }
    assert!(
        plans.stdout.contains("2 contexts: 2 would drill."),
        "{}",
        plans.stdout
    );
    // Each bed's status knows of its one drill.
    let status = plugin.run(&["--context", "one,two", "status", "-o", "json"]);
    status.assert_code(0);
    for context in status.json()["contexts"].as_array().unwrap() {
        let decoy = &context["report"]["decoys"][0];
        assert_eq!(decoy["verdict"], "armed", "{decoy:#}");
        assert_eq!(
            decoy["drillDays"].as_array().map(Vec::len),
            Some(1),
            "{decoy:#}"
        );
        assert!(decoy["lastRearmedAt"].is_string(), "{decoy:#}");
    }

    // Every context, as a document: the two beds drilled, the refused and the silent ones
    // a result each, and the run exits 1 (not reached beats fine).
    let all = plugin.run(&[
        "--all-contexts",
        "--context-timeout",
        "3",
        "test-trigger",
        "-o",
        "json",
    ]);
    all.assert_code(1);
    let report = all.json();
    assert_eq!(report["kind"], "FleetReport");
    assert_eq!(report["command"], "test-trigger");
    assert_eq!(report["exitCode"], 1);
    let contexts = report["contexts"].as_array().unwrap();
    let names: Vec<&str> = contexts
        .iter()
        .map(|c| c["context"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["one", "two", "gone", "silent"]);
    for drilled in &contexts[..2] {
        assert_eq!(drilled["result"], "ok", "{drilled:#}");
        assert_eq!(drilled["exitCode"], 0, "{drilled:#}");
        let decoy = &drilled["report"]["decoys"][0];
        assert_eq!(decoy["result"], "ok", "{decoy:#}");
        assert_eq!(
            decoy["drill"]["tripwire"]["outcome"], "rearmed",
            "{decoy:#}"
        );
    }
    assert_eq!(contexts[2]["result"], "unreachable", "{:#}", contexts[2]);
    assert_eq!(contexts[3]["result"], "timedOut", "{:#}", contexts[3]);

    // A dry run over every context shows each bed's plan, and changes nothing.
    let dry = plugin.run(&[
        "--all-contexts",
        "--context-timeout",
        "3",
        "remove",
        "--dry-run",
    ]);
    dry.assert_code(1);
    for (context, secret) in ["one", "two"].iter().zip(&secrets) {
        let plan = plan_of(&dry.stdout, context);
        assert!(
            plan.contains(&format!("secret/{secret} would be deleted"))
                && plan.contains("serviceaccount/tiller would be deleted"),
            "{}",
            dry.stdout
        );
        assert!(
            row_of(&dry.stdout, context).contains("would remove"),
            "{}",
            dry.stdout
        );
    }
    assert!(
        row_of(&dry.stdout, "gone").contains("UNREACHABLE"),
        "{}",
        dry.stdout
    );
    assert!(
        row_of(&dry.stdout, "silent").contains("TIMED OUT"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout
            .contains("(dry run: nothing was deleted in any cluster)"),
        "{}",
        dry.stdout
    );
    // --profile narrows in each context; each context's document is remove's for one decoy.
    let named = plugin.run(&[
        "--context",
        "one,two",
        "remove",
        "--profile",
        "tiller",
        "--dry-run",
        "-o",
        "json",
    ]);
    named.assert_code(0);
    for (context, secret) in named.json()["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&secrets)
    {
        let report = &context["report"];
        assert_eq!(report["result"], "wouldRemove", "{report:#}");
        assert_eq!(report["serviceAccount"], "tiller", "{report:#}");
        assert_eq!(report["objects"][0]["name"], secret.as_str(), "{report:#}");
        assert!(report.get("decoys").is_none(), "{report:#}");
    }
    // On a terminal every context's plan is shown and one question asked (dialoguer draws
    // it again with the answer); no is no everywhere.
    let declined = on_a_terminal(&fleet, &plugin, "remove", "n");
    assert!(
        declined.contains("Remove these 2 decoys in 2 clusters?")
            && declined.matches("(y/n)").count() == 1,
        "{declined}"
    );
    for (context, secret) in ["one", "two"].iter().zip(&secrets) {
        assert!(
            plan_of(&declined, context).contains(&format!(
                "secret/{secret} will be deleted in namespace kube-system"
            )),
            "{declined}"
        );
    }
    assert!(
        declined.contains("gone: unreachable, nothing is done there"),
        "{declined}"
    );
    assert!(
        declined.contains("aborted: nothing was deleted in any cluster"),
        "{declined}"
    );
    for (admin, secret) in admins.iter().zip(&secrets) {
        assert_eq!(present(admin, secret).await, (true, true));
    }
    // Without a terminal and without --yes, nothing is touched anywhere.
    let refused = plugin.run(&["--context", "one,two", "remove"]);
    refused.assert_code(1);
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    for (admin, secret) in admins.iter().zip(&secrets) {
        assert_eq!(present(admin, secret).await, (true, true));
    }

    // The real remove: both beds clean, the two contexts not reached are rows, exit 1.
    let removed = plugin.run(&[
        "--all-contexts",
        "--context-timeout",
        "3",
        "remove",
        "--yes",
    ]);
    removed.assert_code(1);
    for (admin, secret) in admins.iter().zip(&secrets) {
        assert_eq!(present(admin, secret).await, (false, false));
    }
    for (context, secret) in ["one", "two"].iter().zip(&secrets) {
        assert!(
            removed
                .stdout
                .contains(&format!("{context}: secret/{secret} deleted")),
            "{}",
            removed.stdout
        );
        let row = row_of(&removed.stdout, context);
        assert!(
            row.contains("kube-system/tiller") && row.ends_with("removed"),
            "{row}"
        );
    }
    assert!(row_of(&removed.stdout, "gone").contains("UNREACHABLE"));
    assert!(row_of(&removed.stdout, "silent").contains("TIMED OUT"));
    assert!(
        removed
            .stdout
            .contains("4 contexts: 2 removed, 1 unreachable, 1 timed out."),
        "{}",
        removed.stdout
    );
    assert!(
        removed.stderr.contains("silent: no answer within 3s"),
        "{}",
        removed.stderr
    );

    // Afterwards there is nothing to remove anywhere, which is success.
    let again = plugin.run(&["--context", "one,two", "remove", "--yes", "-o", "json"]);
    again.assert_code(0);
    let report = again.json();
    assert_eq!(report["command"], "remove");
    assert_eq!(report["exitCode"], 0);
    for context in report["contexts"].as_array().unwrap() {
        assert_eq!(context["result"], "ok", "{context:#}");
        assert_eq!(context["report"]["decoys"], serde_json::json!([]));
        assert_eq!(context["report"]["dryRun"], false);
    }
    let table = plugin.run(&["--context", "one,two", "remove", "--yes"]);
    table.assert_code(0);
    assert!(
        table.stdout.contains("2 contexts: 2 nothing to remove."),
        "{}",
        table.stdout
    );

    let transcript = plugin.transcript.borrow();
    for token in &tokens {
        assert!(!transcript.contains(token.as_str()));
    }
}
