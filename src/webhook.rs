//! An audit webhook receiver: the API server POSTs `EventList` documents (JSON) to it. Plain
//! HTTP listens on loopback only; with a certificate and key it speaks TLS on any address,
//! and can require a client certificate from a given CA and a bearer token.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use crate::audit::Event;
use crate::error::Error;

/// Larger bodies are refused: the API server's batches stay far below this (its default
/// batch is at most 400 events).
pub const BODY_LIMIT: usize = 32 * 1024 * 1024;

/// A TLS handshake that takes longer than this is given up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// A request whose headers, or whose body, take longer than this is given up, so idle or
/// slow connections cannot pile up.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// Connections served at once, and from one address; more are closed at once. The API
/// server uses a few.
const MAX_CONNECTIONS: usize = 128;
const MAX_CONNECTIONS_PER_ADDRESS: usize = 16;

#[derive(Deserialize)]
struct EventList {
    #[serde(default)]
    items: Vec<Event>,
}

/// Events from one `EventList` body; a body that is not one is an error for its sender.
pub fn parse_event_list(body: &[u8]) -> Result<Vec<Event>, String> {
    serde_json::from_slice::<EventList>(body)
        .map(|list| list.items)
        .map_err(|e| format!("not an audit EventList: {e}"))
}

/// Refuses addresses off this machine for plain HTTP.
pub fn check_loopback(address: SocketAddr) -> Result<SocketAddr, Error> {
    if address.ip().is_loopback() {
        Ok(address)
    } else {
        Err(Error::Invalid(format!(
            "--listen {address}: without --tls-cert and --tls-key the receiver speaks plain HTTP, so it listens on loopback only (127.0.0.1 or [::1])"
        )))
    }
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Require a client certificate signed by one of these CAs.
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct ListenOptions {
    pub address: SocketAddr,
    pub tls: Option<TlsFiles>,
    /// Require `Authorization: Bearer <token>`.
    pub bearer_token: Option<SecretString>,
    pub body_limit: usize,
    /// How long a connection may take to send a request's headers.
    pub header_timeout: Duration,
}

impl ListenOptions {
    pub fn plain(address: SocketAddr) -> ListenOptions {
        ListenOptions {
            address,
            tls: None,
            bearer_token: None,
            body_limit: BODY_LIMIT,
            header_timeout: HEADER_TIMEOUT,
        }
    }
}

/// What arrived at the receiver.
#[derive(Debug)]
pub enum Delivery {
    Events(Vec<Event>),
    /// A request or connection that was turned away, and why.
    Refused {
        from: SocketAddr,
        why: String,
    },
}

/// A running receiver; it stops when dropped.
pub struct Server {
    pub address: SocketAddr,
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts listening and sends what arrives to `deliveries`.
pub async fn serve(
    options: ListenOptions,
    deliveries: mpsc::UnboundedSender<Delivery>,
) -> Result<Server, Error> {
    let acceptor = match &options.tls {
        Some(files) => {
            if !options.address.ip().is_loopback()
                && files.client_ca.is_none()
                && options.bearer_token.is_none()
            {
                return Err(Error::Invalid(format!(
                    "--listen {}: beyond loopback, anyone who reaches the port could send events; \
                     require the API server's client certificate (--client-ca) or its bearer \
                     token (--token-file)",
                    options.address
                )));
            }
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(server_config(
                files,
            )?)))
        }
        None => {
            check_loopback(options.address)?;
            None
        }
    };
    let listener = tokio::net::TcpListener::bind(options.address)
        .await
        .map_err(|e| Error::Invalid(format!("cannot listen on {}: {e}", options.address)))?;
    let address = listener
        .local_addr()
        .map_err(|e| Error::Invalid(format!("cannot listen on {}: {e}", options.address)))?;
    let url = format!(
        "{}://{address}/",
        if acceptor.is_some() { "https" } else { "http" }
    );
    let gate = Arc::new(Gate {
        token_digest: options
            .bearer_token
            .as_ref()
            .map(|t| Sha256::digest(t.expose_secret().as_bytes()).into()),
        body_limit: options.body_limit,
        header_timeout: options.header_timeout,
    });
    let slots = Slots::default();
    let task = tokio::spawn(async move {
        loop {
            let (stream, from) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(_) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Some(slot) = slots.take(from.ip()) else {
                drop(stream);
                let _ = deliveries.send(Delivery::Refused {
                    from,
                    why: "too many connections; closed".into(),
                });
                continue;
            };
            let deliveries = deliveries.clone();
            let gate = gate.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _slot = slot;
                match acceptor {
                    None => serve_connection(stream, from, gate, deliveries).await,
                    Some(acceptor) => {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                        {
                            Ok(Ok(tls)) => serve_connection(tls, from, gate, deliveries).await,
                            Ok(Err(e)) => {
                                let _ = deliveries.send(Delivery::Refused {
                                    from,
                                    why: format!("TLS handshake failed: {e}"),
                                });
                            }
                            Err(_) => {
                                let _ = deliveries.send(Delivery::Refused {
                                    from,
                                    why: "TLS handshake timed out".into(),
                                });
                            }
                        }
                    }
                }
            });
        }
    });
    Ok(Server { address, url, task })
}

