//! The command line: kubectl-compatible global flags in one place, and the commands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// kubectl honeytoken: plant a decoy service-account token, prove the audit log would catch
/// its use, drill it, report its state and remove it cleanly.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl honeytoken",
    bin_name = "kubectl honeytoken",
    version,
    propagate_version = true,
    after_help = "Run `kubectl honeytoken <command> --help` for a command's own flags."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes, with kubectl's names and meanings.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use. Repeat it, or separate names with commas, to act on
    /// several clusters at once: a fleet, with one table and one exit code.
    #[arg(long, global = true, value_name = "NAME", value_delimiter = ',')]
    pub context: Vec<String>,

    /// Act on every context of the merged kubeconfig (a fleet), less --skip-context's.
    #[arg(long, global = true)]
    pub all_contexts: bool,

    /// Leave out of a fleet the contexts whose name matches this glob (`*`, `?`, `[a-z]`);
    /// repeatable.
    #[arg(long, global = true, value_name = "GLOB")]
    pub skip_context: Vec<String>,

    /// How many clusters of a fleet to talk to at once.
    #[arg(long, global = true, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: u16,

    /// Seconds one cluster of a fleet may take to answer before it is reported as timed
    /// out (its neighbours go on).
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub context_timeout: u64,

    /// The kubeconfig cluster to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,

    /// The kubeconfig user to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,

    /// The decoy's namespace (default: the profile's, kube-system for tiller).
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,

    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// Whether -o was given on the command line, not taken by default (set after parsing,
    /// from clap's matches).
    #[arg(skip)]
    pub output_given: bool,

    /// Do not ask for confirmation; required to create or delete without a terminal.
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,

    /// Show what would be done and change nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// When to color the output (NO_COLOR in the environment means never, unless `always`).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Act as this user (impersonation, as kubectl's --as): the API server checks that the
    /// kubeconfig's user may impersonate, then applies this user's rights.
    #[arg(long = "as", global = true, value_name = "USER")]
    pub impersonate: Option<String>,

    /// With --as: act in this group too; repeatable.
    #[arg(
        long = "as-group",
        global = true,
        value_name = "GROUP",
        requires = "impersonate"
    )]
    pub impersonate_group: Vec<String>,

    /// With --as: the impersonated user's UID.
    #[arg(
        long = "as-uid",
        global = true,
        value_name = "UID",
        requires = "impersonate"
    )]
    pub impersonate_uid: Option<String>,

    /// How long one request to the API server may take: a number of seconds or a duration
    /// such as 500ms, 10s, 2m; 0 for no limit (default: 30s).
    #[arg(long, global = true, value_name = "DURATION",
          value_parser = crate::cluster::connect::parse_request_timeout)]
    pub request_timeout: Option<std::time::Duration>,

    /// The API server's address, in place of the kubeconfig cluster's (one context only).
    #[arg(short = 's', long, global = true, value_name = "URL")]
    pub server: Option<String>,

    /// Trust this CA file (PEM) for the API server's certificate, in place of the
    /// kubeconfig's (one context only).
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        conflicts_with = "insecure_skip_tls_verify"
    )]
    pub certificate_authority: Option<PathBuf>,

    /// Do not check the API server's certificate (insecure: anyone on the path can read and
    /// change the traffic).
    #[arg(long, global = true)]
    pub insecure_skip_tls_verify: bool,

    /// Log level, as kubectl's -v: 6 or more prints each API request (method, URL, status,
    /// time) on stderr; headers and bodies, which hold credentials and tokens, never.
    #[arg(
        short = 'v',
        long = "v",
        global = true,
        value_name = "LEVEL",
        default_value_t = 0
    )]
    pub verbosity: u8,
}

pub use crate::ui::output::OutputFormat;
pub use crate::ui::terminal::ColorChoice;

impl GlobalArgs {
    /// The kubeconfig and names to connect with.
    pub fn target(&self) -> crate::cluster::connect::Target {
        crate::cluster::connect::Target {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.first().cloned(),
            cluster: self.cluster.clone(),
            user: self.user.clone(),
            overrides: self.overrides(),
        }
    }

