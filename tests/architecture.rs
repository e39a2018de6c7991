//! The shape README's "Architecture" draws, checked on the source: which module imports
//! which, read from `use crate::…`, `super::…` and `crate::a::b` paths in `src/**/*.rs`.
//!
//! - Only `lib.rs` and the commands (`src/cmd/`) may import the command line (`cli`), the
//!   command-level error (`error`) or a command. The wings below take plain data and
//!   return their own errors; `error.rs` wraps them.
//! - A command never imports another.
//! - No import circle between the top-level modules (`cli`, `cluster`, `detect`, ...), nor
//!   between files. A parent module's use of its own submodules (declaring, re-exporting,
//!   calling them) does not count as an import: a child may use what its parent defines.
//! - `cli` may name wing types and constants (`Target`, `OutputFormat`, `BODY_LIMIT`): the
//!   flags are turned into plain options there. It is no circle, as no wing imports `cli`.
//!
//! Production code only: items under a top-level `#[cfg(test)]` (`mod tests`, test-only
//! files) are left out, as they are not part of the program. `main.rs` is its own crate
//! and uses only the library's public API.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Modules only `lib.rs` and the commands may import.
const TOP_ONLY: &[&str] = &["cli", "cmd", "error"];

/// One source file as a module: its path from the crate root (`[]` for lib.rs).
#[derive(Debug, Clone)]
struct File {
    path: String,
    module: Vec<String>,
    /// The code, without comments, string and char literals, and `#[cfg(test)]` items.
    code: String,
}

/// A reference from one file to a module path, where it was seen.
#[derive(Debug, Clone)]
struct Reference {
    target: Vec<String>,
    line: usize,
}

