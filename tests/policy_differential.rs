//! The audit policy evaluator against the real API server. Three hand-written policies that
//! together use every rule field, then policies generated from a fixed seed: many rules
//! each (users, groups, verbs, resources with groups, subresources, `*` forms and names,
//! namespaces with `""`, non-resource URLs with prefixes, omitStages at both levels), and
//! some mutated into what the API server may refuse (bad levels, stages, URLs, groups,
//! resourceNames without resources, non-resource URLs mixed with resources, unknown and
//! duplicate fields, no rules, another apiVersion). For each policy a bed is started with
//! it: whether the API server starts must equal whether the evaluator accepts the policy,
//! and when both do, every request below is sent by four callers (the decoy's legacy token,
//! another service account's bound token, the admin in system:masters, the operator in
//! platform-operators) and the level and stages the evaluator predicts must equal what the
//! real audit log shows.
//!
//! `HONEYTOKEN_DIFFERENTIAL_SEED` and `HONEYTOKEN_DIFFERENTIAL_POLICIES` choose other
//! generated policies (a failure prints the seed and the policy text to replay it).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use kubectl_honeytoken::audit::LogFollower;
use kubectl_honeytoken::audit::policy::{self, Level, Stage, Target};

const SECRET: &str = "tiller-token-diff1";
const DECOY: &str = "system:serviceaccount:kube-system:tiller";

/// Requests covering resource and non-resource paths, verbs, namespaces (and cluster
/// scope), subresources, names and API groups.
struct Probe {
    id: &'static str,
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    verb: &'static str,
    target: Target,
    long_running: bool,
}

fn resource(group: &str, resource: &str, subresource: &str, namespace: &str, name: &str) -> Target {
    Target::Resource {
        api_group: group.into(),
        resource: resource.into(),
        subresource: subresource.into(),
        namespace: namespace.into(),
        name: name.into(),
    }
}

fn non_resource(path: &str) -> Target {
    Target::NonResource { path: path.into() }
}

