//! Problems with files that may hold credentials (kubeconfigs, private keys), told
//! without their content: where the problem is and what kind it is, never the text
//! around it. Parsers' own messages quote the source (serde-saphyr prints the lines around
//! a YAML error, a PEM reader the bytes of a bad line), and for these files that text can
//! be a bearer token or a private key.

use rustls::pki_types::pem;

/// A problem in a YAML file, as it may be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlProblem {
    /// 1-based line and column, when the parser knows them.
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub kind: String,
}

impl std::fmt::Display for YamlProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.kind)?;
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, " at line {line}, column {column}"),
            (Some(line), None) => write!(f, " at line {line}"),
            _ => Ok(()),
        }
    }
}

/// The position and kind of a YAML error, from the error's structure rather than its
/// message, which may quote the file.
pub fn yaml_problem(error: &serde_saphyr::Error) -> YamlProblem {
    use serde_saphyr::Error as E;
    let mut original = error;
    while let E::WithSnippet { error: inner, .. } | E::AliasError { error: inner, .. } = original {
        original = inner;
    }
    let kind = match original {
        E::ExternalMessage { .. }
        | E::Eof { .. }
        | E::Unexpected { .. }
        | E::UnexpectedSequenceEnd { .. }
        | E::UnexpectedMappingEnd { .. }
        | E::UnexpectedContainerEndWhileReadingKeyNode { .. }
        | E::UnexpectedContainerEndWhileSkippingNode { .. }
        | E::ContainerEndMismatch { .. }
        | E::UnknownAnchor { .. }
        | E::FoldedBlockScalarMustIndentContent { .. }
        | E::IndentationError { .. } => "YAML syntax error".to_string(),
        E::InvalidUtf8Input => "the file is not UTF-8 text".to_string(),
        E::DuplicateMappingKey { .. } => "a key appears twice in one mapping".to_string(),
        // The field's name comes from the kubeconfig format, not from the file.
        E::SerdeMissingField { field, .. } => format!("required field `{field}` is missing"),
        E::SerdeUnknownField { .. } => "a field that does not belong there".to_string(),
        E::SerdeInvalidType { .. }
        | E::NullIntoString { .. }
        | E::InvalidScalar { .. }
        | E::InvalidBooleanStrict { .. }
        | E::QuotingRequired { .. } => "a value of the wrong type".to_string(),
        E::SerdeInvalidValue { .. }
        | E::SerdeInvalidLength { .. }
        | E::SerdeUnknownVariant { .. } => "a value that is not allowed there".to_string(),
        E::Budget { .. }
        | E::AliasReplayCounterOverflow { .. }
        | E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. } => {
            "the YAML is too large or too deeply nested".to_string()
        }
        _ => "a structure that is not a kubeconfig".to_string(),
    };
    let location = original.location().or_else(|| error.location());
    YamlProblem {
        line: location.map(|l| l.line()).filter(|l| *l > 0),
        column: location.map(|l| l.column()).filter(|c| *c > 0),
        kind,
    }
}

/// What is wrong with a PEM file, without the bytes `pem::Error` carries (a malformed
/// BEGIN line may be a whole private key run together on one line).
pub fn pem_problem(error: &pem::Error) -> String {
    match error {
        pem::Error::MissingSectionEnd { .. } => "a PEM section has no END line".into(),
        pem::Error::IllegalSectionStart { .. } => "a malformed PEM BEGIN line".into(),
        pem::Error::Base64Decode(_) => "the base64 inside a PEM section is not valid".into(),
        pem::Error::Io(e) => e.to_string(),
        pem::Error::NoItemsFound => "no PEM item of the expected type in it".into(),
        pem::Error::SectionTooLarge => "a PEM section larger than 256 MB".into(),
        _ => "not a valid PEM file".into(),
    }
}

