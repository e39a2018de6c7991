//! Profiles on the real control plane: each decoy copies its installer's objects, the fit
//! check reads the cluster, several decoys are planted in one run and a failure on one
//! leaves the others, and an operator's own profile is planted and found again.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, ResourceExt};
use support::{Cleanup, Plugin, cluster, operator_namespace};

fn managers(meta: &kube::api::ObjectMeta) -> Vec<String> {
    meta.managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect()
}

#[tokio::test]
async fn several_profiles_in_one_run_each_copy_their_installer() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = operator_namespace(&admin, "profiles").await;
    let plugin = Plugin::new(cluster);
    let planted = plugin.as_operator(
        &namespace,
        &[
            "plant",
            "--yes",
            "-o",
            "json",
            "--profile",
            "tiller",
            "--profile",
            "argocd-manager",
            "--profile",
            "headlamp-admin",
            "--profile",
            "rancher-kontainer-engine",
            "--profile",
            "dashboard-admin-user",
        ],
    );
    planted.assert_code(0);
    let list = planted.json();
    assert_eq!(list["kind"], "PlantList", "{list:#}");
    assert_eq!(list["items"].as_array().unwrap().len(), 5, "{list:#}");
    assert_eq!(list["failures"].as_array().unwrap().len(), 0, "{list:#}");
    // Each report carries the profile's fit to this cluster.
    assert!(list["items"][0]["fit"]["grade"].is_string(), "{list:#}");

    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &namespace);
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), &namespace);

    // Argo CD 3.1+: a fixed-name Secret, annotation only, and the CLI's program name as
    // the field manager of both objects.
    let argocd = secrets
        .get("argocd-manager-long-lived-token")
        .await
        .unwrap();
    assert!(argocd.labels().is_empty());
    assert!(managers(&argocd.metadata).contains(&"argocd".to_string()));
    let argocd_account = accounts.get("argocd-manager").await.unwrap();
    assert!(argocd_account.annotations().is_empty() && argocd_account.labels().is_empty());
    // An account with nothing but its name has no managed fields to show a manager for.
    assert!(managers(&argocd_account.metadata).is_empty());

    // Headlamp: the account made by `kubectl create`, the Secret by `kubectl apply`.
    let headlamp = secrets.get("headlamp-admin").await.unwrap();
    let applied = &headlamp.annotations()["kubectl.kubernetes.io/last-applied-configuration"];
    let applied: serde_json::Value = serde_json::from_str(applied).unwrap();
    assert_eq!(applied["metadata"]["name"], "headlamp-admin");
    assert_eq!(applied["type"], "kubernetes.io/service-account-token");
    assert!(managers(&headlamp.metadata).contains(&"kubectl-client-side-apply".to_string()));
    let tiller_secret = secrets
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|s| s.name_any().starts_with("tiller-token-"))
        .unwrap();
    // As the token controller made them before 1.24.
    assert_eq!(
        managers(&tiller_secret.metadata),
        ["kube-controller-manager"]
    );

    // Rancher: the account owns its keyed Secret, labelled and named in its annotation.
    let rancher_account = accounts.get("kontainer-engine").await.unwrap();
    let secret_ref = &rancher_account.annotations()["rancher.io/service-account.secret-ref"];
    let (ref_namespace, rancher_secret) = secret_ref.split_once('/').unwrap();
    assert_eq!(ref_namespace, namespace);
    assert!(rancher_secret.starts_with("kontainer-engine-token-"));
    let rancher = secrets.get(rancher_secret).await.unwrap();
    assert_eq!(
        rancher.labels()["cattle.io/service-account.name"],
        "kontainer-engine"
    );
    let owner = &rancher.owner_references()[0];
    assert_eq!(owner.uid, rancher_account.uid().unwrap());

    // The Dashboard's sample: both objects applied with kubectl.
    let dashboard_account = accounts.get("admin-user").await.unwrap();
    assert!(
        dashboard_account
            .annotations()
            .contains_key("kubectl.kubernetes.io/last-applied-configuration")
    );

    // No account lists its Secret (the legacy token cleaner never removes the tokens),
    // and nothing shows a word that gives it away.
    for account in accounts.list(&Default::default()).await.unwrap() {
        if account.name_any() == "default" {
            continue;
        }
        assert!(account.secrets.is_none(), "{}", account.name_any());
        let visible = serde_json::to_string(&account.metadata).unwrap();
        let words = kubectl_honeytoken::decoy::realism::giveaways_in(&visible);
        assert!(words.is_empty(), "{words:?} in {visible}");
    }

    // status finds all five and calls them armed, the owned Secret included.
    let status = plugin.as_operator(&namespace, &["status", "-o", "json"]);
    status.assert_code(0);
    let report = status.json();
    let decoys = report["decoys"].as_array().unwrap();
    assert_eq!(decoys.len(), 5, "{report:#}");
    for decoy in decoys {
        assert_eq!(decoy["verdict"], "armed", "{decoy:#}");
    }

    // A workstation with only the key finds the keyed ones (tiller, rancher); fixed-name
    // Secrets are proven by the planting workstation's record, and are not claimed.
    let other = Plugin::new(cluster);
    std::fs::copy(
        plugin.home.path().join("key"),
        other.home.path().join("key"),
    )
    .unwrap();
    let elsewhere = other.as_operator(&namespace, &["status", "-o", "json"]);
    let found: Vec<String> = elsewhere.json()["decoys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["serviceAccount"].as_str().unwrap().to_string())
        .collect();
    assert!(found.contains(&"tiller".to_string()), "{found:?}");
    assert!(found.contains(&"kontainer-engine".to_string()), "{found:?}");

    for profile in [
        "tiller",
        "argocd-manager",
        "headlamp-admin",
        "rancher-kontainer-engine",
        "dashboard-admin-user",
    ] {
        plugin
            .as_operator(&namespace, &["remove", "--yes", "--profile", profile])
            .assert_code(0);
    }
    let left: Vec<String> = secrets
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|s| s.name_any())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn a_failure_on_one_decoy_leaves_the_others_planted_and_reported() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = operator_namespace(&admin, "oneofmany").await;
    // Someone's real account under the gitlab profile's name.
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), &namespace);
    let theirs: ServiceAccount =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "gitlab"}})).unwrap();
    accounts
        .create(&PostParams::default(), &theirs)
        .await
        .unwrap();
    // And a binding that already grants something to the headlamp-admin name.
    let bindings: Api<RoleBinding> = Api::namespaced(admin.clone(), &namespace);
    let grant: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "ui-viewer"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "headlamp-admin", "namespace": namespace}]
    }))
    .unwrap();
    bindings
        .create(&PostParams::default(), &grant)
        .await
        .unwrap();

    let folder = tempfile::tempdir().unwrap();
    let list = folder.path().join("decoys.yaml");
    std::fs::write(
        &list,
        "decoys:\n  - profile: gitlab\n  - profile: headlamp-admin\n  - profile: argocd-manager\n  - profile: tiller\n    name: helm-server\n",
    )
    .unwrap();
    let plugin = Plugin::new(cluster);
    let run = plugin.as_operator(
        &namespace,
        &["plant", "--yes", "-f", list.to_str().unwrap()],
    );
    run.assert_code(1);
    let text = run.text();
    assert!(
        text.contains("NOT PLANTED") && text.contains("gitlab"),
        "{text}"
    );
    assert!(
        text.contains("RoleBinding") && text.contains("ui-viewer"),
        "{text}"
    );
    assert!(text.contains("2 of 4 decoys planted"), "{text}");

    // The two others are planted and armed; the refused ones left nothing behind.
    let status = plugin.as_operator(&namespace, &["status", "-o", "json"]);
    let report = status.json();
    let names: Vec<&str> = report["decoys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["serviceAccount"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{report:#}");
    assert!(names.contains(&"argocd-manager") && names.contains(&"helm-server"));
    assert!(accounts.get_opt("headlamp-admin").await.unwrap().is_none());
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &namespace);
    assert!(secrets.get_opt("gitlab-token").await.unwrap().is_none());
    assert!(accounts.get("gitlab").await.unwrap().secrets.is_none());
}

