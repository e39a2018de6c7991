//! `plant` over a fleet: plan every context at once (each with its own fit, refusals and
//! warnings), show one plan per context and ask once, then plant in every context that
//! planned, each on its own, so that a failure or a refusal in one cluster never stops
//! or half-does another.

use std::time::Duration;

use serde::Serialize;

use super::{
    Decision, Failure, Planned, PlantList, PlantReport, PlantResult, Signal, complete_record,
    fit_for, fits_of, make, objects_with_uids, plan_one, plan_text, planned_objects,
    poor_fit_warning, refusal, report,
};
use crate::cli::{GlobalArgs, OutputFormat, PlantArgs};
use crate::cluster::connect::{self, Connection, Target};
use crate::cluster::fleet::{self, ContextResult, ContextRun, Ending, Fleet, FleetReport, Ran};
use crate::cluster::locate::{KeyUse, Selection};
use crate::cluster::survey;
use crate::decoy::fit::{self, Fit};
use crate::decoy::profile;
use crate::error::Error;
use crate::exit::{self, Outcome};
use crate::home::Home;
use crate::ui::output;
use crate::ui::prompt;
use crate::ui::terminal::Terminal;

/// What one context's plan came to: the decoys it will get, as `plant` of one context
/// decides them.
struct ContextPlan {
    connection: Connection,
    /// The cluster's facts, in a few words.
    cluster: String,
    /// The fit of the profile chosen for this cluster when the command line named none.
    chosen: Option<Fit>,
    /// Fit warnings of this cluster (a poor fit, a better profile).
    warnings: Vec<String>,
    plans: Vec<Planned>,
    /// Decoys of several that cannot be planted here (refused, or their look-up failed).
    failures: Vec<Failure>,
    /// One decoy asked for: this context reports as `plant` of one decoy does (a
    /// `PlantReport`, a refusal or failure as the context's error).
    one: bool,
}

/// One context's report in a fleet: the document `plant` prints for one context (a
/// `PlantReport` for one decoy, a `PlantList` for several).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
enum ContextReport {
    One(PlantReport),
    Several(PlantList),
}

/// A context's report with the exit code `plant` of that context alone would have.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
struct Acted {
    report: ContextReport,
    #[serde(skip)]
    code: u8,
}

impl Acted {
    fn one(report: PlantReport) -> Acted {
        Acted {
            report: ContextReport::One(report),
            code: exit::OK,
        }
    }

    fn several(items: Vec<PlantReport>, failures: Vec<Failure>, stopped: Option<Signal>) -> Acted {
        let code = match stopped {
            Some(Signal::Interrupt) => exit::INTERRUPTED,
            Some(Signal::Terminate) => exit::TERMINATED,
            None if failures.is_empty() => exit::OK,
            None => exit::FAILED,
        };
        Acted {
            report: ContextReport::Several(PlantList {
                schema_version: 1,
                kind: "PlantList",
                items,
                failures,
            }),
            code,
        }
    }

    fn items(&self) -> &[PlantReport] {
        match &self.report {
            ContextReport::One(report) => std::slice::from_ref(report),
            ContextReport::Several(list) => &list.items,
        }
    }

    fn failures(&self) -> &[Failure] {
        match &self.report {
            ContextReport::One(_) => &[],
            ContextReport::Several(list) => &list.failures,
        }
    }
}