/// A client-side error whose own message would show credentials, told without them:
/// the client key of the kubeconfig user that is not valid base64, the client certificate
/// and key that are not valid PEM, and an
/// exec credential plugin whose output cannot be read or that failed (its stdout, where
/// the token would be, is never shown). None for every other error, which may be shown
/// as it is. Looks through the error's causes, since the client wraps them.
pub fn credential_error(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    use kube::client::{AuthError, RustlsTlsError};
    let mut current = Some(error);
    while let Some(error) = current {
        let auth = error.downcast_ref::<AuthError>().or_else(|| {
            match error.downcast_ref::<kube::Error>() {
                Some(kube::Error::Auth(auth)) => Some(auth),
                _ => None,
            }
        });
        let tls = error.downcast_ref::<RustlsTlsError>().or_else(|| {
            match error.downcast_ref::<kube::Error>() {
                Some(kube::Error::RustlsTls(tls)) => Some(tls),
                _ => None,
            }
        });
        if let Some(kube::config::KubeconfigError::LoadClientKey(
            kube::config::LoadDataError::DecodeBase64(_),
        )) = error.downcast_ref::<kube::config::KubeconfigError>()
        {
            // base64's message names a byte of the key and its offset.
            return Some(
                "the kubeconfig user's client-key-data is not valid base64 (its content is not shown)"
                    .into(),
            );
        }
        match (auth, tls) {
            (Some(AuthError::AuthExecParse(yaml)), _) => {
                return Some(format!(
                    "the kubeconfig user's exec credential plugin printed something that is not an ExecCredential ({}; its output is not shown, as it may hold a token)",
                    yaml_problem(yaml)
                ));
            }
            (Some(AuthError::AuthExecRun { cmd, out }), _) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let stderr = stderr.trim();
                return Some(format!(
                    "the kubeconfig user's exec credential plugin `{}` failed ({}){}",
                    crate::ui::terminal::printable(cmd),
                    out.status,
                    if stderr.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", crate::ui::terminal::printable(stderr))
                    }
                ));
            }
            (Some(AuthError::ParseTokenKey(json)), _) => {
                return Some(format!(
                    "the kubeconfig user's credential command printed something that is not JSON (line {}, column {}; its output is not shown, as it may hold a token)",
                    json.line(),
                    json.column()
                ));
            }
            (_, Some(RustlsTlsError::InvalidIdentityPem(pem))) => {
                return Some(format!(
                    "the kubeconfig user's client certificate and key are not valid PEM: {} (their content is not shown)",
                    pem_problem(pem)
                ));
            }
            _ => {}
        }
        current = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2VuLXZhbHVl.SIGNATURE";

    fn kubeconfig_error(text: &str) -> serde_saphyr::Error {
        serde_saphyr::from_multiple::<kube::config::Kubeconfig>(text).unwrap_err()
    }

    #[test]
    fn serde_saphyr_itself_quotes_the_file() {
        // Why this module exists: the parser's message shows the lines around the error.
        let text = format!("users:\n- name: admin\n  user:\n    token: {TOKEN}\n  bad: [\n");
        let error = kubeconfig_error(&text);
        assert!(error.to_string().contains(TOKEN), "{error}");
    }

    #[test]
    fn a_syntax_error_is_told_by_position_and_kind_only() {
        let text = format!(
            "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n    token: {TOKEN}\n   oops: : [\n"
        );
        let problem = yaml_problem(&kubeconfig_error(&text));
        let shown = problem.to_string();
        assert!(!shown.contains(TOKEN) && !shown.contains("oops"), "{shown}");
        assert_eq!(problem.kind, "YAML syntax error");
        assert!(
            problem.line.is_some_and(|l| (6..=7).contains(&l)),
            "{problem:?}"
        );
        assert!(shown.contains(" at line "), "{shown}");
    }

    #[test]
    fn a_value_of_the_wrong_type_is_not_quoted() {
        // A secret pasted where a flag belongs: serde's message would quote it.
        let text = format!(
            "clusters:\n- name: c\n  cluster:\n    server: https://x\n    insecure-skip-tls-verify: {TOKEN}\n"
        );
        let error = kubeconfig_error(&text);
        let problem = yaml_problem(&error);
        assert!(!problem.to_string().contains(TOKEN), "{problem}");
        assert_eq!(problem.kind, "a value of the wrong type", "{error}");
        assert_eq!(problem.line, Some(5));
    }

    #[test]
    fn a_missing_field_is_named() {
        let problem = yaml_problem(&kubeconfig_error("users:\n- user:\n    token: x\n"));
        assert_eq!(problem.kind, "required field `name` is missing");
    }

    #[test]
    fn pem_problems_carry_no_bytes_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        // A key whose BEGIN line and body ran together: the BEGIN line holds all of it.
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        use rustls::pki_types::PrivateKeyDer;
        use rustls::pki_types::pem::PemObject;
        let error = PrivateKeyDer::from_pem_file(&key).unwrap_err();
        let shown = pem_problem(&error);
        assert!(
            !shown.contains("MIIE") && !shown.contains("77, 73"),
            "{shown}"
        );
        // What rustls itself says carries the bytes, as numbers.
        assert!(error.to_string().contains("77, 73, 73, 69"), "{error}");
    }
}
