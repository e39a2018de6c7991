//! A long-running watcher's own health (`watch --metrics-address`): /healthz answers while
//! it runs, /readyz only once every source has started, and /metrics counts what it saw,
//! scraped from a running `watch` on the real API server's audit log.

mod support;

use std::io::Write;
use std::time::Duration;

use support::watcher::{Watcher, http_get, sample, wait_until};
use support::{Plugin, cluster};

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn not_ready_until_the_followed_file_exists_and_alive_all_along() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let plugin = Plugin::offline();
    let user = "system:serviceaccount:kube-system:tiller";
    let watcher = Watcher::start(plugin.command(&[
        "watch",
        "--audit-log",
        &log.display().to_string(),
        "--user",
        user,
        "--group-window",
        "0.2",
        "--metrics-address",
        "127.0.0.1:0",
    ]));
    let address = watcher.health_address();
    assert_eq!(http_get(&address, "/healthz"), (200, "ok\n".into()));
    assert_eq!(
        http_get(&address, "/readyz"),
        (503, "not ready: audit-log\n".into())
    );
    let (_, scrape) = http_get(&address, "/metrics");
    assert_eq!(
        sample(&scrape, "token_watch_source_ready{source=\"audit-log\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &scrape,
            "token_watch_last_event_timestamp_seconds{source=\"audit-log\"}"
        ),
        None,
        "nothing seen yet:\n{scrape}"
    );

    let mut file = std::fs::File::create(&log).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || http_get(&address, "/readyz").0
            == 200),
        "not ready after the file appeared; stderr:\n{}",
        watcher.stderr()
    );
    let before = now() - 1.0;
    writeln!(
        file,
        r#"{{"kind":"Event","auditID":"a1","stage":"ResponseComplete","verb":"list","requestURI":"/api/v1/secrets","user":{{"username":"{user}"}},"sourceIPs":["10.0.0.9"],"userAgent":"curl/8","responseStatus":{{"code":403}},"requestReceivedTimestamp":"2026-12-03T06:00:00.000000Z"}}"#
    )
    .unwrap();
    let alert = watcher.next_alert(Duration::from_secs(10));
    assert_eq!(alert["drill"], false);
    let (code, scrape) = http_get(&address, "/metrics");
    assert_eq!(code, 200);
    assert_eq!(
        sample(
            &scrape,
            "token_watch_alerts_total{source=\"audit-log\",signal=\"request\",drill=\"false\"}"
        ),
        Some(1.0),
        "{scrape}"
    );
    let seen = sample(
        &scrape,
        "token_watch_last_event_timestamp_seconds{source=\"audit-log\"}",
    )
    .expect("a last event time");
    assert!(seen >= before, "{seen} < {before}");
    assert_eq!(
        sample(&scrape, "token_watch_source_ready{source=\"audit-log\"}"),
        Some(1.0)
    );
    assert_eq!(http_get(&address, "/nothing").0, 404);
    let (code, stderr) = watcher.stop();
    assert_eq!(code, Some(0), "{stderr}");
}

