//! The README, as a new user meets it, on the bed: the transcripts it shows (`console`
//! blocks) run and compared line by line, every other `kubectl honeytoken` example run in
//! the README's order with the substitutions the README itself names, and the documents
//! it shows (`<!-- output of: ... -->`) compared field by field with the bed's.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Each test plants the default decoy, kube-system/tiller, under a key of its own.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const EXAMPLES_SECTION: &str = "### Trying every example on the bed";

// ---- Reading the README ----

/// A fenced block: its language, the README line of its first line, its lines, the
/// `<!-- ... -->` comment right above it, and the heading it is under.
#[derive(Debug, Clone)]
struct Block {
    language: String,
    line: usize,
    lines: Vec<String>,
    note: Option<String>,
    heading: String,
}

fn blocks(readme: &str) -> Vec<Block> {
    let mut found = Vec::new();
    let mut open: Option<Block> = None;
    let mut heading = String::new();
    let mut previous = "";
    for (index, line) in readme.lines().enumerate() {
        if let Some(block) = open.as_mut() {
            if line.starts_with("```") {
                found.push(open.take().unwrap());
            } else {
                block.lines.push(line.to_string());
            }
        } else if let Some(language) = line.strip_prefix("```") {
            let note = previous
                .trim()
                .strip_prefix("<!--")
                .and_then(|rest| rest.strip_suffix("-->"))
                .map(|note| note.trim().to_string());
            open = Some(Block {
                language: language.trim().to_string(),
                line: index + 2,
                lines: Vec::new(),
                note,
                heading: heading.clone(),
            });
        } else if line.starts_with('#') {
            heading = line.to_string();
        }
        previous = line;
    }
    found
}

/// A command line without its trailing `# comment` (a `#` after a space, outside quotes),
/// and the comment.
fn strip_comment(line: &str) -> (String, Option<String>) {
    let mut quote = None;
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if previous.is_whitespace() => {
                return (
                    line[..at].trim_end().to_string(),
                    Some(line[at + 1..].trim().to_string()),
                );
            }
            _ => {}
        }
        previous = c;
    }
    (line.trim_end().to_string(), None)
}

/// One example: a `kubectl honeytoken` command line of a `sh` block (continuation lines
/// joined), its comment, where it is, and the heading it is under.
#[derive(Debug, Clone)]
struct Example {
    line: usize,
    heading: String,
    command: String,
    comment: String,
}

fn examples(blocks: &[Block]) -> Vec<Example> {
    let mut found = Vec::new();
    for block in blocks.iter().filter(|b| b.language == "sh") {
        let mut pending: Option<(usize, String, String)> = None;
        for (offset, raw) in block.lines.iter().enumerate() {
            let (text, comment) = strip_comment(raw);
            let (start, mut command, mut comments) =
                pending
                    .take()
                    .unwrap_or((block.line + offset, String::new(), String::new()));
            let continued = text.ends_with('\\');
            command.push_str(text.trim_end_matches('\\').trim());
            if let Some(comment) = comment {
                comments.push_str(&comment);
            }
            if continued {
                command.push(' ');
                pending = Some((start, command, comments));
            } else if command.contains("kubectl honeytoken") {
                found.push(Example {
                    line: start,
                    heading: block.heading.clone(),
                    command,
                    comment: comments,
                });
            }
        }
    }
    found
}

/// The text of the README section that starts at `heading`, up to the next heading.
fn section<'a>(readme: &'a str, heading: &str) -> &'a str {
    let start = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("the README has no section {heading}"));
    let rest = &readme[start + heading.len() + 2..];
    let end = rest.find("\n#").unwrap_or(rest.len());
    &rest[..end]
}

/// The substitutions the examples section lists: each `in the examples` text in backticks
/// with the first backticked text of its `on the bed` cell.
fn substitutions(readme: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for row in section(readme, EXAMPLES_SECTION)
        .lines()
        .filter(|line| line.starts_with("| `"))
    {
        let cells: Vec<String> = row
            .replace("\\|", "\u{1}")
            .split('|')
            .map(|cell| cell.replace('\u{1}', "|").trim().to_string())
            .collect();
        let (from, to) = (&cells[1], &cells[2]);
        let to = to.split('`').nth(1).expect("a replacement in backticks");
        for original in from.split('`').skip(1).step_by(2) {
            found.push((original.to_string(), to.to_string()));
        }
    }
    found
}

// ---- Comparing output ----

