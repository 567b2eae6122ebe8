//! Text helpers: character-safe truncation, dedup-key hashing, timestamp formatting.
//!
//! Invariants: every function here cuts only at `char` boundaries (results are always valid
//! UTF-8), never panics, and is deterministic.

use std::borrow::Cow;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::MAX_DEDUP_KEY_BYTES;

/// The mark appended to every cut text.
pub(crate) const ELLIPSIS: char = '…';

/// Cuts `s` to at most `max_chars` Unicode scalar values: when `s` is longer, the result is its
/// first `max_chars - 1` characters followed by `…`; otherwise `s` itself is returned, borrowed.
/// With `max_chars == 0` a non-empty `s` becomes the empty string.
pub fn truncate_chars(s: &str, max_chars: usize) -> Cow<'_, str> {
    if max_chars == 0 {
        return if s.is_empty() {
            Cow::Borrowed(s)
        } else {
            Cow::Borrowed("")
        };
    }
    // Cheap exit: a string of at most `max_chars` bytes has at most `max_chars` chars.
    if s.len() <= max_chars {
        return Cow::Borrowed(s);
    }
    match s.char_indices().nth(max_chars) {
        None => Cow::Borrowed(s),
        Some(_) => {
            // `nth(max_chars)` exists, so `nth(max_chars - 1)` exists too.
            let cut = s
                .char_indices()
                .nth(max_chars - 1)
                .map_or(s.len(), |(i, _)| i);
            let mut out = String::with_capacity(cut + ELLIPSIS.len_utf8());
            out.push_str(&s[..cut]);
            out.push(ELLIPSIS);
            Cow::Owned(out)
        }
    }
}

/// Cuts `s` to at most `max_bytes` UTF-8 bytes, ending with `…` when cut (the ellipsis counts
/// in the limit). With `max_bytes` smaller than the ellipsis, the result may be empty.
pub(crate) fn truncate_bytes(s: &str, max_bytes: usize) -> Cow<'_, str> {
    if s.len() <= max_bytes {
        return Cow::Borrowed(s);
    }
    let room = max_bytes.saturating_sub(ELLIPSIS.len_utf8());
    let mut cut = room.min(s.len());
    while cut > 0 && !s.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = String::with_capacity(cut + ELLIPSIS.len_utf8());
    out.push_str(&s[..cut]);
    if max_bytes >= ELLIPSIS.len_utf8() {
        out.push(ELLIPSIS);
    }
    Cow::Owned(out)
}

