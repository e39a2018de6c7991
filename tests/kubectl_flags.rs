//! kubectl's flags that users pass by habit, on the real bed: `--as` and `--as-group`
//! (the API server applies the impersonated user's rights), `--request-timeout`, `--server`,
//! `--certificate-authority`, `--insecure-skip-tls-verify`, and `-v` request logging that
//! never prints a credential or the decoy's token; a server that does not answer is named.

mod support;

use std::net::TcpListener;
use std::path::Path;

use base64::Engine;
use support::{Plugin, cluster};

/// The bed's admin entry of its kubeconfig: the server and the CA (PEM).
fn bed_server_and_ca(kubeconfig: &Path) -> (String, Vec<u8>) {
    let config = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let cluster = config.clusters[0].cluster.as_ref().unwrap();
    let ca = match (
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
    ) {
        (Some(data), _) => base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
        (None, Some(path)) => std::fs::read(path).unwrap(),
        (None, None) => panic!("the bed's kubeconfig names no CA"),
    };
    (cluster.server.clone().unwrap(), ca)
}

/// Every credential the bed's kubeconfig holds, as the text that would show if printed.
fn credentials(kubeconfig: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(kubeconfig).unwrap();
    let config = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let mut secrets = Vec::new();
    for user in config
        .auth_infos
        .iter()
        .filter_map(|u| u.auth_info.as_ref())
    {
        use secrecy::ExposeSecret;
        if let Some(token) = &user.token {
            secrets.push(token.expose_secret().to_string());
        }
        if let Some(key) = &user.client_key_data {
            let key = key.expose_secret().to_string();
            secrets.push(key.clone());
            if let Ok(pem) = base64::engine::general_purpose::STANDARD.decode(&key) {
                // The key's base64 body lines, as a dump of the PEM would show them.
                secrets.extend(
                    String::from_utf8_lossy(&pem)
                        .lines()
                        .filter(|l| !l.starts_with("-----") && l.len() > 20)
                        .map(String::from),
                );
            }
        }
        if let Some(file) = &user.token_file {
            secrets.push(std::fs::read_to_string(file).unwrap().trim().to_string());
        }
    }
    assert!(
        !secrets.is_empty(),
        "the bed's kubeconfig holds no credential:\n{text}"
    );
    secrets
}

/// A decoy planted as the operator in a namespace of its own, and the plugin (with the
/// key) that planted it.
async fn decoy(prefix: &str) -> (Plugin, String) {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let plugin = Plugin::new(cluster);
    let (namespace, _secret) = support::planted(&plugin, &admin, prefix).await;
    (plugin, namespace)
}

/// `status` of the decoy in `namespace` as the admin context, with `flags`.
fn status(plugin: &Plugin, namespace: &str, flags: &[&str]) -> support::Run {
    let mut args = vec!["--context", "admin", "-n", namespace, "status"];
    args.extend_from_slice(flags);
    plugin.run(&args)
}

#[tokio::test]
async fn as_a_user_without_rights_is_refused_by_the_api_server() {
    let (plugin, namespace) = decoy("as").await;
    let nobody = status(&plugin, &namespace, &["--as", "nobody@example.com"]);
    assert_eq!(nobody.code, Some(1), "{}", nobody.text());
    assert!(
        nobody
            .stderr
            .contains("forbidden: User \"nobody@example.com\" cannot"),
        "the API server's refusal names the impersonated user:\n{}",
        nobody.text()
    );
    // The same user in the administrators' group may; the decoy is there, armed.
    let admin = status(
        &plugin,
        &namespace,
        &["--as", "nobody@example.com", "--as-group", "system:masters"],
    );
    assert_eq!(admin.code, Some(0), "{}", admin.text());
    assert!(admin.stdout.contains("armed"), "{}", admin.text());
    // Without a user to impersonate, --as-group is refused as kubectl refuses it.
    let groups_only = status(&plugin, &namespace, &["--as-group", "system:masters"]);
    assert_eq!(groups_only.code, Some(2), "{}", groups_only.text());
    plugin.run(&["--context", "admin", "-n", &namespace, "remove", "--yes"]);
}

/// A server that accepts connections and never says a word: TLS never starts.
fn silent_server() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    (listener, url)
}