fn source_files() -> Vec<File> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    collect(&src, &mut paths);
    paths.sort();
    let mut files: Vec<File> = paths
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "main.rs") || p.parent() != Some(&*src))
        .map(|p| {
            let relative = p.strip_prefix(&src).unwrap();
            let mut module: Vec<String> = relative
                .with_extension("")
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            let text = std::fs::read_to_string(p).unwrap();
            File {
                path: format!("src/{}", relative.display()),
                module,
                code: without_tests(&blank_comments_and_literals(&text)),
            }
        })
        .collect();
    // Files declared with `#[cfg(test)] mod name;` are test code, and so is all below them.
    let test_only: Vec<Vec<String>> = files
        .iter()
        .flat_map(|f| {
            test_only_children(
                &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(&f.path))
                    .unwrap(),
            )
            .into_iter()
            .map(|child| {
                let mut m = f.module.clone();
                m.push(child);
                m
            })
            .collect::<Vec<_>>()
        })
        .collect();
    files.retain(|f| !test_only.iter().any(|t| f.module.starts_with(t)));
    files
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code with comments, strings and char literals turned into spaces (newlines kept, so
/// line numbers stay right).
fn blank_comments_and_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !ident_before(&chars[..i])
            && raw_string_hashes(&chars[i + 1..]).is_some()
        {
            let hashes = raw_string_hashes(&chars[i + 1..]).unwrap();
            let end: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let start = i;
            i += 2 + hashes;
            while i < chars.len() && !chars[i..].starts_with(&end.chars().collect::<Vec<_>>()) {
                i += 1;
            }
            i = (i + end.len()).min(chars.len());
            out.extend(chars[start..i].iter().map(|&c| blank(c)));
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && char_literal_len(&chars[i..]).is_some() {
            let len = char_literal_len(&chars[i..]).unwrap();
            out.extend(std::iter::repeat_n(' ', len));
            i += len;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// After `r`: how many `#` open a raw string (`r"`, `r#"`), if one opens.
fn raw_string_hashes(rest: &[char]) -> Option<usize> {
    let hashes = rest.iter().take_while(|&&c| c == '#').count();
    (rest.get(hashes) == Some(&'"')).then_some(hashes)
}

/// The length of a char literal at the start (`'a'`, `'\n'`, `'\u{1F600}'`), or None for a
/// lifetime.
fn char_literal_len(rest: &[char]) -> Option<usize> {
    if rest.get(1) == Some(&'\\') {
        let close = rest.iter().skip(3).position(|&c| c == '\'')?;
        return Some(close + 4);
    }
    (rest.get(2) == Some(&'\'')).then_some(3)
}

/// Whether the text before an `r` ends in an identifier (`for"` is none), not counting a
/// byte string's `b`.
fn ident_before(before: &[char]) -> bool {
    match before {
        ['b'] => false,
        [.., p, 'b'] => is_ident(*p),
        [.., p] => is_ident(*p),
        [] => false,
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The code without the items under a `#[cfg(test)]` at the start of a line: up to the
/// `;` of a one-line item, or to the next line that is `}` alone (rustfmt closes top-level
/// items so).
fn without_tests(code: &str) -> String {
    let mut out = Vec::new();
    let mut lines = code.lines();
    while let Some(line) = lines.next() {
        if line.trim_end() != "#[cfg(test)]" {
            out.push(line);
            continue;
        }
        out.push("");
        let mut one_line = None;
        for line in lines.by_ref() {
            out.push("");
            let item = line.trim_end();
            match one_line {
                None if item.starts_with("#[") => {}
                None => {
                    one_line = Some(item.ends_with(';'));
                    if item.ends_with(';') || item.ends_with('}') {
                        break;
                    }
                }
                Some(_) if item == "}" => break,
                Some(_) => {}
            }
        }
    }
    out.join("\n")
}

/// The submodules a file declares under `#[cfg(test)]` (`mod testing;`).
fn test_only_children(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0].trim_end() == "#[cfg(test)]")
        .filter_map(|w| {
            let item = w[1]
                .trim()
                .trim_start_matches("pub ")
                .trim_start_matches("pub(crate) ");
            let name = item.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.trim().to_string())
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Colons,
    Open,
    Close,
    Comma,
    Star,
    Semi,
    Other(char),
}

fn tokens(code: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if is_ident(c) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            // `r#type` is the identifier `type`.
            if word == "r"
                && chars.get(i) == Some(&'#')
                && chars.get(i + 1).is_some_and(|&c| is_ident(c))
            {
                i += 1;
                continue;
            }
            out.push((Token::Ident(word), line));
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push((Token::Colons, line));
            i += 2;
        } else {
            out.push((
                match c {
                    '{' => Token::Open,
                    '}' => Token::Close,
                    ',' => Token::Comma,
                    '*' => Token::Star,
                    ';' => Token::Semi,
                    other => Token::Other(other),
                },
                line,
            ));
            i += 1;
        }
    }
    out
}

/// The module a path's first segment starts from, as seen in `module` (a file's module
/// path): `crate`, `super`, `self`, a name a `use` brought in, or a submodule. None for
/// everything else (std, other crates, local names).
fn anchor(
    first: &str,
    module: &[String],
    aliases: &BTreeMap<String, Vec<String>>,
    children: &BTreeSet<String>,
) -> Option<Vec<String>> {
    match first {
        "crate" => Some(Vec::new()),
        "self" => Some(module.to_vec()),
        "super" => Some(module[..module.len().saturating_sub(1)].to_vec()),
        name if aliases.contains_key(name) => aliases.get(name).cloned(),
        name if children.contains(name) => {
            let mut m = module.to_vec();
            m.push(name.to_string());
            Some(m)
        }
        _ => None,
    }
}

/// Parses a use tree at `tokens[*at]` under `prefix`, adding each leaf path (with the name
/// it is brought in as) to `leaves`.
fn use_tree(
    tokens: &[(Token, usize)],
    at: &mut usize,
    prefix: Vec<String>,
    leaves: &mut Vec<(Vec<String>, Option<String>, usize)>,
) {
    let mut path = prefix;
    loop {
        match tokens.get(*at) {
            Some((Token::Open, _)) => {
                *at += 1;
                loop {
                    match tokens.get(*at) {
                        Some((Token::Close, _)) => {
                            *at += 1;
                            return;
                        }
                        Some((Token::Comma, _)) => *at += 1,
                        None => return,
                        _ => use_tree(tokens, at, path.clone(), leaves),
                    }
                }
            }
            Some((Token::Star, line)) => {
                leaves.push((path, None, *line));
                *at += 1;
                return;
            }
            Some((Token::Ident(name), line)) => {
                let line = *line;
                let leaf_name = if name == "self" {
                    path.last().cloned()
                } else {
                    path.push(name.clone());
                    Some(name.clone())
                };
                *at += 1;
                if matches!(tokens.get(*at), Some((Token::Colons, _))) {
                    *at += 1;
                    continue;
                }
                let mut bound = leaf_name;
                if matches!(tokens.get(*at), Some((Token::Ident(k), _)) if k == "as") {
                    if let Some((Token::Ident(alias), _)) = tokens.get(*at + 1) {
                        bound = Some(alias.clone());
                    }
                    *at += 2;
                }
                leaves.push((path, bound, line));
                return;
            }
            _ => return,
        }
    }
}

/// `base` followed by `segments`, each `super` going one module up.
fn walk(mut base: Vec<String>, segments: &[String]) -> Vec<String> {
    for segment in segments {
        if segment == "super" {
            base.pop();
        } else {
            base.push(segment.clone());
        }
    }
    base
}

/// Every module path a file refers to.
fn references(file: &File, children: &BTreeSet<String>) -> Vec<Reference> {
    let tokens = tokens(&file.code);
    let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut found = Vec::new();
    // `use` declarations first: they name what the rest of the file's paths start from.
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i].0 == Token::Ident("use".into()) {
            let mut at = i + 1;
            let mut leaves = Vec::new();
            use_tree(&tokens, &mut at, Vec::new(), &mut leaves);
            for (path, bound, line) in leaves {
                let Some(first) = path.first() else { continue };
                let Some(base) = anchor(first, &file.module, &BTreeMap::new(), children) else {
                    continue;
                };
                let target = walk(base, &path[1..]);
                if let Some(bound) = bound {
                    aliases.insert(bound, target.clone());
                }
                found.push(Reference { target, line });
            }
            i = at;
        } else {
            i += 1;
        }
    }
    // Then every path in the code: `crate::a::b`, `super::x`, `alias::y`, `child::z`.
    for i in 0..tokens.len() {
        let (Token::Ident(first), line) = &tokens[i] else {
            continue;
        };
        if !matches!(tokens.get(i + 1), Some((Token::Colons, _))) {
            continue;
        }
        let starts_path = match i.checked_sub(1).map(|p| &tokens[p].0) {
            Some(Token::Colons) => false,
            Some(Token::Other('$')) => false,
            Some(Token::Ident(kw)) if kw == "use" => false,
            _ => true,
        };
        if !starts_path {
            continue;
        }
        let Some(base) = anchor(first, &file.module, &aliases, children) else {
            continue;
        };
        let mut segments = Vec::new();
        let mut at = i + 2;
        while let Some((Token::Ident(segment), _)) = tokens.get(at) {
            segments.push(segment.clone());
            if !matches!(tokens.get(at + 1), Some((Token::Colons, _))) {
                break;
            }
            at += 2;
        }
        let target = walk(base, &segments);
        found.push(Reference {
            target,
            line: *line,
        });
    }
    found
}

