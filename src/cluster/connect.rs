//! Finding the cluster the way kubectl does: `--kubeconfig`, else every file in
//! `KUBECONFIG` merged (first one to set a value wins, missing files ignored), else
//! `~/.kube/config`, else the in-cluster service account. `--context`, `--cluster` and
//! `--user` pick from the merged file; a name that is not there is an error. kubectl's
//! `--as`, `--as-group`, `--as-uid`, `--request-timeout`, `--server`,
//! `--certificate-authority` and `--insecure-skip-tls-verify` apply over what the kubeconfig
//! (or the in-cluster account) says ([`apply`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

/// Which kubeconfig to read and which of its names to use: kubectl's `--kubeconfig`,
/// `--context`, `--cluster` and `--user`; and what to change in what it says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub cluster: Option<String>,
    pub user: Option<String>,
    pub overrides: Overrides,
}

/// kubectl's flags that change how the API server is reached, over the kubeconfig's values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--as`: the user to impersonate.
    pub impersonate: Option<String>,
    /// `--as-uid`.
    pub impersonate_uid: Option<String>,
    /// `--as-group`, repeatable.
    pub impersonate_groups: Vec<String>,
    /// `--request-timeout`: the time one request may take; zero for no limit.
    pub request_timeout: Option<Duration>,
    /// `--server`.
    pub server: Option<String>,
    /// `--certificate-authority`: a PEM file of CA certificates.
    pub certificate_authority: Option<PathBuf>,
    /// `--insecure-skip-tls-verify`.
    pub insecure_skip_tls_verify: bool,
    /// `-v`: 6 or more logs each request ([`crate::cluster::transport`]).
    pub verbosity: u8,
}

/// How long to wait for a TCP connection before calling the server unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request may take; the longest we make is a small list.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("kubeconfig {path} does not exist or cannot be read: {source}")]
    KubeconfigUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid YAML or not a kubeconfig. Told by position and kind only: the
    /// parser's own message quotes the lines around the error, which may hold a token.
    #[error(
        "cannot load kubeconfig {path}: {problem} (the file's content is not shown, as it may hold credentials)"
    )]
    KubeconfigSyntax {
        path: PathBuf,
        problem: crate::ui::redact::YamlProblem,
    },
    #[error("cannot load kubeconfig {path}: {source}")]
    KubeconfigInvalid {
        path: PathBuf,
        source: Box<kube::config::KubeconfigError>,
    },
    #[error(
        "no kubeconfig found (looked at --kubeconfig, KUBECONFIG and {default}) and not running \
         inside a cluster; pass --kubeconfig or set KUBECONFIG"
    )]
    NoKubeconfig { default: String },
    #[error("context {0:?} does not exist in the kubeconfig")]
    UnknownContext(String),
    #[error("cluster {0:?} does not exist in the kubeconfig")]
    UnknownCluster(String),
    #[error("user {0:?} does not exist in the kubeconfig")]
    UnknownUser(String),
    #[error("the kubeconfig has no current context; pass --context")]
    NoCurrentContext,
    #[error(
        "a fleet is chosen among a kubeconfig's contexts, and inside a cluster there is no \
         kubeconfig; pass --kubeconfig"
    )]
    NoContexts,
    #[error("cannot use the kubeconfig: {0}")]
    Config(Box<kube::config::KubeconfigError>),
    #[error("cannot use the in-cluster service account: {0}")]
    InCluster(#[from] kube::config::InClusterError),
    #[error("cannot build a client: {0}")]
    Client(#[source] Box<kube::Error>),
    /// The kubeconfig user's credentials cannot be used; told without them.
    #[error("cannot use the kubeconfig: {0}")]
    Credentials(String),
    #[error("--server {given:?} is not a URL such as https://10.0.0.1:6443: {why}")]
    Server { given: String, why: String },
    #[error("--certificate-authority {path}: {why}")]
    CertificateAuthority { path: PathBuf, why: String },
}

/// A client and the names a user needs to know which cluster it talks to.
#[derive(Clone)]
pub struct Connection {
    pub client: kube::Client,
    /// The configuration the client was made from (test-trigger reuses its TLS settings).
    pub config: kube::Config,
    /// The kubeconfig context in use ("in-cluster" without a kubeconfig).
    pub context: String,
    /// The kubeconfig cluster in use (empty in-cluster).
    pub cluster: String,
    pub server: String,
    /// `-v`: clients made later from `config` log as this one does.
    pub verbosity: u8,
}

/// Where the kubeconfig comes from, decided before anything is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeconfigSource {
    Explicit(PathBuf),
    Merged(Vec<PathBuf>),
    InCluster,
}

