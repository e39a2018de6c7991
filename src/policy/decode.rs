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
/// Two reads of the same text. The first keeps every key with its place (see [`Keys`]);
/// the second is the typed one (derived, with [`Spanned`] values), which keeps the last of
/// repeated keys as the API server's YAML-to-JSON conversion does.
fn decode_document(text: &str) -> Result<(RawPolicy, Vec<Problem>), Box<DecodeFailure>> {
    let keys = read(text, |de| Keys::deserialize(de));
    let mut warnings = Vec::new();
    let facts = match &keys {
        Ok(Keys::Map(entries)) => object(entries, Kind::Policy, "", &mut warnings),
        _ => Facts::default(),
    };
    SUPERSEDED.set(facts.superseded());
    PATH.take();
    let typed = read(text, |de| Object::<RawPolicy>::deserialize(de));
    SUPERSEDED.take();
    let path = PATH.take();
    let mut raw = match (typed, keys) {
        (Ok(Object(Some(raw))), Ok(_)) => raw,
        (Ok(Object(None)), Ok(_)) => RawPolicy {
            empty: true,
            ..RawPolicy::default()
        },
        (Err(error), _) => return Err(Box::new(DecodeFailure { error, path })),
        (Ok(_), Err(error)) => {
            return Err(Box::new(DecodeFailure {
                error,
                path: String::new(),
            }));
        }
    };
    raw.attach(facts);
    Ok((raw, warnings))
}

