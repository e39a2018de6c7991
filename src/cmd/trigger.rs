//! `test-trigger`: runs a drill (see [`crate::detect::drill`]) and reports, per request, its
//! answer and whether its audit event arrived; `--dry-run` tells what it would send.

use std::time::Duration;

use crate::cli::{GlobalArgs, TriggerArgs};
use crate::cluster::locate;
use crate::detect::drill::{
    DrillPlan, DrillReport, Expect, Judgement, Sink, WatcherCheck, drill, drillable,
    missing_events, plan, wrong_answers,
};
use crate::detect::notice::{self, NoticeStatus};
use crate::error::Error;
use crate::exit::Outcome;
use crate::home::{DrillTripwire, Home};
use crate::ui::output;

fn table(report: &DrillReport) -> String {
    let mut table = output::table(&["request", "code", "expected", "result", "audit event"]);
    for outcome in &report.requests {
        let result = match outcome.judgement {
            Judgement::Ok => console::style("ok").green().to_string(),
            Judgement::Danger => console::style("DANGER").red().bold().to_string(),
            Judgement::Rejected => console::style("token rejected").yellow().bold().to_string(),
            Judgement::Unexpected => console::style("unexpected").yellow().to_string(),
        };
        let audit = match (&report.audit_log, outcome.audit_latency_seconds) {
            (None, _) => "not watched".to_string(),
            (Some(_), None) if !outcome.request.audit_event_expected => {
                "not expected (tripwire)".to_string()
            }
            (Some(_), Some(seconds)) => format!(
                "arrived after {seconds:.1}s ({})",
                crate::ui::terminal::printable(outcome.audit_stage.as_deref().unwrap_or(""))
            ),
            (Some(_), None) => console::style("MISSING").red().bold().to_string(),
        };
        table.add_row(vec![
            format!("{} {}", outcome.request.method, outcome.request.path),
            outcome
                .code
                .map(|c| c.to_string())
                .or_else(|| outcome.error.clone())
                .unwrap_or_default(),
            expected_text(outcome.request.expect).to_string(),
            result,
            audit,
        ]);
    }
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
        table.add_row(vec![
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
    let selection = locate::select(
        args.select.profile.as_deref(),
        global.namespace.as_deref(),
        args.select.name.as_deref(),
    )?;
    let located =
        locate::locate(&selection, &global.target(), home, locate::KeyUse::Existing).await?;
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
    let mut sink = args.audit_log.as_deref().map(Sink::file).transpose()?;
    // The watcher learns of the drill right before its first request, or there is no drill.
    let watcher = args
        .watcher
        .as_deref()
        .map(notice::Watcher::new)
        .transpose()?;
    let mut report = drill(
        &located,
        &secret,
        home,
        sink.as_mut(),
        Duration::from_secs(args.timeout),
        watcher.as_ref(),
    )
    .await?;
    if let (Some(watcher), Some(id)) = (&watcher, &report.notice_id.clone()) {
        let status = confirm(watcher, id).await?;
        report.watcher = Some(WatcherCheck {
            url: watcher.url().to_string(),
            notice_id: id.clone(),
            status,
        });
    }
    match output::structured(global.output, &report)? {
        Some(text) => print!("{text}"),
        None => {
            print!("{}", table(&report));
            if let Some(check) = &report.watcher {
                println!("Watcher: {}", describe_check(check));
            }
        }
    }

    if let DrillTripwire::AlreadyStamped { day } = &report.tripwire.outcome {
        eprintln!(
            "TRIPPED: the decoy's token was used on {day} before this drill, and no drill of this decoy explains it; the stamp was left as evidence. Run `kubectl honeytoken status`, and `kubectl honeytoken scan` on the audit log to learn who."
        );
        return Ok(Outcome::Tripped);
    }
    if report.danger {
        eprintln!(
            "DANGER: the decoy token read Secrets. Something grants {} permissions; run `kubectl honeytoken status` to find the binding and delete it.",
            report.username
        );
        return Ok(Outcome::Broken);
    }
    if let Some(wrong) = wrong_answers(&report).first() {
        return Err(Error::CheckFailed(format!("drill request {wrong}")));
    }
    match &report.tripwire.outcome {
        DrillTripwire::Left { reason } => {
            return Err(Error::CheckFailed(format!(
                "the drill stamped the tripwire but could not re-arm it ({reason}); until it is re-armed a use on the same day leaves no new stamp, and status calls the decoy drilled. Run test-trigger again (it re-arms a stamp its drill left first); re-arming needs patch on the Secret"
            )));
        }
        DrillTripwire::NotStamped => {
            return Err(Error::CheckFailed(format!(
                "the tripwire did not fire: the drill's first request left no label {} on Secret {}/{} within 3s (a use of the token by anyone in the 10s before the drill is still in the API server's cache and is not stamped again: run the drill again in a minute)",
                crate::decoy::tripwire::LAST_USED_LABEL,
                report.namespace,
                report.secret
            )));
        }
        DrillTripwire::Rearmed { .. } | DrillTripwire::AlreadyStamped { .. } => {}
    }
    if let Some(check) = &report.watcher
        && !matches!(check.status, NoticeStatus::Seen { .. })
    {
        return Err(Error::CheckFailed(format!(
            "the watcher at {} {}: the path from the decoy's use to an alert is not proven",
            check.url,
            describe_check(check)
        )));
    }
    let missing = missing_events(&report);
    if !missing.is_empty() {
        return Err(Error::CheckFailed(format!(
            "the {} did not record {} of the drill's {} requests within {}s: {}. The audit policy or backend misses the decoy; run kubectl honeytoken verify",
            report.audit_log.as_deref().unwrap_or(""),
            missing.len(),
            report
                .requests
                .iter()
                .filter(|o| o.request.audit_event_expected)
                .count(),
            args.timeout,
            missing.join(", ")
        )));
    }
    Ok(Outcome::Success)
}
