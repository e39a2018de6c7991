//! `status`: find the decoys with a fixed number of requests per namespace, then judge each
//! from its objects alone. The token is never used to check it: a TokenReview would stamp
//! the last-used label and could copy the token into audit request bodies.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding, Subject};
use serde::Serialize;

use crate::cli::GlobalArgs;
use crate::cluster;
use crate::connect;
use crate::decoy::{DecoySpec, Found, Ownership, ownership, token_filled, uid_of};
use crate::error::Error;
use crate::exit::Outcome;
use crate::home::{Home, PlantedRecord, State};
use crate::output;
use crate::profile::{self, Profile};
use crate::tracking::{self, ACCOUNT_UID_ANNOTATION};

pub const LAST_USED_LABEL: &str = "kubernetes.io/legacy-token-last-used";
pub const INVALID_SINCE_LABEL: &str = "kubernetes.io/legacy-token-invalid-since";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Verdict {
    #[serde(rename = "armed")]
    Armed,
    #[serde(rename = "drilled")]
    Drilled,
    #[serde(rename = "broken")]
    Broken,
    #[serde(rename = "TRIPPED")]
    Tripped,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Armed => "armed",
            Verdict::Drilled => "drilled",
            Verdict::Broken => "broken",
            Verdict::Tripped => "TRIPPED",
        }
    }
}

/// One decoy as `status` reports it. The JSON/YAML field names are a stable interface
/// (README, "status output"): add fields, never rename or remove them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecoyStatus {
    pub namespace: String,
    pub service_account: String,
    pub secret: String,
    pub profile: String,
    pub username: String,
    pub planted_at: Option<jiff::Timestamp>,
    pub account_present: bool,
    pub secret_present: bool,
    pub token_filled: bool,
    /// The `legacy-token-invalid-since` label's value; set means the token no longer works.
    pub invalid_since: Option<String>,
    /// Bindings that name the decoy's account: any is DANGER.
    pub rbac_bindings: Vec<String>,
    /// The `legacy-token-last-used` label's value (a UTC day).
    pub last_used: Option<String>,
    pub drill_days: Vec<String>,
    pub verdict: Verdict,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub schema_version: u32,
    pub server: String,
    pub namespaces: Vec<String>,
    pub decoys: Vec<DecoyStatus>,
}

/// Everything known about one decoy, gathered before judging it.
#[derive(Debug, Clone)]
pub struct Observed {
    pub spec: DecoySpec,
    pub found: Found,
    pub bindings: Vec<String>,
    pub drill_days: BTreeSet<String>,
    /// Why what was found is not (provably) the decoy that was planted: an object made
    /// again or swapped, the namespace gone, a decoy-shaped account without its Secret.
    pub identity_problem: Option<String>,
    /// `plant` recorded its intent here and did not finish.
    pub unfinished_plant: bool,
}

/// Additions to one of the decoy's objects that decide its fate: an owner whose deletion
/// deletes it, finalizers, a deletion under way.
fn fate_problems(kind: &str, name: &str, meta: &kube::api::ObjectMeta) -> Vec<String> {
    let mut problems = Vec::new();
    if meta.deletion_timestamp.is_some() {
        problems.push(format!("{kind} {name} is being deleted"));
    }
    for owner in meta.owner_references.iter().flatten() {
        problems.push(format!(
            "{kind} {name} has an ownerReference to {} {} (uid {}): the garbage collector \
             deletes it when that owner goes; remove the ownerReference",
            owner.kind, owner.name, owner.uid
        ));
    }
    if let Some(finalizers) = meta.finalizers.as_ref().filter(|f| !f.is_empty()) {
        problems.push(format!(
            "{kind} {name} has finalizers ({}): its deletion would wait on whoever added them",
            finalizers.join(", ")
        ));
    }
    problems
}

