//! A decoy is never judged fine when it is not, never deleted when it is not ours, and
//! never left half-made: tampering, interruptions, lost answers and parallel runs, on the
//! real control plane.

mod support;

use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use support::proxy::{Fault, Proxy, Rule};
use support::{Cleanup, Plugin, Run, cluster, eventually, operator_namespace};

/// Plants the default decoy in `namespace` as the operator; returns its Secret's name.
fn plant_in(plugin: &Plugin, namespace: &str) -> String {
    let planted = plugin.as_operator(namespace, &["plant", "--yes", "-o", "json"]);
    planted.assert_code(0);
    planted.json()["secret"].as_str().unwrap().to_string()
}

fn status(plugin: &Plugin, namespace: &str) -> Run {
    plugin.as_operator(namespace, &["status", "-o", "json"])
}

/// The reasons of the only decoy in a status report.
#[track_caller]
fn only_decoy(run: &Run) -> serde_json::Value {
    let report = run.json();
    let decoys = report["decoys"].as_array().expect("decoys");
    assert_eq!(decoys.len(), 1, "{report:#}");
    decoys[0].clone()
}

#[track_caller]
fn assert_broken_because(run: &Run, words: &str) {
    run.assert_code(4);
    let decoy = only_decoy(run);
    assert_eq!(decoy["verdict"], "broken", "{decoy:#}");
    let reasons = decoy["reasons"].to_string();
    assert!(reasons.contains(words), "{words:?} not in {reasons}");
}

/// A plugin with only the key of `planter`: no record of any plant.
fn key_only(planter: &Plugin) -> Plugin {
    let other = Plugin::new(cluster());
    std::fs::copy(
        planter.home.path().join("key"),
        other.home.path().join("key"),
    )
    .unwrap();
    other
}

/// A decoy planted in a namespace of its own by a plugin with a home of its own.
struct Planted {
    namespace: String,
    plugin: Plugin,
    secret: String,
    secrets: Api<Secret>,
    accounts: Api<ServiceAccount>,
}

impl Planted {
    async fn new(prefix: &str) -> Planted {
        let cluster = cluster();
        let admin = cluster.client("admin").await;
        let namespace = operator_namespace(&admin, prefix).await;
        let plugin = Plugin::new(cluster);
        let secret = plant_in(&plugin, &namespace);
        Planted {
            secrets: Api::namespaced(admin.clone(), &namespace),
            accounts: Api::namespaced(admin, &namespace),
            namespace,
            plugin,
            secret,
        }
    }

    /// Deletes the decoy's Secret as an admin would, and waits until it is gone.
    async fn delete_secret(&self) {
        self.secrets
            .delete(&self.secret, &DeleteParams::default())
            .await
            .unwrap();
        wait_gone(&self.secrets, &self.secret).await;
    }

    async fn patch_secret(&self, patch: serde_json::Value) {
        self.secrets
            .patch(&self.secret, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .unwrap();
    }

    fn status(&self) -> Run {
        status(&self.plugin, &self.namespace)
    }

    fn remove(&self) -> Run {
        self.plugin
            .as_operator(&self.namespace, &["remove", "--yes"])
    }
}

async fn wait_gone<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    eventually(Duration::from_secs(30), || async {
        matches!(api.get_opt(name).await, Ok(None)).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("{name} was not deleted within 30s"));
}

fn decoy_account(name: &str) -> ServiceAccount {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name}
    }))
    .unwrap()
}

#[tokio::test]
async fn an_account_made_again_is_broken_for_the_planter() {
    let decoy = Planted::new("remade").await;
    decoy
        .accounts
        .delete("tiller", &DeleteParams::default())
        .await
        .unwrap();
    // The token controller deletes the token of an account that is gone.
    wait_gone(&decoy.secrets, &decoy.secret).await;
    decoy
        .accounts
        .create(&PostParams::default(), &decoy_account("tiller"))
        .await
        .unwrap();

    assert_broken_because(&decoy.status(), "made again");
    // Neither plant nor remove touches the new account.
    decoy
        .plugin
        .as_operator(&decoy.namespace, &["plant", "--yes"])
        .assert_code(1);
    let remove = decoy.remove();
    remove.assert_code(1);
    assert!(remove.stderr.contains("never deleted"), "{}", remove.stderr);
    assert!(decoy.accounts.get_opt("tiller").await.unwrap().is_some());
}