    /// kubectl's flags that change how the API server is reached, applied over the
    /// kubeconfig's values.
    pub fn overrides(&self) -> crate::cluster::connect::Overrides {
        crate::cluster::connect::Overrides {
            impersonate: self.impersonate.clone(),
            impersonate_uid: self.impersonate_uid.clone(),
            impersonate_groups: self.impersonate_group.clone(),
            request_timeout: self.request_timeout,
            server: self.server.clone(),
            certificate_authority: self.certificate_authority.clone(),
            insecure_skip_tls_verify: self.insecure_skip_tls_verify,
            verbosity: self.verbosity,
        }
    }

    /// The fleet the command line names (its contexts read from the kubeconfig), or None
    /// for kubectl's one context.
    pub fn fleet(
        &self,
    ) -> Result<Option<crate::cluster::fleet::Fleet>, crate::cluster::fleet::FleetError> {
        if !self.names_a_fleet() {
            return Ok(None);
        }
        let flags = crate::cluster::fleet::FleetFlags {
            kubeconfig: self.kubeconfig.clone(),
            contexts: self.context.clone(),
            all: self.all_contexts,
            skip: self.skip_context.clone(),
            parallel: usize::from(self.parallel),
            timeout: std::time::Duration::from_secs(self.context_timeout),
            picks_cluster_or_user: self.cluster.is_some() || self.user.is_some(),
            picks_server: self.server.is_some() || self.certificate_authority.is_some(),
            overrides: self.overrides(),
        };
        crate::cluster::fleet::Fleet::of(&flags).map(Some)
    }

    /// Whether the command line names a fleet rather than kubectl's one context: more than
    /// one `--context`, `--all-contexts`, or contexts to skip.
    pub fn names_a_fleet(&self) -> bool {
        self.context.len() > 1 || self.all_contexts || !self.skip_context.is_empty()
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create decoys that copy real installers' accounts: an account and token Secret, no RBAC.
    Plant(PlantArgs),
    /// Check that the cluster's audit logging would record use of the decoy token.
    Verify(VerifyArgs),
    /// Use the decoy token as an attacker would (read-only, marked as a drill).
    TestTrigger(TriggerArgs),
    /// Show each decoy: intact, valid, and whether its token has been used.
    Status,
    /// Delete exactly the objects `plant` created.
    Remove(SelectArgs),
    /// Find every use of the decoys in audit logs (JSON lines, .gz, stdin, EventLists).
    Scan(ScanArgs),
    /// Alert on use of the decoys as it happens: follow an audit log, or receive the API
    /// server's audit webhook.
    Watch(Box<WatchArgs>),
    /// Print detection rules for the decoys (Falco, Sigma, GKE, EKS, AKS, Elastic, Splunk) and
    /// Prometheus alerting rules on the watcher's own health.
    Rules(RulesArgs),
    /// Print the least RBAC a tripwire watcher needs (YAML for `kubectl apply -f -`).
    Rbac(RbacArgs),
    /// Write a kubeconfig that signs in as the decoy, named like an administrator's, to
    /// leave as bait outside the cluster (a new file, or added to an existing kubeconfig).
    Kubeconfig(KubeconfigArgs),
    /// Print a shell completion script, e.g. `source <(kubectl honeytoken completion bash)`;
    /// `completion kubectl` prints the kubectl_complete-honeytoken script kubectl runs to
    /// complete `kubectl honeytoken`.
    Completion {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Print the plugin's version and the commit it was built from.
    Version,
}

/// What `completion` prints a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    /// Bash, for the kubectl-honeytoken executable.
    Bash,
    /// Zsh, for the kubectl-honeytoken executable.
    Zsh,
    /// Fish, for the kubectl-honeytoken executable.
    Fish,
    /// PowerShell, for the kubectl-honeytoken executable.
    Powershell,
    /// Elvish, for the kubectl-honeytoken executable.
    Elvish,
    /// The kubectl_complete-honeytoken executable that kubectl (1.26 or newer) runs to
    /// complete `kubectl honeytoken`, in any shell kubectl completes.
    Kubectl,
}

/// Which decoy a command acts on. `remove` and `test-trigger` act on one decoy only when
/// `--profile` or `--name` is given; without either they act on every decoy of this key
/// that `status` finds (in `-n`'s namespace only, when given).
#[derive(Debug, Clone, Args)]
pub struct SelectArgs {
    /// Decoy profile (default: tiller). For remove and test-trigger: only this profile's
    /// decoy (default: every decoy of this key).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,

