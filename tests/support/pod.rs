//! What a pod has of its cluster, for a process given a pod's environment: the
//! `KUBERNETES_SERVICE_HOST`/`_PORT` variables, and a ServiceAccount's token, CA and
//! namespace files in /var/run/secrets/kubernetes.io/serviceaccount, laid out in a mount
//! namespace of the process's own (`unshare --mount`), where a tmpfs over /run (/var/run
//! is a link to it) holds them; no kubeconfig.

use std::path::Path;
use std::process::Command;

use super::Cluster;

const MOUNTED: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// What a pod of `account` in `namespace` has: its token, the cluster's CA, its namespace.
pub struct PodEnvironment {
    files: tempfile::TempDir,
    pub host: String,
    pub port: String,
}

pub fn kubectl(cluster: &Cluster, args: &[&str]) -> String {
    let output = Command::new(cluster.bin_dir.as_ref().unwrap().join("kubectl"))
        .args(["--kubeconfig", &cluster.kubeconfig.display().to_string()])
        .args(["--context", "admin"])
        .args(args)
        .output()
        .expect("run the bed's kubectl");
    assert!(
        output.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

impl PodEnvironment {
    pub async fn of(cluster: &Cluster, namespace: &str, account: &str) -> PodEnvironment {
        let files = tempfile::tempdir().unwrap();
        let token = kubectl(cluster, &["create", "token", account, "-n", namespace]);
        std::fs::write(files.path().join("token"), token.trim()).unwrap();
        std::fs::write(files.path().join("namespace"), namespace).unwrap();
        let kubeconfig = kube::config::Kubeconfig::read_from(&cluster.kubeconfig).unwrap();
        let authority = kubeconfig.clusters[0]
            .cluster
            .as_ref()
            .and_then(|c| c.certificate_authority.clone())
            .expect("the bed's kubeconfig names its CA file");
        std::fs::copy(authority, files.path().join("ca.crt")).unwrap();
        let url = cluster.config("admin").await.cluster_url;
        PodEnvironment {
            files,
            host: url.host().unwrap().to_string(),
            port: url.port_u16().unwrap().to_string(),
        }
    }

    /// A kubeconfig that authenticates as the same ServiceAccount from outside the cluster.
    pub fn kubeconfig(&self) -> std::path::PathBuf {
        let path = self.files.path().join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: pod\n\
             clusters: [{{name: bed, cluster: {{server: 'https://{}:{}', certificate-authority: '{}'}}}}]\n\
             users: [{{name: pod, user: {{tokenFile: '{}'}}}}]\n\
             contexts: [{{name: pod, context: {{cluster: bed, user: pod}}}}]\n",
            self.host,
            self.port,
            self.files.path().join("ca.crt").display(),
            self.files.path().join("token").display(),
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.files.path().join("token")).unwrap()
    }

    /// The plugin with `args`, in a mount namespace where the files are where a pod has
    /// them, with a pod's variables and no kubeconfig.
    pub fn command(&self, home: &Path, args: &[&str]) -> Command {
        let mut command = Command::new("unshare");
        command
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount -t tmpfs tmpfs /run && mkdir -p {MOUNTED} && cp \"$0\"/token \"$0\"/ca.crt \"$0\"/namespace {MOUNTED}/ && shift && exec \"$@\""
            ))
            .arg(self.files.path())
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_kubectl-honeytoken"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap())
            .env("HOME", "/nonexistent")
            .env("HONEYTOKEN_HOME", home)
            .env("NO_COLOR", "1")
            .env("KUBERNETES_SERVICE_HOST", &self.host)
            .env("KUBERNETES_SERVICE_PORT", &self.port)
            .stdin(std::process::Stdio::null());
        command
    }
}