fn probes() -> Vec<Probe> {
    let probe = |id, method, path, verb, target| Probe {
        id,
        method,
        path,
        body: None,
        verb,
        target,
        long_running: false,
    };
    vec![
        probe("api", "GET", "/api", "get", non_resource("/api")),
        probe("apis", "GET", "/apis", "get", non_resource("/apis")),
        probe(
            "version",
            "GET",
            "/version",
            "get",
            non_resource("/version"),
        ),
        probe(
            "healthz",
            "GET",
            "/healthz",
            "get",
            non_resource("/healthz"),
        ),
        probe(
            "list-secrets-ns",
            "GET",
            "/api/v1/namespaces/kube-system/secrets",
            "list",
            resource("", "secrets", "", "kube-system", ""),
        ),
        probe(
            "get-secret-named",
            "GET",
            "/api/v1/namespaces/kube-system/secrets/tiller-token-diff1",
            "get",
            resource("", "secrets", "", "kube-system", SECRET),
        ),
        probe(
            "get-secret-other",
            "GET",
            "/api/v1/namespaces/kube-system/secrets/other",
            "get",
            resource("", "secrets", "", "kube-system", "other"),
        ),
        probe(
            "list-secrets-all",
            "GET",
            "/api/v1/secrets",
            "list",
            resource("", "secrets", "", "", ""),
        ),
        probe(
            "list-configmaps-default",
            "GET",
            "/api/v1/namespaces/default/configmaps",
            "list",
            resource("", "configmaps", "", "default", ""),
        ),
        // A namespace's own path carries its name as the namespace too (requestinfo.go).
        probe(
            "get-namespace",
            "GET",
            "/api/v1/namespaces/kube-system",
            "get",
            resource("", "namespaces", "", "kube-system", "kube-system"),
        ),
        probe(
            "list-nodes",
            "GET",
            "/api/v1/nodes",
            "list",
            resource("", "nodes", "", "", ""),
        ),
        Probe {
            id: "pod-log",
            method: "GET",
            path: "/api/v1/namespaces/kube-system/pods/nope/log",
            body: None,
            verb: "get",
            target: resource("", "pods", "log", "kube-system", "nope"),
            long_running: true,
        },
        probe(
            "list-roles",
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/roles",
            "list",
            resource("rbac.authorization.k8s.io", "roles", "", "kube-system", ""),
        ),
        Probe {
            id: "whoami",
            method: "POST",
            path: "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            body: Some(r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#),
            verb: "create",
            target: resource("authentication.k8s.io", "selfsubjectreviews", "", "", ""),
            long_running: false,
        },
        Probe {
            id: "rules-review",
            method: "POST",
            path: "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
            body: Some(
                r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectRulesReview","spec":{"namespace":"kube-system"}}"#,
            ),
            verb: "create",
            target: resource(
                "authorization.k8s.io",
                "selfsubjectrulesreviews",
                "",
                "",
                "",
            ),
            long_running: false,
        },
        Probe {
            id: "sa-token",
            method: "POST",
            path: "/api/v1/namespaces/kube-system/serviceaccounts/tiller/token",
            body: Some(
                r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":600}}"#,
            ),
            verb: "create",
            target: resource("", "serviceaccounts", "token", "kube-system", "tiller"),
            long_running: false,
        },
        Probe {
            id: "watch-secrets",
            method: "GET",
            path: "/api/v1/namespaces/kube-system/secrets?watch=true&timeoutSeconds=1",
            body: None,
            verb: "watch",
            target: resource("", "secrets", "", "kube-system", ""),
            long_running: true,
        },
        probe("api-v1", "GET", "/api/v1", "get", non_resource("/api/v1")),
        probe(
            "rbac-discovery",
            "GET",
            "/apis/rbac.authorization.k8s.io/v1",
            "get",
            non_resource("/apis/rbac.authorization.k8s.io/v1"),
        ),
        probe("livez", "GET", "/livez", "get", non_resource("/livez")),
        probe(
            "list-accounts-all",
            "GET",
            "/api/v1/serviceaccounts",
            "list",
            resource("", "serviceaccounts", "", "", ""),
        ),
        probe(
            "delete-configmap",
            "DELETE",
            "/api/v1/namespaces/default/configmaps/nope",
            "delete",
            resource("", "configmaps", "", "default", "nope"),
        ),
        probe(
            "deletecollection-configmaps",
            "DELETE",
            "/api/v1/namespaces/nothing-here/configmaps",
            "deletecollection",
            resource("", "configmaps", "", "nothing-here", ""),
        ),
        Probe {
            id: "patch-secret",
            method: "PATCH",
            path: "/api/v1/namespaces/kube-system/secrets/tiller-token-diff1",
            body: Some("{}"),
            verb: "patch",
            target: resource("", "secrets", "", "kube-system", SECRET),
            long_running: false,
        },
    ]
}

/// Policies that together use every rule field; several cases per policy keep the number
/// of control-plane starts small.
fn policies() -> Vec<(&'static str, String)> {
    vec![
        (
            "users-nonresource-omitstages",
            format!(
                r#"apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    users: ["{DECOY}"]
    verbs: ["watch"]
  - level: Request
    users: ["{DECOY}"]
    resources:
      - group: ""
        resources: ["secrets"]
    namespaces: ["kube-system"]
  - level: None
    nonResourceURLs: ["/version", "/healthz*"]
  - level: RequestResponse
    userGroups: ["system:masters"]
    nonResourceURLs: ["/api"]
  - level: Metadata
    omitStages: ["ResponseStarted"]
"#
            ),
        ),
        (
            "groups-resources-names",
            format!(
                r#"apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: None
    userGroups: ["system:serviceaccounts:kube-system"]
    resources:
      - group: ""
        resources: ["pods/log", "configmaps"]
  - level: RequestResponse
    resources:
      - group: authentication.k8s.io
        resources: ["*"]
  - level: Request
    resources:
      - group: ""
        resources: ["secrets"]
        resourceNames: ["{SECRET}"]
  - level: Metadata
    resources:
      - group: ""
        resources: ["*/token", "namespaces"]
  - level: None
    namespaces: [""]
  - level: Metadata
    omitStages: ["RequestReceived"]
"#
            ),
        ),
        (
            "verbs-namespaces-groups-default",
            r#"apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    verbs: ["get"]
    namespaces: ["kube-system"]
    omitStages: ["ResponseComplete"]
  - level: None
    resources:
      - group: rbac.authorization.k8s.io
  - level: RequestResponse
    verbs: ["create"]
    resources:
      - group: authorization.k8s.io
        resources: ["selfsubjectrulesreviews"]
  - level: Request
    nonResourceURLs: ["*"]
  - level: Metadata
    resources:
      - group: ""
        resources: ["pods/*", "secrets"]
    namespaces: ["kube-system"]
"#
            .to_string(),
        ),
    ]
}

