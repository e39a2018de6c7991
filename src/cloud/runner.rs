//! Running a provider's CLI: found on its own search path (never in the working
//! directory), given no terminal to prompt on, and stopped at its timeout. Also how a
//! command is written out for a user to type.

use std::ffi::OsString;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliRunner {
    /// Directories to find CLIs in, in PATH syntax; a field so tests need not touch PATH.
    pub search_path: OsString,
    pub timeout: Duration,
}

/// What a finished CLI printed and how it exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliOutput {
    pub success: bool,
    /// None when it was killed by a signal.
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Why a CLI gave no answer to read.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{program} is not on the search path")]
    NotFound { program: String },
    #[error("could not be started: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("gave no answer within {0:?} and was stopped")]
    TimedOut(Duration),
    /// It ran and failed: its own words and how it exited.
    #[error("{}", failure_message(.0))]
    Exited(CliOutput),
}

/// How often a running CLI is polled for its exit.
const POLL: Duration = Duration::from_millis(20);
/// How long to wait for output after exit: a CLI's own children may hold the pipes open.
const PIPE_GRACE: Duration = Duration::from_secs(2);

impl CliRunner {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

    /// Looks on the process's PATH.
    pub fn from_env() -> CliRunner {
        CliRunner::new(
            std::env::var_os("PATH").unwrap_or_default(),
            CliRunner::DEFAULT_TIMEOUT,
        )
    }

    pub fn new(search_path: impl Into<OsString>, timeout: Duration) -> CliRunner {
        CliRunner {
            search_path: search_path.into(),
            timeout,
        }
    }

    /// The first executable of that name on the search path. Relative entries (an empty
    /// one means ".") are skipped so a file in the working directory is never run.
    pub fn find(&self, program: &str) -> Option<PathBuf> {
        std::env::split_paths(&self.search_path)
            .filter(|dir| dir.is_absolute())
            .flat_map(|dir| executable_names(program).map(move |name| dir.join(name)))
            .find(|path| is_executable(path))
    }

    pub fn run(&self, program: &str, args: &[String]) -> Result<CliOutput, RunError> {
        let path = self.find(program).ok_or_else(|| RunError::NotFound {
            program: program.to_string(),
        })?;
        let mut command = Command::new(path);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // No pager (aws) and no prompts (gcloud): nobody is there to answer.
            .env("AWS_PAGER", "")
            .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1");
        let mut child = spawn(&mut command).map_err(RunError::Spawn)?;
        let stdout = read_in_background(child.stdout.take());
        let stderr = read_in_background(child.stderr.take());
        let exit = self.wait(&mut child)?;
        Ok(CliOutput {
            success: exit.success(),
            exit_code: exit.code(),
            stdout: stdout.recv_timeout(PIPE_GRACE).unwrap_or_default(),
            stderr: stderr.recv_timeout(PIPE_GRACE).unwrap_or_default(),
        })
    }

    /// Runs the CLI and returns its stdout when it exited successfully.
    pub fn stdout(&self, program: &str, args: &[String]) -> Result<String, RunError> {
        let output = self.run(program, args)?;
        if output.success {
            Ok(output.stdout)
        } else {
            Err(RunError::Exited(output))
        }
    }

    fn wait(&self, child: &mut Child) -> Result<std::process::ExitStatus, RunError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(status) = child.try_wait().map_err(RunError::Spawn)? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::TimedOut(self.timeout));
            }
            thread::sleep(POLL);
        }
    }
}

#[cfg(unix)]
fn executable_names(program: &str) -> impl Iterator<Item = String> {
    std::iter::once(program.to_string())
}

#[cfg(not(unix))]
fn executable_names(program: &str) -> impl Iterator<Item = String> {
    // az and gcloud are installed as .cmd wrappers on Windows.
    [".exe", ".cmd", ".bat", ""]
        .into_iter()
        .map(move |ext| format!("{program}{ext}"))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// A freshly written executable can be briefly "busy" (ETXTBSY) while another thread's
/// fork still holds it open for writing; that passes within milliseconds.
fn spawn(command: &mut Command) -> std::io::Result<Child> {
    let mut attempt = 0;
    loop {
        match command.spawn() {
            Err(e) if e.kind() == ErrorKind::ExecutableFileBusy && attempt < 5 => {
                attempt += 1;
                thread::sleep(Duration::from_millis(10 * attempt));
            }
            result => return result,
        }
    }
}

/// Drains a pipe on its own thread so a chatty CLI cannot block on a full pipe.
fn read_in_background(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = sender.send(String::from_utf8_lossy(&bytes).into_owned());
        });
    }
    receiver
}

