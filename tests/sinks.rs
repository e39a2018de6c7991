//! `watch` delivering to the engines teams already route alerts through: a real Alertmanager
//! (built from its Go module), and a stand-in for Falcosidekick that decodes and checks the
//! payload as Falcosidekick's own handler does (its module is not served here, so the real
//! one cannot be built). Uses on the real control plane, drills, the tripwire, its audit
//! update and a broken decoy go to both; TLS, client certificates and basic auth to
//! Alertmanager; failures are counted and detection does not wait for them.

mod attacks;
mod support;

use std::io::Write;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::{Value, json};
use support::alertmanager::{Alertmanager, PASSWORD, USER, Web};
use support::falcosidekick::{Falcosidekick, answer};
use support::pki::Pki;
use support::watcher::{Watcher, http_get, sample, wait_until};
use support::{Plugin, cluster, planted, token_of};

const DECOY: &str = attacks::DECOY;

/// Every alert the watcher prints until it has been quiet for `quiet`.
fn alerts_until_quiet(watcher: &Watcher, first_within: Duration, quiet: Duration) -> Vec<Value> {
    let mut alerts = vec![watcher.next_alert(first_within)];
    while let Some(alert) = watcher.try_next_alert(quiet) {
        alerts.push(alert);
    }
    alerts
}

fn count(scrape: &str, series: &str) -> f64 {
    sample(scrape, series).unwrap_or_else(|| panic!("no {series} in:\n{scrape}"))
}

/// The labels of one alert as Alertmanager lists it.
fn labels(alert: &Value) -> Value {
    alert["labels"].clone()
}

