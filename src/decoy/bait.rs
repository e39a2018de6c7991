//! The decoy kubeconfig: bait planted outside the cluster. A kubeconfig whose user is the
//! decoy's token and whose names look like an administrator's, for a CI secret store, a jump
//! host's home or an old backup. Whoever finds it and uses it trips the same alarm as a use
//! of the token found in the cluster.
//!
//! Pure: the names and their checks, the file's text, and the insertion of the three
//! entries into an existing kubeconfig's text with the check that nothing else changed.
//! Writing the files is in [`file`].

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};

use crate::decoy::realism::giveaways_in;
use crate::decoy::{DecoySpec, Found, Ownership, ownership, token_filled};
use crate::home::PlantedRecord;

/// The cluster name used when the operator's own is unusable (in-cluster, or it shows a
/// giveaway word): the name kubeadm gives every cluster.
pub const FALLBACK_CLUSTER: &str = "kubernetes";

/// The three lists of a kubeconfig an entry is added to, in the order they are written.
const LISTS: [&str; 3] = ["clusters", "contexts", "users"];

#[derive(Debug, thiserror::Error)]
pub enum BaitError {
    /// The decoy named is not one of ours with a token (absent, foreign or replaced).
    #[error(
        "no decoy {namespace}/{account} of this key to write a kubeconfig for: {why}; see \
         kubectl honeytoken status"
    )]
    NotOurs {
        namespace: String,
        account: String,
        why: String,
    },
    #[error(
        "decoy {namespace}/{account} has no token yet (Secret {secret} missing or unfilled); see \
         kubectl honeytoken status"
    )]
    NoToken {
        namespace: String,
        account: String,
        secret: String,
    },
    /// Told without the bytes.
    #[error("the token in Secret {namespace}/{secret} is not text")]
    TokenNotText { namespace: String, secret: String },
    #[error("{flag} {value:?}: {why}")]
    BadName {
        flag: &'static str,
        value: String,
        why: String,
    },
    #[error("cannot merge into {path}: {problem}")]
    Merge {
        path: std::path::PathBuf,
        #[source]
        problem: MergeProblem,
    },
    #[error("cannot read kubeconfig {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: crate::input::InputError,
    },
    #[error("{path} already exists; pass --force to replace it, or choose another file")]
    Exists { path: std::path::PathBuf },
    #[error("cannot write {path}: {source}")]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// kubectl's own lock (`<file>.lock`) is held.
    #[error(
        "{lock} exists: another program (kubectl) may be writing {path}; if none is, delete \
         {lock} and run again (nothing was changed)"
    )]
    Locked {
        path: std::path::PathBuf,
        lock: std::path::PathBuf,
    },
}

/// Why an existing kubeconfig cannot take the entries. Never quotes the file: it holds
/// credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeProblem {
    #[error("it is not a kubeconfig: {0} (nothing was changed)")]
    NotKubeconfig(String),
    #[error(
        "it already has a {kind} named {name:?}; choose another name with {flag} (nothing was \
         changed)"
    )]
    NameClash {
        kind: &'static str,
        name: String,
        flag: &'static str,
    },
    #[error(
        "{0}, so the entries cannot be added without rewriting the file (nothing was changed); \
         write a file of its own with --out"
    )]
    Layout(String),
    #[error(
        "the merged file did not read back as the old one plus the new entries ({0}); the \
         file was left as it was"
    )]
    Check(String),
    #[error("it changed while it was being merged (nothing was changed); run again")]
    Changed,
}

/// The names of the three entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub cluster: String,
    pub user: String,
    pub context: String,
}

/// Whether a name can be shown in a kubeconfig left as bait: not empty, no surrounding
/// blanks or control characters, and no word that says what it is.
pub fn check_name(flag: &'static str, value: &str) -> Result<(), BaitError> {
    let bad = |why: String| BaitError::BadName {
        flag,
        value: value.to_string(),
        why,
    };
    if value.trim().is_empty() {
        return Err(bad("a name may not be empty".into()));
    }
    if value.trim() != value {
        return Err(bad("a name may not begin or end with blanks".into()));
    }
    if value.chars().any(char::is_control) {
        return Err(bad("a name may not hold control characters".into()));
    }
    let words = giveaways_in(value);
    if !words.is_empty() {
        return Err(bad(format!(
            "it shows {} to whoever reads the file; choose a name an administrator would use",
            words.join(", ")
        )));
    }
    Ok(())
}

/// The entries' names: each flag, or else the operator's cluster name (the fallback when
/// it is empty or shows a giveaway), `<cluster>-admin` and `<user>@<cluster>`, as kubeadm
/// names its admin kubeconfig (`kubernetes-admin@kubernetes`).
pub fn names(
    operator_cluster: &str,
    cluster: Option<&str>,
    user: Option<&str>,
    context: Option<&str>,
) -> Result<Names, BaitError> {
    let cluster = match cluster {
        Some(name) => name.to_string(),
        None if check_name("", operator_cluster).is_ok() => operator_cluster.to_string(),
        None => FALLBACK_CLUSTER.to_string(),
    };
    check_name("--cluster-name", &cluster)?;
    let user = user.map_or_else(|| format!("{cluster}-admin"), str::to_string);
    check_name("--user-name", &user)?;
    let context = context.map_or_else(|| format!("{user}@{cluster}"), str::to_string);
    check_name("--context-name", &context)?;
    Ok(Names {
        cluster,
        user,
        context,
    })
}

