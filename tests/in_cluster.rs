//! The plugin inside a pod: no kubeconfig, only what the kubelet gives a pod (the
//! `KUBERNETES_SERVICE_HOST`/`_PORT` variables, and a ServiceAccount's token, CA and
//! namespace files in /var/run/secrets/kubernetes.io/serviceaccount). The process gets that
//! environment in a mount namespace of its own (`unshare --mount`), where a tmpfs over /run
//! (/var/run is a link to it) holds the files of a ServiceAccount's bound token, and talks
//! to the bed's real API server as that ServiceAccount.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding, RoleRef, Subject};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use support::watcher::Watcher;
use support::{Cleanup, Cluster, Plugin, cluster};

const MOUNTED: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// What a pod of `account` in `namespace` has: its token, the cluster's CA, its namespace.
struct PodEnvironment {
    files: tempfile::TempDir,
    host: String,
    port: String,
}

fn kubectl(cluster: &Cluster, args: &[&str]) -> String {
    let output = Command::new(cluster.bin_dir.as_ref().unwrap().join("kubectl"))
        .args(["--kubeconfig", &cluster.kubeconfig.display().to_string()])
        .args(["--context", "admin"])
        .args(args)
        .output()
        .expect("run the bed's kubectl");
    assert!(
        output.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

impl PodEnvironment {
    async fn of(cluster: &Cluster, namespace: &str, account: &str) -> PodEnvironment {
        let files = tempfile::tempdir().unwrap();
        let token = kubectl(cluster, &["create", "token", account, "-n", namespace]);
        std::fs::write(files.path().join("token"), token.trim()).unwrap();
        std::fs::write(files.path().join("namespace"), namespace).unwrap();
        let kubeconfig = kube::config::Kubeconfig::read_from(&cluster.kubeconfig).unwrap();
        let authority = kubeconfig.clusters[0]
            .cluster
            .as_ref()
            .and_then(|c| c.certificate_authority.clone())
            .expect("the bed's kubeconfig names its CA file");
        std::fs::copy(authority, files.path().join("ca.crt")).unwrap();
        let url = cluster.config("admin").await.cluster_url;
        PodEnvironment {
            files,
            host: url.host().unwrap().to_string(),
            port: url.port_u16().unwrap().to_string(),
        }
    }

    fn token(&self) -> String {
        std::fs::read_to_string(self.files.path().join("token")).unwrap()
    }

    /// The plugin with `args`, in a mount namespace where the files are where a pod has
    /// them, with a pod's variables and no kubeconfig.
    fn command(&self, home: &Path, args: &[&str]) -> Command {
        let mut command = Command::new("unshare");
        command
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount -t tmpfs tmpfs /run && mkdir -p {MOUNTED} && cp \"$0\"/token \"$0\"/ca.crt \"$0\"/namespace {MOUNTED}/ && shift && exec \"$@\""
            ))
            .arg(self.files.path())
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_kubectl-honeytoken"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap())
            .env("HOME", "/nonexistent")
            .env("HONEYTOKEN_HOME", home)
            .env("NO_COLOR", "1")
            .env("KUBERNETES_SERVICE_HOST", &self.host)
            .env("KUBERNETES_SERVICE_PORT", &self.port)
            .stdin(std::process::Stdio::null());
        command
    }
}

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