/// Judges one decoy. Pure: every input is in `observed`.
pub fn assess(observed: &Observed) -> DecoyStatus {
    let spec = &observed.spec;
    let account = observed.found.account.as_ref();
    let secret = observed.found.secret.as_ref();
    let labels = secret
        .and_then(|s| s.metadata.labels.clone())
        .unwrap_or_default();
    let invalid_since = labels.get(INVALID_SINCE_LABEL).cloned();
    let last_used = labels.get(LAST_USED_LABEL).cloned();
    let filled = secret.is_some_and(token_filled);

    let mut problems = Vec::new();
    if let Some(problem) = &observed.identity_problem {
        problems.push(problem.clone());
    }
    if observed.unfinished_plant {
        problems.push(
            "plant was interrupted before it finished; run plant again to finish it, or remove \
             to undo it"
                .to_string(),
        );
    }
    if let Some(account) = account {
        problems.extend(fate_problems(
            "service account",
            &spec.account,
            &account.metadata,
        ));
    }
    if let Some(secret) = secret {
        problems.extend(fate_problems("Secret", &spec.secret, &secret.metadata));
    }
    if account.is_none() {
        problems.push(format!("service account {} is gone", spec.account));
    }
    match secret {
        None => problems.push(format!("token Secret {} is gone", spec.secret)),
        Some(secret) => {
            if !filled {
                problems.push("the token controller has not filled the token".to_string());
            }
            if let Some(day) = &invalid_since {
                problems.push(format!(
                    "the token was invalidated on {day} (label {INVALID_SINCE_LABEL}); requests with it fail with 401 and name no user"
                ));
            }
            let bound = secret
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ACCOUNT_UID_ANNOTATION));
            if let (Some(bound), Some(uid)) = (bound, account.and_then(|a| uid_of(&a.metadata)))
                && bound != uid
            {
                problems
                    .push("the token belongs to an earlier account of the same name".to_string());
            }
        }
    }
    if let Some(account) = account
        && account.secrets.as_ref().is_some_and(|refs| {
            refs.iter()
                .any(|r| r.name.as_deref() == Some(spec.secret.as_str()))
        })
    {
        problems.push(format!(
            "the account lists its token Secret, so the legacy token cleaner will invalidate it after a year unused; remove {} from the account's secrets",
            spec.secret
        ));
    }
    for binding in &observed.bindings {
        problems.push(format!(
            "DANGER: {binding} grants the decoy account permissions; delete that binding"
        ));
    }

    let (verdict, mut reasons) = match &last_used {
        Some(day) if !observed.drill_days.contains(day) => (
            Verdict::Tripped,
            vec![format!(
                "the token was used on {day}, a day with no recorded drill"
            )],
        ),
        Some(day) => (
            if problems.is_empty() {
                Verdict::Drilled
            } else {
                Verdict::Broken
            },
            vec![format!("last used on {day}, by a drill")],
        ),
        None => (
            if problems.is_empty() {
                Verdict::Armed
            } else {
                Verdict::Broken
            },
            Vec::new(),
        ),
    };
    if verdict == Verdict::Broken || verdict == Verdict::Tripped {
        reasons.extend(problems);
    }

    DecoyStatus {
        namespace: spec.namespace.clone(),
        service_account: spec.account.clone(),
        secret: spec.secret.clone(),
        profile: spec.profile.to_string(),
        username: spec.username(),
        planted_at: account
            .and_then(|a| a.metadata.creation_timestamp.as_ref())
            .or_else(|| secret.and_then(|s| s.metadata.creation_timestamp.as_ref()))
            .map(|t| t.0),
        account_present: account.is_some(),
        secret_present: secret.is_some(),
        token_filled: filled,
        invalid_since,
        rbac_bindings: observed.bindings.clone(),
        last_used,
        drill_days: observed.drill_days.iter().cloned().collect(),
        verdict,
        reasons,
    }
}

/// The exit outcome for a set of decoys: any TRIPPED wins, then any broken; none at all
/// has its own outcome, never success.
pub fn outcome(decoys: &[DecoyStatus]) -> Outcome {
    if decoys.is_empty() {
        Outcome::NoDecoys
    } else if decoys.iter().any(|d| d.verdict == Verdict::Tripped) {
        Outcome::Tripped
    } else if decoys.iter().any(|d| d.verdict == Verdict::Broken) {
        Outcome::Broken
    } else {
        Outcome::Success
    }
}

fn names_account(
    subject: &Subject,
    binding_namespace: Option<&str>,
    namespace: &str,
    account: &str,
) -> bool {
    match subject.kind.as_str() {
        "ServiceAccount" => {
            let subject_namespace = subject.namespace.as_deref().or(binding_namespace);
            subject.name == account && subject_namespace == Some(namespace)
        }
        "User" => subject.name == format!("system:serviceaccount:{namespace}:{account}"),
        _ => false,
    }
}

