//! Why a Centreon call failed, and how each answer is classified: retry later, stop and tell
//! the operator (configuration), or give up on that one request. Owns no state; the client
//! (`super`) turns answers into these.

use crate::text::error_message;
use thiserror::Error;

/// Why a Centreon call failed. Texts never contain the token nor the password.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CentreonError {
    /// 401 with an API token, 401 again after a new login, or a login refused: configuration.
    #[error("Centreon API refused the credentials ({status}): {message}")]
    Unauthorized {
        /// The status code.
        status: u16,
        /// Centreon's message and what to check.
        message: String,
    },
    /// 403: the API user may not acknowledge (configuration).
    #[error("Centreon API forbids this user to acknowledge (403): {message}; give the API user the right to acknowledge in Centreon")]
    Forbidden {
        /// Centreon's message.
        message: String,
    },
    /// Another 4xx: the request is refused as is (unknown resource, bad body); not retried.
    #[error("Centreon API rejected the request ({status}): {message}")]
    Rejected {
        /// The status code.
        status: u16,
        /// Centreon's message.
        message: String,
    },
    /// 5xx, 408, 429 (or an unexpected 1xx/3xx): retry with backoff.
    #[error("Centreon API failed ({status}): {message}")]
    Server {
        /// The status code.
        status: u16,
        /// Centreon's message, when any.
        message: String,
    },
    /// No answer: DNS, connection, TLS, timeout. Retry with backoff.
    #[error("Centreon API unreachable: {detail}")]
    Network {
        /// What failed.
        detail: String,
    },
    /// A login answer without `security.token`. Retry with backoff.
    #[error("Centreon API answered something unexpected: {detail}")]
    Malformed {
        /// What was wrong.
        detail: String,
    },
    /// The client could not be built (bad base URL, TLS setup).
    #[error("Centreon API client: {detail}")]
    Setup {
        /// What failed.
        detail: String,
    },
}

impl CentreonError {
    /// Worth retrying later as is.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CentreonError::Server { .. }
                | CentreonError::Network { .. }
                | CentreonError::Malformed { .. }
        )
    }

    /// The configuration (credentials, rights, URL) must change: pause and say so loudly.
    /// [`CentreonError::Rejected`] is neither: that one request will never pass.
    pub fn is_config_error(&self) -> bool {
        matches!(
            self,
            CentreonError::Unauthorized { .. }
                | CentreonError::Forbidden { .. }
                | CentreonError::Setup { .. }
        )
    }
}

/// A non-401 status of an API call to its outcome.
pub(super) fn done_or_error(status: u16, body: &[u8]) -> Result<(), CentreonError> {
    match status {
        200..=299 => Ok(()),
        403 => Err(CentreonError::Forbidden {
            message: error_message(body),
        }),
        401 => Err(CentreonError::Unauthorized {
            status,
            message: error_message(body),
        }),
        408 | 429 => Err(CentreonError::Server {
            status,
            message: error_message(body),
        }),
        400..=499 => Err(CentreonError::Rejected {
            status,
            message: error_message(body),
        }),
        _ => Err(CentreonError::Server {
            status,
            message: error_message(body),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert!(done_or_error(204, b"").is_ok());
        for (status, retry, config) in [
            (400u16, false, false),
            (404, false, false),
            (403, false, true),
            (401, false, true),
            (408, true, false),
            (429, true, false),
            (500, true, false),
            (503, true, false),
        ] {
            let e = done_or_error(status, b"").unwrap_err();
            assert_eq!(e.is_retryable(), retry, "{status}");
            assert_eq!(e.is_config_error(), config, "{status}");
        }
    }
}
