//! Drill notices: how `test-trigger` tells a running watcher that a drill of one decoy is
//! about to stamp its tripwire, so that stamp is reported as a drill, while any other stamp
//! (outside the window, or a second one in it) is an attack. Nothing in the cluster may
//! reveal the decoy, so the notice travels beside it, to the watcher's `--listen` endpoint:
//!
//! - `POST /drill-notices` with `{"notice": {drillID, namespace, secret, issuedAt,
//!   notAfter}, "signature": hex(HMAC-SHA256(key, canonical(notice)))}`. The watcher
//!   answers 202 when it accepted the notice, 401 for a bad signature, 409 for a drill ID
//!   it has seen, 400 for a stale, future or too long notice.
//! - `GET /drill-notices/<drillID>`: `{"status": "pending" | "seen" | "expired",
//!   "alertID", "seenAt"}`, 404 for an ID it does not know. The ID is 128 random bits.
//!
//! The book below is pure (time is passed in); the HTTP client for test-trigger is at the
//! end.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::home::Key;

/// The longest window a notice may announce (from issuedAt to notAfter).
pub const LONGEST_WINDOW: Duration = Duration::from_secs(120);
/// How far the sender's clock may run ahead of the watcher's.
pub const CLOCK_SKEW: Duration = Duration::from_secs(30);
/// Notices held at once; more are refused (never evicted, so an ID is never forgotten
/// while a notice bearing it could still be accepted).
pub const NOTICES_AT_MOST: usize = 256;
/// A notice is remembered this long after its window, for test-trigger's confirmation.
pub const REMEMBERED_AFTER: Duration = Duration::from_secs(600);
/// A notice's body, at most.
pub const NOTICE_BODY_LIMIT: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DrillNotice {
    #[serde(rename = "drillID")]
    pub drill_id: String,
    pub namespace: String,
    pub secret: String,
    pub issued_at: jiff::Timestamp,
    pub not_after: jiff::Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedNotice {
    pub notice: DrillNotice,
    pub signature: String,
}

/// The bytes the signature covers: every field, in a fixed order, times to the millisecond.
fn canonical(notice: &DrillNotice) -> String {
    format!(
        "kubectl-honeytoken drill notice v1\n{}\n{}\n{}\n{}\n{}",
        notice.drill_id,
        notice.namespace,
        notice.secret,
        notice.issued_at.as_millisecond(),
        notice.not_after.as_millisecond()
    )
}

fn mac(key: &Key) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key.bytes()).expect("HMAC takes any key length")
}

pub fn sign(key: &Key, notice: DrillNotice) -> SignedNotice {
    let mut mac = mac(key);
    mac.update(canonical(&notice).as_bytes());
    let signature = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    SignedNotice { notice, signature }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Whether the signature is this key's (compared in constant time).
pub fn verify(key: &Key, signed: &SignedNotice) -> bool {
    let Some(tag) = unhex(&signed.signature) else {
        return false;
    };
    let mut mac = mac(key);
    mac.update(canonical(&signed.notice).as_bytes());
    mac.verify_slice(&tag).is_ok()
}

/// A fresh notice for a drill of `namespace/secret` starting now, open for `window`.
pub fn notice_for(
    namespace: &str,
    secret: &str,
    now: jiff::Timestamp,
    window: Duration,
) -> DrillNotice {
    let mut id = [0u8; 16];
    if getrandom::fill(&mut id).is_err() {
        id = now.as_nanosecond().to_le_bytes();
    }
    let window = jiff::SignedDuration::try_from(window.min(LONGEST_WINDOW))
        .unwrap_or(jiff::SignedDuration::from_secs(60));
    DrillNotice {
        drill_id: id.iter().map(|b| format!("{b:02x}")).collect(),
        namespace: namespace.to_string(),
        secret: secret.to_string(),
        issued_at: now,
        not_after: now.checked_add(window).unwrap_or(now),
    }
}

/// How long a drill's notice stays open: it is sent just before the drill's first
/// request, whose stamp the API server writes before it answers; the rest is margin for a
/// slow watcher. Short, since a use of the token while it is open is told as the drill.
pub const DRILL_NOTICE_WINDOW: Duration = Duration::from_secs(15);

/// Why a notice was refused, with the HTTP status the watcher answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("not a drill notice: {0}")]
    Malformed(String),
    #[error("the watcher has no key to check drill notices with (run it where plant's key is)")]
    NoKey,
    #[error("the signature is not this key's")]
    BadSignature,
    #[error("drill {0} was announced already (a replay)")]
    Replayed(String),
    #[error("the notice is stale: its window has ended")]
    Stale,
    #[error("the notice is issued in the future (clocks more than {}s apart?)", CLOCK_SKEW.as_secs())]
    Future,
    #[error("the notice's window is longer than {}s", LONGEST_WINDOW.as_secs())]
    TooLong,
    #[error("{NOTICES_AT_MOST} drill notices are held already; try again later")]
    Full,
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadSignature => 401,
            Refusal::Replayed(_) => 409,
            Refusal::NoKey | Refusal::Full => 503,
            _ => 400,
        }
    }
}

