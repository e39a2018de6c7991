//! The binary's command line as a user meets it; no cluster needed.

use std::process::{Command, Output};

fn honeytoken(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-honeytoken"))
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("run kubectl-honeytoken")
}

#[test]
fn help_starts_with_kubectl_honeytoken_and_lists_the_commands() {
    let output = honeytoken(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(help.contains("Usage: kubectl honeytoken"), "{help}");
    for command in ["plant", "verify", "test-trigger", "status", "remove"] {
        assert!(
            help.lines()
                .any(|line| line.trim_start().starts_with(command)),
            "--help does not list {command}:\n{help}"
        );
    }
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    let output = honeytoken(&["status", "--no-such-flag"]);
    assert_eq!(output.status.code(), Some(2));
}
