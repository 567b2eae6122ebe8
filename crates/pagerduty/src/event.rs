//! Events API v2 alert events as the rest of the daemon builds and stores them.
//!
//! These types hold what the rules *want* to send, possibly over the API limits; serde
//! (de)serialisation of them is lossless so that the spool can store them as they are. What goes
//! on the wire is produced by [`Event::to_body`], which applies the limits (see the crate docs).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::body::{render, RenderOptions};
use crate::routing_key::mask_routing_key;
use crate::text::truncate_chars;
use crate::{MAX_BODY_BYTES, SHRUNK_DETAILS_BYTES};

/// `event_action` of an alert event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Open an alert, or add to the open alert of the same dedup key.
    Trigger,
    /// Acknowledge the open alert of the dedup key.
    Acknowledge,
    /// Resolve the open alert of the dedup key.
    Resolve,
}

impl Action {
    /// The wire name: `trigger`, `acknowledge` or `resolve`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Trigger => "trigger",
            Action::Acknowledge => "acknowledge",
            Action::Resolve => "resolve",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not one of `trigger`, `acknowledge`, `resolve`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown event action {given:?}: expected one of trigger, acknowledge, resolve")]
pub struct ParseActionError {
    /// The text given, cut to 64 characters.
    pub given: String,
}

impl FromStr for Action {
    type Err = ParseActionError;

    /// Parses the wire name, ignoring ASCII case and surrounding whitespace.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        [Action::Trigger, Action::Acknowledge, Action::Resolve]
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| ParseActionError {
                given: truncate_chars(s, 64).into_owned(),
            })
    }
}

/// `payload.severity` of a trigger.
///
/// Ordered by gravity: `Info < Warning < Error < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// `critical`
    Critical,
    /// `error`
    Error,
    /// `warning`
    Warning,
    /// `info`
    Info,
}

impl Severity {
    /// All severities, from the most to the least grave.
    pub const ALL: [Severity; 4] = [
        Severity::Critical,
        Severity::Error,
        Severity::Warning,
        Severity::Info,
    ];

    /// The wire name: `critical`, `error`, `warning` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    fn rank(self) -> u8 {
        match self {
            Severity::Info => 0,
            Severity::Warning => 1,
            Severity::Error => 2,
            Severity::Critical => 3,
        }
    }
}

impl PartialOrd for Severity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Severity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not one of `critical`, `error`, `warning`, `info`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown severity {given:?}: expected one of critical, error, warning, info")]
pub struct ParseSeverityError {
    /// The text given, cut to 64 characters.
    pub given: String,
}

impl FromStr for Severity {
    type Err = ParseSeverityError;

    /// Parses the wire name, ignoring ASCII case and surrounding whitespace.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Severity::ALL
            .into_iter()
            .find(|sev| sev.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| ParseSeverityError {
                given: truncate_chars(s, 64).into_owned(),
            })
    }
}

/// A link shown on the alert (`links[]`). Links with an empty `href` are dropped from bodies
/// (PagerDuty answers 400 to them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// Target URL.
    pub href: String,
    /// Text shown instead of the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// `payload` of a trigger. `None` fields are omitted when serialised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    /// Alert title; cut to [`MAX_SUMMARY_CHARS`](crate::MAX_SUMMARY_CHARS) in bodies.
    pub summary: String,
    /// Affected system, usually the host name.
    pub source: String,
    /// Alert severity.
    pub severity: Severity,
    /// When the problem was detected, `YYYY-MM-DDTHH:MM:SSZ` (see
    /// [`format_timestamp`](crate::format_timestamp)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Affected component (service description, or host name for hosts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// Logical group (host groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Class of the event (`host` or `service`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Free-form details; shrunk in bodies when the body would be too large.
    #[serde(default)]
    pub custom_details: serde_json::Map<String, serde_json::Value>,
}

/// One alert event, as the rules produce it and the spool stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The integration key (a secret: see [`Event::to_masked_json`]).
    pub routing_key: String,
    /// Trigger, acknowledge or resolve.
    pub event_action: Action,
    /// The alert's deduplication key, as rendered by the rules (hashed in bodies when over
    /// 255 bytes, see [`dedup_key_within_limit`](crate::dedup_key_within_limit)).
    pub dedup_key: String,
    /// Required for triggers, ignored for acknowledge and resolve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
    /// Links (triggers only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    /// Name of the sending tool (triggers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// URL of the sending tool (triggers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_url: Option<String>,
}

impl Event {
    /// An acknowledge or resolve: the routing key, dedup key and action only.
    pub fn action_only(action: Action, routing_key: &str, dedup_key: &str) -> Event {
        Event {
            routing_key: routing_key.to_owned(),
            event_action: action,
            dedup_key: dedup_key.to_owned(),
            payload: None,
            links: Vec::new(),
            client: None,
            client_url: None,
        }
    }

