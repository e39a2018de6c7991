//! Audit fields are written by whoever sends the request (user agent, URI) or by whoever
//! can write to the log or POST to the receiver. Control characters and invisible format
//! characters in them must not reach a terminal as they are: `scan`'s table and `watch`'s
//! alert line show them escaped, and JSON output stays JSON that means the same. No cluster
//! is needed: the decoy is named with --user.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::Plugin;

const DECOY: &str = "system:serviceaccount:kube-system:tiller";
/// Clears the screen, sets the window title, moves the cursor up with an 8-bit CSI, turns
/// the rest around (U+202E), and starts a forged line.
const AGENT: &str =
    "kubectl/v1.36.3\u{1b}[2J\u{1b}]0;owned\u{7}\u{9b}1A\u{202e}txt.exe\u{200b}\rALERT cleared\n";
const URI: &str = "/api/v1/secrets\u{7f}\u{1b}[1A\u{2066}";

/// Whether a character would act on a terminal (C0, DEL, C1) or hide itself (bidi and
/// zero-width characters), new lines aside.
fn unsafe_char(c: char) -> bool {
    c != '\n'
        && (c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}'))
}

fn event(audit_id: &str) -> serde_json::Value {
    serde_json::json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": audit_id,
        "stage": "ResponseComplete",
        "requestURI": URI,
        "verb": "list",
        "user": {"username": DECOY},
        "sourceIPs": ["10.0.0.9\u{85}"],
        "userAgent": AGENT,
        "responseStatus": {"code": 403},
        "requestReceivedTimestamp": "2026-11-28T10:00:00Z"
    })
}

#[test]
fn scan_shows_control_and_bidi_characters_escaped() {
    let plugin = Plugin::offline();
    let log = plugin.home.path().join("audit.log");
    std::fs::write(&log, format!("{}\n", event("a1"))).unwrap();
    let log = log.display().to_string();

    // The default table shows the URI; -o wide the user agent and source IPs too.
    let table = plugin.run(&["scan", "--user", DECOY, &log]);
    table.assert_code(3);
    let wide = plugin.run(&["scan", "--user", DECOY, &log, "-o", "wide"]);
    wide.assert_code(3);
    for table in [&table, &wide] {
        assert!(
            !table.stdout.chars().any(unsafe_char),
            "raw control or format characters reached stdout: {:?}",
            table.stdout
        );
        assert!(
            table
                .stdout
                .contains(r"/api/v1/secrets\u{7f}\u{1b}[1A\u{2066}"),
            "the URI is missing:\n{}",
            table.stdout
        );
        // The forged line break does not start a row of its own: a header and one use.
        assert_eq!(table.stdout.lines().count(), 2, "{}", table.stdout);
    }
    for shown in [
        r"kubectl/v1.36.3\u{1b}[2J\u{1b}]0;owned\u{7}\u{9b}1A\u{202e}txt.exe\u{200b}\u{d}ALERT cleared\u{a}",
        r"10.0.0.9\u{85}",
    ] {
        assert!(
            wide.stdout.contains(shown),
            "{shown} missing:\n{}",
            wide.stdout
        );
    }

    let json = plugin.run(&["scan", "--user", DECOY, &log, "-o", "json"]);
    json.assert_code(3);
    assert!(
        !json.stdout.chars().any(unsafe_char),
        "raw characters in JSON: {:?}",
        json.stdout
    );
    let report = json.json();
    assert_eq!(report["uses"][0]["userAgent"], AGENT);
    assert_eq!(report["uses"][0]["requestURI"], URI);
    assert_eq!(report["uses"][0]["sourceIPs"][0], "10.0.0.9\u{85}");
}

/// A POST to the receiver, as anyone who reaches the port can send it.
fn post(port: u16, body: &str) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn watch_shows_forged_fields_escaped_in_its_alert_line_and_messages() {
    let plugin = Plugin::offline();
    let port = support::free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = plugin
        .command(&[
            "watch",
            "--listen",
            &listen,
            "--user",
            DECOY,
            "--group-window",
            "0.2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_to, stderr_lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if lines_to.send(line).is_err() {
                return;
            }
        }
    });
    let next_stderr = |wanted: &str| -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match stderr_lines.recv_timeout(left) {
                Ok(line) if line.contains(wanted) => return line,
                Ok(_) => {}
                Err(_) => panic!("watch printed no {wanted:?} within 30s"),
            }
        }
    };
    next_stderr("watch: watching");

    // A body that is not an EventList: the parser's reason quotes what was sent.
    let refused = post(port, r#"{"items":"\u001b]0;owned\u0007\u009b2J\u202e"}"#);
    assert!(refused.starts_with("HTTP/1.1 400"), "{refused}");
    let told = next_stderr("refused a request");
    assert!(!told.chars().any(unsafe_char), "{told:?}");
    assert!(
        told.contains(r"\u{1b}]0;owned\u{7}\u{9b}2J\u{202e}"),
        "{told}"
    );

    let list = serde_json::json!({"kind": "EventList", "items": [event("a1")]});
    let accepted = post(port, &list.to_string());
    assert!(accepted.starts_with("HTTP/1.1 200"), "{accepted}");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    // SAFETY: signalling the child this test started and has not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    child.wait().unwrap();

    assert!(
        !line.chars().any(unsafe_char),
        "raw characters in the alert: {line:?}"
    );
    let alert: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(alert["userAgent"], AGENT);
    assert_eq!(alert["requests"][0]["requestURI"], URI);
    let text = alert["text"].as_str().unwrap();
    assert!(!text.chars().any(unsafe_char), "{text:?}");
    assert!(
        text.contains(r"\u{1b}[2J") && text.contains(r"\u{202e}txt.exe"),
        "{text}"
    );
    assert!(text.contains(r"\u{d}ALERT cleared\u{a}"), "{text}");
}
