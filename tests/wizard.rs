//! `plant`'s wizard on a real terminal (`script` gives the plugin one), against the bed:
//! Esc cancels and Ctrl-C interrupts at the first question, before anything is made, and
//! either way the terminal gets its cursor back.

mod support;

use std::process::Command;
use std::time::Duration;

use support::cluster;

/// Runs `plant` on a terminal, types `keys` once the first question is on screen, and
/// returns the exit code and everything the terminal showed.
fn wizard(keys: &[u8]) -> (Option<i32>, String) {
    let cluster = cluster();
    let home = tempfile::tempdir().unwrap();
    let mut plant = Command::new(env!("CARGO_BIN_EXE_kubectl-honeytoken"));
    plant
        .args(["--context", "admin", "plant"])
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env("HONEYTOKEN_HOME", home.path())
        .env_remove("HONEYTOKEN_KEY");
    let (code, shown, answered) = support::terminal::on_a_terminal(
        &plant,
        &[("Decoy profile", keys)],
        Duration::from_secs(60),
    );
    assert!(answered, "the question was never asked:\n{shown}");
    (code, shown)
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