/// A line as its shape: everything a run decides (UIDs, times, durations, ports, a
/// Secret's generated suffix, drill IDs) is made the same, and column padding is two spaces.
fn shape(line: &str) -> String {
    let line = without_uuids(line);
    let mut out = String::new();
    let mut chars = line.trim_end().chars().peekable();
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if token.is_empty() {
            return;
        }
        let has_digit = token.chars().any(|c| c.is_ascii_digit());
        let all_digits = token.chars().all(|c| c.is_ascii_digit());
        if out.ends_with("-token-") && token.len() == 5
            || has_digit && !all_digits && token.len() >= 5
        {
            out.push('#');
        } else if has_digit {
            let mut last_digit = false;
            for c in token.chars() {
                if c.is_ascii_digit() {
                    if !last_digit {
                        out.push('0');
                    }
                    last_digit = true;
                } else {
                    out.push(c);
                    last_digit = false;
                }
            }
        } else {
            out.push_str(token);
        }
        token.clear();
    };
    while let Some(c) = chars.next() {
        if c.is_ascii_alphanumeric() {
            token.push(c);
            continue;
        }
        flush(&mut token, &mut out);
        if c == ' ' && chars.peek() == Some(&' ') {
            while chars.peek() == Some(&' ') {
                chars.next();
            }
            out.push_str("  ");
        } else {
            out.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

/// `line` with each UUID (8-4-4-4-12 hex digits) written `<uid>`.
fn without_uuids(line: &str) -> String {
    let is_uuid = |text: &[u8]| {
        text.len() >= 36
            && text[..36].iter().enumerate().all(|(at, &c)| match at {
                8 | 13 | 18 | 23 => c == b'-',
                _ => c.is_ascii_hexdigit(),
            })
    };
    let bytes = line.as_bytes();
    let mut out = String::new();
    let mut at = 0;
    while at < bytes.len() {
        if (at == 0 || !bytes[at - 1].is_ascii_alphanumeric()) && is_uuid(&bytes[at..]) {
            out.push_str("<uid>");
            at += 36;
        } else {
            let c = line[at..].chars().next().unwrap();
            out.push(c);
            at += c.len_utf8();
        }
    }
    out
}

/// Whether `actual` has the lines `shown` shows, in order: each run of lines between `...`
/// lines (rows of the same kind left out) appears whole, and without a leading or trailing
/// `...` the output starts or ends with it.
fn shows(shown: &[String], actual: &[String]) -> Result<(), String> {
    let shown: Vec<String> = shown.iter().map(|l| shape(l)).collect();
    let actual: Vec<String> = actual.iter().map(|l| shape(l)).collect();
    let runs: Vec<&[String]> = shown.split(|l| l == "...").collect();
    let mut at = 0;
    for (index, run) in runs.iter().enumerate() {
        if run.is_empty() {
            continue;
        }
        let anchored = index == 0;
        let found = (at..=actual.len().saturating_sub(run.len()))
            .take(if anchored { 1 } else { usize::MAX })
            .find(|&start| actual.get(start..start + run.len()) == Some(run));
        match found {
            Some(start) => at = start + run.len(),
            None => {
                return Err(format!(
                    "the README shows\n  {}\nand the output (from line {}) is\n  {}",
                    run.join("\n  "),
                    at + 1,
                    actual[at.min(actual.len())..].join("\n  ")
                ));
            }
        }
    }
    let open_end = runs.last().is_some_and(|run| run.is_empty());
    if !open_end && at != actual.len() {
        return Err(format!(
            "the output goes on where the README stops:\n  {}",
            actual[at..].join("\n  ")
        ));
    }
    Ok(())
}

/// The fields of a document as paths (`decoys[].verdict`), and the paths whose fields the
/// document leaves open (a `...` key or list item: "and more").
fn fields(value: &serde_json::Value) -> (BTreeSet<String>, BTreeSet<String>) {
    fn walk(
        value: &serde_json::Value,
        at: &str,
        paths: &mut BTreeSet<String>,
        open: &mut BTreeSet<String>,
    ) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    if key == "..." {
                        open.insert(at.to_string());
                        continue;
                    }
                    let path = if at.is_empty() {
                        key.clone()
                    } else {
                        format!("{at}.{key}")
                    };
                    paths.insert(path.clone());
                    walk(value, &path, paths, open);
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    if item.as_str() == Some("...") {
                        open.insert(format!("{at}[]"));
                    }
                    walk(item, &format!("{at}[]"), paths, open);
                }
            }
            _ => {}
        }
    }
    let (mut paths, mut open) = (BTreeSet::new(), BTreeSet::new());
    walk(value, "", &mut paths, &mut open);
    (paths, open)
}