#[tokio::test]
async fn the_fit_check_reads_the_cluster_and_refuses_a_real_installers_place() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = operator_namespace(&admin, "fit").await;
    let plugin = Plugin::new(cluster);

    // This cluster was made today: Helm v2 ended in 2020, so tiller fits poorly, and
    // without a terminal the warning names a better profile.
    let listed = plugin.as_operator(&namespace, &["plant", "--list-profiles", "-o", "json"]);
    listed.assert_code(0);
    let document = listed.json();
    let grade = |name: &str| {
        document["profiles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["fit"]["grade"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(grade("tiller"), "poor", "{document:#}");
    // Argo CD polls its token all day: on 1.36 a real one would carry a last-used label.
    assert_eq!(grade("argocd-manager"), "fair", "{document:#}");
    // cattle-system does not exist here.
    assert_eq!(grade("rancher-kontainer-engine"), "poor", "{document:#}");
    let year = jiff::Timestamp::now().strftime("%Y").to_string();
    assert!(
        document["cluster"].as_str().unwrap().contains(&year),
        "{document:#}"
    );
    let planted = plugin.as_operator(&namespace, &["plant", "--yes"]);
    planted.assert_code(0);
    assert!(
        planted
            .stderr
            .contains("tiller profile fits this cluster poorly")
            && planted.stderr.contains("fits better"),
        "{}",
        planted.stderr
    );

    // A companion a real install leaves raises the fit. An own profile copying Headlamp's,
    // whose companion is a Deployment in this test's namespace (kube-system is shared with
    // the other tests), is fair without it and good with it.
    let folder = tempfile::tempdir().unwrap();
    let ui = folder.path().join("ui.yaml");
    std::fs::write(
        &ui,
        include_str!("../profiles/headlamp-admin.yaml")
            .replace("\nname: headlamp-admin\n", "\nname: ci-ui\n")
            .replace(
                "{kind: Deployment, namespace: kube-system, name: headlamp}",
                &format!("{{kind: Deployment, namespace: {namespace}, name: ui}}"),
            ),
    )
    .unwrap();
    let listed = |plugin: &Plugin| {
        let run = plugin.run(&[
            "--context",
            "admin",
            "-n",
            &namespace,
            "plant",
            "--list-profiles",
            "-o",
            "json",
            "--profile-file",
            ui.to_str().unwrap(),
        ]);
        run.assert_code(0);
        run.json()["profiles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "ci-ui")
            .map(|p| p["fit"]["grade"].as_str().unwrap().to_string())
            .unwrap()
    };
    let deployment: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "ui", "labels": {"k8s-app": "ui"}},
        "spec": {"replicas": 0,
                 "selector": {"matchLabels": {"k8s-app": "ui"}},
                 "template": {"metadata": {"labels": {"k8s-app": "ui"}},
                              "spec": {"containers": [{"name": "ui", "image": "registry.invalid/ui"}]}}}
    }))
    .unwrap();
    assert_eq!(listed(&plugin), "fair");
    Api::<Deployment>::namespaced(admin.clone(), &namespace)
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();
    assert_eq!(listed(&plugin), "good");
    // Deleted by UID at the end of the test, even when it fails.
    let mut cleanup = Cleanup::new(cluster);

    // The real installer's own objects: an own profile whose conflict is a ClusterRole of
    // this test's name (as admin, who may read it). Nothing is created.
    let role_name = format!("{namespace}-deployer-role");
    let own = include_str!("../profiles/argocd-manager.yaml")
        .replace("\nname: argocd-manager\n", "\nname: ci-deployer\n")
        .replace("  name: argocd-manager\n", "  name: deployer\n")
        .replace(
            "argocd-manager-role-binding",
            &format!("{role_name}-binding"),
        )
        .replace("argocd-manager-role", &role_name);
    let file = folder.path().join("ci.yaml");
    std::fs::write(&file, own).unwrap();
    let roles: Api<ClusterRole> = Api::all(admin.clone());
    let role: ClusterRole =
        serde_json::from_value(serde_json::json!({"metadata": {"name": role_name}})).unwrap();
    let made = roles.create(&PostParams::default(), &role).await.unwrap();
    cleanup.delete(&made);
    let as_admin = |args: &[&str]| {
        let mut full = vec!["--context", "admin", "-n", namespace.as_str()];
        full.extend_from_slice(args);
        plugin.run(&full)
    };
    let refused = as_admin(&["plant", "--yes", "--profile-file", file.to_str().unwrap()]);
    roles
        .delete(&role_name, &DeleteParams::default())
        .await
        .unwrap();
    refused.assert_code(1);
    assert!(
        refused.stderr.contains("conflicts with this cluster")
            && refused.stderr.contains(&role_name),
        "{}",
        refused.text()
    );
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), &namespace);
    assert!(accounts.get_opt("deployer").await.unwrap().is_none());

    // Without the conflict, the own profile is planted, and status finds it again by the
    // profile recorded with the plant.
    as_admin(&["plant", "--yes", "--profile-file", file.to_str().unwrap()]).assert_code(0);
    let status = plugin.as_operator(&namespace, &["status", "-o", "json"]);
    let report = status.json();
    let own = report["decoys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["serviceAccount"] == "deployer")
        .cloned()
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(own["profile"], "ci-deployer");
    assert_eq!(own["verdict"], "armed", "{own:#}");

    // A profile that gives itself away is refused before anything is read or made.
    let loud = folder.path().join("loud.yaml");
    std::fs::write(
        &loud,
        std::fs::read_to_string(&file)
            .unwrap()
            .replace("  name: deployer\n", "  name: canary-deployer\n"),
    )
    .unwrap();
    let refused = plugin.as_operator(
        &namespace,
        &["plant", "--yes", "--profile-file", loud.to_str().unwrap()],
    );
    refused.assert_code(1);
    assert!(refused.stderr.contains("canary"), "{}", refused.stderr);
}

