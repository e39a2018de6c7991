//! `completion`: shell completion scripts for the `kubectl-honeytoken` executable, and the
//! answers kubectl's own completion asks for `kubectl honeytoken …`.
//!
//! kubectl (1.26 or newer) completes a plugin's arguments by running the executable
//! `kubectl_complete-<plugin>` it finds on PATH with the words after the plugin's name, the
//! last one being the word under the cursor (empty when a new word is started). It reads
//! one candidate per line (`value`, or `value<TAB>description`) and, when the last line is
//! `:<number>`, that number as cobra's ShellCompDirective. `kubectl_complete-honeytoken`
//! (the file of that name at the top of the repository, also printed by `completion
//! kubectl`) runs `kubectl-honeytoken __complete WORDS…`, answered by [`complete`].

use std::time::Duration;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionShell, GlobalArgs};
use crate::cluster::connect::Target;
use crate::error::Error;
use crate::exit::Outcome;

/// The script kubectl runs to complete `kubectl honeytoken`, installed on PATH as
/// `kubectl_complete-honeytoken`.
pub const KUBECTL_COMPLETE_SCRIPT: &str = include_str!("../../kubectl_complete-honeytoken");

/// The word that asks the binary for completions rather than running a command.
pub const COMPLETE_WORD: &str = "__complete";

/// cobra's ShellCompDirective bits, which kubectl passes on to the shell.
pub mod directive {
    /// Complete file names when there are no candidates.
    pub const DEFAULT: u32 = 0;
    /// No file names, even with no candidates.
    pub const NO_FILE_COMP: u32 = 4;
}

/// One candidate: the word, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub value: String,
    pub help: Option<String>,
}

/// The answer to one completion request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completions {
    pub candidates: Vec<Candidate>,
    pub directive: u32,
}

impl Completions {
    /// kubectl's plugin-completion format: one `value<TAB>help` line per candidate, then
    /// `:<directive>`.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for candidate in &self.candidates {
            text.push_str(&one_line(&candidate.value));
            if let Some(help) = &candidate.help {
                text.push('\t');
                text.push_str(&one_line(help));
            }
            text.push('\n');
        }
        text.push_str(&format!(":{}\n", self.directive));
        text
    }
}

/// A candidate or its help on one line, without tabs or control characters.
fn one_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or("")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// Values a flag takes that only this machine knows: the kubeconfig's names, the profiles.
pub trait Known {
    /// The contexts of the kubeconfig (`--kubeconfig`'s, when given).
    fn contexts(&self, kubeconfig: Option<&str>) -> Vec<String>;
    /// The clusters of the kubeconfig.
    fn clusters(&self, kubeconfig: Option<&str>) -> Vec<String>;
    /// The users of the kubeconfig.
    fn users(&self, kubeconfig: Option<&str>) -> Vec<String>;
    /// The decoy profiles, each with its summary.
    fn profiles(&self) -> Vec<(String, String)>;
    /// The namespaces of the cluster `target` names (the connection flags typed on the
    /// line, over the kubeconfig kubectl would read).
    fn namespaces(&self, target: &Target) -> Vec<String>;
}

/// How long the cluster has to list its namespaces, connecting included: a TAB against a
/// cluster that does not answer offers nothing rather than hanging.
pub const NAMESPACES_WITHIN: Duration = Duration::from_secs(2);

/// What the machine knows, read when asked: the kubeconfig as kubectl finds it, the
/// built-in profiles. Failures mean no candidates, never an error: completion stays quiet.
pub struct Machine;

impl Machine {
    fn kubeconfig(kubeconfig: Option<&str>) -> Option<kube::config::Kubeconfig> {
        let target = Target {
            kubeconfig: kubeconfig.map(std::path::PathBuf::from),
            ..Default::default()
        };
        crate::cluster::connect::load(&target).ok().flatten()
    }

    /// The namespaces `target`'s cluster lists within `within`, connecting included; None
    /// on any failure. On a thread of its own with its own runtime, so that completion
    /// can ask from anywhere, and given up on (not waited for) once `within` has passed,
    /// whatever holds it up (even a credential plugin that never returns).
    fn namespaces_within(target: &Target, within: Duration) -> Option<Vec<String>> {
        let mut target = target.clone();
        // Each request of the client is bounded too, and nothing is logged: completion
        // writes nothing on stderr.
        target.overrides.request_timeout = Some(within);
        target.overrides.verbosity = 0;
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            let names = runtime.block_on(async {
                tokio::time::timeout(within, async {
                    let connection = crate::cluster::connect::connect(&target).await.ok()?;
                    crate::cluster::namespace_names(&connection.client)
                        .await
                        .ok()
                })
                .await
                .ok()
                .flatten()
            });
            sender.send(names).ok()
        });
        receiver.recv_timeout(within).ok().flatten()
    }
}

