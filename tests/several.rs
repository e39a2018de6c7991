//! `test-trigger` and `remove` with several decoys: without `--profile` or `--name` they act
//! on every decoy of this key (`-n` narrows to one namespace), each on its own, and end with
//! the most serious result among them. On the bed, three decoys of different profiles in
//! one namespace, as the operator.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use serde_json::Value;
use support::{Cleanup, Plugin, cluster, token_of};

const LAST_USED: &str = "kubernetes.io/legacy-token-last-used";

/// Plants a decoy of `profile` named `name` in `namespace` as the operator; its Secret's name.
fn plant(plugin: &Plugin, namespace: &str, profile: &str, name: &str) -> String {
    let planted = plugin.as_operator(
        namespace,
        &[
            "plant",
            "--profile",
            profile,
            "--name",
            name,
            "--yes",
            "-o",
            "json",
        ],
    );
    planted.assert_code(0);
    planted.json()["secret"].as_str().unwrap().to_string()
}

/// The decoys of a `test-trigger` or `remove` document, by `namespace/account`.
fn by_decoy(document: &Value) -> std::collections::BTreeMap<String, Value> {
    document["decoys"]
        .as_array()
        .unwrap_or_else(|| panic!("no decoys list: {document:#}"))
        .iter()
        .map(|d| {
            (
                format!(
                    "{}/{}",
                    d["namespace"].as_str().unwrap(),
                    d["serviceAccount"].as_str().unwrap()
                ),
                d.clone(),
            )
        })
        .collect()
}