fn server_config(files: &TlsFiles) -> Result<rustls::ServerConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = read_certificates(&files.cert, "--tls-cert")?;
    // Told without the file's bytes, which the PEM reader's own message would carry.
    let key = PrivateKeyDer::from_pem_slice(read_pem(&files.key, "--tls-key")?.as_bytes())
        .map_err(|e| {
            Error::Invalid(format!(
                "--tls-key {}: no PEM private key read: {}",
                files.key.display(),
                crate::redact::pem_problem(&e)
            ))
        })?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Invalid(format!("TLS: {e}")))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in read_certificates(path, "--client-ca")? {
                roots
                    .add(ca)
                    .map_err(|e| Error::Invalid(format!("--client-ca {}: {e}", path.display())))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| Error::Invalid(format!("--client-ca {}: {e}", path.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    builder.with_single_cert(certs, key).map_err(|e| {
        Error::Invalid(format!(
            "--tls-cert {} and --tls-key {}: {e}",
            files.cert.display(),
            files.key.display()
        ))
    })
}

/// The most read from a PEM file: a certificate chain is a few KiB, and even the whole Mozilla
/// CA bundle (about 150 certificates) is near 220 KiB.
const PEM_FILE_LIMIT: u64 = 1 << 20;

/// A PEM file's text, refused when it is no regular file or larger than a PEM file can be.
fn read_pem(path: &Path, flag: &str) -> Result<String, Error> {
    crate::input::read_text(path, PEM_FILE_LIMIT, "a PEM file")
        .map_err(|e| Error::Invalid(format!("{flag} {}: {e}", path.display())))
}

fn read_certificates(path: &Path, flag: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let unreadable =
        |e: &dyn std::fmt::Display| Error::Invalid(format!("{flag} {}: {e}", path.display()));
    let text = read_pem(path, flag)?;
    let certs = CertificateDer::pem_slice_iter(text.as_bytes())
        .map(|cert| cert.map(|c| c.into_owned()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(&crate::redact::pem_problem(&e)))?;
    if certs.is_empty() {
        return Err(unreadable(&"no PEM certificate in it"));
    }
    Ok(certs)
}

/// Connections open, in all and per address.
#[derive(Clone, Default)]
struct Slots(Arc<std::sync::Mutex<(usize, std::collections::HashMap<std::net::IpAddr, usize>)>>);

/// One connection's place; given back when dropped.
struct Slot {
    slots: Slots,
    address: std::net::IpAddr,
}

impl Slots {
    fn take(&self, address: std::net::IpAddr) -> Option<Slot> {
        let mut guard = self.0.lock().expect("not poisoned");
        let (total, per_address) = &mut *guard;
        let mine = per_address.entry(address).or_insert(0);
        if *total >= MAX_CONNECTIONS || *mine >= MAX_CONNECTIONS_PER_ADDRESS {
            if *mine == 0 {
                per_address.remove(&address);
            }
            return None;
        }
        *mine += 1;
        *total += 1;
        Some(Slot {
            slots: self.clone(),
            address,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut guard = self.slots.0.lock().expect("not poisoned");
        let (total, per_address) = &mut *guard;
        *total -= 1;
        if let Some(mine) = per_address.get_mut(&self.address) {
            *mine -= 1;
            if *mine == 0 {
                per_address.remove(&self.address);
            }
        }
    }
}

/// What every request must pass.
struct Gate {
    token_digest: Option<[u8; 32]>,
    body_limit: usize,
    header_timeout: Duration,
}

impl Gate {
    fn authorized(&self, request: &Request<Incoming>) -> bool {
        let Some(expected) = &self.token_digest else {
            return true;
        };
        let presented = request
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Digests of equal length: comparing them tells nothing about the token's bytes.
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        &presented == expected
    }
}

async fn serve_connection<S>(
    stream: S,
    from: SocketAddr,
    gate: Arc<Gate>,
    deliveries: mpsc::UnboundedSender<Delivery>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let header_timeout = gate.header_timeout;
    let service = hyper::service::service_fn(move |request| {
        let deliveries = deliveries.clone();
        let gate = gate.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(request, from, &gate, &deliveries).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .await;
}

async fn handle(
    request: Request<Incoming>,
    from: SocketAddr,
    gate: &Gate,
    deliveries: &mpsc::UnboundedSender<Delivery>,
) -> Response<Full<Bytes>> {
    let refuse = |status: StatusCode, why: String| {
        let _ = deliveries.send(Delivery::Refused {
            from,
            why: format!("{} ({status})", why.trim_end()),
        });
        reply(status, &why)
    };
    if request.method() != hyper::Method::POST {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} instead of POST\n", request.method()),
        );
    }
    if !gate.authorized(&request) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token\n".into(),
        );
    }
    let collected = tokio::time::timeout(
        BODY_TIMEOUT,
        Limited::new(request.into_body(), gate.body_limit).collect(),
    )
    .await;
    let Ok(collected) = collected else {
        return refuse(
            StatusCode::REQUEST_TIMEOUT,
            format!("body not sent within {}s\n", BODY_TIMEOUT.as_secs()),
        );
    };
    let body = match collected {
        Ok(body) => body.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than {} bytes\n", gate.body_limit),
            );
        }
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("body unreadable: {e}\n")),
    };
    match parse_event_list(&body) {
        Ok(events) => match deliveries.send(Delivery::Events(events)) {
            Ok(()) => reply(StatusCode::OK, ""),
            // The watcher is stopping: the sender should try again later.
            Err(_) => {
                let mut response = reply(StatusCode::SERVICE_UNAVAILABLE, "stopping\n");
                response.headers_mut().insert(
                    hyper::header::RETRY_AFTER,
                    hyper::header::HeaderValue::from_static("5"),
                );
                response
            }
        },
        Err(why) => refuse(StatusCode::BAD_REQUEST, why),
    }
}