#[tokio::test]
async fn a_use_its_audit_update_and_a_broken_decoy_reach_alertmanager_and_falcosidekick() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let plugin = Plugin::new(cluster);
    let (namespace, secret) = planted(&plugin, &admin, "sinks").await;
    let token = token_of(&admin, &namespace, &secret).await;
    let am = Alertmanager::start();
    let falcosidekick = Falcosidekick::start(0);
    let log = cluster.audit_log_path().display().to_string();
    let watcher = Watcher::start(plugin.command(&[
        "--context",
        "admin",
        "-n",
        &namespace,
        "watch",
        "--tripwire",
        "--audit-log",
        &log,
        "--alertmanager-url",
        &am.url,
        "--falcosidekick-url",
        &falcosidekick.url,
        "--alert-label",
        "cluster=bed",
        "--metrics-address",
        "127.0.0.1:0",
    ]));
    watcher.wait_ready(Duration::from_secs(60));

    let attacker = cluster.list_secrets_with_token(&token, &namespace);
    assert!(!attacker.status.success());
    // The tripwire's alert, then the audit events of the same use as its update(s).
    let alerts = alerts_until_quiet(&watcher, Duration::from_secs(30), Duration::from_secs(6));
    let first = &alerts[0];
    assert_eq!(first["signal"], "tripwire", "{alerts:#?}");
    let id = first["alertID"].as_str().unwrap();
    assert!(alerts.len() >= 2, "no audit update: {alerts:#?}");
    assert!(
        alerts[1..]
            .iter()
            .all(|a| a["alertID"] == id && a["update"] == true),
        "{alerts:#?}"
    );
    let last = alerts.last().unwrap();

    // Alertmanager holds one alert for the use, whatever the number of deliveries, with the
    // update's details.
    let held = am.wait_for(Duration::from_secs(30), |held| {
        held.iter()
            .any(|a| a["annotations"]["update"] == "true" && a["labels"]["alert_id"] == id)
    });
    assert_eq!(held.len(), 1, "{held:#?}");
    let alert = &held[0];
    assert_eq!(
        labels(alert),
        json!({
            "alertname": "HoneytokenDecoyUsed",
            "severity": "critical",
            "drill": "false",
            "namespace": namespace,
            "serviceaccount": "tiller",
            "alert_id": id,
            "cluster": "bed",
        })
    );
    let annotations = &alert["annotations"];
    assert_eq!(
        annotations["source_ips"],
        last["sourceIPs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|ip| ip.as_str().unwrap())
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(
        annotations["user_agent"]
            .as_str()
            .unwrap()
            .starts_with("kubectl/"),
        "{annotations}"
    );
    assert_eq!(annotations["description"], last["text"]);
    assert_eq!(
        annotations["summary"],
        format!("Decoy token of {namespace}/tiller used")
    );
    assert_eq!(alert["status"]["state"], "active");
    let ends: jiff::Timestamp = alert["endsAt"].as_str().unwrap().parse().unwrap();
    assert!(ends > jiff::Timestamp::now() + jiff::SignedDuration::from_mins(50));
    assert_eq!(am.received(), alerts.len() as f64, "every delivery arrived");

    // Falcosidekick took one event per alert, each as Falco's k8saudit would name it.
    let events = falcosidekick.wait_for_events(alerts.len(), Duration::from_secs(30));
    assert_eq!(
        events[0]["rule"],
        "Legacy Service Account Token Authenticated"
    );
    assert_eq!(events[0]["priority"], "Critical");
    assert_eq!(
        events[0]["output_fields"]["ka.target.name"],
        secret.as_str()
    );
    let used = events.last().unwrap();
    assert_eq!(used["rule"], "Legacy Service Account Token Used");
    assert_eq!(used["source"], "k8s_audit");
    let fields = &used["output_fields"];
    assert_eq!(fields["ka.user.name"], last["user"]);
    assert_eq!(fields["ka.sourceips"], last["sourceIPs"]);
    assert_eq!(fields["ka.useragent"], last["userAgent"]);
    assert_eq!(fields["ka.verb"], "list");
    assert_eq!(fields["ka.response.code"], "403");
    assert_eq!(fields["honeytoken.alert_id"], id);
    assert_eq!(fields["honeytoken.update"], true);
    assert_eq!(fields["cluster"], "bed");
    assert!(
        falcosidekick.received().iter().all(|r| r.answer == 200
            && r.headers
                .contains(&("content-type".into(), "application/json".into()))),
        "{:#?}",
        falcosidekick.received()
    );

    // A broken decoy: its Secret deleted.
    Api::<Secret>::namespaced(admin.clone(), &namespace)
        .delete(&secret, &Default::default())
        .await
        .unwrap();
    let broken = watcher.alert_where(Duration::from_secs(30), |a| a["signal"] == "broken");
    let held = am.wait_for(Duration::from_secs(30), |held| {
        held.iter()
            .any(|a| a["labels"]["alertname"] == "HoneytokenDecoyBroken")
    });
    let decoy_broken = held
        .iter()
        .find(|a| a["labels"]["alertname"] == "HoneytokenDecoyBroken")
        .unwrap();
    assert_eq!(
        labels(decoy_broken),
        json!({
            "alertname": "HoneytokenDecoyBroken",
            "severity": "warning",
            "drill": "false",
            "namespace": namespace,
            "serviceaccount": "tiller",
            "secret": format!("{namespace}/{secret}"),
            "cluster": "bed",
        })
    );
    assert_eq!(decoy_broken["annotations"]["description"], broken["text"]);
    let events = falcosidekick.wait_for_events(alerts.len() + 1, Duration::from_secs(30));
    let event = events.last().unwrap();
    assert_eq!(event["rule"], "Legacy Service Account Token Broken");
    assert_eq!(event["priority"], "Error");

    let (_, scrape) = http_get(&watcher.health_address(), "/metrics");
    let delivered = (alerts.len() + 1) as f64;
    for sink in ["alertmanager", "falcosidekick"] {
        assert_eq!(
            count(
                &scrape,
                &format!("token_watch_deliveries_total{{sink=\"{sink}\"}}")
            ),
            delivered,
            "{scrape}"
        );
        assert_eq!(
            count(
                &scrape,
                &format!("token_watch_delivery_failures_total{{sink=\"{sink}\"}}")
            ),
            0.0
        );
    }
    let (code, stderr) = watcher.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("Alertmanager {}/api/v2/alerts", am.url)),
        "{stderr}"
    );
    assert!(!stderr.contains(&token));
    for received in falcosidekick.received() {
        assert!(!received.body.contains(&token));
    }
    assert!(!format!("{held:?}").contains(&token));
    plugin.as_operator(&namespace, &["remove", "--yes"]);
}

