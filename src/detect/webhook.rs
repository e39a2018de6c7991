//! An audit webhook receiver: the API server POSTs `EventList` documents (JSON) to it. Plain
//! HTTP listens on loopback only; with a certificate and key it speaks TLS on any address,
//! and can require a client certificate from a given CA and a bearer token.
//!
//! What it holds is bounded whatever is sent to it: bodies in memory at once (a budget of
//! bytes over all connections), the events kept from one body (those of the decoy users,
//! at most `EVENTS_PER_BODY`, their fields cut to `FIELD_LIMIT`), and connections, where
//! those that have not authenticated yet have places of their own and give them up to
//! newcomers, so a flood of them cannot keep an authenticated sender out.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};

use crate::audit::Event;
use crate::audit::Matcher;
#[cfg(test)]
use crate::detect::notice::SignedNotice;
use crate::detect::notice::{DrillBook, NOTICE_BODY_LIMIT};
use crate::input::InputError;

/// Larger bodies are refused: the API server's batches stay far below this (its default
/// batch is at most 400 events).
pub const BODY_LIMIT: usize = 32 * 1024 * 1024;

/// Bytes of bodies held at once, over all connections: this many bodies of the size limit.
const BODIES_AT_ONCE: usize = 2;
/// A body up to this size may also use a reserve of its own, so small batches (the API
/// server's usual ones) still get in while large bodies hold the rest of the budget.
const SMALL_BODY: usize = 1024 * 1024;
const SMALL_BODY_RESERVE: usize = 8 * 1024 * 1024;
/// A body that does not fit the budget is answered 503 with this Retry-After (seconds);
/// the API server's webhook backend sends the batch again.
const RETRY_AFTER: &str = "1";

/// Events kept from one body, of the decoy users; more are counted, not kept.
pub const EVENTS_PER_BODY: usize = 1000;
/// Longest text kept of one field of an event (bytes), and most addresses or groups kept.
pub const FIELD_LIMIT: usize = 4096;
const LIST_LIMIT: usize = 16;

/// A TLS handshake that takes longer than this is given up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// A request whose headers, or whose body, take longer than this is given up, so idle or
/// slow connections cannot pile up.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// What a connection buffers of a request (its headers must fit): the API server's are a
/// few hundred bytes.
const CONNECTION_BUFFER: usize = 64 * 1024;
/// Connections that have authenticated (sent a request that passed every check), in all
/// and from one address; more are closed at once. The API server uses a few.
const MAX_CONNECTIONS: usize = 128;
const MAX_CONNECTIONS_PER_ADDRESS: usize = 16;
/// Connections not authenticated yet, in all and from one address. When these are full, a
/// newcomer takes the place of the oldest such connection of the address that holds most
/// (or of its own address, once that holds its share).
const MAX_UNAUTHENTICATED: usize = 64;
const MAX_UNAUTHENTICATED_PER_ADDRESS: usize = 16;
/// A connection must authenticate within this time of being accepted, or it is closed.
const AUTHENTICATE_WITHIN: Duration = Duration::from_secs(10);

/// What one body brought: the events kept, and those of the decoys beyond the limit.
#[derive(Debug, Default)]
pub struct Parsed {
    pub events: Vec<Event>,
    pub not_kept: u64,
}

/// Events from one `EventList` body; a body that is not one is an error for its sender.
/// With a matcher, only the events of its users are kept: the other items are checked to
/// be JSON objects but never turned into events, so a body of millions of items costs no
/// more memory than the body itself. At most `EVENTS_PER_BODY` are kept.
pub fn parse_event_list(body: &[u8], matcher: Option<&Matcher>) -> Result<Parsed, String> {
    let mut parsed = Parsed::default();
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    ListSeed {
        matcher,
        parsed: &mut parsed,
    }
    .deserialize(&mut deserializer)
    .and_then(|()| deserializer.end())
    .map_err(|e| format!("not an audit EventList: {e}"))?;
    Ok(parsed)
}

struct ListSeed<'a> {
    matcher: Option<&'a Matcher>,
    parsed: &'a mut Parsed,
}

#[derive(Deserialize)]
#[serde(field_identifier)]
enum ListField {
    #[serde(rename = "items")]
    Items,
    #[serde(other)]
    Other,
}

impl<'de> DeserializeSeed<'de> for ListSeed<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ListSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an EventList object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(field) = map.next_key::<ListField>()? {
            match field {
                ListField::Items => map.next_value_seed(ItemsSeed {
                    matcher: self.matcher,
                    parsed: self.parsed,
                })?,
                ListField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct ItemsSeed<'a> {
    matcher: Option<&'a Matcher>,
    parsed: &'a mut Parsed,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of audit events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        use serde::de::Error as _;
        // Each item is borrowed from the body as it stands; only one that may name a decoy
        // is read into an event.
        while let Some(raw) = items.next_element::<&'de serde_json::value::RawValue>()? {
            let text = raw.get();
            if !text.starts_with('{') {
                return Err(A::Error::custom("an item that is not an audit event"));
            }
            if self.matcher.is_some_and(|m| !m.may_match(text.as_bytes())) {
                continue;
            }
            let event: Event = serde_json::from_str::<Item>(text)
                .map_err(A::Error::custom)?
                .into();
            if self.matcher.is_some_and(|m| !m.matches(&event)) {
                continue;
            }
            if self.parsed.events.len() < EVENTS_PER_BODY {
                self.parsed.events.push(event);
            } else {
                self.parsed.not_kept += 1;
            }
        }
        Ok(())
    }
}

/// An item read into an event with each text cut to `FIELD_LIMIT` bytes and each list to
/// `LIST_LIMIT` entries as it is read, so that what a sender chooses (a user agent of
/// megabytes, millions of source addresses) never takes more memory than that, not even
/// for a moment. Fields other than the event's are skipped unread.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Item {
    #[serde(rename = "auditID", deserialize_with = "text")]
    audit_id: String,
    #[serde(deserialize_with = "text")]
    stage: String,
    #[serde(deserialize_with = "text")]
    level: String,
    #[serde(deserialize_with = "text")]
    verb: String,
    #[serde(rename = "requestURI", deserialize_with = "text")]
    request_uri: String,
    user: ItemUser,
    #[serde(rename = "sourceIPs", deserialize_with = "texts")]
    source_ips: Vec<String>,
    #[serde(deserialize_with = "text")]
    user_agent: String,
    response_status: Option<crate::audit::ResponseStatus>,
    request_received_timestamp: Option<jiff::Timestamp>,
    object_ref: Option<ItemObjectRef>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ItemObjectRef {
    #[serde(deserialize_with = "text")]
    resource: String,
    #[serde(deserialize_with = "text")]
    namespace: String,
    #[serde(deserialize_with = "text")]
    name: String,
    #[serde(deserialize_with = "text")]
    api_group: String,
    #[serde(deserialize_with = "text")]
    subresource: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ItemUser {
    #[serde(deserialize_with = "text")]
    username: String,
    #[serde(deserialize_with = "texts")]
    groups: Vec<String>,
}

impl From<Item> for Event {
    fn from(item: Item) -> Event {
        Event {
            audit_id: item.audit_id,
            stage: item.stage,
            level: item.level,
            verb: item.verb,
            request_uri: item.request_uri,
            user: crate::audit::User {
                username: item.user.username,
                groups: item.user.groups,
            },
            source_ips: item.source_ips,
            user_agent: item.user_agent,
            response_status: item.response_status,
            request_received_timestamp: item.request_received_timestamp,
            object_ref: item.object_ref.map(|o| crate::audit::ObjectRef {
                resource: o.resource,
                namespace: o.namespace,
                name: o.name,
                api_group: o.api_group,
                subresource: o.subresource,
            }),
        }
    }
}

/// A text cut to `FIELD_LIMIT` bytes (at a character's start).
struct Text;

impl<'de> Visitor<'de> for Text {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<String, E> {
        let mut end = text.len().min(FIELD_LIMIT);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Ok(text[..end].to_string())
    }
}

impl<'de> DeserializeSeed<'de> for Text {
    type Value = String;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

fn text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    deserializer.deserialize_str(Text)
}

/// The first `LIST_LIMIT` texts of a list, each cut; the rest skipped unread.
fn texts<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct Texts;

    impl<'de> Visitor<'de> for Texts {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of strings")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut list: A) -> Result<Vec<String>, A::Error> {
            let mut kept = Vec::new();
            while kept.len() < LIST_LIMIT {
                match list.next_element_seed(Text)? {
                    Some(text) => kept.push(text),
                    None => return Ok(kept),
                }
            }
            while list.next_element::<IgnoredAny>()?.is_some() {}
            Ok(kept)
        }
    }

    deserializer.deserialize_seq(Texts)
}

