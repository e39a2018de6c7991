//! The audit policy evaluator against the real API server: for each policy below, a bed
//! runs with it, every request is sent as the decoy and as the admin, and the level and
//! stages the evaluator predicts must equal what the real audit log shows.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use kubectl_honeytoken::audit::LogFollower;
use kubectl_honeytoken::policy::{self, Level, Stage, Target};

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
            .header(http::header::CONTENT_TYPE, "application/json")
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

#[tokio::test]
async fn the_evaluator_predicts_what_the_api_server_logs() {
    support::require_bed();
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for (name, text) in policies() {
        let parsed = policy::parse(&text).unwrap_or_else(|e| panic!("policy {name}: {e}"));
        let dir = tempfile::tempdir().unwrap();
        let policy_file = dir.path().join("policy.yaml");
        std::fs::write(&policy_file, &text).unwrap();
        let bed = support::ExtraBed::start(
            &format!("differential-{name}"),
            &[("HONEYTOKEN_AUDIT_POLICY", policy_file.to_str().unwrap())],
        );
        let cluster = bed.cluster();
        let admin = cluster.client("admin").await;
        let token = prepare_decoy(&admin).await;
        let as_decoy = cluster.client_with_token(&token).await;

        let mut log = LogFollower::from_end(&bed.audit_log).unwrap();
        let callers = [
            (
                "decoy",
                &as_decoy,
                DECOY,
                vec![
                    "system:serviceaccounts",
                    "system:serviceaccounts:kube-system",
                    "system:authenticated",
                ],
            ),
            (
                "admin",
                &admin,
                "admin",
                vec!["system:masters", "system:authenticated"],
            ),
        ];
        for (who, client, _, _) in &callers {
            for probe in probes() {
                send(client, &probe, &format!("differential/{who}/{}", probe.id)).await;
            }
        }
        // The log backend writes each event before the response is sent; a short pause
        // covers a watch's final event.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut observed: BTreeMap<String, Logged> = BTreeMap::new();
        for event in log.read_new().unwrap() {
            if let Some(key) = event.user_agent.strip_prefix("differential/") {
                let entry = observed.entry(key.to_string()).or_insert(Logged {
                    level: parse_level(&event.level),
                    stages: BTreeSet::new(),
                });
                entry.stages.insert(parse_stage(&event.stage));
            }
        }

        for (who, _, user, groups) in &callers {
            for probe in probes() {
                let request = policy::Request {
                    user: user.to_string(),
                    groups: groups.iter().map(|g| g.to_string()).collect(),
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
                let key = format!("{who}/{}", probe.id);
                let actual = observed.remove(&key);
                compared += 1;
                if predicted != actual {
                    mismatches.push(format!(
                        "{name}: {key}: predicted {predicted:?}, the API server logged {actual:?}"
                    ));
                }
            }
        }
        drop(bed);
    }
    assert!(compared >= 30, "only {compared} pairs compared");
    assert!(
        mismatches.is_empty(),
        "{} of {compared} differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