impl Known for Machine {
    fn contexts(&self, kubeconfig: Option<&str>) -> Vec<String> {
        Self::kubeconfig(kubeconfig)
            .map(|k| k.contexts.into_iter().map(|c| c.name).collect())
            .unwrap_or_default()
    }

    fn clusters(&self, kubeconfig: Option<&str>) -> Vec<String> {
        Self::kubeconfig(kubeconfig)
            .map(|k| k.clusters.into_iter().map(|c| c.name).collect())
            .unwrap_or_default()
    }

    fn users(&self, kubeconfig: Option<&str>) -> Vec<String> {
        Self::kubeconfig(kubeconfig)
            .map(|k| k.auth_infos.into_iter().map(|u| u.name).collect())
            .unwrap_or_default()
    }

    fn profiles(&self) -> Vec<(String, String)> {
        crate::decoy::profile::all()
            .into_iter()
            .map(|p| (p.name.clone(), p.summary.clone()))
            .collect()
    }

    fn namespaces(&self, target: &Target) -> Vec<String> {
        let mut names = Self::namespaces_within(target, NAMESPACES_WITHIN).unwrap_or_default();
        names.sort();
        names
    }
}

/// Notes what a flag typed on the line says about the cluster to talk to: kubectl's
/// connection flags, as [`GlobalArgs::target`] reads them once the line is run (`value`
/// is None for a switch). Other flags change nothing.
fn note(target: &mut Target, arg: &clap::Arg, value: Option<&str>) {
    let names_kubeconfig_entry = arg
        .get_value_names()
        .and_then(|names| names.first())
        .is_some_and(|name| name.as_str() == "NAME");
    let value = value.map(str::to_string);
    let overrides = &mut target.overrides;
    match arg.get_id().as_str() {
        "kubeconfig" => target.kubeconfig = value.map(std::path::PathBuf::from),
        // A fleet's first context, as the command takes it for one cluster.
        "context" if target.context.is_none() => {
            target.context = value
                .and_then(|v| v.split(',').next().map(str::to_string))
                .filter(|v| !v.is_empty());
        }
        // scan, watch and rules take --user as a decoy's user name, not a kubeconfig user.
        "cluster" if names_kubeconfig_entry => target.cluster = value,
        "user" if names_kubeconfig_entry => target.user = value,
        "server" => overrides.server = value,
        "certificate_authority" => {
            overrides.certificate_authority = value.map(std::path::PathBuf::from)
        }
        "insecure_skip_tls_verify" => overrides.insecure_skip_tls_verify = true,
        "impersonate" => overrides.impersonate = value,
        "impersonate_uid" => overrides.impersonate_uid = value,
        "impersonate_group" => overrides.impersonate_groups.extend(value),
        _ => {}
    }
}

/// Where the word under the cursor stands.
enum Expecting<'a> {
    /// A value of this flag (`--flag VALUE`); `prefix` is put before each candidate
    /// (`--flag=` when the value is in the same word).
    Value(&'a clap::Arg, String),
    /// A subcommand, a flag or a positional argument of `command`.
    Word,
}

fn find_long<'a>(command: &'a clap::Command, name: &str) -> Option<&'a clap::Arg> {
    command.get_arguments().find(|arg| {
        arg.get_long() == Some(name)
            || arg
                .get_all_aliases()
                .is_some_and(|aliases| aliases.contains(&name))
    })
}

fn find_short(command: &clap::Command, short: char) -> Option<&clap::Arg> {
    command
        .get_arguments()
        .find(|arg| arg.get_short() == Some(short))
}

fn takes_value(arg: &clap::Arg) -> bool {
    arg.get_num_args().is_some_and(|n| n.takes_values())
}

