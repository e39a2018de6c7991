//! `plant` over a fleet on the bed: two beds of their own and two contexts that never
//! answer. Every context is planned at once and shown, asked about once, then planted each
//! on its own: a context not reached or refusing is a row, and never stops the others.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use serde_json::Value;
use support::fleet::{FleetBeds, rows_of};

/// The decoy a context's report names: (namespace, account, secret).
fn decoy_of(context: &Value) -> (String, String, String) {
    let report = &context["report"];
    let field = |name: &str| {
        report[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {context:#}"))
            .to_string()
    };
    (field("namespace"), field("serviceAccount"), field("secret"))
}

/// Whether a bed holds the decoy whole: its account, and its token Secret for that account
/// with the token filled in.
async fn complete(admin: &kube::Client, namespace: &str, account: &str, secret: &str) -> bool {
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), namespace);
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), namespace);
    let Some(account_object) = accounts.get_opt(account).await.unwrap() else {
        return false;
    };
    let Some(secret) = secrets.get_opt(secret).await.unwrap() else {
        return false;
    };
    let names_account = secret
        .annotations()
        .get("kubernetes.io/service-account.name")
        .map(String::as_str)
        == Some(account);
    let filled = secret
        .data
        .as_ref()
        .is_some_and(|d| d.contains_key("token"));
    !account_object.uid().unwrap_or_default().is_empty() && names_account && filled
}

/// The token Secrets of `account` in a bed's namespace.
async fn token_secrets_of(admin: &kube::Client, namespace: &str, account: &str) -> Vec<String> {
    Api::<Secret>::namespaced(admin.clone(), namespace)
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|s| {
            s.annotations()
                .get("kubernetes.io/service-account.name")
                .map(String::as_str)
                == Some(account)
        })
        .map(|s| s.name_any())
        .collect()
}

/// Runs the plugin on a pseudo-terminal that answers `question` with `answer` once it is
/// on the screen: the exit code and the screen.
fn on_terminal(
    fleet: &FleetBeds,
    plugin: &support::Plugin,
    args: &[&str],
    question: &str,
    answer: &str,
) -> (Option<i32>, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-honeytoken"));
    command
        .args(args)
        .env("KUBECONFIG", &fleet.kubeconfig)
        .env("HONEYTOKEN_HOME", plugin.home.path())
        .env_remove("HONEYTOKEN_KEY")
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    let (code, screen, answered) = support::terminal::on_a_terminal(
        &command,
        &[(question, answer.as_bytes())],
        std::time::Duration::from_secs(120),
    );
    assert!(answered, "{question:?} was never asked:\n{screen}");
    plugin.transcript.borrow_mut().push_str(&format!(
        "$ kubectl honeytoken {}\n{screen}",
        args.join(" ")
    ));
    (code, screen)
}