/// The fields the README shows and the output has, alike: none missing from the README
/// (except below a `...`), none shown that the output lacks except `may_lack` (fields
/// present only in a case this run did not make).
fn same_fields(
    shown: &serde_json::Value,
    actual: &serde_json::Value,
    may_lack: &[&str],
) -> Result<(), String> {
    let (shown_paths, open) = fields(shown);
    let (actual_paths, _) = fields(actual);
    let under_open = |path: &str| {
        open.iter()
            .any(|prefix| path.starts_with(&format!("{prefix}.")) || path == prefix)
    };
    let unshown: Vec<&String> = actual_paths
        .difference(&shown_paths)
        .filter(|path| !under_open(path))
        .collect();
    let gone: Vec<&String> = shown_paths
        .difference(&actual_paths)
        .filter(|path| !may_lack.contains(&path.as_str()))
        .collect();
    if unshown.is_empty() && gone.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fields the output has and the README does not show: {unshown:?}\n\
             fields the README shows and the output does not have: {gone:?}\n\
             the output:\n{}",
            serde_json::to_string_pretty(actual).unwrap()
        ))
    }
}

fn document(language: &str, text: &str) -> serde_json::Value {
    match language {
        "json" => serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}:\n{text}")),
        _ => serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{e}:\n{text}")),
    }
}

// ---- Running things as a user would ----

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).unwrap()
}

/// A user's machine: a home of its own (so the key is at `~/.config/kubectl-honeytoken`),
/// a working folder holding the repository's `tests` and `deploy`, and PATH with the
/// plugin (as `cargo install` leaves it) and the bed's kubectl.
struct Workstation {
    home: tempfile::TempDir,
    work: tempfile::TempDir,
    _plugins: tempfile::TempDir,
    path: String,
    kubeconfig: PathBuf,
    /// Where commands run: the working folder, or the repository for a transcript that
    /// starts the bed (`up` writes the paths it is started from into the bed's kubeconfig).
    cwd: PathBuf,
}

impl Workstation {
    fn new(cluster: &support::Cluster) -> Workstation {
        let plugins = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_kubectl-honeytoken"),
            plugins.path().join("kubectl-honeytoken"),
        )
        .unwrap();
        let bin = cluster.bin_dir.as_ref().expect("the bed's kubectl");
        let path = format!(
            "{}:{}:{}",
            plugins.path().display(),
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let work = tempfile::tempdir().unwrap();
        for name in ["tests", "deploy"] {
            std::os::unix::fs::symlink(repo().join(name), work.path().join(name)).unwrap();
        }
        let kubeconfig = work.path().join("kubeconfig");
        std::fs::copy(&cluster.kubeconfig, &kubeconfig).unwrap();
        let home = tempfile::tempdir().unwrap();
        // What a krew install leaves, for the examples that put a file in its bin folder.
        std::fs::create_dir_all(home.path().join(".krew/bin")).unwrap();
        Workstation {
            home,
            cwd: work.path().to_path_buf(),
            work,
            _plugins: plugins,
            path,
            kubeconfig,
        }
    }

    fn bash(&self, script: &str) -> Command {
        let mut command = Command::new("bash");
        command
            .args(["-c", script])
            .current_dir(&self.cwd)
            .env("HOME", self.home.path())
            .env("PATH", &self.path)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HONEYTOKEN_AUDIT_LOG", support::cluster().audit_log_path())
            .env("NO_COLOR", "1")
            .env_remove("HONEYTOKEN_HOME")
            .env_remove("HONEYTOKEN_KEY")
            .env_remove("XDG_CONFIG_HOME")
            .stdin(Stdio::null());
        command
    }

    /// Runs `script`; exit code, stdout and stderr.
    fn run(&self, script: &str) -> (Option<i32>, String, String) {
        let output = self
            .bash(&format!("set -o pipefail\n{script}"))
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    fn must(&self, script: &str) -> String {
        let (code, stdout, stderr) = self.run(script);
        assert_eq!(code, Some(0), "{script}\n{stdout}\n{stderr}");
        stdout
    }

    /// Starts `command` (a `watch`), waits for its start line, and returns it with its
    /// stdout's lines as they come.
    fn start_watch(&self, command: &str) -> Watch {
        let mut child = self
            .bash(&format!("exec {command}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (lines, from_stdout) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let (said, from_stderr) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if said.send(line).is_err() {
                    break;
                }
            }
        });
        let mut watch = Watch {
            child,
            stdout: from_stdout,
            stderr: from_stderr,
            said: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !watch.said.contains("Ctrl-C stops") {
            let left = deadline.saturating_duration_since(Instant::now());
            match watch.stderr.recv_timeout(left) {
                Ok(line) => {
                    watch.said.push_str(&line);
                    watch.said.push('\n');
                }
                Err(_) => panic!("`{command}` did not start:\n{}", watch.said),
            }
        }
        watch
    }
}

