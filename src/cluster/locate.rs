//! Finding decoys: the one a command line names (its profile, namespace and account,
//! and what the cluster holds under its names), and every decoy of this key, with a fixed
//! number of requests per namespace.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;

use crate::cluster::connect::{self, Connection, Target};
use crate::cluster::{self, ClusterError};
use crate::decoy::profile::{self, Profile};
use crate::decoy::{DecoySpec, Found};
use crate::decoy::{bindings_naming, judge_identity};
use crate::home::{DrillRecord, Home, PlantedRecord, State, drills_of};

/// `--profile`, or the default profile when none is named.
pub fn profile_named(name: Option<&str>) -> Result<&'static Profile, ClusterError> {
    match name {
        None => Ok(profile::default_profile()),
        Some(name) => profile::find(name).ok_or_else(|| ClusterError::UnknownProfile {
            name: name.to_string(),
            known: profile::names(),
        }),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub profile: &'static Profile,
    pub namespace: String,
    pub account: String,
}

impl Selection {
    /// A decoy of `profile`, in its namespace and under its account name unless given.
    pub fn of(
        profile: &'static Profile,
        namespace: Option<&str>,
        account: Option<&str>,
    ) -> Selection {
        Selection {
            profile,
            namespace: namespace.unwrap_or(&profile.namespace).to_string(),
            account: account.unwrap_or(&profile.service_account.name).to_string(),
        }
    }
}

/// The decoy named by `--profile`, `-n` and `--name`, with the profile's defaults.
pub fn select(
    profile: Option<&str>,
    namespace: Option<&str>,
    account: Option<&str>,
) -> Result<Selection, ClusterError> {
    let profile = profile_named(profile)?;
    Ok(Selection::of(profile, namespace, account))
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
    locate_on(connection, selection, home, key_use).await
}

