//! `version`: the plugin's version, the commit it was built from, and its platform; no
//! cluster is asked.

use serde::Serialize;

use crate::cli::GlobalArgs;
use crate::error::Error;
use crate::exit::Outcome;
use crate::ui::output::{self, OutputFormat};

/// The commit the binary was built from (build.rs); empty when not built from git.
const GIT_COMMIT: &str = env!("HONEYTOKEN_GIT_COMMIT");

/// `-o json|yaml` of `version` (schema version 1; fields are only ever added).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionReport {
    pub schema_version: u32,
    pub kind: &'static str,
    /// The release, `v` and Cargo.toml's version.
    pub version: String,
    /// The full commit id, or null when the binary was not built from a git checkout.
    pub git_commit: Option<String>,
    /// os/arch, as krew names platforms.
    pub platform: String,
}

/// The report for a build of `version` from `commit` (empty: unknown). Pure.
pub fn report(version: &str, commit: &str, os: &str, arch: &str) -> VersionReport {
    let os = if os == "macos" { "darwin" } else { os };
    let arch = match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    VersionReport {
        schema_version: 1,
        kind: "HoneytokenVersion",
        version: format!("v{version}"),
        git_commit: (!commit.is_empty()).then(|| commit.to_string()),
        platform: format!("{os}/{arch}"),
    }
}

/// The text form, as `kubectl version --client` prints its own. Pure.
pub fn text(report: &VersionReport) -> String {
    format!(
        "Version: {}\nGit commit: {}\nPlatform: {}\n",
        report.version,
        report
            .git_commit
            .as_deref()
            .unwrap_or("unknown (not built from a git checkout)"),
        report.platform
    )
}

pub fn run(global: &GlobalArgs) -> Result<Outcome, Error> {
    let report = report(
        env!("CARGO_PKG_VERSION"),
        GIT_COMMIT,
        std::env::consts::OS,
        std::env::consts::ARCH,
    );
    match output::structured(global.output, &report)? {
        Some(document) => print!("{document}"),
        None => {
            debug_assert_eq!(global.output, OutputFormat::Table);
            print!("{}", text(&report));
        }
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_from_git_names_its_commit_and_krews_platform() {
        let report = report(
            "0.1.0",
            "0123456789abcdef0123456789abcdef01234567",
            "linux",
            "x86_64",
        );
        assert_eq!(report.version, "v0.1.0");
        assert_eq!(report.platform, "linux/amd64");
        assert_eq!(
            text(&report),
            "Version: v0.1.0\nGit commit: 0123456789abcdef0123456789abcdef01234567\n\
             Platform: linux/amd64\n"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["schemaVersion"], 1);
        assert_eq!(
            json["gitCommit"],
            "0123456789abcdef0123456789abcdef01234567"
        );
    }

    #[test]
    fn a_build_without_git_says_so_and_has_a_null_commit() {
        let report = report("0.1.0", "", "macos", "aarch64");
        assert_eq!(report.git_commit, None);
        assert_eq!(report.platform, "darwin/arm64");
        assert!(text(&report).contains("Git commit: unknown (not built from a git checkout)"));
        let json = serde_json::to_value(&report).unwrap();
        assert!(json["gitCommit"].is_null());
    }
}
