//! Bad input and faults: each ends with a clear message and a non-zero exit, and leaves
//! nothing half-made in the cluster.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::{Api, ResourceExt};
use support::{Cleanup, Plugin, cluster};

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
    // What this test grants goes on every path, the cluster-wide binding above all.
    let mut cleanup = Cleanup::new(cluster);
    cleanup.delete(
        &Api::<Role>::namespaced(admin.clone(), &namespace)
            .create(&PostParams::default(), &role)
            .await
            .unwrap(),
    );
    let binding = |kind: &str, name: &str| {
        serde_json::json!({
            "metadata": {"name": format!("{user}-{name}")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
        })
    };
    let role_binding: RoleBinding =
        serde_json::from_value(binding("Role", "accounts-only")).unwrap();
    cleanup.delete(
        &Api::<RoleBinding>::namespaced(admin.clone(), &namespace)
            .create(&PostParams::default(), &role_binding)
            .await
            .unwrap(),
    );
    let namespace_reader: ClusterRoleBinding =
        serde_json::from_value(binding("ClusterRole", "service-account-maintainer")).unwrap();
    cleanup.delete(
        &Api::<ClusterRoleBinding>::all(admin.clone())
            .create(&PostParams::default(), &namespace_reader)
            .await
            .unwrap(),
    );

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

#[tokio::test]
async fn a_failing_test_leaves_no_binding_behind_and_never_deletes_a_replacement() {
    use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding};
    use kube::api::PostParams;

    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "guard").await;
    let subject =
        serde_json::json!([{"kind": "ServiceAccount", "name": "tiller", "namespace": namespace}]);
    let role_bindings = Api::<RoleBinding>::namespaced(admin.clone(), &namespace);
    let cluster_bindings = Api::<ClusterRoleBinding>::all(admin.clone());
    let binding: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "helm-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": subject
    }))
    .unwrap();
    let binding = role_bindings
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let cluster_binding: ClusterRoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("{namespace}-view")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": subject
    }))
    .unwrap();
    let cluster_binding = cluster_bindings
        .create(&PostParams::default(), &cluster_binding)
        .await
        .unwrap();
    // A third binding handed to the guard, then replaced by another of the same name: the
    // guard deletes only what it was given.
    let replaced: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "replaced"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": subject
    }))
    .unwrap();
    let original = role_bindings
        .create(&PostParams::default(), &replaced)
        .await
        .unwrap();

    let replacement: RoleBinding;
    {
        let mut cleanup = Cleanup::new(cluster);
        cleanup.delete(&binding);
        cleanup.delete(&cluster_binding);
        cleanup.delete(&original);
        role_bindings
            .delete("replaced", &Default::default())
            .await
            .unwrap();
        replacement = role_bindings
            .create(&PostParams::default(), &replaced)
            .await
            .unwrap();
        // A test that fails here unwinds through the guard.
        let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _cleanup = cleanup;
            panic!("a deliberate failure inside the guard's scope");
        }));
        assert!(failed.is_err());
    }

    assert!(
        role_bindings.get_opt("helm-admin").await.unwrap().is_none(),
        "the binding to cluster-admin outlived the failed test"
    );
    assert!(
        cluster_bindings
            .get_opt(&cluster_binding.name_any())
            .await
            .unwrap()
            .is_none(),
        "the ClusterRoleBinding outlived the failed test"
    );
    let mut cleanup = Cleanup::new(cluster);
    cleanup.delete(&replacement);
    let still = role_bindings
        .get_opt("replaced")
        .await
        .unwrap()
        .expect("the guard deleted an object it was not given");
    assert_eq!(still.uid(), replacement.uid());
}
