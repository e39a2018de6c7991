//! `plant`'s wizard on a real terminal (`script` gives the plugin one), against the bed:
//! Esc cancels and Ctrl-C interrupts at the first question, before anything is made, and
//! either way the terminal gets its cursor back.

mod support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::cluster;

/// Runs `plant` on a terminal, sends `keys` once the first question is on screen, and
/// returns the exit code and everything the terminal showed.
fn wizard(keys: &[u8]) -> (Option<i32>, String) {
    let cluster = cluster();
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "{} --context admin plant",
            env!("CARGO_BIN_EXE_kubectl-honeytoken")
        ))
        .arg("/dev/null")
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env("HONEYTOKEN_HOME", home.path())
        .env_remove("HONEYTOKEN_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run script");
    let mut stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0 || sender.send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut shown = Vec::new();
    let mut stdin = child.stdin.take();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match receiver.recv_timeout(Duration::from_millis(100)) {
            Ok(bytes) => shown.extend(bytes),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if stdin.is_some() && String::from_utf8_lossy(&shown).contains("Decoy profile") {
            let mut pipe = stdin.take().unwrap();
            pipe.write_all(keys).unwrap();
            pipe.flush().unwrap();
            // Kept open: a closed terminal would end the question another way.
            std::mem::forget(pipe);
        }
        assert!(
            Instant::now() < deadline,
            "the wizard did not end:\n{}",
            String::from_utf8_lossy(&shown)
        );
    }
    let status = child.wait().unwrap();
    assert!(stdin.is_none(), "the question was never asked");
    (status.code(), String::from_utf8_lossy(&shown).into_owned())
}

/// Whether the cursor is shown at the end: the last cursor switch is "show".
fn cursor_shown_at_the_end(shown: &str) -> bool {
    let hidden = shown.rfind("\x1b[?25l");
    let back = shown.rfind("\x1b[?25h");
    hidden.is_some() && back > hidden
}

#[test]
fn esc_cancels_the_wizard_and_the_cursor_comes_back() {
    let (code, shown) = wizard(b"\x1b");
    assert_eq!(code, Some(1), "{shown}");
    assert!(
        shown.contains("cancelled at the question; nothing was changed"),
        "{shown}"
    );
    assert!(cursor_shown_at_the_end(&shown), "{shown:?}");
    assert!(!shown.contains("planted"), "{shown}");
}

#[test]
fn ctrl_c_at_the_wizard_is_an_interrupt_and_the_cursor_comes_back() {
    let (code, shown) = wizard(b"\x03");
    assert_eq!(code, Some(130), "{shown}");
    assert!(cursor_shown_at_the_end(&shown), "{shown:?}");
    assert!(!shown.contains("planted"), "{shown}");
}
