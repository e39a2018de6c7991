//! Test support: the cluster the tests run against, and a reader for its audit log.
//!
//! By default the tests start (or reuse) the real control plane of `tests/controlplane/up`.
//! To run them against another cluster instead, set `HONEYTOKEN_TEST_KUBECONFIG` to a
//! kubeconfig with contexts `admin` (may do anything) and `operator` (holds the RBAC of
//! `deploy/operator-rbac.yaml`), and `HONEYTOKEN_TEST_AUDIT_LOG` to a readable copy of that
//! cluster's audit log for the tests that read it. A test that needs a cluster and has none
//! fails with instructions; it never skips.
#![allow(dead_code)] // each test binary uses its own part of this module

pub mod proxy;

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kube::config::{KubeConfigOptions, Kubeconfig};

pub struct Cluster {
    pub kubeconfig: PathBuf,
    audit_log: Option<PathBuf>,
    /// The bed's own binaries (kubectl among them); None on a cluster of the user's.
    pub bin_dir: Option<PathBuf>,
}

const HOW_TO_GET_ONE: &str = "The tests need a Kubernetes control plane. Either let them start \
the bed (tests/controlplane/up must work: run it by hand to see why it does not; it needs Go, \
openssl, curl and python3, and builds the binaries on first use), or point them at a cluster \
with HONEYTOKEN_TEST_KUBECONFIG (contexts `admin` and `operator`) and, for the audit tests, \
HONEYTOKEN_TEST_AUDIT_LOG.";

/// The cluster for this test run, started once per test binary (a second `up` reuses the
/// running bed, so all test binaries of one run share it).
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
    match CLUSTER.get_or_init(find_or_start_cluster) {
        Ok(cluster) => cluster,
        Err(why) => panic!("no cluster to test against: {why}\n{HOW_TO_GET_ONE}"),
    }
}

fn find_or_start_cluster() -> Result<Cluster, String> {
    if let Some(kubeconfig) = std::env::var_os("HONEYTOKEN_TEST_KUBECONFIG") {
        return Ok(Cluster {
            kubeconfig: kubeconfig.into(),
            audit_log: std::env::var_os("HONEYTOKEN_TEST_AUDIT_LOG").map(PathBuf::from),
            bin_dir: None,
        });
    }
    let up = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/controlplane/up");
    let output = Command::new(&up)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", up.display()))?;
    if !output.status.success() {
        return Err(format!("{} failed ({})", up.display(), output.status));
    }
    let exports = String::from_utf8_lossy(&output.stdout);
    let get = |name: &str| {
        exported_value(&exports, name)
            .ok_or_else(|| format!("{} printed no {name}:\n{exports}", up.display()))
    };
    Ok(Cluster {
        kubeconfig: get("KUBECONFIG")?.into(),
        audit_log: Some(get("HONEYTOKEN_AUDIT_LOG")?.into()),
        bin_dir: Some(get("HONEYTOKEN_BED_BIN")?.into()),
    })
}

/// The value of `export NAME='value'` in `up`'s output.
fn exported_value(exports: &str, name: &str) -> Option<String> {
    exports.lines().find_map(|line| {
        let value = line
            .strip_prefix("export ")?
            .strip_prefix(name)?
            .strip_prefix('=')?;
        Some(value.trim_matches('\'').to_string())
    })
}

impl Cluster {
    pub fn audit_log_path(&self) -> &Path {
        self.audit_log.as_deref().unwrap_or_else(|| {
            panic!(
                "this test reads the cluster's audit log, and HONEYTOKEN_TEST_AUDIT_LOG is not \
                 set.\n{HOW_TO_GET_ONE}"
            )
        })
    }

    /// The client configuration of one of the kubeconfig's contexts (`admin`, `operator`).
    pub async fn config(&self, context: &str) -> kube::Config {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", self.kubeconfig.display()));
        let options = KubeConfigOptions {
            context: Some(context.to_string()),
            ..Default::default()
        };
        kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .unwrap_or_else(|e| panic!("context {context} of {}: {e}", self.kubeconfig.display()))
    }

    pub async fn client(&self, context: &str) -> kube::Client {
        kube::Client::try_from(self.config(context).await).expect("client from kubeconfig")
    }

    /// A client that authenticates with a bearer token only, to the same server.
    pub async fn client_with_token(&self, token: &str) -> kube::Client {
        let mut config = self.config("admin").await;
        config.auth_info = kube::config::AuthInfo {
            token: Some(token.to_string().into()),
            ..Default::default()
        };
        kube::Client::try_from(config).expect("client with a bearer token")
    }

    /// Follows the audit log from its current end.
    pub fn audit_log(&self) -> AuditLog {
        AuditLog::from_end(self.audit_log_path())
    }
}

/// Reads audit events written after the moment it was made.
pub struct AuditLog {
    path: PathBuf,
    offset: u64,
}

