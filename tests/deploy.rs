//! What can be checked of deploy/ without a cluster or an image: the watcher's Deployment
//! runs a command line the real CLI accepts, is locked down, probes the paths the watcher
//! serves and runs as the ServiceAccount `rbac` binds, whose Role names the Secrets it
//! watches; the alerting rules use metrics the watcher exports.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use clap::Parser;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Container;
use serde_json::Value;
use support::Plugin;
use support::watcher::{Watcher, http_get, metric_names, referenced, wait_until};

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn deployment() -> Deployment {
    serde_saphyr::from_str(&read("deploy/watcher.yaml")).expect("deploy/watcher.yaml")
}

fn container(deployment: &Deployment) -> Container {
    let pod = deployment.spec.template.spec.clone().unwrap();
    assert_eq!(pod.containers.len(), 1);
    pod.containers[0].clone()
}

/// The container's arguments as the kubelet passes them: `$(VAR)` replaced by the value of
/// the container's variable (here, a stand-in for what its Secret holds).
fn expanded_args(container: &Container) -> Vec<String> {
    let names: Vec<String> = container
        .env
        .iter()
        .flatten()
        .map(|v| v.name.clone())
        .collect();
    container
        .args
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|arg| {
            names.iter().fold(arg, |arg, name| {
                arg.replace(&format!("$({name})"), "https://alerts.example/hook")
            })
        })
        .collect()
}

fn values_of(args: &[String], flag: &str) -> Vec<String> {
    args.windows(2)
        .filter(|pair| pair[0] == flag)
        .map(|pair| pair[1].clone())
        .collect()
}

#[test]
fn the_deployments_command_line_parses_with_the_real_cli() {
    let container = container(&deployment());
    assert_eq!(
        container.command, None,
        "the image's entrypoint runs the binary"
    );
    let args = expanded_args(&container);
    assert_eq!(args[0], "watch");
    assert!(args.contains(&"--tripwire".to_string()), "{args:?}");
    let cli = kubectl_honeytoken::Cli::try_parse_from(
        std::iter::once("kubectl-honeytoken".to_string()).chain(args.iter().cloned()),
    )
    .unwrap_or_else(|e| panic!("deploy/watcher.yaml's args {args:?}: {e}"));
    assert!(matches!(cli.command, kubectl_honeytoken::Command::Watch(_)));
}

#[test]
fn the_deployment_is_one_locked_down_replica_with_limits_and_the_key_from_a_secret() {
    let deployment = deployment();
    let spec = &deployment.spec;
    assert_eq!(spec.replicas, Some(1));
    let pod = spec.template.spec.as_ref().unwrap();
    let pod_security = pod.security_context.as_ref().unwrap();
    assert_eq!(pod_security.run_as_non_root, Some(true));
    assert!(pod_security.run_as_user.is_some_and(|uid| uid != 0));
    let container = container(&deployment);
    let security = container.security_context.as_ref().unwrap();
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.privileged, Some(false));
    assert_eq!(
        security.capabilities.as_ref().unwrap().drop,
        Some(vec!["ALL".to_string()])
    );
    let limits = container
        .resources
        .as_ref()
        .unwrap()
        .limits
        .as_ref()
        .unwrap();
    assert!(limits.contains_key("cpu") && limits.contains_key("memory"));
    let key = container
        .env
        .iter()
        .flatten()
        .find(|v| v.name == "HONEYTOKEN_KEY")
        .expect("HONEYTOKEN_KEY");
    assert!(
        key.value.is_none(),
        "the key is never written into the manifest"
    );
    assert!(
        key.value_from
            .as_ref()
            .and_then(|from| from.secret_key_ref.as_ref())
            .is_some()
    );
    // What it shows to anyone who lists pods (its image, its arguments naming the watched
    // Secrets, HONEYTOKEN_KEY) is said in README.md, "Running a watcher".
}

