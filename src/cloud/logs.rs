//! Reading a drill's audit events back from the provider's log service with its CLI, for
//! `verify --e2e` on a managed cluster whose API server log file nobody can read: the
//! query, its errors, and what the providers' modules share to build the queries and read
//! their answers (the parent module picks the provider's).

use super::runner::{CliRunner, RunError, command_line};
use super::{ClusterHint, ParseError, Provider};

/// Whether a drill's audit events can be read back from the provider's log service.
pub fn log_query_available(provider: Provider) -> bool {
    matches!(provider, Provider::Eks | Provider::Gke | Provider::Aks)
}

/// Reads a drill's audit events back from the provider's log service with its CLI, for
/// `verify --e2e` on a managed cluster whose API server log file nobody can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    pub provider: Provider,
    pub hint: ClusterHint,
    /// The decoy's user name as the API server records it, e.g.
    /// system:serviceaccount:kube-system:tiller.
    pub username: String,
    /// Drill start minus a small margin: the services stamp events with their own clocks.
    pub since: jiff::Timestamp,
    /// AKS: the Log Analytics workspace id (customerId GUID); not in the kubeconfig.
    pub workspace: Option<String>,
}

/// Why a log query cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the {what} is empty")]
    Empty { what: &'static str },
    #[error(
        "the {what} {value:?} has a quote, backslash or control character, which the log \
         query cannot carry"
    )]
    Unquotable { what: &'static str, value: String },
    #[error("{0:?} has no provider log service to read audit events from")]
    NoLogService(Provider),
    /// Something the query needs is not known: what, and where it would come from.
    #[error("{0}")]
    Missing(&'static str),
}

/// Why reading the provider's log service gave no events to look at.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The CLI gave no answer; the message names the command.
    #[error("`{command}`: {source}")]
    Cli {
        command: String,
        #[source]
        source: RunError,
    },
    #[error("`{command}`: unexpected output: {source}")]
    Output {
        command: String,
        #[source]
        source: ParseError,
    },
}

/// Values are put inside quoted strings of three query languages; rather than trust three
/// escaping rules, a value that would need escaping is refused (Kubernetes user and GKE
/// cluster names never do).
pub(super) fn quotable(what: &'static str, value: &str) -> Result<(), QueryError> {
    if value.is_empty() {
        return Err(QueryError::Empty { what });
    }
    if value
        .chars()
        .any(|c| c == '"' || c == '\'' || c == '\\' || c.is_control())
    {
        return Err(QueryError::Unquotable {
            what,
            value: value.to_string(),
        });
    }
    Ok(())
}

/// RFC 3339 without fractional seconds: KQL datetime() takes at most 7 digits, and a
/// second earlier than asked is harmless.
pub(super) fn whole_seconds(at: jiff::Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_second(at.as_second()).unwrap_or(at)
}

/// Runs one query command and returns its stdout when it succeeded; an error names the
/// command.
pub(super) fn run_query(
    runner: &CliRunner,
    program: &'static str,
    args: &[String],
) -> Result<String, FetchError> {
    runner
        .stdout(program, args)
        .map_err(|source| FetchError::Cli {
            command: command_line(program, args),
            source,
        })
}

/// Makes the error for a command whose output could not be read.
pub(super) fn unexpected_output(
    program: &str,
    args: &[String],
) -> impl FnOnce(ParseError) -> FetchError {
    let command = command_line(program, args);
    move |source| FetchError::Output { command, source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::testing::*;

    #[test]
    fn log_queries_exist_for_the_managed_providers_only() {
        assert!(log_query_available(Provider::Eks));
        assert!(log_query_available(Provider::Gke));
        assert!(log_query_available(Provider::Aks));
        assert!(!log_query_available(Provider::Kind));
        assert!(!log_query_available(Provider::Unknown));
        let error = log_query(Provider::K3s, ClusterHint::default())
            .command()
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "K3s has no provider log service to read audit events from"
        );
    }

    #[test]
    fn values_a_query_cannot_carry_are_refused() {
        let query = LogQuery {
            username: r#"system:serviceaccount:x:a" OR "1"="1"#.into(),
            ..log_query(Provider::Gke, gke_hint())
        };
        let error = query.command().unwrap_err().to_string();
        assert!(error.contains("has a quote, backslash"), "{error}");
        let hint = ClusterHint {
            name: known_part("web'"),
            ..gke_hint()
        };
        let error = log_query(Provider::Gke, hint)
            .command()
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("the cluster name \"web'\""), "{error}");
        let empty = LogQuery {
            username: String::new(),
            ..log_query(Provider::Aks, aks_hint())
        };
        assert_eq!(
            empty.command().unwrap_err().to_string(),
            "the user name is empty"
        );
    }

    #[cfg(unix)]
    mod stand_in_clis {
        use super::*;

        #[test]
        fn stand_in_less_folder_reports_the_missing_cli_with_the_command() {
            let clis = StandIns::new();
            let error = log_query(Provider::Aks, aks_hint())
                .fetch(&clis.runner())
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with("`az monitor log-analytics query --workspace "),
                "{error}"
            );
            assert!(
                error.ends_with("-o json`: az is not on the search path"),
                "{error}"
            );
        }
    }
}
