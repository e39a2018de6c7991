//! `watch`: alert on use of the decoys as it happens. Events come from an audit log file
//! followed like `tail -F`, or from the API server's audit webhook, or both; the requests of
//! one client are grouped into one alert per burst (see `alert`), which goes to stdout as a
//! JSON line and to the optional webhook and command.
//!
//! Over a fleet (several `--context`, or `--all-contexts`) one process follows every
//! context: each is a `Lane` with its own decoys, bursts and tripwire, and its alerts name
//! it (`context`, `server`). A context whose decoys cannot be found at start is tried again
//! with back-off while the others are watched; `/readyz` names it until it is watched. Audit
//! events are the cluster's whose path they were posted to (`/contexts/<name>`) or whose
//! file they were read from (`--audit-log CONTEXT=FILE`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use tokio::sync::mpsc;

use crate::audit::{DecoySecret, Matcher, Signal, events_in};
use crate::audit::{Event, LogFollower};
use crate::cli::{GlobalArgs, OutputFormat, WatchArgs};
use crate::cluster::connect::Target;
use crate::cluster::fleet::Ran;
use crate::cluster::sought::{Sought, decoys_to_look_for};
use crate::detect::alert::{Alert, Grouper, Window};
use crate::detect::metrics::{self, Metrics};
use crate::detect::notice::DrillBook;
use crate::detect::notify::{self, Notifier, Report};
use crate::detect::tripwatch::{self, Correlator, Tripwire};
use crate::detect::webhook::{self, ContextRoute, Delivery, ListenOptions, TlsFiles};
use crate::error::Error;
use crate::exit::Outcome;
use crate::home::Home;
use crate::ui::terminal::{Terminal, printable};

/// A line on stderr. SIGPIPE is ignored while watching, so a closed stderr makes writes
/// fail; the watcher goes on without its messages rather than stopping.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// How often the followed file is looked at.
const POLL: Duration = Duration::from_millis(200);

/// What one look at the followed file found.
#[derive(Debug, Default)]
struct FileNews {
    events: Vec<Event>,
    /// Lines naming a decoy that were not audit events.
    malformed: u64,
    /// Lines over the line limit, skipped unread.
    oversized: u64,
    reopened: bool,
    /// A read that failed, when it differs from the last one reported.
    problem: Option<String>,
}

/// Reads the new lines of a followed file: only lines naming a decoy are parsed.
fn sift(lines: &[Vec<u8>], matcher: &Matcher) -> (Vec<Event>, u64) {
    let mut events = Vec::new();
    let mut malformed = 0;
    for line in lines.iter().filter(|line| matcher.may_match(line)) {
        match events_in(line) {
            Some(found) => events.extend(found.into_iter().filter(|e| matcher.matches(e))),
            None => malformed += 1,
        }
    }
    (events, malformed)
}

/// Follows the file on a thread of its own until the receiving side goes away. The file's
/// health goes to `metrics` from here: open (ready), growing (seen), reopened, failing.
fn spawn_follower(
    mut follower: LogFollower,
    matcher: Arc<Matcher>,
    lane: usize,
    news: mpsc::UnboundedSender<(usize, FileNews)>,
    metrics: Arc<Metrics>,
) {
    std::thread::spawn(move || {
        let mut last_problem: Option<String> = None;
        loop {
            let mut more = false;
            let found = match follower.read_candidates(&matcher) {
                Ok(read) => {
                    last_problem = None;
                    more = read.more;
                    if !follower.is_waiting() {
                        metrics.source_ready(metrics::AUDIT_LOG);
                    }
                    if read.bytes > 0 {
                        metrics.event_seen(metrics::AUDIT_LOG);
                    }
                    if read.reopened {
                        metrics.reconnect(metrics::AUDIT_LOG);
                    }
                    let (events, malformed) = sift(&read.lines, &matcher);
                    FileNews {
                        events,
                        malformed,
                        oversized: read.oversized,
                        reopened: read.reopened,
                        problem: None,
                    }
                }
                Err(e) => {
                    metrics.source_error(metrics::AUDIT_LOG);
                    let problem = e.to_string();
                    let repeated = last_problem.as_ref() == Some(&problem);
                    last_problem = Some(problem.clone());
                    FileNews {
                        problem: (!repeated).then_some(problem),
                        ..FileNews::default()
                    }
                }
            };
            let quiet = found.events.is_empty()
                && found.malformed == 0
                && found.oversized == 0
                && !found.reopened
                && found.problem.is_none();
            if news.is_closed() || (!quiet && news.send((lane, found)).is_err()) {
                return;
            }
            if !more {
                std::thread::sleep(POLL);
            }
        }
    });
}

/// The `signal`s of the audit sources' alerts: the requests, or only the API server's stamp.
const AUDIT_SIGNALS: &[&str] = &["request", "stamp"];

/// The source an alert's events came from, as the metrics name it: the receiver's alerts
/// say `webhook`, the followed file's say the file's name (`followed`), and any other
/// comes from the cluster itself (the tripwire).
fn source_of(alert_source: &str, followed: &str) -> &'static str {
    if alert_source == "webhook" {
        metrics::WEBHOOK
    } else if !followed.is_empty() && alert_source == followed {
        metrics::AUDIT_LOG
    } else {
        metrics::TRIPWIRE
    }
}

/// What a watcher counted, told when it stops.
#[derive(Debug, Default)]
struct Tally {
    decoy_events: u64,
    alerts: u64,
    drills: u64,
    malformed: u64,
    oversized: u64,
    refused: u64,
    /// Decoy events of a webhook body beyond those kept from it.
    not_kept: u64,
    /// Alerts the --exec command was not run for, its queue being full.
    exec_dropped: u64,
    delivery_failures: u64,
}

