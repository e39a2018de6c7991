//! `watch` over a fleet on the bed: one process follows the decoys of two beds of its own
//! (and a context that never answers), each alert naming the context it came from; bed
//! two's audit webhook posts to the watcher's path for its context.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::fleet::FleetBeds;
use support::watcher::{Watcher, http_get, sample, wait_until};

/// The API server of a bed, as the watcher names it (no trailing slash).
fn server_of(bed: &support::ExtraBed) -> String {
    let config = kube::config::Kubeconfig::read_from(&bed.kubeconfig).expect("the kubeconfig");
    config.clusters[0]
        .cluster
        .as_ref()
        .and_then(|c| c.server.clone())
        .expect("a server")
        .trim_end_matches('/')
        .to_string()
}

/// Relays every connection made to `listener` to `to`, byte for byte (TLS passes through),
/// on threads of its own: a cluster that becomes reachable once this starts.
fn relay(listener: std::net::TcpListener, to: String) {
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = std::net::TcpStream::connect(&to) else {
                continue;
            };
            for (mut from, mut into) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut into);
                    let _ = into.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
}

/// A kubeconfig of one more context, `late`: bed one's admin at a loopback port where
/// nothing listens yet.
fn late_kubeconfig(fleet: &FleetBeds, port: u16) -> std::path::PathBuf {
    let config = kube::config::Kubeconfig::read_from(&fleet.kubeconfig).expect("the kubeconfig");
    let cluster = config
        .clusters
        .iter()
        .find(|c| c.name == "one")
        .and_then(|c| c.cluster.clone())
        .expect("cluster one");
    let token = config
        .auth_infos
        .iter()
        .find(|u| u.name == "one-admin")
        .and_then(|u| u.auth_info.as_ref())
        .and_then(|u| u.token.as_ref())
        .map(|t| secrecy::ExposeSecret::expose_secret(t).to_string())
        .expect("one's admin token");
    let path = fleet.dir().join("late-kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n  - name: late\n    cluster: {{server: 'https://127.0.0.1:{port}', certificate-authority: '{}'}}\nusers:\n  - name: late-admin\n    user: {{token: '{token}'}}\ncontexts:\n  - name: late\n    context: {{cluster: late, user: late-admin}}\n",
            cluster.certificate_authority.expect("a CA file")
        ),
    )
    .unwrap();
    path
}

/// Whether the API server's last-used stamp is on the decoy Secret.
async fn stamped(admin: &kube::Client, secret: &str) -> bool {
    use k8s_openapi::api::core::v1::Secret;
    kube::Api::<Secret>::namespaced(admin.clone(), "kube-system")
        .get_metadata(secret)
        .await
        .expect("the decoy Secret's metadata")
        .metadata
        .labels
        .unwrap_or_default()
        .contains_key("kubernetes.io/legacy-token-last-used")
}

#[track_caller]
fn assert_from(alert: &Value, context: &str, server: &str) {
    assert_eq!(alert["context"], context, "{alert}");
    assert_eq!(alert["server"], server, "{alert}");
    assert!(
        alert["text"]
            .as_str()
            .unwrap()
            .starts_with(&format!("[{context}] ")),
        "{alert}"
    );
}

