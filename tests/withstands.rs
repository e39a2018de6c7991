//! What `watch` withstands (the README's section of that name): every case of
//! `tests/attacks` against the running binary. No cluster is needed; the decoy is named by
//! hand, and attackers are local processes on loopback, as the README says they may be.

mod attacks;
mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use attacks::{DECOY, Flood, Watcher};
use support::Plugin;
use support::pki::Pki;

/// The receiver's resident memory may not go beyond this under the hostile bodies (the
/// README's figure): bodies and the events kept from them (twice --max-body, 64 MiB, and
/// an 8 MiB reserve for small bodies), what connections buffer, and the program itself.
const PEAK_RSS_BOUND_MIB: u64 = 160;

fn has_audit_id(alert: &serde_json::Value, id: &str) -> bool {
    alert["auditIDs"]
        .as_array()
        .is_some_and(|ids| ids.iter().any(|i| i == id))
}

#[test]
fn hostile_bodies_neither_exhaust_the_receivers_memory_nor_stop_its_alerts() {
    let plugin = Plugin::offline();
    let address: SocketAddr = format!("127.0.0.1:{}", support::free_port())
        .parse()
        .unwrap();
    let listen = address.to_string();
    let mut command = plugin.command(&[
        "watch",
        "--listen",
        &listen,
        "--user",
        DECOY,
        "--group-window",
        "0.2",
    ]);
    // Today's 86 bytes per byte of empty items would take gigabytes: fail here instead.
    attacks::limit_address_space(&mut command, 4 << 30);
    let mut watcher = Watcher::start(command);

    for (n, (name, body)) in attacks::hostile_bodies().into_iter().enumerate() {
        // Four senders at once.
        let answers: Vec<Option<u16>> = std::thread::scope(|scope| {
            let senders: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| attacks::post(address, &body, None).map(|(s, _)| s)))
                .collect();
            senders.into_iter().map(|s| s.join().unwrap()).collect()
        });
        assert!(
            watcher.is_running(),
            "{name}: watch died; stderr:\n{}",
            watcher.stderr()
        );
        assert!(
            answers
                .iter()
                .all(|a| matches!(a, Some(200 | 400 | 413 | 503))),
            "{name}: {answers:?}"
        );
        // The real use that follows is alerted, sent as the API server sends it.
        let id = format!("real-use-{n}");
        let ip = format!("10.9.9.{n}");
        let status = attacks::post_as_api_server(address, &attacks::decoy_event_list(&id, &ip), 10);
        assert_eq!(status, Some(200), "{name}: the real event was not taken");
        let alert = watcher.alert_where(Duration::from_secs(30), |a| has_audit_id(a, &id));
        assert_eq!(alert["sourceIPs"], serde_json::json!([ip]), "{alert:#}");
        let peak = attacks::peak_rss_kib(watcher.child.id()) / 1024;
        eprintln!("after {name}: peak resident memory {peak} MiB ({answers:?})");
    }
    let peak = attacks::peak_rss_kib(watcher.child.id()) / 1024;
    assert!(
        peak <= PEAK_RSS_BOUND_MIB,
        "peak resident memory {peak} MiB, over {PEAK_RSS_BOUND_MIB} MiB"
    );
    let (code, stderr) = watcher.stop();
    assert_eq!(code, Some(0), "{stderr}");
}

/// One authenticated delivery on a new connection, as the API server makes it: the status.
async fn post_tls(
    connector: &tokio_rustls::TlsConnector,
    address: SocketAddr,
    token: &str,
    body: &[u8],
) -> Result<u16, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector
        .connect(name, stream)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let head = format!(
        "POST /audit HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    tls.write_all(body)
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no answer: {answer:?}"))
}

