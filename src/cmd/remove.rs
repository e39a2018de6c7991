//! `remove`: delete exactly what `plant` created, checked by UID, and nothing else. It
//! decides, then acts: a survey of the cluster (of every context of a fleet, at once) and a
//! decision for each decoy, one question, then the deletions.

use serde::Serialize;

use crate::cli::{GlobalArgs, SelectArgs};
use crate::cluster;
use crate::cluster::connect::{self, Connection, Target};
use crate::cluster::fleet::{self, ContextResult, ContextRun, Ending, Fleet, FleetReport, Ran};
use crate::cluster::locate::{self, Asked, Observed, Scope, Selection};
use crate::cluster::{ClusterError, Deleted};
use crate::decoy::{DecoySpec, Found, Ownership, ownership, uid_of};
use crate::error::Error;
use crate::exit::Outcome;
use crate::home::{Home, PlantedRecord, State};
use crate::ui::output;
use crate::ui::prompt;
use crate::ui::table::{Cell, Tone};
use crate::ui::terminal::Terminal;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deletion {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing of the decoy is there.
    Nothing,
    /// Delete these, in this order (the Secret first: it is the credential).
    Delete(Vec<Deletion>),
    Refuse(String),
}

pub fn decide(spec: &DecoySpec, found: &Found, record: Option<&PlantedRecord>) -> Decision {
    match ownership(spec, found, record) {
        Ownership::Absent => Decision::Nothing,
        Ownership::Foreign(why) => Decision::Refuse(why),
        Ownership::Replaced(why) => Decision::Refuse(format!(
            "{why}. An object that is not the one planted is never deleted: look at it, delete \
             it by hand if it should go, then run remove again"
        )),
        Ownership::Ours => {
            let mut deletions = Vec::new();
            if let Some(uid) = found.secret.as_ref().and_then(|s| uid_of(&s.metadata)) {
                deletions.push(Deletion {
                    kind: "Secret",
                    namespace: spec.namespace.clone(),
                    name: spec.secret.clone(),
                    uid: uid.to_string(),
                });
            }
            if let Some(uid) = found.account.as_ref().and_then(|a| uid_of(&a.metadata)) {
                deletions.push(Deletion {
                    kind: "ServiceAccount",
                    namespace: spec.namespace.clone(),
                    name: spec.account.clone(),
                    uid: uid.to_string(),
                });
            }
            Decision::Delete(deletions)
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoveReport {
    /// "removed", "wouldRemove" (dry run) or "nothingToRemove".
    pub result: &'static str,
    pub namespace: String,
    pub service_account: String,
    pub objects: Vec<Deletion>,
}

fn list_text(deletions: &[Deletion], verb: &str) -> String {
    deletions
        .iter()
        .map(|d| {
            format!(
                "{}/{} {verb} in namespace {} (uid {})\n",
                d.kind.to_lowercase(),
                d.name,
                d.namespace,
                d.uid
            )
        })
        .collect()
}

pub async fn run(
    args: &SelectArgs,
    global: &GlobalArgs,
    terminal: Terminal,
    home: &Home,
) -> Result<Outcome, Error> {
    let ask = prompt::will_ask(
        terminal,
        global.yes,
        global.dry_run,
        "remove deletes objects in the cluster",
    )?;
    let scope = locate::scope(
        args.profile.as_deref(),
        global.namespace.as_deref(),
        args.name.as_deref(),
    )?;
    if let Some(fleet) = global.fleet()? {
        return remove_fleet(&fleet, &scope, global, ask, home).await;
    }
    let asked = Asked {
        account: args.name.as_deref(),
        profile: args.profile.as_deref(),
    };
    match scope {
        Scope::One(selection) => remove_one(&selection, asked, global, ask, home).await,
        scope => remove_several(&scope, global, ask, home).await,
    }
}

/// The decoys of this key in the cluster, outside `looked_in`, that match what was asked:
/// looked for only when a narrowed remove found nothing. A look that fails names none.
async fn elsewhere_in_cluster(
    target: &Target,
    home: &Home,
    looked_in: &[String],
    asked: Asked<'_>,
) -> Vec<String> {
    match locate::observe_all(target, None, home).await {
        Ok(observation) => locate::found_elsewhere(&observation.observed, looked_in, asked),
        Err(_) => Vec::new(),
    }
}

/// The end of a remove that removed nothing: fine when no decoy of what was asked is in
/// this cluster (a second remove), an error naming where they are when `-n` (or the
/// profile's namespace) missed them, as `kubectl delete` of a name that is not there
/// fails. Pure.
pub fn nothing_removed(looked: &str, elsewhere: &[String], asked: Asked) -> Result<Outcome, Error> {
    if elsewhere.is_empty() {
        return Ok(Outcome::Success);
    }
    let commands: Vec<String> = elsewhere
        .iter()
        .map(|decoy| {
            let (namespace, account) = decoy.split_once('/').unwrap_or((decoy, ""));
            if asked.account.is_some() || asked.profile.is_some() {
                format!("kubectl honeytoken remove -n {namespace} --name {account}")
            } else {
                format!("kubectl honeytoken remove -n {namespace}")
            }
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    Err(Error::CheckFailed(format!(
        "nothing was removed: no decoy of this key in {looked}, but {} {} elsewhere in this \
         cluster; to remove {}, run {}",
        elsewhere.join(", "),
        if elsewhere.len() == 1 { "is" } else { "are" },
        if elsewhere.len() == 1 { "it" } else { "them" },
        commands.join(", or ")
    )))
}

/// What remove found in one cluster and decided for each decoy, before it asks or acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Survey {
    pub server: String,
    pub context: String,
    /// `--profile` or `--name`: the one decoy they name (reported as a [`RemoveReport`]);
    /// else every decoy of this key found (a [`SeveralReport`]).
    pub one: bool,
    /// `--profile` or `--name`, and the decoy's namespace does not exist.
    pub namespace_missing: bool,
    /// Where decoys were looked for.
    pub namespaces: Vec<String>,
    pub not_looked_in: Vec<String>,
    pub recorded_elsewhere: Vec<String>,
    pub planned: Vec<Planned>,
}

/// A survey and the connection to act on it with.
struct Surveyed {
    connection: Connection,
    survey: Survey,
}

/// Looks in one cluster for the decoys the command line names and decides for each. A
/// decoy named by `--profile` or `--name` that is not provably the one planted is an error,
/// as it always was; among several, it is a decoy refused.
async fn survey(target: &Target, scope: &Scope, home: &Home) -> Result<Surveyed, Error> {
    match scope {
        Scope::One(selection) => survey_one(target, selection, home).await,
        scope => survey_several(target, scope.namespace(), home).await,
    }
}

async fn survey_one(
    target: &Target,
    selection: &Selection,
    home: &Home,
) -> Result<Surveyed, Error> {
    let (namespace, account) = (&selection.namespace, &selection.account);
    let surveyed = |connection: Connection, namespace_missing: bool, decision: Decision| {
        let survey = Survey {
            server: connection.server.clone(),
            context: connection.context.clone(),
            one: true,
            namespace_missing,
            namespaces: vec![namespace.clone()],
            not_looked_in: Vec::new(),
            recorded_elsewhere: Vec::new(),
            planned: vec![Planned {
                namespace: namespace.clone(),
                account: account.clone(),
                profile: selection.profile.name.clone(),
                decision,
            }],
        };
        Surveyed { connection, survey }
    };
    match locate::locate(selection, target, home, locate::KeyUse::Existing).await {
        // The decoy's namespace is gone, and everything in it.
        Err(ClusterError::NamespaceMissing(_)) => {
            let connection = connect::connect(target).await?;
            Ok(surveyed(connection, true, Decision::Nothing))
        }
        Err(error) => Err(error.into()),
        Ok(located) => match decide(&located.spec, &located.found, located.record.as_ref()) {
            Decision::Refuse(why) => Err(Error::Conflict(format!(
                "will not delete anything in {namespace}/{account}: {why}"
            ))),
            decision => Ok(surveyed(located.connection, false, decision)),
        },
    }
}

/// `--profile` or `--name`: exactly the decoy they name. Without `-n`, a decoy of that
/// name (or profile) that is not in the profile's namespace is looked for wherever
/// `status` looks, and removed if there is exactly one.
async fn remove_one(
    selection: &Selection,
    asked: Asked<'_>,
    global: &GlobalArgs,
    ask: bool,
    home: &Home,
) -> Result<Outcome, Error> {
    let target = global.target();
    let mut surveyed = survey_one(&target, selection, home).await?;
    let mut selection = selection.clone();
    let found_nothing = |survey: &Survey| {
        survey.namespace_missing || matches!(survey.planned[0].decision, Decision::Nothing)
    };
    let mut elsewhere = Vec::new();
    if found_nothing(&surveyed.survey) {
        elsewhere =
            elsewhere_in_cluster(&target, home, &[selection.namespace.clone()], asked).await;
        if global.namespace.is_none() {
            match elsewhere.as_slice() {
                [only] => {
                    let (namespace, account) = only.split_once('/').unwrap_or((only, ""));
                    let observation = locate::observe_all(&target, Some(namespace), home).await?;
                    if let Some(found) = observation
                        .observed
                        .iter()
                        .find(|o| o.spec.account == account)
                    {
                        selection = Selection {
                            profile: found.spec.shape,
                            namespace: namespace.to_string(),
                            account: account.to_string(),
                        };
                        surveyed = survey_one(&target, &selection, home).await?;
                        elsewhere.clear();
                    }
                }
                [] => {}
                several => {
                    return Err(Error::Invalid(format!(
                        "no decoy {}/{} of this key, and several like it elsewhere: {}; choose \
                         one with -n NAMESPACE and --name NAME",
                        selection.namespace,
                        selection.account,
                        several.join(", ")
                    )));
                }
            }
        }
    }
    let Surveyed { connection, survey } = surveyed;
    let selection = &selection;
    let (namespace, account) = (&selection.namespace, &selection.account);
    let looked = format!("{namespace}/{account}");
    if survey.namespace_missing {
        let report = remove_named(&connection, &survey, home).await?;
        match output::structured(global.output, &report)? {
            Some(text) => print!("{text}"),
            None => println!(
                "namespace {namespace} does not exist, so neither does decoy {namespace}/{account}; nothing to remove"
            ),
        }
        return nothing_removed(&looked, &elsewhere, asked);
    }
    let deletions = match &survey.planned[0].decision {
        Decision::Delete(deletions) => deletions.clone(),
        Decision::Nothing | Decision::Refuse(_) => Vec::new(),
    };
    if deletions.is_empty() {
        let report = remove_named(&connection, &survey, home).await?;
        match output::structured(global.output, &report)? {
            Some(text) => print!("{text}"),
            None => println!("no decoy {namespace}/{account} found; nothing to remove"),
        }
        if elsewhere.is_empty() {
            tell_elsewhere(
                &locate::recorded_elsewhere(&home.load()?, &connection.server, &[]),
                &looked,
            );
        }
        return nothing_removed(&looked, &elsewhere, asked);
    }
    if global.dry_run {
        match output::structured(global.output, &would_remove_named(&survey))? {
            Some(text) => print!("{text}"),
            None => {
                print!("{}", list_text(&deletions, "would be deleted"));
                println!("(dry run: nothing was deleted)");
            }
        }
        return Ok(Outcome::Success);
    }
    if ask {
        eprintln!(
            "Cluster: {} (context {})",
            connection.server, connection.context
        );
        eprint!("{}", list_text(&deletions, "will be deleted"));
        if !prompt::confirm("Remove this decoy?")? {
            return Err(Error::Declined("nothing was deleted".into()));
        }
    }
    let report = remove_named(&connection, &survey, home).await?;
    match output::structured(global.output, &report)? {
        Some(text) => print!("{text}"),
        None => print!("{}", list_text(&report.objects, "deleted")),
    }
    Ok(Outcome::Success)
}

/// What a dry run of `--profile` or `--name` reports: what would be deleted. Pure.
fn would_remove_named(survey: &Survey) -> RemoveReport {
    let planned = &survey.planned[0];
    let objects = match &planned.decision {
        Decision::Delete(deletions) => deletions.clone(),
        Decision::Nothing | Decision::Refuse(_) => Vec::new(),
    };
    RemoveReport {
        result: if objects.is_empty() {
            "nothingToRemove"
        } else {
            "wouldRemove"
        },
        namespace: planned.namespace.clone(),
        service_account: planned.account.clone(),
        objects,
    }
}

/// Removes the decoy `--profile` or `--name` named, as surveyed: its objects by UID (the
/// Secret first), then its record. Anything that stays is an error, and the record stays.
async fn remove_named(
    connection: &Connection,
    survey: &Survey,
    home: &Home,
) -> Result<RemoveReport, Error> {
    let mut report = would_remove_named(survey);
    let (namespace, account) = (&report.namespace, &report.service_account);
    let pending = delete_in_order(&connection.client, &report.objects).await?;
    if !pending.is_empty() {
        // The record stays, so status keeps reporting the decoy until it is really gone.
        let pending: Vec<String> = pending
            .iter()
            .map(|(deletion, finalizers)| {
                format!(
                    "{}/{} in namespace {} (uid {}) is marked for deletion but stays until its \
                     finalizers are removed: {}",
                    deletion.kind.to_lowercase(),
                    deletion.name,
                    deletion.namespace,
                    deletion.uid,
                    finalizers.join(", ")
                )
            })
            .collect();
        return Err(Error::CheckFailed(format!(
            "deletion pending: {}; whoever added the finalizers must remove them (or remove \
             them by hand), then run remove again",
            pending.join("; ")
        )));
    }
    forget(home, namespace, account, &connection.server)?;
    if !report.objects.is_empty() {
        report.result = "removed";
    }
    Ok(report)
}

/// Deletes objects in order (the Secret first: it is the credential), each by its UID,
/// stopping at the first failure; returns those that stay until their finalizers go.
async fn delete_in_order<'a>(
    client: &kube::Client,
    deletions: &'a [Deletion],
) -> Result<Vec<(&'a Deletion, Vec<String>)>, ClusterError> {
    let mut pending = Vec::new();
    for deletion in deletions {
        let deleted = match deletion.kind {
            "Secret" => {
                cluster::delete_secret(client, &deletion.namespace, &deletion.name, &deletion.uid)
                    .await?
            }
            _ => {
                cluster::delete_account(client, &deletion.namespace, &deletion.name, &deletion.uid)
                    .await?
            }
        };
        if let Deleted::Pending { finalizers } = deleted {
            pending.push((deletion, finalizers));
        }
    }
    Ok(pending)
}
/// Says where this workstation recorded decoys of this key that a remove which found
/// nothing did not look at (on stderr: stdout keeps its one line).
fn tell_elsewhere(elsewhere: &[String], looked: &str) {
    if !elsewhere.is_empty() {
        eprintln!(
            "This workstation recorded decoys of this key elsewhere than {looked}: {}. Run remove \
             there (-n NAMESPACE, and --context for another server).",
            elsewhere.join(", ")
        );
    }
}

/// What became of one decoy of several. In order of seriousness: the most serious one of a
/// run sets its exit code (see [`exit_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Removal {
    /// Its objects were deleted and its record forgotten.
    Removed,
    /// Dry run: its objects would be deleted.
    WouldRemove,
    /// Nothing of it is left (its namespace gone, or its objects deleted by hand); its
    /// record, if any, was forgotten.
    NothingToRemove,
    /// Deleted, but an object stays until its finalizers are removed; the record stays.
    Pending,
    /// Not provably the decoy that was planted: nothing of it was deleted.
    Refused,
    /// An API call failed (forbidden, unreachable): what was deleted before it is gone,
    /// the rest stays, and so does the record.
    Failed,
}

impl Removal {
    pub fn succeeded(self) -> bool {
        matches!(
            self,
            Removal::Removed | Removal::WouldRemove | Removal::NothingToRemove
        )
    }

    fn as_str(self) -> &'static str {
        match self {
            Removal::Removed => "removed",
            Removal::WouldRemove => "would remove",
            Removal::NothingToRemove => "nothing to remove",
            Removal::Pending => "deletion pending",
            Removal::Refused => "REFUSED",
            Removal::Failed => "FAILED",
        }
    }
}

/// The exit of a remove of several decoys: the most serious outcome among them (a
/// namespace that had to be looked in and could not be counts as failed). Every failing
/// outcome exits 1, as a remove of one decoy does.
pub fn exit_of(outcomes: &[Removal]) -> Result<Outcome, Removal> {
    match outcomes.iter().copied().max() {
        Some(worst) if !worst.succeeded() => Err(worst),
        _ => Ok(Outcome::Success),
    }
}

/// One decoy of several, and what remove decided for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub namespace: String,
    pub account: String,
    pub profile: String,
    pub decision: Decision,
}

