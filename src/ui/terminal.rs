//! What the process is attached to, and what follows from it: prompts only when a person
//! can answer them, color only where it helps.

use std::borrow::Cow;
use std::io::IsTerminal;

/// When to color the output (`--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

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

/// Invisible format characters (Unicode general category Cf, as of Unicode 16): bidi
/// embeddings, overrides and isolates, zero-width spaces and joiners, the byte-order mark,
/// tag characters and the like. Shown as they are, they make text read other than it is
/// (U+202E turns `gpj.exe` into what looks like `exe.jpg`).
const FORMAT_CHARACTERS: &[(char, char)] = &[
    ('\u{ad}', '\u{ad}'),
    ('\u{600}', '\u{605}'),
    ('\u{61c}', '\u{61c}'),
    ('\u{6dd}', '\u{6dd}'),
    ('\u{70f}', '\u{70f}'),
    ('\u{890}', '\u{891}'),
    ('\u{8e2}', '\u{8e2}'),
    ('\u{180e}', '\u{180e}'),
    ('\u{200b}', '\u{200f}'),
    ('\u{202a}', '\u{202e}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206f}'),
    ('\u{feff}', '\u{feff}'),
    ('\u{fff9}', '\u{fffb}'),
    ('\u{110bd}', '\u{110bd}'),
    ('\u{110cd}', '\u{110cd}'),
    ('\u{13430}', '\u{1343f}'),
    ('\u{1bca0}', '\u{1bca3}'),
    ('\u{1d173}', '\u{1d17a}'),
    ('\u{e0001}', '\u{e0001}'),
    ('\u{e0020}', '\u{e007f}'),
];

/// Whether a character must not reach a terminal as it is: controls (C0, DEL, C1), which
/// terminals act on (escape sequences, carriage returns, new lines), invisible format
/// characters, and the line and paragraph separators.
pub fn is_unsafe_for_terminal(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}')
        || FORMAT_CHARACTERS
            .iter()
            .any(|(first, last)| (*first..=*last).contains(&c))
}

/// Text that came from outside (audit fields a client chose: user agent, URI, user name,
/// addresses) as it may be shown to people: every character a terminal would act on or
/// hide is written as a visible escape, `\u{1b}` for ESC, `\u{202e}` for a right-to-left
/// override. Text without such characters is returned as it is.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe_for_terminal) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe_for_terminal(c) {
            shown.extend(c.escape_unicode());
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
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

    #[test]
    fn plain_text_passes_unchanged_and_unborrowed() {
        for text in [
            "kubectl/v1.36.3 (linux/amd64) kubernetes/abcdef",
            "/api/v1/namespaces/kube-system/secrets?limit=500",
            "system:serviceaccount:kube-system:tiller",
            "2001:db8::1",
            "Grüße, 日本語, emoji 🙂, Arabic عربي",
            "",
        ] {
            assert!(
                matches!(printable(text), Cow::Borrowed(t) if t == text),
                "{text}"
            );
        }
    }

    #[test]
    fn controls_become_visible_escapes() {
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(
            printable("line\nforged\r\t"),
            "line\\u{a}forged\\u{d}\\u{9}"
        );
        assert_eq!(printable("\u{0}\u{7}\u{7f}"), "\\u{0}\\u{7}\\u{7f}");
        // C1: U+009B is CSI, which some terminals act on like ESC [.
        assert_eq!(printable("x\u{9b}31mred"), "x\\u{9b}31mred");
        assert_eq!(printable("\u{80}\u{85}\u{9f}"), "\\u{80}\\u{85}\\u{9f}");
        // An OSC 8 hyperlink cannot be smuggled in either.
        let link = "\u{1b}]8;;https://evil.example/\u{7}click\u{1b}]8;;\u{7}";
        assert!(!printable(link).chars().any(|c| c.is_control()));
    }

    #[test]
    fn bidi_and_invisible_characters_become_visible_escapes() {
        assert_eq!(
            printable("kubectl\u{202e}cod.exe"),
            "kubectl\\u{202e}cod.exe"
        );
        for c in [
            '\u{200b}',
            '\u{200d}',
            '\u{200e}',
            '\u{200f}',
            '\u{202a}',
            '\u{202d}',
            '\u{2066}',
            '\u{2069}',
            '\u{61c}',
            '\u{feff}',
            '\u{ad}',
            '\u{2028}',
            '\u{2029}',
            '\u{e0041}',
        ] {
            let text = format!("a{c}b");
            assert_eq!(
                printable(&text),
                format!("a{}b", c.escape_unicode()),
                "{c:?}"
            );
        }
    }

    #[test]
    fn each_character_is_kept_or_escaped_and_nothing_unsafe_is_left() {
        let every = (0u32..0x3000)
            .chain(0xfe00..0x10000)
            .chain(0x13400..0x13460)
            .chain(0xe0000..0xe0080)
            .filter_map(char::from_u32);
        for c in every {
            let text = c.to_string();
            let shown = printable(&text);
            if is_unsafe_for_terminal(c) {
                assert_eq!(shown, c.escape_unicode().to_string(), "{c:?}");
            } else {
                assert_eq!(shown, text, "{c:?}");
            }
            assert!(!shown.chars().any(is_unsafe_for_terminal), "{c:?}");
        }
        // Printable neighbours of the unsafe ranges are kept.
        for c in [
            '\u{a0}', '\u{ae}', '\u{2027}', '\u{202f}', '\u{2065}', '\u{2070}', '\u{fffc}',
        ] {
            assert!(!is_unsafe_for_terminal(c), "{c:?}");
        }
    }
}
