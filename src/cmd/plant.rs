//! `plant`: decide what to create (pure), then create it in order, undoing this run's
//! work if any step fails.

use std::time::Duration;

use serde::Serialize;

use crate::cli::{GlobalArgs, OutputFormat, PlantArgs};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;

use crate::cluster::connect::{self, Connection};
use crate::cluster::locate::{self, KeyUse, Located, Selection};
use crate::cluster::{self, survey};
use crate::decoy::fit::{self, Fit};
use crate::decoy::profile::{self, Profile};
use crate::decoy::wanted;
use crate::decoy::{DecoySpec, Found, Ownership, bindings_naming, ownership, token_filled, uid_of};
use crate::error::Error;
use crate::exit::Outcome;
use crate::home::{Home, PlantedRecord};
use crate::ui::output;

use crate::ui::prompt;
use crate::ui::terminal::Terminal;

mod fleet;

/// What `plant` will do about one decoy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Make what is missing, in order: for a decoy not there at all, both objects; for one
    /// a run left half-made, the rest.
    Make(Steps),
    AlreadyPlanted,
    /// Something not made by `plant` has the decoy's name, or what was planted was
    /// replaced.
    Refuse(String),
}

/// The steps a run takes, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Steps {
    /// Delete the decoy's token Secret, left without its account (the token controller
    /// would delete it anyway, and a new account gets a new UID).
    pub delete_orphan_secret: bool,
    pub create_account: bool,
    pub create_secret: bool,
}

impl Steps {
    const ALL: Steps = Steps {
        delete_orphan_secret: false,
        create_account: true,
        create_secret: true,
    };

    /// Whether this finishes an earlier run's work rather than starting afresh.
    pub fn resumes(&self) -> bool {
        *self != Steps::ALL
    }
}

pub fn decide(spec: &DecoySpec, found: &Found, record: Option<&PlantedRecord>) -> Decision {
    match ownership(spec, found, record) {
        Ownership::Absent => Decision::Make(Steps::ALL),
        Ownership::Foreign(why) => Decision::Refuse(why),
        Ownership::Replaced(why) => Decision::Refuse(format!(
            "{why}; the decoy is broken and its objects are left as they are (see kubectl \
             honeytoken status)"
        )),
        Ownership::Ours => match (&found.account, &found.secret) {
            (Some(_), Some(secret)) if token_filled(secret) => Decision::AlreadyPlanted,
            (Some(_), Some(_)) => Decision::Make(Steps {
                delete_orphan_secret: false,
                create_account: false,
                create_secret: false,
            }),
            (Some(_), None) => Decision::Make(Steps {
                delete_orphan_secret: false,
                create_account: false,
                create_secret: true,
            }),
            (None, secret) => Decision::Make(Steps {
                delete_orphan_secret: secret.is_some(),
                create_account: true,
                create_secret: true,
            }),
        },
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedObject {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PlantResult {
    Planned,
    Planted,
    AlreadyPlanted,
}

/// What `plant` did or would do, for people and for `-o json|yaml`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlantReport {
    pub result: PlantResult,
    pub profile: &'static str,
    pub namespace: String,
    pub service_account: String,
    pub secret: String,
    /// The user name requests with the decoy token carry: what alerts match on.
    pub username: String,
    pub objects: Vec<PlannedObject>,
    /// Always "none": the decoy is never granted anything.
    pub rbac: &'static str,
    /// Commands to run next, as they would be typed (no comments, no padding).
    pub next_steps: Vec<NextStep>,
    pub rules_tripped_by_planting: Vec<String>,
    /// How well the profile fits this cluster, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fit: Option<Fit>,
}

/// Labels, annotations and field manager in a few words (kubectl's record of an applied
/// object is named, not shown).
fn metadata_words(
    labels: &std::collections::BTreeMap<String, String>,
    annotations: &std::collections::BTreeMap<String, String>,
    last_applied: bool,
    field_manager: &str,
) -> String {
    let pairs = |map: &std::collections::BTreeMap<String, String>| {
        map.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut words = Vec::new();
    words.push(if labels.is_empty() {
        "no labels".to_string()
    } else {
        format!("labels {}", pairs(labels))
    });
    if !annotations.is_empty() {
        words.push(format!("annotations {}", pairs(annotations)));
    }
    if last_applied {
        words.push("kubectl apply's last-applied-configuration".to_string());
    }
    words.push(format!("field manager {field_manager}"));
    words.join("; ")
}

pub fn planned_objects(spec: &DecoySpec) -> Vec<PlannedObject> {
    let shape = spec.shape;
    vec![
        PlannedObject {
            kind: "ServiceAccount",
            namespace: spec.namespace.clone(),
            name: spec.account.clone(),
            description: format!(
                "{}; lists no Secrets, so the legacy token cleaner never removes its token",
                metadata_words(
                    &spec.meta.account_labels,
                    &spec.meta.account_annotations,
                    shape.service_account.last_applied,
                    spec.account_field_manager()
                )
            ),
            uid: None,
        },
        PlannedObject {
            kind: "Secret",
            namespace: spec.namespace.clone(),
            name: spec.secret.clone(),
            description: format!(
                "type kubernetes.io/service-account-token for service account {}{}; {}; the token controller fills in a long-lived token",
                spec.account,
                if shape.secret.owner_reference {
                    ", which owns it"
                } else {
                    ""
                },
                metadata_words(
                    &spec.meta.secret_labels,
                    &spec.meta.secret_annotations,
                    shape.secret.last_applied,
                    spec.secret_field_manager()
                )
            ),
            uid: None,
        },
    ]
}

/// Stock detection rules that fire on the plant itself, so nobody is surprised by them.
pub fn rules_tripped_by_planting(spec: &DecoySpec) -> Vec<String> {
    let mut rules = Vec::new();
    if matches!(spec.namespace.as_str(), "kube-system" | "kube-public") {
        rules.push(format!(
            "Falco k8s_audit \"Service Account Created in Kube Namespace\" (service account {} created in {})",
            spec.account, spec.namespace
        ));
    }
    rules.push("Falco k8s_audit \"K8s Serviceaccount Created\" (if enabled)".to_string());
    rules.push("Falco k8s_audit \"K8s Secret Created\" (if enabled)".to_string());
    rules
}

/// The flags that name this decoy to `verify` and `test-trigger`, beyond the profile's
/// defaults.
fn selection_flags(spec: &DecoySpec) -> Vec<String> {
    let shape = spec.shape;
    let mut flags = Vec::new();
    if shape.name != profile::default_profile().name {
        flags.extend(["--profile".to_string(), shape.name.clone()]);
    }
    if spec.namespace != shape.namespace {
        flags.extend(["-n".to_string(), spec.namespace.clone()]);
    }
    if spec.account != shape.service_account.name {
        flags.extend(["--name".to_string(), spec.account.clone()]);
    }
    flags
}

/// The flags that chose the cluster (kubeconfig, context, cluster, user; a fleet's
/// contexts), as the command line gave them, so that a follow-up command talks to the same
/// cluster. Pure.
pub fn connection_flags(global: &GlobalArgs) -> Vec<String> {
    let mut flags = Vec::new();
    if let Some(path) = &global.kubeconfig {
        flags.extend(["--kubeconfig".to_string(), path.display().to_string()]);
    }
    if !global.context.is_empty() {
        flags.extend(["--context".to_string(), global.context.join(",")]);
    }
    if global.all_contexts {
        flags.push("--all-contexts".to_string());
    }
    for skip in &global.skip_context {
        flags.extend(["--skip-context".to_string(), skip.clone()]);
    }
    if let Some(cluster) = &global.cluster {
        flags.extend(["--cluster".to_string(), cluster.clone()]);
    }
    if let Some(user) = &global.user {
        flags.extend(["--user".to_string(), user.clone()]);
    }
    if let Some(server) = &global.server {
        flags.extend(["--server".to_string(), server.clone()]);
    }
    if let Some(ca) = &global.certificate_authority {
        flags.extend([
            "--certificate-authority".to_string(),
            ca.display().to_string(),
        ]);
    }
    if global.insecure_skip_tls_verify {
        flags.push("--insecure-skip-tls-verify".to_string());
    }
    if let Some(user) = &global.impersonate {
        flags.extend(["--as".to_string(), user.clone()]);
    }
    for group in &global.impersonate_group {
        flags.extend(["--as-group".to_string(), group.clone()]);
    }
    if let Some(uid) = &global.impersonate_uid {
        flags.extend(["--as-uid".to_string(), uid.clone()]);
    }
    if let Some(timeout) = global.request_timeout {
        let shown = if timeout.subsec_millis() == 0 {
            format!("{}s", timeout.as_secs())
        } else {
            format!("{}ms", timeout.as_millis())
        };
        flags.extend(["--request-timeout".to_string(), shown]);
    }
    flags
}

/// A word as a POSIX shell reads it back: as it is when it holds nothing the shell would
/// act on, else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// One command to run next: the command itself (what `-o json|yaml` carries in
/// `nextSteps`, ready to paste) and what it is for (shown beside it on a terminal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextStep {
    pub command: String,
    pub purpose: &'static str,
}

impl Serialize for NextStep {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.command)
    }
}