/// The memory an event takes: itself and its texts, with the allocator's share of each.
fn footprint(event: &Event) -> usize {
    const PER_ALLOCATION: usize = 16;
    let texts = [
        &event.audit_id,
        &event.stage,
        &event.level,
        &event.verb,
        &event.request_uri,
        &event.user.username,
        &event.user_agent,
    ]
    .into_iter()
    .chain(&event.source_ips)
    .chain(&event.user.groups);
    std::mem::size_of::<Event>()
        + texts
            .map(|text| text.capacity() + PER_ALLOCATION)
            .sum::<usize>()
        + (event.source_ips.capacity() + event.user.groups.capacity())
            * std::mem::size_of::<String>()
}

/// Why the receiver could not start listening.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "--listen {0}: without --tls-cert and --tls-key the receiver speaks plain HTTP, so it listens on loopback only (127.0.0.1 or [::1])"
    )]
    PlainBeyondLoopback(SocketAddr),
    #[error(
        "--listen {0}: beyond loopback, anyone who reaches the port could send events; \
         require the API server's client certificate (--client-ca) or its bearer \
         token (--token-file)"
    )]
    OpenBeyondLoopback(SocketAddr),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// A PEM file named by `flag` could not be read.
    #[error("{flag} {}: {source}", path.display())]
    PemFile {
        flag: &'static str,
        path: PathBuf,
        #[source]
        source: InputError,
    },
    /// Told without the file's bytes, which the PEM reader's own message would carry.
    #[error("{flag} {}: {problem}", path.display())]
    NoCertificate {
        flag: &'static str,
        path: PathBuf,
        problem: String,
    },
    #[error("--tls-key {}: no PEM private key read: {problem}", path.display())]
    NoKey { path: PathBuf, problem: String },
    #[error("TLS: {0}")]
    Tls(#[source] rustls::Error),
    #[error("--client-ca {}: {source}", path.display())]
    ClientCa {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("--client-ca {}: {source}", path.display())]
    ClientVerifier {
        path: PathBuf,
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
    #[error("--tls-cert {} and --tls-key {}: {source}", cert.display(), key.display())]
    CertifiedKey {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
}

/// Refuses addresses off this machine for plain HTTP.
pub fn check_loopback(address: SocketAddr) -> Result<SocketAddr, ServeError> {
    if address.ip().is_loopback() {
        Ok(address)
    } else {
        Err(ServeError::PlainBeyondLoopback(address))
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
    /// Keep only the events of these users (all events when empty).
    pub users: Vec<String>,
    /// And the API server's stamps of these decoy Secrets.
    pub secrets: Vec<crate::audit::DecoySecret>,
    /// Serve `/drill-notices` (see [`crate::detect::notice`]) from this book.
    pub drill_notices: Option<Arc<std::sync::Mutex<DrillBook>>>,
    /// For a fleet: one path per cluster, `/contexts/<name>`, each keeping the events of
    /// its own decoys (`users` and `secrets` are then not used); a POST to any other path
    /// is refused. Empty: every path is the one cluster's.
    pub contexts: Vec<ContextRoute>,
}

/// One cluster's path of a fleet's receiver, and the decoys whose events it keeps: none
/// until that cluster's decoys are known (its events are then read and dropped).
#[derive(Clone)]
pub struct ContextRoute {
    pub name: String,
    pub matcher: Arc<std::sync::RwLock<Option<Arc<Matcher>>>>,
}

impl std::fmt::Debug for ContextRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContextRoute")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ContextRoute {
    pub fn new(name: &str) -> ContextRoute {
        ContextRoute {
            name: name.to_string(),
            matcher: Arc::new(std::sync::RwLock::new(None)),
        }
    }

    /// The path the cluster's audit webhook kubeconfig names (after the receiver's URL).
    pub fn path(&self) -> String {
        context_path(&self.name)
    }
}

/// `/contexts/<name>`, the name percent-encoded (EKS context names hold `:` and `/`).
pub fn context_path(name: &str) -> String {
    let mut path = String::from("/contexts/");
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            path.push(byte as char);
        } else {
            path.push_str(&format!("%{byte:02X}"));
        }
    }
    path
}