#[tokio::test]
async fn watch_over_a_fleet_names_each_alerts_context_and_goes_on_without_the_unreachable() {
    support::require_bed();
    let port = support::free_port();
    let hook = format!("http://127.0.0.1:{port}/contexts/two");
    let fleet = FleetBeds::start_with("fleet-watch", &[("HONEYTOKEN_AUDIT_WEBHOOK_URL", &hook)]);
    let plugin = fleet.plugin();
    let [secret_one, secret_two] = fleet.plant_in_each(&plugin);
    let (server_one, server_two) = (server_of(&fleet.one), server_of(&fleet.two));
    assert_ne!(
        secret_one, secret_two,
        "each cluster's decoy has its own name"
    );
    let admin_one = fleet.one.cluster().client("admin").await;
    let admin_two = fleet.two.cluster().client("admin").await;
    let token_one = support::token_of(&admin_one, "kube-system", &secret_one).await;
    let token_two = support::token_of(&admin_two, "kube-system", &secret_two).await;

    // The tripwire of both beds in one process.
    let watcher = Watcher::start(plugin.command(&[
        "--context",
        "one,two",
        "watch",
        "--tripwire",
        "-o",
        "json",
        "--metrics-address",
        "127.0.0.1:0",
    ]));
    watcher.wait_ready(Duration::from_secs(30));
    let attack = fleet
        .two
        .cluster()
        .list_secrets_with_token(&token_two, "kube-system");
    assert!(!attack.status.success());
    let two_used = Instant::now();
    let alert = watcher.next_alert(Duration::from_secs(15));
    assert_eq!(alert["signal"], "tripwire", "{alert}");
    assert_from(&alert, "two", &server_two);
    assert_eq!(
        alert["secret"],
        format!("kube-system/{secret_two}"),
        "{alert}"
    );
    watcher.assert_quiet(Duration::from_secs(3), "the one use of bed two's decoy");
    let attack = fleet
        .one
        .cluster()
        .list_secrets_with_token(&token_one, "kube-system");
    assert!(!attack.status.success());
    let one_used = Instant::now();
    let alert = watcher.next_alert(Duration::from_secs(15));
    assert_eq!(alert["signal"], "tripwire", "{alert}");
    assert_from(&alert, "one", &server_one);
    assert_eq!(
        alert["secret"],
        format!("kube-system/{secret_one}"),
        "{alert}"
    );
    // Re-armed in each bed before the watcher stops, or the next one tells the stamp left.
    for (admin, secret) in [(&admin_one, &secret_one), (&admin_two, &secret_two)] {
        support::eventually(Duration::from_secs(20), || async {
            (!stamped(admin, secret).await).then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("{secret} was not re-armed; {}", watcher.stderr()));
    }
    let (code, stdout, stderr) = watcher.stop_with_stdout();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("watch: context one: "), "{stderr}");
    for text in [&stdout, &stderr] {
        assert!(!text.contains(&token_one) && !text.contains(&token_two));
    }

    // With a context that refuses connections, and bed two's audit webhook: the others are
    // watched, the refused one is told as not started, and /readyz names it.
    let listen = format!("127.0.0.1:{port}");
    let log_one = format!("one={}", fleet.one.audit_log.display());
    let watcher = Watcher::start(plugin.command(&[
        "--context",
        "one,two,gone",
        "watch",
        "--tripwire",
        "--listen",
        &listen,
        "--audit-log",
        &log_one,
        "--group-window",
        "1",
        "-o",
        "json",
        "--metrics-address",
        "127.0.0.1:0",
    ]));
    let stderr = watcher.stderr();
    assert!(
        stderr.contains("watch: context gone not started: ")
            && stderr.contains("trying again with back-off"),
        "{stderr}"
    );
    assert!(stderr.contains("not started yet: gone"), "{stderr}");
    assert!(
        stderr.contains(&format!("http://{listen}/contexts/two")),
        "{stderr}"
    );
    let address = watcher.health_address();
    assert!(
        wait_until(Duration::from_secs(30), || {
            let scrape = http_get(&address, "/metrics").1;
            sample(&scrape, "token_watch_context_ready{context=\"one\"}") == Some(1.0)
                && sample(&scrape, "token_watch_context_ready{context=\"two\"}") == Some(1.0)
        }),
        "contexts one and two were not watched within 30s; stderr:\n{}",
        watcher.stderr()
    );
    let scrape = http_get(&address, "/metrics").1;
    assert_eq!(
        sample(&scrape, "token_watch_context_ready{context=\"gone\"}"),
        Some(0.0),
        "{scrape}"
    );
    let (status, body) = http_get(&address, "/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("context gone")
            && !body.contains("context one")
            && !body.contains("context two"),
        "{body}"
    );

    // The API server stamps a token once per 10 s at most.
    if let Some(wait) = (two_used + Duration::from_secs(11)).checked_duration_since(Instant::now())
    {
        std::thread::sleep(wait);
    }
    let attack = fleet
        .two
        .cluster()
        .list_secrets_with_token(&token_two, "kube-system");
    assert!(!attack.status.success());
    // The tripwire tells the use, and the audit events posted to /contexts/two tell who:
    // both name context two, and the later one is an update of the first.
    let first = watcher.next_alert(Duration::from_secs(15));
    let second = watcher.next_alert(Duration::from_secs(15));
    for alert in [&first, &second] {
        assert_from(alert, "two", &server_two);
    }
    let (tripwire, audit) = if first["signal"] == "tripwire" {
        (&first, &second)
    } else {
        (&second, &first)
    };
    assert_eq!(tripwire["signal"], "tripwire", "{tripwire}");
    assert_eq!(audit["source"], "webhook", "{audit}");
    assert_eq!(audit["signal"], "request", "{audit}");
    assert_eq!(audit["alertID"], tripwire["alertID"], "{first}\n{second}");
    assert_eq!(second["update"], true, "{second}");
    assert!(
        audit["requests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["requestURI"]
                .as_str()
                .unwrap()
                .starts_with("/api/v1/namespaces/kube-system/secrets")),
        "{audit}"
    );
    // Bed one's audit log, followed as context one's: its events name context one.
    if let Some(wait) = (one_used + Duration::from_secs(11)).checked_duration_since(Instant::now())
    {
        std::thread::sleep(wait);
    }
    let attack = fleet
        .one
        .cluster()
        .list_secrets_with_token(&token_one, "kube-system");
    assert!(!attack.status.success());
    let one_used_again = Instant::now();
    let first = watcher.next_alert(Duration::from_secs(15));
    let second = watcher.next_alert(Duration::from_secs(15));
    for alert in [&first, &second] {
        assert_from(alert, "one", &server_one);
    }
    let audit = if first["signal"] == "tripwire" {
        &second
    } else {
        &first
    };
    assert_eq!(
        audit["source"],
        fleet.one.audit_log.display().to_string(),
        "{audit}"
    );
    assert_eq!(audit["signal"], "request", "{audit}");
    assert_eq!(first["alertID"], second["alertID"], "{first}\n{second}");
    support::eventually(Duration::from_secs(20), || async {
        (!stamped(&admin_one, &secret_one).await).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("{secret_one} was not re-armed; {}", watcher.stderr()));
    let (code, stdout, stderr) = watcher.stop_with_stdout();
    assert_eq!(code, Some(0), "{stderr}");
    for text in [&stdout, &stderr] {
        assert!(!text.contains(&token_one) && !text.contains(&token_two));
    }

    // A context unreachable at start is tried again with back-off, and watched once it
    // answers: `late` reaches bed one only once the relay listens.
    let late_port = support::free_port();
    let late = late_kubeconfig(&fleet, late_port);
    let mut command =
        plugin.command(&["--context", "two,late", "watch", "--tripwire", "-o", "json"]);
    command.env(
        "KUBECONFIG",
        format!("{}:{}", fleet.kubeconfig.display(), late.display()),
    );
    let watcher = Watcher::start(command);
    assert!(
        watcher
            .stderr()
            .contains("watch: context late not started: "),
        "{}",
        watcher.stderr()
    );
    let listener = std::net::TcpListener::bind(("127.0.0.1", late_port)).unwrap();
    relay(
        listener,
        server_one.trim_start_matches("https://").to_string(),
    );
    watcher.wait_for_stderr("watch: context late started: ", Duration::from_secs(90));
    if let Some(wait) =
        (one_used_again + Duration::from_secs(11)).checked_duration_since(Instant::now())
    {
        std::thread::sleep(wait);
    }
    let attack = fleet
        .one
        .cluster()
        .list_secrets_with_token(&token_one, "kube-system");
    assert!(!attack.status.success());
    let alert = watcher.next_alert(Duration::from_secs(15));
    assert_eq!(alert["signal"], "tripwire", "{alert}");
    assert_from(&alert, "late", &format!("https://127.0.0.1:{late_port}"));
    assert_eq!(
        alert["secret"],
        format!("kube-system/{secret_one}"),
        "{alert}"
    );
    let (code, stdout, stderr) = watcher.stop_with_stdout();
    assert_eq!(code, Some(0), "{stderr}");
    for text in [&stdout, &stderr] {
        assert!(!text.contains(&token_one) && !text.contains(&token_two));
    }
}
