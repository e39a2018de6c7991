//! Reading a policy text (YAML, or JSON which is YAML) into raw values with their
//! locations, the way `reader.go` decodes it.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{
    self, DeserializeSeed, Deserializer, IgnoredAny, IntoDeserializer as _, MapAccess, SeqAccess,
    Visitor,
};
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
    let DecodeFailure { error: cause, path } = match decode_document(text) {
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
    let err = cause.without_snippet();
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
    Err(PolicyError::Syntax {
        problem: Problem::new(
            err.location(),
            if typed { path } else { String::new() },
            message,
        ),
        cause: Box::new(cause),
    })
}

/// Why a document could not be decoded, and the field path the decoder was at.
struct DecodeFailure {
    error: serde_saphyr::Error,
    path: String,
}

/// Decodes one YAML document; on failure, the error and the field path it happened at.
///
/// Serde's derive refuses a repeated field, so the typed read first takes the first of
/// repeated keys and notes the others; when there were any, it reads again taking the last
/// one, which is what the API server keeps.
fn decode_document(text: &str) -> Result<(RawPolicy, Vec<Problem>), Box<DecodeFailure>> {
    let mut result = typed_read(text, HashSet::new());
    if let Ok((_, ref state)) = result
        && !state.repeated.is_empty()
    {
        result = typed_read(text, state.repeated.clone());
    }
    match result {
        Ok((Object(Some(raw)), state)) => Ok((raw, state.warnings)),
        Ok((Object(None), state)) => Ok((
            RawPolicy {
                empty: true,
                ..RawPolicy::default()
            },
            state.warnings,
        )),
        Err(failure) => Err(failure),
    }
}

/// One typed read, skipping the keys at `skip`.
fn typed_read(
    text: &str,
    skip: HashSet<Place>,
) -> Result<(Object<RawPolicy>, ReadState), Box<DecodeFailure>> {
    READ.set(ReadState {
        skip,
        ..ReadState::default()
    });
    let mut options = serde_saphyr::Options::default();
    // Repeated keys reach the visitors; `TextKeys` handles them.
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    options.with_snippet = false;
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        Object::<RawPolicy>::deserialize(de)
    });
    let state = READ.take();
    match result {
        Ok(raw) => Ok((raw, state)),
        Err(error) => Err(Box::new(DecodeFailure {
            error,
            path: state.path,
        })),
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
// The typed read: derived, with the few types the API server reads differently from serde's
// defaults (null is an empty string or list, numbers and booleans are not strings, a null
// rule is an empty one, a list is never read as a mapping).

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RawPolicy {
    /// The document was null/empty.
    #[serde(skip)]
    pub(super) empty: bool,
    #[serde(deserialize_with = "present")]
    pub(super) api_version: Option<Spanned<Text>>,
    #[serde(deserialize_with = "present")]
    pub(super) kind: Option<Spanned<Text>>,
    /// ObjectMeta: read and not used, as by the API server.
    metadata: IgnoredAny,
    #[serde(deserialize_with = "objects")]
    pub(super) rules: Vec<RawRule>,
    #[serde(deserialize_with = "list")]
    pub(super) omit_stages: Vec<Spanned<Text>>,
    #[serde(deserialize_with = "flag")]
    pub(super) omit_managed_fields: Option<bool>,
    #[serde(skip)]
    pub(super) fields: Fields,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RawRule {
    #[serde(deserialize_with = "present")]
    pub(super) level: Option<Spanned<Text>>,
    #[serde(deserialize_with = "list")]
    pub(super) users: Vec<Spanned<Text>>,
    #[serde(deserialize_with = "list")]
    pub(super) user_groups: Vec<Spanned<Text>>,
    #[serde(deserialize_with = "list")]
    pub(super) verbs: Vec<Spanned<Text>>,
    #[serde(deserialize_with = "objects")]
    pub(super) resources: Vec<RawGroupResources>,
    #[serde(deserialize_with = "list")]
    pub(super) namespaces: Vec<Spanned<Text>>,
    #[serde(rename = "nonResourceURLs", deserialize_with = "list")]
    pub(super) non_resource_urls: Vec<Spanned<Text>>,
    #[serde(deserialize_with = "list")]
    pub(super) omit_stages: Vec<Spanned<Text>>,
    #[serde(deserialize_with = "flag")]
    pub(super) omit_managed_fields: Option<bool>,
    #[serde(skip)]
    pub(super) fields: Fields,
}

#[derive(Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RawGroupResources {
    pub(super) group: Spanned<Text>,
    #[serde(deserialize_with = "list")]
    pub(super) resources: Vec<Spanned<Text>>,
    #[serde(deserialize_with = "list")]
    pub(super) resource_names: Vec<Spanned<Text>>,
    #[serde(skip)]
    pub(super) fields: Fields,
}

impl Default for RawGroupResources {
    fn default() -> RawGroupResources {
        RawGroupResources {
            group: Spanned::new(Text(String::new()), Location::UNKNOWN, Location::UNKNOWN),
            resources: Vec::new(),
            resource_names: Vec::new(),
            fields: Fields::default(),
        }
    }
}

/// What messages call an object, its fields, and where its keys are.
trait Described {
    /// Said when something else stands in its place.
    const EXPECTING: &'static str;
    const NAME: &'static str;
    const FIELDS: &'static [&'static str];
    fn set_fields(&mut self, fields: Fields);
}

