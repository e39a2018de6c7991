//! A decoy: which objects it is made of, what they look like, and what was found of them.

pub mod bait;
pub mod fit;
pub(crate) mod profile;
pub mod realism;
pub(crate) mod tracking;
pub mod tripwire;
pub mod wanted;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding, Subject};
use kube::api::ObjectMeta;
use serde::Serialize;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::decoy::profile::{
    Filled, LAST_APPLIED, ObjectsMetadata, Profile, is_dns_label, is_dns_subdomain,
};
use crate::home::{Key, PlantedRecord};
use tracking::{ACCOUNT_NAME_ANNOTATION, TOKEN_SECRET_TYPE};

/// Where a decoy lives and what its objects are called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecoySpec {
    pub profile: &'static str,
    pub namespace: String,
    pub account: String,
    pub secret: String,
    /// The profile the objects copy.
    #[serde(skip)]
    pub shape: &'static Profile,
    #[serde(skip)]
    pub meta: ObjectsMetadata,
}

impl DecoySpec {
    pub fn new(
        profile: &'static Profile,
        key: &Key,
        namespace_uid: &str,
        namespace: &str,
        account: &str,
    ) -> DecoySpec {
        let suffix = tracking::secret_suffix(key, namespace_uid, namespace, account);
        let mut names = profile.fill(account, &suffix);
        names.namespace = namespace.to_string();
        DecoySpec {
            profile: &profile.name,
            namespace: namespace.to_string(),
            account: account.to_string(),
            secret: names.secret.clone(),
            meta: profile.metadata_for(&names),
            shape: profile,
        }
    }

    /// The same decoy with its Secret under a recorded name.
    pub fn with_secret(mut self, secret: &str) -> DecoySpec {
        let names = Filled {
            namespace: self.namespace.clone(),
            account: self.account.clone(),
            secret: secret.to_string(),
        };
        self.secret = secret.to_string();
        self.meta = self.shape.metadata_for(&names);
        self
    }