    /// The decoy service account's name (default: the profile's, tiller). For remove and
    /// test-trigger: only the decoy of this name.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PlantArgs {
    /// Decoy profile; repeat it to plant several (default: asked on a terminal, else
    /// tiller). `kubectl honeytoken plant --list-profiles` shows them with their fit.
    #[arg(long, value_name = "PROFILE")]
    pub profile: Vec<String>,

    /// A profile of your own (YAML, the schema of profiles/*.yaml); repeatable.
    #[arg(long, value_name = "FILE")]
    pub profile_file: Vec<PathBuf>,

    /// The decoy service account's name (default: the profile's); one decoy only.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// A list of decoys to plant (YAML: `decoys:` with profile or profileFile, and
    /// optional namespace and name), for GitOps and CI.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub filename: Option<PathBuf>,

    /// Show every profile with its fit to this cluster, and plant nothing.
    #[arg(long)]
    pub list_profiles: bool,

    /// Create the decoy's namespace if it does not exist (as `kubectl create namespace`
    /// would; it stays when the decoy is removed). Without it, a missing namespace is an
    /// error, and the wizard asks.
    #[arg(long)]
    pub create_namespace: bool,

    /// Seconds to wait for the token controller to fill in the token.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub select: SelectArgs,

    /// The API server's audit policy file (audit.k8s.io/v1 Policy, YAML or JSON).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Also run a drill and wait for its events in a sink (--audit-log or --listen).
    #[arg(long)]
    pub e2e: bool,

    /// With --e2e: an audit log file (JSON lines) to watch for the drill's events.
    #[arg(long, value_name = "FILE", requires = "e2e", conflicts_with = "listen")]
    pub audit_log: Option<PathBuf>,

    /// With --e2e: receive the API server's audit webhook (EventList JSON) on this loopback
    /// address for the duration of the drill.
    #[arg(long, value_name = "ADDR", requires = "e2e")]
    pub listen: Option<std::net::SocketAddr>,

    /// With --e2e on AKS: the Log Analytics workspace id the cluster's audit logs go to.
    #[arg(long, value_name = "ID", requires = "e2e")]
    pub workspace: Option<String>,

    /// With --e2e: seconds to wait for the drill's events (default 30; 600 when reading a
    /// provider's log service, where events arrive minutes late).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,

    /// With --e2e: a `watch --tripwire --listen` watcher's URL to announce the drill to
    /// (signed with the key), so it tells the drill's stamp as a drill, not an attack.
    #[arg(long, value_name = "URL", env = "HONEYTOKEN_WATCHER")]
    pub watcher: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ScanArgs {
    /// Audit log files (JSON lines, optionally gzip-compressed); `-` or none reads stdin.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// A decoy's user name to look for, without asking the cluster (repeatable).
    #[arg(long, value_name = "system:serviceaccount:NS:NAME")]
    pub user: Vec<String>,

    /// A decoy's token Secret, NAMESPACE/NAME, whose stamp by the API server (its token
    /// authenticated) to look for, without asking the cluster (repeatable; its account's
    /// user name is looked for too). With --user alone, stamps are not looked for.
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub secret: Vec<String>,
}

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).multiple(true).args(["audit_log", "listen", "tripwire"])))]
pub struct WatchArgs {
    /// Follow this audit log file (JSON lines) like `tail -F`, through rotation and
    /// truncation, from its current end. Over a fleet: CONTEXT=FILE, repeatable, one file
    /// per context (its events are that cluster's).
    #[arg(long, value_name = "FILE")]
    pub audit_log: Vec<PathBuf>,

    /// Serve as the API server's audit webhook backend on this address (plain HTTP on
    /// loopback only; any address with --tls-cert and --tls-key). Over a fleet, each
    /// cluster posts to its own path, /contexts/<context name>.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,

    /// With --listen: serve TLS with this certificate (PEM, chain first).
    #[arg(long, value_name = "FILE", requires_all = ["listen", "tls_key"])]
    pub tls_cert: Option<PathBuf>,

    /// With --tls-cert: its private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// With --tls-cert: require a client certificate signed by a CA in this file (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,

    /// With --listen: require this bearer token (read from the file) on every request, the
    /// token of the API server's audit webhook kubeconfig.
    #[arg(long, value_name = "FILE", requires = "listen")]
    pub token_file: Option<PathBuf>,

    /// With --listen: refuse request bodies larger than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = crate::detect::webhook::BODY_LIMIT)]
    pub max_body: usize,

