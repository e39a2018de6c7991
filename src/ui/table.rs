//! Tables as `kubectl get` prints them: left-aligned columns two spaces apart, a header of
//! upper-case titles, no borders and no trailing spaces.
//!
//! The layout is decided here, from the text of the cells alone; colour is applied after
//! it, so escape codes never count toward a width. On a terminal the table fits its width:
//! long cells wrap at spaces, never inside a word, and a word wider than its column could
//! be (a long path on a narrow terminal) is cut short with `…`. `-o wide` shows every
//! column and never cuts a word. Into a pipe, rows are as long as their cells and no
//! longer: columns are aligned, nothing wraps and nothing is padded to a width.
//! [comfy_table] draws the result: it wraps each cell at spaces into the widths given here.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use comfy_table::{Attribute, Color, ColumnConstraint, Width};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Spaces between two columns.
const GAP: usize = 2;

/// The width assumed for a terminal that does not tell its own.
const DEFAULT_TERMINAL_WIDTH: usize = 80;

/// Where a table goes, and how much of it to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    /// A terminal this many columns wide; None for a pipe or file, where nothing wraps.
    pub width: Option<usize>,
    /// `-o wide`: every column, and no word cut short.
    pub wide: bool,
}

#[cfg(test)]
impl Fit {
    pub const PIPE: Fit = Fit {
        width: None,
        wide: false,
    };

    pub fn terminal(width: usize) -> Fit {
        Fit {
            width: Some(width),
            wide: false,
        }
    }
}

// What `configure` decided for this process; a pipe until then (unit tests).
static TERMINAL_WIDTH: AtomicUsize = AtomicUsize::new(0);
static WIDE: AtomicBool = AtomicBool::new(false);

/// Sets how tables print in this process: `stdout_width` is the terminal's width when
/// stdout is one (Some(0) when it does not tell), None for a pipe or file.
pub fn configure(stdout_width: Option<usize>, wide: bool) {
    let width = stdout_width.map(|w| if w == 0 { DEFAULT_TERMINAL_WIDTH } else { w });
    TERMINAL_WIDTH.store(width.unwrap_or(0), Ordering::Relaxed);
    WIDE.store(wide, Ordering::Relaxed);
}

/// The width of the terminal stdout is, if it is one (0 when it does not tell its width).
pub fn stdout_width() -> Option<usize> {
    let term = console::Term::stdout();
    if !term.is_term() {
        return None;
    }
    Some(
        term.size_checked()
            .map_or(0, |(_, columns)| usize::from(columns)),
    )
}

/// The fit `configure` set for this process.
pub fn current_fit() -> Fit {
    let width = TERMINAL_WIDTH.load(Ordering::Relaxed);
    Fit {
        width: (width > 0).then_some(width),
        wide: WIDE.load(Ordering::Relaxed),
    }
}

/// How a cell is coloured, when colour is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tone {
    #[default]
    Plain,
    /// Green: passed, armed, removed.
    Good,
    /// Cyan: fine, worth a look (drilled).
    Note,
    /// Yellow: a warning.
    Warn,
    /// Bold yellow: broken, or not answered.
    Trouble,
    /// Bold red: failed, TRIPPED, DANGER.
    Bad,
    /// Magenta: could not tell.
    Unknown,
}

/// One cell: its text, and how to colour it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cell {
    pub text: String,
    pub tone: Tone,
}

impl Cell {
    pub fn new(text: impl Into<String>, tone: Tone) -> Cell {
        Cell {
            text: text.into(),
            tone,
        }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell::new(text, Tone::Plain)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::new(text, Tone::Plain)
    }
}

impl From<&String> for Cell {
    fn from(text: &String) -> Cell {
        Cell::new(text.clone(), Tone::Plain)
    }
}

#[derive(Debug, Clone)]
struct Column {
    title: String,
    wide_only: bool,
}

