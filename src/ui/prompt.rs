//! Questions asked on the terminal (only ever called when stdin and stderr are terminals).

use dialoguer::theme::ColorfulTheme;
use dialoguer::{Confirm, Input, Select};

use crate::ui::terminal::Terminal;

/// Why no answer was had.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// Creating or deleting without a terminal to confirm on, and without `--yes`.
    #[error(
        "{change} and there is no terminal to confirm on: pass --yes to go ahead, or \
         --dry-run to see what would be done"
    )]
    NeedsConfirmation { change: String },
    #[error("cannot read the answer from the terminal: {0}")]
    Terminal(#[source] dialoguer::Error),
}

/// Whether to ask before changing the cluster: on a terminal unless `--yes`. Without a
/// terminal, changing needs `--yes` (or `--dry-run`, which changes nothing); `change`
/// says what would happen, for the error.
pub fn will_ask(
    terminal: Terminal,
    yes: bool,
    dry_run: bool,
    change: &str,
) -> Result<bool, PromptError> {
    let ask = terminal.can_prompt() && !yes;
    if !ask && !yes && !dry_run {
        return Err(PromptError::NeedsConfirmation {
            change: change.to_string(),
        });
    }
    Ok(ask)
}

/// One of `items`, `default` preselected.
pub fn choose(question: &str, items: &[String], default: usize) -> Result<usize, PromptError> {
    Select::with_theme(&ColorfulTheme::default())
        .with_prompt(question)
        .items(items)
        .default(default)
        .interact()
        .map_err(PromptError::Terminal)
}

pub fn text(question: &str, default: &str) -> Result<String, PromptError> {
    Input::with_theme(&ColorfulTheme::default())
        .with_prompt(question)
        .default(default.to_string())
        .interact_text()
        .map_err(PromptError::Terminal)
}

pub fn confirm(question: &str) -> Result<bool, PromptError> {
    Confirm::with_theme(&ColorfulTheme::default())
        .with_prompt(question)
        .default(false)
        .interact()
        .map_err(PromptError::Terminal)
}