/// The completions of `words`, the words after the program's name, the last one under the
/// cursor ("" for a new word). Pure but for what `known` reads.
pub fn complete(root: &clap::Command, words: &[String], known: &dyn Known) -> Completions {
    let mut root = root.clone();
    root.build();
    let (current, before) = match words.split_last() {
        Some((current, before)) => (current.as_str(), before),
        None => ("", &[][..]),
    };
    let mut command = &root;
    let mut positionals = 0usize;
    let mut pending: Option<&clap::Arg> = None;
    let mut only_positionals = false;
    let mut target = Target::default();
    for word in before {
        if let Some(arg) = pending.take() {
            note(&mut target, arg, Some(word));
            continue;
        }
        if only_positionals || word == "-" || !word.starts_with('-') {
            let sub = (!only_positionals && positionals == 0)
                .then(|| command.find_subcommand(word))
                .flatten();
            match sub {
                Some(sub) => command = sub,
                None => positionals += 1,
            }
            continue;
        }
        if word == "--" {
            only_positionals = true;
            continue;
        }
        if let Some(long) = word.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (long, None),
            };
            match find_long(command, name) {
                Some(arg) if takes_value(arg) => match inline {
                    Some(value) => note(&mut target, arg, Some(value)),
                    None => pending = Some(arg),
                },
                Some(arg) => note(&mut target, arg, None),
                None => {}
            }
            continue;
        }
        // Short flags, perhaps several in one word (-yo json, -ojson).
        let shorts: Vec<char> = word[1..].chars().collect();
        for (i, short) in shorts.iter().enumerate() {
            let Some(arg) = find_short(command, *short) else {
                continue;
            };
            if !takes_value(arg) {
                note(&mut target, arg, None);
                continue;
            }
            if i + 1 == shorts.len() {
                pending = Some(arg);
            } else {
                let value: String = shorts[i + 1..].iter().collect();
                note(&mut target, arg, Some(&value));
            }
            break;
        }
    }
    let expecting = match pending {
        Some(arg) => Expecting::Value(arg, String::new()),
        None => match current.strip_prefix("--").and_then(|l| l.split_once('=')) {
            Some((name, _)) if !only_positionals => match find_long(command, name) {
                Some(arg) if takes_value(arg) => Expecting::Value(arg, format!("--{name}=")),
                _ => {
                    return Completions {
                        candidates: Vec::new(),
                        directive: directive::NO_FILE_COMP,
                    };
                }
            },
            _ => Expecting::Word,
        },
    };
    match expecting {
        Expecting::Value(arg, prefix) => {
            let typed = current.strip_prefix(&prefix).unwrap_or(current);
            values(arg, &prefix, typed, &target, known)
        }
        Expecting::Word if current.starts_with('-') && !only_positionals => Completions {
            candidates: flags(command, current),
            directive: directive::NO_FILE_COMP,
        },
        Expecting::Word => {
            let mut candidates = Vec::new();
            if positionals == 0 && command.has_subcommands() {
                candidates.extend(
                    command
                        .get_subcommands()
                        .filter(|sub| !sub.is_hide_set() && sub.get_name().starts_with(current))
                        .map(|sub| Candidate {
                            value: sub.get_name().to_string(),
                            help: sub.get_about().map(|about| about.to_string()),
                        }),
                );
            }
            let positional = command
                .get_positionals()
                .filter(|arg| !arg.is_hide_set())
                .nth(positionals)
                .or_else(|| {
                    command
                        .get_positionals()
                        .last()
                        .filter(|arg| arg.get_num_args().is_some_and(|n| n.max_values() > 1))
                });
            match positional {
                Some(arg) if candidates.is_empty() => values(arg, "", current, &target, known),
                _ => Completions {
                    candidates,
                    directive: directive::NO_FILE_COMP,
                },
            }
        }
    }
}

/// The flags of `command` that start with `typed`: long names, and short ones when only a
/// dash is typed.
fn flags(command: &clap::Command, typed: &str) -> Vec<Candidate> {
    let mut candidates = Vec::new();
    for arg in command.get_arguments() {
        if arg.is_hide_set() || arg.is_positional() {
            continue;
        }
        let help = arg.get_help().map(|h| h.to_string());
        if let Some(long) = arg.get_long() {
            let value = format!("--{long}");
            if value.starts_with(typed) {
                candidates.push(Candidate {
                    value,
                    help: help.clone(),
                });
            }
        }
        if typed == "-"
            && let Some(short) = arg.get_short()
        {
            candidates.push(Candidate {
                value: format!("-{short}"),
                help,
            });
        }
    }
    candidates
}