/// The alert sinks besides stdout, as the flags name them.
fn sinks_of(args: &WatchArgs) -> Result<notify::Sinks<'_>, Error> {
    let credential = match (
        &args.alertmanager_token_file,
        &args.alertmanager_basic_auth_file,
    ) {
        (Some(path), _) => Some(notify::Credential::Bearer(path.clone())),
        (None, Some(path)) => Some(notify::Credential::Basic(path.clone())),
        (None, None) => None,
    };
    Ok(notify::Sinks {
        webhook_url: args.webhook_url.as_deref(),
        alertmanager_urls: &args.alertmanager_url,
        alertmanager_credential: credential,
        falcosidekick_url: args.falcosidekick_url.as_deref(),
        command: args.exec.as_deref(),
        tls: notify::TlsFiles {
            ca: args.sink_ca.clone(),
            client_cert: args.sink_client_cert.clone(),
            client_key: args.sink_client_key.clone(),
        },
        labels: crate::detect::alertmanager::parse_labels(&args.alert_label)
            .map_err(|e| Error::Invalid(e.to_string()))?,
    })
}

fn group_window(seconds: f64) -> Result<Window, Error> {
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0) {
        return Err(Error::Invalid(format!(
            "--group-window {seconds}: give a number of seconds above 0 and at most 3600"
        )));
    }
    Ok(Window::from_quiet(Duration::from_secs_f64(seconds)))
}

fn listen_options(
    args: &WatchArgs,
    address: std::net::SocketAddr,
    users: &[String],
    secrets: &[DecoySecret],
) -> Result<ListenOptions, Error> {
    let bearer_token = match &args.token_file {
        None => None,
        Some(path) => Some(read_token(path)?),
    };
    Ok(ListenOptions {
        address,
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: args.client_ca.clone(),
            }),
            _ => None,
        },
        bearer_token,
        body_limit: args.max_body,
        users: users.to_vec(),
        secrets: secrets.to_vec(),
        ..ListenOptions::plain(address)
    })
}

/// A bearer token file holds one token: a service account's JWT is about a KiB.
const TOKEN_FILE_LIMIT: u64 = 64 << 10;

fn read_token(path: &Path) -> Result<SecretString, Error> {
    let text = crate::input::read_text(path, TOKEN_FILE_LIMIT, "a bearer token file")
        .map_err(|e| Error::Invalid(format!("--token-file {}: {e}", path.display())))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(Error::Invalid(format!(
            "--token-file {}: the file is empty",
            path.display()
        )));
    }
    Ok(SecretString::from(token.to_string()))
}

/// One alert as it goes to stdout: a JSON line, or a YAML document with `-o yaml`.
fn render(alert: &Alert, format: OutputFormat) -> Result<String, Error> {
    Ok(match format {
        OutputFormat::Yaml => format!(
            "---\n{}",
            crate::ui::output::structured(OutputFormat::Yaml, alert)?.unwrap_or_default()
        ),
        OutputFormat::Json | OutputFormat::Table | OutputFormat::Wide => {
            // Escapes what a terminal would act on, should stdout be one.
            let mut line = crate::ui::output::json(alert, false)?;
            line.push('\n');
            line
        }
    })
}

/// SIGINT or SIGTERM. The handlers are installed when this is called, not when the future
/// is first polled, so a signal sent as soon as the start line says "Ctrl-C stops" stops
/// the watch cleanly instead of killing it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        match (interrupt, terminate) {
            (Ok(mut interrupt), Ok(mut terminate)) => {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            }
            (Ok(mut one), Err(_)) | (Err(_), Ok(mut one)) => {
                one.recv().await;
            }
            (Err(_), Err(_)) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

/// What finding one cluster's decoys brought: the decoys, the cluster's API server, and
/// with --tripwire a client for long watches and the decoys to watch.
struct Found {
    sought: Sought,
    server: String,
    tripwire: Option<(kube::Client, Vec<tripwatch::Decoy>)>,
}

/// Finds the decoys of one cluster as `status` does (or takes `--user` and `--secret`),
/// and connects for the tripwire. `fleet`: the API server's URL is wanted too.
async fn discover(
    args: &WatchArgs,
    target: &Target,
    namespace: Option<&str>,
    home: &Home,
    fleet: bool,
) -> Result<Found, Error> {
    let sought = decoys_to_look_for(&args.user, &args.secret, target, namespace, home).await?;
    let decoys = if args.tripwire {
        let decoys = tripwatch::decoys_of(&sought.secrets);
        if decoys.is_empty() {
            return Err(Error::Invalid(
                "--tripwire watches the decoys' token Secrets: name them with --secret NAMESPACE/NAME, or give no --user so they are found".into(),
            ));
        }
        Some(decoys)
    } else {
        None
    };
    let connection = if decoys.is_some() || fleet {
        Some(crate::cluster::connect::connect(target).await?)
    } else {
        None
    };
    let tripwire = match (decoys, &connection) {
        (Some(decoys), Some(connection)) => {
            Some((crate::cluster::watches::watch_client(connection)?, decoys))
        }
        _ => None,
    };
    Ok(Found {
        sought,
        server: connection.map(|c| c.server).unwrap_or_default(),
        tripwire,
    })
}

/// `--audit-log` over a fleet: `CONTEXT=FILE` each, a context of the fleet at most once
/// (a context's name may itself hold `=`: the longest one that the value starts with wins).
/// The file's index in `contexts` with it. Pure.
fn audit_logs_of_fleet(
    given: &[PathBuf],
    contexts: &[String],
) -> Result<Vec<(usize, PathBuf)>, Error> {
    let mut files: Vec<(usize, PathBuf)> = Vec::new();
    for value in given {
        let text = value.to_string_lossy();
        let Some((index, context)) = contexts
            .iter()
            .enumerate()
            .filter(|(_, c)| text.starts_with(&format!("{c}=")))
            .max_by_key(|(_, c)| c.len())
        else {
            return Err(Error::Invalid(format!(
                "--audit-log {text}: over a fleet, name the context whose audit log it is: --audit-log CONTEXT=FILE, CONTEXT one of {}",
                contexts.join(", ")
            )));
        };
        if files.iter().any(|(i, _)| *i == index) {
            return Err(Error::Invalid(format!(
                "--audit-log: context {context} is given two files; follow one per context"
            )));
        }
        let file = &text[context.len() + 1..];
        if file.is_empty() {
            return Err(Error::Invalid(format!(
                "--audit-log {text}: no file after {context}="
            )));
        }
        files.push((index, PathBuf::from(file)));
    }
    Ok(files)
}

