//! The product's central claim, on the real legacy service-account token cleaner: a token
//! Secret listed in its account's `.secrets` and unused is invalidated, and deleted once it
//! has been invalid for longer than the clean-up period, while a decoy made by `plant` (not
//! listed) is never touched and stays armed.
//!
//! The bed of its own runs the cleaner (`legacy-serviceaccount-token-cleaner-controller`)
//! with a clean-up period of seconds. What the cleaner requires, from
//! `pkg/controller/serviceaccount/legacy_serviceaccount_token_cleaner.go` (v1.36), one pass
//! when kube-controller-manager starts and one a day after:
//! - the cluster has tracked legacy token use for longer than the period, counted from the
//!   day after the date in ConfigMap kube-system/kube-apiserver-legacy-service-account-token-tracking
//!   (the API server writes the day it first started; on a new bed: today, so nothing acts
//!   before tomorrow unless that date is older);
//! - the Secret is of type `kubernetes.io/service-account-token`, was created more than the
//!   period ago, is not being deleted, and its `kubernetes.io/legacy-token-last-used` label
//!   is absent or a day before (now - period);
//! - its account exists (with the UID the Secret names) and lists it in `.secrets`, and no
//!   pod in its namespace mounts it.
//!
//! Such a Secret without `kubernetes.io/legacy-token-invalid-since` gets it (today); one whose
//! label is a day before (now - period) is deleted. With a period of seconds, a token the
//! cleaner marks today is deleted by a pass on a later day, so the one deleted here was
//! marked on an earlier day.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use support::{ExtraBed, Plugin};

const PERIOD_SECONDS: i64 = 3;
const INVALID_SINCE: &str = "kubernetes.io/legacy-token-invalid-since";
const LAST_USED: &str = "kubernetes.io/legacy-token-last-used";

/// An ordinary service account and a token Secret listed in its `.secrets`, as Kubernetes
/// before 1.24 made one for every account; waits for the token. Returns the Secret.
async fn listed_token(admin: &Client, namespace: &str, account: &str, suffix: &str) -> Secret {
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), namespace);
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), namespace);
    let name = format!("{account}-token-{suffix}");
    accounts
        .create(
            &PostParams::default(),
            &ServiceAccount {
                metadata: ObjectMeta {
                    name: Some(account.into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .expect("create the service account");
    secrets
        .create(
            &PostParams::default(),
            &Secret {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    annotations: Some(BTreeMap::from([(
                        "kubernetes.io/service-account.name".to_string(),
                        account.to_string(),
                    )])),
                    ..Default::default()
                },
                type_: Some("kubernetes.io/service-account-token".into()),
                ..Default::default()
            },
        )
        .await
        .expect("create the token Secret");
    list_in_secrets(admin, namespace, account, &name).await;
    support::eventually(Duration::from_secs(30), || async {
        let secret = secrets.get(&name).await.ok()?;
        secret.data.as_ref()?.get("token")?;
        Some(secret)
    })
    .await
    .unwrap_or_else(|| panic!("the token controller did not fill {namespace}/{name} within 30s"))
}

async fn list_in_secrets(admin: &Client, namespace: &str, account: &str, secret: &str) {
    Api::<ServiceAccount>::namespaced(admin.clone(), namespace)
        .patch(
            account,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"secrets": [{"name": secret}]})),
        )
        .await
        .expect("list the Secret in the account's .secrets");
}

fn label<'a>(secret: &'a Secret, key: &str) -> Option<&'a str> {
    secret.labels().get(key).map(String::as_str)
}

fn utc_day(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%d").to_string()
}