#[tokio::test]
async fn a_secret_swapped_for_an_opaque_one_is_broken_from_every_workstation() {
    let decoy = Planted::new("opaque").await;
    decoy.delete_secret().await;
    let opaque: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": decoy.secret},
        "type": "Opaque",
        "stringData": {"token": "not a token"}
    }))
    .unwrap();
    decoy
        .secrets
        .create(&PostParams::default(), &opaque)
        .await
        .unwrap();

    assert_broken_because(&decoy.status(), "Opaque");
    assert_broken_because(
        &status(&key_only(&decoy.plugin), &decoy.namespace),
        "Opaque",
    );
    decoy.remove().assert_code(1);
    assert_eq!(
        decoy
            .secrets
            .get(&decoy.secret)
            .await
            .unwrap()
            .type_
            .as_deref(),
        Some("Opaque"),
        "remove must leave a Secret it did not make"
    );
}

#[tokio::test]
async fn a_deleted_secret_is_broken_for_the_planter_and_for_the_key_where_the_shape_tells() {
    let decoy = Planted::new("nosecret").await;
    decoy.delete_secret().await;
    assert_broken_because(&decoy.status(), "Secret");
    // A workstation with only the key cannot tell tiller's plain account (as the Helm docs
    // made it) from anyone's: it claims nothing rather than a stranger's account.
    let elsewhere = status(&key_only(&decoy.plugin), &decoy.namespace);
    elsewhere.assert_code(6);

    // A profile whose account carries its installer's marks is recognised by them.
    let rancher = decoy.plugin.as_operator(
        &decoy.namespace,
        &[
            "plant",
            "--yes",
            "-o",
            "json",
            "--profile",
            "rancher-kontainer-engine",
        ],
    );
    rancher.assert_code(0);
    let secret = rancher.json()["secret"].as_str().unwrap().to_string();
    decoy
        .secrets
        .delete(&secret, &DeleteParams::default())
        .await
        .unwrap();
    let elsewhere = status(&key_only(&decoy.plugin), &decoy.namespace);
    elsewhere.assert_code(4);
    let report = elsewhere.json();
    let found = &report["decoys"][0];
    assert_eq!(found["serviceAccount"], "kontainer-engine", "{report:#}");
    assert!(
        found["reasons"].to_string().contains("cannot be proven"),
        "{report:#}"
    );
}

#[tokio::test]
async fn a_decoy_whose_labels_were_changed_is_still_found_by_its_key() {
    let decoy = Planted::new("relabel").await;
    let relabel =
        serde_json::json!({"metadata": {"labels": {"app": null, "name": null, "team": "x"}}});
    decoy
        .accounts
        .patch("tiller", &PatchParams::default(), &Patch::Merge(relabel))
        .await
        .unwrap();

    let elsewhere = key_only(&decoy.plugin);
    let run = status(&elsewhere, &decoy.namespace);
    run.assert_code(0);
    assert_eq!(only_decoy(&run)["verdict"], "armed");
    // The commands that look for the decoys' users find it too.
    let rules = elsewhere.as_operator(&decoy.namespace, &["rules", "--for", "sigma"]);
    rules.assert_code(0);
    let user = format!("system:serviceaccount:{}:tiller", decoy.namespace);
    assert!(rules.stdout.contains(&user), "{}", rules.stdout);
}

#[tokio::test]
async fn a_replaced_secret_is_broken_and_never_deleted() {
    let decoy = Planted::new("resecret").await;
    decoy.delete_secret().await;
    // The same name and kind, for the same account: only the UID tells it apart.
    let again: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": decoy.secret,
                     "annotations": {"kubernetes.io/service-account.name": "tiller"}},
        "type": "kubernetes.io/service-account-token"
    }))
    .unwrap();
    let made = decoy
        .secrets
        .create(&PostParams::default(), &again)
        .await
        .unwrap();
    let made_uid = made.metadata.uid.clone().unwrap();

    assert_broken_because(&decoy.status(), "is not the Secret planted");
    let remove = decoy.remove();
    remove.assert_code(1);
    assert!(remove.stderr.contains(&made_uid), "{}", remove.stderr);
    assert_eq!(
        decoy.secrets.get(&decoy.secret).await.unwrap().metadata.uid,
        Some(made_uid),
        "remove deleted a Secret it did not make"
    );
}