/// Looks the selected decoy up on a cluster already connected to.
pub async fn locate_on(
    connection: Connection,
    selection: &Selection,
    home: &Home,
    key_use: KeyUse,
) -> Result<Located, ClusterError> {
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

/// The selected decoy in a namespace that does not exist yet (`plant --create-namespace`):
/// nothing of it can be there. A keyed Secret name waits for the namespace's UID, so it is
/// shown with `xxxxx` for its generated part until the namespace is made.
pub fn locate_unborn(
    connection: Connection,
    selection: &Selection,
    home: &Home,
    key_use: KeyUse,
) -> Result<Located, ClusterError> {
    let (key, ephemeral_key) = match key_use {
        KeyUse::Existing => (home.key()?, false),
        KeyUse::ExistingOrEphemeral => home.key_or_ephemeral()?,
        KeyUse::Create => (home.key_or_create()?, false),
    };
    let spec = DecoySpec::new(
        selection.profile,
        &key,
        "",
        &selection.namespace,
        &selection.account,
    )
    .with_secret(
        &selection
            .profile
            .fill(&selection.account, UNBORN_SUFFIX)
            .secret,
    );
    let record = home
        .load()?
        .planted_record(&connection.server, &spec.namespace, &spec.account)
        .cloned();
    Ok(Located {
        connection,
        spec,
        found: Found::default(),
        record,
        ephemeral_key,
    })
}

/// What stands for the keyed part of a Secret's name before its namespace exists.
pub const UNBORN_SUFFIX: &str = "xxxxx";

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
            .map(|p| p.namespace.clone())
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

/// The profile a record names (built-in, or the operator's own as recorded).
fn recorded_profile(record: &PlantedRecord) -> &'static Profile {
    profile::from_record(&record.profile, record.profile_definition.as_ref())
        .unwrap_or_else(profile::default_profile)
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
                let spec = DecoySpec::new(
                    recorded_profile(record),
                    key,
                    "",
                    namespace,
                    &record.account,
                )
                .with_secret(&record.secret);
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
    let account_named = |name: &str| {
        accounts
            .iter()
            .find(|a| a.metadata.name.as_deref() == Some(name))
            .cloned()
    };
    let spec_of = |profile: &'static Profile, account: &str| {
        DecoySpec::new(profile, key, &namespace_uid, namespace, account)
    };
    // The profiles whose keyed Secret name this Secret has, best first: the one whose
    // account shape the account has, then one whose account name it has.
    let keyed_profiles = |secret: &cluster::TokenSecretName| -> Vec<&'static Profile> {
        let account = account_named(&secret.account);
        let mut matching: Vec<&'static Profile> = profile::all()
            .into_iter()
            .filter(|p| p.keyed_secret_name() && spec_of(p, &secret.account).secret == secret.name)
            .collect();
        matching.sort_by_key(|p| {
            let shaped = account
                .as_ref()
                .is_some_and(|a| spec_of(p, &secret.account).shaped_like(a));
            (!shaped, p.service_account.name != secret.account)
        });
        matching
    };
    let other_token = |account: &str| {
        token_secrets
            .iter()
            .any(|secret| secret.account == account && keyed_profiles(secret).is_empty())
    };
    // Accounts of a profile's own name and exact shape, where that shape says something
    // (labels or annotations: a plain account is anyone's): a decoy of this key that lost
    // its Secret looks like this (the record, when there is one, says more below).
    for account in &accounts {
        let Some(name) = account.metadata.name.as_deref() else {
            continue;
        };
        if let Some(profile) = profile::all().into_iter().find(|p| {
            let distinctive = !p.service_account.labels.is_empty()
                || !p.service_account.annotations.is_empty()
                || p.service_account.last_applied;
            distinctive && p.service_account.name == name && spec_of(p, name).shaped_like(account)
        }) {
            candidates.insert(
                name.to_string(),
                Candidate {
                    profile,
                    account: Some(account.clone()),
                    keyed_secret: false,
                    other_token: other_token(name),
                },
            );
        }
    }
    for secret in &token_secrets {
        let Some(profile) = keyed_profiles(secret).first().copied() else {
            continue;
        };
        let account_name = &secret.account;
        let candidate = candidates.entry(account_name.clone()).or_insert(Candidate {
            profile,
            account: account_named(account_name),
            keyed_secret: true,
            other_token: other_token(account_name),
        });
        candidate.keyed_secret = true;
        candidate.profile = profile;
    }
    // An account of a keyed profile's own name, whose keyed Secret name is taken by a
    // Secret of another type (swapped for an Opaque one, say): one GET per keyed profile
    // whose account is here, so the cost stays constant.
    for profile in profile::all().into_iter().filter(|p| p.keyed_secret_name()) {
        let name = &profile.service_account.name;
        let Some(account) = account_named(name) else {
            continue;
        };
        if candidates.contains_key(name) {
            continue;
        }
        if cluster::secret_exists(client, namespace, &spec_of(profile, name).secret).await? {
            candidates.insert(
                name.clone(),
                Candidate {
                    profile,
                    account: Some(account),
                    keyed_secret: true,
                    other_token: other_token(name),
                },
            );
        }
    }
    for record in &records {
        let profile = recorded_profile(record);
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
        let record = state.planted_record(server, namespace, &account_name);
        let mut spec = spec_of(candidate.profile, &account_name);
        if let Some(record) = record {
            spec = spec.with_secret(&record.secret);
        }
        let secret: Option<Secret> = cluster::get_secret(client, namespace, &spec.secret).await?;
        let found = Found {
            account: candidate.account,
            secret,
        };
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

/// What `observe_all` found, and where it could not look.
pub struct Observation {
    pub connection: Connection,
    /// The namespaces looked in.
    pub namespaces: Vec<String>,
    /// Profiles' namespaces the operator may not read (and where nothing was planted from
    /// here), with the API server's words: decoys there are not shown.
    pub not_looked_in: Vec<String>,
    pub observed: Vec<Observed>,
}

/// Every decoy of this key in the namespaces `-n` names (or the profiles' own and the
/// recorded ones), with what the cluster holds of it.
pub async fn observe_all(
    target: &Target,
    namespace: Option<&str>,
    home: &Home,
) -> Result<Observation, ClusterError> {
    let connection = connect::connect(target).await?;
    let key = home.key()?;
    let state = home.load()?;
    let client = &connection.client;
    let cluster_role_bindings = cluster::cluster_role_bindings(client).await?;
    // The operator's own profiles of every record, before any Secret is judged by them.
    for record in &state.planted {
        recorded_profile(record);
    }
    let mut observation = Observation {
        namespaces: Vec::new(),
        not_looked_in: Vec::new(),
        observed: Vec::new(),
        connection: connection.clone(),
    };
    for name in namespaces(namespace, &state, &connection.server) {
        let result = observe_namespace(
            client,
            &connection.server,
            &key,
            &state,
            &name,
            &cluster_role_bindings,
        )
        .await;
        let recorded_here = state
            .planted
            .iter()
            .any(|r| r.namespace == name && r.server == connection.server);
        match result {
            Ok(observed) => {
                observation.observed.extend(observed);
                observation.namespaces.push(name);
            }
            Err(error) if namespace.is_none() && !recorded_here && error.is_forbidden() => {
                observation.not_looked_in.push(format!("{name} ({error})"));
            }
            Err(error) => return Err(error),
        }
    }
    Ok(observation)
}

/// Which decoys a command that acts on decoys (`remove`, `test-trigger`) acts on, from its
/// command line: `--profile` or `--name` name exactly one; else `-n` means every decoy of
/// this key in that namespace, and nothing means every decoy `status` finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    One(Selection),
    Namespace(String),
    All,
}

