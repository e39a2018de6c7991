//! The realism rule: nothing an attacker can read in the cluster may give the decoy away.

/// Words that must never appear in anything the plugin writes to the cluster. They are
/// matched as whole words (after splitting at punctuation, digits and camelCase), so that
/// "bootstrap" or "honeycomb" is not a giveaway while "ci-decoy" and "honeyToken" are.
pub const GIVEAWAYS: &[&str] = &[
    "honeytoken",
    "honey",
    "honeypot",
    "decoy",
    "canary",
    "canaries",
    "trap",
    "drill",
    "tripwire",
    "bait",
    "lure",
];

/// The words of `text`: runs of letters, split where lowercase turns to uppercase.
fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in text.chars() {
        if c.is_alphabetic() {
            if c.is_uppercase() && previous_lower && !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            previous_lower = c.is_lowercase();
            current.extend(c.to_lowercase());
        } else {
            previous_lower = false;
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// The giveaway words found in `text` as words (a plural counts), in the order of
/// GIVEAWAYS.
pub fn giveaways_in(text: &str) -> Vec<&'static str> {
    let words = words(text);
    GIVEAWAYS
        .iter()
        .copied()
        .filter(|giveaway| {
            words
                .iter()
                .any(|w| w == giveaway || w.strip_suffix('s') == Some(giveaway))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_giveaways_as_words_in_any_case() {
        assert_eq!(
            giveaways_in("managed by Kubectl-HoneyToken"),
            vec!["honey"],
            "camelCase splits HoneyToken"
        );
        assert_eq!(giveaways_in("kubectl-honeytoken"), vec!["honeytoken"]);
        assert_eq!(giveaways_in("a CANARY account"), vec!["canary"]);
        assert_eq!(giveaways_in("ci-decoys"), vec!["decoy"]);
        assert_eq!(giveaways_in("decoy1.example"), vec!["decoy"]);
        assert_eq!(giveaways_in("fieldManager: decoyWriter"), vec!["decoy"]);
        assert_eq!(giveaways_in("set a trap"), vec!["trap"]);
        assert!(giveaways_in("tiller-token-x7k2p app=helm kubectl-create").is_empty());
    }

    #[test]
    fn words_that_merely_contain_a_giveaway_are_not_one() {
        for text in [
            "bootstrap",
            "honeycomb-agent",
            "drilldown",
            "entrapment",
            "canaryfish",
            "baited",
            "allure",
        ] {
            assert!(giveaways_in(text).is_empty(), "{text}");
        }
    }
}
