//! Encoding of an [`Event`] into the request body, within the API limits.
//!
//! Invariants (relied on by [`Event::to_body`] and tested by property tests):
//! - the output is valid UTF-8 JSON: every string goes through [`write_json_str`], every other
//!   detail value through `serde_json`, and strings are only ever cut at `char` boundaries;
//! - every field but `custom_details` has a bounded encoded size (caps on characters, times at
//!   most 6 bytes per escaped character; links limited to [`LINKS_BUDGET`] bytes), so about
//!   390 KB of the 512,000-byte budget is always left for `custom_details`;
//! - `custom_details` is encoded within whatever room is left (and within the caller's own cap):
//!   each value is encoded exactly once, sizes are kept per entry and the shrinking decisions
//!   are made by subtracting sizes, never by re-encoding the whole object.

use serde_json::{Map, Value};

use crate::event::{Action, Event, Link, Payload};
use crate::text::{dedup_key_within_limit, truncate_chars, ELLIPSIS};
use crate::{MAX_FIELD_CHARS, MAX_SUMMARY_CHARS};

/// Room for all `links` together, encoded; links past it are dropped (last ones first).
pub(crate) const LINKS_BUDGET: usize = 64 * 1024;

/// Detail values nested deeper than this are replaced by a marker: serde_json (and many other
/// parsers) refuse documents nested deeper than 128 levels, and the body adds three levels.
pub(crate) const MAX_DETAIL_DEPTH: usize = 64;

/// A string value that cannot absorb the whole excess is still cut down to about this many
/// encoded bytes (quotes and ellipsis included), not below.
const MIN_STRING_BYTES: usize = 64;

/// Entry added to `custom_details` whenever it was changed to fit.
const TRUNCATED_ENTRY: &[u8] = b"\"_truncated\":true";
const TRUNCATED_KEY: &str = "_truncated";

const DEPTH_MARKER: &str = "[nested deeper than 64 levels, removed]";

/// What to render.
pub(crate) struct RenderOptions<'a> {
    /// Maximum size of the whole body.
    pub(crate) max_body: usize,
    /// Own cap for the encoded `custom_details`, if any.
    pub(crate) max_details: Option<usize>,
    /// Text written instead of the routing key (masking). Sizes and shrinking decisions are
    /// still computed with the real key, so the masked JSON matches the real body.
    pub(crate) shown_routing_key: Option<&'a str>,
}

/// Renders `event` as a JSON body (see [`Event::to_body`] for the rules).
pub(crate) fn render(event: &Event, opts: &RenderOptions<'_>) -> Vec<u8> {
    let real_key = truncate_chars(&event.routing_key, MAX_FIELD_CHARS);
    let shown_key: &str = opts.shown_routing_key.unwrap_or(&real_key);
    let dedup_key = dedup_key_within_limit(&event.dedup_key);

    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"routing_key\":");
    write_json_str(&mut out, shown_key);
    out.extend_from_slice(b",\"event_action\":");
    write_json_str(&mut out, event.event_action.as_str());
    out.extend_from_slice(b",\"dedup_key\":");
    write_json_str(&mut out, &dedup_key);

    if event.event_action != Action::Trigger {
        out.push(b'}');
        return out;
    }

    // Everything after custom_details: end of payload, links, client, client_url, end of body.
    let mut tail = Vec::with_capacity(128);
    if event.payload.is_some() {
        tail.push(b'}');
    }
    write_links(&mut tail, &event.links);
    write_opt_field(
        &mut tail,
        "client",
        event.client.as_deref(),
        MAX_FIELD_CHARS,
    );
    write_opt_field(
        &mut tail,
        "client_url",
        event.client_url.as_deref(),
        MAX_FIELD_CHARS,
    );
    tail.push(b'}');

    if let Some(payload) = &event.payload {
        write_payload_head(&mut out, payload);
        if !payload.custom_details.is_empty() {
            const DETAILS_KEY: &[u8] = b",\"custom_details\":";
            // Size of the body as it would be with the real routing key.
            let fixed = out.len() + tail.len() + DETAILS_KEY.len() + json_str_len(&real_key)
                - json_str_len(shown_key);
            let mut room = opts.max_body.saturating_sub(fixed);
            if let Some(cap) = opts.max_details {
                room = room.min(cap);
            }
            out.extend_from_slice(DETAILS_KEY);
            write_details(&mut out, &payload.custom_details, room);
        }
    }
    out.extend_from_slice(&tail);
    out
}