/// What remove does with each decoy it found: the same decision as for one decoy, each on
/// what the cluster holds of it and this workstation's record of it. Pure.
pub fn plan(observed: &[Observed], state: &State, server: &str) -> Vec<Planned> {
    observed
        .iter()
        .map(|o| Planned {
            namespace: o.spec.namespace.clone(),
            account: o.spec.account.clone(),
            profile: o.spec.profile.to_string(),
            decision: decide(
                &o.spec,
                &o.found,
                state.planted_record(server, &o.spec.namespace, &o.spec.account),
            ),
        })
        .collect()
}

/// One decoy in the report of a remove of several.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecoyRemoval {
    pub namespace: String,
    pub service_account: String,
    pub profile: String,
    pub result: Removal,
    /// What was (or would be) deleted, in order.
    pub objects: Vec<Deletion>,
    /// Why it was not removed, for the failing results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn row(
    p: &Planned,
    result: Removal,
    objects: Vec<Deletion>,
    reason: Option<String>,
) -> DecoyRemoval {
    DecoyRemoval {
        namespace: p.namespace.clone(),
        service_account: p.account.clone(),
        profile: p.profile.clone(),
        result,
        objects,
        reason,
    }
}

/// The document of a remove of every decoy found, a row per decoy.
pub type SeveralReport = output::SeveralReport<DecoyRemoval>;

