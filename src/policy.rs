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

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_saphyr::{Location, MessageFormatter as _, Spanned};

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

    /// Whether the rule applies to `request` (`ruleMatches` in checker.go).
    pub fn matches(&self, request: &Request) -> bool {
        if !self.users.is_empty() && !self.users.contains(&request.user) {
            return false;
        }
        if !self.user_groups.is_empty()
            && !request.groups.iter().any(|g| self.user_groups.contains(g))
        {
            return false;
        }
        if !self.verbs.is_empty() && !self.verbs.contains(&request.verb) {
            return false;
        }
        // Resource selectors win over nonResourceURLs; a rule with neither matches both
        // kinds of request.
        if !self.namespaces.is_empty() || !self.resources.is_empty() {
            return self.matches_resource(request);
        }
        if !self.non_resource_urls.is_empty() {
            return self.matches_non_resource(request);
        }
        true
    }

    /// `ruleMatchesResource` in checker.go.
    fn matches_resource(&self, request: &Request) -> bool {
        let Target::Resource {
            api_group,
            resource,
            subresource,
            namespace,
            name,
        } = &request.target
        else {
            return false;
        };
        // Cluster-scoped requests have the namespace "".
        if !self.namespaces.is_empty() && !self.namespaces.contains(namespace) {
            return false;
        }
        if self.resources.is_empty() {
            return true;
        }
        let combined = if subresource.is_empty() {
            resource.clone()
        } else {
            format!("{resource}/{subresource}")
        };
        for gr in &self.resources {
            if gr.group != *api_group && gr.group != "*" {
                continue;
            }
            if gr.resources.is_empty() {
                return true;
            }
            if !gr.resource_names.is_empty() && !gr.resource_names.contains(name) {
                continue;
            }
            for res in &gr.resources {
                if *res == combined || res == "*" {
                    return true;
                }
                if !subresource.is_empty() && res.strip_prefix("*/") == Some(subresource.as_str()) {
                    return true;
                }
                // checker.go does not require a subresource here: `pods/*` matches `pods` too.
                if res.strip_suffix("/*") == Some(resource.as_str()) {
                    return true;
                }
            }
        }
        false
    }

    /// `ruleMatchesNonResource` in checker.go.
    fn matches_non_resource(&self, request: &Request) -> bool {
        let Target::NonResource { path } = &request.target else {
            return false;
        };
        self.non_resource_urls
            .iter()
            .any(|spec| path_matches(path, spec))
    }
}

/// `pathMatches` in checker.go: `*`, an exact path, or a prefix when the spec ends in `*`.
fn path_matches(path: &str, spec: &str) -> bool {
    if spec == "*" || spec == path {
        return true;
    }
    spec.ends_with('*') && path.starts_with(spec.trim_end_matches('*'))
}

/// What a request looks like to the audit policy.
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

impl Target {
    pub fn is_resource(&self) -> bool {
        matches!(self, Target::Resource { .. })
    }
}

/// Whether kube-apiserver treats `request` as long-running (and so emits ResponseStarted):
/// the verbs `watch` and `proxy`, the subresources `attach`, `exec`, `proxy`, `log` and
/// `portforward`, and non-resource paths under `/debug/pprof/`
/// (`BasicLongRunningRequestCheck` as configured in kube-apiserver; aggregated API
/// servers built on the generic server default to `watch` only).
pub fn is_long_running(request: &Request) -> bool {
    if request.verb == "watch" || request.verb == "proxy" {
        return true;
    }
    match &request.target {
        Target::Resource { subresource, .. } => {
            matches!(
                subresource.as_str(),
                "attach" | "exec" | "proxy" | "log" | "portforward"
            )
        }
        Target::NonResource { path } => path.starts_with("/debug/pprof/"),
    }
}

/// The outcome of evaluating a policy for one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub level: Level,
    /// Sorted, deduplicated, policy-wide stages included.
    pub omit_stages: Vec<Stage>,
    pub omit_managed_fields: bool,
    /// Index of the matching rule, `None` when no rule matched.
    pub rule: Option<usize>,
}

impl Decision {
    /// Stages that produce an audit event for this request when it completes (empty for
    /// level None): RequestReceived, ResponseStarted for long-running requests, and
    /// ResponseComplete, less the omitted ones. A request whose handler panics gets a
    /// Panic event instead of ResponseComplete; see [`Decision::logs_stage`].
    pub fn logged_stages(&self, long_running: bool) -> Vec<Stage> {
        let mut stages = vec![Stage::RequestReceived];
        if long_running {
            stages.push(Stage::ResponseStarted);
        }
        stages.push(Stage::ResponseComplete);
        stages.retain(|&s| self.logs_stage(s));
        stages
    }

    /// Whether an event is written when the request reaches `stage`.
    pub fn logs_stage(&self, stage: Stage) -> bool {
        self.level != Level::None && !self.omit_stages.contains(&stage)
    }
}