pub(super) async fn run(
    args: &PlantArgs,
    global: &GlobalArgs,
    terminal: Terminal,
    home: &Home,
    fleet: &Fleet,
    selections: Vec<Selection>,
) -> Result<Outcome, Error> {
    // Refused here, before any cluster is asked anything.
    let interactive = prompt::will_ask(
        terminal,
        global.yes,
        global.dry_run,
        "plant creates objects in every cluster of the fleet",
    )?;
    let key_use = if global.dry_run {
        KeyUse::ExistingOrEphemeral
    } else {
        // One key for the fleet, made once (a key file is this workstation's, not a
        // cluster's), before the contexts race to make it.
        home.key_or_create()?;
        KeyUse::Create
    };
    let selections = &selections;
    let runs = fleet::each(fleet, true, |target| async move {
        plan_context(target, selections, args, global, home, key_use).await
    })
    .await;
    let order: Vec<String> = runs.iter().map(|r| r.context.clone()).collect();
    let mut planned: Vec<(String, ContextPlan)> = Vec::new();
    let mut unplanned: Vec<ContextRun<Acted, Error>> = Vec::new();
    for run in runs {
        match run.ran {
            Ran::Done(plan) => planned.push((run.context, plan)),
            Ran::Failed(error) => unplanned.push(ContextRun {
                context: run.context,
                ran: Ran::Failed(error),
            }),
            Ran::TimedOut(after) => unplanned.push(ContextRun {
                context: run.context,
                ran: Ran::TimedOut(after),
            }),
        }
    }
    // Contexts that could not be planned are rows of the plan and of the result; nothing
    // is done there.
    let unplanned = FleetReport::new("plant", unplanned, |a: &Acted| a.code).contexts;
    let views: Vec<PlanView> = order
        .iter()
        .map(|context| match planned.iter().find(|(c, _)| c == context) {
            Some((_, plan)) => PlanView::Planned(view_of(context, plan, home)),
            None => {
                let row = unplanned
                    .iter()
                    .find(|c| &c.context == context)
                    .expect("every context is planned or not");
                PlanView::NotPlanned {
                    context: context.clone(),
                    ending: row.result,
                    why: row.error.clone().unwrap_or_default(),
                }
            }
        })
        .collect();
    let plan = fleet_plan_text(&views);
    let making = to_make(&views);
    // The plan is shown (with each context's warnings) in a table's output and before the
    // question; otherwise the warnings alone go to stderr.
    let plan_shown = matches!(global.output, OutputFormat::Table | OutputFormat::Wide)
        || (interactive && !global.dry_run);
    if !plan_shown {
        for view in &views {
            if let PlanView::Planned(view) = view {
                for warning in &view.warnings {
                    eprintln!("warning: {}: {warning}", view.context);
                }
            }
        }
    }

    if global.dry_run {
        let runs = planned
            .iter()
            .map(|(context, plan)| ContextRun {
                context: context.clone(),
                ran: match dry(plan) {
                    Ok(acted) => Ran::Done(acted),
                    Err(error) => Ran::Failed(error),
                },
            })
            .collect();
        let report = assemble(
            &order,
            FleetReport::new("plant", runs, |a| a.code),
            unplanned,
        );
        match output::structured(global.output, &report)? {
            Some(text) => print!("{text}"),
            None => print!(
                "{plan}\n{}\n(dry run: nothing was created)\n",
                report.summary(|c| context_state(c, true))
            ),
        }
        return Ok(Outcome::Fleet(report.exit_code));
    }

    if plan_shown {
        eprint!("{plan}");
    }
    if interactive && making.decoys > 0 && !prompt::confirm(&question(&making))? {
        return Err(Error::Declined("nothing was created".into()));
    }

    // Acting: a signal stops contexts (and decoys) not begun yet; one being made rolls its
    // own work back (`make` hears the signal too). No deadline: a change is never cut off
    // midway, and each API call has its own timeout.
    let mut acting = fleet.clone();
    acting.contexts = planned.iter().map(|(c, _)| c.clone()).collect();
    let (stop_tx, stop) = tokio::sync::watch::channel(None::<Signal>);
    let mut interruption = super::Interruption::listen()?;
    let listen = async {
        let signal = interruption.next().await;
        let _ = stop_tx.send(Some(signal));
        std::future::pending::<()>().await;
    };
    let plans = &planned;
    let stop = &stop;
    let work = fleet::each(&acting, false, |target| async move {
        let context = target.context.as_deref().unwrap_or_default();
        let (_, plan) = plans
            .iter()
            .find(|(c, _)| c == context)
            .expect("acting only on planned contexts");
        act(plan, args, home, stop).await
    });
    let runs = tokio::select! {
        runs = work => runs,
        _ = listen => unreachable!("listening never ends"),
    };
    let signal = *stop.borrow();
    let report = assemble(
        &order,
        FleetReport::new("plant", runs, |a| a.code),
        unplanned,
    );
    if let Some(signal) = signal {
        eprintln!("{}", after_signal(signal, &report));
    }
    match output::structured(global.output, &report)? {
        Some(text) => print!("{text}"),
        None => {
            print!("{}", fleet_table(&report));
            if let Some((context, first)) = report
                .contexts
                .iter()
                .filter_map(|c| c.report.as_ref().map(|a| (&c.context, a)))
                .flat_map(|(context, a)| a.items().iter().map(move |r| (context, r)))
                .find(|(_, r)| r.result == PlantResult::Planted)
            {
                print!("{}", super::follow_up_text(first));
                println!(
                    "(shown for context {context}; give the fleet's --context or --all-contexts \
                     flags instead to act on every context)"
                );
            }
            println!("\n{}", report.summary(|c| context_state(c, false)));
        }
    }
    Ok(Outcome::Fleet(report.exit_code))
}

