//! The tripwire: every successful authentication with a legacy token makes the API server
//! stamp `kubernetes.io/legacy-token-last-used: <UTC day>` on the token's Secret, unless
//! the label already holds that day. Removing the label re-arms it: the next use stamps it
//! again. Pure: what a Secret's metadata says, what changed, and the patch that re-arms.

use kube::api::ObjectMeta;
use serde::Serialize;

pub const LAST_USED_LABEL: &str = "kubernetes.io/legacy-token-last-used";
pub const INVALID_SINCE_LABEL: &str = "kubernetes.io/legacy-token-invalid-since";

/// The API server caches a successful token authentication this long
/// (`TokenSuccessCacheTTL`): a use within it of the previous use is not stamped again.
pub const TOKEN_CACHE_SECONDS: u64 = 10;

/// The field manager of a re-arm. It is what `kubectl label` sends, so the Secret's
/// managed fields read like a person's edit and name no tool of ours.
pub const REARM_FIELD_MANAGER: &str = "kubectl-label";

/// What a token Secret's metadata says about its tripwire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mark {
    pub uid: Option<String>,
    /// The version the re-arm is conditional on.
    #[serde(skip)]
    pub resource_version: Option<String>,
    /// The stamp: the UTC day of a use since the last re-arm.
    pub last_used: Option<String>,
    /// Set by the legacy token cleaner: the token no longer authenticates.
    pub invalid_since: Option<String>,
    /// Whether a field manager owns `data.token` (from `managedFields`, which metadata
    /// carries): a token key removed from the Secret shows as this turning false. None when
    /// the API server sent no managed fields.
    #[serde(skip)]
    pub token_managed: Option<bool>,
}

impl Mark {
    pub fn of(meta: &ObjectMeta) -> Mark {
        let label = |name: &str| meta.labels.as_ref().and_then(|l| l.get(name)).cloned();
        Mark {
            uid: meta.uid.clone(),
            resource_version: meta.resource_version.clone(),
            last_used: label(LAST_USED_LABEL),
            invalid_since: label(INVALID_SINCE_LABEL),
            token_managed: meta
                .managed_fields
                .as_ref()
                .filter(|entries| !entries.is_empty())
                .map(|entries| {
                    entries.iter().any(|entry| {
                        entry
                            .fields_v1
                            .as_ref()
                            .and_then(|fields| fields.0.get("f:data"))
                            .and_then(|data| data.get("f:token"))
                            .is_some()
                    })
                }),
        }
    }

    pub fn stamped(&self) -> bool {
        self.last_used.is_some()
    }
}

/// The merge patch that removes the stamp, applied only while the Secret is still at the
/// version in which it was seen: a use that stamps between seeing and re-arming changes
/// the version, the API server answers 409 Conflict, and the stamp stays. None when there
/// is nothing to remove or no version to be conditional on.
pub fn rearm_patch(mark: &Mark) -> Option<serde_json::Value> {
    mark.last_used.as_ref()?;
    let version = mark.resource_version.as_ref()?;
    // No UID in it: a replaced Secret has another version too, and a UID that differs
    // would be refused as an invalid change instead of a conflict.
    Some(serde_json::json!({ "metadata": {
        "resourceVersion": version,
        "labels": { LAST_USED_LABEL: null },
    }}))
}

/// What changed in a decoy's token Secret between two sightings, in the order a watcher
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum Change {
    /// The token authenticated: the stamp appeared, or its day moved on.
    Stamped { day: String },
    /// The Secret is another object of the same name: the decoy was replaced.
    Replaced { before: String, after: String },
    /// The legacy token cleaner invalidated the token.
    Invalidated { since: String },
}

/// The changes from `before` (None: not seen before) to `after`. A first sighting that is
/// already stamped counts as a stamp: a use while nobody watched is still a use.
pub fn changes(before: Option<&Mark>, after: &Mark) -> Vec<Change> {
    let mut found = Vec::new();
    if let Some(before) = before
        && let (Some(was), Some(is)) = (&before.uid, &after.uid)
        && was != is
    {
        found.push(Change::Replaced {
            before: was.clone(),
            after: is.clone(),
        });
    }
    let replaced = !found.is_empty();
    let previous = before.filter(|_| !replaced);
    if let Some(day) = &after.last_used
        && previous.and_then(|b| b.last_used.as_ref()) != Some(day)
    {
        found.push(Change::Stamped { day: day.clone() });
    }
    if let Some(since) = &after.invalid_since
        && previous.and_then(|b| b.invalid_since.as_ref()) != Some(since)
    {
        found.push(Change::Invalidated {
            since: since.clone(),
        });
    }
    found
}

