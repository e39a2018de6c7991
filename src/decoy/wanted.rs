//! What an operator asks to plant: `plant -f decoys.yaml` lists decoys by profile (or own
//! profile file), namespace and name, for GitOps and CI. Pure: the file's text is read by
//! the command.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::decoy::profile::{is_dns_label, is_dns_subdomain};

/// The file: `decoys:` and a list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DecoyList {
    pub decoys: Vec<Wanted>,
}

/// One decoy: a built-in profile by name, or a profile file (relative to the list's
/// folder), and optionally where and under what name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Wanted {
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub profile_file: Option<PathBuf>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// Why a decoy list cannot be used; `entry` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error("it is not a decoy list (`decoys:` and a list of profile, namespace, name): {0}")]
    Syntax(String),
    #[error("it lists no decoys")]
    Empty,
    #[error("decoy {entry}: {why}")]
    Entry { entry: usize, why: String },
}

/// Reads a list and checks each entry; profile files become paths beside the list.
pub fn parse_list(text: &str, folder: &Path) -> Result<Vec<Wanted>, ListError> {
    let list: DecoyList =
        serde_saphyr::from_str(text).map_err(|e| ListError::Syntax(e.to_string()))?;
    if list.decoys.is_empty() {
        return Err(ListError::Empty);
    }
    list.decoys
        .into_iter()
        .enumerate()
        .map(|(index, mut wanted)| {
            let entry = index + 1;
            let bad = |why: String| ListError::Entry { entry, why };
            match (&wanted.profile, &wanted.profile_file) {
                (Some(_), Some(_)) => {
                    return Err(bad("give profile or profileFile, not both".into()));
                }
                (None, None) => return Err(bad("give profile or profileFile".into())),
                _ => {}
            }
            if let Some(file) = &wanted.profile_file
                && file.is_relative()
            {
                wanted.profile_file = Some(folder.join(file));
            }
            check_place(wanted.namespace.as_deref(), wanted.name.as_deref()).map_err(bad)?;
            Ok(wanted)
        })
        .collect()
}

/// Checks a namespace and account name before anything is planned, so that a plan never
/// shows names the API server would refuse.
pub fn check_place(namespace: Option<&str>, name: Option<&str>) -> Result<(), String> {
    if let Some(namespace) = namespace
        && !is_dns_label(namespace)
    {
        return Err(format!(
            "namespace {namespace:?} is not a valid namespace name (lowercase letters, digits \
             and '-', at most 63, starting and ending with a letter or digit)"
        ));
    }
    if let Some(name) = name
        && !is_dns_subdomain(name)
    {
        return Err(format!(
            "name {name:?} is not a valid service account name (lowercase letters, digits, \
             '-' and '.', at most 253)"
        ));
    }
    Ok(())
}

/// Checks the name a profile gives the token Secret of an account (the account's name and
/// the profile's own words, both valid): only its length can make it one the API server
/// refuses.
pub fn check_secret_name(account: &str, secret: &str) -> Result<(), String> {
    if secret.len() > 253 {
        return Err(format!(
            "name {account:?} makes the token Secret's name {} characters long ({secret:.40}...), \
             and Kubernetes allows at most 253; choose a shorter --name",
            secret.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_api_server_would_refuse_are_refused_with_the_rule() {
        let error = check_place(None, Some("Bad_Name")).unwrap_err();
        assert!(
            error.contains("\"Bad_Name\"") && error.contains("lowercase"),
            "{error}"
        );
        let error = check_place(Some("Apps"), None).unwrap_err();
        assert!(error.contains("namespace \"Apps\""), "{error}");
        assert!(check_place(Some("apps"), Some("helm-server")).is_ok());
        let long = ['a', 'b', 'c', 'd']
            .map(|c| c.to_string().repeat(60))
            .join(".");
        assert!(check_place(None, Some(&long)).is_ok());
        let secret = format!("{long}-token-xxxxx");
        let error = check_secret_name(&long, &secret).unwrap_err();
        assert!(error.contains("253"), "{error}");
        assert!(check_secret_name("tiller", "tiller-token-xxxxx").is_ok());
    }

    #[test]
    fn a_list_names_profiles_files_and_places() {
        let text = "decoys:\n  - profile: argocd-manager\n  - profile: tiller\n    namespace: apps\n    name: helm-server\n  - profileFile: own/ci.yaml\n";
        let wanted = parse_list(text, Path::new("/etc/decoys")).unwrap();
        assert_eq!(wanted.len(), 3);
        assert_eq!(wanted[1].namespace.as_deref(), Some("apps"));
        assert_eq!(wanted[1].name.as_deref(), Some("helm-server"));
        assert_eq!(
            wanted[2].profile_file.as_deref(),
            Some(Path::new("/etc/decoys/own/ci.yaml"))
        );
    }

    #[test]
    fn bad_lists_say_which_entry_and_why() {
        let folder = Path::new(".");
        for (text, expected) in [
            ("decoys: []\n", "no decoys"),
            ("- profile: tiller\n", "not a decoy list"),
            (
                "decoys:\n  - namespace: apps\n",
                "decoy 1: give profile or profileFile",
            ),
            (
                "decoys:\n  - profile: tiller\n  - profile: tiller\n    profileFile: x.yaml\n",
                "decoy 2: give profile or profileFile, not both",
            ),
            (
                "decoys:\n  - profile: tiller\n    name: Bad_Name\n",
                "decoy 1: name \"Bad_Name\"",
            ),
            (
                "decoys:\n  - profile: tiller\n    namespace: -apps\n",
                "namespace \"-apps\"",
            ),
            (
                "decoys:\n  - profile: tiller\n    colour: blue\n",
                "unknown field",
            ),
        ] {
            let error = parse_list(text, folder).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn places_are_checked_as_the_api_server_would() {
        assert!(check_place(Some("kube-system"), Some("tiller")).is_ok());
        assert!(check_place(Some("kube-system"), Some("a.b-c")).is_ok());
        assert!(check_place(None, Some("Bad_Name")).is_err());
        assert!(check_place(Some("Apps"), None).is_err());
        assert!(check_place(Some(&"a".repeat(64)), None).is_err());
        assert!(check_place(None, Some(&"a".repeat(254))).is_err());
    }
}