/// Decides which kubeconfig files to read; pure so that kubectl's order is testable.
pub fn kubeconfig_source(
    flag: Option<&Path>,
    env_value: Option<&std::ffi::OsStr>,
    home: Option<&Path>,
    exists: impl Fn(&Path) -> bool,
) -> Option<KubeconfigSource> {
    if let Some(path) = flag {
        return Some(KubeconfigSource::Explicit(path.to_path_buf()));
    }
    if let Some(value) = env_value {
        let paths: Vec<PathBuf> = std::env::split_paths(value)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if !paths.is_empty() {
            let present: Vec<PathBuf> = paths.into_iter().filter(|p| exists(p)).collect();
            return Some(if present.is_empty() {
                KubeconfigSource::InCluster
            } else {
                KubeconfigSource::Merged(present)
            });
        }
    }
    match home.map(|h| h.join(".kube").join("config")) {
        Some(default) if exists(&default) => Some(KubeconfigSource::Merged(vec![default])),
        _ => None,
    }
}

fn default_kubeconfig_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".kube").join("config"))
}

fn read_kubeconfig(path: &Path) -> Result<Kubeconfig, ConnectError> {
    std::fs::metadata(path).map_err(|source| ConnectError::KubeconfigUnreadable {
        path: path.to_path_buf(),
        source,
    })?;
    Kubeconfig::read_from(path).map_err(|source| match source {
        kube::config::KubeconfigError::Parse(error) => ConnectError::KubeconfigSyntax {
            path: path.to_path_buf(),
            problem: crate::ui::redact::yaml_problem(&error),
        },
        source => ConnectError::KubeconfigInvalid {
            path: path.to_path_buf(),
            source: Box::new(source),
        },
    })
}

/// Checks the names asked for against the merged kubeconfig, so a typo is an error rather
/// than a silent fallback.
pub fn check_names(kubeconfig: &Kubeconfig, global: &Target) -> Result<String, ConnectError> {
    let context = match (&global.context, &kubeconfig.current_context) {
        (Some(name), _) => name.clone(),
        (None, Some(current)) if !current.is_empty() => current.clone(),
        _ => return Err(ConnectError::NoCurrentContext),
    };
    if !kubeconfig.contexts.iter().any(|c| c.name == context) {
        return Err(ConnectError::UnknownContext(context));
    }
    if let Some(cluster) = &global.cluster
        && !kubeconfig.clusters.iter().any(|c| &c.name == cluster)
    {
        return Err(ConnectError::UnknownCluster(cluster.clone()));
    }
    if let Some(user) = &global.user
        && !kubeconfig.auth_infos.iter().any(|u| &u.name == user)
    {
        return Err(ConnectError::UnknownUser(user.clone()));
    }
    Ok(context)
}

