//! A decoy is never lost by its own flags: what `plant` was told (-n, --name, --context)
//! is carried into its next steps, `status` and `remove` find it wherever it was planted,
//! a remove narrowed to the wrong namespace says where it is, a missing namespace is said
//! before anything is made (or created on request), and names the API server would refuse
//! are refused before any plan is printed. On the real control plane.

mod support;

use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use kube::Api;
use support::{Plugin, cluster, operator_namespace};

const OPERATOR: &str = "operator";

/// The README's own example, `plant --yes -n apps --name helm-server`, in a namespace of
/// its own, then the follow-ups a user types.
#[tokio::test]
async fn a_decoy_planted_with_n_and_name_is_found_by_status_and_removed_by_remove_n() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let plugin = Plugin::new(cluster);
    let apps = operator_namespace(&admin, "apps").await;

    let planted = plugin.run(&[
        "--context",
        OPERATOR,
        "plant",
        "--yes",
        "-n",
        &apps,
        "--name",
        "helm-server",
    ]);
    planted.assert_code(0);
    // The hints name the decoy and the cluster as they were given.
    let flags = format!("--context {OPERATOR} -n {apps} --name helm-server");
    for verb in ["verify", "test-trigger"] {
        let hint = format!("kubectl honeytoken {verb} {flags}");
        assert!(planted.stdout.contains(&hint), "{hint}\n{}", planted.stdout);
    }
    assert!(
        planted
            .stdout
            .contains(&format!("kubectl honeytoken status --context {OPERATOR}")),
        "{}",
        planted.stdout
    );

    // In JSON, the next steps are commands alone: no padding, no comments.
    let again = plugin.run(&[
        "--context",
        OPERATOR,
        "plant",
        "--yes",
        "-n",
        &apps,
        "--name",
        "helm-server",
        "-o",
        "json",
    ]);
    again.assert_code(0);
    let report = again.json();
    assert_eq!(report["result"], "alreadyPlanted");
    let steps: Vec<String> = report["nextSteps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(steps.len(), 3, "{steps:?}");
    assert_eq!(steps[0], format!("kubectl honeytoken verify {flags}"));
    for step in &steps {
        assert!(
            !step.contains('#') && !step.contains("  ") && step.trim() == step,
            "{step:?}"
        );
    }
    let secret = report["secret"].as_str().unwrap().to_string();

    // status without -n finds it: the namespace was recorded when it was planted.
    let status = plugin.run(&["--context", OPERATOR, "status", "-o", "json"]);
    status.assert_code(0);
    let found: Vec<String> = status.json()["decoys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| format!("{}/{}", d["namespace"], d["serviceAccount"]).replace('"', ""))
        .collect();
    assert_eq!(found, [format!("{apps}/helm-server")]);

    // Narrowed to another namespace, status and remove say where the decoy is; the remove
    // that removed nothing fails, and the decoy stays.
    let narrowed = plugin.run(&["--context", OPERATOR, "status", "-n", "kube-system"]);
    narrowed.assert_code(6);
    assert!(
        narrowed
            .stderr
            .contains(&format!("elsewhere in this cluster: {apps}/helm-server")),
        "{}",
        narrowed.stderr
    );
    let missed = plugin.run(&[
        "--context",
        OPERATOR,
        "remove",
        "-n",
        "kube-system",
        "--yes",
    ]);
    missed.assert_code(1);
    assert!(
        missed.stderr.contains(&format!(
            "{apps}/helm-server is elsewhere in this cluster; to remove it, run kubectl \
             honeytoken remove -n {apps}"
        )),
        "{}",
        missed.stderr
    );
    let missed_by_name = plugin.run(&[
        "--context",
        OPERATOR,
        "remove",
        "-n",
        "kube-system",
        "--name",
        "helm-server",
        "--yes",
    ]);
    missed_by_name.assert_code(1);
    assert!(
        missed_by_name
            .stderr
            .contains(&format!("remove -n {apps} --name helm-server")),
        "{}",
        missed_by_name.stderr
    );
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), &apps);
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &apps);
    assert!(accounts.get_opt("helm-server").await.unwrap().is_some());

    // A dry run of --name without -n finds it where it is.
    let dry = plugin.run(&[
        "--context",
        OPERATOR,
        "remove",
        "--name",
        "helm-server",
        "--dry-run",
    ]);
    dry.assert_code(0);
    assert!(
        dry.stdout.contains(&format!(
            "serviceaccount/helm-server would be deleted in namespace {apps}"
        )),
        "{}",
        dry.stdout
    );

    // The README's remove.
    let removed = plugin.run(&["--context", OPERATOR, "remove", "-n", &apps, "--yes"]);
    removed.assert_code(0);
    assert!(
        removed.stdout.contains("Removed 1 of 1 decoy."),
        "{}",
        removed.stdout
    );
    assert!(accounts.get_opt("helm-server").await.unwrap().is_none());
    assert!(secrets.get_opt(&secret).await.unwrap().is_none());

    // A second remove, anywhere, finds nothing of this key and is fine.
    for args in [
        &["--context", OPERATOR, "remove", "-n", &apps, "--yes"][..],
        &[
            "--context",
            OPERATOR,
            "remove",
            "-n",
            "kube-system",
            "--yes",
        ][..],
    ] {
        plugin.run(args).assert_code(0);
    }
}