/// The CLI's own words (errors go to stderr), shortened, and how it exited.
fn failure_message(output: &CliOutput) -> String {
    let status = match output.exit_code {
        Some(code) => format!("exit status {code}"),
        None => "killed by a signal".to_string(),
    };
    let said: Vec<&str> = output
        .stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if said.is_empty() {
        status
    } else {
        format!("{} ({status})", shorten(&said.join(" "), 500))
    }
}

fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

pub(super) fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// The command as a user would type it in a POSIX shell.
pub(super) fn command_line(program: &str, args: &[String]) -> String {
    std::iter::once(program.to_string())
        .chain(args.iter().map(|arg| shell_word(arg)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes what the shell would otherwise interpret; placeholders stay visible as such.
pub(super) fn shell_word(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c);
    if is_placeholder(arg) || (!arg.is_empty() && arg.chars().all(plain)) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

fn is_placeholder(arg: &str) -> bool {
    arg.strip_prefix('<')
        .and_then(|rest| rest.strip_suffix('>'))
        .is_some_and(|inner| {
            !inner.is_empty() && inner.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_for_the_shell() {
        assert_eq!(shell_word("example.com:my-proj"), "example.com:my-proj");
        assert_eq!(shell_word("it's; rm"), r"'it'\''s; rm'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("<CLUSTER>"), "<CLUSTER>");
        assert_eq!(shell_word("<not one>"), "'<not one>'");
    }

    // With stand-in CLIs: the clouds cannot be reached from here.
    #[cfg(unix)]
    mod stand_in_clis {
        use super::*;
        use crate::cloud::testing::*;
        use crate::cloud::{CheckOutcome, Provider, run_check};

        #[test]
        fn non_executable_file_is_not_a_cli() {
            let clis = StandIns::new();
            std::fs::write(clis.file("gcloud"), "#!/bin/sh\nexit 0\n").unwrap();
            assert_eq!(
                run_check(Provider::Gke, &gke_hint(), &clis.runner()),
                CheckOutcome::CliMissing { program: "gcloud" }
            );
        }

        #[test]
        fn relative_search_path_entries_are_ignored() {
            let clis = StandIns::new();
            clis.install("aws", &[(EKS_ARGV, Reply::Prints(EKS_ENABLED))]);
            // The same folder, reached relative to the working directory.
            let up: PathBuf = std::env::current_dir()
                .unwrap()
                .components()
                .skip(1)
                .map(|_| "..")
                .collect();
            let relative = up.join(clis.dir.path().strip_prefix("/").unwrap());
            assert!(relative.join("aws").is_file());
            let search_path = std::env::join_paths([PathBuf::new(), relative]).unwrap();
            assert_eq!(
                CliRunner::new(search_path, Duration::from_secs(1)).find("aws"),
                None
            );
            assert_eq!(clis.runner().find("aws"), Some(clis.file("aws")));
        }

        #[test]
        fn stand_in_cli_that_hangs_is_stopped_at_the_timeout() {
            let clis = StandIns::new();
            // The sleep is a child of the script and keeps the output pipes open after the kill.
            clis.write_executable("aws", "#!/bin/sh\nsleep 5\necho '{}'\n");
            let runner = CliRunner::new(clis.dir.path(), Duration::from_millis(300));
            let started = Instant::now();
            let outcome = run_check(Provider::Eks, &eks_hint(), &runner);
            assert!(
                started.elapsed() < Duration::from_secs(4),
                "took {:?}",
                started.elapsed()
            );
            assert_eq!(
                outcome,
                CheckOutcome::CliFailed {
                    command: EKS_COMMAND.into(),
                    message: "gave no answer within 300ms and was stopped".into()
                }
            );
        }
    }
}