/// Plans one context: its fit, the profile chosen for it when none was named, and each
/// decoy's decision. An unreachable cluster fails the context; with several decoys, any
/// other failure is that decoy's.
async fn plan_context(
    target: Target,
    selections: &[Selection],
    args: &PlantArgs,
    global: &GlobalArgs,
    home: &Home,
    key_use: KeyUse,
) -> Result<ContextPlan, Error> {
    let connection = connect::connect(&target).await?;
    let facts = survey::cluster_facts(&connection.client, &fit::queries(profile::all())).await;
    let fits = fits_of(&facts);
    let (selections, chosen) = if selections.is_empty() {
        let profile = super::best_profile(&fits);
        let selection = Selection::of(profile, global.namespace.as_deref(), args.name.as_deref());
        super::check_selections(std::slice::from_ref(&selection))?;
        (vec![selection], Some(fit_for(&fits, profile)))
    } else {
        (selections.to_vec(), None)
    };
    let one = selections.len() == 1;
    let mut plan = ContextPlan {
        cluster: facts.describe(),
        chosen,
        warnings: Vec::new(),
        plans: Vec::new(),
        failures: Vec::new(),
        one,
        connection,
    };
    let mut cluster_bindings = None;
    for selection in &selections {
        let fit = fit_for(&fits, selection.profile);
        plan.warnings.extend(poor_fit_warning(&fits, &fit));
        let failure = |error: String| Failure {
            profile: selection.profile.name.clone(),
            namespace: selection.namespace.clone(),
            service_account: selection.account.clone(),
            error,
        };
        match plan_one(
            &plan.connection,
            selection,
            fit,
            home,
            key_use,
            super::NamespacePolicy::default(),
            &mut cluster_bindings,
            &mut plan.warnings,
        )
        .await
        {
            Ok(Planned {
                decision: Decision::Refuse(why),
                ..
            }) if !one => plan.failures.push(failure(format!("refused: {why}"))),
            Ok(planned) => plan.plans.push(planned),
            Err(error) if one || error.is_unreachable() => return Err(error),
            Err(error) => plan
                .failures
                .push(failure(crate::ui::causes::chain(&error))),
        }
    }
    Ok(plan)
}

/// The flags that pick one context of the fleet, for a decoy's next steps there.
fn context_flags(context: &str) -> Vec<String> {
    vec!["--context".to_string(), context.to_string()]
}

/// What a plan's decoy would be reported as before anything is made.
fn planned_report(planned: &Planned) -> PlantReport {
    let spec = &planned.located.spec;
    match planned.decision {
        Decision::AlreadyPlanted => report(
            spec,
            PlantResult::AlreadyPlanted,
            objects_with_uids(spec, &planned.located.found),
            planned.fit.clone(),
            &context_flags(&planned.located.connection.context),
        ),
        _ => report(
            spec,
            PlantResult::Planned,
            planned_objects(spec),
            planned.fit.clone(),
            &context_flags(&planned.located.connection.context),
        ),
    }
}

/// A dry run's report of one context: what `plant --dry-run` of that context says.
fn dry(plan: &ContextPlan) -> Result<Acted, Error> {
    if plan.one {
        let planned = &plan.plans[0];
        if let Decision::Refuse(why) = &planned.decision {
            return Err(refusal(&planned.located.spec, why));
        }
        return Ok(Acted::one(planned_report(planned)));
    }
    Ok(Acted::several(
        plan.plans.iter().map(planned_report).collect(),
        plan.failures.clone(),
        None,
    ))
}

