//! Finding decoys: the one a command line names (its profile, namespace and account,
//! and what the cluster holds under its names), and every decoy of this key, with a fixed
//! number of requests per namespace.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;

use crate::cluster::connect::{self, Connection, Target};
use crate::cluster::{self, ClusterError};
use crate::decoy::profile::{self, Profile};
use crate::decoy::tracking;
use crate::decoy::{DecoySpec, Found};
use crate::decoy::{bindings_naming, judge_identity};
use crate::home::{DrillRecord, Home, PlantedRecord, State, drills_of};

/// `--profile`, or the default profile when none is named.
pub fn profile_named(name: Option<&str>) -> Result<&'static Profile, ClusterError> {
    match name {
        None => Ok(&profile::TILLER),
        Some(name) => profile::find(name).ok_or_else(|| ClusterError::UnknownProfile {
            name: name.to_string(),
            known: profile::PROFILES
                .iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

#[derive(Debug, Clone)]
pub struct Selection {
    pub profile: &'static Profile,
    pub namespace: String,
    pub account: String,
}

/// The decoy named by `--profile`, `-n` and `--name`, with the profile's defaults.
pub fn select(
    profile: Option<&str>,
    namespace: Option<&str>,
    account: Option<&str>,
) -> Result<Selection, ClusterError> {
    let profile = profile_named(profile)?;
    Ok(Selection {
        profile,
        namespace: namespace.unwrap_or(profile.default_namespace).to_string(),
        account: account.unwrap_or(profile.default_account).to_string(),
    })
}

pub struct Located {
    pub connection: Connection,
    pub spec: DecoySpec,
    pub found: Found,
    /// What this workstation recorded when it planted this decoy, if it did.
    pub record: Option<PlantedRecord>,
    /// The key was made for this run and not saved (no key yet, and the command only
    /// looks): the Secret's name is what a first real `plant` would make it.
    pub ephemeral_key: bool,
}

/// How a command has the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// Read it; no key is an error (status, remove, test-trigger).
    Existing,
    /// Read it, or make one for this run only and save nothing (plant --dry-run, verify).
    ExistingOrEphemeral,
    /// Read it, or make and save one (a real plant).
    Create,
}

/// Connects, then looks the selected decoy up by its computed names.
pub async fn locate(
    selection: &Selection,
    target: &Target,
    home: &Home,
    key_use: KeyUse,
) -> Result<Located, ClusterError> {
    let connection = connect::connect(target).await?;
    let client = &connection.client;
    let namespace_uid = cluster::namespace_uid(client, &selection.namespace).await?;
    let (key, ephemeral_key) = match key_use {
        KeyUse::Existing => (home.key()?, false),
        KeyUse::ExistingOrEphemeral => home.key_or_ephemeral()?,
        KeyUse::Create => (home.key_or_create()?, false),
    };
    let spec = DecoySpec::new(
        selection.profile,
        &key,
        &namespace_uid,
        &selection.namespace,
        &selection.account,
    );
    let found = cluster::find(client, &spec).await?;
    let record = home
        .load()?
        .planted_record(&connection.server, &spec.namespace, &spec.account)
        .cloned();
    Ok(Located {
        connection,
        spec,
        found,
        record,
        ephemeral_key,
    })
}

/// Everything known about one decoy, gathered before judging it.
#[derive(Debug, Clone)]
pub struct Observed {
    pub spec: DecoySpec,
    pub found: Found,
    pub bindings: Vec<String>,
    /// The drills recorded of the Secret found (by its UID), oldest first.
    pub drills: Vec<DrillRecord>,
    /// Why what was found is not (provably) the decoy that was planted: an object made
    /// again or swapped, the namespace gone, a decoy-shaped account without its Secret.
    pub identity_problem: Option<String>,
    /// `plant` recorded its intent here and did not finish.
    pub unfinished_plant: bool,
    /// When it was looked at: a drill's stamp is the drill's only while the drill runs.
    pub observed_at: jiff::Timestamp,
}

/// The namespaces to look in: `-n`, else every profile's home namespace and every
/// namespace this workstation recorded planting in on this server.
fn namespaces(namespace: Option<&str>, state: &State, server: &str) -> Vec<String> {
    match namespace {
        Some(ns) => vec![ns.to_string()],
        None => profile::PROFILES
            .iter()
            .map(|p| p.default_namespace.to_string())
            .chain(
                state
                    .planted
                    .iter()
                    .filter(|r| r.server == server)
                    .map(|r| r.namespace.clone()),
            )
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    }
}

/// The profile whose labels an account carries exactly, if any.
fn profile_shaped(account: &ServiceAccount) -> Option<&'static Profile> {
    let name = account.metadata.name.as_deref()?;
    let labels = account.metadata.labels.as_ref()?;
    profile::PROFILES
        .iter()
        .find(|p| p.labels_match(name, labels))
}

/// A decoy that may be this key's, and why it is looked at.
struct Candidate {
    profile: &'static Profile,
    account: Option<ServiceAccount>,
    /// A token Secret with this account's keyed name exists.
    keyed_secret: bool,
    /// A token Secret under another name is for this account: it has a token of its own,
    /// so it is not a decoy of this key that lost its Secret (another key's, or a real one).
    other_token: bool,
}

/// Finds the decoys of this key in one namespace: accounts shaped like a profile's,
/// token Secrets whose name this key derives from their account, and accounts this
/// workstation recorded planting. A constant number of requests, plus one GET per
/// candidate.
async fn observe_namespace(
    client: &kube::Client,
    server: &str,
    key: &crate::home::Key,
    state: &State,
    namespace: &str,
    cluster_role_bindings: &[ClusterRoleBinding],
) -> Result<Vec<Observed>, ClusterError> {
    let records: Vec<&PlantedRecord> = state
        .planted
        .iter()
        .filter(|r| r.namespace == namespace && r.server == server)
        .collect();
    let Some(namespace_uid) = cluster::namespace_uid_if_exists(client, namespace).await? else {
        // Whatever was planted here went with the namespace.
        return Ok(records
            .into_iter()
            .map(|record| {
                let profile = profile::find(&record.profile).unwrap_or(&profile::TILLER);
                let mut spec = DecoySpec::new(profile, key, "", namespace, &record.account);
                spec.secret = record.secret.clone();
                Observed {
                    drills: Vec::new(),
                    spec,
                    found: Found::default(),
                    bindings: Vec::new(),
                    identity_problem: Some(format!(
                        "namespace {namespace} is gone, and the decoy with it"
                    )),
                    unfinished_plant: !record.complete,
                    observed_at: jiff::Timestamp::now(),
                }
            })
            .collect());
    };
    let role_bindings = cluster::role_bindings(client, namespace).await?;
    let accounts = cluster::accounts(client, namespace).await?;
    let token_secrets = cluster::token_secret_names(client, namespace).await?;
    let mut candidates: BTreeMap<String, Candidate> = BTreeMap::new();
    let keyed = |secret: &cluster::TokenSecretName| {
        secret.name == tracking::secret_name(key, &namespace_uid, namespace, &secret.account)
    };
    let other_token = |account: &str| {
        token_secrets
            .iter()
            .any(|secret| secret.account == account && !keyed(secret))
    };
    for account in &accounts {
        if let Some(profile) = profile_shaped(account) {
            let name = account.metadata.name.clone().unwrap_or_default();
            candidates.insert(
                name.clone(),
                Candidate {
                    profile,
                    account: Some(account.clone()),
                    keyed_secret: false,
                    other_token: other_token(&name),
                },
            );
        }
    }
    let account_named = |name: &str| {
        accounts
            .iter()
            .find(|a| a.metadata.name.as_deref() == Some(name))
            .cloned()
    };
    for secret in token_secrets.iter().filter(|s| keyed(s)) {
        let account_name = &secret.account;
        let account = account_named(account_name);
        let profile = account
            .as_ref()
            .and_then(profile_shaped)
            .unwrap_or(&profile::TILLER);
        candidates
            .entry(account_name.clone())
            .or_insert(Candidate {
                profile,
                account,
                keyed_secret: true,
                other_token: other_token(account_name),
            })
            .keyed_secret = true;
    }
    for record in &records {
        let profile = profile::find(&record.profile).unwrap_or(&profile::TILLER);
        candidates
            .entry(record.account.clone())
            .or_insert_with(|| Candidate {
                profile,
                account: account_named(&record.account),
                keyed_secret: false,
                other_token: other_token(&record.account),
            })
            .profile = profile;
    }
    let mut observed = Vec::new();
    for (account_name, candidate) in candidates {
        let spec = DecoySpec::new(
            candidate.profile,
            key,
            &namespace_uid,
            namespace,
            &account_name,
        );
        let secret: Option<Secret> = cluster::get_secret(client, namespace, &spec.secret).await?;
        let found = Found {
            account: candidate.account,
            secret,
        };
        let record = state.planted_record(server, namespace, &account_name);
        let Some(identity_problem) = judge_identity(
            &spec,
            &found,
            record,
            candidate.keyed_secret,
            candidate.other_token,
        ) else {
            continue;
        };
        let bindings = bindings_naming(
            namespace,
            &account_name,
            &role_bindings,
            cluster_role_bindings,
        );
        let drills = found
            .secret
            .as_ref()
            .and_then(|s| s.metadata.uid.as_deref())
            .map(|uid| drills_of(state, uid))
            .unwrap_or_default();
        observed.push(Observed {
            spec,
            found,
            bindings,
            drills,
            identity_problem,
            unfinished_plant: record.is_some_and(|r| !r.complete),
            observed_at: jiff::Timestamp::now(),
        });
    }
    Ok(observed)
}

/// Every decoy of this key in the namespaces `-n` names (or the profiles' own and the
/// recorded ones), with what the cluster holds of it.
pub async fn observe_all(
    target: &Target,
    namespace: Option<&str>,
    home: &Home,
) -> Result<(connect::Connection, Vec<String>, Vec<Observed>), ClusterError> {
    let connection = connect::connect(target).await?;
    let key = home.key()?;
    let state = home.load()?;
    let client = &connection.client;
    let cluster_role_bindings = cluster::cluster_role_bindings(client).await?;
    let namespaces = namespaces(namespace, &state, &connection.server);
    let mut observed = Vec::new();
    for namespace in &namespaces {
        observed.extend(
            observe_namespace(
                client,
                &connection.server,
                &key,
                &state,
                namespace,
                &cluster_role_bindings,
            )
            .await?,
        );
    }
    Ok((connection, namespaces, observed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_namespaces_are_looked_in_and_n_narrows() {
        let spec = DecoySpec::new(
            &profile::TILLER,
            &crate::home::Key::from_bytes([5; crate::home::KEY_LEN]),
            "nsuid",
            "kube-system",
            "tiller",
        );
        let mut elsewhere = crate::decoy::test_record(&spec, "a1", "s1");
        elsewhere.namespace = "apps".into();
        let mut other_server = elsewhere.clone();
        other_server.namespace = "other".into();
        other_server.server = "https://y".into();
        let state = State {
            planted: vec![elsewhere, other_server],
            drills: vec![],
        };
        assert_eq!(
            namespaces(None, &state, "https://x"),
            vec!["apps".to_string(), "kube-system".to_string()]
        );
        assert_eq!(
            namespaces(Some("ops"), &state, "https://x"),
            vec!["ops".to_string()]
        );
    }
}
