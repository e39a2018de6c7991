//! Decoy profiles: plain data describing what a decoy looks like. Adding a profile adds
//! an entry here, not a code path.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The name users pass to `--profile`.
    pub name: &'static str,
    pub summary: &'static str,
    pub default_namespace: &'static str,
    pub default_account: &'static str,
    /// Labels on the service account; `{name}` is replaced by the account's name. Status
    /// finds candidate decoys with the labels that do not depend on the name.
    pub account_labels: &'static [(&'static str, &'static str)],
    /// The field manager a real installer of this kind of account would leave behind.
    pub field_manager: &'static str,
}

/// Helm v2's server component: classically bound to cluster-admin, so an attacker who
/// finds its token expects the keys to the cluster.
pub const TILLER: Profile = Profile {
    name: "tiller",
    summary: "Helm v2's Tiller service account in kube-system",
    default_namespace: "kube-system",
    default_account: "tiller",
    // The labels `helm init` put on everything it installed.
    account_labels: &[("app", "helm"), ("name", "{name}")],
    field_manager: "kubectl-create",
};

pub const PROFILES: &[Profile] = &[TILLER];

pub fn find(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}

impl Profile {
    pub fn labels_for(&self, account: &str) -> BTreeMap<String, String> {
        self.account_labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.replace("{name}", account)))
            .collect()
    }

    /// Whether an account's labels are exactly what this profile gives it.
    pub fn labels_match(&self, account: &str, labels: &BTreeMap<String, String>) -> bool {
        &self.labels_for(account) == labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiller_is_the_default_profile_and_found_by_name() {
        assert_eq!(find("tiller"), Some(&TILLER));
        assert_eq!(find("nope"), None);
        assert_eq!(TILLER.default_namespace, "kube-system");
    }

    #[test]
    fn labels_follow_the_account_name() {
        let labels = TILLER.labels_for("helm-server");
        assert_eq!(labels.get("app").map(String::as_str), Some("helm"));
        assert_eq!(labels.get("name").map(String::as_str), Some("helm-server"));
        assert!(TILLER.labels_match("helm-server", &labels));
        assert!(!TILLER.labels_match("tiller", &labels));
    }

    #[test]
    fn no_profile_says_what_it_is() {
        for profile in PROFILES {
            let visible = format!(
                "{} {} {:?} {}",
                profile.default_namespace,
                profile.default_account,
                profile.account_labels,
                profile.field_manager
            )
            .to_lowercase();
            for word in crate::decoy::realism::GIVEAWAYS {
                assert!(!visible.contains(word), "{} shows {word}", profile.name);
            }
        }
    }
}
