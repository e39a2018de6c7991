//! The plugin on a real terminal: `script` gives it a pseudo-terminal for stdin, stdout and
//! stderr, and each answer is typed once its question is on the screen.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `command` (the plugin with its arguments and environment, as `Plugin::command`
/// makes it) on a terminal; types each answer's keys once its text has appeared on the
/// screen after the previous answer's, and keeps the terminal open until the plugin ends.
/// Returns the exit code and the screen as written (colour and cursor codes kept), and
/// whether every answer was typed.
pub fn on_a_terminal(
    command: &Command,
    answers: &[(&str, &[u8])],
    within: Duration,
) -> (Option<i32>, String, bool) {
    let line: Vec<String> = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|word| format!("'{}'", word.to_string_lossy().replace('\'', "'\\''")))
        .collect();
    let mut script = Command::new("script");
    script
        .args(["-qec", &line.join(" "), "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => script.env(key, value),
            None => script.env_remove(key),
        };
    }
    let mut child = script.spawn().expect("run script");
    let mut stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0 || sender.send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut keyboard = child.stdin.take().unwrap();
    let mut screen = Vec::new();
    let mut typed = 0;
    let mut seen_up_to = 0;
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match receiver.recv_timeout(Duration::from_millis(100)) {
            Ok(bytes) => screen.extend(bytes),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if let Some((question, keys)) = answers.get(typed) {
            let text = String::from_utf8_lossy(&screen[seen_up_to..]).into_owned();
            if let Some(at) = text.find(question) {
                seen_up_to += at + question.len();
                keyboard.write_all(keys).unwrap();
                keyboard.flush().unwrap();
                typed += 1;
            }
        }
    }
    let _ = child.kill();
    let status = child.wait().unwrap();
    drop(keyboard);
    (
        status.code(),
        String::from_utf8_lossy(&screen).into_owned(),
        typed == answers.len(),
    )
}
