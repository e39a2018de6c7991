//! A fleet: one command over several kubeconfig contexts at once. The contexts are chosen
//! from the merged kubeconfig (pure, [`choose`]), each context's work runs concurrently
//! with a bound and a deadline of its own ([`each`]), and the results become one report
//! with one exit code, the most serious of any context ([`worst`]).

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;

use crate::cluster::connect::{self, ConnectError, Target};
use crate::exit;

/// Why a fleet cannot be formed from the command line.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("{0}")]
    Choice(String),
}

/// What a command line says about the contexts to act on.
#[derive(Debug, Clone, Default)]
pub struct FleetFlags {
    pub kubeconfig: Option<std::path::PathBuf>,
    pub contexts: Vec<String>,
    pub all: bool,
    pub skip: Vec<String>,
    pub parallel: usize,
    pub timeout: Duration,
    /// `--cluster` or `--user` was given: one cluster and user, which contexts cannot share.
    pub picks_cluster_or_user: bool,
    /// `--server` or `--certificate-authority` was given: one API server's.
    pub picks_server: bool,
    /// kubectl's flags that apply to every context (`--as`, `--request-timeout`, `-v`, ...).
    pub overrides: connect::Overrides,
}

/// The contexts a command line chose, and how to talk to them.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub contexts: Vec<String>,
    pub parallel: usize,
    pub timeout: Duration,
    kubeconfig: Option<std::path::PathBuf>,
    overrides: connect::Overrides,
}

impl Fleet {
    /// The fleet the flags name, its contexts read from the merged kubeconfig.
    pub fn of(flags: &FleetFlags) -> Result<Fleet, FleetError> {
        if flags.picks_cluster_or_user {
            return Err(FleetError::Choice(
                "--cluster and --user pick one cluster and user, which a fleet of contexts \
                 cannot share; leave them out and name contexts instead"
                    .into(),
            ));
        }
        if flags.picks_server {
            return Err(FleetError::Choice(
                "--server and --certificate-authority name one API server, which a fleet of \
                 contexts cannot share; leave them out and name contexts instead"
                    .into(),
            ));
        }
        let (available, _current) = connect::contexts(&Target {
            kubeconfig: flags.kubeconfig.clone(),
            ..Target::default()
        })?;
        Ok(Fleet {
            contexts: choose(&flags.contexts, flags.all, &flags.skip, &available)
                .map_err(FleetError::Choice)?,
            parallel: flags.parallel.max(1),
            timeout: flags.timeout,
            kubeconfig: flags.kubeconfig.clone(),
            overrides: flags.overrides.clone(),
        })
    }

    /// How to connect to one context of the fleet.
    pub fn target(&self, context: &str) -> Target {
        Target {
            kubeconfig: self.kubeconfig.clone(),
            context: Some(context.to_string()),
            cluster: None,
            user: None,
            overrides: self.overrides.clone(),
        }
    }
}

/// A failure of one context's work, as a fleet report tells it.
pub trait Failure: std::fmt::Display {
    /// Its exit code (README, "Exit codes").
    fn code(&self) -> u8;
    /// The API server never answered, as opposed to an answer that refused.
    fn unreachable(&self) -> bool;
}

/// The contexts a command line names: `--context`'s in the order given, or with
/// `--all-contexts` every context of the kubeconfig in its order; each once, less those a
/// `--skip-context` glob matches. A named context the kubeconfig lacks is an error, as it
/// is for one context, and so is a fleet of none. Pure.
pub fn choose(
    named: &[String],
    all: bool,
    skip: &[String],
    available: &[String],
) -> Result<Vec<String>, String> {
    let mut skipping = globset::GlobSetBuilder::new();
    for pattern in skip {
        let glob = globset::GlobBuilder::new(pattern)
            .literal_separator(false)
            .build()
            .map_err(|e| format!("--skip-context {pattern:?}: {e}"))?;
        skipping.add(glob);
    }
    let skipping = skipping
        .build()
        .map_err(|e| format!("--skip-context: {e}"))?;
    if !all && named.is_empty() {
        return Err(
            "--skip-context leaves contexts out of a fleet: name the fleet with \
                    --all-contexts or several --context"
                .into(),
        );
    }
    let unknown: Vec<&str> = named
        .iter()
        .filter(|n| !available.contains(n))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "context(s) {} do not exist in the kubeconfig (it has: {})",
            unknown.join(", "),
            if available.is_empty() {
                "none".to_string()
            } else {
                available.join(", ")
            }
        ));
    }
    let mut chosen: Vec<String> = Vec::new();
    let candidates = if all { available } else { named };
    for name in candidates {
        if !chosen.contains(name) && !skipping.is_match(name) {
            chosen.push(name.clone());
        }
    }
    if chosen.is_empty() {
        return Err(format!(
            "no context left to act on: --skip-context {} leaves out every one of {}",
            skip.join(", "),
            candidates.join(", ")
        ));
    }
    Ok(chosen)
}

