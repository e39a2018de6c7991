//! A small proxy between the plugin and the bed's API server that loses or delays the
//! answers to chosen requests, for the network faults a real server cannot produce on
//! demand. The plugin speaks plain HTTP to it on loopback (a kubeconfig it writes), and it
//! forwards every request, unchanged, to the real API server over TLS. The request always
//! reaches the API server and takes effect there: only its answer is lost or late.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use kube::config::Kubeconfig;

/// What to do with the answer to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward the request, wait for its answer, then close the connection without
    /// passing the answer on.
    DropResponse,
    /// Pass the answer on after this long.
    Delay(Duration),
}

/// A rule: the first `times` requests with this method whose path ends with `path_suffix`
/// get `fault`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub method: &'static str,
    pub path_suffix: String,
    pub fault: Fault,
    pub times: usize,
}

pub struct Proxy {
    pub address: SocketAddr,
    /// A kubeconfig whose only context, `proxied`, reaches the API server through the
    /// proxy as the given user of the bed's kubeconfig.
    pub kubeconfig: PathBuf,
    /// Requests that got a fault, as "METHOD path", once the API server had answered them.
    pub faulted: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Starts a proxy to the server of `context` in `kubeconfig`, authenticating as that
    /// context's user (a bearer token).
    pub async fn start(kubeconfig: &Path, context: &str, rules: Vec<Rule>) -> Proxy {
        let config = Kubeconfig::read_from(kubeconfig).expect("read the bed's kubeconfig");
        let named = config
            .contexts
            .iter()
            .find(|c| c.name == context)
            .and_then(|c| c.context.clone())
            .expect("the context exists");
        let cluster = config
            .clusters
            .iter()
            .find(|c| c.name == named.cluster)
            .and_then(|c| c.cluster.clone())
            .expect("the context's cluster exists");
        let token = config
            .auth_infos
            .iter()
            .find(|a| Some(&a.name) == named.user.as_ref())
            .and_then(|a| a.auth_info.clone())
            .and_then(|a| a.token)
            .map(|t| secrecy::ExposeSecret::expose_secret(&t).to_string())
            .expect("the context's user has a token");
        let server: http::Uri = cluster.server.clone().unwrap().parse().unwrap();
        let ca = std::fs::read(cluster.certificate_authority.clone().unwrap()).unwrap();

        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::pem::PemObject;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&ca) {
            roots.add(cert.unwrap()).unwrap();
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .build();
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let rules = Arc::new(Mutex::new(rules));
        let faulted = Arc::new(Mutex::new(Vec::new()));
        let task = {
            let faulted = faulted.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let (client, server, rules, faulted) = (
                        client.clone(),
                        server.clone(),
                        rules.clone(),
                        faulted.clone(),
                    );
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            forward(
                                request,
                                client.clone(),
                                server.clone(),
                                rules.clone(),
                                faulted.clone(),
                            )
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
            })
        };

        let dir = tempfile::tempdir().unwrap();
        let proxied = dir.path().join("kubeconfig");
        std::fs::write(
            &proxied,
            format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: proxied\n\
                 clusters: [{{name: proxied, cluster: {{server: 'http://{address}'}}}}]\n\
                 users: [{{name: proxied, user: {{token: '{token}'}}}}]\n\
                 contexts: [{{name: proxied, context: {{cluster: proxied, user: proxied}}}}]\n"
            ),
        )
        .unwrap();
        Proxy {
            address,
            kubeconfig: proxied,
            faulted,
            _dir: dir,
            task,
        }
    }
}

type Forwarded = Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>>;

async fn forward<C>(
    request: Request<hyper::body::Incoming>,
    client: Client<C, Full<Bytes>>,
    server: http::Uri,
    rules: Arc<Mutex<Vec<Rule>>>,
    faulted: Arc<Mutex<Vec<String>>>,
) -> Forwarded
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let fault = {
        let mut rules = rules.lock().unwrap();
        rules
            .iter_mut()
            .find(|r| r.times > 0 && parts.method == r.method && path.ends_with(&r.path_suffix))
            .map(|rule| {
                rule.times -= 1;
                rule.fault
            })
    };
    let request_line = format!("{} {path}", parts.method);
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    parts.uri = format!(
        "{}://{}{path_and_query}",
        server.scheme_str().unwrap(),
        server.authority().unwrap()
    )
    .parse()?;
    parts.headers.remove(http::header::HOST);
    let body = body.collect().await?.to_bytes();
    let answer = client
        .request(Request::from_parts(parts, Full::new(body)))
        .await?;
    let (parts, body) = answer.into_parts();
    let body = body.collect().await?.to_bytes();
    // Recorded once the API server has answered: the request has taken effect.
    if fault.is_some() {
        faulted.lock().unwrap().push(request_line);
    }
    match fault {
        // An error from the service makes hyper close the connection unanswered.
        Some(Fault::DropResponse) => Err("response dropped on purpose".into()),
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            Ok(Response::from_parts(parts, Full::new(body)))
        }
        None => Ok(Response::from_parts(parts, Full::new(body))),
    }
}