/// What to run after planting, with the flags that name this decoy (`--profile`, `-n`,
/// `--name`, where they are not the defaults) and the ones that chose the cluster. `status`
/// gets no `-n`: without it, it looks in every profile's namespace and every namespace
/// this workstation planted in, so it reports this decoy beside the others. Pure.
pub fn next_steps(spec: &DecoySpec, connection: &[String]) -> Vec<NextStep> {
    let command = |verb: &str, flags: &[String]| {
        std::iter::once(format!("kubectl honeytoken {verb}"))
            .chain(connection.iter().chain(flags).map(|f| shell_word(f)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let selection = selection_flags(spec);
    let mut trigger = selection.clone();
    trigger.extend(["--audit-log".to_string(), "FILE".to_string()]);
    vec![
        NextStep {
            command: command("verify", &selection),
            purpose: "would the audit log record the token's use?",
        },
        NextStep {
            command: command("test-trigger", &trigger),
            purpose: "use the token once, as a drill, and see its audit events arrive (FILE: the API server's audit log)",
        },
        NextStep {
            command: command("status", &[]),
            purpose: "armed, drilled, TRIPPED or broken, for every decoy, this one included; run it from cron",
        },
    ]
}

/// The next steps, each with its purpose as a comment, the comments lined up.
fn next_steps_text(steps: &[NextStep]) -> String {
    let width = steps.iter().map(|s| s.command.len()).max().unwrap_or(0);
    steps
        .iter()
        .map(|s| format!("  {:<width$}   # {}\n", s.command, s.purpose))
        .collect()
}

pub fn report(
    spec: &DecoySpec,
    result: PlantResult,
    objects: Vec<PlannedObject>,
    fit: Fit,
    connection: &[String],
) -> PlantReport {
    PlantReport {
        result,
        profile: spec.profile,
        namespace: spec.namespace.clone(),
        service_account: spec.account.clone(),
        secret: spec.secret.clone(),
        username: spec.username(),
        objects,
        rbac: "none",
        next_steps: next_steps(spec, connection),
        rules_tripped_by_planting: rules_tripped_by_planting(spec),
        fit: Some(fit),
    }
}

/// Where an object is, in a line of the plan: a namespace is nowhere.
fn where_(object: &PlannedObject) -> String {
    if object.kind == "Namespace" {
        String::new()
    } else {
        format!(" in namespace {}", object.namespace)
    }
}

/// The plan in kubectl's words, for a person to read before saying yes.
pub fn plan_text(report: &PlantReport) -> String {
    let verb = match report.result {
        PlantResult::Planned => "will be created",
        PlantResult::Planted => "created",
        PlantResult::AlreadyPlanted => "already present",
    };
    let mut text = String::new();
    for object in &report.objects {
        let uid = object
            .uid
            .as_ref()
            .map(|uid| format!(" (uid {uid})"))
            .unwrap_or_default();
        text.push_str(&format!(
            "{}/{} {verb}{}{uid}\n    {}\n",
            object.kind.to_lowercase(),
            object.name,
            where_(object),
            object.description
        ));
    }
    text.push_str(
        "RBAC: none. No Role, RoleBinding, ClusterRole or ClusterRoleBinding is created: the \
         token authenticates as ",
    );
    text.push_str(&report.username);
    text.push_str(
        " and may do nothing, so every use is denied (403) and audited under that name.\n",
    );
    text
}

/// What was created, in kubectl's words; the plan's details were shown before.
fn created_text(report: &PlantReport) -> String {
    let mut text = String::new();
    for object in &report.objects {
        text.push_str(&format!(
            "{}/{} created{} (uid {})\n",
            object.kind.to_lowercase(),
            object.name,
            where_(object),
            object.uid.as_deref().unwrap_or("?")
        ));
    }
    text.push_str(&format!(
        "token filled; RBAC: none ({} may do nothing)\n",
        report.username
    ));
    text
}

fn follow_up_text(report: &PlantReport) -> String {
    let mut text = String::from("\nNext:\n");
    text.push_str(&next_steps_text(&report.next_steps));
    text.push_str("\nPlanting itself trips these stock rules; expect them now, once:\n");
    for rule in &report.rules_tripped_by_planting {
        text.push_str(&format!("  - {rule}\n"));
    }
    text
}

/// How much of a profile or decoy list file is read: far more than any real one.
const FILE_LIMIT: u64 = 1 << 20;

/// Reads and checks a profile of the operator's own.
fn profile_file(path: &std::path::Path) -> Result<&'static Profile, String> {
    let text = crate::input::read_text(path, FILE_LIMIT, "profile").map_err(|e| e.to_string())?;
    profile::parse(&text)
        .and_then(profile::adopt)
        .map_err(|e| e.to_string())
}

/// What the command line asks to plant, checked before anything is read from the cluster.
/// Empty when it names no profile (then the wizard asks, or the default is planted).
fn requested(args: &PlantArgs, global: &GlobalArgs) -> Result<Vec<Selection>, Error> {
    let namespace = global.namespace.as_deref();
    let name = args.name.as_deref();
    let mut selections = Vec::new();
    for profile in &args.profile {
        selections.push(Selection::of(
            locate::profile_named(Some(profile))?,
            namespace,
            name,
        ));
    }
    for path in &args.profile_file {
        let profile = profile_file(path)
            .map_err(|e| Error::Invalid(format!("--profile-file {}: {e}", path.display())))?;
        selections.push(Selection::of(profile, namespace, name));
    }
    if let Some(path) = &args.filename {
        let invalid = |why: String| Error::Invalid(format!("-f {}: {why}", path.display()));
        let text = crate::input::read_text(path, FILE_LIMIT, "decoy list")
            .map_err(|e| invalid(e.to_string()))?;
        let folder = path.parent().unwrap_or(std::path::Path::new("."));
        for wanted in wanted::parse_list(&text, folder).map_err(|e| invalid(e.to_string()))? {
            let profile = match (&wanted.profile, &wanted.profile_file) {
                (Some(name), _) => locate::profile_named(Some(name))?,
                (None, Some(file)) => profile_file(file)
                    .map_err(|e| invalid(format!("profile file {}: {e}", file.display())))?,
                (None, None) => unreachable!("parse_list checks every entry"),
            };
            selections.push(Selection::of(
                profile,
                wanted.namespace.as_deref().or(namespace),
                wanted.name.as_deref().or(name),
            ));
        }
    }
    // The default decoy's names are checked here too, before the cluster is asked anything
    // (the wizard checks the names it is given).
    if selections.is_empty() {
        check_selections(&[Selection::of(profile::default_profile(), namespace, name)])?;
    }
    if name.is_some() && selections.len() > 1 {
        return Err(Error::Invalid(
            "--name names one decoy, and this plants several: give each its name in a list \
             (-f), or plant them one at a time"
                .into(),
        ));
    }
    check_selections(&selections)?;
    Ok(selections)
}

/// Names the API server would refuse, and one decoy asked for twice.
fn check_selections(selections: &[Selection]) -> Result<(), Error> {
    let mut seen = std::collections::BTreeSet::new();
    for selection in selections {
        wanted::check_place(Some(&selection.namespace), Some(&selection.account))
            .map_err(Error::Invalid)?;
        wanted::check_secret_name(
            &selection.account,
            &selection.profile.fill(&selection.account, "xxxxx").secret,
        )
        .map_err(Error::Invalid)?;
        if !seen.insert((&selection.namespace, &selection.account)) {
            return Err(Error::Invalid(format!(
                "decoy {}/{} is asked for twice",
                selection.namespace, selection.account
            )));
        }
    }
    Ok(())
}

/// The wizard: the profiles with their fit, the best preselected, then where and under
/// what name.
fn ask(
    fits: &[(&'static Profile, Fit)],
    global: &GlobalArgs,
    name: Option<&str>,
) -> Result<Selection, Error> {
    let best = fit::best(&fits.iter().map(|(_, f)| f.clone()).collect::<Vec<_>>())
        .map(|b| b.profile.clone());
    let width = fits.iter().map(|(p, _)| p.name.len()).max().unwrap_or(0);
    // The reasons first, wrapped, then a list short enough for one line a profile.
    for (profile, fit) in fits {
        eprintln!(
            "  {:<width$}  {}: {}",
            profile.name,
            fit.grade,
            fit.reasons.join("; ")
        );
    }
    let items: Vec<String> = fits
        .iter()
        .map(|(profile, fit)| {
            format!(
                "{:<width$}  {:<8}  {}",
                profile.name,
                fit.grade.to_string(),
                profile.summary
            )
        })
        .collect();
    let default = fits
        .iter()
        .position(|(p, _)| Some(&p.name) == best.as_ref())
        .unwrap_or(0);
    let index = prompt::choose("Decoy profile (fit to this cluster)", &items, default)?;
    let profile = fits[index].0;
    let namespace = match &global.namespace {
        Some(ns) => ns.clone(),
        None => prompt::text("Namespace", &profile.namespace)?,
    };
    let account = match name {
        Some(name) => name.to_string(),
        None => prompt::text("Service account name", &profile.service_account.name)?,
    };
    let selection = Selection {
        profile,
        namespace,
        account,
    };
    check_selections(std::slice::from_ref(&selection))?;
    Ok(selection)
}

/// One decoy's plan: what the cluster holds under its names, what to do, and its fit.
struct Planned {
    located: Located,
    decision: Decision,
    fit: Fit,
    /// Its namespace does not exist, and this run creates it first.
    create_namespace: bool,
}

/// What `plant` does about a decoy's namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceStep {
    Exists,
    /// Missing, and `--create-namespace` (or a yes in the wizard) says to create it.
    Create,
    /// Missing, and nothing says to create it: ask on a terminal, else refuse.
    Missing,
}

/// Pure.
pub fn namespace_step(exists: bool, create: bool) -> NamespaceStep {
    match (exists, create) {
        (true, _) => NamespaceStep::Exists,
        (false, true) => NamespaceStep::Create,
        (false, false) => NamespaceStep::Missing,
    }
}

/// How a run may treat a missing namespace: create it (`--create-namespace`), or ask
/// (the wizard, on a terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NamespacePolicy {
    pub create: bool,
    pub ask: bool,
}

/// A decoy's namespace that does not exist, said before anything is made. Pure.
pub fn missing_namespace(namespace: &str) -> Error {
    Error::Invalid(format!(
        "namespace {namespace} does not exist, so the decoy cannot be planted there; nothing \
         was created. Create it first (kubectl create namespace {namespace}), pass \
         --create-namespace to have plant create it, or choose another namespace with -n"
    ))
}

/// The namespace as a line of the plan.
fn namespace_object(namespace: &str, uid: Option<String>) -> PlannedObject {
    PlannedObject {
        kind: "Namespace",
        namespace: namespace.to_string(),
        name: namespace.to_string(),
        description: "the decoy's namespace, made as `kubectl create namespace` makes it (its \
                      name alone, field manager kubectl-create); it stays when the decoy is \
                      removed"
            .to_string(),
        uid,
    }
}

/// Looks a decoy up and decides; a profile whose real installer is here, or an account
/// someone already granted something, is refused before anything is made.
/// `cluster_bindings` holds the cluster role bindings once listed, so that several decoys
/// cost one list. What could not be checked is added to `warnings`.
#[allow(clippy::too_many_arguments)]
async fn plan_one(
    connection: &Connection,
    selection: &Selection,
    fit: Fit,
    home: &Home,
    key_use: KeyUse,
    namespaces: NamespacePolicy,
    cluster_bindings: &mut Option<Vec<ClusterRoleBinding>>,
    warnings: &mut Vec<String>,
) -> Result<Planned, Error> {
    let exists = cluster::namespace_uid_if_exists(&connection.client, &selection.namespace)
        .await?
        .is_some();
    let create_namespace = match namespace_step(exists, namespaces.create) {
        NamespaceStep::Exists => false,
        NamespaceStep::Create => true,
        NamespaceStep::Missing => {
            let question = format!(
                "Namespace {} does not exist. Create it (as kubectl create namespace does)?",
                selection.namespace
            );
            if namespaces.ask && prompt::confirm(&question)? {
                true
            } else {
                return Err(missing_namespace(&selection.namespace));
            }
        }
    };
    let located = if create_namespace {
        locate::locate_unborn(connection.clone(), selection, home, key_use)?
    } else {
        locate::locate_on(connection.clone(), selection, home, key_use).await?
    };
    let mut decision = decide(&located.spec, &located.found, located.record.as_ref());
    if matches!(decision, Decision::Make(_)) {
        if fit.grade == fit::Grade::Conflict {
            decision = Decision::Refuse(format!(
                "the {} profile conflicts with this cluster: {}",
                selection.profile.name,
                fit.reasons.join("; ")
            ));
        } else {
            let client = &connection.client;
            // Bindings the operator may not list cannot be checked here; `status` reports
            // any that grant the decoy something (DANGER).
            fn readable<T>(
                listed: Result<Vec<T>, cluster::ClusterError>,
                username: &str,
                warnings: &mut Vec<String>,
            ) -> Result<Vec<T>, cluster::ClusterError> {
                match listed {
                    Ok(bindings) => Ok(bindings),
                    Err(error) if error.is_forbidden() => {
                        warnings.push(format!(
                            "{error}; plant cannot check that nothing already grants \
                             {username} something (status will)"
                        ));
                        Ok(Vec::new())
                    }
                    Err(error) => Err(error),
                }
            }
            let username = located.spec.username();
            if cluster_bindings.is_none() {
                *cluster_bindings = Some(readable(
                    cluster::cluster_role_bindings(client).await,
                    &username,
                    warnings,
                )?);
            }
            let granted = bindings_naming(
                &selection.namespace,
                &selection.account,
                // A namespace this run creates holds no bindings yet.
                &if create_namespace {
                    Vec::new()
                } else {
                    readable(
                        cluster::role_bindings(client, &selection.namespace).await,
                        &username,
                        warnings,
                    )?
                },
                cluster_bindings.as_deref().unwrap_or_default(),
            );
            if !granted.is_empty() {
                decision = Decision::Refuse(format!(
                    "{} already grants {} something, so a decoy by that name would hold it",
                    granted.join(", "),
                    located.spec.username()
                ));
            }
        }
    }
    Ok(Planned {
        located,
        decision,
        fit,
        create_namespace,
    })
}

/// The fits of every known profile, in the order of preference.
fn fits_of(facts: &fit::ClusterFacts) -> Vec<(&'static Profile, Fit)> {
    profile::all()
        .into_iter()
        .map(|p| (p, fit::judge(p, facts)))
        .collect()
}

fn fit_for(fits: &[(&'static Profile, Fit)], profile: &Profile) -> Fit {
    fits.iter()
        .find(|(p, _)| p.name == profile.name)
        .map(|(_, f)| f.clone())
        .expect("every known profile is judged")
}

/// Without a terminal nobody saw the fit: a poor one is said on stderr, with a better
/// profile when there is one.
fn warn_of_poor_fit(fits: &[(&'static Profile, Fit)], fit: &Fit) {
    if let Some(warning) = poor_fit_warning(fits, fit) {
        eprintln!("warning: {warning}");
    }
}

/// What to say of a poor fit, naming a better profile when there is one. Pure.
fn poor_fit_warning(fits: &[(&'static Profile, Fit)], fit: &Fit) -> Option<String> {
    if fit.grade != fit::Grade::Poor {
        return None;
    }
    let all: Vec<Fit> = fits.iter().map(|(_, f)| f.clone()).collect();
    let better = fit::best(&all)
        .filter(|b| b.grade > fit.grade)
        .map(|b| format!("; the {} profile fits better ({})", b.profile, b.summary()))
        .unwrap_or_default();
    Some(format!(
        "the {} profile fits this cluster poorly ({}){better}",
        fit.profile,
        fit.reasons.join("; ")
    ))
}

/// The profile the wizard preselects: the best fit, or the default when none fits.
fn best_profile(fits: &[(&'static Profile, Fit)]) -> &'static Profile {
    let all: Vec<Fit> = fits.iter().map(|(_, f)| f.clone()).collect();
    fit::best(&all)
        .and_then(|best| fits.iter().find(|(p, _)| p.name == best.profile))
        .map_or_else(profile::default_profile, |(p, _)| *p)
}

/// `plant --list-profiles`: every profile, its fit and where it comes from.
fn list_profiles(
    global: &GlobalArgs,
    facts: &fit::ClusterFacts,
    fits: &[(&'static Profile, Fit)],
) -> Result<Outcome, Error> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Row<'a> {
        name: &'a str,
        namespace: &'a str,
        service_account: &'a str,
        secret: String,
        summary: &'a str,
        era: String,
        fit: &'a Fit,
        source: &'a str,
        leaves_out: &'a str,
    }
    let rows: Vec<Row> = fits
        .iter()
        .map(|(p, fit)| Row {
            name: &p.name,
            namespace: &p.namespace,
            service_account: &p.service_account.name,
            secret: p.fill(&p.service_account.name, "xxxxx").secret,
            summary: &p.summary,
            era: match p.era.until {
                Some(until) => format!("{}-{until}", p.era.from),
                None => format!("{}-", p.era.from),
            },
            fit,
            source: &p.source,
            leaves_out: &p.leaves_out,
        })
        .collect();
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Document<'a> {
        schema_version: u32,
        cluster: String,
        profiles: Vec<Row<'a>>,
    }
    let document = Document {
        schema_version: 1,
        cluster: facts.describe(),
        profiles: rows,
    };
    match output::structured(global.output, &document)? {
        Some(text) => print!("{text}"),
        None => {
            println!("Cluster: {}", document.cluster);
            for row in &document.profiles {
                println!(
                    "\n{}  {}  {}/{} (Secret {}), era {}\n  {}\n  fit: {}",
                    row.name,
                    row.fit.grade,
                    row.namespace,
                    row.service_account,
                    row.secret,
                    row.era,
                    row.summary,
                    row.fit.reasons.join("; ")
                );
            }
        }
    }
    Ok(Outcome::Success)
}

pub async fn run(
    args: &PlantArgs,
    global: &GlobalArgs,
    terminal: Terminal,
    home: &Home,
) -> Result<Outcome, Error> {
    let mut selections = requested(args, global)?;
    if let Some(fleet) = global.fleet()? {
        if args.list_profiles {
            return Err(Error::Invalid(
                "--list-profiles shows the fit to one cluster; pass one --context".into(),
            ));
        }
        if args.create_namespace {
            return Err(Error::Invalid(
                "--create-namespace creates a namespace in one cluster; pass one --context (or \
                 create the namespace in each cluster first)"
                    .into(),
            ));
        }
        return fleet::run(args, global, terminal, home, &fleet, selections).await;
    }
    let interactive = !args.list_profiles
        && prompt::will_ask(
            terminal,
            global.yes,
            global.dry_run,
            "plant creates objects in the cluster",
        )?;
    let connection = connect::connect(&global.target()).await?;
    let facts = survey::cluster_facts(&connection.client, &fit::queries(profile::all())).await;
    let fits = fits_of(&facts);
    if args.list_profiles {
        return list_profiles(global, &facts, &fits);
    }
    if selections.is_empty() {
        selections.push(if interactive && !global.dry_run {
            eprintln!(
                "Cluster: {} (context {}), {}",
                connection.server,
                connection.context,
                facts.describe()
            );
            ask(&fits, global, args.name.as_deref())?
        } else {
            let selection = Selection::of(
                profile::default_profile(),
                global.namespace.as_deref(),
                args.name.as_deref(),
            );
            check_selections(std::slice::from_ref(&selection))?;
            selection
        });
    }
    if !interactive {
        for selection in &selections {
            warn_of_poor_fit(&fits, &fit_for(&fits, selection.profile));
        }
    }
    let namespaces = NamespacePolicy {
        create: args.create_namespace,
        ask: interactive && !global.dry_run,
    };
    // Only a real plant makes the key: a dry run shows names under a key of its own.
    let key_use = if global.dry_run {
        KeyUse::ExistingOrEphemeral
    } else {
        KeyUse::Create
    };
    if let [selection] = selections.as_slice() {
        let fit = fit_for(&fits, selection.profile);
        let mut warnings = Vec::new();
        let planned = plan_one(
            &connection,
            selection,
            fit,
            home,
            key_use,
            namespaces,
            &mut None,
            &mut warnings,
        )
        .await;
        say_warnings(&warnings);
        return plant_one(args, global, interactive, home, planned?).await;
    }
    plant_several(
        args,
        global,
        interactive,
        home,
        &connection,
        &fits,
        &selections,
        key_use,
    )
    .await
}

/// One decoy, as `plant` has always done it: refusals and failures are the command's.
async fn plant_one(
    args: &PlantArgs,
    global: &GlobalArgs,
    interactive: bool,
    home: &Home,
    planned: Planned,
) -> Result<Outcome, Error> {
    let Planned {
        located,
        decision,
        fit,
        create_namespace,
    } = planned;
    let (connection, spec, found) = (&located.connection, &located.spec, &located.found);
    let client = &connection.client;
    let record = located.record.as_ref();

    match decision {
        Decision::Refuse(why) => Err(refusal(spec, &why)),
        Decision::AlreadyPlanted => {
            let objects = objects_with_uids(spec, found);
            complete_record(home, &located)?;
            let report = report(
                spec,
                PlantResult::AlreadyPlanted,
                objects,
                fit,
                &connection_flags(global),
            );
            match output::structured(global.output, &report)? {
                Some(text) => print!("{text}"),
                None => println!(
                    "decoy {}/{} is already planted (Secret {}); nothing changed",
                    spec.namespace, spec.account, spec.secret
                ),
            }
            Ok(Outcome::Success)
        }
        Decision::Make(steps) if global.dry_run => {
            let report = report(
                spec,
                PlantResult::Planned,
                planned_objects_in(spec, create_namespace),
                fit,
                &connection_flags(global),
            );
            match global.output {
                OutputFormat::Yaml => print!(
                    "{}",
                    output::yaml_documents(&manifests(&located, create_namespace))?
                ),
                OutputFormat::Json => print!(
                    "{}",
                    output::structured(OutputFormat::Json, &report)?.unwrap_or_default()
                ),
                OutputFormat::Table | OutputFormat::Wide => {
                    print!("{}", plan_text(&report));
                    if steps.resumes() {
                        println!(
                            "(an earlier plant of this decoy did not finish; this run would finish it)"
                        );
                    }
                    if create_namespace && spec.shape.keyed_secret_name() {
                        println!(
                            "(the Secret's last five characters come from the new namespace's UID: known once it is created)"
                        );
                    }
                    if located.ephemeral_key {
                        println!(
                            "(no key yet: the Secret's name above is an example; the first real plant makes the key, in {}, and the name)",
                            home.dir().display()
                        );
                    }
                    println!("(dry run: nothing was created)");
                }
            }
            Ok(Outcome::Success)
        }
        Decision::Make(steps) => {
            let planned = report(
                spec,
                PlantResult::Planned,
                planned_objects_in(spec, create_namespace),
                fit.clone(),
                &connection_flags(global),
            );
            if interactive {
                eprintln!(
                    "Cluster: {} (context {})",
                    connection.server, connection.context
                );
                eprint!("{}", plan_text(&planned));
                if steps.resumes() {
                    eprintln!(
                        "An earlier plant of this decoy did not finish; this run finishes it."
                    );
                }
                if !prompt::confirm("Plant this decoy?")? {
                    return Err(Error::Declined("nothing was created".into()));
                }
            }
            let timeout = Duration::from_secs(args.timeout);
            let (spec, made, namespace_uid) = if create_namespace {
                let (located, uid) = make_namespace_and_locate(&located, home).await?;
                let made = make_in_new_namespace(&located, home, &uid, timeout).await?;
                (located.spec, made, Some(uid))
            } else {
                let made = make(
                    client,
                    home,
                    &connection.server,
                    spec,
                    found,
                    record,
                    steps,
                    timeout,
                )
                .await?;
                (spec.clone(), made, None)
            };
            let spec = &spec;
            let mut objects = objects_with_uids(spec, &made);
            if let Some(uid) = namespace_uid {
                objects.insert(0, namespace_object(&spec.namespace, Some(uid)));
            }
            let report = report(
                spec,
                PlantResult::Planted,
                objects,
                fit,
                &connection_flags(global),
            );
            match output::structured(global.output, &report)? {
                Some(text) => print!("{text}"),
                None => {
                    if interactive {
                        print!("{}", created_text(&report));
                    } else {
                        // Nobody saw the plan: say what the objects are, not only their names.
                        print!("{}", plan_text(&report));
                    }
                    print!("{}", follow_up_text(&report));
                }
            }
            Ok(Outcome::Success)
        }
    }
}

/// The objects a plan makes: the decoy's, after its namespace when this run creates it.
fn planned_objects_in(spec: &DecoySpec, create_namespace: bool) -> Vec<PlannedObject> {
    let mut objects = planned_objects(spec);
    if create_namespace {
        objects.insert(0, namespace_object(&spec.namespace, None));
    }
    objects
}

/// Creates the decoy's namespace (the first thing this run makes), then looks the decoy up
/// again there: its keyed Secret name comes from the new namespace's UID. Returns the
/// namespace's UID. If the look-up fails, the namespace is deleted again.
async fn make_namespace_and_locate(
    unborn: &Located,
    home: &Home,
) -> Result<(Located, String), Error> {
    let connection = &unborn.connection;
    let spec = &unborn.spec;
    let namespace = cluster::create_namespace(&connection.client, &spec.namespace).await?;
    let uid = uid_of(&namespace.metadata).unwrap_or_default().to_string();
    let selection = Selection {
        profile: spec.shape,
        namespace: spec.namespace.clone(),
        account: spec.account.clone(),
    };
    match locate::locate_on(connection.clone(), &selection, home, KeyUse::Create).await {
        Ok(located) => Ok((located, uid)),
        Err(error) => {
            let leftovers = delete_new_namespace(&connection.client, &spec.namespace, &uid).await;
            Err(Error::Rollback {
                error: Box::new(error.into()),
                leftovers,
            })
        }
    }
}

/// Plants a decoy in the namespace this run just created; if that fails, the namespace
/// goes again with what was made in it.
async fn make_in_new_namespace(
    located: &Located,
    home: &Home,
    namespace_uid: &str,
    timeout: Duration,
) -> Result<Found, Error> {
    let connection = &located.connection;
    let spec = &located.spec;
    let made = match decide(spec, &located.found, located.record.as_ref()) {
        Decision::Make(steps) => {
            make(
                &connection.client,
                home,
                &connection.server,
                spec,
                &located.found,
                located.record.as_ref(),
                steps,
                timeout,
            )
            .await
        }
        // A namespace made a moment ago holds nothing of the decoy's.
        Decision::AlreadyPlanted => return Ok(located.found.clone()),
        Decision::Refuse(why) => Err(refusal(spec, &why)),
    };
    let error = match made {
        Ok(made) => return Ok(made),
        Err(error) => error,
    };
    let gone = delete_new_namespace(&connection.client, &spec.namespace, namespace_uid).await;
    Err(match (error, gone) {
        (error, None) => error,
        (Error::Rollback { error, leftovers }, Some(left)) => Error::Rollback {
            error,
            leftovers: Some(join_leftovers(leftovers, left)),
        },
        (Error::Interrupted { signal, leftovers }, Some(left)) => Error::Interrupted {
            signal,
            leftovers: Some(join_leftovers(leftovers, left)),
        },
        (error, Some(left)) => Error::Rollback {
            error: Box::new(error),
            leftovers: Some(left),
        },
    })
}

fn join_leftovers(first: Option<String>, then: String) -> String {
    match first {
        Some(first) => format!("{first}; {then}"),
        None => then,
    }
}

/// Deletes a namespace this run created (by its UID); says what is left if it cannot.
async fn delete_new_namespace(client: &kube::Client, namespace: &str, uid: &str) -> Option<String> {
    match cluster::delete_namespace(client, namespace, uid).await {
        Ok(_) => None,
        Err(error) => Some(format!(
            "namespace {namespace} (uid {uid}), created by this run, is left: {error}; delete it \
             with kubectl delete namespace {namespace}"
        )),
    }
}

/// A decoy `plant` will not make, as the command's error.
fn refusal(spec: &DecoySpec, why: &str) -> Error {
    Error::Conflict(format!(
        "refusing to plant {}/{}: {why}. Nothing was changed; choose another name with --name or -n.",
        spec.namespace, spec.account
    ))
}

/// A run interrupted after the token was filled left its record unfinished: a complete
/// decoy found again completes it.
fn complete_record(home: &Home, located: &Located) -> Result<(), Error> {
    let record = located.record.as_ref();
    if record.is_some_and(|r| !r.complete) {
        home.update(|state| {
            state.record_planted(planted_record(
                &located.spec,
                &located.connection.server,
                &located.found,
                record,
                true,
            ))
        })?;
    }
    Ok(())
}

/// The manifests a decoy's plan would send (for `--dry-run -o yaml`), after its
/// namespace's when the run creates it.
fn manifests(located: &Located, create_namespace: bool) -> Vec<serde_json::Value> {
    let spec = &located.spec;
    let mut manifests = vec![
        serde_json::to_value(spec.account_manifest()).expect("manifest"),
        serde_json::to_value(spec.secret_manifest(located.found.account.as_ref()))
            .expect("manifest"),
    ];
    if create_namespace {
        let mut namespace =
            serde_json::to_value(cluster::namespace_manifest(&spec.namespace)).expect("manifest");
        namespace["apiVersion"] = "v1".into();
        namespace["kind"] = "Namespace".into();
        manifests.insert(0, namespace);
    }
    manifests
}

/// What happened to one decoy of several.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Failure {
    profile: String,
    namespace: String,
    service_account: String,
    error: String,
}

/// `-o json|yaml` of a plant of several decoys.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct PlantList {
    schema_version: u32,
    kind: &'static str,
    items: Vec<PlantReport>,
    failures: Vec<Failure>,
}

/// Several decoys: one plan, asked once; each decoy made on its own, so that a failure
/// leaves the others planted and is reported with them.
#[allow(clippy::too_many_arguments)]
async fn plant_several(
    args: &PlantArgs,
    global: &GlobalArgs,
    interactive: bool,
    home: &Home,
    connection: &Connection,
    fits: &[(&'static Profile, Fit)],
    selections: &[Selection],
    key_use: KeyUse,
) -> Result<Outcome, Error> {
    let mut plans = Vec::new();
    let mut failures = Vec::new();
    let failure = |selection: &Selection, error: String| Failure {
        profile: selection.profile.name.clone(),
        namespace: selection.namespace.clone(),
        service_account: selection.account.clone(),
        error,
    };
    let mut cluster_bindings = None;
    for selection in selections {
        let fit = fit_for(fits, selection.profile);
        let mut warnings = Vec::new();
        let planned = plan_one(
            connection,
            selection,
            fit,
            home,
            key_use,
            NamespacePolicy {
                create: args.create_namespace,
                ask: interactive && !global.dry_run,
            },
            &mut cluster_bindings,
            &mut warnings,
        )
        .await;
        say_warnings(&warnings);
        match planned {
            Ok(Planned {
                decision: Decision::Refuse(why),
                ..
            }) => failures.push(failure(selection, format!("refused: {why}"))),
            Ok(planned) => plans.push(planned),
            Err(error) => failures.push(failure(selection, crate::ui::causes::chain(&error))),
        }
    }
    let to_make = plans
        .iter()
        .filter(|p| matches!(p.decision, Decision::Make(_)))
        .count();
    let planned_report = |p: &Planned, result| {
        let objects = match result {
            PlantResult::AlreadyPlanted => objects_with_uids(&p.located.spec, &p.located.found),
            _ => planned_objects_in(&p.located.spec, p.create_namespace),
        };
        report(
            &p.located.spec,
            result,
            objects,
            p.fit.clone(),
            &connection_flags(global),
        )
    };
    let result_of = |p: &Planned| match p.decision {
        Decision::AlreadyPlanted => PlantResult::AlreadyPlanted,
        _ => PlantResult::Planned,
    };

    if global.dry_run || interactive {
        let mut text = format!(
            "Cluster: {} (context {})\n",
            connection.server, connection.context
        );
        for planned in &plans {
            let report = planned_report(planned, result_of(planned));
            text.push_str(&format!(
                "\n{} {}/{} (profile {}, fit {})\n",
                match report.result {
                    PlantResult::AlreadyPlanted => "Already planted:",
                    _ => "Decoy",
                },
                report.namespace,
                report.service_account,
                report.profile,
                planned.fit.summary()
            ));
            text.push_str(&plan_text(&report));
        }
        for failure in &failures {
            text.push_str(&format!(
                "\nNot planted: {}/{} (profile {}): {}\n",
                failure.namespace, failure.service_account, failure.profile, failure.error
            ));
        }
        if global.dry_run {
            match global.output {
                OutputFormat::Table | OutputFormat::Wide => {
                    println!("{text}(dry run: nothing was created)")
                }
                OutputFormat::Yaml => {
                    let documents: Vec<serde_json::Value> = plans
                        .iter()
                        .filter(|p| matches!(p.decision, Decision::Make(_)))
                        .flat_map(|p| manifests(&p.located, p.create_namespace))
                        .collect();
                    print!("{}", output::yaml_documents(&documents)?)
                }
                OutputFormat::Json => {
                    let list = PlantList {
                        schema_version: 1,
                        kind: "PlantList",
                        items: plans
                            .iter()
                            .map(|p| planned_report(p, result_of(p)))
                            .collect(),
                        failures: failures.clone(),
                    };
                    print!(
                        "{}",
                        output::structured(OutputFormat::Json, &list)?.unwrap_or_default()
                    )
                }
            }
            return finish(failures.len(), selections.len());
        }
        eprint!("{text}");
        if to_make > 0 && !prompt::confirm(&format!("Plant these {to_make} decoys?"))? {
            return Err(Error::Declined("nothing was created".into()));
        }
    }

    let mut reports = Vec::new();
    // Namespaces this run created (name, UID): one that ends up holding no decoy goes again.
    let mut created: Vec<(String, String)> = Vec::new();
    // A signal between two decoys stops the run there: those made stay planted.
    let mut between = Interruption::listen()?;
    for planned in plans {
        if let Some(signal) = futures::FutureExt::now_or_never(between.next()) {
            say_what_stays(&reports);
            return Err(Error::Interrupted {
                signal,
                leftovers: None,
            });
        }
        let spec = &planned.located.spec;
        match planned.decision {
            Decision::AlreadyPlanted | Decision::Refuse(_) => {
                reports.push(planned_report(&planned, PlantResult::AlreadyPlanted));
            }
            Decision::Make(steps) => {
                let timeout = Duration::from_secs(args.timeout);
                let made = if planned.create_namespace {
                    make_one_of_several_in_new_namespace(
                        &planned.located,
                        home,
                        &mut created,
                        timeout,
                    )
                    .await
                } else {
                    make(
                        &connection.client,
                        home,
                        &connection.server,
                        spec,
                        &planned.located.found,
                        planned.located.record.as_ref(),
                        steps,
                        timeout,
                    )
                    .await
                    .map(|made| (spec.clone(), made))
                };
                match made {
                    Ok((spec, made)) => reports.push(report(
                        &spec,
                        PlantResult::Planted,
                        objects_with_uids(&spec, &made),
                        planned.fit.clone(),
                        &connection_flags(global),
                    )),
                    // A signal stops the whole run: the decoys made so far stay planted.
                    Err(error @ Error::Interrupted { .. }) => {
                        say_what_stays(&reports);
                        remove_empty_new_namespaces(&connection.client, &created, &reports).await;
                        return Err(error);
                    }
                    Err(error) => failures.push(failure(
                        &Selection {
                            profile: spec.shape,
                            namespace: spec.namespace.clone(),
                            account: spec.account.clone(),
                        },
                        crate::ui::causes::chain(&error),
                    )),
                }
            }
        }
    }
    remove_empty_new_namespaces(&connection.client, &created, &reports).await;
    match output::structured(
        global.output,
        &PlantList {
            schema_version: 1,
            kind: "PlantList",
            items: reports.clone(),
            failures: failures.clone(),
        },
    )? {
        Some(text) => print!("{text}"),
        None => {
            for report in &reports {
                match report.result {
                    PlantResult::AlreadyPlanted => println!(
                        "decoy {}/{} is already planted (Secret {}); nothing changed",
                        report.namespace, report.service_account, report.secret
                    ),
                    _ if interactive => print!("{}", created_text(report)),
                    _ => print!("{}", plan_text(report)),
                }
            }
            for failure in &failures {
                println!(
                    "NOT PLANTED {}/{} (profile {}): {}",
                    failure.namespace, failure.service_account, failure.profile, failure.error
                );
            }
            if let Some(first) = reports.iter().find(|r| r.result == PlantResult::Planted) {
                print!("{}", follow_up_text(first));
            }
            println!(
                "\n{} of {} decoys planted or already there; {} not planted",
                reports.len(),
                selections.len(),
                failures.len()
            );
        }
    }
    finish(failures.len(), selections.len())
}

/// One of several decoys whose namespace did not exist: the first decoy there creates it,
/// the others find it made. Returns the decoy as planted (its Secret's name known now).
async fn make_one_of_several_in_new_namespace(
    unborn: &Located,
    home: &Home,
    created: &mut Vec<(String, String)>,
    timeout: Duration,
) -> Result<(DecoySpec, Found), Error> {
    let namespace = &unborn.spec.namespace;
    let located = match created.iter().find(|(name, _)| name == namespace) {
        Some(_) => {
            let selection = Selection {
                profile: unborn.spec.shape,
                namespace: namespace.clone(),
                account: unborn.spec.account.clone(),
            };
            locate::locate_on(unborn.connection.clone(), &selection, home, KeyUse::Create).await?
        }
        None => {
            let (located, uid) = make_namespace_and_locate(unborn, home).await?;
            created.push((namespace.clone(), uid));
            located
        }
    };
    let spec = &located.spec;
    match decide(spec, &located.found, located.record.as_ref()) {
        Decision::Make(steps) => make(
            &located.connection.client,
            home,
            &located.connection.server,
            spec,
            &located.found,
            located.record.as_ref(),
            steps,
            timeout,
        )
        .await
        .map(|made| (spec.clone(), made)),
        Decision::AlreadyPlanted => Ok((spec.clone(), located.found.clone())),
        Decision::Refuse(why) => Err(refusal(spec, &why)),
    }
}

/// Deletes the namespaces this run created in which no decoy got planted, so a run leaves
/// no empty namespace behind; says on stderr what it could not delete.
async fn remove_empty_new_namespaces(
    client: &kube::Client,
    created: &[(String, String)],
    reports: &[PlantReport],
) {
    for (namespace, uid) in created {
        if reports.iter().any(|r| &r.namespace == namespace) {
            continue;
        }
        if let Some(left) = delete_new_namespace(client, namespace, uid).await {
            eprintln!("warning: {left}");
        }
    }
}

fn say_warnings(warnings: &[String]) {
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
}

/// Before a signal's error (which speaks of the decoy being made): the decoys already
/// made stay.
fn say_what_stays(reports: &[PlantReport]) {
    let planted: Vec<String> = reports
        .iter()
        .filter(|r| r.result == PlantResult::Planted)
        .map(|r| format!("{}/{}", r.namespace, r.service_account))
        .collect();
    if !planted.is_empty() {
        eprintln!(
            "planted before the signal, and left planted: {}",
            planted.join(", ")
        );
    }
}

fn finish(failed: usize, of: usize) -> Result<Outcome, Error> {
    if failed == 0 {
        Ok(Outcome::Success)
    } else {
        Err(Error::CheckFailed(format!(
            "{failed} of {of} decoys were not planted (see above); the others are planted"
        )))
    }
}

fn objects_with_uids(spec: &DecoySpec, found: &Found) -> Vec<PlannedObject> {
    let mut objects = planned_objects(spec);
    objects[0].uid = found
        .account
        .as_ref()
        .and_then(|a| uid_of(&a.metadata))
        .map(String::from);
    objects[1].uid = found
        .secret
        .as_ref()
        .and_then(|s| uid_of(&s.metadata))
        .map(String::from);
    objects
}

/// The record of this decoy with the UIDs of what was found; the first plant's time is
/// kept.
fn planted_record(
    spec: &DecoySpec,
    server: &str,
    found: &Found,
    earlier: Option<&PlantedRecord>,
    complete: bool,
) -> PlantedRecord {
    let uid = |meta: Option<&kube::api::ObjectMeta>| {
        meta.and_then(uid_of).unwrap_or_default().to_string()
    };
    PlantedRecord {
        profile: spec.profile.to_string(),
        namespace: spec.namespace.clone(),
        account: spec.account.clone(),
        account_uid: uid(found.account.as_ref().map(|a| &a.metadata)),
        secret: spec.secret.clone(),
        secret_uid: uid(found.secret.as_ref().map(|s| &s.metadata)),
        server: server.to_string(),
        planted_at: earlier
            .map(|r| r.planted_at)
            .unwrap_or_else(jiff::Timestamp::now),
        complete,
        profile_definition: crate::decoy::profile::definition_to_record(spec.shape),
    }
}

/// Makes what `steps` says, recording intent before the first request and each UID as
/// it is learnt, so that a run cut short leaves a record that the next `plant`, `remove`
/// and `status` pick up. A failure, SIGINT or SIGTERM rolls back what this run made.
#[allow(clippy::too_many_arguments)]
async fn make(
    client: &kube::Client,
    home: &Home,
    server: &str,
    spec: &DecoySpec,
    before: &Found,
    record: Option<&PlantedRecord>,
    steps: Steps,
    timeout: Duration,
) -> Result<Found, Error> {
    let mut interrupted = Interruption::listen()?;
    let intent = planted_record(spec, server, before, record, false);
    home.update(|state| state.record_planted(intent.clone()))?;
    let outcome = tokio::select! {
        made = make_steps(client, home, spec, before, &intent, steps, timeout) => made.map_err(Stop::Failed),
        signal = interrupted.next() => Err(Stop::Signal(signal)),
    };
    match outcome {
        Ok(made) => {
            home.update(|state| {
                state.record_planted(planted_record(spec, server, &made, Some(&intent), true))
            })?;
            Ok(made)
        }
        Err(stop) => {
            let leftovers = rollback(client, home, server, spec, before, &intent).await;
            Err(match stop {
                Stop::Failed(error) => Error::Rollback {
                    error: Box::new(error),
                    leftovers,
                },
                Stop::Signal(signal) => Error::Interrupted { signal, leftovers },
            })
        }
    }
}

enum Stop {
    Failed(Error),
    Signal(Signal),
}

pub use crate::error::Signal;

/// SIGINT and SIGTERM, caught while `plant` changes the cluster.
struct Interruption {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Interruption {
    fn listen() -> Result<Interruption, Error> {
        use tokio::signal::unix::{SignalKind, signal};
        let listen =
            |kind| signal(kind).map_err(|e| Error::Invalid(format!("cannot handle signals: {e}")));
        Ok(Interruption {
            interrupt: listen(SignalKind::interrupt())?,
            terminate: listen(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.interrupt.recv() => Signal::Interrupt,
            _ = self.terminate.recv() => Signal::Terminate,
        }
    }
}

async fn make_steps(
    client: &kube::Client,
    home: &Home,
    spec: &DecoySpec,
    before: &Found,
    intent: &PlantedRecord,
    steps: Steps,
    timeout: Duration,
) -> Result<Found, Error> {
    let mut made = before.clone();
    let mut learnt = intent.clone();
    if steps.delete_orphan_secret
        && let Some(uid) = before.secret.as_ref().and_then(|s| uid_of(&s.metadata))
    {
        cluster::delete_secret(client, &spec.namespace, &spec.secret, uid).await?;
        made.secret = None;
        learnt.secret_uid.clear();
        home.update(|state| state.record_planted(learnt.clone()))?;
    }
    // Account first: the token controller deletes a token Secret whose account it cannot
    // find.
    if steps.create_account {
        let account = cluster::create_account(client, spec).await?;
        learnt.account_uid = uid_of(&account.metadata).unwrap_or_default().to_string();
        home.update(|state| state.record_planted(learnt.clone()))?;
        made.account = Some(account);
    }
    if steps.create_secret {
        let secret = cluster::create_secret(client, spec, made.account.as_ref()).await?;
        learnt.secret_uid = uid_of(&secret.metadata).unwrap_or_default().to_string();
        home.update(|state| state.record_planted(learnt.clone()))?;
        made.secret = Some(secret);
    }
    let spinner =
        crate::ui::progress::Spinner::start("waiting for the token controller to fill the token");
    let filled = cluster::wait_for_token(client, spec, timeout).await;
    drop(spinner);
    made.secret = Some(filled?);
    Ok(made)
}

/// How long undoing a run may take before it gives up and says what is left.
const ROLLBACK_TIMEOUT: Duration = Duration::from_secs(30);

/// Deletes what this run made: every object of the decoy that is ours now and was not
/// there before the run, found again by name, so an object whose creation was never
/// answered is found too. Then the record says what is left: nothing (forgotten) or the
/// objects that were there before the run. Returns what could not be undone.
async fn rollback(
    client: &kube::Client,
    home: &Home,
    server: &str,
    spec: &DecoySpec,
    before: &Found,
    intent: &PlantedRecord,
) -> Option<String> {
    let undo = async {
        let now = cluster::find(client, spec).await?;
        if ownership(spec, &now, Some(intent)) != Ownership::Ours {
            return Ok::<_, Error>(());
        }
        let made_now = |now: Option<&kube::api::ObjectMeta>,
                        then: Option<&kube::api::ObjectMeta>| {
            now.and_then(uid_of)
                .filter(|uid| then.and_then(uid_of) != Some(uid))
                .map(String::from)
        };
        if let Some(uid) = made_now(
            now.secret.as_ref().map(|s| &s.metadata),
            before.secret.as_ref().map(|s| &s.metadata),
        ) {
            cluster::delete_secret(client, &spec.namespace, &spec.secret, &uid).await?;
        }
        if let Some(uid) = made_now(
            now.account.as_ref().map(|a| &a.metadata),
            before.account.as_ref().map(|a| &a.metadata),
        ) {
            cluster::delete_account(client, &spec.namespace, &spec.account, &uid).await?;
        }
        Ok(())
    };
    let leftovers = match tokio::time::timeout(ROLLBACK_TIMEOUT, undo).await {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(error.to_string()),
        Err(_) => Some(format!(
            "undoing did not finish within {}s",
            ROLLBACK_TIMEOUT.as_secs()
        )),
    };
    let nothing_before = before.account.is_none() && before.secret.is_none();
    let recorded = home.update(|state| {
        if leftovers.is_none() && nothing_before {
            state.forget_planted(server, &spec.namespace, &spec.account);
        } else if leftovers.is_none() {
            state.record_planted(planted_record(spec, server, before, Some(intent), false));
        }
        // Otherwise the intent stays as it is: plant or remove, run again, finish the job.
    });
    match (leftovers, recorded) {
        (None, Ok(_)) => None,
        (Some(left), _) => Some(format!(
            "{left}; run `kubectl honeytoken plant` again to finish the decoy or `kubectl honeytoken remove` to undo it"
        )),
        (None, Err(error)) => Some(format!("cannot update the local record: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoy::profile::default_profile;
    use crate::home::Key;

    fn spec(namespace: &str) -> DecoySpec {
        DecoySpec::new(
            default_profile(),
            &Key::from_bytes([9; crate::home::KEY_LEN]),
            "u",
            namespace,
            "tiller",
        )
    }

    fn account(spec: &DecoySpec, uid: &str) -> k8s_openapi::api::core::v1::ServiceAccount {
        let mut account = spec.account_manifest();
        account.metadata.uid = Some(uid.into());
        account
    }

    fn filled(
        mut secret: k8s_openapi::api::core::v1::Secret,
    ) -> k8s_openapi::api::core::v1::Secret {
        secret.data = Some(std::collections::BTreeMap::from([(
            "token".into(),
            k8s_openapi::ByteString(b"t".to_vec()),
        )]));
        secret
    }

    #[test]
    fn nothing_there_means_make_everything() {
        let decision = decide(&spec("kube-system"), &Found::default(), None);
        assert_eq!(decision, Decision::Make(Steps::ALL));
        let Decision::Make(steps) = decision else {
            unreachable!()
        };
        assert!(!steps.resumes());
    }

    #[test]
    fn a_complete_decoy_of_ours_is_already_planted() {
        let spec = spec("kube-system");
        let found = Found {
            account: Some(account(&spec, "a1")),
            secret: Some(filled(spec.secret_manifest(None))),
        };
        assert_eq!(decide(&spec, &found, None), Decision::AlreadyPlanted);
    }

    #[test]
    fn a_decoy_whose_token_is_not_filled_yet_is_waited_for() {
        let spec = spec("kube-system");
        let found = Found {
            account: Some(account(&spec, "a1")),
            secret: Some(spec.secret_manifest(None)),
        };
        assert_eq!(
            decide(&spec, &found, None),
            Decision::Make(Steps {
                delete_orphan_secret: false,
                create_account: false,
                create_secret: false,
            })
        );
    }

    #[test]
    fn an_account_left_by_an_interrupted_plant_is_finished_not_refused() {
        let spec = spec("kube-system");
        let found = Found {
            account: Some(account(&spec, "a1")),
            secret: None,
        };
        // The creation was answered (UID recorded), or it was not (only the intent).
        for record in [
            crate::decoy::test_record(&spec, "a1", ""),
            crate::decoy::test_record(&spec, "", ""),
        ] {
            let decision = decide(&spec, &found, Some(&record));
            assert_eq!(
                decision,
                Decision::Make(Steps {
                    delete_orphan_secret: false,
                    create_account: false,
                    create_secret: true,
                }),
                "{record:?}"
            );
        }
    }

    #[test]
    fn a_secret_left_without_its_account_is_replaced_with_both() {
        let spec = spec("kube-system");
        let mut secret = spec.secret_manifest(None);
        secret.metadata.uid = Some("s1".into());
        let found = Found {
            account: None,
            secret: Some(secret),
        };
        assert_eq!(
            decide(&spec, &found, None),
            Decision::Make(Steps {
                delete_orphan_secret: true,
                create_account: true,
                create_secret: true,
            })
        );
    }

    #[test]
    fn a_replaced_decoy_is_refused() {
        let spec = spec("kube-system");
        let found = Found {
            account: Some(account(&spec, "a2")),
            secret: None,
        };
        assert!(matches!(
            decide(&spec, &found, Some(&crate::decoy::test_record(&spec, "a1", "s1"))),
            Decision::Refuse(why) if why.contains("broken")
        ));
    }

    #[test]
    fn someone_elses_account_is_refused() {
        let spec = spec("kube-system");
        let mut account = spec.account_manifest();
        account.metadata.uid = Some("a1".into());
        account.metadata.labels = None;
        let found = Found {
            account: Some(account),
            secret: None,
        };
        assert!(
            matches!(decide(&spec, &found, None), Decision::Refuse(why) if why.contains("not made by plant"))
        );
    }

    #[test]
    fn the_created_text_names_each_object_with_its_uid() {
        let spec = spec("kube-system");
        let mut objects = planned_objects(&spec);
        objects[0].uid = Some("a1".into());
        objects[1].uid = Some("s1".into());
        let text = created_text(&report(&spec, PlantResult::Planted, objects, good(), &[]));
        assert!(
            text.contains("serviceaccount/tiller created in namespace kube-system (uid a1)"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "secret/{} created in namespace kube-system (uid s1)",
                spec.secret
            )),
            "{text}"
        );
        assert!(text.contains("RBAC: none"), "{text}");
    }

    #[test]
    fn the_plan_lists_both_objects_and_states_no_rbac() {
        let spec = spec("kube-system");
        let text = plan_text(&report(
            &spec,
            PlantResult::Planned,
            planned_objects(&spec),
            good(),
            &[],
        ));
        assert!(
            text.contains("serviceaccount/tiller will be created in namespace kube-system"),
            "{text}"
        );
        assert!(
            text.contains(&format!("secret/{} will be created", spec.secret)),
            "{text}"
        );
        assert!(text.contains("RBAC: none"), "{text}");
        assert!(
            text.contains("system:serviceaccount:kube-system:tiller"),
            "{text}"
        );
    }

    #[test]
    fn planting_in_kube_system_names_the_falco_rule_it_trips() {
        let rules = rules_tripped_by_planting(&spec("kube-system")).join("\n");
        assert!(
            rules.contains("Service Account Created in Kube Namespace"),
            "{rules}"
        );
        let elsewhere = rules_tripped_by_planting(&spec("apps")).join("\n");
        assert!(!elsewhere.contains("Kube Namespace"), "{elsewhere}");
    }

    #[test]
    fn the_report_always_says_no_rbac_and_what_comes_next() {
        let spec = spec("kube-system");
        let report = report(
            &spec,
            PlantResult::Planned,
            planned_objects(&spec),
            good(),
            &[],
        );
        assert_eq!(report.rbac, "none");
        assert!(report.next_steps[0].command.contains("verify"));
        assert!(report.next_steps[1].command.contains("test-trigger"));
        assert!(report.next_steps[2].command.contains("status"));
    }

    fn good() -> Fit {
        Fit {
            profile: "tiller".into(),
            grade: fit::Grade::Good,
            reasons: vec![],
        }
    }

    #[test]
    fn next_steps_carry_the_flags_that_name_the_decoy_and_the_cluster() {
        let plain: Vec<String> = next_steps(&spec("kube-system"), &[])
            .into_iter()
            .map(|s| s.command)
            .collect();
        assert_eq!(
            plain,
            [
                "kubectl honeytoken verify",
                "kubectl honeytoken test-trigger --audit-log FILE",
                "kubectl honeytoken status",
            ]
        );
        let elsewhere = DecoySpec::new(
            profile::find("argocd-manager").unwrap(),
            &crate::home::Key::from_bytes([1; crate::home::KEY_LEN]),
            "uid",
            "apps",
            "helm-server",
        );
        let connection = ["--kubeconfig", "/tmp/my config", "--context", "prod"].map(String::from);
        let steps = next_steps(&elsewhere, &connection);
        for step in &steps[..2] {
            assert!(
                step.command.contains(
                    "--kubeconfig '/tmp/my config' --context prod --profile argocd-manager -n apps --name helm-server"
                ),
                "{step:?}"
            );
        }
        // status looks everywhere this decoy may be; -n would narrow it to one namespace.
        assert_eq!(
            steps[2].command,
            "kubectl honeytoken status --kubeconfig '/tmp/my config' --context prod"
        );
    }

    #[test]
    fn next_steps_in_json_are_commands_alone() {
        let spec = spec("apps");
        let report = report(
            &spec,
            PlantResult::Planned,
            planned_objects(&spec),
            good(),
            &["--context".to_string(), "admin".to_string()],
        );
        let json = serde_json::to_value(&report).unwrap();
        let steps: Vec<&str> = json["nextSteps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert_eq!(steps.len(), 3);
        for step in &steps {
            assert!(!step.contains('#') && !step.contains("  "), "{step:?}");
            assert_eq!(step.trim(), *step);
            assert!(step.contains("--context admin"), "{step}");
        }
        assert_eq!(
            steps[0],
            "kubectl honeytoken verify --context admin -n apps"
        );
        // On a terminal, each with its purpose, the comments lined up.
        let text = follow_up_text(&report);
        let columns: Vec<usize> = text
            .lines()
            .filter(|l| l.starts_with("  kubectl"))
            .map(|l| l.find('#').unwrap())
            .collect();
        assert_eq!(columns.len(), 3, "{text}");
        assert!(columns.iter().all(|c| *c == columns[0]), "{text}");
    }

    #[test]
    fn a_missing_namespace_is_created_only_when_asked_and_said_clearly_otherwise() {
        assert_eq!(namespace_step(true, false), NamespaceStep::Exists);
        assert_eq!(namespace_step(true, true), NamespaceStep::Exists);
        assert_eq!(namespace_step(false, true), NamespaceStep::Create);
        assert_eq!(namespace_step(false, false), NamespaceStep::Missing);
        let message = missing_namespace("apps").to_string();
        for words in [
            "namespace apps does not exist",
            "nothing was created",
            "kubectl create namespace apps",
            "--create-namespace",
        ] {
            assert!(message.contains(words), "{message}");
        }
    }

    #[test]
    fn a_plan_that_creates_the_namespace_says_so_first() {
        let spec = spec("apps");
        let report = report(
            &spec,
            PlantResult::Planned,
            planned_objects_in(&spec, true),
            good(),
            &[],
        );
        let text = plan_text(&report);
        assert!(
            text.starts_with("namespace/apps will be created\n"),
            "{text}"
        );
        assert!(
            text.contains("serviceaccount/tiller will be created in namespace apps"),
            "{text}"
        );
        assert_eq!(planned_objects_in(&spec, false).len(), 2);
    }

    #[test]
    fn shell_words_are_quoted_only_when_the_shell_would_act_on_them() {
        assert_eq!(shell_word("kube-system"), "kube-system");
        assert_eq!(shell_word("/home/me/.kube/config"), "/home/me/.kube/config");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn connection_flags_are_those_given() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([
            "kubectl-honeytoken",
            "--kubeconfig",
            "/k",
            "--context",
            "a,b",
            "--user",
            "me",
            "-n",
            "apps",
            "plant",
        ])
        .unwrap();
        assert_eq!(
            connection_flags(&cli.global),
            ["--kubeconfig", "/k", "--context", "a,b", "--user", "me"]
        );
    }

    #[test]
    fn kubectls_connection_flags_are_carried_too() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([
            "kubectl-honeytoken",
            "--server",
            "https://10.0.0.1:6443",
            "--certificate-authority",
            "/ca.crt",
            "--as",
            "alice",
            "--as-group",
            "ops",
            "--request-timeout",
            "1500ms",
            "-v",
            "6",
            "plant",
        ])
        .unwrap();
        assert_eq!(
            connection_flags(&cli.global),
            [
                "--server",
                "https://10.0.0.1:6443",
                "--certificate-authority",
                "/ca.crt",
                "--as",
                "alice",
                "--as-group",
                "ops",
                "--request-timeout",
                "1500ms"
            ]
        );
    }

    fn parsed(args: &[&str]) -> Result<Vec<Selection>, Error> {
        use clap::Parser;
        let cli =
            crate::cli::Cli::try_parse_from(["kubectl-honeytoken"].iter().chain(args).copied())
                .unwrap();
        match &cli.command {
            crate::cli::Command::Plant(plant) => requested(plant, &cli.global),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_command_line_names_the_decoys_before_anything_is_read() {
        assert!(parsed(&["plant"]).unwrap().is_empty());
        let two = parsed(&[
            "plant",
            "--profile",
            "tiller",
            "--profile",
            "argocd-manager",
        ])
        .unwrap();
        assert_eq!(
            two.iter()
                .map(|s| format!("{}/{}", s.namespace, s.account))
                .collect::<Vec<_>>(),
            ["kube-system/tiller", "kube-system/argocd-manager"]
        );
        let moved = parsed(&[
            "plant",
            "--profile",
            "headlamp-admin",
            "-n",
            "ops",
            "--name",
            "ui",
        ])
        .unwrap();
        assert_eq!(
            (moved[0].namespace.as_str(), moved[0].account.as_str()),
            ("ops", "ui")
        );
        for (args, expected) in [
            (
                &[
                    "plant",
                    "--profile",
                    "tiller",
                    "--profile",
                    "gitlab",
                    "--name",
                    "x",
                ][..],
                "--name names one decoy",
            ),
            (
                &["plant", "--profile", "tiller", "--profile", "tiller"][..],
                "asked for twice",
            ),
            (
                &["plant", "--name", "Bad_Name", "--profile", "tiller"][..],
                "Bad_Name",
            ),
            (&["plant", "--profile", "nope"][..], "nope"),
            (
                &["plant", "--profile-file", "/nonexistent/p.yaml"][..],
                "/nonexistent/p.yaml",
            ),
            (
                &["plant", "-f", "/nonexistent/decoys.yaml"][..],
                "/nonexistent/decoys.yaml",
            ),
        ] {
            let error = crate::ui::causes::chain(&parsed(args).unwrap_err());
            assert!(error.contains(expected), "{args:?}: {error}");
        }
    }

    #[test]
    fn a_decoy_list_and_own_profiles_are_read_relative_to_the_list() {
        let folder = std::env::temp_dir().join(format!("plant-list-{}", std::process::id()));
        std::fs::create_dir_all(folder.join("own")).unwrap();
        let own = include_str!("../../profiles/argocd-manager.yaml")
            .replace("\nname: argocd-manager\n", "\nname: ci-deployer\n")
            .replace("  name: argocd-manager\n", "  name: deployer\n");
        std::fs::write(folder.join("own/ci.yaml"), own).unwrap();
        std::fs::write(
            folder.join("decoys.yaml"),
            "decoys:\n  - profile: tiller\n    namespace: apps\n    name: helm-server\n  - profileFile: own/ci.yaml\n",
        )
        .unwrap();
        let list = folder.join("decoys.yaml");
        let selections = parsed(&["plant", "-f", list.to_str().unwrap()]).unwrap();
        std::fs::remove_dir_all(&folder).unwrap();
        assert_eq!(selections.len(), 2);
        assert_eq!(selections[0].account, "helm-server");
        assert_eq!(selections[1].profile.name, "ci-deployer");
        assert_eq!(
            (
                selections[1].namespace.as_str(),
                selections[1].account.as_str()
            ),
            ("kube-system", "deployer")
        );
    }
}