/// How one context's work ended.
pub enum Ran<T, E> {
    Done(T),
    Failed(E),
    /// It took longer than the fleet's per-context timeout and was abandoned.
    TimedOut(Duration),
}

/// One context's work and its end.
pub struct ContextRun<T, E> {
    pub context: String,
    pub ran: Ran<T, E>,
}

/// Runs `work` for every context of the fleet, at most `parallel` at once, each cut off
/// after the fleet's timeout when `deadline` is set; the results come back in the fleet's
/// order. Changing commands act without a deadline: cutting a change off midway is what
/// would leave a cluster half-done, and each API call has its own timeout anyway.
pub async fn each<T, E, F, Fut>(fleet: &Fleet, deadline: bool, work: F) -> Vec<ContextRun<T, E>>
where
    F: Fn(Target) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let total = fleet.contexts.len();
    let spinner = crate::ui::progress::Spinner::start(format!("0 of {total} clusters done"));
    let done = std::sync::atomic::AtomicUsize::new(0);
    // Unordered, so that a silent context holds only its own slot, not every slot after it;
    // the fleet's order is restored at the end.
    let mut runs: Vec<(usize, ContextRun<T, E>)> =
        futures::stream::iter(fleet.contexts.iter().enumerate())
            .map(|(index, context)| {
                let work = work(fleet.target(context));
                let (spinner, done) = (&spinner, &done);
                // From when the context's turn comes, not from its first poll, which waits
                // behind the other contexts' first steps on this one task.
                let due = tokio::time::Instant::now() + fleet.timeout;
                async move {
                    let ran = if deadline {
                        match tokio::time::timeout_at(due, work).await {
                            Ok(Ok(value)) => Ran::Done(value),
                            Ok(Err(error)) => Ran::Failed(error),
                            Err(_) => Ran::TimedOut(fleet.timeout),
                        }
                    } else {
                        match work.await {
                            Ok(value) => Ran::Done(value),
                            Err(error) => Ran::Failed(error),
                        }
                    };
                    let finished = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    spinner.set_message(format!("{finished} of {total} clusters done"));
                    (
                        index,
                        ContextRun {
                            context: context.clone(),
                            ran,
                        },
                    )
                }
            })
            .buffer_unordered(fleet.parallel)
            .collect()
            .await;
    runs.sort_by_key(|(index, _)| *index);
    runs.into_iter().map(|(_, run)| run).collect()
}

/// The next step of every context whose last step ended [`Ran::Done`], with what that step
/// gave, at most `parallel` at once and without a deadline; a context whose last step
/// failed or timed out keeps that end and is not worked on. A command that decides, then
/// acts, surveys with [`each`] (a deadline: looking is safe to abandon) and acts with this
/// (none: a change or a drill cut off midway is what would leave a cluster half-done; each
/// API call has its own timeout, and a drill's waits their own bounds).
pub async fn then<S, T, E, F, Fut>(
    fleet: &Fleet,
    runs: Vec<ContextRun<S, E>>,
    work: F,
) -> Vec<ContextRun<T, E>>
where
    F: Fn(&str, S) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let total = runs
        .iter()
        .filter(|run| matches!(run.ran, Ran::Done(_)))
        .count();
    let spinner = crate::ui::progress::Spinner::start(format!("0 of {total} clusters done"));
    let done = std::sync::atomic::AtomicUsize::new(0);
    let mut after: Vec<(usize, ContextRun<T, E>)> =
        futures::stream::iter(runs.into_iter().enumerate())
            .map(|(index, run)| {
                let (spinner, done) = (&spinner, &done);
                let (context, ran) = (run.context, run.ran);
                let work = match ran {
                    Ran::Done(value) => Ok(work(&context, value)),
                    Ran::Failed(error) => Err(Ran::Failed(error)),
                    Ran::TimedOut(after) => Err(Ran::TimedOut(after)),
                };
                async move {
                    let ran = match work {
                        Ok(work) => {
                            let ran = match work.await {
                                Ok(value) => Ran::Done(value),
                                Err(error) => Ran::Failed(error),
                            };
                            let finished =
                                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                            spinner.set_message(format!("{finished} of {total} clusters done"));
                            ran
                        }
                        Err(ended) => ended,
                    };
                    (index, ContextRun { context, ran })
                }
            })
            .buffer_unordered(fleet.parallel)
            .collect()
            .await;
    after.sort_by_key(|(index, _)| *index);
    after.into_iter().map(|(_, run)| run).collect()
}

