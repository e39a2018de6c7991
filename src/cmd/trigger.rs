//! `test-trigger`: runs a drill (see [`crate::detect::drill`]) and reports, per request, its
//! answer and whether its audit event arrived; `--dry-run` tells what it would send. Over a
//! fleet, every context's decoys are drilled at once, in one table or one `FleetReport`.

use std::time::Duration;

use crate::cli::{GlobalArgs, TriggerArgs};
use serde::Serialize;

use crate::cluster::connect::{Connection, Target};
use crate::cluster::fleet::{self, ContextResult, Fleet, FleetReport, Ran};
use crate::cluster::locate::{self, Scope, Selection};
use crate::detect::drill::{
    DrillPlan, DrillReport, Expect, Judgement, Sink, WatcherCheck, drill, drillable,
    missing_events, plan, wrong_answers,
};
use crate::detect::notice::{self, NoticeStatus};
use crate::error::Error;
use crate::exit::Outcome;
use crate::home::{DrillTripwire, Home};
use crate::ui::output;
use crate::ui::table::{Cell, Table, Tone};

/// A row per request of a drill.
fn requests_table(report: &DrillReport) -> Table {
    let mut table = output::table(&["request", "code", "expected", "result", "audit event"]);
    for outcome in &report.requests {
        let result = match outcome.judgement {
            Judgement::Ok => Cell::new("ok", Tone::Good),
            Judgement::Danger => Cell::new("DANGER", Tone::Bad),
            Judgement::Rejected => Cell::new("token rejected", Tone::Trouble),
            Judgement::Unexpected => Cell::new("unexpected", Tone::Warn),
        };
        let audit = match (&report.audit_log, outcome.audit_latency_seconds) {
            (None, _) => "not watched".into(),
            (Some(_), None) if !outcome.request.audit_event_expected => {
                "not expected (tripwire)".into()
            }
            (Some(_), Some(seconds)) => Cell::from(format!(
                "arrived after {seconds:.1}s ({})",
                crate::ui::terminal::printable(outcome.audit_stage.as_deref().unwrap_or(""))
            )),
            (Some(_), None) => Cell::new("MISSING", Tone::Bad),
        };
        table.add_row([
            Cell::from(format!(
                "{} {}",
                outcome.request.method, outcome.request.path
            )),
            outcome
                .code
                .map(|c| c.to_string())
                .or_else(|| outcome.error.clone())
                .unwrap_or_default()
                .into(),
            expected_text(outcome.request.expect).into(),
            result,
            audit,
        ]);
    }
    table
}

fn table(report: &DrillReport) -> String {
    let table = requests_table(report);
    format!(
        "Drill {} as {} (user agent \"{}\")\n{table}\nTripwire: {}\n",
        report.drill_id,
        report.username,
        report.user_agent,
        report.tripwire.describe()
    )
}

/// How long the watcher is given to report the drill's stamp after the drill.
const CONFIRM_WITHIN: Duration = Duration::from_secs(10);

