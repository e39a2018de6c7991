//! The cluster layer: finding the cluster as kubectl does (`connect`), finding decoys
//! (`locate`), and here the thin layer of API calls. Every call names its verb and object
//! in its error, and nothing here decides anything.

pub mod connect;
mod error;
pub mod fleet;
pub mod locate;
pub mod sought;
pub mod survey;
pub mod transport;
pub mod watches;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Api, Client};

use crate::decoy::tripwire::{self, LAST_USED_LABEL, Mark};
use crate::decoy::{DecoySpec, Found, token_filled};

pub use error::{ClusterError, describe_kube_error};

pub async fn namespace_uid(client: &Client, namespace: &str) -> Result<String, ClusterError> {
    let api: Api<Namespace> = Api::all(client.clone());
    match api.get_opt(namespace).await {
        Ok(Some(ns)) => ns
            .metadata
            .uid
            .ok_or_else(|| ClusterError::NamespaceWithoutUid(namespace.to_string())),
        Ok(None) => Err(ClusterError::NamespaceMissing(namespace.to_string())),
        Err(e) => Err(ClusterError::api(format!("get namespace {namespace}"), e)),
    }
}

/// The namespace's UID, or None when it does not exist.
pub async fn namespace_uid_if_exists(
    client: &Client,
    namespace: &str,
) -> Result<Option<String>, ClusterError> {
    match namespace_uid(client, namespace).await {
        Ok(uid) => Ok(Some(uid)),
        Err(ClusterError::NamespaceMissing(_)) => Ok(None),
        Err(other) => Err(other),
    }
}

/// The names of the cluster's namespaces, from their metadata alone.
pub async fn namespace_names(client: &Client) -> Result<Vec<String>, ClusterError> {
    let api: Api<Namespace> = Api::all(client.clone());
    api.list_metadata(&ListParams::default())
        .await
        .map(|list| {
            list.items
                .into_iter()
                .filter_map(|namespace| namespace.metadata.name)
                .collect()
        })
        .map_err(|e| ClusterError::api("list namespaces", e))
}

/// Every service account in a namespace.
pub async fn accounts(
    client: &Client,
    namespace: &str,
) -> Result<Vec<ServiceAccount>, ClusterError> {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    api.list(&ListParams::default())
        .await
        .map(|list| list.items)
        .map_err(|e| ClusterError::api(format!("list ServiceAccounts in namespace {namespace}"), e))
}

/// A service-account token Secret as its metadata tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSecretName {
    pub name: String,
    /// The account it is for (`kubernetes.io/service-account.name`).
    pub account: String,
}

/// The names of a namespace's service-account token Secrets, each with the account it
/// names. Only metadata is asked for: no token enters this process.
pub async fn token_secret_names(
    client: &Client,
    namespace: &str,
) -> Result<Vec<TokenSecretName>, ClusterError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let selector = format!("type={}", crate::decoy::tracking::TOKEN_SECRET_TYPE);
    let list = api
        .list_metadata(&ListParams::default().fields(&selector))
        .await
        .map_err(|e| {
            ClusterError::api(
                format!("list token Secrets in namespace {namespace} ({selector})"),
                e,
            )
        })?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|secret| {
            let account = secret
                .metadata
                .annotations
                .as_ref()?
                .get(crate::decoy::tracking::ACCOUNT_NAME_ANNOTATION)?
                .clone();
            Some(TokenSecretName {
                name: secret.metadata.name?,
                account,
            })
        })
        .collect())
}

pub async fn find(client: &Client, spec: &DecoySpec) -> Result<Found, ClusterError> {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &spec.namespace);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &spec.namespace);
    let account = accounts.get_opt(&spec.account).await.map_err(|e| {
        ClusterError::api(
            format!("get ServiceAccount {}/{}", spec.namespace, spec.account),
            e,
        )
    })?;
    let secret = secrets.get_opt(&spec.secret).await.map_err(|e| {
        ClusterError::api(format!("get Secret {}/{}", spec.namespace, spec.secret), e)
    })?;
    Ok(Found { account, secret })
}