/// Opens (or waits for) a followed audit log, with a message a user can act on.
fn follower_of(path: &Path) -> Result<LogFollower, Error> {
    let follower = LogFollower::waiting_for(path).map_err(|e| {
        let hint = match crate::input::not_a_file(&e) {
            Some(not) if not.kind == "a directory" => "; name the audit log file in it",
            Some(_) => {
                "; give the file the API server writes (--audit-log-path), or receive its webhook with --listen"
            }
            None => "",
        };
        Error::Invalid(format!("--audit-log {}: {e}{hint}", path.display()))
    })?;
    if follower.is_waiting() {
        say!(
            "watch: {} does not exist yet; it will be read once it appears",
            path.display()
        );
    }
    Ok(follower)
}

/// A context of a fleet started late (its decoys found after a failure), or failing again.
enum Start {
    Ready { lane: usize, found: Box<Found> },
    Failed { lane: usize, why: String },
}

/// Tries to find one context's decoys again and again, with kube::runtime's back-off
/// (at most 30 s apart), each try cut off after the fleet's timeout, until it works.
fn retry_start(
    lane: usize,
    target: Target,
    args: WatchArgs,
    namespace: Option<String>,
    home: Home,
    timeout: Duration,
    starts: mpsc::UnboundedSender<Start>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        use kube::runtime::watcher::DefaultBackoff;
        let mut backoff = DefaultBackoff::default();
        loop {
            let wait = backoff.next().unwrap_or(Duration::from_secs(30));
            tokio::time::sleep(wait).await;
            let tried = tokio::time::timeout(
                timeout,
                discover(&args, &target, namespace.as_deref(), &home, true),
            )
            .await;
            let start = match tried {
                Ok(Ok(found)) => Start::Ready {
                    lane,
                    found: Box::new(found),
                },
                Ok(Err(error)) => Start::Failed {
                    lane,
                    why: error.to_string(),
                },
                Err(_) => Start::Failed {
                    lane,
                    why: format!(
                        "no answer within {}s (--context-timeout)",
                        timeout.as_secs()
                    ),
                },
            };
            let done = matches!(start, Start::Ready { .. });
            if starts.send(start).is_err() || done {
                return;
            }
        }
    })
}

/// Stops the tasks it holds when dropped.
struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

