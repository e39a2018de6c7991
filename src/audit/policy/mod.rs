//! Kubernetes audit policies (`audit.k8s.io/v1` `Policy`): parsing, validation and
//! evaluation with the semantics of the API server.
//!
//! The sources reproduced here live in `k8s.io/apiserver`:
//! - `pkg/audit/policy/checker.go`: which rule applies to a request,
//! - `pkg/audit/policy/reader.go`: how the policy file is decoded,
//! - `pkg/apis/audit/validation/validation.go`: what the API server refuses to load,
//! - `pkg/endpoints/filters/audit.go`: which stages produce events.
//!
//! One point where the API server is more lenient than one might expect: its strict
//! decoding of the policy file flags unknown and duplicate fields, but `reader.go` then
//! falls back to lenient decoding and only logs a warning. [`parse`] does the same
//! (unknown fields are ignored, the last of duplicate fields wins) and keeps what it
//! ignored in [`Policy::warnings`]; [`parse_strict`] rejects them instead.

//!
//! The module is in parts: [`decode`] reads the text into raw values with their
//! locations, [`check`] validates them as the API server does and builds the [`Policy`],
//! [`evaluate`] decides what a request is logged at, and [`describe`] puts rules into words.

use std::fmt;

use serde::{Deserialize, Serialize};

mod check;
mod decode;
mod describe;
mod error;
mod evaluate;

pub use describe::describe_rule;
pub use error::{PolicyError, Problem};
pub use evaluate::{Decision, is_long_running};

/// The only `apiVersion` the API server reads audit policies as.
pub const API_VERSION: &str = "audit.k8s.io/v1";
/// The `kind` of an audit policy.
pub const KIND: &str = "Policy";

/// How much of a request an audit event records. Ordered from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    /// No events at all.
    None,
    /// Request metadata (user, verb, resource, ...) but no bodies.
    Metadata,
    /// Metadata and the request body.
    Request,
    /// Metadata, request body and response body.
    RequestResponse,
}

impl Level {
    /// Every level, least to most.
    pub const ALL: [Level; 4] = [
        Level::None,
        Level::Metadata,
        Level::Request,
        Level::RequestResponse,
    ];

    /// The level's name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "None",
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }

    /// Reads a level as the API spells it (case-sensitive, like the API server).
    pub fn from_api(name: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == name)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A point in the handling of a request at which an audit event can be emitted.
/// Ordered as they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Stage {
    /// As soon as the request is received, before it is handled.
    RequestReceived,
    /// Once the response headers are sent; only for long-running requests.
    ResponseStarted,
    /// Once the response is complete.
    ResponseComplete,
    /// When the handler panicked (instead of ResponseComplete).
    Panic,
}

impl Stage {
    /// Every stage, in the order they happen.
    pub const ALL: [Stage; 4] = [
        Stage::RequestReceived,
        Stage::ResponseStarted,
        Stage::ResponseComplete,
        Stage::Panic,
    ];

    /// The stage's name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::RequestReceived => "RequestReceived",
            Stage::ResponseStarted => "ResponseStarted",
            Stage::ResponseComplete => "ResponseComplete",
            Stage::Panic => "Panic",
        }
    }

    /// Reads a stage as the API spells it (case-sensitive, like the API server).
    pub fn from_api(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Resources of one API group, as in a rule's `resources` list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupResources {
    /// API group; `""` is the core group, `"*"` every group.
    pub group: String,
    /// Resource names: `pods`, `pods/log`, `*`, `pods/*`, `*/status`. Empty: every
    /// resource of the group.
    pub resources: Vec<String>,
    /// Object names. Empty: every object.
    pub resource_names: Vec<String>,
}

/// One rule of a policy, with the API's fields. Empty lists mean "any".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub level: Level,
    pub users: Vec<String>,
    pub user_groups: Vec<String>,
    pub verbs: Vec<String>,
    pub resources: Vec<GroupResources>,
    /// `""` stands for cluster-scoped requests.
    pub namespaces: Vec<String>,
    pub non_resource_urls: Vec<String>,
    /// The rule's own `omitStages` (the policy-wide ones are added by [`Policy::evaluate`]).
    pub omit_stages: Vec<Stage>,
    /// `None` when the rule does not set it: the policy's value applies.
    pub omit_managed_fields: Option<bool>,
    /// Line of the rule in the parsed text (its first field), when known.
    pub line: Option<u64>,
}

