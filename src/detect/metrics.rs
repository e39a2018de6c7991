//! A long-running watcher's own health: Prometheus metrics and probe endpoints, so that a
//! watcher that died, or one of whose sources went quiet, is itself noticed.
//!
//! [`Metrics`] is the registry, with a small typed API the sources call; [`serve`] answers
//! `GET /metrics` (OpenMetrics text, which Prometheus scrapes), `GET /healthz` (the process
//! answers) and `GET /readyz` (every source it was started with has started: a followed
//! file is open, a receiver listens, an API watch has synced). The server takes a bounded
//! number of connections, reads no request bodies and answers only GET and HEAD.
//!
//! Every metric is named `token_watch_*`, and no label holds a decoy's name or anything
//! read from the cluster: a scrape shows counts and times, the names of the sources
//! (`audit-log`, `webhook`, `tripwire`) and, for a fleet, the kubeconfig contexts watched,
//! never which Secret is watched.
//!
//! | metric | kind | labels |
//! | --- | --- | --- |
//! | `token_watch_alerts_total` | counter | `source` (where its events came from), `signal` (the alert's own: `request`, `stamp`, ...), `drill` (`true`, `false`); an update of an alert already sent is not counted again |
//! | `token_watch_rearms_total` | counter | |
//! | `token_watch_rearm_failures_total` | counter | |
//! | `token_watch_source_restarts_total` | counter | `source` (a watch re-established, a followed file reopened) |
//! | `token_watch_source_errors_total` | counter | `source` (a read or request that failed and is retried) |
//! | `token_watch_deliveries_total` | counter | `sink` (`webhook`, `alertmanager`, `falcosidekick`, `exec`: alerts a sink took) |
//! | `token_watch_delivery_failures_total` | counter | `sink` (those and `stdout`: alerts a sink did not take, or that were not given to it, its queue being full) |
//! | `token_watch_last_event_timestamp_seconds` | gauge | `source` (Unix time the source last brought anything: any audit line, any webhook batch, any watch event) |
//! | `token_watch_source_ready` | gauge | `source` (1 once started or synced) |
//! | `token_watch_context_ready` | gauge | `context` (a fleet's: 1 once the context's decoys are found and its tripwire, if watched, has synced) |
//! | `token_watch_start_time_seconds` | gauge | |
//! | `token_watch_build_info` | gauge | `version` (always 1) |

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

/// The prefix of every metric.
pub const PREFIX: &str = "token_watch";

