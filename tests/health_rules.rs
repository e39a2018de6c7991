//! `rules --for prometheus` checked for real: Prometheus' own promtool (built by
//! `tests/promtool/build` from the pinned module) accepts the rule file and, on series fed
//! by hand (`tests/fixtures/prometheus/health-rules-test.yaml`), each rule fires on the bad
//! case it is about and stays quiet on a healthy watcher; and every metric the rules read
//! is one a real watcher serves, scraped from a fleet watcher on the bed.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::watcher::{Watcher, http_get, metric_names, referenced, sample, wait_until};
use support::{Plugin, cluster};

/// The job the tests put in place of the section's placeholder.
const JOB: &str = "token-watch";

/// promtool, as the control plane's `up` is found by the tests that need it: the build
/// script prints the folder of a binary it built or found (in a fraction of a second).
fn promtool() -> PathBuf {
    let build = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/promtool/build");
    let output = Command::new(&build)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", build.display()));
    assert!(
        output.status.success(),
        "{} failed ({}): these tests need promtool, which that script builds with Go (the \
         version tests/promtool/go.mod names) from the Go module proxy, into \
         $HONEYTOKEN_BED_CACHE (or tests/promtool/.cache); run it by hand to see why",
        build.display(),
        output.status
    );
    let folder = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let promtool = Path::new(&folder).join("promtool");
    assert!(
        promtool.exists(),
        "{} printed {folder:?}, which holds no promtool",
        build.display()
    );
    promtool
}

fn run_promtool(args: &[&str], dir: &Path) -> Output {
    Command::new(promtool())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run promtool")
}

fn said(output: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The section as printed, with the job filled in.
fn section() -> String {
    let run = Plugin::offline().run(&["rules", "--for", "prometheus"]);
    run.assert_code(0);
    assert!(run.stdout.contains("<JOB>"), "{}", run.stdout);
    run.stdout.replace("<JOB>", JOB)
}

fn rules_of(text: &str) -> Vec<Value> {
    let document: Value = serde_saphyr::from_str(text).expect("the section is YAML");
    document["groups"][0]["rules"]
        .as_array()
        .expect("groups[0].rules")
        .clone()
}

#[test]
fn promtool_checks_the_section_as_printed_offline_and_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let text = section();
    std::fs::write(dir.path().join("rules.yaml"), &text).unwrap();
    let checked = run_promtool(&["check", "rules", "rules.yaml"], dir.path());
    assert!(checked.status.success(), "{}", said(&checked));
    let count = rules_of(&text).len();
    assert!(count >= 8, "{text}");
    assert!(
        String::from_utf8_lossy(&checked.stdout).contains(&format!("SUCCESS: {count} rules found")),
        "{}",
        said(&checked)
    );

    // -o json keys it by platform, with the same text; no cluster was asked (the
    // kubeconfig does not exist), and --user is not needed.
    let json = Plugin::offline().run(&["rules", "--for", "prometheus", "-o", "json"]);
    json.assert_code(0);
    let document = json.json();
    assert_eq!(
        document.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["prometheus"]
    );
    assert_eq!(
        document["prometheus"]
            .as_str()
            .unwrap()
            .replace("<JOB>", JOB),
        text
    );
    // Asking for a decoy platform too still needs the decoys.
    let both = Plugin::offline().run(&["rules", "--for", "prometheus", "--for", "sigma"]);
    assert_ne!(both.code, Some(0), "{}", both.text());

    // The rule file under deploy/ passes the same checker.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let deploy = repo.join("deploy/watcher-alerts.yaml");
    let checked = run_promtool(
        &["check", "rules", &deploy.display().to_string()],
        dir.path(),
    );
    assert!(checked.status.success(), "{}", said(&checked));
}

/// The section for `promtool test rules`: the rules as they are, less the descriptions
/// (prose that `check rules` has already parsed as templates), so the test file compares
/// each alert's labels and summary exactly. JSON is YAML to promtool.
fn rules_without_descriptions(text: &str) -> String {
    let mut rules = rules_of(text);
    for rule in &mut rules {
        let name = rule["alert"].to_string();
        let annotations = rule["annotations"].as_object_mut().unwrap();
        assert!(annotations.remove("description").is_some(), "{name}");
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            vec!["summary"],
            "{name}"
        );
    }
    serde_json::json!({"groups": [{"name": "token-watch-health", "rules": rules}]}).to_string()
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prometheus/health-rules-test.yaml")
}

/// Runs the fixture's unit tests on `rules` (a rule file's text), in a folder of its own.
fn promtool_test(rules: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yaml"), rules).unwrap();
    std::fs::copy(fixture(), dir.path().join("test.yaml")).unwrap();
    run_promtool(&["test", "rules", "test.yaml"], dir.path())
}

