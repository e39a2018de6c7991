//! The README's quickstart, run as written on the bed, the way a new user would run it.

mod support;

use std::path::Path;
use std::process::Command;

/// The `$ ` lines of the README's first `console` block.
fn quickstart_commands(readme: &str) -> Vec<String> {
    let block = readme
        .split("```console\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("the README has a console block");
    block
        .lines()
        .filter_map(|line| line.strip_prefix("$ "))
        .map(String::from)
        .collect()
}

#[test]
fn the_readme_quickstart_works_as_written_on_the_bed() {
    let cluster = support::cluster();
    assert!(
        cluster.bin_dir.is_some(),
        "the quickstart starts the bed; it cannot run with HONEYTOKEN_TEST_KUBECONFIG"
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let commands = quickstart_commands(&readme);
    assert!(commands.len() >= 7, "{commands:?}");
    for step in ["plant", "verify", "test-trigger", "status", "remove"] {
        assert!(
            commands
                .iter()
                .any(|c| c.starts_with(&format!("kubectl honeytoken {step}"))),
            "the quickstart does not run {step}: {commands:?}"
        );
    }

    // `cargo install` is what a user runs; here the binary under test stands in for it, on
    // PATH as kubectl finds plugins.
    let plugin_dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_kubectl-honeytoken"),
        plugin_dir.path().join("kubectl-honeytoken"),
    )
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut script = String::from("set -euo pipefail\n");
    for command in &commands {
        if command.starts_with("cargo install") {
            script.push_str(&format!(
                "export PATH=\"{}:$PATH\"\n",
                plugin_dir.path().display()
            ));
        } else {
            script.push_str(&format!(
                "echo '$ {}' >&2\n{command}\n",
                command.replace('\'', "'\\''")
            ));
        }
    }
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(repo)
        .env("HONEYTOKEN_HOME", home.path())
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the quickstart failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("every critical check passed"), "{stdout}");
    assert!(stdout.contains("serviceaccount/tiller deleted"), "{stdout}");
}