#[tokio::test]
async fn owner_references_and_finalizers_are_reported_and_a_pending_deletion_is_said() {
    let decoy = Planted::new("fate").await;
    let account = decoy.accounts.get("tiller").await.unwrap();

    // An owner: the decoy dies with it.
    decoy
        .patch_secret(serde_json::json!({"metadata": {"ownerReferences": [{
            "apiVersion": "v1", "kind": "ServiceAccount", "name": "tiller",
            "uid": account.metadata.uid
        }]}}))
        .await;
    assert_broken_because(&decoy.status(), "ownerReference");
    decoy
        .patch_secret(serde_json::json!({"metadata": {"ownerReferences": null}}))
        .await;
    let armed = decoy.status();
    armed.assert_code(0);
    assert_eq!(only_decoy(&armed)["verdict"], "armed");

    // A finalizer: reported, and remove says the deletion waits on it. The guard takes the
    // finalizer off and deletes the Secret if the test fails half-way.
    let mut cleanup = Cleanup::new(cluster());
    cleanup.delete_with_finalizers(&decoy.secrets.get(&decoy.secret).await.unwrap());
    decoy
        .patch_secret(serde_json::json!({"metadata": {"finalizers": ["example.com/hold"]}}))
        .await;
    assert_broken_because(&decoy.status(), "finalizers (example.com/hold)");
    let remove = decoy.remove();
    remove.assert_code(1);
    assert!(
        remove.stderr.contains("deletion pending") && remove.stderr.contains("example.com/hold"),
        "{}",
        remove.stderr
    );
    assert!(!remove.stdout.contains("deleted"), "{}", remove.stdout);
    // The Secret stays, and so does the record: status still reports the decoy.
    assert!(
        decoy
            .secrets
            .get_opt(&decoy.secret)
            .await
            .unwrap()
            .is_some()
    );
    assert_broken_because(&decoy.status(), "being deleted");

    // Once the finalizer is gone, remove converges.
    decoy
        .patch_secret(serde_json::json!({"metadata": {"finalizers": null}}))
        .await;
    wait_gone(&decoy.secrets, &decoy.secret).await;
    decoy.remove().assert_code(0);
    decoy.status().assert_code(6);
}

#[tokio::test]
async fn parallel_runs_sharing_one_home_lose_no_record() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = operator_namespace(&admin, "parallel").await;
    let plugin = Plugin::new(cluster);
    // Eight plants at once, into a home with no key yet.
    let names: Vec<String> = (0..8).map(|i| format!("helm-{i}")).collect();
    all_succeed(
        &plugin,
        names
            .iter()
            .map(|name| vec!["-n", &namespace, "plant", "--yes", "--name", name])
            .collect(),
    );
    let report = status(&plugin, &namespace);
    report.assert_code(0);
    let decoys = report.json()["decoys"].as_array().unwrap().clone();
    assert_eq!(decoys.len(), 8, "{decoys:#?}");
    assert!(
        decoys.iter().all(|d| d["verdict"] == "armed"),
        "{decoys:#?}"
    );

    // Three drills at once on one decoy: they take turns (each must see its own stamp and
    // re-arm, and the next waits out the API server's 10 s token cache), and each is
    // recorded.
    let drill = vec!["-n", &namespace, "test-trigger", "--name", "helm-0"];
    all_succeed(&plugin, vec![drill; 3]);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(plugin.home.path().join("state.json")).unwrap())
            .unwrap();
    assert_eq!(state["planted"].as_array().unwrap().len(), 8, "{state:#}");
    let drills = state["drills"].as_array().unwrap();
    assert_eq!(drills.len(), 3, "{state:#}");
    assert!(
        drills.iter().all(|d| d["tripwire"]["outcome"] == "rearmed"),
        "{state:#}"
    );
    for name in &names {
        plugin
            .as_operator(&namespace, &["remove", "--yes", "--name", name])
            .assert_code(0);
    }
}

