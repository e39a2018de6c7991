//! The cheap requests an attacker tests a found token with, and the API server's stamp of
//! the token's Secret they cause: which of them an audit policy logs, and what the
//! tripwire adds. Pure: the policy, the decoy and the state of its label are passed in.
//!
//! Every request that authenticates with a legacy token makes the API server stamp
//! `kubernetes.io/legacy-token-last-used` on the token's Secret, whatever the path and
//! whatever the policy says about it, unless the label already holds today or tomorrow
//! (so, once re-armed by removing the label, at the next use) and unless the API server's
//! cache of successful token authentications (10 s) answers the request. The stamp is a
//! `patch` of the Secret by `system:apiserver`, which the policy judges like any other
//! write to a Secret.

use serde::Serialize;

use super::APISERVER_USER;
use super::policy::{Level, Policy, Request, Target, is_long_running};

pub use crate::decoy::tripwire::LAST_USED_LABEL;

/// The paths attackers try a token on first: version, health, discovery, and the service
/// account issuer's public documents, all readable by any authenticated user.
pub const PROBE_PATHS: [&str; 8] = [
    "/version",
    "/healthz",
    "/livez",
    "/readyz",
    "/api",
    "/apis",
    "/.well-known/openid-configuration",
    "/openid/v1/jwks",
];

/// The groups the API server's loopback client authenticates with (seen on the bed).
pub const APISERVER_GROUPS: [&str; 2] = ["system:authenticated", "system:masters"];

/// `GET path` as the decoy user.
pub fn probe(user: &str, groups: &[String], path: &str) -> Request {
    Request {
        user: user.to_string(),
        groups: groups.to_vec(),
        verb: "get".to_string(),
        target: Target::NonResource {
            path: path.to_string(),
        },
    }
}

/// The API server's stamp of the Secret `namespace/name`.
pub fn stamp(namespace: &str, name: &str) -> Request {
    Request {
        user: APISERVER_USER.to_string(),
        groups: APISERVER_GROUPS.iter().map(|g| g.to_string()).collect(),
        verb: "patch".to_string(),
        target: Target::Resource {
            api_group: String::new(),
            resource: "secrets".to_string(),
            subresource: String::new(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        },
    }
}

/// Whether the next use of the token will be stamped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum Tripwire {
    /// The label is absent (or of an earlier day): the next use is stamped.
    Armed,
    /// The label holds today or tomorrow: no use is stamped until it is removed (re-armed)
    /// or the day has passed.
    Tripped { day: String },
    /// The Secret could not be read.
    Unknown,
}

/// The tripwire's state from the Secret's label (`None`: no label) on `today` (UTC).
pub fn tripwire(label: Option<&str>, secret_read: bool, today: jiff::civil::Date) -> Tripwire {
    if !secret_read {
        return Tripwire::Unknown;
    }
    let Some(day) = label else {
        return Tripwire::Armed;
    };
    let stamped_anew = match day.parse::<jiff::civil::Date>() {
        // The API server leaves the label alone when it holds today or tomorrow.
        Ok(date) => date != today && today.tomorrow().ok() != Some(date),
        // A value it cannot read is replaced.
        Err(_) => true,
    };
    if stamped_anew {
        Tripwire::Armed
    } else {
        Tripwire::Tripped {
            day: day.to_string(),
        }
    }
}

/// What sees a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Catcher {
    /// The probe's own audit event: who, from where, what.
    AuditLog,
    /// The audit event of the API server's stamp: the token authenticated, and when.
    StampEvent,
    /// The label itself (`watch --tripwire`, `status`), with or without audit logs.
    Tripwire,
}

/// Whether the policy logs a request: its level and the rule that decided, when it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Logged {
    pub level: Level,
    /// The deciding rule's index, `None` when no rule matched.
    pub rule: Option<usize>,
    /// An event is written for it (a level above None and a stage left to log).
    pub logged: bool,
}

/// What the policy does with `request`.
pub fn logged(policy: &Policy, request: &Request) -> Logged {
    let decision = policy.evaluate(request);
    let logged = !decision.logged_stages(is_long_running(request)).is_empty();
    Logged {
        level: decision.level,
        rule: decision.rule,
        logged,
    }
}

/// One probe's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeVerdict {
    pub path: String,
    /// `None` without a policy to evaluate.
    pub audit: Option<Logged>,
    pub caught_by: Vec<Catcher>,
}

/// The probes' verdicts and the stamp's, for a policy (if known) and the tripwire's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeReport {
    pub probes: Vec<ProbeVerdict>,
    /// Whether the policy logs the stamp; `None` without a policy.
    pub stamp: Option<Logged>,
    pub tripwire: Tripwire,
}

impl ProbeReport {
    /// With a policy: it logs none of the probes and not the stamp either, so only the
    /// label tells of a token test.
    pub fn audit_blind(&self) -> bool {
        self.stamp.as_ref().is_some_and(|s| !s.logged)
            && self
                .probes
                .iter()
                .all(|p| p.audit.as_ref().is_some_and(|a| !a.logged))
    }
}

