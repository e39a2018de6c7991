//! How decoys are recognised without anything in the cluster saying so.
//!
//! Where a profile's token Secret has a generated-looking name (`<account>-token-<suffix>`,
//! like the Secrets Kubernetes generated for every service account before 1.24, or an
//! installer's `generateName`), the five-letter suffix is not random: it is an HMAC of the
//! namespace's UID, the namespace and the account name under the operator's key, in the
//! same alphabet. Whoever holds the key recomputes the name and finds the decoy with one
//! GET; to anyone else the name is indistinguishable from a generated one. Profiles whose
//! installer gives the Secret a fixed name (`argocd-manager-long-lived-token`) carry no
//! such mark: those decoys are proven by the UIDs this workstation recorded when it planted
//! them. The token controller then writes the account's UID into the Secret's
//! `kubernetes.io/service-account.uid` annotation, which ties the Secret to exactly one
//! account: a same-named account made later (a real Tiller, say) does not match it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::home::Key;

/// The alphabet of the suffixes Kubernetes gave generated names (no vowels, no look-alikes).
pub const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
pub const SUFFIX_LEN: usize = 5;

pub const ACCOUNT_NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";
pub const ACCOUNT_UID_ANNOTATION: &str = "kubernetes.io/service-account.uid";
pub const TOKEN_SECRET_TYPE: &str = "kubernetes.io/service-account-token";

/// The user-agent mark of `test-trigger` and `verify --e2e` drills.
pub const DRILL_MARK: &str = "kubectl-honeytoken-drill/";

/// The suffix of the decoy Secret's name for an account, under a key (profiles whose
/// Secret name has `{suffix}`).
pub fn secret_suffix(key: &Key, namespace_uid: &str, namespace: &str, account: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.bytes()).expect("HMAC takes any key length");
    for part in ["secret-name/v1", namespace_uid, namespace, account] {
        mac.update(part.as_bytes());
        mac.update(&[0]);
    }
    let digest = mac.finalize().into_bytes();
    let mut value = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    let base = SUFFIX_ALPHABET.len() as u64;
    (0..SUFFIX_LEN)
        .map(|_| {
            let c = SUFFIX_ALPHABET[(value % base) as usize] as char;
            value /= base;
            c
        })
        .collect()
}

/// The decoy Secret's name for an account under a key, in the generated form
/// `<account>-token-<suffix>`.
#[cfg(test)]
pub fn secret_name(key: &Key, namespace_uid: &str, namespace: &str, account: &str) -> String {
    format!(
        "{account}-token-{}",
        secret_suffix(key, namespace_uid, namespace, account)
    )
}

/// A drill's ID: when it started (Unix seconds, hex), a random part, and a tag over both and
/// the decoy's user name under the key. Drill requests carry it in their user agent. Only a
/// holder of the key can make an ID whose tag checks out, and since the API server stamps
/// each event with the time it was received, a copied drill user agent stops being
/// believed once the drill's time has passed.
pub fn signed_drill_id(
    key: &Key,
    username: &str,
    started: jiff::Timestamp,
    random: &str,
) -> String {
    let nonce = format!("{:x}.{random}", started.as_second());
    format!("{nonce}-{}", drill_tag(key, username, &nonce))
}

/// How far from a drill's start its requests may be received (the requests go out at once;
/// the margin is for clocks that disagree).
const DRILL_EARLIEST: jiff::SignedDuration = jiff::SignedDuration::from_mins(-2);
const DRILL_LATEST: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);

fn drill_tag(key: &Key, username: &str, nonce: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.bytes()).expect("HMAC takes any key length");
    for part in ["drill-id/v2", username, nonce] {
        mac.update(part.as_bytes());
        mac.update(&[0]);
    }
    let digest = mac.finalize().into_bytes();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// What a request's user agent says about being a drill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DrillClaim {
    /// No drill mark.
    None,
    /// A drill of this key, for this user, received within the drill's time.
    Genuine,
    /// Marked as a drill, with an ID this key did not sign for this user.
    Forged,
    /// A genuine drill's user agent, received outside that drill's time or from another
    /// client than the drill: a copy.
    Replayed,
    /// Marked as a drill, and no key to check the ID with.
    Unverified,
}