#[test]
fn a_flood_of_unauthenticated_connections_does_not_keep_the_api_server_out() {
    let pki = Pki::new();
    let plugin = Plugin::offline();
    let address: SocketAddr = format!("127.0.0.1:{}", support::free_port())
        .parse()
        .unwrap();
    let listen = address.to_string();
    let watcher = Watcher::start(plugin.command(&[
        "watch",
        "--listen",
        &listen,
        "--tls-cert",
        &pki.path("server.crt"),
        "--tls-key",
        &pki.path("server.key"),
        "--client-ca",
        &pki.path("ca.crt"),
        "--token-file",
        &pki.path("token"),
        "--user",
        DECOY,
        "--group-window",
        "0.2",
    ]));
    // From 127.0.0.2 to 127.0.0.9, more connections than the receiver holds from each.
    let sources: Vec<[u8; 4]> = (2..=9).map(|n| [127, 0, 0, n]).collect();
    let flood = Flood::start(address, &sources, 24);
    // The receiver is full once it starts closing the flood's connections.
    watcher.wait_for_stderr("refused a request from 127.0.0.", Duration::from_secs(60));

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let connector = pki.connector();
    let attempts = 100;
    let mut delivered = 0;
    let mut failures = Vec::new();
    for n in 0..attempts {
        let body = attacks::decoy_event_list(&format!("through-the-flood-{n}"), "10.8.8.8");
        let outcome = runtime.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(15),
                post_tls(&connector, address, "audit-sink-token", &body),
            )
            .await
            .unwrap_or_else(|_| Err("no answer within 15 s".into()))
        });
        match outcome {
            Ok(200) => delivered += 1,
            other => failures.push(format!("{n}: {other:?}")),
        }
    }
    let opened = flood.opened.load(std::sync::atomic::Ordering::Relaxed);
    flood.stop();
    eprintln!(
        "{delivered} of {attempts} authenticated deliveries during a flood of {opened} connections"
    );
    assert!(
        delivered * 100 >= attempts * 99,
        "{delivered} of {attempts} delivered; failures: {failures:?}\nstderr:\n{}",
        watcher.stderr()
    );
    // The deliveries were alerted on: one client, one alert.
    let alert = watcher.next_alert(Duration::from_secs(30));
    assert!(has_audit_id(&alert, "through-the-flood-0"), "{alert:#}");
    let (code, stderr) = watcher.stop();
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn hundreds_of_alerts_run_a_few_commands_and_stop_ends_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    std::fs::write(&log, "").unwrap();
    let started = dir.path().join("started");
    // Each run notes its process, its environment, and stays (with a child of its own).
    let exec = format!(
        "echo $$ >> {started}; env > {dir}/env-$$; sleep 600",
        started = started.display(),
        dir = dir.path().display()
    );
    let plugin = Plugin::offline();
    let mut command = plugin.command(&[
        "watch",
        "--audit-log",
        &log.display().to_string(),
        "--user",
        DECOY,
        "--group-window",
        "0.2",
        "--exec",
        &exec,
    ]);
    command.env("HONEYTOKEN_KEY", "ab".repeat(32));
    let watcher = Watcher::start(command);

    // 400 requests, each from another user agent: 400 alerts.
    let alerts = 400;
    std::fs::write(&log, attacks::distinct_agent_lines(alerts)).unwrap();
    for _ in 0..alerts {
        watcher.next_alert(Duration::from_secs(30));
    }
    watcher.wait_for_stderr("--exec not run for an alert", Duration::from_secs(10));
    let read_started = || -> Vec<u32> {
        std::fs::read_to_string(&started)
            .unwrap_or_default()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while read_started().len() < 4 {
        assert!(Instant::now() < deadline, "{:?}", read_started());
        std::thread::sleep(Duration::from_millis(50));
    }
    let groups = read_started();
    assert_eq!(groups.len(), 4, "four commands at once: {groups:?}");
    for pid in &groups {
        let env = std::fs::read_to_string(dir.path().join(format!("env-{pid}"))).unwrap();
        for withheld in ["HONEYTOKEN_KEY=", "KUBECONFIG=", "HONEYTOKEN_HOME="] {
            assert!(
                !env.lines().any(|l| l.starts_with(withheld)),
                "{withheld} given to --exec"
            );
        }
        assert!(
            attacks::alive_in_group(*pid).len() >= 2,
            "the shell and its sleep run in a group of their own"
        );
    }

    let (code, stderr) = watcher.stop();
    assert_eq!(code, Some(0), "{stderr}");
    // 4 ran, 16 waited, the other 380 were counted.
    assert!(
        stderr.contains("380 alerts not given to --exec"),
        "{stderr}"
    );
    assert!(
        stderr.contains("4 --exec commands among them ended"),
        "{stderr}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    for pid in &groups {
        while !attacks::alive_in_group(*pid).is_empty() {
            assert!(
                Instant::now() < deadline,
                "left running after stop: {:?}",
                attacks::alive_in_group(*pid)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert_eq!(read_started().len(), 4, "nothing started after stop");
}
