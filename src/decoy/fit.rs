//! How well a profile fits a cluster, judged from what `plant` reads cheaply: when
//! `kube-system` was created (the cluster's age), the server's version, and the objects a
//! real install would have left beside the account (or that mean the real installer is
//! already here). Pure: the facts are read by the cluster layer.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::decoy::profile::{ObjectQuery, Profile};

/// What was found for one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Present,
    Absent,
    /// The API server would not say (forbidden, or another error): neither counted for nor
    /// against the fit, and said so.
    Unknown,
}

/// What `plant` read of the cluster.
#[derive(Debug, Clone, Default)]
pub struct ClusterFacts {
    /// When `kube-system` was created: the cluster's birth.
    pub born: Option<jiff::Timestamp>,
    /// `gitVersion` of the API server.
    pub server_version: Option<String>,
    pub objects: BTreeMap<ObjectQuery, Presence>,
}

impl ClusterFacts {
    fn presence(&self, query: &ObjectQuery) -> Presence {
        self.objects
            .get(query)
            .copied()
            .unwrap_or(Presence::Unknown)
    }

    /// One line for people: "v1.36.3, kube-system created 2026-12-03".
    pub fn describe(&self) -> String {
        let version = self.server_version.as_deref().unwrap_or("version unknown");
        match self.born {
            Some(born) => format!(
                "{version}, kube-system created {}",
                born.strftime("%Y-%m-%d")
            ),
            None => format!("{version}, kube-system's age unknown"),
        }
    }
}

/// From best to worst; `Conflict` is never planted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Grade {
    Conflict,
    Poor,
    Fair,
    Good,
}

impl std::fmt::Display for Grade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Grade::Good => "good",
            Grade::Fair => "fair",
            Grade::Poor => "poor",
            Grade::Conflict => "CONFLICT",
        })
    }
}

/// A profile's fit to this cluster, with the reasons for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fit {
    pub profile: String,
    pub grade: Grade,
    pub reasons: Vec<String>,
}

impl Fit {
    pub fn summary(&self) -> String {
        format!("{}: {}", self.grade, self.reasons.join("; "))
    }
}

/// Every object the fit of these profiles asks about, each once.
pub fn queries<'a>(profiles: impl IntoIterator<Item = &'a Profile>) -> BTreeSet<ObjectQuery> {
    profiles
        .into_iter()
        .flat_map(|p| {
            p.fit
                .companions
                .iter()
                .chain(&p.fit.requires)
                .chain(&p.fit.conflicts)
                .cloned()
        })
        .collect()
}