/// The sources a watcher has, as they appear in labels.
pub const AUDIT_LOG: &str = "audit-log";
pub const WEBHOOK: &str = "webhook";
pub const TRIPWIRE: &str = "tripwire";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertLabels {
    source: String,
    signal: String,
    drill: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabels {
    sink: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ContextLabels {
    context: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

type TimeGauge = Gauge<f64, AtomicU64>;

/// A watcher's metrics. Cheap to update from any thread; share it as `Arc<Metrics>`.
pub struct Metrics {
    registry: Registry,
    alerts: Family<AlertLabels, Counter>,
    rearms: Counter,
    rearm_failures: Counter,
    restarts: Family<SourceLabels, Counter>,
    errors: Family<SourceLabels, Counter>,
    deliveries: Family<SinkLabels, Counter>,
    delivery_failures: Family<SinkLabels, Counter>,
    last_event: Family<SourceLabels, TimeGauge>,
    ready: Family<SourceLabels, Gauge>,
    context_ready: Family<ContextLabels, Gauge>,
    /// The sources the watcher was started with, and whether each has started; a fleet's
    /// contexts are among them as `context <name>`.
    sources: Mutex<BTreeMap<String, bool>>,
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn source(name: &str) -> SourceLabels {
    SourceLabels {
        source: name.to_string(),
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix(PREFIX);
        let alerts = Family::<AlertLabels, Counter>::default();
        registry.register(
            "alerts",
            "Alerts raised, by source, by the signal they tell of, and whether they were drills",
            alerts.clone(),
        );
        let rearms = Counter::default();
        registry.register(
            "rearms",
            "Last-used stamps removed so that the next use stamps again",
            rearms.clone(),
        );
        let rearm_failures = Counter::default();
        registry.register(
            "rearm_failures",
            "Re-arms that failed (refused, or the API server did not answer)",
            rearm_failures.clone(),
        );
        let restarts = Family::<SourceLabels, Counter>::default();
        registry.register(
            "source_restarts",
            "Times a source started over: a watch re-established, a followed file reopened",
            restarts.clone(),
        );
        let errors = Family::<SourceLabels, Counter>::default();
        registry.register(
            "source_errors",
            "Reads or requests of a source that failed and are retried",
            errors.clone(),
        );
        let deliveries = Family::<SinkLabels, Counter>::default();
        registry.register(
            "deliveries",
            "Alerts a sink took (webhook, alertmanager, falcosidekick, exec)",
            deliveries.clone(),
        );
        let delivery_failures = Family::<SinkLabels, Counter>::default();
        registry.register(
            "delivery_failures",
            "Alerts a sink did not take, or that were not given to it (its queue full)",
            delivery_failures.clone(),
        );
        let last_event = Family::<SourceLabels, TimeGauge>::default();
        registry.register_with_unit(
            "last_event_timestamp",
            "Unix time a source last brought anything (an audit line, a webhook batch, a watch event)",
            Unit::Seconds,
            last_event.clone(),
        );
        let ready = Family::<SourceLabels, Gauge>::default();
        registry.register(
            "source_ready",
            "1 once a source has started (file open, receiver listening, watch synced)",
            ready.clone(),
        );
        let context_ready = Family::<ContextLabels, Gauge>::default();
        registry.register(
            "context_ready",
            "1 once a fleet's context is watched (its decoys found, its tripwire synced)",
            context_ready.clone(),
        );
        let start = TimeGauge::default();
        start.set(now_seconds());
        registry.register_with_unit(
            "start_time",
            "Unix time the watcher started",
            Unit::Seconds,
            start,
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .set(1);
        registry.register("build_info", "The watcher's version (always 1)", build);
        Metrics {
            registry,
            alerts,
            rearms,
            rearm_failures,
            restarts,
            errors,
            deliveries,
            delivery_failures,
            last_event,
            ready,
            context_ready,
            sources: Mutex::new(BTreeMap::new()),
        }
    }

    /// A source the watcher runs: not ready until [`Metrics::source_ready`], and shown in
    /// the per-source metrics from now on, at zero; so are its alert counters for each of
    /// `signals` (the alerts' `signal` values it may raise), so that a first alert is an
    /// increase from 0 to 1 for Prometheus, not a new series.
    pub fn expect_source(&self, name: &str, signals: &[&str]) {
        for signal in signals {
            for drill in [false, true] {
                self.alerts
                    .get_or_create(&AlertLabels {
                        source: name.to_string(),
                        signal: signal.to_string(),
                        drill: drill.to_string(),
                    })
                    .inc_by(0);
            }
        }
        let labels = source(name);
        self.ready.get_or_create(&labels).set(0);
        self.restarts.get_or_create(&labels).inc_by(0);
        self.errors.get_or_create(&labels).inc_by(0);
        self.sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.to_string())
            .or_insert(false);
    }

    /// The source has started (file open, receiver listening, watch's first list synced).
    pub fn source_ready(&self, name: &str) {
        self.ready.get_or_create(&source(name)).set(1);
        self.sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), true);
    }

    /// The source stopped being usable (a file gone, a watch that cannot be re-established):
    /// `/readyz` fails until [`Metrics::source_ready`] again.
    pub fn source_not_ready(&self, name: &str) {
        self.ready.get_or_create(&source(name)).set(0);
        self.sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), false);
    }

    /// A context of a fleet the watcher follows: not ready (and `/readyz` fails, naming it)
    /// until [`Metrics::context_ready`].
    pub fn expect_context(&self, context: &str) {
        self.context_is_ready(context, false);
    }

    /// Whether the context is watched now: its decoys found, its tripwire (if any) synced.
    pub fn context_is_ready(&self, context: &str, ready: bool) {
        self.context_ready
            .get_or_create(&ContextLabels {
                context: context.to_string(),
            })
            .set(i64::from(ready));
        self.sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(format!("context {context}"), ready);
    }

    /// An alert was raised from `source`'s events, telling of `signal` (the alert's own
    /// `signal` field).
    pub fn alert(&self, source: &str, signal: &str, drill: bool) {
        self.alerts
            .get_or_create(&AlertLabels {
                source: source.to_string(),
                signal: signal.to_string(),
                drill: drill.to_string(),
            })
            .inc();
    }

    /// A stamp was removed (re-armed).
    pub fn rearm(&self) {
        self.rearms.inc();
    }

    /// A re-arm failed.
    pub fn rearm_failed(&self) {
        self.rearm_failures.inc();
    }

    /// The source started over: a watch re-established after it dropped or expired, a
    /// followed file reopened after rotation or truncation.
    pub fn reconnect(&self, name: &str) {
        self.restarts.get_or_create(&source(name)).inc();
    }

    /// A read or request of the source failed; it is retried.
    pub fn source_error(&self, name: &str) {
        self.errors.get_or_create(&source(name)).inc();
    }

    /// The source brought something just now (any event, not only a decoy's).
    pub fn event_seen(&self, name: &str) {
        self.last_event
            .get_or_create(&source(name))
            .set(now_seconds());
    }

    /// Alerts go to this sink: its counters are there, at 0, from the start.
    pub fn expect_sink(&self, sink: &str) {
        let labels = SinkLabels {
            sink: sink.to_string(),
        };
        drop(self.deliveries.get_or_create(&labels));
        drop(self.delivery_failures.get_or_create(&labels));
    }

    /// A sink took this many alerts.
    pub fn delivered(&self, sink: &str, alerts: u64) {
        self.deliveries
            .get_or_create(&SinkLabels {
                sink: sink.to_string(),
            })
            .inc_by(alerts);
    }

    /// This many alerts could not be delivered to a sink.
    pub fn delivery_failed(&self, sink: &str, alerts: u64) {
        self.delivery_failures
            .get_or_create(&SinkLabels {
                sink: sink.to_string(),
            })
            .inc_by(alerts);
    }

    /// The sources that have not started yet, by name; empty when all have.
    pub fn not_ready(&self) -> Vec<String> {
        self.sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, ready)| !**ready)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Connections served at once; more wait in the kernel's queue.