fn plan_text(planned: &[Planned], verb: &str) -> String {
    let mut text = String::new();
    for p in planned {
        match &p.decision {
            Decision::Delete(deletions) => {
                text.push_str(&format!("{}/{} ({}):\n", p.namespace, p.account, p.profile));
                for line in list_text(deletions, verb).lines() {
                    text.push_str(&format!("  {line}\n"));
                }
            }
            Decision::Nothing => text.push_str(&format!(
                "{}/{} ({}): nothing left to delete; its record is forgotten\n",
                p.namespace, p.account, p.profile
            )),
            Decision::Refuse(why) => text.push_str(&format!(
                "{}/{} ({}): will NOT be deleted: {why}\n",
                p.namespace, p.account, p.profile
            )),
        }
    }
    text
}

/// Deletes one decoy's objects in order (the Secret first), stopping at the first failure.
async fn remove_decoy(
    client: &kube::Client,
    home: &Home,
    server: &str,
    planned: &Planned,
    deletions: &[Deletion],
) -> (Removal, Option<String>) {
    let pending: Vec<String> = match delete_in_order(client, deletions).await {
        Err(error) => return (Removal::Failed, Some(error.to_string())),
        Ok(pending) => pending
            .iter()
            .map(|(deletion, finalizers)| {
                format!(
                    "{}/{} (uid {}) is marked for deletion but stays until its finalizers are \
                     removed: {}",
                    deletion.kind.to_lowercase(),
                    deletion.name,
                    deletion.uid,
                    finalizers.join(", ")
                )
            })
            .collect(),
    };
    if !pending.is_empty() {
        return (
            Removal::Pending,
            Some(format!(
                "deletion pending: {}; whoever added the finalizers must remove them (or remove \
                 them by hand), then run remove again",
                pending.join("; ")
            )),
        );
    }
    match forget(home, &planned.namespace, &planned.account, server) {
        Ok(()) => (Removal::Removed, None),
        Err(error) => (
            Removal::Failed,
            Some(format!(
                "deleted, but its record could not be forgotten: {error}"
            )),
        ),
    }
}

