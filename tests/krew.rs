//! Installing the plugin through krew, as users will: `hack/release` builds the release
//! archive and renders its manifest from plugin.yaml, krew's own validator checks that
//! manifest and installs it by downloading its `uri`, and the real `krew` (built from
//! sigs.k8s.io/krew by tests/krew/build), run as `kubectl krew` by the bed's kubectl,
//! installs it into a temporary KREW_ROOT; then kubectl runs the installed plugin against
//! the bed.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn text(output: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[track_caller]
fn run(command: &mut Command, what: &str, how_to_fix: &str) -> Output {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}\n{how_to_fix}"));
    assert!(
        output.status.success(),
        "{what} failed\n{}\n{how_to_fix}",
        text(&output)
    );
    output
}

/// Serves the files of `dir` over plain HTTP on loopback, as GitHub serves release assets,
/// so krew can download an archive by the manifest's `uri`. Counts the files served.
fn serve_files(dir: PathBuf) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen on loopback");
    let address = listener.local_addr().expect("the listener's address");
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = String::new();
            let mut reader = BufReader::new(&stream);
            let _ = reader.read_line(&mut request);
            loop {
                let mut header = String::new();
                match reader.read_line(&mut header) {
                    Ok(n) if n > 0 && header != "\r\n" => continue,
                    _ => break,
                }
            }
            let name = request
                .strip_prefix("GET /")
                .and_then(|rest| rest.split(' ').next())
                .unwrap_or("");
            let file = (!name.is_empty() && !name.contains('/') && !name.starts_with('.'))
                .then(|| std::fs::read(dir.join(name)).ok())
                .flatten();
            let _ = match file {
                Some(body) => {
                    counter.fetch_add(1, Ordering::SeqCst);
                    write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .and_then(|()| stream.write_all(&body))
                }
                None => stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
            };
        }
    });
    (format!("http://{address}"), served)
}

/// `PATH` with `dirs` first, then the test's own.
fn path_with(dirs: &[&Path]) -> std::ffi::OsString {
    let inherited = std::env::var_os("PATH").unwrap_or_default();
    let all = dirs
        .iter()
        .map(|d| d.to_path_buf())
        .chain(std::env::split_paths(&inherited));
    std::env::join_paths(all).expect("PATH")
}

/// The committed plugin.yaml passes krew's own validator, has Cargo.toml's version, and
/// .krew.yaml (krew-release-bot's template) renders to it.
#[test]
fn the_committed_manifest_passes_krews_validator() {
    let output = run(
        &mut Command::new(Path::new(ROOT).join("hack/validate-krew-manifest")),
        "hack/validate-krew-manifest",
        "plugin.yaml or .krew.yaml is not what krew accepts or they disagree (output above); \
         hack/validate-krew-manifest builds krew's validator with tests/krew/build, which needs \
         Go and the Go module proxy",
    );
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains(&format!("version v{VERSION}, and .krew.yaml renders to it")),
        "{}",
        text(&output)
    );
}

