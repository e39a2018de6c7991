//! Inputs an attacker or an accident hands the plugin: directories, FIFOs and devices where
//! a file belongs, files too large to be what they claim, lines longer than memory allows.
//! Each run is bounded in time (a hang fails the test) and in address space (a run that
//! would read without end dies instead of taking the machine's memory). No cluster needed.
//!
//! The set of hostile files is [`hostile::Files`], for the next command that reads a file
//! to be tried against it too.

mod hostile;
mod support;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use hostile::{Files, run_bounded};
use support::Plugin;

const DECOY: &str = "system:serviceaccount:kube-system:tiller";

/// Enough for any command on small input; far less than reading `/dev/zero` whole takes.
const MEMORY: u64 = 1 << 30;

#[test]
fn watch_refuses_a_directory_fifo_or_device_before_its_banner() {
    let files = Files::new();
    let plugin = Plugin::offline();
    for (path, kind) in files.special() {
        let run = run_bounded(
            &plugin,
            &["watch", "--audit-log", path_str(&path), "--user", DECOY],
            Duration::from_secs(20),
            MEMORY,
            None,
        );
        run.assert_code(1);
        assert!(
            run.stderr
                .contains(&format!("is {kind}, not a regular file")),
            "{path:?}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("watch: watching"), "{}", run.stderr);
    }
}

#[test]
fn verify_refuses_special_and_oversized_policy_files_without_reading_them_whole() {
    let files = Files::new();
    let plugin = Plugin::offline();
    let mut cases: Vec<(std::path::PathBuf, String)> = files
        .special()
        .into_iter()
        .map(|(path, kind)| (path, format!("is {kind}, not a regular file")))
        .collect();
    cases.push((
        files.large(5 << 20),
        "is over 4 MiB, the most read as an audit policy".into(),
    ));
    for (path, expected) in cases {
        let run = run_bounded(
            &plugin,
            &["verify", "--policy", path_str(&path)],
            Duration::from_secs(20),
            MEMORY,
            None,
        );
        run.assert_code(1);
        assert!(
            run.stderr.contains("cannot read audit policy") && run.stderr.contains(&expected),
            "{path:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn kubeconfig_refuses_to_merge_into_special_or_oversized_files_before_asking_the_cluster() {
    let files = Files::new();
    let plugin = Plugin::offline();
    let mut cases: Vec<(std::path::PathBuf, String)> = files
        .special()
        .into_iter()
        .map(|(path, kind)| (path, format!("is {kind}, not a regular file")))
        .collect();
    cases.push((
        files.large(5 << 20),
        "is over 4 MiB, the most read as a kubeconfig".into(),
    ));
    for (path, expected) in cases {
        let run = run_bounded(
            &plugin,
            &["kubeconfig", "--merge-into", path_str(&path)],
            Duration::from_secs(20),
            MEMORY,
            None,
        );
        run.assert_code(1);
        assert!(
            run.stderr.contains("cannot read kubeconfig") && run.stderr.contains(&expected),
            "{path:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn watch_refuses_token_and_tls_files_that_are_no_such_thing() {
    let files = Files::new();
    let plugin = Plugin::offline();
    let key_pair = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key_pair)
        .unwrap();
    let cert = files.write("server.crt", cert.pem().as_bytes());
    let key = files.write("server.key", key_pair.serialize_pem().as_bytes());
    let (cert, key) = (path_str(&cert), path_str(&key));
    let zero = "/dev/zero";
    let fifo = files.fifo("pem");
    let fifo = path_str(&fifo);
    let large = files.large(2 << 20);
    let large = path_str(&large);
    let token_large = files.large(1 << 20);
    let token_large = path_str(&token_large);
    for (flag, path, tls, expected) in [
        ("--token-file", zero, None, "is a character device"),
        ("--token-file", token_large, None, "is over 64 KiB"),
        (
            "--tls-cert",
            zero,
            Some(["--tls-key", key]),
            "is a character device",
        ),
        ("--tls-cert", fifo, Some(["--tls-key", key]), "is a FIFO"),
        (
            "--tls-cert",
            large,
            Some(["--tls-key", key]),
            "is over 1 MiB, the most read as a PEM file",
        ),
        ("--tls-key", fifo, Some(["--tls-cert", cert]), "is a FIFO"),
        (
            "--tls-key",
            zero,
            Some(["--tls-cert", cert]),
            "is a character device",
        ),
    ] {
        let mut args = vec![
            "watch",
            "--listen",
            "127.0.0.1:0",
            "--user",
            DECOY,
            flag,
            path,
        ];
        args.extend(tls.iter().flatten());
        let run = run_bounded(&plugin, &args, Duration::from_secs(20), MEMORY, None);
        run.assert_code(1);
        assert!(
            run.stderr.contains(&format!("{flag} {path}: {expected}")),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("watch: watching"), "{}", run.stderr);
    }
    let args = [
        "watch",
        "--listen",
        "127.0.0.1:0",
        "--user",
        DECOY,
        "--tls-cert",
        cert,
        "--tls-key",
        key,
        "--client-ca",
        zero,
    ];
    let run = run_bounded(&plugin, &args, Duration::from_secs(20), MEMORY, None);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("--client-ca /dev/zero: is a character device"),
        "{}",
        run.stderr
    );
}

/// The issue's case: a line far larger than the memory the scan may use (here 1.25 GiB
/// against 1 GiB of address space), then a file with five real uses, which must be found.
#[test]
fn scan_reads_past_a_line_longer_than_its_memory_and_finds_the_uses_after_it() {
    let files = Files::new();
    let real = files.write("audit.log", hostile::events(DECOY, 5).as_bytes());
    let plugin = Plugin::offline();
    let run = run_bounded(
        &plugin,
        &["scan", "--user", DECOY, "-", path_str(&real), "-o", "json"],
        Duration::from_secs(120),
        MEMORY,
        Some(Box::new(|mut stdin| {
            // The child may stop reading (and the write fail) if it dies: the code says.
            let chunk = vec![b'x'; 1 << 20];
            for _ in 0..1280 {
                if stdin.write_all(&chunk).is_err() {
                    return;
                }
            }
            let _ = stdin.write_all(b"\n");
        })),
    );
    run.assert_code(3);
    let report = run.json();
    assert_eq!(report["realUses"], 5, "{report:#}");
    assert_eq!(report["summary"]["oversized"], 1, "{report:#}");
    assert_eq!(report["summary"]["oversizedWithDecoy"], 0, "{report:#}");
    assert_eq!(report["summary"]["lines"], 6, "{report:#}");
    assert!(
        run.stderr
            .contains("skipped 1 line(s) over the 16 MiB line limit"),
        "{}",
        run.stderr
    );
}

#[test]
fn scan_tells_an_oversized_line_naming_a_decoy_as_incomplete() {
    let files = Files::new();
    let mut line = vec![b'x'; 17 << 20];
    line.splice(1000..1000, format!(r#""username":"{DECOY}""#).bytes());
    line.push(b'\n');
    let path = files.write("big.log", &line);
    let plugin = Plugin::offline();
    let run = run_bounded(
        &plugin,
        &["scan", "--user", DECOY, path_str(&path), "-o", "json"],
        Duration::from_secs(60),
        MEMORY,
        None,
    );
    // Nothing found, but a use may be in the line that was not read: not a clean 0.
    run.assert_code(1);
    assert_eq!(run.json()["summary"]["oversizedWithDecoy"], 1);
    assert!(
        run.stderr.contains("a use may be among them"),
        "{}",
        run.stderr
    );
}

#[test]
fn scan_refuses_directories_and_devices_and_goes_on_to_the_next_input() {
    let files = Files::new();
    let real = files.write("audit.log", hostile::events(DECOY, 5).as_bytes());
    let plugin = Plugin::offline();
    let dir = files.dir();
    let args = [
        "scan",
        "--user",
        DECOY,
        path_str(&dir),
        "/dev/zero",
        path_str(&real),
        "-o",
        "json",
    ];
    let run = run_bounded(&plugin, &args, Duration::from_secs(30), MEMORY, None);
    run.assert_code(3);
    assert_eq!(run.json()["realUses"], 5);
    assert!(
        run.stderr.contains("is a directory, not a regular file")
            && run
                .stderr
                .contains("/dev/zero: is a character device, not a regular file"),
        "{}",
        run.stderr
    );
    // Alone, a refused input is an incomplete scan.
    let run = run_bounded(
        &plugin,
        &["scan", "--user", DECOY, path_str(&dir)],
        Duration::from_secs(30),
        MEMORY,
        None,
    );
    run.assert_code(1);
}

/// A FIFO is a stream, like stdin: read once, from its first byte, to its end.
#[test]
fn scan_reads_a_fifo_from_its_first_byte() {
    let files = Files::new();
    let fifo = files.fifo("stream");
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut file = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            file.write_all(hostile::events(DECOY, 5).as_bytes())
        })
    };
    let plugin = Plugin::offline();
    let run = run_bounded(
        &plugin,
        &["scan", "--user", DECOY, path_str(&fifo), "-o", "json"],
        Duration::from_secs(30),
        MEMORY,
        None,
    );
    writer.join().unwrap().unwrap();
    run.assert_code(3);
    assert_eq!(run.json()["realUses"], 5, "{}", run.stderr);
    assert_eq!(run.json()["summary"]["malformed"], 0);
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}
