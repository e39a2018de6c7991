//! What the cluster's own controllers do to a decoy by accident: an owner reference someone
//! adds (the garbage collector deletes the decoy with its owner), a finalizer, and the
//! deletion of the decoy's namespace (the namespace controller deletes everything in it).
//! The cluster side is shown on the bed's real controllers; `status` must report each.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, ServiceAccount};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use support::{Plugin, cluster};

/// Plants the default decoy in `namespace` as the operator; returns its Secret's name.
fn plant_in(plugin: &Plugin, namespace: &str) -> String {
    let planted = plugin.as_operator(namespace, &["plant", "--yes", "-o", "json"]);
    planted.assert_code(0);
    planted.json()["secret"].as_str().unwrap().to_string()
}

/// `status -o json` in `namespace`: the run and its first decoy.
fn status_in(plugin: &Plugin, namespace: &str) -> (support::Run, serde_json::Value) {
    let run = plugin.as_operator(namespace, &["status", "-o", "json"]);
    let decoy = run.json()["decoys"][0].clone();
    (run, decoy)
}

fn reasons(decoy: &serde_json::Value) -> String {
    decoy["reasons"]
        .as_array()
        .map(|reasons| {
            reasons
                .iter()
                .filter_map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

/// A ConfigMap in `namespace` for the decoy to be owned by, and the owner reference to it.
async fn owner(admin: &kube::Client, namespace: &str) -> (ConfigMap, serde_json::Value) {
    let made = Api::<ConfigMap>::namespaced(admin.clone(), namespace)
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": "helm-release"}}))
                .unwrap(),
        )
        .await
        .expect("create the owner ConfigMap");
    let reference = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": made.name_any(),
        "uid": made.uid().unwrap(),
    });
    (made, reference)
}

async fn patch_secret(admin: &kube::Client, namespace: &str, name: &str, patch: serde_json::Value) {
    Api::<Secret>::namespaced(admin.clone(), namespace)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| panic!("patch the decoy Secret {namespace}/{name}: {e}"));
}

/// Waits (bounded) until the object is gone; false if it is still there.
async fn gone<K>(api: &Api<K>, name: &str, within: Duration) -> bool
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    support::eventually(within, || async {
        matches!(api.get_opt(name).await, Ok(None)).then_some(())
    })
    .await
    .is_some()
}

#[tokio::test]
async fn the_garbage_collector_deletes_a_decoy_whose_owner_is_deleted_and_status_says_broken() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "owned").await;
    let plugin = Plugin::new(cluster);
    let secret = plant_in(&plugin, &namespace);
    let (config_map, reference) = owner(&admin, &namespace).await;
    patch_secret(
        &admin,
        &namespace,
        &secret,
        serde_json::json!({"metadata": {"ownerReferences": [reference]}}),
    )
    .await;

    // The owner goes (as `helm uninstall` would delete a release's objects); the garbage
    // collector then deletes what it owned: the decoy's Secret.
    let config_maps = Api::<ConfigMap>::namespaced(admin.clone(), &namespace);
    config_maps
        .delete(&config_map.name_any(), &Default::default())
        .await
        .expect("delete the owner");
    let secrets = Api::<Secret>::namespaced(admin.clone(), &namespace);
    assert!(
        gone(&secrets, &secret, Duration::from_secs(60)).await,
        "the garbage collector did not delete the decoy Secret {namespace}/{secret} within 60s \
         of its owner's deletion"
    );
    // Only the owned object: the account is still there.
    let accounts = Api::<ServiceAccount>::namespaced(admin.clone(), &namespace);
    assert!(accounts.get_opt("tiller").await.unwrap().is_some());

    let (run, decoy) = status_in(&plugin, &namespace);
    run.assert_code(4);
    assert_eq!(decoy["verdict"], "broken", "{decoy}");
    assert_eq!(decoy["secretPresent"], false, "{decoy}");
    assert!(reasons(&decoy).contains("is gone"), "{decoy}");

    plugin
        .as_operator(&namespace, &["remove", "--yes"])
        .assert_code(0);
}

#[tokio::test]
async fn deleting_the_decoys_namespace_deletes_the_decoy_and_status_says_broken() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "nsgone").await;
    let plugin = Plugin::new(cluster);
    let secret = plant_in(&plugin, &namespace);
    let (run, decoy) = status_in(&plugin, &namespace);
    run.assert_code(0);
    assert_eq!(decoy["verdict"], "armed", "{decoy}");

    let namespaces = Api::<Namespace>::all(admin.clone());
    namespaces
        .delete(&namespace, &Default::default())
        .await
        .expect("delete the decoy's namespace");
    // The namespace controller empties the namespace, then the namespace goes.
    assert!(
        gone(&namespaces, &namespace, Duration::from_secs(90)).await,
        "namespace {namespace} was not gone within 90s of its deletion: {:?}",
        namespaces
            .get_opt(&namespace)
            .await
            .ok()
            .flatten()
            .and_then(|n| n.status)
    );
    let secrets = Api::<Secret>::namespaced(admin.clone(), &namespace);
    assert!(secrets.get_opt(&secret).await.unwrap().is_none());
    let accounts = Api::<ServiceAccount>::namespaced(admin.clone(), &namespace);
    assert!(accounts.get_opt("tiller").await.unwrap().is_none());

    // The decoy was recorded when it was planted from here; its namespace is gone.
    let run = plugin.as_operator(&namespace, &["status", "-o", "json"]);
    assert_ne!(
        run.code,
        Some(0),
        "status passed a decoy whose namespace is gone:\n{}",
        run.text()
    );
    run.assert_code(4);
    let decoy = run.json()["decoys"][0].clone();
    assert_eq!(decoy["verdict"], "broken", "{decoy}");
    assert!(
        reasons(&decoy).to_lowercase().contains("namespace"),
        "{decoy}"
    );
}