/// The operator's RBAC lets the fit check read every object a built-in profile names, so
/// that the fit never says "could not check" for want of a rule.
#[test]
fn the_operator_rbac_covers_every_built_in_fit_signal() {
    let rbac = include_str!("../deploy/operator-rbac.yaml");
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/profiles")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines().filter(|l| l.contains("{kind:")) {
            let name = line
                .split("name: ")
                .nth(1)
                .map(|rest| rest.trim_end_matches(['}', ' ']))
                .unwrap_or_else(|| panic!("built-in signals are by name: {line}"));
            if line.contains("kind: Namespace") {
                continue;
            }
            assert!(
                rbac.contains(name),
                "{name} is not in deploy/operator-rbac.yaml"
            );
        }
    }
}

/// The wizard on a terminal: every profile with its fit, the best one preselected (here
/// argocd-manager: the bed's kube-system is new), and a "no" that creates nothing.
#[tokio::test]
async fn the_wizard_shows_each_fit_and_preselects_the_best() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = operator_namespace(&admin, "wizard").await;
    let plugin = Plugin::new(cluster);
    // A pseudo-terminal that answers each question once it is on the screen: Enter (the
    // preselected profile), Enter (its account name), then "n".
    let mut plant = plugin.command(&["--context", "admin", "-n", &namespace, "plant"]);
    plant.env("TERM", "xterm");
    let (code, screen, answered) = support::terminal::on_a_terminal(
        &plant,
        &[
            ("Decoy profile", b"\r"),
            ("Service account name", b"\r"),
            ("Plant this decoy?", b"n"),
        ],
        std::time::Duration::from_secs(60),
    );
    assert!(answered, "a question was never asked:\n{screen}");
    assert_eq!(code, Some(1), "{screen}");
    for line in [
        "argocd-manager            fair",
        "tiller                    poor",
        "headlamp-admin            fair",
    ] {
        assert!(
            screen.contains(line),
            "{line:?} not on the screen:\n{screen}"
        );
    }
    assert!(
        screen.contains("out of its era: made until 2020"),
        "{screen}"
    );
    // The preselected profile is the one planned.
    assert!(
        screen.contains("secret/argocd-manager-long-lived-token will be created"),
        "{screen}"
    );
    assert!(screen.contains("aborted: nothing was created"), "{screen}");
    let accounts: Api<ServiceAccount> = Api::namespaced(admin, &namespace);
    assert!(accounts.get_opt("argocd-manager").await.unwrap().is_none());
}

