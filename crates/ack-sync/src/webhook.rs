//! PagerDuty webhooks V3: signature verification, envelope parsing, replay guard.
//!
//! A V3 delivery is a `POST` whose body is `{"event":{"id","event_type","resource_type",
//! "occurred_at","agent","client","data"}}`; for `incident.acknowledged`, `data` is the incident
//! (`id`, `incident_key`, `status`…) and `agent` whoever acknowledged (`summary`). The
//! `X-PagerDuty-Signature` header holds one or more comma-separated `v1=<hex>` signatures, each
//! the HMAC-SHA256 of the raw body under one signing secret (several during a secret rotation).
//!
//! Contract:
//! - [`WebhookVerifier::verify`] accepts a body only if its length is at most
//!   [`MAX_BODY_BYTES`] and at least one `v1` signature of the header matches at least one of
//!   the configured secrets; the comparison is constant-time ([`hmac::Mac::verify_slice`]).
//!   Unknown signature versions are ignored; a header with no `v1=<64 hex>` entry at all is
//!   [`WebhookError::MalformedSignature`].
//! - [`WebhookVerifier::verify_and_parse`] verifies before it parses: an unsigned or badly
//!   signed body is never parsed.
//! - [`parse`] is total: any bytes give a [`WebhookEvent`] or a [`WebhookError::Malformed`],
//!   never a panic (fuzzed: `fuzz/fuzz_targets/webhook.rs`).
//! - [`ReplayGuard`] refuses an event id seen among the last `capacity` accepted ones, and an
//!   `occurred_at` older than `max_age` (or more than [`FUTURE_SKEW_SECS`] in the future).
//! - [`WebhookError::http_status`] gives the answer for the listener: 413 for a body over the
//!   limit, 401 for unsigned, badly signed or replayed requests, 400 for a signed body that is
//!   not a V3 event.

use crate::secret::Secret;
use crate::text::bounded;
use crate::time::parse_rfc3339;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use std::collections::{HashSet, VecDeque};
use std::time::Duration;
use thiserror::Error;

/// Largest webhook body accepted, in bytes. A V3 incident event is a few KB; PagerDuty bounds
/// its own payloads well below this.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The signature header (HTTP header names are case-insensitive).
pub const SIGNATURE_HEADER: &str = "X-PagerDuty-Signature";

/// An `occurred_at` this far ahead of "now" is still accepted (clock skew), in seconds.
pub const FUTURE_SKEW_SECS: i64 = 300;

/// Most signatures looked at in one header (PagerDuty sends one per active secret).
const MAX_SIGNATURES: usize = 16;

/// Longest signature header looked at, in bytes.
const MAX_HEADER_BYTES: usize = 4096;

type HmacSha256 = Hmac<Sha256>;

/// Why a webhook request is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WebhookError {
    /// The body is over [`MAX_BODY_BYTES`].
    #[error("webhook body too large ({len} bytes, limit {MAX_BODY_BYTES})")]
    TooLarge {
        /// The body's length (or the announced one).
        len: usize,
    },
    /// No `X-PagerDuty-Signature` header.
    #[error("webhook request without an X-PagerDuty-Signature header")]
    MissingSignature,
    /// The header holds no well-formed `v1=<64 hex digits>` signature.
    #[error("webhook X-PagerDuty-Signature header holds no v1 signature")]
    MalformedSignature,
    /// No signature matches any configured secret.
    #[error("webhook signature does not match any configured secret")]
    BadSignature,
    /// The event id was already accepted.
    #[error("webhook event {event_id} already received (replay)")]
    Replayed {
        /// The event id.
        event_id: String,
    },
    /// `occurred_at` is too old or too far in the future.
    #[error("webhook event {event_id} is out of the accepted time window ({age_secs}s old)")]
    Stale {
        /// The event id.
        event_id: String,
        /// now − occurred_at, in seconds (negative: in the future).
        age_secs: i64,
    },
    /// Signed, but not a V3 event envelope.
    #[error("webhook body is not a V3 event: {detail}")]
    Malformed {
        /// What was wrong.
        detail: String,
    },
    /// A verifier needs at least one non-empty secret.
    #[error("webhook verification needs at least one non-empty secret")]
    NoSecret,
}

impl WebhookError {
    /// The HTTP status the listener answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            WebhookError::TooLarge { .. } => 413,
            WebhookError::MissingSignature
            | WebhookError::MalformedSignature
            | WebhookError::BadSignature
            | WebhookError::Replayed { .. }
            | WebhookError::Stale { .. } => 401,
            WebhookError::Malformed { .. } => 400,
            WebhookError::NoSecret => 500,
        }
    }
}