impl Described for RawPolicy {
    const EXPECTING: &'static str = "an audit Policy (a mapping with apiVersion, kind and rules)";
    const NAME: &'static str = "Policy";
    const FIELDS: &'static [&'static str] = &[
        "apiVersion",
        "kind",
        "metadata",
        "rules",
        "omitStages",
        "omitManagedFields",
    ];
    fn set_fields(&mut self, fields: Fields) {
        self.fields = fields;
    }
}

impl Described for RawRule {
    const EXPECTING: &'static str = "a rule (a mapping with level and selectors)";
    const NAME: &'static str = "a rule";
    const FIELDS: &'static [&'static str] = &[
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
    fn set_fields(&mut self, fields: Fields) {
        self.fields = fields;
    }
}

impl Described for RawGroupResources {
    const EXPECTING: &'static str = "a mapping with group, resources and resourceNames";
    const NAME: &'static str = "a resources entry";
    const FIELDS: &'static [&'static str] = &["group", "resources", "resourceNames"];
    fn set_fields(&mut self, fields: Fields) {
        self.fields = fields;
    }
}

/// A field that is set when present, even to null (`present` reads it as its type does).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Flag::deserialize(d).map(|f| f.0)
}

/// A list (null reads as empty).
fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    struct V<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::new();
            loop {
                let len = READ.with_borrow_mut(|r| {
                    let len = r.path.len();
                    let _ = write!(r.path, "[{}]", out.len());
                    len
                });
                let Some(item) = seq.next_element()? else {
                    READ.with_borrow_mut(|r| r.path.truncate(len));
                    return Ok(out);
                };
                READ.with_borrow_mut(|r| r.path.truncate(len));
                out.push(item);
            }
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(V(PhantomData))
}

/// A list of objects; a null element is an object with no fields (encoding/json leaves it
/// zero).
fn objects<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default + Described,
{
    let items: Vec<Object<T>> = list(d)?;
    Ok(items.into_iter().map(|o| o.0.unwrap_or_default()).collect())
}

/// An object read only from a mapping (a derived struct would also take a list, field by
/// field), or null; keys that are not text are spelled as text (they can only be unknown
/// fields).
struct Object<T>(Option<T>);

