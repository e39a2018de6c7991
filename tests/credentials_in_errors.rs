//! Files that hold credentials are never quoted in errors: a kubeconfig with a YAML error,
//! an exec credential plugin whose output cannot be read, a client key or a webhook TLS key
//! that is not valid PEM. The error names the file and where the problem is, never the text
//! around it. No cluster is needed: each run fails before it would reach one.

mod support;

use std::path::Path;

use support::{Plugin, Run};

/// Looks like a service-account token; unique enough to search the output for.
const TOKEN: &str =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IkFETUlOIn0.c2VjcmV0LWFkbWluLXRva2Vu.QWRtaW5TaWduYXR1cmU";

/// A kubeconfig for a server nobody listens on, with `user` as its only user.
fn kubeconfig(user: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: admin\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n    insecure-skip-tls-verify: true\ncontexts:\n- name: admin\n  context:\n    cluster: c\n    user: admin\nusers:\n- name: admin\n  user:\n{user}"
    )
}

/// Not even part of the secret: parsers print the start of a long line and cut the rest.
#[track_caller]
fn assert_secret_absent(run: &Run, secret: &str) {
    let text = run.text();
    let width = secret.len().min(12);
    for start in 0..=secret.len() - width {
        let part = &secret[start..start + width];
        assert!(
            !text.contains(part),
            "part of a secret ({part}) reached the output:\n{text}"
        );
    }
}