/// Asks the watcher until it has seen the drill's stamp, the notice expired, or
/// [`CONFIRM_WITHIN`] passed.
async fn confirm(watcher: &notice::Watcher, id: &str) -> Result<NoticeStatus, Error> {
    let deadline = std::time::Instant::now() + CONFIRM_WITHIN;
    loop {
        let status = watcher.status(id).await?;
        if !matches!(status, NoticeStatus::Pending) || std::time::Instant::now() >= deadline {
            return Ok(status);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn describe_check(check: &WatcherCheck) -> String {
    match &check.status {
        NoticeStatus::Seen { alert_id, seen_at } => {
            format!("saw the drill's stamp at {seen_at} and told it as a drill (alert {alert_id})")
        }
        NoticeStatus::Pending => format!(
            "did not report the drill's stamp within {}s after the drill",
            CONFIRM_WITHIN.as_secs()
        ),
        NoticeStatus::Expired => {
            "saw no stamp of the decoy's Secret while the drill's notice was open".to_string()
        }
    }
}

fn expected_text(expect: Expect) -> &'static str {
    match expect {
        Expect::Answered => "2xx",
        Expect::Forbidden => "403",
    }
}

pub fn plan_text(plan: &DrillPlan) -> String {
    let mut table = output::table(&["request", "method", "path", "expected"]);
    for request in &plan.requests {
        table.add_row([
            request.name.to_string(),
            request.method.to_string(),
            request.path.clone(),
            expected_text(request.expect).to_string(),
        ]);
    }
    let wait = match (&plan.audit_log, plan.timeout_seconds) {
        (Some(sink), Some(seconds)) => {
            format!("then wait up to {seconds}s for their events in the {sink}\n")
        }
        _ => String::new(),
    };
    format!(
        "A drill would send these requests to {} as {}, with the token of Secret {}/{} and no other credential, each with user agent \"{}\" (the ID is made when the drill starts):\n{table}\nThe first request stamps the tripwire (label {} on the Secret); the drill would then remove that stamp to re-arm it, if it is still the drill's.\n{wait}(dry run: nothing was sent, the token was not used, no drill was recorded)\n",
        plan.server,
        plan.username,
        plan.namespace,
        plan.secret,
        plan.user_agent,
        plan.tripwire_label
    )
}

pub async fn run(args: &TriggerArgs, global: &GlobalArgs, home: &Home) -> Result<Outcome, Error> {
    let scope = locate::scope(
        args.select.profile.as_deref(),
        global.namespace.as_deref(),
        args.select.name.as_deref(),
    )?;
    if let Some(fleet) = global.fleet()? {
        return drill_fleet(&fleet, &scope, args, global, home).await;
    }
    match scope {
        Scope::One(selection) => drill_one(&selection, args, global, home).await,
        scope => drill_several(&scope, args, global, home).await,
    }
}

/// `--profile` or `--name`: a drill of exactly the decoy they name.
async fn drill_one(
    selection: &Selection,
    args: &TriggerArgs,
    global: &GlobalArgs,
    home: &Home,
) -> Result<Outcome, Error> {
    let located =
        locate::locate(selection, &global.target(), home, locate::KeyUse::Existing).await?;
    let secret = drillable(&located)?;
    if global.dry_run {
        let plan = plan(
            &located,
            args.audit_log
                .as_ref()
                .map(|path| format!("audit log {}", path.display())),
            Duration::from_secs(args.timeout),
        );
        match output::structured(global.output, &plan)? {
            Some(text) => print!("{text}"),
            None => print!("{}", plan_text(&plan)),
        }
        return Ok(Outcome::Success);
    }
    // The watcher learns of the drill right before its first request, or there is no drill.
    let watcher = args
        .watcher
        .as_deref()
        .map(notice::Watcher::new)
        .transpose()?;
    let report = drill_step(&located, &secret, args, home, watcher.as_ref()).await?;
    match output::structured(global.output, &report)? {
        Some(text) => print!("{text}"),
        None => {
            print!("{}", table(&report));
            if let Some(check) = &report.watcher {
                println!("Watcher: {}", describe_check(check));
            }
        }
    }
    match judge_report(&report, args.timeout) {
        Drilled::Ok => Ok(Outcome::Success),
        Drilled::Tripped { day } => {
            eprintln!("{}", tripped_text(&day));
            Ok(Outcome::Tripped)
        }
        Drilled::Danger => {
            eprintln!("{}", danger_text(&report.username));
            Ok(Outcome::Broken)
        }
        Drilled::Failed(why) => Err(Error::CheckFailed(why)),
    }
}

/// One decoy's drill: the drill itself, then the watcher's word on it. The step a drill of
/// one decoy and a drill of several take for each decoy.
async fn drill_step(
    located: &locate::Located,
    secret: &k8s_openapi::api::core::v1::Secret,
    args: &TriggerArgs,
    home: &Home,
    watcher: Option<&notice::Watcher>,
) -> Result<DrillReport, Error> {
    let mut sink = args.audit_log.as_deref().map(Sink::file).transpose()?;
    let mut report = drill(
        located,
        secret,
        home,
        sink.as_mut(),
        Duration::from_secs(args.timeout),
        watcher,
    )
    .await?;
    if let (Some(watcher), Some(id)) = (watcher, &report.notice_id.clone()) {
        let status = confirm(watcher, id).await?;
        report.watcher = Some(WatcherCheck {
            url: watcher.url().to_string(),
            notice_id: id.clone(),
            status,
        });
    }
    Ok(report)
}

/// "1 decoy", "3 decoys".
fn decoys(count: usize) -> String {
    if count == 1 {
        "1 decoy".to_string()
    } else {
        format!("{count} decoys")
    }
}

fn tripped_text(day: &str) -> String {
    format!(
        "TRIPPED: the decoy's token was used on {day} before this drill, and no drill of this decoy explains it; the stamp was left as evidence. Run `kubectl honeytoken status`, and `kubectl honeytoken scan` on the audit log to learn who."
    )
}

fn danger_text(username: &str) -> String {
    format!(
        "DANGER: the decoy token read Secrets. Something grants {username} permissions; run `kubectl honeytoken status` to find the binding and delete it."
    )
}

/// How one decoy's drill ended. In order of seriousness: a drill of several exits with the
/// most serious of its decoys' (see [`combined`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Drilled {
    /// Stamped, re-armed, every answer as expected (and every event and the watcher, when
    /// asked for).
    Ok,
    /// Could not be drilled, or did not prove what it should (exit 1); why.
    Failed(String),
    /// The decoy token read Secrets (exit 4).
    Danger,
    /// A use no drill explains stamped the tripwire before the drill (exit 3).
    Tripped { day: String },
}

impl Drilled {
    fn as_str(&self) -> &'static str {
        match self {
            Drilled::Ok => "ok",
            Drilled::Failed(_) => "failed",
            Drilled::Danger => "DANGER",
            Drilled::Tripped { .. } => "TRIPPED",
        }
    }
}

