//! Property tests of the parsers that read what others write: audit event lines (`scan`,
//! `watch`), the line reader with its limit, the log follower, and the audit policy decoder
//! (`verify --policy`). Each property is tried on a bounded number of generated cases
//! (`PROPTEST_CASES` raises it), so the suite stays fast; proptest shrinks a failure to a
//! small case and prints it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use kubectl_honeytoken::audit::policy::{self, GroupResources, Level, Rule, Stage};
use kubectl_honeytoken::audit::{Event, LogFollower, Matcher, events_in};
use kubectl_honeytoken::cmd::scan::{Summary, scan_reader_limited};
use proptest::prelude::*;
use serde_json::json;

const DECOY: &str = "system:serviceaccount:kube-system:tiller";

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(cases),
        // Failures are printed, shrunk; nothing is written into the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any text: control characters, quotes, backslashes, non-ASCII and astral characters.
fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::char::range('a', 'z'),
            1 => prop::sample::select(vec!['"', '\\', '\'', ':', '-', '#', '*', '/', ' ', '\t', '\n', '\r', '\0', '\u{1b}', '\u{85}', '\u{2028}', '\u{feff}', 'é', '漢', '🦀']),
            1 => any::<char>(),
        ],
        0..max,
    )
    .prop_map(String::from_iter)
}

// ------------------------------------------------------------------------------------
// Audit events

#[derive(Debug, Clone)]
struct Fields {
    audit_id: String,
    stage: String,
    level: String,
    verb: String,
    request_uri: String,
    username: String,
    groups: Vec<String>,
    source_ips: Vec<String>,
    user_agent: String,
    code: Option<u16>,
}

fn fields() -> impl Strategy<Value = Fields> {
    (
        (text(12), text(12), text(12), text(8)),
        (text(20), text(20), prop::collection::vec(text(8), 0..3)),
        (
            prop::collection::vec(text(8), 0..3),
            text(30),
            any::<Option<u16>>(),
        ),
    )
        .prop_map(
            |(
                (audit_id, stage, level, verb),
                (request_uri, username, groups),
                (source_ips, user_agent, code),
            )| Fields {
                audit_id,
                stage,
                level,
                verb,
                request_uri,
                username,
                groups,
                source_ips,
                user_agent,
                code,
            },
        )
}

fn event_json(f: &Fields) -> serde_json::Value {
    let mut event = json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": f.level,
        "auditID": f.audit_id,
        "stage": f.stage,
        "requestURI": f.request_uri,
        "verb": f.verb,
        "user": {"username": f.username, "groups": f.groups, "extra": {"k": ["v"]}},
        "sourceIPs": f.source_ips,
        "userAgent": f.user_agent,
        "objectRef": {"resource": "secrets", "namespace": "kube-system"},
        "requestReceivedTimestamp": "2026-11-28T10:00:00.123456Z",
        "annotations": {"authorization.k8s.io/decision": "forbid"},
    });
    if let Some(code) = f.code {
        event["responseStatus"] = json!({"metadata": {}, "code": code});
    }
    event
}

fn assert_fields(event: &Event, f: &Fields) {
    assert_eq!(event.audit_id, f.audit_id);
    assert_eq!(event.stage, f.stage);
    assert_eq!(event.level, f.level);
    assert_eq!(event.verb, f.verb);
    assert_eq!(event.request_uri, f.request_uri);
    assert_eq!(event.user.username, f.username);
    assert_eq!(event.user.groups, f.groups);
    assert_eq!(event.source_ips, f.source_ips);
    assert_eq!(event.user_agent, f.user_agent);
    assert_eq!(event.code(), f.code);
    assert!(event.request_received_timestamp.is_some());
}