fn write_payload_head(out: &mut Vec<u8>, p: &Payload) {
    out.extend_from_slice(b",\"payload\":{\"summary\":");
    write_json_str(out, &truncate_chars(&p.summary, MAX_SUMMARY_CHARS));
    out.extend_from_slice(b",\"source\":");
    write_json_str(out, &truncate_chars(&p.source, MAX_FIELD_CHARS));
    out.extend_from_slice(b",\"severity\":");
    write_json_str(out, p.severity.as_str());
    write_opt_field(out, "timestamp", p.timestamp.as_deref(), MAX_FIELD_CHARS);
    write_opt_field(out, "component", p.component.as_deref(), MAX_FIELD_CHARS);
    write_opt_field(out, "group", p.group.as_deref(), MAX_FIELD_CHARS);
    write_opt_field(out, "class", p.class.as_deref(), MAX_FIELD_CHARS);
}

/// Writes `,"name":"value"` when `value` is set, the value capped to `max_chars`.
fn write_opt_field(out: &mut Vec<u8>, name: &str, value: Option<&str>, max_chars: usize) {
    if let Some(v) = value {
        out.push(b',');
        write_json_str(out, name);
        out.push(b':');
        write_json_str(out, &truncate_chars(v, max_chars));
    }
}

/// Writes `,"links":[…]` with the links that have an `href`, within [`LINKS_BUDGET`].
fn write_links(out: &mut Vec<u8>, links: &[Link]) {
    let mut encoded = Vec::new();
    let mut one = Vec::new();
    for link in links.iter().filter(|l| !l.href.is_empty()) {
        one.clear();
        one.extend_from_slice(b"{\"href\":");
        write_json_str(&mut one, &truncate_chars(&link.href, MAX_FIELD_CHARS));
        if let Some(text) = &link.text {
            one.extend_from_slice(b",\"text\":");
            write_json_str(&mut one, &truncate_chars(text, MAX_FIELD_CHARS));
        }
        one.push(b'}');
        if encoded.len() + one.len() + 1 > LINKS_BUDGET {
            break;
        }
        if !encoded.is_empty() {
            encoded.push(b',');
        }
        encoded.extend_from_slice(&one);
    }
    if !encoded.is_empty() {
        out.extend_from_slice(b",\"links\":[");
        out.extend_from_slice(&encoded);
        out.push(b']');
    }
}

/// One `custom_details` entry while shrinking.
struct Entry<'a> {
    key: &'a str,
    /// Encoded size of the key, quotes included.
    key_len: usize,
    /// The original text when the value is a string (it can then be cut).
    text: Option<&'a str>,
    /// The value as it will be written.
    encoded: Vec<u8>,
    dropped: bool,
}

impl Entry<'_> {
    /// Encoded size of `"key":value`.
    fn cost(&self) -> usize {
        self.key_len + 1 + self.encoded.len()
    }
}

/// Writes `details` as a JSON object of at most `room` bytes (see [`Event::to_body`]).
pub(crate) fn write_details(out: &mut Vec<u8>, details: &Map<String, Value>, room: usize) {
    let (mut entries, modified) = encode_entries(details);
    let plain: usize = 2 + entries.iter().map(Entry::cost).sum::<usize>() + entries.len()
        - usize::from(!entries.is_empty());
    if !modified && plain <= room {
        write_entries(out, &entries, false);
        return;
    }
    if room < 2 + TRUNCATED_ENTRY.len() {
        out.extend_from_slice(b"{}");
        return;
    }

    // Our `_truncated` replaces any the caller had. Each kept entry is followed by a comma.
    entries.retain(|e| e.key != TRUNCATED_KEY);
    let used: usize =
        2 + TRUNCATED_ENTRY.len() + entries.iter().map(|e| e.cost() + 1).sum::<usize>();
    let used = shrink_largest(&mut entries, used, room);
    drop_largest(&mut entries, used, room);
    write_entries(out, &entries, true);
}

