//! `remove`: delete exactly what `plant` created, checked by UID, and nothing else.

use serde::Serialize;

use crate::cli::{GlobalArgs, SelectArgs};
use crate::cluster;
use crate::cluster::locate;
use crate::cluster::{ClusterError, Deleted};
use crate::decoy::{DecoySpec, Found, Ownership, ownership, uid_of};
use crate::error::Error;
use crate::exit::Outcome;
use crate::home::{Home, PlantedRecord};
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
    let selection = locate::select(
        args.profile.as_deref(),
        global.namespace.as_deref(),
        args.name.as_deref(),
    )?;
    let (namespace, account) = (selection.namespace.clone(), selection.account.clone());
    let located =
        match locate::locate(&selection, &global.target(), home, locate::KeyUse::Existing).await {
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
}