#[test]
fn krew_installs_the_release_archive_and_kubectl_runs_the_plugin() {
    let cluster = support::cluster();
    let bed_bin = cluster.bin_dir.as_deref().unwrap_or_else(|| {
        panic!(
            "this test runs krew through the test bed's kubectl, and HONEYTOKEN_TEST_KUBECONFIG \
             points the tests at another cluster: unset it so the tests start the bed \
             (tests/controlplane/up)"
        )
    });
    let root = Path::new(ROOT);
    let tag = format!("v{VERSION}");

    // 1. The release: archive, its .sha256 and the manifest, with the uri pointing at a
    // loopback server that serves the release folder the way GitHub serves release assets.
    let dist = tempfile::tempdir().expect("temporary folder");
    let (base_url, served) = serve_files(dist.path().to_path_buf());
    run(
        Command::new(root.join("hack/release"))
            .arg(dist.path())
            .env("RELEASE_BASE_URL", &base_url),
        "hack/release",
        "hack/release needs cargo and python3 (3.11 or newer); run `hack/release /tmp/dist` by \
         hand to see why it fails",
    );
    let platform = match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "linux_amd64",
        ("linux", "aarch64") => "linux_arm64",
        ("macos", "x86_64") => "darwin_amd64",
        ("macos", "aarch64") => "darwin_arm64",
        (os, arch) => panic!("plugin.yaml has no platform for {os}/{arch}"),
    };
    let archive_name = format!("kubectl-honeytoken_{tag}_{platform}.tar.gz");
    let archive = dist.path().join(&archive_name);
    let manifest = dist.path().join("honeytoken.yaml");

    let listing = run(
        Command::new("tar").arg("-tzf").arg(&archive),
        "tar -tzf on the release archive",
        "hack/release must write a gzipped tar archive",
    );
    let mut entries: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        [
            "LICENSE",
            "kubectl-honeytoken",
            "kubectl_complete-honeytoken"
        ],
        "{archive_name} must hold exactly the binary, its completion helper and LICENSE, at \
         its root"
    );

    let archive_bytes = std::fs::read(&archive).expect("read the archive");
    let sha256 = {
        use sha2::{Digest, Sha256};
        Sha256::digest(&archive_bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let sha_file = std::fs::read_to_string(dist.path().join(format!("{archive_name}.sha256")))
        .expect("hack/release writes ARCHIVE.sha256");
    assert_eq!(sha_file, format!("{sha256}  {archive_name}\n"));

    let rendered = std::fs::read_to_string(&manifest).expect("hack/release writes honeytoken.yaml");
    assert!(
        rendered.contains(&format!("  version: {tag}\n")),
        "{rendered}"
    );
    assert!(
        rendered.contains(&format!("    uri: {base_url}/{archive_name}\n")),
        "{rendered}"
    );
    assert!(
        rendered.contains(&format!("    sha256: \"{sha256}\"\n")),
        "the manifest must hold the archive's real sha256, in lowercase:\n{rendered}"
    );
    assert_eq!(
        rendered.matches("  - selector:").count(),
        1,
        "only the platform built goes into the manifest:\n{rendered}"
    );
    assert!(
        !rendered.contains(&"0".repeat(64)),
        "a placeholder is left:\n{rendered}"
    );

    // 2. krew itself, and its validator: structure, then an install of every platform of
    // the manifest by download from its uri (sha256 checked), with a LICENSE installed.
    let krew_build = run(
        &mut Command::new(root.join("tests/krew/build")),
        "tests/krew/build",
        "tests/krew/build builds krew from the Go module proxy (sigs.k8s.io/krew, pinned in \
         tests/krew/go.mod): it needs Go and the proxy; run it by hand to see why it fails",
    );
    let krew_bin = PathBuf::from(String::from_utf8_lossy(&krew_build.stdout).trim());
    let krew = krew_bin.join("krew");
    assert!(
        krew.is_file(),
        "tests/krew/build printed {krew_bin:?}, without krew in it"
    );

    let validated = run(
        Command::new(root.join("hack/validate-krew-manifest"))
            .arg("--install")
            .arg(&manifest)
            .env("PATH", path_with(&[bed_bin])),
        "hack/validate-krew-manifest --install on the rendered manifest",
        "krew's validator rejected the manifest hack/release rendered (output above)",
    );
    assert!(
        String::from_utf8_lossy(&validated.stderr).contains("all 1 spec.platforms installed fine"),
        "{}",
        text(&validated)
    );
    assert!(
        served.load(Ordering::SeqCst) >= 1,
        "krew's validator did not download the archive from the manifest's uri"
    );

    // 3. `kubectl krew install`, the way a plugin author tests a manifest with its archive:
    // krew on PATH as the kubectl plugin kubectl-krew, next to the bed's kubectl. PATH holds
    // nothing else, so `kubectl plugin list` shows only what this test put there.
    let krew_root = tempfile::tempdir().expect("temporary folder");
    let path_dir = tempfile::tempdir().expect("temporary folder");
    let home = tempfile::tempdir().expect("temporary folder");
    std::os::unix::fs::symlink(&krew, path_dir.path().join("kubectl-krew"))
        .expect("symlink kubectl-krew");
    let krew_root_bin = krew_root.path().join("bin");
    let path = std::env::join_paths([path_dir.path(), bed_bin, &krew_root_bin]).expect("PATH");
    let kubectl = |args: &[&str]| {
        let mut command = Command::new(bed_bin.join("kubectl"));
        command
            .args(args)
            .env_clear()
            .env("PATH", &path)
            .env("HOME", home.path())
            .env("KREW_ROOT", krew_root.path())
            .env("KREW_NO_UPGRADE_CHECK", "1")
            .env("NO_COLOR", "1");
        command
    };

    let manifest_flag = format!("--manifest={}", manifest.display());
    let archive_flag = format!("--archive={}", archive.display());
    let install = run(
        &mut kubectl(&["krew", "install", &manifest_flag, &archive_flag]),
        "kubectl krew install --manifest --archive",
        "krew could not install the release archive with the rendered manifest (output above)",
    );
    let install_text = text(&install);
    assert!(
        install_text.contains("Installed plugin: honeytoken"),
        "{install_text}"
    );
    assert!(
        install_text.contains("deploy/operator-rbac.yaml"),
        "krew shows the caveats after installing; they name the operator RBAC:\n{install_text}"
    );
    let store = krew_root.path().join("store/honeytoken").join(&tag);
    assert!(
        store.join("kubectl-honeytoken").is_file()
            && store.join("kubectl_complete-honeytoken").is_file()
            && store.join("LICENSE").is_file(),
        "krew installs the binary, its completion helper and LICENSE into {}",
        store.display()
    );
    let installed = krew_root_bin.join("kubectl-honeytoken");
    assert_eq!(
        std::fs::read_link(&installed).expect("krew links KREW_ROOT/bin/kubectl-honeytoken"),
        store.join("kubectl-honeytoken")
    );

    let list = run(
        &mut kubectl(&["plugin", "list"]),
        "kubectl plugin list",
        "kubectl found a problem with the installed plugins (output above)",
    );
    let plugins = String::from_utf8_lossy(&list.stdout);
    assert!(
        plugins
            .lines()
            .any(|line| line == installed.to_string_lossy()),
        "kubectl plugin list does not show {}:\n{}",
        installed.display(),
        text(&list)
    );

    // 4. The installed plugin, run by kubectl.
    let help = run(
        &mut kubectl(&["honeytoken", "--help"]),
        "kubectl honeytoken --help",
        "kubectl did not run the plugin krew installed",
    );
    let help_text = String::from_utf8_lossy(&help.stdout);
    assert!(
        help_text.starts_with("kubectl honeytoken: "),
        "--help starts with the about line:\n{help_text}"
    );
    assert!(
        help_text
            .lines()
            .any(|line| line.starts_with("Usage: kubectl honeytoken ")),
        "{help_text}"
    );

    // 5. Completion: krew links only the plugin into KREW_ROOT/bin; the caveats' lines put
    // kubectl_complete-honeytoken beside it, and kubectl's completion then asks it.
    assert!(
        install_text.contains("kubectl honeytoken completion kubectl >"),
        "the caveats tell how to install the completion helper:\n{install_text}"
    );
    let caveat_lines: Vec<&str> = install_text
        .lines()
        // krew prints the caveats in nested boxes: " |  |   line".
        .map(|line| line.trim_start_matches(|c: char| c == '|' || c.is_whitespace()))
        .filter(|line| {
            line.starts_with("kubectl honeytoken completion kubectl >")
                || line.starts_with("chmod +x ")
        })
        .collect();
    assert_eq!(caveat_lines.len(), 2, "{install_text}");
    let completer = krew_root_bin.join("kubectl_complete-honeytoken");
    assert!(!completer.exists(), "krew cannot install it on PATH");
    // The user's shell has the system's tools (chmod) besides kubectl and the plugin.
    let mut shell_path = path.clone();
    shell_path.push(":/usr/bin:/bin");
    run(
        Command::new("sh")
            .arg("-c")
            .arg(caveat_lines.join("\n"))
            .env_clear()
            .env("PATH", &shell_path)
            .env("HOME", home.path())
            .env("KREW_ROOT", krew_root.path()),
        "the caveats' completion install lines",
        "the lines the caveats print do not install the completion helper",
    );
    let completed = run(
        &mut kubectl(&["__complete", "honeytoken", "pl"]),
        "kubectl __complete honeytoken pl",
        "kubectl's completion of the plugin failed",
    );
    let completed_text = String::from_utf8_lossy(&completed.stdout);
    assert!(
        completed_text
            .lines()
            .any(|line| line.starts_with("plant\t")),
        "kubectl honeytoken pl<TAB> through the installed helper:\n{}",
        text(&completed)
    );

    // kubectl hands a plugin everything after its name and refuses its own flags before
    // it ("flags cannot be placed before plugin name"), so kubectl's global flags go after.
    let kubeconfig = cluster.kubeconfig.to_string_lossy().into_owned();
    let key_home = tempfile::tempdir().expect("temporary folder");
    // A key of this test's own: no decoy was ever planted with it.
    let mut key_bytes = [0u8; 32];
    getrandom::fill(&mut key_bytes).expect("random key");
    let key: String = key_bytes.iter().map(|b| format!("{b:02x}")).collect();
    let status = kubectl(&[
        "honeytoken",
        "--kubeconfig",
        &kubeconfig,
        "--context",
        "operator",
        "status",
    ])
    .env("HONEYTOKEN_HOME", key_home.path())
    .env("HONEYTOKEN_KEY", &key)
    .stdin(Stdio::null())
    .output()
    .expect("run kubectl honeytoken status");
    // The plugin ran and asked the bed: with a key no decoy was planted with, it finds none
    // and says so with its own exit code (6), which kubectl passes on.
    let status_text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(
        status.status.code(),
        Some(6),
        "kubectl honeytoken status (as the operator, on the bed):\n{}",
        text(&status)
    );
    assert!(
        status_text.contains("No decoys of this key in namespace(s)")
            && status_text.contains("kube-system"),
        "{}",
        text(&status)
    );
}
