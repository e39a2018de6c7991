//! The tripwire's watches: metadata-only watches of one decoy's token Secret and of its
//! ServiceAccount, each by name (`fieldSelector=metadata.name=<name>`, so a Role limited
//! by `resourceNames` allows them), reconnected with kube::runtime's back-off; and the
//! bindings that name the account. No token is ever read: only metadata is asked for.

use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};

use crate::cluster::connect::Connection;
use crate::cluster::{self, ClusterError};
use crate::decoy::tripwire::{Mark, Sighting};

/// One decoy the tripwire watches: its token Secret and the account the token is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoy {
    pub namespace: String,
    pub secret: String,
    pub account: String,
}

impl Decoy {
    pub fn username(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.account)
    }

    pub fn secret_ref(&self) -> String {
        format!("{}/{}", self.namespace, self.secret)
    }
}

/// The API server ends a watch after `timeout` (kube asks for 290 s); a read timeout below
/// that would cut every quiet watch. The watch client waits a little longer than that.
const WATCH_READ_TIMEOUT: Duration = Duration::from_secs(330);

/// A client for long watches: the connection's, with a read timeout longer than a watch.
pub fn watch_client(connection: &Connection) -> Result<Client, ClusterError> {
    let mut config = connection.config.clone();
    config.read_timeout = Some(WATCH_READ_TIMEOUT);
    crate::cluster::connect::client(&config, connection.verbosity)
        .map_err(|e| ClusterError::api("build a client for watching", e))
}

/// One delivery of a watch: a sighting, or a failed attempt (the watch goes on after a
/// back-off).
#[derive(Debug)]
pub enum Watched {
    Sighting(Sighting),
    Failed(String),
}

fn sightings<K>(
    stream: impl Stream<Item = watcher::Result<Event<K>>>,
) -> impl Stream<Item = Watched>
where
    K: kube::Resource,
{
    stream.map(|item| match item {
        Ok(Event::Init) => Watched::Sighting(Sighting::Relisting),
        Ok(Event::InitApply(object)) => {
            Watched::Sighting(Sighting::Listed(Mark::of(object.meta())))
        }
        Ok(Event::InitDone) => Watched::Sighting(Sighting::ListDone),
        Ok(Event::Apply(object)) => Watched::Sighting(Sighting::Applied(Mark::of(object.meta()))),
        Ok(Event::Delete(_)) => Watched::Sighting(Sighting::Deleted),
        Err(e) => Watched::Failed(describe_watch_error(&e)),
    })
}

fn describe_watch_error(error: &watcher::Error) -> String {
    match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => cluster::describe_kube_error(e),
        other => crate::ui::causes::chain(other),
    }
}

fn by_name(name: &str) -> watcher::Config {
    watcher::Config::default().fields(&format!("metadata.name={name}"))
}

/// The token Secret's metadata as it changes.
pub fn secret_sightings(
    client: &Client,
    namespace: &str,
    name: &str,
) -> impl Stream<Item = Watched> + Send + use<> {
    let api: Api<PartialObjectMeta<Secret>> = Api::namespaced(client.clone(), namespace);
    sightings(watcher::watcher(api, by_name(name)).default_backoff())
}

/// The ServiceAccount's metadata as it changes.
pub fn account_sightings(
    client: &Client,
    namespace: &str,
    name: &str,
) -> impl Stream<Item = Watched> + Send + use<> {
    let api: Api<PartialObjectMeta<ServiceAccount>> = Api::namespaced(client.clone(), namespace);
    sightings(watcher::watcher(api, by_name(name)).default_backoff())
}

/// The bindings naming each decoy's account (RoleBindings of its namespace and
/// ClusterRoleBindings), in the decoys' order: one list of ClusterRoleBindings and one of
/// RoleBindings per namespace, however many decoys share it.
pub async fn bindings_naming_accounts(
    client: &Client,
    decoys: &[Decoy],
) -> Result<Vec<Vec<String>>, ClusterError> {
    let cluster_role_bindings = cluster::cluster_role_bindings(client).await?;
    let mut by_namespace = std::collections::BTreeMap::new();
    for decoy in decoys {
        if !by_namespace.contains_key(&decoy.namespace) {
            let role_bindings = cluster::role_bindings(client, &decoy.namespace).await?;
            by_namespace.insert(decoy.namespace.clone(), role_bindings);
        }
    }
    Ok(decoys
        .iter()
        .map(|decoy| {
            crate::decoy::bindings_naming(
                &decoy.namespace,
                &decoy.account,
                &by_namespace[&decoy.namespace],
                &cluster_role_bindings,
            )
        })
        .collect())
}

/// Whether a failed call was refused by authorization.
pub fn forbidden(error: &ClusterError) -> bool {
    matches!(error, ClusterError::Api { source, .. }
        if matches!(source.as_ref(), kube::Error::Api(status) if status.code == 403))
}