    /// A decoy's user name to watch for, without asking the cluster (repeatable).
    #[arg(long, value_name = "system:serviceaccount:NS:NAME")]
    pub user: Vec<String>,

    /// A decoy's token Secret, NAMESPACE/NAME, whose stamp by the API server (its token
    /// authenticated) to look for, without asking the cluster (repeatable; its account's
    /// user name is looked for too). With --user alone, stamps are not looked for.
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub secret: Vec<String>,

    /// Also POST each alert as JSON to this URL (its `text` field suits Slack webhooks).
    #[arg(long, value_name = "URL")]
    pub webhook_url: Option<String>,

    /// Also POST each alert to this Alertmanager, through its v2 API: its base URL, such
    /// as http://alertmanager.monitoring:9093 (repeatable: each replica of an HA set gets
    /// every alert).
    #[arg(long, value_name = "URL")]
    pub alertmanager_url: Vec<String>,

    /// With --alertmanager-url: send this bearer token, the file's first line (read at
    /// each delivery, so a rotated token is picked up).
    #[arg(
        long,
        value_name = "FILE",
        requires = "alertmanager_url",
        conflicts_with = "alertmanager_basic_auth_file"
    )]
    pub alertmanager_token_file: Option<PathBuf>,

    /// With --alertmanager-url: basic auth, USER:PASSWORD on the file's first line.
    #[arg(long, value_name = "FILE", requires = "alertmanager_url")]
    pub alertmanager_basic_auth_file: Option<PathBuf>,

    /// Also POST each alert to Falcosidekick at this URL (such as
    /// http://falcosidekick.falco:2801/), as Falco's http_output posts its events.
    #[arg(long, value_name = "URL")]
    pub falcosidekick_url: Option<String>,

    /// Add this label to every alert sent to Alertmanager, and field to Falcosidekick, such
    /// as cluster=prod-eu (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    pub alert_label: Vec<String>,

    /// Trust this CA (PEM) for https:// alert sinks, besides the system's.
    #[arg(long, value_name = "FILE")]
    pub sink_ca: Option<PathBuf>,

    /// Present this client certificate (PEM, chain first) to https:// alert sinks that ask
    /// for one.
    #[arg(long, value_name = "FILE", requires = "sink_client_key")]
    pub sink_client_cert: Option<PathBuf>,

    /// With --sink-client-cert: its private key (PEM).
    #[arg(long, value_name = "FILE", requires = "sink_client_cert")]
    pub sink_client_key: Option<PathBuf>,

    /// Also run this shell command for each alert, with the alert (JSON) on its stdin.
    #[arg(long, value_name = "COMMAND")]
    pub exec: Option<String>,

    /// Requests from one client with pauses shorter than this many seconds are one alert;
    /// the alert is raised once the client has been quiet this long (at most ten times this
    /// after its first request).
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    pub group_window: f64,

    /// Serve the watcher's health on this address: GET /metrics (Prometheus), /healthz
    /// (alive) and /readyz (every source started; over a fleet, every context watched), in
    /// plain HTTP.
    #[arg(long, value_name = "ADDR")]
    pub metrics_address: Option<std::net::SocketAddr>,

    /// Watch the decoys' token Secrets and service accounts through the API, metadata only:
    /// each use of a token makes the API server stamp its Secret, told at once, with or
    /// without audit logs; a deleted, replaced or invalidated decoy is told too.
    #[arg(long)]
    pub tripwire: bool,

    /// With --tripwire: leave the stamp on the Secret after telling it (by default it is
    /// removed, so the next use stamps again).
    #[arg(long, requires = "tripwire")]
    pub no_rearm: bool,

    /// With --tripwire: seconds between looks at the bindings that name the decoys.
    #[arg(long, value_name = "SECONDS", default_value_t = 300, requires = "tripwire",
          value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub bindings_every: u64,
}

#[derive(Debug, Clone, Args)]
pub struct RulesArgs {
    /// A platform to print rules for (repeatable; default: all of them).
    #[arg(long = "for", value_enum, value_name = "PLATFORM")]
    pub platform: Vec<Platform>,

    /// A decoy's user name to write rules for, without asking the cluster (repeatable).
    #[arg(long, value_name = "system:serviceaccount:NS:NAME")]
    pub user: Vec<String>,

