//! The plugin inside a pod: no kubeconfig, only what the kubelet gives a pod (the
//! `KUBERNETES_SERVICE_HOST`/`_PORT` variables, and a ServiceAccount's token, CA and
//! namespace files in /var/run/secrets/kubernetes.io/serviceaccount). The process gets that
//! environment in a mount namespace of its own (`unshare --mount`), where a tmpfs over /run
//! (/var/run is a link to it) holds the files of a ServiceAccount's bound token, and talks
//! to the bed's real API server as that ServiceAccount.

mod support;

use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding, RoleRef, Subject};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use support::pod::{PodEnvironment, kubectl};
use support::watcher::Watcher;
use support::{Cleanup, Plugin, cluster};

fn binding_subject(namespace: &str, account: &str) -> Subject {
    Subject {
        kind: "ServiceAccount".into(),
        name: account.into(),
        namespace: Some(namespace.into()),
        api_group: None,
    }
}

#[tokio::test]
async fn status_and_watch_run_with_a_pods_service_account_and_no_kubeconfig() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "incluster").await;
    let plugin = Plugin::new(cluster);
    let planted = plugin.as_operator(&namespace, &["plant", "--yes", "-o", "json"]);
    planted.assert_code(0);
    let secret = planted.json()["secret"].as_str().unwrap().to_string();

    // A ServiceAccount holding the operator's RBAC (deploy/operator-rbac.yaml): status finds
    // decoys by listing, which the watcher's least RBAC does not allow.
    let account = "secret-auditor";
    kubectl(
        cluster,
        &["create", "serviceaccount", account, "-n", &namespace],
    );
    let mut cleanup = Cleanup::new(cluster);
    let role_ref = |kind: &str| RoleRef {
        api_group: Some("rbac.authorization.k8s.io".into()),
        kind: kind.into(),
        name: "service-account-maintainer".into(),
    };
    let meta = |ns: Option<&str>| ObjectMeta {
        name: Some(format!("{namespace}-auditor")),
        namespace: ns.map(String::from),
        ..Default::default()
    };
    Api::<RoleBinding>::namespaced(admin.clone(), &namespace)
        .create(
            &PostParams::default(),
            &RoleBinding {
                metadata: meta(Some(&namespace)),
                role_ref: role_ref("Role"),
                subjects: Some(vec![binding_subject(&namespace, account)]),
            },
        )
        .await
        .unwrap();
    let cluster_binding = Api::<ClusterRoleBinding>::all(admin.clone())
        .create(
            &PostParams::default(),
            &ClusterRoleBinding {
                metadata: meta(None),
                role_ref: role_ref("ClusterRole"),
                subjects: Some(vec![binding_subject(&namespace, account)]),
            },
        )
        .await
        .unwrap();
    cleanup.delete(&cluster_binding);

    let pod = PodEnvironment::of(cluster, &namespace, account).await;
    let log = cluster.audit_log();
    let output = pod
        .command(
            plugin.home.path(),
            &["status", "-n", &namespace, "-o", "json"],
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        report["server"],
        format!("https://{}:{}", pod.host, pod.port),
        "{report:#}"
    );
    assert_eq!(report["decoys"][0]["secret"], secret.as_str());
    assert_eq!(report["decoys"][0]["verdict"], "armed", "{report:#}");
    // The API server saw the pod's ServiceAccount, not a kubeconfig user.
    let me = format!("system:serviceaccount:{namespace}:{account}");
    let events = log.new_events();
    assert!(
        events.iter().any(|e| e["user"]["username"] == me.as_str()
            && e["requestURI"]
                .as_str()
                .is_some_and(|uri| uri.contains(&namespace))),
        "no request of {me} in the audit log"
    );
    assert!(!stdout.contains(pod.token().trim()) && !stderr.contains(pod.token().trim()));

    // Without the files, it says where it looked.
    let missing = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_kubectl-honeytoken"))
        .args(["status", "-n", &namespace])
        .env_clear()
        .env("HOME", missing.path())
        .env("HONEYTOKEN_HOME", plugin.home.path())
        .env("KUBERNETES_SERVICE_HOST", &pod.host)
        .env("KUBERNETES_SERVICE_PORT", &pod.port)
        .output()
        .unwrap();
    let told = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{told}");
    assert!(told.contains("in-cluster service account"), "{told}");

    // watch: the decoys found as status finds them, the real audit log followed.
    let audit_log = cluster.audit_log_path().display().to_string();
    let watcher = Watcher::start(pod.command(
        plugin.home.path(),
        &[
            "-n",
            &namespace,
            "watch",
            "--audit-log",
            &audit_log,
            "--group-window",
            "1",
        ],
    ));
    let decoy_token = support::token_of(&admin, &namespace, &secret).await;
    assert!(
        !cluster
            .list_secrets_with_token(&decoy_token, &namespace)
            .status
            .success()
    );
    let alert = watcher.next_alert(Duration::from_secs(15));
    assert_eq!(
        alert["user"],
        format!("system:serviceaccount:{namespace}:tiller")
    );
    let (code, stderr) = watcher.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains(&decoy_token));
}