/// A signal while the second of two decoys is being made: that one is rolled back, the
/// first stays planted and is named, and the exit code is the signal's.
// The proxy runs on the test's runtime while the plugin runs as a child process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_during_the_second_decoy_leaves_the_first_planted() {
    use std::process::Stdio;
    use std::time::Duration;
    use support::proxy::{Fault, Proxy, Rule};
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let first = operator_namespace(&admin, "sigfirst").await;
    let second = operator_namespace(&admin, "sigsecond").await;
    // The API server creates the second account; its answer is held back long enough for
    // the signal to arrive while plant waits for it.
    let proxy = Proxy::start(
        &cluster.kubeconfig,
        "operator",
        vec![Rule {
            method: "POST",
            path_suffix: format!("/namespaces/{second}/serviceaccounts"),
            fault: Fault::Delay(Duration::from_secs(20)),
            times: 1,
        }],
    )
    .await;
    let folder = tempfile::tempdir().unwrap();
    let list = folder.path().join("decoys.yaml");
    std::fs::write(
        &list,
        format!(
            "decoys:\n  - profile: tiller\n    namespace: {first}\n  - profile: argocd-manager\n    namespace: {second}\n"
        ),
    )
    .unwrap();
    let plugin = Plugin::on(&proxy.kubeconfig);
    let child = plugin
        .command(&["plant", "--yes", "-f", list.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    support::eventually(Duration::from_secs(30), || async {
        (!proxy.faulted.lock().unwrap().is_empty()).then_some(())
    })
    .await
    .expect("the second account's creation never reached the API server");
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains(&format!("left planted: {first}/tiller")),
        "{stderr}"
    );
    let second_accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), &second);
    assert!(
        second_accounts
            .get_opt("argocd-manager")
            .await
            .unwrap()
            .is_none(),
        "{stderr}"
    );
    let status = plugin.run(&["-n", &first, "status", "-o", "json"]);
    status.assert_code(0);
    assert_eq!(status.json()["decoys"][0]["verdict"], "armed");
}
