//! `--dry-run` on the commands that use the decoy token (`test-trigger`, `verify --e2e`), on
//! the real control plane: the drill is described, nothing is sent with the token, nothing is
//! recorded. A real drill afterwards shows that the same observations do see a drill.

mod support;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};
use support::{Plugin, cluster};

const LAST_USED: &str = "kubernetes.io/legacy-token-last-used";
const POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/controlplane/audit-policy.yaml"
);

/// The drills this plugin's home has recorded.
fn recorded_drills(plugin: &Plugin) -> Vec<serde_json::Value> {
    match std::fs::read(plugin.home.path().join("state.json")) {
        Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["drills"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("cannot read the plugin's state: {e}"),
    }
}

#[tokio::test]
async fn dry_runs_describe_the_drill_and_never_use_the_token() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "dryrun").await;
    let plugin = Plugin::new(cluster);
    let op = |args: &[&str]| plugin.as_operator(&namespace, args);
    let planted = op(&["plant", "--yes", "-o", "json"]);
    planted.assert_code(0);
    let secret_name = planted.json()["secret"].as_str().unwrap().to_string();
    let user = format!("system:serviceaccount:{namespace}:tiller");
    let audit_log = cluster.audit_log_path().display().to_string();
    let events = cluster.audit_log();
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &namespace);

    // test-trigger: the plan as a table and as JSON.
    let table = op(&["test-trigger", "--dry-run", "--audit-log", &audit_log]);
    table.assert_code(0);
    for expected in [
        "/api/v1/secrets",
        &format!("/api/v1/namespaces/{namespace}/secrets"),
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        &user,
        &secret_name,
        "kubectl-honeytoken-drill/",
        "(drill <drill id>)",
        "nothing was sent",
        "/version",
        "re-arm",
        LAST_USED,
        &audit_log,
    ] {
        assert!(
            table.stdout.contains(expected),
            "{expected} missing:\n{}",
            table.stdout
        );
    }
    let json = op(&["test-trigger", "--dry-run", "-o", "json"]);
    json.assert_code(0);
    // Every decoy in -n's namespace, each with the plan of its drill.
    let document = json.json();
    assert_eq!(document["dryRun"], true, "{document:#}");
    assert_eq!(
        document["decoys"].as_array().unwrap().len(),
        1,
        "{document:#}"
    );
    assert_eq!(
        document["decoys"][0]["result"], "wouldDrill",
        "{document:#}"
    );
    let plan = &document["decoys"][0]["plan"];
    assert_eq!(plan["dryRun"], true, "{plan:#}");
    assert_eq!(plan["username"], user.as_str());
    assert_eq!(plan["secret"], secret_name.as_str());
    assert_eq!(plan["requests"].as_array().unwrap().len(), 7, "{plan:#}");
    assert_eq!(plan["requests"][0]["path"], "/version", "{plan:#}");
    assert_eq!(plan["requests"][0]["auditEventExpected"], false, "{plan:#}");
    assert_eq!(plan["tripwireLabel"], LAST_USED, "{plan:#}");
    assert!(
        plan["userAgent"]
            .as_str()
            .unwrap()
            .ends_with("(drill <drill id>)"),
        "{plan:#}"
    );
    assert!(
        plan["server"].as_str().unwrap().starts_with("https://"),
        "{plan:#}"
    );

    // verify --e2e: the static checks run, the drill is only described.
    let verify = op(&[
        "verify",
        "--policy",
        POLICY,
        "--e2e",
        "--audit-log",
        &audit_log,
        "--dry-run",
        "-o",
        "json",
    ]);
    verify.assert_code(0);
    let report = verify.json();
    let checks = report["checks"].as_array().unwrap();
    let e2e: Vec<_> = checks.iter().filter(|c| c["id"] == "e2e").collect();
    assert_eq!(e2e.len(), 7, "{checks:#?}");
    for check in &e2e {
        assert_eq!(check["status"], "UNKNOWN", "{check:#}");
        assert_eq!(check["critical"], false, "{check:#}");
        assert!(
            check["reason"]
                .as_str()
                .unwrap()
                .starts_with("not sent (--dry-run)"),
            "{check:#}"
        );
    }
    assert!(
        checks
            .iter()
            .any(|c| c["id"] == "policy-exposure" && c["status"] == "PASS"),
        "the static checks ran: {checks:#?}"
    );

    // Nothing used the token: the API server stamps the Secret synchronously on the first
    // authentication of the day, and logs every request of the decoy user; no drill was
    // recorded either.
    let secret = secrets.get(&secret_name).await.unwrap();
    assert_eq!(
        secret.labels().get(LAST_USED),
        None,
        "{:?}",
        secret.labels()
    );
    assert!(recorded_drills(&plugin).is_empty());
    let status = op(&["status", "-o", "json"]);
    assert_eq!(status.json()["decoys"][0]["verdict"], "armed");

    // The same observations see a real drill, so their silence above means something: it
    // stamps the Secret (the API server's own patch is in the audit log), then re-arms it.
    let drill = op(&["test-trigger", "--audit-log", &audit_log, "-o", "json"]);
    drill.assert_code(0);
    let tripwire = &drill.json()["decoys"][0]["drill"]["tripwire"];
    assert_eq!(tripwire["outcome"], "rearmed", "{tripwire:#}");
    assert!(tripwire["stamped"].is_string(), "{tripwire:#}");
    let rearmed = secrets.get(&secret_name).await.unwrap();
    assert_eq!(rearmed.labels().get(LAST_USED), None, "the drill re-arms");
    assert_eq!(recorded_drills(&plugin).len(), 1);
    let new_events = events.new_events();
    let stamps = new_events
        .iter()
        .filter(|e| {
            e["user"]["username"] == "system:apiserver"
                && e["verb"] == "patch"
                && e["objectRef"]["name"] == secret_name.as_str()
        })
        .count();
    assert_eq!(stamps, 1, "the API server stamped the Secret once");
    let decoy_events: Vec<_> = new_events
        .into_iter()
        .filter(|e| e["user"]["username"] == user.as_str())
        .collect();
    assert!(
        decoy_events.iter().all(|e| {
            e["userAgent"]
                .as_str()
                .is_some_and(|agent| !agent.contains("<drill id>"))
        }),
        "{decoy_events:#?}"
    );
    // Only the one real drill's requests: the six the policy logs (it drops /version),
    // none from the dry runs.
    let mut audit_ids: Vec<&str> = decoy_events
        .iter()
        .map(|e| e["auditID"].as_str().unwrap())
        .collect();
    audit_ids.sort_unstable();
    audit_ids.dedup();
    assert_eq!(audit_ids.len(), 6, "{decoy_events:#?}");

    op(&["remove", "--yes"]).assert_code(0);
}
