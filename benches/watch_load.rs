//! Load on `watch --listen`: audit EventLists are replayed into the webhook receiver as fast
//! as it acknowledges them, over several connections, while a decoy event is sent every
//! quarter second from a new address (each its own alert). Prints the sustained events per
//! second, against a receiver in this process that only reads and acknowledges the bodies
//! (the baseline: what the HTTP path alone costs on this machine), and the alert latency
//! percentiles, from the decoy event's POST to its alert line on watch's stdout, and the
//! watcher's peak resident memory.
//!
//!   cargo bench --bench watch_load -- [SECONDS] [CONNECTIONS]
//!
//! Both run on the same cores as the load generator, so the figures are lower bounds.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const DECOY: &str = "system:serviceaccount:kube-system:tiller";
/// The API server's default audit webhook batch size.
const BATCH: usize = 400;
const GROUP_WINDOW: &str = "0.1";

fn event(n: usize, user: &str, ip: &str, agent: &str) -> String {
    let resources = ["pods", "secrets", "configmaps", "leases", "events", "nodes"];
    let verbs = ["get", "list", "watch", "update", "patch", "create"];
    let resource = resources[n % resources.len()];
    let code = [200, 200, 201, 404][n % 4];
    serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": format!("{n:08x}-1f2e-4c3b-9a8d-{n:012x}"), "stage": "ResponseComplete",
        "requestURI": format!("/api/v1/namespaces/ns-{}/{resource}?limit=500", n % 40),
        "verb": verbs[n % verbs.len()],
        "user": {"username": user, "uid": "u", "groups": ["system:authenticated"]},
        "sourceIPs": [ip], "userAgent": agent,
        "objectRef": {"resource": resource, "namespace": format!("ns-{}", n % 40), "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": "2026-11-28T10:00:00.000000Z",
        "stageTimestamp": "2026-11-28T10:00:00.004000Z",
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""},
    })
    .to_string()
}

fn event_list(items: &[String]) -> Bytes {
    Bytes::from(format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{}]}}"#,
        items.join(",")
    ))
}

/// Bodies of ordinary traffic: many users and agents, none of them the decoy.
fn traffic() -> Vec<Bytes> {
    let users: Vec<String> = [
        "system:kube-controller-manager",
        "system:kube-scheduler",
        "admin",
    ]
    .iter()
    .map(|u| u.to_string())
    .chain((0..20).map(|i| format!("system:serviceaccount:team-{i}:app")))
    .chain((0..16).map(|i| format!("system:node:ip-10-0-{}-{}.ec2.internal", i / 4, i % 4)))
    .collect();
    let agents = [
        "kube-controller-manager/v1.36.3 (linux/amd64) kubernetes/abc/leader-election",
        "kubelet/v1.36.3 (linux/amd64) kubernetes/abc",
        "kubectl/v1.36.3 (linux/amd64) kubernetes/abc",
    ];
    (0..8)
        .map(|b| {
            let items: Vec<String> = (0..BATCH)
                .map(|i| {
                    let n = b * BATCH + i;
                    event(
                        n,
                        &users[n % users.len()],
                        &format!("10.0.{}.{}", n % 250, n % 199),
                        agents[n % 3],
                    )
                })
                .collect();
            event_list(&items)
        })
        .collect()
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn post(client: &HttpClient, url: &str, body: Bytes) -> bool {
    let request = hyper::Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(body))
        .unwrap();
    match client.request(request).await {
        Ok(response) => {
            let ok = response.status().is_success();
            let _ = response.into_body().collect().await;
            ok
        }
        Err(_) => false,
    }
}

struct Load {
    events: u64,
    failed_posts: u64,
    elapsed: Duration,
    /// When each decoy event's POST started, by its source address.
    decoys_sent: Vec<(String, Instant)>,
}