/// The bindings that grant something to exactly this account (by name, as a service
/// account subject or as its user name). Group bindings such as `system:serviceaccounts`
/// are not counted: they grant every account the same, and Kubernetes ships some.
pub fn bindings_naming(
    namespace: &str,
    account: &str,
    role_bindings: &[RoleBinding],
    cluster_role_bindings: &[ClusterRoleBinding],
) -> Vec<String> {
    let mut found = Vec::new();
    for binding in role_bindings {
        let binding_namespace = binding.metadata.namespace.as_deref();
        if binding
            .subjects
            .iter()
            .flatten()
            .any(|s| names_account(s, binding_namespace, namespace, account))
        {
            found.push(format!(
                "RoleBinding {}/{} (role {} {})",
                binding_namespace.unwrap_or(""),
                binding.metadata.name.as_deref().unwrap_or(""),
                binding.role_ref.kind,
                binding.role_ref.name
            ));
        }
    }
    for binding in cluster_role_bindings {
        if binding
            .subjects
            .iter()
            .flatten()
            .any(|s| names_account(s, None, namespace, account))
        {
            found.push(format!(
                "ClusterRoleBinding {} (role {} {})",
                binding.metadata.name.as_deref().unwrap_or(""),
                binding.role_ref.kind,
                binding.role_ref.name
            ));
        }
    }
    found
}

/// Drill days recorded for a decoy's token Secret.
pub fn drill_days_for(
    home_state: &crate::home::State,
    namespace: &str,
    secret: &str,
) -> BTreeSet<String> {
    home_state
        .drills
        .iter()
        .filter(|d| d.namespace == namespace && d.secret == secret)
        .map(|d| d.day())
        .collect()
}