/// The state file's planted records, as `namespace/account`.
fn recorded(plugin: &Plugin) -> BTreeSet<String> {
    let state: Value =
        serde_json::from_slice(&std::fs::read(plugin.home.path().join("state.json")).unwrap())
            .unwrap();
    state["planted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["namespace"].as_str().unwrap(),
                r["account"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn three_decoys_in_one_namespace_are_drilled_and_removed_each_on_its_own() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "several").await;
    let mut cleanup = Cleanup::new(cluster);
    cleanup.delete(
        &Api::<Namespace>::all(admin.clone())
            .get(&namespace)
            .await
            .unwrap(),
    );
    let plugin = Plugin::new(cluster);
    let op = |args: &[&str]| plugin.as_operator(&namespace, args);

    let decoys = [
        ("tiller", "helm-server"),
        ("argocd-manager", "argocd-manager"),
        ("headlamp-admin", "headlamp-admin"),
    ];
    let mut secrets = std::collections::BTreeMap::new();
    for (profile, name) in decoys {
        secrets.insert(
            format!("{namespace}/{name}"),
            (profile, plant(&plugin, &namespace, profile, name)),
        );
    }

    // One drill of each, one document with a result per decoy.
    let drill = op(&["test-trigger", "-o", "json"]);
    drill.assert_code(0);
    let drilled_at = Instant::now();
    let document = drill.json();
    assert_eq!(document["schemaVersion"], 1, "{document:#}");
    assert_eq!(document["namespaces"], serde_json::json!([namespace]));
    let results = by_decoy(&document);
    assert_eq!(
        results.keys().collect::<Vec<_>>(),
        secrets.keys().collect::<Vec<_>>(),
        "{document:#}"
    );
    let secret_api: Api<Secret> = Api::namespaced(admin.clone(), &namespace);
    for (decoy, (profile, secret)) in &secrets {
        let result = &results[decoy];
        assert_eq!(result["result"], "ok", "{decoy}: {result:#}");
        assert_eq!(result["profile"], *profile, "{result:#}");
        assert_eq!(result["secret"], secret.as_str(), "{result:#}");
        let report = &result["drill"];
        assert_eq!(report["secret"], secret.as_str(), "{report:#}");
        assert_eq!(report["tripwire"]["outcome"], "rearmed", "{report:#}");
        assert!(report["tripwire"]["stamped"].is_string(), "{report:#}");
        assert_eq!(report["danger"], false, "{report:#}");
        let labels = secret_api.get(secret).await.unwrap().labels().clone();
        assert_eq!(labels.get(LAST_USED), None, "{decoy} was re-armed");
    }
    let state: Value =
        serde_json::from_slice(&std::fs::read(plugin.home.path().join("state.json")).unwrap())
            .unwrap();
    assert_eq!(state["drills"].as_array().unwrap().len(), 3, "{state:#}");

    let status = op(&["status", "-o", "json"]);
    status.assert_code(0);
    let status = status.json();
    let verdicts: Vec<&str> = status["decoys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["armed", "armed", "armed"], "{status:#}");

    // An attacker uses one token (once the drill's use has left the API server's 10 s
    // cache): the next drill of all three reports it TRIPPED, leaves its stamp, drills the
    // other two, and exits 3, the most serious of the three results.
    let (_, argocd_secret) = &secrets[&format!("{namespace}/argocd-manager")];
    let token = token_of(&admin, &namespace, argocd_secret).await;
    tokio::time::sleep(Duration::from_secs(11).saturating_sub(drilled_at.elapsed())).await;
    assert!(
        !cluster
            .list_secrets_with_token(&token, &namespace)
            .status
            .success()
    );
    let stamped = support::eventually(Duration::from_secs(10), || async {
        let secret = secret_api.get(argocd_secret).await.ok()?;
        secret.labels().get(LAST_USED).cloned()
    })
    .await
    .expect("the attacker's use stamped the Secret");
    let again = op(&["test-trigger"]);
    again.assert_code(3);
    for decoy in secrets.keys() {
        assert!(again.stdout.contains(decoy.as_str()), "{}", again.text());
    }
    assert!(
        again.stdout.contains("Drilled 3 decoys: 2 ok, 1 TRIPPED."),
        "{}",
        again.text()
    );
    assert!(
        again
            .stderr
            .contains(&format!("{namespace}/argocd-manager: TRIPPED")),
        "{}",
        again.stderr
    );
    let evidence = secret_api.get(argocd_secret).await.unwrap();
    assert_eq!(
        evidence.labels().get(LAST_USED),
        Some(&stamped),
        "the stamp stays as evidence"
    );
    let status = op(&["status", "-o", "json"]);
    status.assert_code(3);
    assert_eq!(status.json()["decoys"].as_array().unwrap().len(), 3);

    // The headlamp-admin decoy's Secret is replaced by someone else's: remove must leave it
    // (and its account) alone, remove the other two, and fail naming it.
    let (_, headlamp_secret) = &secrets[&format!("{namespace}/headlamp-admin")];
    secret_api
        .delete(headlamp_secret, &Default::default())
        .await
        .unwrap();
    support::eventually(Duration::from_secs(10), || async {
        matches!(secret_api.get_opt(headlamp_secret).await, Ok(None)).then_some(())
    })
    .await
    .expect("the Secret was deleted");
    let foreign: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": headlamp_secret},
        "type": "Opaque",
        "stringData": {"password": "not a decoy"}
    }))
    .unwrap();
    let foreign = secret_api
        .create(&PostParams::default(), &foreign)
        .await
        .unwrap();

    let plan = op(&["remove", "--dry-run", "-o", "json"]);
    plan.assert_code(1);
    let planned = by_decoy(&plan.json());
    assert_eq!(planned.len(), 3, "{}", plan.stdout);
    assert_eq!(
        planned[&format!("{namespace}/helm-server")]["result"],
        "wouldRemove"
    );
    assert_eq!(
        planned[&format!("{namespace}/headlamp-admin")]["result"],
        "refused"
    );

    let remove = op(&["remove", "--yes"]);
    remove.assert_code(1);
    assert!(
        remove
            .stderr
            .contains("1 of 3 decoys not removed (the other 2 removed)"),
        "{}",
        remove.text()
    );
    assert!(
        remove.stderr.contains(&format!(
            "{namespace}/headlamp-admin REFUSED: will not delete anything in {namespace}/headlamp-admin"
        )),
        "{}",
        remove.stderr
    );
    assert!(
        remove.stdout.contains("Removed 2 of 3 decoys."),
        "{}",
        remove.stdout
    );
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), &namespace);
    for name in ["helm-server", "argocd-manager"] {
        let (_, secret) = &secrets[&format!("{namespace}/{name}")];
        assert!(accounts.get_opt(name).await.unwrap().is_none(), "{name}");
        assert!(
            secret_api.get_opt(secret).await.unwrap().is_none(),
            "{name}"
        );
    }
    assert!(accounts.get_opt("headlamp-admin").await.unwrap().is_some());
    assert_eq!(
        secret_api.get(headlamp_secret).await.unwrap().uid(),
        foreign.uid(),
        "the foreign Secret is never deleted"
    );
    assert_eq!(
        recorded(&plugin),
        BTreeSet::from([format!("{namespace}/headlamp-admin")]),
        "only the decoy not removed keeps its record"
    );

    // Once the foreign Secret is gone, the rest of the decoy (its account, recorded) goes.
    secret_api
        .delete(headlamp_secret, &Default::default())
        .await
        .unwrap();
    let rest = op(&["remove", "--yes"]);
    rest.assert_code(0);
    assert!(
        rest.stdout.contains(&format!(
            "serviceaccount/headlamp-admin deleted in namespace {namespace}"
        )),
        "{}",
        rest.stdout
    );
    let nothing = op(&["remove", "--yes"]);
    nothing.assert_code(0);
    assert!(
        nothing.stdout.contains("nothing to remove"),
        "{}",
        nothing.stdout
    );
    assert!(recorded(&plugin).is_empty());
    assert!(
        !plugin.transcript.borrow().contains(&token),
        "the token is never printed"
    );
}

