//! What `plant` reads to judge a profile's fit: `kube-system`'s creation time, the
//! server's version, and whether each object a profile asks about exists. Metadata only,
//! one request per object; an object the API server will not tell about is unknown, not
//! an error.

use std::collections::BTreeSet;
use std::fmt::Debug;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::ListParams;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use crate::decoy::fit::{ClusterFacts, Presence};
use crate::decoy::profile::{ObjectQuery, QueryKind};

pub async fn cluster_facts(client: &Client, queries: &BTreeSet<ObjectQuery>) -> ClusterFacts {
    let born = Api::<Namespace>::all(client.clone())
        .get_metadata_opt("kube-system")
        .await
        .ok()
        .flatten()
        .and_then(|ns| ns.metadata.creation_timestamp)
        .map(|t| t.0);
    let server_version = client
        .apiserver_version()
        .await
        .ok()
        .map(|info| info.git_version);
    let mut facts = ClusterFacts {
        born,
        server_version,
        objects: Default::default(),
    };
    for query in queries {
        let presence = match query.kind {
            QueryKind::Namespace => presence(Api::<Namespace>::all(client.clone()), query).await,
            QueryKind::ClusterRole => {
                presence(Api::<ClusterRole>::all(client.clone()), query).await
            }
            QueryKind::ClusterRoleBinding => {
                presence(Api::<ClusterRoleBinding>::all(client.clone()), query).await
            }
            QueryKind::Deployment => presence(namespaced::<Deployment>(client, query), query).await,
            QueryKind::ServiceAccount => {
                presence(namespaced::<ServiceAccount>(client, query), query).await
            }
            QueryKind::ConfigMap => presence(namespaced::<ConfigMap>(client, query), query).await,
        };
        facts.objects.insert(query.clone(), presence);
    }
    facts
}

fn namespaced<K>(client: &Client, query: &ObjectQuery) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    Api::namespaced(
        client.clone(),
        query.namespace.as_deref().unwrap_or("default"),
    )
}

async fn presence<K>(api: Api<K>, query: &ObjectQuery) -> Presence
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let answer = match (&query.name, &query.label_selector) {
        (Some(name), _) => api.get_metadata_opt(name).await.map(|o| o.is_some()),
        (None, Some(selector)) => api
            .list_metadata(&ListParams::default().labels(selector).limit(1))
            .await
            .map(|list| !list.items.is_empty()),
        (None, None) => return Presence::Unknown,
    };
    match answer {
        Ok(true) => Presence::Present,
        Ok(false) => Presence::Absent,
        Err(_) => Presence::Unknown,
    }
}
