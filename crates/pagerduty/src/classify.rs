//! What to do with PagerDuty's answer (DESIGN §4.4).
//!
//! | Answer | [`Outcome`] |
//! |---|---|
//! | 2xx | [`Outcome::Delivered`] |
//! | 429 | [`Outcome::Throttled`] |
//! | 5xx, 408, 425; timeouts, connect/reset failures, TLS I/O errors | [`Outcome::Retry`] |
//! | 400 whose `message` or an `errors[]` item mentions the routing key | [`Outcome::RoutingKeyRejected`] |
//! | other 400 | [`Outcome::Rejected`] |
//! | 413 | [`Outcome::TooLarge`] |
//! | 401, 403, 404, other 4xx, 3xx, 1xx, anything else; TLS certificate/hostname failures | [`Outcome::ConfigError`] |
//!
//! Invariants: classification is total and never panics; every text in an [`Outcome`] is valid
//! UTF-8 on one line (control characters and whitespace runs become one space) and at most
//! [`MAX_MESSAGE_BYTES`] bytes. Response bodies are parsed leniently: PagerDuty's
//! `{"status","message","errors":[…]}` when it is there, else the body's text (HTML, proxy
//! pages, binary garbage, nothing).

use serde_json::Value;

use crate::text::one_line;

/// Upper bound, in bytes, of the texts carried by an [`Outcome`].
pub(crate) const MAX_MESSAGE_BYTES: usize = 1024;

/// Bodies larger than this are not parsed as JSON, only their beginning is quoted.
const MAX_PARSED_BODY: usize = 256 * 1024;

/// What the delivery worker does with an answer (DESIGN §4.4 table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: the event is delivered.
    Delivered,
    /// 429: pause the routing key (`throttle_min` doubling to `throttle_max`); not a failure.
    Throttled,
    /// 5xx, 408, 425, timeouts, connection reset/refused, TLS I/O errors: retry the same event
    /// with exponential backoff and jitter.
    Retry {
        /// Why, for logs and status (e.g. `HTTP 503: …`, `timeout: …`).
        reason: String,
    },
    /// 400 whose errors name the routing key: configuration error for that key; pause it, keep
    /// every event, log loudly.
    RoutingKeyRejected {
        /// PagerDuty's error text.
        message: String,
    },
    /// Other 400: this event is refused; dead-letter it with PagerDuty's error text and go on
    /// with the key's next event.
    Rejected {
        /// PagerDuty's error text.
        message: String,
    },
    /// 413: retry once with [`Event::to_body_shrunk`](crate::Event::to_body_shrunk), then
    /// dead-letter.
    TooLarge,
    /// 401, 403, 404, other 4xx, 3xx, TLS certificate or hostname failure: configuration error;
    /// pause the routing key, keep every event, log loudly.
    ConfigError {
        /// Why, for logs and status (e.g. `HTTP 403: …`).
        reason: String,
    },
}

impl Outcome {
    /// A stable snake_case name for metrics labels and logs: `delivered`, `throttled`, `retry`,
    /// `routing_key_rejected`, `rejected`, `too_large`, `config_error`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Throttled => "throttled",
            Outcome::Retry { .. } => "retry",
            Outcome::RoutingKeyRejected { .. } => "routing_key_rejected",
            Outcome::Rejected { .. } => "rejected",
            Outcome::TooLarge => "too_large",
            Outcome::ConfigError { .. } => "config_error",
        }
    }
}

/// Classifies an HTTP answer from the Events API by its status code and body.
///
/// A 400 "names the routing key" when PagerDuty's `message` or one of its `errors[]` items (or,
/// for a body that is not PagerDuty's JSON, the body's text) mentions `routing_key`,
/// `routing key` or `integration key`, ignoring case.
pub fn classify_response(status: u16, body: &[u8]) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        429 => Outcome::Throttled,
        413 => Outcome::TooLarge,
        400 => {
            let answer = ErrorAnswer::parse(body);
            let message = answer.text(MAX_MESSAGE_BYTES);
            let message = if message.is_empty() {
                "HTTP 400 with no error text".to_owned()
            } else {
                message
            };
            if answer.names_routing_key() {
                Outcome::RoutingKeyRejected { message }
            } else {
                Outcome::Rejected { message }
            }
        }
        408 | 425 | 500..=599 => Outcome::Retry {
            reason: status_reason(status, body),
        },
        _ => Outcome::ConfigError {
            reason: status_reason(status, body),
        },
    }
}

