//! An audit webhook receiver: the API server POSTs `EventList` documents (JSON) to it, and
//! the events come out of a channel. Plain HTTP, so it only listens on loopback.

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::audit::Event;
use crate::error::Error;

/// Larger bodies are refused: the API server's batches stay far below this.
pub const BODY_LIMIT: usize = 32 * 1024 * 1024;

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

/// Refuses addresses off this machine: the receiver speaks plain HTTP.
pub fn check_loopback(address: SocketAddr) -> Result<SocketAddr, Error> {
    if address.ip().is_loopback() {
        Ok(address)
    } else {
        Err(Error::Invalid(format!(
            "--listen {address}: the receiver speaks plain HTTP, so it listens on loopback only (127.0.0.1 or [::1])"
        )))
    }
}

pub struct Receiver {
    pub address: SocketAddr,
    events: mpsc::UnboundedReceiver<Event>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Starts listening; the server runs until the receiver is dropped.
    pub async fn start(address: SocketAddr) -> Result<Receiver, Error> {
        let address = check_loopback(address)?;
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| Error::Invalid(format!("cannot listen on {address}: {e}")))?;
        let address = listener
            .local_addr()
            .map_err(|e| Error::Invalid(format!("cannot listen on {address}: {e}")))?;
        let (sender, events) = mpsc::unbounded_channel();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let sender = sender.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let sender = sender.clone();
                        async move { Ok::<_, std::convert::Infallible>(handle(request, &sender).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Receiver {
            address,
            events,
            server,
        })
    }

    /// The events received since the last call.
    pub fn drain(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            events.push(event);
        }
        events
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn handle(
    request: Request<Incoming>,
    sender: &mpsc::UnboundedSender<Event>,
) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, text: &str| {
        Response::builder()
            .status(status)
            .body(Full::new(Bytes::from(text.to_string())))
            .expect("a static response")
    };
    if request.method() != hyper::Method::POST {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST audit EventLists here\n",
        );
    }
    let body = match Limited::new(request.into_body(), BODY_LIMIT)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body too large or unreadable\n",
            );
        }
    };
    match parse_event_list(&body) {
        Ok(events) => {
            for event in events {
                let _ = sender.send(event);
            }
            reply(StatusCode::OK, "")
        }
        Err(why) => reply(StatusCode::BAD_REQUEST, &why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[tokio::test]
    async fn posted_events_come_out_and_bad_requests_are_answered() {
        let mut receiver = Receiver::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let address = receiver.address;
        let post = |body: &'static str| async move {
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let request = format!(
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.unwrap();
            answer
        };
        let ok = post(r#"{"items":[{"auditID":"x1","verb":"get","requestURI":"/apis","user":{"username":"u"}}]}"#).await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        let bad = post("not json").await;
        assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
        let events = receiver.drain();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].audit_id, "x1");
    }
}