fn reply(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::from(text.to_string())))
        .expect("a static response")
}

/// A plain loopback receiver whose events are read in batches (drills of `verify --e2e`).
pub struct Receiver {
    pub address: SocketAddr,
    deliveries: mpsc::UnboundedReceiver<Delivery>,
    _server: Server,
}

impl Receiver {
    pub async fn start(address: SocketAddr) -> Result<Receiver, Error> {
        let (sender, deliveries) = mpsc::unbounded_channel();
        let server = serve(ListenOptions::plain(address), sender).await?;
        Ok(Receiver {
            address: server.address,
            deliveries,
            _server: server,
        })
    }

    /// The events received since the last call.
    pub fn drain(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Ok(delivery) = self.deliveries.try_recv() {
            if let Delivery::Events(batch) = delivery {
                events.extend(batch);
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn an_event_list_yields_its_events() {
        let body = br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[
            {"auditID":"a1","stage":"ResponseComplete","verb":"get","requestURI":"/api","user":{"username":"u"}},
            {"auditID":"a2","stage":"ResponseComplete","verb":"list","requestURI":"/api/v1/secrets","user":{"username":"u"}}]}"#;
        let events = parse_event_list(body).unwrap();
        assert_eq!(
            events
                .iter()
                .map(|e| e.audit_id.as_str())
                .collect::<Vec<_>>(),
            vec!["a1", "a2"]
        );
    }

    #[test]
    fn a_body_that_is_not_an_event_list_is_refused() {
        assert!(parse_event_list(b"garbage").is_err());
    }

    #[test]
    fn only_loopback_addresses_are_accepted() {
        assert!(check_loopback("127.0.0.1:9000".parse().unwrap()).is_ok());
        assert!(check_loopback("[::1]:9000".parse().unwrap()).is_ok());
        assert!(check_loopback("0.0.0.0:9000".parse().unwrap()).is_err());
        assert!(check_loopback("10.1.2.3:9000".parse().unwrap()).is_err());
    }

    const ONE_EVENT: &str =
        r#"{"items":[{"auditID":"x1","verb":"get","requestURI":"/apis","user":{"username":"u"}}]}"#;

    fn http_request(body: &str, token: Option<&str>) -> String {
        let authorization = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{authorization}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, request: &str) -> String {
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        // A server that refuses a large body may close before reading it all.
        let _ = stream.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    async fn post_plain(address: SocketAddr, body: &str, token: Option<&str>) -> String {
        let stream = tokio::net::TcpStream::connect(address).await.unwrap();
        exchange(stream, &http_request(body, token)).await
    }

    fn drain(deliveries: &mut mpsc::UnboundedReceiver<Delivery>) -> (Vec<Event>, Vec<String>) {
        let (mut events, mut refused) = (Vec::new(), Vec::new());
        while let Ok(delivery) = deliveries.try_recv() {
            match delivery {
                Delivery::Events(batch) => events.extend(batch),
                Delivery::Refused { why, .. } => refused.push(why),
            }
        }
        (events, refused)
    }

    #[tokio::test]
    async fn posted_events_come_out_and_bad_requests_are_answered() {
        let mut receiver = Receiver::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let ok = post_plain(receiver.address, ONE_EVENT, None).await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        let bad = post_plain(receiver.address, "not json", None).await;
        assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
        let events = receiver.drain();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].audit_id, "x1");
    }

    #[tokio::test]
    async fn oversized_bodies_and_wrong_tokens_are_refused_and_reported() {
        let (sender, mut deliveries) = mpsc::unbounded_channel();
        let server = serve(
            ListenOptions {
                bearer_token: Some(SecretString::from("s3cret")),
                body_limit: 1024,
                ..ListenOptions::plain("127.0.0.1:0".parse().unwrap())
            },
            sender,
        )
        .await
        .unwrap();
        assert!(server.url.starts_with("http://127.0.0.1:"));
        let no_token = post_plain(server.address, ONE_EVENT, None).await;
        assert!(no_token.starts_with("HTTP/1.1 401"), "{no_token}");
        let wrong = post_plain(server.address, ONE_EVENT, Some("s3cre")).await;
        assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
        let big = format!(r#"{{"items":[],"padding":"{}"}}"#, "x".repeat(4096));
        let too_big = post_plain(server.address, &big, Some("s3cret")).await;
        assert!(too_big.starts_with("HTTP/1.1 413"), "{too_big}");
        let ok = post_plain(server.address, ONE_EVENT, Some("s3cret")).await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");

        let (events, refused) = drain(&mut deliveries);
        assert_eq!(events.len(), 1, "the receiver keeps serving after refusals");
        assert_eq!(refused.len(), 3, "{refused:?}");
        assert!(refused[0].contains("bearer token"), "{refused:?}");
        assert!(refused[2].contains("larger than 1024 bytes"), "{refused:?}");
    }

    struct Pki {
        ca: String,
        server_cert: String,
        server_key: String,
        client_cert: String,
        client_key: String,
        dir: tempfile::TempDir,
    }

    fn pki() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&server_key, &issuer)
            .unwrap();
        let client_key = KeyPair::generate().unwrap();
        let client = CertificateParams::new(vec!["kube-apiserver".to_string()])
            .unwrap()
            .signed_by(&client_key, &issuer)
            .unwrap();
        Pki {
            ca: ca.pem(),
            server_cert: server.pem(),
            server_key: server_key.serialize_pem(),
            client_cert: client.pem(),
            client_key: client_key.serialize_pem(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    impl Pki {
        fn file(&self, name: &str, text: &str) -> PathBuf {
            let path = self.dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        }

        fn client(&self, with_certificate: bool) -> tokio_rustls::TlsConnector {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(self.ca.as_bytes()).unwrap())
                .unwrap();
            let builder = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots);
            let config = if with_certificate {
                builder
                    .with_client_auth_cert(
                        vec![CertificateDer::from_pem_slice(self.client_cert.as_bytes()).unwrap()],
                        PrivateKeyDer::from_pem_slice(self.client_key.as_bytes()).unwrap(),
                    )
                    .unwrap()
            } else {
                builder.with_no_client_auth()
            };
            tokio_rustls::TlsConnector::from(Arc::new(config))
        }
    }

    #[tokio::test]
    async fn tls_with_a_client_ca_serves_known_clients_only_and_listens_beyond_loopback() {
        let pki = pki();
        let files = TlsFiles {
            cert: pki.file("server.crt", &pki.server_cert),
            key: pki.file("server.key", &pki.server_key),
            client_ca: Some(pki.file("ca.crt", &pki.ca)),
        };
        let (sender, mut deliveries) = mpsc::unbounded_channel();
        // Any address is allowed with TLS; loopback is still where the test connects.
        let server = serve(
            ListenOptions {
                tls: Some(files),
                ..ListenOptions::plain("0.0.0.0:0".parse().unwrap())
            },
            sender,
        )
        .await
        .unwrap();
        assert!(server.url.starts_with("https://"), "{}", server.url);
        let address: SocketAddr = format!("127.0.0.1:{}", server.address.port())
            .parse()
            .unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();

        let stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let tls = pki
            .client(true)
            .connect(name.clone(), stream)
            .await
            .unwrap();
        let ok = exchange(tls, &http_request(ONE_EVENT, None)).await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");

        // Without a client certificate the handshake (or the first read) fails.
        let stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let answer = match pki.client(false).connect(name, stream).await {
            Ok(tls) => exchange(tls, &http_request(ONE_EVENT, None)).await,
            Err(_) => String::new(),
        };
        assert!(!answer.contains("200"), "{answer}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (events, refused) = drain(&mut deliveries);
        assert_eq!(events.len(), 1);
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(
            refused[0].starts_with("TLS handshake failed"),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn bad_certificate_files_are_clear_errors() {
        let pki = pki();
        let (sender, _deliveries) = mpsc::unbounded_channel();
        let options = |cert: PathBuf, key: PathBuf| ListenOptions {
            tls: Some(TlsFiles {
                cert,
                key,
                client_ca: None,
            }),
            ..ListenOptions::plain("127.0.0.1:0".parse().unwrap())
        };
        let garbage = pki.file("garbage.pem", "not a certificate\n");
        let key = pki.file("server.key", &pki.server_key);
        let error = serve(options(garbage.clone(), key), sender.clone())
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(error.starts_with("--tls-cert "), "{error}");
        assert!(error.contains("no PEM certificate"), "{error}");
        let cert = pki.file("server.crt", &pki.server_cert);
        let error = serve(options(cert, garbage), sender)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(error.starts_with("--tls-key "), "{error}");
    }

    #[tokio::test]
    async fn tls_beyond_loopback_without_client_check_is_refused() {
        let pki = pki();
        let (sender, _deliveries) = mpsc::unbounded_channel();
        let error = serve(
            ListenOptions {
                tls: Some(TlsFiles {
                    cert: pki.file("server.crt", &pki.server_cert),
                    key: pki.file("server.key", &pki.server_key),
                    client_ca: None,
                }),
                ..ListenOptions::plain("0.0.0.0:0".parse().unwrap())
            },
            sender,
        )
        .await
        .err()
        .unwrap()
        .to_string();
        assert!(error.contains("--client-ca"), "{error}");
    }

    #[tokio::test]
    async fn a_client_that_sends_nothing_is_cut_off_and_others_are_served() {
        let (sender, _deliveries) = mpsc::unbounded_channel();
        let server = serve(
            ListenOptions {
                header_timeout: Duration::from_millis(300),
                ..ListenOptions::plain("127.0.0.1:0".parse().unwrap())
            },
            sender,
        )
        .await
        .unwrap();
        let mut idle = tokio::net::TcpStream::connect(server.address)
            .await
            .unwrap();
        idle.write_all(b"POST / HTTP/1.1\r\n").await.unwrap();
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "the idle connection was not closed");
        let ok = post_plain(server.address, ONE_EVENT, None).await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    }

    #[tokio::test]
    async fn once_the_reader_stops_batches_are_refused_not_acknowledged() {
        let (sender, mut deliveries) = mpsc::unbounded_channel();
        let server = serve(ListenOptions::plain("127.0.0.1:0".parse().unwrap()), sender)
            .await
            .unwrap();
        deliveries.close();
        let answer = post_plain(server.address, ONE_EVENT, None).await;
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("retry-after: 5"),
            "{answer}"
        );
    }

    #[test]
    fn connections_are_capped_per_address_and_given_back() {
        let slots = Slots::default();
        let one: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let other: std::net::IpAddr = "127.0.0.2".parse().unwrap();
        let held: Vec<Slot> = (0..MAX_CONNECTIONS_PER_ADDRESS)
            .map(|_| slots.take(one).unwrap())
            .collect();
        assert!(slots.take(one).is_none());
        assert!(
            slots.take(other).is_some(),
            "another address is still served"
        );
        drop(held);
        assert!(slots.take(one).is_some());
        assert_eq!(
            slots.0.lock().unwrap().1.len(),
            0,
            "nothing held, nothing kept"
        );
    }

    #[tokio::test]
    async fn plain_http_beyond_loopback_is_refused() {
        let (sender, _deliveries) = mpsc::unbounded_channel();
        let error = serve(ListenOptions::plain("0.0.0.0:0".parse().unwrap()), sender)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("loopback only"), "{error}");
    }
}