/// Every decoy of this key `status` finds in one cluster (in `namespace` only, when
/// given), and what remove decides for each.
async fn survey_several(
    target: &Target,
    namespace: Option<&str>,
    home: &Home,
) -> Result<Surveyed, Error> {
    let observation = locate::observe_all(target, namespace, home).await?;
    let state = home.load()?;
    let connection = observation.connection;
    let server = connection.server.clone();
    let survey = Survey {
        context: connection.context.clone(),
        one: false,
        namespace_missing: false,
        planned: plan(&observation.observed, &state, &server),
        recorded_elsewhere: locate::recorded_elsewhere(&state, &server, &observation.namespaces),
        namespaces: observation.namespaces,
        not_looked_in: observation.not_looked_in,
        server,
    };
    Ok(Surveyed { connection, survey })
}

/// The report of a remove of several before it acts: no decoy yet, or in a dry run each
/// decoy as it would end. Pure.
fn several_report(survey: &Survey, dry_run: bool) -> SeveralReport {
    SeveralReport {
        schema_version: 1,
        server: survey.server.clone(),
        dry_run,
        namespaces: survey.namespaces.clone(),
        decoys: if dry_run {
            survey
                .planned
                .iter()
                .map(|p| {
                    let (result, objects, reason) = match &p.decision {
                        Decision::Delete(deletions) => {
                            (Removal::WouldRemove, deletions.clone(), None)
                        }
                        Decision::Nothing => (Removal::NothingToRemove, Vec::new(), None),
                        Decision::Refuse(why) => {
                            (Removal::Refused, Vec::new(), Some(refusal(p, why)))
                        }
                    };
                    row(p, result, objects, reason)
                })
                .collect()
        } else {
            Vec::new()
        },
        not_looked_in: survey.not_looked_in.clone(),
        recorded_elsewhere: survey.recorded_elsewhere.clone(),
    }
}

/// How many decoys a survey deletes.
fn deleting(survey: &Survey) -> usize {
    survey
        .planned
        .iter()
        .filter(|p| matches!(p.decision, Decision::Delete(_)))
        .count()
}

/// Acts on a survey of several, each decoy on its own: one that fails or is refused never
/// stops the others.
async fn remove_surveyed(connection: &Connection, survey: &Survey, home: &Home) -> SeveralReport {
    let server = connection.server.as_str();
    let mut report = several_report(survey, false);
    for p in &survey.planned {
        let (result, objects, reason) = match &p.decision {
            Decision::Nothing => match forget(home, &p.namespace, &p.account, server) {
                Ok(()) => (Removal::NothingToRemove, Vec::new(), None),
                Err(error) => (
                    Removal::Failed,
                    Vec::new(),
                    Some(format!("its record could not be forgotten: {error}")),
                ),
            },
            Decision::Refuse(why) => (Removal::Refused, Vec::new(), Some(refusal(p, why))),
            Decision::Delete(deletions) => {
                let (result, reason) =
                    remove_decoy(&connection.client, home, server, p, deletions).await;
                (result, deletions.clone(), reason)
            }
        };
        report.decoys.push(row(p, result, objects, reason));
    }
    report
}

/// No `--profile` or `--name`: every decoy of this key `status` finds (in `-n`'s namespace
/// only, when given), each removed on its own.
async fn remove_several(
    scope: &Scope,
    global: &GlobalArgs,
    ask: bool,
    home: &Home,
) -> Result<Outcome, Error> {
    let Surveyed { connection, survey } =
        survey_several(&global.target(), scope.namespace(), home).await?;
    for place in &survey.not_looked_in {
        eprintln!("warning: not looked in namespace {place}; decoys there are left alone");
    }
    let planned = &survey.planned;
    if global.dry_run {
        let report = several_report(&survey, true);
        match output::structured(global.output, &report)? {
            Some(text) => print!("{text}"),
            None => {
                print!("{}", plan_text(planned, "would be deleted"));
                if planned.is_empty() {
                    println!(
                        "no decoy of this key in namespace(s) {}; nothing to remove",
                        survey.namespaces.join(", ")
                    );
                }
                println!("(dry run: nothing was deleted)");
            }
        }
        if planned.is_empty() && scope.namespace().is_some() {
            return lost_by_namespace(&global.target(), home, &survey).await;
        }
        return finish(&report);
    }
    let deleting = deleting(&survey);
    if ask && deleting > 0 {
        eprintln!(
            "Cluster: {} (context {})",
            connection.server, connection.context
        );
        eprint!("{}", plan_text(planned, "will be deleted"));
        let question = if deleting == 1 {
            "Remove this decoy?".to_string()
        } else {
            format!("Remove these {deleting} decoys?")
        };
        if !prompt::confirm(&question)? {
            return Err(Error::Declined("nothing was deleted".into()));
        }
    }
    let report = remove_surveyed(&connection, &survey, home).await;
    match output::structured(global.output, &report)? {
        Some(text) => print!("{text}"),
        None => print!("{}", several_text(&report)),
    }
    if report.decoys.is_empty() {
        if scope.namespace().is_some() {
            return lost_by_namespace(&global.target(), home, &survey).await;
        }
        tell_elsewhere(
            &survey.recorded_elsewhere,
            &format!("namespace(s) {}", survey.namespaces.join(", ")),
        );
    }
    finish(&report)
}

/// `remove -n NAMESPACE` found no decoy there: fine if this key has none elsewhere in the
/// cluster either, else an error saying where they are.
async fn lost_by_namespace(
    target: &Target,
    home: &Home,
    survey: &Survey,
) -> Result<Outcome, Error> {
    let elsewhere = elsewhere_in_cluster(target, home, &survey.namespaces, Asked::default()).await;
    if elsewhere.is_empty() {
        tell_elsewhere(
            &survey.recorded_elsewhere,
            &format!("namespace(s) {}", survey.namespaces.join(", ")),
        );
    }
    nothing_removed(
        &format!("namespace {}", survey.namespaces.join(", ")),
        &elsewhere,
        Asked::default(),
    )
}

/// "1 decoy", "3 decoys".
fn decoys(count: usize) -> String {
    if count == 1 {
        "1 decoy".to_string()
    } else {
        format!("{count} decoys")
    }
}

/// Why a decoy is not deleted, in the words a remove of one decoy uses.
fn refusal(planned: &Planned, why: &str) -> String {
    format!(
        "will not delete anything in {}/{}: {why}",
        planned.namespace, planned.account
    )
}