/// Judges one profile against the facts.
pub fn judge(profile: &Profile, facts: &ClusterFacts) -> Fit {
    let mut reasons = Vec::new();
    let mut grade = Grade::Good;
    let lower = |to: Grade, grade: &mut Grade| *grade = (*grade).min(to);

    let conflicts: Vec<&ObjectQuery> = profile
        .fit
        .conflicts
        .iter()
        .filter(|q| facts.presence(q) == Presence::Present)
        .collect();
    for query in &conflicts {
        reasons.push(format!(
            "{query} exists: the real installer is here, and would adopt a decoy of this name"
        ));
    }
    if !conflicts.is_empty() {
        lower(Grade::Conflict, &mut grade);
    }
    for query in profile
        .fit
        .conflicts
        .iter()
        .filter(|q| facts.presence(q) == Presence::Unknown)
    {
        reasons.push(format!("could not check for {query}"));
    }

    match (facts.born, profile.era.until) {
        (Some(born), Some(until)) if born_year(born) > until => {
            lower(Grade::Poor, &mut grade);
            reasons.push(format!(
                "out of its era: made until {until}, and this cluster dates from {}",
                born_year(born)
            ));
        }
        (Some(born), _) => reasons.push(format!(
            "in its era ({}), cluster from {}",
            era_text(profile),
            born_year(born)
        )),
        (None, _) => reasons.push("the cluster's age is unknown".to_string()),
    }

    if profile.era.used_daily {
        match facts.server_version.as_deref().and_then(minor_version) {
            Some(minor) if minor >= LAST_USED_SINCE_MINOR => {
                lower(Grade::Fair, &mut grade);
                reasons.push(format!(
                    "a real one is used all day, so on 1.{minor} it would carry a recent \
                     legacy-token-last-used label; the decoy carries none until used (it \
                     reads as a registration left behind)"
                ));
            }
            Some(_) => {}
            None => reasons.push("the server's version is unknown".to_string()),
        }
    }
    for query in &profile.fit.requires {
        match facts.presence(query) {
            Presence::Present => reasons.push(format!("{query} is here")),
            Presence::Absent => {
                lower(Grade::Poor, &mut grade);
                reasons.push(format!(
                    "{query} is missing, and the account makes no sense without it"
                ));
            }
            Presence::Unknown => reasons.push(format!("could not check for {query}")),
        }
    }

    if !profile.fit.companions.is_empty() {
        let present: Vec<&ObjectQuery> = profile
            .fit
            .companions
            .iter()
            .filter(|q| facts.presence(q) == Presence::Present)
            .collect();
        if let Some(first) = present.first() {
            reasons.push(format!("{first} is here, as beside a real install"));
        } else {
            lower(Grade::Fair, &mut grade);
            let unknown = profile
                .fit
                .companions
                .iter()
                .any(|q| facts.presence(q) == Presence::Unknown);
            reasons.push(format!(
                "nothing a real install leaves beside it {}",
                if unknown {
                    "was found (some could not be checked)"
                } else {
                    "is here"
                }
            ));
        }
    }

    Fit {
        profile: profile.name.clone(),
        grade,
        reasons,
    }
}

/// The first minor version whose API server stamps `legacy-token-last-used` on each use
/// of a Secret-based token (LegacyServiceAccountTokenTracking, GA in 1.28).
const LAST_USED_SINCE_MINOR: u32 = 28;

