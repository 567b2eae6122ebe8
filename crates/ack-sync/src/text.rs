//! Bounded, printable texts taken from remote answers (or from the failure to get one), for
//! error messages.

/// At most this many characters of a remote text go into an error.
pub(crate) const MAX_ERROR_TEXT: usize = 300;

/// `s` without control characters, cut to [`MAX_ERROR_TEXT`] characters (`…` marks a cut).
pub(crate) fn bounded(s: &str) -> String {
    let mut out = String::new();
    for (count, c) in s.chars().enumerate() {
        if count == MAX_ERROR_TEXT {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out.trim().to_owned()
}

/// A bounded text from raw bytes (lossy UTF-8).
pub(crate) fn bounded_bytes(b: &[u8]) -> String {
    // Never look at more than needed: 4 bytes per character at most.
    let cut = &b[..b.len().min(MAX_ERROR_TEXT * 4 + 4)];
    bounded(&String::from_utf8_lossy(cut))
}

/// The `message` of a JSON error body when there is one (PagerDuty `{"error":{"message"}}`,
/// Centreon `{"code","message"}`), else the bounded body itself.
pub(crate) fn error_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let msg = v
            .get("error")
            .and_then(|e| e.get("message"))
            .or_else(|| v.get("message"))
            .and_then(serde_json::Value::as_str);
        if let Some(m) = msg {
            let errors: Vec<&str> = v
                .get("error")
                .and_then(|e| e.get("errors"))
                .and_then(serde_json::Value::as_array)
                .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
                .unwrap_or_default();
            return if errors.is_empty() {
                bounded(m)
            } else {
                bounded(&format!("{m}: {}", errors.join("; ")))
            };
        }
    }
    bounded_bytes(body)
}

/// A transport failure in words, without the URL's query (which holds nothing secret anyway).
pub(crate) fn transport_detail(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "connection broken while reading the answer"
    } else if e.is_request() {
        "request failed"
    } else {
        "transport error"
    };
    let mut detail = what.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    bounded(&detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_texts() {
        assert_eq!(bounded("a\nb\u{7}c"), "a b c");
        let long = "x".repeat(1000);
        assert_eq!(bounded(&long).chars().count(), MAX_ERROR_TEXT + 1);
        assert_eq!(bounded_bytes(&[0xff, b'a']), "\u{fffd}a");
        assert_eq!(
            error_message(br#"{"error":{"message":"Invalid Input","errors":["bad"]}}"#),
            "Invalid Input: bad"
        );
        assert_eq!(
            error_message(br#"{"code":403,"message":"denied"}"#),
            "denied"
        );
        assert_eq!(error_message(b"<html>oops</html>"), "<html>oops</html>");
    }
}