/// The verdict on one drill's report, in the order a drill of one decoy has always checked:
/// a stamp left by a use, DANGER, wrong answers, the tripwire, the watcher, the audit log.
pub fn judge_report(report: &DrillReport, timeout: u64) -> Drilled {
    if let DrillTripwire::AlreadyStamped { day } = &report.tripwire.outcome {
        return Drilled::Tripped { day: day.clone() };
    }
    if report.danger {
        return Drilled::Danger;
    }
    if let Some(wrong) = wrong_answers(report).first() {
        return Drilled::Failed(format!("drill request {wrong}"));
    }
    match &report.tripwire.outcome {
        DrillTripwire::Left { reason } => {
            return Drilled::Failed(format!(
                "the drill stamped the tripwire but could not re-arm it ({reason}); until it is re-armed a use on the same day leaves no new stamp, and status calls the decoy drilled. Run test-trigger again (it re-arms a stamp its drill left first); re-arming needs patch on the Secret"
            ));
        }
        DrillTripwire::NotStamped => {
            return Drilled::Failed(format!(
                "the tripwire did not fire: the drill's first request left no label {} on Secret {}/{} within 3s (a use of the token by anyone in the 10s before the drill is still in the API server's cache and is not stamped again: run the drill again in a minute)",
                crate::decoy::tripwire::LAST_USED_LABEL,
                report.namespace,
                report.secret
            ));
        }
        DrillTripwire::Rearmed { .. } | DrillTripwire::AlreadyStamped { .. } => {}
    }
    if let Some(check) = &report.watcher
        && !matches!(check.status, NoticeStatus::Seen { .. })
    {
        return Drilled::Failed(format!(
            "the watcher at {} {}: the path from the decoy's use to an alert is not proven",
            check.url,
            describe_check(check)
        ));
    }
    let missing = missing_events(report);
    if !missing.is_empty() {
        return Drilled::Failed(format!(
            "the {} did not record {} of the drill's {} requests within {}s: {}. The audit policy or backend misses the decoy; run kubectl honeytoken verify",
            report.audit_log.as_deref().unwrap_or(""),
            missing.len(),
            report
                .requests
                .iter()
                .filter(|o| o.request.audit_event_expected)
                .count(),
            timeout,
            missing.join(", ")
        ));
    }
    Drilled::Ok
}

/// What a drill of several decoys ends with: the most serious of its decoys' results,
/// TRIPPED (3) over DANGER (4) over a failed drill (1), as `status` puts TRIPPED over
/// broken. None found is a failure: there was nothing to drill.
pub fn combined(results: &[Drilled]) -> Drilled {
    results.iter().max().cloned().unwrap_or_else(|| {
        Drilled::Failed(
            "no decoy of this key to drill; plant one first (kubectl honeytoken plant)".into(),
        )
    })
}

/// One decoy in the report of a drill of several.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecoyDrill {
    pub namespace: String,
    pub service_account: String,
    pub secret: String,
    pub profile: String,
    /// ok | TRIPPED | DANGER | failed, or wouldDrill in a dry run.
    pub result: &'static str,
    /// Why it failed, or what its TRIPPED or DANGER means.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The drill's report, as `test-trigger --profile P -o json` prints it for one decoy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drill: Option<DrillReport>,
    /// In a dry run: the drill it would run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<DrillPlan>,
}

/// The document of a drill of every decoy found, a row per decoy.
pub type SeveralReport = output::SeveralReport<DecoyDrill>;

/// The tripwire in a few words, for a row.
fn tripwire_cell(report: &DrillReport) -> String {
    match &report.tripwire.outcome {
        DrillTripwire::Rearmed { .. } => match report.tripwire.stamped_after_ms {
            Some(ms) => format!("fired ({ms} ms), re-armed"),
            None => "re-armed".to_string(),
        },
        DrillTripwire::Left { .. } => "fired, NOT re-armed".to_string(),
        DrillTripwire::AlreadyStamped { day } => format!("stamped {day} before the drill"),
        DrillTripwire::NotStamped => "did NOT fire".to_string(),
    }
}

fn audit_cell(report: &DrillReport) -> String {
    if report.audit_log.is_none() {
        return "not watched".to_string();
    }
    let expected = report
        .requests
        .iter()
        .filter(|o| o.request.audit_event_expected)
        .count();
    let missing = missing_events(report).len();
    if missing == 0 {
        format!("{expected}/{expected} arrived")
    } else {
        format!(
            "{}/{expected} arrived, {missing} MISSING",
            expected - missing
        )
    }
}

/// The columns of a drilled decoy's row, [`drill_cells`]'s order.
const DRILL_COLUMNS: [&str; 6] = [
    "decoy",
    "profile",
    "drill",
    "tripwire",
    "audit events",
    "result",
];

/// The drill's ID is in the heading of each drill's own table above the rows.
const DRILL_WIDE_COLUMNS: [&str; 1] = ["drill"];

fn several_table(report: &SeveralReport) -> String {
    let mut rows = output::table(&DRILL_COLUMNS);
    rows.wide_only(&DRILL_WIDE_COLUMNS);
    for decoy in &report.decoys {
        rows.add_row(drill_cells(decoy));
    }
    // Each drill as a drill of one decoy tells it, then one row per decoy.
    let mut text = String::new();
    for drill in report.decoys.iter().filter_map(|d| d.drill.as_ref()) {
        text.push_str(&table(drill));
        if let Some(check) = &drill.watcher {
            text.push_str(&format!("Watcher: {}\n", describe_check(check)));
        }
        text.push('\n');
    }
    text.push_str(&format!("{rows}\n"));
    let count = |result: &str| report.decoys.iter().filter(|d| d.result == result).count();
    let mut parts = vec![format!("{} ok", count("ok"))];
    for result in ["TRIPPED", "DANGER", "failed"] {
        if count(result) > 0 {
            parts.push(format!("{} {result}", count(result)));
        }
    }
    text.push_str(&format!(
        "Drilled {}: {}.\n",
        decoys(report.decoys.len()),
        parts.join(", ")
    ));
    text
}

