//! Which rule applies to a request and what it logs (`checker.go`, `audit.go`).

use serde::Serialize;

use super::{Level, Policy, Request, Rule, Stage, Target};

impl Rule {
    /// Whether the rule applies to `request` (`ruleMatches` in checker.go).
    pub fn matches(&self, request: &Request) -> bool {
        if !self.users.is_empty() && !self.users.contains(&request.user) {
            return false;
        }
        if !self.user_groups.is_empty()
            && !request.groups.iter().any(|g| self.user_groups.contains(g))
        {
            return false;
        }
        if !self.verbs.is_empty() && !self.verbs.contains(&request.verb) {
            return false;
        }
        // Resource selectors win over nonResourceURLs; a rule with neither matches both
        // kinds of request.
        if !self.namespaces.is_empty() || !self.resources.is_empty() {
            return self.matches_resource(request);
        }
        if !self.non_resource_urls.is_empty() {
            return self.matches_non_resource(request);
        }
        true
    }

    /// `ruleMatchesResource` in checker.go.
    fn matches_resource(&self, request: &Request) -> bool {
        let Target::Resource {
            api_group,
            resource,
            subresource,
            namespace,
            name,
        } = &request.target
        else {
            return false;
        };
        // Cluster-scoped requests have the namespace "".
        if !self.namespaces.is_empty() && !self.namespaces.contains(namespace) {
            return false;
        }
        if self.resources.is_empty() {
            return true;
        }
        let combined = if subresource.is_empty() {
            resource.clone()
        } else {
            format!("{resource}/{subresource}")
        };
        for gr in &self.resources {
            if gr.group != *api_group && gr.group != "*" {
                continue;
            }
            if gr.resources.is_empty() {
                return true;
            }
            if !gr.resource_names.is_empty() && !gr.resource_names.contains(name) {
                continue;
            }
            for res in &gr.resources {
                if *res == combined || res == "*" {
                    return true;
                }
                if !subresource.is_empty() && res.strip_prefix("*/") == Some(subresource.as_str()) {
                    return true;
                }
                // checker.go does not require a subresource here: `pods/*` matches `pods` too.
                if res.strip_suffix("/*") == Some(resource.as_str()) {
                    return true;
                }
            }
        }
        false
    }

    /// `ruleMatchesNonResource` in checker.go.
    fn matches_non_resource(&self, request: &Request) -> bool {
        let Target::NonResource { path } = &request.target else {
            return false;
        };
        self.non_resource_urls
            .iter()
            .any(|spec| path_matches(path, spec))
    }
}

/// `pathMatches` in checker.go: `*`, an exact path, or a prefix when the spec ends in `*`.
fn path_matches(path: &str, spec: &str) -> bool {
    if spec == "*" || spec == path {
        return true;
    }
    spec.ends_with('*') && path.starts_with(spec.trim_end_matches('*'))
}

/// Whether kube-apiserver treats `request` as long-running (and so emits ResponseStarted):
/// the verbs `watch` and `proxy`, the subresources `attach`, `exec`, `proxy`, `log` and
/// `portforward`, and non-resource paths under `/debug/pprof/`
/// (`BasicLongRunningRequestCheck` as configured in kube-apiserver; aggregated API
/// servers built on the generic server default to `watch` only).
pub fn is_long_running(request: &Request) -> bool {
    if request.verb == "watch" || request.verb == "proxy" {
        return true;
    }
    match &request.target {
        Target::Resource { subresource, .. } => {
            matches!(
                subresource.as_str(),
                "attach" | "exec" | "proxy" | "log" | "portforward"
            )
        }
        Target::NonResource { path } => path.starts_with("/debug/pprof/"),
    }
}

/// The outcome of evaluating a policy for one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub level: Level,
    /// Sorted, deduplicated, policy-wide stages included.
    pub omit_stages: Vec<Stage>,
    pub omit_managed_fields: bool,
    /// Index of the matching rule, `None` when no rule matched.
    pub rule: Option<usize>,
}