#[tokio::test]
async fn a_drill_goes_out_as_a_drill_and_the_attack_after_it_as_an_attack() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let plugin = Plugin::new(cluster);
    let (namespace, secret) = planted(&plugin, &admin, "sinkdrill").await;
    let am = Alertmanager::start();
    // Falcosidekick busy at first: the first post is answered 503 and tried again.
    let falcosidekick = Falcosidekick::start(1);
    let log = cluster.audit_log_path().display().to_string();
    let watcher = Watcher::start(plugin.command(&[
        "--context",
        "admin",
        "-n",
        &namespace,
        "watch",
        "--audit-log",
        &log,
        "--alertmanager-url",
        &am.url,
        "--falcosidekick-url",
        &falcosidekick.url,
    ]));
    plugin
        .as_operator(&namespace, &["test-trigger"])
        .assert_code(0);
    let drill = watcher.alert_where(Duration::from_secs(30), |a| a["drill"] == true);
    let token = token_of(&admin, &namespace, &secret).await;
    assert!(
        !cluster
            .list_secrets_with_token(&token, &namespace)
            .status
            .success()
    );
    let attack = watcher.alert_where(Duration::from_secs(30), |a| a["drill"] == false);

    let held = am.wait_for(Duration::from_secs(30), |held| held.len() >= 2);
    let of = |alert: &Value| {
        held.iter()
            .find(|a| a["labels"]["alert_id"] == alert["alertID"])
            .unwrap_or_else(|| panic!("{alert} not in {held:#?}"))
            .clone()
    };
    let (drilled, attacked) = (of(&drill), of(&attack));
    assert_eq!(drilled["labels"]["drill"], "true");
    assert_eq!(attacked["labels"]["drill"], "false");
    // A drill rehearses the attack's route: same name and severity, told apart by `drill`.
    for label in ["alertname", "severity", "namespace", "serviceaccount"] {
        assert_eq!(
            drilled["labels"][label], attacked["labels"][label],
            "{label}"
        );
    }
    assert_eq!(drilled["annotations"]["drill_mark"], "genuine");
    assert!(
        drilled["annotations"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("Drill (not an attack): "),
        "{drilled}"
    );

    let events = falcosidekick.wait_for_events(2, Duration::from_secs(30));
    let event_of = |alert: &Value| {
        events
            .iter()
            .find(|e| e["output_fields"]["honeytoken.alert_id"] == alert["alertID"])
            .unwrap_or_else(|| panic!("{alert} not in {events:#?}"))
            .clone()
    };
    let (drilled, attacked) = (event_of(&drill), event_of(&attack));
    assert_eq!(drilled["priority"], attacked["priority"]);
    assert!(
        drilled["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("drill"))
    );
    assert!(
        !attacked["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("drill"))
    );
    assert_eq!(drilled["output_fields"]["honeytoken.drill"], true);
    let answers: Vec<u16> = falcosidekick.received().iter().map(|r| r.answer).collect();
    assert_eq!(answers[0], 503, "{answers:?}");
    assert!(answers[1..].iter().all(|a| *a == 200), "{answers:?}");

    let (code, stderr) = watcher.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("0 alert deliveries failed"), "{stderr}");
    assert!(!stderr.contains(&token));
    plugin.as_operator(&namespace, &["remove", "--yes"]);
}

fn offline_watch(plugin: &Plugin, log: &std::path::Path, more: &[&str]) -> Watcher {
    let mut args = vec![
        "watch",
        "--audit-log",
        log.to_str().unwrap(),
        "--user",
        DECOY,
        "--group-window",
        "0.2",
        "--metrics-address",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(more);
    let watcher = Watcher::start(plugin.command(&args));
    watcher.wait_ready(Duration::from_secs(30));
    watcher
}

fn append(log: &std::path::Path, lines: &str) {
    std::fs::OpenOptions::new()
        .append(true)
        .open(log)
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
}

#[test]
fn alertmanager_behind_tls_client_certificates_and_basic_auth_and_a_wrong_password_counted() {
    let pki = Pki::new();
    let am = Alertmanager::start_with(
        Web {
            cert: pki.path("server.crt"),
            key: pki.path("server.key"),
            client_ca: pki.path("ca.crt"),
        },
        &pki.path("ca.crt"),
        (&pki.path("client.crt"), &pki.path("client.key")),
    );
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    std::fs::write(&log, "").unwrap();
    let right = dir.path().join("right");
    std::fs::write(&right, format!("{USER}:{PASSWORD}\n")).unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, format!("{USER}:not-the-password\n")).unwrap();
    let plugin = Plugin::offline();
    let (ca, cert, key) = (
        pki.path("ca.crt"),
        pki.path("client.crt"),
        pki.path("client.key"),
    );
    let sink = |auth: &std::path::Path| {
        vec![
            "--alertmanager-url".to_string(),
            am.url.clone(),
            "--alertmanager-basic-auth-file".into(),
            auth.display().to_string(),
            "--sink-ca".into(),
            ca.clone(),
            "--sink-client-cert".into(),
            cert.clone(),
            "--sink-client-key".into(),
            key.clone(),
        ]
    };

    let args = sink(&right);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let watcher = offline_watch(&plugin, &log, &args);
    append(&log, &attacks::distinct_agent_lines(1));
    let alert = watcher.next_alert(Duration::from_secs(15));
    let held = am.wait_for(Duration::from_secs(30), |held| {
        held.iter()
            .any(|a| a["labels"]["alert_id"] == alert["alertID"])
    });
    assert_eq!(held[0]["labels"]["namespace"], "kube-system");
    assert_eq!(held[0]["labels"]["serviceaccount"], "tiller");
    let address = watcher.health_address();
    assert!(wait_until(Duration::from_secs(10), || {
        let (_, scrape) = http_get(&address, "/metrics");
        sample(
            &scrape,
            "token_watch_deliveries_total{sink=\"alertmanager\"}",
        ) == Some(1.0)
    }));
    let (code, stderr) = watcher.stop();
    assert_eq!(code, Some(0), "{stderr}");

    let args = sink(&wrong);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let watcher = offline_watch(&plugin, &log, &args);
    append(&log, &attacks::distinct_agent_lines(1));
    watcher.next_alert(Duration::from_secs(15));
    // Refused for good: told after one attempt, not tried again.
    watcher.wait_for_stderr(
        &format!(
            "could not post an alert to {}/api/v2/alerts: answered 401 Unauthorized",
            am.url
        ),
        Duration::from_secs(15),
    );
    let (_, scrape) = http_get(&watcher.health_address(), "/metrics");
    assert_eq!(
        count(
            &scrape,
            "token_watch_delivery_failures_total{sink=\"alertmanager\"}"
        ),
        1.0
    );
    let (_, stdout, stderr) = watcher.stop_with_stdout();
    assert!(stderr.contains("1 alert delivery failed"), "{stderr}");
    for shown in [&stdout, &stderr] {
        assert!(!shown.contains("not-the-password") && !shown.contains(PASSWORD));
    }
    assert_eq!(am.alerts().len(), 1, "the refused alert is not held");
}

#[test]
fn a_sink_that_does_not_answer_never_holds_up_detection_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    std::fs::write(&log, "").unwrap();
    let nobody = format!("http://127.0.0.1:{}", support::free_port());
    let watcher = offline_watch(
        &Plugin::offline(),
        &log,
        &[
            "--alertmanager-url",
            &nobody,
            "--falcosidekick-url",
            &nobody,
        ],
    );
    append(&log, &attacks::distinct_agent_lines(2));
    watcher.next_alert(Duration::from_secs(15));
    watcher.next_alert(Duration::from_secs(15));
    // The alerts were out before their deliveries had failed three times a second apart.
    assert!(
        !watcher.stderr().contains("could not post"),
        "{}",
        watcher.stderr()
    );
    // Alerts that queue up while a post is under way go to Alertmanager in one post.
    watcher.wait_for_stderr(
        &format!("to {nobody}/api/v2/alerts in 3 attempts: client error (Connect)"),
        Duration::from_secs(30),
    );
    watcher.wait_for_stderr(
        &format!("could not post an alert to {nobody}/ in 3 attempts"),
        Duration::from_secs(30),
    );
    let address = watcher.health_address();
    assert!(wait_until(Duration::from_secs(30), || {
        let (_, scrape) = http_get(&address, "/metrics");
        sample(
            &scrape,
            "token_watch_delivery_failures_total{sink=\"falcosidekick\"}",
        ) == Some(2.0)
            && sample(
                &scrape,
                "token_watch_delivery_failures_total{sink=\"alertmanager\"}",
            ) == Some(2.0)
    }));
    let (code, stderr) = watcher.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("4 alert deliveries failed"), "{stderr}");
}

