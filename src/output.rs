//! Machine-readable output. Tables are built by each command; JSON and YAML come from the
//! same serializable report, so the two never disagree.

use serde::Serialize;

use crate::cli::OutputFormat;
use crate::error::Error;

/// Renders a report as JSON or YAML; None for the table format, which each command draws.
pub fn structured<T: Serialize>(format: OutputFormat, report: &T) -> Result<Option<String>, Error> {
    match format {
        OutputFormat::Table => Ok(None),
        OutputFormat::Json => serde_json::to_string_pretty(report)
            .map(|text| Some(text + "\n"))
            .map_err(|e| Error::Invalid(format!("cannot render JSON: {e}"))),
        OutputFormat::Yaml => serde_saphyr::to_string(report)
            .map(Some)
            .map_err(|e| Error::Invalid(format!("cannot render YAML: {e}"))),
    }
}

/// Several objects as one YAML stream, the way `kubectl get -o yaml` users apply them.
pub fn yaml_documents<T: Serialize>(documents: &[T]) -> Result<String, Error> {
    let mut text = String::new();
    for document in documents {
        text.push_str("---\n");
        text.push_str(
            &serde_saphyr::to_string(document)
                .map_err(|e| Error::Invalid(format!("cannot render YAML: {e}")))?,
        );
    }
    Ok(text)
}

/// A table in the style of the rest of the plugin.
pub fn table(header: &[&str]) -> comfy_table::Table {
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::NOTHING)
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
        .set_header(header.iter().map(|h| h.to_uppercase()));
    table
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
}