async fn prepare_decoy(admin: &Client) -> String {
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), "kube-system");
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), "kube-system");
    accounts
        .create(
            &PostParams::default(),
            &ServiceAccount {
                metadata: ObjectMeta {
                    name: Some("tiller".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .expect("create the service account");
    secrets
        .create(
            &PostParams::default(),
            &Secret {
                metadata: ObjectMeta {
                    name: Some(SECRET.into()),
                    annotations: Some(BTreeMap::from([(
                        "kubernetes.io/service-account.name".to_string(),
                        "tiller".to_string(),
                    )])),
                    ..Default::default()
                },
                type_: Some("kubernetes.io/service-account-token".into()),
                ..Default::default()
            },
        )
        .await
        .expect("create the token Secret");
    support::eventually(Duration::from_secs(30), || async {
        let secret = secrets.get(SECRET).await.ok()?;
        Some(String::from_utf8(secret.data?.get("token")?.0.clone()).unwrap())
    })
    .await
    .expect("the token controller did not fill the token within 30s")
}

async fn send(client: &Client, probe: &Probe, agent: &str) {
    let builder = http::Request::builder()
        .method(probe.method)
        .uri(probe.path)
        .header(http::header::USER_AGENT, agent)
        .header(http::header::ACCEPT, "application/json");
    let request = match probe.body {
        Some(body) => builder
            .header(
                http::header::CONTENT_TYPE,
                if probe.method == "PATCH" {
                    "application/merge-patch+json"
                } else {
                    "application/json"
                },
            )
            .body(kube::client::Body::from(body.as_bytes().to_vec())),
        None => builder.body(kube::client::Body::empty()),
    }
    .unwrap();
    let response = client
        .send(request)
        .await
        .expect("the request reached the API server");
    // Read the whole answer so a watch runs to its timeout.
    let _ = http_body_util::BodyExt::collect(response.into_body()).await;
}

#[derive(Debug, PartialEq, Eq)]
struct Logged {
    level: Level,
    stages: BTreeSet<Stage>,
}

fn parse_level(text: &str) -> Level {
    serde_json::from_value(serde_json::Value::String(text.into())).expect("a known level")
}

fn parse_stage(text: &str) -> Stage {
    serde_json::from_value(serde_json::Value::String(text.into())).expect("a known stage")
}

/// splitmix64: a small PRNG, so the generated policies are the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// One to `most` distinct items, in a random order.
    fn some<'a>(&mut self, items: &[&'a str], most: usize) -> Vec<&'a str> {
        let mut pool = items.to_vec();
        let count = 1 + self.below(most.min(pool.len()));
        (0..count)
            .map(|_| pool.remove(self.below(pool.len())))
            .collect()
    }
}