proptest! {
    #![proptest_config(config(128))]

    /// Whatever the fields hold, an event line and an EventList line give them back exactly.
    #[test]
    fn an_event_and_an_event_list_give_back_their_fields(a in fields(), b in fields()) {
        let line = serde_json::to_vec(&event_json(&a)).unwrap();
        let events = events_in(&line).expect("an Event line");
        prop_assert_eq!(events.len(), 1);
        assert_fields(&events[0], &a);

        let list = json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": [event_json(&a), event_json(&b)]});
        let events = events_in(&serde_json::to_vec(&list).unwrap()).expect("an EventList line");
        prop_assert_eq!(events.len(), 2);
        assert_fields(&events[0], &a);
        assert_fields(&events[1], &b);
    }

    /// Any bytes: never a panic; what is not JSON of an event (or a list) is `None`.
    #[test]
    fn any_bytes_are_an_event_or_none(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let found = events_in(&bytes);
        if serde_json::from_slice::<serde_json::Value>(&bytes).is_err() {
            prop_assert!(found.is_none());
        }
    }

    /// An event line cut short, or with bytes changed, never panics the parser.
    #[test]
    fn a_damaged_event_line_never_panics(
        f in fields(),
        cut in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut line = serde_json::to_vec(&event_json(&f)).unwrap();
        for (at, byte) in edits {
            let i = at.index(line.len());
            line[i] = byte;
        }
        line.truncate(cut.index(line.len() + 1));
        let _ = events_in(&line);
    }
}

// ------------------------------------------------------------------------------------
// The line reader and its limit

/// One line of a generated log, and what a scan must make of it.
#[derive(Debug, Clone)]
enum LogLine {
    /// An event of the decoy (a use), with padding to make it long.
    Use {
        padding: usize,
    },
    /// An event of another user.
    Other,
    /// An EventList of that many decoy events.
    List(usize),
    /// Not JSON, naming the decoy (in quotes or not).
    Garbage {
        padding: usize,
        quoted: bool,
    },
    /// An event of a user whose name begins with the decoy's.
    NearMiss {
        padding: usize,
    },
    /// Any text without a newline (it may name the decoy, it is never an event).
    Noise(String),
    Empty,
}

fn log_line() -> impl Strategy<Value = LogLine> {
    prop_oneof![
        3 => (0usize..600).prop_map(|padding| LogLine::Use { padding }),
        1 => Just(LogLine::Other),
        1 => (0usize..3).prop_map(LogLine::List),
        1 => (0usize..600, any::<bool>()).prop_map(|(padding, quoted)| LogLine::Garbage { padding, quoted }),
        1 => (0usize..600).prop_map(|padding| LogLine::NearMiss { padding }),
        1 => text(80).prop_map(|t| LogLine::Noise(t.replace('\n', " "))),
        1 => Just(LogLine::Empty),
    ]
}