/// One drilled decoy's cells, from `decoy` to `result`.
fn drill_cells(decoy: &DecoyDrill) -> Vec<Cell> {
    let result = match decoy.result {
        "ok" => Cell::new("ok", Tone::Good),
        "wouldDrill" => Cell::new("would drill", Tone::Good),
        _ => Cell::new(decoy.result, Tone::Bad),
    };
    let (id, tripwire, audit) = match &decoy.drill {
        Some(drill) => (
            drill.drill_id.clone(),
            tripwire_cell(drill),
            audit_cell(drill),
        ),
        None => ("-".to_string(), "-".to_string(), "-".to_string()),
    };
    vec![
        format!("{}/{}", decoy.namespace, decoy.service_account).into(),
        decoy.profile.as_str().into(),
        id.into(),
        tripwire.into(),
        audit.into(),
        result,
    ]
}

/// What test-trigger found to drill in one cluster, before it drills.
struct Survey {
    connection: Connection,
    /// `--profile` or `--name`: the one decoy they name, reported as a drill of one decoy.
    one: bool,
    namespaces: Vec<String>,
    not_looked_in: Vec<String>,
    recorded_elsewhere: Vec<String>,
    located: Vec<locate::Located>,
}

/// Looks in one cluster for the decoys the command line names. A decoy named by
/// `--profile` or `--name` that cannot be drilled is an error, as it always was; among
/// several, it is a failed drill.
async fn survey(target: &Target, scope: &Scope, home: &Home) -> Result<Survey, Error> {
    let Scope::One(selection) = scope else {
        return survey_several(target, scope.namespace(), home).await;
    };
    let located = locate::locate(selection, target, home, locate::KeyUse::Existing).await?;
    drillable(&located)?;
    Ok(Survey {
        connection: located.connection.clone(),
        one: true,
        namespaces: vec![selection.namespace.clone()],
        not_looked_in: Vec::new(),
        recorded_elsewhere: Vec::new(),
        located: vec![located],
    })
}

/// Every decoy of this key `status` finds in one cluster (in `namespace` only, when given).
async fn survey_several(
    target: &Target,
    namespace: Option<&str>,
    home: &Home,
) -> Result<Survey, Error> {
    let observation = locate::observe_all(target, namespace, home).await?;
    let state = home.load()?;
    let connection = observation.connection;
    Ok(Survey {
        one: false,
        located: observation
            .observed
            .iter()
            .map(|observed| locate::located(&connection, observed, &state))
            .collect(),
        recorded_elsewhere: locate::recorded_elsewhere(
            &state,
            &connection.server,
            &observation.namespaces,
        ),
        namespaces: observation.namespaces,
        not_looked_in: observation.not_looked_in,
        connection,
    })
}

/// Drills each decoy of a survey, one after the other, each as a drill of one decoy (or,
/// in a dry run, tells the drill it would run); one that fails never stops the next.
async fn drill_surveyed(
    survey: &Survey,
    args: &TriggerArgs,
    dry_run: bool,
    home: &Home,
    watcher: Option<&notice::Watcher>,
) -> (SeveralReport, Vec<Drilled>) {
    let mut report = SeveralReport {
        schema_version: 1,
        server: survey.connection.server.clone(),
        dry_run,
        namespaces: survey.namespaces.clone(),
        decoys: Vec::new(),
        not_looked_in: survey.not_looked_in.clone(),
        recorded_elsewhere: survey.recorded_elsewhere.clone(),
    };
    let mut results = Vec::new();
    for located in &survey.located {
        let spec = &located.spec;
        let mut entry = DecoyDrill {
            namespace: spec.namespace.clone(),
            service_account: spec.account.clone(),
            secret: spec.secret.clone(),
            profile: spec.profile.to_string(),
            result: "ok",
            message: None,
            drill: None,
            plan: None,
        };
        let secret = match drillable(located) {
            Ok(secret) => secret,
            Err(error) => {
                let result = Drilled::Failed(error.to_string());
                entry.result = result.as_str();
                entry.message = Some(error.to_string());
                results.push(result);
                report.decoys.push(entry);
                continue;
            }
        };
        if dry_run {
            entry.result = "wouldDrill";
            entry.plan = Some(plan(
                located,
                args.audit_log
                    .as_ref()
                    .map(|path| format!("audit log {}", path.display())),
                Duration::from_secs(args.timeout),
            ));
            results.push(Drilled::Ok);
            report.decoys.push(entry);
            continue;
        }
        let result = match drill_step(located, &secret, args, home, watcher).await {
            Ok(drilled) => {
                let result = judge_report(&drilled, args.timeout);
                entry.message = match &result {
                    Drilled::Ok => None,
                    Drilled::Failed(why) => Some(why.clone()),
                    Drilled::Danger => Some(danger_text(&drilled.username)),
                    Drilled::Tripped { day } => Some(tripped_text(day)),
                };
                entry.drill = Some(drilled);
                result
            }
            Err(error) => {
                entry.message = Some(error.to_string());
                Drilled::Failed(error.to_string())
            }
        };
        entry.result = result.as_str();
        results.push(result);
        report.decoys.push(entry);
    }
    (report, results)
}