struct Watch {
    child: std::process::Child,
    stdout: std::sync::mpsc::Receiver<String>,
    stderr: std::sync::mpsc::Receiver<String>,
    said: String,
}

impl Watch {
    fn next_line(&self, within: Duration) -> Option<String> {
        self.stdout.recv_timeout(within).ok()
    }

    /// Ctrl-C's SIGTERM twin; the exit code and what it said on stderr.
    fn stop(mut self) -> (Option<i32>, String) {
        // SAFETY: kill(2) on the child's own pid, which has not been waited for yet.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(5)) {
            self.said.push_str(&line);
            self.said.push('\n');
        }
        (status.code(), self.said)
    }
}

/// What a test plants under its key, removed at the end whatever happened.
struct Removes<'a> {
    workstation: &'a Workstation,
    namespaces: Vec<&'static str>,
    /// What examples made besides decoys, deleted by these commands.
    also: Vec<&'static str>,
}

impl Drop for Removes<'_> {
    fn drop(&mut self) {
        let _ = self
            .workstation
            .run("kubectl honeytoken remove --yes >/dev/null 2>&1");
        for command in &self.also {
            let _ = self.workstation.run(command);
        }
        for namespace in &self.namespaces {
            let _ = self.workstation.run(&format!(
                "kubectl delete namespace {namespace} --ignore-not-found --timeout=120s"
            ));
        }
    }
}

/// The README's own token: what an attacker does with it, listing Secrets in the decoy's
/// namespace with the bed's kubectl (refused, and audited).
fn attack(workstation: &Workstation) {
    let token = workstation.must(
        "kubectl -n kube-system get secret \"$(kubectl honeytoken status -o json | \
         python3 -c 'import json,sys; print([d[\"secret\"] for d in json.load(sys.stdin)[\"decoys\"] \
         if d[\"serviceAccount\"] == \"tiller\"][0])')\" -o jsonpath='{.data.token}' | base64 -d",
    );
    let (code, _, stderr) = workstation.run(&format!(
        "kubectl --context admin --token '{token}' -n kube-system get secrets"
    ));
    assert_ne!(code, Some(0), "the decoy token listed Secrets");
    assert!(
        stderr.contains("Forbidden") || stderr.contains("forbidden"),
        "{stderr}"
    );
}

// ---- The tests ----