impl Rule {
    /// A rule that matches every request at `level`.
    pub fn new(level: Level) -> Rule {
        Rule {
            level,
            users: Vec::new(),
            user_groups: Vec::new(),
            verbs: Vec::new(),
            resources: Vec::new(),
            namespaces: Vec::new(),
            non_resource_urls: Vec::new(),
            omit_stages: Vec::new(),
            omit_managed_fields: None,
            line: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub user: String,
    pub groups: Vec<String>,
    /// get, list, watch, create, update, patch, delete, deletecollection, ...; for
    /// non-resource requests the lower-cased HTTP method.
    pub verb: String,
    pub target: Target,
}

/// What a request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A request for an API resource. `namespace` is `""` for cluster-scoped requests,
    /// `name` is `""` for lists and creates, `api_group` is `""` for the core group.
    Resource {
        api_group: String,
        resource: String,
        subresource: String,
        namespace: String,
        name: String,
    },
    /// Any other path (`/healthz`, `/api`, `/version`, ...).
    NonResource { path: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    rules: Vec<Rule>,
    omit_stages: Vec<Stage>,
    omit_managed_fields: bool,
    warnings: Vec<Problem>,
}

impl Policy {
    /// A policy built in code (no validation: the types already rule out bad levels and
    /// stages).
    pub fn new(rules: Vec<Rule>, omit_stages: Vec<Stage>, omit_managed_fields: bool) -> Policy {
        Policy {
            rules,
            omit_stages: evaluate::sorted(omit_stages),
            omit_managed_fields,
            warnings: Vec::new(),
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Policy-wide `omitStages`, sorted and deduplicated.
    pub fn omit_stages(&self) -> &[Stage] {
        &self.omit_stages
    }

    /// Policy-wide `omitManagedFields`.
    pub fn omit_managed_fields(&self) -> bool {
        self.omit_managed_fields
    }

    /// What [`parse`] ignored the way the API server does (unknown fields, repeated
    /// fields), with locations. The API server logs these as a warning and loads the
    /// policy without them.
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }
}

/// Parses a policy (YAML, or JSON which is YAML) the way the API server loads
/// `--audit-policy-file`: unknown fields are ignored and repeated fields take the last
/// value (both recorded in [`Policy::warnings`]); then `apiVersion`/`kind` are checked,
/// the API server's validation is applied and a policy without rules is refused.
pub fn parse(text: &str) -> Result<Policy, PolicyError> {
    let decoded = decode::decode(text)?;
    let mut warnings = decoded.field_warnings;
    warnings.extend(decoded.later_documents);
    check::build(decoded.raw, warnings)
}

/// Like [`parse`], but unknown and repeated fields are errors (as the API server's
/// strict decoding reports them before it falls back to lenient decoding).
pub fn parse_strict(text: &str) -> Result<Policy, PolicyError> {
    let decoded = decode::decode(text)?;
    if !decoded.field_warnings.is_empty() {
        return Err(PolicyError::Strict(decoded.field_warnings));
    }
    check::build(decoded.raw, decoded.later_documents.into_iter().collect())
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub(crate) const HEADER: &str = "apiVersion: audit.k8s.io/v1\nkind: Policy\n";

    /// A policy from the YAML of its rules list (which starts on line 4).
    pub(crate) fn policy(rules: &str) -> Policy {
        let text = format!("{HEADER}rules:\n{rules}");
        parse(&text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
    }

    pub(crate) fn error(text: &str) -> String {
        match parse(text) {
            Ok(p) => panic!("parsed: {p:?}"),
            Err(e) => e.to_string(),
        }
    }

    pub(crate) fn request(user: &str, groups: &[&str], verb: &str, target: Target) -> Request {
        Request {
            user: user.to_string(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            verb: verb.to_string(),
            target,
        }
    }

    pub(crate) fn resource(
        api_group: &str,
        resource: &str,
        subresource: &str,
        namespace: &str,
        name: &str,
    ) -> Target {
        Target::Resource {
            api_group: api_group.to_string(),
            resource: resource.to_string(),
            subresource: subresource.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    pub(crate) fn non_resource(path: &str) -> Target {
        Target::NonResource {
            path: path.to_string(),
        }
    }

    /// `verb` by alice on a core resource in namespace default.
    pub(crate) fn core(verb: &str, resource_and_sub: &str) -> Request {
        let (res, sub) = resource_and_sub
            .split_once('/')
            .unwrap_or((resource_and_sub, ""));
        request(
            "alice",
            &["system:authenticated"],
            verb,
            resource("", res, sub, "default", ""),
        )
    }

    pub(crate) fn get_path(path: &str) -> Request {
        request(
            "alice",
            &["system:authenticated"],
            "get",
            non_resource(path),
        )
    }

    pub(crate) fn level(policy: &Policy, request: &Request) -> Level {
        policy.evaluate(request).level
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_stages_use_the_api_names() {
        assert_eq!(
            serde_json::to_string(&Level::RequestResponse).unwrap(),
            "\"RequestResponse\""
        );
        assert_eq!(
            serde_json::from_str::<Level>("\"None\"").unwrap(),
            Level::None
        );
        assert_eq!(
            serde_json::to_string(&Stage::ResponseStarted).unwrap(),
            "\"ResponseStarted\""
        );
        assert_eq!(Level::from_api("Request"), Some(Level::Request));
        assert_eq!(Stage::from_api("panic"), None);
        assert_eq!(Stage::Panic.to_string(), "Panic");
    }

    #[test]
    fn levels_order_from_none_to_request_response() {
        assert!(Level::None < Level::Metadata);
        assert!(Level::Metadata < Level::Request);
        assert!(Level::Request < Level::RequestResponse);
    }
}