fn render_log(lines: &[LogLine]) -> Vec<String> {
    let mut next_id = 0;
    let mut id = || {
        next_id += 1;
        format!("id-{next_id}")
    };
    let event = |id: &str, user: &str, padding: usize| {
        format!(
            r#"{{"kind":"Event","auditID":"{id}","padding":"{}","verb":"list","requestURI":"/api/v1/secrets","user":{{"username":"{user}"}},"sourceIPs":["10.0.0.9"],"userAgent":"curl/8","responseStatus":{{"code":403}}}}"#,
            "p".repeat(padding)
        )
    };
    lines
        .iter()
        .map(|line| match line {
            LogLine::Use { padding } => event(&id(), DECOY, *padding),
            LogLine::Other => event(&id(), "admin", 0),
            LogLine::List(n) => {
                let items: Vec<String> = (0..*n).map(|_| event(&id(), DECOY, 0)).collect();
                format!(r#"{{"kind":"EventList","items":[{}]}}"#, items.join(","))
            }
            LogLine::Garbage { padding, quoted } => {
                let q = if *quoted { "\"" } else { "" };
                format!("x{}{q}{DECOY}{q}{{", "g".repeat(*padding))
            }
            LogLine::NearMiss { padding } => event(&id(), &format!("{DECOY}-deployer"), *padding),
            LogLine::Noise(text) => text.clone(),
            LogLine::Empty => String::new(),
        })
        .collect()
}

/// A source that gives at most `most` bytes a read, as a pipe may.
struct Trickle<'a> {
    rest: &'a [u8],
    most: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.rest.len().min(self.most).min(out.len());
        out[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        Ok(n)
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// However the input arrives in pieces and wherever the limit lies, every line is
    /// counted once; a line over the limit is skipped (and told when it names the decoy in
    /// quotes, even across pieces); every other line naming the decoy in quotes is read as
    /// if there were no limit, and no other line is parsed.
    #[test]
    fn the_line_limit_skips_exactly_the_lines_over_it(
        lines in prop::collection::vec(log_line(), 1..25),
        trailing_newline in any::<bool>(),
        limit in 40usize..1200,
        capacity in 1usize..600,
    ) {
        let rendered = render_log(&lines);
        let mut text = rendered.join("\n");
        if trailing_newline {
            text.push('\n');
        }
        let matcher = Matcher::new(vec![DECOY.to_string()]);
        let mut uses = BTreeMap::new();
        let mut summary = Summary::default();
        scan_reader_limited(
            Trickle { rest: text.as_bytes(), most: capacity },
            "generated",
            &matcher,
            None,
            &mut uses,
            &mut summary,
            limit,
        );

        let mut expected = Summary::default();
        let mut expected_ids = BTreeSet::new();
        for piece in text.split_inclusive('\n') {
            let line = piece.strip_suffix('\n').unwrap_or(piece);
            expected.lines += 1;
            let names = line.contains(&format!("\"{DECOY}\""));
            if line.len() > limit {
                expected.oversized += 1;
                expected.oversized_with_decoy += u64::from(names);
            } else if names {
                match events_in(line.as_bytes()) {
                    Some(events) => expected_ids.extend(
                        events.into_iter().filter(|e| e.user.username == DECOY).map(|e| e.audit_id),
                    ),
                    None => expected.malformed += 1,
                }
            }
        }
        prop_assert_eq!(&summary, &expected);
        let ids: BTreeSet<String> = uses.into_values().map(|u| u.audit_id).collect();
        prop_assert_eq!(ids, expected_ids);
    }
}

// ------------------------------------------------------------------------------------
// The log follower

fn complete_lines(text: &[u8]) -> Vec<Vec<u8>> {
    let end = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    text[..end]
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn lines_text() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::collection::vec(any::<u8>().prop_filter("no newline", |&b| b != b'\n'), 0..90),
            1 => Just(Vec::new()),
        ],
        0..10,
    )
    .prop_map(|lines| {
        let mut text = Vec::new();
        for line in lines {
            text.extend(line);
            text.push(b'\n');
        }
        text
    })
}

/// Lines of any bytes, some holding the decoy's name: in quotes, without them, or as the
/// start of another name; the text may end in the middle of a line.
fn candidate_text() -> impl Strategy<Value = Vec<u8>> {
    let bytes = || {
        prop::collection::vec(
            any::<u8>().prop_filter("no newline", |&b| b != b'\n'),
            0..40,
        )
    };
    let names = vec![
        format!("\"{DECOY}\""),
        format!("\"{DECOY}-deployer\""),
        DECOY.to_string(),
        format!("\"{DECOY}"),
    ];
    prop::collection::vec(
        prop_oneof![
            2 => bytes(),
            2 => (bytes(), prop::sample::select(names), bytes())
                .prop_map(|(a, name, b)| [a, name.into_bytes(), b].concat()),
            1 => Just(Vec::new()),
        ],
        0..12,
    )
    .prop_map(|lines| lines.join(&b'\n'))
}

