//! Reading a policy text (YAML, or JSON which is YAML) into raw values with their
//! locations, the way `reader.go` decodes it.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, MessageFormatter as _, Spanned};

use super::{API_VERSION, KIND, PolicyError, Problem};

pub(super) struct Decoded {
    pub(super) raw: RawPolicy,
    /// Unknown and repeated fields, skipped the way lenient decoding does.
    pub(super) field_warnings: Vec<Problem>,
    /// Set when documents after the first were ignored.
    pub(super) later_documents: Option<Problem>,
}

pub(super) fn decode(text: &str) -> Result<Decoded, PolicyError> {
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

pub(super) fn empty_document_message() -> String {
    format!(
        "the document is empty; an audit policy starts with apiVersion: {API_VERSION} and kind: {KIND}"
    )
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
pub(super) struct Text(pub(super) String);

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
pub(super) struct Fields {
    pub(super) first: Option<Location>,
    pub(super) keys: Vec<(String, Location)>,
}

impl Fields {
    pub(super) fn key(&self, name: &str) -> Option<Location> {
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
pub(super) struct RawPolicy {
    /// The document was null/empty.
    pub(super) empty: bool,
    pub(super) api_version: Option<Spanned<Text>>,
    pub(super) kind: Option<Spanned<Text>>,
    pub(super) rules: Option<Vec<RawRule>>,
    pub(super) omit_stages: Vec<Spanned<Text>>,
    pub(super) omit_managed_fields: Option<bool>,
    pub(super) fields: Fields,
}

#[derive(Default)]
pub(super) struct RawRule {
    pub(super) level: Option<Spanned<Text>>,
    pub(super) users: Vec<Spanned<Text>>,
    pub(super) user_groups: Vec<Spanned<Text>>,
    pub(super) verbs: Vec<Spanned<Text>>,
    pub(super) resources: Vec<RawGroupResources>,
    pub(super) namespaces: Vec<Spanned<Text>>,
    pub(super) non_resource_urls: Vec<Spanned<Text>>,
    pub(super) omit_stages: Vec<Spanned<Text>>,
    pub(super) omit_managed_fields: Option<bool>,
    pub(super) fields: Fields,
}

pub(super) struct RawGroupResources {
    pub(super) group: Spanned<Text>,
    pub(super) resources: Vec<Spanned<Text>>,
    pub(super) resource_names: Vec<Spanned<Text>>,
    pub(super) fields: Fields,
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
    use crate::policy::test_support::*;
    use crate::policy::*;

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
}
