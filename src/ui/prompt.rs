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
    /// Esc or `q` at a choice, or Ctrl-C at any question (the terminal's raw mode turns it
    /// into a key): nothing was asked of the cluster yet.
    #[error("cancelled at the question; nothing was changed")]
    Cancelled { interrupted: bool },
    #[error("cannot read the answer from the terminal: {0}")]
    Terminal(#[source] dialoguer::Error),
}

impl PromptError {
    /// Ctrl-C, which ends the run as SIGINT would (exit 130).
    pub fn is_interrupt(&self) -> bool {
        matches!(self, PromptError::Cancelled { interrupted: true })
    }
}

/// While a question is asked: a question hides the cursor, and an answer cut short must
/// not leave it hidden. Dropped, it shows the cursor (Esc, an error, an answer); a SIGINT
/// or SIGTERM meanwhile (Ctrl-C outside the terminal's raw mode) shows it, then ends the
/// process as the signal would have.
struct CursorBack {
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

const SHOW_CURSOR: &[u8] = b"\x1b[?25h";

extern "C" fn show_cursor_then_end(signal: libc::c_int) {
    // SAFETY: write, signal and raise are async-signal-safe.
    unsafe {
        libc::write(2, SHOW_CURSOR.as_ptr().cast(), SHOW_CURSOR.len());
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

impl CursorBack {
    fn new() -> CursorBack {
        let mut previous = Vec::new();
        for signal in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: a zeroed sigaction is a valid starting point; the handler is an
            // extern "C" fn doing only async-signal-safe calls.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = show_cursor_then_end as *const () as libc::sighandler_t;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, &action, &mut old) == 0 {
                    previous.push((signal, old));
                }
            }
        }
        CursorBack { previous }
    }
}

impl Drop for CursorBack {
    fn drop(&mut self) {
        for (signal, old) in &self.previous {
            // SAFETY: puts back the disposition sigaction returned.
            unsafe {
                libc::sigaction(*signal, old, std::ptr::null_mut());
            }
        }
        let _ = console::Term::stderr().show_cursor();
    }
}

/// The answer, `None` (Esc, `q`) and Ctrl-C being a cancel.
fn answered<T>(answer: dialoguer::Result<Option<T>>) -> Result<T, PromptError> {
    match answer {
        Ok(Some(answer)) => Ok(answer),
        Ok(None) => Err(PromptError::Cancelled { interrupted: false }),
        Err(dialoguer::Error::IO(e)) if e.kind() == std::io::ErrorKind::Interrupted => {
            Err(PromptError::Cancelled { interrupted: true })
        }
        Err(e) => Err(PromptError::Terminal(e)),
    }
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
/// One of `items`, `default` preselected; Esc or `q` cancels.
pub fn choose(question: &str, items: &[String], default: usize) -> Result<usize, PromptError> {
    let _cursor = CursorBack::new();
    answered(
        Select::with_theme(&ColorfulTheme::default())
            .with_prompt(question)
            .items(items)
            .default(default)
            .interact_opt(),
    )
}

/// A line of text, `default` when none is typed.
pub fn text(question: &str, default: &str) -> Result<String, PromptError> {
    let _cursor = CursorBack::new();
    answered(
        Input::with_theme(&ColorfulTheme::default())
            .with_prompt(question)
            .default(default.to_string())
            .interact_text()
            .map(Some),
    )
}

/// Yes or no, no by default; Esc or `q` is no.
pub fn confirm(question: &str) -> Result<bool, PromptError> {
    let _cursor = CursorBack::new();
    match answered(
        Confirm::with_theme(&ColorfulTheme::default())
            .with_prompt(question)
            .default(false)
            .interact_opt(),
    ) {
        Err(PromptError::Cancelled { interrupted: false }) => Ok(false),
        answer => answer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esc_cancels_ctrl_c_interrupts_and_other_errors_are_the_terminals() {
        assert_eq!(answered(Ok(Some(3))).unwrap(), 3);
        let esc = answered::<usize>(Ok(None)).unwrap_err();
        assert!(matches!(esc, PromptError::Cancelled { interrupted: false }));
        assert!(!esc.is_interrupt());
        let ctrl_c = answered::<usize>(Err(dialoguer::Error::IO(std::io::Error::new(
            std::io::ErrorKind::Interrupted,
            "read interrupted",
        ))))
        .unwrap_err();
        assert!(ctrl_c.is_interrupt());
        assert_eq!(
            ctrl_c.to_string(),
            "cancelled at the question; nothing was changed"
        );
        let gone = answered::<usize>(Err(dialoguer::Error::IO(std::io::Error::new(
            std::io::ErrorKind::NotConnected,
            "not a terminal",
        ))))
        .unwrap_err();
        assert!(matches!(gone, PromptError::Terminal(_)));
    }
}