fn read<'de, T>(
    text: &'de str,
    f: impl for<'e> FnOnce(serde_saphyr::Deserializer<'de, 'e>) -> Result<T, serde_saphyr::Error>,
) -> Result<T, serde_saphyr::Error> {
    let mut options = serde_saphyr::Options::default();
    // Repeated keys reach the visitors: `Keys` records them, `TextKeys` keeps the last.
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    options.with_snippet = false;
    serde_saphyr::with_deserializer_from_str_with_options(text, options, f)
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

#[derive(Deserialize)]
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

impl Default for RawPolicy {
    fn default() -> RawPolicy {
        RawPolicy {
            empty: false,
            api_version: None,
            kind: None,
            metadata: IgnoredAny,
            rules: Vec::new(),
            omit_stages: Vec::new(),
            omit_managed_fields: None,
            fields: Fields::default(),
        }
    }
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

impl RawPolicy {
    /// Gives each object the places of its keys.
    fn attach(&mut self, facts: Facts) {
        self.fields = facts.fields;
        for (rule, facts) in self.rules.iter_mut().zip(facts.items) {
            rule.fields = facts.fields;
            for (gr, facts) in rule.resources.iter_mut().zip(facts.items) {
                gr.fields = facts.fields;
            }
        }
    }
}

/// What each object is called in messages when something else stands in its place.
trait Described {
    const EXPECTING: &'static str;
}

impl Described for RawPolicy {
    const EXPECTING: &'static str = "an audit Policy (a mapping with apiVersion, kind and rules)";
}

impl Described for RawRule {
    const EXPECTING: &'static str = "a rule (a mapping with level and selectors)";
}

impl Described for RawGroupResources {
    const EXPECTING: &'static str = "a mapping with group, resources and resourceNames";
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
                let len = PATH.with_borrow_mut(|p| {
                    let len = p.len();
                    let _ = write!(p, "[{}]", out.len());
                    len
                });
                let Some(item) = seq.next_element()? else {
                    PATH.with_borrow_mut(|p| p.truncate(len));
                    return Ok(out);
                };
                PATH.with_borrow_mut(|p| p.truncate(len));
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
                T::deserialize(de::value::MapAccessDeserializer::new(TextKeys {
                    map,
                    parent: 0,
                    seen: HashSet::new(),
                }))
                .map(|t| Object(Some(t)))
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

/// Reads keys as [`Key`]s; a key repeated later in its mapping is renamed so that the
/// derived visitor, which refuses repeated fields, skips it and takes the last one. It also
/// keeps the field path in [`PATH`].
struct TextKeys<A> {
    map: A,
    /// The length of the path before the current key.
    parent: usize,
    seen: HashSet<String>,
}

thread_local! {
    /// The places of the keys that a later repeat overrides, for [`TextKeys`]: derived
    /// types take no context, and a key's place (where it is used, where it is defined)
    /// names it even through aliases and merges.
    static SUPERSEDED: RefCell<HashSet<(Location, Location)>> = RefCell::default();
    /// Where the typed read is, as the API server writes a field path (`rules[1].users[0]`);
    /// left in place when the read fails, so it names the culprit.
    static PATH: RefCell<String> = RefCell::default();
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
        PATH.with_borrow_mut(|p| {
            self.parent = p.len();
            if !p.is_empty() {
                p.push('.');
            }
            p.push_str(&name);
        });
        let superseded = SUPERSEDED.with_borrow(|s| s.contains(&(key.referenced, key.defined)));
        // When the text has a syntax error further on, the keys could not be read first:
        // the first of repeated keys is kept, as the read ends with that error anyway.
        let repeated = !superseded && !self.seen.insert(name.clone());
        if superseded || repeated {
            // Not a field name, so the derived visitor skips the value.
            return seed
                .deserialize("\0superseded".into_deserializer())
                .map(Some);
        }
        seed.deserialize(name.into_deserializer()).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        let value = self.map.next_value_seed(seed)?;
        PATH.with_borrow_mut(|p| p.truncate(self.parent));
        Ok(value)
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

// ---------------------------------------------------------------------------------------
// The keys. `Spanned<T>` gives the place of a value, and serde's derive drops unknown
// fields and keeps one of repeated ones without saying where they were: the API server
// warns about both, and some messages point at a key rather than its value. So the text
// is read once more into its bare shape (mappings with each key and its place), which is
// what this small hand-written visitor does; the walk below turns it into warnings and
// the places of the keys.

/// The shape of a YAML value, with the text and place of every mapping key.
enum Keys {
    Map(Vec<(Spanned<Keys>, Keys)>),
    Seq(Vec<Keys>),
    /// A scalar, spelled as text.
    Scalar(String),
    Null,
}

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Keys, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Keys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(Keys::Map(entries))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Keys, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Keys::Seq(items))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Keys, E> {
                Ok(Keys::Scalar(v.to_string()))
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Keys, E> {
                Ok(Keys::Scalar(String::new()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Keys, E> {
                Ok(Keys::Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Keys, E> {
                Ok(Keys::Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Keys, E> {
                Ok(Keys::Scalar(v.to_string()))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Keys, E> {
                Ok(Keys::Scalar(v.to_string()))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Keys, E> {
                Ok(Keys::Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Keys, E> {
                Ok(Keys::Scalar(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Keys, E> {
                Ok(Keys::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Keys, E> {
                self.visit_unit()
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Keys, D::Error> {
                Keys::deserialize(d)
            }
        }
        d.deserialize_any(V)
    }
}

/// The objects of a policy.
#[derive(Clone, Copy)]
enum Kind {
    Policy,
    Rule,
    GroupResources,
}

impl Kind {
    /// How messages name it, its fields, and the field holding a list of its children.
    fn describe(
        self,
    ) -> (
        &'static str,
        &'static [&'static str],
        Option<(&'static str, Kind)>,
    ) {
        match self {
            Kind::Policy => (
                "Policy",
                &[
                    "apiVersion",
                    "kind",
                    "metadata",
                    "rules",
                    "omitStages",
                    "omitManagedFields",
                ],
                Some(("rules", Kind::Rule)),
            ),
            Kind::Rule => (
                "a rule",
                &[
                    "level",
                    "users",
                    "userGroups",
                    "verbs",
                    "resources",
                    "namespaces",
                    "nonResourceURLs",
                    "omitStages",
                    "omitManagedFields",
                ],
                Some(("resources", Kind::GroupResources)),
            ),
            Kind::GroupResources => (
                "a resources entry",
                &["group", "resources", "resourceNames"],
                None,
            ),
        }
    }
}

/// Where an object's keys are, and the same for each child of its (last) list of children.
#[derive(Default)]
struct Facts {
    fields: Fields,
    items: Vec<Facts>,
    /// Keys of this object and those below it that a later repeat overrides.
    superseded: Vec<(Location, Location)>,
}

impl Facts {
    fn superseded(&self) -> HashSet<(Location, Location)> {
        self.superseded.iter().copied().collect()
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

/// Walks one object in document order: an unknown field is skipped with a warning like the
/// API server's lenient decoding does; a repeated one is warned about after its value.
fn object(
    entries: &[(Spanned<Keys>, Keys)],
    kind: Kind,
    path: &str,
    warnings: &mut Vec<Problem>,
) -> Facts {
    let (object_name, known, children) = kind.describe();
    let mut facts = Facts::default();
    let mut seen = HashMap::new();
    for (key, value) in entries {
        let name = match &key.value {
            Keys::Scalar(name) => name.as_str(),
            Keys::Null => "null",
            _ => "?",
        };
        let location = key.referenced;
        facts.fields.first.get_or_insert(location);
        let field_path = if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        };
        if !known.contains(&name) {
            warnings.push(Problem::new(
                Some(location),
                field_path,
                format!(
                    "unknown field \"{name}\" is ignored (the API server drops it with a warning); {object_name} has {}",
                    known.join(", ")
                ),
            ));
            continue;
        }
        if let Some((_, child)) = children.filter(|(list, _)| *list == name) {
            facts.items = match value {
                Keys::Seq(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| match item {
                        Keys::Map(entries) => {
                            let item =
                                object(entries, child, &format!("{field_path}[{i}]"), warnings);
                            facts.superseded.extend(item.superseded.iter().copied());
                            item
                        }
                        _ => Facts::default(),
                    })
                    .collect(),
                _ => Vec::new(),
            };
        }
        if let Some(earlier) = seen.insert(name, (key.referenced, key.defined)) {
            facts.superseded.push(earlier);
        }
        if facts.fields.key(name).is_some() {
            warnings.push(Problem::new(
                Some(location),
                field_path,
                format!("\"{name}\" appears more than once; the API server uses this last value"),
            ));
            facts.fields.keys.retain(|(k, _)| k != name);
        }
        facts.fields.keys.push((name.to_string(), location));
    }
    facts
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
    fn an_earlier_value_of_a_repeated_field_is_not_read() {
        // sigs.k8s.io/yaml keeps the last value of a repeated key and never reads the
        // earlier one, so its shape does not matter (the real API server loads these; see
        // tests/policy_differential.rs).
        let p = policy("- level: [Verbose]\n  level: Metadata\n");
        assert_eq!(p.rules()[0].level, Level::Metadata);
        assert_eq!(
            p.warnings()[0].to_string(),
            "line 5, column 3: rules[0].level: \"level\" appears more than once; the API server uses this last value"
        );
        let p = parse(&format!(
            "{HEADER}rules: None\nrules:\n- level: Request\n  resources: 5\n  resources: [{{resources: [pods]}}]\n"
        ))
        .unwrap();
        assert_eq!(p.rules()[0].resources[0].resources, vec!["pods"]);
        assert_eq!(p.warnings().len(), 2, "{:?}", p.warnings());
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