/// The drill ID in a drill's user agent, `kubectl-honeytoken-drill/V (drill ID)`.
pub fn drill_id_in(user_agent: &str) -> Option<&str> {
    if !user_agent.starts_with(DRILL_MARK) {
        return None;
    }
    user_agent
        .rsplit_once("(drill ")
        .and_then(|(_, rest)| rest.strip_suffix(')'))
}

/// Judges the drill mark of a request made as `username` and received (by the API server's
/// clock) at `received`.
pub fn drill_claim(
    user_agent: &str,
    username: &str,
    received: Option<jiff::Timestamp>,
    key: Option<&Key>,
) -> DrillClaim {
    if !user_agent.starts_with(DRILL_MARK) {
        return DrillClaim::None;
    }
    let Some(key) = key else {
        return DrillClaim::Unverified;
    };
    let Some((nonce, tag)) = drill_id_in(user_agent).and_then(|id| id.rsplit_once('-')) else {
        return DrillClaim::Forged;
    };
    let wanted = drill_tag(key, username, nonce);
    // Equal-length digests of both: the comparison tells nothing about the tag.
    use sha2::Digest;
    if Sha256::digest(wanted.as_bytes()) != Sha256::digest(tag.as_bytes()) {
        return DrillClaim::Forged;
    }
    let started = nonce
        .split_once('.')
        .and_then(|(hex, _)| i64::from_str_radix(hex, 16).ok())
        .and_then(|seconds| jiff::Timestamp::from_second(seconds).ok());
    match (started, received) {
        (Some(started), Some(received)) => {
            let offset = received.duration_since(started);
            if (DRILL_EARLIEST..=DRILL_LATEST).contains(&offset) {
                DrillClaim::Genuine
            } else {
                DrillClaim::Replayed
            }
        }
        // An event without the time it was received cannot be placed: not believed.
        _ => DrillClaim::Replayed,
    }
}

/// What a token Secret found under the decoy's name says about whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretIdentity {
    /// A service-account token Secret for this account, bound to the given account UID
    /// (None while the token controller has not filled it yet).
    Decoy { bound_account_uid: Option<String> },
    /// Something else carries the name; never treat it as a decoy.
    Foreign(String),
}