/// The file module a path lands in: its longest prefix that is a file.
fn file_of<'a>(path: &[String], modules: &'a BTreeMap<Vec<String>, String>) -> &'a str {
    (0..=path.len())
        .rev()
        .find_map(|n| modules.get(&path[..n]))
        .map(String::as_str)
        .expect("lib.rs is the root of every path")
}

/// An edge with where it comes from: "src/cluster/locate.rs:10 crate::cli::GlobalArgs".
type Edges = BTreeMap<String, BTreeMap<String, String>>;

struct Graph {
    files: Edges,
    wings: Edges,
    /// Each file's first reference to each module only the top may import.
    top_only: Edges,
}

fn graph() -> Graph {
    let files = source_files();
    let modules: BTreeMap<Vec<String>, String> = files
        .iter()
        .map(|f| (f.module.clone(), f.path.clone()))
        .collect();
    let mut graph = Graph {
        files: Edges::new(),
        wings: Edges::new(),
        top_only: Edges::new(),
    };
    for file in &files {
        let children: BTreeSet<String> = files
            .iter()
            .filter(|f| {
                f.module.len() == file.module.len() + 1 && f.module.starts_with(&file.module)
            })
            .map(|f| f.module.last().unwrap().clone())
            .collect();
        graph.files.entry(file.path.clone()).or_default();
        for reference in references(file, &children) {
            let target = file_of(&reference.target, &modules);
            let target_module = files
                .iter()
                .find(|f| f.path == target)
                .unwrap()
                .module
                .clone();
            // A module's own submodules are part of it; the same file is no import.
            if target_module.starts_with(&file.module) {
                continue;
            }
            let evidence = format!(
                "{}:{} crate::{}",
                file.path,
                reference.line,
                reference.target.join("::")
            );
            graph
                .files
                .entry(file.path.clone())
                .or_default()
                .entry(target.to_string())
                .or_insert_with(|| evidence.clone());
            let Some(from) = file.module.first() else {
                continue;
            };
            // The crate root re-exports the command line and the error.
            let to = target_module.first().map_or("crate root", String::as_str);
            if from != "cmd" && (TOP_ONLY.contains(&to) || target_module.is_empty()) {
                graph
                    .top_only
                    .entry(file.path.clone())
                    .or_default()
                    .entry(target.to_string())
                    .or_insert_with(|| evidence.clone());
            }
            if from != to && !target_module.is_empty() {
                graph
                    .wings
                    .entry(from.clone())
                    .or_default()
                    .entry(to.to_string())
                    .or_insert(evidence);
            }
        }
    }
    graph
}