const BUILDER: &str = "system:serviceaccount:default:builder";
const USERS: &[&str] = &[DECOY, BUILDER, "admin", "operator", "someone-else"];
const GROUPS: &[&str] = &[
    "system:masters",
    "system:serviceaccounts",
    "system:serviceaccounts:kube-system",
    "system:serviceaccounts:default",
    "system:authenticated",
    "platform-operators",
    "system:unauthenticated",
];
const VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "patch",
    "delete",
    "deletecollection",
    "update",
];
const API_GROUPS: &[&str] = &[
    "",
    "",
    "*",
    "rbac.authorization.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "apps",
];
const RESOURCES: &[&str] = &[
    "secrets",
    "configmaps",
    "serviceaccounts",
    "serviceaccounts/token",
    "namespaces",
    "nodes",
    "pods",
    "pods/log",
    "pods/*",
    "*/token",
    "*/log",
    "*",
    "roles",
    "selfsubjectreviews",
    "selfsubjectrulesreviews",
];
const NAMES: &[&str] = &[SECRET, "other", "kube-system", "tiller", "nope"];
const NAMESPACES: &[&str] = &["kube-system", "default", "", "nothing-here"];
const URLS: &[&str] = &[
    "/api",
    "/api/*",
    "/api*",
    "/apis",
    "/apis/*",
    "/apis/rbac.authorization.k8s.io/*",
    "/api/v1",
    "/version",
    "/healthz",
    "/healthz*",
    "/livez",
    "/ap*",
    "*",
];
const LEVELS: &[&str] = &["None", "Metadata", "Request", "RequestResponse"];
const STAGES: &[&str] = &[
    "RequestReceived",
    "ResponseStarted",
    "ResponseComplete",
    "Panic",
];
/// A request the first rule always logs: once its event is in the log, so are the events
/// of every request sent before it.
const MARKER_PATH: &str = "/differential-end";
const MARKER_AGENT: &str = "differential-end";

fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|item| serde_json::to_string(item).unwrap())
        .collect();
    format!("[{}]", quoted.join(", "))
}

/// The lines of one generated rule (each starting with two spaces).
fn generated_rule(rng: &mut Rng) -> Vec<String> {
    let mut lines = vec![format!("  - level: {}", rng.pick(LEVELS))];
    if rng.chance(30) {
        lines.push(format!("    users: {}", list(&rng.some(USERS, 2))));
    }
    if rng.chance(30) {
        lines.push(format!("    userGroups: {}", list(&rng.some(GROUPS, 2))));
    }
    if rng.chance(35) {
        lines.push(format!("    verbs: {}", list(&rng.some(VERBS, 3))));
    }
    match rng.below(10) {
        0..=4 => {
            if rng.chance(40) {
                lines.push(format!(
                    "    namespaces: {}",
                    list(&rng.some(NAMESPACES, 2))
                ));
            }
            if rng.chance(85) {
                lines.push("    resources:".to_string());
                for _ in 0..1 + rng.below(2) {
                    lines.push(format!("      - group: {:?}", rng.pick(API_GROUPS)));
                    if rng.chance(85) {
                        lines.push(format!(
                            "        resources: {}",
                            list(&rng.some(RESOURCES, 3))
                        ));
                        if rng.chance(25) {
                            lines.push(format!(
                                "        resourceNames: {}",
                                list(&rng.some(NAMES, 2))
                            ));
                        }
                    }
                }
            }
        }
        5..=7 => lines.push(format!("    nonResourceURLs: {}", list(&rng.some(URLS, 3)))),
        _ => {}
    }
    if rng.chance(20) {
        lines.push(format!("    omitStages: {}", list(&rng.some(STAGES, 2))));
    }
    lines
}