#[tokio::test]
async fn a_missing_namespace_is_said_before_anything_is_made_or_created_on_request() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let plugin = Plugin::new(cluster);
    let namespace = format!(
        "missing-{}",
        &kubectl_honeytoken::detect::drill::new_drill_id()[..6]
    );
    let namespaces: Api<Namespace> = Api::all(admin.clone());

    let refused = plugin.run(&[
        "--context",
        "admin",
        "plant",
        "--yes",
        "-n",
        &namespace,
        "--name",
        "helm-server",
    ]);
    refused.assert_code(1);
    for words in [
        format!("namespace {namespace} does not exist"),
        "nothing was created".to_string(),
        format!("kubectl create namespace {namespace}"),
        "--create-namespace".to_string(),
    ] {
        assert!(
            refused.stderr.contains(&words),
            "{words}\n{}",
            refused.stderr
        );
    }
    assert!(refused.stdout.is_empty(), "{}", refused.stdout);
    assert!(namespaces.get_opt(&namespace).await.unwrap().is_none());
    // Nothing was recorded either, and no key was made.
    assert!(!plugin.home.path().join("state.json").exists());
    assert!(!plugin.home.path().join("key").exists());

    // A dry run with --create-namespace shows the namespace in the plan and makes nothing.
    let dry = plugin.run(&[
        "--context",
        "admin",
        "plant",
        "--dry-run",
        "-n",
        &namespace,
        "--create-namespace",
    ]);
    dry.assert_code(0);
    assert!(
        dry.stdout
            .starts_with(&format!("namespace/{namespace} will be created\n")),
        "{}",
        dry.stdout
    );
    assert!(namespaces.get_opt(&namespace).await.unwrap().is_none());

    // One who may not create namespaces is told so, and nothing is made.
    let forbidden = plugin.run(&[
        "--context",
        OPERATOR,
        "plant",
        "--yes",
        "-n",
        &namespace,
        "--create-namespace",
    ]);
    forbidden.assert_code(1);
    assert!(
        forbidden
            .stderr
            .contains(&format!("create namespace {namespace}")),
        "{}",
        forbidden.stderr
    );
    assert!(namespaces.get_opt(&namespace).await.unwrap().is_none());

    // As Helm does: --create-namespace creates it, then the decoy in it.
    let planted = plugin.run(&[
        "--context",
        "admin",
        "plant",
        "--yes",
        "-n",
        &namespace,
        "--create-namespace",
        "-o",
        "json",
    ]);
    planted.assert_code(0);
    let report = planted.json();
    assert_eq!(report["objects"][0]["kind"], "Namespace");
    assert!(report["objects"][0]["uid"].is_string(), "{report}");
    let created = namespaces.get(&namespace).await.unwrap();
    let fields = serde_json::to_string(&created.metadata.managed_fields).unwrap();
    assert!(fields.contains("kubectl-create"), "{fields}");
    let secret = report["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("tiller-token-") && !secret.ends_with("xxxxx"),
        "{secret}"
    );
    let status = plugin.run(&["--context", "admin", "status", "-o", "json"]);
    status.assert_code(0);
    assert_eq!(status.json()["decoys"][0]["namespace"], namespace.as_str());
    assert_eq!(status.json()["decoys"][0]["secret"], secret);

    // remove leaves the namespace, as Helm's uninstall does.
    plugin
        .run(&["--context", "admin", "remove", "-n", &namespace, "--yes"])
        .assert_code(0);
    assert!(namespaces.get_opt(&namespace).await.unwrap().is_some());
    let _ = namespaces
        .delete(&namespace, &Default::default())
        .await
        .unwrap();
}

