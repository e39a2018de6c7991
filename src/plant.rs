//! `plant`: decide what to create (pure), then create it in order, undoing this run's
//! work if any step fails.

use std::time::Duration;

use serde::Serialize;

use crate::cli::{GlobalArgs, OutputFormat, PlantArgs};
use crate::cluster;
use crate::decoy::{DecoySpec, Found, Ownership, ownership, uid_of};
use crate::error::Error;
use crate::exit::Outcome;
use crate::home::{Home, PlantedRecord};
use crate::locate::{self, Selection};
use crate::output;

use crate::prompt;
use crate::terminal::Terminal;

/// What `plant` will do about one decoy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Create,
    AlreadyPlanted,
    /// Some of the decoy is there and some is not: `remove`, then `plant` again.
    Incomplete(String),
    /// Something not made by `plant` has the decoy's name.
    Refuse(String),
}

pub fn decide(spec: &DecoySpec, found: &Found, recorded_account_uid: Option<&str>) -> Decision {
    match ownership(spec, found, recorded_account_uid) {
        Ownership::Absent => Decision::Create,
        Ownership::Foreign(why) => Decision::Refuse(why),
        Ownership::Ours => match (&found.account, &found.secret) {
            (Some(_), Some(_)) => Decision::AlreadyPlanted,
            (None, _) => Decision::Incomplete(format!(
                "service account {}/{} is gone",
                spec.namespace, spec.account
            )),
            (_, None) => Decision::Incomplete(format!(
                "token Secret {}/{} is gone",
                spec.namespace, spec.secret
            )),
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

pub fn planned_objects(spec: &DecoySpec) -> Vec<PlannedObject> {
    let labels = spec
        .account_labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    vec![
        PlannedObject {
            kind: "ServiceAccount",
            namespace: spec.namespace.clone(),
            name: spec.account.clone(),
            description: format!(
                "labels {labels}; lists no Secrets, so the legacy token cleaner never removes its token"
            ),
            uid: None,
        },
        PlannedObject {
            kind: "Secret",
            namespace: spec.namespace.clone(),
            name: spec.secret.clone(),
            description: format!(
                "type kubernetes.io/service-account-token for service account {}; the token controller fills in a long-lived token",
                spec.account
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
        return locate::select(&args.select, global);
    }
    let profile = match &args.select.profile {
        Some(name) => locate::profile_named(Some(name))?,
        None => prompt::profile()?,
    };
    let namespace = match &global.namespace {
        Some(ns) => ns.clone(),
        None => prompt::text("Namespace", profile.default_namespace)?,
    };
    let account = match &args.select.name {
        Some(name) => name.clone(),
        None => prompt::text("Service account name", profile.default_account)?,
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
    let interactive = prompt::will_ask(terminal, global, "plant creates objects in the cluster")?;
    let selection = choose(args, global, interactive && !global.dry_run)?;
    let located = locate::locate(&selection, global, home, Home::key_or_create).await?;
    let (connection, spec, found) = (&located.connection, &located.spec, &located.found);
    let client = &connection.client;

    match decide(spec, found, located.recorded_account_uid.as_deref()) {
        Decision::Refuse(why) => Err(Error::Conflict(format!(
            "refusing to plant {}/{}: {why}. Nothing was changed; choose another name with --name or -n.",
            spec.namespace, spec.account
        ))),
        Decision::Incomplete(why) => Err(Error::Conflict(format!(
            "a decoy {}/{} is planted but incomplete ({why}); run `kubectl honeytoken remove` and plant again",
            spec.namespace, spec.account
        ))),
        Decision::AlreadyPlanted => {
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
        Decision::Create if global.dry_run => {
            let report = report(spec, PlantResult::Planned, planned_objects(spec));
            match global.output {
                OutputFormat::Yaml => print!(
                    "{}",
                    output::yaml_documents(&[
                        serde_json::to_value(spec.account_manifest()).expect("manifest"),
                        serde_json::to_value(spec.secret_manifest()).expect("manifest"),
                    ])?
                ),
                OutputFormat::Json => print!(
                    "{}",
                    output::structured(OutputFormat::Json, &report)?.unwrap_or_default()
                ),
                OutputFormat::Table => {
                    print!("{}", plan_text(&report));
                    println!("(dry run: nothing was created)");
                }
            }
            Ok(Outcome::Success)
        }
        Decision::Create => {
            let planned = report(spec, PlantResult::Planned, planned_objects(spec));
            if interactive {
                eprintln!(
                    "Cluster: {} (context {})",
                    connection.server, connection.context
                );
                eprint!("{}", plan_text(&planned));
                if !prompt::confirm("Plant this decoy?")? {
                    return Err(Error::Declined("nothing was created".into()));
                }
            }
            let timeout = Duration::from_secs(args.timeout);
            let created = create(client, spec, timeout).await?;
            home.update(|state| {
                state.forget_planted(&connection.server, &spec.namespace, &spec.account);
                state.planted.push(PlantedRecord {
                    profile: spec.profile.to_string(),
                    namespace: spec.namespace.clone(),
                    account: spec.account.clone(),
                    account_uid: created.account_uid.clone(),
                    secret: spec.secret.clone(),
                    secret_uid: created.secret_uid.clone(),
                    server: connection.server.clone(),
                    planted_at: jiff::Timestamp::now(),
                });
            })?;
            let mut objects = planned_objects(spec);
            objects[0].uid = Some(created.account_uid);
            objects[1].uid = Some(created.secret_uid);
            let report = report(spec, PlantResult::Planted, objects);
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

struct Created {
    account_uid: String,
    secret_uid: String,
}

/// Account first (the token controller deletes a token Secret whose account it cannot
/// find), then the Secret, then the wait for the token. On any failure, what this run
/// created is deleted before the original error is returned.
async fn create(
    client: &kube::Client,
    spec: &DecoySpec,
    timeout: Duration,
) -> Result<Created, Error> {
    let account = cluster::create_account(client, spec).await?;
    let account_uid = account.metadata.uid.clone().unwrap_or_default();
    let secret = match cluster::create_secret(client, spec).await {
        Ok(secret) => secret,
        Err(error) => return Err(undo(client, spec, &account_uid, None, error).await),
    };
    let secret_uid = secret.metadata.uid.clone().unwrap_or_default();
    let spinner =
        crate::progress::Spinner::start("waiting for the token controller to fill the token");
    let filled = cluster::wait_for_token(client, spec, timeout).await;
    drop(spinner);
    match filled {
        Ok(_) => Ok(Created {
            account_uid,
            secret_uid,
        }),
        Err(error) => Err(undo(client, spec, &account_uid, Some(&secret_uid), error).await),
    }
}

async fn undo(
    client: &kube::Client,
    spec: &DecoySpec,
    account_uid: &str,
    secret_uid: Option<&str>,
    error: Error,
) -> Error {
    let mut failures = Vec::new();
    if let Some(uid) = secret_uid
        && let Err(e) = cluster::delete_secret(client, &spec.namespace, &spec.secret, uid).await
    {
        failures.push(e.to_string());
    }
    if let Err(e) =
        cluster::delete_account(client, &spec.namespace, &spec.account, account_uid).await
    {
        failures.push(e.to_string());
    }
    if failures.is_empty() {
        Error::Rollback {
            error: Box::new(error),
            leftovers: None,
        }
    } else {
        Error::Rollback {
            error: Box::new(error),
            leftovers: Some(failures.join("; ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::home::Key;
    use crate::profile::TILLER;

    fn spec(namespace: &str) -> DecoySpec {
        DecoySpec::new(
            &TILLER,
            &Key::from_bytes([9; crate::home::KEY_LEN]),
            "u",
            namespace,
            "tiller",
        )
    }

    #[test]
    fn nothing_there_means_create() {
        assert_eq!(
            decide(&spec("kube-system"), &Found::default(), None),
            Decision::Create
        );
    }

    #[test]
    fn a_complete_decoy_of_ours_is_already_planted() {
        let spec = spec("kube-system");
        let mut account = spec.account_manifest();
        account.metadata.uid = Some("a1".into());
        let found = Found {
            account: Some(account),
            secret: Some(spec.secret_manifest()),
        };
        assert_eq!(decide(&spec, &found, None), Decision::AlreadyPlanted);
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
    fn our_account_without_its_secret_is_incomplete() {
        let spec = spec("kube-system");
        let mut account = spec.account_manifest();
        account.metadata.uid = Some("a1".into());
        let found = Found {
            account: Some(account),
            secret: None,
        };
        assert!(
            matches!(decide(&spec, &found, Some("a1")), Decision::Incomplete(why) if why.contains("Secret"))
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