/// What a remove of several printed: each decoy's deleted objects, then one line per decoy
/// and a summary.
fn several_text(report: &SeveralReport) -> String {
    if report.decoys.is_empty() {
        return format!(
            "no decoy of this key in namespace(s) {}; nothing to remove\n",
            report.namespaces.join(", ")
        );
    }
    let mut text = String::new();
    for decoy in &report.decoys {
        if decoy.result == Removal::Removed {
            text.push_str(&list_text(&decoy.objects, "deleted"));
        }
    }
    // The reasons are long: the error at the end tells each.
    let mut table = output::table(&["decoy", "profile", "objects", "result"]);
    for decoy in &report.decoys {
        let result = Cell::new(
            decoy.result.as_str(),
            if decoy.result.succeeded() {
                Tone::Good
            } else {
                Tone::Bad
            },
        );
        table.add_row([
            format!("{}/{}", decoy.namespace, decoy.service_account).into(),
            decoy.profile.as_str().into(),
            decoy.objects.len().to_string().into(),
            result,
        ]);
    }
    let removed = report
        .decoys
        .iter()
        .filter(|d| d.result == Removal::Removed)
        .count();
    text.push_str(&format!(
        "{table}\nRemoved {removed} of {}.\n",
        decoys(report.decoys.len())
    ));
    text
}

/// The run's end: success, or an error naming every decoy not removed.
fn finish(report: &SeveralReport) -> Result<Outcome, Error> {
    let outcomes: Vec<Removal> = report.decoys.iter().map(|d| d.result).collect();
    if exit_of(&outcomes).is_ok() {
        return Ok(Outcome::Success);
    }
    let (not, done) = if report.dry_run {
        ("would not be removed", "would be removed")
    } else {
        ("not removed", "removed")
    };
    let failed: Vec<String> = report
        .decoys
        .iter()
        .filter(|d| !d.result.succeeded())
        .map(|d| {
            format!(
                "{}/{} {}: {}",
                d.namespace,
                d.service_account,
                d.result.as_str(),
                d.reason.as_deref().unwrap_or("")
            )
        })
        .collect();
    let fine = report.decoys.len() - failed.len();
    Err(Error::CheckFailed(format!(
        "{} of {} {not}{}: {}",
        failed.len(),
        decoys(report.decoys.len()),
        if fine > 0 {
            format!(" (the other {fine} {done})")
        } else {
            String::new()
        },
        failed.join("; ")
    )))
}

/// One context's report in a remove over a fleet: the document remove prints for that one
/// context, a [`RemoveReport`] for `--profile` or `--name`, else a [`SeveralReport`].
#[derive(Debug, Clone)]
pub enum ContextRemoval {
    One {
        report: RemoveReport,
        /// For the table; the document has no profile, as for one context.
        profile: String,
    },
    Several(SeveralReport),
}

impl Serialize for ContextRemoval {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ContextRemoval::One { report, .. } => report.serialize(serializer),
            ContextRemoval::Several(report) => report.serialize(serializer),
        }
    }
}

impl ContextRemoval {
    /// Its decoys as a remove of several tells them, whichever report it is.
    fn decoys(&self) -> Vec<DecoyRemoval> {
        match self {
            ContextRemoval::One { report, profile } => vec![DecoyRemoval {
                namespace: report.namespace.clone(),
                service_account: report.service_account.clone(),
                profile: profile.clone(),
                result: match report.result {
                    "removed" => Removal::Removed,
                    "wouldRemove" => Removal::WouldRemove,
                    _ => Removal::NothingToRemove,
                },
                objects: report.objects.clone(),
                reason: None,
            }],
            ContextRemoval::Several(report) => report.decoys.clone(),
        }
    }

    /// The exit code of this context alone, as a remove of it alone would exit: a decoy
    /// not removed (or that would not be) fails it.
    pub fn code(&self) -> u8 {
        let outcomes: Vec<Removal> = self.decoys().iter().map(|d| d.result).collect();
        match exit_of(&outcomes) {
            Ok(outcome) => outcome.code(),
            Err(_) => crate::exit::FAILED,
        }
    }

    /// What became of this context in a word: its most serious decoy's end.
    fn state(&self) -> &'static str {
        let results: Vec<Removal> = self.decoys().iter().map(|d| d.result).collect();
        match results.iter().copied().max() {
            Some(worst) if !worst.succeeded() => worst.as_str(),
            _ if results.contains(&Removal::Removed) => Removal::Removed.as_str(),
            _ if results.contains(&Removal::WouldRemove) => Removal::WouldRemove.as_str(),
            _ => Removal::NothingToRemove.as_str(),
        }
    }
}

/// A context of a fleet as its plan tells it: its survey, or how it ended without one.
pub type ContextPlan<'a> = (&'a str, Result<&'a Survey, (Ending, String)>);

/// The plans of a remove over a fleet, a block per context: what will be deleted there (or
/// refused), or why nothing is done there. Pure.
pub fn fleet_plan_text(contexts: &[ContextPlan], verb: &str) -> String {
    let mut text = String::new();
    for (context, survey) in contexts {
        let survey = match survey {
            Ok(survey) => survey,
            Err((ending, why)) => {
                text.push_str(&format!(
                    "{context}: {}, nothing is done there: {why}\n",
                    ending.as_str()
                ));
                continue;
            }
        };
        text.push_str(&format!("{context} ({}):\n", survey.server));
        let body = match survey.planned.first() {
            None => format!(
                "no decoy of this key in namespace(s) {}; nothing to remove\n",
                survey.namespaces.join(", ")
            ),
            Some(p) if survey.one && p.decision == Decision::Nothing => format!(
                "no decoy {}/{} found; nothing to remove\n",
                p.namespace, p.account
            ),
            Some(_) => plan_text(&survey.planned, verb),
        };
        for line in body.lines() {
            text.push_str(&format!("  {line}\n"));
        }
    }
    text
}

/// The one question a remove over a fleet asks before it deletes anything anywhere. Pure.
pub fn fleet_question(deleting: usize, clusters: usize) -> String {
    format!(
        "Remove {} in {}?",
        if deleting == 1 {
            "this decoy".to_string()
        } else {
            format!("these {deleting} decoys")
        },
        if clusters == 1 {
            "1 cluster".to_string()
        } else {
            format!("{clusters} clusters")
        }
    )
}

/// What one context of a fleet came to, in a word.
fn context_state(context: &ContextResult<ContextRemoval>) -> String {
    match &context.report {
        Some(report) => report.state().to_string(),
        None => context.result.as_str().to_string(),
    }
}

