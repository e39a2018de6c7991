//! Rules put into words for messages.

use std::fmt::Write as _;

use super::Policy;

/// A one-line description of rule `index` (0-based, as in `rules[index]`) for messages,
/// e.g. `rule 3 at line 12 (level None, users [system:serviceaccount:kube-system:tiller])`.
pub fn describe_rule(policy: &Policy, index: usize) -> String {
    let Some(rule) = policy.rules.get(index) else {
        return format!(
            "rule {index} (no such rule: the policy has {} rules)",
            policy.rules.len()
        );
    };
    let mut parts = vec![format!("level {}", rule.level)];
    let list = |parts: &mut Vec<String>, name: &str, items: &[String]| {
        if !items.is_empty() {
            parts.push(format!(
                "{name} {}",
                bracket(items.iter().map(|s| quote_empty(s)))
            ));
        }
    };
    list(&mut parts, "users", &rule.users);
    list(&mut parts, "userGroups", &rule.user_groups);
    list(&mut parts, "verbs", &rule.verbs);
    if !rule.resources.is_empty() {
        let groups = rule.resources.iter().map(|gr| {
            let mut text = format!("{{group: {}", quote_empty(&gr.group));
            if !gr.resources.is_empty() {
                let _ = write!(
                    text,
                    ", resources: {}",
                    bracket(gr.resources.iter().map(|s| quote_empty(s)))
                );
            }
            if !gr.resource_names.is_empty() {
                let _ = write!(
                    text,
                    ", resourceNames: {}",
                    bracket(gr.resource_names.iter().map(|s| quote_empty(s)))
                );
            }
            text.push('}');
            text
        });
        parts.push(format!("resources {}", bracket(groups)));
    }
    list(&mut parts, "namespaces", &rule.namespaces);
    list(&mut parts, "nonResourceURLs", &rule.non_resource_urls);
    if !rule.omit_stages.is_empty() {
        parts.push(format!(
            "omitStages {}",
            bracket(rule.omit_stages.iter().map(|s| s.to_string()))
        ));
    }
    if let Some(omit) = rule.omit_managed_fields {
        parts.push(format!("omitManagedFields {omit}"));
    }
    if parts.len() == 1 {
        parts.push("every request".to_string());
    }
    let at = rule
        .line
        .map(|l| format!(" at line {l}"))
        .unwrap_or_default();
    format!("rule {index}{at} ({})", parts.join(", "))
}

fn quote_empty(s: &str) -> String {
    if s.is_empty() {
        "\"\"".to_string()
    } else {
        s.to_string()
    }
}

fn bracket(items: impl Iterator<Item = String>) -> String {
    format!("[{}]", items.collect::<Vec<_>>().join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::policy::test_support::*;

    #[test]
    fn describe_rule_names_the_rule_its_line_and_selectors() {
        let p = policy(
            "- level: None\n  users: [\"system:serviceaccount:kube-system:tiller\"]\n\
             - level: Metadata\n  verbs: [get]\n  resources: [{group: \"\", resources: [secrets], resourceNames: [decoy]}, {group: apps}]\n  namespaces: [\"\"]\n  omitStages: [RequestReceived]\n\
             - level: Request\n",
        );
        assert_eq!(
            describe_rule(&p, 0),
            "rule 0 at line 4 (level None, users [system:serviceaccount:kube-system:tiller])"
        );
        assert_eq!(
            describe_rule(&p, 1),
            "rule 1 at line 6 (level Metadata, verbs [get], resources [{group: \"\", resources: [secrets], resourceNames: [decoy]}, {group: apps}], namespaces [\"\"], omitStages [RequestReceived])"
        );
        assert_eq!(
            describe_rule(&p, 2),
            "rule 2 at line 11 (level Request, every request)"
        );
        assert_eq!(
            describe_rule(&p, 3),
            "rule 3 (no such rule: the policy has 3 rules)"
        );
    }
}