#[test]
fn each_rule_fires_on_its_bad_case_and_stays_quiet_on_a_healthy_watcher() {
    let text = section();
    let names: BTreeSet<String> = rules_of(&text)
        .iter()
        .map(|r| r["alert"].as_str().unwrap().to_string())
        .collect();

    // The fixture expects every rule to fire somewhere and to stay quiet somewhere.
    let tests: Value = serde_saphyr::from_str(&std::fs::read_to_string(fixture()).unwrap())
        .expect("the fixture is YAML");
    let (mut fired, mut quiet) = (BTreeSet::new(), BTreeSet::new());
    for group in tests["tests"].as_array().unwrap() {
        for case in group["alert_rule_test"].as_array().unwrap() {
            let name = case["alertname"].as_str().unwrap().to_string();
            let expected = case["exp_alerts"].as_array().map_or(0, Vec::len);
            if expected == 0 {
                quiet.insert(name);
            } else {
                fired.insert(name);
            }
        }
    }
    assert_eq!(fired, names, "rules the fixture never sees fire");
    assert_eq!(quiet, names, "rules the fixture never sees stay quiet");

    let rules = rules_without_descriptions(&text);
    let tested = promtool_test(&rules);
    assert!(tested.status.success(), "{}", said(&tested));
    assert!(
        String::from_utf8_lossy(&tested.stdout).contains("SUCCESS"),
        "{}",
        said(&tested)
    );

    // The same tests fail when a rule means something else: silence of any source,
    // the tripwire's among them, is not what the fixture expects.
    let audit = r#"source=~\"audit-log|webhook\""#;
    assert!(rules.contains(audit), "{rules}");
    let wrong = rules.replacen(audit, r#"source=~\".+\""#, 1);
    let failed = promtool_test(&wrong);
    assert!(!failed.status.success(), "{}", said(&failed));
    assert!(
        String::from_utf8_lossy(&failed.stdout).contains("alertname: TokenWatchAuditSilent")
            || String::from_utf8_lossy(&failed.stderr).contains("alertname: TokenWatchAuditSilent"),
        "{}",
        said(&failed)
    );
}

/// The bed's kubeconfig with one more context, `gone`: the bed's cluster and admin at a
/// loopback port where nothing listens, a fleet's cluster that does not answer.
fn kubeconfig_with_a_gone_context(bed: &Path, dir: &Path) -> PathBuf {
    use kube::config::Kubeconfig;
    let mut config = Kubeconfig::read_from(bed).expect("the bed's kubeconfig");
    let mut context = config
        .contexts
        .iter()
        .find(|c| c.name == "admin")
        .cloned()
        .expect("context admin");
    let admin = context.context.as_mut().expect("context admin's fields");
    let mut cluster = config
        .clusters
        .iter()
        .find(|c| c.name == admin.cluster)
        .cloned()
        .expect("admin's cluster");
    cluster.name = "gone".into();
    cluster.cluster.as_mut().expect("a cluster").server =
        Some(format!("https://127.0.0.1:{}", support::free_port()));
    admin.cluster = "gone".into();
    context.name = "gone".into();
    config.clusters.push(cluster);
    config.contexts.push(context);
    let path = dir.join("config");
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    path
}

#[tokio::test]
async fn every_metric_the_rules_read_is_served_by_a_real_fleet_watcher() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "health-rules").await;
    let plugin = Plugin::new(cluster);
    plugin
        .as_operator(&namespace, &["plant", "--yes", "-o", "json"])
        .assert_code(0);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig_with_a_gone_context(&cluster.kubeconfig, dir.path());
    let audit_log = format!("admin={}", cluster.audit_log_path().display());
    // Every source a watcher has (audit log, webhook receiver, tripwire) and a fleet's
    // contexts, one of which never answers; the same key folder as the plant.
    let mut command = plugin.command(&[
        "--context",
        "admin,gone",
        "-n",
        &namespace,
        "watch",
        "--tripwire",
        "--audit-log",
        &audit_log,
        "--listen",
        "127.0.0.1:0",
        "--group-window",
        "1",
        "--metrics-address",
        "127.0.0.1:0",
    ]);
    command.env("KUBECONFIG", &kubeconfig);
    let watcher = Watcher::start(command);
    let address = watcher.health_address();
    assert!(
        wait_until(Duration::from_secs(30), || {
            let scrape = http_get(&address, "/metrics").1;
            sample(&scrape, "token_watch_context_ready{context=\"admin\"}") == Some(1.0)
                && scrape.contains("token_watch_last_event_timestamp_seconds{source=\"audit-log\"}")
        }),
        "context admin not watched, or its audit log not read, within 30s; stderr:\n{}",
        watcher.stderr()
    );
    let (code, scrape) = http_get(&address, "/metrics");
    assert_eq!(code, 200, "{scrape}");
    let served = metric_names(&scrape);

    let rules = rules_of(&section());
    let mut used = BTreeSet::new();
    for rule in &rules {
        let expr = rule["expr"].as_str().unwrap();
        for name in referenced(expr) {
            assert!(
                served.contains(&name),
                "{}: {name} is not served:\n{scrape}",
                rule["alert"]
            );
            used.insert(name);
        }
    }
    assert!(used.len() >= 9, "{used:?}");

    // The label values the rules select on are the ones served.
    assert_eq!(
        sample(&scrape, "token_watch_context_ready{context=\"gone\"}"),
        Some(0.0),
        "{scrape}"
    );
    for source in ["audit-log", "webhook", "tripwire"] {
        assert!(
            sample(
                &scrape,
                &format!("token_watch_source_ready{{source=\"{source}\"}}")
            )
            .is_some(),
            "no source {source}:\n{scrape}"
        );
    }
    assert!(
        sample(
            &scrape,
            "token_watch_alerts_total{source=\"audit-log\",signal=\"request\",drill=\"false\"}"
        )
        .is_some(),
        "{scrape}"
    );
    let (code, stderr) = watcher.stop();
    assert_eq!(code, Some(0), "{stderr}");
}