/// How a request failed before any HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportFailure {
    /// No answer within the timeout (the event may have been accepted: retrying is safe thanks
    /// to the dedup key).
    Timeout,
    /// Connection refused, DNS failure, unreachable network.
    Connect,
    /// Connection reset or closed mid-request.
    Reset,
    /// TLS handshake or record-layer I/O failure.
    TlsIo,
    /// The server's certificate or host name could not be verified.
    TlsCertificate,
    /// Any other failure of the HTTP client.
    Other,
}

impl TransportFailure {
    fn as_str(self) -> &'static str {
        match self {
            TransportFailure::Timeout => "timeout",
            TransportFailure::Connect => "connection failed",
            TransportFailure::Reset => "connection reset",
            TransportFailure::TlsIo => "TLS error",
            TransportFailure::TlsCertificate => "TLS certificate or hostname verification failed",
            TransportFailure::Other => "request failed",
        }
    }
}

/// Classifies a failure without an HTTP answer: certificate/hostname failures are
/// configuration errors, everything else is retried. `detail` (the client's error text) is
/// appended to the reason, on one line and bounded.
pub fn classify_transport(failure: TransportFailure, detail: &str) -> Outcome {
    let detail = one_line(detail.as_bytes(), MAX_MESSAGE_BYTES);
    let mut reason = failure.as_str().to_owned();
    if !detail.is_empty() {
        reason.push_str(": ");
        reason.push_str(&detail);
    }
    let reason = one_line(reason.as_bytes(), MAX_MESSAGE_BYTES);
    match failure {
        TransportFailure::TlsCertificate => Outcome::ConfigError { reason },
        _ => Outcome::Retry { reason },
    }
}

/// `HTTP <status>` followed by the answer's text, if any.
fn status_reason(status: u16, body: &[u8]) -> String {
    let text = ErrorAnswer::parse(body).text(MAX_MESSAGE_BYTES);
    let reason = if text.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {text}")
    };
    one_line(reason.as_bytes(), MAX_MESSAGE_BYTES)
}

/// The useful parts of an error answer.
enum ErrorAnswer {
    /// PagerDuty's JSON error object.
    Json {
        message: Option<String>,
        errors: Vec<String>,
    },
    /// Anything else: the body's text.
    Text(String),
}

impl ErrorAnswer {
    fn parse(body: &[u8]) -> ErrorAnswer {
        if body.len() <= MAX_PARSED_BODY {
            if let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) {
                let piece = |v: &Value| match v {
                    Value::String(s) => one_line(s.as_bytes(), MAX_MESSAGE_BYTES),
                    Value::Null => String::new(),
                    other => one_line(other.to_string().as_bytes(), MAX_MESSAGE_BYTES),
                };
                let message = obj.get("message").map(piece).filter(|s| !s.is_empty());
                let errors = match obj.get("errors") {
                    Some(Value::Array(items)) => items.iter().map(piece).collect(),
                    Some(other) => vec![piece(other)],
                    None => Vec::new(),
                };
                let errors: Vec<String> = errors.into_iter().filter(|s| !s.is_empty()).collect();
                if message.is_some() || !errors.is_empty() {
                    return ErrorAnswer::Json { message, errors };
                }
                // A JSON object without PagerDuty's fields: fall back to `status`, else the text.
                if let Some(status) = obj.get("status").map(piece).filter(|s| !s.is_empty()) {
                    return ErrorAnswer::Json {
                        message: Some(status),
                        errors: Vec::new(),
                    };
                }
            }
        }
        let head = &body[..body.len().min(4 * MAX_MESSAGE_BYTES)];
        ErrorAnswer::Text(one_line(head, MAX_MESSAGE_BYTES))
    }

    /// `message: error; error` (or the body's text), at most `max` bytes.
    fn text(&self, max: usize) -> String {
        match self {
            ErrorAnswer::Json { message, errors } => {
                let mut s = message.clone().unwrap_or_default();
                if !errors.is_empty() {
                    if !s.is_empty() {
                        s.push_str(": ");
                    }
                    for (i, e) in errors.iter().enumerate() {
                        if i > 0 {
                            s.push_str("; ");
                        }
                        s.push_str(e);
                        if s.len() > max {
                            break;
                        }
                    }
                }
                one_line(s.as_bytes(), max)
            }
            ErrorAnswer::Text(t) => one_line(t.as_bytes(), max),
        }
    }

    fn names_routing_key(&self) -> bool {
        match self {
            ErrorAnswer::Json { message, errors } => message
                .iter()
                .chain(errors.iter())
                .any(|s| mentions_routing_key(s)),
            ErrorAnswer::Text(t) => mentions_routing_key(t),
        }
    }
}