/// Plants one context's decoys, each on its own (as `plant` of that context does), until
/// a signal stops the fleet.
async fn act(
    plan: &ContextPlan,
    args: &PlantArgs,
    home: &Home,
    stop: &tokio::sync::watch::Receiver<Option<Signal>>,
) -> Result<Acted, Error> {
    let connection = &plan.connection;
    let timeout = Duration::from_secs(args.timeout);
    let mut items = Vec::new();
    let mut failures = plan.failures.clone();
    let mut stopped = None;
    for planned in &plan.plans {
        let located = &planned.located;
        let spec = &located.spec;
        let failure = |error: String| Failure {
            profile: spec.profile.to_string(),
            namespace: spec.namespace.clone(),
            service_account: spec.account.clone(),
            error,
        };
        match &planned.decision {
            Decision::Refuse(why) => return Err(refusal(spec, why)),
            Decision::AlreadyPlanted => {
                complete_record(home, located)?;
                items.push(planned_report(planned));
            }
            Decision::Make(steps) => {
                let signal = stopped.or(*stop.borrow());
                if let Some(signal) = signal {
                    stopped = Some(signal);
                    if plan.one {
                        return Err(Error::Interrupted {
                            signal,
                            leftovers: None,
                        });
                    }
                    failures.push(failure(format!(
                        "not begun: {signal} arrived before it; nothing of it was made"
                    )));
                    continue;
                }
                let made = make(
                    &connection.client,
                    home,
                    &connection.server,
                    spec,
                    &located.found,
                    located.record.as_ref(),
                    *steps,
                    timeout,
                )
                .await;
                match made {
                    Ok(made) => items.push(report(
                        spec,
                        PlantResult::Planted,
                        objects_with_uids(spec, &made),
                        planned.fit.clone(),
                        &context_flags(&connection.context),
                    )),
                    Err(error) if plan.one => return Err(error),
                    Err(error) => {
                        if let Error::Interrupted { signal, .. } = &error {
                            stopped = Some(*signal);
                        }
                        failures.push(failure(crate::ui::causes::chain(&error)));
                    }
                }
            }
        }
    }
    Ok(if plan.one {
        Acted::one(items.remove(0))
    } else {
        Acted::several(items, failures, stopped)
    })
}

/// One context's plan as shown, in plain data.
#[derive(Debug, Clone)]
struct ContextView {
    context: String,
    server: String,
    cluster: String,
    chosen: Option<Fit>,
    warnings: Vec<String>,
    /// Each decoy's report as planned, and whether it finishes an earlier run's work.
    decoys: Vec<(PlantReport, bool)>,
    refused: Option<String>,
    failures: Vec<Failure>,
    /// No key yet (a dry run): the Secret names shown are examples.
    ephemeral_key: Option<String>,
}

#[derive(Debug, Clone)]
enum PlanView {
    Planned(ContextView),
    NotPlanned {
        context: String,
        ending: Ending,
        why: String,
    },
}

fn view_of(context: &str, plan: &ContextPlan, home: &Home) -> ContextView {
    let mut refused = None;
    let mut decoys = Vec::new();
    for planned in &plan.plans {
        match &planned.decision {
            Decision::Refuse(why) => {
                refused = Some(refusal(&planned.located.spec, why).to_string());
            }
            Decision::Make(steps) => decoys.push((planned_report(planned), steps.resumes())),
            Decision::AlreadyPlanted => decoys.push((planned_report(planned), false)),
        }
    }
    ContextView {
        context: context.to_string(),
        server: plan.connection.server.clone(),
        cluster: plan.cluster.clone(),
        chosen: plan.chosen.clone(),
        warnings: plan.warnings.clone(),
        decoys,
        refused,
        failures: plan.failures.clone(),
        ephemeral_key: plan
            .plans
            .iter()
            .any(|p| p.located.ephemeral_key)
            .then(|| home.dir().display().to_string()),
    }
}

/// How many decoys the fleet will make, and where.
#[derive(Debug, PartialEq, Eq)]
struct Making {
    decoys: usize,
    contexts: Vec<String>,
}

/// The decoys to make and the contexts that make some: those that planned, less refusals
/// and decoys already there. Pure.
fn to_make(views: &[PlanView]) -> Making {
    let mut making = Making {
        decoys: 0,
        contexts: Vec::new(),
    };
    for view in views {
        let PlanView::Planned(view) = view else {
            continue;
        };
        if view.refused.is_some() {
            continue;
        }
        let here = view
            .decoys
            .iter()
            .filter(|(r, _)| r.result == PlantResult::Planned)
            .count();
        if here > 0 {
            making.decoys += here;
            making.contexts.push(view.context.clone());
        }
    }
    making
}