/// What one watch of a decoy object (its token Secret or its ServiceAccount) delivered,
/// as the cluster layer tells it: a (re)list of what exists, then changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sighting {
    /// The watch (re)starts with a list: the objects listed follow, then `ListDone`.
    Relisting,
    /// The object, as listed.
    Listed(Mark),
    /// The list is complete: an object not listed does not exist.
    ListDone,
    /// The object was created or changed.
    Applied(Mark),
    /// The object was deleted.
    Deleted,
}

/// Why a decoy no longer works as one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "broken", rename_all = "camelCase")]
pub enum Breakage {
    /// Not there when the watcher started.
    Missing,
    Deleted,
    /// Another object of the same name (a new UID).
    Replaced {
        before: String,
        after: String,
    },
    /// The legacy token cleaner invalidated the token: requests with it fail (401).
    Invalidated {
        since: String,
    },
    /// The Secret's `data.token` was removed (seen in its managed fields): nothing
    /// authenticates with the decoy any more.
    TokenRemoved,
    /// A binding grants the account something: a decoy must grant nothing.
    Granted {
        bindings: Vec<String>,
    },
}

/// What the watcher concludes from one sighting of a decoy object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The token authenticated: the stamp appeared or moved on. `mark` is the object as
    /// seen with the stamp, what a re-arm is conditional on.
    Used {
        day: String,
        mark: Mark,
    },
    Broken(Breakage),
}

/// The watcher's memory of one watched object: the last version seen (kept after a
/// deletion, so a re-creation is told as a replacement) and where a relist stands. Its
/// size does not grow with time.
#[derive(Debug, Clone, Default)]
pub struct Track {
    last: Option<Mark>,
    present: bool,
    listing: bool,
    listed: bool,
    started: bool,
}

impl Track {
    pub fn present(&self) -> bool {
        self.present
    }

    /// The object as last seen, while it is there.
    pub fn latest(&self) -> Option<&Mark> {
        self.last.as_ref().filter(|_| self.present)
    }

    /// The findings of one sighting, in order. A stamp already there at the first list is a
    /// use (one made while nobody watched); a relist after a lost watch reports what
    /// changed meanwhile, and an object not listed again as deleted.
    pub fn sight(&mut self, sighting: Sighting) -> Vec<Finding> {
        match sighting {
            Sighting::Relisting => {
                self.listing = true;
                self.listed = false;
                Vec::new()
            }
            Sighting::Listed(mark) | Sighting::Applied(mark) => {
                if self.listing {
                    self.listed = true;
                }
                let before = self.last.as_ref();
                let token_removed = before.is_some_and(|b| {
                    b.uid == mark.uid
                        && b.token_managed == Some(true)
                        && mark.token_managed == Some(false)
                });
                let mut found: Vec<Finding> = changes(before, &mark)
                    .into_iter()
                    .map(|change| match change {
                        Change::Stamped { day } => Finding::Used {
                            day,
                            mark: mark.clone(),
                        },
                        Change::Replaced { before, after } => {
                            Finding::Broken(Breakage::Replaced { before, after })
                        }
                        Change::Invalidated { since } => {
                            Finding::Broken(Breakage::Invalidated { since })
                        }
                    })
                    .collect();
                if token_removed {
                    found.push(Finding::Broken(Breakage::TokenRemoved));
                }
                self.last = Some(mark);
                self.present = true;
                self.started = true;
                found
            }
            Sighting::ListDone => {
                let mut found = Vec::new();
                if self.listing && !self.listed {
                    if !self.started {
                        found.push(Finding::Broken(Breakage::Missing));
                    } else if self.present {
                        found.push(Finding::Broken(Breakage::Deleted));
                    }
                    self.present = false;
                }
                self.listing = false;
                self.started = true;
                found
            }
            Sighting::Deleted => {
                let was = self.present;
                self.present = false;
                self.started = true;
                if was {
                    vec![Finding::Broken(Breakage::Deleted)]
                } else {
                    Vec::new()
                }
            }
        }
    }
}

/// The bindings naming the account now that were not told before: each is told once,
/// and again only after it was gone for a look.
pub fn new_grants(told: &std::collections::BTreeSet<String>, now: &[String]) -> Vec<String> {
    let mut fresh: Vec<String> = now.iter().filter(|b| !told.contains(*b)).cloned().collect();
    fresh.sort();
    fresh.dedup();
    fresh
}

/// When a watcher removes a stamp it reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RearmPlan {
    /// At once: the next use must stamp again.
    Now,
    /// A drill's stamp is the drill's to remove (it does, conditionally); the watcher removes
    /// it itself only if it is still there when the drill's notice expires.
    AfterDrill,
    /// `--no-rearm`: the stamp stays as evidence.
    Never,
}