/// Judges a Secret found under the decoy's computed name.
pub fn identify_secret(
    account: &str,
    secret_type: Option<&str>,
    annotations: &std::collections::BTreeMap<String, String>,
) -> SecretIdentity {
    if secret_type != Some(TOKEN_SECRET_TYPE) {
        return SecretIdentity::Foreign(format!(
            "it is of type {:?}, not {TOKEN_SECRET_TYPE}",
            secret_type.unwrap_or("")
        ));
    }
    match annotations.get(ACCOUNT_NAME_ANNOTATION) {
        Some(name) if name == account => SecretIdentity::Decoy {
            bound_account_uid: annotations.get(ACCOUNT_UID_ANNOTATION).cloned(),
        },
        other => SecretIdentity::Foreign(format!(
            "it belongs to service account {:?}, not {account:?}",
            other.map(String::as_str).unwrap_or("")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn key(byte: u8) -> Key {
        Key::from_bytes([byte; crate::home::KEY_LEN])
    }

    #[test]
    fn the_name_looks_like_a_generated_token_secret_name() {
        let name = secret_name(&key(1), "uid-1", "kube-system", "tiller");
        let suffix = name.strip_prefix("tiller-token-").expect(&name);
        assert_eq!(suffix.len(), SUFFIX_LEN);
        assert!(
            suffix.bytes().all(|c| SUFFIX_ALPHABET.contains(&c)),
            "{name}"
        );
    }

    #[test]
    fn the_name_is_stable_for_one_key_and_place() {
        assert_eq!(
            secret_name(&key(1), "uid-1", "kube-system", "tiller"),
            secret_name(&key(1), "uid-1", "kube-system", "tiller")
        );
    }

    #[test]
    fn the_name_changes_with_key_cluster_namespace_and_account() {
        let base = secret_name(&key(1), "uid-1", "kube-system", "tiller");
        assert_ne!(base, secret_name(&key(2), "uid-1", "kube-system", "tiller"));
        assert_ne!(base, secret_name(&key(1), "uid-2", "kube-system", "tiller"));
        assert_ne!(
            base.strip_prefix("tiller-token-"),
            secret_name(&key(1), "uid-1", "ops", "tiller").strip_prefix("tiller-token-")
        );
        assert!(secret_name(&key(1), "uid-1", "kube-system", "helm").starts_with("helm-token-"));
    }

    #[test]
    fn suffixes_spread_over_the_whole_alphabet() {
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..200 {
            let name = secret_name(&key(1), &format!("uid-{i}"), "kube-system", "tiller");
            seen.extend(name.bytes().skip("tiller-token-".len()));
        }
        assert_eq!(seen.len(), SUFFIX_ALPHABET.len());
    }

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_token_secret_for_the_account_is_the_decoy() {
        assert_eq!(
            identify_secret(
                "tiller",
                Some(TOKEN_SECRET_TYPE),
                &annotations(&[
                    (ACCOUNT_NAME_ANNOTATION, "tiller"),
                    (ACCOUNT_UID_ANNOTATION, "u1")
                ])
            ),
            SecretIdentity::Decoy {
                bound_account_uid: Some("u1".into())
            }
        );
        assert_eq!(
            identify_secret(
                "tiller",
                Some(TOKEN_SECRET_TYPE),
                &annotations(&[(ACCOUNT_NAME_ANNOTATION, "tiller")])
            ),
            SecretIdentity::Decoy {
                bound_account_uid: None
            }
        );
    }

    #[test]
    fn other_secrets_under_the_name_are_foreign() {
        assert!(matches!(
            identify_secret("tiller", Some("Opaque"), &annotations(&[])),
            SecretIdentity::Foreign(why) if why.contains("Opaque")
        ));
        assert!(matches!(
            identify_secret(
                "tiller",
                Some(TOKEN_SECRET_TYPE),
                &annotations(&[(ACCOUNT_NAME_ANNOTATION, "default")])
            ),
            SecretIdentity::Foreign(why) if why.contains("default")
        ));
    }

    #[test]
    fn only_drill_ids_signed_with_the_key_for_the_user_and_within_their_time_are_genuine() {
        let key = Key::from_bytes([7; 32]);
        let other = Key::from_bytes([8; 32]);
        let user = "system:serviceaccount:kube-system:tiller";
        let started: jiff::Timestamp = "2026-11-28T10:00:00Z".parse().unwrap();
        let id = signed_drill_id(&key, user, started, "k3j9x0abcd");
        assert!(
            id.starts_with(&format!("{:x}.k3j9x0abcd-", started.as_second())),
            "{id}"
        );
        let agent = format!("kubectl-honeytoken-drill/0.1.0 (drill {id})");
        let at = |text: &str| Some(text.parse::<jiff::Timestamp>().unwrap());
        let soon = at("2026-11-28T10:00:03Z");
        assert_eq!(
            drill_claim(&agent, user, soon, Some(&key)),
            DrillClaim::Genuine
        );
        assert_eq!(
            drill_claim(&agent, user, soon, Some(&other)),
            DrillClaim::Forged
        );
        assert_eq!(
            drill_claim(&agent, user, soon, None),
            DrillClaim::Unverified
        );
        // Another decoy's user, or the same user agent long after: a copy.
        let elsewhere = "system:serviceaccount:apps:tiller";
        assert_eq!(
            drill_claim(&agent, elsewhere, soon, Some(&key)),
            DrillClaim::Forged
        );
        for late in [
            "2026-11-28T10:11:00Z",
            "2026-11-28T09:57:00Z",
            "2026-12-01T10:00:00Z",
        ] {
            assert_eq!(
                drill_claim(&agent, user, at(late), Some(&key)),
                DrillClaim::Replayed,
                "{late}"
            );
        }
        assert_eq!(
            drill_claim(&agent, user, None, Some(&key)),
            DrillClaim::Replayed
        );
        for forged in [
            "kubectl-honeytoken-drill/0.1.0 (drill k3j9x0abcd)",
            "kubectl-honeytoken-drill/0.1.0 (drill 6930c0e0.k3j9x0abcd-0000000000000000)",
            "kubectl-honeytoken-drill/0.1.0",
            &agent.replace("k3j9x0abcd", "k3j9x0abce"),
        ] {
            assert_eq!(
                drill_claim(forged, user, soon, Some(&key)),
                DrillClaim::Forged,
                "{forged}"
            );
        }
        assert_eq!(
            drill_claim("kubectl/v1.36.3", user, soon, Some(&key)),
            DrillClaim::None
        );
    }
}
