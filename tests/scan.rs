//! `scan` on the bed's real audit log: it finds exactly the decoy's events and tells the
//! drill from the attacker.

mod support;

use support::{Plugin, cluster};

#[tokio::test]
async fn scan_finds_the_drill_and_the_attacker_in_the_real_audit_log() {
    let cluster = cluster();
    let admin = cluster.client("admin").await;
    let namespace = support::operator_namespace(&admin, "scan").await;
    let plugin = Plugin::new(cluster);
    let op = |args: &[&str]| plugin.as_operator(&namespace, args);
    let token = support::plant_drill_and_attack(cluster, &admin, &plugin, &namespace).await;

    let audit_log = cluster.audit_log_path().display().to_string();
    let scan = op(&["scan", &audit_log, "-o", "json"]);
    scan.assert_code(3);
    let report = scan.json();
    let user = format!("system:serviceaccount:{namespace}:tiller");
    assert_eq!(report["users"], serde_json::json!([user]));
    let uses = report["uses"].as_array().unwrap();
    assert!(uses.iter().all(|u| u["user"] == user.as_str()), "{uses:#?}");
    // The API server's stamps of the decoy's Secret: the drill's first request was
    // stamped, and the attacker's use the same day after it was not (the label was there).
    let stamps: Vec<_> = uses.iter().filter(|u| u["signal"] == "stamp").collect();
    assert_eq!(
        stamps.iter().filter(|u| u["drill"] == true).count(),
        1,
        "the drill's stamp: {uses:#?}"
    );
    let real_stamps = stamps.iter().filter(|u| u["drill"] == false).count();
    let requests: Vec<_> = uses.iter().filter(|u| u["signal"] == "request").collect();
    let drills: Vec<_> = requests.iter().filter(|u| u["drill"] == true).collect();
    let real: Vec<_> = requests.iter().filter(|u| u["drill"] == false).collect();
    assert_eq!(drills.len(), 6, "the drill sends six requests: {uses:#?}");
    assert_eq!(real.len(), 1, "{uses:#?}");
    assert_eq!(real[0]["verb"], "list");
    assert_eq!(real[0]["code"], 403);
    assert!(
        real[0]["requestURI"]
            .as_str()
            .unwrap()
            .starts_with(&format!("/api/v1/namespaces/{namespace}/secrets"))
    );
    assert!(
        real[0]["userAgent"]
            .as_str()
            .unwrap()
            .starts_with("kubectl/")
    );
    assert_eq!(report["realUses"], 1 + real_stamps);

    // Offline: the same log on stdin, the decoy named by hand, no cluster asked.
    let offline = plugin.run_with(&["scan", "--user", &user, "-", "-o", "json"], |command| {
        command
            .stdin(std::fs::File::open(&audit_log).unwrap())
            .env("KUBECONFIG", "/nonexistent");
    });
    offline.assert_code(3);
    // Without --secret, the stamps are not looked for.
    assert_eq!(
        offline.json()["uses"].as_array().unwrap().len(),
        requests.len()
    );

    op(&["remove", "--yes"]).assert_code(0);
    assert!(!plugin.transcript.borrow().contains(&token));
}

/// Input that was not read never gets a clean verdict; the JSON speaks the audit API's names.
#[test]
fn a_file_not_read_gets_no_clean_verdict_and_the_json_uses_the_audit_apis_names() {
    let user = "system:serviceaccount:kube-system:tiller";
    let plugin = Plugin::offline();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.log").display().to_string();
    let run = plugin.run(&["scan", "--user", user, &missing]);
    assert_eq!(run.code, Some(1), "{}", run.text());
    assert!(
        !run.stdout
            .lines()
            .any(|l| l == format!("no use of {user} found")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("the scan is incomplete"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("missing.log"), "{}", run.stderr);

    let log = dir.path().join("audit.log");
    std::fs::write(&log, "").unwrap();
    let log = log.display().to_string();
    let clean = plugin.run(&["scan", "--user", user, &log]);
    assert_eq!(clean.code, Some(0), "{}", clean.text());
    assert_eq!(clean.stdout, format!("no use of {user} found\n"));

    std::fs::write(
        &log,
        format!(
            "{{\"kind\":\"Event\",\"auditID\":\"a-1\",\"stage\":\"ResponseComplete\",\"verb\":\"list\",\"requestURI\":\"/api/v1/secrets\",\"user\":{{\"username\":\"{user}\"}},\"sourceIPs\":[\"10.0.0.9\"],\"userAgent\":\"curl/8\",\"responseStatus\":{{\"code\":403}},\"requestReceivedTimestamp\":\"2026-11-28T10:00:00Z\"}}\n"
        ),
    )
    .unwrap();
    let found = plugin.run(&["scan", "--user", user, &log, "-o", "json"]);
    assert_eq!(found.code, Some(3), "{}", found.text());
    let report = found.json();
    assert_eq!(report["kind"], "ScanReport");
    assert_eq!(report["schemaVersion"], 1);
    let used = &report["uses"][0];
    assert_eq!(used["requestURI"], "/api/v1/secrets");
    assert_eq!(used["sourceIPs"], serde_json::json!(["10.0.0.9"]));
    assert_eq!(used["auditID"], "a-1");
    assert!(used.get("requestUri").is_none() && used.get("auditId").is_none());
}