/// No `--profile` or `--name`: a drill of every decoy of this key `status` finds (in `-n`'s
/// namespace only, when given), one after the other, each as a drill of one decoy.
async fn drill_several(
    scope: &Scope,
    args: &TriggerArgs,
    global: &GlobalArgs,
    home: &Home,
) -> Result<Outcome, Error> {
    let survey = survey_several(&global.target(), scope.namespace(), home).await?;
    for place in &survey.not_looked_in {
        eprintln!("warning: not looked in namespace {place}; decoys there are not drilled");
    }
    let watcher = args
        .watcher
        .as_deref()
        .filter(|_| !global.dry_run)
        .map(notice::Watcher::new)
        .transpose()?;
    let (report, results) =
        drill_surveyed(&survey, args, global.dry_run, home, watcher.as_ref()).await;
    match output::structured(global.output, &report)? {
        Some(text) => print!("{text}"),
        None if global.dry_run => {
            for decoy in &report.decoys {
                if let Some(plan) = &decoy.plan {
                    print!("{}", plan_text(plan));
                }
            }
        }
        None if report.decoys.is_empty() => {}
        None => print!("{}", several_table(&report)),
    }
    for decoy in &report.decoys {
        if let Some(message) = &decoy.message {
            eprintln!("{}/{}: {message}", decoy.namespace, decoy.service_account);
        }
    }
    if report.decoys.is_empty() {
        let mut why = format!(
            "no decoy of this key in namespace(s) {} to drill; plant one first (kubectl honeytoken plant)",
            report.namespaces.join(", ")
        );
        if !report.recorded_elsewhere.is_empty() {
            why.push_str(&format!(
                ". This workstation recorded decoys of this key elsewhere: {}; drill them there (-n NAMESPACE, and --context for another server)",
                report.recorded_elsewhere.join(", ")
            ));
        }
        return Err(Error::CheckFailed(why));
    }
    match combined(&results) {
        Drilled::Ok => Ok(Outcome::Success),
        Drilled::Tripped { .. } => Ok(Outcome::Tripped),
        Drilled::Danger => Ok(Outcome::Broken),
        Drilled::Failed(_) => {
            let failed: Vec<String> = report
                .decoys
                .iter()
                .filter(|d| d.result == "failed")
                .map(|d| format!("{}/{}", d.namespace, d.service_account))
                .collect();
            Err(Error::CheckFailed(format!(
                "the drill of {} of {} failed: {} (see above)",
                report
                    .decoys
                    .iter()
                    .filter(|d| d.result == "failed")
                    .count(),
                decoys(report.decoys.len()),
                failed.join("; ")
            )))
        }
    }
}

/// One context's report in a drill over a fleet: the document test-trigger prints for that
/// one context, a drill's report (its plan in a dry run) for `--profile` or `--name`, else a
/// [`SeveralReport`].
#[derive(Debug, Clone)]
pub struct ContextDrill {
    pub one: bool,
    /// Its drills as a drill of several tells them, whichever document it prints.
    pub report: SeveralReport,
}

impl Serialize for ContextDrill {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.report.decoys.first() {
            Some(decoy) if self.one => match (&decoy.drill, &decoy.plan) {
                (Some(drill), _) => drill.serialize(serializer),
                (None, Some(plan)) => plan.serialize(serializer),
                (None, None) => self.report.serialize(serializer),
            },
            _ => self.report.serialize(serializer),
        }
    }
}

/// The exit code one decoy's drill result earns, as a drill of it alone would exit.
fn result_code(result: &str) -> u8 {
    match result {
        "TRIPPED" => crate::exit::TRIPPED,
        "DANGER" => crate::exit::BROKEN,
        "failed" => crate::exit::FAILED,
        _ => crate::exit::OK,
    }
}

impl ContextDrill {
    /// The exit code of this context alone: its most serious drill's, and a failure when it
    /// has no decoy to drill.
    pub fn code(&self) -> u8 {
        if self.report.decoys.is_empty() {
            return crate::exit::FAILED;
        }
        fleet::worst(self.report.decoys.iter().map(|d| result_code(d.result)))
    }

    /// What became of this context in a word: its most serious drill's result.
    fn state(&self) -> &'static str {
        match self
            .report
            .decoys
            .iter()
            .map(|d| d.result)
            .max_by_key(|result| fleet::severity(result_code(result)))
        {
            None => "no decoys",
            Some("wouldDrill") => "would drill",
            Some(result) => result,
        }
    }
}

fn context_state(context: &ContextResult<ContextDrill>) -> String {
    match &context.report {
        Some(report) => report.state().to_string(),
        None => context.result.as_str().to_string(),
    }
}

/// A drill over a fleet as one table: the table of several drills with the context first,
/// a row for each context with no decoy or no answer, then one summary line. Pure.
pub fn fleet_table(report: &FleetReport<ContextDrill>) -> String {
    let columns: Vec<&str> = std::iter::once("context").chain(DRILL_COLUMNS).collect();
    let mut rows = output::table(&columns);
    rows.wide_only(&DRILL_WIDE_COLUMNS);
    for context in &report.contexts {
        let decoys = context
            .report
            .as_ref()
            .map_or(&[][..], |r| &r.report.decoys);
        for decoy in decoys {
            let mut row = vec![Cell::from(&context.context)];
            row.extend(drill_cells(decoy));
            rows.add_row(row);
        }
        if decoys.is_empty() {
            let mut row = vec![Cell::from(&context.context)];
            row.extend(std::iter::repeat_n(Cell::from("-"), 5));
            row.push(Cell::new(context_state(context).to_uppercase(), Tone::Bad));
            rows.add_row(row);
        }
    }
    format!("{rows}\n{}\n", report.summary(context_state))
}

