//! Why a listing failed, and how each answer is classified: [`RestError`] (retry later, or stop
//! and tell the operator), the status and headers of an answer turned into one. Owns no state;
//! never sees the token.

use crate::text::error_message;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::time::Duration;
use thiserror::Error;

/// Longest wait taken from a 429's headers; longer values are capped.
pub(super) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Why a listing failed. Texts never contain the token.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RestError {
    /// 429: the REST rate limit. Wait `retry_after` (from `ratelimit-reset` or `Retry-After`)
    /// when given, else back off.
    #[error("PagerDuty REST API rate limit reached (429){}", .retry_after.map(|d| format!(", retry in {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// The wait PagerDuty asked for, capped at one hour.
        retry_after: Option<Duration>,
    },
    /// 401: the API token is wrong or revoked (configuration).
    #[error("PagerDuty REST API refused the token (401): {message}; check sync.pagerduty_api_token_file")]
    Unauthorized {
        /// PagerDuty's message.
        message: String,
    },
    /// 403: the token may not read incidents (configuration).
    #[error("PagerDuty REST API forbids this token to list incidents (403): {message}")]
    Forbidden {
        /// PagerDuty's message.
        message: String,
    },
    /// Another 4xx (400 bad arguments, 402 ability missing, 404 wrong URL…): configuration or
    /// a bug; retrying the same request will not help.
    #[error("PagerDuty REST API rejected the listing ({status}): {message}")]
    Rejected {
        /// The status code.
        status: u16,
        /// PagerDuty's message.
        message: String,
    },
    /// 5xx (or an unexpected 1xx/3xx): PagerDuty's side; retry with backoff.
    #[error("PagerDuty REST API failed ({status}): {message}")]
    Server {
        /// The status code.
        status: u16,
        /// PagerDuty's message, when any.
        message: String,
    },
    /// No answer: DNS, connection, TLS, timeout, connection closed. Retry with backoff.
    #[error("PagerDuty REST API unreachable: {detail}")]
    Network {
        /// What failed.
        detail: String,
    },
    /// A 2xx whose body is not the documented JSON. Retry with backoff.
    #[error("PagerDuty REST API answered something unexpected: {detail}")]
    Malformed {
        /// What was wrong.
        detail: String,
    },
    /// The client could not be built (bad base URL, TLS setup).
    #[error("PagerDuty REST client: {detail}")]
    Setup {
        /// What failed.
        detail: String,
    },
}

impl RestError {
    /// Worth retrying later as is (rate limit, PagerDuty or network trouble, odd answer).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            RestError::RateLimited { .. }
                | RestError::Server { .. }
                | RestError::Network { .. }
                | RestError::Malformed { .. }
        )
    }

    /// The configuration must change before this can work: pause and say so loudly.
    pub fn is_config_error(&self) -> bool {
        !self.is_retryable()
    }

    /// The wait PagerDuty asked for, for a 429.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RestError::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

/// Status (and headers) to an error, or `Ok` for 2xx.
pub(super) fn classify(status: u16, headers: &HeaderMap, body: &[u8]) -> Result<(), RestError> {
    match status {
        200..=299 => Ok(()),
        429 => Err(RestError::RateLimited {
            retry_after: retry_after(headers),
        }),
        401 => Err(RestError::Unauthorized {
            message: error_message(body),
        }),
        403 => Err(RestError::Forbidden {
            message: error_message(body),
        }),
        400..=499 => Err(RestError::Rejected {
            status,
            message: error_message(body),
        }),
        _ => Err(RestError::Server {
            status,
            message: error_message(body),
        }),
    }
}

/// `ratelimit-reset` (seconds to wait, PagerDuty's header) else `Retry-After` (seconds).
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs = |name: &str| -> Option<f64> {
        let v = headers.get(name)?.to_str().ok()?.trim();
        let n: f64 = v.parse().ok()?;
        (n.is_finite() && n >= 0.0).then_some(n)
    };
    let n = secs("ratelimit-reset").or_else(|| secs(RETRY_AFTER.as_str()))?;
    Some(Duration::from_secs_f64(
        n.min(MAX_RETRY_AFTER.as_secs_f64()),
    ))
}
