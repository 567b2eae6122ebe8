//! Nagios/Centreon performance data ("perfdata") parser.
//!
//! Format (Nagios plugin guidelines, as Centreon Engine passes it on): metrics separated by
//! whitespace, each `label=value[UOM];[warn];[crit];[min];[max]`.
//!
//! - A label may be quoted with single quotes, and may then contain spaces and `=`; `''` inside
//!   quotes is an escaped quote (`'it''s'` is the label `it's`). An unquoted label runs to the
//!   first `=`.
//! - Numbers: optional sign, digits with an optional decimal separator (`.` or `,`: Centreon
//!   plugins running under a French locale print `0,263ms`), optional exponent (`1e3`); `.5`,
//!   `+5`, `-5` are accepted. The unit of measure is whatever follows the value's number
//!   (`s`, `ms`, `%`, `B`, `KB`, `c`, `o`, `b/s`, `°C`, …); it may not start with a digit, a
//!   sign or a separator (so `1.2.3` and `1,000,000` are refused rather than misread) and may
//!   not contain `=` or `'`.
//! - Empty fields (`;;;`) and missing trailing fields are `None`; fields after `max` are
//!   ignored.
//!
//! Invariants:
//! - [`parse`] never panics, whatever its input, and returns metrics in input order.
//! - Every returned [`Metric`] has a non-empty label and a finite value; `min`/`max`, when
//!   present, are finite.
//! - A metric whose value is `U` (unknown), missing, unparseable or not finite (overflowing to
//!   infinity) is skipped; the other metrics are kept. A `min`/`max` that does not parse is
//!   `None` and does not cost the metric.
//! - `warn` and `crit` are kept as the raw range text, except that a decimal comma is
//!   normalised to a dot (`3000,000` → `3000.000`) so that readers see one number format;
//!   they are not validated (use [`parse_range`] for that).
//! - No regex; the only allocations are the returned vector and its strings.

use serde::Serialize;

/// One metric of a perfdata string.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    /// The label, unquoted and unescaped (`'it''s'` → `it's`). Never empty.
    pub label: String,
    /// The value; always finite.
    pub value: f64,
    /// Unit of measure, possibly empty.
    pub uom: String,
    /// Warning threshold range, raw text with a decimal comma turned into a dot; `None` when
    /// empty or absent.
    pub warn: Option<String>,
    /// Critical threshold range, same rules as `warn`.
    pub crit: Option<String>,
    /// Minimum possible value, when given and parseable (a trailing unit is ignored).
    pub min: Option<f64>,
    /// Maximum possible value, when given and parseable (a trailing unit is ignored).
    pub max: Option<f64>,
}

/// A threshold range as Nagios defines it: `10` (0 to 10), `10:` (10 to +∞), `~:10` (−∞ to
/// 10), `10:20`, and with a leading `@` the same ranges with the alert inside instead of
/// outside. Used to validate `warn`/`crit`, which [`Metric`] keeps raw.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    /// Lower bound, inclusive; `None` is −∞ (`~`). An omitted start (`10`, `:10`) is 0.
    pub start: Option<f64>,
    /// Upper bound, inclusive; `None` is +∞ (`10:`).
    pub end: Option<f64>,
    /// `@` given: alert when the value is inside the range (bounds included) rather than
    /// outside it.
    pub inside: bool,
}

impl Range {
    /// Whether `value` is in alert for this range (outside it, or inside it with `@`).
    pub fn alerts(&self, value: f64) -> bool {
        let outside = self.start.is_some_and(|s| value < s) || self.end.is_some_and(|e| value > e);
        outside != self.inside
    }
}

/// Parses a threshold range (see [`Range`]). Surrounding whitespace is ignored and a decimal
/// comma is accepted. Returns `None` for anything else, for non-finite numbers, and when the
/// start is greater than the end.
pub fn parse_range(s: &str) -> Option<Range> {
    let s = s.trim();
    let (inside, body) = match s.strip_prefix('@') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (start, end) = match body.split_once(':') {
        Some((a, b)) => {
            let start = match a {
                "~" => None,
                "" => Some(0.0),
                _ => Some(exact_number(a)?),
            };
            let end = if b.is_empty() {
                None
            } else {
                Some(exact_number(b)?)
            };
            (start, end)
        }
        None => (Some(0.0), Some(exact_number(body)?)),
    };
    if let (Some(a), Some(b)) = (start, end) {
        if a > b {
            return None;
        }
    }
    Some(Range { start, end, inside })
}

/// Parses a perfdata string into its metrics (see the module documentation for the format and
/// the rules). Never panics: a bad metric is skipped, the rest kept.
pub fn parse(perfdata: &str) -> Vec<Metric> {
    let bytes = perfdata.as_bytes();
    let len = bytes.len();
    let mut metrics = Vec::new();
    let mut pos = 0;
    loop {
        while pos < len && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos >= len {
            break;
        }
        // The label, and the position of the `=` that must follow it.
        let (label, eq) = if bytes[pos] == b'\'' {
            match quoted_label(perfdata, pos) {
                Some(found) => found,
                // An unterminated quote swallows the rest of the text.
                None => break,
            }
        } else {
            let start = pos;
            while pos < len && bytes[pos] != b'=' && !bytes[pos].is_ascii_whitespace() {
                pos += 1;
            }
            (Label::Plain(&perfdata[start..pos]), pos)
        };
        if eq >= len || bytes[eq] != b'=' {
            // No `=` right after the label: skip this token.
            pos = token_end(bytes, eq);
            continue;
        }
        let value_start = eq + 1;
        pos = token_end(bytes, value_start);
        if label.is_empty() {
            continue;
        }
        if let Some(metric) = metric(label, &perfdata[value_start..pos]) {
            metrics.push(metric);
        }
    }
    metrics
}