/// An acknowledgement pushed by PagerDuty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckEvent {
    /// `event.id`: unique per event (the replay key).
    pub event_id: String,
    /// `event.occurred_at` as sent.
    pub occurred_at: String,
    /// `event.occurred_at` in Unix seconds.
    pub occurred_at_unix: i64,
    /// `event.data.id`: the incident.
    pub incident_id: String,
    /// `event.data.incident_key` when present and non-empty.
    pub incident_key: Option<String>,
    /// `event.agent.summary`: who acknowledged, when known.
    pub acknowledger: Option<String>,
}

/// A parsed V3 event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvent {
    /// `incident.acknowledged`.
    Acknowledged(AckEvent),
    /// Any other event type (`pagey.ping`, `incident.resolved`…): nothing to do, answer 2xx.
    Other {
        /// `event.id`.
        event_id: String,
        /// `event.event_type`.
        event_type: String,
    },
}

impl WebhookEvent {
    /// `event.id`.
    pub fn event_id(&self) -> &str {
        match self {
            WebhookEvent::Acknowledged(a) => &a.event_id,
            WebhookEvent::Other { event_id, .. } => event_id,
        }
    }
}

/// Checks `X-PagerDuty-Signature` against one or more secrets.
#[derive(Clone)]
pub struct WebhookVerifier {
    secrets: Vec<Secret>,
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("secrets", &self.secrets)
            .finish()
    }
}

impl WebhookVerifier {
    /// A verifier accepting signatures by any of `secrets` (several during a rotation).
    pub fn new(secrets: Vec<Secret>) -> Result<WebhookVerifier, WebhookError> {
        let secrets: Vec<Secret> = secrets
            .into_iter()
            .filter(|s| !s.expose().is_empty())
            .collect();
        if secrets.is_empty() {
            return Err(WebhookError::NoSecret);
        }
        Ok(WebhookVerifier { secrets })
    }

    /// Checks the body's size and signature (see the module's contract). `signature`: the
    /// header's raw value, `None` when absent.
    pub fn verify(&self, signature: Option<&[u8]>, body: &[u8]) -> Result<(), WebhookError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(WebhookError::TooLarge { len: body.len() });
        }
        let header = signature.ok_or(WebhookError::MissingSignature)?;
        let candidates = v1_signatures(header);
        if candidates.is_empty() {
            return Err(WebhookError::MalformedSignature);
        }
        for secret in &self.secrets {
            for candidate in &candidates {
                let Ok(mut mac) = HmacSha256::new_from_slice(secret.expose().as_bytes()) else {
                    continue;
                };
                mac.update(body);
                if mac.verify_slice(candidate).is_ok() {
                    return Ok(());
                }
            }
        }
        Err(WebhookError::BadSignature)
    }

    /// [`WebhookVerifier::verify`], then [`parse`].
    pub fn verify_and_parse(
        &self,
        signature: Option<&[u8]>,
        body: &[u8],
    ) -> Result<WebhookEvent, WebhookError> {
        self.verify(signature, body)?;
        parse(body)
    }
}

/// The `v1=<64 hex>` entries of a header, decoded (others ignored).
fn v1_signatures(header: &[u8]) -> Vec<[u8; 32]> {
    let header = &header[..header.len().min(MAX_HEADER_BYTES)];
    header
        .split(|&b| b == b',')
        .filter_map(|item| {
            let item = item.trim_ascii();
            let hex = item.strip_prefix(b"v1=")?;
            decode_hex32(hex)
        })
        .take(MAX_SIGNATURES)
        .collect()
}

fn decode_hex32(hex: &[u8]) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let nibble = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    };
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// The `v1=<hex>` signature of `body` under `secret`, as PagerDuty computes it (for tests and
/// tools that sign).
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    let mut out = String::from("v1=");
    if let Ok(mut mac) = HmacSha256::new_from_slice(secret.expose().as_bytes()) {
        mac.update(body);
        for b in mac.finalize().into_bytes() {
            out.push_str(&format!("{b:02x}"));
        }
    }
    out
}

#[derive(Deserialize)]
struct Envelope {
    event: WireEvent,
}

#[derive(Deserialize)]
struct WireEvent {
    id: String,
    event_type: String,
    #[serde(default)]
    occurred_at: Option<String>,
    #[serde(default)]
    agent: Option<WireRef>,
    #[serde(default)]
    data: Option<WireData>,
}

#[derive(Deserialize)]
struct WireRef {
    #[serde(default)]
    summary: Option<String>,
}

#[derive(Deserialize)]
struct WireData {
    #[serde(default)]
    id: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    incident_key: Option<String>,
}