/// The context a request path names (`/contexts/<name>`, percent-decoded), if it is one.
fn context_named(path: &str) -> Option<String> {
    let encoded = path.strip_prefix("/contexts/")?;
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

impl ListenOptions {
    pub fn plain(address: SocketAddr) -> ListenOptions {
        ListenOptions {
            address,
            tls: None,
            bearer_token: None,
            body_limit: BODY_LIMIT,
            header_timeout: HEADER_TIMEOUT,
            users: Vec::new(),
            secrets: Vec::new(),
            drill_notices: None,
            contexts: Vec::new(),
        }
    }
}

/// Bytes of bodies held in memory at once, over all connections, for a body size limit.
pub fn bodies_budget(body_limit: usize) -> usize {
    body_limit
        .saturating_mul(BODIES_AT_ONCE)
        .min(Semaphore::MAX_PERMITS)
}

/// What arrived at the receiver.
#[derive(Debug)]
pub enum Delivery {
    /// The events kept from one body, and how many of the decoys' were beyond the limit.
    /// The body's room in the budget is held until the delivery is dropped, so events
    /// waiting for a reader that falls behind count against it too.
    Events {
        events: Vec<Event>,
        not_kept: u64,
        /// The fleet's context whose path they were sent to (its index in
        /// `ListenOptions::contexts`); None without a fleet.
        context: Option<usize>,
        _room: Held,
    },
    /// A request or connection that was turned away, and why.
    Refused { from: SocketAddr, why: String },
}

/// Deliveries waiting for the reader, at most: a reader that falls behind holds up the
/// senders (their bodies stay in the budget, and new ones are answered 503).
pub const DELIVERIES_WAITING: usize = 64;

/// A running receiver; it stops when dropped.
pub struct Server {
    pub address: SocketAddr,
    pub url: String,
    task: tokio::task::JoinHandle<()>,
    untold: Arc<AtomicU64>,
    #[cfg(test)]
    gate: Arc<Gate>,
}

impl Server {
    /// Refusals that were not delivered because the reader was behind.
    pub fn refusals_not_delivered(&self) -> u64 {
        self.untold.load(Ordering::Relaxed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where deliveries go: events wait for room, refusals are counted when there is none.
#[derive(Clone)]
struct Outlet {
    sender: mpsc::Sender<Delivery>,
    untold: Arc<AtomicU64>,
}

impl Outlet {
    fn refused(&self, from: SocketAddr, why: String) {
        if let Err(mpsc::error::TrySendError::Full(_)) =
            self.sender.try_send(Delivery::Refused { from, why })
        {
            self.untold.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Starts listening and sends what arrives to `deliveries`.
pub async fn serve(
    options: ListenOptions,
    deliveries: mpsc::Sender<Delivery>,
) -> Result<Server, ServeError> {
    let acceptor = match &options.tls {
        Some(files) => {
            if !options.address.ip().is_loopback()
                && files.client_ca.is_none()
                && options.bearer_token.is_none()
            {
                return Err(ServeError::OpenBeyondLoopback(options.address));
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
        .map_err(|source| ServeError::Bind {
            address: options.address,
            source,
        })?;
    let address = listener.local_addr().map_err(|source| ServeError::Bind {
        address: options.address,
        source,
    })?;
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
        budget: Budget::new(bodies_budget(options.body_limit)),
        matcher: (!options.users.is_empty())
            .then(|| Matcher::with_secrets(options.users.clone(), options.secrets.clone())),
        drill_notices: options.drill_notices.clone(),
        contexts: options.contexts.clone(),
    });
    #[cfg(test)]
    let test_gate = gate.clone();
    let untold = Arc::new(AtomicU64::new(0));
    let outlet = Outlet {
        sender: deliveries,
        untold: untold.clone(),
    };
    let slots = Slots::default();
    let accepting = slots.clone();
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
            let slot = match accepting.take(from.ip()) {
                Ok(slot) => Arc::new(slot),
                Err(why) => {
                    drop(stream);
                    outlet.refused(from, why.into());
                    continue;
                }
            };
            let outlet = outlet.clone();
            let gate = gate.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let evicted = slot.evicted.clone();
                let work = async {
                    match acceptor {
                        None => serve_connection(stream, from, &gate, &outlet, &slot).await,
                        Some(acceptor) => {
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                                .await
                            {
                                Ok(Ok(tls)) => {
                                    serve_connection(tls, from, &gate, &outlet, &slot).await
                                }
                                Ok(Err(e)) => {
                                    outlet.refused(from, format!("TLS handshake failed: {e}"))
                                }
                                Err(_) => outlet.refused(from, "TLS handshake timed out".into()),
                            }
                        }
                    }
                };
                tokio::select! {
                    () = work => {}
                    () = evicted.notified() => outlet.refused(
                        from,
                        "not authenticated yet; closed to make room for another connection".into(),
                    ),
                    () = slot.unauthenticated_after(AUTHENTICATE_WITHIN) => outlet.refused(
                        from,
                        format!("not authenticated within {}s; closed", AUTHENTICATE_WITHIN.as_secs()),
                    ),
                }
            });
        }
    });
    Ok(Server {
        address,
        url,
        task,
        untold,
        #[cfg(test)]
        gate: test_gate,
    })
}

fn server_config(files: &TlsFiles) -> Result<rustls::ServerConfig, ServeError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = read_certificates(&files.cert, "--tls-cert")?;
    // Told without the file's bytes, which the PEM reader's own message would carry.
    let key = PrivateKeyDer::from_pem_slice(read_pem(&files.key, "--tls-key")?.as_bytes())
        .map_err(|e| ServeError::NoKey {
            path: files.key.clone(),
            problem: crate::ui::redact::pem_problem(&e),
        })?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(ServeError::Tls)?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in read_certificates(path, "--client-ca")? {
                roots.add(ca).map_err(|source| ServeError::ClientCa {
                    path: path.clone(),
                    source,
                })?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|source| ServeError::ClientVerifier {
                path: path.clone(),
                source,
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    builder
        .with_single_cert(certs, key)
        .map_err(|source| ServeError::CertifiedKey {
            cert: files.cert.clone(),
            key: files.key.clone(),
            source,
        })
}

/// The most read from a PEM file: a certificate chain is a few KiB, and even the whole Mozilla
/// CA bundle (about 150 certificates) is near 220 KiB.
const PEM_FILE_LIMIT: u64 = 1 << 20;

/// A PEM file's text, refused when it is no regular file or larger than a PEM file can be.
fn read_pem(path: &Path, flag: &'static str) -> Result<String, ServeError> {
    crate::input::read_text(path, PEM_FILE_LIMIT, "a PEM file").map_err(|source| {
        ServeError::PemFile {
            flag,
            path: path.to_path_buf(),
            source,
        }
    })
}

fn read_certificates(
    path: &Path,
    flag: &'static str,
) -> Result<Vec<CertificateDer<'static>>, ServeError> {
    let unreadable = |problem: String| ServeError::NoCertificate {
        flag,
        path: path.to_path_buf(),
        problem,
    };
    let text = read_pem(path, flag)?;
    let certs = CertificateDer::pem_slice_iter(text.as_bytes())
        .map(|cert| cert.map(|c| c.into_owned()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(crate::ui::redact::pem_problem(&e)))?;
    if certs.is_empty() {
        return Err(unreadable("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// Open connections: those not authenticated yet (oldest first, by id) and those that
/// have authenticated, each counted per address.
#[derive(Clone, Default)]
struct Slots(Arc<std::sync::Mutex<SlotTable>>);

#[derive(Default)]
struct SlotTable {
    next_id: u64,
    unauthenticated: BTreeMap<u64, (IpAddr, Arc<Notify>)>,
    unauthenticated_per_address: HashMap<IpAddr, usize>,
    authenticated: HashMap<u64, IpAddr>,
    authenticated_per_address: HashMap<IpAddr, usize>,
}

fn count_down(counts: &mut HashMap<IpAddr, usize>, address: IpAddr) {
    if let Some(count) = counts.get_mut(&address) {
        *count -= 1;
        if *count == 0 {
            counts.remove(&address);
        }
    }
}

impl SlotTable {
    fn count(counts: &HashMap<IpAddr, usize>, address: IpAddr) -> usize {
        counts.get(&address).copied().unwrap_or(0)
    }

    /// Closes an unauthenticated connection to make room: its place is free at once.
    fn evict(&mut self, id: u64) {
        if let Some((address, evicted)) = self.unauthenticated.remove(&id) {
            count_down(&mut self.unauthenticated_per_address, address);
            evicted.notify_one();
        }
    }

    fn oldest_of(&self, address: IpAddr) -> Option<u64> {
        self.unauthenticated
            .iter()
            .find(|(_, (a, _))| *a == address)
            .map(|(id, _)| *id)
    }

    /// Whose unauthenticated connection gives way to a newcomer from `address`, if any.
    fn room_for(&self, address: IpAddr) -> Result<Option<u64>, &'static str> {
        let mine = Self::count(&self.unauthenticated_per_address, address);
        if mine >= MAX_UNAUTHENTICATED_PER_ADDRESS {
            // An address at its share only ever replaces its own oldest.
            return Ok(self.oldest_of(address));
        }
        if self.unauthenticated.len() < MAX_UNAUTHENTICATED {
            return Ok(None);
        }
        // Full: the address holding most gives way, when it holds more than the newcomer's
        // address; among equals, the one whose connection is oldest.
        let (mut most, mut holder) = (0, None);
        for (address, _) in self.unauthenticated.values() {
            let count = Self::count(&self.unauthenticated_per_address, *address);
            if count > most {
                (most, holder) = (count, Some(*address));
            }
        }
        match holder {
            Some(holder) if most > mine => Ok(self.oldest_of(holder)),
            _ => Err("too many connections not authenticated yet; closed"),
        }
    }
}

/// One connection's place; given back when dropped.
struct Slot {
    slots: Slots,
    id: u64,
    /// Told when the place is given to another connection.
    evicted: Arc<Notify>,
}

impl Slots {
    fn take(&self, address: IpAddr) -> Result<Slot, &'static str> {
        let mut table = self.0.lock().expect("not poisoned");
        if let Some(id) = table.room_for(address)? {
            table.evict(id);
        }
        let id = table.next_id;
        table.next_id += 1;
        let evicted = Arc::new(Notify::new());
        table.unauthenticated.insert(id, (address, evicted.clone()));
        *table
            .unauthenticated_per_address
            .entry(address)
            .or_insert(0) += 1;
        Ok(Slot {
            slots: self.clone(),
            id,
            evicted,
        })
    }

    /// Connections held: (not authenticated, authenticated).
    #[cfg(test)]
    pub(crate) fn held(&self) -> (usize, usize) {
        let table = self.0.lock().expect("not poisoned");
        (table.unauthenticated.len(), table.authenticated.len())
    }
}

impl Slot {
    /// Moves the connection among the authenticated ones; false when there is no room for
    /// it there (or it was closed meanwhile).
    fn authenticate(&self) -> bool {
        let mut table = self.slots.0.lock().expect("not poisoned");
        if table.authenticated.contains_key(&self.id) {
            return true;
        }
        let Some((address, _)) = table.unauthenticated.get(&self.id).cloned() else {
            return false;
        };
        if table.authenticated.len() >= MAX_CONNECTIONS
            || SlotTable::count(&table.authenticated_per_address, address)
                >= MAX_CONNECTIONS_PER_ADDRESS
        {
            return false;
        }
        table.unauthenticated.remove(&self.id);
        count_down(&mut table.unauthenticated_per_address, address);
        table.authenticated.insert(self.id, address);
        *table.authenticated_per_address.entry(address).or_insert(0) += 1;
        true
    }

    fn is_authenticated(&self) -> bool {
        let table = self.slots.0.lock().expect("not poisoned");
        table.authenticated.contains_key(&self.id)
    }

    /// Returns after `limit` if the connection has not authenticated by then; never else.
    async fn unauthenticated_after(&self, limit: Duration) {
        tokio::time::sleep(limit).await;
        if self.is_authenticated() {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = self.slots.0.lock().expect("not poisoned");
        if let Some((address, _)) = table.unauthenticated.remove(&self.id) {
            count_down(&mut table.unauthenticated_per_address, address);
        }
        if let Some(address) = table.authenticated.remove(&self.id) {
            count_down(&mut table.authenticated_per_address, address);
        }
    }
}

/// Bytes of bodies in memory, over all connections: the main budget, and a reserve that
/// only small bodies may draw on.
struct Budget {
    main: Arc<Semaphore>,
    reserve: Arc<Semaphore>,
}

/// What one body holds of the budget; given back when dropped.
#[derive(Debug, Default)]
pub struct Held {
    bytes: usize,
    permits: Vec<OwnedSemaphorePermit>,
}

impl Budget {
    fn new(bytes: usize) -> Budget {
        Budget {
            main: Arc::new(Semaphore::new(bytes)),
            reserve: Arc::new(Semaphore::new(SMALL_BODY_RESERVE)),
        }
    }

    /// Takes `bytes` more for a body, if there is room.
    fn take(&self, held: &mut Held, bytes: usize) -> bool {
        let Ok(wanted) = u32::try_from(bytes) else {
            return false;
        };
        let permit = self
            .main
            .clone()
            .try_acquire_many_owned(wanted)
            .or_else(|_| {
                if held.bytes + bytes <= SMALL_BODY {
                    self.reserve.clone().try_acquire_many_owned(wanted)
                } else {
                    Err(tokio::sync::TryAcquireError::NoPermits)
                }
            });
        match permit {
            Ok(permit) => {
                held.bytes += bytes;
                held.permits.push(permit);
                true
            }
            Err(_) => false,
        }
    }
}

/// What every request must pass, and what the receiver keeps.
struct Gate {
    token_digest: Option<[u8; 32]>,
    body_limit: usize,
    header_timeout: Duration,
    budget: Budget,
    matcher: Option<Matcher>,
    drill_notices: Option<Arc<std::sync::Mutex<DrillBook>>>,
    contexts: Vec<ContextRoute>,
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
            .and_then(bearer_token)
            .unwrap_or_default();
        // Digests of equal length: comparing them tells nothing about the token's bytes.
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        &presented == expected
    }
}

/// The token of an `Authorization: Bearer <token>` value; the scheme's case does not
/// matter (RFC 9110, 11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start_matches(' '))
}

async fn serve_connection<S>(
    stream: S,
    from: SocketAddr,
    gate: &Arc<Gate>,
    outlet: &Outlet,
    slot: &Arc<Slot>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let header_timeout = gate.header_timeout;
    let (gate, outlet, slot) = (gate.clone(), outlet.clone(), slot.clone());
    let service = hyper::service::service_fn(move |request| {
        let (gate, outlet, slot) = (gate.clone(), outlet.clone(), slot.clone());
        async move {
            Ok::<_, std::convert::Infallible>(handle(request, from, &gate, &outlet, &slot).await)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(CONNECTION_BUFFER)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .await;
}

/// Why a body was not read to its end.
enum Unread {
    TooLarge,
    NoRoom,
    Broken(hyper::Error),
}

/// Reads a body into memory, taking room for its bytes from the budget as they come.
async fn read_body(
    mut body: Incoming,
    limit: usize,
    budget: &Budget,
) -> Result<(Vec<u8>, Held), Unread> {
    use hyper::body::Body as _;
    let announced = body.size_hint().exact().unwrap_or(0);
    if announced > limit as u64 {
        return Err(Unread::TooLarge);
    }
    let mut held = Held::default();
    // Room for an announced length is taken only as its bytes arrive.
    let mut bytes = Vec::with_capacity(announced.min(SMALL_BODY as u64) as usize);
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(Unread::Broken)?.into_data() else {
            continue;
        };
        if bytes.len() + data.len() > limit {
            return Err(Unread::TooLarge);
        }
        if !budget.take(&mut held, data.len()) {
            return Err(Unread::NoRoom);
        }
        if bytes.capacity() < bytes.len() + data.len() && announced > 0 {
            // The announced length at once, rather than doubling past it.
            let rest = (announced as usize).saturating_sub(bytes.len());
            bytes.reserve_exact(rest.max(data.len()));
        }
        bytes.extend_from_slice(&data);
    }
    Ok((bytes, held))
}

async fn handle(
    request: Request<Incoming>,
    from: SocketAddr,
    gate: &Gate,
    outlet: &Outlet,
    slot: &Slot,
) -> Response<Full<Bytes>> {
    let refuse = |status: StatusCode, why: String| {
        outlet.refused(from, format!("{} ({status})", why.trim_end()));
        reply(status, &why)
    };
    let path = request.uri().path();
    if let Some(book) = &gate.drill_notices
        && (path == "/drill-notices" || path.starts_with("/drill-notices/"))
    {
        return drill_notice(request, book, gate, &refuse).await;
    }
    if request.method() != hyper::Method::POST {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} instead of POST\n", request.method()),
        );
    }
    if !gate.authorized(&request) {
        // A sender that fails authentication gets no second try on this connection.
        return closing(refuse(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token\n".into(),
        ));
    }
    if !slot.authenticate() {
        return closing(busy(refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many authenticated connections\n".into(),
        )));
    }
    // A fleet's receiver: the path names the cluster, and its decoys are looked for.
    let route = if gate.contexts.is_empty() {
        None
    } else {
        let named = context_named(request.uri().path());
        match gate
            .contexts
            .iter()
            .position(|c| Some(&c.name) == named.as_ref())
        {
            Some(index) => Some(index),
            None => {
                return refuse(
                    StatusCode::NOT_FOUND,
                    format!(
                        "{} names no context of this watcher: each cluster's audit webhook posts to /contexts/<its context name>\n",
                        crate::ui::terminal::printable(request.uri().path())
                    ),
                );
            }
        }
    };
    let read = tokio::time::timeout(
        BODY_TIMEOUT,
        read_body(request.into_body(), gate.body_limit, &gate.budget),
    )
    .await;
    let Ok(read) = read else {
        return refuse(
            StatusCode::REQUEST_TIMEOUT,
            format!("body not sent within {}s\n", BODY_TIMEOUT.as_secs()),
        );
    };
    let (body, held) = match read {
        Ok(read) => read,
        Err(Unread::TooLarge) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than {} bytes\n", gate.body_limit),
            );
        }
        Err(Unread::NoRoom) => {
            return closing(busy(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "bodies held fill the receiver's room for them ({} bytes); try again\n",
                    bodies_budget(gate.body_limit)
                ),
            )));
        }
        Err(Unread::Broken(e)) => {
            return refuse(StatusCode::BAD_REQUEST, format!("body unreadable: {e}\n"));
        }
    };
    let route_matcher = route.map(|index| {
        gate.contexts[index]
            .matcher
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    });
    let parsed = match &route_matcher {
        None => parse_event_list(&body, gate.matcher.as_ref()),
        Some(Some(matcher)) => parse_event_list(&body, Some(matcher)),
        // The cluster's decoys are not known yet: nothing of it can be told, and the body
        // is not read into events (every one would be kept).
        Some(None) => Ok(Parsed::default()),
    };
    drop(body);
    match parsed {
        Ok(parsed) => {
            // The events kept hold the body's room, and more when they take more.
            let mut held = held;
            let footprint: usize = parsed.events.iter().map(footprint).sum();
            let more = footprint.saturating_sub(held.bytes);
            if more > 0 && !gate.budget.take(&mut held, more) {
                return closing(busy(refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "events held fill the receiver's room for them; try again\n".into(),
                )));
            }
            let delivery = Delivery::Events {
                events: parsed.events,
                not_kept: parsed.not_kept,
                context: route,
                _room: held,
            };
            match outlet.sender.send(delivery).await {
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
            }
        }
        Err(why) => refuse(StatusCode::BAD_REQUEST, why),
    }
}