/// Names are checked before anything is asked of the cluster: no plan is printed for a
/// name the API server would refuse.
#[test]
fn a_bad_name_is_refused_before_any_plan_even_under_dry_run() {
    let plugin = Plugin::offline();
    for (args, words) in [
        (
            &["plant", "--dry-run", "--name", "Bad_Name"][..],
            "name \"Bad_Name\" is not a valid service account name",
        ),
        (
            &["plant", "--dry-run", "-n", "Apps"][..],
            "namespace \"Apps\" is not a valid namespace name",
        ),
    ] {
        let run = plugin.run(args);
        run.assert_code(1);
        assert!(run.stderr.contains(words), "{args:?}\n{}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}\n{}", run.stdout);
        // Refused before connecting: the kubeconfig (which does not exist) was never read.
        assert!(!run.stderr.contains("kubeconfig"), "{}", run.stderr);
    }
    let long = ["a", "b", "c", "d"].map(|c| c.repeat(60)).join(".");
    let run = plugin.run(&["plant", "--dry-run", "--name", &long]);
    run.assert_code(1);
    assert!(run.stderr.contains("at most 253"), "{}", run.stderr);
}

/// Runs the plugin on a pseudo-terminal (stdin, stdout and stderr), answering each question
/// in turn once it is on the screen: the exit code and the screen.
fn on_terminal(plugin: &Plugin, args: &[&str], answers: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = plugin.command(args);
    command.env("TERM", "xterm");
    let answers: Vec<(&str, &[u8])> = answers.iter().map(|(q, a)| (*q, a.as_bytes())).collect();
    let (code, screen, answered) =
        support::terminal::on_a_terminal(&command, &answers, std::time::Duration::from_secs(120));
    assert!(answered, "a question was never asked:\n{screen}");
    (code, screen)
}

/// On a terminal, the wizard offers to create a missing namespace: no makes nothing, yes
/// makes the namespace and then the decoy, after the plan's own question.
#[tokio::test]
async fn on_a_terminal_plant_offers_to_create_a_missing_namespace() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let plugin = Plugin::new(cluster);
    let namespace = format!(
        "asked-{}",
        &kubectl_honeytoken::detect::drill::new_drill_id()[..6]
    );
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    let args = [
        "--context",
        "admin",
        "plant",
        "--profile",
        "tiller",
        "-n",
        &namespace,
        "--name",
        "helm-server",
    ];
    let question = format!("Namespace {namespace} does not exist. Create it");

    let (code, screen) = on_terminal(&plugin, &args, &[(&question, "n")]);
    assert_eq!(code, Some(1), "{screen}");
    assert!(
        screen.contains(&format!("namespace {namespace} does not exist")),
        "{screen}"
    );
    assert!(namespaces.get_opt(&namespace).await.unwrap().is_none());

    let (code, screen) = on_terminal(
        &plugin,
        &args,
        &[(&question, "y"), ("Plant this decoy?", "y")],
    );
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        screen.contains(&format!("namespace/{namespace} will be created")),
        "{screen}"
    );
    assert!(namespaces.get_opt(&namespace).await.unwrap().is_some());
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), &namespace);
    assert!(accounts.get_opt("helm-server").await.unwrap().is_some());

    plugin
        .run(&[
            "--context",
            "admin",
            "remove",
            "--name",
            "helm-server",
            "--yes",
        ])
        .assert_code(0);
    assert!(accounts.get_opt("helm-server").await.unwrap().is_none());
    let _ = namespaces
        .delete(&namespace, &Default::default())
        .await
        .unwrap();
}