/// The minor version of a `gitVersion` such as `v1.36.3` or `v1.30.2-eks-1234`.
fn minor_version(git_version: &str) -> Option<u32> {
    let rest = git_version.strip_prefix('v')?.strip_prefix("1.")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn born_year(born: jiff::Timestamp) -> i16 {
    born.to_zoned(jiff::tz::TimeZone::UTC).year()
}

fn era_text(profile: &Profile) -> String {
    match profile.era.until {
        Some(until) => format!("{}-{until}", profile.era.from),
        None => format!("{} on", profile.era.from),
    }
}

/// The best fit: the highest grade, the first of equals (profiles are in order of
/// preference). None when every profile conflicts.
pub fn best(fits: &[Fit]) -> Option<&Fit> {
    let top = fits.iter().map(|f| f.grade).max()?;
    (top > Grade::Conflict)
        .then(|| fits.iter().find(|f| f.grade == top))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoy::profile::{QueryKind, find};

    fn facts(born: &str, present: &[ObjectQuery], absent: &[ObjectQuery]) -> ClusterFacts {
        let mut objects = BTreeMap::new();
        for q in present {
            objects.insert(q.clone(), Presence::Present);
        }
        for q in absent {
            objects.insert(q.clone(), Presence::Absent);
        }
        ClusterFacts {
            born: Some(born.parse().unwrap()),
            server_version: Some("v1.36.3".into()),
            objects,
        }
    }

    fn named(kind: QueryKind, namespace: Option<&str>, name: &str) -> ObjectQuery {
        ObjectQuery {
            kind,
            namespace: namespace.map(String::from),
            name: Some(name.into()),
            label_selector: None,
        }
    }

    fn all_absent(profile: &Profile) -> Vec<ObjectQuery> {
        queries([profile]).into_iter().collect()
    }

    #[test]
    fn tiller_on_a_young_cluster_is_poor_and_on_an_old_one_with_tiller_deploy_good() {
        let tiller = find("tiller").unwrap();
        let young = judge(
            tiller,
            &facts("2025-03-01T00:00:00Z", &[], &all_absent(tiller)),
        );
        assert_eq!(young.grade, Grade::Poor);
        assert!(
            young.summary().contains("until 2020"),
            "{}",
            young.summary()
        );
        assert!(young.summary().contains("2025"), "{}", young.summary());

        let deploy = named(QueryKind::Deployment, Some("kube-system"), "tiller-deploy");
        let old = judge(
            tiller,
            &facts("2019-06-01T00:00:00Z", std::slice::from_ref(&deploy), &[]),
        );
        assert_eq!(old.grade, Grade::Good, "{}", old.summary());
        assert!(old.summary().contains("tiller-deploy"));

        let bare = judge(
            tiller,
            &facts("2019-06-01T00:00:00Z", &[], &all_absent(tiller)),
        );
        assert_eq!(bare.grade, Grade::Fair, "{}", bare.summary());
    }

    #[test]
    fn a_real_argocd_registration_is_a_conflict() {
        let argocd = find("argocd-manager").unwrap();
        let role = named(QueryKind::ClusterRole, None, "argocd-manager-role");
        let fit = judge(argocd, &facts("2026-01-01T00:00:00Z", &[role], &[]));
        assert_eq!(fit.grade, Grade::Conflict);
        assert!(fit.summary().contains("argocd-manager-role"));
        let clean = judge(
            argocd,
            &facts("2026-01-01T00:00:00Z", &[], &all_absent(argocd)),
        );
        // A polled token without its last-used label on 1.36: a registration left behind.
        assert_eq!(clean.grade, Grade::Fair, "{}", clean.summary());
        assert!(clean.summary().contains("legacy-token-last-used"));
        let mut older = facts("2022-01-01T00:00:00Z", &[], &all_absent(argocd));
        older.server_version = Some("v1.27.9-eks-1234".into());
        assert_eq!(judge(argocd, &older).grade, Grade::Good);
    }

    #[test]
    fn a_missing_product_namespace_makes_a_poor_fit_and_an_unknown_one_is_said() {
        let dashboard = find("dashboard-admin-user").unwrap();
        let fit = judge(
            dashboard,
            &facts("2024-01-01T00:00:00Z", &[], &all_absent(dashboard)),
        );
        assert_eq!(fit.grade, Grade::Poor);
        assert!(fit.summary().contains("kubernetes-dashboard is missing"));
        let unknown = judge(dashboard, &facts("2024-01-01T00:00:00Z", &[], &[]));
        assert!(
            unknown.summary().contains("could not check"),
            "{}",
            unknown.summary()
        );
        assert_ne!(unknown.grade, Grade::Poor);
    }

    #[test]
    fn the_best_fit_is_the_first_of_the_highest_grade_and_never_a_conflict() {
        let fit = |profile: &str, grade| Fit {
            profile: profile.into(),
            grade,
            reasons: vec![],
        };
        let fits = [
            fit("a", Grade::Poor),
            fit("b", Grade::Good),
            fit("c", Grade::Good),
        ];
        assert_eq!(best(&fits).unwrap().profile, "b");
        assert!(best(&[fit("a", Grade::Conflict)]).is_none());
        assert!(best(&[]).is_none());
    }

    #[test]
    fn on_a_bare_cluster_of_today_tiller_is_never_the_best() {
        let profiles: Vec<&Profile> = crate::decoy::profile::PROFILES.iter().collect();
        let absent: Vec<ObjectQuery> = queries(profiles.iter().copied()).into_iter().collect();
        let today = facts("2026-12-01T00:00:00Z", &[], &absent);
        let fits: Vec<Fit> = profiles.iter().map(|p| judge(p, &today)).collect();
        let best = best(&fits).unwrap();
        assert!(best.grade >= Grade::Fair, "{best:?}");
        assert_ne!(best.profile, "tiller");
    }

    #[test]
    fn minor_versions_are_read_from_distribution_versions() {
        assert_eq!(minor_version("v1.36.3"), Some(36));
        assert_eq!(minor_version("v1.30.2-eks-1234"), Some(30));
        assert_eq!(minor_version("v1.29.1-gke.1589000"), Some(29));
        assert_eq!(minor_version("1.29"), None);
        assert_eq!(minor_version("v2.0.0"), None);
    }
}