/// `POST /drill-notices` and `GET /drill-notices/<id>`: the notice's signature under the
/// key is its authentication (test-trigger holds no audit webhook credential).
async fn drill_notice(
    request: Request<Incoming>,
    book: &std::sync::Mutex<DrillBook>,
    gate: &Gate,
    refuse: &impl Fn(StatusCode, String) -> Response<Full<Bytes>>,
) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_string();
    let now = jiff::Timestamp::now();
    match (
        request.method().clone(),
        path.strip_prefix("/drill-notices/"),
    ) {
        (hyper::Method::GET, Some(id)) => {
            let status = book.lock().expect("not poisoned").status(id, now);
            match status {
                Some(status) => reply(
                    StatusCode::OK,
                    &serde_json::to_string(&status).expect("a status serializes"),
                ),
                None => reply(StatusCode::NOT_FOUND, "no such drill notice\n"),
            }
        }
        (hyper::Method::POST, None) => {
            let read = tokio::time::timeout(
                HEADER_TIMEOUT,
                read_body(request.into_body(), NOTICE_BODY_LIMIT, &gate.budget),
            )
            .await;
            let body = match read {
                Ok(Ok((body, _held))) => body,
                Ok(Err(Unread::TooLarge)) => {
                    return refuse(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("drill notice larger than {NOTICE_BODY_LIMIT} bytes\n"),
                    );
                }
                _ => {
                    return refuse(StatusCode::BAD_REQUEST, "drill notice not read\n".into());
                }
            };
            let accepted = book.lock().expect("not poisoned").accept(&body, now);
            match accepted {
                Ok(id) => reply(StatusCode::ACCEPTED, &format!("{{\"drillID\":\"{id}\"}}")),
                Err(why) => refuse(
                    StatusCode::from_u16(why.status()).unwrap_or(StatusCode::BAD_REQUEST),
                    format!("drill notice refused: {why}\n"),
                ),
            }
        }
        (method, _) => refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} {path}: POST /drill-notices or GET /drill-notices/<id>\n"),
        ),
    }
}

