//! Tables as people see them: on a terminal 80 and 120 columns wide with colour on, and
//! in a pipe. The terminal is a real pseudo-terminal (`script`), sized with `stty`.

mod support;

use std::process::Command;

use support::{Plugin, cluster, planted};

/// Text without its colour: every `ESC [ ... letter` sequence removed.
fn without_colour(text: &str) -> String {
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// What the plugin prints on stdout when stdout is a terminal `columns` wide (stderr goes
/// to a file), with colour on, and its exit code.
fn on_a_terminal(plugin: &Plugin, columns: usize, args: &[&str]) -> (String, Option<i32>) {
    let base = plugin.command(args);
    let errors = tempfile::NamedTempFile::new().unwrap();
    let quoted: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_kubectl-honeytoken"))
        .chain(args.iter().copied())
        .chain(["--color", "always"])
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let line = format!(
        "stty cols {columns} rows 60; exec {} 2>'{}'",
        quoted.join(" "),
        errors.path().display()
    );
    let mut script = Command::new("script");
    script.args(["-qec", &line, "/dev/null"]);
    for (key, value) in base.get_envs() {
        match value {
            Some(value) => script.env(key, value),
            None => script.env_remove(key),
        };
    }
    let output = script.output().expect("run script");
    let text = String::from_utf8_lossy(&output.stdout).replace('\r', "");
    plugin.transcript.borrow_mut().push_str(&format!(
        "$ (on a {columns}-column terminal) kubectl honeytoken {}\n{text}{}",
        args.join(" "),
        std::fs::read_to_string(errors.path()).unwrap_or_default()
    ));
    (text, output.status.code())
}

/// Lines of prose around the tables (headings, verdicts, summaries), which may run as
/// long as a sentence does: a terminal wraps prose.
const PROSE: [&str; 6] = [
    "Decoy user ",
    "every critical check",
    "a critical check",
    "Drill ",
    "Drilled ",
    "Tripwire: ",
];

/// The lines of the tables printed on a terminal `columns` wide: none wider, none ending
/// in spaces, colour on and never counted in a width. Returns the text without colour.
#[track_caller]
fn assert_fits(text: &str, columns: usize) -> String {
    assert!(text.contains('\u{1b}'), "colour is on: {text:?}");
    let plain = without_colour(text);
    let tables = plain
        .lines()
        .filter(|l| !PROSE.iter().any(|p| l.starts_with(p)));
    for line in tables {
        assert!(
            line.chars().count() <= columns,
            "a line is wider than {columns} columns:\n{line}\n\n{plain}"
        );
        assert_eq!(line, line.trim_end(), "trailing spaces:\n{plain}");
    }
    plain
}

/// The words of `cells`, each of which must be printed whole (on one line), or cut short
/// with `…` on a narrow terminal, never broken over two lines.
#[track_caller]
fn assert_whole(plain: &str, cells: &[&str]) {
    let shown: Vec<&str> = plain.split_whitespace().collect();
    for word in cells
        .iter()
        .flat_map(|c| c.split(' '))
        .filter(|w| !w.is_empty())
    {
        let whole = shown.contains(&word);
        let cut = shown.iter().any(|s| {
            s.strip_suffix('…')
                .is_some_and(|head| !head.is_empty() && word.starts_with(head))
        });
        assert!(whole || cut, "{word:?} is broken over lines:\n{plain}");
    }
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn tables_fit_a_terminal_with_colour_on_and_are_compact_in_a_pipe() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let plugin = Plugin::new(cluster);
    let (namespace, secret) = planted(&plugin, &admin, "tables").await;
    let op = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["--context".to_string(), "operator".into(), "-n".into()];
        full.push(namespace.clone());
        full.extend(args.iter().map(|a| a.to_string()));
        full
    };
    let decoy = format!("{namespace}/tiller");

    // status
    let status = op(&["status"]);
    let json = plugin.run(&strs(&op(&["status", "-o", "json"])));
    json.assert_code(0);
    let planted_at = json.json()["decoys"][0]["plantedAt"]
        .as_str()
        .unwrap()
        .to_string();
    let day = &planted_at[..10];
    for columns in [80, 120] {
        let (text, code) = on_a_terminal(&plugin, columns, &strs(&status));
        assert_eq!(code, Some(0), "{text}");
        let plain = assert_fits(&text, columns);
        let header = plain.lines().next().unwrap();
        assert!(header.starts_with("DECOY  "), "{plain}");
        assert!(header.contains("LAST USED"), "{plain}");
        assert_whole(&plain, &[&decoy, "never armed", day, "UTC"]);
        // Colour does not glue cells together: `never` stands apart from `armed`.
        assert!(
            plain
                .lines()
                .any(|l| l.contains("never  ") && l.contains("armed")),
            "{plain}"
        );
    }
    let piped = plugin.run(&strs(&status));
    piped.assert_code(0);
    let rows: Vec<&str> = piped.stdout.lines().collect();
    assert_eq!(rows.len(), 2, "one line a row in a pipe:\n{}", piped.stdout);
    assert!(!piped.stdout.contains('\u{1b}'), "{}", piped.stdout);
    assert!(rows[0].starts_with("DECOY"), "{}", piped.stdout);
    // No padding: the armed row ends with its verdict (its reason is empty).
    assert!(rows[1].ends_with("armed"), "{}", piped.stdout);
    assert!(rows[1].contains(" UTC "), "{}", piped.stdout);
    let wide = plugin.run(&strs(&op(&["status", "-o", "wide"])));
    wide.assert_code(0);
    for title in ["ACCOUNT", "SECRET", "TOKEN", "VALID", "RBAC"] {
        assert!(wide.stdout.contains(title), "{}", wide.stdout);
    }

    // verify: which checks are critical, in a pipe and on a terminal.
    let policy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/controlplane/audit-policy.yaml"
    );
    let verify = op(&["verify", "--policy", policy]);
    let document = plugin.run(&strs(&op(&["verify", "--policy", policy, "-o", "json"])));
    let checks = document.json()["checks"].as_array().unwrap().clone();
    let piped = plugin.run(&strs(&verify));
    assert_eq!(piped.code, document.code, "{}", piped.stdout);
    let lines: Vec<&str> = piped.stdout.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.starts_with("CHECK"))
        .unwrap_or_else(|| panic!("{}", piped.stdout));
    let critical_at = lines[header].find("CRITICAL").expect("a CRITICAL column");
    let result_at = lines[header].find("RESULT").unwrap();
    let rows = &lines[header + 1..header + 1 + checks.len()];
    for (row, check) in rows.iter().zip(&checks) {
        // In a pipe nothing wraps: each check is one line, in the document's order.
        assert!(
            row.starts_with(check["title"].as_str().unwrap()),
            "{row}\n{}",
            piped.stdout
        );
        assert_eq!(row, &row.trim_end(), "{}", piped.stdout);
        let marked = if check["critical"] == true {
            "yes"
        } else {
            "no "
        };
        assert_eq!(
            &row[critical_at..critical_at + 3],
            marked,
            "{}",
            piped.stdout
        );
        assert!(
            row[result_at..].starts_with(check["status"].as_str().unwrap()),
            "{}",
            piped.stdout
        );
    }
    let verdict = lines[header + 1 + checks.len()];
    if piped.code == Some(5) {
        assert!(
            verdict.starts_with("a critical check did not pass: "),
            "{}",
            piped.stdout
        );
    } else {
        assert_eq!(verdict, "every critical check passed", "{}", piped.stdout);
    }
    for columns in [80, 120] {
        let (text, code) = on_a_terminal(&plugin, columns, &strs(&verify));
        assert_eq!(code, piped.code, "{text}");
        let plain = assert_fits(&text, columns);
        assert!(plain.contains("CRITICAL"), "{plain}");
        let titles: Vec<&str> = checks
            .iter()
            .map(|c| c["title"].as_str().unwrap())
            .collect();
        assert_whole(&plain, &titles);
    }

    // test-trigger: the drill's table and the row per decoy.
    let log = cluster.audit_log_path().display().to_string();
    let (text, code) = on_a_terminal(
        &plugin,
        80,
        &strs(&op(&["test-trigger", "--audit-log", &log])),
    );
    assert_eq!(code, Some(0), "{text}");
    let plain = assert_fits(&text, 80);
    assert!(plain.contains("REQUEST"), "{plain}");
    assert_whole(
        &plain,
        &[
            "GET /api",
            "403",
            "not expected (tripwire)",
            "(ResponseComplete)",
            &decoy,
        ],
    );

    // scan: the drill's requests, and an attacker's, found in the audit log.
    let token = support::token_of(&admin, &namespace, &secret).await;
    let attacker = cluster.list_secrets_with_token(&token, &namespace);
    assert!(
        !attacker.status.success(),
        "the decoy token could list Secrets"
    );
    let scan = op(&["scan", &log]);
    let mut report = serde_json::Value::Null;
    for _ in 0..50 {
        let run = plugin.run(&strs(&op(&["scan", &log, "-o", "json"])));
        report = run.json();
        if report["realUses"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let uses = report["uses"].as_array().unwrap().clone();
    assert!(
        report["realUses"].as_u64().unwrap_or(0) > 0 && uses.iter().any(|u| u["drill"] == true),
        "the log holds the drill's requests and the attacker's: {report}"
    );
    let piped = plugin.run(&strs(&scan));
    piped.assert_code(3);
    let lines: Vec<&str> = piped.stdout.lines().collect();
    // In a pipe, a row is a line; the default columns are those read first.
    assert_eq!(lines.len(), uses.len() + 1, "{}", piped.stdout);
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["TIME", "SIGNAL", "DECOY", "VERB", "URI", "CODE", "DRILL"],
        "{}",
        piped.stdout
    );
    for (row, used) in lines[1..].iter().zip(&uses) {
        let uri = used["requestURI"].as_str().unwrap();
        assert!(
            row.contains(&format!(" {decoy} ")) && row.contains(&format!(" {uri} ")),
            "{row}\n{}",
            piped.stdout
        );
        assert!(!row.contains(used["auditID"].as_str().unwrap()), "{row}");
    }
    // -o wide adds where each request came from, with what client, and its audit ID.
    let wide = plugin.run(&strs(&op(&["scan", &log, "-o", "wide"])));
    wide.assert_code(3);
    let header = wide.stdout.lines().next().unwrap_or_default();
    for title in ["SOURCE IPS", "USER AGENT", "AUDIT ID"] {
        assert!(header.contains(title), "{}", wide.stdout);
    }
    for used in &uses {
        assert!(
            wide.stdout.contains(used["auditID"].as_str().unwrap()),
            "{}",
            wide.stdout
        );
    }
    assert!(
        wide.stdout.contains("kubectl-honeytoken-drill/"),
        "{}",
        wide.stdout
    );
    // At 80 columns: the time, the signal and whether it was a drill stay whole; the decoy
    // and the URI, when longer than what is left, are cut short rather than broken.
    let (text, code) = on_a_terminal(&plugin, 80, &strs(&scan));
    assert_eq!(code, Some(3), "{text}");
    let plain = assert_fits(&text, 80);
    assert!(plain.starts_with("TIME "), "{plain}");
    assert!(!plain.contains("USER AGENT"), "{plain}");
    let first = &uses[0];
    let when = first["time"].as_str().unwrap();
    let clock = format!("{}Z", &when[11..19]);
    assert_whole(
        &plain,
        &[
            &decoy,
            &when[..10],
            &clock,
            first["verb"].as_str().unwrap(),
            "request",
            "drill",
            "REAL",
        ],
    );
    let shown: Vec<&str> = plain.split_whitespace().collect();
    for whole in [&when[..10], clock.as_str(), "request", "drill", "REAL"] {
        assert!(shown.contains(&whole), "{whole} is cut:\n{plain}");
    }

    plugin.run(&strs(&op(&["remove", "--yes"]))).assert_code(0);
}