/// A parsed audit policy.
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
            omit_stages: sorted(omit_stages),
            omit_managed_fields,
            warnings: Vec::new(),
        }
    }

    /// The audit configuration for `request` (`EvaluatePolicyRule` in checker.go): the
    /// first matching rule decides; without one the level is None and the policy-wide
    /// settings apply.
    pub fn evaluate(&self, request: &Request) -> Decision {
        for (index, rule) in self.rules.iter().enumerate() {
            if rule.matches(request) {
                let mut omit = self.omit_stages.clone();
                omit.extend(rule.omit_stages.iter().copied());
                return Decision {
                    level: rule.level,
                    omit_stages: sorted(omit),
                    omit_managed_fields: rule
                        .omit_managed_fields
                        .unwrap_or(self.omit_managed_fields),
                    rule: Some(index),
                };
            }
        }
        Decision {
            level: Level::None,
            omit_stages: self.omit_stages.clone(),
            omit_managed_fields: self.omit_managed_fields,
            rule: None,
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

fn sorted(mut stages: Vec<Stage>) -> Vec<Stage> {
    stages.sort();
    stages.dedup();
    stages
}

/// A one-line description of rule `index` (0-based, as in `rules[index]`) for messages,
/// e.g. `rule 3 at line 12 (level None, users [system:serviceaccount:kube-system:tiller])`.
pub fn describe_rule(policy: &Policy, index: usize) -> String {
    let Some(rule) = policy.rules.get(index) else {
        return format!(
            "rule {index} (no such rule: the policy has {} rules)",
            policy.rules.len()
        );
    };
    let mut parts = vec![format!("level {}", rule.level)];
    let list = |parts: &mut Vec<String>, name: &str, items: &[String]| {
        if !items.is_empty() {
            parts.push(format!(
                "{name} {}",
                bracket(items.iter().map(|s| quote_empty(s)))
            ));
        }
    };
    list(&mut parts, "users", &rule.users);
    list(&mut parts, "userGroups", &rule.user_groups);
    list(&mut parts, "verbs", &rule.verbs);
    if !rule.resources.is_empty() {
        let groups = rule.resources.iter().map(|gr| {
            let mut text = format!("{{group: {}", quote_empty(&gr.group));
            if !gr.resources.is_empty() {
                let _ = write!(
                    text,
                    ", resources: {}",
                    bracket(gr.resources.iter().map(|s| quote_empty(s)))
                );
            }
            if !gr.resource_names.is_empty() {
                let _ = write!(
                    text,
                    ", resourceNames: {}",
                    bracket(gr.resource_names.iter().map(|s| quote_empty(s)))
                );
            }
            text.push('}');
            text
        });
        parts.push(format!("resources {}", bracket(groups)));
    }
    list(&mut parts, "namespaces", &rule.namespaces);
    list(&mut parts, "nonResourceURLs", &rule.non_resource_urls);
    if !rule.omit_stages.is_empty() {
        parts.push(format!(
            "omitStages {}",
            bracket(rule.omit_stages.iter().map(|s| s.to_string()))
        ));
    }
    if let Some(omit) = rule.omit_managed_fields {
        parts.push(format!("omitManagedFields {omit}"));
    }
    if parts.len() == 1 {
        parts.push("every request".to_string());
    }
    let at = rule
        .line
        .map(|l| format!(" at line {l}"))
        .unwrap_or_default();
    format!("rule {index}{at} ({})", parts.join(", "))
}

fn quote_empty(s: &str) -> String {
    if s.is_empty() {
        "\"\"".to_string()
    } else {
        s.to_string()
    }
}

fn bracket(items: impl Iterator<Item = String>) -> String {
    format!("[{}]", items.collect::<Vec<_>>().join(", "))
}

/// One thing wrong with (or ignored in) a policy text.
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
    fn new(
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
    #[error("{0}")]
    Syntax(Problem),
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
            PolicyError::Syntax(p) | PolicyError::NotAPolicy(p) => std::slice::from_ref(p),
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

/// Parses a policy (YAML, or JSON which is YAML) the way the API server loads
/// `--audit-policy-file`: unknown fields are ignored and repeated fields take the last
/// value (both recorded in [`Policy::warnings`]); then `apiVersion`/`kind` are checked,
/// the API server's validation is applied and a policy without rules is refused.
pub fn parse(text: &str) -> Result<Policy, PolicyError> {
    let decoded = decode(text)?;
    let mut warnings = decoded.field_warnings;
    warnings.extend(decoded.later_documents);
    build(decoded.raw, warnings)
}

/// Like [`parse`], but unknown and repeated fields are errors (as the API server's
/// strict decoding reports them before it falls back to lenient decoding).
pub fn parse_strict(text: &str) -> Result<Policy, PolicyError> {
    let decoded = decode(text)?;
    if !decoded.field_warnings.is_empty() {
        return Err(PolicyError::Strict(decoded.field_warnings));
    }
    build(decoded.raw, decoded.later_documents.into_iter().collect())
}

struct Decoded {
    raw: RawPolicy,
    /// Unknown and repeated fields, skipped the way lenient decoding does.
    field_warnings: Vec<Problem>,
    /// Set when documents after the first were ignored.
    later_documents: Option<Problem>,
}

fn decode(text: &str) -> Result<Decoded, PolicyError> {
    let DecodeFailure { error: err, path } = match decode_document(text) {
        Ok((raw, field_warnings)) => {
            return Ok(Decoded {
                raw,
                field_warnings,
                later_documents: None,
            });
        }
        Err(failure) => *failure,
    };
    if is_blank(text) {
        return Err(PolicyError::NotAPolicy(Problem::new(
            None,
            "",
            empty_document_message(),
        )));
    }
    let err = err.without_snippet();
    if let serde_saphyr::Error::MultipleDocuments { location, .. } = err {
        // sigs.k8s.io/yaml reads only the first document and never looks further.
        let cut = first_document_end(text, location.line());
        let first: String = text
            .split_inclusive('\n')
            .take(cut.saturating_sub(1) as usize)
            .collect();
        // Shorter each time, so this ends.
        if first.len() < text.len() {
            let mut decoded = decode(&first)?;
            decoded.later_documents = Some(Problem {
                line: Some(cut),
                column: None,
                path: String::new(),
                message: "another YAML document starts here; the API server reads only the first and ignores the rest"
                    .to_string(),
            });
            return Ok(decoded);
        }
    }
    let message = serde_saphyr::UserMessageFormatter.format_message(err);
    let message: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    // A field path helps with a value of the wrong type; for a YAML syntax error it would
    // only say where the parser was looking.
    let typed = matches!(
        err,
        serde_saphyr::Error::SerdeInvalidType { .. }
            | serde_saphyr::Error::SerdeInvalidValue { .. }
            | serde_saphyr::Error::SerdeInvalidLength { .. }
            | serde_saphyr::Error::InvalidScalar { .. }
            | serde_saphyr::Error::Message { .. }
    );
    Err(PolicyError::Syntax(Problem::new(
        err.location(),
        if typed { path } else { String::new() },
        message,
    )))
}

/// Why a document could not be decoded, and the field path the decoder was at.
struct DecodeFailure {
    error: serde_saphyr::Error,
    path: String,
}

/// Decodes one YAML document; on failure, the error and the field path it happened at.
fn decode_document(text: &str) -> Result<(RawPolicy, Vec<Problem>), Box<DecodeFailure>> {
    let ctx = Ctx::default();
    let mut options = serde_saphyr::Options::default();
    // Repeated keys reach the visitors, which keep the last value (as encoding/json does)
    // and record a warning.
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    options.with_snippet = false;
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        PolicySeed(&ctx).deserialize(de)
    });
    match result {
        Ok(raw) => Ok((raw, ctx.warnings.into_inner())),
        Err(err) => {
            let path = ctx.path_string();
            Err(Box::new(DecodeFailure { error: err, path }))
        }
    }
}

/// The 1-based line where the second document starts, given the line at which the YAML
/// parser noticed it: the earliest `---`/`...` marker line just before it (only blank
/// and comment lines in between), or that line itself.
fn first_document_end(text: &str, noticed: u64) -> u64 {
    let lines: Vec<&str> = text.lines().collect();
    let is_marker = |l: &str| {
        (l.starts_with("---") || l.starts_with("..."))
            && l[3..].chars().next().is_none_or(char::is_whitespace)
    };
    let mut cut = noticed.max(1);
    let mut k = noticed as usize;
    while k >= 1 && k <= lines.len() {
        let line = lines[k - 1];
        let trimmed = line.trim();
        if is_marker(line) {
            cut = k as u64;
        } else if k as u64 != noticed && !(trimmed.is_empty() || trimmed.starts_with('#')) {
            break;
        }
        k -= 1;
    }
    cut
}

/// Only whitespace and comments.
fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    })
}

fn empty_document_message() -> String {
    format!(
        "the document is empty; an audit policy starts with apiVersion: {API_VERSION} and kind: {KIND}"
    )
}

fn build(raw: RawPolicy, warnings: Vec<Problem>) -> Result<Policy, PolicyError> {
    if raw.empty {
        return Err(PolicyError::NotAPolicy(Problem::new(
            None,
            "",
            empty_document_message(),
        )));
    }
    match &raw.api_version {
        None => {
            return Err(PolicyError::NotAPolicy(Problem::new(
                None,
                "apiVersion",
                format!("missing; an audit policy needs apiVersion: {API_VERSION}"),
            )));
        }
        Some(v) if v.value.0 != API_VERSION => {
            return Err(PolicyError::NotAPolicy(Problem::new(
                Some(v.referenced),
                "apiVersion",
                format!(
                    "\"{}\" is not supported; the API server reads audit policies only as {API_VERSION}",
                    v.value.0
                ),
            )));
        }
        Some(_) => {}
    }
    match &raw.kind {
        None => {
            return Err(PolicyError::NotAPolicy(Problem::new(
                None,
                "kind",
                format!("missing; an audit policy needs kind: {KIND}"),
            )));
        }
        Some(k) if k.value.0 != KIND => {
            return Err(PolicyError::NotAPolicy(Problem::new(
                Some(k.referenced),
                "kind",
                format!(
                    "\"{}\" is not an audit policy; expected kind: {KIND}",
                    k.value.0
                ),
            )));
        }
        Some(_) => {}
    }

    // ValidatePolicy: policy-wide omitStages, then each rule.
    let mut problems = Vec::new();
    let omit_stages = stages(&raw.omit_stages, "omitStages", &mut problems);
    let raw_rules = raw.rules.unwrap_or_default();
    let mut rules = Vec::with_capacity(raw_rules.len());
    for (i, raw_rule) in raw_rules.into_iter().enumerate() {
        rules.push(rule(raw_rule, &format!("rules[{i}]"), &mut problems));
    }
    if !problems.is_empty() {
        return Err(PolicyError::Invalid(problems));
    }
    if rules.is_empty() {
        return Err(PolicyError::Invalid(vec![Problem::new(
            raw.fields.key("rules"),
            "rules",
            "the policy has no rules; the API server refuses to load it",
        )]));
    }
    Ok(Policy {
        rules,
        omit_stages: sorted(omit_stages),
        omit_managed_fields: raw.omit_managed_fields.unwrap_or(false),
        warnings,
    })
}

fn stages(raw: &[Spanned<Text>], path: &str, problems: &mut Vec<Problem>) -> Vec<Stage> {
    let mut out = Vec::new();
    for (j, s) in raw.iter().enumerate() {
        match Stage::from_api(&s.value.0) {
            Some(stage) => out.push(stage),
            None => problems.push(Problem::new(
                Some(s.referenced),
                format!("{path}[{j}]"),
                format!(
                    "unknown stage \"{}\" (expected RequestReceived, ResponseStarted, ResponseComplete or Panic)",
                    s.value.0
                ),
            )),
        }
    }
    out
}