pub fn table(decoys: &[DecoyStatus]) -> String {
    let yes_no = |b: bool| if b { "yes" } else { "NO" };
    let mut table = output::table(&[
        "decoy",
        "profile",
        "planted",
        "account",
        "secret",
        "token",
        "valid",
        "rbac",
        "last used",
        "verdict",
        "reason",
    ]);
    for decoy in decoys {
        let verdict = match decoy.verdict {
            Verdict::Armed => console::style(decoy.verdict.as_str()).green(),
            Verdict::Drilled => console::style(decoy.verdict.as_str()).cyan(),
            Verdict::Broken => console::style(decoy.verdict.as_str()).yellow().bold(),
            Verdict::Tripped => console::style(decoy.verdict.as_str()).red().bold(),
        };
        table.add_row(vec![
            format!("{}/{}", decoy.namespace, decoy.service_account),
            decoy.profile.clone(),
            decoy
                .planted_at
                .map(|t| t.strftime("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|| "-".into()),
            yes_no(decoy.account_present).into(),
            yes_no(decoy.secret_present).into(),
            if decoy.token_filled {
                "filled"
            } else {
                "EMPTY"
            }
            .into(),
            if decoy.invalid_since.is_some() {
                "NO"
            } else {
                "yes"
            }
            .into(),
            if decoy.rbac_bindings.is_empty() {
                "none".into()
            } else {
                console::style("DANGER").red().bold().to_string()
            },
            decoy.last_used.clone().unwrap_or_else(|| "never".into()),
            verdict.to_string(),
            decoy.reasons.join("; "),
        ]);
    }
    format!("{table}\n")
}

/// The namespaces to look in: `-n`, else every profile's home namespace and every
/// namespace this workstation recorded planting in on this server.
fn namespaces(global: &GlobalArgs, state: &State, server: &str) -> Vec<String> {
    match &global.namespace {
        Some(ns) => vec![ns.clone()],
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

/// Which of the found objects are worth judging, and what is wrong with whose they are.
/// Pure: decides from what was found, the record and how the candidate was found.
pub fn judge_identity(
    spec: &DecoySpec,
    found: &Found,
    record: Option<&PlantedRecord>,
    keyed_secret: bool,
    other_token: bool,
) -> Option<Option<String>> {
    match ownership(spec, found, record) {
        Ownership::Ours => Some(None),
        // Planted from here and now entirely gone: report it, it is no longer armed.
        Ownership::Absent => record.map(|_| None),
        Ownership::Replaced(why) => Some(Some(why)),
        Ownership::Foreign(why) => {
            let shaped =
                !other_token && found.account.as_ref().is_some_and(|a| spec.shaped_like(a));
            (shaped || keyed_secret).then(|| {
                Some(format!(
                    "{why}. It looks like a decoy of this key, but that cannot be proven: either \
                     part of the decoy was deleted or replaced (then it no longer works), or it \
                     is not a decoy of this key"
                ))
            })
        }
    }
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
) -> Result<Vec<Observed>, Error> {
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
                    drill_days: drill_days_for(state, namespace, &spec.secret),
                    spec,
                    found: Found::default(),
                    bindings: Vec::new(),
                    identity_problem: Some(format!(
                        "namespace {namespace} is gone, and the decoy with it"
                    )),
                    unfinished_plant: !record.complete,
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
        let drill_days = drill_days_for(state, namespace, &spec.secret);
        observed.push(Observed {
            spec,
            found,
            bindings,
            drill_days,
            identity_problem,
            unfinished_plant: record.is_some_and(|r| !r.complete),
        });
    }
    Ok(observed)
}

/// Every decoy of this key in the namespaces `-n` names (or the profiles' own and the
/// recorded ones), with what the cluster holds of it.
pub async fn observe_all(
    global: &GlobalArgs,
    home: &Home,
) -> Result<(connect::Connection, Vec<String>, Vec<Observed>), Error> {
    let connection = connect::connect(global).await?;
    let key = home.key()?;
    let state = home.load()?;
    let client = &connection.client;
    let cluster_role_bindings = cluster::cluster_role_bindings(client).await?;
    let namespaces = namespaces(global, &state, &connection.server);
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

pub async fn run(global: &GlobalArgs, home: &Home) -> Result<Outcome, Error> {
    let (connection, namespaces, observed) = observe_all(global, home).await?;
    let decoys: Vec<DecoyStatus> = observed.iter().map(assess).collect();
    let report = StatusReport {
        schema_version: 1,
        server: connection.server.clone(),
        namespaces: namespaces.clone(),
        decoys,
    };
    match output::structured(global.output, &report)? {
        Some(text) => print!("{text}"),
        None if report.decoys.is_empty() => println!(
            "No decoys of this key in namespace(s) {} (key: {}).",
            namespaces.join(", "),
            home.dir().display()
        ),
        None => print!("{}", table(&report.decoys)),
    }
    Ok(outcome(&report.decoys))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::home::Key;
    use crate::profile::TILLER;
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::ObjectReference;
    use k8s_openapi::api::rbac::v1::RoleRef;
    use kube::api::ObjectMeta;

    fn spec() -> DecoySpec {
        DecoySpec::new(
            &TILLER,
            &Key::from_bytes([5; crate::home::KEY_LEN]),
            "nsuid",
            "kube-system",
            "tiller",
        )
    }

    fn healthy() -> Observed {
        let spec = spec();
        let mut account = spec.account_manifest();
        account.metadata.uid = Some("a1".into());
        let mut secret = spec.secret_manifest();
        secret
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(ACCOUNT_UID_ANNOTATION.into(), "a1".into());
        secret.data = Some(BTreeMap::from([(
            "token".into(),
            ByteString(b"t".to_vec()),
        )]));
        Observed {
            spec,
            found: Found {
                account: Some(account),
                secret: Some(secret),
            },
            bindings: vec![],
            drill_days: BTreeSet::new(),
            identity_problem: None,
            unfinished_plant: false,
        }
    }

    fn with_label(mut observed: Observed, key: &str, value: &str) -> Observed {
        observed
            .found
            .secret
            .as_mut()
            .unwrap()
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        observed
    }

    #[test]
    fn an_intact_unused_decoy_is_armed() {
        let status = assess(&healthy());
        assert_eq!(status.verdict, Verdict::Armed, "{:?}", status.reasons);
        assert!(status.reasons.is_empty());
        assert_eq!(status.last_used, None);
        assert!(status.account_present && status.secret_present && status.token_filled);
    }

    #[test]
    fn use_on_a_day_without_a_drill_is_tripped() {
        let status = assess(&with_label(healthy(), LAST_USED_LABEL, "2026-11-20"));
        assert_eq!(status.verdict, Verdict::Tripped);
        assert_eq!(status.last_used.as_deref(), Some("2026-11-20"));
        assert!(status.reasons[0].contains("no recorded drill"));
    }

    #[test]
    fn use_only_on_drill_days_is_drilled() {
        let mut observed = with_label(healthy(), LAST_USED_LABEL, "2026-11-20");
        observed.drill_days.insert("2026-11-20".into());
        assert_eq!(assess(&observed).verdict, Verdict::Drilled);
    }

    #[test]
    fn a_drill_on_another_day_does_not_excuse_use() {
        let mut observed = with_label(healthy(), LAST_USED_LABEL, "2026-11-21");
        observed.drill_days.insert("2026-11-20".into());
        assert_eq!(assess(&observed).verdict, Verdict::Tripped);
    }

    #[test]
    fn tripped_outranks_broken_and_keeps_the_problems() {
        let mut observed = with_label(healthy(), LAST_USED_LABEL, "2026-11-21");
        observed
            .bindings
            .push("ClusterRoleBinding x (role ClusterRole cluster-admin)".into());
        let status = assess(&observed);
        assert_eq!(status.verdict, Verdict::Tripped);
        assert!(status.reasons.iter().any(|r| r.contains("DANGER")));
    }

    #[test]
    fn a_missing_secret_is_broken() {
        let mut observed = healthy();
        observed.found.secret = None;
        let status = assess(&observed);
        assert_eq!(status.verdict, Verdict::Broken);
        assert!(!status.secret_present);
        assert!(
            status.reasons.iter().any(|r| r.contains("is gone")),
            "{:?}",
            status.reasons
        );
    }

    #[test]
    fn a_missing_account_is_broken() {
        let mut observed = healthy();
        observed.found.account = None;
        assert_eq!(assess(&observed).verdict, Verdict::Broken);
    }

    #[test]
    fn an_unfilled_token_is_broken() {
        let mut observed = healthy();
        observed.found.secret.as_mut().unwrap().data = None;
        let status = assess(&observed);
        assert_eq!(status.verdict, Verdict::Broken);
        assert!(!status.token_filled);
    }

    #[test]
    fn an_invalidated_token_is_broken() {
        let status = assess(&with_label(healthy(), INVALID_SINCE_LABEL, "2026-01-01"));
        assert_eq!(status.verdict, Verdict::Broken);
        assert_eq!(status.invalid_since.as_deref(), Some("2026-01-01"));
        assert!(status.reasons[0].contains("401"));
    }

    #[test]
    fn a_token_listed_in_the_accounts_secrets_is_broken() {
        let mut observed = healthy();
        let name = observed.spec.secret.clone();
        observed.found.account.as_mut().unwrap().secrets = Some(vec![ObjectReference {
            name: Some(name),
            ..Default::default()
        }]);
        let status = assess(&observed);
        assert_eq!(status.verdict, Verdict::Broken);
        assert!(status.reasons[0].contains("cleaner"));
    }

    #[test]
    fn a_binding_is_danger() {
        let mut observed = healthy();
        observed
            .bindings
            .push("RoleBinding kube-system/x (role Role y)".into());
        let status = assess(&observed);
        assert_eq!(status.verdict, Verdict::Broken);
        assert!(status.reasons[0].starts_with("DANGER"));
    }

    #[test]
    fn a_token_bound_to_an_earlier_account_is_broken() {
        let mut observed = healthy();
        observed.found.account.as_mut().unwrap().metadata.uid = Some("a2".into());
        assert_eq!(assess(&observed).verdict, Verdict::Broken);
    }

    fn subject(kind: &str, name: &str, namespace: Option<&str>) -> Subject {
        Subject {
            kind: kind.into(),
            name: name.into(),
            namespace: namespace.map(String::from),
            api_group: None,
        }
    }

    fn role_binding(namespace: &str, subjects: Vec<Subject>) -> RoleBinding {
        RoleBinding {
            metadata: ObjectMeta {
                name: Some("rb".into()),
                namespace: Some(namespace.into()),
                ..Default::default()
            },
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "Role".into(),
                name: "reader".into(),
            },
            subjects: Some(subjects),
        }
    }

    fn cluster_role_binding(subjects: Vec<Subject>) -> ClusterRoleBinding {
        ClusterRoleBinding {
            metadata: ObjectMeta {
                name: Some("crb".into()),
                ..Default::default()
            },
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "ClusterRole".into(),
                name: "cluster-admin".into(),
            },
            subjects: Some(subjects),
        }
    }

    #[test]
    fn bindings_naming_the_account_are_found_in_every_form() {
        let found = bindings_naming(
            "kube-system",
            "tiller",
            &[role_binding(
                "kube-system",
                vec![subject("ServiceAccount", "tiller", None)],
            )],
            &[cluster_role_binding(vec![subject(
                "User",
                "system:serviceaccount:kube-system:tiller",
                None,
            )])],
        );
        assert_eq!(
            found,
            vec![
                "RoleBinding kube-system/rb (role Role reader)".to_string(),
                "ClusterRoleBinding crb (role ClusterRole cluster-admin)".to_string()
            ]
        );
        let sa_subject = bindings_naming(
            "kube-system",
            "tiller",
            &[],
            &[cluster_role_binding(vec![subject(
                "ServiceAccount",
                "tiller",
                Some("kube-system"),
            )])],
        );
        assert_eq!(sa_subject.len(), 1);
    }

    #[test]
    fn bindings_of_others_and_of_groups_are_not_counted() {
        let found = bindings_naming(
            "kube-system",
            "tiller",
            &[
                role_binding(
                    "kube-system",
                    vec![subject("ServiceAccount", "default", None)],
                ),
                role_binding("other", vec![subject("ServiceAccount", "tiller", None)]),
            ],
            &[cluster_role_binding(vec![
                subject("Group", "system:serviceaccounts", None),
                subject("ServiceAccount", "tiller", Some("other")),
            ])],
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn the_outcome_puts_tripped_before_broken() {
        let armed = assess(&healthy());
        let mut broken = armed.clone();
        broken.verdict = Verdict::Broken;
        let mut tripped = armed.clone();
        tripped.verdict = Verdict::Tripped;
        assert_eq!(outcome(std::slice::from_ref(&armed)), Outcome::Success);
        assert_eq!(outcome(&[]), Outcome::NoDecoys);
        assert_eq!(outcome(&[armed.clone(), broken.clone()]), Outcome::Broken);
        assert_eq!(outcome(&[broken, tripped, armed]), Outcome::Tripped);
    }

    #[test]
    fn drill_days_come_from_this_decoys_drills_only() {
        let drill = |secret: &str, at: &str| crate::home::DrillRecord {
            id: "x".into(),
            namespace: "kube-system".into(),
            secret: secret.into(),
            secret_uid: "s".into(),
            started_at: at.parse().unwrap(),
        };
        let state = crate::home::State {
            planted: vec![],
            drills: vec![
                drill("tiller-token-aaaaa", "2026-11-20T10:00:00Z"),
                drill("other", "2026-11-21T10:00:00Z"),
            ],
        };
        assert_eq!(
            drill_days_for(&state, "kube-system", "tiller-token-aaaaa"),
            BTreeSet::from(["2026-11-20".to_string()])
        );
    }
    fn judged(
        observed: &Observed,
        record: Option<&PlantedRecord>,
        keyed: bool,
    ) -> Option<DecoyStatus> {
        let identity_problem =
            judge_identity(&observed.spec, &observed.found, record, keyed, false)?;
        Some(assess(&Observed {
            identity_problem,
            ..observed.clone()
        }))
    }

    #[test]
    fn an_account_made_again_is_broken_not_hidden() {
        let mut observed = healthy();
        observed.found.account.as_mut().unwrap().metadata.uid = Some("a2".into());
        observed.found.secret = None;
        let record = crate::decoy::test_record(&observed.spec, "a1", "s1");
        let status = judged(&observed, Some(&record), false).expect("reported");
        assert_eq!(status.verdict, Verdict::Broken);
        assert!(
            status.reasons[0].contains("made again"),
            "{:?}",
            status.reasons
        );
    }

    #[test]
    fn a_secret_swapped_for_an_opaque_one_is_broken() {
        let mut observed = healthy();
        observed.found.secret.as_mut().unwrap().type_ = Some("Opaque".into());
        // From the planting workstation ...
        let record = crate::decoy::test_record(&observed.spec, "a1", "");
        let status = judged(&observed, Some(&record), false).expect("reported");
        assert_eq!(status.verdict, Verdict::Broken);
        assert!(status.reasons[0].contains("Opaque"), "{:?}", status.reasons);
        // ... and from one with only the key: the account still looks like the decoy.
        let status = judged(&observed, None, false).expect("reported");
        assert_eq!(status.verdict, Verdict::Broken);
        assert!(
            status.reasons[0].contains("cannot be proven"),
            "{:?}",
            status.reasons
        );
    }

    #[test]
    fn a_decoy_shaped_account_without_its_secret_is_broken_even_without_a_record() {
        let mut observed = healthy();
        observed.found.secret = None;
        let status = judged(&observed, None, false).expect("reported");
        assert_eq!(status.verdict, Verdict::Broken);
        assert!(
            status
                .reasons
                .iter()
                .any(|r| r.contains("not made by plant"))
        );
    }

    #[test]
    fn an_account_that_only_shares_the_name_is_not_reported() {
        let mut observed = healthy();
        observed.found.secret = None;
        observed.found.account.as_mut().unwrap().metadata.labels =
            Some(BTreeMap::from([("app".into(), "helm".into())]));
        assert_eq!(judged(&observed, None, false), None);
        // Unless a token Secret with its keyed name points at it.
        assert!(judged(&observed, None, true).is_some());
    }

    #[test]
    fn a_decoy_shaped_account_with_a_token_of_its_own_is_another_keys() {
        let mut observed = healthy();
        observed.found.secret = None;
        let spec = observed.spec.clone();
        assert_eq!(
            judge_identity(&spec, &observed.found, None, false, true),
            None
        );
        assert!(judge_identity(&spec, &observed.found, None, false, false).is_some());
    }

    #[test]
    fn a_recorded_secret_made_again_is_broken() {
        let mut observed = healthy();
        observed.found.secret.as_mut().unwrap().metadata.uid = Some("s2".into());
        let record = crate::decoy::test_record(&observed.spec, "a1", "s1");
        let status = judged(&observed, Some(&record), false).expect("reported");
        assert_eq!(status.verdict, Verdict::Broken);
        assert!(status.reasons[0].contains("uid s2"), "{:?}", status.reasons);
    }

    #[test]
    fn owner_references_finalizers_and_deletion_are_reported() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
        let mut observed = healthy();
        let meta = &mut observed.found.secret.as_mut().unwrap().metadata;
        meta.owner_references = Some(vec![OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: "holder".into(),
            uid: "c1".into(),
            ..Default::default()
        }]);
        let status = assess(&observed);
        assert_eq!(status.verdict, Verdict::Broken);
        assert!(
            status.reasons[0].contains("ownerReference to ConfigMap holder"),
            "{:?}",
            status.reasons
        );
        let mut observed = healthy();
        let meta = &mut observed.found.account.as_mut().unwrap().metadata;
        meta.finalizers = Some(vec!["example.com/hold".into()]);
        meta.deletion_timestamp = Some(Time("2026-11-28T10:00:00Z".parse().unwrap()));
        let status = assess(&observed);
        assert_eq!(status.verdict, Verdict::Broken);
        let reasons = status.reasons.join("; ");
        assert!(reasons.contains("being deleted"), "{reasons}");
        assert!(
            reasons.contains("finalizers (example.com/hold)"),
            "{reasons}"
        );
    }

    #[test]
    fn an_unfinished_plant_is_broken() {
        let mut observed = healthy();
        observed.unfinished_plant = true;
        let status = assess(&observed);
        assert_eq!(status.verdict, Verdict::Broken);
        assert!(
            status.reasons[0].contains("interrupted"),
            "{:?}",
            status.reasons
        );
    }

    #[test]
    fn recorded_namespaces_are_looked_in_and_n_narrows() {
        let spec = spec();
        let mut elsewhere = crate::decoy::test_record(&spec, "a1", "s1");
        elsewhere.namespace = "apps".into();
        let mut other_server = elsewhere.clone();
        other_server.namespace = "other".into();
        other_server.server = "https://y".into();
        let state = State {
            planted: vec![elsewhere, other_server],
            drills: vec![],
        };
        let global = |namespace: Option<&str>| {
            use clap::Parser;
            let mut args = vec!["kubectl-honeytoken"];
            if let Some(ns) = namespace {
                args.extend(["-n", ns]);
            }
            args.push("status");
            crate::cli::Cli::parse_from(args).global
        };
        assert_eq!(
            namespaces(&global(None), &state, "https://x"),
            vec!["apps".to_string(), "kube-system".to_string()]
        );
        assert_eq!(
            namespaces(&global(Some("ops")), &state, "https://x"),
            vec!["ops".to_string()]
        );
    }
}