/// A remove over a fleet as a table: a row per decoy with its context first, a row for each
/// context with no decoy or no answer, then one summary line. Pure.
pub fn fleet_table(report: &FleetReport<ContextRemoval>) -> String {
    let mut table = output::table(&["context", "decoy", "profile", "objects", "result"]);
    let styled =
        |text: &str, fine: bool| Cell::new(text, if fine { Tone::Good } else { Tone::Bad });
    for context in &report.contexts {
        let decoys = context
            .report
            .as_ref()
            .map(ContextRemoval::decoys)
            .unwrap_or_default();
        for decoy in &decoys {
            table.add_row([
                Cell::from(&context.context),
                format!("{}/{}", decoy.namespace, decoy.service_account).into(),
                decoy.profile.as_str().into(),
                decoy.objects.len().to_string().into(),
                styled(decoy.result.as_str(), decoy.result.succeeded()),
            ]);
        }
        if decoys.is_empty() {
            let fine = context.report.is_some();
            let state = context_state(context);
            table.add_row([
                Cell::from(&context.context),
                "-".into(),
                "-".into(),
                "-".into(),
                if fine {
                    styled(&state, true)
                } else {
                    styled(&state.to_uppercase(), false)
                },
            ]);
        }
    }
    format!("{table}\n{}\n", report.summary(context_state))
}

/// What a remove over a fleet printed: each context's deleted objects, then the table.
pub fn fleet_text(report: &FleetReport<ContextRemoval>) -> String {
    let mut text = String::new();
    for context in &report.contexts {
        for decoy in context.report.iter().flat_map(ContextRemoval::decoys) {
            if decoy.result == Removal::Removed {
                for line in list_text(&decoy.objects, "deleted").lines() {
                    text.push_str(&format!("{}: {line}\n", context.context));
                }
            }
        }
    }
    text.push_str(&fleet_table(report));
    text
}

/// Why each context or decoy of a fleet that was not removed (or would not be) was not, a
/// line each, the context first. Pure.
pub fn fleet_reasons(report: &FleetReport<ContextRemoval>) -> Vec<String> {
    let mut reasons = Vec::new();
    for context in &report.contexts {
        if let Some(error) = &context.error {
            reasons.push(format!("{}: {error}", context.context));
        }
        for decoy in context.report.iter().flat_map(ContextRemoval::decoys) {
            if !decoy.result.succeeded() {
                reasons.push(format!(
                    "{}: {}/{} {}: {}",
                    context.context,
                    decoy.namespace,
                    decoy.service_account,
                    decoy.result.as_str(),
                    decoy.reason.as_deref().unwrap_or("")
                ));
            }
        }
    }
    reasons
}

/// A remove over a fleet: decide, then act. Every context is surveyed at once (a context
/// that does not answer in time is a row, and nothing is done there), every plan is shown
/// and the question asked once, then each context deletes its own decoys without a
/// deadline; a failure in one never stops or half-does another.
async fn remove_fleet(
    fleet: &Fleet,
    scope: &Scope,
    global: &GlobalArgs,
    ask: bool,
    home: &Home,
) -> Result<Outcome, Error> {
    // A missing key is this workstation's problem, to be told once, not once a context.
    home.key()?;
    let surveys = fleet::each(fleet, true, |target| async move {
        survey(&target, scope, home).await
    })
    .await;
    for run in &surveys {
        if let Ran::Done(surveyed) = &run.ran {
            for place in &surveyed.survey.not_looked_in {
                eprintln!(
                    "warning: {}: not looked in namespace {place}; decoys there are left alone",
                    run.context
                );
            }
        }
    }
    let plans = |verb: &str| {
        let contexts: Vec<ContextPlan> = surveys
            .iter()
            .map(|run| {
                let survey = match &run.ran {
                    Ran::Done(surveyed) => Ok(&surveyed.survey),
                    other => Err((other.ending(), other.why_not().unwrap_or_default())),
                };
                (run.context.as_str(), survey)
            })
            .collect();
        fleet_plan_text(&contexts, verb)
    };
    if global.dry_run {
        let plans = plans("would be deleted");
        let runs = surveys
            .into_iter()
            .map(|run| ContextRun {
                context: run.context,
                ran: run.ran.map(|Surveyed { survey, .. }| {
                    if survey.one {
                        ContextRemoval::One {
                            report: would_remove_named(&survey),
                            profile: survey.planned[0].profile.clone(),
                        }
                    } else {
                        ContextRemoval::Several(several_report(&survey, true))
                    }
                }),
            })
            .collect();
        let report = FleetReport::new("remove", runs, ContextRemoval::code);
        match output::structured(global.output, &report)? {
            Some(text) => print!("{text}"),
            None => {
                print!("{plans}\n{}", fleet_table(&report));
                println!("(dry run: nothing was deleted in any cluster)");
            }
        }
        return Ok(Outcome::Fleet(report.exit_code));
    }
    let counts: Vec<usize> = surveys
        .iter()
        .filter_map(|run| match &run.ran {
            Ran::Done(surveyed) => Some(deleting(&surveyed.survey)),
            _ => None,
        })
        .filter(|count| *count > 0)
        .collect();
    if ask && !counts.is_empty() {
        eprint!("{}", plans("will be deleted"));
        if !prompt::confirm(&fleet_question(counts.iter().sum(), counts.len()))? {
            return Err(Error::Declined("nothing was deleted in any cluster".into()));
        }
    }
    let runs = fleet::then(fleet, surveys, |_, surveyed: Surveyed| async move {
        let Surveyed { connection, survey } = surveyed;
        if survey.one {
            let report = remove_named(&connection, &survey, home).await?;
            Ok(ContextRemoval::One {
                report,
                profile: survey.planned[0].profile.clone(),
            })
        } else {
            Ok(ContextRemoval::Several(
                remove_surveyed(&connection, &survey, home).await,
            ))
        }
    })
    .await;
    let report = FleetReport::new("remove", runs, ContextRemoval::code);
    match output::structured(global.output, &report)? {
        Some(text) => print!("{text}"),
        None => print!("{}", fleet_text(&report)),
    }
    for reason in fleet_reasons(&report) {
        eprintln!("{reason}");
    }
    Ok(Outcome::Fleet(report.exit_code))
}