/// `validatePolicyRule`, in the same order, turning the raw rule into a [`Rule`].
fn rule(raw: RawRule, path: &str, problems: &mut Vec<Problem>) -> Rule {
    let level = match &raw.level {
        Some(l) if !l.value.0.is_empty() => Level::from_api(&l.value.0).unwrap_or_else(|| {
            problems.push(Problem::new(
                Some(l.referenced),
                format!("{path}.level"),
                format!(
                    "unknown level \"{}\" (expected None, Metadata, Request or RequestResponse)",
                    l.value.0
                ),
            ));
            Level::None
        }),
        empty => {
            problems.push(Problem::new(
                empty.as_ref().map(|l| l.referenced).or(raw.fields.first),
                format!("{path}.level"),
                "required (None, Metadata, Request or RequestResponse)",
            ));
            Level::None
        }
    };

    for (j, url) in raw.non_resource_urls.iter().enumerate() {
        let text = &url.value.0;
        if text == "*" {
            continue;
        }
        let url_path = format!("{path}.nonResourceURLs[{j}]");
        if !text.starts_with('/') {
            problems.push(Problem::new(
                Some(url.referenced),
                url_path.clone(),
                format!("\"{text}\" must begin with '/' (or be \"*\" alone)"),
            ));
        }
        // '*' is ASCII, so looking at bytes is exact.
        if !text.is_empty() && text.as_bytes()[..text.len() - 1].contains(&b'*') {
            problems.push(Problem::new(
                Some(url.referenced),
                url_path,
                format!("\"{text}\": a '*' wildcard must be the final character"),
            ));
        }
    }

    for (j, gr) in raw.resources.iter().enumerate() {
        let gr_path = format!("{path}.resources[{j}]");
        let group = &gr.group.value.0;
        if !group.is_empty() && group != "*" {
            let mut msgs = dns1123_subdomain(group);
            if !msgs.is_empty() {
                if group.contains('/') {
                    msgs.push("name the group without its version".to_string());
                }
                problems.push(Problem::new(
                    Some(gr.group.referenced),
                    format!("{gr_path}.group"),
                    format!("invalid API group \"{group}\": {}", msgs.join("; ")),
                ));
            }
        }
        if !gr.resource_names.is_empty() && gr.resources.is_empty() {
            problems.push(Problem::new(
                gr.fields.key("resourceNames"),
                format!("{gr_path}.resourceNames"),
                "using resourceNames requires at least one resource in resources",
            ));
        }
    }

    let omit_stages = stages(&raw.omit_stages, &format!("{path}.omitStages"), problems);

    if !raw.non_resource_urls.is_empty()
        && (!raw.resources.is_empty() || !raw.namespaces.is_empty())
    {
        problems.push(Problem::new(
            raw.fields.key("nonResourceURLs"),
            format!("{path}.nonResourceURLs"),
            "a rule cannot apply to both regular resources (resources, namespaces) and non-resource URLs",
        ));
    }

    let texts = |v: Vec<Spanned<Text>>| v.into_iter().map(|s| s.value.0).collect::<Vec<_>>();
    Rule {
        level,
        users: texts(raw.users),
        user_groups: texts(raw.user_groups),
        verbs: texts(raw.verbs),
        resources: raw
            .resources
            .into_iter()
            .map(|gr| GroupResources {
                group: gr.group.value.0,
                resources: texts(gr.resources),
                resource_names: texts(gr.resource_names),
            })
            .collect(),
        namespaces: texts(raw.namespaces),
        non_resource_urls: texts(raw.non_resource_urls),
        omit_stages,
        omit_managed_fields: raw.omit_managed_fields,
        line: raw.fields.first.map(|l| l.line()).filter(|&l| l > 0),
    }
}

/// `IsDNS1123Subdomain` from apimachinery: the messages it would give, none when valid.
fn dns1123_subdomain(value: &str) -> Vec<String> {
    let mut msgs = Vec::new();
    if value.len() > 253 {
        msgs.push("must be no more than 253 characters".to_string());
    }
    let label_ok = |label: &str| {
        let b = label.as_bytes();
        let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        !b.is_empty()
            && alnum(&b[0])
            && alnum(&b[b.len() - 1])
            && b.iter().all(|c| alnum(c) || *c == b'-')
    };
    if !value.split('.').all(label_ok) {
        msgs.push(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', \
             and must start and end with an alphanumeric character (e.g. 'example.com')"
                .to_string(),
        );
    }
    msgs
}

// ---------------------------------------------------------------------------------------
// Decoding. Hand-written visitors (rather than derive) so that unknown and repeated fields
// can be recorded with their location instead of rejected, scalars are read as the API
// server reads them (null is "", numbers and booleans are not strings), and a failure
// can name the field path it happened at.

/// A field path segment.
enum Seg {
    Field(String),
    Index(usize),
}

#[derive(Default)]
struct Ctx {
    /// Where the decoder is; left in place when decoding fails, so it names the culprit.
    path: RefCell<Vec<Seg>>,
    warnings: RefCell<Vec<Problem>>,
}

impl Ctx {
    fn push(&self, seg: Seg) {
        self.path.borrow_mut().push(seg);
    }

    fn pop(&self) {
        self.path.borrow_mut().pop();
    }

    fn path_string(&self) -> String {
        let mut out = String::new();
        for seg in self.path.borrow().iter() {
            match seg {
                Seg::Field(name) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(name);
                }
                Seg::Index(i) => {
                    let _ = write!(out, "[{i}]");
                }
            }
        }
        out
    }

    fn path_with(&self, field: &str) -> String {
        let base = self.path_string();
        if base.is_empty() {
            field.to_string()
        } else {
            format!("{base}.{field}")
        }
    }

    fn warn(&self, location: Location, path: String, message: String) {
        self.warnings
            .borrow_mut()
            .push(Problem::new(Some(location), path, message));
    }
}

/// A string field as encoding/json fills it from YAML converted to JSON: null leaves it
/// empty; numbers and booleans are type errors.
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string (quote values such as 123 or true)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
                Ok(Text(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text(String::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text(String::new()))
            }
        }
        d.deserialize_any(V)
    }
}

