//! `status`: judge each decoy `locate` found from its objects alone. The token is never
//! used to check it: a TokenReview would stamp the last-used label and could copy the
//! token into audit request bodies.

use serde::Serialize;

use crate::cli::GlobalArgs;
use crate::cluster::connect::Target;
use crate::cluster::fleet::{self, ContextResult, Fleet, FleetReport};
use crate::cluster::locate::{Asked, Observed, found_elsewhere, observe_all};
use crate::decoy::tracking::ACCOUNT_UID_ANNOTATION;
use crate::decoy::tripwire::{INVALID_SINCE_LABEL, LAST_USED_LABEL};
use crate::decoy::{token_filled, uid_of};
use crate::error::Error;
use crate::exit::Outcome;
use crate::home::Home;
use crate::ui::output;
use crate::ui::table::{Cell, Table, Tone};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Verdict {
    #[serde(rename = "armed")]
    Armed,
    #[serde(rename = "drilled")]
    Drilled,
    #[serde(rename = "broken")]
    Broken,
    #[serde(rename = "TRIPPED")]
    Tripped,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Armed => "armed",
            Verdict::Drilled => "drilled",
            Verdict::Broken => "broken",
            Verdict::Tripped => "TRIPPED",
        }
    }
}

/// One decoy as `status` reports it. The JSON/YAML field names are a stable interface
/// (README, "status output"): add fields, never rename or remove them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecoyStatus {
    pub namespace: String,
    pub service_account: String,
    pub secret: String,
    pub profile: String,
    pub username: String,
    pub planted_at: Option<jiff::Timestamp>,
    pub account_present: bool,
    pub secret_present: bool,
    pub token_filled: bool,
    /// The `legacy-token-invalid-since` label's value; set means the token no longer works.
    pub invalid_since: Option<String>,
    /// Bindings that name the decoy's account: any is DANGER.
    pub rbac_bindings: Vec<String>,
    /// The `legacy-token-last-used` label's value (a UTC day): the day of a use since the
    /// tripwire was last re-armed.
    pub last_used: Option<String>,
    /// Days of the drills recorded of this very Secret (by UID).
    pub drill_days: Vec<String>,
    /// When a drill last removed its own stamp, re-arming the tripwire, if recorded here.
    pub last_rearmed_at: Option<jiff::Timestamp>,
    pub verdict: Verdict,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub schema_version: u32,
    pub server: String,
    pub namespaces: Vec<String>,
    /// Namespaces of the profiles the operator may not read: decoys there are not shown.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_looked_in: Vec<String>,
    pub decoys: Vec<DecoyStatus>,
}

/// Additions to one of the decoy's objects that decide its fate: an owner whose deletion
/// deletes it, finalizers, a deletion under way.
/// `own_owner` is the UID of the decoy's account when the profile makes the account own its
/// Secret, as its installer does: that owner is the decoy's own.
fn fate_problems(
    kind: &str,
    name: &str,
    meta: &kube::api::ObjectMeta,
    own_owner: Option<&str>,
) -> Vec<String> {
    let mut problems = Vec::new();
    if meta.deletion_timestamp.is_some() {
        problems.push(format!("{kind} {name} is being deleted"));
    }
    for owner in meta
        .owner_references
        .iter()
        .flatten()
        .filter(|o| !(o.kind == "ServiceAccount" && Some(o.uid.as_str()) == own_owner))
    {
        problems.push(format!(
            "{kind} {name} has an ownerReference to {} {} (uid {}): the garbage collector \
             deletes it when that owner goes; remove the ownerReference",
            owner.kind, owner.name, owner.uid
        ));
    }
    if let Some(finalizers) = meta.finalizers.as_ref().filter(|f| !f.is_empty()) {
        problems.push(format!(
            "{kind} {name} has finalizers ({}): its deletion would wait on whoever added them",
            finalizers.join(", ")
        ));
    }
    problems
}

