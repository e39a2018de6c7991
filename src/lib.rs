//! kubectl-honeytoken: plant a decoy service-account token, prove the audit log would
//! catch its use, drill it, report its state and remove it.

pub mod cli;
pub mod error;
pub mod exit;

pub use cli::{Cli, Command};
pub use error::Error;
pub use exit::Outcome;

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> Result<Outcome, Error> {
    Err(Error::NotImplemented {
        command: cli.command.name(),
    })
}
