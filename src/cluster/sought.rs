//! What `scan`, `watch` and `rules` look for: the decoys' user names, and their token
//! Secrets, whose stamp by the API server (`kubernetes.io/legacy-token-last-used`) is the
//! audit side of the tripwire. Both are asked of the cluster (this key's decoys, as
//! `status` finds them: the key derives the Secrets' names), or given on the command line.

use crate::audit::DecoySecret;
use crate::cluster::ClusterError;
use crate::cluster::connect::Target;
use crate::cluster::locate::observe_all;
use crate::decoy::Decoy;
use crate::decoy::profile;
use crate::home::Home;

/// The decoys to look for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sought {
    pub users: Vec<String>,
    pub secrets: Vec<DecoySecret>,
}

/// Those given with `--user` and `--secret`, or else the decoys of this key that the
/// cluster holds (with their Secrets).
pub async fn decoys_to_look_for(
    given_users: &[String],
    given_secrets: &[String],
    target: &Target,
    namespace: Option<&str>,
    home: &Home,
) -> Result<Sought, ClusterError> {
    let mut looked_in = String::new();
    let sought = if given_users.is_empty() && given_secrets.is_empty() {
        let observation = observe_all(target, namespace, home).await?;
        looked_in = where_looked(&observation.namespaces, namespace.is_some());
        let observed = observation.observed;
        let mut sought = Sought::default();
        for decoy in &observed {
            sought.users.push(decoy.spec.username());
            sought.secrets.push(DecoySecret {
                namespace: decoy.spec.namespace.clone(),
                name: decoy.spec.secret.clone(),
                user: decoy.spec.username(),
            });
        }
        sought
    } else {
        given(given_users, given_secrets)?
    };
    if sought.users.is_empty() {
        return Err(ClusterError::NoDecoysToLookFor { looked_in });
    }
    Ok(sought)
}

/// Where decoys were looked for, in words: the namespaces, and that `-n` chose them when it
/// did (the look without it covers every profile's namespace and every one planted in from
/// here). Pure.
pub fn where_looked(namespaces: &[String], narrowed: bool) -> String {
    let list = match namespaces {
        [] => "no namespace".to_string(),
        [one] => format!("namespace {one}"),
        several => format!("namespaces {}", several.join(", ")),
    };
    if narrowed {
        format!(
            "{list} (the only one looked in, as -n asked; without -n every profile's namespace \
             and every namespace planted in from here is looked in)"
        )
    } else {
        format!("{list} (every profile's namespace and every namespace planted in from here)")
    }
}

/// `--user` and `--secret` as given: each Secret's account is looked for too.
pub fn given(users: &[String], secrets: &[String]) -> Result<Sought, ClusterError> {
    // Here --user names a decoy, not a kubeconfig user (pick that with --context): a name
    // of another form would silently match nothing.
    for user in users {
        Decoy::parse(user)?;
    }
    let secrets: Vec<DecoySecret> = secrets
        .iter()
        .map(|s| parse_secret(s))
        .collect::<Result<_, _>>()?;
    let mut all: Vec<String> = users.to_vec();
    for secret in &secrets {
        if !all.contains(&secret.user) {
            all.push(secret.user.clone());
        }
    }
    Ok(Sought {
        users: all,
        secrets,
    })
}

/// `NAMESPACE/NAME` of a decoy's token Secret, named as a profile names it
/// (`<account>-token-<suffix>`, `<account>-long-lived-token`, ...): its account is read
/// from the name. A Secret named like its account is taken only under a profile's own
/// account name (`kube-system/headlamp-admin`), so that a typo is not a decoy.
pub fn parse_secret(text: &str) -> Result<DecoySecret, ClusterError> {
    let invalid = |why: &str| ClusterError::SecretName {
        given: text.to_string(),
        why: why.to_string(),
    };
    let (namespace, name) = text
        .split_once('/')
        .ok_or_else(|| invalid("give it as NAMESPACE/NAME"))?;
    let mut profiles = profile::all();
    // The most specific form first: the keyed suffix, then the longest fixed words.
    profiles.sort_by_key(|p| {
        (
            !p.keyed_secret_name(),
            std::cmp::Reverse(p.secret.name.len()),
        )
    });
    let account = profiles
        .iter()
        .find_map(|p| {
            p.account_of_secret(name).filter(|account| {
                p.secret.name != "{account}" || *account == p.service_account.name
            })
        })
        .ok_or_else(|| {
            invalid(&format!(
                "a decoy's token Secret is named as a profile names it: {}",
                profiles
                    .iter()
                    .map(|p| p.fill(&p.service_account.name, "xxxxx").secret)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
    let user = format!("system:serviceaccount:{namespace}:{account}");
    Decoy::parse(&user)?;
    Ok(DecoySecret {
        namespace: namespace.to_string(),
        name: name.to_string(),
        user,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_decoys_says_where_it_looked_and_whether_n_narrowed_it() {
        let narrowed = ClusterError::NoDecoysToLookFor {
            looked_in: where_looked(&["wiz".to_string()], true),
        }
        .to_string();
        assert!(
            narrowed.contains("none of this key in namespace wiz"),
            "{narrowed}"
        );
        assert!(narrowed.contains("as -n asked"), "{narrowed}");
        assert!(!narrowed.contains("in the cluster"), "{narrowed}");
        let everywhere = where_looked(&["default".to_string(), "kube-system".to_string()], false);
        assert!(
            everywhere.starts_with("namespaces default, kube-system (every profile's"),
            "{everywhere}"
        );
    }

    #[test]
    fn a_given_secret_names_its_account_and_is_checked() {
        let secret = parse_secret("kube-system/tiller-token-bcdfg").unwrap();
        assert_eq!(secret.user, "system:serviceaccount:kube-system:tiller");
        assert_eq!(
            secret.path(),
            "/api/v1/namespaces/kube-system/secrets/tiller-token-bcdfg"
        );
        for bad in [
            "tiller-token-bcdfg",
            "kube-system/tiller",
            "kube-system/-token-bcdfg",
            "Kube_System/tiller-token-bcdfg",
            "kube-system/tiller-token-bcdfgh",
            // A multi-byte character across the suffix's start is refused, not a panic.
            "kube-system/ab-token-x\u{e9}abc",
        ] {
            assert!(parse_secret(bad).is_err(), "{bad}");
        }
        let sought = given(
            &["system:serviceaccount:ci:deployer".into()],
            &["kube-system/tiller-token-bcdfg".into()],
        )
        .unwrap();
        assert_eq!(
            sought.users,
            vec![
                "system:serviceaccount:ci:deployer".to_string(),
                "system:serviceaccount:kube-system:tiller".to_string()
            ]
        );
        assert!(given(&["admin".into()], &[]).is_err());
        for (text, user) in [
            (
                "kube-system/argocd-manager-long-lived-token",
                "system:serviceaccount:kube-system:argocd-manager",
            ),
            (
                "kube-system/headlamp-admin",
                "system:serviceaccount:kube-system:headlamp-admin",
            ),
            (
                "default/gitlab-token",
                "system:serviceaccount:default:gitlab",
            ),
            (
                "cattle-system/kontainer-engine-token-x7k2p",
                "system:serviceaccount:cattle-system:kontainer-engine",
            ),
        ] {
            assert_eq!(parse_secret(text).unwrap().user, user, "{text}");
        }
    }
}
