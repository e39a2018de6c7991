//! `rules --for sigma` checked for real: pySigma parses and converts the rule, and the
//! converted query, run on the bed's real audit log, matches exactly the decoy's events
//! (the drill's and the attacker's) and none of the operator's, which name the decoy too.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::{Plugin, cluster};

/// The Python of the virtualenv `tests/sigma/setup` makes (or finds up to date, in a
/// fraction of a second), as the control plane's `up` is run by the tests that need it.
fn sigma_python() -> PathBuf {
    let setup = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigma/setup");
    let output = Command::new(&setup)
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", setup.display()));
    assert!(
        output.status.success(),
        "{} failed ({}): the Sigma test needs python3 with venv and PyPI (or a virtualenv \
         made beforehand by that script, in $HONEYTOKEN_SIGMA_VENV or \
         ~/.cache/kubectl-honeytoken/sigma-venv)",
        setup.display(),
        output.status
    );
    let venv = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let python = Path::new(&venv).join("bin/python");
    assert!(
        python.exists(),
        "{} printed {venv:?}, which holds no bin/python",
        setup.display()
    );
    python
}

type Pair = (String, String);

fn pair(event: &Value) -> Pair {
    (
        event["auditID"].as_str().unwrap_or_default().to_string(),
        event["stage"].as_str().unwrap_or_default().to_string(),
    )
}

/// Every complete event of the log, read here without any of the code under test.
fn all_events(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_else(|e| panic!("cannot read the audit log {}: {e}", log.display()))
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

#[tokio::test]
async fn the_sigma_rule_matches_exactly_the_decoys_events_in_the_real_audit_log() {
    let python = sigma_python();
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "rules").await;
    let log = cluster.audit_log();
    let plugin = Plugin::new(cluster);
    let op = |args: &[&str]| plugin.as_operator(&namespace, args);
    let user = format!("system:serviceaccount:{namespace}:tiller");
    let token = support::plant_drill_and_attack(cluster, &admin, &plugin, &namespace).await;
    log.wait_for(Duration::from_secs(30), |e| {
        e["user"]["username"] == user.as_str()
            && e["userAgent"]
                .as_str()
                .is_some_and(|a| a.starts_with("kubectl/"))
    })
    .await
    .expect("the attacker's request never reached the audit log");
    op(&["status"]).assert_code(0);
    // The re-arm of the tripwire, by someone other than the API server: the label removed
    // with a patch of the decoy's Secret. The rule must not match it.
    let secrets =
        kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(admin.clone(), &namespace);
    let secret = secrets
        .list(&Default::default())
        .await
        .expect("list the namespace's Secrets as admin")
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .find(|name| name.starts_with("tiller-token-"))
        .expect("the decoy's token Secret");
    secrets
        .patch(
            &secret,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({
                "metadata": {"labels": {"kubernetes.io/legacy-token-last-used": null}}
            })),
        )
        .await
        .expect("re-arm as admin");

    let rules = op(&["rules", "--for", "sigma"]);
    rules.assert_code(0);
    assert!(rules.stdout.contains(&user), "{}", rules.stdout);
    assert!(rules.stdout.contains(&secret), "{}", rules.stdout);
    op(&["remove", "--yes"]).assert_code(0);
    log.wait_for(Duration::from_secs(30), |e| {
        e["user"]["username"] == "operator"
            && e["verb"] == "delete"
            && e["objectRef"]["resource"] == "serviceaccounts"
            && e["objectRef"]["namespace"] == namespace.as_str()
    })
    .await
    .expect("remove's delete never reached the audit log");

    let dir = tempfile::tempdir().unwrap();
    let rule = dir.path().join("decoy.yml");
    std::fs::write(&rule, &rules.stdout).unwrap();
    let audit_log = cluster.audit_log_path();
    let validate = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigma/validate.py");
    let output = Command::new(&python)
        .arg(&validate)
        .arg(&rule)
        .arg(audit_log)
        .output()
        .expect("run tests/sigma/validate.py");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "validate.py failed ({}):\n{stderr}\nthe rule:\n{}",
        output.status,
        rules.stdout
    );
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("validate.py printed no JSON ({e}):\n{stderr}"));
    assert!(
        report["queries"]["duckdb"]
            .as_str()
            .unwrap()
            .contains("\"user.username\""),
        "{report:#}"
    );
    let matched: BTreeSet<Pair> = report["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(pair)
        .collect();

    // What the rule should match: every event whose user is the decoy, and every stamp of
    // the decoy's Secret by the API server.
    let events = all_events(audit_log);
    let decoys: Vec<&Value> = events
        .iter()
        .filter(|e| e["user"]["username"] == user.as_str())
        .collect();
    let is_secret = |e: &Value| {
        e["objectRef"]["resource"] == "secrets"
            && e["objectRef"]["namespace"] == namespace.as_str()
            && e["objectRef"]["name"] == secret.as_str()
    };
    let stamps: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["user"]["username"] == "system:apiserver" && e["verb"] == "patch" && is_secret(e)
        })
        .collect();
    assert!(!stamps.is_empty(), "the log holds no stamp of {secret}");
    assert!(
        stamps.iter().all(|e| matched.contains(&pair(e))),
        "the Sigma rule misses the stamp: {stamps:#?}"
    );
    let rearms: Vec<&Value> = events
        .iter()
        .filter(|e| e["user"]["username"] == "admin" && e["verb"] == "patch" && is_secret(e))
        .collect();
    assert_eq!(rearms.len(), 1, "the re-arm is in the log");
    assert!(
        !matched.contains(&pair(rearms[0])),
        "the rule matched the re-arm: {:#?}",
        rearms[0]
    );
    let expected: BTreeSet<Pair> = decoys.iter().chain(&stamps).map(|e| pair(e)).collect();
    assert!(
        !expected.is_empty(),
        "the log holds none of {user}'s events"
    );
    assert_eq!(
        matched, expected,
        "the Sigma rule's matches differ from the decoy's events"
    );
    let is_drill = |e: &&&Value| {
        e["userAgent"]
            .as_str()
            .is_some_and(|a| a.starts_with("kubectl-honeytoken-drill/"))
    };
    assert!(
        decoys.iter().any(|e| is_drill(&e)),
        "no drill event among {decoys:#?}"
    );
    assert!(
        decoys.iter().any(|e| !is_drill(&e)),
        "no attacker event among {decoys:#?}"
    );

    // The operator's plant, status and remove name the decoy in their URIs and objects,
    // and must not match.
    let mentions_decoy = |e: &Value| {
        let uri = e["requestURI"].as_str().unwrap_or_default();
        let name = e["objectRef"]["name"].as_str().unwrap_or_default();
        e["objectRef"]["namespace"] == namespace.as_str()
            && (uri.contains("tiller") || name.contains("tiller"))
    };
    let operators: Vec<&Value> = events
        .iter()
        .filter(|e| e["user"]["username"] == "operator" && mentions_decoy(e))
        .collect();
    let verbs: BTreeSet<&str> = operators
        .iter()
        .filter_map(|e| e["verb"].as_str())
        .collect();
    for verb in ["create", "get", "delete"] {
        assert!(
            verbs.contains(verb),
            "no operator {verb} naming the decoy in {operators:#?}"
        );
    }
    let wrongly: Vec<&&Value> = operators
        .iter()
        .filter(|e| matched.contains(&pair(e)))
        .collect();
    assert!(
        wrongly.is_empty(),
        "the rule matched the operator: {wrongly:#?}"
    );
    assert!(!plugin.transcript.borrow().contains(&token));
}