/// One circle per strongly connected part of the graph, each as the nodes in order, with
/// how many nodes that part has.
fn circles(edges: &Edges) -> Vec<(Vec<String>, usize)> {
    let nodes: BTreeSet<&String> = edges
        .keys()
        .chain(edges.values().flat_map(|targets| targets.keys()))
        .collect();
    let reaches = |from: &String| -> BTreeMap<String, String> {
        // Breadth first, remembering each node's predecessor.
        let mut before: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([from.clone()]);
        while let Some(node) = queue.pop_front() {
            for next in edges.get(&node).into_iter().flat_map(|t| t.keys()) {
                if !before.contains_key(next) {
                    before.insert(next.clone(), node.clone());
                    queue.push_back(next.clone());
                }
            }
        }
        before
    };
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut found = Vec::new();
    for node in nodes {
        if seen.contains(node) {
            continue;
        }
        let before = reaches(node);
        if !before.contains_key(node) {
            continue;
        }
        // The shortest way back to `node`.
        let mut circle = vec![node.clone()];
        let mut at = before[node].clone();
        while &at != node {
            circle.push(at.clone());
            at = before[&at].clone();
        }
        circle.reverse();
        circle.rotate_right(1);
        // Everything on a circle with `node` is reported with it.
        let mut part = 0;
        for other in before.keys() {
            if reaches(other).contains_key(node) {
                seen.insert(other.clone());
                part += 1;
            }
        }
        found.push((circle, part));
    }
    found
}

fn describe(circles: &[(Vec<String>, usize)], edges: &Edges) -> String {
    let mut text = String::new();
    for (circle, part) in circles {
        let _ = writeln!(text, "\n  {} -> {}", circle.join(" -> "), circle[0]);
        if *part > circle.len() {
            let _ = writeln!(
                text,
                "  ({part} in all are on circles with these; break this one and run again \
                 to see the next)"
            );
        }
        for (i, from) in circle.iter().enumerate() {
            let to = &circle[(i + 1) % circle.len()];
            let _ = writeln!(text, "    {from} -> {to}: {}", edges[from][to]);
        }
    }
    text
}

