//! `watch`: alert on use of the decoys as it happens. Events come from an audit log file
//! followed like `tail -F`, or from the API server's audit webhook, or both; the requests of
//! one client are grouped into one alert per burst (see `alert`), which goes to stdout as a
//! JSON line and to the optional webhook and command.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use tokio::sync::mpsc;

use crate::audit::{DecoySecret, Matcher, Signal, events_in};
use crate::audit::{Event, LogFollower};
use crate::cli::{GlobalArgs, OutputFormat, WatchArgs};
use crate::cluster::sought::decoys_to_look_for;
use crate::detect::alert::{Alert, Grouper, Window};
use crate::detect::metrics::{self, Metrics};
use crate::detect::notice::DrillBook;
use crate::detect::notify::{self, Notifier, Sent};
use crate::detect::tripwatch::{self, Correlator, Tripwire};
use crate::detect::webhook::{self, Delivery, ListenOptions, TlsFiles};
use crate::error::Error;
use crate::exit::Outcome;
use crate::home::Home;
use crate::ui::terminal::Terminal;

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
    news: mpsc::UnboundedSender<FileNews>,
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
            if news.is_closed() || (!quiet && news.send(found).is_err()) {
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
        OutputFormat::Json | OutputFormat::Table => {
            // Escapes what a terminal would act on, should stdout be one.
            let mut line = crate::ui::output::json(alert, false)?;
            line.push('\n');
            line
        }
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

pub async fn run(
    args: &WatchArgs,
    global: &GlobalArgs,
    terminal: Terminal,
    home: &Home,
) -> Result<Outcome, Error> {
    let window = group_window(args.group_window)?;
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
    let sought = decoys_to_look_for(
        &args.user,
        &args.secret,
        &global.target(),
        global.namespace.as_deref(),
        home,
    )
    .await?;
    let users = sought.users.clone();
    let matcher = Arc::new(Matcher::with_secrets(
        sought.users.clone(),
        sought.secrets.clone(),
    ));
    let tripwire_decoys = if args.tripwire {
        let decoys = tripwatch::decoys_of(&sought.secrets);
        if decoys.is_empty() {
            return Err(Error::Invalid(
                "--tripwire watches the decoys' token Secrets: name them with --secret NAMESPACE/NAME, or give no --user so they are found".into(),
            ));
        }
        let connection = crate::cluster::connect::connect(&global.target()).await?;
        Some((crate::cluster::watches::watch_client(&connection)?, decoys))
    } else {
        None
    };
    let book = Arc::new(std::sync::Mutex::new(DrillBook::new(home.key().ok())));
    let notifier = Notifier::new(args.webhook_url.as_deref(), args.exec.as_deref())?;
    let metrics = Arc::new(Metrics::new());
    if args.listen.is_some() {
        metrics.expect_source(metrics::WEBHOOK, AUDIT_SIGNALS);
    }
    if args.audit_log.is_some() {
        metrics.expect_source(metrics::AUDIT_LOG, AUDIT_SIGNALS);
    }
    let tripwire_watched = tripwire_decoys
        .as_ref()
        .map_or(0, |(_, decoys)| decoys.len());
    if tripwire_watched > 0 {
        metrics.expect_source(metrics::TRIPWIRE, &[tripwatch::TRIPWIRE, tripwatch::BROKEN]);
    }
    let metrics_server = match args.metrics_address {
        Some(address) => Some(metrics::serve(address, metrics.clone()).await?),
        None => None,
    };

    let (webhook_sender, mut webhook_deliveries) = mpsc::channel(webhook::DELIVERIES_WAITING);
    let server = match args.listen {
        Some(address) => {
            let mut options = listen_options(args, address, &users, &sought.secrets)?;
            if args.tripwire {
                options.drill_notices = Some(book.clone());
            }
            let server = webhook::serve(options, webhook_sender).await?;
            metrics.source_ready(metrics::WEBHOOK);
            Some(server)
        }
        None => None,
    };
    let (file_sender, mut file_news) = mpsc::unbounded_channel();
    let followed = args.audit_log.clone();
    if let Some(path) = &followed {
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
        spawn_follower(follower, matcher.clone(), file_sender, metrics.clone());
    }

    let (tripwire_sender, mut tripwire_news) = mpsc::channel(256);
    let mut tripwire = None;
    if let Some((client, decoys)) = tripwire_decoys {
        let running = tripwatch::start(
            client,
            &decoys,
            Duration::from_secs(args.bindings_every),
            tripwire_sender,
        );
        let state = Tripwire::new(
            decoys,
            !args.no_rearm,
            args.audit_log.is_some() || args.listen.is_some(),
        );
        tripwire = Some((state, running));
    } else {
        drop(tripwire_sender);
    }

    let mut sources = Vec::new();
    if let Some((state, _)) = &tripwire {
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
    if let Some(path) = &followed {
        sources.push(format!("the audit log {}", path.display()));
    }
    let mut sinks = vec!["stdout".to_string()];
    if let Some(url) = &args.webhook_url {
        sinks.push(format!(
            "POST {}",
            crate::detect::notify::shown_url(&crate::detect::notify::parse_webhook_url(url)?)
        ));
    }
    sinks.extend(args.exec.iter().map(|command| format!("`{command}`")));
    let stamps = if sought.secrets.is_empty() {
        "no stamps (name the decoys' Secrets with --secret)".to_string()
    } else {
        let secrets: Vec<String> = sought.secrets.iter().map(DecoySecret::shown).collect();
        format!("the API server's stamps of {}", secrets.join(", "))
    };
    say!(
        "watch: watching {} for {} and {stamps}; alerts to {}; Ctrl-C stops",
        sources.join(" and "),
        users.join(", "),
        sinks.join(", ")
    );
    if let Some(server) = &metrics_server {
        say!(
            "watch: health at http://{}/ (/metrics, /healthz, /readyz)",
            server.address
        );
    }

    let mut watch = Watch {
        matcher,
        // Without the key, drills cannot be told from requests that copy their user agent.
        grouper: Grouper::new(window, home.key().ok()),
        correlator: Correlator::new(window.longest + window.quiet),
        tally: Tally::default(),
        file_name: followed
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        notifier,
        format: global.output,
        terminal,
        stdout_open: true,
        home: home.clone(),
        last_key_search: None,
        refusals: RefusalLog::new("requests refused", Instant::now()),
        exec_drops: RefusalLog::new("alerts not given to --exec", Instant::now()),
        metrics,
        readiness: tripwatch::Readiness::new(tripwire_watched),
    };
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let deadline = watch
            .grouper
            .next_deadline()
            .into_iter()
            .chain(tripwire.as_ref().and_then(|(t, _)| t.next_deadline()))
            .min()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            Some(delivery) = webhook_deliveries.recv() => watch.take_delivery(delivery),
            Some(news) = file_news.recv() => watch.take_news(news),
            Some(news) = tripwire_news.recv() => {
                if let Some((state, running)) = &mut tripwire {
                    watch.take_tripwire(news, state, running, &book)?;
                }
            }
            _ = tokio::time::sleep_until(deadline) => {}
            _ = &mut shutdown => break,
        }
        if let Some((state, running)) = &mut tripwire {
            for (decoy, mark) in state.due(Instant::now()) {
                running.rearm(decoy, mark);
            }
        }
        watch.emit_due()?;
    }
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
    while let Ok(news) = file_news.try_recv() {
        watch.take_news(news);
    }
    watch.last_key_search = None;
    watch.find_drill_key();
    for alert in watch.grouper.flush(Instant::now()) {
        watch.emit(&alert)?;
    }
    for failure in watch.notifier.finish(Duration::from_secs(10)).await {
        watch.tally.delivery_failures += 1;
        watch.metrics.delivery_failed();
        say!("watch: {failure}");
    }
    let tally = &watch.tally;
    let mut more = String::new();
    if tally.not_kept > 0 {
        more.push_str(&format!(
            ", {} decoy events counted but not kept (over {} in one webhook body)",
            tally.not_kept,
            webhook::EVENTS_PER_BODY
        ));
    }
    if watch.notifier.has_command() {
        more.push_str(&format!(
            ", {} alerts not given to --exec (over {} running and {} waiting)",
            tally.exec_dropped,
            notify::COMMANDS_AT_ONCE,
            notify::COMMANDS_WAITING
        ));
    }
    say!(
        "watch: stopped; {} decoy events, {} alerts ({} drills), {} malformed lines skipped, {} lines over the line limit skipped, {} requests refused, {} alert deliveries failed{more}",
        tally.decoy_events,
        tally.alerts,
        tally.drills,
        tally.malformed,
        tally.oversized,
        tally.refused,
        tally.delivery_failures
    );
    Ok(Outcome::Success)
}