    /// The user name the API server gives requests made with the decoy's token.
    pub fn username(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.account)
    }

    pub fn account_field_manager(&self) -> &str {
        &self.shape.service_account.field_manager
    }

    pub fn secret_field_manager(&self) -> &str {
        &self.shape.secret.field_manager
    }

    /// The account's annotations, kubectl's record of the applied object among them when
    /// the profile's installer used `kubectl apply`.
    fn account_annotations(&self) -> BTreeMap<String, String> {
        let mut annotations = self.meta.account_annotations.clone();
        if self.shape.service_account.last_applied {
            annotations.insert(
                LAST_APPLIED.to_string(),
                last_applied(
                    "ServiceAccount",
                    &self.namespace,
                    &self.account,
                    &self.meta.account_labels,
                    &self.meta.account_annotations,
                    None,
                ),
            );
        }
        annotations
    }

    fn secret_annotations(&self) -> BTreeMap<String, String> {
        let mut annotations = self.meta.secret_annotations.clone();
        annotations.insert(ACCOUNT_NAME_ANNOTATION.to_string(), self.account.clone());
        if self.shape.secret.last_applied {
            annotations.insert(
                LAST_APPLIED.to_string(),
                last_applied(
                    "Secret",
                    &self.namespace,
                    &self.secret,
                    &self.meta.secret_labels,
                    &annotations,
                    Some(TOKEN_SECRET_TYPE),
                ),
            );
        }
        annotations
    }

    /// The service account, with no `secrets` list: the legacy token cleaner only removes
    /// tokens listed there, so the decoy's token is never cleaned up for being unused.
    pub fn account_manifest(&self) -> ServiceAccount {
        ServiceAccount {
            metadata: ObjectMeta {
                name: Some(self.account.clone()),
                namespace: Some(self.namespace.clone()),
                labels: non_empty(self.meta.account_labels.clone()),
                annotations: non_empty(self.account_annotations()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// Whether an account is exactly what `plant` makes for this decoy: the profile's
    /// labels and annotations, no listed Secrets.
    pub fn shaped_like(&self, account: &ServiceAccount) -> bool {
        let empty = BTreeMap::new();
        account.metadata.labels.as_ref().unwrap_or(&empty) == &self.meta.account_labels
            && account.metadata.annotations.as_ref().unwrap_or(&empty)
                == &self.account_annotations()
            && account.secrets.as_ref().is_none_or(|s| s.is_empty())
    }

    /// The long-lived token Secret; the token controller fills in the token. `owner` is
    /// the account, for profiles whose installer makes the account own its Secret.
    pub fn secret_manifest(&self, owner: Option<&ServiceAccount>) -> Secret {
        let owner_references = owner
            .filter(|_| self.shape.secret.owner_reference)
            .and_then(|account| {
                Some(vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "ServiceAccount".into(),
                    name: account.metadata.name.clone()?,
                    uid: account.metadata.uid.clone()?,
                    ..Default::default()
                }])
            });
        Secret {
            metadata: ObjectMeta {
                name: Some(self.secret.clone()),
                namespace: Some(self.namespace.clone()),
                labels: non_empty(self.meta.secret_labels.clone()),
                annotations: Some(self.secret_annotations()),
                owner_references,
                ..Default::default()
            },
            type_: Some(TOKEN_SECRET_TYPE.to_string()),
            ..Default::default()
        }
    }
}

fn non_empty(map: BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    (!map.is_empty()).then_some(map)
}

/// What `kubectl apply` records of the object it applied: the manifest as JSON with
/// sorted keys, its annotations always present (emptied of this one), and a newline.
pub fn last_applied(
    kind: &str,
    namespace: &str,
    name: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    secret_type: Option<&str>,
) -> String {
    let mut annotations = annotations.clone();
    annotations.remove(LAST_APPLIED);
    let mut metadata = serde_json::Map::new();
    metadata.insert("annotations".into(), serde_json::json!(annotations));
    if !labels.is_empty() {
        metadata.insert("labels".into(), serde_json::json!(labels));
    }
    metadata.insert("name".into(), name.into());
    metadata.insert("namespace".into(), namespace.into());
    let mut object = serde_json::Map::new();
    object.insert("apiVersion".into(), "v1".into());
    object.insert("kind".into(), kind.into());
    object.insert("metadata".into(), metadata.into());
    if let Some(secret_type) = secret_type {
        object.insert("type".into(), secret_type.into());
    }
    let mut text = sorted_json(&serde_json::Value::Object(object))
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    text.push('\n');
    text
}

/// JSON with every object's keys in order, as Go's encoder writes maps.
fn sorted_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<&String, String> =
                map.iter().map(|(k, v)| (k, sorted_json(v))).collect();
            let fields: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{}:{v}", serde_json::Value::String(k.clone())))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        other => other.to_string(),
    }
}

/// A record of planting `spec` on a test server, with the given UIDs ("" for unknown);
/// complete when both are known.
#[cfg(test)]
pub fn test_record(spec: &DecoySpec, account_uid: &str, secret_uid: &str) -> PlantedRecord {
    PlantedRecord {
        profile: spec.profile.into(),
        namespace: spec.namespace.clone(),
        account: spec.account.clone(),
        account_uid: account_uid.into(),
        secret: spec.secret.clone(),
        secret_uid: secret_uid.into(),
        server: "https://x".into(),
        planted_at: "2026-11-28T10:00:00Z".parse().unwrap(),
        complete: !account_uid.is_empty() && !secret_uid.is_empty(),
        profile_definition: None,
    }
}

/// The decoy's objects as the cluster holds them now.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub account: Option<ServiceAccount>,
    pub secret: Option<Secret>,
}

pub fn uid_of(meta: &ObjectMeta) -> Option<&str> {
    meta.uid.as_deref()
}

/// Whether the Secret holds a token yet.
pub fn token_filled(secret: &Secret) -> bool {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get("token"))
        .is_some_and(|t| !t.0.is_empty())
}

/// Whose the objects under a decoy's names are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// Neither object exists.
    Absent,
    /// Made by `plant` (proven by the keyed Secret name, the account UID the token
    /// controller bound it to, or this workstation's record of the plant).
    Ours,
    /// This workstation planted a decoy here, and what is there now is not what it made
    /// (an object deleted and made again, or swapped for another kind): the decoy is
    /// broken, and the objects that differ are never changed or deleted.
    Replaced(String),
    /// Something else has the name: never change or delete it.
    Foreign(String),
}