impl Scope {
    /// The namespace `observe_scope` is narrowed to, if any.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Scope::One(selection) => Some(&selection.namespace),
            Scope::Namespace(namespace) => Some(namespace),
            Scope::All => None,
        }
    }
}

/// The scope a command line names (see [`Scope`]).
pub fn scope(
    profile: Option<&str>,
    namespace: Option<&str>,
    account: Option<&str>,
) -> Result<Scope, ClusterError> {
    if profile.is_some() || account.is_some() {
        return select(profile, namespace, account).map(Scope::One);
    }
    Ok(match namespace {
        Some(namespace) => Scope::Namespace(namespace.to_string()),
        None => Scope::All,
    })
}

/// The decoys this workstation recorded planting that a look at `looked_in` on `server`
/// cannot have seen (another namespace, another server), as `namespace/account on server`,
/// so a command that found nothing can say where this key's decoys are.
pub fn recorded_elsewhere(state: &State, server: &str, looked_in: &[String]) -> Vec<String> {
    let mut elsewhere: Vec<String> = state
        .planted
        .iter()
        .filter(|r| r.server != server || !looked_in.contains(&r.namespace))
        .map(|r| {
            if r.server == server {
                format!("{}/{} on this server", r.namespace, r.account)
            } else {
                format!("{}/{} on {}", r.namespace, r.account, r.server)
            }
        })
        .collect();
    elsewhere.sort();
    elsewhere.dedup();
    elsewhere
}

/// What a command asked for beyond the namespace: `--name` and `--profile`, if given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Asked<'a> {
    pub account: Option<&'a str>,
    pub profile: Option<&'a str>,
}

impl Asked<'_> {
    /// Whether a decoy found is one of those asked for, wherever it is.
    pub fn matches(&self, observed: &Observed) -> bool {
        self.account.is_none_or(|a| a == observed.spec.account)
            && self.profile.is_none_or(|p| p == observed.spec.profile)
    }
}

/// The decoys found outside `looked_in` that match what was asked, as
/// `namespace/account`, sorted: what a command narrowed by `-n` that found nothing names,
/// so that a decoy is never lost by a namespace flag. Pure.
pub fn found_elsewhere(observed: &[Observed], looked_in: &[String], asked: Asked) -> Vec<String> {
    let mut found: Vec<String> = observed
        .iter()
        .filter(|o| !looked_in.contains(&o.spec.namespace) && asked.matches(o))
        .map(|o| format!("{}/{}", o.spec.namespace, o.spec.account))
        .collect();
    found.sort();
    found.dedup();
    found
}

/// One decoy of an [`Observation`] as the commands that act on one decoy take it.
pub fn located(connection: &Connection, observed: &Observed, state: &State) -> Located {
    Located {
        connection: connection.clone(),
        spec: observed.spec.clone(),
        found: observed.found.clone(),
        record: state
            .planted_record(
                &connection.server,
                &observed.spec.namespace,
                &observed.spec.account,
            )
            .cloned(),
        ephemeral_key: false,
    }
}

#[cfg(test)]
mod scope_tests {
    use super::*;

