//! What the API server refuses to load (`validation.go`), turning the raw decoded
//! values into a [`Policy`].

use serde_saphyr::Spanned;

use super::decode::{RawPolicy, RawRule, Text, empty_document_message};
use super::evaluate::sorted;
use super::{API_VERSION, GroupResources, KIND, Level, Policy, PolicyError, Problem, Rule, Stage};

pub(super) fn build(raw: RawPolicy, warnings: Vec<Problem>) -> Result<Policy, PolicyError> {
    if raw.empty {
        return Err(PolicyError::NotAPolicy(Problem::new(
            None,
            "",
            empty_document_message(),
        )));
    }
    match &raw.api_version {
        None => {
            return Err(PolicyError::NotAPolicy(Problem::new(
                None,
                "apiVersion",
                format!("missing; an audit policy needs apiVersion: {API_VERSION}"),
            )));
        }
        Some(v) if v.value.0 != API_VERSION => {
            return Err(PolicyError::NotAPolicy(Problem::new(
                Some(v.referenced),
                "apiVersion",
                format!(
                    "\"{}\" is not supported; the API server reads audit policies only as {API_VERSION}",
                    v.value.0
                ),
            )));
        }
        Some(_) => {}
    }
    match &raw.kind {
        None => {
            return Err(PolicyError::NotAPolicy(Problem::new(
                None,
                "kind",
                format!("missing; an audit policy needs kind: {KIND}"),
            )));
        }
        Some(k) if k.value.0 != KIND => {
            return Err(PolicyError::NotAPolicy(Problem::new(
                Some(k.referenced),
                "kind",
                format!(
                    "\"{}\" is not an audit policy; expected kind: {KIND}",
                    k.value.0
                ),
            )));
        }
        Some(_) => {}
    }

    // ValidatePolicy: policy-wide omitStages, then each rule.
    let mut problems = Vec::new();
    let omit_stages = stages(&raw.omit_stages, "omitStages", &mut problems);
    let raw_rules = raw.rules;
    let mut rules = Vec::with_capacity(raw_rules.len());
    for (i, raw_rule) in raw_rules.into_iter().enumerate() {
        rules.push(rule(raw_rule, &format!("rules[{i}]"), &mut problems));
    }
    if !problems.is_empty() {
        return Err(PolicyError::Invalid(problems));
    }
    if rules.is_empty() {
        return Err(PolicyError::Invalid(vec![Problem::new(
            raw.fields.key("rules"),
            "rules",
            "the policy has no rules; the API server refuses to load it",
        )]));
    }
    Ok(Policy {
        rules,
        omit_stages: sorted(omit_stages),
        omit_managed_fields: raw.omit_managed_fields.unwrap_or(false),
        warnings,
    })
}

fn stages(raw: &[Spanned<Text>], path: &str, problems: &mut Vec<Problem>) -> Vec<Stage> {
    let mut out = Vec::new();
    for (j, s) in raw.iter().enumerate() {
        match Stage::from_api(&s.value.0) {
            Some(stage) => out.push(stage),
            None => problems.push(Problem::new(
                Some(s.referenced),
                format!("{path}[{j}]"),
                format!(
                    "unknown stage \"{}\" (expected RequestReceived, ResponseStarted, ResponseComplete or Panic)",
                    s.value.0
                ),
            )),
        }
    }
    out
}