#[test]
fn only_the_commands_import_the_command_line_the_error_or_a_command() {
    let graph = graph();
    let found: Vec<&String> = graph.top_only.values().flat_map(|t| t.values()).collect();
    assert!(
        found.is_empty(),
        "only src/lib.rs and src/cmd/ may import {TOP_ONLY:?} (or the crate root); these \
         do (first use of each):\n  {}\n\
         A wing takes plain data and returns its own error; src/error.rs wraps it.",
        found
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

/// The command a file of `src/cmd/` belongs to: `plant` for `src/cmd/plant.rs` and for
/// its own submodules under `src/cmd/plant/`.
fn command_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("src/cmd/")?;
    let first = rest.split('/').next()?;
    Some(first.strip_suffix(".rs").unwrap_or(first))
}

#[test]
fn a_command_never_imports_another() {
    let graph = graph();
    let found: Vec<&String> = graph
        .files
        .iter()
        .filter_map(|(from, targets)| command_of(from).map(|command| (command, targets)))
        .flat_map(|(command, targets)| {
            targets
                .iter()
                .filter(move |(to, _)| command_of(to).is_some_and(|c| c != command))
        })
        .map(|(_, evidence)| evidence)
        .collect();
    assert!(
        found.is_empty(),
        "a command imports another; what two commands share belongs in a wing:\n  {}",
        found
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

#[test]
fn no_import_circle_between_top_level_modules() {
    let graph = graph();
    let circles = circles(&graph.wings);
    assert!(
        circles.is_empty(),
        "top-level modules import each other in a circle:{}",
        describe(&circles, &graph.wings)
    );
}

#[test]
fn no_import_circle_between_files() {
    let graph = graph();
    let circles = circles(&graph.files);
    assert!(
        circles.is_empty(),
        "files import each other in a circle:{}",
        describe(&circles, &graph.files)
    );
}

/// The reader finds what it must, so that the tests above are not vacuous.
#[test]
fn the_reader_sees_imports_in_every_form() {
    let file = |module: &[&str], text: &str| File {
        path: "src/x.rs".into(),
        module: module.iter().map(|s| s.to_string()).collect(),
        code: without_tests(&blank_comments_and_literals(text)),
    };
    let targets = |file: &File, children: &[&str]| -> Vec<String> {
        let children = children.iter().map(|s| s.to_string()).collect();
        references(file, &children)
            .into_iter()
            .map(|r| r.target.join("::"))
            .collect()
    };
    let seen = targets(
        &file(
            &["detect", "drill"],
            "use crate::{cluster::locate::Located, decoy::{self, tracking as t}};\n\
             use super::webhook::Receiver;\n\
             // crate::error::Error in a comment\n\
             fn f() { let s = \"crate::cli::Cli\"; t::mark(); crate::ui::progress::Spinner::start(); }\n\
             #[cfg(test)]\n\
             mod tests {\n    use crate::cmd::plant;\n}\n",
        ),
        &[],
    );
    for expected in [
        "cluster::locate::Located",
        "decoy",
        "decoy::tracking",
        "detect::webhook::Receiver",
        "ui::progress::Spinner::start",
    ] {
        assert!(
            seen.iter().any(|s| s == expected),
            "{expected} not in {seen:?}"
        );
    }
    for unexpected in ["error", "cli", "cmd"] {
        assert!(
            !seen.iter().any(|s| s.starts_with(unexpected)),
            "{unexpected} in {seen:?}"
        );
    }
    let seen = targets(
        &file(
            &["decoy"],
            "use tracking::{A, B};\nfn f() { profile::find(); }\n",
        ),
        &["tracking", "profile"],
    );
    assert!(seen.contains(&"decoy::tracking::A".to_string()), "{seen:?}");
    assert!(
        seen.contains(&"decoy::profile::find".to_string()),
        "{seen:?}"
    );

    let graph = graph();
    assert!(
        graph.files["src/cmd/plant.rs"].contains_key("src/cluster/locate.rs"),
        "{:?}",
        graph.files["src/cmd/plant.rs"]
    );
    assert!(graph.wings["cmd"].contains_key("cluster"));
    // A command's own submodules are that command; any other file of src/cmd/ is another.
    assert_eq!(command_of("src/cmd/plant/fleet.rs"), Some("plant"));
    assert_eq!(command_of("src/cmd/plant.rs"), Some("plant"));
    assert_eq!(command_of("src/cmd/status.rs"), Some("status"));
    assert_eq!(command_of("src/cluster/locate.rs"), None);
}