    /// The JSON body to POST, always within the API limits.
    ///
    /// - acknowledge/resolve: only `routing_key`, `dedup_key` and `event_action`;
    /// - trigger: `summary` cut to 1024 characters (first 1023 + `…`); a `dedup_key` over
    ///   255 UTF-8 bytes replaced by [`dedup_key_within_limit`](crate::dedup_key_within_limit);
    ///   other strings (and the routing key) capped to
    ///   [`MAX_FIELD_CHARS`](crate::MAX_FIELD_CHARS) with the same `…` rule; links with an
    ///   empty `href` dropped (and, should links alone grow past 64 KiB, the last ones too); empty
    ///   `links`, empty `custom_details` and `None` fields omitted;
    /// - `custom_details` shrunk when the whole body would exceed
    ///   [`MAX_BODY_BYTES`](crate::MAX_BODY_BYTES): largest entries first, a string value is
    ///   cut with `…` (to just what fits when it can absorb the excess, else to a short
    ///   prefix), any other value is replaced by a short marker string such as
    ///   `"[12345 bytes removed]"`, and if that is not enough whole keys are dropped, largest
    ///   first; `"_truncated": true` is then added. Values nested deeper than 64 levels are
    ///   replaced by a marker whatever the size (so the body stays parseable by common JSON
    ///   parsers).
    ///
    /// Runs in time roughly linear in the size of the event (each detail value is encoded
    /// once).
    pub fn to_body(&self) -> Vec<u8> {
        render(
            self,
            &RenderOptions {
                max_body: MAX_BODY_BYTES,
                max_details: None,
                shown_routing_key: None,
            },
        )
    }

    /// Like [`Event::to_body`], but with `custom_details` shrunk (same rules) to at most
    /// [`SHRUNK_DETAILS_BYTES`](crate::SHRUNK_DETAILS_BYTES) encoded bytes: the body for the one
    /// retry after a 413 answer.
    pub fn to_body_shrunk(&self) -> Vec<u8> {
        render(
            self,
            &RenderOptions {
                max_body: MAX_BODY_BYTES,
                max_details: Some(SHRUNK_DETAILS_BYTES),
                shown_routing_key: None,
            },
        )
    }

    /// The same JSON as [`Event::to_body`] (same fields, same shrinking decisions) with the
    /// routing key replaced by [`mask_routing_key`](crate::mask_routing_key): for logs, dry
    /// runs and `translate` output.
    pub fn to_masked_json(&self) -> String {
        let masked = mask_routing_key(&self.routing_key);
        let bytes = render(
            self,
            &RenderOptions {
                max_body: MAX_BODY_BYTES,
                max_details: None,
                shown_routing_key: Some(&masked),
            },
        );
        // The renderer only ever writes valid UTF-8; the lossy conversion never replaces.
        match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn action_names() {
        assert_eq!(Action::Trigger.as_str(), "trigger");
        assert_eq!(Action::Acknowledge.to_string(), "acknowledge");
        assert_eq!(Action::Resolve.to_string(), "resolve");
        assert_eq!(" Resolve ".parse::<Action>(), Ok(Action::Resolve));
        let err = "close".parse::<Action>().unwrap_err().to_string();
        assert!(err.contains("trigger, acknowledge, resolve"), "{err}");
        assert_eq!(
            serde_json::to_string(&Action::Acknowledge).unwrap(),
            "\"acknowledge\""
        );
    }

    #[test]
    fn severity_names_and_order() {
        for s in Severity::ALL {
            assert_eq!(s.as_str().parse::<Severity>(), Ok(s));
            assert_eq!(s.to_string(), s.as_str());
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!("CRITICAL".parse::<Severity>(), Ok(Severity::Critical));
        let err = "high".parse::<Severity>().unwrap_err().to_string();
        assert!(err.contains("critical, error, warning, info"), "{err}");
        assert!(err.contains("high"), "{err}");
        assert!(Severity::Critical > Severity::Error);
        assert!(Severity::Error > Severity::Warning);
        assert!(Severity::Warning > Severity::Info);
        assert_eq!(Severity::ALL.iter().max(), Some(&Severity::Critical));
    }

    #[test]
    fn serde_roundtrip_omits_none() {
        let e = Event {
            routing_key: "k".into(),
            event_action: Action::Resolve,
            dedup_key: "d".into(),
            payload: None,
            links: vec![],
            client: None,
            client_url: None,
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"routing_key":"k","event_action":"resolve","dedup_key":"d"}"#
        );
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
        let link = Link {
            href: "h".into(),
            text: None,
        };
        assert_eq!(serde_json::to_string(&link).unwrap(), r#"{"href":"h"}"#);
    }
}