fn reply(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::from(text.to_string())))
        .expect("a static response")
}

/// The response, and the connection closed after it.
fn closing(mut response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    response.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    response
}

/// The response, asking the sender to try again in a moment.
fn busy(mut response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    response.headers_mut().insert(
        hyper::header::RETRY_AFTER,
        hyper::header::HeaderValue::from_static(RETRY_AFTER),
    );
    response
}

/// A plain loopback receiver whose events are read in batches (drills of `verify --e2e`).
pub struct Receiver {
    pub address: SocketAddr,
    deliveries: mpsc::Receiver<Delivery>,
    _server: Server,
}

impl Receiver {
    /// Keeps the events of `users` (of every user when empty).
    pub async fn start(address: SocketAddr, users: Vec<String>) -> Result<Receiver, ServeError> {
        let (sender, deliveries) = mpsc::channel(DELIVERIES_WAITING);
        let server = serve(
            ListenOptions {
                users,
                ..ListenOptions::plain(address)
            },
            sender,
        )
        .await?;
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
            if let Delivery::Events { events: batch, .. } = delivery {
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
        let events = parse_event_list(body, None).unwrap().events;
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
        assert!(parse_event_list(b"garbage", None).is_err());
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

    fn drain(deliveries: &mut mpsc::Receiver<Delivery>) -> (Vec<Event>, Vec<String>) {
        let (mut events, mut refused) = (Vec::new(), Vec::new());
        while let Ok(delivery) = deliveries.try_recv() {
            match delivery {
                Delivery::Events { events: batch, .. } => events.extend(batch),
                Delivery::Refused { why, .. } => refused.push(why),
            }
        }
        (events, refused)
    }

    #[tokio::test]
    async fn drill_notices_are_taken_checked_and_answered_beside_the_audit_route() {
        use crate::detect::notice::{self, NoticeError, NoticeStatus, Watcher};
        let key = crate::home::Key::from_bytes([5; 32]);
        let book = Arc::new(std::sync::Mutex::new(DrillBook::new(Some(key.clone()))));
        let (sender, _deliveries) = mpsc::channel(DELIVERIES_WAITING);
        let server = serve(
            ListenOptions {
                // The audit route's token does not guard the notices: their signature does.
                bearer_token: Some(SecretString::from("webhook-token".to_string())),
                drill_notices: Some(book.clone()),
                ..ListenOptions::plain("127.0.0.1:0".parse().unwrap())
            },
            sender,
        )
        .await
        .unwrap();
        let watcher = Watcher::new(&server.url).unwrap();
        let now = jiff::Timestamp::now();
        let fresh = notice::notice_for("ns", "s-token-abcde", now, Duration::from_secs(60));
        let id = fresh.drill_id.clone();
        let signed = notice::sign(&key, fresh);
        watcher.announce(&signed).await.unwrap();
        assert_eq!(watcher.status(&id).await.unwrap(), NoticeStatus::Pending);
        match watcher.announce(&signed).await {
            Err(NoticeError::Refused { status: 409, .. }) => {}
            other => panic!("a replay: {other:?}"),
        }
        let forged = notice::sign(
            &crate::home::Key::from_bytes([6; 32]),
            notice::notice_for("ns", "s-token-abcde", now, Duration::from_secs(60)),
        );
        match watcher.announce(&forged).await {
            Err(NoticeError::Refused { status: 401, .. }) => {}
            other => panic!("a forgery: {other:?}"),
        }
        assert_eq!(
            book.lock().unwrap().claim("ns", "s-token-abcde", now),
            Some(id.clone())
        );
        book.lock().unwrap().reported(&id, "alert-7");
        assert!(matches!(
            watcher.status(&id).await.unwrap(),
            NoticeStatus::Seen { alert_id, .. } if alert_id == "alert-7"
        ));
        assert!(matches!(
            watcher.status("ffffffffffffffffffffffffffffffff").await,
            Err(NoticeError::Unexpected { status: 404, .. })
        ));
        // A body over the notice limit is refused unread.
        let big = SignedNotice {
            signature: "0".repeat(NOTICE_BODY_LIMIT),
            ..signed
        };
        assert!(matches!(
            watcher.announce(&big).await,
            Err(NoticeError::Refused { status: 413, .. })
        ));
    }

    #[test]
    fn a_context_path_encodes_what_a_path_cannot_hold_and_reads_back() {
        for name in [
            "kind-kind",
            "arn:aws:eks:eu-west-1:123456789012:cluster/prod",
            "gke_p_europe-west1_a b",
            "ünï",
        ] {
            let path = context_path(name);
            assert!(
                path[1..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~%/".contains(&b))
                    && path[10..].find('/').is_none(),
                "{path}"
            );
            assert_eq!(context_named(&path).as_deref(), Some(name));
        }
        // A client may leave `:` as it is.
        assert_eq!(context_named("/contexts/a:b").as_deref(), Some("a:b"));
        for not in [
            "/",
            "/contexts",
            "/audit/contexts/a",
            "/contexts/%zz",
            "/contexts/%c3",
        ] {
            assert!(context_named(not).is_none(), "{not}");
        }
    }

    #[tokio::test]
    async fn a_fleets_receiver_keeps_each_paths_events_for_its_context_and_refuses_other_paths() {
        let user = "system:serviceaccount:kube-system:tiller";
        let routes = vec![ContextRoute::new("a"), ContextRoute::new("prod/eu")];
        *routes[1].matcher.write().unwrap() = Some(Arc::new(Matcher::new(vec![user.into()])));
        let (sender, mut deliveries) = mpsc::channel(DELIVERIES_WAITING);
        let server = serve(
            ListenOptions {
                contexts: routes.clone(),
                ..ListenOptions::plain("127.0.0.1:0".parse().unwrap())
            },
            sender,
        )
        .await
        .unwrap();
        let body = format!(
            r#"{{"items":[{{"auditID":"d1","verb":"list","requestURI":"/api/v1/secrets","user":{{"username":"{user}"}}}},{{"auditID":"o1","verb":"get","requestURI":"/api","user":{{"username":"admin"}}}}]}}"#
        );
        let post = |path: &str| {
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        };
        let stream = tokio::net::TcpStream::connect(server.address)
            .await
            .unwrap();
        let answer = exchange(stream, &post(&routes[1].path())).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        match deliveries.try_recv().unwrap() {
            Delivery::Events {
                events, context, ..
            } => {
                assert_eq!(context, Some(1));
                assert_eq!(
                    events
                        .iter()
                        .map(|e| e.audit_id.as_str())
                        .collect::<Vec<_>>(),
                    ["d1"],
                    "only the context's decoys"
                );
            }
            other => panic!("{other:?}"),
        }
        // A context whose decoys are not known yet: acknowledged, nothing kept.
        let stream = tokio::net::TcpStream::connect(server.address)
            .await
            .unwrap();
        let answer = exchange(stream, &post("/contexts/a")).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        match deliveries.try_recv().unwrap() {
            Delivery::Events {
                events, context, ..
            } => assert!(events.is_empty() && context == Some(0)),
            other => panic!("{other:?}"),
        }
        for path in ["/", "/contexts/b", "/contexts/prod"] {
            let stream = tokio::net::TcpStream::connect(server.address)
                .await
                .unwrap();
            let answer = exchange(stream, &post(path)).await;
            assert!(answer.starts_with("HTTP/1.1 404"), "{path}: {answer}");
        }
        let (events, refused) = drain(&mut deliveries);
        assert!(events.is_empty());
        assert_eq!(refused.len(), 3, "{refused:?}");
        assert!(
            refused[0].contains("/contexts/<its context name>"),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn posted_events_come_out_and_bad_requests_are_answered() {
        let mut receiver = Receiver::start("127.0.0.1:0".parse().unwrap(), Vec::new())
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
        let (sender, mut deliveries) = mpsc::channel(DELIVERIES_WAITING);
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
        let (sender, mut deliveries) = mpsc::channel(DELIVERIES_WAITING);
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
        let (sender, _deliveries) = mpsc::channel(DELIVERIES_WAITING);
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
        let (sender, _deliveries) = mpsc::channel(DELIVERIES_WAITING);
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
        let (sender, _deliveries) = mpsc::channel(DELIVERIES_WAITING);
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
        let (sender, mut deliveries) = mpsc::channel(DELIVERIES_WAITING);
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
    fn unauthenticated_connections_give_way_to_newcomers_and_authenticated_ones_stay() {
        let slots = Slots::default();
        let address = |n: u8| IpAddr::from([127, 0, 0, n]);
        let is_evicted = |slot: &Slot| {
            let table = slots.0.lock().unwrap();
            !table.unauthenticated.contains_key(&slot.id)
                && !table.authenticated.contains_key(&slot.id)
        };
        // One address at its share replaces its own oldest connection.
        let mut first: Vec<Slot> = (0..MAX_UNAUTHENTICATED_PER_ADDRESS)
            .map(|_| slots.take(address(2)).unwrap())
            .collect();
        let newcomer = slots.take(address(2)).unwrap();
        assert!(is_evicted(&first[0]));
        assert!(!is_evicted(&first[1]));
        assert_eq!(slots.held(), (MAX_UNAUTHENTICATED_PER_ADDRESS, 0));
        first.push(newcomer);
        // Full with four addresses: a fifth address takes the place of the oldest of the
        // address that holds most.
        let others: Vec<Slot> = (3..6)
            .flat_map(|n| (0..MAX_UNAUTHENTICATED_PER_ADDRESS).map(move |_| n))
            .map(|n| slots.take(address(n)).unwrap())
            .collect();
        assert_eq!(slots.held(), (MAX_UNAUTHENTICATED, 0));
        let api_server = slots.take(address(1)).unwrap();
        assert!(
            is_evicted(&first[1]),
            "the oldest of the largest holder gave way"
        );
        assert_eq!(slots.held(), (MAX_UNAUTHENTICATED, 0));
        // Once authenticated, no flood of newcomers moves it.
        assert!(api_server.authenticate());
        assert_eq!(slots.held(), (MAX_UNAUTHENTICATED - 1, 1));
        let flood: Vec<Slot> = (0..1000)
            .map(|i| slots.take(address(10 + (i % 50) as u8)).unwrap())
            .collect();
        assert!(!is_evicted(&api_server));
        assert_eq!(slots.held(), (MAX_UNAUTHENTICATED, 1));
        drop((first, others, flood, api_server));
        let table = slots.0.lock().unwrap();
        assert!(table.unauthenticated.is_empty() && table.authenticated.is_empty());
        assert!(
            table.unauthenticated_per_address.is_empty()
                && table.authenticated_per_address.is_empty(),
            "nothing held, nothing kept"
        );
    }

    #[tokio::test]
    async fn the_bearer_scheme_is_case_insensitive() {
        let (sender, _deliveries) = mpsc::channel(DELIVERIES_WAITING);
        let server = serve(
            ListenOptions {
                bearer_token: Some(SecretString::from("s3cret")),
                ..ListenOptions::plain("127.0.0.1:0".parse().unwrap())
            },
            sender,
        )
        .await
        .unwrap();
        for (authorization, status) in [
            ("Bearer s3cret", "200"),
            ("bearer s3cret", "200"),
            ("BEARER s3cret", "200"),
            ("Basic s3cret", "401"),
            ("Bearers3cret", "401"),
            ("bearer s3cre", "401"),
        ] {
            let request = format!(
                "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: {authorization}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{ONE_EVENT}",
                ONE_EVENT.len()
            );
            let stream = tokio::net::TcpStream::connect(server.address)
                .await
                .unwrap();
            let answer = exchange(stream, &request).await;
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status}")),
                "{authorization}: {answer}"
            );
        }
    }

    #[tokio::test]
    async fn a_failed_authentication_closes_the_connection() {
        let (sender, _deliveries) = mpsc::channel(DELIVERIES_WAITING);
        let server = serve(
            ListenOptions {
                bearer_token: Some(SecretString::from("s3cret")),
                ..ListenOptions::plain("127.0.0.1:0".parse().unwrap())
            },
            sender,
        )
        .await
        .unwrap();
        // Two requests on one keep-alive connection: the second is never answered.
        let one = |token: &str| {
            format!(
                "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n{ONE_EVENT}",
                ONE_EVENT.len()
            )
        };
        let stream = tokio::net::TcpStream::connect(server.address)
            .await
            .unwrap();
        let answer = exchange(stream, &(one("wrong") + &one("s3cret"))).await;
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        assert_eq!(answer.matches("HTTP/1.1").count(), 1, "{answer}");
    }

    fn empty_items(bytes: usize) -> String {
        let mut body = String::with_capacity(bytes + 16);
        body.push_str(r#"{"items":[{}"#);
        while body.len() < bytes {
            body.push_str(",{}");
        }
        body.push_str("]}");
        body
    }

    #[test]
    fn items_of_other_users_are_never_turned_into_events() {
        const DECOY: &str = "system:serviceaccount:kube-system:tiller";
        let matcher = Matcher::new(vec![DECOY.into()]);
        // Millions of empty items: nothing kept, nothing counted.
        let parsed = parse_event_list(empty_items(8 << 20).as_bytes(), Some(&matcher)).unwrap();
        assert!(parsed.events.is_empty());
        assert_eq!(parsed.not_kept, 0);
        // Without a matcher (a drill's receiver), at most the limit is kept.
        let parsed = parse_event_list(empty_items(1 << 20).as_bytes(), None).unwrap();
        assert_eq!(parsed.events.len(), EVENTS_PER_BODY);
        assert!(parsed.not_kept > 300_000, "{}", parsed.not_kept);
        // Items that only mention the decoy are read, and dropped for their user.
        let body = format!(
            r#"{{"kind":"EventList","items":[{{"auditID":"a","userAgent":"{DECOY}","user":{{"username":"admin"}}}},{{"auditID":"b","user":{{"username":"{DECOY}"}}}}]}}"#
        );
        let parsed = parse_event_list(body.as_bytes(), Some(&matcher)).unwrap();
        assert_eq!(parsed.events.len(), 1);
        assert_eq!(parsed.events[0].audit_id, "b");
        // Still an EventList: an item that is not an object, or a body that is not one.
        assert!(parse_event_list(br#"{"items":[{},1]}"#, Some(&matcher)).is_err());
        assert!(parse_event_list(br#"[{}]"#, Some(&matcher)).is_err());
        assert!(parse_event_list(br#"{"items":[{}]} trailing"#, Some(&matcher)).is_err());
        assert!(
            parse_event_list(br#"{"metadata":{},"items":[]}"#, Some(&matcher))
                .unwrap()
                .events
                .is_empty()
        );
    }

    #[test]
    fn the_api_servers_stamp_of_a_decoy_secret_is_kept_and_other_writes_are_not() {
        const DECOY: &str = "system:serviceaccount:kube-system:tiller";
        let secret = crate::audit::DecoySecret {
            namespace: "kube-system".into(),
            name: "tiller-token-bcdfg".into(),
            user: DECOY.into(),
        };
        let matcher = Matcher::with_secrets(vec![DECOY.into()], vec![secret.clone()]);
        let write = |id: &str, user: &str, name: &str, query: &str| {
            serde_json::json!({
                "kind": "Event", "auditID": id, "stage": "ResponseComplete", "verb": "patch",
                "requestURI": format!("/api/v1/namespaces/kube-system/secrets/{name}{query}"),
                "user": {"username": user, "groups": ["system:authenticated", "system:masters"]},
                "sourceIPs": ["127.0.0.1"],
                "objectRef": {"resource": "secrets", "namespace": "kube-system", "name": name, "apiVersion": "v1"},
                "responseStatus": {"code": 200}
            })
        };
        let body = serde_json::json!({"kind": "EventList", "items": [
            write("stamp", "system:apiserver", "tiller-token-bcdfg", ""),
            write("rearm", "operator", "tiller-token-bcdfg", "?fieldManager=kubectl-label"),
            write("rearm-plain", "operator", "tiller-token-bcdfg", ""),
            write("other", "system:apiserver", "default-token-x7k2p", ""),
        ]})
        .to_string();
        let parsed = parse_event_list(body.as_bytes(), Some(&matcher)).unwrap();
        assert_eq!(parsed.events.len(), 1, "{:?}", parsed.events);
        let stamp = &parsed.events[0];
        assert_eq!(stamp.audit_id, "stamp");
        assert_eq!(
            matcher.signal(stamp),
            Some(crate::audit::Signal::Stamp(&secret))
        );
        assert_eq!(
            stamp.object_ref.as_ref().unwrap().name,
            "tiller-token-bcdfg"
        );
    }

    #[test]
    fn decoy_events_beyond_the_limit_are_counted_and_their_fields_cut() {
        const DECOY: &str = "system:serviceaccount:kube-system:tiller";
        let matcher = Matcher::new(vec![DECOY.into()]);
        let agent = "é".repeat(FIELD_LIMIT);
        let ips: Vec<String> = (0..100).map(|i| format!("10.0.0.{i}")).collect();
        let item = serde_json::json!({
            "auditID": "x", "userAgent": agent, "requestURI": "/".repeat(FIELD_LIMIT * 3),
            "sourceIPs": ips, "user": {"username": DECOY}
        })
        .to_string();
        let count = EVENTS_PER_BODY + 25;
        let body = format!(r#"{{"items":[{}]}}"#, vec![item; count].join(","));
        let parsed = parse_event_list(body.as_bytes(), Some(&matcher)).unwrap();
        assert_eq!(parsed.events.len(), EVENTS_PER_BODY);
        assert_eq!(parsed.not_kept, 25);
        let event = &parsed.events[0];
        assert_eq!(event.user_agent, "é".repeat(FIELD_LIMIT / 2));
        assert_eq!(event.request_uri.len(), FIELD_LIMIT);
        assert_eq!(event.source_ips.len(), LIST_LIMIT);
        assert_eq!(event.user.username, DECOY);
    }

    #[tokio::test]
    async fn bodies_beyond_the_budget_are_answered_503_while_small_ones_still_get_in() {
        let limit = 4 << 20;
        let (sender, mut deliveries) = mpsc::channel(DELIVERIES_WAITING);
        let server = serve(
            ListenOptions {
                body_limit: limit,
                ..ListenOptions::plain("127.0.0.1:0".parse().unwrap())
            },
            sender,
        )
        .await
        .unwrap();
        // Two bodies of the size limit, all but their last byte sent, hold the budget.
        let mut held = Vec::new();
        for _ in 0..BODIES_AT_ONCE {
            let mut stream = tokio::net::TcpStream::connect(server.address)
                .await
                .unwrap();
            let mut body = empty_items(limit - 16);
            body.push_str(&" ".repeat(limit - body.len()));
            let head = format!(
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            stream
                .write_all(&body.as_bytes()[..body.len() - 1])
                .await
                .unwrap();
            held.push((stream, body));
        }
        let main = server.gate.budget.main.clone();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while main.available_permits() > BODIES_AT_ONCE {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} bytes free",
                main.available_permits()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let third = post_plain(server.address, &empty_items(2 << 20), None).await;
        assert!(
            third.starts_with("HTTP/1.1 503"),
            "{}",
            &third[..third.len().min(200)]
        );
        assert!(
            third.to_ascii_lowercase().contains("retry-after: 1"),
            "{third}"
        );
        let small = post_plain(server.address, ONE_EVENT, None).await;
        assert!(small.starts_with("HTTP/1.1 200"), "{small}");
        // The held bodies complete, and the budget is whole again.
        for (mut stream, body) in held {
            stream
                .write_all(&body.as_bytes()[body.len() - 1..])
                .await
                .unwrap();
            let mut answer = [0u8; 12];
            stream.read_exact(&mut answer).await.unwrap();
            assert_eq!(&answer, b"HTTP/1.1 200");
        }
        // Until their events are taken, the bodies keep their room.
        assert!(main.available_permits() < bodies_budget(limit));
        let (events, refused) = drain(&mut deliveries);
        assert_eq!(main.available_permits(), bodies_budget(limit));
        assert_eq!(events.len(), 1 + 2 * EVENTS_PER_BODY);
        assert!(refused.iter().any(|r| r.contains("503")), "{refused:?}");
    }

    #[tokio::test]
    async fn a_reader_that_falls_behind_holds_up_senders_within_the_budget() {
        let limit = SMALL_BODY;
        // Room for one delivery waiting, and a reader that does not read.
        let (sender, mut deliveries) = mpsc::channel(1);
        let server = serve(
            ListenOptions {
                body_limit: limit,
                ..ListenOptions::plain("127.0.0.1:0".parse().unwrap())
            },
            sender,
        )
        .await
        .unwrap();
        let body = empty_items(limit - 16);
        let fits = (bodies_budget(limit) + SMALL_BODY_RESERVE) / body.len();
        let posts: Vec<_> = (0..fits + 3)
            .map(|_| {
                let (address, body) = (server.address, body.clone());
                tokio::spawn(async move { post_plain(address, &body, None).await })
            })
            .collect();
        // Those beyond the budget are told to come back while the reader does not read.
        let refused = || posts.iter().filter(|p| p.is_finished()).count();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while refused() < 3 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} answered",
                refused()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Once the reader reads, the others are answered.
        let reader = tokio::spawn(async move {
            let mut bodies = 0;
            while let Some(delivery) = deliveries.recv().await {
                if let Delivery::Events { .. } = delivery {
                    bodies += 1;
                }
            }
            bodies
        });
        let mut answers = Vec::new();
        for post in posts {
            answers.push(post.await.unwrap()[..12].to_string());
        }
        drop(server);
        let taken = answers.iter().filter(|a| *a == "HTTP/1.1 200").count();
        let told_to_come_back = answers.iter().filter(|a| *a == "HTTP/1.1 503").count();
        assert_eq!(taken + told_to_come_back, answers.len(), "{answers:?}");
        assert!(told_to_come_back >= 3, "{answers:?}");
        assert!(taken <= fits, "{answers:?}");
        assert_eq!(reader.await.unwrap(), taken);
    }

    #[tokio::test]
    async fn plain_http_beyond_loopback_is_refused() {
        let (sender, _deliveries) = mpsc::channel(DELIVERIES_WAITING);
        let error = serve(ListenOptions::plain("0.0.0.0:0".parse().unwrap()), sender)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("loopback only"), "{error}");
    }
}