impl AuditLog {
    pub fn from_end(path: &Path) -> Self {
        let offset = std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("cannot read the audit log {}: {e}", path.display()))
            .len();
        AuditLog {
            path: path.to_path_buf(),
            offset,
        }
    }

    /// Events written since this reader was made.
    pub fn new_events(&self) -> Vec<serde_json::Value> {
        let mut file = std::fs::File::open(&self.path).expect("open the audit log");
        file.seek(SeekFrom::Start(self.offset)).expect("seek");
        let mut text = String::new();
        file.read_to_string(&mut text).expect("read the audit log");
        text.lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// Waits, bounded, for a new event that satisfies `wanted`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        wanted: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(event) = self.new_events().into_iter().find(|e| wanted(e)) {
                return Some(event);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Polls `probe` until it yields a value or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One run of the plugin binary, as a user without a terminal runs it.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit code {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Runs `kubectl-honeytoken` against the cluster with its own key folder. Everything it
/// prints is kept, so a test can check that a secret never appeared in any output.
pub struct Plugin {
    pub home: tempfile::TempDir,
    kubeconfig: PathBuf,
    pub transcript: std::cell::RefCell<String>,
}

impl Plugin {
    pub fn new(cluster: &Cluster) -> Plugin {
        Plugin {
            home: tempfile::tempdir().expect("temporary folder"),
            kubeconfig: cluster.kubeconfig.clone(),
            transcript: Default::default(),
        }
    }

    /// Against another bed's kubeconfig.
    pub fn on(kubeconfig: &Path) -> Plugin {
        Plugin {
            home: tempfile::tempdir().expect("temporary folder"),
            kubeconfig: kubeconfig.to_path_buf(),
            transcript: Default::default(),
        }
    }

    /// For tests that need no cluster: the kubeconfig is whatever the test sets.
    pub fn offline() -> Plugin {
        Plugin {
            home: tempfile::tempdir().expect("temporary folder"),
            kubeconfig: PathBuf::from("/nonexistent/kubeconfig"),
            transcript: Default::default(),
        }
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, |_| {})
    }

    /// The command line of one run, for a test that starts it itself.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kubectl-honeytoken"));
        command
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HONEYTOKEN_HOME", self.home.path())
            .env_remove("HONEYTOKEN_KEY")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        command
    }

    pub fn run_with(&self, args: &[&str], adjust: impl FnOnce(&mut Command)) -> Run {
        let mut command = self.command(args);
        adjust(&mut command);
        let output = command.output().expect("run kubectl-honeytoken");
        let run = Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        self.transcript.borrow_mut().push_str(&format!(
            "$ kubectl honeytoken {}\n{}",
            args.join(" "),
            run.text()
        ));
        run
    }
}

/// A namespace of its own for one test, in which the `operator` user holds the same Role
/// it holds in kube-system (deploy/operator-rbac.yaml).
pub async fn operator_namespace(admin: &kube::Client, prefix: &str) -> String {
    use k8s_openapi::api::core::v1::Namespace;
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    use kube::Api;
    use kube::api::{ObjectMeta, PostParams};

    let name = format!(
        "{prefix}-{}",
        &kubectl_honeytoken::trigger::new_drill_id()[..6]
    );
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    let _ = namespaces
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await;
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/operator-rbac.yaml"),
    )
    .expect("read deploy/operator-rbac.yaml");
    for document in text.split("\n---") {
        let value: serde_json::Value = match serde_saphyr::from_str(document) {
            Ok(value) => value,
            Err(_) => continue,
        };
        match value["kind"].as_str() {
            Some("Role") => {
                let mut role: Role = serde_json::from_value(value).unwrap();
                role.metadata.namespace = Some(name.clone());
                let _ = Api::<Role>::namespaced(admin.clone(), &name)
                    .create(&PostParams::default(), &role)
                    .await;
            }
            Some("RoleBinding") => {
                let mut binding: RoleBinding = serde_json::from_value(value).unwrap();
                binding.metadata.namespace = Some(name.clone());
                let _ = Api::<RoleBinding>::namespaced(admin.clone(), &name)
                    .create(&PostParams::default(), &binding)
                    .await;
            }
            _ => {}
        }
    }
    // The service-account controller adds `default` to a new namespace shortly after; wait
    // for it, so tests that compare the namespace's objects before and after see it in both.
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(admin.clone(), &name);
    eventually(Duration::from_secs(30), || async {
        matches!(accounts.get_opt("default").await, Ok(Some(_))).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("namespace {name} got no default service account within 30s"));
    name
}

/// A bed of its own (own state folder, own audit policy), stopped when dropped.
pub struct ExtraBed {
    dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub audit_log: PathBuf,
    pub bin_dir: PathBuf,
}