impl<'de, T: Deserialize<'de> + Described> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Object<T>, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Described> Visitor<'de> for V<T> {
            type Value = Object<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(T::EXPECTING)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
                let mut keys = TextKeys::new(map, T::NAME, T::FIELDS);
                let mut value = T::deserialize(de::value::MapAccessDeserializer::new(&mut keys))?;
                value.set_fields(keys.fields);
                Ok(Object(Some(value)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Object<T>, E> {
                Ok(Object(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Object<T>, E> {
                Ok(Object(None))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// Where a key is used and where it is defined: it names one key even through aliases and
/// merges.
type Place = (Location, Location);

/// What a typed read keeps beside the values. Derived types take no context, so this is
/// where [`TextKeys`] finds and leaves it.
#[derive(Default)]
struct ReadState {
    /// Keys to skip: all but the last of repeated ones, on the second read.
    skip: HashSet<Place>,
    /// Keys that a later repeat overrides.
    repeated: HashSet<Place>,
    /// Unknown and repeated fields, in document order.
    warnings: Vec<Problem>,
    /// Where the read is, as the API server writes a field path (`rules[1].users[0]`);
    /// left in place when the read fails, so it names the culprit.
    path: String,
}

thread_local! {
    static READ: RefCell<ReadState> = RefCell::default();
}

/// The keys of one object as its derived visitor sees them. Spanned<T> gives the place of
/// a value but serde's derive drops unknown fields and refuses repeated ones without
/// saying where they were, while the API server warns about both and some messages point
/// at a key: this records each key with its place, warns about unknown and repeated ones,
/// and hides from the visitor the keys it must not read (unknown keys that are not text,
/// and repeats).
struct TextKeys<A> {
    map: A,
    object: &'static str,
    known: &'static [&'static str],
    fields: Fields,
    /// Where each field was last seen.
    seen: HashMap<String, Place>,
    /// The fields given to the visitor.
    given: HashSet<String>,
    /// The current key, when it is a field, and whether it was seen before.
    current: Option<(String, Location, bool)>,
    /// The length of the path before the current key.
    parent: usize,
}

impl<A> TextKeys<A> {
    fn new(map: A, object: &'static str, known: &'static [&'static str]) -> TextKeys<A> {
        TextKeys {
            map,
            object,
            known,
            fields: Fields::default(),
            seen: HashMap::new(),
            given: HashSet::new(),
            current: None,
            parent: 0,
        }
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for TextKeys<A> {
    type Error = A::Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let Some(key) = self.map.next_key::<Spanned<Key>>()? else {
            return Ok(None);
        };
        let name = key.value.0;
        let location = key.referenced;
        let place = (key.referenced, key.defined);
        self.fields.first.get_or_insert(location);
        let path = READ.with_borrow_mut(|r| {
            self.parent = r.path.len();
            if !r.path.is_empty() {
                r.path.push('.');
            }
            r.path.push_str(&name);
            r.path.clone()
        });
        // Not a field name: the derived visitor skips the value.
        let skipped = "\0skipped";
        if !self.known.contains(&name.as_str()) {
            self.current = None;
            let message = format!(
                "unknown field \"{name}\" is ignored (the API server drops it with a warning); {} has {}",
                self.object,
                self.known.join(", ")
            );
            READ.with_borrow_mut(|r| r.warnings.push(Problem::new(Some(location), path, message)));
            return seed.deserialize(skipped.into_deserializer()).map(Some);
        }
        let earlier = self.seen.insert(name.clone(), place);
        self.current = Some((name.clone(), location, earlier.is_some()));
        let skip = READ.with_borrow_mut(|r| {
            r.repeated.extend(earlier);
            r.skip.contains(&place)
        });
        if skip || !self.given.insert(name.clone()) {
            return seed.deserialize(skipped.into_deserializer()).map(Some);
        }
        seed.deserialize(name.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        let value = self.map.next_value_seed(seed)?;
        let path = READ.with_borrow_mut(|r| {
            let path = r.path.clone();
            r.path.truncate(self.parent);
            path
        });
        if let Some((name, location, repeat)) = self.current.take() {
            if repeat {
                let message = format!(
                    "\"{name}\" appears more than once; the API server uses this last value"
                );
                READ.with_borrow_mut(|r| {
                    r.warnings.push(Problem::new(Some(location), path, message))
                });
                self.fields.keys.retain(|(k, _)| *k != name);
            }
            self.fields.keys.push((name, location));
        }
        Ok(value)
    }
}

/// Where each field's key was, and where the mapping's first key was.
#[derive(Default)]
pub(super) struct Fields {
    pub(super) first: Option<Location>,
    keys: Vec<(String, Location)>,
}

impl Fields {
    pub(super) fn key(&self, name: &str) -> Option<Location> {
        self.keys.iter().find(|(k, _)| k == name).map(|(_, l)| *l)
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

#[cfg(test)]
mod tests {
    use crate::audit::policy::test_support::*;
    use crate::audit::policy::*;

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
        assert!(matches!(err, PolicyError::Syntax { .. }), "{err:?}");
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
    fn a_yaml_error_is_kept_as_the_source_of_a_syntax_error() {
        let err = parse(&format!("{HEADER}rules:\n- level: None\n  users: [a, b\n")).unwrap_err();
        let cause = std::error::Error::source(&err).expect("a source");
        assert!(cause.to_string().contains("unclosed bracket"), "{cause}");
        // The message shown is still the problem, with its place.
        assert!(err.to_string().starts_with("line 5, column 10: "), "{err}");
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