#[test]
fn sink_settings_that_cannot_work_are_refused_before_watching() {
    let plugin = Plugin::offline();
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "sink-token-value\n").unwrap();
    let token = token.display().to_string();
    let log = dir.path().join("audit.log").display().to_string();
    let watch = |more: &[&str]| {
        let mut args = vec!["watch", "--audit-log", &log, "--user", DECOY];
        args.extend_from_slice(more);
        plugin.run(&args)
    };
    for (more, said) in [
        (
            vec![
                "--alertmanager-url",
                "http://am.monitoring:9093",
                "--alertmanager-token-file",
                &token,
            ],
            "--alertmanager-token-file: the credential would cross the network in the clear",
        ),
        (
            vec!["--alertmanager-url", "https://watcher:pw@am.example"],
            "--alertmanager-url: a user or password in the URL would show in the process list",
        ),
        (
            vec![
                "--falcosidekick-url",
                "http://127.0.0.1:2801/",
                "--alert-label",
                "severity=low",
            ],
            "--alert-label \"severity=low\": the alerts set this label themselves",
        ),
        (
            vec!["--alertmanager-token-file", &token],
            "--alertmanager-url",
        ),
    ] {
        let run = watch(&more);
        assert_ne!(run.code, Some(0), "{more:?}");
        assert!(run.stderr.contains(said), "{more:?}: {}", run.stderr);
        assert!(!run.stderr.contains("sink-token-value") && !run.stderr.contains(":pw@"));
        assert!(!run.stderr.contains("watching"), "{}", run.stderr);
    }
}