/// A table of rows under a header.
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<Column>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table with these column titles (printed in upper case).
    pub fn new(header: &[&str]) -> Table {
        Table {
            columns: header
                .iter()
                .map(|title| Column {
                    title: title.to_uppercase(),
                    wide_only: false,
                })
                .collect(),
            rows: Vec::new(),
        }
    }

    /// Shows these columns (by title) only with `-o wide`, as `kubectl get` does.
    pub fn wide_only(&mut self, titles: &[&str]) -> &mut Self {
        for column in &mut self.columns {
            if titles.iter().any(|t| t.to_uppercase() == column.title) {
                column.wide_only = true;
            }
        }
        self
    }

    /// Adds a row; a short row is filled with empty cells, extra cells are dropped.
    pub fn add_row<C: Into<Cell>>(&mut self, row: impl IntoIterator<Item = C>) -> &mut Self {
        let mut cells: Vec<Cell> = row.into_iter().map(Into::into).collect();
        cells.resize(self.columns.len(), Cell::default());
        self.rows.push(cells);
        self
    }

    /// The table's lines for `fit`, without a final new line. Pure.
    pub fn render(&self, fit: Fit, color: bool) -> String {
        let shown: Vec<usize> = (0..self.columns.len())
            .filter(|&c| fit.wide || !self.columns[c].wide_only)
            .collect();
        let header: Vec<Cell> = shown
            .iter()
            .map(|&c| Cell::from(self.columns[c].title.as_str()))
            .collect();
        let mut rows: Vec<Vec<Cell>> = std::iter::once(header)
            .chain(
                self.rows
                    .iter()
                    .map(|row| shown.iter().map(|&c| row[c].clone()).collect()),
            )
            .collect();
        let widths = widths(&rows, fit);
        for row in &mut rows {
            for (cell, &width) in row.iter_mut().zip(&widths) {
                cell.text = cut_words(&cell.text, width);
            }
        }

        let mut table = comfy_table::Table::new();
        table
            .load_preset(comfy_table::presets::NOTHING)
            .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
            .force_no_tty();
        if color {
            table.enforce_styling().style_text_only();
        }
        let mut rows = rows.into_iter();
        if let Some(header) = rows.next() {
            table.set_header(header.into_iter().map(|c| comfy_table::Cell::new(c.text)));
        }
        for row in rows {
            table.add_row(row.into_iter().map(comfy_cell));
        }
        let last = widths.len().saturating_sub(1);
        for (index, width) in widths.iter().enumerate() {
            if let Some(column) = table.column_mut(index) {
                let right = if index == last { 0 } else { GAP as u16 };
                column.set_padding((0, right));
                let total = u16::try_from(width + usize::from(right)).unwrap_or(u16::MAX);
                column.set_constraint(ColumnConstraint::Absolute(Width::Fixed(total)));
            }
        }
        table
            .lines()
            .map(|line| line.trim_end().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl fmt::Display for Table {
    /// The table as this process prints it (see [`configure`]), coloured when stdout is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(current_fit(), console::colors_enabled()))
    }
}

fn comfy_cell(cell: Cell) -> comfy_table::Cell {
    let plain = comfy_table::Cell::new(cell.text);
    match cell.tone {
        Tone::Plain => plain,
        Tone::Good => plain.fg(Color::DarkGreen),
        Tone::Note => plain.fg(Color::DarkCyan),
        Tone::Warn => plain.fg(Color::DarkYellow),
        Tone::Trouble => plain.fg(Color::DarkYellow).add_attribute(Attribute::Bold),
        Tone::Bad => plain.fg(Color::DarkRed).add_attribute(Attribute::Bold),
        Tone::Unknown => plain.fg(Color::DarkMagenta),
    }
}

/// The display width of text (escape codes are never in a cell: colour comes later).
fn width_of(text: &str) -> usize {
    text.width()
}

/// The widest word of a text, words being what lies between spaces (where a cell wraps).
fn widest_word(text: &str) -> usize {
    text.split(' ').map(width_of).max().unwrap_or(0)
}

/// Each column's width for `fit`: its widest cell when the table fits (always in a pipe);
/// else the widest columns narrowed, never below their widest word, so cells wrap between
/// words; and when even the widest words do not fit, the longest words cut short (never
/// with `-o wide`, whose lines are then as long as they must be).
fn widths(rows: &[Vec<Cell>], fit: Fit) -> Vec<usize> {
    let columns = rows.first().map_or(0, Vec::len);
    let natural: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| width_of(&r[c].text)).max().unwrap_or(0))
        .collect();
    let Some(terminal) = fit.width else {
        return natural;
    };
    let available = terminal.saturating_sub(GAP * columns.saturating_sub(1));
    if natural.iter().sum::<usize>() <= available {
        return natural;
    }
    let words: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .map(|r| widest_word(&r[c].text))
                .max()
                .unwrap_or(0)
        })
        .collect();
    if words.iter().sum::<usize>() <= available {
        // The largest cap that fits: no column wider than it, none narrower than its
        // widest word; then what is left goes to the capped columns, left first.
        let capped = |cap: usize| -> Vec<usize> {
            (0..columns)
                .map(|c| natural[c].min(cap).max(words[c]))
                .collect()
        };
        let mut cap = natural.iter().copied().max().unwrap_or(0);
        while cap > 0 && capped(cap).iter().sum::<usize>() > available {
            cap -= 1;
        }
        let mut widths = capped(cap);
        let mut left = available - widths.iter().sum::<usize>();
        for c in 0..columns {
            if left == 0 {
                break;
            }
            let more = (natural[c] - widths[c]).min(left);
            widths[c] += more;
            left -= more;
        }
        return widths;
    }
    if fit.wide {
        return words;
    }
    // Words must be cut: the largest width no column exceeds that fits, at least one
    // character and the ellipsis.
    let mut cap = words.iter().copied().max().unwrap_or(0);
    while cap > 2 && words.iter().map(|&w| w.min(cap)).sum::<usize>() > available {
        cap -= 1;
    }
    let mut widths: Vec<usize> = words.iter().map(|&w| w.min(cap)).collect();
    // What the cap leaves goes to the words it cut, left first.
    let mut left = available.saturating_sub(widths.iter().sum::<usize>());
    for c in 0..columns {
        let more = (words[c] - widths[c]).min(left);
        widths[c] += more;
        left -= more;
    }
    widths
}