/// The values `arg` takes that start with `typed`, each after `prefix`.
fn values(
    arg: &clap::Arg,
    prefix: &str,
    typed: &str,
    target: &Target,
    known: &dyn Known,
) -> Completions {
    let kubeconfig = target.kubeconfig.as_deref().and_then(|path| path.to_str());
    let named = |names: Vec<String>| -> Vec<Candidate> {
        names
            .into_iter()
            .map(|value| Candidate { value, help: None })
            .collect()
    };
    let value_name = arg
        .get_value_names()
        .and_then(|names| names.first())
        .map(|name| name.as_str())
        .unwrap_or("");
    let mut candidates: Vec<Candidate> = match (arg.get_id().as_str(), value_name) {
        ("context" | "skip_context", _) => named(known.contexts(kubeconfig)),
        ("cluster", "NAME") => named(known.clusters(kubeconfig)),
        ("user", "NAME") => named(known.users(kubeconfig)),
        ("namespace", _) => named(known.namespaces(target)),
        ("profile", _) => known
            .profiles()
            .into_iter()
            .map(|(value, summary)| Candidate {
                value,
                help: Some(summary),
            })
            .collect(),
        _ => arg
            .get_possible_values()
            .into_iter()
            .filter(|value| !value.is_hide_set())
            .map(|value| Candidate {
                value: value.get_name().to_string(),
                help: value.get_help().map(|h| h.to_string()),
            })
            .collect(),
    };
    let is_path = matches!(
        arg.get_value_hint(),
        clap::ValueHint::AnyPath | clap::ValueHint::FilePath | clap::ValueHint::DirPath
    );
    if candidates.is_empty() && is_path && prefix.is_empty() {
        // The shell completes file names.
        return Completions {
            candidates,
            directive: directive::DEFAULT,
        };
    }
    candidates.retain(|c| c.value.starts_with(typed));
    for candidate in &mut candidates {
        candidate.value = format!("{prefix}{}", candidate.value);
    }
    Completions {
        candidates,
        directive: directive::NO_FILE_COMP,
    }
}

/// The command line as the scripts complete it: the executable `kubectl-honeytoken`, where
/// the help speaks of `kubectl honeytoken`. Built first (the derived definition sets its
/// own bin_name when built), then every command's bin_name, from which the scripts name
/// their functions and cases, is made from the executable's name.
fn for_executable(mut command: clap::Command) -> clap::Command {
    fn rename(command: &mut clap::Command, bin_name: String) {
        for sub in command.get_subcommands_mut() {
            rename(sub, format!("{bin_name} {}", sub.get_name()));
        }
        command.set_bin_name(bin_name);
    }
    command.build();
    rename(&mut command, "kubectl-honeytoken".to_string());
    command
}

/// `__complete WORDS…`: prints the completions of WORDS in kubectl's plugin format.
pub fn answer(words: &[String]) -> String {
    complete(&Cli::command(), words, &Machine).render()
}

pub fn run(shell: CompletionShell, _global: &GlobalArgs) -> Result<Outcome, Error> {
    let shell = match shell {
        CompletionShell::Kubectl => {
            print!("{KUBECTL_COMPLETE_SCRIPT}");
            return Ok(Outcome::Success);
        }
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
        CompletionShell::Powershell => clap_complete::Shell::PowerShell,
        CompletionShell::Elvish => clap_complete::Shell::Elvish,
    };
    print!("{}", script(shell));
    Ok(Outcome::Success)
}

