//! A decoy's whole life on the real control plane, driven as the `operator` user without a
//! terminal, the way CI and cron run the plugin.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use support::{Cleanup, Plugin, cluster};

const OPERATOR: &str = "operator";

/// Plants the default decoy in `namespace` as the operator; returns its Secret's name.
fn plant_in(plugin: &Plugin, namespace: &str) -> String {
    let planted = plugin.run(&[
        "--context",
        OPERATOR,
        "-n",
        namespace,
        "plant",
        "--yes",
        "-o",
        "json",
    ]);
    planted.assert_code(0);
    planted.json()["secret"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn plant_status_drill_status_remove_in_kube_system() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let plugin = Plugin::new(cluster);
    let audit_log = cluster.audit_log_path().display().to_string();

    let planted = plugin.run(&["--context", OPERATOR, "plant", "--yes", "-o", "json"]);
    planted.assert_code(0);
    let report = planted.json();
    assert_eq!(report["result"], "planted");
    assert_eq!(report["namespace"], "kube-system");
    assert_eq!(report["serviceAccount"], "tiller");
    assert_eq!(report["rbac"], "none");
    let secret_name = report["secret"].as_str().unwrap().to_string();
    assert!(secret_name.starts_with("tiller-token-"), "{secret_name}");

    // What the cluster now holds is what the plan said, and the token is filled.
    let account = Api::<ServiceAccount>::namespaced(admin.clone(), "kube-system")
        .get("tiller")
        .await
        .unwrap();
    // A failed run leaves no decoy in kube-system: these two, by UID, go at the end.
    let mut cleanup = Cleanup::new(cluster);
    cleanup.delete(&account);
    cleanup.delete(
        &Api::<Secret>::namespaced(admin.clone(), "kube-system")
            .get(&secret_name)
            .await
            .unwrap(),
    );
    // As the Helm v2 docs had people make it: `kubectl create serviceaccount tiller`.
    assert!(account.metadata.labels.is_none(), "{:?}", account.metadata);
    assert!(
        account.secrets.is_none(),
        "the token must not be listed in .secrets"
    );
    let token = support::token_of(&admin, "kube-system", &secret_name).await;
    assert!(token.len() > 100);

    let again = plugin.run(&["--context", OPERATOR, "plant", "--yes"]);
    again.assert_code(0);
    assert!(again.stdout.contains("already planted"), "{}", again.stdout);

    let status = plugin.run(&["--context", OPERATOR, "status", "-o", "json"]);
    status.assert_code(0);
    let decoys = status.json()["decoys"].as_array().unwrap().clone();
    assert_eq!(decoys.len(), 1, "{decoys:?}");
    assert_eq!(decoys[0]["verdict"], "armed");
    assert_eq!(decoys[0]["tokenFilled"], true);
    assert_eq!(decoys[0]["lastUsed"], serde_json::Value::Null);

    let drill = plugin.run(&[
        "--context",
        OPERATOR,
        "test-trigger",
        "--audit-log",
        &audit_log,
        "-o",
        "json",
    ]);
    drill.assert_code(0);
    // Without --profile or --name, every decoy of this key is drilled: one document with a
    // result per decoy, here the one.
    let document = drill.json();
    assert_eq!(document["schemaVersion"], 1, "{document:#}");
    let drilled = document["decoys"].as_array().unwrap();
    assert_eq!(drilled.len(), 1, "{document:#}");
    assert_eq!(drilled[0]["result"], "ok", "{document:#}");
    let drill_report = &drilled[0]["drill"];
    assert_eq!(drill_report["allEventsArrived"], true);
    for request in drill_report["requests"].as_array().unwrap() {
        // The bed's policy drops /version, as common policies do: the tripwire sees it.
        let expected = request["path"] != "/version";
        assert_eq!(request["auditEventExpected"], expected, "{request}");
        assert_eq!(
            request["auditLatencySeconds"].is_number(),
            expected,
            "{request}"
        );
        if request["path"].as_str().unwrap().ends_with("/secrets") {
            assert_eq!(request["code"], 403, "{request}");
        }
    }

    // The API server stamped the last-used label and the drill removed its stamp: armed
    // again, and status knows when.
    assert_eq!(
        drill_report["tripwire"]["outcome"], "rearmed",
        "{drill_report:#}"
    );
    let after = plugin.run(&["--context", OPERATOR, "status", "-o", "json"]);
    after.assert_code(0);
    let decoy = &after.json()["decoys"][0];
    assert_eq!(decoy["verdict"], "armed", "{decoy:#}");
    assert_eq!(decoy["lastUsed"], serde_json::Value::Null, "{decoy:#}");
    assert!(decoy["lastRearmedAt"].is_string(), "{decoy:#}");
    assert_eq!(decoy["drillDays"].as_array().unwrap().len(), 1, "{decoy:#}");

    let table = plugin.run(&["--context", OPERATOR, "status"]);
    assert!(
        table.stdout.contains("kube-system/tiller"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("armed"), "{}", table.stdout);

    // Every other output form, so the secrecy check below covers them too.
    for args in [
        &["status", "-o", "yaml"][..],
        &["plant", "--dry-run", "-o", "yaml"],
        &["plant", "--dry-run", "-o", "json"],
        &["test-trigger", "-o", "yaml"],
        &["remove", "--dry-run", "-o", "yaml"],
        &["remove", "--dry-run"],
    ] {
        let mut full = vec!["--context", OPERATOR];
        full.extend_from_slice(args);
        plugin.run(&full).assert_code(0);
    }

    plugin
        .run(&["--context", OPERATOR, "remove", "--yes"])
        .assert_code(0);
    let accounts = Api::<ServiceAccount>::namespaced(admin.clone(), "kube-system");
    assert!(accounts.get_opt("tiller").await.unwrap().is_none());
    let secrets = Api::<Secret>::namespaced(admin.clone(), "kube-system");
    assert!(secrets.get_opt(&secret_name).await.unwrap().is_none());

    let second = plugin.run(&["--context", OPERATOR, "remove", "--yes"]);
    second.assert_code(0);
    assert!(
        second.stdout.contains("nothing to remove"),
        "{}",
        second.stdout
    );
    let empty = plugin.run(&["--context", OPERATOR, "status", "-o", "json"]);
    empty.assert_code(6);
    assert_eq!(empty.json()["decoys"], serde_json::json!([]));

    assert!(
        !plugin.transcript.borrow().contains(&token),
        "the token appeared in the plugin's output"
    );
}

#[tokio::test]
async fn use_of_the_token_outside_a_drill_trips_the_decoy() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "trip").await;
    let plugin = Plugin::new(cluster);
    let secret_name = plant_in(&plugin, &namespace);
    let token = support::token_of(&admin, &namespace, &secret_name).await;

    // The attacker: the bed's real kubectl with the stolen token.
    let attacker = cluster.list_secrets_with_token(&token, &namespace);
    assert!(!attacker.status.success());
    assert!(String::from_utf8_lossy(&attacker.stderr).contains("Forbidden"));

    let tripped = support::eventually(Duration::from_secs(10), || async {
        let run = plugin.run(&[
            "--context",
            OPERATOR,
            "-n",
            &namespace,
            "status",
            "-o",
            "json",
        ]);
        (run.code == Some(3)).then_some(run)
    })
    .await
    .expect("status did not exit 3 (TRIPPED) within 10s of the token's use");
    assert_eq!(tripped.json()["decoys"][0]["verdict"], "TRIPPED");

    plugin
        .run(&["--context", OPERATOR, "-n", &namespace, "remove", "--yes"])
        .assert_code(0);
    assert!(!plugin.transcript.borrow().contains(&token));
}