#[test]
fn the_readme_transcripts_are_what_the_bed_prints() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = support::cluster();
    assert!(
        cluster.bin_dir.is_some(),
        "the quickstart starts the bed; it cannot run with HONEYTOKEN_TEST_KUBECONFIG"
    );
    let readme = readme();
    let transcripts: Vec<Block> = blocks(&readme)
        .into_iter()
        .filter(|b| b.language == "console")
        .collect();
    assert!(transcripts.len() >= 2, "{transcripts:?}");
    let quickstart = &transcripts[0];
    let commands: Vec<&str> = quickstart
        .lines
        .iter()
        .filter_map(|l| l.strip_prefix("$ "))
        .collect();
    for step in ["plant", "verify", "test-trigger", "status", "remove"] {
        assert!(
            commands
                .iter()
                .any(|c| c.starts_with(&format!("kubectl honeytoken {step}"))),
            "the quickstart does not run {step}: {commands:?}"
        );
    }

    for transcript in &transcripts {
        let mut workstation = Workstation::new(cluster);
        if transcript
            .lines
            .iter()
            .any(|l| l.contains("tests/controlplane/up"))
        {
            workstation.cwd = repo().to_path_buf();
        }
        let _removes = Removes {
            workstation: &workstation,
            namespaces: vec![],
            also: vec![],
        };
        // Transcripts of a command that needs a decoy show that command alone.
        let plants = transcript
            .lines
            .iter()
            .any(|l| l.starts_with("$ kubectl honeytoken plant"));
        if !plants {
            workstation.must("kubectl honeytoken plant --yes 2>/dev/null >/dev/null");
        }
        // One script, so that `eval` carries over; each command's output (stderr with
        // stdout, as a terminal shows them) after a separator line.
        let mut script = String::from("set -euo pipefail\n");
        let mut shown: Vec<(String, Vec<String>)> = Vec::new();
        for line in &transcript.lines {
            if let Some(command) = line.strip_prefix("$ ") {
                shown.push((command.to_string(), Vec::new()));
                if !command.starts_with("cargo install") {
                    script.push_str(&format!("echo '\u{1e}'\n{command} 2>&1\n"));
                } else {
                    script.push_str("echo '\u{1e}'\n");
                }
            } else if let Some((_, lines)) = shown.last_mut() {
                lines.push(line.clone());
            }
        }
        let (code, stdout, stderr) = workstation.run(&script);
        let places = [
            repo().display().to_string(),
            workstation.work.path().display().to_string(),
        ];
        let mut stdout = stdout;
        for place in places {
            stdout = stdout.replace(&place, "/home/you/kubectl-honeytoken");
        }
        assert_eq!(
            code,
            Some(0),
            "the transcript at README line {} failed:\n{stdout}\n{stderr}",
            transcript.line
        );
        let outputs: Vec<&str> = stdout.split("\u{1e}\n").skip(1).collect();
        assert_eq!(outputs.len(), shown.len(), "{stdout}");
        for ((command, lines), output) in shown.iter().zip(outputs) {
            let mut expected = lines.clone();
            while expected.last().is_some_and(|l| l.is_empty()) {
                expected.pop();
            }
            let actual: Vec<String> = output.trim_end().lines().map(String::from).collect();
            let actual = if output.trim().is_empty() {
                Vec::new()
            } else {
                actual
            };
            if let Err(why) = shows(&expected, &actual) {
                panic!("README line {}: $ {command}\n{why}", transcript.line);
            }
        }
    }
}

const OPERATOR: &str = "the bed's `operator` context may not read apps, where decoys of this key \
     were planted (deploy/operator-rbac.yaml): its row is FAILED with the reason, and exit 1";

/// The exit codes an example may have on the bed where 0 is not the one, and why.
const NOT_ZERO: &[(&str, &str, &[i32], &str)] = &[
    (
        "### verify",
        "kubectl honeytoken verify --e2e",
        &[5],
        "no audit log to read on the bed: that example is for EKS, GKE and AKS",
    ),
    (
        "### verify",
        "kubectl honeytoken verify --e2e --listen 127.0.0.1:9443",
        &[5],
        "the bed's API server sends its audit webhook to no address unless it is started \
         with HONEYTOKEN_AUDIT_WEBHOOK_URL (tests/verify.rs proves the webhook path)",
    ),
    (
        "### verify",
        "kubectl honeytoken verify -o json",
        &[5],
        "the bed's audit policy is not where verify can read it",
    ),
    (
        "### scan",
        "kubectl honeytoken scan \"$HONEYTOKEN_AUDIT_LOG\"",
        &[0, 3],
        "the bed's audit log holds every use other tests made of kube-system/tiller (the \
         user name is the same under every key): a use that is not a drill exits 3",
    ),
    (
        "### scan",
        "kubectl honeytoken scan audit-1.log.gz -o json",
        &[0, 3],
        "as above",
    ),
    (
        "### scan",
        "zcat audit-1.log.gz | kubectl honeytoken scan --user system:serviceaccount:kube-system:tiller",
        &[0, 3],
        "as above",
    ),
    (
        "## Fleets",
        "kubectl honeytoken status --all-contexts",
        &[1],
        OPERATOR,
    ),
    (
        "## Fleets",
        "kubectl honeytoken status --all-contexts --skip-context 'kind-*' --skip-context '*-sandbox'",
        &[1],
        OPERATOR,
    ),
    (
        "### Upgrade and uninstall",
        "kubectl honeytoken status --all-contexts",
        &[1],
        OPERATOR,
    ),
    (
        "### Upgrade and uninstall",
        "kubectl honeytoken remove --all-contexts --yes",
        &[1],
        OPERATOR,
    ),
    (
        "## Fleets",
        "kubectl honeytoken verify --all-contexts -o json > audit-coverage.json",
        &[5],
        "the bed's audit policy is not where verify can read it",
    ),
];

/// The answers an example asks for on a terminal.
fn answers(command: &str) -> Vec<(&'static str, &'static [u8])> {
    match command {
        "kubectl honeytoken plant" => vec![
            ("Decoy profile", b"\r"),
            ("Namespace", b"\r"),
            ("Service account name", b"\r"),
            ("Plant this decoy?", b"y"),
        ],
        "kubectl honeytoken remove" => vec![("?", b"y")],
        other => panic!("no answers for `{other}` on a terminal"),
    }
}