impl Decision {
    /// Stages that produce an audit event for this request when it completes (empty for
    /// level None): RequestReceived, ResponseStarted for long-running requests, and
    /// ResponseComplete, less the omitted ones. A request whose handler panics gets a
    /// Panic event instead of ResponseComplete; see [`Decision::logs_stage`].
    pub fn logged_stages(&self, long_running: bool) -> Vec<Stage> {
        let mut stages = vec![Stage::RequestReceived];
        if long_running {
            stages.push(Stage::ResponseStarted);
        }
        stages.push(Stage::ResponseComplete);
        stages.retain(|&s| self.logs_stage(s));
        stages
    }

    /// Whether an event is written when the request reaches `stage`.
    pub fn logs_stage(&self, stage: Stage) -> bool {
        self.level != Level::None && !self.omit_stages.contains(&stage)
    }
}

/// A parsed audit policy.
impl Policy {
    /// The audit configuration for `request` (`EvaluatePolicyRule` in checker.go): the
    /// first matching rule decides; without one the level is None and the policy-wide
    /// settings apply.
    pub fn evaluate(&self, request: &Request) -> Decision {
        for (index, rule) in self.rules.iter().enumerate() {
            if rule.matches(request) {
                let mut omit = self.omit_stages.clone();
                omit.extend(rule.omit_stages.iter().copied());
                return Decision {
                    level: rule.level,
                    omit_stages: sorted(omit),
                    omit_managed_fields: rule
                        .omit_managed_fields
                        .unwrap_or(self.omit_managed_fields),
                    rule: Some(index),
                };
            }
        }
        Decision {
            level: Level::None,
            omit_stages: self.omit_stages.clone(),
            omit_managed_fields: self.omit_managed_fields,
            rule: None,
        }
    }
}