#[tokio::test]
async fn request_timeout_ends_a_request_to_a_silent_server_and_names_it() {
    let (plugin, namespace) = decoy("timeout").await;
    let (_listener, url) = silent_server();
    let run = status(
        &plugin,
        &namespace,
        &[
            "--server",
            &url,
            "--request-timeout",
            "1s",
            "--insecure-skip-tls-verify",
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.text());
    assert!(
        run.stderr
            .contains(&format!("cannot reach the API server at {url}")),
        "{}",
        run.text()
    );
    // On the bed, a generous limit and no limit (0) both let the command work.
    for limit in ["30s", "0"] {
        let run = status(&plugin, &namespace, &["--request-timeout", limit]);
        assert_eq!(
            run.code,
            Some(0),
            "--request-timeout {limit}: {}",
            run.text()
        );
    }
    plugin.run(&["--context", "admin", "-n", &namespace, "remove", "--yes"]);
}

#[tokio::test]
async fn a_server_that_is_not_there_is_named() {
    let (plugin, namespace) = decoy("absent").await;
    let url = format!("https://127.0.0.1:{}", support::free_port());
    let run = status(&plugin, &namespace, &["--server", &url]);
    assert_eq!(run.code, Some(1), "{}", run.text());
    assert!(
        run.stderr
            .contains(&format!("cannot reach the API server at {url}")),
        "{}",
        run.text()
    );
    plugin.run(&["--context", "admin", "-n", &namespace, "remove", "--yes"]);
}

#[tokio::test]
async fn server_and_certificate_authority_reach_the_bed_and_a_wrong_ca_is_refused() {
    let cluster = cluster();
    let (plugin, namespace) = decoy("server").await;
    let (server, ca) = bed_server_and_ca(&cluster.kubeconfig);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca).unwrap();
    let run = status(
        &plugin,
        &namespace,
        &[
            "--server",
            &server,
            "--certificate-authority",
            ca_file.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.text());

    // A CA that did not sign the server's certificate: refused, and the server named.
    let stranger = rcgen::generate_simple_self_signed(vec!["stranger".to_string()]).unwrap();
    let wrong = dir.path().join("wrong.pem");
    std::fs::write(&wrong, stranger.cert.pem()).unwrap();
    let run = status(
        &plugin,
        &namespace,
        &[
            "--server",
            &server,
            "--certificate-authority",
            wrong.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.text());
    assert!(
        run.stderr.contains(&format!(
            "cannot reach the API server at {}",
            server.trim_end_matches('/')
        )),
        "{}",
        run.text()
    );
    // ...unless the certificate is not checked at all.
    let run = status(
        &plugin,
        &namespace,
        &["--server", &server, "--insecure-skip-tls-verify"],
    );
    assert_eq!(run.code, Some(0), "{}", run.text());
    // A fleet cannot share one server.
    let run = plugin.run(&["--context", "admin,operator", "status", "--server", &server]);
    assert_eq!(run.code, Some(1), "{}", run.text());
    assert!(
        run.stderr.contains("a fleet of contexts cannot share"),
        "{}",
        run.text()
    );
    plugin.run(&["--context", "admin", "-n", &namespace, "remove", "--yes"]);
}

#[tokio::test]
async fn verbose_requests_are_logged_without_credentials_or_the_decoy_token() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let plugin = Plugin::new(cluster);
    let namespace = support::operator_namespace(&admin, "verbose").await;

    let planted = plugin.run(&[
        "--context",
        "operator",
        "-n",
        &namespace,
        "plant",
        "--yes",
        "-v",
        "9",
    ]);
    assert_eq!(planted.code, Some(0), "{}", planted.text());
    let secret = plugin
        .run(&[
            "--context",
            "operator",
            "-n",
            &namespace,
            "status",
            "-o",
            "json",
        ])
        .json()["decoys"][0]["secret"]
        .as_str()
        .map(String::from);
    let token = support::token_of(
        &admin,
        &namespace,
        secret.as_deref().expect("a decoy Secret"),
    )
    .await;
    let drilled = plugin.run(&[
        "--context",
        "operator",
        "-n",
        &namespace,
        "test-trigger",
        "--v=9",
    ]);
    let status = plugin.run(&[
        "--context",
        "operator",
        "-n",
        &namespace,
        "status",
        "-v",
        "6",
    ]);

    let (server, _) = bed_server_and_ca(&cluster.kubeconfig);
    let server = server.trim_end_matches('/');
    assert!(
        status
            .stderr
            .contains(&format!("GET {server}/api/v1/namespaces/{namespace}/")),
        "-v 6 logs each request's method and URL:\n{}",
        status.text()
    );
    assert!(
        status
            .stderr
            .lines()
            .any(|l| l.contains(" 200 OK in ") && l.ends_with(" milliseconds")),
        "-v 6 logs each request's status and time:\n{}",
        status.text()
    );
    // The drill's own requests, made with the decoy's token, are logged the same way.
    assert!(
        drilled.stderr.contains(&format!(
            "GET {server}/api/v1/namespaces/{namespace}/secrets 403 Forbidden in "
        )),
        "{}",
        drilled.text()
    );
    let quiet = plugin.run(&["--context", "operator", "-n", &namespace, "status"]);
    assert!(
        !quiet.stderr.contains("GET "),
        "no -v, no log:\n{}",
        quiet.text()
    );

    let transcript = format!("{}{}{}", planted.text(), drilled.text(), status.text());
    assert!(
        !transcript.contains(&token),
        "the decoy's token was printed"
    );
    for credential in credentials(&cluster.kubeconfig) {
        assert!(
            !transcript.contains(&credential),
            "a kubeconfig credential was printed"
        );
    }
    for header in ["Authorization:", "authorization:", "Bearer "] {
        assert!(
            !transcript.contains(header),
            "{header} was printed:\n{transcript}"
        );
    }
    plugin.run(&["--context", "operator", "-n", &namespace, "remove", "--yes"]);
}
