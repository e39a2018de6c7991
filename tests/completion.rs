//! Completion as a user meets it, each shell's script driven rather than read: bash's
//! completion function called as bash calls it, fish's `complete -C`, zsh on a
//! pseudo-terminal with a real TAB, and `kubectl honeytoken <TAB>` through the bed's own
//! kubectl, which runs the kubectl_complete-honeytoken executable found on PATH.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BINARY: &str = env!("CARGO_BIN_EXE_kubectl-honeytoken");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn text(output: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The completion script for `shell`, as `completion SHELL` prints it, in a file.
fn script(shell: &str, dir: &Path) -> PathBuf {
    let output = Command::new(BINARY)
        .args(["completion", shell])
        .output()
        .expect("run kubectl-honeytoken");
    assert!(output.status.success(), "{}", text(&output));
    let path = dir.join(format!("kubectl-honeytoken.{shell}"));
    std::fs::write(&path, &output.stdout).unwrap();
    path
}

/// A folder for PATH holding `kubectl-honeytoken` (this build) and the repository's
/// kubectl_complete-honeytoken, as an install leaves them.
fn plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(BINARY, dir.path().join("kubectl-honeytoken")).unwrap();
    std::fs::copy(
        Path::new(ROOT).join("kubectl_complete-honeytoken"),
        dir.path().join("kubectl_complete-honeytoken"),
    )
    .expect("the repository ships kubectl_complete-honeytoken");
    dir
}

fn path_with(dirs: &[&Path]) -> std::ffi::OsString {
    let inherited = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(
        dirs.iter()
            .map(|d| d.to_path_buf())
            .chain(std::env::split_paths(&inherited)),
    )
    .unwrap()
}

#[track_caller]
fn shell_present(shell: &str) {
    let found = Command::new(shell)
        .arg("-c")
        .arg("exit 0")
        .stdin(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{shell} is needed to drive its completion script: install it (apt-get install {shell}; \
         .ci/run does)"
    );
}