/// The decoy's token, if the decoy is ours and its token filled.
pub fn decoy_token(
    spec: &DecoySpec,
    found: &Found,
    record: Option<&PlantedRecord>,
) -> Result<SecretString, BaitError> {
    let why = match ownership(spec, found, record) {
        Ownership::Ours if found.account.is_some() => None,
        Ownership::Ours => Some(format!(
            "its service account {} is gone, so its token no longer authenticates",
            spec.account
        )),
        Ownership::Absent => Some("nothing of it is in the cluster; plant it first".to_string()),
        Ownership::Foreign(why) | Ownership::Replaced(why) => Some(why),
    };
    if let Some(why) = why {
        return Err(BaitError::NotOurs {
            namespace: spec.namespace.clone(),
            account: spec.account.clone(),
            why,
        });
    }
    let secret = found
        .secret
        .as_ref()
        .filter(|s| token_filled(s))
        .ok_or_else(|| BaitError::NoToken {
            namespace: spec.namespace.clone(),
            account: spec.account.clone(),
            secret: spec.secret.clone(),
        })?;
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get("token"))
        .map(|t| t.0.clone())
        .unwrap_or_default();
    String::from_utf8(bytes)
        .map(SecretString::from)
        .map_err(|_| BaitError::TokenNotText {
            namespace: spec.namespace.clone(),
            secret: spec.secret.clone(),
        })
}

/// The cluster entry: where the API server is and how to trust it, as the operator's
/// connection has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterEntry {
    pub server: String,
    /// The CA bundle as PEM (written inline as `certificate-authority-data`).
    pub ca_pem: Option<String>,
    pub insecure_skip_tls_verify: bool,
    pub tls_server_name: Option<String>,
    pub proxy_url: Option<String>,
}

impl ClusterEntry {
    /// From the operator's connection: the CA certificates (DER, as the client loaded them
    /// from `certificate-authority-data`, a `certificate-authority` file or the in-cluster
    /// bundle) become inline PEM. With `insecure-skip-tls-verify`, that is carried and no CA
    /// (kubectl refuses both together).
    pub fn new(
        server: &str,
        root_certs: Option<&[Vec<u8>]>,
        insecure_skip_tls_verify: bool,
        tls_server_name: Option<&str>,
        proxy_url: Option<&str>,
    ) -> ClusterEntry {
        let ca_pem = root_certs
            .filter(|certs| !certs.is_empty() && !insecure_skip_tls_verify)
            .map(|certs| certs.iter().map(|der| pem_certificate(der)).collect());
        ClusterEntry {
            server: server.to_string(),
            ca_pem,
            insecure_skip_tls_verify,
            tls_server_name: tls_server_name.map(str::to_string),
            proxy_url: proxy_url.map(str::to_string),
        }
    }
}

/// One certificate as PEM, 64 characters a line.
fn pem_certificate(der: &[u8]) -> String {
    let encoded = base64(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// Standard base64 with padding (RFC 4648, section 4), as kubeconfig `-data` fields hold.
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A YAML scalar as kubectl writes one: plain when it reads back as the same string in
/// any YAML version, double-quoted (JSON's escapes, which YAML shares) otherwise.
fn scalar(value: &str) -> String {
    const SPECIAL: &[&str] = &["true", "false", "yes", "no", "on", "off", "null", "y", "n"];
    let plain = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@+=~".contains(c))
        && !value.ends_with(':')
        && !SPECIAL.contains(&value.to_ascii_lowercase().as_str())
        && value.parse::<f64>().is_err();
    if plain {
        value.to_string()
    } else {
        serde_json::to_string(value).unwrap_or_default()
    }
}

/// The three entries as block-sequence items at `indent`, keys sorted as kubectl writes
/// them, each line ending in `eol`: the cluster's, the context's and the user's.
fn items(
    names: &Names,
    entry: &ClusterEntry,
    token: &SecretString,
    indent: &str,
    eol: &str,
) -> [String; 3] {
    let line = |depth: usize, text: String| format!("{indent}{}{text}{eol}", " ".repeat(depth));
    let mut cluster = line(0, "- cluster:".into());
    if let Some(pem) = &entry.ca_pem {
        cluster += &line(
            4,
            format!("certificate-authority-data: {}", base64(pem.as_bytes())),
        );
    }
    if entry.insecure_skip_tls_verify {
        cluster += &line(4, "insecure-skip-tls-verify: true".into());
    }
    if let Some(proxy) = &entry.proxy_url {
        cluster += &line(4, format!("proxy-url: {}", scalar(proxy)));
    }
    cluster += &line(4, format!("server: {}", scalar(&entry.server)));
    if let Some(name) = &entry.tls_server_name {
        cluster += &line(4, format!("tls-server-name: {}", scalar(name)));
    }
    cluster += &line(2, format!("name: {}", scalar(&names.cluster)));
    let context = line(0, "- context:".into())
        + &line(4, format!("cluster: {}", scalar(&names.cluster)))
        + &line(4, format!("user: {}", scalar(&names.user)))
        + &line(2, format!("name: {}", scalar(&names.context)));
    let user = line(0, format!("- name: {}", scalar(&names.user)))
        + &line(2, "user:".into())
        + &line(4, format!("token: {}", scalar(token.expose_secret())));
    [cluster, context, user]
}

/// A kubeconfig of its own, as `kubectl config view --raw` writes one, its context current.
pub fn render(names: &Names, entry: &ClusterEntry, token: &SecretString) -> SecretString {
    let [cluster, context, user] = items(names, entry, token, "", "\n");
    SecretString::from(format!(
        "apiVersion: v1\nclusters:\n{cluster}contexts:\n{context}current-context: {}\nkind: \
         Config\npreferences: {{}}\nusers:\n{user}",
        scalar(&names.context)
    ))
}

/// One change to the original text: at byte `at`, `removed` (the original's bytes there)
/// gave way to `inserted`.
#[derive(Clone, PartialEq, Eq)]
pub struct Edit {
    pub at: usize,
    pub removed: String,
    pub inserted: String,
}

/// An existing kubeconfig with the entries added. Its text holds the token: never shown.
pub struct Merged {
    pub text: SecretString,
    pub edits: Vec<Edit>,
    /// The file's current context, left as it was.
    pub current_context: Option<String>,
}

impl std::fmt::Debug for Merged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Merged({} edits, text withheld)", self.edits.len())
    }
}

