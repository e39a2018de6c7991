//! A stand-in for Falcosidekick's event endpoint, for the tests of `watch
//! --falcosidekick-url`. Falcosidekick's Go module is not served by the module proxy, so the
//! real one cannot be built here; this answers as its `mainHandler` does (falcosecurity/
//! falcosidekick `handlers.go`, 2.34.1), decoding and checking the payload as its
//! `types.FalcoPayload` and `Check()` do:
//! - a method other than POST: 400;
//! - a body that is not a JSON object, a `priority` that is not a string, a `time` that is
//!   not an RFC 3339 string: 400 (the decoder fails);
//! - `Check()`: a priority it does not know (case-insensitive), an empty `rule`, a missing
//!   `time`, empty or missing `output_fields`: 400;
//! - `output_fields` `k8s.ns.name` or `k8s.pod.name` present and not a string: its handler
//!   panics and the connection is dropped without an answer;
//! - otherwise 200 with an empty body, and the event goes to its outputs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Priorities `types/priority.go` knows, lower-cased.
const PRIORITIES: [&str; 9] = [
    "emergency",
    "alert",
    "critical",
    "error",
    "warning",
    "notice",
    "informational",
    "info",
    "debug",
];

/// What the stand-in was sent: each request's method, headers and body, and its answer.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// 200, 400, 503 (told to fail), or 0: the connection dropped, as a panic would.
    pub answer: u16,
}

pub struct Falcosidekick {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

/// How Falcosidekick answers this request.
pub fn answer(method: &str, body: &str) -> u16 {
    if method != "POST" {
        return 400;
    }
    let Ok(Value::Object(payload)) = serde_json::from_str::<Value>(body) else {
        return 400;
    };
    let priority = match payload.get("priority") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(p)) => p.to_lowercase(),
        Some(_) => return 400,
    };
    let time_given = match payload.get("time") {
        None | Some(Value::Null) => false,
        Some(Value::String(t)) => match t.parse::<jiff::Timestamp>() {
            Ok(_) => true,
            Err(_) => return 400,
        },
        Some(_) => return 400,
    };
    let fields = payload.get("output_fields").and_then(Value::as_object);
    for key in ["k8s.ns.name", "k8s.pod.name"] {
        if fields
            .and_then(|f| f.get(key))
            .is_some_and(|v| !v.is_null() && !v.is_string())
        {
            return 0;
        }
    }
    let rule = payload.get("rule").and_then(Value::as_str).unwrap_or("");
    if !PRIORITIES.contains(&priority.as_str())
        || rule.is_empty()
        || !time_given
        || fields.is_none_or(|f| f.is_empty())
    {
        return 400;
    }
    200
}

impl Falcosidekick {
    /// Answers as Falcosidekick does, after answering the first `failures` requests 503.
    pub fn start(failures: usize) -> Falcosidekick {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let kept = received.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                    continue;
                }
                let method = request_line.split(' ').next().unwrap_or("").to_string();
                let mut headers = Vec::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.trim_end().split_once(':') {
                        let (name, value) = (name.to_ascii_lowercase(), value.trim().to_string());
                        if name == "content-length" {
                            length = value.parse().unwrap_or(0);
                        }
                        headers.push((name, value));
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let body = String::from_utf8_lossy(&body).into_owned();
                let code = if n < failures {
                    503
                } else {
                    answer(&method, &body)
                };
                let reply = match code {
                    0 => None,
                    200 => Some("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_string()),
                    503 => Some(
                        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n".to_string(),
                    ),
                    _ => Some(
                        "HTTP/1.1 400 Bad Request\r\nContent-Length: 32\r\n\r\nPlease send a valid request body\n"
                            .to_string(),
                    ),
                };
                kept.lock().unwrap().push(Received {
                    method,
                    headers,
                    body,
                    answer: code,
                });
                if let Some(reply) = reply {
                    let _ = stream.write_all(reply.as_bytes());
                }
                // One request per connection, as Connection: close would have it.
                drop(stream);
            }
        });
        Falcosidekick { url, received }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The events it took (answered 200), as JSON, once `count` have come.
    pub fn wait_for_events(&self, count: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let taken: Vec<Value> = self
                .received()
                .into_iter()
                .filter(|r| r.answer == 200)
                .map(|r| serde_json::from_str(&r.body).unwrap())
                .collect();
            if taken.len() >= count {
                return taken;
            }
            assert!(
                Instant::now() < deadline,
                "Falcosidekick took {} events, not {count}; it was sent: {:#?}",
                taken.len(),
                self.received()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
