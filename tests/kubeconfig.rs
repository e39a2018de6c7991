//! `kubeconfig` on the real control plane: the file it writes signs in as the decoy with the
//! bed's own kubectl, is refused everything, and its use is seen by `status` (the tripwire)
//! and by `scan` (the audit log); a merge into a kubeconfig of three contexts keeps them
//! byte for byte and adds a fourth that works.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use kube::config::Kubeconfig;
use kubectl_honeytoken::decoy::realism::giveaways_in;
use support::{Cluster, Plugin, cluster};

/// The bed's own kubectl with only the given kubeconfig.
fn kubectl(cluster: &Cluster, kubeconfig: &Path, args: &[&str]) -> Output {
    let kubectl = cluster
        .bin_dir
        .as_ref()
        .expect("this test needs the bed's kubectl")
        .join("kubectl");
    let home = tempfile::tempdir().unwrap();
    Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env_remove("KUBECONFIG")
        .env("HOME", home.path())
        .output()
        .expect("run the bed's kubectl")
}

fn text_of(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Plants the default decoy in `namespace` as the operator; returns its Secret's name.
fn plant_in(plugin: &Plugin, namespace: &str) -> String {
    let planted = plugin.as_operator(namespace, &["plant", "--yes", "-o", "json"]);
    planted.assert_code(0);
    planted.json()["secret"].as_str().unwrap().to_string()
}

/// The bed's CA as its kubeconfig names it (a file: the plugin must inline it).
fn bed_ca(cluster: &Cluster) -> String {
    let config = Kubeconfig::read_from(&cluster.kubeconfig).unwrap();
    let named = config.clusters.iter().find(|c| c.name == "bed").unwrap();
    let path = named
        .cluster
        .as_ref()
        .unwrap()
        .certificate_authority
        .clone()
        .expect("the bed's kubeconfig names its CA file");
    std::fs::read_to_string(path).unwrap()
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|&c| c != b'=') {
        bits = (bits << 6) | ALPHABET.iter().position(|&a| a == c).expect("base64") as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

/// `kubectl auth whoami` with a kubeconfig: the user name it signs in as.
fn whoami(cluster: &Cluster, kubeconfig: &Path, extra: &[&str]) -> String {
    let mut args = extra.to_vec();
    args.extend([
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    let output = kubectl(cluster, kubeconfig, &args);
    assert!(output.status.success(), "{}", text_of(&output));
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn the_exported_kubeconfig_signs_in_as_the_decoy_and_its_use_trips_the_alarm() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "kcout").await;
    let plugin = Plugin::new(cluster);
    let op = |args: &[&str]| plugin.as_operator(&namespace, args);
    let secret = plant_in(&plugin, &namespace);
    let token = support::token_of(&admin, &namespace, &secret).await;
    let user = format!("system:serviceaccount:{namespace}:tiller");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("config");
    let out_text = out.display().to_string();

    let written = op(&["kubeconfig", "--out", &out_text, "-o", "json"]);
    written.assert_code(0);
    let report = written.json();
    assert_eq!(report["result"], "written");
    assert_eq!(report["path"], out_text.as_str());
    // The bed's cluster is `bed`: the entries are named as kubeadm names an admin's.
    assert_eq!(report["cluster"], "bed");
    assert_eq!(report["user"], "bed-admin");
    assert_eq!(report["context"], "bed-admin@bed");
    assert_eq!(report["mode"], "0600");
    assert_eq!(report["certificateAuthorityData"], true);
    assert_eq!(report["decoy"]["username"], user.as_str());
    assert_eq!(report["decoy"]["secret"], secret.as_str());

    assert_eq!(mode_of(&out), 0o600);
    let text = std::fs::read_to_string(&out).unwrap();
    let config = Kubeconfig::from_yaml(&text).unwrap();
    assert_eq!(config.current_context.as_deref(), Some("bed-admin@bed"));
    let bed = Kubeconfig::read_from(&cluster.kubeconfig).unwrap();
    let entry = config.clusters[0].cluster.as_ref().unwrap();
    assert_eq!(
        entry.server,
        bed.clusters[0].cluster.as_ref().unwrap().server,
        "the server as the operator's context has it"
    );
    // The bed names its CA by file; the export carries the same certificate inline.
    let ca = entry.certificate_authority_data.clone().unwrap();
    assert_eq!(
        String::from_utf8(base64_decode(&ca)).unwrap().trim(),
        bed_ca(cluster).trim()
    );
    assert_eq!(entry.certificate_authority, None);
    let user_entry = config.auth_infos[0].auth_info.as_ref().unwrap();
    assert!(
        text.contains(&format!("token: {token}\n")),
        "{}",
        text.len()
    );
    assert!(user_entry.client_certificate_data.is_none() && user_entry.exec.is_none());
    // Nothing in it says what it is. The token and CA are encoded random data that could
    // spell anything; their decoded forms are the cluster's own.
    let visible = text.replace(&token, "TOKEN").replace(&ca, "CA");
    assert!(
        giveaways_in(&visible).is_empty(),
        "{:?} in:\n{visible}",
        giveaways_in(&visible)
    );

    // The attacker: the bed's kubectl with the file alone.
    assert_eq!(whoami(cluster, &out, &[]), user);
    let secrets = kubectl(cluster, &out, &["get", "secrets", "-n", "kube-system"]);
    assert!(!secrets.status.success(), "{}", text_of(&secrets));
    assert!(
        text_of(&secrets).contains("Forbidden"),
        "{}",
        text_of(&secrets)
    );

    // The tripwire: the API server stamped the Secret, no drill explains it.
    let tripped = support::eventually(Duration::from_secs(10), || async {
        let run = op(&["status", "-o", "json"]);
        (run.code == Some(3)).then_some(run)
    })
    .await
    .expect("status did not exit 3 (TRIPPED) within 10s of the kubeconfig's use");
    assert_eq!(tripped.json()["decoys"][0]["verdict"], "TRIPPED");

    // The audit log: kubectl's whoami and its list of Secrets, as the decoy, not drills.
    let audit_log = cluster.audit_log_path().display().to_string();
    let scanned = support::eventually(Duration::from_secs(10), || async {
        let run = op(&["scan", &audit_log, "-o", "json"]);
        let uses = run.json()["uses"].as_array().cloned().unwrap_or_default();
        let seen = |wanted: &dyn Fn(&serde_json::Value) -> bool| uses.iter().any(wanted);
        (seen(&|u| {
            u["signal"] == "request"
                && u["requestURI"]
                    .as_str()
                    .is_some_and(|r| r.contains("selfsubjectreviews"))
        }) && seen(&|u| {
            u["signal"] == "request"
                && u["code"] == 403
                && u["requestURI"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("/api/v1/namespaces/kube-system/secrets"))
        }))
        .then_some(run)
    })
    .await
    .expect("scan did not find the kubeconfig's whoami and list of Secrets");
    scanned.assert_code(3);
    let uses = scanned.json()["uses"].as_array().unwrap().clone();
    assert!(
        uses.iter()
            .filter(|u| u["signal"] == "request")
            .all(|u| u["drill"] == false
                && u["user"] == user.as_str()
                && u["userAgent"].as_str().unwrap().starts_with("kubectl/")),
        "{uses:#?}"
    );

    // An existing file is never overwritten without --force.
    std::fs::write(&out, "kept\n").unwrap();
    let refused = op(&["kubeconfig", "--out", &out_text]);
    refused.assert_code(1);
    assert!(
        refused.stderr.contains("already exists"),
        "{}",
        refused.stderr
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "kept\n");
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
    op(&["kubeconfig", "--out", &out_text, "--force"]).assert_code(0);
    assert_eq!(mode_of(&out), 0o600);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);

    // To stdout when it is not a terminal: the same file; the report goes to stderr.
    let piped = dir.path().join("piped");
    let to_stdout = plugin.run_with(
        &[
            "--context",
            "operator",
            "-n",
            &namespace,
            "kubeconfig",
            "--out",
            "-",
        ],
        |command| {
            command.stdout(std::fs::File::create(&piped).unwrap());
        },
    );
    to_stdout.assert_code(0);
    assert_eq!(std::fs::read_to_string(&piped).unwrap(), text);
    assert!(
        to_stdout.stderr.contains("Wrote stdout"),
        "{}",
        to_stdout.stderr
    );
    // On a terminal it is refused: `script` gives the plugin a terminal for stdout.
    let on_terminal = Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "{} --context operator -n {namespace} kubeconfig --out -",
            env!("CARGO_BIN_EXE_kubectl-honeytoken")
        ))
        .arg("/dev/null")
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env("HONEYTOKEN_HOME", plugin.home.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run script");
    assert_eq!(
        on_terminal.status.code(),
        Some(1),
        "{}",
        text_of(&on_terminal)
    );
    assert!(
        text_of(&on_terminal).contains("terminal"),
        "{}",
        text_of(&on_terminal)
    );
    assert!(!text_of(&on_terminal).contains(&token));

    // Every other output form, so the secrecy check covers them too.
    let other = dir.path().join("other").display().to_string();
    op(&["kubeconfig", "--out", &other, "-o", "yaml"]).assert_code(0);
    op(&["kubeconfig", "--out", &other, "--force"]).assert_code(0);
    // A dry run says what it would write, and refuses what the write would refuse.
    op(&["kubeconfig", "--out", &other, "--dry-run", "-o", "json"]).assert_code(1);
    op(&["kubeconfig", "--out", &other, "--force", "--dry-run"]).assert_code(0);

    op(&["remove", "--yes"]).assert_code(0);
    assert!(
        !plugin.transcript.borrow().contains(&token),
        "the token appeared in the plugin's output"
    );
}

/// A kubeconfig as `kubectl config` writes one, with three clusters, users and contexts.
fn three_contexts(server: &str, ca: &str) -> String {
    format!(
        "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: {server}
  name: dev
- cluster:
    server: https://prod.example.com:6443
  name: prod
- cluster:
    insecure-skip-tls-verify: true
    server: https://staging.example.com:6443
  name: staging
contexts:
- context:
    cluster: dev
    user: dev-user
  name: dev
- context:
    cluster: prod
    namespace: web
    user: prod-user
  name: prod
- context:
    cluster: staging
    user: staging-user
  name: staging
current-context: staging
kind: Config
preferences: {{}}
users:
- name: dev-user
  user:
    token: not-a-real-token
- name: prod-user
  user:
    token: another-token
- name: staging-user
  user:
    username: someone
    password: not-real
"
    )
}

/// Whether `merged` is `original` with whole lines added and none changed: the original's
/// lines, in order, with the added ones in between. Returns the added lines.
fn added_lines(original: &str, merged: &str) -> Vec<String> {
    let mut kept = original.split_inclusive('\n').peekable();
    let mut added = Vec::new();
    for line in merged.split_inclusive('\n') {
        if kept.peek() == Some(&line) {
            kept.next();
        } else {
            added.push(line.to_string());
        }
    }
    assert_eq!(
        kept.next(),
        None,
        "the original's lines are not all in the merged file, in order"
    );
    added
}

#[tokio::test]
async fn a_merge_keeps_three_contexts_byte_for_byte_and_adds_a_fourth_that_works() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "kcmerge").await;
    let plugin = Plugin::new(cluster);
    let op = |args: &[&str]| plugin.as_operator(&namespace, args);
    let secret = plant_in(&plugin, &namespace);
    let token = support::token_of(&admin, &namespace, &secret).await;
    let user = format!("system:serviceaccount:{namespace}:tiller");

    let bed = Kubeconfig::read_from(&cluster.kubeconfig).unwrap();
    let server = bed.clusters[0]
        .cluster
        .as_ref()
        .unwrap()
        .server
        .clone()
        .unwrap();
    let ca = kubectl_honeytoken::decoy::bait::base64(bed_ca(cluster).as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    let path_text = path.display().to_string();
    let original = three_contexts(&server, &ca);
    std::fs::write(&path, &original).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

    // Refusals first, each leaving the file as it was.
    for (args, told) in [
        (vec!["--user-name", "honeytoken-admin"], "honeytoken"),
        (
            vec!["--cluster-name", "prod"],
            "already has a cluster named \"prod\"",
        ),
        (
            vec!["--user-name", "dev-user"],
            "already has a user named \"dev-user\"",
        ),
        (
            vec!["--context-name", "staging"],
            "already has a context named \"staging\"",
        ),
        (vec!["--name", "helm"], "no decoy"),
    ] {
        let mut full = vec!["kubeconfig", "--merge-into", &path_text];
        full.extend(args);
        let run = op(&full);
        run.assert_code(1);
        assert!(run.stderr.contains(told), "{told:?} not in: {}", run.stderr);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), original);
        assert_eq!(mode_of(&path), 0o644);
    }
    let not_a_kubeconfig = dir.path().join("notes.yaml");
    std::fs::write(&not_a_kubeconfig, "shopping:\n- milk\n").unwrap();
    let run = op(&[
        "kubeconfig",
        "--merge-into",
        &not_a_kubeconfig.display().to_string(),
    ]);
    run.assert_code(1);
    assert!(run.stderr.contains("not a kubeconfig"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(&not_a_kubeconfig).unwrap(),
        "shopping:\n- milk\n"
    );
    let missing = dir.path().join("missing");
    op(&["kubeconfig", "--merge-into", &missing.display().to_string()]).assert_code(1);
    assert!(!missing.exists());
    let dry = op(&[
        "kubeconfig",
        "--merge-into",
        &path_text,
        "--dry-run",
        "-o",
        "json",
    ]);
    dry.assert_code(0);
    assert_eq!(dry.json()["result"], "wouldMerge");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), original);

    let merged = op(&[
        "kubeconfig",
        "--merge-into",
        &path_text,
        "--context-name",
        "ops",
        "-o",
        "json",
    ]);
    merged.assert_code(0);
    let report = merged.json();
    assert_eq!(report["result"], "merged");
    assert_eq!(report["currentContext"], "staging");
    assert_eq!(report["mode"], "0600");
    assert_eq!(report["modeTightenedFrom"], "0644");
    assert_eq!(mode_of(&path), 0o600);
    let no_temporaries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp") || n.to_string_lossy().ends_with(".lock"))
        .collect();
    assert!(no_temporaries.is_empty(), "{no_temporaries:?}");

    // Byte for byte: the merged file is the original with whole lines added, and the lines
    // added are exactly the three new entries.
    let text = std::fs::read_to_string(&path).unwrap();
    let added = added_lines(&original, &text).concat();
    assert!(
        added.contains("  name: bed\n")
            && added.contains("    user: bed-admin\n")
            && added.contains("  name: ops\n")
            && added.contains(&format!("    token: {token}\n")),
        "added:\n{}",
        added.replace(&token, "TOKEN")
    );
    assert_eq!(
        added.matches("name: ").count(),
        3,
        "{}",
        added.replace(&token, "TOKEN")
    );
    assert!(text.contains("\ncurrent-context: staging\n"));

    let names = |args: &[&str]| {
        let output = kubectl(cluster, &path, args);
        assert!(output.status.success(), "{}", text_of(&output));
        String::from_utf8(output.stdout).unwrap()
    };
    let contexts = names(&["config", "get-contexts", "-o", "name"]);
    assert_eq!(
        contexts.lines().collect::<Vec<_>>(),
        vec!["dev", "ops", "prod", "staging"],
        "{contexts}"
    );
    assert_eq!(names(&["config", "current-context"]).trim(), "staging");
    assert_eq!(whoami(cluster, &path, &["--context", "ops"]), user);
    // kubectl itself still reads every old entry as it was.
    let config = Kubeconfig::read_from(&path).unwrap();
    let before = Kubeconfig::from_yaml(&original).unwrap();
    assert_eq!(json(&config.clusters[..3]), json(&before.clusters[..]));
    assert_eq!(json(&config.contexts[..3]), json(&before.contexts[..]));
    assert_eq!(config.auth_infos.len(), 4);

    // A second merge of the same names is a clash and changes nothing.
    let again = op(&[
        "kubeconfig",
        "--merge-into",
        &path_text,
        "--context-name",
        "ops",
    ]);
    again.assert_code(1);
    assert!(
        again.stderr.contains("already has a cluster named \"bed\""),
        "{}",
        again.stderr
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

    op(&["remove", "--yes"]).assert_code(0);
    assert!(
        !plugin.transcript.borrow().contains(&token),
        "the token appeared in the plugin's output"
    );
}

/// A value as JSON, to compare kube's kubeconfig types (which are not `PartialEq`).
fn json<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap()
}

#[test]
fn added_lines_finds_what_was_inserted_and_fails_on_a_changed_line() {
    let added = added_lines("a\nb\nc\n", "a\nx\nb\nc\ny\n");
    assert_eq!(added, vec!["x\n".to_string(), "y\n".to_string()]);
    let changed = std::panic::catch_unwind(|| added_lines("a\nb\n", "a\nB\n"));
    assert!(changed.is_err());
}