pub async fn run(
    args: &WatchArgs,
    global: &GlobalArgs,
    terminal: Terminal,
    home: &Home,
) -> Result<Outcome, Error> {
    if global.output_given && matches!(global.output, OutputFormat::Table | OutputFormat::Wide) {
        return Err(Error::Invalid(
            "watch prints each alert as a JSON line, or with -o yaml as a YAML document: it has no table to print".into(),
        ));
    }
    let window = group_window(args.group_window)?;
    let fleet = global.fleet()?;
    let files: Vec<(usize, PathBuf)> = match &fleet {
        None => {
            if args.audit_log.len() > 1 {
                return Err(Error::Invalid(
                    "--audit-log: one file for one cluster; over a fleet (several --context, or --all-contexts), give --audit-log CONTEXT=FILE for each".into(),
                ));
            }
            args.audit_log.iter().map(|p| (0, p.clone())).collect()
        }
        Some(fleet) => audit_logs_of_fleet(&args.audit_log, &fleet.contexts)?,
    };
    // A reader of stdout or an --exec command that goes away must not end the watcher:
    // with SIGPIPE ignored, such a write fails and is handled.
    // SAFETY: setting a signal disposition to SIG_IGN, before any thread writes to a pipe.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    // Request bodies of megabytes come and go: glibc's malloc would serve them from heaps it
    // keeps (its mmap threshold grows with each large block freed), so memory once used for
    // them would stay with the process. A fixed threshold maps each such block on its own
    // and gives it back when freed.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable of the allocator; it is called before the
    // receiver allocates bodies.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
    let namespace = global.namespace.as_deref();
    // The clusters followed, each found first (one: as today, an error ends the watcher;
    // a fleet: every context at once, and those that fail are tried again in the
    // background while the others are watched).
    let (contexts, mut first): (Vec<Option<String>>, Vec<Result<Found, String>>) = match &fleet {
        None => (
            vec![None],
            vec![Ok(
                discover(args, &global.target(), namespace, home, false).await?
            )],
        ),
        Some(fleet) => {
            if args.user.is_empty() && args.secret.is_empty() {
                // A missing key is this workstation's problem, told once.
                home.key()?;
            }
            let runs = crate::cluster::fleet::each(fleet, true, |target| async move {
                discover(args, &target, namespace, home, true).await
            })
            .await;
            let mut found = Vec::new();
            for run in runs {
                found.push(match run.ran {
                    Ran::Done(done) => Ok(done),
                    Ran::Failed(error) => Err(error.to_string()),
                    Ran::TimedOut(after) => Err(format!(
                        "no answer within {}s (--context-timeout)",
                        after.as_secs()
                    )),
                });
            }
            (fleet.contexts.iter().cloned().map(Some).collect(), found)
        }
    };
    let in_fleet = fleet.is_some();
    let book = Arc::new(std::sync::Mutex::new(DrillBook::new(home.key().ok())));
    let notifier = Notifier::new(sinks_of(args)?)?;
    let metrics = Arc::new(Metrics::new());
    metrics.expect_sink(notify::STDOUT);
    for sink in notifier.sink_names() {
        metrics.expect_sink(sink);
    }
    if args.listen.is_some() {
        metrics.expect_source(metrics::WEBHOOK, AUDIT_SIGNALS);
    }
    if !args.audit_log.is_empty() {
        metrics.expect_source(metrics::AUDIT_LOG, AUDIT_SIGNALS);
    }
    if args.tripwire {
        metrics.expect_source(metrics::TRIPWIRE, &[tripwatch::TRIPWIRE, tripwatch::BROKEN]);
    }
    for context in contexts.iter().flatten() {
        metrics.expect_context(context);
    }
    let metrics_server = match args.metrics_address {
        Some(address) => Some(metrics::serve(address, metrics.clone()).await?),
        None => None,
    };

    let routes: Vec<ContextRoute> = if in_fleet && args.listen.is_some() {
        contexts
            .iter()
            .flatten()
            .map(|c| ContextRoute::new(c))
            .collect()
    } else {
        Vec::new()
    };
    let (webhook_sender, mut webhook_deliveries) = mpsc::channel(webhook::DELIVERIES_WAITING);
    let server = match args.listen {
        Some(address) => {
            let (users, secrets) = match &first[0] {
                Ok(found) if !in_fleet => {
                    (found.sought.users.clone(), found.sought.secrets.clone())
                }
                _ => (Vec::new(), Vec::new()),
            };
            let mut options = listen_options(args, address, &users, &secrets)?;
            if args.tripwire {
                options.drill_notices = Some(book.clone());
            }
            options.contexts = routes.clone();
            let server = webhook::serve(options, webhook_sender).await?;
            metrics.source_ready(metrics::WEBHOOK);
            Some(server)
        }
        None => None,
    };
    let mut followers: Vec<Option<LogFollower>> = contexts.iter().map(|_| None).collect();
    for (lane, path) in &files {
        followers[*lane] = Some(follower_of(path)?);
    }
    let (file_sender, mut file_news) = mpsc::unbounded_channel();
    let (tripwire_sender, mut tripwire_news) = mpsc::channel(256);
    let (start_sender, mut starts) = mpsc::unbounded_channel();

    let mut watch = Watch {
        lanes: contexts
            .iter()
            .enumerate()
            .map(|(index, context)| Lane {
                context: context.clone(),
                server: String::new(),
                matcher: None,
                users: Vec::new(),
                // Without the key, drills cannot be told from requests that copy their
                // user agent.
                grouper: Grouper::new(window, home.key().ok()),
                correlator: Correlator::new(window.longest + window.quiet),
                readiness: tripwatch::Readiness::new(0),
                tripwire: None,
                file_name: files
                    .iter()
                    .find(|(lane, _)| *lane == index)
                    .map(|(_, p)| p.display().to_string())
                    .unwrap_or_default(),
                follower: followers[index].take(),
                ready: false,
                last_failure: None,
            })
            .collect(),
        fleet: in_fleet,
        tripwire_on: args.tripwire,
        audit_on: args.listen.is_some() || !args.audit_log.is_empty(),
        rearm: !args.no_rearm,
        bindings_every: Duration::from_secs(args.bindings_every),
        tripwire_sender,
        file_sender,
        routes,
        tally: Tally::default(),
        notifier,
        format: global.output,
        terminal,
        stdout_open: true,
        home: home.clone(),
        last_key_search: None,
        refusals: RefusalLog::new("requests refused", Instant::now()),
        exec_drops: RefusalLog::new("alerts not given to --exec", Instant::now()),
        queue_drops: RefusalLog::new("alerts not queued for a sink", Instant::now()),
        metrics,
    };
    let mut retries = Tasks(Vec::new());
    let mut failed = Vec::new();
    for (index, result) in first.drain(..).enumerate() {
        match result {
            Ok(found) => watch.start_lane(index, found),
            Err(why) => {
                watch.lanes[index].last_failure = Some(why.clone());
                failed.push((index, why));
            }
        }
    }
    if let Some(fleet) = &fleet {
        for (index, _) in &failed {
            retries.0.push(retry_start(
                *index,
                fleet.target(&fleet.contexts[*index]),
                args.clone(),
                global.namespace.clone(),
                home.clone(),
                fleet.timeout,
                start_sender.clone(),
            ));
        }
    }
    drop(start_sender);

    let shutdown = shutdown_signal();
    let mut sinks = vec!["stdout".to_string()];
    sinks.extend(watch.notifier.describe());
    if in_fleet {
        for lane in watch.lanes.iter().filter(|l| l.matcher.is_some()) {
            say!(
                "watch: context {}: {}",
                lane.shown_context(),
                lane.describe(watch.audit_on)
            );
        }
        for (index, why) in &failed {
            say!(
                "watch: context {} not started: {}; trying again with back-off (its decoys are not watched until then)",
                watch.lanes[*index].shown_context(),
                printable(why)
            );
        }
        let mut sources = Vec::new();
        if args.tripwire {
            sources.push("the tripwire of each context through its API server".to_string());
        }
        if let Some(server) = &server {
            let base = server.url.trim_end_matches('/');
            sources.push(format!(
                "the audit webhook at {base}/contexts/<context> ({})",
                watch
                    .routes
                    .iter()
                    .map(|r| format!("{base}{}", r.path()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for (lane, path) in &files {
            sources.push(format!(
                "the audit log {} of context {}",
                path.display(),
                watch.lanes[*lane].shown_context()
            ));
        }
        let started = watch.lanes.iter().filter(|l| l.matcher.is_some()).count();
        say!(
            "watch: watching a fleet of {} contexts ({started} started{}): {}; alerts to {}; Ctrl-C stops",
            watch.lanes.len(),
            if failed.is_empty() {
                String::new()
            } else {
                format!(
                    "; not started yet: {}",
                    failed
                        .iter()
                        .map(|(i, _)| watch.lanes[*i].shown_context())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
            sources.join(" and "),
            sinks.join(", ")
        );
    } else {
        let lane = &watch.lanes[0];
        let matcher = lane.matcher.as_ref().expect("one cluster is started first");
        let mut sources = Vec::new();
        if let Some((state, _)) = &lane.tripwire {
            sources.push(format!(
                "the tripwire of {} through the API{}",
                state
                    .decoys()
                    .iter()
                    .map(|d| format!("Secret {}", d.secret_ref()))
                    .collect::<Vec<_>>()
                    .join(", "),
                if args.no_rearm { " (not re-armed)" } else { "" }
            ));
        }
        if let Some(server) = &server {
            sources.push(format!("the audit webhook at {}", server.url));
        }
        for (_, path) in &files {
            sources.push(format!("the audit log {}", path.display()));
        }
        let stamps = if matcher.secrets().is_empty() {
            "no stamps (name the decoys' Secrets with --secret)".to_string()
        } else {
            let secrets: Vec<String> = matcher.secrets().iter().map(DecoySecret::shown).collect();
            format!("the API server's stamps of {}", secrets.join(", "))
        };
        say!(
            "watch: watching {} for {} and {stamps}; alerts to {}; Ctrl-C stops",
            sources.join(" and "),
            lane.users.join(", "),
            sinks.join(", ")
        );
    }
    if let Some(server) = &metrics_server {
        say!(
            "watch: health at http://{}/ (/metrics, /healthz, /readyz)",
            server.address
        );
    }

    tokio::pin!(shutdown);
    loop {
        let deadline = watch
            .next_deadline()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            Some(delivery) = webhook_deliveries.recv() => watch.take_delivery(delivery),
            Some((lane, news)) = file_news.recv() => watch.take_news(lane, news),
            Some((lane, news)) = tripwire_news.recv() => watch.take_tripwire(lane, news, &book)?,
            Some(start) = starts.recv() => watch.take_start(start),
            Some(report) = watch.notifier.next_report() => watch.take_reports(vec![report]),
            _ = tokio::time::sleep_until(deadline) => {}
            _ = &mut shutdown => break,
        }
        watch.rearm_due();
        watch.emit_due()?;
    }
    drop(retries);
    // What was acknowledged or read before the stop still counts; what arrives from now on
    // is answered 503, so it is never acknowledged as received.
    webhook_deliveries.close();
    if let Some(server) = &server {
        watch.tally.refused += server.refusals_not_delivered();
    }
    drop(server);
    while let Ok(delivery) = webhook_deliveries.try_recv() {
        watch.take_delivery(delivery);
    }
    while let Ok((lane, news)) = file_news.try_recv() {
        watch.take_news(lane, news);
    }
    watch.last_key_search = None;
    watch.find_drill_key();
    for index in 0..watch.lanes.len() {
        for alert in watch.lanes[index].grouper.flush(Instant::now()) {
            watch.emit(index, alert)?;
        }
    }
    let reports = watch.notifier.finish(Duration::from_secs(10)).await;
    watch.take_reports(reports);
    let tally = &watch.tally;
    let mut more = String::new();
    if tally.not_kept > 0 {
        more.push_str(&format!(
            ", {} counted but not kept (over {} in one webhook body)",
            crate::ui::output::count(tally.not_kept, "decoy event", "decoy events"),
            webhook::EVENTS_PER_BODY
        ));
    }
    if watch.notifier.has_command() {
        more.push_str(&format!(
            ", {} not given to --exec (over {} running and {} waiting)",
            crate::ui::output::count(tally.exec_dropped, "alert", "alerts"),
            notify::COMMANDS_AT_ONCE,
            notify::COMMANDS_WAITING
        ));
    }
    use crate::ui::output::count;
    say!(
        "watch: stopped; {}, {} ({}), {} skipped, {} over the line limit skipped, {} refused, {} failed{more}",
        count(tally.decoy_events, "decoy event", "decoy events"),
        count(tally.alerts, "alert", "alerts"),
        count(tally.drills, "drill", "drills"),
        count(tally.malformed, "malformed line", "malformed lines"),
        count(tally.oversized, "line", "lines"),
        count(tally.refused, "request", "requests"),
        count(
            tally.delivery_failures,
            "alert delivery",
            "alert deliveries"
        )
    );
    Ok(Outcome::Success)
}

/// One cluster the watcher follows: its decoys, the bursts of their events, the joins of
/// their alerts, and its tripwire. One for kubectl's one context; one per context of a
/// fleet, each with its own decoys.
struct Lane {
    /// The kubeconfig context, in a fleet (alerts then name it and its server).
    context: Option<String>,
    server: String,
    /// The decoys' events; None until the cluster's decoys are found.
    matcher: Option<Arc<Matcher>>,
    users: Vec<String>,
    grouper: Grouper,
    /// Joins the alerts of one use from the tripwire and the audit sources.
    correlator: Correlator,
    /// Which tripwire watches have listed once; their health goes to `metrics`.
    readiness: tripwatch::Readiness,
    tripwire: Option<(Tripwire, tripwatch::Running)>,
    /// The followed file's name, for its alerts' `source` ("" without one).
    file_name: String,
    /// The followed file, until the cluster's decoys are known.
    follower: Option<LogFollower>,
    /// In a fleet: the decoys are found and the tripwire (if any) has synced.
    ready: bool,
    /// Why it could not be started, as last told.
    last_failure: Option<String>,
}

impl Lane {
    fn shown_context(&self) -> String {
        printable(self.context.as_deref().unwrap_or_default()).into_owned()
    }

    /// What is watched of this cluster, for a line on stderr.
    fn describe(&self, audit_on: bool) -> String {
        let mut parts = Vec::new();
        if let Some((state, _)) = &self.tripwire {
            parts.push(format!(
                "the tripwire of {}",
                state
                    .decoys()
                    .iter()
                    .map(|d| format!("Secret {}", d.secret_ref()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if audit_on {
            parts.push(format!("audit events of {}", self.users.join(", ")));
        }
        format!("{} at {}", parts.join(" and "), self.server)
    }
}

/// A running watcher's state between events.
struct Watch {
    lanes: Vec<Lane>,
    /// Over a fleet of contexts (alerts name theirs).
    fleet: bool,
    tripwire_on: bool,
    /// Whether an audit source is on, for the tripwire alerts' text.
    audit_on: bool,
    rearm: bool,
    bindings_every: Duration,
    /// Where a lane's tripwire and followed file send their news, with the lane's index.
    tripwire_sender: mpsc::Sender<(usize, tripwatch::News)>,
    file_sender: mpsc::UnboundedSender<(usize, FileNews)>,
    /// A fleet's receiver paths, one per lane (none without --listen or a fleet).
    routes: Vec<ContextRoute>,
    tally: Tally,
    notifier: Notifier,
    format: OutputFormat,
    terminal: Terminal,
    /// False once stdout's reader has gone away.
    stdout_open: bool,
    home: Home,
    last_key_search: Option<Instant>,
    refusals: RefusalLog,
    exec_drops: RefusalLog,
    queue_drops: RefusalLog,
    metrics: Arc<Metrics>,
}

/// Notices of one kind told on stderr in the current minute (ten), and those only counted,
/// so a flood of bad requests or alerts does not flood the log.
struct RefusalLog {
    /// What the counted ones are, for "N more ... in the last minute".
    what: &'static str,
    since: Instant,
    told: u32,
    untold: u64,
}

impl RefusalLog {
    fn new(what: &'static str, since: Instant) -> RefusalLog {
        RefusalLog {
            what,
            since,
            told: 0,
            untold: 0,
        }
    }

    fn tell(&mut self, now: Instant, line: impl FnOnce() -> String) {
        if now.duration_since(self.since) >= Duration::from_secs(60) {
            if self.untold > 0 {
                say!(
                    "watch: {} more {} in the last minute",
                    self.untold,
                    self.what
                );
            }
            *self = RefusalLog::new(self.what, now);
        }
        if self.told < 10 {
            self.told += 1;
            say!("{}", line());
        } else {
            self.untold += 1;
        }
    }
}

impl Watch {
    /// The cluster's decoys are known: its sources start (the receiver's path, the
    /// followed file, the tripwire's watches).
    fn start_lane(&mut self, index: usize, found: Found) {
        let matcher = Arc::new(Matcher::with_secrets(
            found.sought.users.clone(),
            found.sought.secrets.clone(),
        ));
        if let Some(route) = self.routes.get(index) {
            *route.matcher.write().unwrap_or_else(|e| e.into_inner()) = Some(matcher.clone());
        }
        let lane = &mut self.lanes[index];
        if let Some(follower) = lane.follower.take() {
            spawn_follower(
                follower,
                matcher.clone(),
                index,
                self.file_sender.clone(),
                self.metrics.clone(),
            );
        }
        let has_tripwire = found.tripwire.is_some();
        if let Some((client, decoys)) = found.tripwire {
            let (sender, mut news) = mpsc::channel(256);
            let running = tripwatch::start(client, &decoys, self.bindings_every, sender);
            let to = self.tripwire_sender.clone();
            // The lane's news, told with its index; ends with the lane's watches.
            tokio::spawn(async move {
                while let Some(news) = news.recv().await {
                    if to.send((index, news)).await.is_err() {
                        return;
                    }
                }
            });
            lane.readiness = tripwatch::Readiness::new(decoys.len());
            lane.tripwire = Some((Tripwire::new(decoys, self.rearm, self.audit_on), running));
        }
        lane.matcher = Some(matcher);
        lane.users = found.sought.users;
        lane.server = found.server;
        lane.last_failure = None;
        if self.fleet && !has_tripwire {
            self.context_ready(index, true);
        }
    }

    /// A context of the fleet started late, or failed again.
    fn take_start(&mut self, start: Start) {
        match start {
            Start::Ready { lane, found } => {
                self.start_lane(lane, *found);
                let lane = &self.lanes[lane];
                say!(
                    "watch: context {} started: {}",
                    lane.shown_context(),
                    lane.describe(self.audit_on)
                );
            }
            Start::Failed { lane, why } => {
                let lane = &mut self.lanes[lane];
                if lane.last_failure.as_ref() != Some(&why) {
                    say!(
                        "watch: context {} still not started: {}; trying again with back-off",
                        lane.shown_context(),
                        printable(&why)
                    );
                    lane.last_failure = Some(why);
                }
            }
        }
    }

    /// A fleet's context is watched, or stopped being: the tripwire source is ready when
    /// every context's is.
    fn context_ready(&mut self, index: usize, ready: bool) {
        let lane = &mut self.lanes[index];
        lane.ready = ready;
        if let Some(context) = &lane.context {
            self.metrics.context_is_ready(context, ready);
        }
        if self.tripwire_on {
            if self.lanes.iter().all(|l| l.ready) {
                self.metrics.source_ready(metrics::TRIPWIRE);
            } else {
                self.metrics.source_not_ready(metrics::TRIPWIRE);
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.lanes
            .iter()
            .flat_map(|lane| {
                lane.grouper.next_deadline().into_iter().chain(
                    lane.tripwire
                        .as_ref()
                        .and_then(|(state, _)| state.next_deadline()),
                )
            })
            .min()
    }

    /// Re-arms whose time has come (deferred after a drill or a conflict).
    fn rearm_due(&mut self) {
        for lane in &mut self.lanes {
            if let Some((state, running)) = &mut lane.tripwire {
                for (decoy, mark) in state.due(Instant::now()) {
                    running.rearm(decoy, mark);
                }
            }
        }
    }

    fn take_delivery(&mut self, delivery: Delivery) {
        match delivery {
            Delivery::Events {
                events,
                not_kept,
                context,
                ..
            } => {
                if not_kept > 0 {
                    self.tally.not_kept += not_kept;
                    self.refusals.tell(Instant::now(), || {
                        format!(
                            "watch: {not_kept} decoy events of one webhook body beyond its first {} were counted, not kept",
                            webhook::EVENTS_PER_BODY
                        )
                    });
                }
                self.metrics.event_seen(metrics::WEBHOOK);
                let now = Instant::now();
                let lane = context.unwrap_or(0);
                for event in events {
                    self.add(lane, event, "webhook", now);
                }
            }
            Delivery::Refused { from, why } => {
                self.tally.refused += 1;
                // The reason may quote what the client sent.
                self.refusals.tell(Instant::now(), || {
                    format!(
                        "watch: refused a request from {from}: {}",
                        crate::ui::terminal::printable(&why)
                    )
                });
            }
        }
    }

    fn take_news(&mut self, lane: usize, news: FileNews) {
        let now = Instant::now();
        let file_name = self.lanes[lane].file_name.clone();
        if news.reopened {
            say!(
                "watch: {file_name} is new (rotated, truncated or created); reading it from its start"
            );
        }
        if let Some(problem) = news.problem {
            say!("watch: cannot read {file_name}: {problem}; trying again");
        }
        if news.malformed > 0 {
            self.tally.malformed += news.malformed;
            say!(
                "watch: skipped {} line(s) of {file_name} that name a decoy but are not audit events",
                news.malformed
            );
        }
        if news.oversized > 0 {
            self.tally.oversized += news.oversized;
            say!(
                "watch: skipped {} line(s) of {file_name} over the {} line limit without reading them; a decoy's use could be among them",
                news.oversized,
                crate::input::size(crate::audit::LINE_LIMIT as u64)
            );
        }
        for event in news.events {
            self.add(lane, event, &file_name, now);
        }
    }

    /// One event of a decoy (a request, or the API server's stamp of its Secret) into its
    /// burst; other events are dropped.
    fn add(&mut self, lane: usize, event: Event, source: &str, now: Instant) {
        let Some(lane) = self.lanes.get_mut(lane) else {
            return;
        };
        let Some(matcher) = &lane.matcher else {
            return;
        };
        let secret = match matcher.signal(&event) {
            None => return,
            Some(Signal::Request) => None,
            Some(Signal::Stamp(secret)) => Some(secret.clone()),
        };
        self.tally.decoy_events += 1;
        match secret {
            None => lane.grouper.add(event, source, now),
            Some(secret) => lane.grouper.add_stamp(event, &secret, source, now),
        }
    }

    /// A watcher started before the first plant finds the key once plant has made it.
    /// Looked for at most once a second, and only while a burst is open.
    fn find_drill_key(&mut self) {
        let due = self
            .last_key_search
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(1));
        let open = self
            .lanes
            .iter()
            .any(|l| !l.grouper.has_drill_key() && l.grouper.next_deadline().is_some());
        if !open || !due {
            return;
        }
        self.last_key_search = Some(Instant::now());
        if let Ok(key) = self.home.key() {
            for lane in &mut self.lanes {
                lane.grouper.set_drill_key(key.clone());
            }
        }
    }

    fn emit_due(&mut self) -> Result<(), Error> {
        self.find_drill_key();
        let now = Instant::now();
        for index in 0..self.lanes.len() {
            for alert in self.lanes[index].grouper.due(now) {
                self.emit(index, alert)?;
            }
        }
        let reports = self.notifier.finished();
        self.take_reports(reports);
        Ok(())
    }

    /// Counts deliveries that ended, and tells the failures.
    fn take_reports(&mut self, reports: Vec<Report>) {
        for report in reports {
            match report.outcome {
                Ok(()) => self.metrics.delivered(report.sink, report.alerts),
                Err(why) => {
                    self.tally.delivery_failures += report.alerts;
                    self.metrics.delivery_failed(report.sink, report.alerts);
                    say!("watch: {why}");
                }
            }
        }
    }

    /// One piece of a lane's tripwire news: its alerts go out at once, then its re-arms.
    fn take_tripwire(
        &mut self,
        index: usize,
        news: tripwatch::News,
        book: &std::sync::Mutex<DrillBook>,
    ) -> Result<(), Error> {
        let Some(lane) = self.lanes.get_mut(index) else {
            return Ok(());
        };
        let health = lane.readiness.take(&news);
        if self.fleet {
            if health.ready_now {
                self.context_ready(index, true);
            }
            if health.not_ready_now {
                self.context_ready(index, false);
            }
        } else {
            if health.ready_now {
                self.metrics.source_ready(metrics::TRIPWIRE);
            }
            if health.not_ready_now {
                self.metrics.source_not_ready(metrics::TRIPWIRE);
            }
        }
        if health.reconnected {
            self.metrics.reconnect(metrics::TRIPWIRE);
        }
        if health.failed {
            self.metrics.source_error(metrics::TRIPWIRE);
        }
        if health.seen {
            self.metrics.event_seen(metrics::TRIPWIRE);
        }
        let lane = &mut self.lanes[index];
        let Some((state, _)) = &mut lane.tripwire else {
            return Ok(());
        };
        let step = {
            let mut book = book.lock().expect("not poisoned");
            if !book.has_key()
                && let Ok(key) = self.home.key()
            {
                book.set_key(key);
            }
            state.take(news, &mut book, jiff::Timestamp::now(), Instant::now())
        };
        match step.rearmed {
            Some(true) => self.metrics.rearm(),
            Some(false) => self.metrics.rearm_failed(),
            None => {}
        }
        let context = self.fleet.then(|| lane.shown_context());
        for line in &step.lines {
            match (&context, line.strip_prefix("watch: ")) {
                (Some(context), Some(rest)) => say!("watch: context {context}: {rest}"),
                _ => say!("{line}"),
            }
        }
        for (alert, drill) in step.alerts {
            let alert_id = self.emit_alert(index, alert)?;
            if let Some(drill) = drill {
                book.lock()
                    .expect("not poisoned")
                    .reported(&drill, &alert_id);
            }
        }
        if let Some((_, running)) = &mut self.lanes[index].tripwire {
            for (decoy, mark) in step.rearm {
                running.rearm(decoy, mark);
            }
        }
        Ok(())
    }

    fn emit(&mut self, lane: usize, alert: Alert) -> Result<(), Error> {
        self.emit_alert(lane, alert).map(|_| ())
    }

    /// Sends an alert, joined to an earlier one of the same use if there is one; its ID.
    fn emit_alert(&mut self, index: usize, mut alert: Alert) -> Result<String, Error> {
        let lane = &mut self.lanes[index];
        if self.fleet
            && let Some(context) = &lane.context
        {
            alert.name_context(context, &lane.server);
        }
        lane.correlator.correlate(&mut alert, Instant::now());
        let source = source_of(&alert.source, &lane.file_name);
        let alert = &alert;
        self.tally.alerts += 1;
        if alert.drill {
            self.tally.drills += 1;
        }
        // An update tells more of a use already counted: counted once, a use is one use.
        if !alert.update {
            self.metrics.alert(source, alert.signal, alert.drill);
        }
        if self.stdout_open {
            let text = render(alert, self.format)?;
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout
                .write_all(text.as_bytes())
                .and_then(|_| stdout.flush())
            {
                if !self.notifier.has_sinks() {
                    return Err(Error::Invalid(format!(
                        "cannot write alerts to stdout ({e}), and there is nowhere else to send them"
                    )));
                }
                self.stdout_open = false;
                self.metrics.delivery_failed(notify::STDOUT, 1);
                say!("watch: cannot write alerts to stdout ({e}); they go on to the other sinks");
            }
        }
        // People at a terminal get the one-line summary too, when stdout goes elsewhere.
        if self.terminal.stderr && !self.terminal.stdout {
            let label = if alert.drill {
                console::style("DRILL").yellow().bold()
            } else {
                console::style("ALERT").red().bold()
            };
            say!("{label} {}", alert.text);
        }
        for dropped in self.notifier.send(alert) {
            self.metrics.delivery_failed(dropped.sink, 1);
            if dropped.sink == notify::EXEC {
                self.tally.exec_dropped += 1;
                self.exec_drops.tell(Instant::now(), || {
                    format!("watch: --exec not run for an alert: {}", dropped.why)
                });
            } else {
                self.tally.delivery_failures += 1;
                self.queue_drops.tell(Instant::now(), || {
                    format!(
                        "watch: an alert not queued for {}: {}",
                        dropped.sink, dropped.why
                    )
                });
            }
        }
        Ok(alert.alert_id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECOY: &str = "system:serviceaccount:kube-system:tiller";

    fn line(id: &str, user: &str) -> Vec<u8> {
        format!(
            r#"{{"kind":"Event","auditID":"{id}","stage":"ResponseComplete","verb":"list","requestURI":"/api/v1/secrets","user":{{"username":"{user}"}},"sourceIPs":["10.0.0.9"],"userAgent":"kubectl/v1.36.3","responseStatus":{{"code":403}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn only_decoy_events_are_kept_and_bad_lines_naming_a_decoy_are_counted() {
        let matcher = Matcher::new(vec![DECOY.into()]);
        let mut truncated = line("t", DECOY);
        let cut = String::from_utf8_lossy(&truncated)
            .find("sourceIPs")
            .unwrap();
        // Cut after the user name, as a write interrupted by a crash leaves it.
        truncated.truncate(cut);
        let near = String::from_utf8(line("n", &format!("{DECOY}-deployer"))).unwrap();
        let lines = vec![
            line("a", DECOY),
            line("b", "admin"),
            b"garbage without the name".to_vec(),
            truncated,
            format!("\"{DECOY}\" in a line that is not JSON").into_bytes(),
            // Not parsed: the name without its quotes, and a user whose name begins with it.
            format!("{DECOY} in a line that is not JSON").into_bytes(),
            near.as_bytes()[..near.find("sourceIPs").unwrap()].to_vec(),
        ];
        let (events, malformed) = sift(&lines, &matcher);
        assert_eq!(
            events
                .iter()
                .map(|e| e.audit_id.as_str())
                .collect::<Vec<_>>(),
            vec!["a"]
        );
        assert_eq!(malformed, 2);
    }

    #[test]
    fn alerts_are_counted_under_the_source_they_came_from() {
        let log = "/var/log/kubernetes/audit.log";
        assert_eq!(source_of("webhook", log), metrics::WEBHOOK);
        assert_eq!(source_of(log, log), metrics::AUDIT_LOG);
        assert_eq!(source_of("tripwire", log), metrics::TRIPWIRE);
        assert_eq!(source_of("tripwire", ""), metrics::TRIPWIRE);
    }

    #[test]
    fn over_a_fleet_each_audit_log_names_its_context_once() {
        let contexts: Vec<String> = ["one", "a=b", "a"].iter().map(|c| c.to_string()).collect();
        let given =
            |values: &[&str]| -> Vec<PathBuf> { values.iter().map(PathBuf::from).collect() };
        assert_eq!(
            audit_logs_of_fleet(
                &given(&["one=/var/log/a=1.log", "a=b=/x", "a=/y"]),
                &contexts
            )
            .unwrap(),
            vec![
                (0, PathBuf::from("/var/log/a=1.log")),
                (1, PathBuf::from("/x")),
                (2, PathBuf::from("/y"))
            ]
        );
        let error = audit_logs_of_fleet(&given(&["/var/log/audit.log"]), &contexts).unwrap_err();
        assert!(error.to_string().contains("CONTEXT=FILE"), "{error}");
        let error = audit_logs_of_fleet(&given(&["one=/a", "one=/b"]), &contexts).unwrap_err();
        assert!(error.to_string().contains("two files"), "{error}");
        assert!(audit_logs_of_fleet(&given(&["one="]), &contexts).is_err());
        assert!(audit_logs_of_fleet(&given(&["two=/a"]), &contexts).is_err());
    }

    #[test]
    fn the_group_window_must_be_a_sensible_number_of_seconds() {
        assert!(group_window(2.0).is_ok());
        assert!(group_window(0.05).is_ok());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 7200.0] {
            assert!(group_window(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_token_file_must_hold_a_token() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        assert!(read_token(&empty).is_err());
        let good = dir.path().join("good");
        std::fs::write(&good, "s3cret\n").unwrap();
        use secrecy::ExposeSecret;
        assert_eq!(read_token(&good).unwrap().expose_secret(), "s3cret");
        assert!(read_token(&dir.path().join("missing")).is_err());
    }
}