    /// A decoy's token Secret, NAMESPACE/NAME, whose stamp by the API server (its token
    /// authenticated) to look for, without asking the cluster (repeatable; its account's
    /// user name is looked for too). With --user alone, stamps are not looked for.
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub secret: Vec<String>,
}

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("holder").multiple(false).args(["service_account", "user", "group"])))]
pub struct RbacArgs {
    /// A decoy's token Secret, NAMESPACE/NAME, to grant the watcher (repeatable; without
    /// it, the decoys of this key that the cluster holds, found as `status` finds them).
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub secret: Vec<String>,

    /// The ServiceAccount the watcher runs as (default kube-system/secret-label-sync); the
    /// output creates it.
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub service_account: Option<String>,

    /// Bind a user (the watcher runs outside the cluster with that user's credentials).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,

    /// Bind a group.
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,

    /// The name of the Role and RoleBinding (default: the ServiceAccount's name, else
    /// secret-label-sync). Anyone who can read RBAC reads it.
    #[arg(long, value_name = "NAME")]
    pub role: Option<String>,

    /// For a watcher run with --no-rearm: no `patch` on the Secrets.
    #[arg(long)]
    pub no_rearm: bool,

    /// Also let the watcher list RoleBindings in the decoys' namespaces and
    /// ClusterRoleBindings, to see a binding that grants a decoy something.
    #[arg(long)]
    pub bindings: bool,
}

/// Where `rules` writes detection rules for, in the order it prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Platform {
    /// Falco with the k8saudit plugin.
    Falco,
    /// Sigma (logsource kubernetes/audit).
    Sigma,
    /// Google Cloud Logging and Monitoring.
    Gke,
    /// Amazon CloudWatch Logs.
    Eks,
    /// Azure Monitor Log Analytics (KQL).
    Aks,
    /// Elastic Security (Kubernetes integration).
    Elastic,
    /// Splunk (SPL).
    Splunk,
    /// Prometheus: alerting rules on the watcher's own health (watch --metrics-address),
    /// not on the decoys; needs no cluster.
    Prometheus,
}

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("destination").required(true).args(["out", "merge_into"])))]
pub struct KubeconfigArgs {
    #[command(flatten)]
    pub select: SelectArgs,

    /// Write a new kubeconfig to this file, mode 0600 (`-`: to stdout, which may not be a
    /// terminal: the file holds the decoy's live token).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Add the cluster, user and context to this existing kubeconfig; its other entries and
    /// current-context stay as they are.
    #[arg(long, value_name = "FILE")]
    pub merge_into: Option<PathBuf>,

    /// With --out: replace the file if it exists.
    #[arg(long, requires = "out", conflicts_with = "merge_into")]
    pub force: bool,

    /// The cluster entry's name (default: the cluster of your current context, or
    /// kubernetes if that name would give the decoy away).
    #[arg(long, value_name = "NAME")]
    pub cluster_name: Option<String>,

    /// The user entry's name (default: <cluster>-admin).
    #[arg(long, value_name = "NAME")]
    pub user_name: Option<String>,

    /// The context's name (default: <user>@<cluster>).
    #[arg(long, value_name = "NAME")]
    pub context_name: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct TriggerArgs {
    #[command(flatten)]
    pub select: SelectArgs,

    /// An audit log file (JSON lines) to watch for the drill's events.
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,

    /// Seconds to wait for the drill's events to appear in the audit log.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u64,

    /// A `watch --tripwire --listen` watcher's URL: announce the drill to it (signed with
    /// the key) so its stamp is told as a drill, then confirm the watcher saw it.
    #[arg(long, value_name = "URL", env = "HONEYTOKEN_WATCHER")]
    pub watcher: Option<String>,
}

impl Command {
    /// Whether the command runs over several contexts at once (`--all-contexts`).
    pub fn acts_on_a_fleet(&self) -> bool {
        matches!(
            self,
            Command::Plant(_)
                | Command::Verify(_)
                | Command::TestTrigger(_)
                | Command::Status
                | Command::Remove(_)
                | Command::Watch(_)
        )
    }