/// The completion script of `shell` for the kubectl-honeytoken executable.
pub fn script(shell: clap_complete::Shell) -> String {
    let mut command = for_executable(Cli::command());
    let mut text = Vec::new();
    clap_complete::generate(shell, &mut command, "kubectl-honeytoken", &mut text);
    let text = String::from_utf8_lossy(&text).into_owned();
    match shell {
        // clap_complete's bash script names the executable's state `kubectl__honeytoken`
        // where it moves into a command (a `-` becomes `__`) but `kubectl__subcmd__honeytoken`
        // in the cases that complete that command's flags (a `-` becomes `__subcmd__`), so
        // that no flag or value would ever complete: one name for both.
        clap_complete::Shell::Bash => text.replace(
            "kubectl__subcmd__honeytoken__subcmd__",
            "kubectl__honeytoken__subcmd__",
        ),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixed answers; the targets namespaces were asked of are kept.
    #[derive(Default)]
    struct Fixed {
        asked: std::cell::RefCell<Vec<Target>>,
    }

    impl Known for Fixed {
        fn contexts(&self, kubeconfig: Option<&str>) -> Vec<String> {
            match kubeconfig {
                Some(path) => vec![format!("from-{path}")],
                None => vec!["admin".into(), "operator".into()],
            }
        }
        fn clusters(&self, _: Option<&str>) -> Vec<String> {
            vec!["bed".into()]
        }
        fn users(&self, _: Option<&str>) -> Vec<String> {
            vec!["admin".into(), "operator".into()]
        }
        fn profiles(&self) -> Vec<(String, String)> {
            vec![
                ("tiller".into(), "Helm v2's server-side account".into()),
                ("argocd-manager".into(), "Argo CD".into()),
            ]
        }
        fn namespaces(&self, target: &Target) -> Vec<String> {
            self.asked.borrow_mut().push(target.clone());
            vec!["default".into(), "kube-public".into(), "kube-system".into()]
        }
    }

    fn ask(words: &[&str]) -> Completions {
        asking(words).0
    }

    /// The completions of `words`, and the targets whose namespaces were asked for.
    fn asking(words: &[&str]) -> (Completions, Vec<Target>) {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        let known = Fixed::default();
        let completions = complete(&Cli::command(), &words, &known);
        (completions, known.asked.into_inner())
    }

    fn values_of(completions: &Completions) -> Vec<&str> {
        completions
            .candidates
            .iter()
            .map(|c| c.value.as_str())
            .collect()
    }

    #[test]
    fn the_first_word_is_a_command_and_hidden_ones_are_not_offered() {
        let all = ask(&[""]);
        let names = values_of(&all);
        for command in [
            "plant",
            "verify",
            "test-trigger",
            "status",
            "remove",
            "version",
        ] {
            assert!(names.contains(&command), "{names:?}");
        }
        assert!(!names.iter().any(|n| n.starts_with("__")), "{names:?}");
        assert_eq!(all.directive, directive::NO_FILE_COMP);
        assert_eq!(values_of(&ask(&["pl"])), vec!["plant"]);
        assert_eq!(values_of(&ask(&["ve"])), vec!["verify", "version"]);
    }

    #[test]
    fn flags_are_the_commands_own_and_the_global_ones() {
        let names = ask(&["plant", "--"]);
        let names = values_of(&names);
        for flag in [
            "--profile",
            "--name",
            "--list-profiles",
            "--context",
            "--as",
            "--server",
        ] {
            assert!(names.contains(&flag), "{flag} missing: {names:?}");
        }
        assert_eq!(
            values_of(&ask(&["plant", "--prof"])),
            vec!["--profile", "--profile-file"]
        );
        assert!(!values_of(&ask(&["status", "--"])).contains(&"--list-profiles"));
        assert!(values_of(&ask(&["status", "-"])).contains(&"-n"));
    }

    #[test]
    fn flag_values_complete_from_their_choices_and_the_machine() {
        assert_eq!(
            values_of(&ask(&["status", "-o", ""])),
            vec!["table", "wide", "json", "yaml"]
        );
        assert_eq!(values_of(&ask(&["status", "--output", "j"])), vec!["json"]);
        assert_eq!(
            values_of(&ask(&["status", "--output=y"])),
            vec!["--output=yaml"]
        );
        assert_eq!(
            values_of(&ask(&["--context", ""])),
            vec!["admin", "operator"]
        );
        assert_eq!(
            values_of(&ask(&["status", "--context", "op"])),
            vec!["operator"]
        );
        assert_eq!(
            values_of(&ask(&["--kubeconfig", "/k", "status", "--context", ""])),
            vec!["from-/k"]
        );
        assert_eq!(
            values_of(&ask(&["status", "--user", ""])),
            vec!["admin", "operator"]
        );
        let profiles = ask(&["plant", "--profile", "t"]);
        assert_eq!(values_of(&profiles), vec!["tiller"]);
        assert_eq!(
            profiles.candidates[0].help.as_deref(),
            Some("Helm v2's server-side account")
        );
        assert_eq!(
            values_of(&ask(&["rules", "--for", "s"])),
            vec!["sigma", "splunk"]
        );
        assert_eq!(values_of(&ask(&["completion", "k"])), vec!["kubectl"]);
    }

    #[test]
    fn the_namespace_flag_completes_the_clusters_namespaces_by_prefix() {
        assert_eq!(
            values_of(&ask(&["-n", ""])),
            vec!["default", "kube-public", "kube-system"]
        );
        assert_eq!(
            values_of(&ask(&["status", "-n", "kube-s"])),
            vec!["kube-system"]
        );
        assert_eq!(
            values_of(&ask(&["remove", "--namespace", "kube-"])),
            vec!["kube-public", "kube-system"]
        );
        assert_eq!(
            values_of(&ask(&["plant", "--namespace=kube-p"])),
            vec!["--namespace=kube-public"]
        );
        assert!(values_of(&ask(&["status", "-n", "nothing-"])).is_empty());
        assert_eq!(ask(&["-n", ""]).directive, directive::NO_FILE_COMP);
    }

    #[test]
    fn namespaces_come_from_the_cluster_the_line_names() {
        // Nothing typed: kubectl's kubeconfig and its current context.
        let (_, asked) = asking(&["status", "-n", ""]);
        assert_eq!(asked, vec![Target::default()]);
        // The connection flags typed before the word, wherever they stand on the line.
        let (_, asked) = asking(&[
            "--kubeconfig",
            "/k",
            "status",
            "--context=prod",
            "--cluster",
            "bed",
            "--user",
            "operator",
            "-s",
            "https://10.0.0.1:6443",
            "--insecure-skip-tls-verify",
            "--as",
            "alice",
            "--as-group",
            "g1",
            "--as-group=g2",
            "-v",
            "9",
            "-n",
            "",
        ]);
        let mut wanted = Target {
            kubeconfig: Some("/k".into()),
            context: Some("prod".into()),
            cluster: Some("bed".into()),
            user: Some("operator".into()),
            ..Default::default()
        };
        wanted.overrides.server = Some("https://10.0.0.1:6443".into());
        wanted.overrides.insecure_skip_tls_verify = true;
        wanted.overrides.impersonate = Some("alice".into());
        wanted.overrides.impersonate_groups = vec!["g1".into(), "g2".into()];
        assert_eq!(asked, vec![wanted]);
        // A fleet's first context; a short flag's value in the same word.
        let (_, asked) = asking(&["--context", "a,b", "-shttps://h:1", "status", "-n", ""]);
        assert_eq!(asked[0].context.as_deref(), Some("a"));
        assert_eq!(asked[0].overrides.server.as_deref(), Some("https://h:1"));
        // scan's --user is a decoy's user name, not a kubeconfig user.
        let (_, asked) = asking(&[
            "scan",
            "--user",
            "system:serviceaccount:kube-system:tiller",
            "-n",
            "",
        ]);
        assert_eq!(asked, vec![Target::default()]);
    }

    #[test]
    fn the_cluster_is_asked_only_for_namespaces() {
        for words in [
            &[""][..],
            &["status", "--context", ""],
            &["status", "-o", ""],
            &["-n", "kube-system", "st"],
            &["-n", "kube-system", "status", "--"],
            &["plant", "--profile", ""],
        ] {
            let (_, asked) = asking(words);
            assert!(asked.is_empty(), "{words:?} asked the cluster: {asked:?}");
        }
    }

    #[test]
    fn a_file_flag_or_argument_leaves_file_names_to_the_shell() {
        for words in [
            &["--kubeconfig", ""][..],
            &["verify", "--policy", "au"],
            &["scan", ""],
            &["scan", "a.log", "b"],
        ] {
            let completions = ask(words);
            assert_eq!(completions.directive, directive::DEFAULT, "{words:?}");
            assert!(completions.candidates.is_empty(), "{words:?}");
        }
    }

    #[test]
    fn a_value_already_given_is_not_taken_for_a_command() {
        // `-n plant`: "plant" is the namespace, and the command is still to come.
        assert!(values_of(&ask(&["-n", "plant", "st"])).contains(&"status"));
        // A flag that takes no value does not swallow the next word.
        assert_eq!(values_of(&ask(&["--yes", "rem"])), vec!["remove"]);
        // After the command, words are its arguments, not commands.
        assert!(values_of(&ask(&["status", "pl"])).is_empty());
    }

    #[test]
    fn the_bash_script_moves_into_a_command_under_the_name_its_cases_use() {
        let script = script(clap_complete::Shell::Bash);
        assert!(script.contains("cmd=\"kubectl__honeytoken__subcmd__plant\""));
        assert!(script.contains("\n        kubectl__honeytoken__subcmd__plant)\n"));
        assert!(!script.contains("kubectl__subcmd__"));
    }

    #[test]
    fn the_answer_is_kubectls_plugin_format() {
        let completions = Completions {
            candidates: vec![
                Candidate {
                    value: "plant".into(),
                    help: Some("Create decoys\twith a tab\nand a second line".into()),
                },
                Candidate {
                    value: "status".into(),
                    help: None,
                },
            ],
            directive: directive::NO_FILE_COMP,
        };
        assert_eq!(
            completions.render(),
            "plant\tCreate decoys with a tab\nstatus\n:4\n"
        );
    }
}