#[tokio::test]
async fn finding_nothing_where_it_looked_says_where_this_key_planted() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let planted_in = support::operator_namespace(&admin, "sev-here").await;
    let empty = support::operator_namespace(&admin, "sev-empty").await;
    let mut cleanup = Cleanup::new(cluster);
    for namespace in [&planted_in, &empty] {
        cleanup.delete(
            &Api::<Namespace>::all(admin.clone())
                .get(namespace)
                .await
                .unwrap(),
        );
    }
    let plugin = Plugin::new(cluster);
    plant(&plugin, &planted_in, "tiller", "helm-server");
    let elsewhere = format!("{planted_in}/helm-server on this server");

    // A remove narrowed by -n that removes nothing while this key's decoy is elsewhere in
    // the cluster says where, and fails (as `kubectl delete` of a name not there does).
    let in_cluster = format!("{planted_in}/helm-server is elsewhere in this cluster");
    let remove = plugin.as_operator(&empty, &["remove", "--yes"]);
    remove.assert_code(1);
    assert!(
        remove.stdout.contains("nothing to remove"),
        "{}",
        remove.stdout
    );
    assert!(remove.stderr.contains(&in_cluster), "{}", remove.stderr);
    let document = plugin.as_operator(&empty, &["remove", "--yes", "-o", "json"]);
    document.assert_code(1);
    assert_eq!(
        document.json()["recordedElsewhere"],
        serde_json::json!([elsewhere])
    );

    // A decoy named by --name and not there: today's message, and where it is.
    let named = plugin.as_operator(&empty, &["remove", "--yes", "--name", "helm-server"]);
    named.assert_code(1);
    assert!(
        named.stdout.contains(&format!(
            "no decoy {empty}/helm-server found; nothing to remove"
        )),
        "{}",
        named.stdout
    );
    assert!(named.stderr.contains(&in_cluster), "{}", named.stderr);
    assert!(
        named
            .stderr
            .contains(&format!("remove -n {planted_in} --name helm-server")),
        "{}",
        named.stderr
    );

    let drill = plugin.as_operator(&empty, &["test-trigger"]);
    drill.assert_code(1);
    assert!(
        drill.stderr.contains("no decoy of this key") && drill.stderr.contains(&elsewhere),
        "{}",
        drill.stderr
    );

    // Narrowed to where it is, the decoy is found and removed.
    plugin
        .as_operator(&planted_in, &["remove", "--yes"])
        .assert_code(0);
    assert!(recorded(&plugin).is_empty());
}