    pub fn name(&self) -> &'static str {
        match self {
            Command::Plant(_) => "plant",
            Command::Verify(_) => "verify",
            Command::TestTrigger(_) => "test-trigger",
            Command::Status => "status",
            Command::Remove(_) => "remove",
            Command::Scan(_) => "scan",
            Command::Watch(_) => "watch",
            Command::Rules(_) => "rules",
            Command::Rbac(_) => "rbac",
            Command::Kubeconfig(_) => "kubeconfig",
            Command::Completion { .. } => "completion",
            Command::Version => "version",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kubectl-honeytoken").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_are_accepted_after_the_command() {
        let cli = parse(&[
            "status",
            "--kubeconfig",
            "/tmp/k",
            "--context",
            "prod",
            "-n",
            "ops",
            "-o",
            "json",
            "--yes",
            "--dry-run",
            "--color",
            "never",
            "--cluster",
            "c1",
            "--user",
            "u1",
        ])
        .unwrap();
        assert_eq!(cli.command.name(), "status");
        assert_eq!(cli.global.kubeconfig, Some(PathBuf::from("/tmp/k")));
        assert_eq!(cli.global.context, vec!["prod"]);
        assert!(!cli.global.names_a_fleet());
        assert_eq!(cli.global.cluster.as_deref(), Some("c1"));
        assert_eq!(cli.global.user.as_deref(), Some("u1"));
        assert_eq!(cli.global.namespace.as_deref(), Some("ops"));
        assert_eq!(cli.global.output, OutputFormat::Json);
        assert!(cli.global.yes);
        assert!(cli.global.dry_run);
        assert_eq!(cli.global.color, ColorChoice::Never);
    }

    #[test]
    fn defaults_are_table_output_and_automatic_color() {
        let cli = parse(&["plant"]).unwrap();
        assert_eq!(cli.global.output, OutputFormat::Table);
        assert_eq!(cli.global.color, ColorChoice::Auto);
        assert!(!cli.global.yes && !cli.global.dry_run);
        assert_eq!(cli.global.namespace, None);
    }

    #[test]
    fn unknown_output_format_is_a_usage_error() {
        let error = parse(&["status", "-o", "xml"]).unwrap_err();
        assert_eq!(error.exit_code(), i32::from(crate::exit::USAGE));
    }