const MAX_CONNECTIONS: usize = 16;
/// How long a connection may take to send a request's headers, and may stay open at all.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);
/// A request's headers, at most.
const HEADER_BUFFER: usize = 16 * 1024;

/// What a request gets: status, content type and body. Pure, so every path is tested.
pub fn answer(
    metrics: &Metrics,
    method: &hyper::Method,
    path: &str,
) -> (StatusCode, &'static str, String) {
    const PLAIN: &str = "text/plain; charset=utf-8";
    if method != hyper::Method::GET && method != hyper::Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, PLAIN, "only GET\n".into());
    }
    match path {
        "/metrics" => (StatusCode::OK, CONTENT_TYPE, metrics.encode()),
        "/healthz" | "/livez" => (StatusCode::OK, PLAIN, "ok\n".into()),
        "/readyz" => {
            let waiting = metrics.not_ready();
            if waiting.is_empty() {
                (StatusCode::OK, PLAIN, "ok\n".into())
            } else {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    PLAIN,
                    format!("not ready: {}\n", waiting.join(", ")),
                )
            }
        }
        _ => (
            StatusCode::NOT_FOUND,
            PLAIN,
            "try /metrics, /healthz or /readyz\n".into(),
        ),
    }
}

/// Why the metrics server could not start.
#[derive(Debug, thiserror::Error)]
#[error("--metrics-address {address}: cannot listen: {source}")]
pub struct MetricsServeError {
    address: SocketAddr,
    #[source]
    source: std::io::Error,
}

