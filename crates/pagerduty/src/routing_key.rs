//! Routing keys (integration keys): validation and masking.
//!
//! Invariant: a routing key is a secret. No error, message or `Display` output of this module
//! contains the key or any part of it except the last four characters that
//! [`mask_routing_key`] deliberately shows.

use thiserror::Error;

/// Length of a PagerDuty Events API v2 routing key, in characters.
const ROUTING_KEY_CHARS: usize = 32;

/// Why a routing key is not a well-formed Events API v2 key. The texts never contain the key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RoutingKeyError {
    /// The key is empty.
    #[error("routing key is empty")]
    Empty,
    /// The key does not have 32 characters.
    #[error("routing key has {chars} characters, expected 32")]
    WrongLength {
        /// The number of characters (Unicode scalar values) the key has.
        chars: usize,
    },
    /// The key has a character other than an ASCII letter or digit.
    #[error("routing key has a character other than A-Z, a-z, 0-9 at position {position}")]
    InvalidCharacter {
        /// 1-based position of the first offending character.
        position: usize,
    },
}

/// Checks that `key` looks like an Events API v2 routing key: exactly 32 characters, each an
/// ASCII letter or digit (global-ruleset keys start with `R` and follow the same rule).
pub fn validate_routing_key(key: &str) -> Result<(), RoutingKeyError> {
    if key.is_empty() {
        return Err(RoutingKeyError::Empty);
    }
    if let Some(index) = key.chars().position(|c| !c.is_ascii_alphanumeric()) {
        return Err(RoutingKeyError::InvalidCharacter {
            position: index + 1,
        });
    }
    // All ASCII from here: bytes == chars.
    if key.len() != ROUTING_KEY_CHARS {
        return Err(RoutingKeyError::WrongLength { chars: key.len() });
    }
    Ok(())
}

/// Masks a routing key for logs and displays: `…` followed by its last four characters;
/// a key of four characters or fewer becomes `…` alone, and an empty key `(none)`.
pub fn mask_routing_key(key: &str) -> String {
    if key.is_empty() {
        return "(none)".to_owned();
    }
    let count = key.chars().count();
    if count <= 4 {
        return "…".to_owned();
    }
    let start = key
        .char_indices()
        .nth(count - 4)
        .map_or(key.len(), |(i, _)| i);
    format!("…{}", &key[start..])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    const KEY: &str = "R0123456789abcdefABCDEF012345678";

    #[test]
    fn valid_keys() {
        assert_eq!(KEY.len(), 32);
        assert_eq!(validate_routing_key(KEY), Ok(()));
        assert_eq!(validate_routing_key(&"a".repeat(32)), Ok(()));
    }

    #[test]
    fn invalid_keys_never_echo_the_key() {
        let cases = [
            ("", RoutingKeyError::Empty),
            ("abc", RoutingKeyError::WrongLength { chars: 3 }),
            (
                "R0123456789abcdefABCDEF0123456789",
                RoutingKeyError::WrongLength { chars: 33 },
            ),
            (
                "R0123456789abcdef ABCDEF01234567",
                RoutingKeyError::InvalidCharacter { position: 18 },
            ),
            (
                "R0123456789abcdefABCDEF01234567é",
                RoutingKeyError::InvalidCharacter { position: 32 },
            ),
            (
                "R0123456789abcdefABCDEF0123456-",
                RoutingKeyError::InvalidCharacter { position: 31 },
            ),
        ];
        for (key, expected) in cases {
            let err = validate_routing_key(key).unwrap_err();
            assert_eq!(err, expected, "{key:?}");
            let text = err.to_string();
            if key.len() > 3 {
                assert!(!text.contains(key), "{text}");
                assert!(!text.contains(&key[..8]), "{text}");
            }
        }
    }

    #[test]
    fn masking() {
        assert_eq!(mask_routing_key(KEY), "…5678");
        assert_eq!(mask_routing_key("abcde"), "…bcde");
        assert_eq!(mask_routing_key("abcd"), "…");
        assert_eq!(mask_routing_key("a"), "…");
        assert_eq!(mask_routing_key(""), "(none)");
        assert_eq!(mask_routing_key("xxéèàù"), "…éèàù");
        assert!(!mask_routing_key(KEY).contains("R0123"));
    }
}