/// The merged kubeconfig kubectl would read for `global`; None in a pod without one, where
/// the in-cluster service account is used.
pub fn load(global: &Target) -> Result<Option<Kubeconfig>, ConnectError> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let env_value = std::env::var_os("KUBECONFIG");
    let source = kubeconfig_source(
        global.kubeconfig.as_deref(),
        env_value.as_deref(),
        home.as_deref(),
        |p| p.is_file(),
    );
    match source {
        Some(KubeconfigSource::Explicit(path)) => read_kubeconfig(&path).map(Some),
        Some(KubeconfigSource::Merged(paths)) => {
            let mut merged = Kubeconfig::default();
            for path in &paths {
                merged = merged.merge(read_kubeconfig(path)?).map_err(|source| {
                    ConnectError::KubeconfigInvalid {
                        path: path.clone(),
                        source: Box::new(source),
                    }
                })?;
            }
            Ok(Some(merged))
        }
        Some(KubeconfigSource::InCluster) | None => {
            if std::env::var_os("KUBERNETES_SERVICE_HOST").is_none() {
                return Err(ConnectError::NoKubeconfig {
                    default: default_kubeconfig_path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "~/.kube/config".into()),
                });
            }
            Ok(None)
        }
    }
}

/// The names of the merged kubeconfig's contexts, in its order, and its current context.
pub fn contexts(global: &Target) -> Result<(Vec<String>, Option<String>), ConnectError> {
    match load(global)? {
        Some(kubeconfig) => Ok((
            kubeconfig.contexts.into_iter().map(|c| c.name).collect(),
            kubeconfig.current_context.filter(|c| !c.is_empty()),
        )),
        None => Err(ConnectError::NoContexts),
    }
}

pub async fn connect(global: &Target) -> Result<Connection, ConnectError> {
    let (mut config, context, cluster) = match load(global)? {
        Some(kubeconfig) => from_kubeconfig(kubeconfig, global).await?,
        None => (
            kube::Config::incluster()?,
            "in-cluster".to_string(),
            String::new(),
        ),
    };
    let root_cert = match &global.overrides.certificate_authority {
        Some(path) => Some(read_certificate_authority(path)?),
        None => None,
    };
    apply(&mut config, &global.overrides, root_cert)?;
    let server = config.cluster_url.to_string();
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(concat!("kubectl-honeytoken/", env!("CARGO_PKG_VERSION"))),
    ));
    let client = client(&config, global.overrides.verbosity).map_err(|e| {
        match crate::ui::redact::credential_error(&e) {
            Some(told) => ConnectError::Credentials(told),
            None => ConnectError::Client(Box::new(e)),
        }
    })?;
    Ok(Connection {
        client,
        config,
        context,
        cluster,
        server: server.trim_end_matches('/').to_string(),
        verbosity: global.overrides.verbosity,
    })
}

/// A client for `config` whose requests that get no answer name the server, and that logs
/// each request at `-v 6` or more ([`crate::cluster::transport`]).
pub fn client(config: &kube::Config, verbosity: u8) -> Result<kube::Client, kube::Error> {
    let log =
        crate::cluster::transport::RequestLog::new(&config.cluster_url.to_string(), verbosity);
    Ok(kube::client::ClientBuilder::try_from(config.clone())?
        .with_layer(&log)
        .build())
}

/// Our timeouts, then kubectl's flags over the kubeconfig's values, as kubectl applies them.
/// `root_cert` is `--certificate-authority`'s certificates (DER), read by the caller. Pure.
pub fn apply(
    config: &mut kube::Config,
    overrides: &Overrides,
    root_cert: Option<Vec<Vec<u8>>>,
) -> Result<(), ConnectError> {
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(REQUEST_TIMEOUT);
    config.write_timeout = Some(REQUEST_TIMEOUT);
    if let Some(limit) = overrides.request_timeout {
        let limit = (!limit.is_zero()).then_some(limit);
        config.read_timeout = limit;
        config.write_timeout = limit;
        if let Some(limit) = limit {
            config.connect_timeout = Some(limit.min(CONNECT_TIMEOUT));
        }
    }
    // A read timeout counts from the request, not from when a pooled connection went idle.
    config.reset_reader_on_write = true;
    if let Some(server) = &overrides.server {
        let why = |why: &str| ConnectError::Server {
            given: server.clone(),
            why: why.to_string(),
        };
        let url: http::Uri = server
            .parse()
            .map_err(|e: http::uri::InvalidUri| why(&e.to_string()))?;
        if !matches!(url.scheme_str(), Some("https" | "http")) || url.host().is_none() {
            return Err(why("it needs https:// (or http://) and a host"));
        }
        config.cluster_url = url;
    }
    if let Some(certificates) = root_cert {
        config.root_cert = Some(certificates);
        config.root_cert_file = None;
    }
    if overrides.insecure_skip_tls_verify {
        config.accept_invalid_certs = true;
        config.root_cert = None;
        config.root_cert_file = None;
    }
    if let Some(user) = &overrides.impersonate {
        config.auth_info.impersonate = Some(user.clone());
        config.auth_info.impersonate_uid = overrides.impersonate_uid.clone();
        config.auth_info.impersonate_groups = (!overrides.impersonate_groups.is_empty())
            .then(|| overrides.impersonate_groups.clone());
    }
    Ok(())
}