/// A running metrics server; it stops when dropped.
pub struct MetricsServer {
    pub address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `metrics` on `address` (plain HTTP; what it shows is counts and times, see the
/// module's documentation).
pub async fn serve(
    address: SocketAddr,
    metrics: Arc<Metrics>,
) -> Result<MetricsServer, MetricsServeError> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| MetricsServeError { address, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| MetricsServeError { address, source })?;
    let places = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let task = tokio::spawn(async move {
        loop {
            // Waits for a free place before accepting: extra connections queue in the kernel.
            let Ok(place) = places.clone().acquire_owned().await else {
                return;
            };
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let _place = place;
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let (status, content_type, body) =
                        answer(&metrics, request.method(), request.uri().path());
                    let body = if request.method() == hyper::Method::HEAD {
                        String::new()
                    } else {
                        body
                    };
                    // The request's body, if any, is never read: the connection is closed
                    // after answering one that announced one.
                    let has_body = request
                        .headers()
                        .contains_key(hyper::header::CONTENT_LENGTH)
                        || request
                            .headers()
                            .contains_key(hyper::header::TRANSFER_ENCODING);
                    let mut response = Response::builder()
                        .status(status)
                        .header(hyper::header::CONTENT_TYPE, content_type)
                        .header(hyper::header::CACHE_CONTROL, "no-store");
                    if has_body {
                        response = response.header(hyper::header::CONNECTION, "close");
                    }
                    let response = response
                        .body(Full::new(Bytes::from(body)))
                        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())));
                    async move { Ok::<_, std::convert::Infallible>(response) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .max_buf_size(HEADER_BUFFER)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
            });
        }
    });
    Ok(MetricsServer {
        address: bound,
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::Method;

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn counters_and_gauges_appear_under_the_prefix_with_their_labels() {
        let metrics = Metrics::new();
        metrics.expect_source(AUDIT_LOG, &["request", "stamp"]);
        metrics.alert(AUDIT_LOG, "request", false);
        metrics.alert(AUDIT_LOG, "request", false);
        metrics.alert(WEBHOOK, "request", true);
        metrics.rearm();
        metrics.rearm_failed();
        metrics.reconnect(TRIPWIRE);
        metrics.source_error(AUDIT_LOG);
        metrics.expect_sink("alertmanager");
        metrics.expect_sink("webhook");
        metrics.delivered("alertmanager", 3);
        metrics.delivery_failed("alertmanager", 2);
        metrics.delivery_failed("stdout", 1);
        metrics.event_seen(AUDIT_LOG);
        let text = metrics.encode();
        assert_eq!(
            line(
                &text,
                "token_watch_alerts_total{source=\"audit-log\",signal=\"request\",drill=\"false\"}"
            ),
            Some(
                "token_watch_alerts_total{source=\"audit-log\",signal=\"request\",drill=\"false\"} 2"
            )
        );
        assert!(text.contains(
            "token_watch_alerts_total{source=\"webhook\",signal=\"request\",drill=\"true\"} 1"
        ));
        assert!(text.contains("token_watch_rearms_total 1"));
        assert!(text.contains("token_watch_rearm_failures_total 1"));
        assert!(text.contains("token_watch_source_restarts_total{source=\"tripwire\"} 1"));
        assert!(text.contains("token_watch_source_restarts_total{source=\"audit-log\"} 0"));
        assert!(text.contains("token_watch_source_errors_total{source=\"audit-log\"} 1"));
        assert!(text.contains("token_watch_deliveries_total{sink=\"alertmanager\"} 3"));
        assert!(text.contains("token_watch_delivery_failures_total{sink=\"alertmanager\"} 2"));
        assert!(text.contains("token_watch_delivery_failures_total{sink=\"stdout\"} 1"));
        // An expected sink's counters are there from the start, at zero.
        assert!(text.contains("token_watch_deliveries_total{sink=\"webhook\"} 0"));
        assert!(text.contains("token_watch_delivery_failures_total{sink=\"webhook\"} 0"));
        assert!(text.contains("token_watch_source_ready{source=\"audit-log\"} 0"));
        // Expected sources' alert counters are there from the start, at zero.
        assert!(text.contains(
            "token_watch_alerts_total{source=\"audit-log\",signal=\"stamp\",drill=\"true\"} 0"
        ));
        assert!(text.contains("token_watch_build_info{version=\""));
        assert!(text.contains("# TYPE token_watch_last_event_timestamp_seconds gauge"));
        let seen: f64 = line(
            &text,
            "token_watch_last_event_timestamp_seconds{source=\"audit-log\"}",
        )
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("a last-event time");
        assert!((seen - now_seconds()).abs() < 3600.0, "{seen}");
        assert!(text.trim_end().ends_with("# EOF"));
    }

    #[test]
    fn ready_only_once_every_expected_source_has_started() {
        let metrics = Metrics::new();
        // No sources yet: nothing to wait for.
        assert_eq!(answer(&metrics, &Method::GET, "/readyz").0, StatusCode::OK);
        metrics.expect_source(AUDIT_LOG, &[]);
        metrics.expect_source(WEBHOOK, &[]);
        let (status, _, body) = answer(&metrics, &Method::GET, "/readyz");
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "not ready: audit-log, webhook\n");
        metrics.source_ready(WEBHOOK);
        assert_eq!(
            answer(&metrics, &Method::GET, "/readyz").2,
            "not ready: audit-log\n"
        );
        metrics.source_ready(AUDIT_LOG);
        assert_eq!(answer(&metrics, &Method::GET, "/readyz").0, StatusCode::OK);
        assert!(
            metrics
                .encode()
                .contains("token_watch_source_ready{source=\"audit-log\"} 1")
        );
        metrics.source_not_ready(AUDIT_LOG);
        assert_eq!(
            answer(&metrics, &Method::GET, "/readyz").0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        // Alive all along.
        assert_eq!(answer(&metrics, &Method::GET, "/healthz").0, StatusCode::OK);
    }

    #[test]
    fn a_fleet_is_ready_once_every_context_is_and_readyz_names_those_that_are_not() {
        let metrics = Metrics::new();
        metrics.expect_source(TRIPWIRE, &[]);
        for context in ["one", "two", "gone"] {
            metrics.expect_context(context);
        }
        metrics.source_ready(TRIPWIRE);
        metrics.context_is_ready("one", true);
        metrics.context_is_ready("two", true);
        let (status, _, body) = answer(&metrics, &Method::GET, "/readyz");
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "not ready: context gone\n");
        let text = metrics.encode();
        assert!(text.contains("token_watch_context_ready{context=\"gone\"} 0"));
        assert!(text.contains("token_watch_context_ready{context=\"one\"} 1"));
        metrics.context_is_ready("gone", true);
        assert_eq!(answer(&metrics, &Method::GET, "/readyz").0, StatusCode::OK);
        metrics.context_is_ready("two", false);
        assert_eq!(
            answer(&metrics, &Method::GET, "/readyz").2,
            "not ready: context two\n"
        );
    }

    #[test]
    fn only_get_of_the_three_paths_is_answered() {
        let metrics = Metrics::new();
        let (status, content_type, body) = answer(&metrics, &Method::GET, "/metrics");
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, CONTENT_TYPE);
        assert!(body.contains("token_watch_start_time_seconds"));
        assert_eq!(
            answer(&metrics, &Method::POST, "/metrics").0,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            answer(&metrics, &Method::GET, "/debug").0,
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn the_server_answers_over_http_and_many_connections_do_not_stop_it() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let metrics = Arc::new(Metrics::new());
        metrics.expect_source(WEBHOOK, &[]);
        let server = serve("127.0.0.1:0".parse().unwrap(), metrics.clone())
            .await
            .unwrap();
        // Idle connections beyond the limit wait in the kernel's queue...
        let mut idle = Vec::new();
        for _ in 0..MAX_CONNECTIONS + 4 {
            idle.push(
                tokio::net::TcpStream::connect(server.address)
                    .await
                    .unwrap(),
            );
        }
        // ...and go once they time out, so a scrape gets through.
        async fn get(address: SocketAddr, path: &str) -> String {
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            stream
                .write_all(
                    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await
                .unwrap();
            let mut reply = String::new();
            stream.read_to_string(&mut reply).await.unwrap();
            reply
        }
        let reply = get(server.address, "/readyz").await;
        assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
        assert!(reply.ends_with("not ready: webhook\n"), "{reply}");
        metrics.source_ready(WEBHOOK);
        metrics.alert(WEBHOOK, "request", false);
        let reply = get(server.address, "/metrics").await;
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(reply.contains(
            "token_watch_alerts_total{source=\"webhook\",signal=\"request\",drill=\"false\"} 1"
        ));
        drop(idle);
    }
}