/// `validatePolicyRule`, in the same order, turning the raw rule into a [`Rule`].
fn rule(raw: RawRule, path: &str, problems: &mut Vec<Problem>) -> Rule {
    let level = match &raw.level {
        Some(l) if !l.value.0.is_empty() => Level::from_api(&l.value.0).unwrap_or_else(|| {
            problems.push(Problem::new(
                Some(l.referenced),
                format!("{path}.level"),
                format!(
                    "unknown level \"{}\" (expected None, Metadata, Request or RequestResponse)",
                    l.value.0
                ),
            ));
            Level::None
        }),
        empty => {
            problems.push(Problem::new(
                empty.as_ref().map(|l| l.referenced).or(raw.fields.first),
                format!("{path}.level"),
                "required (None, Metadata, Request or RequestResponse)",
            ));
            Level::None
        }
    };

    for (j, url) in raw.non_resource_urls.iter().enumerate() {
        let text = &url.value.0;
        if text == "*" {
            continue;
        }
        let url_path = format!("{path}.nonResourceURLs[{j}]");
        if !text.starts_with('/') {
            problems.push(Problem::new(
                Some(url.referenced),
                url_path.clone(),
                format!("\"{text}\" must begin with '/' (or be \"*\" alone)"),
            ));
        }
        // '*' is ASCII, so looking at bytes is exact.
        if !text.is_empty() && text.as_bytes()[..text.len() - 1].contains(&b'*') {
            problems.push(Problem::new(
                Some(url.referenced),
                url_path,
                format!("\"{text}\": a '*' wildcard must be the final character"),
            ));
        }
    }

    for (j, gr) in raw.resources.iter().enumerate() {
        let gr_path = format!("{path}.resources[{j}]");
        let group = &gr.group.value.0;
        if !group.is_empty() && group != "*" {
            let mut msgs = dns1123_subdomain(group);
            if !msgs.is_empty() {
                if group.contains('/') {
                    msgs.push("name the group without its version".to_string());
                }
                problems.push(Problem::new(
                    Some(gr.group.referenced),
                    format!("{gr_path}.group"),
                    format!("invalid API group \"{group}\": {}", msgs.join("; ")),
                ));
            }
        }
        if !gr.resource_names.is_empty() && gr.resources.is_empty() {
            problems.push(Problem::new(
                gr.fields.key("resourceNames"),
                format!("{gr_path}.resourceNames"),
                "using resourceNames requires at least one resource in resources",
            ));
        }
    }

    let omit_stages = stages(&raw.omit_stages, &format!("{path}.omitStages"), problems);

    if !raw.non_resource_urls.is_empty()
        && (!raw.resources.is_empty() || !raw.namespaces.is_empty())
    {
        problems.push(Problem::new(
            raw.fields.key("nonResourceURLs"),
            format!("{path}.nonResourceURLs"),
            "a rule cannot apply to both regular resources (resources, namespaces) and non-resource URLs",
        ));
    }

    let texts = |v: Vec<Spanned<Text>>| v.into_iter().map(|s| s.value.0).collect::<Vec<_>>();
    Rule {
        level,
        users: texts(raw.users),
        user_groups: texts(raw.user_groups),
        verbs: texts(raw.verbs),
        resources: raw
            .resources
            .into_iter()
            .map(|gr| GroupResources {
                group: gr.group.value.0,
                resources: texts(gr.resources),
                resource_names: texts(gr.resource_names),
            })
            .collect(),
        namespaces: texts(raw.namespaces),
        non_resource_urls: texts(raw.non_resource_urls),
        omit_stages,
        omit_managed_fields: raw.omit_managed_fields,
        line: raw.fields.first.map(|l| l.line()).filter(|&l| l > 0),
    }
}

/// `IsDNS1123Subdomain` from apimachinery: the messages it would give, none when valid.
fn dns1123_subdomain(value: &str) -> Vec<String> {
    let mut msgs = Vec::new();
    if value.len() > 253 {
        msgs.push("must be no more than 253 characters".to_string());
    }
    let label_ok = |label: &str| {
        let b = label.as_bytes();
        let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        !b.is_empty()
            && alnum(&b[0])
            && alnum(&b[b.len() - 1])
            && b.iter().all(|c| alnum(c) || *c == b'-')
    };
    if !value.split('.').all(label_ok) {
        msgs.push(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', \
             and must start and end with an alphanumeric character (e.g. 'example.com')"
                .to_string(),
        );
    }
    msgs
}
#[cfg(test)]
mod tests {
    use crate::audit::policy::test_support::*;
    use crate::audit::policy::*;

    #[test]
    fn an_unknown_level_is_rejected_with_line_and_path() {
        let text = format!("{HEADER}rules:\n- level: Metadata\n- level: Verbose\n");
        assert_eq!(
            error(&text),
            "line 5, column 10: rules[1].level: unknown level \"Verbose\" (expected None, Metadata, Request or RequestResponse)"
        );
    }

    #[test]
    fn levels_are_case_sensitive() {
        let text = format!("{HEADER}rules:\n- level: metadata\n");
        assert!(
            error(&text).contains("rules[0].level: unknown level \"metadata\""),
            "{}",
            error(&text)
        );
    }

    #[test]
    fn a_missing_or_empty_level_is_required() {
        let missing = format!("{HEADER}rules:\n- level: None\n- users: [a]\n");
        assert_eq!(
            error(&missing),
            "line 5, column 3: rules[1].level: required (None, Metadata, Request or RequestResponse)"
        );
        let empty = format!("{HEADER}rules:\n- level: \"\"\n");
        assert_eq!(
            error(&empty),
            "line 4, column 10: rules[0].level: required (None, Metadata, Request or RequestResponse)"
        );
    }

    #[test]
    fn unknown_stages_are_rejected_policy_wide_and_per_rule() {
        let text = format!(
            "{HEADER}omitStages: [RequestReceived, Started]\nrules:\n- level: None\n  omitStages: [Complete]\n"
        );
        let err = parse(&text).unwrap_err();
        let expected = [
            "line 3, column 31: omitStages[1]: unknown stage \"Started\" (expected RequestReceived, ResponseStarted, ResponseComplete or Panic)",
            "line 6, column 16: rules[0].omitStages[0]: unknown stage \"Complete\" (expected RequestReceived, ResponseStarted, ResponseComplete or Panic)",
        ];
        assert_eq!(err.to_string(), expected.join("\n"));
        assert!(matches!(err, PolicyError::Invalid(ref ps) if ps.len() == 2));
    }