/// Judges one decoy. Pure: every input is in `observed`.
pub fn assess(observed: &Observed) -> DecoyStatus {
    let spec = &observed.spec;
    let account = observed.found.account.as_ref();
    let secret = observed.found.secret.as_ref();
    let labels = secret
        .and_then(|s| s.metadata.labels.clone())
        .unwrap_or_default();
    let invalid_since = labels.get(INVALID_SINCE_LABEL).cloned();
    let last_used = labels.get(LAST_USED_LABEL).cloned();
    let filled = secret.is_some_and(token_filled);

    let mut problems = Vec::new();
    if let Some(problem) = &observed.identity_problem {
        problems.push(problem.clone());
    }
    if observed.unfinished_plant {
        problems.push(
            "plant was interrupted before it finished; run plant again to finish it, or remove \
             to undo it"
                .to_string(),
        );
    }
    if let Some(account) = account {
        problems.extend(fate_problems(
            "service account",
            &spec.account,
            &account.metadata,
            None,
        ));
    }
    if let Some(secret) = secret {
        let own_owner = account
            .filter(|_| spec.shape.secret.owner_reference)
            .and_then(|a| a.metadata.uid.as_deref());
        problems.extend(fate_problems(
            "Secret",
            &spec.secret,
            &secret.metadata,
            own_owner,
        ));
    }
    if account.is_none() {
        problems.push(format!("service account {} is gone", spec.account));
    }
    match secret {
        None => problems.push(format!("token Secret {} is gone", spec.secret)),
        Some(secret) => {
            if !filled {
                problems.push("the token controller has not filled the token".to_string());
            }
            if let Some(day) = &invalid_since {
                problems.push(format!(
                    "the token was invalidated on {day} (label {INVALID_SINCE_LABEL}); requests with it fail with 401 and name no user"
                ));
            }
            let bound = secret
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ACCOUNT_UID_ANNOTATION));
            if let (Some(bound), Some(uid)) = (bound, account.and_then(|a| uid_of(&a.metadata)))
                && bound != uid
            {
                problems
                    .push("the token belongs to an earlier account of the same name".to_string());
            }
        }
    }
    if let Some(account) = account
        && account.secrets.as_ref().is_some_and(|refs| {
            refs.iter()
                .any(|r| r.name.as_deref() == Some(spec.secret.as_str()))
        })
    {
        problems.push(format!(
            "the account lists its token Secret, so the legacy token cleaner will invalidate it after a year unused; remove {} from the account's secrets",
            spec.secret
        ));
    }
    for binding in &observed.bindings {
        problems.push(format!(
            "DANGER: {binding} grants the decoy account permissions; delete that binding"
        ));
    }

    let secret_uid = secret
        .and_then(|s| s.metadata.uid.as_deref())
        .unwrap_or_default();
    let last_rearmed_at = observed.drills.iter().filter_map(|d| d.rearmed_at()).max();
    let (verdict, mut reasons) = match &last_used {
        Some(day)
            if !observed
                .drills
                .iter()
                .any(|d| d.explains(secret_uid, day, observed.observed_at)) =>
        {
            (
                Verdict::Tripped,
                vec![
                    match last_rearmed_at.filter(|at| crate::home::utc_day(*at) == *day) {
                        Some(at) => format!(
                            "the token was used on {day} after a drill re-armed the tripwire at {} UTC",
                            at.strftime("%H:%M:%S")
                        ),
                        None => format!(
                            "the token was used on {day}, and no drill of this decoy explains it"
                        ),
                    },
                ],
            )
        }
        Some(day) => (
            if problems.is_empty() {
                Verdict::Drilled
            } else {
                Verdict::Broken
            },
            vec![format!(
                "last used on {day} by a drill that did not re-arm the tripwire; run test-trigger again to re-arm it"
            )],
        ),
        None => (
            if problems.is_empty() {
                Verdict::Armed
            } else {
                Verdict::Broken
            },
            Vec::new(),
        ),
    };
    if verdict == Verdict::Broken || verdict == Verdict::Tripped {
        reasons.extend(problems);
    }

    DecoyStatus {
        namespace: spec.namespace.clone(),
        service_account: spec.account.clone(),
        secret: spec.secret.clone(),
        profile: spec.profile.to_string(),
        username: spec.username(),
        planted_at: account
            .and_then(|a| a.metadata.creation_timestamp.as_ref())
            .or_else(|| secret.and_then(|s| s.metadata.creation_timestamp.as_ref()))
            .map(|t| t.0),
        account_present: account.is_some(),
        secret_present: secret.is_some(),
        token_filled: filled,
        invalid_since,
        rbac_bindings: observed.bindings.clone(),
        last_used,
        drill_days: observed
            .drills
            .iter()
            .map(|d| d.day())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
        last_rearmed_at,
        verdict,
        reasons,
    }
}

/// The exit outcome for a set of decoys: any TRIPPED wins, then any broken; none at all
/// has its own outcome, never success.
pub fn outcome(decoys: &[DecoyStatus]) -> Outcome {
    if decoys.is_empty() {
        Outcome::NoDecoys
    } else if decoys.iter().any(|d| d.verdict == Verdict::Tripped) {
        Outcome::Tripped
    } else if decoys.iter().any(|d| d.verdict == Verdict::Broken) {
        Outcome::Broken
    } else {
        Outcome::Success
    }
}

/// The columns of a decoy's row, [`decoy_cells`]'s order.
const DECOY_COLUMNS: [&str; 11] = [
    "decoy",
    "profile",
    "planted",
    "account",
    "secret",
    "token",
    "valid",
    "rbac",
    "last used",
    "verdict",
    "reason",
];

