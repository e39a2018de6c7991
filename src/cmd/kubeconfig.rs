//! `kubeconfig`: writes a kubeconfig that signs in as the decoy (see
//! [`crate::decoy::bait`]), as a new file or added to an existing kubeconfig, and reports
//! what it wrote. The token goes into the file only: never to a terminal, a report or an
//! error.

use std::io::Write;
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::cli::{GlobalArgs, KubeconfigArgs};
use crate::cluster::locate;
use crate::decoy::DecoySpec;
use crate::decoy::bait::{self, BaitError, ClusterEntry, Names};
use crate::error::Error;
use crate::exit::Outcome;
use crate::home::Home;
use crate::kubeconfig_file as file;
use crate::ui::output;
use crate::ui::terminal::{Terminal, printable};

/// Where the kubeconfig goes.
#[derive(Debug, Clone, Copy)]
enum Destination<'a> {
    Stdout,
    New(&'a Path),
    Merge(&'a Path),
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecoyRef {
    pub namespace: String,
    pub service_account: String,
    pub secret: String,
    pub username: String,
}

/// What was written, for people and scripts; never the token.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeconfigReport {
    /// "written", "merged", or with --dry-run "wouldWrite", "wouldMerge".
    pub result: &'static str,
    /// The file written (`-` for stdout).
    pub path: String,
    pub cluster: String,
    pub user: String,
    pub context: String,
    pub server: String,
    /// The CA is in the file (`certificate-authority-data`).
    pub certificate_authority_data: bool,
    pub insecure_skip_tls_verify: bool,
    /// The file's current context: the new one in a file of its own, the file's own
    /// (unchanged) in a merge.
    pub current_context: Option<String>,
    /// The file's mode (octal), none for stdout.
    pub mode: Option<String>,
    /// A merge into a file others could read made it 0600: its mode before.
    pub mode_tightened_from: Option<String>,
    pub decoy: DecoyRef,
}

fn octal(mode: u32) -> String {
    format!("{mode:04o}")
}

/// The report without the outcome of the write.
fn report(
    destination: Destination<'_>,
    names: &Names,
    entry: &ClusterEntry,
    spec: &DecoySpec,
    dry_run: bool,
) -> KubeconfigReport {
    let (result, path) = match destination {
        Destination::Stdout => (if dry_run { "wouldWrite" } else { "written" }, "-".into()),
        Destination::New(path) => (
            if dry_run { "wouldWrite" } else { "written" },
            path.display().to_string(),
        ),
        Destination::Merge(path) => (
            if dry_run { "wouldMerge" } else { "merged" },
            path.display().to_string(),
        ),
    };
    KubeconfigReport {
        result,
        path,
        cluster: names.cluster.clone(),
        user: names.user.clone(),
        context: names.context.clone(),
        server: entry.server.clone(),
        certificate_authority_data: entry.ca_pem.is_some(),
        insecure_skip_tls_verify: entry.insecure_skip_tls_verify,
        current_context: Some(names.context.clone()),
        mode: (!matches!(destination, Destination::Stdout)).then(|| octal(file::PRIVATE)),
        mode_tightened_from: None,
        decoy: DecoyRef {
            namespace: spec.namespace.clone(),
            service_account: spec.account.clone(),
            secret: spec.secret.clone(),
            username: spec.username(),
        },
    }
}

const WARNING: &str = "Any use of it, from anywhere, trips the decoy's alarm (audit rules, scan, \
watch, the tripwire). It holds a live credential of an account that may do nothing: leave it \
only where an attacker, not a colleague, would use it.";

fn text(report: &KubeconfigReport) -> String {
    let p = |s: &str| printable(s).into_owned();
    let trust = if report.insecure_skip_tls_verify {
        "insecure-skip-tls-verify, as your context has it"
    } else if report.certificate_authority_data {
        "CA inline"
    } else {
        "no CA (the system's roots)"
    };
    let would = report.result.starts_with("would");
    let mut out = match report.result {
        "merged" | "wouldMerge" => format!(
            "{} cluster {}, user {} and context {} to {}; its other entries and its current \
             context ({}) {} as they were.\n",
            if would { "Would add" } else { "Added" },
            p(&report.cluster),
            p(&report.user),
            p(&report.context),
            p(&report.path),
            p(report.current_context.as_deref().unwrap_or("none")),
            if would { "would stay" } else { "are" },
        ),
        _ => format!(
            "{} {}{}: a kubeconfig whose context {} is current.\n",
            if would { "Would write" } else { "Wrote" },
            if report.path == "-" {
                "stdout".to_string()
            } else {
                p(&report.path)
            },
            report
                .mode
                .as_deref()
                .map(|m| format!(" (mode {m})"))
                .unwrap_or_default(),
            p(&report.context),
        ),
    };
    if let Some(from) = &report.mode_tightened_from {
        out += &format!(
            "Its mode {} {from}, open to others: {} {}.\n",
            if would { "is" } else { "was" },
            if would { "it would be" } else { "it is now" },
            report.mode.as_deref().unwrap_or("0600")
        );
    }
    let (cluster, user, context) = (p(&report.cluster), p(&report.user), p(&report.context));
    let width = [&cluster, &user, &context]
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0);
    out += &format!(
        "  cluster  {cluster:width$}  {} ({trust})\n  user     {user:width$}  the token of Secret {}/{}, which signs in as {}\n  context  {context}\n",
        p(&report.server),
        report.decoy.namespace,
        report.decoy.secret,
        report.decoy.username,
    );
    out + WARNING + "\n"
}

