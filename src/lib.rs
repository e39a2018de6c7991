//! kubectl-honeytoken: plant a decoy service-account token, prove the audit log would
//! catch its use, drill it, report its state and remove it.
//!
//! Each command decides in pure functions (a plan, a verdict) and acts through the thin
//! API layer in `cluster`.

pub mod alert;
pub mod audit;
pub mod cli;
pub mod cloud;
pub mod cluster;
pub mod connect;
pub mod decoy;
pub mod drill;
pub mod error;
pub mod exit;
pub mod home;
pub mod input;
pub mod locate;
pub mod notify;
pub mod output;
pub mod plant;
pub mod policy;
pub mod profile;
pub mod progress;
pub mod prompt;
pub mod realism;
pub mod redact;
pub mod remove;
pub mod rules;
pub mod scan;
pub mod status;
pub mod terminal;
pub mod tracking;
pub mod trigger;
pub mod verify;
pub mod watch;
pub mod webhook;

pub use cli::{Cli, Command};
pub use error::Error;
pub use exit::Outcome;

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> Result<Outcome, Error> {
    let terminal = terminal::Terminal::detect();
    terminal::configure_color(cli.global.color, terminal);
    let home = home::Home::from_env();
    let global = &cli.global;
    match &cli.command {
        Command::Plant(args) => plant::run(args, global, terminal, &home).await,
        Command::Status => status::run(global, &home).await,
        Command::TestTrigger(args) => trigger::run(args, global, &home).await,
        Command::Remove(args) => remove::run(args, global, terminal, &home).await,
        Command::Verify(args) => verify::run(args, global, &home).await,
        Command::Scan(args) => scan::run(args, global, &home).await,
        Command::Watch(args) => watch::run(args, global, terminal, &home).await,
        Command::Rules(args) => rules::run(args, global, &home).await,
        Command::Completion { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "kubectl-honeytoken",
                &mut std::io::stdout(),
            );
            Ok(Outcome::Success)
        }
    }
}