    fn observed(namespace: &str, account: &str, profile: &str) -> Observed {
        Observed {
            spec: DecoySpec::new(
                profile::find(profile).unwrap(),
                &crate::home::Key::from_bytes([7; crate::home::KEY_LEN]),
                "nsuid",
                namespace,
                account,
            ),
            found: Found::default(),
            bindings: Vec::new(),
            drills: Vec::new(),
            identity_problem: None,
            unfinished_plant: false,
            observed_at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn decoys_elsewhere_are_those_outside_the_look_that_match_what_was_asked() {
        let all = [
            observed("apps", "helm-server", "tiller"),
            observed("kube-system", "tiller", "tiller"),
            observed("kube-system", "argocd-manager", "argocd-manager"),
        ];
        let looked = ["kube-system".to_string()];
        assert_eq!(
            found_elsewhere(&all, &looked, Asked::default()),
            ["apps/helm-server"]
        );
        let by_name = Asked {
            account: Some("helm-server"),
            profile: None,
        };
        assert_eq!(
            found_elsewhere(&all, &["ops".to_string()], by_name),
            ["apps/helm-server"]
        );
        let by_profile = Asked {
            account: None,
            profile: Some("argocd-manager"),
        };
        assert_eq!(
            found_elsewhere(&all, &["apps".to_string()], by_profile),
            ["kube-system/argocd-manager"]
        );
        assert!(found_elsewhere(&all, &looked, by_profile).is_empty());
    }

    #[test]
    fn profile_or_name_names_one_decoy_n_alone_a_namespace_and_nothing_all() {
        let one = scope(Some("tiller"), None, None).unwrap();
        assert!(
            matches!(&one, Scope::One(s) if s.namespace == "kube-system" && s.account == "tiller"),
            "{one:?}"
        );
        let named = scope(None, Some("apps"), Some("helm-server")).unwrap();
        assert!(
            matches!(&named, Scope::One(s) if s.namespace == "apps" && s.account == "helm-server"),
            "{named:?}"
        );
        assert_eq!(
            scope(None, Some("apps"), None).unwrap(),
            Scope::Namespace("apps".into())
        );
        assert_eq!(scope(None, None, None).unwrap(), Scope::All);
        assert_eq!(scope(None, None, None).unwrap().namespace(), None);
        assert_eq!(
            scope(None, Some("apps"), None).unwrap().namespace(),
            Some("apps")
        );
        assert!(scope(Some("no-such-profile"), None, None).is_err());
    }

    fn record(server: &str, namespace: &str, account: &str) -> PlantedRecord {
        let spec = DecoySpec::new(
            profile::default_profile(),
            &crate::home::Key::from_bytes([6; crate::home::KEY_LEN]),
            "nsuid",
            namespace,
            account,
        );
        let mut record = crate::decoy::test_record(&spec, "a1", "s1");
        record.server = server.into();
        record
    }

    #[test]
    fn records_elsewhere_are_other_namespaces_and_other_servers() {
        let state = State {
            planted: vec![
                record("https://x", "kube-system", "tiller"),
                record("https://x", "apps", "helm-server"),
                record("https://y", "kube-system", "tiller"),
            ],
            drills: vec![],
        };
        assert_eq!(
            recorded_elsewhere(&state, "https://x", &["kube-system".to_string()]),
            vec![
                "apps/helm-server on this server".to_string(),
                "kube-system/tiller on https://y".to_string(),
            ]
        );
        assert_eq!(
            recorded_elsewhere(
                &state,
                "https://x",
                &["apps".to_string(), "kube-system".to_string()]
            ),
            vec!["kube-system/tiller on https://y".to_string()]
        );
        assert!(recorded_elsewhere(&State::default(), "https://x", &[]).is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_namespaces_are_looked_in_and_n_narrows() {
        let spec = DecoySpec::new(
            profile::default_profile(),
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
        let mut expected: Vec<String> = profile::PROFILES
            .iter()
            .map(|p| p.namespace.clone())
            .chain(["apps".to_string()])
            .collect();
        expected.sort();
        expected.dedup();
        assert_eq!(namespaces(None, &state, "https://x"), expected);
        assert!(expected.contains(&"cattle-system".to_string()));
        assert_eq!(
            namespaces(Some("ops"), &state, "https://x"),
            vec!["ops".to_string()]
        );
    }
}