/// What the watcher knows of a drill ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum NoticeStatus {
    /// Announced; its window is open and no stamp of its Secret was seen yet.
    Pending,
    /// The stamp was seen and reported as this drill, in alert `alertID`.
    Seen {
        #[serde(rename = "alertID")]
        alert_id: String,
        seen_at: jiff::Timestamp,
    },
    /// The window ended without a stamp.
    Expired,
}

#[derive(Debug, Clone)]
struct Entry {
    notice: DrillNotice,
    seen: Option<(String, jiff::Timestamp)>,
}

/// The notices a watcher holds: bounded, each ID accepted once, each notice explaining at
/// most one stamp.
#[derive(Debug, Default)]
pub struct DrillBook {
    key: Option<Key>,
    entries: HashMap<String, Entry>,
    order: VecDeque<String>,
}

fn valid_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

impl DrillBook {
    pub fn new(key: Option<Key>) -> DrillBook {
        DrillBook {
            key,
            ..Default::default()
        }
    }

    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    pub fn set_key(&mut self, key: Key) {
        self.key = Some(key);
    }

    /// Takes a notice's body; the drill ID on success.
    pub fn accept(&mut self, body: &[u8], now: jiff::Timestamp) -> Result<String, Refusal> {
        self.forget(now);
        let signed: SignedNotice =
            serde_json::from_slice(body).map_err(|e| Refusal::Malformed(e.to_string()))?;
        let notice = &signed.notice;
        if !(16..=64).contains(&notice.drill_id.len())
            || !notice
                .drill_id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b'-')
            || !valid_name(&notice.namespace)
            || !valid_name(&notice.secret)
        {
            return Err(Refusal::Malformed(
                "drill ID, namespace or secret out of form".into(),
            ));
        }
        let key = self.key.as_ref().ok_or(Refusal::NoKey)?;
        if !verify(key, &signed) {
            return Err(Refusal::BadSignature);
        }
        if self.entries.contains_key(&notice.drill_id) {
            return Err(Refusal::Replayed(notice.drill_id.clone()));
        }
        if notice.not_after <= now {
            return Err(Refusal::Stale);
        }
        let skew = jiff::SignedDuration::try_from(CLOCK_SKEW).expect("small");
        if notice.issued_at > now.checked_add(skew).unwrap_or(now) {
            return Err(Refusal::Future);
        }
        let longest = jiff::SignedDuration::try_from(LONGEST_WINDOW).expect("small");
        if notice.not_after.duration_since(notice.issued_at) > longest
            || notice.not_after < notice.issued_at
        {
            return Err(Refusal::TooLong);
        }
        if self.entries.len() >= NOTICES_AT_MOST {
            return Err(Refusal::Full);
        }
        let id = notice.drill_id.clone();
        self.order.push_back(id.clone());
        self.entries.insert(
            id.clone(),
            Entry {
                notice: signed.notice,
                seen: None,
            },
        );
        Ok(id)
    }

    /// A stamp of `namespace/secret` seen at `now`: the drill it is, if an open notice of
    /// that Secret has not explained a stamp yet (the oldest such notice). None: an attack.
    pub fn claim(&mut self, namespace: &str, secret: &str, now: jiff::Timestamp) -> Option<String> {
        let skew = jiff::SignedDuration::try_from(CLOCK_SKEW).expect("small");
        let id = self.order.iter().find(|id| {
            self.entries.get(*id).is_some_and(|e| {
                e.seen.is_none()
                    && e.notice.namespace == namespace
                    && e.notice.secret == secret
                    && e.notice
                        .issued_at
                        .checked_sub(skew)
                        .unwrap_or(e.notice.issued_at)
                        <= now
                    && now <= e.notice.not_after
            })
        })?;
        let id = id.clone();
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.seen = Some((String::new(), now));
        }
        Some(id)
    }

    /// The alert that reported a claimed drill's stamp.
    pub fn reported(&mut self, drill_id: &str, alert_id: &str) {
        if let Some(Entry {
            seen: Some((alert, _)),
            ..
        }) = self.entries.get_mut(drill_id)
        {
            *alert = alert_id.to_string();
        }
    }

    pub fn status(&self, drill_id: &str, now: jiff::Timestamp) -> Option<NoticeStatus> {
        let entry = self.entries.get(drill_id)?;
        Some(match &entry.seen {
            Some((alert_id, at)) => NoticeStatus::Seen {
                alert_id: alert_id.clone(),
                seen_at: *at,
            },
            None if now > entry.notice.not_after => NoticeStatus::Expired,
            None => NoticeStatus::Pending,
        })
    }

    fn forget(&mut self, now: jiff::Timestamp) {
        let keep = jiff::SignedDuration::try_from(REMEMBERED_AFTER).expect("small");
        while let Some(id) = self.order.front() {
            let done = self
                .entries
                .get(id)
                .is_none_or(|e| e.notice.not_after.checked_add(keep).unwrap_or(now) < now);
            if !done {
                break;
            }
            let id = self.order.pop_front().expect("front exists");
            self.entries.remove(&id);
        }
    }
}

