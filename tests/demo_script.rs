//! The README's "see it work" command, run as a new user would run it.

mod support;

use std::process::Command;

#[test]
fn the_demo_plants_sees_the_trip_and_removes() {
    let cluster = support::cluster();
    assert!(
        cluster.bin_dir.is_some(),
        "tests/demo runs on the test bed; it cannot run with HONEYTOKEN_TEST_KUBECONFIG"
    );
    let output = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/demo"))
        .env(
            "HONEYTOKEN_PLUGIN",
            env!("CARGO_BIN_EXE_kubectl-honeytoken"),
        )
        .env("NO_COLOR", "1")
        .output()
        .expect("run tests/demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "tests/demo failed:\n{stdout}\n{stderr}"
    );
    let section = |from: &str, to: &str| {
        let start = stdout
            .find(from)
            .unwrap_or_else(|| panic!("no step {from:?}:\n{stdout}"));
        let end = stdout[start..].find(to).map_or(stdout.len(), |i| start + i);
        stdout[start..end].to_string()
    };
    let before_use = section("== 2.", "== 3.");
    assert!(
        before_use.contains("kube-system/tiller") && before_use.contains("armed"),
        "{before_use}"
    );
    let drill = section("== 3.", "== 4.");
    assert!(drill.contains("re-armed at"), "{drill}");
    // The status row after the drill: never used since, armed.
    assert!(
        drill.lines().any(|line| line.contains("kube-system/tiller")
            && line.contains("never")
            && line.split_whitespace().any(|word| word == "armed")),
        "{drill}"
    );
    let after_use = section("== 5.", "== 6.");
    assert!(
        after_use.contains("TRIPPED")
            && after_use.contains("after a drill re-armed the tripwire at"),
        "{after_use}"
    );
    assert!(
        stderr.contains("Forbidden"),
        "the attacker's kubectl was not denied:\n{stderr}"
    );
    assert!(stdout.contains("(exit code 3)"), "{stdout}");
    assert!(stdout.contains("serviceaccount/tiller deleted"), "{stdout}");
    assert!(stdout.contains("No decoys of this key"), "{stdout}");
    assert!(stdout.contains("(exit code 6: no decoys)"), "{stdout}");
}