pub(super) fn sorted(mut stages: Vec<Stage>) -> Vec<Stage> {
    stages.sort();
    stages.dedup();
    stages
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::policy::test_support::*;
    use crate::audit::policy::*;

    #[test]
    fn no_matching_rule_means_level_none_and_no_rule_index() {
        let p = policy("- level: Metadata\n  users: [bob]\n");
        let d = p.evaluate(&core("get", "pods"));
        assert_eq!(d.level, Level::None);
        assert_eq!(d.rule, None);
    }

    #[test]
    fn the_first_matching_rule_wins_over_later_more_specific_ones() {
        let p = policy(
            "- level: None\n  verbs: [get]\n\
             - level: RequestResponse\n  verbs: [get]\n  resources: [{resources: [pods]}]\n\
             - level: Metadata\n",
        );
        let get = p.evaluate(&core("get", "pods"));
        assert_eq!((get.level, get.rule), (Level::None, Some(0)));
        let list = p.evaluate(&core("list", "pods"));
        assert_eq!((list.level, list.rule), (Level::Metadata, Some(2)));
    }

    #[test]
    fn a_rule_without_selectors_matches_resource_and_non_resource_requests() {
        // checker.go: with neither resources/namespaces nor nonResourceURLs, ruleMatches is true.
        let p = policy("- level: Request\n");
        assert_eq!(level(&p, &core("delete", "secrets")), Level::Request);
        assert_eq!(level(&p, &get_path("/healthz")), Level::Request);
    }

    #[test]
    fn users_match_exact_names_only() {
        let p = policy("- level: Metadata\n  users: [\"system:serviceaccount:ns:sa\"]\n");
        let as_user = |u: &str| request(u, &[], "get", resource("", "pods", "", "ns", ""));
        assert_eq!(
            level(&p, &as_user("system:serviceaccount:ns:sa")),
            Level::Metadata
        );
        assert_eq!(
            level(&p, &as_user("system:serviceaccount:ns:sa2")),
            Level::None
        );
        assert_eq!(level(&p, &as_user("system:serviceaccount:ns")), Level::None);
        assert_eq!(
            level(&p, &as_user("System:ServiceAccount:ns:sa")),
            Level::None
        );
    }

    #[test]
    fn user_groups_match_when_any_request_group_is_listed() {
        let p = policy("- level: Metadata\n  userGroups: [\"system:masters\", admins]\n");
        let with =
            |groups: &[&str]| request("bob", groups, "get", resource("", "pods", "", "ns", ""));
        assert_eq!(
            level(&p, &with(&["system:authenticated", "admins"])),
            Level::Metadata
        );
        assert_eq!(level(&p, &with(&["system:authenticated"])), Level::None);
        assert_eq!(level(&p, &with(&[])), Level::None);
    }

    #[test]
    fn verbs_match_exact_verbs() {
        let p = policy("- level: Metadata\n  verbs: [get, list]\n");
        assert_eq!(level(&p, &core("list", "pods")), Level::Metadata);
        assert_eq!(level(&p, &core("watch", "pods")), Level::None);
        assert_eq!(level(&p, &core("deletecollection", "pods")), Level::None);
    }

    #[test]
    fn every_non_empty_selector_must_match() {
        let p = policy("- level: Request\n  users: [alice]\n  verbs: [delete]\n");
        assert_eq!(level(&p, &core("delete", "pods")), Level::Request);
        assert_eq!(level(&p, &core("get", "pods")), Level::None);
        let bob = request(
            "bob",
            &[],
            "delete",
            resource("", "pods", "", "default", ""),
        );
        assert_eq!(level(&p, &bob), Level::None);
    }

    #[test]
    fn a_plain_resource_does_not_match_its_subresources() {
        let p = policy("- level: Metadata\n  resources: [{resources: [pods]}]\n");
        assert_eq!(level(&p, &core("get", "pods")), Level::Metadata);
        assert_eq!(level(&p, &core("get", "pods/log")), Level::None);
        assert_eq!(level(&p, &core("create", "pods/exec")), Level::None);
    }

    #[test]
    fn a_subresource_form_matches_only_that_subresource() {
        let p = policy("- level: Metadata\n  resources: [{resources: [pods/log]}]\n");
        assert_eq!(level(&p, &core("get", "pods/log")), Level::Metadata);
        assert_eq!(level(&p, &core("get", "pods")), Level::None);
        assert_eq!(level(&p, &core("get", "pods/exec")), Level::None);
        assert_eq!(level(&p, &core("get", "nodes/log")), Level::None);
    }

    #[test]
    fn star_matches_every_resource_and_subresource_of_the_group() {
        let p = policy("- level: Metadata\n  resources: [{resources: [\"*\"]}]\n");
        assert_eq!(level(&p, &core("get", "secrets")), Level::Metadata);
        assert_eq!(level(&p, &core("create", "pods/exec")), Level::Metadata);
        // The group is still "" (core): apps is not matched.
        let deploy = request(
            "alice",
            &[],
            "get",
            resource("apps", "deployments", "", "default", ""),
        );
        assert_eq!(level(&p, &deploy), Level::None);
    }

    #[test]
    fn resource_slash_star_matches_the_resource_and_all_its_subresources() {
        let p = policy("- level: Metadata\n  resources: [{resources: [\"pods/*\"]}]\n");
        assert_eq!(level(&p, &core("create", "pods/exec")), Level::Metadata);
        assert_eq!(level(&p, &core("get", "pods/log")), Level::Metadata);
        // checker.go compares the resource with "pods" without requiring a subresource.
        assert_eq!(level(&p, &core("get", "pods")), Level::Metadata);
        assert_eq!(level(&p, &core("get", "secrets")), Level::None);
    }

    #[test]
    fn star_slash_subresource_matches_that_subresource_of_any_resource() {
        let p =
            policy("- level: Metadata\n  resources: [{group: \"*\", resources: [\"*/status\"]}]\n");
        assert_eq!(level(&p, &core("update", "pods/status")), Level::Metadata);
        let deploy_status = request(
            "alice",
            &[],
            "patch",
            resource("apps", "deployments", "status", "default", "web"),
        );
        assert_eq!(level(&p, &deploy_status), Level::Metadata);
        assert_eq!(level(&p, &core("get", "pods")), Level::None);
        assert_eq!(level(&p, &core("get", "pods/log")), Level::None);
    }

    #[test]
    fn star_slash_star_matches_nothing() {
        // None of checker.go's forms covers "*/*": it is neither "*", "*/<sub>" with sub "*",
        // nor "<res>/*" with res "*".
        let p = policy("- level: Metadata\n  resources: [{resources: [\"*/*\"]}]\n");
        assert_eq!(level(&p, &core("get", "pods")), Level::None);
        assert_eq!(level(&p, &core("get", "pods/log")), Level::None);
        // "*/" names an empty subresource, and checker.go only tries "*/<sub>" when the
        // request has a subresource.
        let empty_sub = policy("- level: Metadata\n  resources: [{resources: [\"*/\"]}]\n");
        assert_eq!(level(&empty_sub, &core("get", "pods")), Level::None);
    }

    #[test]
    fn group_selects_the_api_group_and_empty_means_core() {
        let p = policy(
            "- level: Request\n  resources: [{group: apps, resources: [deployments]}]\n\
             - level: Metadata\n  resources: [{resources: [deployments]}]\n",
        );
        let apps = request(
            "alice",
            &[],
            "get",
            resource("apps", "deployments", "", "default", ""),
        );
        let extensions = request(
            "alice",
            &[],
            "get",
            resource("extensions", "deployments", "", "default", ""),
        );
        assert_eq!(level(&p, &apps), Level::Request);
        // A missing group is "", the core group, which has no deployments.
        assert_eq!(level(&p, &extensions), Level::None);
        assert_eq!(level(&p, &core("get", "deployments")), Level::Metadata);
    }

    #[test]
    fn star_group_matches_every_group() {
        let p = policy("- level: Metadata\n  resources: [{group: \"*\", resources: [secrets]}]\n");
        assert_eq!(level(&p, &core("get", "secrets")), Level::Metadata);
        let other = request(
            "alice",
            &[],
            "get",
            resource("example.com", "secrets", "", "default", ""),
        );
        assert_eq!(level(&p, &other), Level::Metadata);
    }

    #[test]
    fn a_group_without_resources_matches_everything_in_the_group() {
        let p = policy("- level: Metadata\n  resources: [{group: rbac.authorization.k8s.io}]\n");
        let roles = request(
            "alice",
            &[],
            "create",
            resource("rbac.authorization.k8s.io", "roles", "", "default", ""),
        );
        let cluster_roles = request(
            "alice",
            &[],
            "escalate",
            resource("rbac.authorization.k8s.io", "clusterroles", "", "", "admin"),
        );
        assert_eq!(level(&p, &roles), Level::Metadata);
        assert_eq!(level(&p, &cluster_roles), Level::Metadata);
        assert_eq!(level(&p, &core("get", "pods")), Level::None);
    }

    #[test]
    fn resource_names_restrict_to_the_named_objects() {
        let p = policy(
            "- level: Metadata\n  resources: [{resources: [secrets], resourceNames: [decoy]}]\n",
        );
        let secret = |verb: &str, name: &str| {
            request(
                "alice",
                &[],
                verb,
                resource("", "secrets", "", "default", name),
            )
        };
        assert_eq!(level(&p, &secret("get", "decoy")), Level::Metadata);
        assert_eq!(level(&p, &secret("get", "other")), Level::None);
        // A list has no name, so it does not match a rule with resourceNames.
        assert_eq!(level(&p, &secret("list", "")), Level::None);
    }

    #[test]
    fn any_group_resources_entry_can_match() {
        let p = policy(
            "- level: Metadata\n  resources:\n  - group: apps\n    resources: [deployments]\n  - group: \"\"\n    resources: [configmaps]\n",
        );
        assert_eq!(level(&p, &core("get", "configmaps")), Level::Metadata);
        assert_eq!(level(&p, &core("get", "secrets")), Level::None);
    }

    #[test]
    fn namespaces_match_the_request_namespace() {
        let p = policy("- level: Metadata\n  namespaces: [kube-system]\n");
        let in_ns = |ns: &str| request("alice", &[], "get", resource("", "secrets", "", ns, ""));
        assert_eq!(level(&p, &in_ns("kube-system")), Level::Metadata);
        assert_eq!(level(&p, &in_ns("default")), Level::None);
        assert_eq!(level(&p, &in_ns("")), Level::None);
    }

    #[test]
    fn empty_namespace_matches_cluster_scoped_and_all_namespace_requests() {
        let p = policy("- level: Metadata\n  namespaces: [\"\"]\n");
        let nodes = request("alice", &[], "get", resource("", "nodes", "", "", "n1"));
        // `kubectl get secrets -A` is a request without a namespace.
        let all_secrets = request("alice", &[], "list", resource("", "secrets", "", "", ""));
        assert_eq!(level(&p, &nodes), Level::Metadata);
        assert_eq!(level(&p, &all_secrets), Level::Metadata);
        assert_eq!(level(&p, &core("get", "pods")), Level::None);
    }

    #[test]
    fn namespaces_and_resources_must_both_match() {
        let p = policy(
            "- level: Metadata\n  namespaces: [default]\n  resources: [{resources: [secrets]}]\n",
        );
        assert_eq!(level(&p, &core("get", "secrets")), Level::Metadata);
        assert_eq!(level(&p, &core("get", "configmaps")), Level::None);
        let elsewhere = request(
            "alice",
            &[],
            "get",
            resource("", "secrets", "", "kube-system", ""),
        );
        assert_eq!(level(&p, &elsewhere), Level::None);
    }

    #[test]
    fn resource_rules_never_match_non_resource_requests() {
        let p = policy(
            "- level: Metadata\n  namespaces: [\"\"]\n- level: Request\n  resources: [{group: \"*\"}]\n",
        );
        assert_eq!(level(&p, &get_path("/api")), Level::None);
    }

    #[test]
    fn non_resource_urls_match_exactly_without_a_star() {
        let p = policy("- level: Metadata\n  nonResourceURLs: [/version]\n");
        assert_eq!(level(&p, &get_path("/version")), Level::Metadata);
        assert_eq!(level(&p, &get_path("/version/")), Level::None);
        assert_eq!(level(&p, &get_path("/versions")), Level::None);
    }

    #[test]
    fn a_trailing_star_is_a_prefix_match() {
        let p = policy("- level: Metadata\n  nonResourceURLs: [\"/healthz*\", \"/api/*\"]\n");
        assert_eq!(level(&p, &get_path("/healthz")), Level::Metadata);
        assert_eq!(level(&p, &get_path("/healthz/etcd")), Level::Metadata);
        assert_eq!(level(&p, &get_path("/healthzfoo")), Level::Metadata);
        assert_eq!(level(&p, &get_path("/api/v1")), Level::Metadata);
        // "/api/*" needs the slash: "/api" itself is not under it.
        assert_eq!(level(&p, &get_path("/api")), Level::None);
        assert_eq!(level(&p, &get_path("/livez")), Level::None);
    }

    #[test]
    fn a_lone_star_matches_every_non_resource_url_but_no_resource() {
        let p = policy("- level: Metadata\n  nonResourceURLs: [\"*\"]\n");
        assert_eq!(level(&p, &get_path("/openapi/v3")), Level::Metadata);
        assert_eq!(level(&p, &core("get", "pods")), Level::None);
    }

    #[test]
    fn non_resource_rules_combine_with_verbs() {
        let p = policy("- level: Metadata\n  verbs: [post]\n  nonResourceURLs: [/apis]\n");
        let post = request("alice", &[], "post", non_resource("/apis"));
        assert_eq!(level(&p, &post), Level::Metadata);
        assert_eq!(level(&p, &get_path("/apis")), Level::None);
    }

    #[test]
    fn policy_wide_omit_stages_are_merged_sorted_and_deduplicated() {
        let text = format!(
            "{HEADER}omitStages: [ResponseStarted, RequestReceived]\nrules:\n- level: Metadata\n  omitStages: [Panic, RequestReceived]\n"
        );
        let d = parse(&text).unwrap().evaluate(&core("get", "pods"));
        assert_eq!(
            d.omit_stages,
            vec![Stage::RequestReceived, Stage::ResponseStarted, Stage::Panic]
        );
    }

    #[test]
    fn without_a_match_the_policy_wide_settings_apply() {
        let text = format!(
            "{HEADER}omitStages: [RequestReceived]\nomitManagedFields: true\nrules:\n- level: Metadata\n  users: [bob]\n  omitStages: [Panic]\n"
        );
        let d = parse(&text).unwrap().evaluate(&core("get", "pods"));
        assert_eq!(
            d,
            Decision {
                level: Level::None,
                omit_stages: vec![Stage::RequestReceived],
                omit_managed_fields: true,
                rule: None
            }
        );
    }

    #[test]
    fn a_rules_omit_managed_fields_overrides_the_policy_value_only_when_set() {
        let text = format!(
            "{HEADER}omitManagedFields: true\nrules:\n\
             - level: Request\n  verbs: [create]\n  omitManagedFields: false\n\
             - level: Request\n  verbs: [update]\n\
             - level: Request\n  verbs: [patch]\n  omitManagedFields: null\n"
        );
        let p = parse(&text).unwrap();
        assert!(!p.evaluate(&core("create", "pods")).omit_managed_fields);
        assert!(p.evaluate(&core("update", "pods")).omit_managed_fields);
        assert!(p.evaluate(&core("patch", "pods")).omit_managed_fields);
        let off = policy("- level: Request\n  omitManagedFields: true\n");
        assert!(!off.omit_managed_fields());
        assert!(off.evaluate(&core("create", "pods")).omit_managed_fields);
    }

    #[test]
    fn a_completed_request_logs_request_received_and_response_complete() {
        let d = policy("- level: Metadata\n").evaluate(&core("get", "secrets"));
        assert_eq!(
            d.logged_stages(false),
            vec![Stage::RequestReceived, Stage::ResponseComplete]
        );
    }

    #[test]
    fn a_long_running_request_also_logs_response_started() {
        let d = policy("- level: Metadata\n").evaluate(&core("watch", "secrets"));
        assert_eq!(
            d.logged_stages(true),
            vec![
                Stage::RequestReceived,
                Stage::ResponseStarted,
                Stage::ResponseComplete
            ]
        );
    }

    #[test]
    fn omitted_stages_are_not_logged() {
        let d = policy("- level: Metadata\n  omitStages: [RequestReceived]\n")
            .evaluate(&core("watch", "secrets"));
        assert_eq!(
            d.logged_stages(true),
            vec![Stage::ResponseStarted, Stage::ResponseComplete]
        );
        assert_eq!(d.logged_stages(false), vec![Stage::ResponseComplete]);
        let all = policy("- level: Metadata\n  omitStages: [RequestReceived, ResponseStarted, ResponseComplete]\n")
            .evaluate(&core("get", "pods"));
        assert_eq!(all.logged_stages(true), Vec::<Stage>::new());
        // Only a panic would still be logged.
        assert!(all.logs_stage(Stage::Panic));
    }

    #[test]
    fn level_none_logs_no_stage() {
        let d = policy("- level: None\n").evaluate(&core("watch", "secrets"));
        assert_eq!(d.logged_stages(true), Vec::<Stage>::new());
        assert_eq!(d.logged_stages(false), Vec::<Stage>::new());
        assert!(!d.logs_stage(Stage::Panic));
    }

    #[test]
    fn long_running_requests_follow_kube_apiserver() {
        assert!(is_long_running(&core("watch", "secrets")));
        assert!(is_long_running(&core("proxy", "services")));
        for sub in ["exec", "attach", "log", "portforward", "proxy"] {
            assert!(
                is_long_running(&core("get", &format!("pods/{sub}"))),
                "{sub}"
            );
        }
        assert!(!is_long_running(&core("get", "pods")));
        assert!(!is_long_running(&core("list", "secrets")));
        assert!(!is_long_running(&core("update", "pods/status")));
        assert!(is_long_running(&get_path("/debug/pprof/profile")));
        assert!(!is_long_running(&get_path("/debug/pprof")));
        assert!(!is_long_running(&get_path("/healthz")));
    }

    #[test]
    fn a_decision_serializes_with_api_names() {
        let d = policy("- level: Request\n  omitStages: [RequestReceived]\n")
            .evaluate(&core("get", "pods"));
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            serde_json::json!({"level": "Request", "omit_stages": ["RequestReceived"], "omit_managed_fields": false, "rule": 0})
        );
    }

    #[test]
    fn a_policy_built_in_code_evaluates_like_a_parsed_one() {
        let mut drop_decoy = Rule::new(Level::None);
        drop_decoy.users = vec!["decoy".into()];
        let p = Policy::new(
            vec![drop_decoy, Rule::new(Level::Metadata)],
            vec![Stage::Panic, Stage::RequestReceived],
            false,
        );
        assert_eq!(p.omit_stages(), &[Stage::RequestReceived, Stage::Panic]);
        let decoy = request(
            "decoy",
            &[],
            "get",
            resource("", "secrets", "", "default", ""),
        );
        assert_eq!(p.evaluate(&decoy).rule, Some(0));
        let d = p.evaluate(&core("get", "secrets"));
        assert_eq!((d.level, d.rule), (Level::Metadata, Some(1)));
        assert_eq!(describe_rule(&p, 0), "rule 0 (level None, users [decoy])");
    }
}