/// Each detail encoded once; true when a value too deep was replaced by a marker.
fn encode_entries(details: &Map<String, Value>) -> (Vec<Entry<'_>>, bool) {
    let mut modified = false;
    let entries = details
        .iter()
        .map(|(key, value)| {
            let (text, encoded) = match value {
                Value::String(s) => (Some(s.as_str()), json_str_vec(s)),
                other => {
                    let encoded = if depth_exceeds(other, MAX_DETAIL_DEPTH) {
                        None
                    } else {
                        serde_json::to_vec(other).ok()
                    };
                    match encoded {
                        Some(bytes) => (None, bytes),
                        None => {
                            modified = true;
                            (None, json_str_vec(DEPTH_MARKER))
                        }
                    }
                }
            };
            Entry {
                key,
                key_len: json_str_len(key),
                text,
                encoded,
                dropped: false,
            }
        })
        .collect();
    (entries, modified)
}

/// Pass 1: largest entries first, cut strings / replace other values by a marker, until the
/// details fit in `room`. Returns the bytes used then.
fn shrink_largest(entries: &mut [Entry<'_>], mut used: usize, room: usize) -> usize {
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(entries[i].cost()));
    for &i in &order {
        if used <= room {
            break;
        }
        let excess = used - room;
        let entry = &mut entries[i];
        let current = entry.encoded.len();
        let replacement = match entry.text {
            Some(text) => {
                let target = current.saturating_sub(excess).max(MIN_STRING_BYTES);
                (target < current).then(|| cut_json_str(text, target))
            }
            None => {
                let marker = json_str_vec(&format!("[{current} bytes removed]"));
                (marker.len() < current).then_some(marker)
            }
        };
        if let Some(new) = replacement {
            used -= current - new.len();
            entry.encoded = new;
        }
    }
    used
}

/// Pass 2: drop whole entries, largest first, until the details fit in `room`.
fn drop_largest(entries: &mut [Entry<'_>], mut used: usize, room: usize) {
    if used <= room {
        return;
    }
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(entries[i].cost()));
    for &i in &order {
        if used <= room {
            break;
        }
        used -= entries[i].cost() + 1;
        entries[i].dropped = true;
    }
}

fn write_entries(out: &mut Vec<u8>, entries: &[Entry<'_>], truncated: bool) {
    out.push(b'{');
    let mut first = true;
    for e in entries.iter().filter(|e| !e.dropped) {
        if !first {
            out.push(b',');
        }
        first = false;
        write_json_str(out, e.key);
        out.push(b':');
        out.extend_from_slice(&e.encoded);
    }
    if truncated {
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(TRUNCATED_ENTRY);
    }
    out.push(b'}');
}

/// True when `value` has arrays/objects nested more than `max` levels deep (iterative: safe on
/// any depth).
fn depth_exceeds(value: &Value, max: usize) -> bool {
    let mut stack: Vec<(&Value, usize)> = vec![(value, 1)];
    while let Some((v, depth)) = stack.pop() {
        match v {
            Value::Array(items) => {
                if depth > max {
                    return true;
                }
                stack.extend(items.iter().map(|x| (x, depth + 1)));
            }
            Value::Object(map) => {
                if depth > max {
                    return true;
                }
                stack.extend(map.values().map(|x| (x, depth + 1)));
            }
            _ => {}
        }
    }
    false
}

/// Encoded size of one character inside a JSON string.
fn json_char_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// Encoded size of `s` as a JSON string, quotes included.
pub(crate) fn json_str_len(s: &str) -> usize {
    2 + s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

fn json_str_vec(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 2);
    write_json_str(&mut v, s);
    v
}

/// Writes `s` as a JSON string literal.
pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Encodes the longest prefix of `text` that, followed by `…`, fits in `max_len` encoded bytes
/// (quotes included). `max_len` must be at least 5 for the result to fit.
fn cut_json_str(text: &str, max_len: usize) -> Vec<u8> {
    let room = max_len.saturating_sub(2 + ELLIPSIS.len_utf8());
    let mut used = 0;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        let len = json_char_len(c);
        if used + len > room {
            break;
        }
        used += len;
        end = i + c.len_utf8();
    }
    let mut cut = String::with_capacity(end + ELLIPSIS.len_utf8());
    cut.push_str(&text[..end]);
    cut.push(ELLIPSIS);
    json_str_vec(&cut)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests;
