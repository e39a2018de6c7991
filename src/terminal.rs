//! What the process is attached to, and what follows from it: prompts only when a person
//! can answer them, color only where it helps.

use std::io::IsTerminal;

use crate::cli::ColorChoice;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terminal {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

impl Terminal {
    pub fn detect() -> Terminal {
        Terminal {
            stdin: std::io::stdin().is_terminal(),
            stdout: std::io::stdout().is_terminal(),
            stderr: std::io::stderr().is_terminal(),
        }
    }

    /// Prompts are read from stdin and drawn on stderr, so both must be terminals.
    pub fn can_prompt(&self) -> bool {
        self.stdin && self.stderr
    }
}

/// Whether to color a stream: `always` and `never` win; `auto` colors a terminal unless
/// NO_COLOR is set to anything non-empty (https://no-color.org).
pub fn use_color(choice: ColorChoice, is_terminal: bool, no_color: Option<&str>) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_terminal && no_color.is_none_or(str::is_empty),
    }
}

/// Applies the color decision to everything that prints (console, tables, prompts).
pub fn configure_color(choice: ColorChoice, terminal: Terminal) {
    let no_color = std::env::var("NO_COLOR").ok();
    console::set_colors_enabled(use_color(choice, terminal.stdout, no_color.as_deref()));
    console::set_colors_enabled_stderr(use_color(choice, terminal.stderr, no_color.as_deref()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_colors_only_a_terminal_without_no_color() {
        assert!(use_color(ColorChoice::Auto, true, None));
        assert!(!use_color(ColorChoice::Auto, false, None));
        assert!(!use_color(ColorChoice::Auto, true, Some("1")));
        assert!(use_color(ColorChoice::Auto, true, Some("")));
    }

    #[test]
    fn explicit_choices_win() {
        assert!(use_color(ColorChoice::Always, false, Some("1")));
        assert!(!use_color(ColorChoice::Never, true, None));
    }

    #[test]
    fn prompting_needs_stdin_and_stderr() {
        let all = Terminal {
            stdin: true,
            stdout: true,
            stderr: true,
        };
        assert!(all.can_prompt());
        assert!(
            !Terminal {
                stdin: false,
                ..all
            }
            .can_prompt()
        );
        assert!(
            !Terminal {
                stderr: false,
                ..all
            }
            .can_prompt()
        );
        assert!(
            Terminal {
                stdout: false,
                ..all
            }
            .can_prompt()
        );
    }
}
