//! Hostile inputs, as a set for any test binary (`mod hostile;`): paths that name something
//! other than a regular file, files too large for what they claim to be, and a runner that
//! bounds a run of the plugin in time and address space, so that a hang or a read without
//! end fails the test instead of stalling it or taking the machine's memory.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Plugin, Run};

/// A temporary folder holding hostile files.
pub struct Files {
    dir: tempfile::TempDir,
    /// Kept open so the socket file stays bound.
    _socket: std::os::unix::net::UnixListener,
}

impl Files {
    pub fn new() -> Files {
        let dir = tempfile::tempdir().expect("temporary folder");
        std::fs::create_dir(dir.path().join("a-directory")).unwrap();
        make_fifo(&dir.path().join("a-fifo"));
        let socket = std::os::unix::net::UnixListener::bind(dir.path().join("a-socket")).unwrap();
        Files {
            dir,
            _socket: socket,
        }
    }

    /// Paths where a regular file belongs that name something else, with what the plugin
    /// must call them: a directory, a FIFO nobody writes to (opening it the usual way waits
    /// for a writer forever), an endless device, a socket.
    pub fn special(&self) -> Vec<(PathBuf, &'static str)> {
        vec![
            (self.dir(), "a directory"),
            (self.dir.path().join("a-fifo"), "a FIFO (named pipe)"),
            (PathBuf::from("/dev/zero"), "a character device"),
            (self.dir.path().join("a-socket"), "a socket"),
        ]
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().join("a-directory")
    }

    /// A new FIFO in the folder.
    pub fn fifo(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        make_fifo(&path);
        path
    }

    /// A regular file of `size` bytes of YAML comments: valid text, of no use.
    pub fn large(&self, size: usize) -> PathBuf {
        let line = format!("# {}\n", "x".repeat(77));
        let text = line.repeat(size / line.len() + 1);
        self.write(&format!("large-{size}"), text.as_bytes())
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

fn make_fifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a path in a temporary folder this module made.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// `count` audit events of a request by `user`, refused with 403, one a line.
pub fn events(user: &str, count: usize) -> String {
    (1..=count)
        .map(|i| {
            format!(
                r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"use-{i}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/kube-system/secrets","verb":"list","user":{{"username":"{user}"}},"sourceIPs":["10.0.0.{i}"],"userAgent":"curl/8.5.0","responseStatus":{{"code":403}},"requestReceivedTimestamp":"2026-11-28T10:00:0{i}Z"}}"#
            ) + "\n"
        })
        .collect()
}

/// What a bounded run writes to the plugin's stdin, on a thread of its own.
pub type Feed = Box<dyn FnOnce(ChildStdin) + Send>;

/// Runs the plugin with at most `memory` bytes of address space, and fails the test
/// (killing the run) when it has not exited within `within`.
pub fn run_bounded(
    plugin: &Plugin,
    args: &[&str],
    within: Duration,
    memory: u64,
    stdin: Option<Feed>,
) -> Run {
    let mut command = plugin.command(args);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    if stdin.is_some() {
        command.stdin(Stdio::piped());
    }
    limit_memory(&mut command, memory);
    let mut child = command.spawn().expect("start kubectl-honeytoken");
    let feeder = stdin.map(|feed| {
        let pipe = child.stdin.take().unwrap();
        std::thread::spawn(move || feed(pipe))
    });
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().unwrap()));
    let stderr = read_all(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for kubectl-honeytoken") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "kubectl-honeytoken {} did not exit within {within:?}; stderr:\n{}",
                args.join(" "),
                stderr.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if let Some(feeder) = feeder {
        feeder.join().expect("the stdin feeder");
    }
    let run = Run {
        code: status.code(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    if run.code.is_none() {
        use std::os::unix::process::ExitStatusExt;
        panic!(
            "kubectl-honeytoken {} died of signal {:?} (abort: out of its {} MiB?); stderr:\n{}",
            args.join(" "),
            status.signal(),
            memory >> 20,
            run.stderr
        );
    }
    run
}

fn limit_memory(command: &mut Command, bytes: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe; it runs in the child between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