    #[test]
    fn rules_takes_repeated_platforms_and_users() {
        let cli = parse(&[
            "rules",
            "--for",
            "sigma",
            "--for",
            "falco",
            "--user",
            "system:serviceaccount:kube-system:tiller",
            "-o",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.command.name(), "rules");
        let Command::Rules(args) = cli.command else {
            panic!("not the rules command");
        };
        assert_eq!(args.platform, vec![Platform::Sigma, Platform::Falco]);
        assert_eq!(args.user, vec!["system:serviceaccount:kube-system:tiller"]);
        assert_eq!(cli.global.output, OutputFormat::Json);
        assert!(parse(&["rules", "--for", "datadog"]).is_err());
    }

    #[test]
    fn kubeconfig_needs_one_destination_and_keeps_kubectls_global_names() {
        let cli = parse(&[
            "kubeconfig",
            "--out",
            "bait.yaml",
            "--cluster-name",
            "prod",
            "--user-name",
            "prod-admin",
            "--context-name",
            "prod",
            "--cluster",
            "bed",
            "--context",
            "operator",
        ])
        .unwrap();
        assert_eq!(cli.command.name(), "kubeconfig");
        assert_eq!(cli.global.cluster.as_deref(), Some("bed"));
        assert_eq!(cli.global.context, vec!["operator"]);
        let Command::Kubeconfig(args) = cli.command else {
            panic!("not the kubeconfig command");
        };
        assert_eq!(args.out, Some(PathBuf::from("bait.yaml")));
        assert_eq!(args.cluster_name.as_deref(), Some("prod"));
        assert_eq!(args.user_name.as_deref(), Some("prod-admin"));
        assert_eq!(args.context_name.as_deref(), Some("prod"));
        assert!(parse(&["kubeconfig"]).is_err());
        assert!(parse(&["kubeconfig", "--out", "a", "--merge-into", "b"]).is_err());
        assert!(parse(&["kubeconfig", "--merge-into", "b", "--force"]).is_err());
        assert!(parse(&["kubeconfig", "--merge-into", "b", "--name", "helm"]).is_ok());
    }

    #[test]
    fn contexts_repeat_or_split_at_commas_and_name_a_fleet() {
        let cli = parse(&["status", "--context", "a,b", "--context", "c"]).unwrap();
        assert_eq!(cli.global.context, vec!["a", "b", "c"]);
        assert!(cli.global.names_a_fleet());
        assert_eq!(cli.global.target().context.as_deref(), Some("a"));
        let cli = parse(&["remove", "--all-contexts", "--skip-context", "prod-*"]).unwrap();
        assert!(cli.global.all_contexts && cli.global.names_a_fleet());
        assert_eq!(cli.global.skip_context, vec!["prod-*"]);
        assert_eq!((cli.global.parallel, cli.global.context_timeout), (64, 30));
        assert!(parse(&["status", "--parallel", "0"]).is_err());
        assert!(parse(&["status", "--context-timeout", "0"]).is_err());
        assert!(!parse(&["status"]).unwrap().global.names_a_fleet());
    }

    #[test]
    fn a_command_is_required() {
        assert!(parse(&[]).is_err());
    }

    #[test]
    fn help_names_every_planned_command_and_speaks_as_kubectl() {
        let help = Cli::command().render_help().to_string();
        assert!(help.contains("kubectl honeytoken"), "{help}");
        for command in ["plant", "verify", "test-trigger", "status", "remove"] {
            assert!(
                help.contains(command),
                "help does not list {command}:\n{help}"
            );
        }
    }

    #[test]
    fn kubectls_connection_flags_become_overrides() {
        let cli = parse(&[
            "status",
            "--as",
            "jane",
            "--as-group",
            "dev",
            "--as-group",
            "ops",
            "--as-uid",
            "42",
            "--request-timeout",
            "5s",
            "--server",
            "https://10.0.0.1:6443",
            "--certificate-authority",
            "/ca.pem",
            "-v",
            "6",
        ])
        .unwrap();
        let overrides = cli.global.target().overrides;
        assert_eq!(overrides.impersonate.as_deref(), Some("jane"));
        assert_eq!(overrides.impersonate_groups, vec!["dev", "ops"]);
        assert_eq!(overrides.impersonate_uid.as_deref(), Some("42"));
        assert_eq!(
            overrides.request_timeout,
            Some(std::time::Duration::from_secs(5))
        );
        assert_eq!(overrides.server.as_deref(), Some("https://10.0.0.1:6443"));
        assert_eq!(
            overrides.certificate_authority,
            Some(PathBuf::from("/ca.pem"))
        );
        assert_eq!(overrides.verbosity, 6);
        assert!(!overrides.insecure_skip_tls_verify);
        // kubectl's spellings of the level, and the short --server.
        for level in [&["--v=7"][..], &["-v=7"], &["-v7"], &["--v", "7"]] {
            let mut args = vec!["status"];
            args.extend_from_slice(level);
            assert_eq!(parse(&args).unwrap().global.verbosity, 7, "{level:?}");
        }
        let cli = parse(&[
            "-s",
            "https://h:6443",
            "--insecure-skip-tls-verify",
            "status",
        ])
        .unwrap();
        assert!(cli.global.insecure_skip_tls_verify);
        assert_eq!(cli.global.server.as_deref(), Some("https://h:6443"));
    }

    #[test]
    fn kubectls_connection_flags_refuse_what_kubectl_refuses() {
        // Groups or a UID without a user to impersonate.
        assert!(parse(&["status", "--as-group", "dev"]).is_err());
        assert!(parse(&["status", "--as-uid", "42"]).is_err());
        // A CA to check against while checking nothing.
        assert!(
            parse(&[
                "status",
                "--certificate-authority",
                "/ca.pem",
                "--insecure-skip-tls-verify"
            ])
            .is_err()
        );
        assert!(parse(&["status", "--request-timeout", "soon"]).is_err());
    }

    #[test]
    fn a_fleet_refuses_one_servers_flags() {
        for flag in [
            &["--server", "https://h:6443"][..],
            &["--certificate-authority", "/ca.pem"],
        ] {
            let mut args = vec!["status", "--context", "a,b"];
            args.extend_from_slice(flag);
            let cli = parse(&args).unwrap();
            let error = cli.global.fleet().unwrap_err().to_string();
            assert!(
                error.contains("a fleet of contexts cannot share"),
                "{error}"
            );
        }
    }

    #[test]
    fn version_is_a_command() {
        assert_eq!(parse(&["version"]).unwrap().command.name(), "version");
        assert_eq!(
            parse(&["version", "-o", "json"]).unwrap().global.output,
            OutputFormat::Json
        );
    }
}
