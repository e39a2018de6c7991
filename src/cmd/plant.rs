//! `plant`: decide what to create (pure), then create it in order, undoing this run's
//! work if any step fails.

use std::time::Duration;

use serde::Serialize;

use crate::cli::{GlobalArgs, OutputFormat, PlantArgs};
use crate::cluster;
use crate::cluster::locate::KeyUse;
use crate::cluster::locate::{self, Selection};
use crate::decoy::{DecoySpec, Found, Ownership, ownership, token_filled, uid_of};
use crate::error::Error;
use crate::exit::Outcome;
use crate::home::{Home, PlantedRecord};
use crate::ui::output;

use crate::ui::prompt;
use crate::ui::terminal::Terminal;

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
    pub next_steps: Vec<String>,
    pub rules_tripped_by_planting: Vec<String>,
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

pub fn next_steps() -> Vec<String> {
    vec![
        "kubectl honeytoken verify                        # would the audit log record the token's use?".into(),
        "kubectl honeytoken test-trigger --audit-log FILE  # use the token once, as a drill, and see its audit events arrive".into(),
        "kubectl honeytoken status                        # armed, drilled, TRIPPED or broken; run it from cron".into(),
    ]
}

pub fn report(spec: &DecoySpec, result: PlantResult, objects: Vec<PlannedObject>) -> PlantReport {
    PlantReport {
        result,
        profile: spec.profile,
        namespace: spec.namespace.clone(),
        service_account: spec.account.clone(),
        secret: spec.secret.clone(),
        username: spec.username(),
        objects,
        rbac: "none",
        next_steps: next_steps(),
        rules_tripped_by_planting: rules_tripped_by_planting(spec),
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
            "{}/{} {verb} in namespace {}{uid}\n    {}\n",
            object.kind.to_lowercase(),
            object.name,
            object.namespace,
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
            "{}/{} created in namespace {} (uid {})\n",
            object.kind.to_lowercase(),
            object.name,
            object.namespace,
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
    for step in &report.next_steps {
        text.push_str(&format!("  {step}\n"));
    }
    text.push_str("\nPlanting itself trips these stock rules; expect them now, once:\n");
    for rule in &report.rules_tripped_by_planting {
        text.push_str(&format!("  - {rule}\n"));
    }
    text
}

/// The decoy to plant: from the flags, asking on a terminal for what they leave out.
fn choose(args: &PlantArgs, global: &GlobalArgs, ask: bool) -> Result<Selection, Error> {
    if !ask {
        return Ok(locate::select(
            args.select.profile.as_deref(),
            global.namespace.as_deref(),
            args.select.name.as_deref(),
        )?);
    }
    let profile = match &args.select.profile {
        Some(name) => locate::profile_named(Some(name))?,
        None => prompt::profile()?,
    };
    let namespace = match &global.namespace {
        Some(ns) => ns.clone(),
        None => prompt::text("Namespace", &profile.namespace)?,
    };
    let account = match &args.select.name {
        Some(name) => name.clone(),
        None => prompt::text("Service account name", &profile.service_account.name)?,
    };
    Ok(Selection {
        profile,
        namespace,
        account,
    })
}

pub async fn run(
    args: &PlantArgs,
    global: &GlobalArgs,
    terminal: Terminal,
    home: &Home,
) -> Result<Outcome, Error> {
    let interactive = prompt::will_ask(
        terminal,
        global.yes,
        global.dry_run,
        "plant creates objects in the cluster",
    )?;
    let selection = choose(args, global, interactive && !global.dry_run)?;
    // Only a real plant makes the key: a dry run shows names under a key of its own.
    let key_use = if global.dry_run {
        KeyUse::ExistingOrEphemeral
    } else {
        KeyUse::Create
    };
    let located = locate::locate(&selection, &global.target(), home, key_use).await?;
    let (connection, spec, found) = (&located.connection, &located.spec, &located.found);
    let client = &connection.client;
    let record = located.record.as_ref();

    match decide(spec, found, record) {
        Decision::Refuse(why) => Err(Error::Conflict(format!(
            "refusing to plant {}/{}: {why}. Nothing was changed; choose another name with --name or -n.",
            spec.namespace, spec.account
        ))),
        Decision::AlreadyPlanted => {
            let objects = objects_with_uids(spec, found);
            // A run interrupted after the token was filled left its record unfinished.
            if record.is_some_and(|r| !r.complete) {
                home.update(|state| {
                    state.record_planted(planted_record(
                        spec,
                        &connection.server,
                        found,
                        record,
                        true,
                    ))
                })?;
            }
            let report = report(spec, PlantResult::AlreadyPlanted, objects);
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
            let report = report(spec, PlantResult::Planned, planned_objects(spec));
            match global.output {
                OutputFormat::Yaml => print!(
                    "{}",
                    output::yaml_documents(&[
                        serde_json::to_value(spec.account_manifest()).expect("manifest"),
                        serde_json::to_value(spec.secret_manifest(found.account.as_ref()))
                            .expect("manifest"),
                    ])?
                ),
                OutputFormat::Json => print!(
                    "{}",
                    output::structured(OutputFormat::Json, &report)?.unwrap_or_default()
                ),
                OutputFormat::Table => {
                    print!("{}", plan_text(&report));
                    if steps.resumes() {
                        println!(
                            "(an earlier plant of this decoy did not finish; this run would finish it)"
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
            let planned = report(spec, PlantResult::Planned, planned_objects(spec));
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
            let made = make(
                client,
                home,
                &connection.server,
                spec,
                found,
                record,
                steps,
                Duration::from_secs(args.timeout),
            )
            .await?;
            let report = report(spec, PlantResult::Planted, objects_with_uids(spec, &made));
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
        let text = created_text(&report(&spec, PlantResult::Planted, objects));
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
        let text = plan_text(&report(&spec, PlantResult::Planned, planned_objects(&spec)));
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
        let report = report(&spec, PlantResult::Planned, planned_objects(&spec));
        assert_eq!(report.rbac, "none");
        assert!(report.next_steps[0].contains("verify"));
        assert!(report.next_steps[1].contains("test-trigger"));
        assert!(report.next_steps[2].contains("status"));
    }
}
