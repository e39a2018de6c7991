//! The realism rule: nothing an attacker can read in the cluster may give the decoy away.

/// Words that must never appear in anything the plugin writes to the cluster.
pub const GIVEAWAYS: &[&str] = &["honeytoken", "honey", "decoy", "canary", "trap", "drill"];

/// The giveaway words found in `text`, case-insensitively.
pub fn giveaways_in(text: &str) -> Vec<&'static str> {
    let text = text.to_lowercase();
    GIVEAWAYS
        .iter()
        .copied()
        .filter(|word| text.contains(word))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_giveaways_in_any_case() {
        assert_eq!(
            giveaways_in("managed by Kubectl-HoneyToken"),
            vec!["honeytoken", "honey"]
        );
        assert_eq!(giveaways_in("a CANARY account"), vec!["canary"]);
        assert!(giveaways_in("tiller-token-x7k2p app=helm kubectl-create").is_empty());
    }
}