/// Changes a generated rule (or the policy's head) toward what the API server may refuse;
/// returns what was done. A key added to a rule that has it already makes a duplicate key,
/// which is one more case.
fn mutate(kind: usize, rule: &mut Vec<String>, head: &mut Vec<String>) -> &'static str {
    let mut add = |line: &str| rule.push(format!("    {line}"));
    match kind {
        0 => {
            rule[0] = "  - level: Everything".into();
            "unknown level"
        }
        1 => {
            rule[0] = "  - level: metadata".into();
            "level in lower case"
        }
        2 => {
            rule[0] = "  - omitStages: []".into();
            "no level"
        }
        3 => {
            add(r#"nonResourceURLs: ["api"]"#);
            "URL without a slash"
        }
        4 => {
            add(r#"nonResourceURLs: ["/a*i"]"#);
            "star inside a URL"
        }
        5 => {
            add(r#"nonResourceURLs: [""]"#);
            "empty URL"
        }
        6 => {
            add(r#"nonResourceURLs: ["/api"]"#);
            add(r#"resources: [{group: ""}]"#);
            "URLs with resources"
        }
        7 => {
            add(r#"nonResourceURLs: ["/api"]"#);
            add(r#"namespaces: ["default"]"#);
            "URLs with namespaces"
        }
        8 => {
            add(r#"resources: [{group: "rbac.authorization.k8s.io/v1"}]"#);
            "group with a version"
        }
        9 => {
            add(r#"resources: [{group: "RBAC.authorization.k8s.io", resources: ["roles"]}]"#);
            "group in capitals"
        }
        10 => {
            add(&format!(
                r#"resources: [{{group: "", resourceNames: [{SECRET:?}]}}]"#
            ));
            "resourceNames without resources"
        }
        11 => {
            add(r#"omitStages: ["ResponseEnded"]"#);
            "unknown stage"
        }
        12 => {
            add(r#"verb: ["get"]"#);
            "unknown field"
        }
        13 => {
            head[0] = "apiVersion: audit.k8s.io/v1beta1".into();
            "another apiVersion"
        }
        _ => {
            head.truncate(head.len() - 4);
            "no rules"
        }
    }
}

/// A generated policy, and whether it was mutated toward what the API server may refuse.
fn generated_policy(rng: &mut Rng) -> (String, Option<&'static str>) {
    let mut head = vec![
        "apiVersion: audit.k8s.io/v1".to_string(),
        "kind: Policy".to_string(),
    ];
    if rng.chance(40) {
        // Never both stages a short request has, or the marker could not be logged.
        let stages: Vec<&str> = rng
            .some(STAGES, 2)
            .into_iter()
            .filter(|s| *s != "ResponseComplete")
            .collect();
        if !stages.is_empty() {
            head.push(format!("omitStages: {}", list(&stages)));
        }
    }
    if rng.chance(20) {
        head.push("omitManagedFields: true".to_string());
    }
    head.push("rules:".to_string());
    head.push("  - level: Metadata".to_string());
    head.push("    users: [\"admin\"]".to_string());
    head.push(format!("    nonResourceURLs: [{MARKER_PATH:?}]"));
    let mut rules: Vec<Vec<String>> = (0..6 + rng.below(8)).map(|_| generated_rule(rng)).collect();
    if rng.chance(50) {
        rules.push(vec!["  - level: Metadata".to_string()]);
    }

    let mut mutation = None;
    if rng.chance(50) {
        let target = rng.below(rules.len());
        let name = mutate(rng.below(15), &mut rules[target], &mut head);
        mutation = Some(name);
        if name == "no rules" {
            head.push("rules: []".to_string());
            rules.clear();
        }
    }
    let mut text = head.join("\n");
    text.push('\n');
    for rule in rules {
        text.push_str(&rule.join("\n"));
        text.push('\n');
    }
    (text, mutation)
}

/// Who sends the requests: name, user name and groups as the API server sees them.
struct Caller {
    who: &'static str,
    client: Client,
    user: &'static str,
    groups: &'static [&'static str],
}

async fn callers(cluster: &support::Cluster) -> Vec<Caller> {
    let admin = cluster.client("admin").await;
    let decoy_token = prepare_decoy(&admin).await;
    let builder_token = bound_token(&admin, "default", "builder").await;
    vec![
        Caller {
            who: "decoy",
            client: cluster.client_with_token(&decoy_token).await,
            user: DECOY,
            groups: &[
                "system:serviceaccounts",
                "system:serviceaccounts:kube-system",
                "system:authenticated",
            ],
        },
        Caller {
            who: "builder",
            client: cluster.client_with_token(&builder_token).await,
            user: BUILDER,
            groups: &[
                "system:serviceaccounts",
                "system:serviceaccounts:default",
                "system:authenticated",
            ],
        },
        Caller {
            who: "admin",
            client: admin,
            user: "admin",
            groups: &["system:masters", "system:authenticated"],
        },
        Caller {
            who: "operator",
            client: cluster.client("operator").await,
            user: "operator",
            groups: &["platform-operators", "system:authenticated"],
        },
    ]
}

/// A service account and a bound token for it (TokenRequest).
async fn bound_token(admin: &Client, namespace: &str, name: &str) -> String {
    use k8s_openapi::api::authentication::v1::TokenRequest;
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), namespace);
    accounts
        .create(
            &PostParams::default(),
            &ServiceAccount {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .expect("create the service account");
    let request: TokenRequest = serde_json::from_value(serde_json::json!({
        "spec": {"expirationSeconds": 3600}
    }))
    .unwrap();
    accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .expect("a bound token")
        .status
        .expect("a token in the status")
        .token
        .expect("the token")
}

/// Compares the evaluator with one bed running `text`; returns the mismatches and the
/// number of comparisons made.
async fn compare(bed_name: &str, name: &str, text: &str) -> (Vec<String>, usize) {
    let evaluated = policy::parse(text);
    let dir = tempfile::tempdir().unwrap();
    let policy_file = dir.path().join("policy.yaml");
    std::fs::write(&policy_file, text).unwrap();
    let started = support::ExtraBed::try_start(
        bed_name,
        &[("HONEYTOKEN_AUDIT_POLICY", policy_file.to_str().unwrap())],
    );
    let (parsed, bed) = match (evaluated, started) {
        (Ok(parsed), Ok(bed)) => (parsed, bed),
        (Err(_), Err(why)) => {
            // Refused by both; make sure the API server refused the policy, not something
            // else.
            if why.contains("audit policy") {
                return (Vec::new(), 1);
            }
            return (
                vec![format!(
                    "{name}: the bed did not start, and not because of its policy: {why}"
                )],
                1,
            );
        }
        (Ok(_), Err(why)) => {
            return (
                vec![format!(
                    "{name}: the evaluator accepts the policy, the API server does not start \
                     with it: {why}"
                )],
                1,
            );
        }
        (Err(e), Ok(_)) => {
            return (
                vec![format!(
                    "{name}: the API server starts with the policy, the evaluator refuses it: {e}"
                )],
                1,
            );
        }
    };
    let marker_request = policy::Request {
        user: "admin".to_string(),
        groups: vec!["system:masters".into(), "system:authenticated".into()],
        verb: "get".to_string(),
        target: non_resource(MARKER_PATH),
    };
    if parsed
        .evaluate(&marker_request)
        .logged_stages(false)
        .is_empty()
    {
        return (
            vec![format!(
                "{name}: the policy does not log {MARKER_PATH} for the admin, which the \
                 comparison waits for"
            )],
            0,
        );
    }
    let cluster = bed.cluster();
    let callers = callers(&cluster).await;
    let mut log = LogFollower::from_end(&bed.audit_log).unwrap();

    let mut sent = tokio::task::JoinSet::new();
    for caller in &callers {
        for probe in probes() {
            let client = caller.client.clone();
            let agent = format!("differential/{}/{}", caller.who, probe.id);
            sent.spawn(async move { send(&client, &probe, &agent).await });
        }
    }
    while let Some(done) = sent.join_next().await {
        done.expect("a request task");
    }
    let marker = Probe {
        id: "marker",
        method: "GET",
        path: MARKER_PATH,
        body: None,
        verb: "get",
        target: non_resource(MARKER_PATH),
        long_running: false,
    };
    send(&callers[2].client, &marker, MARKER_AGENT).await;

    let mut predictions: BTreeMap<String, Option<Logged>> = BTreeMap::new();
    for caller in &callers {
        for probe in probes() {
            let request = policy::Request {
                user: caller.user.to_string(),
                groups: caller.groups.iter().map(|g| g.to_string()).collect(),
                verb: probe.verb.to_string(),
                target: probe.target.clone(),
            };
            let decision = parsed.evaluate(&request);
            let long_running = policy::is_long_running(&request);
            assert_eq!(
                long_running, probe.long_running,
                "{}: long-running",
                probe.id
            );
            let stages: BTreeSet<Stage> =
                decision.logged_stages(long_running).into_iter().collect();
            let predicted = (!stages.is_empty()).then_some(Logged {
                level: decision.level,
                stages,
            });
            predictions.insert(format!("{}/{}", caller.who, probe.id), predicted);
        }
    }

    // Wait (bounded) for the marker and for every predicted event; the log backend writes
    // each event before its response, so what is missing then was never logged.
    let mut observed: BTreeMap<String, Logged> = BTreeMap::new();
    let mut marker_seen = false;
    let everything_in = |observed: &BTreeMap<String, Logged>| {
        predictions.iter().all(|(key, predicted)| match predicted {
            None => true,
            Some(p) => observed
                .get(key)
                .is_some_and(|o| p.stages.is_subset(&o.stages)),
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        for event in log.read_new().unwrap() {
            if event.user_agent == MARKER_AGENT {
                marker_seen = true;
            } else if let Some(key) = event.user_agent.strip_prefix("differential/") {
                let entry = observed.entry(key.to_string()).or_insert(Logged {
                    level: parse_level(&event.level),
                    stages: BTreeSet::new(),
                });
                entry.stages.insert(parse_stage(&event.stage));
            }
        }
        if (marker_seen && everything_in(&observed)) || std::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut mismatches = Vec::new();
    if !marker_seen {
        mismatches.push(format!(
            "{name}: the marker request was not logged within 10s"
        ));
    }
    let compared = predictions.len();
    for (key, predicted) in predictions {
        let actual = observed.remove(&key);
        if predicted != actual {
            mismatches.push(format!(
                "{name}: {key}: predicted {predicted:?}, the API server logged {actual:?}"
            ));
        }
    }
    drop(bed);
    (mismatches, compared)
}

#[tokio::test]
async fn the_evaluator_predicts_what_the_api_server_logs() {
    support::require_bed();
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for (name, text) in policies() {
        policy::parse(&text).unwrap_or_else(|e| panic!("policy {name}: {e}"));
        let (found, count) = compare("differential-written", name, &text).await;
        compared += count;
        mismatches.extend(found);
    }
    assert!(compared >= 100, "only {compared} pairs compared");
    assert!(
        mismatches.is_empty(),
        "{} of {compared} differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[tokio::test]
async fn the_evaluator_agrees_with_the_api_server_on_generated_policies() {
    support::require_bed();
    let seed: u64 = std::env::var("HONEYTOKEN_DIFFERENTIAL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2026);
    let count: usize = std::env::var("HONEYTOKEN_DIFFERENTIAL_POLICIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut rng = Rng(seed);
    let started = std::time::Instant::now();
    let (mut compared, mut refused, mut rules) = (0, 0, 0);
    let mut failures = Vec::new();
    for index in 0..count {
        let (text, mutation) = generated_policy(&mut rng);
        let name = format!("policy {index} of seed {seed}");
        if policy::parse(&text).is_err() {
            refused += 1;
        } else {
            rules += policy::parse(&text).unwrap().rules().len();
        }
        let (found, pairs) = compare("differential-generated", &name, &text).await;
        compared += pairs;
        if !found.is_empty() {
            failures.push(format!(
                "{}\n(mutation: {})\n--- the policy:\n{text}---",
                found.join("\n"),
                mutation.unwrap_or("none")
            ));
        }
    }
    eprintln!(
        "{count} generated policies (seed {seed}): {refused} refused by the evaluator, \
         {rules} rules in the others, {compared} comparisons, in {:.0?}",
        started.elapsed()
    );
    assert!(
        refused > 0 && refused < count,
        "the seed gave no mix of accepted and refused policies"
    );
    assert!(
        failures.is_empty(),
        "{} of {count} generated policies differ:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
