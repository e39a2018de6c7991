//! Questions asked on the terminal (only ever called when stdin and stderr are terminals).

use dialoguer::theme::ColorfulTheme;
use dialoguer::{Confirm, Input, Select};

use crate::decoy::profile::{self, Profile};
use crate::error::Error;
use crate::ui::terminal::Terminal;

/// Whether to ask before changing the cluster: on a terminal unless `--yes`. Without a
/// terminal, changing needs `--yes` (or `--dry-run`, which changes nothing); `change`
/// says what would happen, for the error.
pub fn will_ask(terminal: Terminal, yes: bool, dry_run: bool, change: &str) -> Result<bool, Error> {
    let ask = terminal.can_prompt() && !yes;
    if !ask && !yes && !dry_run {
        return Err(Error::NeedsConfirmation(format!(
            "{change} and there is no terminal to confirm on: pass --yes to go ahead, or \
             --dry-run to see what would be done"
        )));
    }
    Ok(ask)
}

fn prompt_error(e: dialoguer::Error) -> Error {
    Error::Prompt(format!("cannot read the answer from the terminal: {e}"))
}

pub fn profile() -> Result<&'static Profile, Error> {
    let items: Vec<String> = profile::PROFILES
        .iter()
        .map(|p| format!("{:<8} {}", p.name, p.summary))
        .collect();
    let index = Select::with_theme(&ColorfulTheme::default())
        .with_prompt("Decoy profile")
        .items(&items)
        .default(0)
        .interact()
        .map_err(prompt_error)?;
    Ok(&profile::PROFILES[index])
}

pub fn text(question: &str, default: &str) -> Result<String, Error> {
    Input::with_theme(&ColorfulTheme::default())
        .with_prompt(question)
        .default(default.to_string())
        .interact_text()
        .map_err(prompt_error)
}

pub fn confirm(question: &str) -> Result<bool, Error> {
    Confirm::with_theme(&ColorfulTheme::default())
        .with_prompt(question)
        .default(false)
        .interact()
        .map_err(prompt_error)
}