/// Whether a Secret of this name exists, of any type (its metadata only).
pub async fn secret_exists(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<bool, ClusterError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    api.get_metadata_opt(name)
        .await
        .map(|found| found.is_some())
        .map_err(|e| ClusterError::api(format!("get Secret {namespace}/{name}"), e))
}

pub async fn get_secret(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<Secret>, ClusterError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    api.get_opt(name)
        .await
        .map_err(|e| ClusterError::api(format!("get Secret {namespace}/{name}"), e))
}

/// The tripwire's state of a token Secret, from its metadata alone (no token is read).
pub async fn secret_mark(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<Mark>, ClusterError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    api.get_metadata_opt(name)
        .await
        .map(|found| found.map(|secret| Mark::of(&secret.metadata)))
        .map_err(|e| ClusterError::api(format!("get Secret {namespace}/{name} (metadata)"), e))
}

/// What a re-arm achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rearmed {
    /// The stamp is gone; the Secret as it is now.
    Done(Mark),
    /// The Secret changed since it was seen (409): perhaps a new use; nothing was removed.
    Changed,
    /// The Secret is gone.
    Gone,
    /// There was no stamp to remove.
    NotStamped,
}

/// Removes the tripwire's stamp if the Secret is still as `seen` (see
/// [`tripwire::rearm_patch`]).
pub async fn rearm(
    client: &Client,
    namespace: &str,
    name: &str,
    seen: &Mark,
) -> Result<Rearmed, ClusterError> {
    let Some(patch) = tripwire::rearm_patch(seen) else {
        return Ok(Rearmed::NotStamped);
    };
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let params = PatchParams {
        field_manager: Some(tripwire::REARM_FIELD_MANAGER.to_string()),
        ..Default::default()
    };
    match api
        .patch_metadata(name, &params, &Patch::Merge(&patch))
        .await
    {
        Ok(secret) => Ok(Rearmed::Done(Mark::of(&secret.metadata))),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(Rearmed::Changed),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Rearmed::Gone),
        Err(e) => Err(ClusterError::api(
            format!("patch Secret {namespace}/{name} (remove label {LAST_USED_LABEL})"),
            e,
        )),
    }
}

fn post_params(field_manager: &str) -> PostParams {
    PostParams {
        field_manager: Some(field_manager.to_string()),
        ..Default::default()
    }
}

/// The manifest of a namespace as `kubectl create namespace NAME` sends it: its name alone.
pub fn namespace_manifest(name: &str) -> Namespace {
    Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Creates a namespace as `kubectl create namespace` does (its name alone, field manager
/// `kubectl-create`).
pub async fn create_namespace(client: &Client, name: &str) -> Result<Namespace, ClusterError> {
    let api: Api<Namespace> = Api::all(client.clone());
    api.create(&post_params("kubectl-create"), &namespace_manifest(name))
        .await
        .map_err(|e| ClusterError::api(format!("create namespace {name}"), e))
}

/// Deletes a namespace only if it is still the one with `uid`.
pub async fn delete_namespace(
    client: &Client,
    name: &str,
    uid: &str,
) -> Result<Deleted, ClusterError> {
    let api: Api<Namespace> = Api::all(client.clone());
    delete_exact(&api, "Namespace", "", name, uid).await
}

pub async fn create_account(
    client: &Client,
    spec: &DecoySpec,
) -> Result<ServiceAccount, ClusterError> {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), &spec.namespace);
    api.create(
        &post_params(spec.account_field_manager()),
        &spec.account_manifest(),
    )
    .await
    .map_err(|e| {
        ClusterError::api(
            format!("create ServiceAccount {}/{}", spec.namespace, spec.account),
            e,
        )
    })
}

/// Creates the decoy's token Secret; `owner` is its account, for profiles whose Secret the
/// account owns.
pub async fn create_secret(
    client: &Client,
    spec: &DecoySpec,
    owner: Option<&ServiceAccount>,
) -> Result<Secret, ClusterError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &spec.namespace);
    api.create(
        &post_params(spec.secret_field_manager()),
        &spec.secret_manifest(owner),
    )
    .await
    .map_err(|e| {
        ClusterError::api(
            format!("create Secret {}/{}", spec.namespace, spec.secret),
            e,
        )
    })
}

