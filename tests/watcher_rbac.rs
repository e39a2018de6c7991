//! The RBAC `rbac` prints, on the real control plane: applied with `kubectl apply -f -`, it
//! lets a ServiceAccount (authenticated by a bound token from the TokenRequest API, as a
//! pod's is) make exactly the requests a tripwire watcher makes (get, list and watch of the
//! decoy Secret's metadata by name, the re-arm patch, its account by name) and nothing
//! else: not a list of all Secrets, not another Secret, not another account.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use support::{Cluster, Plugin, cluster, eventually, token_of};

const LAST_USED: &str = "kubernetes.io/legacy-token-last-used";

/// The bed's kubectl as admin, with `stdin` as its standard input.
fn kubectl(cluster: &Cluster, args: &[&str], stdin: &str) -> String {
    let kubectl = cluster
        .bin_dir
        .as_ref()
        .expect("this test needs the bed's kubectl")
        .join("kubectl");
    let mut child = Command::new(kubectl)
        .args(["--kubeconfig", &cluster.kubeconfig.display().to_string()])
        .args(["--context", "admin"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the bed's kubectl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "kubectl {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Applies `rbac`'s output and returns a bound token of the ServiceAccount it made.
pub fn apply_and_get_token(cluster: &Cluster, manifests: &str, account: (&str, &str)) -> String {
    kubectl(cluster, &["apply", "-f", "-"], manifests);
    kubectl(
        cluster,
        &[
            "create",
            "token",
            account.1,
            "-n",
            account.0,
            "--duration",
            "1h",
        ],
        "",
    )
    .trim()
    .to_string()
}

fn status_of(error: &kube::Error) -> u16 {
    match error {
        kube::Error::Api(status) => status.code,
        other => panic!("not an API error: {other}"),
    }
}

/// A raw request, as the watcher's metadata watch makes it (the server ends it after a
/// second); the answer's status code.
async fn request_code(client: &Client, path: &str) -> u16 {
    let request = http::Request::get(path)
        .header(
            "Accept",
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
        )
        .body(Vec::new())
        .unwrap();
    match client.request_text(request).await {
        Ok(_) => 200,
        Err(e) => status_of(&e),
    }
}

#[tokio::test]
async fn the_watcher_role_allows_the_watchers_requests_and_nothing_else() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "wrbac").await;
    let plugin = Plugin::new(cluster);
    let planted = plugin.as_operator(&namespace, &["plant", "--yes", "-o", "json"]);
    planted.assert_code(0);
    let decoy_secret = planted.json()["secret"].as_str().unwrap().to_string();
    let decoy_account = planted.json()["serviceAccount"]
        .as_str()
        .unwrap_or("tiller")
        .to_string();

    // Another Secret beside it, which the watcher must not touch.
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &namespace);
    secrets
        .create(
            &PostParams::default(),
            &Secret {
                metadata: ObjectMeta {
                    name: Some("app-config".into()),
                    ..Default::default()
                },
                string_data: Some([("k".to_string(), "v".to_string())].into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    // Found as `status` finds them, and named offline: the same RBAC.
    let watcher = format!("{namespace}/label-sync");
    let found = plugin.as_operator(&namespace, &["rbac", "--service-account", &watcher]);
    found.assert_code(0);
    let named = plugin.run(&[
        "rbac",
        "--service-account",
        &watcher,
        "--secret",
        &format!("{namespace}/{decoy_secret}"),
    ]);
    named.assert_code(0);
    assert_eq!(found.stdout, named.stdout);
    let token = apply_and_get_token(cluster, &found.stdout, (&namespace, "label-sync"));
    let decoy_token = token_of(&admin, &namespace, &decoy_secret).await;
    assert!(!found.text().contains(&decoy_token));
    let client = cluster.client_with_token(&token).await;

    // What the watcher does: the decoy Secret's metadata, by name, got, listed and watched.
    let mine: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    mine.get_metadata(&decoy_secret).await.unwrap();
    let by_name = ListParams::default().fields(&format!("metadata.name={decoy_secret}"));
    let listed = mine.list_metadata(&by_name).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    let base = format!("/api/v1/namespaces/{namespace}");
    assert_eq!(
        request_code(
            &client,
            &format!(
                "{base}/secrets?fieldSelector=metadata.name%3D{decoy_secret}&watch=1&timeoutSeconds=1"
            )
        )
        .await,
        200
    );
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &namespace);
    accounts.get_metadata(&decoy_account).await.unwrap();
    assert_eq!(
        request_code(
            &client,
            &format!(
                "{base}/serviceaccounts?fieldSelector=metadata.name%3D{decoy_account}&watch=1&timeoutSeconds=1"
            )
        )
        .await,
        200
    );

    // The re-arm: the decoy's token authenticates, the API server stamps its Secret, and the
    // watcher removes the stamp (conditionally, on the resourceVersion it saw).
    cluster
        .client_with_token(&decoy_token)
        .await
        .apiserver_version()
        .await
        .unwrap();
    let stamped = eventually(Duration::from_secs(10), || async {
        let meta = mine.get_metadata(&decoy_secret).await.ok()?;
        meta.labels().contains_key(LAST_USED).then_some(meta)
    })
    .await
    .expect("the API server stamps the decoy's Secret");
    let rearm = serde_json::json!({"metadata": {
        "resourceVersion": stamped.resource_version(),
        "labels": {LAST_USED: null},
    }});
    mine.patch_metadata(
        &decoy_secret,
        &PatchParams::default(),
        &Patch::Merge(&rearm),
    )
    .await
    .unwrap();
    assert!(
        !secrets
            .get(&decoy_secret)
            .await
            .unwrap()
            .labels()
            .contains_key(LAST_USED)
    );

    // And nothing else.
    let forbidden = [
        (
            "list all Secrets",
            mine.list_metadata(&ListParams::default()).await.err(),
        ),
        (
            "list another Secret by name",
            mine.list_metadata(&ListParams::default().fields("metadata.name=app-config"))
                .await
                .err(),
        ),
        ("get another Secret", mine.get("app-config").await.err()),
        (
            "patch another Secret",
            mine.patch_metadata(
                "app-config",
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"metadata": {"labels": {"x": "y"}}})),
            )
            .await
            .err(),
        ),
        (
            "delete the decoy Secret",
            mine.delete(&decoy_secret, &Default::default()).await.err(),
        ),
        (
            "get another account",
            accounts.get_metadata("default").await.err(),
        ),
        (
            "list Secrets in kube-system",
            Api::<Secret>::namespaced(client.clone(), "kube-system")
                .list_metadata(&ListParams::default())
                .await
                .err(),
        ),
    ];
    for (what, error) in forbidden {
        let error = error.unwrap_or_else(|| panic!("{what} was allowed"));
        assert_eq!(status_of(&error), 403, "{what}: {error}");
    }
    assert_eq!(
        request_code(&client, &format!("{base}/secrets?watch=1&timeoutSeconds=1")).await,
        403,
        "watch all Secrets"
    );
}

#[tokio::test]
async fn without_rearm_the_role_cannot_patch() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "wrbacnp").await;
    let plugin = Plugin::new(cluster);
    let planted = plugin.as_operator(&namespace, &["plant", "--yes", "-o", "json"]);
    planted.assert_code(0);
    let decoy_secret = planted.json()["secret"].as_str().unwrap().to_string();
    let rbac = plugin.as_operator(
        &namespace,
        &[
            "rbac",
            "--service-account",
            &format!("{namespace}/label-reader"),
            "--no-rearm",
        ],
    );
    rbac.assert_code(0);
    let token = apply_and_get_token(cluster, &rbac.stdout, (&namespace, "label-reader"));
    let client = cluster.client_with_token(&token).await;
    let mine: Api<Secret> = Api::namespaced(client, &namespace);
    mine.get_metadata(&decoy_secret).await.unwrap();
    let error = mine
        .patch_metadata(
            &decoy_secret,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"labels": {LAST_USED: null}}})),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&error), 403, "{error}");
}