#[tokio::test]
async fn metrics_of_a_watcher_on_the_real_audit_log_count_the_attackers_alert() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "health").await;
    let plugin = Plugin::new(cluster);
    let planted = plugin.as_operator(&namespace, &["plant", "--yes", "-o", "json"]);
    planted.assert_code(0);
    let secret = planted.json()["secret"].as_str().unwrap().to_string();
    let audit_log = cluster.audit_log_path().display().to_string();
    // The decoys found as status finds them, through the operator's context.
    let watcher = Watcher::start(plugin.command(&[
        "--context",
        "operator",
        "-n",
        &namespace,
        "watch",
        "--audit-log",
        &audit_log,
        "--group-window",
        "1",
        "--metrics-address",
        "127.0.0.1:0",
    ]));
    let address = watcher.health_address();
    assert!(
        wait_until(Duration::from_secs(10), || http_get(&address, "/readyz").0
            == 200),
        "{}",
        watcher.stderr()
    );
    // The API server writes its log all the time; the watcher sees it grow.
    let started = now() - 1.0;
    plugin.as_operator(&namespace, &["status"]).assert_code(0);
    assert!(wait_until(Duration::from_secs(10), || {
        sample(
            &http_get(&address, "/metrics").1,
            "token_watch_last_event_timestamp_seconds{source=\"audit-log\"}",
        )
        .is_some_and(|seen| seen >= started)
    }));

    let token = support::token_of(&admin, &namespace, &secret).await;
    let attacker = cluster.list_secrets_with_token(&token, &namespace);
    assert!(!attacker.status.success());
    let alert = watcher.next_alert(Duration::from_secs(15));
    assert_eq!(alert["drill"], false, "{alert:#}");
    let (code, scrape) = http_get(&address, "/metrics");
    assert_eq!(code, 200);
    assert_eq!(
        sample(
            &scrape,
            "token_watch_alerts_total{source=\"audit-log\",signal=\"request\",drill=\"false\"}"
        ),
        Some(1.0),
        "{scrape}"
    );
    assert_eq!(
        sample(
            &scrape,
            "token_watch_delivery_failures_total{sink=\"stdout\"}"
        ),
        Some(0.0)
    );
    // What a scrape shows never names the decoy or holds its token.
    assert!(
        !scrape.contains(&secret) && !scrape.contains("tiller"),
        "{scrape}"
    );
    assert!(!scrape.contains(&token));
    let (code, stderr) = watcher.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains(&token));
}

#[tokio::test]
async fn metrics_of_a_tripwire_watcher_say_ready_once_synced_and_count_the_use_and_the_re_arm() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "tripmetrics").await;
    let plugin = Plugin::new(cluster);
    let planted = plugin.as_operator(&namespace, &["plant", "--yes", "-o", "json"]);
    planted.assert_code(0);
    let secret = planted.json()["secret"].as_str().unwrap().to_string();
    let watcher = Watcher::start(plugin.command(&[
        "--context",
        "operator",
        "-n",
        &namespace,
        "watch",
        "--tripwire",
        "--metrics-address",
        "127.0.0.1:0",
    ]));
    let address = watcher.health_address();
    assert!(
        wait_until(Duration::from_secs(20), || http_get(&address, "/readyz").0
            == 200),
        "{}",
        watcher.stderr()
    );
    let (_, scrape) = http_get(&address, "/metrics");
    assert_eq!(
        sample(&scrape, "token_watch_source_ready{source=\"tripwire\"}"),
        Some(1.0),
        "{scrape}"
    );
    assert!(
        sample(
            &scrape,
            "token_watch_last_event_timestamp_seconds{source=\"tripwire\"}"
        )
        .is_some(),
        "the first lists were seen:\n{scrape}"
    );
    assert_eq!(
        sample(&scrape, "token_watch_rearms_total"),
        Some(0.0),
        "{scrape}"
    );

    let token = support::token_of(&admin, &namespace, &secret).await;
    let attacker = cluster.list_secrets_with_token(&token, &namespace);
    assert!(!attacker.status.success());
    let alert = watcher.next_alert(Duration::from_secs(15));
    assert_eq!(alert["signal"], "tripwire", "{alert:#}");
    assert!(
        wait_until(Duration::from_secs(10), || sample(
            &http_get(&address, "/metrics").1,
            "token_watch_rearms_total"
        ) == Some(1.0)),
        "{}",
        http_get(&address, "/metrics").1
    );
    let (_, scrape) = http_get(&address, "/metrics");
    assert_eq!(
        sample(
            &scrape,
            "token_watch_alerts_total{source=\"tripwire\",signal=\"tripwire\",drill=\"false\"}"
        ),
        Some(1.0),
        "{scrape}"
    );
    assert_eq!(
        sample(&scrape, "token_watch_rearm_failures_total"),
        Some(0.0)
    );
    assert!(!scrape.contains(&secret) && !scrape.contains(&token));
    let (code, stderr) = watcher.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains(&token));
    plugin
        .as_operator(&namespace, &["remove", "--yes"])
        .assert_code(0);
}
