//! Cloud providers: which one a cluster runs on, what must be on for a use of the decoy
//! token to be logged on EKS, GKE and AKS, the exact commands that check and fix it, and
//! running the check with the provider's CLI when it is installed. Also reading a drill's
//! audit events back from the provider's log service ([`LogQuery`]).
//!
//! `provider` detects the provider and `hint` reads the cluster's name from the
//! kubeconfig, both pure; `runner` runs the CLIs; `eks`, `gke` and `aks` know each
//! provider's setting, commands and output formats; `logs` has the log query and what
//! the providers share to build and run one. This module picks the provider's module.
//!
//! Only parsed CLI output may say Enabled or Disabled; a CLI that is missing, fails, hangs
//! or prints something unexpected is reported as such, never as a result.

mod aks;
mod eks;
mod gke;
mod hint;
mod logs;
mod provider;
mod runner;
#[cfg(test)]
mod testing;

pub use hint::{ClusterHint, HintPart, cluster_name_hint};
pub use logs::{FetchError, LogQuery, log_query_available};
pub use provider::{Detection, Evidence, NodeFacts, PodFacts, Provider, detect};
pub use runner::{CliRunner, RunError};

use crate::audit::Event;
use logs::QueryError;
use runner::command_line;

/// Stands for the cluster's name in a printed command when the kubeconfig does not tell it.
const CLUSTER: &str = "<CLUSTER>";

/// The setting that must be true for the decoy's use to reach a log.
pub fn requirement(provider: Provider) -> &'static str {
    match provider {
        Provider::Eks => eks::REQUIREMENT,
        Provider::Gke => gke::REQUIREMENT,
        Provider::Aks => aks::REQUIREMENT,
        _ => "no provider setting applies: the API server's own audit flags decide",
    }
}

/// The command line that shows the setting, with the hint's values or placeholders.
pub fn check_command(provider: Provider, hint: &ClusterHint) -> String {
    match provider {
        Provider::Eks => eks::check_command(hint),
        Provider::Gke => gke::check_command(hint),
        Provider::Aks => aks::check_command(hint),
        _ => "none: no provider setting to check".to_string(),
    }
}

/// The commands that turn the setting on, with the hint's values or placeholders.
pub fn fix_command(provider: Provider, hint: &ClusterHint) -> String {
    match provider {
        Provider::Eks => eks::fix_command(hint),
        Provider::Gke => gke::fix_command(hint),
        Provider::Aks => aks::fix_command(hint),
        _ => "none: no provider setting to change".to_string(),
    }
}

fn value_or(part: &Option<HintPart>, placeholder: &str) -> String {
    part.as_ref()
        .map_or_else(|| placeholder.to_string(), |p| p.value.clone())
}

/// A command built on a guessed name says so, so nobody changes the wrong cluster.
fn guess_note(hint: &ClusterHint) -> String {
    match &hint.name {
        Some(name) if !name.certain => {
            format!(
                "  # cluster name {} is guessed from the kubeconfig",
                name.value
            )
        }
        _ => String::new(),
    }
}

/// What running the check found out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The CLI's output shows the setting on.
    Enabled { evidence: String },
    /// The CLI's output shows the setting off.
    Disabled { evidence: String },
    /// The provider's CLI is not on the search path.
    CliMissing { program: &'static str },
    /// The CLI ran but gave no usable answer (error, timeout, unexpected output).
    CliFailed { command: String, message: String },
    /// Something needed to run the check is not known (e.g. the cluster's name).
    NotEnoughToRun { missing: String },
}

/// What a parser read from a CLI's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub enabled: bool,
    pub evidence: String,
}

/// Checks the provider's audit setting with its CLI. Reports Enabled or Disabled only
/// from the CLI's parsed output.
pub fn run_check(provider: Provider, hint: &ClusterHint, runner: &CliRunner) -> CheckOutcome {
    let result = match provider {
        Provider::Eks => eks::check_setting(hint, runner),
        Provider::Gke => gke::check_setting(hint, runner),
        Provider::Aks => aks::check_setting(hint, runner),
        other => Err(CheckOutcome::NotEnoughToRun {
            missing: format!("a managed provider ({other:?} has no provider audit setting)"),
        }),
    };
    result.unwrap_or_else(|outcome| outcome)
}

/// Err carries an outcome that ends the check early.
type Step<T> = Result<T, CheckOutcome>;

fn known<'a>(part: &'a Option<HintPart>, what: &str) -> Step<&'a str> {
    part.as_ref()
        .map(|p| p.value.as_str())
        .ok_or_else(|| not_enough(what))
}

fn not_enough(what: &str) -> CheckOutcome {
    CheckOutcome::NotEnoughToRun {
        missing: what.to_string(),
    }
}