impl<T, E: Failure> Ran<T, E> {
    /// The same end, its value turned into another (a dry run's report from its survey).
    pub fn map<U>(self, change: impl FnOnce(T) -> U) -> Ran<U, E> {
        match self {
            Ran::Done(value) => Ran::Done(change(value)),
            Ran::Failed(error) => Ran::Failed(error),
            Ran::TimedOut(after) => Ran::TimedOut(after),
        }
    }

    /// How it ended, as a report names it.
    pub fn ending(&self) -> Ending {
        match self {
            Ran::Done(_) => Ending::Ok,
            Ran::Failed(error) if error.unreachable() => Ending::Unreachable,
            Ran::Failed(_) => Ending::Failed,
            Ran::TimedOut(_) => Ending::TimedOut,
        }
    }

    /// Why it has no value, in a report's words; None when done.
    pub fn why_not(&self) -> Option<String> {
        match self {
            Ran::Done(_) => None,
            Ran::Failed(error) => Some(error.to_string()),
            Ran::TimedOut(after) => Some(timed_out(*after)),
        }
    }
}

/// What a context that took longer than the fleet's timeout is told with.
fn timed_out(after: Duration) -> String {
    format!(
        "no answer within {}s (--context-timeout); the cluster may be unreachable or \
         overloaded",
        after.as_secs()
    )
}

/// How serious an exit code is across a fleet, most serious highest: an interrupted run,
/// then TRIPPED, broken or DANGER, a failed verify, a context that failed or could not be
/// reached, no decoys, and success last. README, "Exit codes", documents the order.
pub fn severity(code: u8) -> u8 {
    match code {
        exit::INTERRUPTED | exit::TERMINATED => 7,
        exit::TRIPPED => 6,
        exit::BROKEN => 5,
        exit::VERIFY_FAILED => 4,
        exit::FAILED => 3,
        exit::NO_DECOYS => 2,
        exit::OK => 0,
        _ => 1,
    }
}

/// The exit code of a fleet: the most serious of its contexts' (success for none).
pub fn worst(codes: impl IntoIterator<Item = u8>) -> u8 {
    codes
        .into_iter()
        .max_by_key(|code| severity(*code))
        .unwrap_or(exit::OK)
}

/// How a context's run ended, as JSON and YAML name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Ending {
    Ok,
    /// The API server did not answer: no connection, or it broke off.
    Unreachable,
    Failed,
    TimedOut,
    /// SIGINT or SIGTERM stopped the context's work (a changing command: what it was
    /// making was rolled back, or the error says what is left).
    Interrupted,
}

impl Ending {
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Ok => "ok",
            Ending::Unreachable => "unreachable",
            Ending::Failed => "failed",
            Ending::TimedOut => "timed out",
            Ending::Interrupted => "interrupted",
        }
    }
}

/// One context of a fleet report. The field names are a stable interface (README, "Fleet
/// output"): add fields, never rename or remove them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextResult<R> {
    pub context: String,
    pub result: Ending,
    pub exit_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The command's own report for this context, in the schema it has for one context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<R>,
}

/// What a command did across a fleet: one document with a result per context.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetReport<R> {
    pub schema_version: u32,
    pub kind: &'static str,
    pub command: &'static str,
    pub exit_code: u8,
    pub contexts: Vec<ContextResult<R>>,
}

impl<R> FleetReport<R> {
    /// Turns the runs into a report; `code` is the exit code one context's report earns.
    pub fn new<E: Failure>(
        command: &'static str,
        runs: Vec<ContextRun<R, E>>,
        code: impl Fn(&R) -> u8,
    ) -> FleetReport<R> {
        let contexts: Vec<ContextResult<R>> = runs
            .into_iter()
            .map(|run| {
                let (result, error) = (run.ran.ending(), run.ran.why_not());
                let (exit_code, report) = match run.ran {
                    Ran::Done(report) => (code(&report), Some(report)),
                    Ran::Failed(failure) => (failure.code(), None),
                    Ran::TimedOut(_) => (exit::FAILED, None),
                };
                ContextResult {
                    context: run.context,
                    result,
                    exit_code,
                    error,
                    report,
                }
            })
            .collect();
        FleetReport {
            schema_version: 1,
            kind: "FleetReport",
            command,
            exit_code: worst(contexts.iter().map(|c| c.exit_code)),
            contexts,
        }
    }

