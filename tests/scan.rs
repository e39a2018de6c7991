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
    let drills: Vec<_> = uses.iter().filter(|u| u["drill"] == true).collect();
    let real: Vec<_> = uses.iter().filter(|u| u["drill"] == false).collect();
    assert_eq!(drills.len(), 6, "the drill sends six requests: {uses:#?}");
    assert_eq!(real.len(), 1, "{uses:#?}");
    assert_eq!(real[0]["verb"], "list");
    assert_eq!(real[0]["code"], 403);
    assert!(
        real[0]["requestUri"]
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
    assert_eq!(report["realUses"], 1);

    // Offline: the same log on stdin, the decoy named by hand, no cluster asked.
    let offline = plugin.run_with(&["scan", "--user", &user, "-", "-o", "json"], |command| {
        command
            .stdin(std::fs::File::open(&audit_log).unwrap())
            .env("KUBECONFIG", "/nonexistent");
    });
    offline.assert_code(3);
    assert_eq!(offline.json()["uses"].as_array().unwrap().len(), uses.len());

    op(&["remove", "--yes"]).assert_code(0);
    assert!(!plugin.transcript.borrow().contains(&token));
}