/// Decides whether what was found is a decoy of ours. `record` is what this workstation
/// recorded when it planted the decoy, if it did.
pub fn ownership(spec: &DecoySpec, found: &Found, record: Option<&PlantedRecord>) -> Ownership {
    let account_uid = found.account.as_ref().and_then(|a| uid_of(&a.metadata));
    let secret_uid = found.secret.as_ref().and_then(|s| uid_of(&s.metadata));
    let secret_identity = found.secret.as_ref().map(|secret| {
        tracking::identify_secret(
            &spec.account,
            secret.type_.as_deref(),
            secret
                .metadata
                .annotations
                .as_ref()
                .unwrap_or(&BTreeMap::new()),
        )
    });
    let recorded_account = record.and_then(PlantedRecord::account_uid);
    let recorded_secret = record.and_then(PlantedRecord::secret_uid);
    let account_text = format!("service account {}/{}", spec.namespace, spec.account);
    let secret_text = format!("Secret {}/{}", spec.namespace, spec.secret);
    let replaced_account = |uid: &str, planted: &str| {
        Ownership::Replaced(format!(
            "{account_text} (uid {uid}) is not the account planted (uid {planted}): it was \
             deleted and made again, and the decoy's token no longer authenticates"
        ))
    };
    // A keyed name proves the Secret is this key's; a fixed name (argocd-manager-long-lived-
    // token) is what the real installer makes too, so only the plant record proves it.
    if record.is_none()
        && !spec.shape.keyed_secret_name()
        && matches!(
            secret_identity,
            Some(tracking::SecretIdentity::Decoy { .. })
        )
    {
        return Ownership::Foreign(format!(
            "{secret_text} exists for {account_text}, and this workstation did not record \
             planting it: a Secret of a fixed name does not show whose it is, and a real \
             install makes the same one"
        ));
    }
    match (account_uid, secret_identity) {
        (None, None) => Ownership::Absent,
        (_, Some(tracking::SecretIdentity::Foreign(why))) => {
            if record.is_some() {
                Ownership::Replaced(format!(
                    "{secret_text} is not the decoy's token Secret any more: {why}"
                ))
            } else {
                Ownership::Foreign(format!("{secret_text} exists and {why}"))
            }
        }
        (_, Some(tracking::SecretIdentity::Decoy { .. }))
            if recorded_secret.is_some() && recorded_secret != secret_uid =>
        {
            Ownership::Replaced(format!(
                "{secret_text} (uid {}) is not the Secret planted (uid {}): it was deleted and \
                 made again",
                secret_uid.unwrap_or("?"),
                recorded_secret.unwrap_or("?")
            ))
        }
        (Some(uid), Some(tracking::SecretIdentity::Decoy { bound_account_uid })) => {
            match (bound_account_uid, recorded_account) {
                (_, Some(planted)) if planted != uid => replaced_account(uid, planted),
                (Some(bound), _) if bound != uid => Ownership::Foreign(format!(
                    "{account_text} (uid {uid}) is not the account {secret_text} was made for \
                     (uid {bound}): the account was replaced by someone else"
                )),
                _ => Ownership::Ours,
            }
        }
        (None, Some(tracking::SecretIdentity::Decoy { .. })) => Ownership::Ours,
        (Some(uid), None) => match (recorded_account, record) {
            (Some(planted), _) if planted == uid => Ownership::Ours,
            (Some(planted), _) => replaced_account(uid, planted),
            // Planting was under way and the account's creation was never answered: the
            // account is ours if it is exactly what plant would have made.
            (None, Some(_)) if found.account.as_ref().is_some_and(|a| spec.shaped_like(a)) => {
                Ownership::Ours
            }
            _ => Ownership::Foreign(format!(
                "{account_text} exists and was not made by plant (it has no token Secret under \
                 this key's name, and this workstation did not record planting it)"
            )),
        },
    }
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

/// A `--user` that is not a decoy's user name, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--user {username:?} is not a decoy's user name ({why}): expected \
     system:serviceaccount:NAMESPACE:NAME, where NAMESPACE is a DNS label and NAME \
     a DNS subdomain (lowercase letters, digits, '-', and '.' between labels), e.g. \
     system:serviceaccount:kube-system:tiller (scan, watch and rules take --user as \
     a decoy's name; choose the kubeconfig user with --context)"
)]
pub struct UserNameError {
    username: String,
    why: String,
}

/// One decoy, from its user name `system:serviceaccount:NAMESPACE:NAME`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Decoy {
    pub username: String,
    pub namespace: String,
    pub account: String,
}

