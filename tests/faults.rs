//! Bad input and faults: each ends with a clear message and a non-zero exit, and leaves
//! nothing half-made in the cluster.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use support::{Plugin, cluster};

#[test]
fn no_kubeconfig_anywhere_says_how_to_give_one() {
    let empty_home = tempfile::tempdir().unwrap();
    let plugin = Plugin::offline();
    let run = plugin.run_with(&["status"], |command| {
        command
            .env_remove("KUBECONFIG")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("HOME", empty_home.path());
    });
    run.assert_code(1);
    assert!(run.stderr.contains("no kubeconfig found"), "{}", run.stderr);
    assert!(run.stderr.contains("--kubeconfig"), "{}", run.stderr);
}

#[test]
fn an_unknown_context_is_an_error_not_a_fallback() {
    let plugin = Plugin::new(cluster());
    let run = plugin.run(&["--context", "no-such-context", "status"]);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("context \"no-such-context\" does not exist"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_unreachable_server_fails_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    // Port 1 on loopback: nothing listens there.
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\n\
         clusters: [{name: gone, cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]\n\
         users: [{name: u, user: {token: t}}]\n\
         contexts: [{name: gone, context: {cluster: gone, user: u}}]\n",
    )
    .unwrap();
    let plugin = Plugin::offline();
    let started = Instant::now();
    let run = plugin.run_with(&["plant", "--dry-run"], |command| {
        command.env("KUBECONFIG", &kubeconfig);
    });
    let took = started.elapsed();
    run.assert_code(1);
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(
        run.stderr.contains("cannot reach the API server"),
        "{}",
        run.stderr
    );
}

#[test]
fn creating_or_deleting_without_a_terminal_needs_yes() {
    let plugin = Plugin::new(cluster());
    let plant = plugin.run(&["--context", "operator", "plant"]);
    plant.assert_code(1);
    assert!(plant.stderr.contains("--yes"), "{}", plant.stderr);
    assert!(plant.stdout.is_empty());
    let remove = plugin.run(&["--context", "operator", "remove"]);
    remove.assert_code(1);
    assert!(remove.stderr.contains("--yes"), "{}", remove.stderr);
}

#[tokio::test]
async fn a_user_who_may_not_create_secrets_leaves_no_account_behind() {
    use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, Role, RoleBinding};
    use kube::api::PostParams;

    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "nosecrets").await;
    let user = format!("limited-{namespace}");
    let role: Role = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "accounts-only"},
        "rules": [
            {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get", "list", "create", "delete"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}
        ]
    }))
    .unwrap();
    Api::<Role>::namespaced(admin.clone(), &namespace)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding = |kind: &str, name: &str| {
        serde_json::json!({
            "metadata": {"name": format!("{user}-{name}")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
        })
    };
    let role_binding: RoleBinding =
        serde_json::from_value(binding("Role", "accounts-only")).unwrap();
    Api::<RoleBinding>::namespaced(admin.clone(), &namespace)
        .create(&PostParams::default(), &role_binding)
        .await
        .unwrap();
    let namespace_reader: ClusterRoleBinding =
        serde_json::from_value(binding("ClusterRole", "service-account-maintainer")).unwrap();
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&PostParams::default(), &namespace_reader)
        .await
        .unwrap();

    // The admin credential, impersonating the limited user, the way `kubectl --as` does.
    let dir = tempfile::tempdir().unwrap();
    let mut kubeconfig: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&cluster.kubeconfig).unwrap()).unwrap();
    for entry in kubeconfig["users"].as_array_mut().unwrap() {
        if entry["name"] == "admin" {
            entry["user"]["as"] = serde_json::Value::String(user.clone());
        }
    }
    let limited = dir.path().join("kubeconfig");
    std::fs::write(&limited, serde_json::to_string(&kubeconfig).unwrap()).unwrap();

    let plugin = Plugin::new(cluster);
    let run = plugin.run_with(
        &["--context", "admin", "-n", &namespace, "plant", "--yes"],
        |command| {
            command.env("KUBECONFIG", &limited);
        },
    );
    run.assert_code(1);
    assert!(
        run.stderr.contains("cannot create Secret"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("forbidden"), "{}", run.stderr);
    assert!(run.stderr.contains("deleted again"), "{}", run.stderr);
    let accounts = Api::<ServiceAccount>::namespaced(admin.clone(), &namespace);
    assert!(
        accounts.get_opt("tiller").await.unwrap().is_none(),
        "the failed plant left its service account behind"
    );
}