/// Evaluates the probes as `user` (with the groups of its requests) and the stamp of the
/// decoy Secret `namespace/secret`.
pub fn evaluate(
    policy: Option<&Policy>,
    user: &str,
    groups: &[String],
    namespace: &str,
    secret: &str,
    tripwire: Tripwire,
) -> ProbeReport {
    let stamp = policy.map(|p| logged(p, &stamp(namespace, secret)));
    let armed = tripwire == Tripwire::Armed;
    let stamp_logged = stamp.as_ref().is_some_and(|s| s.logged);
    let probes = PROBE_PATHS
        .iter()
        .map(|path| {
            let audit = policy.map(|p| logged(p, &probe(user, groups, path)));
            let mut caught_by = Vec::new();
            if audit.as_ref().is_some_and(|a| a.logged) {
                caught_by.push(Catcher::AuditLog);
            }
            if armed && stamp_logged {
                caught_by.push(Catcher::StampEvent);
            }
            if armed {
                caught_by.push(Catcher::Tripwire);
            }
            ProbeVerdict {
                path: path.to_string(),
                audit,
                caught_by,
            }
        })
        .collect();
    ProbeReport {
        probes,
        stamp,
        tripwire,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "system:serviceaccount:kube-system:tiller";

    fn groups() -> Vec<String> {
        vec![
            "system:serviceaccounts".into(),
            "system:serviceaccounts:kube-system".into(),
            "system:authenticated".into(),
        ]
    }

    fn policy(text: &str) -> Policy {
        super::super::policy::parse(text).unwrap()
    }

    /// tests/controlplane/audit-policy.yaml, the bed's.
    const BED: &str = include_str!("../../tests/controlplane/audit-policy.yaml");

    fn day(text: &str) -> jiff::civil::Date {
        text.parse().unwrap()
    }

    fn caught(report: &ProbeReport, path: &str) -> Vec<Catcher> {
        report
            .probes
            .iter()
            .find(|p| p.path == path)
            .unwrap()
            .caught_by
            .clone()
    }

    #[test]
    fn on_the_beds_policy_health_and_version_probes_are_seen_only_through_the_stamp() {
        let report = evaluate(
            Some(&policy(BED)),
            USER,
            &groups(),
            "kube-system",
            "tiller-token-bcdfg",
            Tripwire::Armed,
        );
        let stamp = report.stamp.clone().unwrap();
        assert!(stamp.logged);
        assert_eq!(stamp.level, Level::Metadata);
        assert_eq!(stamp.rule, Some(1), "the Secrets rule");
        for path in ["/version", "/healthz", "/livez", "/readyz"] {
            assert_eq!(
                caught(&report, path),
                vec![Catcher::StampEvent, Catcher::Tripwire],
                "{path}"
            );
        }
        for path in [
            "/api",
            "/apis",
            "/.well-known/openid-configuration",
            "/openid/v1/jwks",
        ] {
            assert_eq!(
                caught(&report, path),
                vec![Catcher::AuditLog, Catcher::StampEvent, Catcher::Tripwire],
                "{path}"
            );
        }
        assert!(!report.audit_blind());
    }

    #[test]
    fn a_tripped_label_leaves_only_what_the_policy_logs() {
        let report = evaluate(
            Some(&policy(BED)),
            USER,
            &groups(),
            "kube-system",
            "tiller-token-bcdfg",
            Tripwire::Tripped {
                day: "2026-12-03".into(),
            },
        );
        assert!(caught(&report, "/version").is_empty());
        assert_eq!(caught(&report, "/api"), vec![Catcher::AuditLog]);
    }

    #[test]
    fn a_policy_that_logs_neither_probes_nor_secret_writes_is_blind() {
        let blind = policy(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n\
             - level: None\n  nonResourceURLs: ['*']\n\
             - level: None\n  users: [system:apiserver]\n\
             - level: Metadata\n",
        );
        let report = evaluate(
            Some(&blind),
            USER,
            &groups(),
            "kube-system",
            "tiller-token-bcdfg",
            Tripwire::Armed,
        );
        assert!(report.audit_blind());
        assert_eq!(caught(&report, "/apis"), vec![Catcher::Tripwire]);
        // Only the name of another Secret logged: the stamp of this one is not.
        let other = policy(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n\
             - level: Metadata\n  resources: [{group: '', resources: [secrets], resourceNames: [other]}]\n",
        );
        let report = evaluate(
            Some(&other),
            USER,
            &groups(),
            "kube-system",
            "tiller-token-bcdfg",
            Tripwire::Armed,
        );
        assert!(report.audit_blind());
        // Without a policy nothing is known of the audit side.
        let report = evaluate(
            None,
            USER,
            &groups(),
            "kube-system",
            "tiller-token-bcdfg",
            Tripwire::Armed,
        );
        assert!(!report.audit_blind());
        assert_eq!(caught(&report, "/version"), vec![Catcher::Tripwire]);
        assert!(report.stamp.is_none());
    }

    #[test]
    fn the_tripwire_is_armed_unless_the_label_holds_today_or_tomorrow() {
        let today = day("2026-12-03");
        assert_eq!(tripwire(None, true, today), Tripwire::Armed);
        assert_eq!(tripwire(Some("2026-12-02"), true, today), Tripwire::Armed);
        assert_eq!(tripwire(Some("garbage"), true, today), Tripwire::Armed);
        for held in ["2026-12-03", "2026-12-04"] {
            assert_eq!(
                tripwire(Some(held), true, today),
                Tripwire::Tripped { day: held.into() }
            );
        }
        assert_eq!(tripwire(None, false, today), Tripwire::Unknown);
    }
}