    /// "3 contexts: 1 TRIPPED, 1 failed, 1 fine" style counts by what each context ended in.
    pub fn summary(&self, label: impl Fn(&ContextResult<R>) -> String) -> String {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for context in &self.contexts {
            let label = label(context);
            match counts.iter_mut().find(|(l, _)| *l == label) {
                Some((_, n)) => *n += 1,
                None => counts.push((label, 1)),
            }
        }
        let n = self.contexts.len();
        format!(
            "{n} context{}: {}.",
            if n == 1 { "" } else { "s" },
            counts
                .iter()
                .map(|(label, count)| format!("{count} {label}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn named_contexts_keep_their_order_once_each() {
        let available = names(&["a", "b", "c"]);
        assert_eq!(
            choose(&names(&["c", "a", "c"]), false, &[], &available).unwrap(),
            names(&["c", "a"])
        );
    }

    #[test]
    fn all_contexts_follow_the_kubeconfig_less_the_skipped() {
        let available = names(&["dev-eu", "prod-eu", "prod-us", "kind-kind"]);
        assert_eq!(
            choose(&[], true, &names(&["prod-*"]), &available).unwrap(),
            names(&["dev-eu", "kind-kind"])
        );
        assert_eq!(
            choose(&[], true, &names(&["*-eu", "kind-?ind"]), &available).unwrap(),
            names(&["prod-us"])
        );
    }

    #[test]
    fn globs_span_slashes_and_colons_as_eks_context_names_have_them() {
        let available = names(&[
            "arn:aws:eks:eu-west-1:123456789012:cluster/prod",
            "arn:aws:eks:eu-west-1:123456789012:cluster/dev",
        ]);
        assert_eq!(
            choose(&[], true, &names(&["*prod"]), &available).unwrap(),
            names(&["arn:aws:eks:eu-west-1:123456789012:cluster/dev"])
        );
    }

    #[test]
    fn skipping_applies_to_named_contexts_too() {
        let available = names(&["a", "b"]);
        assert_eq!(
            choose(&names(&["a", "b"]), false, &names(&["b"]), &available).unwrap(),
            names(&["a"])
        );
    }

    #[test]
    fn unknown_names_bad_globs_and_empty_fleets_are_errors() {
        let available = names(&["a", "b"]);
        let error = choose(&names(&["a", "x", "y"]), false, &[], &available).unwrap_err();
        assert!(
            error.to_string().contains("x, y do not exist")
                && error.to_string().contains("it has: a, b"),
            "{error}"
        );
        let error = choose(&[], true, &names(&["["]), &available).unwrap_err();
        assert!(
            error.to_string().contains("--skip-context \"[\""),
            "{error}"
        );
        let error = choose(&[], true, &names(&["*"]), &available).unwrap_err();
        assert!(error.to_string().contains("no context left"), "{error}");
        let error = choose(&[], false, &names(&["a"]), &available).unwrap_err();
        assert!(error.to_string().contains("--all-contexts"), "{error}");
        assert!(choose(&[], true, &[], &[]).is_err());
    }

    #[test]
    fn the_fleet_exits_with_its_most_serious_context() {
        use exit::*;
        assert_eq!(worst([OK, NO_DECOYS, FAILED, BROKEN, TRIPPED]), TRIPPED);
        assert_eq!(worst([OK, FAILED, BROKEN]), BROKEN);
        assert_eq!(worst([OK, VERIFY_FAILED, FAILED]), VERIFY_FAILED);
        assert_eq!(worst([NO_DECOYS, FAILED, OK]), FAILED);
        assert_eq!(worst([OK, NO_DECOYS]), NO_DECOYS);
        assert_eq!(worst([TRIPPED, INTERRUPTED]), INTERRUPTED);
        assert_eq!(worst([OK, OK]), OK);
        assert_eq!(worst([]), OK);
    }

    struct Refused(&'static str);

    impl std::fmt::Display for Refused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Failure for Refused {
        fn code(&self) -> u8 {
            exit::FAILED
        }
        fn unreachable(&self) -> bool {
            self.0 == "no answer"
        }
    }

    fn runs() -> Vec<ContextRun<u8, Refused>> {
        vec![
            ContextRun {
                context: "a".into(),
                ran: Ran::Done(exit::OK),
            },
            ContextRun {
                context: "b".into(),
                ran: Ran::TimedOut(Duration::from_secs(7)),
            },
            ContextRun {
                context: "c".into(),
                ran: Ran::Failed(Refused("nope")),
            },
            ContextRun {
                context: "d".into(),
                ran: Ran::Done(exit::TRIPPED),
            },
            ContextRun {
                context: "e".into(),
                ran: Ran::Failed(Refused("no answer")),
            },
        ]
    }

    #[test]
    fn a_report_keeps_every_context_its_error_and_the_worst_code() {
        let report = FleetReport::new("status", runs(), |code| *code);
        assert_eq!(report.exit_code, exit::TRIPPED);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["schemaVersion"], 1);
        assert_eq!(json["kind"], "FleetReport");
        assert_eq!(json["command"], "status");
        let contexts = json["contexts"].as_array().unwrap();
        assert_eq!(contexts.len(), 5);
        assert_eq!(contexts[0]["result"], "ok");
        assert_eq!(contexts[0]["report"], 0);
        assert!(contexts[0].get("error").is_none());
        assert_eq!(contexts[1]["result"], "timedOut");
        assert_eq!(contexts[1]["exitCode"], exit::FAILED);
        assert!(contexts[1]["error"].as_str().unwrap().contains("7s"));
        assert_eq!(contexts[2]["result"], "failed");
        assert_eq!(contexts[2]["error"], "nope");
        assert_eq!(contexts[3]["exitCode"], exit::TRIPPED);
        assert_eq!(contexts[4]["result"], "unreachable");
        assert_eq!(contexts[4]["error"], "no answer");
        assert_eq!(
            report.summary(|c| if c.result == Ending::Ok {
                "reached".into()
            } else {
                "not reached".into()
            }),
            "5 contexts: 2 reached, 3 not reached."
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_silent_cluster_costs_one_timeout_and_the_rest_go_on() {
        let fleet = Fleet {
            contexts: names(&["fast", "silent", "fast-too", "fast-three"]),
            parallel: 2,
            timeout: Duration::from_secs(30),
            kubeconfig: None,
            overrides: Default::default(),
        };
        let started = tokio::time::Instant::now();
        let runs = each(&fleet, true, |target| async move {
            if target.context.as_deref() == Some("silent") {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, Refused>(target.context.unwrap())
        })
        .await;
        let ends: Vec<(&str, Option<&str>)> = runs
            .iter()
            .map(|r| {
                (
                    r.context.as_str(),
                    match &r.ran {
                        Ran::Done(name) => Some(name.as_str()),
                        _ => None,
                    },
                )
            })
            .collect();
        assert_eq!(
            ends,
            [
                ("fast", Some("fast")),
                ("silent", None),
                ("fast-too", Some("fast-too")),
                ("fast-three", Some("fast-three"))
            ]
        );
        assert!(matches!(runs[1].ran, Ran::TimedOut(_)));
        // The clock is paused and only moves when every task waits: the fleet took one
        // timeout, not one per context, and the contexts after the silent one went on in
        // the other slot meanwhile instead of queueing behind it.
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_next_step_works_on_the_done_only_and_is_never_cut_off() {
        let fleet = Fleet {
            contexts: names(&["a", "b", "c", "d", "e"]),
            parallel: 2,
            timeout: Duration::from_secs(1),
            kubeconfig: None,
            overrides: Default::default(),
        };
        let worked = std::cell::RefCell::new(Vec::new());
        let next = then(&fleet, runs(), |context, code| {
            worked.borrow_mut().push(context.to_string());
            let context = context.to_string();
            async move {
                // Longer than the fleet's timeout: a next step has none.
                tokio::time::sleep(Duration::from_secs(5)).await;
                if context == "d" {
                    Err(Refused("the change failed"))
                } else {
                    Ok(format!("{context} {code}"))
                }
            }
        })
        .await;
        assert_eq!(*worked.borrow(), ["a", "d"], "only the done are worked on");
        let names: Vec<&str> = next.iter().map(|r| r.context.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d", "e"], "in the fleet's order");
        assert!(matches!(&next[0].ran, Ran::Done(text) if text == "a 0"));
        assert_eq!(next[1].ran.ending(), Ending::TimedOut);
        assert!(next[1].ran.why_not().unwrap().contains("within 7s"));
        assert_eq!(next[2].ran.ending(), Ending::Failed);
        assert_eq!(next[2].ran.why_not().unwrap(), "nope");
        assert_eq!(next[3].ran.why_not().unwrap(), "the change failed");
        assert!(next[0].ran.why_not().is_none());
        assert_eq!(next[4].ran.ending(), Ending::Unreachable);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_deadline_slow_work_is_waited_for() {
        let fleet = Fleet {
            contexts: names(&["slow"]),
            parallel: 1,
            timeout: Duration::from_secs(1),
            kubeconfig: None,
            overrides: Default::default(),
        };
        let runs = each(&fleet, false, |_| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, Refused>(())
        })
        .await;
        assert!(matches!(runs[0].ran, Ran::Done(())));
    }
}
