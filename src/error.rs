//! Errors the command line reports. Each says what failed, on which object, and what the
//! API server said, so a user can act on it without a debug dump.

use std::process::ExitCode;

use crate::cluster::connect::ConnectError;
use crate::exit;
use crate::home::HomeError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error(transparent)]
    Drill(#[from] crate::detect::drill::DrillError),
    /// An API call failed; `action` names the verb and object ("create Secret ns/name").
    #[error("cannot {action}: {}", describe_kube_error(source))]
    Api {
        action: String,
        #[source]
        source: Box<kube::Error>,
    },
    /// An object with a decoy's name exists and was not made by `plant`.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Timeout(String),
    #[error("namespace {0} does not exist")]
    NamespaceMissing(String),
    /// Creating or deleting without a terminal to confirm on, and without `--yes`.
    #[error("{0}")]
    NeedsConfirmation(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Prompt(String),
    /// The user said no at a confirmation prompt.
    #[error("aborted: {0}")]
    Declined(String),
    /// A step failed and what this run had created was deleted again (or could not be).
    #[error("{error}{}", match leftovers {
        None => "; everything this run created was deleted again".to_string(),
        Some(failures) => format!("; deleting what this run created ALSO FAILED, clean up by hand: {failures}"),
    })]
    Rollback {
        error: Box<Error>,
        leftovers: Option<String>,
    },
    /// A check failed in a way the user must know about (drill events missing, ...).
    #[error("{0}")]
    CheckFailed(String),
    /// SIGINT or SIGTERM arrived while the cluster was being changed; what this run had
    /// made was deleted again (or could not be).
    #[error("interrupted by {signal}{}", match leftovers {
        None => "; everything this run created was deleted again".to_string(),
        Some(failures) => format!("; deleting what this run created ALSO FAILED: {failures}"),
    })]
    Interrupted {
        signal: Signal,
        leftovers: Option<String>,
    },
}

/// The signals that stop a command that changes the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        })
    }
}

impl Error {
    pub fn api(action: impl Into<String>, source: kube::Error) -> Error {
        Error::Api {
            action: action.into(),
            source: Box::new(source),
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Error::Interrupted {
                signal: Signal::Interrupt,
                ..
            } => exit::INTERRUPTED,
            Error::Interrupted {
                signal: Signal::Terminate,
                ..
            } => exit::TERMINATED,
            _ => exit::FAILED,
        })
    }
}

/// One line for a failed API call: the server's reason and message when it answered, the
/// transport failure when it did not.
pub fn describe_kube_error(error: &kube::Error) -> String {
    // Some client errors quote credentials (an exec plugin's output, a key's bytes).
    if let Some(told) = crate::ui::redact::credential_error(error) {
        return told;
    }
    match error {
        kube::Error::Api(status) => {
            let reason = match status.reason.as_str() {
                "" => format!("HTTP {}", status.code),
                reason => reason_words(reason),
            };
            if status.message.is_empty() {
                reason
            } else {
                format!("{reason}: {}", status.message)
            }
        }
        kube::Error::HyperError(e) => format!("cannot reach the API server: {}", chain(e)),
        kube::Error::Service(e) => format!("cannot reach the API server: {}", chain(e.as_ref())),
        other => chain(other),
    }
}

/// "Forbidden" -> "forbidden", "AlreadyExists" -> "already exists", like kubectl prints them.
fn reason_words(reason: &str) -> String {
    let mut words = String::new();
    for (i, c) in reason.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            words.push(' ');
        }
        words.extend(c.to_lowercase());
    }
    words
}

/// An error and its causes on one line, without repeating a cause its parent already says.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            reason: reason.into(),
            message: message.into(),
            ..Default::default()
        }))
    }

    #[test]
    fn api_errors_name_the_action_and_the_servers_words() {
        let error = Error::api(
            "create Secret kube-system/tiller-token-x7k2p",
            status(
                403,
                "Forbidden",
                "secrets is forbidden: User \"alice\" cannot create resource \"secrets\" in API group \"\" in the namespace \"kube-system\"",
            ),
        );
        assert_eq!(
            error.to_string(),
            "cannot create Secret kube-system/tiller-token-x7k2p: forbidden: secrets is forbidden: \
             User \"alice\" cannot create resource \"secrets\" in API group \"\" in the namespace \"kube-system\""
        );
    }

    #[test]
    fn reasons_read_as_words() {
        assert_eq!(reason_words("AlreadyExists"), "already exists");
        assert_eq!(reason_words("NotFound"), "not found");
        assert_eq!(describe_kube_error(&status(500, "", "")), "HTTP 500");
    }
}
