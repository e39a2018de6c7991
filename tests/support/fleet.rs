//! A fleet to test against: two beds of its own, and contexts whose clusters never answer,
//! in one kubeconfig as an operator of many clusters has it.

use std::net::TcpListener;
use std::path::PathBuf;

use kube::config::Kubeconfig;
use secrecy::ExposeSecret;

use super::{ExtraBed, Plugin};

pub struct FleetBeds {
    pub one: ExtraBed,
    pub two: ExtraBed,
    /// Contexts `one` and `two` (each bed's admin), `gone` (a loopback port nobody listens
    /// on: refused at once) and `silent` (a listener that never accepts: the TCP handshake
    /// completes, TLS never does, as with a black-holed API server behind a load balancer).
    pub kubeconfig: PathBuf,
    dir: tempfile::TempDir,
    _silent: TcpListener,
}

/// The bed's server, CA file and admin token.
fn admin_of(bed: &ExtraBed) -> (String, String, String) {
    let config = Kubeconfig::read_from(&bed.kubeconfig).expect("the bed's kubeconfig");
    let cluster = config.clusters[0].cluster.as_ref().expect("a cluster");
    let admin = config
        .auth_infos
        .iter()
        .find(|u| u.name == "admin")
        .and_then(|u| u.auth_info.as_ref())
        .expect("the admin user");
    (
        cluster.server.clone().expect("a server"),
        cluster
            .certificate_authority
            .clone()
            .expect("a CA file path"),
        admin
            .token
            .as_ref()
            .expect("a token")
            .expose_secret()
            .to_string(),
    )
}

impl FleetBeds {
    /// Starts two beds named after `prefix` (so that tests running side by side have their
    /// own) and writes the fleet's kubeconfig.
    pub fn start(prefix: &str) -> FleetBeds {
        Self::start_with(prefix, &[])
    }

    /// The same, bed two started with `two_env` (for `tests/controlplane/up`: an audit
    /// webhook, say).
    pub fn start_with(prefix: &str, two_env: &[(&str, &str)]) -> FleetBeds {
        let one = ExtraBed::start(&format!("{prefix}-one"), &[]);
        let two = ExtraBed::start(&format!("{prefix}-two"), two_env);
        let silent = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let silent_port = silent.local_addr().expect("its address").port();
        let gone_port = super::free_port();
        let dir = tempfile::tempdir().expect("temporary folder");
        let mut clusters = String::new();
        let mut users = String::new();
        let mut contexts = String::new();
        for (name, bed) in [("one", &one), ("two", &two)] {
            let (server, ca, token) = admin_of(bed);
            clusters.push_str(&format!(
                "  - name: {name}\n    cluster: {{server: '{server}', certificate-authority: '{ca}'}}\n"
            ));
            users.push_str(&format!(
                "  - name: {name}-admin\n    user: {{token: '{token}'}}\n"
            ));
            contexts.push_str(&format!(
                "  - name: {name}\n    context: {{cluster: {name}, user: {name}-admin}}\n"
            ));
        }
        for (name, port) in [("gone", gone_port), ("silent", silent_port)] {
            clusters.push_str(&format!(
                "  - name: {name}\n    cluster: {{server: 'https://127.0.0.1:{port}', insecure-skip-tls-verify: true}}\n"
            ));
            users.push_str(&format!(
                "  - name: {name}-user\n    user: {{token: 'not-a-real-token'}}\n"
            ));
            contexts.push_str(&format!(
                "  - name: {name}\n    context: {{cluster: {name}, user: {name}-user}}\n"
            ));
        }
        let kubeconfig = dir.path().join("fleet-kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: one\nclusters:\n{clusters}users:\n{users}contexts:\n{contexts}"
            ),
        )
        .expect("write the fleet's kubeconfig");
        FleetBeds {
            one,
            two,
            kubeconfig,
            dir,
            _silent: silent,
        }
    }

    /// The plugin with the fleet's kubeconfig and a workstation folder of its own.
    pub fn plugin(&self) -> Plugin {
        Plugin::on(&self.kubeconfig)
    }

    /// A folder for the test's own files, removed with the fleet.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl FleetBeds {
    /// Plants a `tiller` decoy in bed `one` and in bed `two`, one context at a time, and
    /// returns their token Secrets' names.
    pub fn plant_in_each(&self, plugin: &Plugin) -> [String; 2] {
        ["one", "two"].map(|context| {
            plugin
                .run(&[
                    "--context",
                    context,
                    "plant",
                    "--yes",
                    "--profile",
                    "tiller",
                ])
                .assert_code(0);
            secret_of(plugin, context)
        })
    }
}

/// The decoy Secret's name in one context, from the plugin's own status of it.
pub fn secret_of(plugin: &Plugin, context: &str) -> String {
    let status = plugin.run(&["--context", context, "status", "-o", "json"]);
    status.assert_code(0);
    status.json()["decoys"][0]["secret"]
        .as_str()
        .expect("a decoy")
        .to_string()
}

/// The rows of a fleet's table whose first cell is `context` (below the header).
pub fn rows_of<'a>(stdout: &'a str, context: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .skip_while(|r| r.split_whitespace().next() != Some("CONTEXT"))
        .filter(|r| r.split_whitespace().next() == Some(context))
        .collect()
}

/// The first row of `context` in a fleet's table, or a failure showing the output.
pub fn row_of(stdout: &str, context: &str) -> String {
    rows_of(stdout, context)
        .first()
        .unwrap_or_else(|| panic!("no row for {context}:\n{stdout}"))
        .trim_end()
        .to_string()
}