#[test]
fn every_readme_example_runs_on_the_bed() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = support::cluster();
    let readme = readme();
    let all = blocks(&readme);
    let examples = examples(&all);
    assert!(examples.len() >= 50, "{examples:#?}");
    let substitutions = substitutions(&readme);
    for (original, _) in &substitutions {
        assert!(
            examples
                .iter()
                .any(|e| e.command.contains(original.as_str())),
            "the README substitutes `{original}`, which no example uses"
        );
    }
    let workstation = Workstation::new(cluster);
    let _removes = Removes {
        workstation: &workstation,
        namespaces: vec!["apps"],
        // `rbac | kubectl apply -f -` and "Running a watcher".
        also: vec![
            "kubectl -n kube-system delete serviceaccount,role,rolebinding secret-label-sync --ignore-not-found",
        ],
    };

    // The set-up the examples section gives, as written.
    let setup = all
        .iter()
        .find(|b| b.heading == EXAMPLES_SECTION && b.language == "sh")
        .expect("the examples section shows its set-up");
    workstation.must(&setup.lines.join("\n"));
    // The files the examples name: the README's own, and the ones the section lists.
    for block in all.iter().filter(|b| b.note.is_some()) {
        if let Some(name) = block.note.as_deref().unwrap().strip_prefix("file: ") {
            std::fs::write(
                workstation.work.path().join(name),
                block.lines.join("\n") + "\n",
            )
            .unwrap();
        }
    }
    let pki = support::pki::Pki::new();
    workstation.must(&format!(
        "mkdir -p profiles && cp ci-deployer.yaml profiles/\n\
         gzip -c \"$HONEYTOKEN_AUDIT_LOG\" > audit-1.log.gz\n\
         kubectl config --kubeconfig ops.kubeconfig set-cluster ops --server https://10.0.0.1:6443\n\
         kubectl config --kubeconfig ops.kubeconfig set-credentials ops --token ops-token\n\
         kubectl config --kubeconfig ops.kubeconfig set-context ops --cluster ops --user ops\n\
         cp {cert} tls.crt && cp {key} tls.key\n\
         cp {ca} apiserver-ca.crt && cp {ca} monitoring-ca.crt\n\
         head -c 24 /dev/urandom | base64 > audit-webhook.token\n\
         cp audit-webhook.token hook-token\n\
         echo 'alerts:a-password' > am-auth",
        cert = pki.path("server.crt"),
        key = pki.path("server.key"),
        ca = pki.path("ca.crt"),
    ));

    // Removing comes last, each after the plant examples have run again (plant of what is
    // already there changes nothing).
    let replant: Vec<Example> = examples
        .iter()
        .filter(|e| e.heading == "### plant" && !e.comment.contains("on a terminal"))
        .cloned()
        .collect();
    let removing = ["### remove", "### Upgrade and uninstall"];
    let mut order: Vec<Example> = examples
        .iter()
        .filter(|e| !removing.contains(&e.heading.as_str()))
        .cloned()
        .collect();
    for heading in removing {
        order.extend(replant.iter().cloned());
        order.extend(examples.iter().filter(|e| e.heading == heading).cloned());
    }

    let mut ran = 0;
    let mut failures = Vec::new();
    for example in &order {
        let mut command = example.command.clone();
        for (original, replacement) in &substitutions {
            command = command.replace(original.as_str(), replacement);
        }
        if command.starts_with("cargo install") {
            continue;
        }
        let expected = NOT_ZERO
            .iter()
            .find(|(heading, line, _, _)| *heading == example.heading && *line == command)
            .map_or(&[0][..], |(_, _, codes, _)| codes);
        let place = format!(
            "README line {} ({}): {command}",
            example.line, example.heading
        );
        let (code, transcript) = if command.starts_with("kubectl honeytoken watch ") {
            let watch = workstation.start_watch(&command);
            watch.stop()
        } else if example.comment.contains("on a terminal") {
            let mut on_terminal = workstation.bash(&command);
            on_terminal.env("TERM", "xterm");
            let asked = answers(&command);
            let (code, screen, answered) =
                support::terminal::on_a_terminal(&on_terminal, &asked, Duration::from_secs(120));
            if !answered {
                failures.push(format!("{place}: a question was never asked:\n{screen}"));
            }
            (code, screen)
        } else if let Some(shell) = ["zsh", "fish"]
            .into_iter()
            .find(|shell| command.contains(&format!("completion {shell}")))
        {
            // Loaded in the shell it is for, as its startup file would (zsh after compinit).
            let script = match shell {
                "zsh" => format!("autoload -U compinit && compinit -u && {command}"),
                _ => command.clone(),
            };
            let mut in_shell = Command::new(shell);
            in_shell
                .args(["-c", &script])
                .current_dir(workstation.work.path())
                .stdin(Stdio::null());
            for (key, value) in workstation.bash("").get_envs() {
                match value {
                    Some(value) => in_shell.env(key, value),
                    None => in_shell.env_remove(key),
                };
            }
            let output = in_shell.output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            if !stderr.is_empty() {
                failures.push(format!("{place}: said on stderr:\n{stderr}"));
            }
            (output.status.code(), stderr)
        } else {
            let (code, stdout, stderr) = workstation.run(&command);
            (code, format!("stdout:\n{stdout}\nstderr:\n{stderr}"))
        };
        if !code.is_some_and(|c| expected.contains(&c)) {
            failures.push(format!(
                "{place}: exit {code:?}, not {expected:?}\n{transcript}"
            ));
        }
        ran += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} examples failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(ran >= 50, "only {ran} examples ran");
}