fn unexpected_output(command: String, error: &ParseError) -> CheckOutcome {
    CheckOutcome::CliFailed {
        command,
        message: format!("unexpected output: {error}"),
    }
}

fn judge(command: String, parsed: Result<Finding, ParseError>) -> CheckOutcome {
    match parsed {
        Ok(Finding {
            enabled: true,
            evidence,
        }) => CheckOutcome::Enabled { evidence },
        Ok(Finding {
            enabled: false,
            evidence,
        }) => CheckOutcome::Disabled { evidence },
        Err(e) => unexpected_output(command, &e),
    }
}

impl LogQuery {
    /// The command line that would be run (for messages), or why it cannot be built.
    pub fn command(&self) -> Result<(&'static str, Vec<String>), QueryError> {
        logs::quotable("user name", &self.username)?;
        match self.provider {
            Provider::Eks => Ok((eks::AWS, eks::log_query_args(self)?)),
            Provider::Gke => Ok((gke::GCLOUD, gke::log_query_args(self)?)),
            Provider::Aks => Ok((aks::AZ, aks::log_query_args(self)?)),
            other => Err(QueryError::NoLogService(other)),
        }
    }

    /// The command as a user would type it, for messages.
    pub fn command_line(&self) -> Result<String, QueryError> {
        self.command()
            .map(|(program, args)| command_line(program, &args))
    }

    /// Runs the query once and returns the audit events found, converted to
    /// [`crate::audit::Event`]. Every poll returns all events since `since` again.
    pub fn fetch(&self, runner: &CliRunner) -> Result<Vec<Event>, FetchError> {
        let (program, args) = self.command()?;
        let parse = match self.provider {
            Provider::Eks => return eks::fetch_log_events(runner, &args),
            Provider::Gke => gke::parse_gke_log_entries,
            // command() refused every provider but these three.
            _ => aks::parse_aks_audit_rows,
        };
        let stdout = logs::run_query(runner, program, &args)?;
        parse(&stdout).map_err(logs::unexpected_output(program, &args))
    }
}

/// Runs one CLI command and returns its stdout when it succeeded.
fn run_cli(runner: &CliRunner, program: &'static str, args: &[String]) -> Step<String> {
    runner.stdout(program, args).map_err(|error| match error {
        RunError::NotFound { .. } => CheckOutcome::CliMissing { program },
        error => CheckOutcome::CliFailed {
            command: command_line(program, args),
            message: error.to_string(),
        },
    })
}

/// Why a CLI's output could not be read; each message says what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// JSON, but not in the shape expected; `what` says what it is not.
    #[error("{what}: {source}")]
    Shape {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// JSON, but not in the shape expected, with no more to say.
    #[error("{0}")]
    Unexpected(&'static str),
    #[error("none of the {messages} log messages is a Kubernetes audit event: {source}")]
    NoAuditEvents {
        messages: usize,
        #[source]
        source: serde_json::Error,
    },
    /// One row of a query result (counted from 1) could not be read.
    #[error("row {number}: {source}")]
    Row {
        number: usize,
        #[source]
        source: Box<ParseError>,
    },
}

impl ParseError {
    /// Parses `json` as a document of any shape.
    fn json(json: &str) -> Result<serde_json::Value, ParseError> {
        serde_json::from_str(json).map_err(ParseError::NotJson)
    }

    /// Says what a document is not, with the deserializer's reason.
    fn shape(what: &'static str) -> impl FnOnce(serde_json::Error) -> ParseError {
        move |source| ParseError::Shape { what, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use testing::eks_hint;

    #[test]
    fn requirements_name_the_setting() {
        assert!(requirement(Provider::Eks).contains("`audit`"));
        assert!(requirement(Provider::Eks).contains("/aws/eks/<cluster>/cluster"));
        assert!(requirement(Provider::Gke).contains("DATA_READ"));
        assert!(requirement(Provider::Gke).contains("k8s.io"));
        assert!(
            requirement(Provider::Aks).contains("kube-audit-admin alone leaves out get and list")
        );
    }

    #[test]
    fn missing_aws_cli_is_reported() {
        let empty = tempfile::tempdir().unwrap();
        let runner = CliRunner::new(empty.path(), Duration::from_secs(10));
        assert_eq!(
            run_check(Provider::Eks, &eks_hint(), &runner),
            CheckOutcome::CliMissing { program: "aws" }
        );
    }

    #[test]
    fn unmanaged_providers_are_not_checked() {
        let empty = tempfile::tempdir().unwrap();
        let runner = CliRunner::new(empty.path(), Duration::from_secs(1));
        assert!(matches!(
            run_check(Provider::Kind, &ClusterHint::default(), &runner),
            CheckOutcome::NotEnoughToRun { .. }
        ));
    }
}
