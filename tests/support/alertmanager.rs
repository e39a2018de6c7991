//! A real Alertmanager for the tests of `watch --alertmanager-url`: built from its Go module
//! by `tests/alertmanager/build` (cached next to the control plane's binaries), run on a
//! free loopback port with a configuration of its own, and asked through its v2 API what it
//! holds. With [`Web`], it serves TLS, asks for a client certificate and basic auth, as its
//! `--web.config.file` sets up.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

const HOW_TO_GET_IT: &str = "The Alertmanager tests need Go and the module proxy once: \
tests/alertmanager/build builds Alertmanager from the module pinned in tests/alertmanager/go.mod \
(run it by hand to see why it does not).";

/// The user and password the web configuration lets in, and the password's bcrypt hash as
/// Alertmanager's `basic_auth_users` takes it (made once with golang.org/x/crypto/bcrypt).
pub const USER: &str = "watcher";
pub const PASSWORD: &str = "drill-sink-password";
const PASSWORD_HASH: &str = "$2a$10$Nah5cy2lfHjKHSIjrYwbn.Ki1uRL0b4FNIwJri5dU6xrgWNFeJwyG";

/// Alertmanager's `amtool`: checks configurations and tests routes as Alertmanager would.
pub fn amtool() -> PathBuf {
    binaries().join("amtool")
}

/// The folder holding the `alertmanager` and `amtool` binaries, built once per test binary
/// run.
fn binaries() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = BIN.get_or_init(|| {
        let build = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/alertmanager/build");
        let output = Command::new(&build)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", build.display()))?;
        if !output.status.success() {
            return Err(format!("{} failed ({})", build.display(), output.status));
        }
        let folder = String::from_utf8_lossy(&output.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        Ok(PathBuf::from(folder))
    });
    match found {
        Ok(path) => path.clone(),
        Err(why) => panic!("no Alertmanager to test against: {why}\n{HOW_TO_GET_IT}"),
    }
}

/// TLS and basic auth in front of the API: the server's certificate and key, and the CA
/// client certificates must be signed by.
pub struct Web {
    pub cert: String,
    pub key: String,
    pub client_ca: String,
}

pub struct Alertmanager {
    child: Child,
    dir: tempfile::TempDir,
    /// The base URL, as `--alertmanager-url` takes it.
    pub url: String,
    /// curl's arguments to reach it (CA, client certificate, user).
    curl_args: Vec<String>,
}

impl Alertmanager {
    /// Plain HTTP on loopback.
    pub fn start() -> Alertmanager {
        Alertmanager::launch(None)
    }

    /// TLS, a client certificate and basic auth required; `client` is the certificate and key
    /// curl presents.
    pub fn start_with(web: Web, ca: &str, client: (&str, &str)) -> Alertmanager {
        let mut am = Alertmanager::launch(Some(&web));
        am.curl_args = vec![
            "--cacert".into(),
            ca.into(),
            "--cert".into(),
            client.0.into(),
            "--key".into(),
            client.1.into(),
            "--user".into(),
            format!("{USER}:{PASSWORD}"),
        ];
        am.wait_ready();
        am
    }

    fn launch(web: Option<&Web>) -> Alertmanager {
        let binary = binaries().join("alertmanager");
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        // Grouped per alert, so each alert would be its own notification; the receiver
        // sends nowhere: the tests read what Alertmanager holds through its API.
        std::fs::write(
            &config,
            "route:\n  receiver: \"nowhere\"\n  group_by: [\"alertname\", \"alert_id\"]\n  group_wait: 1s\nreceivers:\n  - name: \"nowhere\"\n",
        )
        .unwrap();
        let port = super::free_port();
        let mut command = Command::new(binary);
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // No cluster of replicas: nothing listens on 9094.
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("alertmanager.log")).unwrap());
        let scheme = match web {
            None => "http",
            Some(web) => {
                let web_config = dir.path().join("web.yml");
                std::fs::write(
                    &web_config,
                    format!(
                        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\nbasic_auth_users:\n  {USER}: '{PASSWORD_HASH}'\n",
                        web.cert, web.key, web.client_ca
                    ),
                )
                .unwrap();
                command.arg(format!("--web.config.file={}", web_config.display()));
                "https"
            }
        };
        let child = command.spawn().expect("start alertmanager");
        let am = Alertmanager {
            child,
            dir,
            url: format!("{scheme}://127.0.0.1:{port}"),
            curl_args: Vec::new(),
        };
        if web.is_none() {
            am.wait_ready();
        }
        am
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.get("/-/ready").is_some_and(|(code, _)| code == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Alertmanager did not become ready: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET path` with curl: the status and the body, None when nothing answered.
    fn get(&self, path: &str) -> Option<(u16, String)> {
        let output = Command::new("curl")
            .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
            .args(&self.curl_args)
            .arg(format!("{}{path}", self.url))
            .output()
            .expect("run curl");
        if !output.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n')?;
        Some((code.trim().parse().ok()?, body.to_string()))
    }

    /// The alerts Alertmanager holds as active (not resolved), as its API lists them.
    pub fn alerts(&self) -> Vec<Value> {
        let (code, body) = self.get("/api/v2/alerts").expect("Alertmanager answers");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str::<Vec<Value>>(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    /// Waits until an active alert satisfies `wanted`, and returns them all then.
    pub fn wait_for(&self, within: Duration, wanted: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let alerts = self.alerts();
            if wanted(&alerts) {
                return alerts;
            }
            assert!(
                Instant::now() < deadline,
                "Alertmanager never held the alerts wanted; it holds: {alerts:#?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Alerts Alertmanager has received through its API (`alertmanager_alerts_received_total`,
    /// firing and resolved): each alert of each post counts.
    pub fn received(&self) -> f64 {
        let (_, scrape) = self.get("/metrics").expect("Alertmanager answers");
        scrape
            .lines()
            .filter(|l| l.starts_with("alertmanager_alerts_received_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