/// Fields a document of the README shows that this run's output has no cause to carry.
const MAY_LACK: &[(&str, &[&str])] = &[(
    "kubectl honeytoken test-trigger -n apps -o yaml",
    &[
        // Only a decoy that could not be drilled has a message.
        "decoys[].message",
        // Left out when the operator may read every profile's namespace.
        "notLookedIn",
    ],
)];

#[test]
fn the_readme_documents_are_what_the_bed_prints() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = support::cluster();
    let readme = readme();
    let documents: Vec<Block> = blocks(&readme)
        .into_iter()
        .filter(|b| {
            b.note
                .as_deref()
                .is_some_and(|n| n.starts_with("output of: "))
        })
        .collect();
    assert!(documents.len() >= 5, "{documents:#?}");
    // Every document with a schema version is one the bed's output is compared with.
    for block in blocks(&readme) {
        let text = block.lines.join("\n");
        if (text.contains("schemaVersion") || text.contains("HoneytokenAlert"))
            && block.language != "sh"
        {
            assert!(
                block.note.is_some(),
                "README line {}: a document with no `<!-- output of: ... -->`",
                block.line
            );
        }
    }

    let workstation = Workstation::new(cluster);
    let _removes = Removes {
        workstation: &workstation,
        namespaces: vec!["apps"],
        also: vec![],
    };
    workstation.must("kubectl honeytoken plant --yes >/dev/null 2>&1");

    let substitutions = substitutions(&readme);
    for block in &documents {
        let note = block.note.as_deref().unwrap();
        let command = note.strip_prefix("output of: ").unwrap();
        let (command, used) = match command.split_once(", when the decoy's token lists Secrets") {
            Some((command, _)) => (command.to_string(), true),
            None => (command.to_string(), false),
        };
        let mut command = command;
        for (original, replacement) in &substitutions {
            command = command.replace(original.as_str(), replacement);
        }
        // A document of `-n apps` is of decoys planted there for it, and only then.
        let in_apps = command.contains("-n apps");
        if in_apps {
            workstation.must(
                "kubectl honeytoken plant --yes -n apps --create-namespace \
                 --profile argocd-manager --profile headlamp-admin >/dev/null 2>&1",
            );
        }
        let output = if used {
            let watch = workstation.start_watch(&command);
            // The API server does not stamp a token it authenticated in the last 10 s.
            std::thread::sleep(Duration::from_secs(11));
            attack(&workstation);
            let alert = watch.next_line(Duration::from_secs(60));
            let (code, said) = watch.stop();
            assert_eq!(code, Some(0), "{command}\n{said}");
            alert.unwrap_or_else(|| panic!("{command}: no alert\n{said}"))
        } else {
            workstation.must(&format!("{command} 2>/dev/null"))
        };
        if in_apps {
            workstation.must("kubectl honeytoken remove -n apps --yes >/dev/null 2>&1");
        }
        let shown = block.lines.join("\n");
        let place = format!("README line {}: {note}", block.line);
        let lines_shown = block.lines.iter().any(|l| l == "...");
        if lines_shown {
            let actual: Vec<String> = output.lines().map(String::from).collect();
            if let Err(why) = shows(&block.lines, &actual) {
                panic!("{place}\n{why}");
            }
        } else {
            let may_lack = MAY_LACK
                .iter()
                .find(|(c, _)| *c == command)
                .map_or(&[][..], |(_, fields)| fields);
            let actual = document(if used { "json" } else { &block.language }, &output);
            let shown = document(&block.language, &shown);
            if let Err(why) = same_fields(&shown, &actual, may_lack) {
                panic!("{place}\n{why}");
            }
        }
    }
}