/// An optional boolean: null leaves it unset.
struct Flag(Option<bool>);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Flag, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(Some(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Flag, E> {
                Ok(Flag(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Flag, E> {
                Ok(Flag(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// A mapping key; non-string keys are spelled as text (they can only be unknown fields).
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
                Ok(Key("null".to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Where each field's key was, and where the mapping's first key was.
#[derive(Default)]
struct Fields {
    first: Option<Location>,
    keys: Vec<(String, Location)>,
}

impl Fields {
    fn key(&self, name: &str) -> Option<Location> {
        self.keys.iter().find(|(k, _)| k == name).map(|(_, l)| *l)
    }
}

/// Reads a mapping: `field` consumes the value of a known field and returns `true`, or
/// returns `false` (consuming nothing) for an unknown one, which is skipped with a
/// warning like the API server's lenient decoding does.
fn visit_fields<'de, A: MapAccess<'de>>(
    ctx: &Ctx,
    map: &mut A,
    object: &str,
    known: &[&str],
    mut field: impl FnMut(&str, &mut A) -> Result<bool, A::Error>,
) -> Result<Fields, A::Error> {
    let mut fields = Fields::default();
    while let Some(key) = map.next_key::<Spanned<Key>>()? {
        let name = key.value.0;
        let location = key.referenced;
        fields.first.get_or_insert(location);
        ctx.push(Seg::Field(name.clone()));
        let is_known = field(&name, map)?;
        ctx.pop();
        if !is_known {
            map.next_value::<IgnoredAny>()?;
            ctx.warn(
                location,
                ctx.path_with(&name),
                format!(
                    "unknown field \"{name}\" is ignored (the API server drops it with a warning); {object} has {}",
                    known.join(", ")
                ),
            );
            continue;
        }
        if fields.key(&name).is_some() {
            ctx.warn(
                location,
                ctx.path_with(&name),
                format!("\"{name}\" appears more than once; the API server uses this last value"),
            );
            fields.keys.retain(|(k, _)| *k != name);
        }
        fields.keys.push((name, location));
    }
    Ok(fields)
}

#[derive(Default)]
struct RawPolicy {
    /// The document was null/empty.
    empty: bool,
    api_version: Option<Spanned<Text>>,
    kind: Option<Spanned<Text>>,
    rules: Option<Vec<RawRule>>,
    omit_stages: Vec<Spanned<Text>>,
    omit_managed_fields: Option<bool>,
    fields: Fields,
}

#[derive(Default)]
struct RawRule {
    level: Option<Spanned<Text>>,
    users: Vec<Spanned<Text>>,
    user_groups: Vec<Spanned<Text>>,
    verbs: Vec<Spanned<Text>>,
    resources: Vec<RawGroupResources>,
    namespaces: Vec<Spanned<Text>>,
    non_resource_urls: Vec<Spanned<Text>>,
    omit_stages: Vec<Spanned<Text>>,
    omit_managed_fields: Option<bool>,
    fields: Fields,
}

struct RawGroupResources {
    group: Spanned<Text>,
    resources: Vec<Spanned<Text>>,
    resource_names: Vec<Spanned<Text>>,
    fields: Fields,
}

const POLICY_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "rules",
    "omitStages",
    "omitManagedFields",
];
const RULE_FIELDS: &[&str] = &[
    "level",
    "users",
    "userGroups",
    "verbs",
    "resources",
    "namespaces",
    "nonResourceURLs",
    "omitStages",
    "omitManagedFields",
];
const GROUP_RESOURCES_FIELDS: &[&str] = &["group", "resources", "resourceNames"];

/// Decodes a plain `Deserialize` type through a seed.
struct Plain<T>(PhantomData<T>);

impl<T> Clone for Plain<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Plain<T> {}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for Plain<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        T::deserialize(d)
    }
}

/// A list (null reads as empty) whose elements are decoded with `element`, keeping the
/// index in the path.
#[derive(Clone, Copy)]
struct ListSeed<'a, S> {
    ctx: &'a Ctx,
    element: S,
}

fn texts(ctx: &Ctx) -> ListSeed<'_, Plain<Spanned<Text>>> {
    ListSeed {
        ctx,
        element: Plain(PhantomData),
    }
}

impl<'de, S: DeserializeSeed<'de> + Copy> DeserializeSeed<'de> for ListSeed<'_, S> {
    type Value = Vec<S::Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, S: DeserializeSeed<'de> + Copy> Visitor<'de> for ListSeed<'_, S> {
    type Value = Vec<S::Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        loop {
            self.ctx.push(Seg::Index(out.len()));
            let next = seq.next_element_seed(self.element)?;
            self.ctx.pop();
            match next {
                Some(v) => out.push(v),
                None => return Ok(out),
            }
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
}

#[derive(Clone, Copy)]
struct PolicySeed<'a>(&'a Ctx);

impl<'de> DeserializeSeed<'de> for PolicySeed<'_> {
    type Value = RawPolicy;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RawPolicy, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PolicySeed<'_> {
    type Value = RawPolicy;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an audit Policy (a mapping with apiVersion, kind and rules)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawPolicy, A::Error> {
        let ctx = self.0;
        let mut raw = RawPolicy::default();
        let fields = visit_fields(ctx, &mut map, "Policy", POLICY_FIELDS, |name, map| {
            match name {
                "apiVersion" => raw.api_version = Some(map.next_value()?),
                "kind" => raw.kind = Some(map.next_value()?),
                // ObjectMeta: read and not used, as by the API server.
                "metadata" => {
                    map.next_value::<IgnoredAny>()?;
                }
                "rules" => {
                    raw.rules = Some(map.next_value_seed(ListSeed {
                        ctx,
                        element: RuleSeed(ctx),
                    })?)
                }
                "omitStages" => raw.omit_stages = map.next_value_seed(texts(ctx))?,
                "omitManagedFields" => raw.omit_managed_fields = map.next_value::<Flag>()?.0,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        raw.fields = fields;
        Ok(raw)
    }
    fn visit_unit<E: de::Error>(self) -> Result<RawPolicy, E> {
        Ok(RawPolicy {
            empty: true,
            ..RawPolicy::default()
        })
    }
    fn visit_none<E: de::Error>(self) -> Result<RawPolicy, E> {
        self.visit_unit()
    }
}

#[derive(Clone, Copy)]
struct RuleSeed<'a>(&'a Ctx);

impl<'de> DeserializeSeed<'de> for RuleSeed<'_> {
    type Value = RawRule;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RawRule, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RuleSeed<'_> {
    type Value = RawRule;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a rule (a mapping with level and selectors)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawRule, A::Error> {
        let ctx = self.0;
        let mut raw = RawRule::default();
        let fields = visit_fields(ctx, &mut map, "a rule", RULE_FIELDS, |name, map| {
            match name {
                "level" => raw.level = Some(map.next_value()?),
                "users" => raw.users = map.next_value_seed(texts(ctx))?,
                "userGroups" => raw.user_groups = map.next_value_seed(texts(ctx))?,
                "verbs" => raw.verbs = map.next_value_seed(texts(ctx))?,
                "resources" => {
                    raw.resources = map.next_value_seed(ListSeed {
                        ctx,
                        element: GroupResourcesSeed(ctx),
                    })?
                }
                "namespaces" => raw.namespaces = map.next_value_seed(texts(ctx))?,
                "nonResourceURLs" => raw.non_resource_urls = map.next_value_seed(texts(ctx))?,
                "omitStages" => raw.omit_stages = map.next_value_seed(texts(ctx))?,
                "omitManagedFields" => raw.omit_managed_fields = map.next_value::<Flag>()?.0,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        raw.fields = fields;
        Ok(raw)
    }
    /// A null list element is a rule with no fields (encoding/json leaves it zero).
    fn visit_unit<E: de::Error>(self) -> Result<RawRule, E> {
        Ok(RawRule::default())
    }
    fn visit_none<E: de::Error>(self) -> Result<RawRule, E> {
        self.visit_unit()
    }
}

#[derive(Clone, Copy)]
struct GroupResourcesSeed<'a>(&'a Ctx);

impl<'de> DeserializeSeed<'de> for GroupResourcesSeed<'_> {
    type Value = RawGroupResources;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RawGroupResources, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for GroupResourcesSeed<'_> {
    type Value = RawGroupResources;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping with group, resources and resourceNames")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawGroupResources, A::Error> {
        let ctx = self.0;
        let mut group = None;
        let mut resources = Vec::new();
        let mut resource_names = Vec::new();
        let fields = visit_fields(
            ctx,
            &mut map,
            "a resources entry",
            GROUP_RESOURCES_FIELDS,
            |name, map| {
                match name {
                    "group" => group = Some(map.next_value()?),
                    "resources" => resources = map.next_value_seed(texts(ctx))?,
                    "resourceNames" => resource_names = map.next_value_seed(texts(ctx))?,
                    _ => return Ok(false),
                }
                Ok(true)
            },
        )?;
        let group = group.unwrap_or_else(|| {
            Spanned::new(Text(String::new()), Location::UNKNOWN, Location::UNKNOWN)
        });
        Ok(RawGroupResources {
            group,
            resources,
            resource_names,
            fields,
        })
    }
    fn visit_unit<E: de::Error>(self) -> Result<RawGroupResources, E> {
        let group = Spanned::new(Text(String::new()), Location::UNKNOWN, Location::UNKNOWN);
        Ok(RawGroupResources {
            group,
            resources: Vec::new(),
            resource_names: Vec::new(),
            fields: Fields::default(),
        })
    }
    fn visit_none<E: de::Error>(self) -> Result<RawGroupResources, E> {
        self.visit_unit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "apiVersion: audit.k8s.io/v1\nkind: Policy\n";

    /// A policy from the YAML of its rules list (which starts on line 4).
    fn policy(rules: &str) -> Policy {
        let text = format!("{HEADER}rules:\n{rules}");
        parse(&text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
    }

    fn error(text: &str) -> String {
        match parse(text) {
            Ok(p) => panic!("parsed: {p:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn request(user: &str, groups: &[&str], verb: &str, target: Target) -> Request {
        Request {
            user: user.to_string(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            verb: verb.to_string(),
            target,
        }
    }

    fn resource(
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

    fn non_resource(path: &str) -> Target {
        Target::NonResource {
            path: path.to_string(),
        }
    }

    /// `verb` by alice on a core resource in namespace default.
    fn core(verb: &str, resource_and_sub: &str) -> Request {
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

    fn get_path(path: &str) -> Request {
        request(
            "alice",
            &["system:authenticated"],
            "get",
            non_resource(path),
        )
    }

    fn level(policy: &Policy, request: &Request) -> Level {
        policy.evaluate(request).level
    }

    // ----- rule order and the default -----

    #[test]
    fn no_matching_rule_means_level_none_and_no_rule_index() {
        let p = policy("- level: Metadata\n  users: [bob]\n");
        let d = p.evaluate(&core("get", "pods"));
        assert_eq!(d.level, Level::None);
        assert_eq!(d.rule, None);
    }

    #[test]
    fn the_first_matching_rule_wins_over_later_more_specific_ones() {
        let p = policy(
            "- level: None\n  verbs: [get]\n\
             - level: RequestResponse\n  verbs: [get]\n  resources: [{resources: [pods]}]\n\
             - level: Metadata\n",
        );
        let get = p.evaluate(&core("get", "pods"));
        assert_eq!((get.level, get.rule), (Level::None, Some(0)));
        let list = p.evaluate(&core("list", "pods"));
        assert_eq!((list.level, list.rule), (Level::Metadata, Some(2)));
    }

    #[test]
    fn a_rule_without_selectors_matches_resource_and_non_resource_requests() {
        // checker.go: with neither resources/namespaces nor nonResourceURLs, ruleMatches is true.
        let p = policy("- level: Request\n");
        assert_eq!(level(&p, &core("delete", "secrets")), Level::Request);
        assert_eq!(level(&p, &get_path("/healthz")), Level::Request);
    }

    // ----- users, groups, verbs -----

    #[test]
    fn users_match_exact_names_only() {
        let p = policy("- level: Metadata\n  users: [\"system:serviceaccount:ns:sa\"]\n");
        let as_user = |u: &str| request(u, &[], "get", resource("", "pods", "", "ns", ""));
        assert_eq!(
            level(&p, &as_user("system:serviceaccount:ns:sa")),
            Level::Metadata
        );
        assert_eq!(
            level(&p, &as_user("system:serviceaccount:ns:sa2")),
            Level::None
        );
        assert_eq!(level(&p, &as_user("system:serviceaccount:ns")), Level::None);
        assert_eq!(
            level(&p, &as_user("System:ServiceAccount:ns:sa")),
            Level::None
        );
    }

    #[test]
    fn user_groups_match_when_any_request_group_is_listed() {
        let p = policy("- level: Metadata\n  userGroups: [\"system:masters\", admins]\n");
        let with =
            |groups: &[&str]| request("bob", groups, "get", resource("", "pods", "", "ns", ""));
        assert_eq!(
            level(&p, &with(&["system:authenticated", "admins"])),
            Level::Metadata
        );
        assert_eq!(level(&p, &with(&["system:authenticated"])), Level::None);
        assert_eq!(level(&p, &with(&[])), Level::None);
    }

    #[test]
    fn verbs_match_exact_verbs() {
        let p = policy("- level: Metadata\n  verbs: [get, list]\n");
        assert_eq!(level(&p, &core("list", "pods")), Level::Metadata);
        assert_eq!(level(&p, &core("watch", "pods")), Level::None);
        assert_eq!(level(&p, &core("deletecollection", "pods")), Level::None);
    }

    #[test]
    fn every_non_empty_selector_must_match() {
        let p = policy("- level: Request\n  users: [alice]\n  verbs: [delete]\n");
        assert_eq!(level(&p, &core("delete", "pods")), Level::Request);
        assert_eq!(level(&p, &core("get", "pods")), Level::None);
        let bob = request(
            "bob",
            &[],
            "delete",
            resource("", "pods", "", "default", ""),
        );
        assert_eq!(level(&p, &bob), Level::None);
    }

    // ----- resources -----

    #[test]
    fn a_plain_resource_does_not_match_its_subresources() {
        let p = policy("- level: Metadata\n  resources: [{resources: [pods]}]\n");
        assert_eq!(level(&p, &core("get", "pods")), Level::Metadata);
        assert_eq!(level(&p, &core("get", "pods/log")), Level::None);
        assert_eq!(level(&p, &core("create", "pods/exec")), Level::None);
    }

    #[test]
    fn a_subresource_form_matches_only_that_subresource() {
        let p = policy("- level: Metadata\n  resources: [{resources: [pods/log]}]\n");
        assert_eq!(level(&p, &core("get", "pods/log")), Level::Metadata);
        assert_eq!(level(&p, &core("get", "pods")), Level::None);
        assert_eq!(level(&p, &core("get", "pods/exec")), Level::None);
        assert_eq!(level(&p, &core("get", "nodes/log")), Level::None);
    }

    #[test]
    fn star_matches_every_resource_and_subresource_of_the_group() {
        let p = policy("- level: Metadata\n  resources: [{resources: [\"*\"]}]\n");
        assert_eq!(level(&p, &core("get", "secrets")), Level::Metadata);
        assert_eq!(level(&p, &core("create", "pods/exec")), Level::Metadata);
        // The group is still "" (core): apps is not matched.
        let deploy = request(
            "alice",
            &[],
            "get",
            resource("apps", "deployments", "", "default", ""),
        );
        assert_eq!(level(&p, &deploy), Level::None);
    }

    #[test]
    fn resource_slash_star_matches_the_resource_and_all_its_subresources() {
        let p = policy("- level: Metadata\n  resources: [{resources: [\"pods/*\"]}]\n");
        assert_eq!(level(&p, &core("create", "pods/exec")), Level::Metadata);
        assert_eq!(level(&p, &core("get", "pods/log")), Level::Metadata);
        // checker.go compares the resource with "pods" without requiring a subresource.
        assert_eq!(level(&p, &core("get", "pods")), Level::Metadata);
        assert_eq!(level(&p, &core("get", "secrets")), Level::None);
    }

    #[test]
    fn star_slash_subresource_matches_that_subresource_of_any_resource() {
        let p =
            policy("- level: Metadata\n  resources: [{group: \"*\", resources: [\"*/status\"]}]\n");
        assert_eq!(level(&p, &core("update", "pods/status")), Level::Metadata);
        let deploy_status = request(
            "alice",
            &[],
            "patch",
            resource("apps", "deployments", "status", "default", "web"),
        );
        assert_eq!(level(&p, &deploy_status), Level::Metadata);
        assert_eq!(level(&p, &core("get", "pods")), Level::None);
        assert_eq!(level(&p, &core("get", "pods/log")), Level::None);
    }

    #[test]
    fn star_slash_star_matches_nothing() {
        // None of checker.go's forms covers "*/*": it is neither "*", "*/<sub>" with sub "*",
        // nor "<res>/*" with res "*".
        let p = policy("- level: Metadata\n  resources: [{resources: [\"*/*\"]}]\n");
        assert_eq!(level(&p, &core("get", "pods")), Level::None);
        assert_eq!(level(&p, &core("get", "pods/log")), Level::None);
        // "*/" names an empty subresource, and checker.go only tries "*/<sub>" when the
        // request has a subresource.
        let empty_sub = policy("- level: Metadata\n  resources: [{resources: [\"*/\"]}]\n");
        assert_eq!(level(&empty_sub, &core("get", "pods")), Level::None);
    }

    #[test]
    fn group_selects_the_api_group_and_empty_means_core() {
        let p = policy(
            "- level: Request\n  resources: [{group: apps, resources: [deployments]}]\n\
             - level: Metadata\n  resources: [{resources: [deployments]}]\n",
        );
        let apps = request(
            "alice",
            &[],
            "get",
            resource("apps", "deployments", "", "default", ""),
        );
        let extensions = request(
            "alice",
            &[],
            "get",
            resource("extensions", "deployments", "", "default", ""),
        );
        assert_eq!(level(&p, &apps), Level::Request);
        // A missing group is "", the core group, which has no deployments.
        assert_eq!(level(&p, &extensions), Level::None);
        assert_eq!(level(&p, &core("get", "deployments")), Level::Metadata);
    }

    #[test]
    fn star_group_matches_every_group() {
        let p = policy("- level: Metadata\n  resources: [{group: \"*\", resources: [secrets]}]\n");
        assert_eq!(level(&p, &core("get", "secrets")), Level::Metadata);
        let other = request(
            "alice",
            &[],
            "get",
            resource("example.com", "secrets", "", "default", ""),
        );
        assert_eq!(level(&p, &other), Level::Metadata);
    }

    #[test]
    fn a_group_without_resources_matches_everything_in_the_group() {
        let p = policy("- level: Metadata\n  resources: [{group: rbac.authorization.k8s.io}]\n");
        let roles = request(
            "alice",
            &[],
            "create",
            resource("rbac.authorization.k8s.io", "roles", "", "default", ""),
        );
        let cluster_roles = request(
            "alice",
            &[],
            "escalate",
            resource("rbac.authorization.k8s.io", "clusterroles", "", "", "admin"),
        );
        assert_eq!(level(&p, &roles), Level::Metadata);
        assert_eq!(level(&p, &cluster_roles), Level::Metadata);
        assert_eq!(level(&p, &core("get", "pods")), Level::None);
    }

    #[test]
    fn resource_names_restrict_to_the_named_objects() {
        let p = policy(
            "- level: Metadata\n  resources: [{resources: [secrets], resourceNames: [decoy]}]\n",
        );
        let secret = |verb: &str, name: &str| {
            request(
                "alice",
                &[],
                verb,
                resource("", "secrets", "", "default", name),
            )
        };
        assert_eq!(level(&p, &secret("get", "decoy")), Level::Metadata);
        assert_eq!(level(&p, &secret("get", "other")), Level::None);
        // A list has no name, so it does not match a rule with resourceNames.
        assert_eq!(level(&p, &secret("list", "")), Level::None);
    }

    #[test]
    fn any_group_resources_entry_can_match() {
        let p = policy(
            "- level: Metadata\n  resources:\n  - group: apps\n    resources: [deployments]\n  - group: \"\"\n    resources: [configmaps]\n",
        );
        assert_eq!(level(&p, &core("get", "configmaps")), Level::Metadata);
        assert_eq!(level(&p, &core("get", "secrets")), Level::None);
    }

    // ----- namespaces -----

    #[test]
    fn namespaces_match_the_request_namespace() {
        let p = policy("- level: Metadata\n  namespaces: [kube-system]\n");
        let in_ns = |ns: &str| request("alice", &[], "get", resource("", "secrets", "", ns, ""));
        assert_eq!(level(&p, &in_ns("kube-system")), Level::Metadata);
        assert_eq!(level(&p, &in_ns("default")), Level::None);
        assert_eq!(level(&p, &in_ns("")), Level::None);
    }

    #[test]
    fn empty_namespace_matches_cluster_scoped_and_all_namespace_requests() {
        let p = policy("- level: Metadata\n  namespaces: [\"\"]\n");
        let nodes = request("alice", &[], "get", resource("", "nodes", "", "", "n1"));
        // `kubectl get secrets -A` is a request without a namespace.
        let all_secrets = request("alice", &[], "list", resource("", "secrets", "", "", ""));
        assert_eq!(level(&p, &nodes), Level::Metadata);
        assert_eq!(level(&p, &all_secrets), Level::Metadata);
        assert_eq!(level(&p, &core("get", "pods")), Level::None);
    }

    #[test]
    fn namespaces_and_resources_must_both_match() {
        let p = policy(
            "- level: Metadata\n  namespaces: [default]\n  resources: [{resources: [secrets]}]\n",
        );
        assert_eq!(level(&p, &core("get", "secrets")), Level::Metadata);
        assert_eq!(level(&p, &core("get", "configmaps")), Level::None);
        let elsewhere = request(
            "alice",
            &[],
            "get",
            resource("", "secrets", "", "kube-system", ""),
        );
        assert_eq!(level(&p, &elsewhere), Level::None);
    }

    #[test]
    fn resource_rules_never_match_non_resource_requests() {
        let p = policy(
            "- level: Metadata\n  namespaces: [\"\"]\n- level: Request\n  resources: [{group: \"*\"}]\n",
        );
        assert_eq!(level(&p, &get_path("/api")), Level::None);
    }

    // ----- nonResourceURLs -----

    #[test]
    fn non_resource_urls_match_exactly_without_a_star() {
        let p = policy("- level: Metadata\n  nonResourceURLs: [/version]\n");
        assert_eq!(level(&p, &get_path("/version")), Level::Metadata);
        assert_eq!(level(&p, &get_path("/version/")), Level::None);
        assert_eq!(level(&p, &get_path("/versions")), Level::None);
    }

    #[test]
    fn a_trailing_star_is_a_prefix_match() {
        let p = policy("- level: Metadata\n  nonResourceURLs: [\"/healthz*\", \"/api/*\"]\n");
        assert_eq!(level(&p, &get_path("/healthz")), Level::Metadata);
        assert_eq!(level(&p, &get_path("/healthz/etcd")), Level::Metadata);
        assert_eq!(level(&p, &get_path("/healthzfoo")), Level::Metadata);
        assert_eq!(level(&p, &get_path("/api/v1")), Level::Metadata);
        // "/api/*" needs the slash: "/api" itself is not under it.
        assert_eq!(level(&p, &get_path("/api")), Level::None);
        assert_eq!(level(&p, &get_path("/livez")), Level::None);
    }

    #[test]
    fn a_lone_star_matches_every_non_resource_url_but_no_resource() {
        let p = policy("- level: Metadata\n  nonResourceURLs: [\"*\"]\n");
        assert_eq!(level(&p, &get_path("/openapi/v3")), Level::Metadata);
        assert_eq!(level(&p, &core("get", "pods")), Level::None);
    }

    #[test]
    fn non_resource_rules_combine_with_verbs() {
        let p = policy("- level: Metadata\n  verbs: [post]\n  nonResourceURLs: [/apis]\n");
        let post = request("alice", &[], "post", non_resource("/apis"));
        assert_eq!(level(&p, &post), Level::Metadata);
        assert_eq!(level(&p, &get_path("/apis")), Level::None);
    }

    // ----- omitStages, omitManagedFields, logged stages -----

    #[test]
    fn policy_wide_omit_stages_are_merged_sorted_and_deduplicated() {
        let text = format!(
            "{HEADER}omitStages: [ResponseStarted, RequestReceived]\nrules:\n- level: Metadata\n  omitStages: [Panic, RequestReceived]\n"
        );
        let d = parse(&text).unwrap().evaluate(&core("get", "pods"));
        assert_eq!(
            d.omit_stages,
            vec![Stage::RequestReceived, Stage::ResponseStarted, Stage::Panic]
        );
    }

    #[test]
    fn without_a_match_the_policy_wide_settings_apply() {
        let text = format!(
            "{HEADER}omitStages: [RequestReceived]\nomitManagedFields: true\nrules:\n- level: Metadata\n  users: [bob]\n  omitStages: [Panic]\n"
        );
        let d = parse(&text).unwrap().evaluate(&core("get", "pods"));
        assert_eq!(
            d,
            Decision {
                level: Level::None,
                omit_stages: vec![Stage::RequestReceived],
                omit_managed_fields: true,
                rule: None
            }
        );
    }

    #[test]
    fn a_rules_omit_managed_fields_overrides_the_policy_value_only_when_set() {
        let text = format!(
            "{HEADER}omitManagedFields: true\nrules:\n\
             - level: Request\n  verbs: [create]\n  omitManagedFields: false\n\
             - level: Request\n  verbs: [update]\n\
             - level: Request\n  verbs: [patch]\n  omitManagedFields: null\n"
        );
        let p = parse(&text).unwrap();
        assert!(!p.evaluate(&core("create", "pods")).omit_managed_fields);
        assert!(p.evaluate(&core("update", "pods")).omit_managed_fields);
        assert!(p.evaluate(&core("patch", "pods")).omit_managed_fields);
        let off = policy("- level: Request\n  omitManagedFields: true\n");
        assert!(!off.omit_managed_fields());
        assert!(off.evaluate(&core("create", "pods")).omit_managed_fields);
    }

    #[test]
    fn a_completed_request_logs_request_received_and_response_complete() {
        let d = policy("- level: Metadata\n").evaluate(&core("get", "secrets"));
        assert_eq!(
            d.logged_stages(false),
            vec![Stage::RequestReceived, Stage::ResponseComplete]
        );
    }

    #[test]
    fn a_long_running_request_also_logs_response_started() {
        let d = policy("- level: Metadata\n").evaluate(&core("watch", "secrets"));
        assert_eq!(
            d.logged_stages(true),
            vec![
                Stage::RequestReceived,
                Stage::ResponseStarted,
                Stage::ResponseComplete
            ]
        );
    }

    #[test]
    fn omitted_stages_are_not_logged() {
        let d = policy("- level: Metadata\n  omitStages: [RequestReceived]\n")
            .evaluate(&core("watch", "secrets"));
        assert_eq!(
            d.logged_stages(true),
            vec![Stage::ResponseStarted, Stage::ResponseComplete]
        );
        assert_eq!(d.logged_stages(false), vec![Stage::ResponseComplete]);
        let all = policy("- level: Metadata\n  omitStages: [RequestReceived, ResponseStarted, ResponseComplete]\n")
            .evaluate(&core("get", "pods"));
        assert_eq!(all.logged_stages(true), Vec::<Stage>::new());
        // Only a panic would still be logged.
        assert!(all.logs_stage(Stage::Panic));
    }

    #[test]
    fn level_none_logs_no_stage() {
        let d = policy("- level: None\n").evaluate(&core("watch", "secrets"));
        assert_eq!(d.logged_stages(true), Vec::<Stage>::new());
        assert_eq!(d.logged_stages(false), Vec::<Stage>::new());
        assert!(!d.logs_stage(Stage::Panic));
    }

    #[test]
    fn long_running_requests_follow_kube_apiserver() {
        assert!(is_long_running(&core("watch", "secrets")));
        assert!(is_long_running(&core("proxy", "services")));
        for sub in ["exec", "attach", "log", "portforward", "proxy"] {
            assert!(
                is_long_running(&core("get", &format!("pods/{sub}"))),
                "{sub}"
            );
        }
        assert!(!is_long_running(&core("get", "pods")));
        assert!(!is_long_running(&core("list", "secrets")));
        assert!(!is_long_running(&core("update", "pods/status")));
        assert!(is_long_running(&get_path("/debug/pprof/profile")));
        assert!(!is_long_running(&get_path("/debug/pprof")));
        assert!(!is_long_running(&get_path("/healthz")));
    }

    // ----- parsing -----

    #[test]
    fn every_rule_field_is_read() {
        let p = policy(
            "- level: RequestResponse\n  users: [alice]\n  userGroups: [devs]\n  verbs: [get]\n  \
             resources:\n  - group: apps\n    resources: [deployments, deployments/scale]\n    resourceNames: [web]\n  \
             namespaces: [default]\n  omitStages: [Panic]\n  omitManagedFields: true\n",
        );
        let expected = Rule {
            level: Level::RequestResponse,
            users: vec!["alice".into()],
            user_groups: vec!["devs".into()],
            verbs: vec!["get".into()],
            resources: vec![GroupResources {
                group: "apps".into(),
                resources: vec!["deployments".into(), "deployments/scale".into()],
                resource_names: vec!["web".into()],
            }],
            namespaces: vec!["default".into()],
            non_resource_urls: vec![],
            omit_stages: vec![Stage::Panic],
            omit_managed_fields: Some(true),
            line: Some(4),
        };
        assert_eq!(p.rules(), &[expected]);
        let nr = policy("- level: None\n  nonResourceURLs: [/healthz, \"/readyz*\"]\n");
        assert_eq!(
            nr.rules()[0].non_resource_urls,
            vec!["/healthz", "/readyz*"]
        );
    }

    #[test]
    fn rules_remember_their_line() {
        let p = policy("- level: None\n  users: [a]\n\n# comment\n- level: Metadata\n");
        let lines: Vec<_> = p.rules().iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![Some(4), Some(8)]);
    }

    #[test]
    fn json_is_accepted() {
        let text = r#"{
  "apiVersion": "audit.k8s.io/v1",
  "kind": "Policy",
  "omitStages": ["RequestReceived"],
  "rules": [
    {"level": "None", "users": ["system:kube-proxy"]},
    {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"]}]}
  ]
}"#;
        let p = parse(text).unwrap();
        assert_eq!(p.rules().len(), 2);
        assert_eq!(p.rules()[1].line, Some(7));
        let d = p.evaluate(&core("get", "secrets"));
        assert_eq!((d.level, d.rule), (Level::Metadata, Some(1)));
        assert_eq!(d.logged_stages(false), vec![Stage::ResponseComplete]);
    }

    #[test]
    fn json_errors_carry_their_line() {
        let text = "{\"apiVersion\": \"audit.k8s.io/v1\", \"kind\": \"Policy\",\n \"rules\": [\n  {\"level\": \"Verbose\"}]}";
        assert_eq!(
            error(text),
            "line 3, column 13: rules[0].level: unknown level \"Verbose\" (expected None, Metadata, Request or RequestResponse)"
        );
    }

    #[test]
    fn an_unknown_level_is_rejected_with_line_and_path() {
        let text = format!("{HEADER}rules:\n- level: Metadata\n- level: Verbose\n");
        assert_eq!(
            error(&text),
            "line 5, column 10: rules[1].level: unknown level \"Verbose\" (expected None, Metadata, Request or RequestResponse)"
        );
    }

    #[test]
    fn levels_are_case_sensitive() {
        let text = format!("{HEADER}rules:\n- level: metadata\n");
        assert!(
            error(&text).contains("rules[0].level: unknown level \"metadata\""),
            "{}",
            error(&text)
        );
    }

    #[test]
    fn a_missing_or_empty_level_is_required() {
        let missing = format!("{HEADER}rules:\n- level: None\n- users: [a]\n");
        assert_eq!(
            error(&missing),
            "line 5, column 3: rules[1].level: required (None, Metadata, Request or RequestResponse)"
        );
        let empty = format!("{HEADER}rules:\n- level: \"\"\n");
        assert_eq!(
            error(&empty),
            "line 4, column 10: rules[0].level: required (None, Metadata, Request or RequestResponse)"
        );
    }

    #[test]
    fn unknown_stages_are_rejected_policy_wide_and_per_rule() {
        let text = format!(
            "{HEADER}omitStages: [RequestReceived, Started]\nrules:\n- level: None\n  omitStages: [Complete]\n"
        );
        let err = parse(&text).unwrap_err();
        let expected = [
            "line 3, column 31: omitStages[1]: unknown stage \"Started\" (expected RequestReceived, ResponseStarted, ResponseComplete or Panic)",
            "line 6, column 16: rules[0].omitStages[0]: unknown stage \"Complete\" (expected RequestReceived, ResponseStarted, ResponseComplete or Panic)",
        ];
        assert_eq!(err.to_string(), expected.join("\n"));
        assert!(matches!(err, PolicyError::Invalid(ref ps) if ps.len() == 2));
    }

    #[test]
    fn non_resource_urls_must_start_with_a_slash() {
        let text = format!("{HEADER}rules:\n- level: None\n  nonResourceURLs: [\"*\", healthz]\n");
        assert_eq!(
            error(&text),
            "line 5, column 26: rules[0].nonResourceURLs[1]: \"healthz\" must begin with '/' (or be \"*\" alone)"
        );
    }

    #[test]
    fn a_non_resource_star_must_be_the_last_character() {
        let text = format!(
            "{HEADER}rules:\n- level: None\n  nonResourceURLs:\n  - /api/*/v1\n  - \"/logs*\"\n"
        );
        assert_eq!(
            error(&text),
            "line 6, column 5: rules[0].nonResourceURLs[0]: \"/api/*/v1\": a '*' wildcard must be the final character"
        );
    }

    #[test]
    fn a_rule_cannot_have_non_resource_urls_and_resources_or_namespaces() {
        let with_resources = format!(
            "{HEADER}rules:\n- level: None\n  resources: [{{resources: [pods]}}]\n  nonResourceURLs: [/api]\n"
        );
        assert_eq!(
            error(&with_resources),
            "line 6, column 3: rules[0].nonResourceURLs: a rule cannot apply to both regular resources (resources, namespaces) and non-resource URLs"
        );
        let with_namespaces = format!(
            "{HEADER}rules:\n- level: None\n  nonResourceURLs: [/api]\n  namespaces: [default]\n"
        );
        assert!(
            error(&with_namespaces)
                .starts_with("line 5, column 3: rules[0].nonResourceURLs: a rule cannot apply")
        );
    }

    #[test]
    fn resource_names_need_resources() {
        let text = format!(
            "{HEADER}rules:\n- level: None\n  resources:\n  - group: \"\"\n    resourceNames: [decoy]\n"
        );
        assert_eq!(
            error(&text),
            "line 7, column 5: rules[0].resources[0].resourceNames: using resourceNames requires at least one resource in resources"
        );
    }

    #[test]
    fn groups_must_be_dns_subdomains_without_a_version() {
        let versioned = format!(
            "{HEADER}rules:\n- level: None\n  resources: [{{group: rbac.authorization.k8s.io/v1}}]\n"
        );
        let message = error(&versioned);
        assert!(message.starts_with("line 5, column 23: rules[0].resources[0].group: invalid API group \"rbac.authorization.k8s.io/v1\": a lowercase RFC 1123 subdomain"), "{message}");
        assert!(
            message.ends_with("name the group without its version"),
            "{message}"
        );
        let upper = format!("{HEADER}rules:\n- level: None\n  resources: [{{group: Apps}}]\n");
        assert!(error(&upper).contains("invalid API group \"Apps\""));
        let long = format!(
            "{HEADER}rules:\n- level: None\n  resources: [{{group: {}}}]\n",
            "a".repeat(254)
        );
        assert!(error(&long).contains("must be no more than 253 characters"));
        // "*", "" and ordinary groups are fine.
        policy(
            "- level: None\n  resources: [{group: \"*\"}, {group: \"\"}, {group: metrics.k8s.io}, {group: 0-a.b}]\n",
        );
    }

    #[test]
    fn every_validation_problem_is_reported_in_order() {
        let text = format!(
            "{HEADER}rules:\n- level: Loud\n  nonResourceURLs: [api]\n- level: None\n  resources: [{{resourceNames: [x]}}]\n"
        );
        let err = parse(&text).unwrap_err();
        let paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "rules[0].level",
                "rules[0].nonResourceURLs[0]",
                "rules[1].resources[0].resourceNames"
            ]
        );
        let lines: Vec<Option<u64>> = err.problems().iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![Some(4), Some(5), Some(7)]);
    }

    #[test]
    fn a_policy_without_rules_is_refused() {
        assert_eq!(
            error(&format!("{HEADER}rules: []\n")),
            "line 3, column 1: rules: the policy has no rules; the API server refuses to load it"
        );
        assert_eq!(
            error(HEADER),
            "rules: the policy has no rules; the API server refuses to load it"
        );
    }

    #[test]
    fn api_version_and_kind_are_required() {
        assert_eq!(
            error("kind: Policy\nrules:\n- level: None\n"),
            "apiVersion: missing; an audit policy needs apiVersion: audit.k8s.io/v1"
        );
        assert_eq!(
            error("apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: None\n"),
            "line 1, column 13: apiVersion: \"audit.k8s.io/v1beta1\" is not supported; the API server reads audit policies only as audit.k8s.io/v1"
        );
        assert_eq!(
            error("apiVersion: audit.k8s.io/v1\nrules:\n- level: None\n"),
            "kind: missing; an audit policy needs kind: Policy"
        );
        let wrong_kind =
            error("apiVersion: audit.k8s.io/v1\nkind: AuditPolicy\nrules:\n- level: None\n");
        assert_eq!(
            wrong_kind,
            "line 2, column 7: kind: \"AuditPolicy\" is not an audit policy; expected kind: Policy"
        );
        assert!(matches!(
            parse("kind: Policy\n"),
            Err(PolicyError::NotAPolicy(_))
        ));
    }

    #[test]
    fn an_empty_document_is_not_a_policy() {
        for text in ["", "\n# nothing here\n", "---\n", "~\n"] {
            assert_eq!(
                error(text),
                "the document is empty; an audit policy starts with apiVersion: audit.k8s.io/v1 and kind: Policy",
                "{text:?}"
            );
        }
    }

    #[test]
    fn yaml_syntax_errors_carry_their_line() {
        let err = parse(&format!("{HEADER}rules:\n- level: None\n  users: [a, b\n")).unwrap_err();
        assert!(matches!(err, PolicyError::Syntax(_)), "{err:?}");
        assert_eq!(err.problems()[0].line, Some(5), "{err}");
        assert!(err.to_string().starts_with("line 5, column 10: "), "{err}");
    }

    #[test]
    fn values_of_the_wrong_type_name_their_field() {
        assert_eq!(
            error(&format!("{HEADER}rules:\n- level: None\n  users: alice\n")),
            "line 5, column 3: rules[0].users: invalid type: string \"alice\", expected a list"
        );
        // YAML-to-JSON turns 123 into a number, which the API server will not read as a name.
        assert_eq!(
            error(&format!(
                "{HEADER}rules:\n- level: None\n  users: [\"a\", 123]\n"
            )),
            "line 5, column 16: rules[0].users[1]: invalid type: integer `123`, expected a string (quote values such as 123 or true)"
        );
        assert!(
            error(&format!("{HEADER}rules: {{level: None}}\n"))
                .contains("rules: invalid type: map, expected a list")
        );
    }

    #[test]
    fn unknown_fields_are_ignored_with_a_warning_like_the_api_server() {
        // The example from reader_test.go: `verbs` indented under a resources entry. The API
        // server loads this policy, so the rule applies to every verb on leases.
        let text = format!(
            "{HEADER}rules:\n- level: None\n  resources:\n  - group: coordination.k8s.io\n    resources:\n    - \"leases\"\n    verbs: [\"watch\", \"get\", \"list\"]\n- level: Metadata\n"
        );
        let p = parse(&text).unwrap();
        assert_eq!(p.warnings().len(), 1);
        assert_eq!(
            p.warnings()[0].to_string(),
            "line 9, column 5: rules[0].resources[0].verbs: unknown field \"verbs\" is ignored (the API server drops it with a warning); a resources entry has group, resources, resourceNames"
        );
        let delete_lease = request(
            "alice",
            &[],
            "delete",
            resource("coordination.k8s.io", "leases", "", "kube-node-lease", "n1"),
        );
        assert_eq!(level(&p, &delete_lease), Level::None);
    }

    #[test]
    fn parse_strict_rejects_unknown_fields() {
        let text = format!("{HEADER}rules:\n- level: None\n  user: [alice]\n");
        let err = parse_strict(&text).unwrap_err();
        assert!(matches!(err, PolicyError::Strict(_)));
        assert!(
            err.to_string()
                .starts_with("line 5, column 3: rules[0].user: unknown field \"user\""),
            "{err}"
        );
        // Lenient parsing drops the misspelt selector: the rule matches every user.
        assert_eq!(
            level(&parse(&text).unwrap(), &core("get", "pods")),
            Level::None
        );
        assert_eq!(parse(&text).unwrap().rules()[0].users, Vec::<String>::new());
    }

    #[test]
    fn a_repeated_field_keeps_its_last_value_with_a_warning() {
        let p = policy("- level: None\n  level: Metadata\n");
        assert_eq!(p.rules()[0].level, Level::Metadata);
        assert_eq!(
            p.warnings()[0].to_string(),
            "line 5, column 3: rules[0].level: \"level\" appears more than once; the API server uses this last value"
        );
    }

    #[test]
    fn null_lists_are_empty_and_null_strings_are_empty_strings() {
        let p = policy("- level: Metadata\n  users:\n  verbs: ~\n  namespaces: [null]\n");
        let rule = &p.rules()[0];
        assert!(rule.users.is_empty() && rule.verbs.is_empty());
        // encoding/json leaves a null string empty: this rule is about cluster-scoped requests.
        assert_eq!(rule.namespaces, vec![String::new()]);
        let nodes = request("alice", &[], "get", resource("", "nodes", "", "", "n1"));
        assert_eq!(level(&p, &nodes), Level::Metadata);
    }

    #[test]
    fn metadata_is_accepted() {
        let p = parse(&format!(
            "{HEADER}metadata:\n  name: audit\n  labels: {{a: b}}\nrules:\n- level: None\n"
        ))
        .unwrap();
        assert!(p.warnings().is_empty());
    }

    #[test]
    fn only_the_first_yaml_document_is_read() {
        let text = format!("{HEADER}rules:\n- level: Metadata\n---\nkind: Other\nrules: 5\n");
        let p = parse(&text).unwrap();
        assert_eq!(p.rules().len(), 1);
        assert_eq!(
            p.warnings()[0].to_string(),
            "line 5: another YAML document starts here; the API server reads only the first and ignores the rest"
        );
    }

    #[test]
    fn an_error_in_the_first_document_is_reported_even_when_more_follow() {
        let text = format!("{HEADER}rules:\n- level: Loud\n---\nkind: Other\n");
        assert_eq!(
            error(&text),
            "line 4, column 10: rules[0].level: unknown level \"Loud\" (expected None, Metadata, Request or RequestResponse)"
        );
    }

    #[test]
    fn parse_strict_accepts_later_documents_like_the_strict_decoder() {
        let text = format!("{HEADER}rules:\n- level: Metadata\n---\nfoo: bar\n");
        let p = parse_strict(&text).unwrap();
        assert_eq!(p.warnings().len(), 1);
        assert_eq!(p.warnings()[0].line, Some(5));
    }

    // ----- names, descriptions, serialization -----

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

    #[test]
    fn a_decision_serializes_with_api_names() {
        let d = policy("- level: Request\n  omitStages: [RequestReceived]\n")
            .evaluate(&core("get", "pods"));
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            serde_json::json!({"level": "Request", "omit_stages": ["RequestReceived"], "omit_managed_fields": false, "rule": 0})
        );
    }

    #[test]
    fn describe_rule_names_the_rule_its_line_and_selectors() {
        let p = policy(
            "- level: None\n  users: [\"system:serviceaccount:kube-system:tiller\"]\n\
             - level: Metadata\n  verbs: [get]\n  resources: [{group: \"\", resources: [secrets], resourceNames: [decoy]}, {group: apps}]\n  namespaces: [\"\"]\n  omitStages: [RequestReceived]\n\
             - level: Request\n",
        );
        assert_eq!(
            describe_rule(&p, 0),
            "rule 0 at line 4 (level None, users [system:serviceaccount:kube-system:tiller])"
        );
        assert_eq!(
            describe_rule(&p, 1),
            "rule 1 at line 6 (level Metadata, verbs [get], resources [{group: \"\", resources: [secrets], resourceNames: [decoy]}, {group: apps}], namespaces [\"\"], omitStages [RequestReceived])"
        );
        assert_eq!(
            describe_rule(&p, 2),
            "rule 2 at line 11 (level Request, every request)"
        );
        assert_eq!(
            describe_rule(&p, 3),
            "rule 3 (no such rule: the policy has 3 rules)"
        );
    }

    #[test]
    fn a_policy_built_in_code_evaluates_like_a_parsed_one() {
        let mut drop_decoy = Rule::new(Level::None);
        drop_decoy.users = vec!["decoy".into()];
        let p = Policy::new(
            vec![drop_decoy, Rule::new(Level::Metadata)],
            vec![Stage::Panic, Stage::RequestReceived],
            false,
        );
        assert_eq!(p.omit_stages(), &[Stage::RequestReceived, Stage::Panic]);
        let decoy = request(
            "decoy",
            &[],
            "get",
            resource("", "secrets", "", "default", ""),
        );
        assert_eq!(p.evaluate(&decoy).rule, Some(0));
        let d = p.evaluate(&core("get", "secrets"));
        assert_eq!((d.level, d.rule), (Level::Metadata, Some(1)));
        assert_eq!(describe_rule(&p, 0), "rule 0 (level None, users [decoy])");
    }

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