impl std::fmt::Debug for Edit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Edit(at {}, {} bytes for {} bytes)",
            self.at,
            self.inserted.len(),
            self.removed.len()
        )
    }
}

/// Where a YAML problem is, without the parser's message (it quotes the file's lines).
fn at_position(what: &str, error: &serde_saphyr::Error) -> String {
    match error.location() {
        Some(l) if l.line() > 0 => format!("{what} at line {}, column {}", l.line(), l.column()),
        _ => what.to_string(),
    }
}

/// The document as plain data, checked to be one kubeconfig.
fn parse(text: &str) -> Result<serde_json::Map<String, serde_json::Value>, MergeProblem> {
    let not = |why: String| MergeProblem::NotKubeconfig(why);
    if text.trim().is_empty() {
        return Err(not("the file is empty".into()));
    }
    let value: serde_json::Value =
        serde_saphyr::from_str(text).map_err(|e| not(at_position("not valid YAML", &e)))?;
    let serde_json::Value::Object(map) = value else {
        return Err(not("the document is not a mapping".into()));
    };
    if let Some(kind) = map.get("kind")
        && kind != "Config"
    {
        return Err(not("its kind is not Config".into()));
    }
    const KEYS: &[&str] = &[
        "apiVersion",
        "kind",
        "clusters",
        "contexts",
        "users",
        "current-context",
        "preferences",
    ];
    if !KEYS.iter().any(|k| map.contains_key(*k)) {
        return Err(not("it has none of a kubeconfig's fields".into()));
    }
    kube::config::Kubeconfig::from_yaml(text).map_err(|e| match e {
        kube::config::KubeconfigError::Parse(e) => {
            not(at_position("a field of the wrong form", &e))
        }
        _ => not("kubectl would not read it".into()),
    })?;
    Ok(map)
}

/// A list's entries; null and missing are empty.
fn list<'a>(
    map: &'a serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Result<&'a [serde_json::Value], MergeProblem> {
    match map.get(key) {
        None | Some(serde_json::Value::Null) => Ok(&[]),
        Some(serde_json::Value::Array(items)) => Ok(items),
        Some(_) => Err(MergeProblem::NotKubeconfig(format!("{key} is not a list"))),
    }
}

/// Whether `text` reads as a kubeconfig (for a check before the cluster is asked).
pub fn check_kubeconfig(text: &str) -> Result<(), MergeProblem> {
    parse(text).map(|_| ())
}

/// A line of the text: where it starts, its content without the line break, and where the
/// next one starts.
struct Line<'a> {
    start: usize,
    content: &'a str,
    end: usize,
}

fn lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let end = text[start..]
            .find('\n')
            .map_or(text.len(), |i| start + i + 1);
        let content = text[start..end]
            .trim_end_matches('\n')
            .trim_end_matches('\r');
        out.push(Line {
            start,
            content,
            end,
        });
        start = end;
    }
    out
}