#[tokio::test]
async fn plant_over_a_fleet_plans_every_context_then_plants_each_on_its_own() {
    let fleet = FleetBeds::start("fleet-plant");
    let plugin = fleet.plugin();
    let one = fleet.one.cluster().client("admin").await;
    let two = fleet.two.cluster().client("admin").await;
    let key = plugin.home.path().join("key");

    // A dry run plans both contexts, each with the profile that fits it best, and changes
    // nothing (not even the key).
    let dry = plugin.run(&["--context", "one,two", "plant", "--dry-run"]);
    dry.assert_code(0);
    for context in ["one", "two"] {
        assert!(
            dry.stdout
                .contains(&format!("== Context {context}: https://")),
            "{}",
            dry.stdout
        );
    }
    assert_eq!(
        dry.stdout
            .matches("the best fit for this cluster (no --profile given")
            .count(),
        2,
        "{}",
        dry.stdout
    );
    assert_eq!(
        dry.stdout.matches("serviceaccount/").count(),
        2,
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains("2 contexts: 2 to plant.")
            && dry.stdout.contains("(dry run: nothing was created)"),
        "{}",
        dry.stdout
    );
    let planned = plugin.run(&["--context", "one,two", "plant", "--dry-run", "-o", "json"]);
    planned.assert_code(0);
    let planned = planned.json();
    assert_eq!(planned["kind"], "FleetReport");
    assert_eq!(planned["command"], "plant");
    assert_eq!(planned["exitCode"], 0);
    let contexts = planned["contexts"].as_array().unwrap();
    assert_eq!(contexts.len(), 2);
    for context in contexts {
        assert_eq!(context["result"], "ok", "{context:#}");
        assert_eq!(context["report"]["result"], "planned", "{context:#}");
        assert_eq!(context["report"]["rbac"], "none", "{context:#}");
    }
    let (namespace, account, _) = decoy_of(&contexts[0]);
    let profile = contexts[0]["report"]["profile"]
        .as_str()
        .unwrap()
        .to_string();
    for admin in [&one, &two] {
        let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), &namespace);
        assert!(accounts.get_opt(&account).await.unwrap().is_none());
    }
    assert!(!key.exists(), "a dry run made the key");

    // Without a terminal and without --yes, nothing is planned, let alone made: the
    // refusal comes before any cluster is asked (no key is made either).
    let unasked = plugin.run(&["--all-contexts", "--context-timeout", "3", "plant"]);
    unasked.assert_code(1);
    assert!(unasked.stderr.contains("--yes"), "{}", unasked.stderr);
    assert!(!unasked.text().contains("== Context"), "{}", unasked.text());
    assert!(!key.exists(), "plant without --yes made the key");

    // Planted in both, with the profile the plan named, each decoy whole.
    let planted = plugin.run(&["--context", "one,two", "plant", "--yes", "-o", "json"]);
    planted.assert_code(0);
    let planted = planted.json();
    assert_eq!(planted["exitCode"], 0);
    let mut secrets = Vec::new();
    for (context, admin) in planted["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .zip([&one, &two])
    {
        assert_eq!(context["result"], "ok", "{context:#}");
        assert_eq!(context["report"]["result"], "planted", "{context:#}");
        assert_eq!(
            context["report"]["profile"],
            profile.as_str(),
            "{context:#}"
        );
        let (namespace, account, secret) = decoy_of(context);
        assert!(
            complete(admin, &namespace, &account, &secret).await,
            "{context:#}"
        );
        let uid = Api::<ServiceAccount>::namespaced(admin.clone(), &namespace)
            .get(&account)
            .await
            .unwrap()
            .uid();
        assert_eq!(
            context["report"]["objects"][0]["uid"],
            uid.unwrap().as_str()
        );
        secrets.push((namespace, secret));
    }

    // A foreign account of tiller's name in bed two: plant refuses there only, and bed one
    // gets its decoy.
    let foreign: ServiceAccount =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "tiller"}})).unwrap();
    let foreign = Api::<ServiceAccount>::namespaced(two.clone(), "kube-system")
        .create(&PostParams::default(), &foreign)
        .await
        .unwrap();
    let split = plugin.run(&[
        "--context",
        "one,two",
        "plant",
        "--yes",
        "--profile",
        "tiller",
        "-o",
        "json",
    ]);
    split.assert_code(1);
    let split = split.json();
    assert_eq!(split["exitCode"], 1);
    let contexts = split["contexts"].as_array().unwrap();
    assert_eq!(contexts[0]["result"], "ok", "{split:#}");
    let (_, _, tiller_secret) = decoy_of(&contexts[0]);
    assert!(complete(&one, "kube-system", "tiller", &tiller_secret).await);
    assert_eq!(contexts[1]["result"], "failed", "{split:#}");
    assert_eq!(contexts[1]["exitCode"], 1, "{split:#}");
    let why = contexts[1]["error"].as_str().unwrap();
    assert!(
        why.contains("refusing to plant kube-system/tiller") && why.contains("Nothing was changed"),
        "{why}"
    );
    let after = Api::<ServiceAccount>::namespaced(two.clone(), "kube-system")
        .get("tiller")
        .await
        .unwrap();
    assert_eq!(
        after.uid(),
        foreign.uid(),
        "the foreign account is untouched"
    );
    assert_eq!(after.labels(), foreign.labels());
    assert_eq!(
        token_secrets_of(&two, "kube-system", "tiller").await,
        Vec::<String>::new(),
        "no token Secret was made for the refused decoy"
    );

    // Every context: the refused and the silent ones are rows, the beds get their decoys
    // whole, and the run exits 1 (a context not reached). A profile not planted yet, both
    // in kube-system: (profile, account, Secret).
    let (other, other_secret) = if profile == "headlamp-admin" {
        ("argocd-manager", "argocd-manager-long-lived-token")
    } else {
        ("headlamp-admin", "headlamp-admin")
    };
    let all = plugin.run(&[
        "--all-contexts",
        "--context-timeout",
        "3",
        "plant",
        "--yes",
        "--profile",
        other,
    ]);
    all.assert_code(1);
    let header = all.stdout.lines().next().unwrap_or_default();
    assert!(
        header.split_whitespace().next() == Some("CONTEXT"),
        "{}",
        all.stdout
    );
    for context in ["one", "two"] {
        let rows = rows_of(&all.stdout, context);
        assert!(
            rows.len() == 1
                && rows[0].contains(&format!("kube-system/{other}"))
                && rows[0].contains("planted"),
            "{context}:\n{}",
            all.text()
        );
    }
    assert!(
        rows_of(&all.stdout, "gone")
            .first()
            .is_some_and(|r| r.contains("UNREACHABLE")),
        "{}",
        all.text()
    );
    assert!(
        rows_of(&all.stdout, "silent")
            .first()
            .is_some_and(|r| r.contains("TIMED OUT")),
        "{}",
        all.text()
    );
    assert!(
        all.stdout
            .contains("4 contexts: 2 planted, 1 unreachable, 1 timed out."),
        "{}",
        all.stdout
    );
    // The plan came first, on stderr, for every context.
    for context in ["one", "two", "gone", "silent"] {
        assert!(
            all.stderr.contains(&format!("== Context {context}")),
            "{}",
            all.stderr
        );
    }
    for admin in [&one, &two] {
        assert!(complete(admin, "kube-system", other, other_secret).await);
    }

    // Nothing half-made anywhere: the status of both beds is whole, every decoy armed.
    Api::<ServiceAccount>::namespaced(two.clone(), "kube-system")
        .delete("tiller", &Default::default())
        .await
        .unwrap();
    let status = plugin.run(&["--context", "one,two", "status", "-o", "json"]);
    status.assert_code(0);
    let status = status.json();
    for (context, expected) in status["contexts"].as_array().unwrap().iter().zip([3, 2]) {
        let decoys = context["report"]["decoys"].as_array().unwrap();
        assert_eq!(decoys.len(), expected, "{context:#}");
        assert!(
            decoys.iter().all(|d| d["verdict"] == "armed"),
            "{context:#}"
        );
    }

    // Several decoys a context, from a list: each context reports as plant of several
    // does (a PlantList), a decoy that fails there is a failure beside the others, and
    // tiller, refused in bed two before, is planted there now its name is free.
    let list = fleet.dir().join("decoys.yaml");
    std::fs::write(
        &list,
        "decoys:\n  - profile: tiller\n  - profile: gitlab\n    namespace: nowhere\n",
    )
    .unwrap();
    let several = plugin.run(&[
        "--context",
        "one,two",
        "plant",
        "--yes",
        "-f",
        list.to_str().unwrap(),
        "-o",
        "json",
    ]);
    several.assert_code(1);
    let several = several.json();
    for (context, tiller) in several["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .zip(["alreadyPlanted", "planted"])
    {
        assert_eq!(context["result"], "ok", "{context:#}");
        assert_eq!(context["exitCode"], 1, "{context:#}");
        let list = &context["report"];
        assert_eq!(list["kind"], "PlantList", "{context:#}");
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "{context:#}");
        assert_eq!(list["items"][0]["serviceAccount"], "tiller", "{context:#}");
        assert_eq!(list["items"][0]["result"], tiller, "{context:#}");
        assert_eq!(list["failures"][0]["namespace"], "nowhere", "{context:#}");
    }
    let tiller_two = several["contexts"][1]["report"]["items"][0]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(complete(&two, "kube-system", "tiller", &tiller_two).await);

    // Again: already planted in both, nothing changed, nothing asked.
    let again = plugin.run(&["--context", "one,two", "plant", "--yes", "--profile", other]);
    again.assert_code(0);
    assert!(
        again.stdout.contains("2 contexts: 2 already planted."),
        "{}",
        again.stdout
    );

    // On a terminal: every context's plan, then one question for the fleet. "n" makes
    // nothing anywhere; "y" plants in both.
    let args = ["--context", "one,two", "plant", "--profile", "gitlab"];
    let question = "Plant 2 decoys in 2 contexts (one, two)?";
    let (code, screen) = on_terminal(&fleet, &plugin, &args, question, "n");
    assert_eq!(code, Some(1), "{screen}");
    let asked = screen.find(question).expect("the question was asked");
    for context in ["one", "two"] {
        let plan = screen
            .find(&format!("== Context {context}: https://"))
            .unwrap_or_else(|| panic!("no plan for {context}:\n{screen}"));
        assert!(plan < asked, "{screen}");
    }
    assert!(screen.contains("aborted: nothing was created"), "{screen}");
    for admin in [&one, &two] {
        let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), "default");
        assert!(
            accounts.get_opt("gitlab").await.unwrap().is_none(),
            "{screen}"
        );
    }
    let (code, screen) = on_terminal(&fleet, &plugin, &args, question, "y");
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("2 contexts: 2 planted."), "{screen}");
    for admin in [&one, &two] {
        assert!(
            complete(admin, "default", "gitlab", "gitlab-token").await,
            "{screen}"
        );
    }

    let (namespace, secret) = &secrets[0];
    let token = support::token_of(&one, namespace, secret).await;
    assert!(
        !plugin.transcript.borrow().contains(&token),
        "the token is never printed"
    );
}

