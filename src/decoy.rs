//! A decoy: which objects it is made of, what they look like, and what was found of them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::ObjectMeta;
use serde::Serialize;

use crate::error::Error;
use crate::home::Key;
use crate::profile::Profile;
use crate::tracking::{self, ACCOUNT_NAME_ANNOTATION, TOKEN_SECRET_TYPE};

/// Where a decoy lives and what its objects are called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecoySpec {
    pub profile: &'static str,
    pub namespace: String,
    pub account: String,
    pub secret: String,
    #[serde(skip)]
    pub account_labels: BTreeMap<String, String>,
    #[serde(skip)]
    pub field_manager: &'static str,
}

impl DecoySpec {
    pub fn new(
        profile: &'static Profile,
        key: &Key,
        namespace_uid: &str,
        namespace: &str,
        account: &str,
    ) -> DecoySpec {
        DecoySpec {
            profile: profile.name,
            namespace: namespace.to_string(),
            account: account.to_string(),
            secret: tracking::secret_name(key, namespace_uid, namespace, account),
            account_labels: profile.labels_for(account),
            field_manager: profile.field_manager,
        }
    }

    /// The user name the API server gives requests made with the decoy's token.
    pub fn username(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.account)
    }

    /// The service account, with no `secrets` list: the legacy token cleaner only removes
    /// tokens listed there, so the decoy's token is never cleaned up for being unused.
    pub fn account_manifest(&self) -> ServiceAccount {
        ServiceAccount {
            metadata: ObjectMeta {
                name: Some(self.account.clone()),
                namespace: Some(self.namespace.clone()),
                labels: Some(self.account_labels.clone()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// The long-lived token Secret; the token controller fills in the token.
    pub fn secret_manifest(&self) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(self.secret.clone()),
                namespace: Some(self.namespace.clone()),
                annotations: Some(BTreeMap::from([(
                    ACCOUNT_NAME_ANNOTATION.to_string(),
                    self.account.clone(),
                )])),
                ..Default::default()
            },
            type_: Some(TOKEN_SECRET_TYPE.to_string()),
            ..Default::default()
        }
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
    /// Something else has the name: never change or delete it.
    Foreign(String),
}

/// Decides whether what was found is a decoy of ours. `recorded_account_uid` is the UID
/// this workstation recorded when it planted the decoy, if it did.
pub fn ownership(spec: &DecoySpec, found: &Found, recorded_account_uid: Option<&str>) -> Ownership {
    let account_uid = found.account.as_ref().and_then(|a| uid_of(&a.metadata));
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
    let account_text = format!("service account {}/{}", spec.namespace, spec.account);
    let secret_text = format!("Secret {}/{}", spec.namespace, spec.secret);
    match (account_uid, secret_identity) {
        (None, None) => Ownership::Absent,
        (_, Some(tracking::SecretIdentity::Foreign(why))) => {
            Ownership::Foreign(format!("{secret_text} exists and {why}"))
        }
        (Some(uid), Some(tracking::SecretIdentity::Decoy { bound_account_uid })) => {
            match bound_account_uid {
                Some(bound) if bound != uid => Ownership::Foreign(format!(
                    "{account_text} (uid {uid}) is not the account {secret_text} was made for \
                     (uid {bound}): the account was replaced by someone else"
                )),
                _ => Ownership::Ours,
            }
        }
        (None, Some(tracking::SecretIdentity::Decoy { .. })) => Ownership::Ours,
        (Some(uid), None) if recorded_account_uid == Some(uid) => Ownership::Ours,
        (Some(_), None) => Ownership::Foreign(format!(
            "{account_text} exists and was not made by plant (it has no token Secret under \
             this key's name, and this workstation did not record planting it)"
        )),
    }
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
    pub fn parse(username: &str) -> Result<Decoy, Error> {
        let invalid = |why: &str| {
            Error::Invalid(format!(
                "--user {username:?} is not a decoy's user name ({why}): expected \
                 system:serviceaccount:NAMESPACE:NAME, where NAMESPACE is a DNS label and NAME \
                 a DNS subdomain (lowercase letters, digits, '-', and '.' between labels), e.g. \
                 system:serviceaccount:kube-system:tiller (scan, watch and rules take --user as \
                 a decoy's name; choose the kubeconfig user with --context)"
            ))
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

/// RFC 1123 label: 1 to 63 lowercase letters, digits and '-', starting and ending with a
/// letter or digit.
fn is_dns_label(text: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !text.is_empty()
        && text.len() <= 63
        && text.chars().all(|c| alnum(c) || c == '-')
        && text.starts_with(alnum)
        && text.ends_with(alnum)
}

/// RFC 1123 subdomain: labels joined by '.', 253 characters at most.
fn is_dns_subdomain(text: &str) -> bool {
    text.len() <= 253 && text.split('.').all(is_dns_label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::TILLER;

    fn spec() -> DecoySpec {
        DecoySpec::new(
            &TILLER,
            &Key::from_bytes([3; crate::home::KEY_LEN]),
            "ns-uid",
            "kube-system",
            "tiller",
        )
    }

    #[test]
    fn the_account_carries_the_profile_labels_and_lists_no_secrets() {
        let account = spec().account_manifest();
        assert_eq!(account.metadata.name.as_deref(), Some("tiller"));
        assert_eq!(account.metadata.namespace.as_deref(), Some("kube-system"));
        let labels = account.metadata.labels.unwrap();
        assert_eq!(labels.get("app").map(String::as_str), Some("helm"));
        assert_eq!(labels.get("name").map(String::as_str), Some("tiller"));
        assert!(account.secrets.is_none());
        assert!(account.metadata.annotations.is_none());
    }

    #[test]
    fn the_secret_is_a_token_secret_for_the_account_and_holds_no_data() {
        let spec = spec();
        let secret = spec.secret_manifest();
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
        let mut secret = spec().secret_manifest();
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
        let mut secret = spec().secret_manifest();
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

    #[test]
    fn nothing_found_is_absent() {
        assert_eq!(
            ownership(&spec(), &found(None, None), None),
            Ownership::Absent
        );
    }

    #[test]
    fn the_keyed_secret_bound_to_the_account_is_ours() {
        let f = found(Some(account("a1")), Some(secret(Some("a1"))));
        assert_eq!(ownership(&spec(), &f, None), Ownership::Ours);
        let unfilled = found(Some(account("a1")), Some(secret(None)));
        assert_eq!(ownership(&spec(), &unfilled, None), Ownership::Ours);
    }

    #[test]
    fn an_account_replaced_by_someone_else_is_foreign() {
        let f = found(Some(account("a2")), Some(secret(Some("a1"))));
        assert!(
            matches!(ownership(&spec(), &f, None), Ownership::Foreign(why) if why.contains("replaced"))
        );
    }

    #[test]
    fn an_account_without_our_secret_is_ours_only_if_recorded() {
        let f = found(Some(account("a1")), None);
        assert!(
            matches!(ownership(&spec(), &f, None), Ownership::Foreign(why) if why.contains("not made by plant"))
        );
        assert!(matches!(
            ownership(&spec(), &f, Some("other")),
            Ownership::Foreign(_)
        ));
        assert_eq!(ownership(&spec(), &f, Some("a1")), Ownership::Ours);
    }

    #[test]
    fn a_secret_of_another_kind_under_the_name_is_foreign() {
        let mut opaque = secret(None);
        opaque.type_ = Some("Opaque".into());
        let f = found(Some(account("a1")), Some(opaque));
        assert!(
            matches!(ownership(&spec(), &f, Some("a1")), Ownership::Foreign(why) if why.contains("Opaque"))
        );
    }

    #[test]
    fn our_secret_left_without_its_account_is_ours() {
        let f = found(None, Some(secret(Some("a1"))));
        assert_eq!(ownership(&spec(), &f, None), Ownership::Ours);
    }
}