/// Runs the plugin as the operator with each argument list at once; all must succeed.
fn all_succeed(plugin: &Plugin, runs: Vec<Vec<&str>>) {
    let children: Vec<_> = runs
        .iter()
        .map(|args| {
            let mut full = vec!["--context", "operator"];
            full.extend(args);
            plugin
                .command(&full)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

async fn held_account(admin: &kube::Client, namespace: &str) -> bool {
    held(admin, namespace, None).await.0
}

/// What the cluster holds of the default decoy in `namespace`: (account, Secret).
async fn held(admin: &kube::Client, namespace: &str, secret: Option<&str>) -> (bool, bool) {
    let account = Api::<ServiceAccount>::namespaced(admin.clone(), namespace)
        .get_opt("tiller")
        .await
        .unwrap()
        .is_some();
    let secret = match secret {
        Some(name) => Api::<Secret>::namespaced(admin.clone(), namespace)
            .get_opt(name)
            .await
            .unwrap()
            .is_some(),
        None => false,
    };
    (account, secret)
}

#[tokio::test]
async fn an_interrupted_plant_is_rolled_back_or_finished_and_never_orphaned() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = operator_namespace(&admin, "interrupt").await;
    let mut outcomes = Vec::new();
    for (delay_ms, signal) in [
        (20, libc::SIGINT),
        (60, libc::SIGTERM),
        (120, libc::SIGINT),
        (200, libc::SIGINT),
        (300, libc::SIGTERM),
        (450, libc::SIGINT),
    ] {
        let plugin = Plugin::new(cluster);
        let child = plugin
            .command(&[
                "--context",
                "operator",
                "-n",
                &namespace,
                "plant",
                "--yes",
                "-o",
                "json",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        let output = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        let code = output.status.code();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        outcomes.push(format!("{delay_ms} ms: {code:?}"));
        let expected_interrupted = if signal == libc::SIGINT { 130 } else { 143 };
        match code {
            // Finished before the signal came: a whole decoy, recorded.
            Some(0) => {
                let report = status(&plugin, &namespace);
                report.assert_code(0);
                assert_eq!(only_decoy(&report)["verdict"], "armed");
            }
            Some(code) if code == expected_interrupted => {
                assert!(
                    stderr.contains("everything this run created was deleted again"),
                    "{stderr}"
                );
                status(&plugin, &namespace).assert_code(6);
                assert!(!held(&admin, &namespace, None).await.0, "{stderr}");
            }
            // Killed before it could listen for signals: it had changed nothing yet.
            None => {
                assert!(!held(&admin, &namespace, None).await.0);
            }
            other => panic!("plant ended with {other:?} after {delay_ms} ms:\n{stderr}"),
        }
        // Whatever happened, running plant again and then remove converges.
        let again = plugin.as_operator(&namespace, &["plant", "--yes", "-o", "json"]);
        again.assert_code(0);
        let secret = again.json()["secret"].as_str().unwrap().to_string();
        assert_eq!(held(&admin, &namespace, Some(&secret)).await, (true, true));
        plugin
            .as_operator(&namespace, &["remove", "--yes"])
            .assert_code(0);
        assert_eq!(
            held(&admin, &namespace, Some(&secret)).await,
            (false, false)
        );
    }
    // Which runs were caught mid-way depends on the machine's speed; the next test catches
    // one at a known step every time.
    eprintln!("interrupted plants: {outcomes:?}");
}

// The proxy runs on the test's runtime while the plugin runs as a child process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plant_interrupted_while_a_create_is_unanswered_leaves_nothing() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = operator_namespace(&admin, "held").await;
    for (held, signal, code) in [
        ("/serviceaccounts", libc::SIGINT, 130),
        ("/secrets", libc::SIGTERM, 143),
    ] {
        // The API server creates the object; its answer is held back long enough for the
        // signal to arrive while plant waits for it.
        let proxy = Proxy::start(
            &cluster.kubeconfig,
            "operator",
            vec![Rule {
                method: "POST",
                path_suffix: held.to_string(),
                fault: Fault::Delay(Duration::from_secs(20)),
                times: 1,
            }],
        )
        .await;
        let plugin = Plugin::on(&proxy.kubeconfig);
        let child = plugin
            .command(&["-n", &namespace, "plant", "--yes"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        eventually(Duration::from_secs(20), || async {
            (!proxy.faulted.lock().unwrap().is_empty()).then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("POST {held} never reached the API server"));
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        let output = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{stderr}");
        assert!(
            stderr.contains("everything this run created was deleted again"),
            "{stderr}"
        );
        assert!(!held_account(&admin, &namespace).await, "{stderr}");
        plugin.run(&["-n", &namespace, "status"]).assert_code(6);
    }
}

// The proxy runs on the test's runtime while the plugin runs as a blocking child process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_to_a_create_is_rolled_back_by_name() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = operator_namespace(&admin, "lost").await;
    for lost in ["/serviceaccounts", "/secrets"] {
        let proxy = Proxy::start(
            &cluster.kubeconfig,
            "operator",
            vec![Rule {
                method: "POST",
                path_suffix: lost.to_string(),
                fault: Fault::DropResponse,
                times: 1,
            }],
        )
        .await;
        let plugin = Plugin::on(&proxy.kubeconfig);
        let run = plugin.run(&["-n", &namespace, "plant", "--yes"]);
        run.assert_code(1);
        assert_eq!(
            proxy.faulted.lock().unwrap().len(),
            1,
            "the answer to POST {lost} was not dropped: {}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("everything this run created was deleted again"),
            "{}",
            run.stderr
        );
        assert!(!held(&admin, &namespace, None).await.0, "{}", run.stderr);
        let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), &namespace);
        assert!(accounts.get_opt("tiller").await.unwrap().is_none());
        // No record is left behind: status finds nothing, and a new plant just works.
        plugin.run(&["-n", &namespace, "status"]).assert_code(6);
        plugin
            .run(&["-n", &namespace, "plant", "--yes"])
            .assert_code(0);
        plugin
            .run(&["-n", &namespace, "remove", "--yes"])
            .assert_code(0);
    }
}

#[tokio::test]
async fn a_plant_left_half_made_is_reported_and_finished_by_the_next_plant() {
    let decoy = Planted::new("half").await;
    // As if a run had stopped after the account: the Secret is gone, the record unfinished.
    let path = decoy.plugin.home.path().join("state.json");
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    state["planted"][0]["complete"] = false.into();
    state["planted"][0]["secret_uid"] = "".into();
    std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();
    decoy.delete_secret().await;

    assert_broken_because(&decoy.status(), "interrupted");
    let again = decoy
        .plugin
        .as_operator(&decoy.namespace, &["plant", "--yes", "-o", "json"]);
    again.assert_code(0);
    assert_eq!(again.json()["secret"], decoy.secret.as_str());
    let report = decoy.status();
    report.assert_code(0);
    assert_eq!(only_decoy(&report)["verdict"], "armed");
    decoy.remove().assert_code(0);
}

#[tokio::test]
async fn only_a_real_plant_makes_a_key() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = operator_namespace(&admin, "nokey").await;
    let plugin = Plugin::new(cluster);
    let key = plugin.home.path().join("key");
    plugin
        .as_operator(&namespace, &["plant", "--dry-run"])
        .assert_code(0);
    assert!(!key.exists(), "plant --dry-run made a key");
    let verify = plugin.as_operator(&namespace, &["verify", "-o", "json"]);
    assert!(!key.exists(), "verify made a key");
    let checks = verify.json()["checks"].clone();
    assert!(
        checks.to_string().contains("no key on this workstation"),
        "{checks:#}"
    );
    // And so the clear "no key" error stays.
    let status = plugin.as_operator(&namespace, &["status"]);
    status.assert_code(1);
    assert!(status.stderr.contains("no key in"), "{}", status.stderr);
    plant_in(&plugin, &namespace);
    assert!(key.exists());
    plugin
        .as_operator(&namespace, &["remove", "--yes"])
        .assert_code(0);
}