#[tokio::test]
async fn an_attacker_sees_nothing_that_gives_the_decoy_away() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "looks").await;
    let accounts = Api::<ServiceAccount>::namespaced(admin.clone(), &namespace);
    let secrets = Api::<Secret>::namespaced(admin.clone(), &namespace);
    let names = |list: Vec<String>| list.into_iter().collect::<std::collections::BTreeSet<_>>();
    let list_accounts = || async {
        names(
            accounts
                .list(&Default::default())
                .await
                .unwrap()
                .items
                .iter()
                .map(|a| a.name_any())
                .collect(),
        )
    };
    let list_secrets = || async {
        names(
            secrets
                .list(&Default::default())
                .await
                .unwrap()
                .items
                .iter()
                .map(|s| s.name_any())
                .collect(),
        )
    };
    let accounts_before = list_accounts().await;
    let secrets_before = list_secrets().await;

    let plugin = Plugin::new(cluster);
    let secret_name = plant_in(&plugin, &namespace);

    // Exactly two new objects, nothing else.
    let new_accounts: Vec<_> = list_accounts()
        .await
        .difference(&accounts_before)
        .cloned()
        .collect();
    let new_secrets: Vec<_> = list_secrets()
        .await
        .difference(&secrets_before)
        .cloned()
        .collect();
    assert_eq!(new_accounts, vec!["tiller".to_string()]);
    assert_eq!(new_secrets, vec![secret_name.clone()]);

    let account = accounts.get("tiller").await.unwrap();
    let mut secret = secrets.get(&secret_name).await.unwrap();
    let token = String::from_utf8(secret.data.as_ref().unwrap()["token"].0.clone()).unwrap();
    // The token's claims are readable by whoever holds it.
    let claims = token.split('.').nth(1).expect("a JWT");
    let claims = String::from_utf8(base64_url_decode(claims)).unwrap();
    // Random data is scanned decoded (above); its encoded form could spell anything.
    secret.data = None;
    let visible = format!(
        "{}\n{}\n{claims}",
        serde_saphyr::to_string(&account).unwrap(),
        serde_saphyr::to_string(&secret).unwrap()
    );
    assert!(
        visible.contains("managedFields"),
        "managed fields must be part of the scan:\n{visible}"
    );
    let giveaways = kubectl_honeytoken::decoy::realism::giveaways_in(&visible);
    assert!(
        giveaways.is_empty(),
        "an attacker can read {giveaways:?} in:\n{visible}"
    );

    let managers: Vec<String> = account
        .managed_fields()
        .iter()
        .chain(secrets.get(&secret_name).await.unwrap().managed_fields())
        .filter_map(|m| m.manager.clone())
        .collect();
    // The tiller profile's managers: `kubectl create` for the account (which, holding
    // nothing but its name, shows none) and the token controller for the Secret.
    assert!(
        managers.contains(&"kube-controller-manager".to_string())
            && managers
                .iter()
                .all(|m| m == "kubectl-create" || m == "kube-controller-manager"),
        "{managers:?}"
    );

    plugin
        .run(&["--context", OPERATOR, "-n", &namespace, "remove", "--yes"])
        .assert_code(0);
}