// ---- The comparisons themselves ----

#[test]
fn a_shape_ignores_what_each_run_decides_and_keeps_the_words() {
    assert_eq!(
        shape("secret/tiller-token-974sx created (uid 404806d5-1165-4bc8-8531-27bcdc7cab64)"),
        shape("secret/tiller-token-bwxhh created (uid a91161a0-d06e-4901-a069-6dbfea524c8e)")
    );
    assert_eq!(
        shape("kube-system/tiller  tiller   2026-11-28 19:11 UTC  never      armed"),
        shape("kube-system/tiller  tiller  2026-12-03 08:02 UTC  never  armed   ")
    );
    assert_eq!(
        shape("fired (stamped 2026-11-28, seen 7 ms after) on https://127.0.0.1:42999"),
        shape("fired (stamped 2026-12-03, seen 14 ms after) on https://127.0.0.1:5001")
    );
    assert_ne!(shape("never  armed"), shape("never  TRIPPED"));
    assert_ne!(shape("6/6 arrived"), shape("6/6 arrived late"));
    assert_ne!(shape("CODE  RESULT"), shape("CODE RESULT"));
}

#[test]
fn shown_lines_match_in_order_with_elisions_and_nothing_unshown() {
    let lines = |text: &str| -> Vec<String> { text.lines().map(String::from).collect() };
    let actual = lines("HEAD\na 1\na 2\na 3\nb\nsummary");
    assert!(shows(&lines("HEAD\na 1\n...\nb\nsummary"), &actual).is_ok());
    assert!(shows(&lines("HEAD\n...\nsummary"), &actual).is_ok());
    assert!(shows(&lines("HEAD\na 1\n..."), &actual).is_ok());
    // Out of order, a line the output lacks, the output going on, a missing first line.
    assert!(shows(&lines("HEAD\n...\nb\na 1\n...\n"), &actual).is_err());
    assert!(shows(&lines("HEAD\n...\nc\n...\n"), &actual).is_err());
    assert!(shows(&lines("HEAD\na 1\na 2"), &actual).is_err());
    assert!(shows(&lines("a 1\n..."), &actual).is_err());
}

#[test]
fn documents_have_the_same_fields_unless_left_open() {
    let shown =
        serde_json::json!({"a": 1, "list": [{"b": 1, "c": {"...": null}}], "open": ["..."]});
    let same = serde_json::json!({"a": 2, "list": [{"b": 3, "c": {"d": 1}}], "open": [{"x": 1}]});
    assert!(same_fields(&shown, &same, &[]).is_ok());
    let more = serde_json::json!({"a": 2, "new": 1, "list": [], "open": []});
    let why = same_fields(&shown, &more, &["list[].b", "list[].c"]).unwrap_err();
    assert!(why.contains("\"new\""), "{why}");
    let less = serde_json::json!({"list": [{"b": 1, "c": {}}], "open": []});
    assert!(
        same_fields(&shown, &less, &[])
            .unwrap_err()
            .contains("\"a\"")
    );
    assert!(same_fields(&shown, &less, &["a"]).is_ok());
}

#[test]
fn examples_are_the_plugins_command_lines_of_sh_blocks() {
    let readme = "# T\n\n```sh\nkubectl honeytoken plant --yes   # no questions\n\
                  kubectl honeytoken watch --listen 127.0.0.1:8443 \\\n    --user x   # long\n\
                  curl -s localhost:9090/readyz\nkubectl honeytoken rules --for 'a#b'\n```\n\
                  <!-- file: x.yaml -->\n```yaml\na: 1\n```\n";
    let blocks = blocks(readme);
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[1].note.as_deref(), Some("file: x.yaml"));
    let found = examples(&blocks);
    let commands: Vec<&str> = found.iter().map(|e| e.command.as_str()).collect();
    assert_eq!(
        commands,
        [
            "kubectl honeytoken plant --yes",
            "kubectl honeytoken watch --listen 127.0.0.1:8443 --user x",
            "kubectl honeytoken rules --for 'a#b'",
        ]
    );
    assert_eq!(found[0].comment, "no questions");
    assert_eq!(found[1].line, 5);
}