    #[test]
    fn non_resource_urls_must_start_with_a_slash() {
        let text = format!("{HEADER}rules:\n- level: None\n  nonResourceURLs: [\"*\", healthz]\n");
        assert_eq!(
            error(&text),
            "line 5, column 26: rules[0].nonResourceURLs[1]: \"healthz\" must begin with '/' (or be \"*\" alone)"
        );
    }

    #[test]
    fn a_non_resource_star_must_be_the_last_character() {
        let text = format!(
            "{HEADER}rules:\n- level: None\n  nonResourceURLs:\n  - /api/*/v1\n  - \"/logs*\"\n"
        );
        assert_eq!(
            error(&text),
            "line 6, column 5: rules[0].nonResourceURLs[0]: \"/api/*/v1\": a '*' wildcard must be the final character"
        );
    }

    #[test]
    fn a_rule_cannot_have_non_resource_urls_and_resources_or_namespaces() {
        let with_resources = format!(
            "{HEADER}rules:\n- level: None\n  resources: [{{resources: [pods]}}]\n  nonResourceURLs: [/api]\n"
        );
        assert_eq!(
            error(&with_resources),
            "line 6, column 3: rules[0].nonResourceURLs: a rule cannot apply to both regular resources (resources, namespaces) and non-resource URLs"
        );
        let with_namespaces = format!(
            "{HEADER}rules:\n- level: None\n  nonResourceURLs: [/api]\n  namespaces: [default]\n"
        );
        assert!(
            error(&with_namespaces)
                .starts_with("line 5, column 3: rules[0].nonResourceURLs: a rule cannot apply")
        );
    }

    #[test]
    fn resource_names_need_resources() {
        let text = format!(
            "{HEADER}rules:\n- level: None\n  resources:\n  - group: \"\"\n    resourceNames: [decoy]\n"
        );
        assert_eq!(
            error(&text),
            "line 7, column 5: rules[0].resources[0].resourceNames: using resourceNames requires at least one resource in resources"
        );
    }

    #[test]
    fn groups_must_be_dns_subdomains_without_a_version() {
        let versioned = format!(
            "{HEADER}rules:\n- level: None\n  resources: [{{group: rbac.authorization.k8s.io/v1}}]\n"
        );
        let message = error(&versioned);
        assert!(message.starts_with("line 5, column 23: rules[0].resources[0].group: invalid API group \"rbac.authorization.k8s.io/v1\": a lowercase RFC 1123 subdomain"), "{message}");
        assert!(
            message.ends_with("name the group without its version"),
            "{message}"
        );
        let upper = format!("{HEADER}rules:\n- level: None\n  resources: [{{group: Apps}}]\n");
        assert!(error(&upper).contains("invalid API group \"Apps\""));
        let long = format!(
            "{HEADER}rules:\n- level: None\n  resources: [{{group: {}}}]\n",
            "a".repeat(254)
        );
        assert!(error(&long).contains("must be no more than 253 characters"));
        // "*", "" and ordinary groups are fine.
        policy(
            "- level: None\n  resources: [{group: \"*\"}, {group: \"\"}, {group: metrics.k8s.io}, {group: 0-a.b}]\n",
        );
    }

    #[test]
    fn every_validation_problem_is_reported_in_order() {
        let text = format!(
            "{HEADER}rules:\n- level: Loud\n  nonResourceURLs: [api]\n- level: None\n  resources: [{{resourceNames: [x]}}]\n"
        );
        let err = parse(&text).unwrap_err();
        let paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "rules[0].level",
                "rules[0].nonResourceURLs[0]",
                "rules[1].resources[0].resourceNames"
            ]
        );
        let lines: Vec<Option<u64>> = err.problems().iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![Some(4), Some(5), Some(7)]);
    }

    #[test]
    fn a_policy_without_rules_is_refused() {
        assert_eq!(
            error(&format!("{HEADER}rules: []\n")),
            "line 3, column 1: rules: the policy has no rules; the API server refuses to load it"
        );
        assert_eq!(
            error(HEADER),
            "rules: the policy has no rules; the API server refuses to load it"
        );
    }

    #[test]
    fn api_version_and_kind_are_required() {
        assert_eq!(
            error("kind: Policy\nrules:\n- level: None\n"),
            "apiVersion: missing; an audit policy needs apiVersion: audit.k8s.io/v1"
        );
        assert_eq!(
            error("apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: None\n"),
            "line 1, column 13: apiVersion: \"audit.k8s.io/v1beta1\" is not supported; the API server reads audit policies only as audit.k8s.io/v1"
        );
        assert_eq!(
            error("apiVersion: audit.k8s.io/v1\nrules:\n- level: None\n"),
            "kind: missing; an audit policy needs kind: Policy"
        );
        let wrong_kind =
            error("apiVersion: audit.k8s.io/v1\nkind: AuditPolicy\nrules:\n- level: None\n");
        assert_eq!(
            wrong_kind,
            "line 2, column 7: kind: \"AuditPolicy\" is not an audit policy; expected kind: Policy"
        );
        assert!(matches!(
            parse("kind: Policy\n"),
            Err(PolicyError::NotAPolicy(_))
        ));
    }
}
