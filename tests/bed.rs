//! The test bed itself: a real API server and token controller behave the way the product
//! depends on (README, "How decoys are tracked": the token controller fills a token Secret
//! only for an account that exists, the token authenticates, is denied and is audited, and
//! the API server stamps `kubernetes.io/legacy-token-last-used`). Plain kube-rs calls, no
//! plugin code.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::{Api, ResourceExt};

const NAMESPACE: &str = "kube-system";
const ACCOUNT: &str = "tiller";
const SECRET: &str = "tiller-token-bedt1";
const USERNAME: &str = "system:serviceaccount:kube-system:tiller";

async fn delete_if_present<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(e) => panic!("cannot delete {name}: {e}"),
    }
    support::eventually(Duration::from_secs(30), || async {
        matches!(api.get_opt(name).await, Ok(None)).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("{name} was not gone within 30s"));
}

#[tokio::test]
async fn a_legacy_token_is_filled_denied_audited_and_stamped_as_used() {
    let cluster = support::cluster();
    let admin = cluster.client("admin").await;
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), NAMESPACE);
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), NAMESPACE);
    // A reused bed may hold what an interrupted run left; on a cluster of the user's, an
    // existing account of this name is someone's, and is never deleted.
    if cluster.bin_dir.is_some() {
        delete_if_present(&secrets, SECRET).await;
        delete_if_present(&accounts, ACCOUNT).await;
    } else {
        assert!(
            accounts.get_opt(ACCOUNT).await.unwrap().is_none(),
            "{NAMESPACE}/{ACCOUNT} exists on this cluster; this test makes and deletes its own \
             and will not touch it"
        );
    }

    let account = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(ACCOUNT.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let account = accounts
        .create(&PostParams::default(), &account)
        .await
        .expect("create the service account");
    // Deleted on every path, by UID.
    let mut cleanup = support::Cleanup::new(cluster);
    cleanup.delete(&account);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(SECRET.into()),
            annotations: Some(BTreeMap::from([(
                "kubernetes.io/service-account.name".to_string(),
                ACCOUNT.to_string(),
            )])),
            ..Default::default()
        },
        type_: Some("kubernetes.io/service-account-token".into()),
        ..Default::default()
    };
    cleanup.delete(
        &secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("create the token Secret"),
    );

    let token = support::eventually(Duration::from_secs(30), || async {
        let secret = secrets.get(SECRET).await.ok()?;
        let token = secret.data?.get("token")?.0.clone();
        Some(String::from_utf8(token).expect("the token is text"))
    })
    .await
    .expect("the token controller did not fill data.token within 30s");

    let audit_log = cluster.audit_log();
    let as_decoy: Api<Secret> = Api::namespaced(cluster.client_with_token(&token).await, NAMESPACE);
    match as_decoy.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(
            status.code, 403,
            "listing Secrets with a token that has no RBAC must be forbidden: {status:?}"
        ),
        other => panic!("expected 403 Forbidden, got {other:?}"),
    }

    let event = audit_log
        .wait_for(Duration::from_secs(10), |event| {
            event["stage"] == "ResponseComplete"
                && event["user"]["username"] == USERNAME
                && event["verb"] == "list"
                && event["objectRef"]["resource"] == "secrets"
        })
        .await
        .unwrap_or_else(|| {
            panic!(
                "no ResponseComplete audit event for {USERNAME} listing secrets appeared in {} \
                 within 10s: the audit policy does not record the decoy's use",
                cluster.audit_log_path().display()
            )
        });
    assert_eq!(event["responseStatus"]["code"], 403, "{event}");
    assert_eq!(event["objectRef"]["namespace"], NAMESPACE, "{event}");
    // The API server tells legacy tokens apart, and names the Secret of one it was not
    // asked to track in the account's `.secrets`.
    assert_eq!(
        event["annotations"]["authentication.k8s.io/legacy-token"], USERNAME,
        "{event}"
    );
    assert_eq!(
        event["annotations"]["authentication.k8s.io/legacy-token-manual-secret"], SECRET,
        "{event}"
    );

    let last_used = support::eventually(Duration::from_secs(10), || async {
        let secret = secrets.get(SECRET).await.ok()?;
        secret
            .labels()
            .get("kubernetes.io/legacy-token-last-used")
            .cloned()
    })
    .await
    .expect("the API server did not stamp kubernetes.io/legacy-token-last-used within 10s");
    assert_eq!(last_used.len(), "YYYY-MM-DD".len(), "{last_used}");

    delete_if_present(&secrets, SECRET).await;
    delete_if_present(&accounts, ACCOUNT).await;
}