/// A running watcher's state between events.
struct Watch {
    matcher: Arc<Matcher>,
    grouper: Grouper,
    /// Joins the alerts of one use from the tripwire and the audit sources.
    correlator: Correlator,
    tally: Tally,
    file_name: String,
    notifier: Notifier,
    format: OutputFormat,
    terminal: Terminal,
    /// False once stdout's reader has gone away.
    stdout_open: bool,
    home: Home,
    last_key_search: Option<Instant>,
    refusals: RefusalLog,
    exec_drops: RefusalLog,
    metrics: Arc<Metrics>,
    /// Which tripwire watches have listed once; their health goes to `metrics`.
    readiness: tripwatch::Readiness,
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
    fn take_delivery(&mut self, delivery: Delivery) {
        match delivery {
            Delivery::Events {
                events, not_kept, ..
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
                for event in events {
                    self.add(event, "webhook", now);
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

    fn take_news(&mut self, news: FileNews) {
        let now = Instant::now();
        let file_name = &self.file_name;
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
        let file_name = file_name.clone();
        for event in news.events {
            self.add(event, &file_name, now);
        }
    }

    /// One event of a decoy (a request, or the API server's stamp of its Secret) into its
    /// burst; other events are dropped.
    fn add(&mut self, event: Event, source: &str, now: Instant) {
        let secret = match self.matcher.signal(&event) {
            None => return,
            Some(Signal::Request) => None,
            Some(Signal::Stamp(secret)) => Some(secret.clone()),
        };
        self.tally.decoy_events += 1;
        match secret {
            None => self.grouper.add(event, source, now),
            Some(secret) => self.grouper.add_stamp(event, &secret, source, now),
        }
    }

    /// A watcher started before the first plant finds the key once plant has made it.
    /// Looked for at most once a second, and only while a burst is open.
    fn find_drill_key(&mut self) {
        let due = self
            .last_key_search
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(1));
        if self.grouper.has_drill_key() || self.grouper.next_deadline().is_none() || !due {
            return;
        }
        self.last_key_search = Some(Instant::now());
        if let Ok(key) = self.home.key() {
            self.grouper.set_drill_key(key);
        }
    }

    fn emit_due(&mut self) -> Result<(), Error> {
        self.find_drill_key();
        for alert in self.grouper.due(Instant::now()) {
            self.emit(&alert)?;
        }
        for failure in self.notifier.finished_failures() {
            self.tally.delivery_failures += 1;
            self.metrics.delivery_failed();
            say!("watch: {failure}");
        }
        Ok(())
    }

    /// One piece of the tripwire's news: its alerts go out at once, then its re-arms.
    fn take_tripwire(
        &mut self,
        news: tripwatch::News,
        state: &mut Tripwire,
        running: &mut tripwatch::Running,
        book: &std::sync::Mutex<DrillBook>,
    ) -> Result<(), Error> {
        let health = self.readiness.take(&news);
        if health.ready_now {
            self.metrics.source_ready(metrics::TRIPWIRE);
        }
        if health.not_ready_now {
            self.metrics.source_not_ready(metrics::TRIPWIRE);
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
        for line in &step.lines {
            say!("{line}");
        }
        for (alert, drill) in step.alerts {
            let alert_id = self.emit_alert(alert)?;
            if let Some(drill) = drill {
                book.lock()
                    .expect("not poisoned")
                    .reported(&drill, &alert_id);
            }
        }
        for (decoy, mark) in step.rearm {
            running.rearm(decoy, mark);
        }
        Ok(())
    }

    fn emit(&mut self, alert: &Alert) -> Result<(), Error> {
        self.emit_alert(alert.clone()).map(|_| ())
    }

    /// Sends an alert, joined to an earlier one of the same use if there is one; its ID.
    fn emit_alert(&mut self, mut alert: Alert) -> Result<String, Error> {
        self.correlator.correlate(&mut alert, Instant::now());
        let alert = &alert;
        self.tally.alerts += 1;
        if alert.drill {
            self.tally.drills += 1;
        }
        // An update tells more of a use already counted: counted once, a use is one use.
        if !alert.update {
            self.metrics.alert(
                source_of(&alert.source, &self.file_name),
                alert.signal,
                alert.drill,
            );
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
                self.metrics.delivery_failed();
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
        if self.notifier.send(alert) == Sent::CommandDropped {
            self.tally.exec_dropped += 1;
            self.metrics.delivery_failed();
            self.exec_drops.tell(Instant::now(), || {
                format!(
                    "watch: --exec not run for an alert: {} commands running and {} alerts waiting for them",
                    notify::COMMANDS_AT_ONCE,
                    notify::COMMANDS_WAITING
                )
            });
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