/// The text with every word wider than `width` cut to fit it, ending in `…`.
fn cut_words(text: &str, width: usize) -> String {
    if widest_word(text) <= width {
        return text.to_string();
    }
    text.split(' ')
        .map(|word| {
            if width_of(word) <= width {
                return word.to_string();
            }
            let mut cut = String::new();
            let mut used = 0;
            for c in word.chars() {
                let w = c.width().unwrap_or(0);
                if used + w + 1 > width {
                    break;
                }
                cut.push(c);
                used += w;
            }
            cut.push('…');
            cut
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows like `status` prints, with long reasons and a long last-used cell.
    fn status_like() -> Table {
        let mut table = Table::new(&[
            "decoy",
            "profile",
            "planted",
            "last used",
            "verdict",
            "reason",
        ]);
        table.add_row([
            Cell::from("kube-system/tiller"),
            "tiller".into(),
            "2026-12-03 15:38 UTC".into(),
            "never".into(),
            Cell::new("armed", Tone::Good),
            "".into(),
        ]);
        table.add_row([
            Cell::from("apps/helm-server"),
            "tiller".into(),
            "2026-12-03 15:40 UTC".into(),
            "2026-12-03".into(),
            Cell::new("TRIPPED", Tone::Bad),
            "the token was used on 2026-12-03, and no drill of this decoy explains it; \
             DANGER: ClusterRoleBinding/helm-server-admin grants \
             the decoy account permissions; delete that binding"
                .into(),
        ]);
        table.add_row([
            Cell::from("default/gitlab"),
            "gitlab".into(),
            "-".into(),
            "never".into(),
            Cell::new("drilled", Tone::Note),
            "last used on 2026-12-03 by a drill that did not re-arm the tripwire; run \
             test-trigger again to re-arm it"
                .into(),
        ]);
        table
    }

    fn strip(text: &str) -> String {
        console::strip_ansi_codes(text).into_owned()
    }

    /// Every word of every cell, as it must appear whole (or cut with `…`) in the output.
    fn words(table: &Table) -> Vec<String> {
        table
            .rows
            .iter()
            .flatten()
            .flat_map(|c| c.text.split(' ').map(String::from).collect::<Vec<_>>())
            .filter(|w| !w.is_empty())
            .collect()
    }

    fn assert_well_formed(text: &str, width: usize, table: &Table) {
        let plain = strip(text);
        for line in plain.lines() {
            assert!(
                line.width() <= width,
                "a line is wider than {width}:\n{line}\n\n{plain}"
            );
            assert_eq!(line, line.trim_end(), "trailing spaces:\n{plain}");
        }
        let shown: Vec<&str> = plain.split([' ', '\n']).filter(|w| !w.is_empty()).collect();
        for word in words(table) {
            let whole = shown.contains(&word.as_str());
            let cut = shown.iter().any(|s| {
                s.strip_suffix('…')
                    .is_some_and(|head| !head.is_empty() && word.starts_with(head))
            });
            assert!(whole || cut, "{word:?} is split across lines:\n{plain}");
        }
    }

    #[test]
    fn at_80_columns_cells_wrap_between_words_and_fit() {
        let table = status_like();
        let text = table.render(Fit::terminal(80), false);
        assert_well_formed(&text, 80, &table);
        let first = text.lines().next().unwrap();
        assert!(first.starts_with("DECOY  "), "{text}");
        assert!(text.contains("kube-system/tiller"), "{text}");
        // Only the binding's name is too long for any column that fits 80.
        assert_eq!(text.matches('…').count(), 1, "{text}");
        assert!(text.contains("ClusterRoleBindin…"), "{text}");
        // At 120 every word is whole.
        assert!(!table.render(Fit::terminal(120), false).contains('…'));
    }

    #[test]
    fn colour_does_not_move_anything() {
        let table = status_like();
        for fit in [Fit::terminal(80), Fit::terminal(120), Fit::PIPE] {
            let plain = table.render(fit, false);
            let coloured = table.render(fit, true);
            assert!(coloured.contains('\u{1b}'), "{coloured:?}");
            assert_eq!(strip(&coloured), plain, "{fit:?}");
            // Colour is reset on the line it was set on.
            for line in coloured.lines().filter(|l| l.contains('\u{1b}')) {
                let last = line.rfind('\u{1b}').unwrap();
                assert!(
                    ["\u{1b}[0m", "\u{1b}[39m"]
                        .iter()
                        .any(|reset| line[last..].starts_with(reset)),
                    "colour runs past its line: {line:?}"
                );
            }
            assert_well_formed(&coloured, fit.width.unwrap_or(usize::MAX), &table);
        }
    }

    #[test]
    fn at_120_columns_with_colour_headers_stand_over_their_columns() {
        let table = status_like();
        let text = strip(&table.render(Fit::terminal(120), true));
        let header = text.lines().next().unwrap();
        let row = text.lines().nth(1).unwrap();
        let column = header.find("VERDICT").unwrap();
        assert_eq!(&row[column..column + "armed".len()], "armed", "{text}");
        let last_used = header.find("LAST USED").unwrap();
        assert_eq!(&row[last_used..last_used + 5], "never", "{text}");
        // `never` and `armed` do not run together.
        assert!(row.contains("never  "), "{text}");
    }

    #[test]
    fn a_word_wider_than_the_terminal_allows_is_cut_with_an_ellipsis() {
        let mut table = Table::new(&["request", "code", "audit event"]);
        table.add_row([
            "POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
            "201",
            "arrived after 0.0s (ResponseComplete)",
        ]);
        let text = table.render(Fit::terminal(40), false);
        assert_well_formed(&text, 40, &table);
        assert!(text.contains('…'), "{text}");
        // With -o wide it stays whole, however wide the line must be.
        let wide = table.render(
            Fit {
                width: Some(40),
                wide: true,
            },
            false,
        );
        assert!(
            wide.contains("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"),
            "{wide}"
        );
        assert!(!wide.contains('…'), "{wide}");
    }

    #[test]
    fn in_a_pipe_rows_are_aligned_and_never_padded() {
        let table = status_like();
        let text = table.render(Fit::PIPE, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "one line a row, nothing wraps:\n{text}");
        for line in &lines {
            assert_eq!(*line, line.trim_end(), "trailing spaces:\n{text}");
            assert!(!line.starts_with(' '), "{text}");
        }
        // The armed row ends with its verdict: nothing pads it to the longest reason.
        assert!(lines[1].ends_with("armed"), "{text}");
        let longest = lines.iter().map(|l| l.width()).max().unwrap();
        assert_eq!(longest, lines[2].width(), "{text}");
        // Columns are aligned two spaces apart.
        let column = lines[0].find("VERDICT").unwrap();
        assert_eq!(&lines[2][column..column + 7], "TRIPPED", "{text}");
        assert_eq!(&lines[2][column - 2..column], "  ", "{text}");
        assert!(!text.contains('…'), "{text}");
    }

    #[test]
    fn wide_only_columns_show_with_wide() {
        let mut table = Table::new(&["decoy", "account", "verdict"]);
        table.wide_only(&["account"]);
        table.add_row(["kube-system/tiller", "yes", "armed"]);
        let narrow = table.render(Fit::PIPE, false);
        assert_eq!(
            narrow,
            "DECOY               VERDICT\nkube-system/tiller  armed"
        );
        let wide = table.render(
            Fit {
                width: None,
                wide: true,
            },
            false,
        );
        assert_eq!(
            wide,
            "DECOY               ACCOUNT  VERDICT\nkube-system/tiller  yes      armed"
        );
    }

    #[test]
    fn any_width_keeps_words_whole_or_cut_and_lines_within_it() {
        let table = status_like();
        for width in [20, 40, 60, 79, 80, 81, 100, 120, 200] {
            let text = table.render(Fit::terminal(width), true);
            if width >= 40 {
                assert_well_formed(&text, width, &table);
            }
            for line in strip(&text).lines() {
                assert_eq!(line, line.trim_end());
            }
        }
    }

    #[test]
    fn cutting_keeps_short_words_and_marks_cut_ones() {
        assert_eq!(cut_words("a bb cccc", 3), "a bb cc…");
        assert_eq!(cut_words("short", 10), "short");
        assert_eq!(cut_words("日本語日本語", 5), "日本…");
    }
}