async fn run_load(url: &str, seconds: u64, connections: usize, with_decoys: bool) -> Load {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let bodies = Arc::new(traffic());
    let events = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (client, bodies, events, failed, url) = (
            client.clone(),
            bodies.clone(),
            events.clone(),
            failed.clone(),
            url.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = c;
            while Instant::now() < until {
                if post(&client, &url, bodies[i % bodies.len()].clone()).await {
                    events.fetch_add(BATCH as u64, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                i += connections;
            }
        }));
    }
    let decoys = tokio::spawn({
        let (client, url) = (client.clone(), url.to_string());
        async move {
            let mut sent = Vec::new();
            if !with_decoys {
                return sent;
            }
            let mut n = 0;
            while Instant::now() + Duration::from_millis(300) < until {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let ip = format!("192.0.2.{}", n + 1);
                let body = event_list(&[event(
                    1_000_000 + n,
                    DECOY,
                    &ip,
                    "kubectl/v1.36.3 (linux/amd64)",
                )]);
                let at = Instant::now();
                if post(&client, &url, body).await {
                    sent.push((ip, at));
                }
                n += 1;
            }
            sent
        }
    });
    for task in tasks {
        task.await.unwrap();
    }
    let decoys_sent = decoys.await.unwrap();
    Load {
        events: events.load(Ordering::Relaxed),
        failed_posts: failed.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        decoys_sent,
    }
}

/// The baseline receiver: reads each body and answers 200, nothing else.
async fn discard_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |request: hyper::Request<hyper::body::Incoming>| async move {
                        let _ = request.into_body().collect().await;
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::new(),
                        )))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    address
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn rate(load: &Load) -> f64 {
    load.events as f64 / load.elapsed.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let seconds: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(10);
    let connections: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(4);

    let baseline_address = discard_server().await;
    let baseline = run_load(
        &format!("http://{baseline_address}/"),
        seconds,
        connections,
        false,
    )
    .await;

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut watcher = Command::new(env!("CARGO_BIN_EXE_kubectl-honeytoken"))
        .args([
            "watch",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--user",
            DECOY,
        ])
        .args(["--group-window", GROUP_WINDOW])
        .env("KUBECONFIG", "/nonexistent")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kubectl-honeytoken watch");
    let (sender, alerts) = std::sync::mpsc::channel();
    let stdout = watcher.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send((Instant::now(), line));
        }
    });
    let mut stderr = BufReader::new(watcher.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(
        first.starts_with("watch: watching"),
        "watch did not start: {first}"
    );
    std::thread::spawn(move || for _ in stderr.lines() {});

    let load = run_load(
        &format!("http://127.0.0.1:{port}/"),
        seconds,
        connections,
        true,
    )
    .await;
    std::thread::sleep(Duration::from_secs(2));
    let mut arrived: HashMap<String, Instant> = HashMap::new();
    while let Ok((at, line)) = alerts.try_recv() {
        let alert: serde_json::Value = serde_json::from_str(&line).unwrap();
        arrived.insert(alert["sourceIPs"][0].as_str().unwrap().to_string(), at);
    }
    let peak_rss_mib = std::fs::read_to_string(format!("/proc/{}/status", watcher.id()))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kib| kib / 1024);
    unsafe { libc::kill(watcher.id() as libc::pid_t, libc::SIGTERM) };
    let _ = watcher.wait();

    let mut latencies: Vec<Duration> = load
        .decoys_sent
        .iter()
        .filter_map(|(ip, sent)| arrived.get(ip).map(|at| at.duration_since(*sent)))
        .collect();
    latencies.sort();
    let missing = load.decoys_sent.len() - latencies.len();

    println!(
        "watch --listen under load: {seconds}s, {connections} connections, batches of {BATCH} events (~{} bytes each)",
        traffic()[0].len()
    );
    println!(
        "  baseline (read and acknowledge only): {:>10.0} events/s",
        rate(&baseline)
    );
    println!(
        "  watch:                                {:>10.0} events/s  (ratio to baseline {:.2})",
        rate(&load),
        rate(&load) / rate(&baseline)
    );
    println!(
        "  failed posts: baseline {}, watch {}",
        baseline.failed_posts, load.failed_posts
    );
    if let Some(mib) = peak_rss_mib {
        println!("  watch's peak resident memory: {mib} MiB");
    }
    if latencies.is_empty() {
        println!(
            "  no alert arrived for any of {} decoy events",
            load.decoys_sent.len()
        );
        std::process::exit(1);
    }
    println!(
        "  alert latency over {} decoy events (group window {GROUP_WINDOW}s included): p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        latencies.last().unwrap()
    );
    if missing > 0 {
        println!("  MISSING: {missing} decoy events raised no alert");
        std::process::exit(1);
    }
}