#[test]
fn the_probes_point_at_paths_a_running_watcher_answers() {
    let deployment = deployment();
    let container = container(&deployment);
    let args = expanded_args(&container);
    let metrics_address = values_of(&args, "--metrics-address");
    assert_eq!(metrics_address.len(), 1, "{args:?}");
    let port: i32 = metrics_address[0]
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let named_port = container
        .ports
        .iter()
        .flatten()
        .find(|p| p.container_port == port)
        .expect("the metrics port is declared");
    let mut probes = Vec::new();
    for probe in [&container.liveness_probe, &container.readiness_probe] {
        let get = probe.as_ref().unwrap().http_get.as_ref().unwrap();
        let probe_port = serde_json::to_value(&get.port).unwrap();
        assert!(
            probe_port == port
                || named_port
                    .name
                    .as_deref()
                    .is_some_and(|name| probe_port == name),
            "probe port {probe_port}"
        );
        probes.push(get.path.clone().unwrap());
    }
    assert_eq!(probes, ["/healthz", "/readyz"]);

    // Served by a real watcher with the same flag (a file source, on loopback).
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    std::fs::write(&log, "").unwrap();
    let plugin = Plugin::offline();
    let watcher = Watcher::start(plugin.command(&[
        "watch",
        "--audit-log",
        &log.display().to_string(),
        "--user",
        "system:serviceaccount:kube-system:tiller",
        "--metrics-address",
        "127.0.0.1:0",
    ]));
    let address = watcher.health_address();
    // A line read: the last-event time is exported from the first one on.
    std::fs::write(&log, "{}\n").unwrap();
    for path in &probes {
        assert!(
            wait_until(Duration::from_secs(10), || http_get(&address, path).0
                == 200),
            "{path} does not answer 200"
        );
    }
    assert!(wait_until(Duration::from_secs(10), || {
        http_get(&address, "/metrics")
            .1
            .contains("token_watch_last_event_timestamp_seconds{")
    }));
    let (_, scrape) = http_get(&address, "/metrics");
    let served = metric_names(&scrape);

    // Every metric the alerting rules use is one the watcher exports.
    let rules: Value = serde_saphyr::from_str(&read("deploy/watcher-alerts.yaml")).unwrap();
    let exprs: Vec<&str> = rules["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| rule["expr"].as_str().unwrap())
        .collect();
    assert!(exprs.len() >= 5);
    for expr in exprs {
        for name in referenced(expr) {
            assert!(
                served.contains(&name),
                "{expr}: {name} is not exported:\n{scrape}"
            );
        }
    }
}

#[test]
fn the_deployment_runs_as_the_service_account_whose_role_names_its_secrets() {
    let deployment = deployment();
    let pod = deployment.spec.template.spec.clone().unwrap();
    let namespace = deployment.metadata.namespace.clone().unwrap();
    let args = expanded_args(&container(&deployment));
    let secrets = values_of(&args, "--secret");
    assert!(!secrets.is_empty());
    let mut rbac_args = vec!["rbac".to_string()];
    for secret in &secrets {
        rbac_args.extend(["--secret".to_string(), secret.clone()]);
    }
    if args.contains(&"--no-rearm".to_string()) {
        rbac_args.push("--no-rearm".into());
    }
    let plugin = Plugin::offline();
    let run = plugin.run(&rbac_args.iter().map(String::as_str).collect::<Vec<_>>());
    run.assert_code(0);
    let objects: Vec<Value> = run
        .stdout
        .split("---\n")
        .skip(1)
        .map(|doc| serde_saphyr::from_str(doc).unwrap())
        .collect();
    let account = objects
        .iter()
        .find(|o| o["kind"] == "ServiceAccount")
        .expect("rbac makes a ServiceAccount by default");
    assert_eq!(
        pod.service_account_name.as_deref(),
        account["metadata"]["name"].as_str()
    );
    assert_eq!(account["metadata"]["namespace"], namespace.as_str());
    // The Role's shape: the watched Secrets by name, the verbs the watcher uses.
    let mut named = BTreeSet::new();
    for role in objects.iter().filter(|o| o["kind"] == "Role") {
        let rule = &role["rules"][0];
        assert_eq!(rule["resources"], serde_json::json!(["secrets"]));
        assert_eq!(
            rule["verbs"],
            serde_json::json!(["get", "list", "watch", "patch"])
        );
        for name in rule["resourceNames"].as_array().unwrap() {
            named.insert(format!(
                "{}/{}",
                role["metadata"]["namespace"].as_str().unwrap(),
                name.as_str().unwrap()
            ));
        }
        let binding = objects
            .iter()
            .find(|o| {
                o["kind"] == "RoleBinding"
                    && o["metadata"]["namespace"] == role["metadata"]["namespace"]
            })
            .unwrap();
        assert_eq!(binding["subjects"][0]["name"], account["metadata"]["name"]);
    }
    assert_eq!(named, secrets.into_iter().collect::<BTreeSet<_>>());
}