impl ExtraBed {
    pub fn start(name: &str, env: &[(&str, &str)]) -> ExtraBed {
        let controlplane = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/controlplane");
        let dir = controlplane.join(".cache").join(name);
        let mut command = Command::new(controlplane.join("up"));
        command
            .env("HONEYTOKEN_BED_DIR", &dir)
            .env_remove("HONEYTOKEN_AUDIT_POLICY")
            .env_remove("HONEYTOKEN_AUDIT_WEBHOOK_URL")
            .env_remove("HONEYTOKEN_AUDIT_WEBHOOK_MODE")
            .env_remove("HONEYTOKEN_AUDIT_WEBHOOK_CA")
            .env_remove("HONEYTOKEN_AUDIT_WEBHOOK_TOKEN")
            .env_remove("HONEYTOKEN_AUDIT_WEBHOOK_CLIENT_CERT")
            .env_remove("HONEYTOKEN_AUDIT_WEBHOOK_CLIENT_KEY")
            .stdin(Stdio::null())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        // A bed left by an interrupted run may have another configuration.
        let _ = Command::new(controlplane.join("down"))
            .env("HONEYTOKEN_BED_DIR", &dir)
            .output();
        let output = command.output().expect("run tests/controlplane/up");
        assert!(
            output.status.success(),
            "tests/controlplane/up for bed {name} failed ({}).\n{HOW_TO_GET_ONE}",
            output.status
        );
        let exports = String::from_utf8_lossy(&output.stdout);
        ExtraBed {
            dir,
            kubeconfig: exported_value(&exports, "KUBECONFIG")
                .expect("KUBECONFIG")
                .into(),
            audit_log: exported_value(&exports, "HONEYTOKEN_AUDIT_LOG")
                .expect("HONEYTOKEN_AUDIT_LOG")
                .into(),
            bin_dir: exported_value(&exports, "HONEYTOKEN_BED_BIN")
                .expect("HONEYTOKEN_BED_BIN")
                .into(),
        }
    }

    pub fn cluster(&self) -> Cluster {
        Cluster {
            kubeconfig: self.kubeconfig.clone(),
            audit_log: Some(self.audit_log.clone()),
            bin_dir: Some(self.bin_dir.clone()),
        }
    }
}

impl Drop for ExtraBed {
    fn drop(&mut self) {
        let controlplane = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/controlplane");
        let _ = Command::new(controlplane.join("down"))
            .env("HONEYTOKEN_BED_DIR", &self.dir)
            .output();
    }
}

/// A loopback port free at this moment, for a listener a bed is told about before it starts.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("its address").port()
}

/// Tests that restart the control plane with policies of their own cannot run against a
/// cluster the user points at.
pub fn require_bed() {
    assert!(
        std::env::var_os("HONEYTOKEN_TEST_KUBECONFIG").is_none(),
        "this test starts control planes with audit policies of its own and needs \
         tests/controlplane/up; unset HONEYTOKEN_TEST_KUBECONFIG to run it"
    );
}

/// The decoy's token, read as an admin would read it.
pub async fn token_of(admin: &kube::Client, namespace: &str, secret: &str) -> String {
    use k8s_openapi::api::core::v1::Secret;
    let secret = kube::Api::<Secret>::namespaced(admin.clone(), namespace)
        .get(secret)
        .await
        .expect("read the decoy Secret as admin");
    String::from_utf8(secret.data.unwrap()["token"].0.clone()).unwrap()
}

impl Plugin {
    /// Runs as the `operator` context, with the decoy in `namespace`.
    pub fn as_operator(&self, namespace: &str, args: &[&str]) -> Run {
        let mut full = vec!["--context", "operator", "-n", namespace];
        full.extend_from_slice(args);
        self.run(&full)
    }
}

/// A decoy's life up to its trip: plants it in `namespace` as the operator, drills it, and
/// lists Secrets with its token through the bed's kubectl (refused). Returns the token.
pub async fn plant_drill_and_attack(
    cluster: &Cluster,
    admin: &kube::Client,
    plugin: &Plugin,
    namespace: &str,
) -> String {
    let planted = plugin.as_operator(namespace, &["plant", "--yes", "-o", "json"]);
    planted.assert_code(0);
    let secret = planted.json()["secret"].as_str().unwrap().to_string();
    plugin
        .as_operator(namespace, &["test-trigger"])
        .assert_code(0);
    let token = token_of(admin, namespace, &secret).await;
    let attacker = cluster.list_secrets_with_token(&token, namespace);
    assert!(
        !attacker.status.success(),
        "the decoy token could list Secrets"
    );
    token
}

impl Cluster {
    /// The attacker: the bed's real kubectl listing Secrets with a stolen token.
    pub fn list_secrets_with_token(&self, token: &str, namespace: &str) -> std::process::Output {
        let kubectl = self
            .bin_dir
            .as_ref()
            .expect("this test needs the bed's kubectl")
            .join("kubectl");
        Command::new(kubectl)
            .args([
                "--kubeconfig",
                &self.kubeconfig.display().to_string(),
                "--context",
                "admin",
            ])
            .args(["--token", token, "-n", namespace, "get", "secrets"])
            .output()
            .expect("run the bed's kubectl")
    }
}