/// Blank lines and comments hold no YAML content.
fn is_content(line: &str) -> bool {
    let trimmed = line.trim_start_matches(' ');
    !(trimmed.is_empty() || trimmed.starts_with('#'))
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Whether, at column `indent`, the line starts a sequence item.
fn is_item(line: &str, indent: usize) -> bool {
    indent_of(line) == indent && {
        let rest = &line[indent..];
        rest == "-" || rest.starts_with("- ")
    }
}

/// The value on a top-level key's own line, without a trailing comment.
fn value_of(rest: &str) -> &str {
    let comment = rest
        .char_indices()
        .find(|&(i, c)| c == '#' && (i == 0 || rest[..i].ends_with([' ', '\t'])))
        .map_or(rest.len(), |(i, _)| i);
    rest[..comment].trim()
}

/// An insertion after `line` (and its line break; one is added if the file ends without).
fn after_line(original: &str, line: &Line<'_>, text: String, eol: &str) -> Edit {
    let missing_eol = !original[..line.end].ends_with('\n');
    Edit {
        at: line.end,
        removed: String::new(),
        inserted: if missing_eol {
            format!("{eol}{text}")
        } else {
            text
        },
    }
}

/// Adds the cluster, context and user to an existing kubeconfig's text, by inserting lines:
/// every byte of the original is kept, except a list written empty (`clusters: null`,
/// `clusters: []`), whose value gives way to the new entry. A list that is missing is added
/// at the end. The result is checked to read as the old document plus the three entries.
pub fn merge(
    original: &str,
    names: &Names,
    entry: &ClusterEntry,
    token: &SecretString,
) -> Result<Merged, MergeProblem> {
    let old = parse(original)?;
    for (key, kind, flag, name) in [
        ("clusters", "cluster", "--cluster-name", &names.cluster),
        ("contexts", "context", "--context-name", &names.context),
        ("users", "user", "--user-name", &names.user),
    ] {
        if list(&old, key)?
            .iter()
            .any(|item| item.get("name").and_then(|n| n.as_str()) == Some(name.as_str()))
        {
            return Err(MergeProblem::NameClash {
                kind,
                name: name.clone(),
                flag,
            });
        }
    }
    let eol = if original.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let lines = lines(original);
    let layout = |why: &str| MergeProblem::Layout(why.to_string());
    let first = lines.iter().find(|l| {
        is_content(l.content) && !l.content.starts_with("---") && !l.content.starts_with('%')
    });
    match first {
        Some(l) if l.content.starts_with(['{', '[']) => {
            return Err(layout("the file is written in flow style (as JSON is)"));
        }
        Some(l) if indent_of(l.content) > 0 => {
            return Err(layout("its top-level keys are indented"));
        }
        _ => {}
    }
    if lines
        .iter()
        .skip_while(|l| !is_content(l.content) || l.content.starts_with("---"))
        .any(|l| l.content.starts_with("---") || l.content.starts_with("..."))
    {
        return Err(layout("the file holds more than one YAML document"));
    }

    let mut edits: Vec<Edit> = Vec::new();
    let mut appended = String::new();
    let blocks = items(names, entry, token, "", eol);
    for (key, block) in LISTS.iter().zip(blocks.iter()) {
        let prefix = format!("{key}:");
        let found: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| {
                l.content.starts_with(&prefix)
                    && l.content[prefix.len()..]
                        .chars()
                        .next()
                        .is_none_or(|c| c == ' ' || c == '\t')
            })
            .map(|(i, _)| i)
            .collect();
        let index = match found.as_slice() {
            [] if old.contains_key(*key) => {
                return Err(MergeProblem::Layout(format!(
                    "its {key} key is not written plainly at the start of a line"
                )));
            }
            [] => {
                appended += &format!("{key}:{eol}{block}");
                continue;
            }
            [one] => *one,
            _ => {
                return Err(MergeProblem::Layout(format!(
                    "{key} appears more than once"
                )));
            }
        };
        let line = &lines[index];
        let rest = &line.content[prefix.len()..];
        let value = value_of(rest);
        let empty_value = matches!(value, "null" | "Null" | "NULL" | "~" | "[]");
        let next = lines[index + 1..].iter().find(|l| is_content(l.content));
        // The items' column: where the first one starts.
        let block_indent = next
            .filter(|l| {
                let i = indent_of(l.content);
                i > 0 || is_item(l.content, 0)
            })
            .map(|l| indent_of(l.content));
        if !value.is_empty() && !empty_value {
            return Err(MergeProblem::Layout(format!(
                "{key} is written on one line in flow style ([...])"
            )));
        }
        match block_indent.filter(|_| value.is_empty()) {
            Some(indent) => {
                if !next.is_some_and(|l| is_item(l.content, indent)) {
                    return Err(MergeProblem::Layout(format!(
                        "{key} is not written as a block list (`- ` items)"
                    )));
                }
                // After the last line of the list: its items and their deeper lines.
                let mut last = index;
                for (i, l) in lines.iter().enumerate().skip(index + 1) {
                    if !is_content(l.content) {
                        continue;
                    }
                    if indent_of(l.content) > indent || is_item(l.content, indent) {
                        last = i;
                    } else {
                        break;
                    }
                }
                let pad = " ".repeat(indent);
                let [cluster, context, user] = items(names, entry, token, &pad, eol);
                let item = match *key {
                    "clusters" => cluster,
                    "contexts" => context,
                    _ => user,
                };
                edits.push(after_line(original, &lines[last], item, eol));
            }
            None => {
                // `key:` with nothing under it, `key: null`, `key: []`: the value goes (the
                // comment after it stays), and the list follows the line.
                if !value.is_empty() {
                    let at = line.start + prefix.len();
                    let value_end =
                        line.start + prefix.len() + rest.find(value).unwrap_or(0) + value.len();
                    edits.push(Edit {
                        at,
                        removed: original[at..value_end].to_string(),
                        inserted: String::new(),
                    });
                }
                edits.push(after_line(original, line, block.clone(), eol));
            }
        }
    }
    if !appended.is_empty() {
        // A list just added at the end of a file without a final line break brought one.
        let ended = original.ends_with('\n') || edits.iter().any(|e| e.at == original.len());
        let lead = if ended { "" } else { eol };
        edits.push(Edit {
            at: original.len(),
            removed: String::new(),
            inserted: format!("{lead}{appended}"),
        });
    }
    edits.sort_by_key(|e| e.at);
    let mut text = String::with_capacity(original.len() + 4096);
    let mut from = 0;
    for edit in &edits {
        text.push_str(&original[from..edit.at]);
        text.push_str(&edit.inserted);
        from = edit.at + edit.removed.len();
    }
    text.push_str(&original[from..]);
    let text = SecretString::from(text);
    check_merged(original, text.expose_secret(), names, entry, token)?;
    Ok(Merged {
        text,
        edits,
        current_context: old
            .get("current-context")
            .and_then(|c| c.as_str())
            .map(str::to_string),
    })
}

