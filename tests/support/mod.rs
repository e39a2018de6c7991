//! Test support: the cluster the tests run against, and a reader for its audit log.
//!
//! By default the tests start (or reuse) the real control plane of `tests/controlplane/up`.
//! To run them against another cluster instead, set `HONEYTOKEN_TEST_KUBECONFIG` to a
//! kubeconfig with contexts `admin` (may do anything) and `operator` (holds the RBAC of
//! `deploy/operator-rbac.yaml`), and `HONEYTOKEN_TEST_AUDIT_LOG` to a readable copy of that
//! cluster's audit log for the tests that read it. A test that needs a cluster and has none
//! fails with instructions; it never skips.
#![allow(dead_code)] // each test binary uses its own part of this module

pub mod alertmanager;
pub mod falcosidekick;
pub mod fleet;
pub mod pki;
pub mod pod;
pub mod proxy;
pub mod terminal;
pub mod watcher;

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
        // Empty when the bed runs without audit logging (HONEYTOKEN_AUDIT=off).
        audit_log: Some(get("HONEYTOKEN_AUDIT_LOG")?)
            .filter(|path| !path.is_empty())
            .map(PathBuf::from),
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
        config_of(&self.kubeconfig, context)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
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

/// The client configuration of a context of a kubeconfig file.
async fn config_of(kubeconfig: &Path, context: &str) -> Result<kube::Config, String> {
    let file = Kubeconfig::read_from(kubeconfig)
        .map_err(|e| format!("cannot read {}: {e}", kubeconfig.display()))?;
    let options = KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    kube::Config::from_custom_kubeconfig(file, &options)
        .await
        .map_err(|e| format!("context {context} of {}: {e}", kubeconfig.display()))
}

/// Deletes what a test made (and may not leave behind: a binding that grants a decoy
/// something, a cluster-wide binding, a decoy in kube-system) when it goes out of scope, on
/// every path: a failed assertion unwinds through it too. Objects are deleted newest first,
/// as the kubeconfig's `admin` context, each only while it still has the UID it had when it
/// was handed over, so an object someone made since is never touched. The deletes run on a
/// thread of their own with their own runtime, since `drop` runs inside the test's runtime.
/// What cannot be deleted is said on stderr, with the command that deletes it.
pub struct Cleanup {
    kubeconfig: PathBuf,
    made: Vec<Made>,
}

struct Made {
    resource: kube::core::ApiResource,
    namespace: Option<String>,
    name: String,
    uid: Option<String>,
    clear_finalizers: bool,
}

impl Made {
    fn describe(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{} {}/{}", self.resource.kind, namespace, self.name),
            None => format!("{} {}", self.resource.kind, self.name),
        }
    }
}

impl Cleanup {
    pub fn new(cluster: &Cluster) -> Cleanup {
        Cleanup {
            kubeconfig: cluster.kubeconfig.clone(),
            made: Vec::new(),
        }
    }

    /// Deletes `object` (as the server returned it: its UID is checked) at the end.
    pub fn delete<K>(&mut self, object: &K)
    where
        K: kube::Resource<DynamicType = ()>,
    {
        self.push::<K>(object, false);
    }

    /// Removes `object`'s finalizers and then deletes it, at the end.
    pub fn delete_with_finalizers<K>(&mut self, object: &K)
    where
        K: kube::Resource<DynamicType = ()>,
    {
        self.push::<K>(object, true);
    }

    fn push<K>(&mut self, object: &K, clear_finalizers: bool)
    where
        K: kube::Resource<DynamicType = ()>,
    {
        let meta = object.meta();
        self.made.push(Made {
            resource: kube::core::ApiResource::erase::<K>(&()),
            namespace: meta.namespace.clone(),
            name: meta.name.clone().expect("an object with a name"),
            uid: meta.uid.clone(),
            clear_finalizers,
        });
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let made = std::mem::take(&mut self.made);
        if made.is_empty() {
            return;
        }
        let kubeconfig = self.kubeconfig.clone();
        let cleaner = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => return vec![format!("no runtime to clean up with: {e}")],
            };
            runtime.block_on(delete_all(&kubeconfig, made))
        });
        let problems = cleaner
            .join()
            .unwrap_or_else(|_| vec!["the clean-up thread panicked".to_string()]);
        for problem in problems {
            eprintln!("CLEAN-UP FAILED: {problem}");
        }
    }
}

