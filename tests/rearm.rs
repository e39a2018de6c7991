//! The tripwire re-armed, on the real control plane: the API server stamps the decoy's
//! Secret at each first use, a drill removes its own stamp, and `status` tells a use after
//! a drill from the drill, by the Secret's UID, never by its name.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::Role;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use support::{Plugin, cluster, token_of};

const LAST_USED: &str = "kubernetes.io/legacy-token-last-used";

/// The API server caches a successful token authentication for 10 s; a use within that
/// time of the previous one is not stamped again. Tests that use the token twice wait it out.
const TOKEN_CACHE: Duration = Duration::from_secs(11);

fn today() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%d").to_string()
}

#[tokio::test]
async fn a_use_after_a_re_armed_drill_is_tripped_the_same_day() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "rearm").await;
    let plugin = Plugin::new(cluster);
    let op = |args: &[&str]| plugin.as_operator(&namespace, args);
    let planted = op(&["plant", "--yes", "-o", "json"]);
    planted.assert_code(0);
    let secret_name = planted.json()["secret"].as_str().unwrap().to_string();
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &namespace);

    // Two drills back to back: the second waits out the token cache, so it too is stamped
    // and re-arms.
    for round in 0..2 {
        let drill = op(&["test-trigger", "-o", "json"]);
        drill.assert_code(0);
        let tripwire = drill.json()["decoys"][0]["drill"]["tripwire"].clone();
        assert_eq!(
            tripwire["outcome"], "rearmed",
            "round {round}: {tripwire:#}"
        );
        assert_eq!(tripwire["stamped"], today().as_str(), "{tripwire:#}");
        assert!(tripwire["stampedAfterMs"].as_u64().unwrap() < 3000);
        assert_eq!(tripwire["labelBefore"], serde_json::Value::Null);
        let secret = secrets.get(&secret_name).await.unwrap();
        assert_eq!(secret.labels().get(LAST_USED), None, "round {round}");
    }
    let table = op(&["test-trigger", "--dry-run"]);
    table.assert_code(0);

    // After the drills: armed, and when it was last re-armed.
    let status = op(&["status", "-o", "json"]);
    status.assert_code(0);
    let decoy = &status.json()["decoys"][0];
    assert_eq!(decoy["verdict"], "armed", "{decoy:#}");
    assert!(decoy["lastRearmedAt"].is_string(), "{decoy:#}");
    assert_eq!(decoy["drillDays"], serde_json::json!([today()]));

    // The attacker, the same day, once the drill's use has left the token cache.
    tokio::time::sleep(TOKEN_CACHE).await;
    let token = token_of(&admin, &namespace, &secret_name).await;
    assert!(
        !cluster
            .list_secrets_with_token(&token, &namespace)
            .status
            .success()
    );
    let status = op(&["status", "-o", "json"]);
    status.assert_code(3);
    let decoy = &status.json()["decoys"][0];
    assert_eq!(decoy["verdict"], "TRIPPED", "{decoy:#}");
    assert!(
        decoy["reasons"][0]
            .as_str()
            .unwrap()
            .contains("after a drill re-armed the tripwire at"),
        "{decoy:#}"
    );
    let table = op(&["status"]);
    table.assert_code(3);
    assert!(table.stdout.contains("TRIPPED"), "{}", table.stdout);
    assert!(!table.text().contains(&token), "the token is never printed");

    // A drill now finds the attacker's stamp, leaves it as evidence, and says so.
    let drill = op(&["test-trigger", "-o", "json"]);
    drill.assert_code(3);
    assert!(drill.stderr.contains("TRIPPED"), "{}", drill.stderr);
    assert_eq!(
        drill.json()["decoys"][0]["drill"]["tripwire"]["outcome"],
        "alreadyStamped",
        "{}",
        drill.stdout
    );
    let secret = secrets.get(&secret_name).await.unwrap();
    assert_eq!(
        secret.labels().get(LAST_USED).map(String::as_str),
        Some(today().as_str())
    );
    op(&["status"]).assert_code(3);
    op(&["remove", "--yes"]).assert_code(0);
}

/// Removes `patch` from the operator's Role in `namespace`: its drills cannot re-arm.
async fn deny_patch(admin: &kube::Client, namespace: &str) {
    let roles: Api<Role> = Api::namespaced(admin.clone(), namespace);
    let mut role = roles.get("service-account-maintainer").await.unwrap();
    for rule in role.rules.iter_mut().flatten() {
        rule.verbs.retain(|verb| verb != "patch");
    }
    role.metadata.managed_fields = None;
    roles
        .patch(
            "service-account-maintainer",
            &PatchParams::default(),
            &Patch::Merge(&role),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_decoy_planted_again_under_the_same_name_inherits_no_drill() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "again").await;
    deny_patch(&admin, &namespace).await;
    let plugin = Plugin::new(cluster);
    let op = |args: &[&str]| plugin.as_operator(&namespace, args);
    let planted = op(&["plant", "--yes", "-o", "json"]);
    planted.assert_code(0);
    let secret_name = planted.json()["secret"].as_str().unwrap().to_string();

    // Without patch the drill stamps and cannot re-arm: it fails and says why, and the stamp
    // is the drill's.
    let drill = op(&["test-trigger", "-o", "json"]);
    drill.assert_code(1);
    assert_eq!(
        drill.json()["decoys"][0]["drill"]["tripwire"]["outcome"],
        "left",
        "{}",
        drill.stdout
    );
    assert!(
        drill.stderr.contains("could not re-arm"),
        "{}",
        drill.stderr
    );
    assert!(drill.stderr.contains("forbidden"), "{}", drill.stderr);
    let status = op(&["status", "-o", "json"]);
    status.assert_code(0);
    assert_eq!(status.json()["decoys"][0]["verdict"], "drilled");

    // Removed and planted again: the same name, another Secret.
    op(&["remove", "--yes"]).assert_code(0);
    let again = op(&["plant", "--yes", "-o", "json"]);
    again.assert_code(0);
    assert_eq!(again.json()["secret"], secret_name.as_str(), "same name");
    op(&["status"]).assert_code(0);

    let token = token_of(&admin, &namespace, &secret_name).await;
    cluster.list_secrets_with_token(&token, &namespace);
    let status = op(&["status", "-o", "json"]);
    status.assert_code(3);
    let decoy = &status.json()["decoys"][0];
    assert_eq!(decoy["verdict"], "TRIPPED", "{decoy:#}");
    assert_eq!(decoy["drillDays"], serde_json::json!([]), "{decoy:#}");
    op(&["remove", "--yes"]).assert_code(0);
}