proptest! {
    #![proptest_config(config(64))]

    /// Appended in any pieces, read between any of them: every complete line once, in
    /// order, and nothing of a line still being written.
    #[test]
    fn the_follower_reads_every_appended_line_once(
        text in lines_text(),
        tail in prop::collection::vec(any::<u8>().prop_filter("no newline", |&b| b != b'\n'), 0..40),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut all = text.clone();
        all.extend(&tail);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(all.len() + 1)).collect();
        cuts.push(all.len());
        cuts.sort();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, "").unwrap();
        let mut follower = LogFollower::from_end(&path).unwrap();
        let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        let mut read = Vec::new();
        let mut from = 0;
        for cut in cuts {
            file.write_all(&all[from..cut]).unwrap();
            from = cut;
            let new = follower.read_lines().unwrap();
            prop_assert!(!new.reopened);
            prop_assert_eq!(new.oversized, 0);
            read.extend(new.lines);
        }
        prop_assert_eq!(read, complete_lines(&all));
    }

    /// Reading only the lines that name a decoy, appended in any pieces: exactly the
    /// complete lines that hold its name in quotes, once each, in order; lines that merely
    /// begin like it, or hold it without quotes, are left out.
    #[test]
    fn the_follower_picks_exactly_the_appended_lines_naming_a_decoy(
        all in candidate_text(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(all.len() + 1)).collect();
        cuts.push(all.len());
        cuts.sort();
        let matcher = Matcher::new(vec![DECOY.to_string()]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, "").unwrap();
        let mut follower = LogFollower::from_end(&path).unwrap();
        let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        let mut read = Vec::new();
        let mut from = 0;
        for cut in cuts {
            file.write_all(&all[from..cut]).unwrap();
            from = cut;
            let new = follower.read_candidates(&matcher).unwrap();
            prop_assert_eq!(new.oversized, 0);
            read.extend(new.lines);
        }
        let quoted = format!("\"{DECOY}\"");
        let expected: Vec<Vec<u8>> = complete_lines(&all)
            .into_iter()
            .filter(|line| line.windows(quoted.len()).any(|w| w == quoted.as_bytes()))
            .collect();
        prop_assert_eq!(read, expected);
    }

    /// Rewritten in place between two reads (copytruncate, then written again), whatever
    /// the new size: what continues the old content is read on from where it was, anything
    /// else is read from its start.
    #[test]
    fn a_file_rewritten_between_reads_is_never_read_from_the_middle(
        old in lines_text(),
        new in lines_text(),
        keep_old_as_prefix in any::<bool>(),
    ) {
        let new = if keep_old_as_prefix { [old.clone(), new].concat() } else { new };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, &old).unwrap();
        let mut follower = LogFollower::from_end(&path).unwrap();
        let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(0).unwrap();
        file.write_all(&new).unwrap();
        let read = follower.read_lines().unwrap();
        if new.starts_with(&old) {
            prop_assert!(!read.reopened);
            prop_assert_eq!(read.lines, complete_lines(&new[old.len()..]));
        } else {
            prop_assert!(read.reopened);
            prop_assert_eq!(read.lines, complete_lines(&new));
        }
    }
}

// ------------------------------------------------------------------------------------
// The audit policy decoder

/// A valid rule's parts, as a policy author may write them.
fn group() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("*".to_string()),
        "[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?){0,2}",
    ]
}

fn group_resources() -> impl Strategy<Value = GroupResources> {
    (group(), prop::collection::vec(text(10), 0..3))
        .prop_flat_map(|(group, resources)| {
            let names = if resources.is_empty() {
                Just(Vec::new()).boxed()
            } else {
                prop::collection::vec(text(10), 0..3).boxed()
            };
            (Just(group), Just(resources), names)
        })
        .prop_map(|(group, resources, resource_names)| GroupResources {
            group,
            resources,
            resource_names,
        })
}

fn stage() -> impl Strategy<Value = Stage> {
    prop::sample::select(Stage::ALL.to_vec())
}

fn rule() -> impl Strategy<Value = Rule> {
    let strings = || prop::collection::vec(text(12), 0..3);
    let target = prop_oneof![
        Just((Vec::new(), Vec::new(), Vec::new())),
        (prop::collection::vec(group_resources(), 0..3), strings())
            .prop_map(|(resources, namespaces)| (resources, namespaces, Vec::new())),
        prop::collection::vec(
            prop_oneof![Just("*".to_string()), "/[a-z0-9/._-]{0,12}\\*?"],
            1..3
        )
        .prop_map(|urls| (Vec::new(), Vec::new(), urls)),
    ];
    (
        prop::sample::select(Level::ALL.to_vec()),
        (strings(), strings(), strings()),
        target,
        prop::collection::vec(stage(), 0..3),
        any::<Option<bool>>(),
    )
        .prop_map(
            |(
                level,
                (users, user_groups, verbs),
                (resources, namespaces, non_resource_urls),
                omit_stages,
                omit_managed_fields,
            )| Rule {
                level,
                users,
                user_groups,
                verbs,
                resources,
                namespaces,
                non_resource_urls,
                omit_stages,
                omit_managed_fields,
                line: None,
            },
        )
}

#[derive(Debug, Clone)]
struct GenPolicy {
    rules: Vec<Rule>,
    omit_stages: Vec<Stage>,
    omit_managed_fields: Option<bool>,
    /// Lists written `[a, b]` rather than one `- a` a line.
    flow: bool,
}

