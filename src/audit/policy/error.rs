//! What is wrong with a policy text, with its place in the text.

use std::fmt;

use serde_saphyr::Location;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// 1-based column, when known.
    pub column: Option<u64>,
    /// Field path as the API server writes it (`rules[1].level`); empty for the whole
    /// document.
    pub path: String,
    pub message: String,
}

impl Problem {
    pub(super) fn new(
        location: Option<Location>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Problem {
        let known = location.filter(|l| l.line() > 0);
        Problem {
            line: known.map(|l| l.line()),
            column: known.map(|l| l.column()).filter(|&c| c > 0),
            path: escape_controls(path.into()),
            message: escape_controls(message.into()),
        }
    }
}

/// Messages quote values from the file and go to a terminal: control characters in them
/// (an escape sequence that clears the screen or recolours a verdict) are shown escaped.
fn escape_controls(text: String) -> String {
    if !text.chars().any(char::is_control) {
        return text;
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "line {line}, column {column}: ")?,
            (Some(line), None) => write!(f, "line {line}: ")?,
            _ => {}
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a policy text was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Not YAML/JSON, or a field of the wrong shape (a string where a list belongs, ...).
    #[error("{problem}")]
    Syntax {
        problem: Problem,
        /// What the YAML reader reported. Its text quotes the file as it is: show `problem`
        /// (the same, escaped for a terminal, with the field path) to a person.
        #[source]
        cause: Box<serde_saphyr::Error>,
    },
    /// `apiVersion` or `kind` missing or not `audit.k8s.io/v1` `Policy`.
    #[error("{0}")]
    NotAPolicy(Problem),
    /// What the API server's validation rejects, and a policy without rules; every
    /// problem found, in document order.
    #[error("{}", join_lines(.0))]
    Invalid(Vec<Problem>),
    /// Only from [`parse_strict`]: unknown or repeated fields, which the API server
    /// ignores with a warning.
    #[error("{}", join_lines(.0))]
    Strict(Vec<Problem>),
}

impl PolicyError {
    /// Every problem this error reports.
    pub fn problems(&self) -> &[Problem] {
        match self {
            PolicyError::Syntax { problem: p, .. } | PolicyError::NotAPolicy(p) => {
                std::slice::from_ref(p)
            }
            PolicyError::Invalid(ps) | PolicyError::Strict(ps) => ps,
        }
    }
}

fn join_lines(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_without_a_line_starts_with_its_path() {
        let p = Problem {
            line: None,
            column: None,
            path: "rules".into(),
            message: "m".into(),
        };
        assert_eq!(p.to_string(), "rules: m");
        let q = Problem {
            line: Some(3),
            column: None,
            path: String::new(),
            message: "m".into(),
        };
        assert_eq!(q.to_string(), "line 3: m");
    }
}
