//! Records the commit the binary is built from, for `kubectl honeytoken version`: the
//! HONEYTOKEN_GIT_COMMIT environment variable when set (a build from a source archive),
//! else `git rev-parse HEAD` in the source tree, else nothing (the binary then says it was
//! not built from a git checkout).

use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=HONEYTOKEN_GIT_COMMIT");
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&dir);
    let commit = match std::env::var("HONEYTOKEN_GIT_COMMIT") {
        Ok(commit) if !commit.trim().is_empty() => Some(commit.trim().to_string()),
        _ => {
            // Build again when HEAD moves: HEAD itself, the branch it names, packed refs.
            for path in ["HEAD", "packed-refs"] {
                if let Some(file) = git(
                    dir,
                    &["rev-parse", "--path-format=absolute", "--git-path", path],
                ) {
                    println!("cargo:rerun-if-changed={file}");
                }
            }
            if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"])
                && let Some(file) = git(
                    dir,
                    &["rev-parse", "--path-format=absolute", "--git-path", &branch],
                )
            {
                println!("cargo:rerun-if-changed={file}");
            }
            git(dir, &["rev-parse", "HEAD"])
        }
    };
    // Only a commit id is passed on: hex digits, nothing a shell or terminal acts on.
    let commit = commit
        .filter(|c| !c.is_empty() && c.len() <= 64 && c.bytes().all(|b| b.is_ascii_hexdigit()));
    println!(
        "cargo:rustc-env=HONEYTOKEN_GIT_COMMIT={}",
        commit.unwrap_or_default()
    );
}