/// The columns `-o wide` adds: the checks behind a verdict, which its reasons tell
/// whenever one fails.
const WIDE_COLUMNS: [&str; 5] = ["account", "secret", "token", "valid", "rbac"];

pub fn table(decoys: &[DecoyStatus]) -> String {
    format!("{}\n", decoy_table(decoys))
}

/// A row per decoy; the checks behind the verdict with `-o wide`.
fn decoy_table(decoys: &[DecoyStatus]) -> Table {
    let mut table = output::table(&DECOY_COLUMNS);
    table.wide_only(&WIDE_COLUMNS);
    for decoy in decoys {
        table.add_row(decoy_cells(decoy));
    }
    table
}

/// When a decoy was planted, as a time that says its zone.
fn planted_cell(planted_at: Option<jiff::Timestamp>) -> String {
    planted_at
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "-".into())
}

/// One decoy's cells, from `decoy` to `reason`.
fn decoy_cells(decoy: &DecoyStatus) -> Vec<Cell> {
    let yes_no = |b: bool| Cell::from(if b { "yes" } else { "NO" });
    let verdict = Cell::new(
        decoy.verdict.as_str(),
        match decoy.verdict {
            Verdict::Armed => Tone::Good,
            Verdict::Drilled => Tone::Note,
            Verdict::Broken => Tone::Trouble,
            Verdict::Tripped => Tone::Bad,
        },
    );
    // Without its Secret, nothing can be said of the token.
    let (token, valid) = if !decoy.secret_present {
        (Cell::from("-"), Cell::from("-"))
    } else {
        (
            Cell::from(if decoy.token_filled {
                "filled"
            } else {
                "EMPTY"
            }),
            yes_no(decoy.invalid_since.is_none()),
        )
    };
    vec![
        format!("{}/{}", decoy.namespace, decoy.service_account).into(),
        decoy.profile.as_str().into(),
        planted_cell(decoy.planted_at).into(),
        yes_no(decoy.account_present),
        yes_no(decoy.secret_present),
        token,
        valid,
        if decoy.rbac_bindings.is_empty() {
            "none".into()
        } else {
            Cell::new("DANGER", Tone::Bad)
        },
        decoy.last_used.as_deref().unwrap_or("never").into(),
        verdict,
        decoy.reasons.join("; ").into(),
    ]
}

/// What `status` finds in one cluster, and the namespaces it could not look in.
async fn gather(target: &Target, global: &GlobalArgs, home: &Home) -> Result<StatusReport, Error> {
    let observation = observe_all(target, global.namespace.as_deref(), home).await?;
    Ok(StatusReport {
        schema_version: 1,
        server: observation.connection.server.clone(),
        namespaces: observation.namespaces.clone(),
        not_looked_in: observation.not_looked_in.clone(),
        decoys: observation.observed.iter().map(assess).collect(),
    })
}

pub async fn run(global: &GlobalArgs, home: &Home) -> Result<Outcome, Error> {
    if let Some(fleet) = global.fleet()? {
        return run_fleet(&fleet, global, home).await;
    }
    let report = gather(&global.target(), global, home).await?;
    // Narrowed by -n to a namespace with none: say where this key's decoys are, so that a
    // namespace flag never hides one.
    if report.decoys.is_empty() && global.namespace.is_some() {
        let elsewhere = match observe_all(&global.target(), None, home).await {
            Ok(all) => found_elsewhere(&all.observed, &report.namespaces, Asked::default()),
            Err(_) => Vec::new(),
        };
        if !elsewhere.is_empty() {
            eprintln!(
                "Decoys of this key elsewhere in this cluster: {}; run status without -n to see \
                 every decoy.",
                elsewhere.join(", ")
            );
        }
    }
    for place in &report.not_looked_in {
        eprintln!("warning: not looked in namespace {place}; decoys there are not shown");
    }
    match output::structured(global.output, &report)? {
        Some(text) => print!("{text}"),
        None if report.decoys.is_empty() => println!(
            "No decoys of this key in namespace(s) {} (key: {}).",
            report.namespaces.join(", "),
            home.dir().display()
        ),
        None => print!("{}", table(&report.decoys)),
    }
    Ok(outcome(&report.decoys))
}