fn base64_url_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|&c| c != b'=') {
        let value = ALPHABET.iter().position(|&a| a == c).expect("base64url") as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

#[tokio::test]
async fn a_decoy_whose_secret_was_deleted_is_broken_and_remove_cleans_the_rest() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "gone").await;
    let plugin = Plugin::new(cluster);
    let secret_name = plant_in(&plugin, &namespace);
    Api::<Secret>::namespaced(admin.clone(), &namespace)
        .delete(&secret_name, &Default::default())
        .await
        .unwrap();

    let status = plugin.run(&[
        "--context",
        OPERATOR,
        "-n",
        &namespace,
        "status",
        "-o",
        "json",
    ]);
    status.assert_code(4);
    let decoy = &status.json()["decoys"][0];
    assert_eq!(decoy["verdict"], "broken");
    assert_eq!(decoy["secretPresent"], false);

    plugin
        .run(&["--context", OPERATOR, "-n", &namespace, "remove", "--yes"])
        .assert_code(0);
    let accounts = Api::<ServiceAccount>::namespaced(admin.clone(), &namespace);
    assert!(accounts.get_opt("tiller").await.unwrap().is_none());
}

#[tokio::test]
async fn an_existing_account_of_the_same_name_is_never_adopted_or_removed() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "real").await;
    let accounts = Api::<ServiceAccount>::namespaced(admin.clone(), &namespace);
    let real = accounts
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": "tiller"}})).unwrap(),
        )
        .await
        .unwrap();

    let plugin = Plugin::new(cluster);
    let plant = plugin.run(&["--context", OPERATOR, "-n", &namespace, "plant", "--yes"]);
    plant.assert_code(1);
    assert!(
        plant.stderr.contains("refusing to plant"),
        "{}",
        plant.stderr
    );
    assert!(
        plant.stderr.contains("not made by plant"),
        "{}",
        plant.stderr
    );

    // Named, it is refused; looked for among every decoy of this key, it is not one.
    let remove = plugin.run(&[
        "--context",
        OPERATOR,
        "-n",
        &namespace,
        "remove",
        "--yes",
        "--name",
        "tiller",
    ]);
    remove.assert_code(1);
    assert!(
        remove.stderr.contains("will not delete"),
        "{}",
        remove.stderr
    );
    let every = plugin.run(&["--context", OPERATOR, "-n", &namespace, "remove", "--yes"]);
    every.assert_code(0);
    assert!(
        every.stdout.contains("nothing to remove"),
        "{}",
        every.stdout
    );

    let after = accounts.get("tiller").await.unwrap();
    assert_eq!(
        after.uid(),
        real.uid(),
        "the real account must be untouched"
    );
    assert_eq!(after.resource_version(), real.resource_version());
}