impl Decoy {
    /// Accepts only a service account's user name whose namespace is a DNS label and whose
    /// account name a DNS subdomain, as Kubernetes requires; nothing else reaches a query.
    pub fn parse(username: &str) -> Result<Decoy, UserNameError> {
        let invalid = |why: &str| UserNameError {
            username: username.to_string(),
            why: why.to_string(),
        };
        let rest = username
            .strip_prefix("system:serviceaccount:")
            .ok_or_else(|| invalid("it does not start with system:serviceaccount:"))?;
        let (namespace, account) = rest
            .split_once(':')
            .ok_or_else(|| invalid("no ':' between namespace and name"))?;
        if !is_dns_label(namespace) {
            return Err(invalid(&format!(
                "namespace {namespace:?} is not a DNS label"
            )));
        }
        if !is_dns_subdomain(account) {
            return Err(invalid(&format!("name {account:?} is not a DNS subdomain")));
        }
        Ok(Decoy {
            username: username.to_string(),
            namespace: namespace.to_string(),
            account: account.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoy::profile::find;
    use k8s_openapi::api::rbac::v1::RoleRef;

    fn spec() -> DecoySpec {
        DecoySpec::new(
            find("tiller").unwrap(),
            &Key::from_bytes([3; crate::home::KEY_LEN]),
            "ns-uid",
            "kube-system",
            "tiller",
        )
    }

    #[test]
    fn the_account_carries_the_profile_metadata_and_lists_no_secrets() {
        let account = spec().account_manifest();
        assert_eq!(account.metadata.name.as_deref(), Some("tiller"));
        assert_eq!(account.metadata.namespace.as_deref(), Some("kube-system"));
        assert!(account.metadata.labels.is_none());
        assert!(account.secrets.is_none());
        assert!(account.metadata.annotations.is_none());
    }

    #[test]
    fn the_secret_is_a_token_secret_for_the_account_and_holds_no_data() {
        let spec = spec();
        let secret = spec.secret_manifest(None);
        assert!(
            secret
                .metadata
                .name
                .as_deref()
                .unwrap()
                .starts_with("tiller-token-")
        );
        assert_eq!(secret.type_.as_deref(), Some(TOKEN_SECRET_TYPE));
        assert_eq!(
            secret
                .metadata
                .annotations
                .unwrap()
                .get(ACCOUNT_NAME_ANNOTATION),
            Some(&"tiller".to_string())
        );
        assert!(secret.data.is_none() && secret.string_data.is_none());
        assert!(secret.metadata.labels.is_none());
    }

    fn spec_of(profile: &str, account: &str) -> DecoySpec {
        DecoySpec::new(
            find(profile).unwrap(),
            &Key::from_bytes([3; crate::home::KEY_LEN]),
            "ns-uid",
            &find(profile).unwrap().namespace,
            account,
        )
    }

    #[test]
    fn kubectl_apply_profiles_carry_what_kubectl_records() {
        let spec = spec_of("dashboard-admin-user", "admin-user");
        let account = spec.account_manifest();
        let annotations = account.metadata.annotations.clone().unwrap();
        // What `kubectl apply -f` of the Dashboard guide's manifest records, byte for byte.
        assert_eq!(
            annotations[LAST_APPLIED],
            "{\"apiVersion\":\"v1\",\"kind\":\"ServiceAccount\",\"metadata\":{\"annotations\":{},\"name\":\"admin-user\",\"namespace\":\"kubernetes-dashboard\"}}\n"
        );
        assert!(spec.shaped_like(&account));
        let secret = spec.secret_manifest(None);
        assert_eq!(secret.metadata.name.as_deref(), Some("admin-user"));
        assert_eq!(
            secret.metadata.annotations.unwrap()[LAST_APPLIED],
            "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"annotations\":{\"kubernetes.io/service-account.name\":\"admin-user\"},\"name\":\"admin-user\",\"namespace\":\"kubernetes-dashboard\"},\"type\":\"kubernetes.io/service-account-token\"}\n"
        );
        let mut other = account.clone();
        other.metadata.annotations = None;
        assert!(!spec.shaped_like(&other));
    }

    #[test]
    fn a_fixed_name_secret_is_ours_only_by_the_record() {
        let spec = spec_of("argocd-manager", "argocd-manager");
        let mut account = spec.account_manifest();
        account.metadata.uid = Some("a1".into());
        let mut secret = spec.secret_manifest(None);
        secret.metadata.uid = Some("s1".into());
        secret
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(tracking::ACCOUNT_UID_ANNOTATION.into(), "a1".into());
        let found = Found {
            account: Some(account),
            secret: Some(secret),
        };
        // What a real `argocd cluster add` leaves looks the same: not ours.
        assert!(matches!(
            ownership(&spec, &found, None),
            Ownership::Foreign(why) if why.contains("fixed name")
        ));
        assert_eq!(
            ownership(&spec, &found, Some(&test_record(&spec, "a1", "s1"))),
            Ownership::Ours
        );
        // A keyed name is proof enough without a record.
        let keyed = spec_of("tiller", "tiller");
        let mut found = found;
        let secret = found.secret.as_mut().unwrap();
        secret.metadata.name = Some(keyed.secret.clone());
        secret
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(ACCOUNT_NAME_ANNOTATION.into(), "tiller".into());
        found.account.as_mut().unwrap().metadata.name = Some("tiller".into());
        assert_eq!(ownership(&keyed, &found, None), Ownership::Ours);
    }

    #[test]
    fn last_applied_escapes_as_go_does() {
        let labels = BTreeMap::from([("a".to_string(), "<&>".to_string())]);
        let text = last_applied("ConfigMap", "ns", "n", &labels, &BTreeMap::new(), None);
        assert!(text.contains("\\u003c\\u0026\\u003e"), "{text}");
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn rancher_secrets_are_owned_by_their_account_and_named_in_its_annotation() {
        let spec = spec_of("rancher-kontainer-engine", "kontainer-engine");
        let mut account = spec.account_manifest();
        assert_eq!(
            account.metadata.annotations.as_ref().unwrap()["rancher.io/service-account.secret-ref"],
            format!("cattle-system/{}", spec.secret)
        );
        account.metadata.uid = Some("sa-uid".into());
        let secret = spec.secret_manifest(Some(&account));
        let owner = &secret.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
            ("ServiceAccount", "kontainer-engine", "sa-uid")
        );
        assert_eq!(
            secret.metadata.labels.unwrap()["cattle.io/service-account.name"],
            "kontainer-engine"
        );
        // A profile without the owner reference never gets one.
        assert!(
            spec_of("tiller", "tiller")
                .secret_manifest(Some(&account))
                .metadata
                .owner_references
                .is_none()
        );
    }

    #[test]
    fn the_username_is_the_service_account_user() {
        assert_eq!(
            spec().username(),
            "system:serviceaccount:kube-system:tiller"
        );
    }

    #[test]
    fn a_token_is_filled_only_when_present_and_non_empty() {
        use k8s_openapi::ByteString;
        let mut secret = spec().secret_manifest(None);
        assert!(!token_filled(&secret));
        secret.data = Some(BTreeMap::from([("token".into(), ByteString(vec![]))]));
        assert!(!token_filled(&secret));
        secret.data = Some(BTreeMap::from([(
            "token".into(),
            ByteString(b"x".to_vec()),
        )]));
        assert!(token_filled(&secret));
    }

    fn account(uid: &str) -> ServiceAccount {
        let mut account = spec().account_manifest();
        account.metadata.uid = Some(uid.into());
        account
    }

    fn secret(bound_to: Option<&str>) -> Secret {
        let mut secret = spec().secret_manifest(None);
        if let Some(uid) = bound_to {
            secret
                .metadata
                .annotations
                .as_mut()
                .unwrap()
                .insert(tracking::ACCOUNT_UID_ANNOTATION.into(), uid.into());
        }
        secret
    }

    fn found(account: Option<ServiceAccount>, secret: Option<Secret>) -> Found {
        Found { account, secret }
    }

    fn recorded(account_uid: &str, secret_uid: &str) -> PlantedRecord {
        test_record(&spec(), account_uid, secret_uid)
    }

    fn with_uid(mut secret: Secret, uid: &str) -> Secret {
        secret.metadata.uid = Some(uid.into());
        secret
    }

    #[test]
    fn nothing_found_is_absent() {
        assert_eq!(
            ownership(&spec(), &found(None, None), None),
            Ownership::Absent
        );
        assert_eq!(
            ownership(&spec(), &found(None, None), Some(&recorded("a1", "s1"))),
            Ownership::Absent
        );
    }

    #[test]
    fn the_keyed_secret_bound_to_the_account_is_ours() {
        let f = found(Some(account("a1")), Some(secret(Some("a1"))));
        assert_eq!(ownership(&spec(), &f, None), Ownership::Ours);
        let unfilled = found(Some(account("a1")), Some(secret(None)));
        assert_eq!(ownership(&spec(), &unfilled, None), Ownership::Ours);
        let f = found(
            Some(account("a1")),
            Some(with_uid(secret(Some("a1")), "s1")),
        );
        assert_eq!(
            ownership(&spec(), &f, Some(&recorded("a1", "s1"))),
            Ownership::Ours
        );
    }

    #[test]
    fn an_account_replaced_by_someone_else_is_foreign() {
        let f = found(Some(account("a2")), Some(secret(Some("a1"))));
        assert!(
            matches!(ownership(&spec(), &f, None), Ownership::Foreign(why) if why.contains("replaced"))
        );
    }

    #[test]
    fn an_account_made_again_after_planting_is_replaced_not_foreign() {
        // With its old token Secret still there (bound to the planted account) ...
        let f = found(Some(account("a2")), Some(secret(Some("a1"))));
        let rec = recorded("a1", "");
        assert!(
            matches!(ownership(&spec(), &f, Some(&rec)), Ownership::Replaced(why) if why.contains("uid a2") && why.contains("uid a1")),
            "{:?}",
            ownership(&spec(), &f, Some(&rec))
        );
        // ... and after the token controller deleted it.
        let f = found(Some(account("a2")), None);
        assert!(matches!(
            ownership(&spec(), &f, Some(&rec)),
            Ownership::Replaced(_)
        ));
    }

    #[test]
    fn a_secret_made_again_after_planting_is_replaced() {
        let f = found(
            Some(account("a1")),
            Some(with_uid(secret(Some("a1")), "s2")),
        );
        let verdict = ownership(&spec(), &f, Some(&recorded("a1", "s1")));
        assert!(
            matches!(&verdict, Ownership::Replaced(why) if why.contains("uid s2") && why.contains("uid s1")),
            "{verdict:?}"
        );
        // Without a record nothing says it was replaced: it is the decoy.
        assert_eq!(ownership(&spec(), &f, None), Ownership::Ours);
    }

    #[test]
    fn an_account_without_our_secret_is_ours_only_if_recorded() {
        let f = found(Some(account("a1")), None);
        assert!(
            matches!(ownership(&spec(), &f, None), Ownership::Foreign(why) if why.contains("not made by plant"))
        );
        assert!(matches!(
            ownership(&spec(), &f, Some(&recorded("other", ""))),
            Ownership::Replaced(_)
        ));
        assert_eq!(
            ownership(&spec(), &f, Some(&recorded("a1", ""))),
            Ownership::Ours
        );
    }

    #[test]
    fn an_account_whose_creation_was_never_answered_is_ours_only_if_shaped_like_the_decoy() {
        let intent = recorded("", "");
        let f = found(Some(account("a1")), None);
        assert_eq!(ownership(&spec(), &f, Some(&intent)), Ownership::Ours);
        let mut other = account("a1");
        other.metadata.labels = Some(BTreeMap::from([("team".into(), "payments".into())]));
        assert!(matches!(
            ownership(&spec(), &found(Some(other), None), Some(&intent)),
            Ownership::Foreign(_)
        ));
        let mut listing = account("a1");
        listing.secrets = Some(vec![Default::default()]);
        assert!(matches!(
            ownership(&spec(), &found(Some(listing), None), Some(&intent)),
            Ownership::Foreign(_)
        ));
        assert!(matches!(
            ownership(&spec(), &found(Some(account("a1")), None), None),
            Ownership::Foreign(_)
        ));
    }

    #[test]
    fn a_secret_of_another_kind_under_the_name_is_foreign_or_replaced() {
        let mut opaque = secret(None);
        opaque.type_ = Some("Opaque".into());
        let f = found(Some(account("a1")), Some(opaque));
        assert!(
            matches!(ownership(&spec(), &f, None), Ownership::Foreign(why) if why.contains("Opaque"))
        );
        assert!(
            matches!(ownership(&spec(), &f, Some(&recorded("a1", "s1"))), Ownership::Replaced(why) if why.contains("Opaque"))
        );
    }

    #[test]
    fn our_secret_left_without_its_account_is_ours() {
        let f = found(None, Some(secret(Some("a1"))));
        assert_eq!(ownership(&spec(), &f, None), Ownership::Ours);
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
}