fn forget(home: &Home, namespace: &str, account: &str, server: &str) -> Result<(), Error> {
    if home
        .load()?
        .planted_record(server, namespace, account)
        .is_some()
    {
        home.update(|state| state.forget_planted(server, namespace, account))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoy::profile::default_profile;
    use crate::home::Key;

    fn spec() -> DecoySpec {
        DecoySpec::new(
            default_profile(),
            &Key::from_bytes([4; crate::home::KEY_LEN]),
            "u",
            "kube-system",
            "tiller",
        )
    }

    #[test]
    fn removing_nothing_is_fine_only_when_nothing_of_this_key_is_elsewhere() {
        assert!(matches!(
            nothing_removed("namespace apps", &[], Asked::default()),
            Ok(Outcome::Success)
        ));
        let error = nothing_removed(
            "namespace ops",
            &["apps/helm-server".to_string()],
            Asked::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("no decoy of this key in namespace ops"),
            "{error}"
        );
        assert!(error.contains("apps/helm-server is elsewhere"), "{error}");
        assert!(
            error.contains("kubectl honeytoken remove -n apps"),
            "{error}"
        );
        assert!(!error.contains("--name"), "{error}");
        let named = nothing_removed(
            "kube-system/helm-server",
            &[
                "apps/helm-server".to_string(),
                "ops/helm-server".to_string(),
            ],
            Asked {
                account: Some("helm-server"),
                profile: None,
            },
        )
        .unwrap_err()
        .to_string();
        assert!(named.contains("are elsewhere"), "{named}");
        assert!(
            named.contains("kubectl honeytoken remove -n apps --name helm-server, or kubectl honeytoken remove -n ops --name helm-server"),
            "{named}"
        );
    }

    fn with_uids(spec: &DecoySpec, account_uid: Option<&str>, secret_uid: Option<&str>) -> Found {
        Found {
            account: account_uid.map(|uid| {
                let mut a = spec.account_manifest();
                a.metadata.uid = Some(uid.into());
                a
            }),
            secret: secret_uid.map(|uid| {
                let mut s = spec.secret_manifest(None);
                s.metadata.uid = Some(uid.into());
                s
            }),
        }
    }

    #[test]
    fn a_whole_decoy_is_deleted_secret_first_by_uid() {
        let spec = spec();
        let decision = decide(&spec, &with_uids(&spec, Some("a1"), Some("s1")), None);
        let Decision::Delete(deletions) = decision else {
            panic!("{decision:?}")
        };
        assert_eq!(
            deletions
                .iter()
                .map(|d| (d.kind, d.uid.as_str()))
                .collect::<Vec<_>>(),
            vec![("Secret", "s1"), ("ServiceAccount", "a1")]
        );
    }

    #[test]
    fn a_recorded_decoy_whose_secret_was_deleted_loses_its_account() {
        let spec = spec();
        let decision = decide(
            &spec,
            &with_uids(&spec, Some("a1"), None),
            Some(&crate::decoy::test_record(&spec, "a1", "s1")),
        );
        let Decision::Delete(deletions) = decision else {
            panic!("{decision:?}")
        };
        assert_eq!(deletions.len(), 1);
        assert_eq!(deletions[0].kind, "ServiceAccount");
    }

    #[test]
    fn an_account_not_made_by_plant_is_never_deleted() {
        let spec = spec();
        assert!(matches!(
            decide(&spec, &with_uids(&spec, Some("a1"), None), None),
            Decision::Refuse(_)
        ));
        assert!(matches!(
            decide(
                &spec,
                &with_uids(&spec, Some("a9"), None),
                Some(&crate::decoy::test_record(&spec, "a1", "s1"))
            ),
            Decision::Refuse(_)
        ));
    }

    #[test]
    fn a_secret_made_again_under_the_decoys_name_is_never_deleted() {
        let spec = spec();
        let decision = decide(
            &spec,
            &with_uids(&spec, Some("a1"), Some("s2")),
            Some(&crate::decoy::test_record(&spec, "a1", "s1")),
        );
        assert!(
            matches!(&decision, Decision::Refuse(why) if why.contains("uid s2") && why.contains("never deleted")),
            "{decision:?}"
        );
    }

    #[test]
    fn nothing_there_is_nothing_to_do() {
        assert_eq!(decide(&spec(), &Found::default(), None), Decision::Nothing);
    }

    fn observed(account: &str, found_uids: (Option<&str>, Option<&str>)) -> Observed {
        let spec = DecoySpec::new(
            default_profile(),
            &Key::from_bytes([4; crate::home::KEY_LEN]),
            "u",
            "apps",
            account,
        );
        let found = with_uids(&spec, found_uids.0, found_uids.1);
        Observed {
            spec,
            found,
            bindings: vec![],
            drills: vec![],
            identity_problem: None,
            unfinished_plant: false,
            observed_at: "2026-12-01T00:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn several_decoys_are_each_decided_on_their_own_record() {
        let whole = observed("helm-server", (Some("a1"), Some("s1")));
        let replaced = observed("tiller", (Some("a2"), Some("s9")));
        let gone = observed("old", (None, None));
        let state = State {
            planted: vec![crate::decoy::test_record(&replaced.spec, "a2", "s2")]
                .into_iter()
                .map(|mut r| {
                    r.server = "https://x".into();
                    r
                })
                .collect(),
            drills: vec![],
        };
        let planned = plan(&[whole, replaced, gone], &state, "https://x");
        assert_eq!(planned.len(), 3);
        assert!(
            matches!(&planned[0].decision, Decision::Delete(d) if d.len() == 2),
            "{planned:?}"
        );
        assert!(
            matches!(&planned[1].decision, Decision::Refuse(why) if why.contains("uid s9")),
            "the record of this decoy, not another's, decides: {planned:?}"
        );
        assert_eq!(planned[2].decision, Decision::Nothing);
        // The same decoy judged against a record on another server is not refused for it.
        let elsewhere = plan(
            &[observed("tiller", (Some("a2"), Some("s9")))],
            &state,
            "https://y",
        );
        assert!(
            matches!(&elsewhere[0].decision, Decision::Delete(_)),
            "{elsewhere:?}"
        );
    }

    #[test]
    fn one_failure_among_several_fails_the_run_and_the_worst_is_told() {
        assert_eq!(
            exit_of(&[Removal::Removed, Removal::Refused, Removal::Removed]),
            Err(Removal::Refused)
        );
        assert_eq!(
            exit_of(&[Removal::Pending, Removal::Failed, Removal::Refused]),
            Err(Removal::Failed)
        );
        assert_eq!(
            exit_of(&[Removal::Removed, Removal::Pending]),
            Err(Removal::Pending)
        );
        assert_eq!(
            exit_of(&[
                Removal::Removed,
                Removal::NothingToRemove,
                Removal::WouldRemove
            ]),
            Ok(Outcome::Success)
        );
    }

    #[test]
    fn nothing_found_is_success_and_a_failure_of_several_names_each() {
        let empty = SeveralReport {
            schema_version: 1,
            server: "https://x".into(),
            dry_run: false,
            namespaces: vec!["apps".into()],
            decoys: vec![],
            not_looked_in: vec![],
            recorded_elsewhere: vec!["kube-system/tiller on this server".into()],
        };
        assert!(matches!(finish(&empty), Ok(Outcome::Success)));
        assert!(several_text(&empty).contains("nothing to remove"));

        let decoy = |account: &str, result: Removal, reason: Option<&str>| DecoyRemoval {
            namespace: "apps".into(),
            service_account: account.into(),
            profile: "tiller".into(),
            result,
            objects: vec![],
            reason: reason.map(String::from),
        };
        let mut mixed = empty.clone();
        mixed.decoys = vec![
            decoy("a", Removal::Removed, None),
            decoy(
                "b",
                Removal::Refused,
                Some("will not delete anything in apps/b: foreign"),
            ),
            decoy("c", Removal::Removed, None),
        ];
        let Err(Error::CheckFailed(message)) = finish(&mixed) else {
            panic!("a refusal among removals must fail the run")
        };
        assert!(
            message.contains("1 of 3 decoys not removed (the other 2 removed)")
                && message.contains("apps/b REFUSED: will not delete"),
            "{message}"
        );
    }

    fn planned(account: &str, decision: Decision) -> Planned {
        Planned {
            namespace: "kube-system".into(),
            account: account.into(),
            profile: "tiller".into(),
            decision,
        }
    }

    fn deletion(kind: &'static str, name: &str, uid: &str) -> Deletion {
        Deletion {
            kind,
            namespace: "kube-system".into(),
            name: name.into(),
            uid: uid.into(),
        }
    }

    fn survey(one: bool, planned: Vec<Planned>) -> Survey {
        Survey {
            server: "https://x".into(),
            context: "a".into(),
            one,
            namespace_missing: false,
            namespaces: vec!["kube-system".into()],
            not_looked_in: vec![],
            recorded_elsewhere: vec![],
            planned,
        }
    }

    #[test]
    fn a_fleet_plan_tells_every_context_what_is_deleted_or_why_nothing_is() {
        let several = survey(
            false,
            vec![
                planned(
                    "tiller",
                    Decision::Delete(vec![
                        deletion("Secret", "tiller-token-bcdfg", "s1"),
                        deletion("ServiceAccount", "tiller", "a1"),
                    ]),
                ),
                planned("helm", Decision::Refuse("made again".into())),
            ],
        );
        let empty = survey(false, vec![]);
        let named_absent = survey(true, vec![planned("tiller", Decision::Nothing)]);
        let text = fleet_plan_text(
            &[
                ("prod", Ok(&several)),
                (
                    "gone",
                    Err((Ending::Unreachable, "connection refused".into())),
                ),
                ("dev", Ok(&empty)),
                ("test", Ok(&named_absent)),
            ],
            "will be deleted",
        );
        assert_eq!(
            text,
            "prod (https://x):\n\
             \x20 kube-system/tiller (tiller):\n\
             \x20   secret/tiller-token-bcdfg will be deleted in namespace kube-system (uid s1)\n\
             \x20   serviceaccount/tiller will be deleted in namespace kube-system (uid a1)\n\
             \x20 kube-system/helm (tiller): will NOT be deleted: made again\n\
             gone: unreachable, nothing is done there: connection refused\n\
             dev (https://x):\n\
             \x20 no decoy of this key in namespace(s) kube-system; nothing to remove\n\
             test (https://x):\n\
             \x20 no decoy kube-system/tiller found; nothing to remove\n"
        );
        assert_eq!(fleet_question(1, 1), "Remove this decoy in 1 cluster?");
        assert_eq!(fleet_question(3, 2), "Remove these 3 decoys in 2 clusters?");
        assert_eq!(deleting(&several), 1);
    }

    #[test]
    fn a_fleet_report_rows_each_context_and_exits_with_the_worst() {
        let objects = vec![deletion("Secret", "tiller-token-bcdfg", "s1")];
        let decoy = |account: &str, result: Removal, reason: Option<&str>| DecoyRemoval {
            namespace: "kube-system".into(),
            service_account: account.into(),
            profile: "tiller".into(),
            result,
            objects: objects.clone(),
            reason: reason.map(String::from),
        };
        let mut mixed = several_report(&survey(false, vec![]), false);
        mixed.decoys = vec![
            decoy("tiller", Removal::Removed, None),
            decoy(
                "helm",
                Removal::Refused,
                Some("will not delete: made again"),
            ),
        ];
        let named = RemoveReport {
            result: "removed",
            namespace: "kube-system".into(),
            service_account: "tiller".into(),
            objects: objects.clone(),
        };
        let runs: Vec<ContextRun<_, Error>> = vec![
            ContextRun {
                context: "prod".into(),
                ran: Ran::Done(ContextRemoval::Several(mixed)),
            },
            ContextRun {
                context: "stage".into(),
                ran: Ran::Done(ContextRemoval::One {
                    report: named.clone(),
                    profile: "tiller".into(),
                }),
            },
            ContextRun {
                context: "silent".into(),
                ran: Ran::TimedOut(std::time::Duration::from_secs(3)),
            },
            ContextRun {
                context: "dev".into(),
                ran: Ran::Done(ContextRemoval::Several(several_report(
                    &survey(false, vec![]),
                    false,
                ))),
            },
        ];
        let report = FleetReport::new("remove", runs, ContextRemoval::code);
        assert_eq!(report.exit_code, crate::exit::FAILED);
        let codes: Vec<u8> = report.contexts.iter().map(|c| c.exit_code).collect();
        assert_eq!(codes, [1, 0, 1, 0]);

        let text = fleet_text(&report);
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(
            rows[0],
            "prod: secret/tiller-token-bcdfg deleted in namespace kube-system (uid s1)"
        );
        assert_eq!(
            rows[1],
            "stage: secret/tiller-token-bcdfg deleted in namespace kube-system (uid s1)"
        );
        assert_eq!(
            rows[2].split_whitespace().collect::<Vec<_>>(),
            ["CONTEXT", "DECOY", "PROFILE", "OBJECTS", "RESULT"]
        );
        let cells = |row: &str| row.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(cells(rows[3]), "prod kube-system/tiller tiller 1 removed");
        assert_eq!(cells(rows[4]), "prod kube-system/helm tiller 1 REFUSED");
        assert_eq!(cells(rows[5]), "stage kube-system/tiller tiller 1 removed");
        assert_eq!(cells(rows[6]), "silent - - - TIMED OUT");
        assert_eq!(cells(rows[7]), "dev - - - nothing to remove");
        assert!(
            text.ends_with("4 contexts: 1 REFUSED, 1 removed, 1 timed out, 1 nothing to remove.\n"),
            "{text}"
        );
        assert_eq!(
            fleet_reasons(&report),
            [
                "prod: kube-system/helm REFUSED: will not delete: made again".to_string(),
                "silent: no answer within 3s (--context-timeout); the cluster may be \
                 unreachable or overloaded"
                    .to_string(),
            ]
        );

        // Each context's document is remove's own for that context.
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["contexts"][0]["report"]["decoys"][1]["result"],
            "refused"
        );
        assert_eq!(
            json["contexts"][1]["report"],
            serde_json::to_value(&named).unwrap(),
            "no profile or other field is added to a report of one decoy"
        );
        assert!(json["contexts"][2].get("report").is_none());
    }
}
