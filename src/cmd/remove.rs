//! `remove`: delete exactly what `plant` created, checked by UID, and nothing else.

use serde::Serialize;

use crate::cli::{GlobalArgs, SelectArgs};
use crate::cluster;
use crate::cluster::locate::{self, Observed, Scope, Selection};
use crate::cluster::{ClusterError, Deleted};
use crate::decoy::{DecoySpec, Found, Ownership, ownership, uid_of};
use crate::error::Error;
use crate::exit::Outcome;
use crate::home::{Home, PlantedRecord, State};
use crate::ui::output;
use crate::ui::prompt;
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
    match locate::scope(
        args.profile.as_deref(),
        global.namespace.as_deref(),
        args.name.as_deref(),
    )? {
        Scope::One(selection) => remove_one(&selection, global, ask, home).await,
        scope => remove_several(&scope, global, ask, home).await,
    }
}

/// `--profile` or `--name`: exactly the decoy they name.
async fn remove_one(
    selection: &Selection,
    global: &GlobalArgs,
    ask: bool,
    home: &Home,
) -> Result<Outcome, Error> {
    let (namespace, account) = (selection.namespace.clone(), selection.account.clone());
    let located =
        match locate::locate(selection, &global.target(), home, locate::KeyUse::Existing).await {
            Err(ClusterError::NamespaceMissing(_)) => {
                return namespace_gone(global, home, &namespace, &account).await;
            }
            other => other?,
        };
    let (connection, spec, found) = (&located.connection, &located.spec, &located.found);
    let client = &connection.client;

    let deletions = match decide(spec, found, located.record.as_ref()) {
        Decision::Refuse(why) => {
            return Err(Error::Conflict(format!(
                "will not delete anything in {namespace}/{account}: {why}"
            )));
        }
        Decision::Nothing => Vec::new(),
        Decision::Delete(deletions) => deletions,
    };
    let mut report = RemoveReport {
        result: "nothingToRemove",
        namespace: namespace.clone(),
        service_account: account.clone(),
        objects: deletions.clone(),
    };
    if deletions.is_empty() {
        forget(home, &namespace, &account, &connection.server)?;
        match output::structured(global.output, &report)? {
            Some(text) => print!("{text}"),
            None => println!("no decoy {namespace}/{account} found; nothing to remove"),
        }
        tell_elsewhere(
            &locate::recorded_elsewhere(&home.load()?, &connection.server, &[]),
            &format!("{namespace}/{account}"),
        );
        return Ok(Outcome::Success);
    }
    if global.dry_run {
        report.result = "wouldRemove";
        match output::structured(global.output, &report)? {
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
    let mut pending = Vec::new();
    for deletion in &deletions {
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
            pending.push(format!(
                "{}/{} in namespace {} (uid {}) is marked for deletion but stays until its \
                 finalizers are removed: {}",
                deletion.kind.to_lowercase(),
                deletion.name,
                deletion.namespace,
                deletion.uid,
                finalizers.join(", ")
            ));
        }
    }
    if !pending.is_empty() {
        // The record stays, so status keeps reporting the decoy until it is really gone.
        return Err(Error::CheckFailed(format!(
            "deletion pending: {}; whoever added the finalizers must remove them (or remove \
             them by hand), then run remove again",
            pending.join("; ")
        )));
    }
    forget(home, &namespace, &account, &connection.server)?;
    report.result = "removed";
    match output::structured(global.output, &report)? {
        Some(text) => print!("{text}"),
        None => print!("{}", list_text(&deletions, "deleted")),
    }
    Ok(Outcome::Success)
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

/// The `-o json|yaml` document of a remove that looked for every decoy (or every decoy in
/// `-n`'s namespace). Schema version 1; fields are only ever added.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeveralReport {
    pub schema_version: u32,
    pub server: String,
    pub dry_run: bool,
    /// Where decoys were looked for.
    pub namespaces: Vec<String>,
    pub decoys: Vec<DecoyRemoval>,
    /// Profiles' namespaces the operator may not read (and where nothing was planted from
    /// here), as `status` tells them: decoys there are left alone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_looked_in: Vec<String>,
    /// Decoys this workstation recorded planting where this run did not look (another
    /// namespace than -n's, another server).
    pub recorded_elsewhere: Vec<String>,
}

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
    let mut pending = Vec::new();
    for deletion in deletions {
        let deleted = match deletion.kind {
            "Secret" => {
                cluster::delete_secret(client, &deletion.namespace, &deletion.name, &deletion.uid)
                    .await
            }
            _ => {
                cluster::delete_account(client, &deletion.namespace, &deletion.name, &deletion.uid)
                    .await
            }
        };
        match deleted {
            Err(error) => return (Removal::Failed, Some(error.to_string())),
            Ok(Deleted::Gone) => {}
            Ok(Deleted::Pending { finalizers }) => pending.push(format!(
                "{}/{} (uid {}) is marked for deletion but stays until its finalizers are \
                 removed: {}",
                deletion.kind.to_lowercase(),
                deletion.name,
                deletion.uid,
                finalizers.join(", ")
            )),
        }
    }
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

/// No `--profile` or `--name`: every decoy of this key `status` finds (in `-n`'s namespace
/// only, when given), each removed on its own.
async fn remove_several(
    scope: &Scope,
    global: &GlobalArgs,
    ask: bool,
    home: &Home,
) -> Result<Outcome, Error> {
    let observation = locate::observe_all(&global.target(), scope.namespace(), home).await?;
    let state = home.load()?;
    let connection = &observation.connection;
    let server = connection.server.as_str();
    let planned = plan(&observation.observed, &state, server);
    let elsewhere = locate::recorded_elsewhere(&state, server, &observation.namespaces);
    let not_looked_in = observation.not_looked_in.clone();
    for place in &not_looked_in {
        eprintln!("warning: not looked in namespace {place}; decoys there are left alone");
    }
    let mut report = SeveralReport {
        schema_version: 1,
        server: server.to_string(),
        dry_run: global.dry_run,
        namespaces: observation.namespaces.clone(),
        decoys: Vec::new(),
        not_looked_in: not_looked_in.clone(),
        recorded_elsewhere: elsewhere.clone(),
    };
    let deleting = planned
        .iter()
        .filter(|p| matches!(p.decision, Decision::Delete(_)))
        .count();
    if global.dry_run {
        for p in &planned {
            let (result, objects, reason) = match &p.decision {
                Decision::Delete(deletions) => (Removal::WouldRemove, deletions.clone(), None),
                Decision::Nothing => (Removal::NothingToRemove, Vec::new(), None),
                Decision::Refuse(why) => (Removal::Refused, Vec::new(), Some(refusal(p, why))),
            };
            report.decoys.push(row(p, result, objects, reason));
        }
        match output::structured(global.output, &report)? {
            Some(text) => print!("{text}"),
            None => {
                print!("{}", plan_text(&planned, "would be deleted"));
                if planned.is_empty() {
                    println!(
                        "no decoy of this key in namespace(s) {}; nothing to remove",
                        observation.namespaces.join(", ")
                    );
                }
                println!("(dry run: nothing was deleted)");
            }
        }
        return finish(&report);
    }
    if ask && deleting > 0 {
        eprintln!(
            "Cluster: {} (context {})",
            connection.server, connection.context
        );
        eprint!("{}", plan_text(&planned, "will be deleted"));
        let question = if deleting == 1 {
            "Remove this decoy?".to_string()
        } else {
            format!("Remove these {deleting} decoys?")
        };
        if !prompt::confirm(&question)? {
            return Err(Error::Declined("nothing was deleted".into()));
        }
    }
    for p in &planned {
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
    match output::structured(global.output, &report)? {
        Some(text) => print!("{text}"),
        None => print!("{}", several_text(&report)),
    }
    if report.decoys.is_empty() {
        tell_elsewhere(
            &elsewhere,
            &format!("namespace(s) {}", observation.namespaces.join(", ")),
        );
    }
    finish(&report)
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
        let result = if decoy.result.succeeded() {
            console::style(decoy.result.as_str()).green().to_string()
        } else {
            console::style(decoy.result.as_str())
                .red()
                .bold()
                .to_string()
        };
        table.add_row(vec![
            format!("{}/{}", decoy.namespace, decoy.service_account),
            decoy.profile.clone(),
            decoy.objects.len().to_string(),
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

/// The decoy's namespace is gone, and everything in it: forget the record, if any.
async fn namespace_gone(
    global: &GlobalArgs,
    home: &Home,
    namespace: &str,
    account: &str,
) -> Result<Outcome, Error> {
    let connection = crate::cluster::connect::connect(&global.target()).await?;
    forget(home, namespace, account, &connection.server)?;
    let report = RemoveReport {
        result: "nothingToRemove",
        namespace: namespace.to_string(),
        service_account: account.to_string(),
        objects: Vec::new(),
    };
    match output::structured(global.output, &report)? {
        Some(text) => print!("{text}"),
        None => println!(
            "namespace {namespace} does not exist, so neither does decoy {namespace}/{account}; nothing to remove"
        ),
    }
    Ok(Outcome::Success)
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
}
