//! An error told with its causes on one line.

/// An error and its causes on one line, without repeating a cause its parent already says.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Told {
        text: &'static str,
        #[source]
        source: Option<Box<Told>>,
    }

    #[test]
    fn causes_are_told_once() {
        let root = Told {
            text: "connection refused",
            source: None,
        };
        let middle = Told {
            text: "cannot connect",
            source: Some(Box::new(root)),
        };
        let top = Told {
            text: "cannot get /version: cannot connect",
            source: Some(Box::new(middle)),
        };
        assert_eq!(
            chain(&top),
            "cannot get /version: cannot connect: connection refused"
        );
    }
}
