//! What can go wrong in the cluster layer, and how a failed API call is told: the server's
//! reason and message when it answered, the transport failure when it did not.

use crate::cluster::connect::ConnectError;
use crate::decoy::UserNameError;
use crate::home::HomeError;
use crate::ui::causes::chain;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error(transparent)]
    UserName(#[from] UserNameError),
    /// An API call failed; `action` names the verb and object ("create Secret ns/name").
    #[error("cannot {action}: {}", describe_kube_error(source))]
    Api {
        action: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("namespace {0} does not exist")]
    NamespaceMissing(String),
    #[error("namespace {0} has no uid")]
    NamespaceWithoutUid(String),
    /// The token controller deleted the Secret: it does so when it cannot find the account.
    #[error(
        "Secret {namespace}/{secret} disappeared while waiting for its token: the token \
         controller deletes token Secrets whose service account it cannot find"
    )]
    TokenSecretGone { namespace: String, secret: String },
    #[error(
        "the token controller did not fill the token of Secret {namespace}/{secret} within \
         {seconds}s; is kube-controller-manager running its serviceaccount-token controller \
         with --service-account-private-key-file?"
    )]
    TokenNotFilled {
        namespace: String,
        secret: String,
        seconds: u64,
    },
    #[error("unknown profile {name:?}; profiles: {known}")]
    UnknownProfile { name: String, known: String },
    #[error(
        "no decoys to look for: none of this key in {looked_in}; name them with --user \
         system:serviceaccount:NS:NAME"
    )]
    NoDecoysToLookFor {
        /// Where they were looked for, in words (the namespaces, and whether -n narrowed it).
        looked_in: String,
    },
    #[error("--secret {given}: {why}")]
    SecretName { given: String, why: String },
}

impl ClusterError {
    /// The API server refused the call for want of permission.
    pub fn is_forbidden(&self) -> bool {
        matches!(self, ClusterError::Api { source, .. }
            if matches!(source.as_ref(), kube::Error::Api(status) if status.code == 403))
    }

    /// The call never got an answer: no connection, a TLS failure, or a broken-off one.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClusterError::Api { source, .. }
            if matches!(source.as_ref(), kube::Error::HyperError(_) | kube::Error::Service(_)))
    }

    pub fn api(action: impl Into<String>, source: kube::Error) -> ClusterError {
        ClusterError::Api {
            action: action.into(),
            source: Box::new(source),
        }
    }
}

/// One line for a failed API call: the server's reason and message when it answered, the
/// transport failure when it did not.
pub fn describe_kube_error(error: &kube::Error) -> String {
    // Some client errors quote credentials (an exec plugin's output, a key's bytes).
    if let Some(told) = crate::ui::redact::credential_error(error) {
        return told;
    }
    match error {
        kube::Error::Api(status) => {
            let reason = match status.reason.as_str() {
                "" => format!("HTTP {}", status.code),
                reason => reason_words(reason),
            };
            if status.message.is_empty() {
                reason
            } else {
                format!("{reason}: {}", status.message)
            }
        }
        kube::Error::HyperError(e) => format!("cannot reach the API server: {}", chain(e)),
        kube::Error::Service(e) => {
            match e.downcast_ref::<crate::cluster::transport::Unanswered>() {
                Some(unanswered) => unanswered.to_string(),
                None => format!("cannot reach the API server: {}", chain(e.as_ref())),
            }
        }
        other => chain(other),
    }
}

/// "Forbidden" -> "forbidden", "AlreadyExists" -> "already exists", like kubectl prints them.
fn reason_words(reason: &str) -> String {
    let mut words = String::new();
    for (i, c) in reason.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            words.push(' ');
        }
        words.extend(c.to_lowercase());
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            reason: reason.into(),
            message: message.into(),
            ..Default::default()
        }))
    }

    #[test]
    fn api_errors_name_the_action_and_the_servers_words() {
        let error = ClusterError::api(
            "create Secret kube-system/tiller-token-x7k2p",
            status(
                403,
                "Forbidden",
                "secrets is forbidden: User \"alice\" cannot create resource \"secrets\" in API group \"\" in the namespace \"kube-system\"",
            ),
        );
        assert_eq!(
            error.to_string(),
            "cannot create Secret kube-system/tiller-token-x7k2p: forbidden: secrets is forbidden: \
             User \"alice\" cannot create resource \"secrets\" in API group \"\" in the namespace \"kube-system\""
        );
        assert!(std::error::Error::source(&error).is_some());
    }

    #[test]
    fn reasons_read_as_words() {
        assert_eq!(reason_words("AlreadyExists"), "already exists");
        assert_eq!(reason_words("NotFound"), "not found");
        assert_eq!(describe_kube_error(&status(500, "", "")), "HTTP 500");
    }
}