async fn delete_all(kubeconfig: &Path, made: Vec<Made>) -> Vec<String> {
    use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};
    let by_hand = |m: &Made| {
        let namespace = m.namespace.as_deref().map(|n| format!(" -n {n}"));
        format!(
            "kubectl delete{} {}.{} {}",
            namespace.unwrap_or_default(),
            m.resource.plural,
            m.resource.group,
            m.name
        )
    };
    let client = match config_of(kubeconfig, "admin")
        .await
        .and_then(|config| kube::Client::try_from(config).map_err(|e| format!("no client: {e}")))
    {
        Ok(client) => client,
        Err(e) => {
            return made
                .iter()
                .map(|m| format!("{e}; {}", by_hand(m)))
                .collect();
        }
    };
    let mut problems = Vec::new();
    for m in made.iter().rev() {
        let api: kube::Api<DynamicObject> = match &m.namespace {
            Some(namespace) => kube::Api::namespaced_with(client.clone(), namespace, &m.resource),
            None => kube::Api::all_with(client.clone(), &m.resource),
        };
        // Only the object that was handed over: same UID.
        match api.get_opt(&m.name).await {
            Ok(Some(current)) if m.uid.is_none() || current.metadata.uid == m.uid => {}
            Ok(_) => continue,
            Err(e) => {
                problems.push(format!("{}: {e}; {}", m.describe(), by_hand(m)));
                continue;
            }
        }
        if m.clear_finalizers {
            let patch = serde_json::json!({"metadata": {"finalizers": null}});
            if let Err(e) = api
                .patch(&m.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                problems.push(format!("{}: removing its finalizers: {e}", m.describe()));
            }
        }
        let params = DeleteParams {
            preconditions: m.uid.clone().map(|uid| Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api.delete(&m.name, &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => problems.push(format!("{}: {e}; {}", m.describe(), by_hand(m))),
        }
    }
    problems
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

/// Creates the namespace `name`, as `kubectl create namespace` does.
pub async fn namespace(
    admin: &kube::Client,
    name: &str,
) -> kube::Result<k8s_openapi::api::core::v1::Namespace> {
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::{ObjectMeta, PostParams};
    kube::Api::<Namespace>::all(admin.clone())
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(name.to_string()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
}

/// A namespace of its own for one test, in which the `operator` user holds the same Role
/// it holds in kube-system (deploy/operator-rbac.yaml).
pub async fn operator_namespace(admin: &kube::Client, prefix: &str) -> String {
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    use kube::Api;
    use kube::api::PostParams;

    let name = format!(
        "{prefix}-{}",
        &kubectl_honeytoken::detect::drill::new_drill_id()[..6]
    );
    let _ = namespace(admin, &name).await;
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
    /// Empty on a bed without audit logging ([`ExtraBed::start_without_audit`]).
    pub audit_log: PathBuf,
    pub bin_dir: PathBuf,
}

impl ExtraBed {
    pub fn start(name: &str, env: &[(&str, &str)]) -> ExtraBed {
        Self::launch(name, env, false).unwrap_or_else(|why| {
            panic!("tests/controlplane/up for bed {name} failed ({why}).\n{HOW_TO_GET_ONE}")
        })
    }

    /// A bed whose API server has no audit logging at all (`HONEYTOKEN_AUDIT=off`: no
    /// policy, no log, no webhook), as many clusters run. Its `audit_log` is empty, and its
    /// [`Cluster`] has none.
    pub fn start_without_audit(name: &str) -> ExtraBed {
        let bed = Self::start(name, &[("HONEYTOKEN_AUDIT", "off")]);
        assert!(
            bed.audit_log.as_os_str().is_empty(),
            "up exported an audit log for a bed without audit: {}",
            bed.audit_log.display()
        );
        bed
    }

    /// Starts a bed that may fail to start (an audit policy the API server refuses): the
    /// error holds what `up` said on stderr.
    pub fn try_start(name: &str, env: &[(&str, &str)]) -> Result<ExtraBed, String> {
        Self::launch(name, env, true)
    }

    fn launch(name: &str, env: &[(&str, &str)], quiet: bool) -> Result<ExtraBed, String> {
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
            .env_remove("HONEYTOKEN_BED_LEGACY_TOKEN_CLEANUP_PERIOD")
            .env_remove("HONEYTOKEN_AUDIT")
            .stdin(Stdio::null())
            .stderr(if quiet {
                Stdio::piped()
            } else {
                Stdio::inherit()
            });
        for (key, value) in env {
            command.env(key, value);
        }
        // A bed left by an interrupted run may have another configuration.
        let _ = Command::new(controlplane.join("down"))
            .env("HONEYTOKEN_BED_DIR", &dir)
            .output();
        let output = command.output().expect("run tests/controlplane/up");
        if !output.status.success() {
            return Err(format!(
                "{}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .map(|line| format!("\n  {line}"))
                    .collect::<String>()
            ));
        }
        let exports = String::from_utf8_lossy(&output.stdout);
        Ok(ExtraBed {
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
        })
    }

    /// Restarts only this bed's kube-controller-manager (tests/controlplane/
    /// restart-controller-manager), so controllers that act once at start act again.
    pub fn restart_controller_manager(&self) {
        let controlplane = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/controlplane");
        let status = Command::new(controlplane.join("restart-controller-manager"))
            .env("HONEYTOKEN_BED_DIR", &self.dir)
            .stdin(Stdio::null())
            .status()
            .expect("run tests/controlplane/restart-controller-manager");
        assert!(
            status.success(),
            "tests/controlplane/restart-controller-manager failed ({status})"
        );
    }

    /// Restarts only this bed's kube-apiserver (tests/controlplane/restart-apiserver) with
    /// the same command line; open watches are cut.
    pub fn restart_apiserver(&self) {
        let controlplane = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/controlplane");
        let status = Command::new(controlplane.join("restart-apiserver"))
            .env("HONEYTOKEN_BED_DIR", &self.dir)
            .stdin(Stdio::null())
            .status()
            .expect("run tests/controlplane/restart-apiserver");
        assert!(
            status.success(),
            "tests/controlplane/restart-apiserver failed ({status})"
        );
    }

    /// The folder of this bed's process logs.
    pub fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }

    pub fn cluster(&self) -> Cluster {
        Cluster {
            kubeconfig: self.kubeconfig.clone(),
            audit_log: (!self.audit_log.as_os_str().is_empty()).then(|| self.audit_log.clone()),
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

/// Plants a decoy as the operator in a namespace of its own: the namespace and the
/// decoy's Secret.
pub async fn planted(plugin: &Plugin, admin: &kube::Client, prefix: &str) -> (String, String) {
    let namespace = operator_namespace(admin, prefix).await;
    let run = plugin.as_operator(&namespace, &["plant", "--yes", "-o", "json"]);
    run.assert_code(0);
    let secret = run.json()["secret"].as_str().unwrap().to_string();
    (namespace, secret)
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