fn gen_policy() -> impl Strategy<Value = GenPolicy> {
    (
        prop::collection::vec(rule(), 1..5),
        prop::collection::vec(stage(), 0..3),
        any::<Option<bool>>(),
        any::<bool>(),
    )
        .prop_map(
            |(rules, omit_stages, omit_managed_fields, flow)| GenPolicy {
                rules,
                omit_stages,
                omit_managed_fields,
                flow,
            },
        )
}

/// A YAML double-quoted scalar holding exactly `s`: what YAML does not allow to be
/// written as it is (controls, a byte order mark, non-printables) is escaped.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if yaml_printable(c) => out.push(c),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

fn yaml_list(out: &mut String, indent: &str, key: &str, items: &[String], flow: bool) {
    if items.is_empty() {
        return;
    }
    if flow {
        out.push_str(&format!("{indent}{key}: [{}]\n", items.join(", ")));
    } else {
        out.push_str(&format!("{indent}{key}:\n"));
        for item in items {
            out.push_str(&format!("{indent}  - {item}\n"));
        }
    }
}

fn to_yaml(p: &GenPolicy) -> String {
    let q = |v: &[String]| v.iter().map(|s| quoted(s)).collect::<Vec<_>>();
    let st = |v: &[Stage]| v.iter().map(|s| s.as_str().to_string()).collect::<Vec<_>>();
    let mut out = format!(
        "# generated\napiVersion: {}\nkind: Policy\n",
        policy::API_VERSION
    );
    yaml_list(&mut out, "", "omitStages", &st(&p.omit_stages), p.flow);
    if let Some(omit) = p.omit_managed_fields {
        out.push_str(&format!("omitManagedFields: {omit}\n"));
    }
    out.push_str("rules:\n");
    for rule in &p.rules {
        out.push_str(&format!("  - level: {}\n", rule.level));
        let i = "    ";
        yaml_list(&mut out, i, "users", &q(&rule.users), p.flow);
        yaml_list(&mut out, i, "userGroups", &q(&rule.user_groups), p.flow);
        yaml_list(&mut out, i, "verbs", &q(&rule.verbs), p.flow);
        if !rule.resources.is_empty() {
            out.push_str(&format!("{i}resources:\n"));
            for gr in &rule.resources {
                out.push_str(&format!("{i}  - group: {}\n", quoted(&gr.group)));
                yaml_list(&mut out, "        ", "resources", &q(&gr.resources), p.flow);
                yaml_list(
                    &mut out,
                    "        ",
                    "resourceNames",
                    &q(&gr.resource_names),
                    p.flow,
                );
            }
        }
        yaml_list(&mut out, i, "namespaces", &q(&rule.namespaces), p.flow);
        yaml_list(
            &mut out,
            i,
            "nonResourceURLs",
            &q(&rule.non_resource_urls),
            p.flow,
        );
        yaml_list(&mut out, i, "omitStages", &st(&rule.omit_stages), p.flow);
        if let Some(omit) = rule.omit_managed_fields {
            out.push_str(&format!("{i}omitManagedFields: {omit}\n"));
        }
    }
    out
}

fn to_json(p: &GenPolicy) -> String {
    let rules: Vec<serde_json::Value> = p
        .rules
        .iter()
        .map(|rule| {
            let mut r = json!({
                "level": rule.level,
                "users": rule.users,
                "userGroups": rule.user_groups,
                "verbs": rule.verbs,
                "resources": rule.resources.iter().map(|gr| json!({
                    "group": gr.group, "resources": gr.resources, "resourceNames": gr.resource_names,
                })).collect::<Vec<_>>(),
                "namespaces": rule.namespaces,
                "nonResourceURLs": rule.non_resource_urls,
                "omitStages": rule.omit_stages,
            });
            if let Some(omit) = rule.omit_managed_fields {
                r["omitManagedFields"] = json!(omit);
            }
            r
        })
        .collect();
    let mut doc = json!({
        "apiVersion": policy::API_VERSION,
        "kind": "Policy",
        "omitStages": p.omit_stages,
        "rules": rules,
    });
    if let Some(omit) = p.omit_managed_fields {
        doc["omitManagedFields"] = json!(omit);
    }
    // JSON lets these stand as they are; YAML (the API server reads JSON as YAML) does
    // not, so a policy that loads has them escaped.
    serde_json::to_string_pretty(&doc)
        .unwrap()
        .chars()
        .map(|c| {
            if yaml_printable(c) || c == '\n' {
                c.to_string()
            } else {
                format!("\\u{:04x}", c as u32)
            }
        })
        .collect()
}