/// The README's Alertmanager route, checked by amtool and routed as Alertmanager would: an
/// attack pages, a drill and a broken decoy go to the channel.
#[test]
fn the_readme_route_pages_for_attacks_only() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let after = &readme[readme
        .find("A minimal route")
        .expect("the README has the route")..];
    let block = after
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(&config, block).unwrap();
    let amtool = support::alertmanager::amtool();
    let checked = std::process::Command::new(&amtool)
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    let route = |labels: &[&str]| {
        let output = std::process::Command::new(&amtool)
            .args(["config", "routes", "test"])
            .arg(format!("--config.file={}", config.display()))
            .args(labels)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    let used = [
        "alertname=HoneytokenDecoyUsed",
        "severity=critical",
        "alert_id=f3df",
    ];
    assert_eq!(
        route(&[&used[..], &["drill=false"]].concat()),
        "security-pager"
    );
    assert_eq!(
        route(&[&used[..], &["drill=true"]].concat()),
        "security-channel"
    );
    assert_eq!(
        route(&[
            "alertname=HoneytokenDecoyBroken",
            "severity=warning",
            "drill=false"
        ]),
        "security-channel"
    );
}

#[test]
fn the_falcosidekick_stand_in_refuses_what_falcosidekick_refuses() {
    let good = r#"{"output":"x","priority":"Critical","rule":"r","time":"2026-12-03T10:00:00.5Z","output_fields":{"ka.user.name":"u"},"source":"k8s_audit"}"#;
    assert_eq!(answer("POST", good), 200);
    assert_eq!(answer("GET", good), 400);
    assert_eq!(answer("POST", &good.replace("Critical", "high")), 400);
    assert_eq!(answer("POST", &good.replace("\"Critical\"", "6")), 400);
    assert_eq!(answer("POST", &good.replace("\"r\"", "\"\"")), 400);
    assert_eq!(
        answer("POST", &good.replace("2026-12-03T10:00:00.5Z", "yesterday")),
        400
    );
    assert_eq!(
        answer("POST", &good.replace("{\"ka.user.name\":\"u\"}", "{}")),
        400
    );
    assert_eq!(
        answer(
            "POST",
            &good.replace("\"ka.user.name\":\"u\"", "\"k8s.ns.name\":7")
        ),
        0
    );
    assert_eq!(answer("POST", &good.replace("Critical", "info")), 200);
}