/// The one question of a fleet's plant. Pure.
fn question(making: &Making) -> String {
    let n = making.contexts.len();
    format!(
        "Plant {} decoy{} in {n} context{} ({})?",
        making.decoys,
        if making.decoys == 1 { "" } else { "s" },
        if n == 1 { "" } else { "s" },
        making.contexts.join(", ")
    )
}

/// Every context's plan, in the fleet's order: its cluster, the profile chosen for it,
/// each decoy's objects, what is refused there and why, and the contexts not reached.
/// Pure.
fn fleet_plan_text(views: &[PlanView]) -> String {
    let mut text = String::new();
    for view in views {
        match view {
            PlanView::NotPlanned {
                context,
                ending,
                why,
            } => {
                text.push_str(&format!(
                    "== Context {context}: NOT PLANNED ({}): {why}\n   Nothing will be done there.\n\n",
                    ending.as_str()
                ));
            }
            PlanView::Planned(view) => {
                text.push_str(&format!(
                    "== Context {}: {}, {}\n",
                    view.context, view.server, view.cluster
                ));
                if let Some(fit) = &view.chosen {
                    text.push_str(&format!(
                        "Profile {}: the best fit for this cluster (no --profile given; {})\n",
                        fit.profile,
                        fit.summary()
                    ));
                }
                for warning in &view.warnings {
                    text.push_str(&format!("warning: {warning}\n"));
                }
                for (report, resumes) in &view.decoys {
                    let fit = report.fit.as_ref().map(Fit::summary).unwrap_or_default();
                    text.push_str(&format!(
                        "{} {}/{} (profile {}, fit {fit})\n",
                        match report.result {
                            PlantResult::AlreadyPlanted => "Already planted:",
                            _ => "Decoy",
                        },
                        report.namespace,
                        report.service_account,
                        report.profile,
                    ));
                    text.push_str(&plan_text(report));
                    if *resumes {
                        text.push_str(
                            "(an earlier plant of this decoy did not finish; this run finishes it)\n",
                        );
                    }
                }
                if let Some(why) = &view.refused {
                    text.push_str(&format!("REFUSED: {why}\n"));
                }
                for failure in &view.failures {
                    text.push_str(&format!(
                        "Not planted: {}/{} (profile {}): {}\n",
                        failure.namespace, failure.service_account, failure.profile, failure.error
                    ));
                }
                if let Some(dir) = &view.ephemeral_key {
                    text.push_str(&format!(
                        "(no key yet: the Secret names above are examples; the first real plant makes the key, in {dir}, and the names)\n"
                    ));
                }
                text.push('\n');
            }
        }
    }
    text
}

/// The fleet's report in its order: the contexts that planned (and acted, or not) and those
/// that could not be planned; an interrupted context says so, and the exit code is the
/// most serious of all. Pure.
fn assemble(
    order: &[String],
    mut report: FleetReport<Acted>,
    unplanned: Vec<ContextResult<Acted>>,
) -> FleetReport<Acted> {
    report.contexts.extend(unplanned);
    report
        .contexts
        .sort_by_key(|c| order.iter().position(|o| *o == c.context));
    for context in &mut report.contexts {
        if matches!(context.exit_code, exit::INTERRUPTED | exit::TERMINATED) {
            context.result = Ending::Interrupted;
        }
    }
    report.exit_code = fleet::worst(report.contexts.iter().map(|c| c.exit_code));
    report
}

/// What a context came to, in a word or two, for the summary line. Pure.
fn context_state(context: &ContextResult<Acted>, dry_run: bool) -> String {
    let Some(acted) = &context.report else {
        return context.result.as_str().to_string();
    };
    if context.result == Ending::Interrupted {
        return "interrupted".into();
    }
    let items = acted.items();
    let made = if dry_run { "to plant" } else { "planted" };
    if !acted.failures().is_empty() {
        return if items.is_empty() {
            "not planted".into()
        } else {
            format!("partly {made}")
        };
    }
    if items
        .iter()
        .all(|r| r.result == PlantResult::AlreadyPlanted)
    {
        "already planted".into()
    } else {
        made.into()
    }
}