#[tokio::test]
async fn a_decoy_granted_permissions_is_danger_for_status_and_the_drill() {
    use k8s_openapi::api::rbac::v1::RoleBinding;
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "danger").await;
    let plugin = Plugin::new(cluster);
    plant_in(&plugin, &namespace);
    let binding: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "helm-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "tiller", "namespace": namespace}]
    }))
    .unwrap();
    let binding = Api::<RoleBinding>::namespaced(admin.clone(), &namespace)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    // The binding makes the decoy an admin of its namespace: it goes on every path.
    let mut cleanup = Cleanup::new(cluster);
    cleanup.delete(&binding);

    let status = plugin.run(&[
        "--context",
        OPERATOR,
        "-n",
        &namespace,
        "status",
        "-o",
        "json",
    ]);
    status.assert_code(4);
    let decoy = &status.json()["decoys"][0];
    assert_eq!(decoy["verdict"], "broken");
    assert!(
        decoy["rbacBindings"][0]
            .as_str()
            .unwrap()
            .contains("helm-admin"),
        "{decoy}"
    );

    // The binding grants reading Secrets in the namespace: the drill's first Secrets
    // request comes back 200, which is DANGER.
    let drill = support::eventually(Duration::from_secs(10), || async {
        let run = plugin.run(&["--context", OPERATOR, "-n", &namespace, "test-trigger"]);
        (run.code == Some(4)).then_some(run)
    })
    .await
    .expect("the drill did not report DANGER (exit 4) for a decoy that may read Secrets");
    assert!(drill.stderr.contains("DANGER"), "{}", drill.stderr);

    Api::<RoleBinding>::namespaced(admin.clone(), &namespace)
        .delete("helm-admin", &Default::default())
        .await
        .unwrap();
    plugin
        .run(&["--context", OPERATOR, "-n", &namespace, "remove", "--yes"])
        .assert_code(0);
}