/// What bash's completion offers for `line` (words split by spaces; a trailing space
/// starts a new word): the script sourced, its function called as bash's programmable
/// completion calls it, COMPREPLY printed one per line.
fn bash_offers(script: &Path, line: &str) -> Vec<String> {
    let mut words: Vec<&str> = line.split(' ').collect();
    if words.is_empty() {
        words.push("");
    }
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\n\
         COMP_WORDS=({})\n\
         COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n\
         COMP_LINE='{line}'\n\
         COMP_POINT=${{#COMP_LINE}}\n\
         spec=$(complete -p kubectl-honeytoken) || exit 3\n\
         function=$(sed -n 's/.*-F \\([^ ]*\\) .*/\\1/p' <<<\"$spec\")\n\
         \"$function\" kubectl-honeytoken \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" ")
    );
    let output = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .stdin(Stdio::null())
        .output()
        .expect("run bash");
    assert!(output.status.success(), "{}", text(&output));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn bash_completes_commands_flags_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let script = script("bash", dir.path());
    assert_eq!(bash_offers(&script, "kubectl-honeytoken pl"), vec!["plant"]);
    assert_eq!(
        bash_offers(&script, "kubectl-honeytoken plant --prof"),
        vec!["--profile", "--profile-file"]
    );
    assert_eq!(
        bash_offers(&script, "kubectl-honeytoken status -o "),
        vec!["table", "wide", "json", "yaml"]
    );
    assert_eq!(
        bash_offers(&script, "kubectl-honeytoken rules --for s"),
        vec!["sigma", "splunk"]
    );
    assert!(
        bash_offers(&script, "kubectl-honeytoken remove --")
            .iter()
            .any(|f| f == "--request-timeout")
    );
    assert_eq!(
        bash_offers(&script, "kubectl-honeytoken vers"),
        vec!["version"]
    );
}

#[test]
fn fish_completes_commands_flags_and_values() {
    shell_present("fish");
    let dir = tempfile::tempdir().unwrap();
    let script = script("fish", dir.path());
    let offers = |line: &str| -> Vec<String> {
        let output = Command::new("fish")
            .args(["--no-config", "-c"])
            .arg(format!(
                "source '{}'; complete -C '{line}'",
                script.display()
            ))
            .stdin(Stdio::null())
            .output()
            .expect("run fish");
        assert!(output.status.success(), "{}", text(&output));
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| l.split('\t').next().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(offers("kubectl-honeytoken pl"), vec!["plant"]);
    assert_eq!(
        offers("kubectl-honeytoken plant --prof"),
        vec!["--profile", "--profile-file"]
    );
    assert_eq!(
        offers("kubectl-honeytoken status -o "),
        vec!["json", "table", "wide", "yaml"]
    );
    assert_eq!(
        offers("kubectl-honeytoken rules --for s"),
        vec!["sigma", "splunk"]
    );
}

/// An interactive shell on a pseudo-terminal: what it echoes is read until an expected
/// text shows.
struct Terminal {
    master: std::fs::File,
    child: std::process::Child,
    seen: String,
}

impl Terminal {
    fn start(program: &str, args: &[&str], path: &std::ffi::OsStr, home: &Path) -> Terminal {
        use std::os::fd::{FromRawFd, OwnedFd};
        use std::os::unix::process::CommandExt;
        let (mut master, mut slave) = (0, 0);
        let size = libc::winsize {
            ws_row: 40,
            ws_col: 200,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let opened = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
        let slave = unsafe { OwnedFd::from_raw_fd(slave) };
        let mut command = Command::new(program);
        command
            .args(args)
            .env_clear()
            .env("PATH", path)
            .env("HOME", home)
            .env("TERM", "xterm")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("start the shell");
        let flags = unsafe { libc::fcntl(master, libc::F_GETFL) };
        unsafe { libc::fcntl(master, libc::F_SETFL, flags | libc::O_NONBLOCK) };
        Terminal {
            master: unsafe { std::fs::File::from_raw_fd(master) },
            child,
            seen: String::new(),
        }
    }

    fn send(&mut self, keys: &str) {
        use std::io::Write;
        self.master.write_all(keys.as_bytes()).unwrap();
    }

    /// Reads until `wanted` has been echoed since the last call; what was read, without
    /// escape sequences.
    #[track_caller]
    fn until(&mut self, wanted: &str) -> String {
        use std::io::Read;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut buffer = [0u8; 4096];
        loop {
            let plain = strip_escapes(&self.seen);
            if let Some(at) = plain.find(wanted) {
                self.seen.clear();
                return plain[..at + wanted.len()].to_string();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the terminal never showed {wanted:?}; it showed:\n{plain}"
            );
            match self.master.read(&mut buffer) {
                Ok(n) if n > 0 => self.seen.push_str(&String::from_utf8_lossy(&buffer[..n])),
                _ => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text of terminal output: escape sequences, bells, backspaced characters and
/// carriage returns removed.
fn strip_escapes(raw: &str) -> String {
    let mut plain = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    while let Some(&next) = chars.peek() {
                        chars.next();
                        if next.is_ascii_alphabetic() || next == '~' {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\u{8}' => {
                plain.pop();
            }
            '\r' | '\u{7}' => {}
            c => plain.push(c),
        }
    }
    plain
}

#[test]
fn zsh_completes_commands_flags_and_values_on_a_terminal() {
    shell_present("zsh");
    let dir = tempfile::tempdir().unwrap();
    let script = script("zsh", dir.path());
    let plugins = plugin_dir();
    let mut zsh = Terminal::start(
        "zsh",
        &["-f", "-i"],
        &path_with(&[plugins.path()]),
        dir.path(),
    );
    zsh.send(&format!(
        "PS1='%% '; autoload -Uz compinit; compinit -u -D; source '{}'; echo READY-$((6*7))\n",
        script.display()
    ));
    zsh.until("READY-42");
    // One candidate: the word is completed in place.
    zsh.send("kubectl-honeytoken pl\t");
    zsh.until("kubectl-honeytoken plant ");
    // A flag's values: listed under the line.
    zsh.send("\u{15}kubectl-honeytoken status -o \t");
    let listed = zsh.until("yaml");
    assert!(listed.contains("table"), "{listed}");
    // One of them, completed in place.
    zsh.send("\u{15}kubectl-honeytoken status -o w\t");
    zsh.until("kubectl-honeytoken status -o wide ");
    // A flag of the command.
    zsh.send("\u{15}kubectl-honeytoken plant --list-pro\t");
    zsh.until("kubectl-honeytoken plant --list-profiles ");
}

/// `kubectl __complete honeytoken WORDS…`: what kubectl's own completion script asks
/// kubectl when the user presses TAB after `kubectl honeytoken`, with the plugin and its
/// completion executable on PATH as an install leaves them. Returns the candidates (the
/// value before any tab) and the directive line.
fn kubectl_offers(
    kubectl: &Path,
    plugins: &Path,
    kubeconfig: &Path,
    words: &[&str],
) -> (Vec<String>, String) {
    let output = Command::new(kubectl)
        .arg("__complete")
        .arg("honeytoken")
        .args(words)
        .env("PATH", path_with(&[plugins]))
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::null())
        .output()
        .expect("run kubectl");
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines: Vec<&str> = stdout.lines().collect();
    let directive = lines.pop().unwrap_or("").to_string();
    (
        lines
            .iter()
            .map(|l| l.split('\t').next().unwrap_or("").to_string())
            .collect(),
        directive,
    )
}

#[test]
fn kubectl_honeytoken_tab_completes_through_kubectl_complete_honeytoken() {
    let cluster = support::cluster();
    let kubectl = cluster
        .bin_dir
        .as_ref()
        .expect("this test runs the bed's kubectl; unset HONEYTOKEN_TEST_KUBECONFIG")
        .join("kubectl");
    let plugins = plugin_dir();
    let ask = |words: &[&str]| kubectl_offers(&kubectl, plugins.path(), &cluster.kubeconfig, words);

    let (commands, directive) = ask(&[""]);
    for command in [
        "plant",
        "verify",
        "test-trigger",
        "status",
        "remove",
        "version",
    ] {
        assert!(
            commands.iter().any(|c| c == command),
            "{command}: {commands:?}"
        );
    }
    assert_eq!(directive, ":4", "no file names among the commands");
    assert_eq!(ask(&["pl"]).0, vec!["plant"]);
    assert_eq!(
        ask(&["plant", "--prof"]).0,
        vec!["--profile", "--profile-file"]
    );
    assert_eq!(
        ask(&["status", "-o", ""]).0,
        vec!["table", "wide", "json", "yaml"]
    );
    // The bed's kubeconfig's contexts, read from KUBECONFIG as kubectl passes it on.
    let (contexts, _) = ask(&["status", "--context", ""]);
    assert!(
        contexts.iter().any(|c| c == "admin") && contexts.iter().any(|c| c == "operator"),
        "{contexts:?}"
    );
    // The bed's namespaces, listed by its current context's user.
    assert_eq!(
        ask(&["status", "-n", "kube-sys"]),
        (vec!["kube-system".to_string()], ":4".to_string())
    );
    // A file flag leaves file names to the shell (directive 0).
    assert_eq!(ask(&["verify", "--policy", ""]), (vec![], ":0".to_string()));
}

#[test]
fn the_executable_answers_under_the_completion_name_too() {
    // A link named kubectl_complete-honeytoken to the executable answers as the script does.
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("kubectl_complete-honeytoken");
    std::os::unix::fs::symlink(BINARY, &link).unwrap();
    let by_link = Command::new(&link)
        .args(["status", "-o", "y"])
        .output()
        .unwrap();
    let by_word = Command::new(BINARY)
        .args(["__complete", "status", "-o", "y"])
        .output()
        .unwrap();
    assert!(by_link.status.success() && by_word.status.success());
    assert_eq!(String::from_utf8_lossy(&by_link.stdout), "yaml\n:4\n");
    assert_eq!(by_link.stdout, by_word.stdout);
    // `completion kubectl` prints the shipped script.
    let printed = Command::new(BINARY)
        .args(["completion", "kubectl"])
        .output()
        .unwrap();
    assert_eq!(
        printed.stdout,
        std::fs::read(Path::new(ROOT).join("kubectl_complete-honeytoken")).unwrap()
    );
}

/// `kubectl-honeytoken __complete WORDS…` with `kubeconfig` as KUBECONFIG: its candidates,
/// and the run, which must end (with its code, and a stderr that stays empty) within
/// `ceiling`: a TAB left unanswered that long has hung.
fn complete_with(
    kubeconfig: &Path,
    words: &[&str],
    ceiling: std::time::Duration,
) -> (Vec<String>, Output) {
    let mut child = Command::new(BINARY)
        .arg("__complete")
        .args(words)
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl-honeytoken");
    let started = std::time::Instant::now();
    while child.try_wait().expect("wait for it").is_none() {
        if started.elapsed() > ceiling {
            let _ = child.kill();
            panic!(
                "`__complete {}` hung: no answer within {ceiling:?}",
                words.join(" ")
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert!(output.stderr.is_empty(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.pop(), Some(":4"), "{}", text(&output));
    let candidates = lines.iter().map(|l| l.to_string()).collect();
    (candidates, output)
}

#[tokio::test]
async fn the_namespace_flag_completes_the_namespaces_of_the_cluster_the_line_names() {
    let cluster = support::cluster();
    let admin = cluster.client("admin").await;
    let name = format!(
        "tab-{}",
        &kubectl_honeytoken::detect::drill::new_drill_id()[..8]
    );
    let made = support::namespace(&admin, &name)
        .await
        .expect("create a namespace");
    let mut cleanup = support::Cleanup::new(cluster);
    cleanup.delete(&made);
    let prefix = &name[..name.len() - 2];
    // Generous against the product's own bound of 2 s: only a hang exceeds it.
    let ceiling = std::time::Duration::from_secs(20);
    let bed = cluster.kubeconfig.as_path();
    let ask = |kubeconfig: &Path, words: &[&str]| complete_with(kubeconfig, words, ceiling).0;

    // The current context's cluster (admin), for -n, --namespace and --namespace=.
    assert_eq!(ask(bed, &["status", "-n", prefix]), vec![name.clone()]);
    assert_eq!(ask(bed, &["-n", prefix]), vec![name.clone()]);
    assert_eq!(
        ask(bed, &["remove", "--namespace", prefix]),
        vec![name.clone()]
    );
    let inline = format!("--namespace={prefix}");
    assert_eq!(
        ask(bed, &["plant", &inline]),
        vec![format!("--namespace={name}")]
    );
    // Every namespace for an empty word, the bed's own among them.
    let all = ask(bed, &["status", "-n", ""]);
    for wanted in ["default", "kube-system", name.as_str()] {
        assert!(all.iter().any(|n| n == wanted), "{wanted}: {all:?}");
    }
    // --kubeconfig on the line, over KUBECONFIG.
    let bed_arg = bed.to_str().unwrap();
    let nowhere = Path::new("/nonexistent/kubeconfig");
    assert_eq!(
        ask(nowhere, &["--kubeconfig", bed_arg, "status", "-n", prefix]),
        vec![name.clone()]
    );
    assert!(ask(nowhere, &["status", "-n", prefix]).is_empty());
    // --context and --user on the line: operator may get a namespace but not list them, so
    // on its behalf nothing is offered, and nothing is said.
    assert!(ask(bed, &["--context", "operator", "status", "-n", prefix]).is_empty());
    assert!(ask(bed, &["status", "--user=operator", "-n", prefix]).is_empty());
    assert_eq!(
        ask(
            bed,
            &["--context", "operator", "--user", "admin", "-n", prefix]
        ),
        vec![name.clone()]
    );
    // A context the kubeconfig does not have.
    assert!(ask(bed, &["--context", "no-such-context", "-n", prefix]).is_empty());
}

/// A cluster that does not answer: the TAB comes back with no candidates and no message,
/// bounded by completion's own limit rather than a request's usual 30 s.
// The proxy runs on the test's runtime while the plugin runs as a child process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_does_not_answer_gets_no_candidates_and_no_wait() {
    use support::proxy::{Fault, Proxy, Rule};

    let cluster = support::cluster();
    // Shorter than a request's usual limit (30 s), so a TAB that waited for it would fail;
    // far longer than completion's own (2 s), so only a wait of that kind does.
    let ceiling = std::time::Duration::from_secs(15);
    // The list of namespaces reaches the API server; its answer is held back for a minute.
    let proxy = Proxy::start(
        &cluster.kubeconfig,
        "admin",
        vec![Rule {
            method: "GET",
            path_suffix: "/api/v1/namespaces".into(),
            fault: Fault::Delay(std::time::Duration::from_secs(60)),
            times: 1,
        }],
    )
    .await;
    let (candidates, output) =
        complete_with(&proxy.kubeconfig, &["status", "-n", "kube-"], ceiling);
    assert!(candidates.is_empty(), "{}", text(&output));
    let held = support::eventually(std::time::Duration::from_secs(10), || async {
        (!proxy.faulted.lock().unwrap().is_empty()).then_some(())
    })
    .await;
    assert!(held.is_some(), "the list never reached the proxy");
    // Once the proxy answers again, the same TAB completes through it.
    assert_eq!(
        complete_with(&proxy.kubeconfig, &["status", "-n", "kube-sys"], ceiling).0,
        vec!["kube-system"]
    );

    // A server that takes the connection and never speaks TLS: nothing either.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let server = format!("https://{}", silent.local_addr().unwrap());
    let (candidates, output) = complete_with(
        &cluster.kubeconfig,
        &["--server", &server, "status", "-n", "kube-"],
        ceiling,
    );
    assert!(candidates.is_empty(), "{}", text(&output));
    drop(silent);
}
