//! `watch --tripwire` as the least-privilege watcher, on the real control plane: a
//! ServiceAccount holding exactly what `rbac` prints (and authenticated by a bound token
//! from the TokenRequest API) watches the decoy, alerts on its token's use and re-arms; the
//! same from inside a pod's environment; and without `patch` it says it cannot re-arm.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::{Api, ResourceExt};
use support::pod::PodEnvironment;
use support::watcher::{Watcher, http_get, wait_until};
use support::{Cluster, Plugin, cluster, eventually, token_of};

const LAST_USED: &str = "kubernetes.io/legacy-token-last-used";

fn apply(cluster: &Cluster, manifests: &str) {
    let mut child = Command::new(cluster.bin_dir.as_ref().unwrap().join("kubectl"))
        .args(["--kubeconfig", &cluster.kubeconfig.display().to_string()])
        .args(["--context", "admin", "apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(manifests.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

/// A decoy in a namespace of its own, and a ServiceAccount `account` there bound by the
/// output of `rbac` with `more` flags.
async fn planted_with_watcher(
    plugin: &Plugin,
    prefix: &str,
    account: &str,
    more: &[&str],
) -> (String, String, PodEnvironment) {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, prefix).await;
    let planted = plugin.as_operator(&namespace, &["plant", "--yes", "-o", "json"]);
    planted.assert_code(0);
    let secret = planted.json()["secret"].as_str().unwrap().to_string();
    let watcher = format!("{namespace}/{account}");
    let mut args = vec!["rbac", "--service-account", &watcher];
    args.extend_from_slice(more);
    let rbac = plugin.as_operator(&namespace, &args);
    rbac.assert_code(0);
    apply(cluster, &rbac.stdout);
    let pod = PodEnvironment::of(cluster, &namespace, account).await;
    (namespace, secret, pod)
}

async fn label(admin: &kube::Client, namespace: &str, secret: &str) -> Option<String> {
    Api::<Secret>::namespaced(admin.clone(), namespace)
        .get_metadata(secret)
        .await
        .unwrap()
        .labels()
        .get(LAST_USED)
        .cloned()
}

#[tokio::test]
async fn the_tripwire_runs_with_exactly_the_rbac_it_is_given_outside_and_inside_a_pod() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let plugin = Plugin::new(cluster);
    let (namespace, secret, pod) = planted_with_watcher(&plugin, "wtrip", "label-sync", &[]).await;
    let decoy_token = token_of(&admin, &namespace, &secret).await;
    let watched = format!("{namespace}/{secret}");

    // Outside the cluster, with a kubeconfig for the ServiceAccount.
    let outside = Plugin::on(&pod.kubeconfig());
    let watcher = Watcher::start(outside.command(&[
        "watch",
        "--tripwire",
        "--secret",
        &watched,
        "--metrics-address",
        "127.0.0.1:0",
    ]));
    let address = watcher.health_address();
    assert!(
        wait_until(Duration::from_secs(20), || http_get(&address, "/readyz").0
            == 200),
        "{}",
        watcher.stderr()
    );
    cluster
        .client_with_token(&decoy_token)
        .await
        .apiserver_version()
        .await
        .unwrap();
    let alert = watcher.next_alert(Duration::from_secs(15));
    assert_eq!(alert["signal"], "tripwire", "{alert}");
    assert_eq!(alert["secret"], watched.as_str(), "{alert}");
    eventually(Duration::from_secs(20), || async {
        label(&admin, &namespace, &secret)
            .await
            .is_none()
            .then_some(())
    })
    .await
    .expect("the watcher re-armed the tripwire");
    let stderr = watcher.stderr();
    let (code, rest) = watcher.stop();
    assert_eq!(code, Some(0), "{rest}");
    assert!(!stderr.contains("cannot re-arm"), "{stderr}");
    // Without rbac --bindings it may not list bindings, says so once, and goes on.
    assert_eq!(
        stderr.matches("cannot look at the bindings").count(),
        1,
        "{stderr}"
    );
    assert!(!rest.contains(&decoy_token));

    // Inside: the same ServiceAccount from a pod's environment, no kubeconfig. The API
    // server stamps a token once per 10 s at most: wait that out before the next use.
    std::thread::sleep(Duration::from_secs(11));
    let inside = Watcher::start(pod.command(
        plugin.home.path(),
        &["watch", "--tripwire", "--secret", &watched],
    ));
    cluster
        .client_with_token(&decoy_token)
        .await
        .apiserver_version()
        .await
        .unwrap();
    let alert = inside.next_alert(Duration::from_secs(15));
    assert_eq!(alert["signal"], "tripwire", "{alert}");
    eventually(Duration::from_secs(20), || async {
        label(&admin, &namespace, &secret)
            .await
            .is_none()
            .then_some(())
    })
    .await
    .expect("the watcher in the pod's environment re-armed the tripwire");
    let (code, stderr) = inside.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains(&decoy_token));
}

#[tokio::test]
async fn without_patch_the_tripwire_alerts_and_says_it_cannot_rearm() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let plugin = Plugin::new(cluster);
    let (namespace, secret, pod) = planted_with_watcher(
        &plugin,
        "wtripnp",
        "label-reader",
        &["--no-rearm", "--bindings"],
    )
    .await;
    // --bindings made a ClusterRole and ClusterRoleBinding named after the account.
    let mut cleanup = support::Cleanup::new(cluster);
    cleanup.delete(
        &Api::<ClusterRoleBinding>::all(admin.clone())
            .get("label-reader")
            .await
            .unwrap(),
    );
    cleanup.delete(
        &Api::<ClusterRole>::all(admin.clone())
            .get("label-reader")
            .await
            .unwrap(),
    );
    let decoy_token = token_of(&admin, &namespace, &secret).await;
    let watched = format!("{namespace}/{secret}");
    let outside = Plugin::on(&pod.kubeconfig());
    let watcher = Watcher::start(outside.command(&["watch", "--tripwire", "--secret", &watched]));
    cluster
        .client_with_token(&decoy_token)
        .await
        .apiserver_version()
        .await
        .unwrap();
    let alert = watcher.next_alert(Duration::from_secs(15));
    assert_eq!(alert["signal"], "tripwire", "{alert}");
    watcher.wait_for_stderr("cannot re-arm", Duration::from_secs(15));
    let stderr = watcher.stderr();
    assert!(stderr.contains("--no-rearm"), "{stderr}");
    // With --bindings it lists them.
    assert!(!stderr.contains("cannot look at the bindings"), "{stderr}");
    assert!(label(&admin, &namespace, &secret).await.is_some());
    let (code, rest) = watcher.stop();
    assert_eq!(code, Some(0), "{rest}");
}