/// The certificates (DER) of a PEM file, for `--certificate-authority`.
pub fn read_certificate_authority(path: &Path) -> Result<Vec<Vec<u8>>, ConnectError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let why = |why: String| ConnectError::CertificateAuthority {
        path: path.to_path_buf(),
        why,
    };
    let pem = std::fs::read(path).map_err(|e| why(format!("cannot read it: {e}")))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| why(format!("not PEM certificates: {e}")))?;
    if certificates.is_empty() {
        return Err(why(
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(certificates)
}

/// kubectl's `--request-timeout`: a number of seconds, or a duration of Go's form (`500ms`,
/// `10s`, `2m`, `1h30m`); `0` for no limit.
pub fn parse_request_timeout(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let invalid = || {
        format!(
            "{text:?} is not a duration: give seconds (30) or a number with a unit (500ms, 10s, 2m, 1h)"
        )
    };
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let number: f64 = rest[..number_end].parse().map_err(|_| invalid())?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        rest = &rest[unit_end..];
        total += Duration::try_from_secs_f64(number * unit).map_err(|_| invalid())?;
    }
    Ok(total)
}

async fn from_kubeconfig(
    kubeconfig: Kubeconfig,
    global: &Target,
) -> Result<(kube::Config, String, String), ConnectError> {
    let context = check_names(&kubeconfig, global)?;
    let cluster = global.cluster.clone().unwrap_or_else(|| {
        kubeconfig
            .contexts
            .iter()
            .find(|c| c.name == context)
            .and_then(|c| c.context.as_ref())
            .map(|c| c.cluster.clone())
            .unwrap_or_default()
    });
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        cluster: global.cluster.clone(),
        user: global.user.clone(),
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| match crate::ui::redact::credential_error(&e) {
            Some(told) => ConnectError::Credentials(told),
            None => ConnectError::Config(Box::new(e)),
        })?;
    Ok((config, context, cluster))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    fn exists_only(present: &'static [&'static str]) -> impl Fn(&Path) -> bool {
        move |p| present.iter().any(|q| Path::new(q) == p)
    }

    #[test]
    fn the_flag_wins_even_over_kubeconfig_env() {
        let source = kubeconfig_source(
            Some(Path::new("/flag")),
            Some(OsStr::new("/a:/b")),
            Some(Path::new("/home/u")),
            exists_only(&["/a", "/b"]),
        );
        assert_eq!(source, Some(KubeconfigSource::Explicit("/flag".into())));
    }

    #[test]
    fn kubeconfig_env_lists_are_merged_in_order_and_missing_files_skipped() {
        let source = kubeconfig_source(
            None,
            Some(OsStr::new("/a::/missing:/b")),
            Some(Path::new("/home/u")),
            exists_only(&["/a", "/b", "/home/u/.kube/config"]),
        );
        assert_eq!(
            source,
            Some(KubeconfigSource::Merged(vec!["/a".into(), "/b".into()]))
        );
    }

    #[test]
    fn kubeconfig_env_of_only_missing_files_falls_to_in_cluster_not_home() {
        let source = kubeconfig_source(
            None,
            Some(OsStr::new("/missing")),
            Some(Path::new("/home/u")),
            exists_only(&["/home/u/.kube/config"]),
        );
        assert_eq!(source, Some(KubeconfigSource::InCluster));
    }

    #[test]
    fn empty_kubeconfig_env_means_the_home_file() {
        let source = kubeconfig_source(
            None,
            Some(OsStr::new("")),
            Some(Path::new("/home/u")),
            exists_only(&["/home/u/.kube/config"]),
        );
        assert_eq!(
            source,
            Some(KubeconfigSource::Merged(vec![
                "/home/u/.kube/config".into()
            ]))
        );
    }

    #[test]
    fn nothing_found_is_none() {
        assert_eq!(
            kubeconfig_source(None, None, Some(Path::new("/home/u")), exists_only(&[])),
            None
        );
    }

    fn kubeconfig() -> Kubeconfig {
        Kubeconfig::from_yaml(
            "apiVersion: v1\nkind: Config\ncurrent-context: a\n\
             clusters: [{name: c1, cluster: {server: 'https://127.0.0.1:1'}}]\n\
             users: [{name: u1, user: {token: t}}]\n\
             contexts: [{name: a, context: {cluster: c1, user: u1}}, {name: b, context: {cluster: c1, user: u1}}]\n",
        )
        .unwrap()
    }

    fn global(context: Option<&str>, cluster: Option<&str>, user: Option<&str>) -> Target {
        Target {
            kubeconfig: None,
            context: context.map(String::from),
            cluster: cluster.map(String::from),
            user: user.map(String::from),
            overrides: Overrides::default(),
        }
    }

    #[test]
    fn the_current_context_is_used_unless_one_is_named() {
        assert_eq!(
            check_names(&kubeconfig(), &global(None, None, None)).unwrap(),
            "a"
        );
        assert_eq!(
            check_names(&kubeconfig(), &global(Some("b"), None, None)).unwrap(),
            "b"
        );
    }

    #[test]
    fn unknown_names_are_errors_not_fallbacks() {
        assert!(matches!(
            check_names(&kubeconfig(), &global(Some("nope"), None, None)),
            Err(ConnectError::UnknownContext(name)) if name == "nope"
        ));
        assert!(matches!(
            check_names(&kubeconfig(), &global(None, Some("c9"), None)),
            Err(ConnectError::UnknownCluster(name)) if name == "c9"
        ));
        assert!(matches!(
            check_names(&kubeconfig(), &global(None, None, Some("u9"))),
            Err(ConnectError::UnknownUser(name)) if name == "u9"
        ));
    }

    #[test]
    fn no_current_context_and_none_named_is_an_error() {
        let mut config = kubeconfig();
        config.current_context = None;
        assert!(matches!(
            check_names(&config, &global(None, None, None)),
            Err(ConnectError::NoCurrentContext)
        ));
    }

    fn a_config() -> kube::Config {
        let mut config = kube::Config::new("https://10.0.0.1:6443".parse().unwrap());
        config.root_cert = Some(vec![b"kubeconfig CA".to_vec()]);
        config
    }

    #[test]
    fn without_flags_requests_get_our_timeouts_and_nothing_else_changes() {
        let mut config = a_config();
        apply(&mut config, &Overrides::default(), None).unwrap();
        assert_eq!(config.connect_timeout, Some(CONNECT_TIMEOUT));
        assert_eq!(config.read_timeout, Some(REQUEST_TIMEOUT));
        assert_eq!(config.write_timeout, Some(REQUEST_TIMEOUT));
        assert_eq!(config.cluster_url.to_string(), "https://10.0.0.1:6443/");
        assert_eq!(config.root_cert, Some(vec![b"kubeconfig CA".to_vec()]));
        assert!(!config.accept_invalid_certs);
        assert_eq!(config.auth_info.impersonate, None);
        assert_eq!(config.auth_info.impersonate_groups, None);
    }

    #[test]
    fn as_and_as_group_impersonate() {
        let mut config = a_config();
        let overrides = Overrides {
            impersonate: Some("jane".into()),
            impersonate_uid: Some("42".into()),
            impersonate_groups: vec!["dev".into(), "ops".into()],
            ..Default::default()
        };
        apply(&mut config, &overrides, None).unwrap();
        assert_eq!(config.auth_info.impersonate.as_deref(), Some("jane"));
        assert_eq!(config.auth_info.impersonate_uid.as_deref(), Some("42"));
        assert_eq!(
            config.auth_info.impersonate_groups,
            Some(vec!["dev".to_string(), "ops".to_string()])
        );
    }

    #[test]
    fn request_timeout_bounds_each_request_and_zero_lifts_the_bound() {
        let mut config = a_config();
        let overrides = Overrides {
            request_timeout: Some(Duration::from_secs(2)),
            ..Default::default()
        };
        apply(&mut config, &overrides, None).unwrap();
        assert_eq!(config.read_timeout, Some(Duration::from_secs(2)));
        assert_eq!(config.write_timeout, Some(Duration::from_secs(2)));
        assert_eq!(config.connect_timeout, Some(Duration::from_secs(2)));
        assert!(config.reset_reader_on_write);
        let overrides = Overrides {
            request_timeout: Some(Duration::ZERO),
            ..Default::default()
        };
        apply(&mut config, &overrides, None).unwrap();
        assert_eq!((config.read_timeout, config.write_timeout), (None, None));
        assert_eq!(config.connect_timeout, Some(CONNECT_TIMEOUT));
    }

    #[test]
    fn server_and_certificate_authority_replace_the_kubeconfigs() {
        let mut config = a_config();
        let overrides = Overrides {
            server: Some("https://192.0.2.7:8443".into()),
            certificate_authority: Some("/ca.pem".into()),
            ..Default::default()
        };
        apply(&mut config, &overrides, Some(vec![b"flag CA".to_vec()])).unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://192.0.2.7:8443/");
        assert_eq!(config.root_cert, Some(vec![b"flag CA".to_vec()]));
        for bad in ["192.0.2.7:8443", "ftp://h", "https://", "not a url"] {
            let overrides = Overrides {
                server: Some(bad.into()),
                ..Default::default()
            };
            assert!(
                matches!(
                    apply(&mut a_config(), &overrides, None),
                    Err(ConnectError::Server { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn insecure_skip_tls_verify_accepts_any_certificate_and_drops_the_ca() {
        let mut config = a_config();
        let overrides = Overrides {
            insecure_skip_tls_verify: true,
            ..Default::default()
        };
        apply(&mut config, &overrides, None).unwrap();
        assert!(config.accept_invalid_certs);
        assert_eq!(config.root_cert, None);
    }

    #[test]
    fn request_timeouts_read_as_kubectl_reads_them() {
        let cases = [
            ("0", Duration::ZERO),
            ("30", Duration::from_secs(30)),
            ("10s", Duration::from_secs(10)),
            ("500ms", Duration::from_millis(500)),
            ("2m", Duration::from_secs(120)),
            ("1h30m", Duration::from_secs(5400)),
            ("1.5s", Duration::from_millis(1500)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_request_timeout(text), Ok(expected), "{text}");
        }
        for bad in ["", "s", "10x", "-1s", "1.5", "ten"] {
            assert!(parse_request_timeout(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_certificate_authority_file_must_hold_pem_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let error = read_certificate_authority(&empty).unwrap_err().to_string();
        assert!(error.contains("no PEM certificate"), "{error}");
        let missing = read_certificate_authority(&dir.path().join("missing.pem"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("cannot read it"), "{missing}");
        let certificate = rcgen::generate_simple_self_signed(vec!["ca".to_string()]).unwrap();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, certificate.cert.pem()).unwrap();
        assert_eq!(
            read_certificate_authority(&good).unwrap(),
            vec![certificate.cert.der().to_vec()]
        );
    }
}
