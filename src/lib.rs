//! kubectl-honeytoken: plant a decoy service-account token, prove the audit log would
//! catch its use, drill it, report its state and remove it.
//!
//! Each command (`cmd`) decides in pure functions (a plan, a verdict) and acts through the
//! thin API layer in `cluster`. README, "Architecture", draws the tree.

// The top: the command line, errors, exit codes, and what is kept on this workstation.
mod cli;
mod error;
mod exit;
mod home;
mod input;
mod kubeconfig_file;

// One module per command; nothing below imports them.
pub mod cmd;

// The wings the commands use. Each points only down or sideways, never at a command,
// the command line or `error` (tests/architecture.rs checks it).
pub mod audit;
mod cloud;
mod cluster;
pub mod decoy;
pub mod detect;
mod ui;

pub use cli::{Cli, Command};
pub use error::Error;
pub use exit::Outcome;

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> Result<Outcome, Error> {
    use cmd::{kubeconfig, plant, rbac, remove, rules, scan, status, trigger, verify, watch};
    let terminal = ui::terminal::Terminal::detect();
    ui::terminal::configure_color(cli.global.color, terminal);
    ui::table::configure(
        ui::table::stdout_width(),
        cli.global.output == ui::output::OutputFormat::Wide,
    );
    let home = home::Home::from_env();
    let global = &cli.global;
    if global.names_a_fleet() && !cli.command.acts_on_a_fleet() {
        return Err(Error::Invalid(format!(
            "{} works with one context; pass one --context (status, plant, verify, \
             test-trigger, remove and watch take several)",
            cli.command.name()
        )));
    }
    match &cli.command {
        Command::Plant(args) => plant::run(args, global, terminal, &home).await,
        Command::Status => status::run(global, &home).await,
        Command::TestTrigger(args) => trigger::run(args, global, &home).await,
        Command::Remove(args) => remove::run(args, global, terminal, &home).await,
        Command::Verify(args) => verify::run(args, global, &home).await,
        Command::Scan(args) => scan::run(args, global, &home).await,
        Command::Watch(args) => watch::run(args, global, terminal, &home).await,
        Command::Rules(args) => rules::run(args, global, &home).await,
        Command::Rbac(args) => rbac::run(args, global, &home).await,
        Command::Kubeconfig(args) => kubeconfig::run(args, global, terminal, &home).await,
        Command::Completion { shell } => cmd::completion::run(*shell, global),
        Command::Version => cmd::version::run(global),
    }
}

/// The word that, first on the command line, asks for completions (as cobra's programs
/// answer it): `kubectl-honeytoken __complete WORDS…`.
pub use cmd::completion::COMPLETE_WORD;

/// The name kubectl runs to complete `kubectl honeytoken …` (a copy of, or link to, this
/// executable answers as `__complete` does).
pub const KUBECTL_COMPLETE_NAME: &str = "kubectl_complete-honeytoken";

/// The completions of `words` (after the program's name, the last one under the cursor),
/// in kubectl's plugin-completion format.
pub fn complete(words: &[String]) -> String {
    cmd::completion::answer(words)
}