/// `status` of a fleet: every context at once, one table with a context column (or one
/// document), and the most serious exit code of any context.
async fn run_fleet(fleet: &Fleet, global: &GlobalArgs, home: &Home) -> Result<Outcome, Error> {
    // A missing key is this workstation's problem, to be told once, not once a context.
    home.key()?;
    let runs = fleet::each(fleet, true, |target| async move {
        gather(&target, global, home).await
    })
    .await;
    let report = FleetReport::new("status", runs, |r| outcome(&r.decoys).code());
    for context in &report.contexts {
        for place in context.report.iter().flat_map(|r| &r.not_looked_in) {
            eprintln!(
                "warning: {}: not looked in namespace {place}; decoys there are not shown",
                context.context
            );
        }
    }
    match output::structured(global.output, &report)? {
        Some(text) => print!("{text}"),
        None => print!("{}", fleet_table(&report, home)),
    }
    Ok(Outcome::Fleet(report.exit_code))
}

/// What one context of a fleet came to, in a word: its most serious decoy, or why it has
/// none to show.
fn context_state(context: &ContextResult<StatusReport>) -> String {
    match &context.report {
        None => context.result.as_str().to_string(),
        Some(report) => match report.decoys.iter().map(|d| d.verdict).max() {
            Some(verdict) => verdict.as_str().to_string(),
            None => "no decoys".to_string(),
        },
    }
}

