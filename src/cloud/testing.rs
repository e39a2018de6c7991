//! What the cloud tests share: the kubeconfig hints of one cluster per provider, a drill's
//! requests as the providers log them, and stand-in CLIs (a folder of shell scripts that
//! answer only the argv they expect and record every call).

use std::path::PathBuf;
use std::time::Duration;

use super::runner::shell_word;
use super::{CliRunner, ClusterHint, HintPart, LogQuery, Provider};
use crate::audit::Event;

pub(super) const EKS_ENABLED: &str =
    include_str!("../../tests/fixtures/cloud/eks-logging-audit-enabled.json");

pub(super) fn known_part(value: &str) -> Option<HintPart> {
    Some(HintPart {
        value: value.to_string(),
        certain: true,
    })
}

pub(super) fn guessed_part(value: &str) -> Option<HintPart> {
    Some(HintPart {
        value: value.to_string(),
        certain: false,
    })
}

pub(super) fn eks_hint() -> ClusterHint {
    ClusterHint {
        name: known_part("prod-1"),
        region: known_part("us-west-2"),
        account: known_part("111122223333"),
        server_host: Some("abc.gr7.us-west-2.eks.amazonaws.com".into()),
    }
}

pub(super) fn gke_hint() -> ClusterHint {
    ClusterHint {
        name: known_part("web"),
        region: known_part("europe-west1-b"),
        account: known_part("my-proj"),
        server_host: Some("34.1.2.3".into()),
    }
}

pub(super) fn aks_hint() -> ClusterHint {
    ClusterHint {
        name: guessed_part("aks-prod"),
        region: known_part("westeurope"),
        account: None,
        server_host: Some("aks-prod-dns-1a2b3c4d.hcp.westeurope.azmk8s.io".into()),
    }
}

pub(super) const TILLER: &str = "system:serviceaccount:kube-system:tiller";

pub(super) const DRILL_UA: &str = "kubectl-honeytoken-drill/0.1.0 (drill d1)";

pub(super) const KUBECTL_UA: &str = "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350";

pub(super) const WORKSPACE: &str = "5e2c8a41-7b3d-4f6e-9a0c-1d2e3f4a5b6c";

pub(super) fn log_query(provider: Provider, hint: ClusterHint) -> LogQuery {
    LogQuery {
        provider,
        hint,
        username: TILLER.to_string(),
        since: "2026-11-28T09:59:00.75Z".parse().unwrap(),
        workspace: (provider == Provider::Aks).then(|| WORKSPACE.to_string()),
    }
}

pub(super) fn owned(argv: &[&str]) -> Vec<String> {
    argv.iter().map(|a| a.to_string()).collect()
}

/// What the drill's matching reads: verb, request URI, user name, user agent, code.
pub(super) fn seen(event: &Event) -> (&str, &str, &str, &str, Option<u16>) {
    (
        event.verb.as_str(),
        event.request_uri.as_str(),
        event.user.username.as_str(),
        event.user_agent.as_str(),
        event.code(),
    )
}

/// Whether the drill's own matching takes the event for drill d1's request of that name.
pub(super) fn matches_drill(event: &Event, request_name: &str) -> bool {
    let request = crate::detect::drill::drill_requests("kube-system")
        .into_iter()
        .find(|r| r.name == request_name)
        .unwrap();
    crate::detect::drill::matches_request(event, &request, TILLER, "d1")
}

pub(super) const LIST_SECRETS: &str = "list secrets in the namespace";

pub(super) fn at(text: &str) -> Option<jiff::Timestamp> {
    Some(text.parse().unwrap())
}

pub(super) const EKS_ARGV: &[&str] = &[
    "eks",
    "describe-cluster",
    "--name",
    "prod-1",
    "--region",
    "us-west-2",
    "--query",
    "cluster.logging",
    "--output",
    "json",
];

pub(super) const EKS_COMMAND: &str = "aws eks describe-cluster --name prod-1 --region us-west-2 --query cluster.logging --output json";

#[cfg(unix)]
pub(super) enum Reply<'a> {
    Prints(&'a str),
    Fails { code: i32, stderr: &'a str },
}

#[cfg(unix)]
/// A folder of shell scripts posing as aws, gcloud and az: each records its argv
/// (one [arg] per argument) and answers only the argv it expects.
pub(super) struct StandIns {
    pub(super) dir: tempfile::TempDir,
}

#[cfg(unix)]
impl StandIns {
    pub(super) fn new() -> StandIns {
        StandIns {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(super) fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(super) fn install(&self, program: &str, replies: &[(&[&str], Reply)]) {
        let quote = |path: PathBuf| shell_word(path.to_str().unwrap());
        let mut script = format!(
            "#!/bin/sh\nline=''\nfor arg in \"$@\"; do line=\"$line[$arg]\"; done\n\
             printf '%s\\n' \"$line\" >> {}\ncase \"$line\" in\n",
            quote(self.file(&format!("{program}.calls")))
        );
        for (n, (argv, reply)) in replies.iter().enumerate() {
            let pattern = shell_word(&bracketed(argv));
            let reply_file = self.file(&format!("{program}.{n}.reply"));
            let (text, action) = match reply {
                Reply::Prints(stdout) => (
                    *stdout,
                    format!("cat {}; exit 0", quote(reply_file.clone())),
                ),
                Reply::Fails { code, stderr } => (
                    *stderr,
                    format!("cat {} >&2; exit {code}", quote(reply_file.clone())),
                ),
            };
            std::fs::write(&reply_file, text).unwrap();
            script.push_str(&format!("  {pattern}) {action} ;;\n"));
        }
        script.push_str(&format!(
            "esac\necho \"stand-in {program}: unexpected arguments $line\" >&2\nexit 97\n"
        ));
        self.write_executable(program, &script);
    }

    pub(super) fn write_executable(&self, program: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.file(program);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    pub(super) fn runner(&self) -> CliRunner {
        CliRunner::new(self.dir.path(), Duration::from_secs(10))
    }

    /// Each call's argv as "[arg][arg]...", in order; empty if never called.
    pub(super) fn calls(&self, program: &str) -> Vec<String> {
        std::fs::read_to_string(self.file(&format!("{program}.calls")))
            .map(|text| text.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }
}

pub(super) fn bracketed(argv: &[&str]) -> String {
    argv.iter().map(|a| format!("[{a}]")).collect()
}