/// The decimal form a `Vec<u8>` Debug print gives the start of `text`.
fn as_byte_list(text: &str) -> String {
    text.bytes()
        .take(8)
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn a_kubeconfig_with_a_yaml_error_is_told_by_file_and_line_without_its_content() {
    let plugin = Plugin::offline();
    // Line 17 holds the token; the indentation of line 18 breaks the YAML.
    let text = kubeconfig(&format!("    token: {TOKEN}\n   client-key: [oops\n"));
    assert_eq!(
        text.lines().nth(16).unwrap().trim(),
        format!("token: {TOKEN}")
    );
    let path = write(plugin.home.path(), "config", &text);

    for run in [
        plugin.run(&["--kubeconfig", &path, "status"]),
        // Through KUBECONFIG, where files are merged.
        plugin.run_with(&["status"], |command| {
            command.env("KUBECONFIG", &path);
        }),
    ] {
        run.assert_code(1);
        assert_secret_absent(&run, TOKEN);
        assert!(run.stderr.contains(&path), "{}", run.stderr);
        assert!(
            run.stderr.contains("YAML syntax error at line 18"),
            "{}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
}

#[test]
fn a_token_where_another_type_belongs_is_not_quoted() {
    let plugin = Plugin::offline();
    // A token pasted onto the wrong key: serde's message would quote the value.
    let text = kubeconfig("    token: x\n").replace(
        "insecure-skip-tls-verify: true",
        &format!("insecure-skip-tls-verify: {TOKEN}"),
    );
    let path = write(plugin.home.path(), "config", &text);
    let run = plugin.run(&["--kubeconfig", &path, "status"]);
    run.assert_code(1);
    assert_secret_absent(&run, TOKEN);
    assert!(
        run.stderr.contains("a value of the wrong type at line 8"),
        "{}",
        run.stderr
    );
}

/// An exec credential plugin: a script that prints `stdout`, `stderr` and exits `code`.
fn exec_user(dir: &Path, stdout: &str, stderr: &str, code: i32) -> String {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("credential-plugin");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s' '{stdout}'\nprintf '%s' '{stderr}' >&2\nexit {code}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {}\n      interactiveMode: Never\n",
        script.display()
    )
}

#[test]
fn an_exec_plugins_unreadable_output_is_not_quoted() {
    let plugin = Plugin::offline();
    // Cut off after the token, as a plugin killed mid-write leaves it.
    let output = format!(
        r#"{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{{"token":"{TOKEN}""#
    );
    let path = write(
        plugin.home.path(),
        "config",
        &kubeconfig(&exec_user(plugin.home.path(), &output, "", 0)),
    );
    let run = plugin.run(&["--kubeconfig", &path, "status"]);
    run.assert_code(1);
    assert_secret_absent(&run, TOKEN);
    assert!(
        run.stderr.contains("exec credential plugin"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_failing_exec_plugin_is_told_by_its_stderr_not_its_stdout() {
    let plugin = Plugin::offline();
    let path = write(
        plugin.home.path(),
        "config",
        &kubeconfig(&exec_user(
            plugin.home.path(),
            TOKEN,
            "session expired; log in again",
            1,
        )),
    );
    let run = plugin.run(&["--kubeconfig", &path, "status"]);
    run.assert_code(1);
    assert_secret_absent(&run, TOKEN);
    assert_secret_absent(&run, &as_byte_list(TOKEN));
    assert!(
        run.stderr.contains("session expired; log in again"),
        "{}",
        run.stderr
    );
}

/// A private key whose BEGIN line and body ran together, as a paste that lost its line
/// breaks leaves it.
fn one_line_key() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let pem = key.serialize_pem();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    (
        format!("-----BEGIN PRIVATE KEY-----{body}\n-----END PRIVATE KEY-----\n"),
        body,
    )
}

#[test]
fn a_client_key_that_is_not_pem_is_not_quoted() {
    let plugin = Plugin::offline();
    let dir = plugin.home.path();
    let (key, body) = one_line_key();
    let key_pair = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["admin".into()])
        .unwrap()
        .self_signed(&key_pair)
        .unwrap()
        .pem();
    let user = format!(
        "    client-certificate: {}\n    client-key: {}\n",
        write(dir, "admin.crt", &cert),
        write(dir, "admin.key", &key)
    );
    let path = write(dir, "config", &kubeconfig(&user));
    let run = plugin.run(&["--kubeconfig", &path, "status"]);
    run.assert_code(1);
    assert_secret_absent(&run, &body[..40]);
    assert_secret_absent(&run, &as_byte_list(&body));
    assert!(run.stderr.contains("not valid PEM"), "{}", run.stderr);
}

#[test]
fn a_webhook_tls_key_that_is_not_pem_is_not_quoted() {
    let plugin = Plugin::offline();
    let dir = plugin.home.path();
    let (key, body) = one_line_key();
    let key_pair = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key_pair)
        .unwrap()
        .pem();
    let cert = write(dir, "cert.pem", &cert);
    let key = write(dir, "key.pem", &key);
    let token = write(dir, "token", "webhook-token\n");
    let run = plugin.run(&[
        "watch",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--token-file",
        &token,
        "--user",
        "system:serviceaccount:kube-system:tiller",
    ]);
    run.assert_code(1);
    assert_secret_absent(&run, &body[..40]);
    assert_secret_absent(&run, &as_byte_list(&body));
    assert!(run.stderr.contains(&key), "{}", run.stderr);
}

#[test]
fn a_client_key_that_is_not_base64_is_not_quoted() {
    let plugin = Plugin::offline();
    // Valid base64 up to a byte that is not: base64's own message names that byte.
    let user = "    client-certificate-data: TUlJQw==\n    client-key-data: TUlJRXZRSUJBREFOQmdr~cWhraUc5dzBC\n";
    let path = write(plugin.home.path(), "config", &kubeconfig(user));
    let run = plugin.run(&["--kubeconfig", &path, "status"]);
    run.assert_code(1);
    assert!(
        !run.stderr.contains("126"),
        "the byte's value: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("offset"), "{}", run.stderr);
    assert!(
        run.stderr.contains("client-key-data is not valid base64"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_kubeconfig_to_merge_into_is_told_by_line_without_its_content() {
    let plugin = Plugin::offline();
    let broken = kubeconfig(&format!("    token: {TOKEN}\n   client-key: [oops\n"));
    let mistyped = kubeconfig("    token: x\n").replace(
        "insecure-skip-tls-verify: true",
        &format!("insecure-skip-tls-verify: {TOKEN}"),
    );
    for (name, text, told) in [
        ("broken", broken, "not valid YAML at line 18"),
        ("mistyped", mistyped, "a field of the wrong form at line 8"),
    ] {
        let path = write(plugin.home.path(), name, &text);
        let run = plugin.run(&["kubeconfig", "--merge-into", &path]);
        run.assert_code(1);
        assert_secret_absent(&run, TOKEN);
        assert!(run.stderr.contains(&path), "{}", run.stderr);
        assert!(run.stderr.contains(told), "{told:?} not in: {}", run.stderr);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }
}