/// Parses a V3 webhook body (only after [`WebhookVerifier::verify`]). `incident.acknowledged`
/// needs `event.id`, `event.occurred_at` (RFC 3339) and `event.data.id` with `data.type`
/// `incident` (when given); other event types need only `event.id` and `event.event_type`.
pub fn parse(body: &[u8]) -> Result<WebhookEvent, WebhookError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(WebhookError::TooLarge { len: body.len() });
    }
    let malformed = |detail: String| WebhookError::Malformed {
        detail: bounded(&detail),
    };
    let env: Envelope =
        serde_json::from_slice(body).map_err(|e| malformed(format!("not a V3 envelope: {e}")))?;
    let ev = env.event;
    if ev.id.is_empty() {
        return Err(malformed("empty event.id".into()));
    }
    if ev.event_type != "incident.acknowledged" {
        return Ok(WebhookEvent::Other {
            event_id: bounded(&ev.id),
            event_type: bounded(&ev.event_type),
        });
    }
    let occurred_at = ev
        .occurred_at
        .ok_or_else(|| malformed("incident.acknowledged without event.occurred_at".into()))?;
    let occurred_at_unix = parse_rfc3339(&occurred_at).ok_or_else(|| {
        malformed(format!(
            "event.occurred_at {occurred_at:?} is not a date-time"
        ))
    })?;
    let data = ev
        .data
        .ok_or_else(|| malformed("incident.acknowledged without event.data".into()))?;
    if let Some(kind) = data.kind.as_deref() {
        if kind != "incident" {
            return Err(malformed(format!(
                "incident.acknowledged with data.type {kind:?}"
            )));
        }
    }
    let incident_id = data
        .id
        .filter(|i| !i.is_empty())
        .ok_or_else(|| malformed("incident.acknowledged without event.data.id".into()))?;
    Ok(WebhookEvent::Acknowledged(AckEvent {
        event_id: ev.id,
        occurred_at,
        occurred_at_unix,
        incident_id,
        incident_key: data.incident_key.filter(|k| !k.is_empty()),
        acknowledger: ev
            .agent
            .and_then(|a| a.summary)
            .filter(|s| !s.trim().is_empty()),
    }))
}

/// Refuses replayed and stale events: a bounded memory of the last accepted event ids and a
/// maximum age of `occurred_at`. Not persistent: after a restart only the age check remains.
#[derive(Debug, Clone)]
pub struct ReplayGuard {
    capacity: usize,
    max_age: Duration,
    seen: HashSet<String>,
    order: VecDeque<String>,
}

impl ReplayGuard {
    /// Remembers up to `capacity` (at least 1) event ids; refuses events older than `max_age`.
    pub fn new(capacity: usize, max_age: Duration) -> ReplayGuard {
        ReplayGuard {
            capacity: capacity.max(1),
            max_age,
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Checks an event that occurred at `occurred_at_unix` against `now_unix`, and remembers its
    /// id when accepted.
    pub fn check(
        &mut self,
        event_id: &str,
        occurred_at_unix: i64,
        now_unix: i64,
    ) -> Result<(), WebhookError> {
        let age = now_unix.saturating_sub(occurred_at_unix);
        let max_age = i64::try_from(self.max_age.as_secs()).unwrap_or(i64::MAX);
        if age > max_age || age < -FUTURE_SKEW_SECS {
            return Err(WebhookError::Stale {
                event_id: bounded(event_id),
                age_secs: age,
            });
        }
        if self.seen.contains(event_id) {
            return Err(WebhookError::Replayed {
                event_id: bounded(event_id),
            });
        }
        if self.order.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.seen.insert(event_id.to_owned());
        self.order.push_back(event_id.to_owned());
        Ok(())
    }

    /// Ids remembered now.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Nothing remembered yet.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_headers() {
        assert_eq!(decode_hex32(&[b'0'; 63]), None);
        assert_eq!(decode_hex32(&[b'g'; 64]), None);
        assert_eq!(decode_hex32(&[b'F'; 64]), Some([0xff; 32]));
        let h = format!("v0=abc, v1={}, junk,v1={}", "a".repeat(64), "b".repeat(64));
        assert_eq!(v1_signatures(h.as_bytes()).len(), 2);
        assert!(v1_signatures(b"v1=zz").is_empty());
    }

    #[test]
    fn sign_matches_a_known_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign(&Secret::new("Jefe"), b"what do ya want for nothing?"),
            "v1=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn replay_guard_is_bounded() {
        let mut g = ReplayGuard::new(2, Duration::from_secs(60));
        g.check("a", 100, 100).unwrap();
        assert!(matches!(
            g.check("a", 100, 100),
            Err(WebhookError::Replayed { .. })
        ));
        g.check("b", 100, 100).unwrap();
        g.check("c", 100, 100).unwrap();
        assert_eq!(g.len(), 2);
        // "a" was forgotten; the age check still holds.
        g.check("a", 100, 120).unwrap();
        assert!(matches!(
            g.check("d", 0, 100),
            Err(WebhookError::Stale { .. })
        ));
        assert!(matches!(
            g.check("e", 1000, 100),
            Err(WebhookError::Stale { .. })
        ));
        g.check("f", 350, 100).unwrap();
    }
}