pub fn rearm_plan(rearm: bool, drill: bool) -> RearmPlan {
    match (rearm, drill) {
        (false, _) => RearmPlan::Never,
        (true, true) => RearmPlan::AfterDrill,
        (true, false) => RearmPlan::Now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn meta(uid: &str, version: &str, labels: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            uid: Some(uid.into()),
            resource_version: Some(version.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..Default::default()
        }
    }

    fn mark(uid: &str, version: &str, labels: &[(&str, &str)]) -> Mark {
        Mark::of(&meta(uid, version, labels))
    }

    #[test]
    fn a_mark_reads_both_labels_and_the_version() {
        let m = mark(
            "u",
            "7",
            &[
                (LAST_USED_LABEL, "2026-12-03"),
                (INVALID_SINCE_LABEL, "2026-12-01"),
                ("app", "x"),
            ],
        );
        assert_eq!(m.uid.as_deref(), Some("u"));
        assert_eq!(m.resource_version.as_deref(), Some("7"));
        assert_eq!(m.last_used.as_deref(), Some("2026-12-03"));
        assert_eq!(m.invalid_since.as_deref(), Some("2026-12-01"));
        assert!(m.stamped());
        let bare = Mark::of(&ObjectMeta::default());
        assert!(!bare.stamped());
        assert_eq!(bare.invalid_since, None);
    }

    #[test]
    fn the_rearm_patch_removes_only_the_stamp_and_is_conditional() {
        let patch = rearm_patch(&mark("u1", "42", &[(LAST_USED_LABEL, "2026-12-03")])).unwrap();
        assert_eq!(
            patch,
            serde_json::json!({"metadata": {
                "resourceVersion": "42",
                "labels": {LAST_USED_LABEL: null},
            }})
        );
    }

    #[test]
    fn nothing_to_rearm_without_a_stamp_or_a_version() {
        assert_eq!(rearm_patch(&mark("u", "1", &[])), None);
        let mut unversioned = mark("u", "1", &[(LAST_USED_LABEL, "2026-12-03")]);
        unversioned.resource_version = None;
        assert_eq!(rearm_patch(&unversioned), None);
    }

    #[test]
    fn a_first_sighting_already_stamped_is_a_stamp() {
        let after = mark("u", "1", &[(LAST_USED_LABEL, "2026-12-03")]);
        assert_eq!(
            changes(None, &after),
            vec![Change::Stamped {
                day: "2026-12-03".into()
            }]
        );
        assert_eq!(changes(None, &mark("u", "1", &[])), vec![]);
    }

    #[test]
    fn a_new_stamp_and_a_new_day_are_uses_and_an_unchanged_one_is_not() {
        let armed = mark("u", "1", &[]);
        let stamped = mark("u", "2", &[(LAST_USED_LABEL, "2026-12-03")]);
        let next_day = mark("u", "3", &[(LAST_USED_LABEL, "2026-12-04")]);
        assert_eq!(
            changes(Some(&armed), &stamped),
            vec![Change::Stamped {
                day: "2026-12-03".into()
            }]
        );
        assert_eq!(
            changes(Some(&stamped), &next_day),
            vec![Change::Stamped {
                day: "2026-12-04".into()
            }]
        );
        let relabelled = mark("u", "4", &[(LAST_USED_LABEL, "2026-12-03"), ("a", "b")]);
        assert_eq!(changes(Some(&stamped), &relabelled), vec![]);
        // The re-arm itself is no change worth telling.
        assert_eq!(changes(Some(&stamped), &mark("u", "5", &[])), vec![]);
    }

    #[test]
    fn a_replaced_secret_is_told_and_its_labels_judged_afresh() {
        let before = mark("u1", "1", &[(LAST_USED_LABEL, "2026-12-03")]);
        let after = mark("u2", "9", &[(LAST_USED_LABEL, "2026-12-03")]);
        assert_eq!(
            changes(Some(&before), &after),
            vec![
                Change::Replaced {
                    before: "u1".into(),
                    after: "u2".into()
                },
                Change::Stamped {
                    day: "2026-12-03".into()
                },
            ]
        );
    }

    #[test]
    fn invalidation_is_told_once() {
        let before = mark("u", "1", &[]);
        let after = mark("u", "2", &[(INVALID_SINCE_LABEL, "2026-12-03")]);
        assert_eq!(
            changes(Some(&before), &after),
            vec![Change::Invalidated {
                since: "2026-12-03".into()
            }]
        );
        assert_eq!(changes(Some(&after), &after), vec![]);
    }

    fn used(day: &str, m: &Mark) -> Finding {
        Finding::Used {
            day: day.into(),
            mark: m.clone(),
        }
    }

    #[test]
    fn a_track_reports_a_stamp_found_at_start_then_each_new_stamp_and_not_the_rearm() {
        let mut track = Track::default();
        let stamped = mark("u", "1", &[(LAST_USED_LABEL, "2026-12-03")]);
        assert_eq!(track.sight(Sighting::Relisting), vec![]);
        assert_eq!(
            track.sight(Sighting::Listed(stamped.clone())),
            vec![used("2026-12-03", &stamped)]
        );
        assert_eq!(track.sight(Sighting::ListDone), vec![]);
        assert_eq!(track.sight(Sighting::Applied(mark("u", "2", &[]))), vec![]);
        let again = mark("u", "3", &[(LAST_USED_LABEL, "2026-12-03")]);
        assert_eq!(
            track.sight(Sighting::Applied(again.clone())),
            vec![used("2026-12-03", &again)]
        );
        // A relist after a lost watch that finds the same stamp tells nothing new.
        track.sight(Sighting::Relisting);
        assert_eq!(track.sight(Sighting::Listed(again)), vec![]);
        assert_eq!(track.sight(Sighting::ListDone), vec![]);
    }

    #[test]
    fn a_track_tells_missing_deleted_and_replaced() {
        let mut missing = Track::default();
        missing.sight(Sighting::Relisting);
        assert_eq!(
            missing.sight(Sighting::ListDone),
            vec![Finding::Broken(Breakage::Missing)]
        );

        let mut track = Track::default();
        track.sight(Sighting::Relisting);
        track.sight(Sighting::Listed(mark("u1", "1", &[])));
        track.sight(Sighting::ListDone);
        assert!(track.present());
        assert_eq!(
            track.sight(Sighting::Deleted),
            vec![Finding::Broken(Breakage::Deleted)]
        );
        assert_eq!(track.sight(Sighting::Deleted), vec![]);
        assert_eq!(
            track.sight(Sighting::Applied(mark("u2", "5", &[]))),
            vec![Finding::Broken(Breakage::Replaced {
                before: "u1".into(),
                after: "u2".into()
            })]
        );

        // Deleted while the watch was down: the relist does not list it.
        track.sight(Sighting::Relisting);
        assert_eq!(
            track.sight(Sighting::ListDone),
            vec![Finding::Broken(Breakage::Deleted)]
        );
    }

    #[test]
    fn a_token_key_removed_shows_in_the_managed_fields() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};
        let with = |token: bool| {
            let mut m = meta("u", "1", &[]);
            let fields = if token {
                serde_json::json!({"f:data": {".": {}, "f:token": {}, "f:ca.crt": {}}})
            } else {
                serde_json::json!({"f:data": {".": {}, "f:ca.crt": {}}})
            };
            m.managed_fields = Some(vec![ManagedFieldsEntry {
                manager: Some("kube-controller-manager".into()),
                fields_v1: Some(FieldsV1(fields)),
                ..Default::default()
            }]);
            Mark::of(&m)
        };
        assert_eq!(with(true).token_managed, Some(true));
        assert_eq!(with(false).token_managed, Some(false));
        assert_eq!(Mark::of(&meta("u", "1", &[])).token_managed, None);
        let mut track = Track::default();
        track.sight(Sighting::Relisting);
        track.sight(Sighting::Listed(with(true)));
        track.sight(Sighting::ListDone);
        assert_eq!(
            track.sight(Sighting::Applied(with(false))),
            vec![Finding::Broken(Breakage::TokenRemoved)]
        );
        // Not told again, and a Secret without managed fields is not judged.
        assert_eq!(track.sight(Sighting::Applied(with(false))), vec![]);
        assert_eq!(track.sight(Sighting::Applied(mark("u", "3", &[]))), vec![]);
    }

    #[test]
    fn new_grants_are_told_once() {
        let told: std::collections::BTreeSet<String> = ["RoleBinding a/x".to_string()].into();
        assert_eq!(
            new_grants(
                &told,
                &["RoleBinding a/x".into(), "ClusterRoleBinding y".into()]
            ),
            vec!["ClusterRoleBinding y".to_string()]
        );
        assert!(new_grants(&told, &["RoleBinding a/x".into()]).is_empty());
    }

    #[test]
    fn drills_stamps_are_left_to_the_drill_and_no_rearm_leaves_all() {
        assert_eq!(rearm_plan(true, false), RearmPlan::Now);
        assert_eq!(rearm_plan(true, true), RearmPlan::AfterDrill);
        assert_eq!(rearm_plan(false, false), RearmPlan::Never);
        assert_eq!(rearm_plan(false, true), RearmPlan::Never);
    }
}