pub async fn run(
    args: &KubeconfigArgs,
    global: &GlobalArgs,
    terminal: Terminal,
    home: &Home,
) -> Result<Outcome, Error> {
    let destination = match (&args.out, &args.merge_into) {
        (Some(path), _) if path.as_os_str() == "-" => Destination::Stdout,
        (Some(path), _) => Destination::New(path),
        (None, Some(path)) => Destination::Merge(path),
        (None, None) => {
            return Err(Error::Invalid(
                "say where the kubeconfig goes: --out FILE or --merge-into FILE".into(),
            ));
        }
    };
    // What can be refused without the cluster is refused first.
    if matches!(destination, Destination::Stdout) && terminal.stdout && !global.dry_run {
        return Err(Error::Invalid(
            "--out - would print the decoy's live token on this terminal; send stdout to a \
             file or a program, or use --out FILE"
                .into(),
        ));
    }
    for (flag, value) in [
        ("--cluster-name", &args.cluster_name),
        ("--user-name", &args.user_name),
        ("--context-name", &args.context_name),
    ] {
        if let Some(value) = value {
            bait::check_name(flag, value)?;
        }
    }
    let existing = match destination {
        Destination::Merge(path) => {
            let existing = file::read(path)?;
            bait::check_kubeconfig(existing.text.expose_secret()).map_err(|problem| {
                BaitError::Merge {
                    path: existing.path.clone(),
                    problem,
                }
            })?;
            Some(existing)
        }
        Destination::New(path) if !args.force && std::fs::symlink_metadata(path).is_ok() => {
            return Err(BaitError::Exists {
                path: path.to_path_buf(),
            }
            .into());
        }
        _ => None,
    };

    let selection = locate::select(
        args.select.profile.as_deref(),
        global.namespace.as_deref(),
        args.select.name.as_deref(),
    )?;
    let located =
        locate::locate(&selection, &global.target(), home, locate::KeyUse::Existing).await?;
    let token = bait::decoy_token(&located.spec, &located.found, located.record.as_ref())?;
    let connection = &located.connection;
    let names = bait::names(
        &connection.cluster,
        args.cluster_name.as_deref(),
        args.user_name.as_deref(),
        args.context_name.as_deref(),
    )?;
    let proxy = connection.config.proxy_url.as_ref().map(|u| u.to_string());
    let entry = ClusterEntry::new(
        &connection.server,
        connection.config.root_cert.as_deref(),
        connection.config.accept_invalid_certs,
        connection.config.tls_server_name.as_deref(),
        proxy.as_deref(),
    );
    let mut report = report(destination, &names, &entry, &located.spec, global.dry_run);

    match (destination, &existing) {
        (Destination::Merge(_), Some(existing)) => {
            let merge_error = |problem| BaitError::Merge {
                path: existing.path.clone(),
                problem,
            };
            let merged = bait::merge(existing.text.expose_secret(), &names, &entry, &token)
                .map_err(merge_error)?;
            report.path = existing.path.display().to_string();
            report.current_context = merged.current_context.clone();
            let mode = file::kept_mode(existing.mode);
            report.mode = Some(octal(mode));
            if mode != existing.mode {
                report.mode_tightened_from = Some(octal(existing.mode));
            }
            if !global.dry_run {
                let original = existing.text.expose_secret();
                let change = file::replace(existing, &merged.text, |written| {
                    bait::check_merged(original, written, &names, &entry, &token)
                })?;
                report.mode = Some(octal(change.to));
                report.mode_tightened_from = (change.to != change.from).then(|| octal(change.from));
            }
        }
        (Destination::New(path), _) if !global.dry_run => {
            file::write_new(path, &bait::render(&names, &entry, &token), args.force)?;
        }
        (Destination::Stdout, _) if !global.dry_run => {
            write_stdout(&bait::render(&names, &entry, &token))?;
        }
        _ => {}
    }

    let shown = match output::structured(global.output, &report)? {
        Some(structured) => structured,
        None => text(&report),
    };
    if matches!(destination, Destination::Stdout) {
        // stdout carries the kubeconfig.
        eprint!("{shown}");
    } else {
        print!("{shown}");
    }
    Ok(Outcome::Success)
}

