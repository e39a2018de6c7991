//! Errors the command line reports. Each says what failed, on which object, and what the
//! API server said, so a user can act on it without a debug dump.

use std::process::ExitCode;

use crate::cluster::ClusterError;
use crate::cluster::connect::ConnectError;
use crate::decoy::UserNameError;
use crate::decoy::bait::BaitError;
use crate::detect::drill::DrillError;
use crate::detect::metrics::MetricsServeError;
use crate::detect::notice::NoticeError;
use crate::detect::notify::SinkError;
use crate::detect::webhook::ServeError;
use crate::exit;
use crate::home::HomeError;
use crate::ui::output::RenderError;
use crate::ui::prompt::PromptError;

/// What a command reports: a wing's error as the wing tells it, or what only a command
/// decides (a conflict, a refusal, a rollback).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Fleet(#[from] crate::cluster::fleet::FleetError),
    #[error(transparent)]
    UserName(#[from] UserNameError),
    #[error(transparent)]
    Drill(#[from] DrillError),
    #[error(transparent)]
    Bait(#[from] BaitError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Metrics(#[from] MetricsServeError),
    #[error(transparent)]
    Notice(#[from] NoticeError),
    #[error(transparent)]
    Prompt(#[from] PromptError),
    #[error(transparent)]
    Render(#[from] RenderError),
    /// An object with a decoy's name exists and was not made by `plant`.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
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

impl crate::cluster::fleet::Failure for Error {
    fn code(&self) -> u8 {
        Error::code(self)
    }

    fn unreachable(&self) -> bool {
        self.is_unreachable()
    }
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
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code())
    }

    /// The API server could not be reached or broke off: no answer, as opposed to an
    /// answer that refused.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Cluster(error) if error.is_unreachable())
    }

    /// The exit code as a number (README, "Exit codes").
    pub fn code(&self) -> u8 {
        match self {
            Error::Interrupted {
                signal: Signal::Interrupt,
                ..
            } => exit::INTERRUPTED,
            Error::Interrupted {
                signal: Signal::Terminate,
                ..
            } => exit::TERMINATED,
            Error::Prompt(prompt) if prompt.is_interrupt() => exit::INTERRUPTED,
            _ => exit::FAILED,
        }
    }
}