/// A label as found in the text, unescaped only when turned into a `String`.
enum Label<'a> {
    /// Unquoted, or quoted without `''`: the text as is.
    Plain(&'a str),
    /// Quoted with `''` escapes inside: the text between the outer quotes.
    Escaped(&'a str),
}

impl Label<'_> {
    fn is_empty(&self) -> bool {
        match self {
            Label::Plain(s) | Label::Escaped(s) => s.is_empty(),
        }
    }

    fn into_string(self) -> String {
        match self {
            Label::Plain(s) => s.to_owned(),
            Label::Escaped(s) => s.replace("''", "'"),
        }
    }
}

/// Reads a quoted label starting at `open` (a `'`): returns the label and the position just
/// after the closing quote, or `None` when the quote is never closed.
fn quoted_label(text: &str, open: usize) -> Option<(Label<'_>, usize)> {
    let bytes = text.as_bytes();
    let mut i = open + 1;
    let mut escaped = false;
    loop {
        let quote = i + bytes.get(i..)?.iter().position(|&b| b == b'\'')?;
        if bytes.get(quote + 1) == Some(&b'\'') {
            escaped = true;
            i = quote + 2;
            continue;
        }
        let inner = &text[open + 1..quote];
        let label = if escaped {
            Label::Escaped(inner)
        } else {
            Label::Plain(inner)
        };
        return Some((label, quote + 1));
    }
}

/// Position of the first whitespace at or after `from` (or the end).
fn token_end(bytes: &[u8], from: usize) -> usize {
    let from = from.min(bytes.len());
    bytes[from..]
        .iter()
        .position(u8::is_ascii_whitespace)
        .map_or(bytes.len(), |p| from + p)
}

/// Builds a metric from `value[UOM];warn;crit;min;max`.
fn metric(label: Label<'_>, fields: &str) -> Option<Metric> {
    let mut parts = fields.split(';');
    let (value, uom) = number_prefix(parts.next()?)?;
    if !valid_uom(uom) {
        return None;
    }
    let warn = parts.next().and_then(threshold);
    let crit = parts.next().and_then(threshold);
    let min = parts.next().and_then(bound);
    let max = parts.next().and_then(bound);
    Some(Metric {
        label: label.into_string(),
        value,
        uom: uom.to_owned(),
        warn,
        crit,
        min,
        max,
    })
}

fn threshold(raw: &str) -> Option<String> {
    if raw.is_empty() {
        None
    } else {
        Some(raw.replace(',', "."))
    }
}

fn bound(raw: &str) -> Option<f64> {
    let (n, rest) = number_prefix(raw)?;
    valid_uom(rest).then_some(n)
}

fn exact_number(s: &str) -> Option<f64> {
    match number_prefix(s)? {
        (n, "") => Some(n),
        _ => None,
    }
}

fn valid_uom(uom: &str) -> bool {
    match uom.as_bytes().first() {
        None => true,
        Some(b'0'..=b'9' | b'.' | b',' | b'+' | b'-') => false,
        Some(_) => !uom.bytes().any(|b| b == b'=' || b == b'\''),
    }
}

/// Reads the number at the start of `s`: returns it (finite only) and the rest of `s`.
fn number_prefix(s: &str) -> Option<(f64, &str)> {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    let mut comma = None;
    if i < b.len() && (b[i] == b'.' || b[i] == b',') {
        let sep = i;
        let frac_start = i + 1;
        let mut j = frac_start;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        // `5.` is a number; a lone separator is not.
        if digits > 0 || j > frac_start {
            digits += j - frac_start;
            if b[sep] == b',' {
                comma = Some(sep);
            }
            i = j;
        }
    }
    if digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let exp_start = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > exp_start {
            i = j;
        }
    }
    let (number, rest) = s.split_at(i);
    let value = match comma {
        None => number.parse::<f64>().ok()?,
        Some(at) => parse_with_dot(number, at)?,
    };
    value.is_finite().then_some((value, rest))
}

/// Parses `number` (ASCII) with the byte at `comma` read as a decimal point, without
/// allocating for ordinary lengths.
fn parse_with_dot(number: &str, comma: usize) -> Option<f64> {
    let mut buf = [0u8; 64];
    let bytes = number.as_bytes();
    if bytes.len() <= buf.len() {
        let buf = &mut buf[..bytes.len()];
        buf.copy_from_slice(bytes);
        *buf.get_mut(comma)? = b'.';
        std::str::from_utf8(buf).ok()?.parse().ok()
    } else {
        number.replacen(',', ".", 1).parse().ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests;