/// What each context or drill of a fleet that did not end well must tell, a line each, the
/// context first: why it failed, or what its TRIPPED or DANGER means. Pure.
pub fn fleet_messages(report: &FleetReport<ContextDrill>) -> Vec<String> {
    let mut messages = Vec::new();
    for context in &report.contexts {
        if let Some(error) = &context.error {
            messages.push(format!("{}: {error}", context.context));
        }
        let Some(drills) = &context.report else {
            continue;
        };
        if drills.report.decoys.is_empty() {
            messages.push(format!(
                "{}: no decoy of this key in namespace(s) {} to drill; plant one first (kubectl honeytoken plant)",
                context.context,
                drills.report.namespaces.join(", ")
            ));
        }
        for decoy in &drills.report.decoys {
            if let Some(message) = &decoy.message {
                messages.push(format!(
                    "{}: {}/{}: {message}",
                    context.context, decoy.namespace, decoy.service_account
                ));
            }
        }
    }
    messages
}

/// A drill over a fleet: every context's decoys drilled at once, a context's own one after
/// the other, each as a drill of one decoy (its drill lock and its watcher announcement
/// included). The fleet's per-context timeout bounds reaching a cluster and finding its
/// decoys, never a drill once started: a drill cut off between its first request and its
/// re-arm would leave the tripwire stamped and its record open, and a drill's waits are
/// bounded on their own (each request's timeout, `--timeout` for its audit events, 10s for
/// the watcher).
async fn drill_fleet(
    fleet: &Fleet,
    scope: &Scope,
    args: &TriggerArgs,
    global: &GlobalArgs,
    home: &Home,
) -> Result<Outcome, Error> {
    // A missing key or a bad watcher URL is this workstation's problem, told once.
    home.key()?;
    let watcher = args
        .watcher
        .as_deref()
        .filter(|_| !global.dry_run)
        .map(notice::Watcher::new)
        .transpose()?;
    let surveys = fleet::each(fleet, true, |target| async move {
        survey(&target, scope, home).await
    })
    .await;
    for run in &surveys {
        if let Ran::Done(survey) = &run.ran {
            for place in &survey.not_looked_in {
                eprintln!(
                    "warning: {}: not looked in namespace {place}; decoys there are not drilled",
                    run.context
                );
            }
        }
    }
    let (dry_run, watcher) = (global.dry_run, watcher.as_ref());
    let runs = fleet::then(fleet, surveys, |_, survey: Survey| async move {
        let (report, _) = drill_surveyed(&survey, args, dry_run, home, watcher).await;
        match report.decoys.first() {
            // A drill of the one decoy named that could not run fails its context, as it
            // fails a drill of one context.
            Some(decoy) if survey.one && decoy.drill.is_none() && decoy.plan.is_none() => Err(
                Error::CheckFailed(decoy.message.clone().unwrap_or_default()),
            ),
            _ => Ok(ContextDrill {
                one: survey.one,
                report,
            }),
        }
    })
    .await;
    let report = FleetReport::new("test-trigger", runs, ContextDrill::code);
    match output::structured(global.output, &report)? {
        Some(text) => print!("{text}"),
        None => {
            if dry_run {
                for context in &report.contexts {
                    for decoy in context.report.iter().flat_map(|r| &r.report.decoys) {
                        if let Some(plan) = &decoy.plan {
                            print!("{}: {}", context.context, plan_text(plan));
                        }
                    }
                }
            }
            print!("{}", fleet_table(&report));
        }
    }
    for message in fleet_messages(&report) {
        eprintln!("{message}");
    }
    Ok(Outcome::Fleet(report.exit_code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::drill::{RequestOutcome, TripwireReport, drill_requests, judge};

    /// A drill of `ns/tiller` whose requests got `codes` (in drill_requests' order).
    fn report(codes: [u16; 7], tripwire: DrillTripwire) -> DrillReport {
        let requests = drill_requests("ns")
            .into_iter()
            .zip(codes)
            .map(|(request, code)| RequestOutcome {
                judgement: judge(request.expect, code),
                request,
                code: Some(code),
                error: None,
                audit_latency_seconds: None,
                audit_stage: None,
            })
            .collect::<Vec<_>>();
        DrillReport {
            danger: requests
                .iter()
                .any(|o| o.judgement == crate::detect::drill::Judgement::Danger),
            drill_id: "d1".into(),
            user_agent: "ua".into(),
            namespace: "ns".into(),
            service_account: "tiller".into(),
            secret: "tiller-token-bcdfg".into(),
            username: "system:serviceaccount:ns:tiller".into(),
            started_at: "2026-12-01T00:00:00Z".parse().unwrap(),
            audit_log: None,
            requests,
            all_events_arrived: None,
            tripwire: TripwireReport {
                label_before: None,
                stamped: Some("2026-12-01".into()),
                stamped_after_ms: Some(12),
                outcome: tripwire,
            },
            watcher: None,
            notice_id: None,
        }
    }

    const GOOD: [u16; 7] = [200, 200, 200, 201, 201, 403, 403];
    const READS_SECRETS: [u16; 7] = [200, 200, 200, 201, 201, 200, 403];

    fn rearmed() -> DrillTripwire {
        DrillTripwire::Rearmed {
            at: "2026-12-01T00:00:01Z".parse().unwrap(),
        }
    }

    #[test]
    fn a_drill_is_judged_as_a_drill_of_one_decoy_always_was() {
        assert_eq!(judge_report(&report(GOOD, rearmed()), 30), Drilled::Ok);
        assert_eq!(
            judge_report(&report(READS_SECRETS, rearmed()), 30),
            Drilled::Danger
        );
        // A use before the drill outranks DANGER, as it always did.
        assert_eq!(
            judge_report(
                &report(
                    READS_SECRETS,
                    DrillTripwire::AlreadyStamped {
                        day: "2026-11-30".into()
                    }
                ),
                30
            ),
            Drilled::Tripped {
                day: "2026-11-30".into()
            }
        );
        let left = judge_report(
            &report(
                GOOD,
                DrillTripwire::Left {
                    reason: "forbidden".into(),
                },
            ),
            30,
        );
        assert!(
            matches!(&left, Drilled::Failed(why) if why.contains("could not re-arm it (forbidden)")),
            "{left:?}"
        );
        assert!(matches!(
            judge_report(&report(GOOD, DrillTripwire::NotStamped), 30),
            Drilled::Failed(why) if why.contains("did not fire")
        ));
        let mut rejected = GOOD;
        rejected[1] = 401;
        assert!(matches!(
            judge_report(&report(rejected, rearmed()), 30),
            Drilled::Failed(why) if why.contains("/api got 401")
        ));
    }

    #[test]
    fn several_drills_end_with_the_most_serious_result() {
        let failed = Drilled::Failed("x".into());
        let tripped = Drilled::Tripped {
            day: "2026-12-01".into(),
        };
        assert_eq!(combined(&[Drilled::Ok, Drilled::Ok]), Drilled::Ok);
        assert_eq!(
            combined(&[Drilled::Ok, failed.clone(), Drilled::Ok]),
            failed,
            "one failure among several fails the run"
        );
        assert_eq!(
            combined(&[failed.clone(), Drilled::Danger, Drilled::Ok]),
            Drilled::Danger
        );
        assert_eq!(
            combined(&[Drilled::Danger, tripped.clone(), failed.clone()]),
            tripped
        );
        assert!(matches!(combined(&[]), Drilled::Failed(why) if why.contains("no decoy")));
    }

    #[test]
    fn the_rows_of_several_drills_say_each_result_and_count_them() {
        let entry = |account: &str, result: &'static str, drill: Option<DrillReport>| DecoyDrill {
            namespace: "ns".into(),
            service_account: account.into(),
            secret: format!("{account}-token-bcdfg"),
            profile: "tiller".into(),
            result,
            message: None,
            drill,
            plan: None,
        };
        let report = SeveralReport {
            schema_version: 1,
            server: "https://x".into(),
            dry_run: false,
            namespaces: vec!["ns".into()],
            decoys: vec![
                entry("tiller", "ok", Some(report(GOOD, rearmed()))),
                entry("argocd-manager", "failed", None),
                entry(
                    "headlamp-admin",
                    "DANGER",
                    Some(report(READS_SECRETS, rearmed())),
                ),
            ],
            not_looked_in: vec![],
            recorded_elsewhere: vec![],
        };
        let text = several_table(&report);
        assert!(text.contains("ns/argocd-manager"), "{text}");
        assert!(text.contains("fired (12 ms), re-armed"), "{text}");
        assert!(
            text.contains("Drilled 3 decoys: 1 ok, 1 DANGER, 1 failed."),
            "{text}"
        );
        let json = crate::ui::output::json(&report, false).unwrap();
        assert!(json.contains(r#""schemaVersion":1"#), "{json}");
        assert!(json.contains(r#""result":"failed""#), "{json}");
    }

    fn decoy(account: &str, result: &'static str, drill: Option<DrillReport>) -> DecoyDrill {
        DecoyDrill {
            namespace: "ns".into(),
            service_account: account.into(),
            secret: format!("{account}-token-bcdfg"),
            profile: "tiller".into(),
            result,
            message: (result != "ok").then(|| format!("why {account}")),
            drill,
            plan: None,
        }
    }

    fn drills(one: bool, decoys: Vec<DecoyDrill>) -> ContextDrill {
        ContextDrill {
            one,
            report: SeveralReport {
                schema_version: 1,
                server: "https://x".into(),
                dry_run: false,
                namespaces: vec!["ns".into()],
                decoys,
                not_looked_in: vec![],
                recorded_elsewhere: vec![],
            },
        }
    }

    #[test]
    fn a_context_of_a_fleet_exits_as_its_drills_alone_would() {
        let codes = |results: &[&'static str]| {
            let context = drills(false, results.iter().map(|r| decoy("a", r, None)).collect());
            (context.code(), context.state())
        };
        assert_eq!(codes(&["ok", "ok"]), (0, "ok"));
        assert_eq!(codes(&["ok", "failed"]), (1, "failed"));
        assert_eq!(codes(&["failed", "DANGER", "ok"]), (4, "DANGER"));
        assert_eq!(codes(&["DANGER", "TRIPPED"]), (3, "TRIPPED"));
        assert_eq!(codes(&["wouldDrill"]), (0, "would drill"));
        assert_eq!(
            codes(&[]),
            (1, "no decoys"),
            "nothing to drill fails, as for one context"
        );
    }

    #[test]
    fn a_fleet_of_drills_is_one_table_and_each_context_keeps_its_document() {
        use crate::cluster::fleet::ContextRun;
        let runs: Vec<ContextRun<_, Error>> = vec![
            ContextRun {
                context: "prod".into(),
                ran: Ran::Done(drills(
                    false,
                    vec![
                        decoy("tiller", "ok", Some(report(GOOD, rearmed()))),
                        decoy("argocd-manager", "failed", None),
                    ],
                )),
            },
            ContextRun {
                context: "silent".into(),
                ran: Ran::TimedOut(Duration::from_secs(3)),
            },
            ContextRun {
                context: "dev".into(),
                ran: Ran::Done(drills(false, vec![])),
            },
            ContextRun {
                context: "stage".into(),
                ran: Ran::Done(drills(
                    true,
                    vec![decoy(
                        "tiller",
                        "DANGER",
                        Some(report(READS_SECRETS, rearmed())),
                    )],
                )),
            },
        ];
        let fleet = FleetReport::new("test-trigger", runs, ContextDrill::code);
        assert_eq!(fleet.exit_code, crate::exit::BROKEN);
        let text = fleet_table(&fleet);
        let rows: Vec<String> = text
            .lines()
            .map(|row| row.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        // The drill's ID is a column of -o wide.
        assert_eq!(
            rows[0],
            "CONTEXT DECOY PROFILE TRIPWIRE AUDIT EVENTS RESULT"
        );
        assert_eq!(
            rows[1],
            "prod ns/tiller tiller fired (12 ms), re-armed not watched ok"
        );
        assert_eq!(rows[2], "prod ns/argocd-manager tiller - - failed");
        assert_eq!(rows[3], "silent - - - - TIMED OUT");
        assert_eq!(rows[4], "dev - - - - NO DECOYS");
        assert!(rows[5].starts_with("stage ns/tiller") && rows[5].ends_with("DANGER"));
        assert_eq!(
            rows[6],
            "4 contexts: 1 failed, 1 timed out, 1 no decoys, 1 DANGER."
        );
        let messages = fleet_messages(&fleet);
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert_eq!(messages[0], "prod: ns/argocd-manager: why argocd-manager");
        assert!(messages[1].starts_with("silent: no answer within 3s"));
        assert!(messages[2].starts_with("dev: no decoy of this key in namespace(s) ns to drill"));
        assert_eq!(messages[3], "stage: ns/tiller: why tiller");

        // A context of several keeps the document of several; a drill of one decoy named by
        // --profile or --name keeps the drill's own report.
        let json = serde_json::to_value(&fleet).unwrap();
        let contexts = &json["contexts"];
        assert_eq!(contexts[0]["report"]["decoys"][0]["result"], "ok");
        assert_eq!(contexts[0]["exitCode"], 1);
        assert_eq!(contexts[1]["result"], "timedOut");
        assert_eq!(contexts[2]["exitCode"], 1);
        assert_eq!(contexts[3]["exitCode"], 4);
        assert_eq!(contexts[3]["report"]["drillId"], "d1");
        assert!(contexts[3]["report"].get("decoys").is_none());
    }

    #[test]
    fn a_drills_table_fits_80_columns_with_colour_and_keeps_words_whole() {
        let mut drilled = report(GOOD, rearmed());
        drilled.audit_log = Some("audit log /var/log/kubernetes/audit.log".into());
        for outcome in drilled.requests.iter_mut().skip(1) {
            outcome.audit_latency_seconds = Some(0.4);
            outcome.audit_stage = Some("ResponseComplete".into());
        }
        let table = requests_table(&drilled);
        for width in [80, 120] {
            let text = table.render(crate::ui::table::Fit::terminal(width), true);
            let plain = console::strip_ansi_codes(&text).to_string();
            for line in plain.lines() {
                assert!(line.chars().count() <= width, "{plain}");
                assert_eq!(line, line.trim_end(), "{plain}");
            }
            let words: Vec<&str> = plain.split_whitespace().collect();
            for word in ["(ResponseComplete)", "(tripwire)", "403", "ok", "/api"] {
                assert!(words.contains(&word), "{word} is not whole:\n{plain}");
            }
            // A path too long for 80 columns is cut short, never broken over two lines.
            let path = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews";
            assert!(
                words.contains(&path)
                    || words.iter().any(|w| w
                        .strip_suffix('…')
                        .is_some_and(|head| head.len() > 20 && path.starts_with(head))),
                "{plain}"
            );
            assert_eq!(words.contains(&path), width == 120, "{plain}");
            // Nothing runs together: the result column is apart from the audit event.
            assert!(!plain.contains("okarrived"), "{plain}");
        }
        // In a pipe, a row is a line as long as its cells.
        let piped = table.render(crate::ui::table::Fit::PIPE, false);
        assert_eq!(piped.lines().count(), 1 + drilled.requests.len(), "{piped}");
        assert!(
            piped
                .lines()
                .nth(1)
                .unwrap()
                .ends_with("ok      not expected (tripwire)"),
            "{piped}"
        );
    }
}