fn mentions_routing_key(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    ["routing_key", "routing key", "integration key"]
        .iter()
        .any(|needle| lower.contains(needle))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    const ROUTING_KEY_400: &str = r#"{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}"#;
    const SUMMARY_400: &str = r#"{"status":"invalid event","message":"Event object is invalid","errors":["'summary' is too long (maiximum is 1024 characters)"]}"#;

    fn assert_retry(o: Outcome, contains: &str) {
        match o {
            Outcome::Retry { reason } => assert!(reason.contains(contains), "{reason}"),
            other => panic!("expected Retry, got {other:?}"),
        }
    }

    fn assert_config(o: Outcome, contains: &str) {
        match o {
            Outcome::ConfigError { reason } => assert!(reason.contains(contains), "{reason}"),
            other => panic!("expected ConfigError, got {other:?}"),
        }
    }

    #[test]
    fn success() {
        let ok = br#"{"status":"success","message":"Event processed","dedup_key":"42_7"}"#;
        assert_eq!(classify_response(202, ok), Outcome::Delivered);
        assert_eq!(classify_response(200, b""), Outcome::Delivered);
        assert_eq!(classify_response(204, b"garbage"), Outcome::Delivered);
        assert_eq!(classify_response(299, b""), Outcome::Delivered);
    }

    #[test]
    fn throttled() {
        assert_eq!(
            classify_response(429, b"429 - Request Limit Exceeded"),
            Outcome::Throttled
        );
        assert_eq!(classify_response(429, b""), Outcome::Throttled);
    }

    #[test]
    fn retried() {
        let body = br#"{"status":"Unrecognized object","message":"Event object format is unrecognized","errors":["JSON parse error"]}"#;
        assert_retry(
            classify_response(500, body),
            "HTTP 500: Event object format is unrecognized: JSON parse error",
        );
        assert_retry(
            classify_response(502, b"<html><body>Bad Gateway</body></html>"),
            "HTTP 502",
        );
        assert_retry(classify_response(503, b""), "HTTP 503");
        assert_retry(classify_response(504, b"\xff\xfe\x00"), "HTTP 504");
        assert_retry(classify_response(599, b""), "HTTP 599");
        assert_retry(
            classify_response(408, b"Request Timeout"),
            "HTTP 408: Request Timeout",
        );
        assert_retry(classify_response(425, b""), "HTTP 425");
    }

    #[test]
    fn routing_key_rejected() {
        assert_eq!(
            classify_response(400, ROUTING_KEY_400.as_bytes()),
            Outcome::RoutingKeyRejected {
                message: "Event object is invalid: Length of 'routing_key' is incorrect (should be 32 characters)".into()
            }
        );
        for body in [
            r#"{"message":"Invalid Routing Key"}"#,
            r#"{"status":"invalid event","errors":["integration KEY not found"]}"#,
            r#"{"message":"x","errors":"routing_key missing"}"#,
            "Invalid routing key",
        ] {
            assert!(
                matches!(
                    classify_response(400, body.as_bytes()),
                    Outcome::RoutingKeyRejected { .. }
                ),
                "{body}"
            );
        }
        // `status` alone does not count when message/errors exist.
        assert!(matches!(
            classify_response(400, br#"{"status":"routing_key","message":"bad summary"}"#),
            Outcome::Rejected { .. }
        ));
    }

    #[test]
    fn rejected() {
        assert_eq!(
            classify_response(400, SUMMARY_400.as_bytes()),
            Outcome::Rejected {
                message:
                    "Event object is invalid: 'summary' is too long (maiximum is 1024 characters)"
                        .into()
            }
        );
        assert_eq!(
            classify_response(400, br#"{"errors":["'summary' is too long"]}"#),
            Outcome::Rejected {
                message: "'summary' is too long".into()
            }
        );
        assert_eq!(
            classify_response(400, b""),
            Outcome::Rejected {
                message: "HTTP 400 with no error text".into()
            }
        );
        assert_eq!(
            classify_response(400, b"<html>\n<h1>Bad Request</h1>\n</html>"),
            Outcome::Rejected {
                message: "<html> <h1>Bad Request</h1> </html>".into()
            }
        );
        assert_eq!(
            classify_response(400, br#"{"status":"invalid event"}"#),
            Outcome::Rejected {
                message: "invalid event".into()
            }
        );
        assert_eq!(
            classify_response(400, br#"{"message":"bad","errors":[{"field":"x"},null,3]}"#),
            Outcome::Rejected {
                message: r#"bad: {"field":"x"}; 3"#.into()
            }
        );
    }

    #[test]
    fn too_large() {
        assert_eq!(
            classify_response(413, b"Payload Too Large"),
            Outcome::TooLarge
        );
        assert_eq!(classify_response(413, b""), Outcome::TooLarge);
    }

    #[test]
    fn configuration_errors() {
        assert_config(
            classify_response(401, b"Unauthorized"),
            "HTTP 401: Unauthorized",
        );
        assert_config(classify_response(403, b""), "HTTP 403");
        assert_config(
            classify_response(404, b"<html>Not Found</html>"),
            "HTTP 404",
        );
        assert_config(classify_response(405, b""), "HTTP 405");
        assert_config(classify_response(422, b""), "HTTP 422");
        assert_config(classify_response(302, b""), "HTTP 302");
        assert_config(classify_response(301, b"Moved"), "HTTP 301: Moved");
        assert_config(classify_response(100, b""), "HTTP 100");
        assert_config(classify_response(0, b""), "HTTP 0");
        assert_config(classify_response(600, b""), "HTTP 600");
    }

    #[test]
    fn garbage_bodies_are_bounded_single_lines() {
        let huge = vec![b'x'; 10_000_000];
        let mut binary: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        binary.extend_from_slice(b"routing key");
        let huge_json = format!(
            r#"{{"message":"{}","errors":["{}"]}}"#,
            "m".repeat(5000),
            "e\\n".repeat(5000)
        );
        let many_errors = format!(r#"{{"errors":[{}]}}"#, vec!["\"err\""; 100_000].join(","));
        for body in [
            &huge[..],
            &binary[..],
            huge_json.as_bytes(),
            many_errors.as_bytes(),
            b"{\"message\":",
            b"[1,2,3]",
            b"\"string\"",
            b"null",
        ] {
            for status in [400, 401, 500, 302, 429, 202, 413] {
                let text = match classify_response(status, body) {
                    Outcome::Retry { reason } | Outcome::ConfigError { reason } => reason,
                    Outcome::Rejected { message } | Outcome::RoutingKeyRejected { message } => {
                        message
                    }
                    _ => continue,
                };
                assert!(text.len() <= MAX_MESSAGE_BYTES, "{} bytes", text.len());
                assert!(!text.chars().any(char::is_control), "{text:?}");
                assert!(!text.is_empty());
            }
        }
    }

    #[test]
    fn transport() {
        assert_retry(
            classify_transport(TransportFailure::Timeout, "operation timed out"),
            "timeout: operation timed out",
        );
        assert_retry(
            classify_transport(TransportFailure::Connect, "refused"),
            "refused",
        );
        assert_retry(
            classify_transport(TransportFailure::Reset, ""),
            "connection reset",
        );
        assert_retry(
            classify_transport(TransportFailure::TlsIo, "eof"),
            "TLS error: eof",
        );
        assert_retry(classify_transport(TransportFailure::Other, "x\ny"), "x y");
        assert_config(
            classify_transport(TransportFailure::TlsCertificate, "invalid peer certificate"),
            "invalid peer certificate",
        );
        let long = "d".repeat(100_000);
        match classify_transport(TransportFailure::Timeout, &long) {
            Outcome::Retry { reason } => assert!(reason.len() <= MAX_MESSAGE_BYTES),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn labels() {
        assert_eq!(Outcome::Delivered.label(), "delivered");
        assert_eq!(Outcome::TooLarge.label(), "too_large");
        assert_eq!(
            Outcome::RoutingKeyRejected {
                message: String::new()
            }
            .label(),
            "routing_key_rejected"
        );
    }
}