/// Whether `merged` reads as `original` with exactly the three entries appended to their
/// lists: every other key (current-context among them) and every old entry the same.
/// Says which part differs, never a value.
pub fn check_merged(
    original: &str,
    merged: &str,
    names: &Names,
    entry: &ClusterEntry,
    token: &SecretString,
) -> Result<(), MergeProblem> {
    let check = |why: String| MergeProblem::Check(why);
    let old = parse(original)?;
    let new = parse(merged).map_err(|e| check(e.to_string()))?;
    let own = parse(render(names, entry, token).expose_secret())
        .map_err(|e| check(format!("the new entries: {e}")))?;
    let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for key in keys {
        if LISTS.contains(&key.as_str()) {
            let mut expected = list(&old, key)?.to_vec();
            expected.extend(list(&own, key)?.iter().cloned());
            if list(&new, key).map_err(|e| check(e.to_string()))? != expected.as_slice() {
                return Err(check(format!(
                    "{key} is not the old entries and the new one"
                )));
            }
        } else if old.get(key) != new.get(key) {
            return Err(check(format!("{key} changed")));
        }
    }
    Ok(())
}

/// The names of a kubeconfig's entries, per list (for a report).
pub fn entry_names(text: &str) -> Result<BTreeMap<&'static str, Vec<String>>, MergeProblem> {
    let map = parse(text)?;
    LISTS
        .iter()
        .map(|key| {
            Ok((
                *key,
                list(&map, key)?
                    .iter()
                    .filter_map(|item| item.get("name").and_then(|n| n.as_str()))
                    .map(str::to_string)
                    .collect(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoy::profile::find;
    use crate::home::{KEY_LEN, Key};
    use k8s_openapi::ByteString;

    const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0In0.c2lnbmF0dXJl-_x";

    fn token() -> SecretString {
        SecretString::from(TOKEN.to_string())
    }

    fn names() -> Names {
        Names {
            cluster: "prod".into(),
            user: "prod-admin".into(),
            context: "prod-admin@prod".into(),
        }
    }

    fn entry() -> ClusterEntry {
        ClusterEntry::new(
            "https://10.0.0.1:6443",
            Some(&[b"first certificate".to_vec(), b"second".to_vec()]),
            false,
            None,
            None,
        )
    }

    fn base64_decode(text: &str) -> Vec<u8> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap()
    }

    #[test]
    fn base64_is_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(base64_decode(&base64(&bytes)), bytes);
    }

    #[test]
    fn scalars_are_plain_only_when_they_read_back_the_same() {
        for plain in [
            "kubernetes-admin@kubernetes",
            "https://10.0.0.1:6443",
            "arn:aws:eks:eu-west-1:123456789012:cluster/prod",
            TOKEN,
            "gke_project_europe-west1_prod",
        ] {
            assert_eq!(scalar(plain), plain);
        }
        for quoted in [
            "", "true", "No", "null", "~", "1234", "1e3", "a b", "-x", "x:", "@x", "a#b", "0x1f",
            "é", "a\"b",
        ] {
            let written = scalar(quoted);
            assert!(written.starts_with('"'), "{quoted:?} as {written}");
            let read: String = serde_saphyr::from_str(&format!("key: {written}"))
                .map(|m: BTreeMap<String, String>| m["key"].clone())
                .unwrap();
            assert_eq!(read, quoted);
        }
    }

    #[test]
    fn default_names_look_like_kubeadms_admin_kubeconfig() {
        assert_eq!(
            names_default("kubernetes"),
            Names {
                cluster: "kubernetes".into(),
                user: "kubernetes-admin".into(),
                context: "kubernetes-admin@kubernetes".into(),
            }
        );
        assert_eq!(names_default("kind-kind").user, "kind-kind-admin");
        // In-cluster (no cluster name) and a cluster name that gives the game away.
        for unusable in ["", "honeytoken-lab", "decoy", " padded "] {
            let chosen = names_default(unusable);
            assert_eq!(chosen.cluster, FALLBACK_CLUSTER, "{unusable:?}");
            assert_eq!(chosen.context, "kubernetes-admin@kubernetes");
        }
        for chosen in [
            names_default("prod"),
            names_default(""),
            names_default("canary"),
        ] {
            for name in [&chosen.cluster, &chosen.user, &chosen.context] {
                assert!(giveaways_in(name).is_empty(), "{name}");
            }
        }
    }

    fn names_default(cluster: &str) -> Names {
        super::names(cluster, None, None, None).unwrap()
    }

    #[test]
    fn chosen_names_are_used_and_derive_the_others() {
        let chosen = super::names("bed", Some("prod-eu"), None, None).unwrap();
        assert_eq!(chosen.user, "prod-eu-admin");
        assert_eq!(chosen.context, "prod-eu-admin@prod-eu");
        let chosen = super::names("bed", None, Some("ci-deployer"), Some("ci")).unwrap();
        assert_eq!(
            chosen,
            Names {
                cluster: "bed".into(),
                user: "ci-deployer".into(),
                context: "ci".into()
            }
        );
    }

    #[test]
    fn names_with_giveaways_or_nothing_in_them_are_refused_by_flag() {
        for (cluster, user, context, flag) in [
            (Some("honey-prod"), None, None, "--cluster-name"),
            (None, Some("Decoy-Admin"), None, "--user-name"),
            (None, None, Some("canary@prod"), "--context-name"),
            (Some(""), None, None, "--cluster-name"),
            (None, Some("  "), None, "--user-name"),
            (None, None, Some(" admin"), "--context-name"),
            (None, None, Some("ad\nmin"), "--context-name"),
        ] {
            let error = super::names("prod", cluster, user, context).unwrap_err();
            match &error {
                BaitError::BadName { flag: told, .. } => assert_eq!(*told, flag, "{error}"),
                other => panic!("{other}"),
            }
        }
        let error = super::names("prod", Some("honey-prod"), None, None).unwrap_err();
        assert!(error.to_string().contains("honey"), "{error}");
    }

    fn parsed(text: &str) -> kube::config::Kubeconfig {
        kube::config::Kubeconfig::from_yaml(text).unwrap()
    }

    #[test]
    fn the_file_is_one_cluster_user_and_context_with_the_token_and_the_ca_inline() {
        let text = render(&names(), &entry(), &token());
        let text = text.expose_secret();
        let config = parsed(text);
        assert_eq!(config.current_context.as_deref(), Some("prod-admin@prod"));
        assert_eq!(config.clusters.len(), 1);
        let cluster = config.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(config.clusters[0].name, "prod");
        assert_eq!(cluster.server.as_deref(), Some("https://10.0.0.1:6443"));
        let pem = String::from_utf8(base64_decode(
            cluster.certificate_authority_data.as_deref().unwrap(),
        ))
        .unwrap();
        assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----\n").count(), 2);
        assert!(pem.contains(&base64(b"first certificate")), "{pem}");
        assert_eq!(cluster.insecure_skip_tls_verify, None);
        assert_eq!(config.auth_infos.len(), 1);
        assert_eq!(config.auth_infos[0].name, "prod-admin");
        let user = config.auth_infos[0].auth_info.as_ref().unwrap();
        assert_eq!(user.token.as_ref().unwrap().expose_secret(), TOKEN);
        assert_eq!(config.contexts[0].name, "prod-admin@prod");
        let context = config.contexts[0].context.as_ref().unwrap();
        assert_eq!(
            (context.cluster.as_str(), context.user.as_deref()),
            ("prod", Some("prod-admin"))
        );
        assert!(
            text.starts_with("apiVersion: v1\nclusters:\n- cluster:\n"),
            "{text}"
        );
        // Nothing in it says what it is (the token is random and not judged here).
        assert!(giveaways_in(&text.replace(TOKEN, "")).is_empty());
    }

    #[test]
    fn a_long_certificate_is_wrapped_as_pem_and_insecure_servers_carry_no_ca() {
        let pem = pem_certificate(&[7u8; 100]);
        assert!(pem.lines().all(|l| l.len() <= 64), "{pem}");
        let insecure = ClusterEntry::new(
            "https://h:1",
            Some(&[b"ca".to_vec()]),
            true,
            Some("api.internal"),
            Some("socks5://proxy:1080"),
        );
        let config = parsed(render(&names(), &insecure, &token()).expose_secret());
        let cluster = config.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.insecure_skip_tls_verify, Some(true));
        assert_eq!(cluster.certificate_authority_data, None);
        assert_eq!(cluster.tls_server_name.as_deref(), Some("api.internal"));
        assert_eq!(cluster.proxy_url.as_deref(), Some("socks5://proxy:1080"));
        let none = ClusterEntry::new("https://h:1", None, false, None, None);
        assert_eq!(none.ca_pem, None);
    }

    /// The original text back from the merged one, by taking out what each edit inserted
    /// and putting back what it removed; also checks each insertion is where it says.
    fn undo(merged: &str, edits: &[Edit]) -> String {
        let mut out = String::new();
        let mut shift: isize = 0;
        let mut from = 0;
        for edit in edits {
            let at = (edit.at as isize + shift) as usize;
            assert_eq!(&merged[at..at + edit.inserted.len()], edit.inserted);
            out.push_str(&merged[from..at]);
            out.push_str(&edit.removed);
            from = at + edit.inserted.len();
            shift += edit.inserted.len() as isize - edit.removed.len() as isize;
        }
        out.push_str(&merged[from..]);
        out
    }

    /// Merges, and checks what every merge must be: the old entries and current context
    /// kept, the three new ones last, and the original's bytes all there.
    fn merged(original: &str) -> (String, Vec<Edit>) {
        let merged = merge(original, &names(), &entry(), &token()).unwrap();
        let text = merged.text.expose_secret().to_string();
        assert_eq!(undo(&text, &merged.edits), original, "merged:\n{text}");
        let before = parsed(original);
        let after = parsed(&text);
        assert_eq!(after.current_context, before.current_context, "{text}");
        assert_eq!(merged.current_context, before.current_context);
        let old_names = entry_names(original).unwrap();
        let new_names = entry_names(&text).unwrap();
        for (key, name) in [
            ("clusters", "prod"),
            ("contexts", "prod-admin@prod"),
            ("users", "prod-admin"),
        ] {
            let mut expected = old_names[key].clone();
            expected.push(name.to_string());
            assert_eq!(new_names[key], expected, "{key} in:\n{text}");
        }
        let user = after.auth_infos.last().unwrap().auth_info.as_ref().unwrap();
        assert_eq!(user.token.as_ref().unwrap().expose_secret(), TOKEN);
        let server = after
            .clusters
            .last()
            .unwrap()
            .cluster
            .as_ref()
            .unwrap()
            .server
            .clone();
        assert_eq!(server.as_deref(), Some("https://10.0.0.1:6443"));
        (text, merged.edits)
    }

    /// What `kubectl config` writes: keys sorted, items at column 0.
    const KUBECTL: &str = "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: QUJD
    server: https://a.example:6443
  name: a
- cluster:
    server: https://b.example:6443
  name: b
contexts:
- context:
    cluster: a
    user: alice
  name: a
- context:
    cluster: b
    namespace: web
    user: bob
  name: b
current-context: b
kind: Config
preferences: {}
users:
- name: alice
  user:
    token: alice-token
- name: bob
  user:
    client-certificate-data: QUJD
    client-key-data: QUJD
";

    #[test]
    fn kubectls_own_layout_gets_items_at_column_zero_and_only_insertions() {
        let (text, edits) = merged(KUBECTL);
        assert!(edits.iter().all(|e| e.removed.is_empty()), "{edits:?}");
        assert_eq!(edits.len(), 3);
        assert!(
            text.contains("  name: b\n- cluster:\n    certificate-authority-data: "),
            "{text}"
        );
        assert!(
            text.contains("  name: b\n- context:\n    cluster: prod\n"),
            "{text}"
        );
        assert!(
            text.ends_with(&format!(
                "- name: prod-admin\n  user:\n    token: {TOKEN}\n"
            )),
            "{text}"
        );
    }

    /// As people and scripts write one (and the test bed's): items indented, flow mappings,
    /// comments, keys in another order.
    const INDENTED: &str = "apiVersion: v1
kind: Config
# the clusters
clusters:
  - name: bed
    cluster:
      server: https://127.0.0.1:6443
      certificate-authority: /etc/ca.crt

  # the staging one
  - name: staging
    cluster: {server: 'https://s:6443'}
# who we are
users:
  - name: admin
    user:
      token: admin-token
contexts:
  - name: admin
    context: {cluster: bed, user: admin}
  - name: ops
    context: {cluster: staging, user: admin}
current-context: admin # the one in use
";

    #[test]
    fn an_indented_layout_gets_items_at_its_own_indent_after_its_last_item() {
        let (text, edits) = merged(INDENTED);
        assert!(edits.iter().all(|e| e.removed.is_empty()), "{edits:?}");
        assert!(
            text.contains(
                "    cluster: {server: 'https://s:6443'}\n  - cluster:\n      certificate-authority-data: "
            ),
            "{text}"
        );
        assert!(
            text.contains("\n  - name: prod-admin\n    user:\n      token: "),
            "{text}"
        );
        assert!(
            text.contains("context: {cluster: staging, user: admin}\n  - context:\n      cluster: prod\n      user: prod-admin\n    name: prod-admin@prod\ncurrent-context: admin # the one in use\n"),
            "{text}"
        );
        // The comment before `users:` stays before it.
        assert!(
            text.contains("    name: prod\n# who we are\nusers:\n"),
            "{text}"
        );
    }

    #[test]
    fn empty_lists_null_and_missing_keys_are_filled_in() {
        let original = "apiVersion: v1\nkind: Config\nclusters: null\ncontexts: [] # none yet\ncurrent-context: \"\"\npreferences: {}\n";
        let (text, edits) = merged(original);
        // Only the empty values gave way; the users list is new, at the end.
        let removed: Vec<&str> = edits
            .iter()
            .map(|e| e.removed.as_str())
            .filter(|r| !r.is_empty())
            .collect();
        assert_eq!(removed, vec![" null", " []"]);
        assert!(
            text.starts_with("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n"),
            "{text}"
        );
        assert!(
            text.contains("contexts: # none yet\n- context:\n"),
            "{text}"
        );
        assert!(
            text.ends_with(&format!(
                "preferences: {{}}\nusers:\n- name: prod-admin\n  user:\n    token: {TOKEN}\n"
            )),
            "{text}"
        );

        for original in [
            "apiVersion: v1\nkind: Config\n",
            "kind: Config\nclusters: ~\nusers:\ncontexts: []\ncurrent-context: x",
            "apiVersion: v1\r\nkind: Config\r\nclusters:\r\n- cluster:\r\n    server: https://a:1\r\n  name: a\r\ncurrent-context: a\r\n",
            "current-context: a\nclusters:\n- cluster:\n    server: https://a:1\n  name: a",
            "apiVersion: v1\nusers:\n- name: u\n  user: {token: t}",
            "---\napiVersion: v1\nkind: Config\nusers: []\n",
        ] {
            let (text, edits) = merged(original);
            assert!(
                edits
                    .iter()
                    .all(|e| matches!(e.removed.trim(), "" | "null" | "~" | "[]")),
                "{edits:?}"
            );
            assert!(!text.contains("\n\n"), "a blank line was added:\n{text}");
            if original.contains("\r\n") {
                assert!(
                    !text.replace("\r\n", "").contains('\n'),
                    "a bare line break in:\n{text:?}"
                );
            }
        }
    }

    #[test]
    fn a_name_already_there_is_refused_for_each_kind() {
        for (chosen, flag) in [
            (
                Names {
                    cluster: "a".into(),
                    ..names()
                },
                "--cluster-name",
            ),
            (
                Names {
                    user: "bob".into(),
                    ..names()
                },
                "--user-name",
            ),
            (
                Names {
                    context: "b".into(),
                    ..names()
                },
                "--context-name",
            ),
        ] {
            let error = merge(KUBECTL, &chosen, &entry(), &token()).unwrap_err();
            match &error {
                MergeProblem::NameClash { flag: told, .. } => assert_eq!(*told, flag),
                other => panic!("{other}"),
            }
            assert!(error.to_string().contains(flag), "{error}");
        }
    }

    #[test]
    fn what_is_not_a_kubeconfig_is_refused_without_quoting_it() {
        for text in [
            "",
            "  \n",
            "foo: bar\n",
            "- a\n- b\n",
            "kind: Pod\napiVersion: v1\n",
            "clusters: 3\n",
            "apiVersion: v1\nusers:\n- name: x\n  user:\n    token: sekrit-token\n  - bad: [\n",
        ] {
            let error = merge(text, &names(), &entry(), &token()).unwrap_err();
            assert!(
                matches!(error, MergeProblem::NotKubeconfig(_)),
                "{text:?}: {error}"
            );
            assert!(!error.to_string().contains("sekrit"), "{error}");
            assert!(check_kubeconfig(text).is_err());
        }
        assert!(check_kubeconfig(KUBECTL).is_ok());
    }

    #[test]
    fn layouts_that_cannot_take_a_line_are_refused() {
        for text in [
            "{\"apiVersion\": \"v1\", \"kind\": \"Config\", \"clusters\": []}\n",
            "apiVersion: v1\nclusters: [{name: a, cluster: {server: 'https://a:1'}}]\n",
            "apiVersion: v1\n\"clusters\":\n- name: a\n  cluster: {server: 'https://a:1'}\n",
            "apiVersion: v1\nkind: Config\n---\napiVersion: v1\nkind: Config\n",
        ] {
            let error = merge(text, &names(), &entry(), &token());
            assert!(
                matches!(
                    error,
                    Err(MergeProblem::Layout(_)) | Err(MergeProblem::NotKubeconfig(_))
                ),
                "{text:?}: {error:?}"
            );
        }
    }

    #[test]
    fn the_check_catches_a_merge_that_lost_or_changed_something() {
        let good = merge(KUBECTL, &names(), &entry(), &token()).unwrap();
        let good = good.text.expose_secret();
        assert!(check_merged(KUBECTL, good, &names(), &entry(), &token()).is_ok());
        for broken in [
            good.replace("current-context: b", "current-context: a"),
            good.replace("- name: alice\n  user:\n    token: alice-token\n", ""),
            good.replace("namespace: web", "namespace: api"),
            KUBECTL.to_string(),
        ] {
            let error = check_merged(KUBECTL, &broken, &names(), &entry(), &token()).unwrap_err();
            assert!(matches!(error, MergeProblem::Check(_)), "{error}");
            assert!(!error.to_string().contains("alice-token"), "{error}");
        }
    }

    fn decoy() -> (DecoySpec, Found) {
        let spec = DecoySpec::new(
            find("tiller").unwrap(),
            &Key::from_bytes([3; KEY_LEN]),
            "ns-uid",
            "kube-system",
            "tiller",
        );
        let mut account = spec.account_manifest();
        account.metadata.uid = Some("a1".into());
        let mut secret = spec.secret_manifest(None);
        secret.metadata.annotations.as_mut().unwrap().insert(
            crate::decoy::tracking::ACCOUNT_UID_ANNOTATION.into(),
            "a1".into(),
        );
        secret.data = Some(BTreeMap::from([(
            "token".into(),
            ByteString(TOKEN.as_bytes().to_vec()),
        )]));
        (
            spec,
            Found {
                account: Some(account),
                secret: Some(secret),
            },
        )
    }

    #[test]
    fn only_our_decoy_with_a_filled_token_gives_its_token() {
        let (spec, found) = decoy();
        assert_eq!(
            decoy_token(&spec, &found, None).unwrap().expose_secret(),
            TOKEN
        );

        let absent = Found::default();
        let error = decoy_token(&spec, &absent, None).unwrap_err();
        assert!(matches!(error, BaitError::NotOurs { .. }), "{error}");

        let mut foreign = found.clone();
        foreign.secret = None;
        let error = decoy_token(&spec, &foreign, None).unwrap_err();
        assert!(matches!(error, BaitError::NotOurs { .. }), "{error}");
        assert!(error.to_string().contains("not made by plant"), "{error}");

        let mut no_account = found.clone();
        no_account.account = None;
        assert!(matches!(
            decoy_token(&spec, &no_account, None),
            Err(BaitError::NotOurs { .. })
        ));

        let mut unfilled = found.clone();
        unfilled.secret.as_mut().unwrap().data = None;
        assert!(matches!(
            decoy_token(&spec, &unfilled, None),
            Err(BaitError::NoToken { .. })
        ));

        let mut binary = found;
        binary.secret.as_mut().unwrap().data = Some(BTreeMap::from([(
            "token".into(),
            ByteString(vec![0xff, 0xfe]),
        )]));
        let error = decoy_token(&spec, &binary, None).unwrap_err();
        assert!(matches!(error, BaitError::TokenNotText { .. }), "{error}");
    }
}