/// Returns `key` unchanged when it is at most [`MAX_DEDUP_KEY_BYTES`] (255) UTF-8 bytes long;
/// otherwise `"sha256-"` followed by the 64 lowercase hex digits of SHA-256 of the key's UTF-8
/// bytes (71 bytes in all). Never truncates: truncated keys could collide.
pub fn dedup_key_within_limit(key: &str) -> String {
    if key.len() <= MAX_DEDUP_KEY_BYTES {
        return key.to_owned();
    }
    let digest = Sha256::digest(key.as_bytes());
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256-");
    for byte in digest {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Seconds from 1970-01-01T00:00:00Z to 0000-01-01T00:00:00Z (proleptic Gregorian).
const MIN_TIMESTAMP: i64 = -62_167_219_200;
/// Seconds from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
const MAX_TIMESTAMP: i64 = 253_402_300_799;

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (UTC, proleptic Gregorian calendar).
/// Values before year 0000 or after year 9999 are clamped to `0000-01-01T00:00:00Z` and
/// `9999-12-31T23:59:59Z`, so the result is always 20 ASCII characters.
pub fn format_timestamp(unix_seconds: i64) -> String {
    let t = unix_seconds.clamp(MIN_TIMESTAMP, MAX_TIMESTAMP);
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (year, month 1..=12, day 1..=31).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Makes a text fit for a log line or an error message: invalid UTF-8 replaced, control
/// characters and runs of whitespace turned into one space, trimmed, at most `max_bytes`
/// bytes (cut with `…`).
pub(crate) fn one_line(raw: &[u8], max_bytes: usize) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len().min(max_bytes.saturating_add(4)));
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
        if out.len() > max_bytes {
            break;
        }
    }
    match truncate_bytes(&out, max_bytes) {
        Cow::Borrowed(_) => out,
        Cow::Owned(cut) => cut,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn truncate_keeps_short_strings_borrowed() {
        assert!(matches!(truncate_chars("abc", 3), Cow::Borrowed("abc")));
        assert!(matches!(truncate_chars("", 0), Cow::Borrowed("")));
        assert_eq!(truncate_chars("éèà", 3), "éèà");
    }

    #[test]
    fn truncate_cuts_at_char_boundaries() {
        assert_eq!(truncate_chars("abcd", 3), "ab…");
        assert_eq!(truncate_chars("éèàù", 3), "éè…");
        assert_eq!(truncate_chars("日本語テキスト", 4), "日本語…");
        assert_eq!(truncate_chars("👍👍👍", 2), "👍…");
        assert_eq!(truncate_chars("abc", 1), "…");
        assert_eq!(truncate_chars("abc", 0), "");
        // 5 bytes but 3 chars: fits.
        assert_eq!(truncate_chars("aéé", 3), "aéé");
    }

    #[test]
    fn truncate_summary_rule() {
        let s = "x".repeat(2000);
        let t = truncate_chars(&s, 1024);
        assert_eq!(t.chars().count(), 1024);
        assert!(t.starts_with(&"x".repeat(1023)));
        assert!(t.ends_with('…'));
        let exact = "é".repeat(1024);
        assert_eq!(truncate_chars(&exact, 1024), exact);
        let over = "é".repeat(1025);
        assert_eq!(truncate_chars(&over, 1024).chars().count(), 1024);
    }

    #[test]
    fn truncate_bytes_at_boundaries() {
        assert_eq!(truncate_bytes("abc", 3), "abc");
        assert_eq!(truncate_bytes("abcdef", 5), "ab…");
        assert_eq!(truncate_bytes("ééé", 5), "é…");
        assert_eq!(truncate_bytes("ééé", 4), "…"); // 1 byte left: no room for an "é"
        assert_eq!(truncate_bytes("éééé", 7), "éé…");
        assert_eq!(truncate_bytes("abc", 1), "");
    }

    #[test]
    fn dedup_key_kept_up_to_255_bytes() {
        let k = "a".repeat(255);
        assert_eq!(dedup_key_within_limit(&k), k);
        assert_eq!(dedup_key_within_limit(""), "");
        assert_eq!(dedup_key_within_limit("42_H"), "42_H");
    }

    #[test]
    fn dedup_key_hashed_from_256_bytes() {
        let k = "a".repeat(256);
        let h = dedup_key_within_limit(&k);
        assert_eq!(h.len(), 71);
        assert!(h.starts_with("sha256-"));
        assert!(h[7..]
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        // Deterministic and distinct.
        assert_eq!(h, dedup_key_within_limit(&k));
        assert_ne!(h, dedup_key_within_limit(&"a".repeat(257)));
    }

    #[test]
    fn dedup_key_known_digest() {
        // sha256("a" * 256), computed independently.
        let h = dedup_key_within_limit(&"a".repeat(256));
        assert_eq!(
            h,
            "sha256-02d7160d77e18c6447be80c2e355c7ed4388545271702c50253b0914c65ce5fe"
        );
    }

    #[test]
    fn dedup_key_counts_bytes_not_chars() {
        // 128 × 'é' = 256 bytes but 128 chars: hashed.
        let k = "é".repeat(128);
        assert!(dedup_key_within_limit(&k).starts_with("sha256-"));
        // 127 × 'é' + 'a' = 255 bytes: kept.
        let k = format!("{}a", "é".repeat(127));
        assert_eq!(k.len(), 255);
        assert_eq!(dedup_key_within_limit(&k), k);
        // 85 × '€' (3 bytes) = 255 bytes: kept; one more: hashed.
        let k = "€".repeat(85);
        assert_eq!(dedup_key_within_limit(&k), k);
        assert!(dedup_key_within_limit(&"€".repeat(86)).starts_with("sha256-"));
    }

    #[test]
    fn timestamps() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_timestamp(1_781_000_000), "2026-06-09T10:13:20Z");
        assert_eq!(format_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_timestamp(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(format_timestamp(951_868_800), "2000-03-01T00:00:00Z");
        assert_eq!(format_timestamp(1_709_164_800), "2024-02-29T00:00:00Z");
        assert_eq!(format_timestamp(1_735_603_200), "2024-12-31T00:00:00Z");
        assert_eq!(format_timestamp(4_107_456_000), "2100-02-28T00:00:00Z");
        assert_eq!(format_timestamp(4_107_542_400), "2100-03-01T00:00:00Z"); // 2100 is not leap
        assert_eq!(format_timestamp(-1), "1969-12-31T23:59:59Z");
        assert_eq!(format_timestamp(-86_400), "1969-12-31T00:00:00Z");
        assert_eq!(format_timestamp(-2_208_988_800), "1900-01-01T00:00:00Z");
        assert_eq!(format_timestamp(MIN_TIMESTAMP), "0000-01-01T00:00:00Z");
        assert_eq!(format_timestamp(MAX_TIMESTAMP), "9999-12-31T23:59:59Z");
        assert_eq!(format_timestamp(i64::MIN), "0000-01-01T00:00:00Z");
        assert_eq!(format_timestamp(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(format_timestamp(MIN_TIMESTAMP - 1), "0000-01-01T00:00:00Z");
        assert_eq!(format_timestamp(MAX_TIMESTAMP + 1), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn timestamps_roundtrip_day_by_day() {
        // Every day boundary from 1600 to 2400 advances the date by exactly one day.
        let mut prev = civil_from_days(-135_140); // 1600-01-01
        assert_eq!(prev, (1600, 1, 1));
        for d in -135_139..157_000 {
            let cur = civil_from_days(d);
            let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let month_len = match prev.1 {
                2 if leap(prev.0) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            let expected = if prev.2 < month_len {
                (prev.0, prev.1, prev.2 + 1)
            } else if prev.1 < 12 {
                (prev.0, prev.1 + 1, 1)
            } else {
                (prev.0 + 1, 1, 1)
            };
            assert_eq!(cur, expected, "day {d}");
            prev = cur;
        }
    }

    #[test]
    fn one_line_sanitises() {
        assert_eq!(one_line(b"  a\n\tb\x00c  ", 100), "a b c");
        assert_eq!(one_line(b"\xff\xfeok", 100), "\u{fffd}\u{fffd}ok");
        let long = "é".repeat(2000);
        let s = one_line(long.as_bytes(), 1024);
        assert!(s.len() <= 1024);
        assert!(s.ends_with('…'));
        assert_eq!(one_line(b"", 10), "");
    }
}