/// The result of a fleet's plant: a row per decoy with its context first, a row for each
/// context that failed or was not reached, then (printed by the caller) the summary. Pure.
fn fleet_table(report: &FleetReport<Acted>) -> String {
    let mut table = output::table(&[
        "context", "decoy", "profile", "fit", "secret", "result", "reason",
    ]);
    for context in &report.contexts {
        let Some(acted) = &context.report else {
            table.add_row(vec![
                context.context.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                context.result.as_str().to_uppercase(),
                context.error.clone().unwrap_or_default(),
            ]);
            continue;
        };
        for item in acted.items() {
            table.add_row(vec![
                context.context.clone(),
                format!("{}/{}", item.namespace, item.service_account),
                item.profile.to_string(),
                item.fit
                    .as_ref()
                    .map(|f| f.grade.to_string())
                    .unwrap_or_default(),
                item.secret.clone(),
                match item.result {
                    PlantResult::Planted => "planted",
                    PlantResult::AlreadyPlanted => "already planted",
                    PlantResult::Planned => "planned",
                }
                .into(),
                String::new(),
            ]);
        }
        for failure in acted.failures() {
            table.add_row(vec![
                context.context.clone(),
                format!("{}/{}", failure.namespace, failure.service_account),
                failure.profile.clone(),
                "-".into(),
                "-".into(),
                "NOT PLANTED".into(),
                failure.error.clone(),
            ]);
        }
    }
    format!("{table}\n")
}