/// The table of a fleet: a row per decoy with its context first, a row for each context
/// with no decoy or no answer, then one summary line.
pub fn fleet_table(report: &FleetReport<StatusReport>, home: &Home) -> String {
    let columns: Vec<&str> = std::iter::once("context").chain(DECOY_COLUMNS).collect();
    let mut table = output::table(&columns);
    table.wide_only(&WIDE_COLUMNS);
    for context in &report.contexts {
        let decoys = context.report.as_ref().map_or(&[][..], |r| &r.decoys[..]);
        for decoy in decoys {
            let mut row = vec![Cell::from(&context.context)];
            row.extend(decoy_cells(decoy));
            table.add_row(row);
        }
        if decoys.is_empty() {
            let why = match &context.report {
                Some(status) => format!(
                    "no decoys of this key in namespace(s) {} (key: {})",
                    status.namespaces.join(", "),
                    home.dir().display()
                ),
                None => context.error.clone().unwrap_or_default(),
            };
            let mut row = vec![Cell::from(&context.context)];
            row.extend(std::iter::repeat_n(Cell::from("-"), 9));
            row.push(Cell::new(
                context_state(context).to_uppercase(),
                Tone::Trouble,
            ));
            row.push(why.into());
            table.add_row(row);
        }
    }
    format!("{table}\n{}\n", report.summary(context_state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoy::profile::default_profile;
    use crate::decoy::{DecoySpec, Found, judge_identity};
    use crate::home::{DrillRecord, DrillTripwire, Key, PlantedRecord};
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::ObjectReference;
    use std::collections::BTreeMap;

    fn spec() -> DecoySpec {
        DecoySpec::new(
            default_profile(),
            &Key::from_bytes([5; crate::home::KEY_LEN]),
            "nsuid",
            "kube-system",
            "tiller",
        )
    }

    fn healthy() -> Observed {
        healthy_of(spec())
    }

    /// A decoy as `plant` leaves it, its account (uid a1) owning its Secret (uid s1) where
    /// the profile says so.
    fn healthy_of(spec: DecoySpec) -> Observed {
        let mut account = spec.account_manifest();
        account.metadata.uid = Some("a1".into());
        let mut secret = spec.secret_manifest(Some(&account));
        secret.metadata.uid = Some("s1".into());
        secret
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(ACCOUNT_UID_ANNOTATION.into(), "a1".into());
        secret.data = Some(BTreeMap::from([(
            "token".into(),
            ByteString(b"t".to_vec()),
        )]));
        Observed {
            spec,
            found: Found {
                account: Some(account),
                secret: Some(secret),
            },
            bindings: vec![],
            drills: vec![],
            identity_problem: None,
            unfinished_plant: false,
            observed_at: "2026-11-20T12:00:00Z".parse().unwrap(),
        }
    }

    fn with_label(mut observed: Observed, key: &str, value: &str) -> Observed {
        observed
            .found
            .secret
            .as_mut()
            .unwrap()
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        observed
    }

    #[test]
    fn an_intact_unused_decoy_is_armed() {
        let status = assess(&healthy());
        assert_eq!(status.verdict, Verdict::Armed, "{:?}", status.reasons);
        assert!(status.reasons.is_empty());
        assert_eq!(status.last_used, None);
        assert!(status.account_present && status.secret_present && status.token_filled);
    }

    fn drill(uid: &str, at: &str, tripwire: Option<DrillTripwire>) -> DrillRecord {
        DrillRecord {
            id: "d".into(),
            namespace: "kube-system".into(),
            secret: spec().secret,
            secret_uid: uid.into(),
            started_at: at.parse().unwrap(),
            tripwire,
        }
    }

    fn left() -> Option<DrillTripwire> {
        Some(DrillTripwire::Left {
            reason: "forbidden".into(),
        })
    }

    #[test]
    fn a_stamp_during_a_drill_is_the_drills_and_one_left_by_a_drill_that_died_is_not() {
        let mut observed = with_label(healthy(), LAST_USED_LABEL, "2026-11-20");
        observed.drills = vec![drill("s1", "2026-11-20T11:59:50Z", None)];
        assert_eq!(assess(&observed).verdict, Verdict::Drilled);
        observed.drills = vec![drill("s1", "2026-11-20T11:50:00Z", None)];
        assert_eq!(assess(&observed).verdict, Verdict::Tripped);
        observed.drills = vec![drill(
            "s1",
            "2026-11-20T11:59:50Z",
            Some(DrillTripwire::NotStamped),
        )];
        assert_eq!(assess(&observed).verdict, Verdict::Tripped);
    }

    fn rearmed(at: &str) -> Option<DrillTripwire> {
        Some(DrillTripwire::Rearmed {
            at: at.parse().unwrap(),
        })
    }

    #[test]
    fn use_on_a_day_without_a_drill_is_tripped() {
        let status = assess(&with_label(healthy(), LAST_USED_LABEL, "2026-11-20"));
        assert_eq!(status.verdict, Verdict::Tripped);
        assert_eq!(status.last_used.as_deref(), Some("2026-11-20"));
        assert!(
            status.reasons[0].contains("no drill of this decoy explains it"),
            "{:?}",
            status.reasons
        );
    }

    #[test]
    fn a_stamp_left_by_a_drill_of_this_secret_is_drilled() {
        let mut observed = with_label(healthy(), LAST_USED_LABEL, "2026-11-20");
        let left = DrillTripwire::Left {
            reason: "forbidden".into(),
        };
        observed.drills = vec![drill("s1", "2026-11-20T10:00:00Z", Some(left))];
        let status = assess(&observed);
        assert_eq!(status.verdict, Verdict::Drilled);
        assert_eq!(status.drill_days, ["2026-11-20"]);
        assert!(status.reasons[0].contains("did not re-arm"));
    }

    #[test]
    fn a_use_after_a_drill_re_armed_the_tripwire_is_tripped_on_the_same_day() {
        let mut observed = with_label(healthy(), LAST_USED_LABEL, "2026-11-20");
        observed.drills = vec![drill(
            "s1",
            "2026-11-20T10:00:00Z",
            rearmed("2026-11-20T10:00:04Z"),
        )];
        let status = assess(&observed);
        assert_eq!(status.verdict, Verdict::Tripped);
        assert_eq!(
            status.last_rearmed_at,
            Some("2026-11-20T10:00:04Z".parse().unwrap())
        );
        assert!(
            status.reasons[0].contains("after a drill re-armed the tripwire at 10:00:04 UTC"),
            "{:?}",
            status.reasons
        );
    }

    #[test]
    fn after_a_re_armed_drill_an_unstamped_decoy_is_armed() {
        let mut observed = healthy();
        observed.drills = vec![drill(
            "s1",
            "2026-11-20T10:00:00Z",
            rearmed("2026-11-20T10:00:04Z"),
        )];
        let status = assess(&observed);
        assert_eq!(status.verdict, Verdict::Armed);
        assert!(status.last_rearmed_at.is_some());
    }

    #[test]
    fn a_drill_of_another_secret_or_day_does_not_excuse_use() {
        let mut observed = with_label(healthy(), LAST_USED_LABEL, "2026-11-21");
        observed.drills = vec![drill("s1", "2026-11-20T10:00:00Z", left())];
        assert_eq!(assess(&observed).verdict, Verdict::Tripped);
        let mut observed = with_label(healthy(), LAST_USED_LABEL, "2026-11-20");
        observed.drills = vec![drill("s0", "2026-11-20T10:00:00Z", left())];
        assert_eq!(assess(&observed).verdict, Verdict::Tripped);
    }

    #[test]
    fn tripped_outranks_broken_and_keeps_the_problems() {
        let mut observed = with_label(healthy(), LAST_USED_LABEL, "2026-11-21");
        observed
            .bindings
            .push("ClusterRoleBinding x (role ClusterRole cluster-admin)".into());
        let status = assess(&observed);
        assert_eq!(status.verdict, Verdict::Tripped);
        assert!(status.reasons.iter().any(|r| r.contains("DANGER")));
    }

    #[test]
    fn a_missing_secret_is_broken() {
        let mut observed = healthy();
        observed.found.secret = None;
        let status = assess(&observed);
        assert_eq!(status.verdict, Verdict::Broken);
        assert!(!status.secret_present);
        assert!(
            status.reasons.iter().any(|r| r.contains("is gone")),
            "{:?}",
            status.reasons
        );
    }

    #[test]
    fn a_missing_account_is_broken() {
        let mut observed = healthy();
        observed.found.account = None;
        assert_eq!(assess(&observed).verdict, Verdict::Broken);
    }

    #[test]
    fn an_unfilled_token_is_broken() {
        let mut observed = healthy();
        observed.found.secret.as_mut().unwrap().data = None;
        let status = assess(&observed);
        assert_eq!(status.verdict, Verdict::Broken);
        assert!(!status.token_filled);
    }

    #[test]
    fn an_invalidated_token_is_broken() {
        let status = assess(&with_label(healthy(), INVALID_SINCE_LABEL, "2026-01-01"));
        assert_eq!(status.verdict, Verdict::Broken);
        assert_eq!(status.invalid_since.as_deref(), Some("2026-01-01"));
        assert!(status.reasons[0].contains("401"));
    }

    #[test]
    fn a_token_listed_in_the_accounts_secrets_is_broken() {
        let mut observed = healthy();
        let name = observed.spec.secret.clone();
        observed.found.account.as_mut().unwrap().secrets = Some(vec![ObjectReference {
            name: Some(name),
            ..Default::default()
        }]);
        let status = assess(&observed);
        assert_eq!(status.verdict, Verdict::Broken);
        assert!(status.reasons[0].contains("cleaner"));
    }

    #[test]
    fn a_binding_is_danger() {
        let mut observed = healthy();
        observed
            .bindings
            .push("RoleBinding kube-system/x (role Role y)".into());
        let status = assess(&observed);
        assert_eq!(status.verdict, Verdict::Broken);
        assert!(status.reasons[0].starts_with("DANGER"));
    }

    #[test]
    fn a_token_bound_to_an_earlier_account_is_broken() {
        let mut observed = healthy();
        observed.found.account.as_mut().unwrap().metadata.uid = Some("a2".into());
        assert_eq!(assess(&observed).verdict, Verdict::Broken);
    }

    #[test]
    fn the_outcome_puts_tripped_before_broken() {
        let armed = assess(&healthy());
        let mut broken = armed.clone();
        broken.verdict = Verdict::Broken;
        let mut tripped = armed.clone();
        tripped.verdict = Verdict::Tripped;
        assert_eq!(outcome(std::slice::from_ref(&armed)), Outcome::Success);
        assert_eq!(outcome(&[]), Outcome::NoDecoys);
        assert_eq!(outcome(&[armed.clone(), broken.clone()]), Outcome::Broken);
        assert_eq!(outcome(&[broken, tripped, armed]), Outcome::Tripped);
    }

    fn judged(
        observed: &Observed,
        record: Option<&PlantedRecord>,
        keyed: bool,
    ) -> Option<DecoyStatus> {
        let identity_problem =
            judge_identity(&observed.spec, &observed.found, record, keyed, false)?;
        Some(assess(&Observed {
            identity_problem,
            ..observed.clone()
        }))
    }

    #[test]
    fn an_account_made_again_is_broken_not_hidden() {
        let mut observed = healthy();
        observed.found.account.as_mut().unwrap().metadata.uid = Some("a2".into());
        observed.found.secret = None;
        let record = crate::decoy::test_record(&observed.spec, "a1", "s1");
        let status = judged(&observed, Some(&record), false).expect("reported");
        assert_eq!(status.verdict, Verdict::Broken);
        assert!(
            status.reasons[0].contains("made again"),
            "{:?}",
            status.reasons
        );
    }

    #[test]
    fn a_secret_swapped_for_an_opaque_one_is_broken() {
        let mut observed = healthy();
        observed.found.secret.as_mut().unwrap().type_ = Some("Opaque".into());
        // From the planting workstation ...
        let record = crate::decoy::test_record(&observed.spec, "a1", "");
        let status = judged(&observed, Some(&record), false).expect("reported");
        assert_eq!(status.verdict, Verdict::Broken);
        assert!(status.reasons[0].contains("Opaque"), "{:?}", status.reasons);
        // ... and from one with only the key: the account still looks like the decoy.
        let status = judged(&observed, None, false).expect("reported");
        assert_eq!(status.verdict, Verdict::Broken);
        assert!(
            status.reasons[0].contains("cannot be proven"),
            "{:?}",
            status.reasons
        );
    }

    #[test]
    fn a_decoy_shaped_account_without_its_secret_is_broken_even_without_a_record() {
        let mut observed = healthy();
        observed.found.secret = None;
        let status = judged(&observed, None, false).expect("reported");
        assert_eq!(status.verdict, Verdict::Broken);
        assert!(
            status
                .reasons
                .iter()
                .any(|r| r.contains("not made by plant"))
        );
    }

    #[test]
    fn an_account_that_only_shares_the_name_is_not_reported() {
        let mut observed = healthy();
        observed.found.secret = None;
        observed.found.account.as_mut().unwrap().metadata.labels =
            Some(BTreeMap::from([("app".into(), "helm".into())]));
        assert_eq!(judged(&observed, None, false), None);
        // Unless a token Secret with its keyed name points at it.
        assert!(judged(&observed, None, true).is_some());
    }

    #[test]
    fn a_decoy_shaped_account_with_a_token_of_its_own_is_another_keys() {
        let mut observed = healthy();
        observed.found.secret = None;
        let spec = observed.spec.clone();
        assert_eq!(
            judge_identity(&spec, &observed.found, None, false, true),
            None
        );
        assert!(judge_identity(&spec, &observed.found, None, false, false).is_some());
    }

    #[test]
    fn a_recorded_secret_made_again_is_broken() {
        let mut observed = healthy();
        observed.found.secret.as_mut().unwrap().metadata.uid = Some("s2".into());
        let record = crate::decoy::test_record(&observed.spec, "a1", "s1");
        let status = judged(&observed, Some(&record), false).expect("reported");
        assert_eq!(status.verdict, Verdict::Broken);
        assert!(status.reasons[0].contains("uid s2"), "{:?}", status.reasons);
    }

    #[test]
    fn a_profile_whose_account_owns_its_secret_is_armed_and_any_other_owner_is_not() {
        let observed = healthy_of(DecoySpec::new(
            crate::decoy::profile::find("rancher-kontainer-engine").unwrap(),
            &crate::home::Key::from_bytes([1; crate::home::KEY_LEN]),
            "uid",
            "cattle-system",
            "kontainer-engine",
        ));
        assert_eq!(
            assess(&observed).verdict,
            Verdict::Armed,
            "{:?}",
            assess(&observed).reasons
        );
        // The same owner reference on a tiller decoy is not its profile's: broken.
        let mut tiller = healthy();
        tiller
            .found
            .secret
            .as_mut()
            .unwrap()
            .metadata
            .owner_references = observed
            .found
            .secret
            .as_ref()
            .unwrap()
            .metadata
            .owner_references
            .clone();
        assert_eq!(assess(&tiller).verdict, Verdict::Broken);
    }

    #[test]
    fn owner_references_finalizers_and_deletion_are_reported() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
        let mut observed = healthy();
        let meta = &mut observed.found.secret.as_mut().unwrap().metadata;
        meta.owner_references = Some(vec![OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: "holder".into(),
            uid: "c1".into(),
            ..Default::default()
        }]);
        let status = assess(&observed);
        assert_eq!(status.verdict, Verdict::Broken);
        assert!(
            status.reasons[0].contains("ownerReference to ConfigMap holder"),
            "{:?}",
            status.reasons
        );
        let mut observed = healthy();
        let meta = &mut observed.found.account.as_mut().unwrap().metadata;
        meta.finalizers = Some(vec!["example.com/hold".into()]);
        meta.deletion_timestamp = Some(Time("2026-11-28T10:00:00Z".parse().unwrap()));
        let status = assess(&observed);
        assert_eq!(status.verdict, Verdict::Broken);
        let reasons = status.reasons.join("; ");
        assert!(reasons.contains("being deleted"), "{reasons}");
        assert!(
            reasons.contains("finalizers (example.com/hold)"),
            "{reasons}"
        );
    }

    #[test]
    fn an_unfinished_plant_is_broken() {
        let mut observed = healthy();
        observed.unfinished_plant = true;
        let status = assess(&observed);
        assert_eq!(status.verdict, Verdict::Broken);
        assert!(
            status.reasons[0].contains("interrupted"),
            "{:?}",
            status.reasons
        );
    }

    fn status_of(decoys: Vec<DecoyStatus>) -> StatusReport {
        StatusReport {
            schema_version: 1,
            server: "https://a".into(),
            namespaces: vec!["kube-system".into()],
            not_looked_in: Vec::new(),
            decoys,
        }
    }

    #[test]
    fn a_fleet_table_has_a_row_per_decoy_and_per_context_without_one() {
        use crate::cluster::fleet::{ContextRun, Ran};
        let armed = assess(&healthy());
        let tripped = assess(&with_label(healthy(), LAST_USED_LABEL, "2026-11-21"));
        let run = |context: &str, ran| ContextRun {
            context: context.into(),
            ran,
        };
        let runs = vec![
            run("prod", Ran::Done(status_of(vec![armed.clone(), tripped]))),
            run("dev", Ran::Done(status_of(Vec::new()))),
            run(
                "edge",
                Ran::Failed(Error::Invalid("cannot reach it".into())),
            ),
            run("far", Ran::TimedOut(std::time::Duration::from_secs(9))),
        ];
        let report = FleetReport::new("status", runs, |r| outcome(&r.decoys).code());
        assert_eq!(report.exit_code, crate::exit::TRIPPED);
        let home = Home::at("/nonexistent/home");
        let text = console::strip_ansi_codes(&fleet_table(&report, &home)).to_string();
        let rows: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(rows[0][0], "CONTEXT");
        let of = |context: &str| -> Vec<&Vec<&str>> {
            rows.iter()
                .filter(|r| r.first() == Some(&context))
                .collect()
        };
        assert_eq!(of("prod").len(), 2);
        assert!(of("prod").iter().any(|r| r.contains(&"armed")));
        assert!(of("prod").iter().any(|r| r.contains(&"TRIPPED")));
        assert_eq!(of("dev").len(), 1);
        assert!(
            text.contains("NO DECOYS")
                && text.contains("no decoys of this key in namespace(s) kube-system")
        );
        assert!(of("edge")[0].contains(&"FAILED") && text.contains("cannot reach it"));
        assert!(of("far")[0].join(" ").contains("TIMED OUT"));
        assert!(
            text.trim_end()
                .ends_with("4 contexts: 1 TRIPPED, 1 no decoys, 1 failed, 1 timed out."),
            "{text}"
        );
    }

    /// Decoys as a terminal shows them: one armed, one whose Secret is gone, one TRIPPED
    /// with a binding, in other namespaces.
    fn three_decoys() -> Vec<DecoyStatus> {
        let armed = assess(&healthy());
        let mut gone = healthy();
        gone.found.secret = None;
        let mut tripped = with_label(healthy(), LAST_USED_LABEL, "2026-11-21");
        tripped.bindings = vec!["ClusterRoleBinding/helm-server-cluster-admin".into()];
        let mut tripped = assess(&tripped);
        tripped.namespace = "apps".into();
        tripped.service_account = "helm-server".into();
        let mut planted = [armed, assess(&gone), tripped];
        for decoy in &mut planted {
            decoy.planted_at = Some("2026-11-20T11:02:00Z".parse().unwrap());
        }
        planted.to_vec()
    }

    #[test]
    fn the_table_says_the_time_zone_and_nothing_of_a_token_whose_secret_is_gone() {
        let decoys = three_decoys();
        let wide = decoy_table(&decoys).render(
            crate::ui::table::Fit {
                width: None,
                wide: true,
            },
            false,
        );
        let rows: Vec<&str> = wide.lines().collect();
        assert!(
            rows[0].starts_with("DECOY") && rows[0].contains("VALID"),
            "{wide}"
        );
        assert!(rows[1].contains("2026-11-20 11:02 UTC"), "{wide}");
        let column = |title: &str, row: &str| -> String {
            let at = rows[0].find(title).unwrap();
            row[at..].split_whitespace().next().unwrap().to_string()
        };
        assert_eq!(column("VALID", rows[1]), "yes", "{wide}");
        assert_eq!(column("TOKEN", rows[1]), "filled", "{wide}");
        // The Secret is gone: its token is neither filled nor valid, it is not there.
        assert_eq!(column("SECRET", rows[2]), "NO", "{wide}");
        assert_eq!(column("VALID", rows[2]), "-", "{wide}");
        assert_eq!(column("TOKEN", rows[2]), "-", "{wide}");
        assert_eq!(column("RBAC", rows[3]), "DANGER", "{wide}");
    }

    #[test]
    fn the_default_table_fits_80_columns_and_wide_adds_the_checks() {
        let decoys = three_decoys();
        let table = decoy_table(&decoys);
        let text = table.render(crate::ui::table::Fit::terminal(80), true);
        let plain = console::strip_ansi_codes(&text).to_string();
        for line in plain.lines() {
            assert!(line.chars().count() <= 80, "{plain}");
            assert_eq!(line, line.trim_end(), "{plain}");
        }
        let header = plain.lines().next().unwrap();
        for title in ["DECOY", "PROFILE", "PLANTED", "VERDICT", "REASON"] {
            assert!(header.contains(title), "{plain}");
        }
        for title in ["ACCOUNT", "TOKEN", "VALID", "RBAC"] {
            assert!(!header.contains(title), "{plain}");
        }
        // Whatever the wide columns would say is in the reasons.
        assert!(plain.contains("DANGER:"), "{plain}");
        assert!(plain.contains("gone"), "{plain}");
        // Whole words, never one broken over two lines.
        for word in [
            "kube-system/tiller",
            "apps/helm-server",
            "TRIPPED",
            "2026-11-20",
        ] {
            assert!(
                plain
                    .split_whitespace()
                    .any(|w| w.trim_end_matches(';') == word),
                "{word}: {plain}"
            );
        }
    }
}
