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
    assert!(help.starts_with("kubectl honeytoken"), "{help}");
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

#[test]
fn version_and_completion_behave_like_kubectl() {
    let version = honeytoken(&["--version"]);
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8(version.stdout).unwrap().trim(),
        format!("kubectl honeytoken {}", env!("CARGO_PKG_VERSION"))
    );
    for shell in ["bash", "zsh", "fish"] {
        let script = honeytoken(&["completion", shell]);
        assert!(script.status.success(), "{shell}");
        let text = String::from_utf8(script.stdout).unwrap();
        assert!(
            text.contains("test-trigger"),
            "{shell} completion lacks the commands"
        );
    }
}

#[test]
fn version_command_names_the_release_and_the_commit_built_from() {
    let text = honeytoken(&["version"]);
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.starts_with(&format!("Version: v{}\n", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    for format in ["json", "yaml"] {
        let output = honeytoken(&["version", "-o", format]);
        assert!(output.status.success(), "{format}");
        let document: serde_json::Value = match format {
            "json" => serde_json::from_slice(&output.stdout).unwrap(),
            _ => serde_saphyr::from_slice(&output.stdout).unwrap(),
        };
        assert_eq!(document["schemaVersion"], 1, "{document}");
        assert_eq!(
            document["version"],
            format!("v{}", env!("CARGO_PKG_VERSION")),
            "{document}"
        );
        // Built from this checkout: the commit git names (build.rs), or null without git.
        let head = Command::new("git")
            .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8(o.stdout).unwrap().trim().to_string());
        match head {
            Some(head) => assert_eq!(document["gitCommit"], head, "{document}"),
            None => assert!(document["gitCommit"].is_null(), "{document}"),
        }
        assert!(text.contains(&format!(
            "Git commit: {}",
            document["gitCommit"].as_str().unwrap_or("unknown")
        )));
    }
}

// Linux only: the pipe is shrunk below the output's size (F_SETPIPE_SZ), so the program
// is still writing when the reader hangs up; elsewhere the whole script may fit in the
// pipe and the program would end before noticing.
#[cfg(target_os = "linux")]
#[test]
fn a_closed_pipe_ends_the_program_quietly() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::process::Stdio;

    // A pipe smaller than the output, as with `| head -c1`.
    let (mut reader, writer) = std::io::pipe().unwrap();
    assert!(unsafe { libc::fcntl(writer.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) } >= 4096);
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-honeytoken"))
        .args(["completion", "bash"])
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 1];
    reader.read_exact(&mut first).unwrap();
    drop(reader);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(stderr.is_empty(), "{stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status:?}");
}

#[test]
fn watch_refuses_a_table_it_would_not_print() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log").display().to_string();
    let user = "system:serviceaccount:kube-system:tiller";
    for args in [
        vec!["watch", "-o", "table", "--audit-log", &log, "--user", user],
        vec!["-o", "wide", "watch", "--audit-log", &log, "--user", user],
    ] {
        let output = honeytoken(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("it has no table to print"), "{stderr}");
    }
}