/// What YAML allows to stand in a document as it is (YAML 1.2, c-printable, less the
/// byte order mark, which may only start a stream).
fn yaml_printable(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && c != '\u{feff}'
}

#[track_caller]
fn assert_policy(parsed: &policy::Policy, p: &GenPolicy) {
    let rules: Vec<Rule> = parsed
        .rules()
        .iter()
        .cloned()
        .map(|r| Rule { line: None, ..r })
        .collect();
    assert_eq!(rules, p.rules);
    let mut stages = p.omit_stages.clone();
    stages.sort();
    stages.dedup();
    assert_eq!(parsed.omit_stages(), &stages[..]);
    assert_eq!(
        parsed.omit_managed_fields(),
        p.omit_managed_fields.unwrap_or(false)
    );
    assert!(parsed.warnings().is_empty(), "{:?}", parsed.warnings());
}

/// What any refusal must be: a message, and lines that exist in the text.
#[track_caller]
fn assert_clean_error(text: &str, error: &policy::PolicyError) {
    let message = error.to_string();
    assert!(!message.trim().is_empty(), "an empty message for {text:?}");
    // YAML breaks lines at a lone CR too (and YAML 1.1 readers at NEL, LS and PS).
    let breaks = ['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'];
    let lines = text.chars().filter(|c| breaks.contains(c)).count() as u64 + 1;
    for problem in error.problems() {
        assert!(!problem.message.is_empty(), "{error:?}");
        // What the file holds is shown escaped: a policy cannot drive the terminal.
        assert!(
            !problem
                .message
                .chars()
                .chain(problem.path.chars())
                .any(char::is_control),
            "{error:?}"
        );
        if let Some(line) = problem.line {
            assert!(
                line >= 1 && line <= lines,
                "line {line} of {lines}: {error:?}"
            );
        }
    }
}

/// Pieces a policy is made of, and pieces that break YAML.
fn yaml_token() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "apiVersion: audit.k8s.io/v1\n",
            "kind: Policy\n",
            "rules:\n",
            "  - level: Metadata\n",
            "- ",
            "  ",
            "\t",
            "\n",
            ":",
            ": ",
            "[",
            "]",
            "{",
            "}",
            ",",
            "\"",
            "'",
            "#",
            "---\n",
            "...\n",
            "&a ",
            "*a",
            "!!str ",
            "!!binary ",
            "? ",
            "|\n",
            ">-\n",
            "<<: *a\n",
            "%YAML 1.2\n",
            "null",
            "~",
            "true",
            "123",
            "0x1F",
            ".inf",
            "level",
            "omitStages",
            "users",
            "resources",
            "\u{0}",
            "\u{1b}[31m",
            "\u{feff}",
            "\r\n",
            "🦀",
        ])
        .prop_map(str::to_string),
        text(8),
    ]
}