/// Why test-trigger could not announce its drill or confirm it with the watcher.
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error("--watcher {0}: give the http:// or https:// URL of the watcher's --listen address")]
    BadUrl(String),
    #[error("cannot reach the watcher at {url}: {why}")]
    Unreachable { url: String, why: String },
    #[error("the watcher at {url} refused the drill notice ({status}): {why}")]
    Refused {
        url: String,
        status: u16,
        why: String,
    },
    #[error("the watcher at {url} answered {status} to {what}")]
    Unexpected {
        url: String,
        status: u16,
        what: String,
    },
}

type HttpClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Full<hyper::body::Bytes>,
>;

/// The watcher's base URL, as given.
pub struct Watcher {
    base: String,
    client: HttpClient,
}

const CALL_TIMEOUT: Duration = Duration::from_secs(5);

impl Watcher {
    pub fn new(url: &str) -> Result<Watcher, NoticeError> {
        let parsed: http::Uri = url
            .parse()
            .map_err(|_| NoticeError::BadUrl(url.to_string()))?;
        if !matches!(parsed.scheme_str(), Some("http") | Some("https")) || parsed.host().is_none() {
            return Err(NoticeError::BadUrl(url.to_string()));
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(|e| NoticeError::Unreachable {
                url: url.to_string(),
                why: format!("no trusted CA certificates: {e}"),
            })?
            .https_or_http()
            .enable_http1()
            .build();
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        Ok(Watcher {
            base: url.trim_end_matches('/').to_string(),
            client,
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    async fn call(
        &self,
        method: http::Method,
        path: &str,
        body: Option<String>,
    ) -> Result<(u16, String), NoticeError> {
        use http_body_util::BodyExt;
        let uri = format!("{}{path}", self.base);
        let request = hyper::Request::builder()
            .method(method)
            .uri(&uri)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(http_body_util::Full::new(hyper::body::Bytes::from(
                body.unwrap_or_default(),
            )))
            .map_err(|_| NoticeError::BadUrl(self.base.clone()))?;
        let unreachable = |why: String| NoticeError::Unreachable {
            url: self.base.clone(),
            why,
        };
        let response = tokio::time::timeout(CALL_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| unreachable(format!("no answer within {}s", CALL_TIMEOUT.as_secs())))?
            .map_err(|e| unreachable(crate::ui::causes::chain(&e)))?;
        let status = response.status().as_u16();
        let body = tokio::time::timeout(CALL_TIMEOUT, response.into_body().collect())
            .await
            .map_err(|_| unreachable("the answer was not sent in time".into()))?
            .map_err(|e| unreachable(e.to_string()))?
            .to_bytes();
        let text = String::from_utf8_lossy(&body[..body.len().min(NOTICE_BODY_LIMIT)]);
        Ok((
            status,
            crate::ui::terminal::printable(text.trim()).into_owned(),
        ))
    }

    /// Tells the watcher that a drill of the decoy starts now, signed with `key`; the
    /// notice's drill ID, to ask the watcher later what it saw.
    pub async fn announce_drill(
        &self,
        key: &Key,
        spec: &crate::decoy::DecoySpec,
    ) -> Result<String, NoticeError> {
        let notice = notice_for(
            &spec.namespace,
            &spec.secret,
            jiff::Timestamp::now(),
            DRILL_NOTICE_WINDOW,
        );
        let id = notice.drill_id.clone();
        self.announce(&sign(key, notice)).await?;
        Ok(id)
    }

    /// Announces a drill; Ok once the watcher accepted the notice.
    pub async fn announce(&self, signed: &SignedNotice) -> Result<(), NoticeError> {
        let body = serde_json::to_string(signed).expect("a notice serializes");
        let (status, why) = self
            .call(http::Method::POST, "/drill-notices", Some(body))
            .await?;
        if status == 202 {
            Ok(())
        } else {
            Err(NoticeError::Refused {
                url: self.base.clone(),
                status,
                why,
            })
        }
    }

    /// What the watcher knows of the drill.
    pub async fn status(&self, drill_id: &str) -> Result<NoticeStatus, NoticeError> {
        let what = format!("GET /drill-notices/{drill_id}");
        let (status, body) = self
            .call(
                http::Method::GET,
                &format!("/drill-notices/{drill_id}"),
                None,
            )
            .await?;
        if status != 200 {
            return Err(NoticeError::Unexpected {
                url: self.base.clone(),
                status,
                what,
            });
        }
        serde_json::from_str(&body).map_err(|_| NoticeError::Unexpected {
            url: self.base.clone(),
            status,
            what,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key::from_bytes([3; 32])
    }

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    fn notice(id: &str, issued: &str, not_after: &str) -> DrillNotice {
        DrillNotice {
            drill_id: id.into(),
            namespace: "kube-system".into(),
            secret: "tiller-token-abcde".into(),
            issued_at: at(issued),
            not_after: at(not_after),
        }
    }

    fn body(key: &Key, notice: DrillNotice) -> Vec<u8> {
        serde_json::to_vec(&sign(key, notice)).unwrap()
    }

    const ID: &str = "0123456789abcdef0123456789abcdef";
    const T0: &str = "2026-12-03T10:00:00Z";
    const T1: &str = "2026-12-03T10:01:00Z";

    #[test]
    fn a_signed_notice_verifies_and_any_change_breaks_it() {
        let signed = sign(&key(), notice(ID, T0, T1));
        assert!(verify(&key(), &signed));
        assert!(!verify(&Key::from_bytes([4; 32]), &signed));
        let mut moved = signed.clone();
        moved.notice.secret = "other-token-xxxxx".into();
        assert!(!verify(&key(), &moved));
        let mut longer = signed.clone();
        longer.notice.not_after = at("2026-12-03T10:01:01Z");
        assert!(!verify(&key(), &longer));
        let mut garbage = signed;
        garbage.signature = "zz".into();
        assert!(!verify(&key(), &garbage));
    }

    #[test]
    fn the_book_refuses_forgeries_replays_stale_future_and_long_notices() {
        let now = at("2026-12-03T10:00:05Z");
        let mut book = DrillBook::new(Some(key()));
        let other = Key::from_bytes([9; 32]);
        assert_eq!(
            book.accept(&body(&other, notice(ID, T0, T1)), now),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            book.accept(&body(&key(), notice(ID, T0, T1)), now),
            Ok(ID.into())
        );
        assert_eq!(
            book.accept(&body(&key(), notice(ID, T0, T1)), now),
            Err(Refusal::Replayed(ID.into()))
        );
        let id2 = "1123456789abcdef0123456789abcdef";
        assert_eq!(
            book.accept(
                &body(
                    &key(),
                    notice(id2, "2026-12-03T09:00:00Z", "2026-12-03T09:01:00Z")
                ),
                now
            ),
            Err(Refusal::Stale)
        );
        assert_eq!(
            book.accept(
                &body(
                    &key(),
                    notice(id2, "2026-12-03T10:05:00Z", "2026-12-03T10:06:00Z")
                ),
                now
            ),
            Err(Refusal::Future)
        );
        assert_eq!(
            book.accept(&body(&key(), notice(id2, T0, "2026-12-03T10:30:00Z")), now),
            Err(Refusal::TooLong)
        );
        assert!(matches!(
            book.accept(b"{}", now),
            Err(Refusal::Malformed(_))
        ));
        let mut keyless = DrillBook::new(None);
        assert_eq!(
            keyless.accept(&body(&key(), notice(ID, T0, T1)), now),
            Err(Refusal::NoKey)
        );
    }

    #[test]
    fn a_notice_explains_one_stamp_of_its_secret_in_its_window() {
        let mut book = DrillBook::new(Some(key()));
        book.accept(&body(&key(), notice(ID, T0, T1)), at(T0))
            .unwrap();
        let stamp = at("2026-12-03T10:00:02Z");
        assert_eq!(book.status(ID, stamp), Some(NoticeStatus::Pending));
        // Another Secret's stamp is not this drill.
        assert_eq!(book.claim("kube-system", "other", stamp), None);
        assert_eq!(
            book.claim("kube-system", "tiller-token-abcde", stamp),
            Some(ID.into())
        );
        book.reported(ID, "alert-1");
        assert_eq!(
            book.status(ID, stamp),
            Some(NoticeStatus::Seen {
                alert_id: "alert-1".into(),
                seen_at: stamp
            })
        );
        // A second stamp in the same window is an attack.
        assert_eq!(
            book.claim(
                "kube-system",
                "tiller-token-abcde",
                at("2026-12-03T10:00:20Z")
            ),
            None
        );
    }

    #[test]
    fn a_stamp_after_the_window_is_an_attack_and_the_notice_expires() {
        let mut book = DrillBook::new(Some(key()));
        book.accept(&body(&key(), notice(ID, T0, T1)), at(T0))
            .unwrap();
        let late = at("2026-12-03T10:01:01Z");
        assert_eq!(book.claim("kube-system", "tiller-token-abcde", late), None);
        assert_eq!(book.status(ID, late), Some(NoticeStatus::Expired));
        assert_eq!(book.status("unknown", late), None);
        // Forgotten long after, so the book stays small.
        let id2 = "2123456789abcdef0123456789abcdef";
        let much_later = at("2026-12-03T11:00:00Z");
        book.accept(
            &body(
                &key(),
                notice(id2, "2026-12-03T10:59:50Z", "2026-12-03T11:00:30Z"),
            ),
            much_later,
        )
        .unwrap();
        assert_eq!(book.status(ID, much_later), None);
    }

    #[test]
    fn the_book_is_bounded() {
        let mut book = DrillBook::new(Some(key()));
        let now = at(T0);
        for n in 0..NOTICES_AT_MOST {
            book.accept(&body(&key(), notice(&format!("{n:032x}"), T0, T1)), now)
                .unwrap();
        }
        assert_eq!(
            book.accept(
                &body(&key(), notice(&format!("{:032x}", 999_999), T0, T1)),
                now
            ),
            Err(Refusal::Full)
        );
    }

    #[test]
    fn fresh_notices_carry_random_ids_and_a_bounded_window() {
        let now = at(T0);
        let a = notice_for("ns", "s", now, Duration::from_secs(600));
        let b = notice_for("ns", "s", now, Duration::from_secs(60));
        assert_ne!(a.drill_id, b.drill_id);
        assert_eq!(a.drill_id.len(), 32);
        assert_eq!(a.not_after, at("2026-12-03T10:02:00Z"));
        assert_eq!(b.not_after, T1.parse::<jiff::Timestamp>().unwrap());
    }
}