/// Polls until the token controller has filled the Secret's token, or `timeout` passes.
pub async fn wait_for_token(
    client: &Client,
    spec: &DecoySpec,
    timeout: Duration,
) -> Result<Secret, ClusterError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &spec.namespace);
    let deadline = Instant::now() + timeout;
    loop {
        match api.get_opt(&spec.secret).await {
            Ok(Some(secret)) if token_filled(&secret) => return Ok(secret),
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(ClusterError::TokenSecretGone {
                    namespace: spec.namespace.clone(),
                    secret: spec.secret.clone(),
                });
            }
            Err(e) => {
                return Err(ClusterError::api(
                    format!("get Secret {}/{}", spec.namespace, spec.secret),
                    e,
                ));
            }
        }
        if Instant::now() >= deadline {
            return Err(ClusterError::TokenNotFilled {
                namespace: spec.namespace.clone(),
                secret: spec.secret.clone(),
                seconds: timeout.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What a delete achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    /// The object is gone (or was already).
    Gone,
    /// The API server marked it for deletion and it stays until these finalizers are
    /// removed by whoever added them.
    Pending { finalizers: Vec<String> },
}

/// Deletes an object only if it is still the one with `uid`; gone already counts as done.
pub async fn delete_exact<K>(
    api: &Api<K>,
    kind: &str,
    namespace: &str,
    name: &str,
    uid: &str,
) -> Result<Deleted, ClusterError>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(name, &params).await {
        Ok(either::Either::Left(object)) => {
            let finalizers = object.meta().finalizers.clone().unwrap_or_default();
            if finalizers.is_empty() {
                Ok(Deleted::Gone)
            } else {
                Ok(Deleted::Pending { finalizers })
            }
        }
        Ok(either::Either::Right(_)) => Ok(Deleted::Gone),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Deleted::Gone),
        Err(e) => Err(ClusterError::api(
            format!("delete {kind} {namespace}/{name}"),
            e,
        )),
    }
}

pub async fn delete_account(
    client: &Client,
    namespace: &str,
    name: &str,
    uid: &str,
) -> Result<Deleted, ClusterError> {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    delete_exact(&api, "ServiceAccount", namespace, name, uid).await
}

pub async fn delete_secret(
    client: &Client,
    namespace: &str,
    name: &str,
    uid: &str,
) -> Result<Deleted, ClusterError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    delete_exact(&api, "Secret", namespace, name, uid).await
}

pub async fn role_bindings(
    client: &Client,
    namespace: &str,
) -> Result<Vec<RoleBinding>, ClusterError> {
    let api: Api<RoleBinding> = Api::namespaced(client.clone(), namespace);
    api.list(&ListParams::default())
        .await
        .map(|l| l.items)
        .map_err(|e| ClusterError::api(format!("list RoleBindings in namespace {namespace}"), e))
}

pub async fn cluster_role_bindings(
    client: &Client,
) -> Result<Vec<ClusterRoleBinding>, ClusterError> {
    let api: Api<ClusterRoleBinding> = Api::all(client.clone());
    api.list(&ListParams::default())
        .await
        .map(|l| l.items)
        .map_err(|e| ClusterError::api("list ClusterRoleBindings", e))
}

/// The API server's version as `gitVersion` tells it (e.g. v1.30.2-eks-1552ad0).
pub async fn server_version(client: &Client) -> Result<String, ClusterError> {
    client
        .apiserver_version()
        .await
        .map(|info| info.git_version)
        .map_err(|e| ClusterError::api("get /version", e))
}

/// The first `limit` nodes (one page).
pub async fn nodes(client: &Client, limit: u32) -> Result<Vec<Node>, ClusterError> {
    let api: Api<Node> = Api::all(client.clone());
    api.list(&ListParams::default().limit(limit))
        .await
        .map(|l| l.items)
        .map_err(|e| ClusterError::api("list Nodes", e))
}

/// Every pod in a namespace.
pub async fn pods(client: &Client, namespace: &str) -> Result<Vec<Pod>, ClusterError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    api.list(&ListParams::default())
        .await
        .map(|l| l.items)
        .map_err(|e| ClusterError::api(format!("list Pods in namespace {namespace}"), e))
}