proptest! {
    #![proptest_config(config(128))]

    /// A valid policy, however its lists are written and whatever its strings hold, is read
    /// back exactly, from YAML and from JSON alike, with no warning.
    #[test]
    fn a_valid_policy_round_trips_through_yaml_and_json(p in gen_policy()) {
        let yaml = to_yaml(&p);
        let parsed = policy::parse_strict(&yaml)
            .unwrap_or_else(|e| panic!("{e}\n--- the policy:\n{yaml}"));
        assert_policy(&parsed, &p);
        let json = to_json(&p);
        let parsed = policy::parse_strict(&json)
            .unwrap_or_else(|e| panic!("{e}\n--- the policy:\n{json}"));
        assert_policy(&parsed, &p);
    }

    /// Text made of policy pieces and YAML's sharp edges: never a panic; a refusal is a
    /// clean error.
    #[test]
    fn any_text_is_a_policy_or_a_clean_error(tokens in prop::collection::vec(yaml_token(), 0..40)) {
        let text = tokens.concat();
        if let Err(e) = policy::parse(&text) {
            assert_clean_error(&text, &e);
        }
        if let Err(e) = policy::parse_strict(&text) {
            assert_clean_error(&text, &e);
        }
    }

    /// A valid policy with pieces cut out, put in or doubled: never a panic; a refusal is a
    /// clean error.
    #[test]
    fn a_damaged_policy_is_read_or_refused_cleanly(
        p in gen_policy(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..3, yaml_token()), 1..5),
    ) {
        let mut chars: Vec<char> = to_yaml(&p).chars().collect();
        for (at, op, token) in edits {
            let i = at.index(chars.len() + 1);
            match op {
                0 => {
                    let end = (i + token.len()).min(chars.len());
                    chars.drain(i..end);
                }
                1 => {
                    chars.splice(i..i, token.chars());
                }
                _ => {
                    let start = chars[..i].iter().rposition(|&c| c == '\n').map_or(0, |s| s + 1);
                    let line: Vec<char> = chars[start..i].to_vec();
                    chars.splice(start..start, line);
                }
            }
        }
        let text: String = chars.into_iter().collect();
        if let Err(e) = policy::parse(&text) {
            assert_clean_error(&text, &e);
        }
    }
}

/// YAML built to exhaust a decoder: nesting past any stack, aliases that multiply, floods
/// of documents. Each is refused (or read) promptly, never a crash.
#[test]
fn policy_decoder_bombs_are_refused() {
    let deep_flow = format!(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let deep_block: String = (0..5_000)
        .map(|i| format!("{}- \n", " ".repeat(i * 2)))
        .collect();
    let mut laughs = String::from(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n",
    );
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        laughs.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
    }
    laughs.push_str("rules: *a9\n");
    let documents = "---\n".repeat(100_000);
    let long_key = format!("{}: 1\n", "k".repeat(3 << 20));
    for (name, text) in [
        ("deep flow nesting", deep_flow),
        ("deep block nesting", deep_block),
        ("billion laughs", laughs),
        ("a flood of documents", documents),
        ("a 3 MiB key", long_key),
    ] {
        match policy::parse(&text) {
            Ok(_) => panic!("{name}: read as a policy"),
            Err(e) => assert_clean_error(&text, &e),
        }
    }
}

/// Nested deeper than any audit event: refused, never a stack overflow.
#[test]
fn a_deeply_nested_line_is_no_event() {
    let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    assert!(events_in(deep.as_bytes()).is_none());
    let deep = format!(
        r#"{{"kind":"Event","user":{{"username":"{DECOY}"}},"x":{}{}}}"#,
        "{\"a\":".repeat(100_000),
        "}".repeat(100_000)
    );
    assert!(events_in(deep.as_bytes()).is_none());
}

/// Values from the file reach the terminal in messages: their control characters (an
/// escape sequence that clears the screen or recolours the verdict) are shown escaped.
#[test]
fn a_policy_cannot_put_control_characters_into_its_messages() {
    let head = "apiVersion: audit.k8s.io/v1\nkind: Policy\n";
    for text in [
        format!("{head}rules:\n- level: \"\\e[2J\\e[32mMetadata\"\n"),
        "apiVersion: \"\\e[2Jaudit.k8s.io/v1\"\nkind: Policy\nrules:\n- level: Metadata\n"
            .to_string(),
        "apiVersion: audit.k8s.io/v1\nkind: \"Policy\\a\"\nrules:\n- level: Metadata\n".to_string(),
        format!("{head}rules:\n- level: Metadata\n  \"\\e[2Jverbz\": [get]\n"),
        format!("{head}omitStages: [\"\\aPanic\"]\nrules:\n- level: Metadata\n"),
        format!("{head}rules:\n- level: Metadata\n  resources: [{{group: \"\\e[31m\"}}]\n"),
        format!("{head}rules:\n- level: Metadata\n  nonResourceURLs: [\"\\e[31m*x\"]\n"),
    ] {
        let error = policy::parse_strict(&text).expect_err(&text);
        assert_clean_error(&text, &error);
        let shown = error.to_string();
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
            "{shown:?}"
        );
    }
}