/// After a signal: what is planted where, and that nothing is left half-made (or what
/// is). Pure.
fn after_signal(signal: Signal, report: &FleetReport<Acted>) -> String {
    let mut planted = Vec::new();
    let mut left = Vec::new();
    for context in &report.contexts {
        let here: Vec<String> = context
            .report
            .iter()
            .flat_map(|a| a.items())
            .filter(|r| r.result == PlantResult::Planted)
            .map(|r| format!("{}/{}", r.namespace, r.service_account))
            .collect();
        if !here.is_empty() {
            planted.push(format!("{}: {}", context.context, here.join(", ")));
        }
        if let Some(error) = &context.error
            && error.contains("ALSO FAILED")
        {
            left.push(format!("{}: {error}", context.context));
        }
        for failure in context.report.iter().flat_map(|a| a.failures()) {
            if failure.error.contains("ALSO FAILED") {
                left.push(format!(
                    "{}: {}/{}: {}",
                    context.context, failure.namespace, failure.service_account, failure.error
                ));
            }
        }
    }
    let mut text = format!(
        "{signal}: the fleet's plant stopped; decoys being made were rolled back, contexts and decoys not begun were left alone.\n"
    );
    if planted.is_empty() {
        text.push_str("Left planted: nothing.\n");
    } else {
        text.push_str(&format!("Left planted: {}.\n", planted.join("; ")));
    }
    if !left.is_empty() {
        text.push_str(&format!(
            "NOT rolled back, clean up by hand or run plant again: {}\n",
            left.join("; ")
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoy::DecoySpec;
    use crate::decoy::profile::default_profile;
    use crate::home::Key;

    fn spec(namespace: &str) -> DecoySpec {
        DecoySpec::new(
            default_profile(),
            &Key::from_bytes([7; crate::home::KEY_LEN]),
            "u",
            namespace,
            "tiller",
        )
    }

    fn fit(grade: fit::Grade) -> Fit {
        Fit {
            profile: "tiller".into(),
            grade,
            reasons: vec!["made until 2020".into()],
        }
    }

    fn planned(result: PlantResult) -> PlantReport {
        let spec = spec("kube-system");
        report(
            &spec,
            result,
            planned_objects(&spec),
            fit(fit::Grade::Good),
            &[],
        )
    }

    fn view(context: &str, decoys: Vec<(PlantReport, bool)>) -> ContextView {
        ContextView {
            context: context.into(),
            server: format!("https://{context}.example:6443"),
            cluster: "Kubernetes v1.31.0".into(),
            chosen: None,
            warnings: vec![],
            decoys,
            refused: None,
            failures: vec![],
            ephemeral_key: None,
        }
    }

    fn failure(error: &str) -> Failure {
        Failure {
            profile: "argocd-manager".into(),
            namespace: "argocd".into(),
            service_account: "argocd-manager".into(),
            error: error.into(),
        }
    }

    #[test]
    fn every_context_has_its_plan_and_the_unreached_say_why() {
        let mut one = view("one", vec![(planned(PlantResult::Planned), false)]);
        one.chosen = Some(fit(fit::Grade::Fair));
        one.warnings = vec!["the tiller profile fits this cluster poorly".into()];
        let mut two = view("two", vec![(planned(PlantResult::AlreadyPlanted), false)]);
        two.failures = vec![failure("refused: the argocd-manager profile conflicts")];
        let mut three = view("three", vec![]);
        three.refused = Some("refusing to plant kube-system/tiller: not made by plant".into());
        let views = vec![
            PlanView::Planned(one),
            PlanView::NotPlanned {
                context: "gone".into(),
                ending: Ending::Unreachable,
                why: "Connection refused".into(),
            },
            PlanView::Planned(two),
            PlanView::Planned(three),
        ];
        let text = fleet_plan_text(&views);
        let at = |needle: &str| {
            text.find(needle)
                .unwrap_or_else(|| panic!("{needle:?} not in:\n{text}"))
        };
        // In the fleet's order, each context's plan under its own heading.
        assert!(at("== Context one: https://one.example:6443") < at("== Context gone"));
        assert!(at("== Context gone") < at("== Context two"));
        assert!(at("== Context two") < at("== Context three"));
        assert!(
            text.contains(
                "Profile tiller: the best fit for this cluster (no --profile given; fair: made until 2020)"
            ),
            "{text}"
        );
        assert!(text.contains("warning: the tiller profile fits this cluster poorly"));
        assert!(text.contains("serviceaccount/tiller will be created in namespace kube-system"));
        assert!(text.contains("NOT PLANNED (unreachable): Connection refused"));
        assert!(text.contains("Already planted: kube-system/tiller"));
        assert!(text.contains("serviceaccount/tiller already present"));
        assert!(text.contains(
            "Not planted: argocd/argocd-manager (profile argocd-manager): refused: the argocd-manager profile conflicts"
        ));
        assert!(text.contains("REFUSED: refusing to plant kube-system/tiller"));
        // The warning and the profile chosen belong to context one only.
        assert_eq!(text.matches("best fit").count(), 1, "{text}");
        assert_eq!(text.matches("RBAC: none").count(), 2, "{text}");
    }

    #[test]
    fn only_contexts_with_something_to_make_are_asked_about() {
        let mut refused = view("refused", vec![(planned(PlantResult::Planned), false)]);
        refused.refused = Some("no".into());
        let views = vec![
            PlanView::Planned(view(
                "one",
                vec![
                    (planned(PlantResult::Planned), false),
                    (planned(PlantResult::Planned), true),
                ],
            )),
            PlanView::Planned(view(
                "there",
                vec![(planned(PlantResult::AlreadyPlanted), false)],
            )),
            PlanView::Planned(refused),
            PlanView::NotPlanned {
                context: "gone".into(),
                ending: Ending::TimedOut,
                why: "no answer".into(),
            },
            PlanView::Planned(view("two", vec![(planned(PlantResult::Planned), false)])),
        ];
        let making = to_make(&views);
        assert_eq!(
            making,
            Making {
                decoys: 3,
                contexts: vec!["one".into(), "two".into()]
            }
        );
        assert_eq!(
            question(&making),
            "Plant 3 decoys in 2 contexts (one, two)?"
        );
        assert_eq!(
            question(&to_make(&views[1..2])),
            "Plant 0 decoys in 0 contexts ()?"
        );
        assert_eq!(
            question(&to_make(&views[4..])),
            "Plant 1 decoy in 1 context (two)?"
        );
    }

    fn run(context: &str, ran: Ran<Acted, Error>) -> ContextRun<Acted, Error> {
        ContextRun {
            context: context.into(),
            ran,
        }
    }

    fn unreached(context: &str) -> Vec<ContextResult<Acted>> {
        FleetReport::new(
            "plant",
            vec![run(context, Ran::TimedOut(Duration::from_secs(3)))],
            |a: &Acted| a.code,
        )
        .contexts
    }

    #[test]
    fn the_report_keeps_the_fleets_order_and_its_most_serious_code() {
        let order: Vec<String> = ["one", "silent", "two", "three"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let runs = vec![
            run("one", Ran::Done(Acted::one(planned(PlantResult::Planted)))),
            run(
                "two",
                Ran::Failed(refusal(&spec("kube-system"), "not made by plant")),
            ),
            run(
                "three",
                Ran::Done(Acted::several(
                    vec![planned(PlantResult::Planted)],
                    vec![failure(
                        "interrupted by SIGINT; everything this run created was deleted again",
                    )],
                    Some(Signal::Interrupt),
                )),
            ),
        ];
        let report = assemble(
            &order,
            FleetReport::new("plant", runs, |a| a.code),
            unreached("silent"),
        );
        let names: Vec<&str> = report.contexts.iter().map(|c| c.context.as_str()).collect();
        assert_eq!(names, ["one", "silent", "two", "three"]);
        assert_eq!(report.exit_code, exit::INTERRUPTED);
        assert_eq!(report.contexts[3].result, Ending::Interrupted);
        assert_eq!(report.contexts[1].exit_code, exit::FAILED);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["command"], "plant");
        assert_eq!(json["contexts"][0]["report"]["result"], "planted");
        assert_eq!(json["contexts"][0]["report"]["serviceAccount"], "tiller");
        assert!(json["contexts"][0]["report"].get("code").is_none());
        assert_eq!(json["contexts"][1]["result"], "timedOut");
        assert!(
            json["contexts"][2]["error"]
                .as_str()
                .unwrap()
                .contains("refusing to plant kube-system/tiller")
        );
        assert_eq!(json["contexts"][3]["result"], "interrupted");
        assert_eq!(json["contexts"][3]["report"]["kind"], "PlantList");
        assert_eq!(
            json["contexts"][3]["report"]["items"][0]["result"],
            "planted"
        );

        let table = fleet_table(&report);
        let row = |context: &str| {
            table
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{context} ")))
                .unwrap_or_else(|| panic!("no row for {context}:\n{table}"))
        };
        assert!(row("one").contains("kube-system/tiller") && row("one").contains("planted"));
        assert!(row("silent").contains("TIMED OUT"), "{table}");
        assert!(row("two").contains("FAILED") && row("two").contains("refusing"));
        assert!(table.contains("NOT PLANTED"), "{table}");
        assert_eq!(
            report.summary(|c| context_state(c, false)),
            "4 contexts: 1 planted, 1 timed out, 1 failed, 1 interrupted."
        );
        let said = after_signal(Signal::Interrupt, &report);
        assert!(
            said.contains("Left planted: one: kube-system/tiller; three: kube-system/tiller."),
            "{said}"
        );
        assert!(!said.contains("NOT rolled back"), "{said}");
    }

    #[test]
    fn what_a_signal_could_not_undo_is_named_with_its_context() {
        let runs = vec![run(
            "one",
            Ran::Failed(Error::Interrupted {
                signal: Signal::Terminate,
                leftovers: Some("the Secret could not be deleted".into()),
            }),
        )];
        let report = assemble(
            &["one".to_string()],
            FleetReport::new("plant", runs, |a: &Acted| a.code),
            vec![],
        );
        assert_eq!(report.exit_code, exit::TERMINATED);
        let said = after_signal(Signal::Terminate, &report);
        assert!(said.contains("Left planted: nothing."), "{said}");
        assert!(
            said.contains(
                "NOT rolled back, clean up by hand or run plant again: one: interrupted by SIGTERM"
            ),
            "{said}"
        );
    }

    #[test]
    fn a_dry_run_and_a_context_with_nothing_new_are_named_for_what_they_are() {
        let runs = vec![
            run("one", Ran::Done(Acted::one(planned(PlantResult::Planned)))),
            run(
                "two",
                Ran::Done(Acted::several(
                    vec![
                        planned(PlantResult::AlreadyPlanted),
                        planned(PlantResult::AlreadyPlanted),
                    ],
                    vec![],
                    None,
                )),
            ),
            run(
                "three",
                Ran::Done(Acted::several(vec![], vec![failure("refused: no")], None)),
            ),
        ];
        let report = FleetReport::new("plant", runs, |a| a.code);
        assert_eq!(report.exit_code, exit::FAILED);
        assert_eq!(
            report.summary(|c| context_state(c, true)),
            "3 contexts: 1 to plant, 1 already planted, 1 not planted."
        );
    }
}