#[tokio::test]
async fn the_cleaner_invalidates_and_deletes_listed_unused_tokens_and_never_the_decoy() {
    support::require_bed();
    let period = format!("{PERIOD_SECONDS}s");
    let bed = ExtraBed::start(
        "cleaner",
        &[("HONEYTOKEN_BED_LEGACY_TOKEN_CLEANUP_PERIOD", &period)],
    );
    let cluster = bed.cluster();
    let admin = cluster.client("admin").await;

    // A cluster that has tracked legacy token use since long before the period, as every
    // cluster that ran 1.28 or later a day ago has.
    let tracking = Api::<ConfigMap>::namespaced(admin.clone(), "kube-system");
    let tracking_name = "kube-apiserver-legacy-service-account-token-tracking";
    support::eventually(Duration::from_secs(30), || async {
        tracking.get_opt(tracking_name).await.ok().flatten()
    })
    .await
    .expect("the API server did not make its legacy token tracking ConfigMap within 30s");
    tracking
        .patch(
            tracking_name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"data": {"since": "2020-01-01"}})),
        )
        .await
        .expect("date the tracking ConfigMap back");

    // The decoy, as `plant` makes it, first: the oldest Secret here, never used.
    let plugin = Plugin::on(&bed.kubeconfig);
    let planted = plugin.as_operator("kube-system", &["plant", "--yes", "-o", "json"]);
    planted.assert_code(0);
    let decoy_secret = planted.json()["secret"].as_str().unwrap().to_string();

    // The same decoy listed in its account's .secrets (the mistake plant avoids), in a
    // namespace of its own.
    let listed_namespace = support::operator_namespace(&admin, "listed").await;
    let listed_planted = plugin.as_operator(&listed_namespace, &["plant", "--yes", "-o", "json"]);
    listed_planted.assert_code(0);
    let listed_decoy_secret = listed_planted.json()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    list_in_secrets(&admin, &listed_namespace, "tiller", &listed_decoy_secret).await;

    // Ordinary accounts with listed, unused tokens: one the cleaner has not seen yet, one
    // it marked invalid on an earlier day.
    let unused = listed_token(&admin, "default", "builder", "x7k2p").await;
    let marked = listed_token(&admin, "default", "deployer", "q4m9z").await;
    let default_secrets: Api<Secret> = Api::namespaced(admin.clone(), "default");
    default_secrets
        .patch(
            &marked.name_any(),
            &PatchParams::default(),
            &Patch::Merge(
                serde_json::json!({"metadata": {"labels": {INVALID_SINCE: "2020-01-02"}}}),
            ),
        )
        .await
        .expect("mark the token invalid since an earlier day");
    let unused_token = String::from_utf8(unused.data.as_ref().unwrap()["token"].0.clone()).unwrap();

    // Every Secret must be older than the period when the cleaner looks (creation times are
    // whole seconds): wait until the newest is.
    let kube_system_secrets: Api<Secret> = Api::namespaced(admin.clone(), "kube-system");
    let listed_secrets: Api<Secret> = Api::namespaced(admin.clone(), &listed_namespace);
    let decoy = kube_system_secrets.get(&decoy_secret).await.unwrap();
    assert_eq!(label(&decoy, LAST_USED), None, "the decoy was used");
    let newest = marked.creation_timestamp().unwrap().0;
    let old_enough = newest
        .checked_add(jiff::SignedDuration::from_secs(PERIOD_SECONDS + 1))
        .unwrap();
    support::eventually(Duration::from_secs(30), || async {
        (jiff::Timestamp::now() > old_enough).then_some(())
    })
    .await
    .expect("the clock did not pass the period");

    // The cleaner looks when kube-controller-manager starts.
    let day_before = utc_day(jiff::Timestamp::now());
    bed.restart_controller_manager();

    let invalidated = support::eventually(Duration::from_secs(30), || async {
        let secret = default_secrets.get(&unused.name_any()).await.ok()?;
        label(&secret, INVALID_SINCE).map(str::to_string)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "the cleaner did not invalidate the listed, unused token {} within 30s of its \
             restart (logs: {})",
            unused.name_any(),
            bed.logs().display()
        )
    });
    let day_after = utc_day(jiff::Timestamp::now());
    assert!(
        invalidated == day_before || invalidated == day_after,
        "invalid since {invalidated}, expected today ({day_before})"
    );
    let listed_decoy_invalidated = support::eventually(Duration::from_secs(30), || async {
        let secret = listed_secrets.get(&listed_decoy_secret).await.ok()?;
        label(&secret, INVALID_SINCE).map(str::to_string)
    })
    .await;
    assert!(
        listed_decoy_invalidated.is_some(),
        "the cleaner did not invalidate the decoy listed in .secrets within 30s"
    );
    let deleted = support::eventually(Duration::from_secs(30), || async {
        matches!(default_secrets.get_opt(&marked.name_any()).await, Ok(None)).then_some(())
    })
    .await;
    assert!(
        deleted.is_some(),
        "the cleaner did not delete the token marked invalid on an earlier day within 30s"
    );

    // The invalidated token no longer authenticates: 401.
    let as_unused = cluster.client_with_token(&unused_token).await;
    match as_unused.apiserver_version().await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 401, "{status:?}"),
        other => panic!("the invalidated token was not refused with 401: {other:?}"),
    }

    // The decoy that plant made: present, unlabelled, unchanged, and armed.
    let after = kube_system_secrets
        .get(&decoy_secret)
        .await
        .expect("the decoy Secret is still there");
    assert_eq!(after.uid(), decoy.uid());
    assert_eq!(
        label(&after, INVALID_SINCE),
        None,
        "the decoy was invalidated"
    );
    assert_eq!(
        after.resource_version(),
        decoy.resource_version(),
        "the decoy Secret was changed"
    );
    let status = plugin.as_operator("kube-system", &["status", "-o", "json"]);
    status.assert_code(0);
    let report = &status.json()["decoys"][0];
    assert_eq!(report["verdict"], "armed", "{report}");
    assert_eq!(report["invalidSince"], serde_json::Value::Null, "{report}");

    // The listed one is reported broken, invalidated.
    let listed_status = plugin.as_operator(&listed_namespace, &["status", "-o", "json"]);
    listed_status.assert_code(4);
    let listed_report = &listed_status.json()["decoys"][0];
    assert_eq!(listed_report["verdict"], "broken", "{listed_report}");
    assert!(listed_report["invalidSince"].is_string(), "{listed_report}");
    assert!(
        !plugin.transcript.borrow().contains(&unused_token),
        "a token appeared in the plugin's output"
    );
}
