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

use clap::CommandFactory;

use crate::cli::{Cli, CompletionShell, GlobalArgs};
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
}

/// What the machine knows, read when asked: the kubeconfig as kubectl finds it, the
/// built-in profiles. Failures mean no candidates, never an error: completion stays quiet.
pub struct Machine;

impl Machine {
    fn kubeconfig(kubeconfig: Option<&str>) -> Option<kube::config::Kubeconfig> {
        let target = crate::cluster::connect::Target {
            kubeconfig: kubeconfig.map(std::path::PathBuf::from),
            ..Default::default()
        };
        crate::cluster::connect::load(&target).ok().flatten()
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
    let mut kubeconfig: Option<String> = None;
    for word in before {
        if let Some(arg) = pending.take() {
            if arg.get_id() == "kubeconfig" {
                kubeconfig = Some(word.clone());
            }
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
            if let Some(arg) = find_long(command, name)
                && takes_value(arg)
            {
                match inline {
                    Some(value) if arg.get_id() == "kubeconfig" => {
                        kubeconfig = Some(value.to_string())
                    }
                    Some(_) => {}
                    None => pending = Some(arg),
                }
            }
            continue;
        }
        // Short flags, perhaps several in one word (-yo json, -ojson).
        let shorts: Vec<char> = word[1..].chars().collect();
        for (i, short) in shorts.iter().enumerate() {
            if let Some(arg) = find_short(command, *short)
                && takes_value(arg)
            {
                if i + 1 == shorts.len() {
                    pending = Some(arg);
                }
                break;
            }
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
            values(arg, &prefix, typed, kubeconfig.as_deref(), known)
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
                Some(arg) if candidates.is_empty() => {
                    values(arg, "", current, kubeconfig.as_deref(), known)
                }
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
    kubeconfig: Option<&str>,
    known: &dyn Known,
) -> Completions {
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

    struct Fixed;

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
    }

    fn ask(words: &[&str]) -> Completions {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        complete(&Cli::command(), &words, &Fixed)
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
