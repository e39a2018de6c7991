//! Machine-readable output. Tables are built by each command; JSON and YAML come from the
//! same serializable report, so the two never disagree.

use std::io;

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

/// How a command prints its result (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    /// The table with every column and no word cut short, as `kubectl get -o wide`.
    Wide,
    Json,
    Yaml,
}
use crate::ui::terminal::is_unsafe_for_terminal;

/// Why a report could not be written as JSON or YAML.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot render JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("cannot render JSON: {0}")]
    JsonNotText(#[source] std::string::FromUtf8Error),
    #[error("cannot render YAML: {0}")]
    Yaml(#[source] serde_saphyr::SerializeError),
}

/// The `-o json|yaml` document of a command that acted on every decoy it found (or every
/// decoy in `-n`'s namespace), each on its own: `remove` and `test-trigger`. `D` is the
/// command's row of one decoy. Schema version 1; fields are only ever added.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeveralReport<D> {
    pub schema_version: u32,
    pub server: String,
    pub dry_run: bool,
    /// Where decoys were looked for.
    pub namespaces: Vec<String>,
    pub decoys: Vec<D>,
    /// Profiles' namespaces the operator may not read (and where nothing was planted from
    /// here), as `status` tells them: decoys there are left alone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_looked_in: Vec<String>,
    /// Decoys this workstation recorded planting where this run did not look (another
    /// namespace than -n's, another server).
    pub recorded_elsewhere: Vec<String>,
}

/// Renders a report as JSON or YAML; None for the table format, which each command draws.
pub fn structured<T: Serialize>(
    format: OutputFormat,
    report: &T,
) -> Result<Option<String>, RenderError> {
    match format {
        OutputFormat::Table | OutputFormat::Wide => Ok(None),
        OutputFormat::Json => json(report, true).map(|text| Some(text + "\n")),
        OutputFormat::Yaml => serde_saphyr::to_string(report)
            .map(Some)
            .map_err(RenderError::Yaml),
    }
}

/// JSON that is safe to print on a terminal: besides what JSON must escape (C0 controls,
/// quotes, backslashes), every character a terminal acts on or hides (DEL, C1 controls,
/// bidi overrides and other invisible format characters, see
/// [`crate::ui::terminal::is_unsafe_for_terminal`]) is written as a `\uXXXX` escape. The
/// document means exactly what `serde_json` would write; only its bytes differ.
pub fn json<T: Serialize + ?Sized>(value: &T, pretty: bool) -> Result<String, RenderError> {
    let mut bytes = Vec::new();
    let written = if pretty {
        value.serialize(&mut serde_json::Serializer::with_formatter(
            &mut bytes,
            TerminalSafe(PrettyFormatter::new()),
        ))
    } else {
        value.serialize(&mut serde_json::Serializer::with_formatter(
            &mut bytes,
            TerminalSafe(CompactFormatter),
        ))
    };
    written.map_err(RenderError::Json)?;
    String::from_utf8(bytes).map_err(RenderError::JsonNotText)
}

/// A JSON formatter that escapes what [`is_unsafe_for_terminal`] names and otherwise
/// formats as the one it wraps.
struct TerminalSafe<F>(F);

impl<F: Formatter> Formatter for TerminalSafe<F> {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (at, c) in fragment.char_indices() {
            if is_unsafe_for_terminal(c) {
                writer.write_all(&fragment.as_bytes()[start..at])?;
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
                start = at + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    // What the pretty formatter does differently from the default: indentation.
    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_array(writer)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array(writer)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(writer, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array_value(writer)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object(writer)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object(writer)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(writer, first)
    }
    fn end_object_key<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object_key(writer)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object_value(writer)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object_value(writer)
    }
}

/// Several objects as one YAML stream, the way `kubectl get -o yaml` users apply them.
pub fn yaml_documents<T: Serialize>(documents: &[T]) -> Result<String, RenderError> {
    let mut text = String::new();
    for document in documents {
        text.push_str("---\n");
        text.push_str(&serde_saphyr::to_string(document).map_err(RenderError::Yaml)?);
    }
    Ok(text)
}

/// A count and its noun, singular for one: `1 use`, `2 uses`, `0 lines`.
pub fn count<N: std::fmt::Display + PartialEq + From<u8>>(n: N, one: &str, many: &str) -> String {
    if n == N::from(1) {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A table in the style of the rest of the plugin (see [`crate::ui::table`]).
pub fn table(header: &[&str]) -> crate::ui::table::Table {
    crate::ui::table::Table::new(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Report {
        name: &'static str,
        count: u32,
    }

    #[test]
    fn json_and_yaml_carry_the_same_fields() {
        let report = Report {
            name: "tiller",
            count: 2,
        };
        let json: serde_json::Value =
            serde_json::from_str(&structured(OutputFormat::Json, &report).unwrap().unwrap())
                .unwrap();
        assert_eq!(json, serde_json::json!({"name": "tiller", "count": 2}));
        let yaml = structured(OutputFormat::Yaml, &report).unwrap().unwrap();
        let back: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back, json);
        assert!(structured(OutputFormat::Table, &report).unwrap().is_none());
        assert!(structured(OutputFormat::Wide, &report).unwrap().is_none());
    }

    #[test]
    fn a_count_of_one_is_singular() {
        assert_eq!(count(1, "use", "uses"), "1 use");
        assert_eq!(count(0, "use", "uses"), "0 uses");
        assert_eq!(count(2u64, "line", "lines"), "2 lines");
        assert_eq!(count(1u64, "line", "lines"), "1 line");
    }

    #[test]
    fn yaml_documents_are_separated() {
        let text = yaml_documents(&[
            Report {
                name: "a",
                count: 1,
            },
            Report {
                name: "b",
                count: 2,
            },
        ])
        .unwrap();
        assert_eq!(text.matches("---\n").count(), 2, "{text}");
    }

    #[test]
    fn json_escapes_what_a_terminal_would_act_on_and_means_the_same() {
        let nasty = "ua\u{1b}[2J\u{7f}\u{9b}31m\u{202e}txt.exe\u{2028}\u{e0041}\u{feff}ok é 🙂";
        let report = serde_json::json!({"userAgent": nasty, "list": [nasty], nasty: 1});
        for pretty in [true, false] {
            let text = json(&report, pretty).unwrap();
            assert!(
                !text
                    .chars()
                    .any(|c| crate::ui::terminal::is_unsafe_for_terminal(c) && c != '\n'),
                "{text:?}"
            );
            assert!(
                text.contains("\\u009b") && text.contains("\\u202e"),
                "{text}"
            );
            // Astral characters as a surrogate pair, as JSON spells them.
            assert!(text.contains("\\udb40\\udc41"), "{text}");
            assert!(text.contains("é 🙂"), "other text is kept as it is: {text}");
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back, report);
            assert_eq!(text.contains('\n'), pretty);
        }
        // Without such characters the bytes are serde_json's own.
        let plain = serde_json::json!({"a": [1, "b"], "c": {"d": null}});
        assert_eq!(
            json(&plain, true).unwrap(),
            serde_json::to_string_pretty(&plain).unwrap()
        );
        assert_eq!(
            json(&plain, false).unwrap(),
            serde_json::to_string(&plain).unwrap()
        );
    }
}