/// A signal while one context's account is being made: that context rolls its decoy back,
/// the context already planted keeps its decoy and is named, and the exit code is the
/// signal's.
// The proxy runs on the test's runtime while the plugin runs as a child process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_rolls_back_the_context_being_planted_and_names_what_stays() {
    use std::process::Stdio;
    use support::proxy::{Fault, Proxy, Rule};
    let fleet = FleetBeds::start("fleet-plant-sig");
    let one = fleet.one.cluster().client("admin").await;
    let two = fleet.two.cluster().client("admin").await;
    // Bed one, through a proxy that holds back the answer to the account's creation long
    // enough for the signal to arrive while plant waits for it.
    let proxy = Proxy::start(
        &fleet.kubeconfig,
        "one",
        vec![Rule {
            method: "POST",
            path_suffix: "/namespaces/kube-system/serviceaccounts".into(),
            fault: Fault::Delay(Duration::from_secs(20)),
            times: 1,
        }],
    )
    .await;
    let merged = std::path::PathBuf::from(format!(
        "{}:{}",
        fleet.kubeconfig.display(),
        proxy.kubeconfig.display()
    ));
    let plugin = support::Plugin::on(&merged);
    let child = plugin
        .command(&[
            "--context",
            "proxied,two",
            "plant",
            "--yes",
            "--profile",
            "tiller",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Bed two is done when its record is complete; bed one's account creation is held.
    let state = plugin.home.path().join("state.json");
    support::eventually(Duration::from_secs(60), || async {
        let held = !proxy.faulted.lock().unwrap().is_empty();
        let text = std::fs::read_to_string(&state).unwrap_or_default();
        let done: Value = serde_json::from_str(&text).unwrap_or_default();
        let complete = done["planted"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["complete"] == true)
            .count();
        (held && complete == 1).then_some(())
    })
    .await
    .expect("bed two was not planted, or bed one's account creation never reached its API server");
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stdout}{stderr}");
    assert!(
        stderr.contains("Left planted: two: kube-system/tiller."),
        "{stderr}"
    );
    assert!(!stderr.contains("NOT rolled back"), "{stderr}");
    let proxied = rows_of(&stdout, "proxied");
    assert!(
        proxied.first().is_some_and(|r| r.contains("INTERRUPTED")),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 contexts: 1 interrupted, 1 planted.")
            || stdout.contains("2 contexts: 1 planted, 1 interrupted."),
        "{stdout}"
    );
    let accounts: Api<ServiceAccount> = Api::namespaced(one.clone(), "kube-system");
    assert!(
        accounts.get_opt("tiller").await.unwrap().is_none(),
        "{stderr}"
    );
    assert!(
        token_secrets_of(&one, "kube-system", "tiller")
            .await
            .is_empty()
    );
    let status = plugin.run(&["--context", "two", "status", "-o", "json"]);
    status.assert_code(0);
    assert_eq!(status.json()["decoys"][0]["verdict"], "armed");
    let secret = status.json()["decoys"][0]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(complete(&two, "kube-system", "tiller", &secret).await);
    plugin
        .run(&["--context", "proxied", "status"])
        .assert_code(6);
}