fn write_stdout(content: &SecretString) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(content.expose_secret().as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|source| {
            BaitError::Write {
                path: "stdout".into(),
                source,
            }
            .into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoy::profile::find;
    use crate::home::{KEY_LEN, Key};

    fn spec() -> DecoySpec {
        DecoySpec::new(
            find("tiller").unwrap(),
            &Key::from_bytes([1; KEY_LEN]),
            "uid",
            "kube-system",
            "tiller",
        )
    }

    fn names() -> Names {
        bait::names("prod", None, None, None).unwrap()
    }

    fn entry() -> ClusterEntry {
        ClusterEntry::new(
            "https://10.0.0.1:6443",
            Some(&[b"ca".to_vec()]),
            false,
            None,
            None,
        )
    }

    #[test]
    fn the_report_names_the_file_the_entries_and_the_decoy() {
        let path = Path::new("/tmp/bait.yaml");
        let report = report(Destination::New(path), &names(), &entry(), &spec(), false);
        assert_eq!(report.result, "written");
        assert_eq!(report.mode.as_deref(), Some("0600"));
        let shown = text(&report);
        for expected in [
            "Wrote /tmp/bait.yaml (mode 0600)",
            "prod-admin@prod",
            "https://10.0.0.1:6443 (CA inline)",
            "system:serviceaccount:kube-system:tiller",
            &spec().secret,
            "not a colleague",
        ] {
            assert!(shown.contains(expected), "{expected:?} not in:\n{shown}");
        }
        let json = output::json(&report, false).unwrap();
        assert!(json.contains("\"serviceAccount\":\"tiller\""), "{json}");
        let dry = report_for_merge_dry_run();
        assert!(
            text(&dry).starts_with("Would add cluster prod"),
            "{}",
            text(&dry)
        );
        assert!(text(&dry).contains("Its mode is 0644, open to others: it would be 0600."));
    }

    fn report_for_merge_dry_run() -> KubeconfigReport {
        let mut report = report(
            Destination::Merge(Path::new("/home/u/.kube/config")),
            &names(),
            &entry(),
            &spec(),
            true,
        );
        report.current_context = Some("admin".into());
        report.mode_tightened_from = Some("0644".into());
        report
    }

    #[test]
    fn stdout_has_no_mode_and_is_named_so() {
        let report = report(Destination::Stdout, &names(), &entry(), &spec(), false);
        assert_eq!(report.mode, None);
        assert!(
            text(&report).starts_with("Wrote stdout: "),
            "{}",
            text(&report)
        );
    }
}
