//! Property tests: whatever the event, bodies are valid JSON within the API limits.

#![allow(clippy::unwrap_used)] // tests may unwrap

use pagerduty::{
    classify_response, Action, Event, Link, Outcome, Payload, Severity, MAX_BODY_BYTES,
    MAX_DEDUP_KEY_BYTES, MAX_FIELD_CHARS, MAX_SUMMARY_CHARS, SHRUNK_DETAILS_BYTES,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Short strings with control characters, quotes, backslashes and non-ASCII text.
fn short_text() -> BoxedStrategy<String> {
    prop_oneof![
        "[a-z0-9 ]{0,12}",
        "[\\x00-\\x1f\"\\\\/]{0,8}",
        "[éà日本👍\u{2028}\u{7f}]{0,8}",
        any::<String>(),
    ]
    .boxed()
}

/// Strings from empty to well over the body limit.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => short_text(),
        1 => (short_text(), 0usize..200).prop_map(|(s, n)| s.repeat(n)),
        1 => (short_text(), 0usize..120_000).prop_map(|(s, n)| s.repeat(n)),
    ]
    .boxed()
}

fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from), // NaN/inf become null
        text().prop_map(Value::String),
    ]
    .boxed()
}

fn value() -> BoxedStrategy<Value> {
    let nested = leaf().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((short_text(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    });
    prop_oneof![
        8 => nested,
        1 => (0usize..300, leaf(), any::<bool>()).prop_map(|(depth, mut v, objects)| {
            for _ in 0..depth {
                v = if objects {
                    Value::Object(Map::from_iter([("k".to_owned(), v)]))
                } else {
                    Value::Array(vec![v])
                };
            }
            v
        }),
    ]
    .boxed()
}

fn details() -> BoxedStrategy<Map<String, Value>> {
    prop_oneof![
        prop::collection::vec((text(), value()), 0..16),
        // Thousands of small entries.
        (0usize..5000, short_text()).prop_map(|(n, s)| {
            (0..n)
                .map(|i| (format!("{s}{i}"), Value::String(s.repeat(i % 50))))
                .collect()
        }),
    ]
    .prop_map(|kv| kv.into_iter().collect())
    .boxed()
}

/// Details that never fit: big strings, big arrays, thousands of keys, huge keys.
fn huge_details() -> BoxedStrategy<Map<String, Value>> {
    let big_string = (short_text(), 20_000usize..150_000)
        .prop_map(|(s, n)| s.repeat(n.min(600_000 / s.len().max(1))));
    let big_value = prop_oneof![
        big_string.clone().prop_map(Value::String),
        prop::collection::vec(big_string.clone().prop_map(Value::String), 1..4)
            .prop_map(Value::Array),
        (0usize..20_000).prop_map(|n| Value::Array(
            (0..n).map(|i| Value::from(i as u64 * 1_000_003)).collect()
        )),
        value(),
    ];
    prop_oneof![
        prop::collection::vec((prop_oneof![short_text(), big_string], big_value), 1..10),
        (1000usize..20_000, "[a-z]{1,30}").prop_map(|(n, s)| {
            (0..n)
                .map(|i| (format!("{s}{i}"), Value::String(s.repeat(i % 7))))
                .collect()
        }),
    ]
    .prop_map(|kv| kv.into_iter().collect())
    .boxed()
}

fn severity() -> impl Strategy<Value = Severity> {
    prop::sample::select(Severity::ALL.to_vec())
}

fn action() -> impl Strategy<Value = Action> {
    prop::sample::select(vec![Action::Trigger, Action::Acknowledge, Action::Resolve])
}

fn payload() -> BoxedStrategy<Payload> {
    (
        (text(), text(), severity()),
        (
            prop::option::of(text()),
            prop::option::of(text()),
            prop::option::of(text()),
            prop::option::of(text()),
        ),
        details(),
    )
        .prop_map(
            |((summary, source, severity), (timestamp, component, group, class), details)| {
                Payload {
                    summary,
                    source,
                    severity,
                    timestamp,
                    component,
                    group,
                    class,
                    custom_details: details,
                }
            },
        )
        .boxed()
}

fn links() -> BoxedStrategy<Vec<Link>> {
    prop_oneof![
        prop::collection::vec(
            (text(), prop::option::of(text())).prop_map(|(href, text)| Link { href, text }),
            0..6
        ),
        // Very many links.
        (0usize..3000, short_text(), 0usize..400).prop_map(|(n, s, len)| {
            (0..n)
                .map(|i| Link {
                    href: format!("{i}{}", s.repeat(len)),
                    text: Some(s.repeat(len)),
                })
                .collect()
        }),
    ]
    .boxed()
}

fn event() -> BoxedStrategy<Event> {
    (
        (text(), action(), text()),
        prop::option::of(payload()),
        links(),
        (prop::option::of(text()), prop::option::of(text())),
    )
        .prop_map(
            |((routing_key, event_action, dedup_key), payload, links, (client, client_url))| {
                Event {
                    routing_key,
                    event_action,
                    dedup_key,
                    payload,
                    links,
                    client,
                    client_url,
                }
            },
        )
        .boxed()
}

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

/// Checks the API limits on a parsed body; returns the encoded custom_details size.
fn check_limits(event: &Event, raw: &[u8]) -> Result<usize, TestCaseError> {
    prop_assert!(raw.len() <= MAX_BODY_BYTES, "body is {} bytes", raw.len());
    let body: Value = serde_json::from_slice(raw)
        .map_err(|e| TestCaseError::fail(format!("invalid JSON: {e}")))?;
    let obj = body
        .as_object()
        .ok_or_else(|| TestCaseError::fail("not an object"))?;
    let dedup = body["dedup_key"].as_str().unwrap_or_default();
    prop_assert!(dedup.len() <= MAX_DEDUP_KEY_BYTES);
    prop_assert_eq!(dedup, pagerduty::dedup_key_within_limit(&event.dedup_key));
    prop_assert!(chars(&body["routing_key"]) <= MAX_FIELD_CHARS);
    prop_assert_eq!(
        body["event_action"].as_str(),
        Some(event.event_action.as_str())
    );
    if event.event_action != Action::Trigger {
        prop_assert_eq!(obj.len(), 3);
        return Ok(0);
    }
    let p = &body["payload"];
    prop_assert_eq!(p.is_object(), event.payload.is_some());
    prop_assert!(chars(&p["summary"]) <= MAX_SUMMARY_CHARS);
    for field in ["source", "timestamp", "component", "group", "class"] {
        prop_assert!(chars(&p[field]) <= MAX_FIELD_CHARS, "{}", field);
    }
    for field in ["client", "client_url"] {
        prop_assert!(chars(&body[field]) <= MAX_FIELD_CHARS, "{}", field);
    }
    if let Some(links) = body.get("links") {
        let links = links
            .as_array()
            .ok_or_else(|| TestCaseError::fail("links not an array"))?;
        prop_assert!(!links.is_empty());
        for l in links {
            prop_assert!(chars(&l["href"]) >= 1 && chars(&l["href"]) <= MAX_FIELD_CHARS);
            prop_assert!(chars(&l["text"]) <= MAX_FIELD_CHARS);
        }
    }
    if p.get("custom_details").is_none() {
        return Ok(0);
    }
    // The encoded size of custom_details, measured as what the rest of the body does not take:
    // serde_json escapes strings exactly as the body does, and outside custom_details there
    // are no numbers whose re-encoding could differ.
    let mut rest = body.clone();
    if let Some(p) = rest["payload"].as_object_mut() {
        p.remove("custom_details");
    }
    let rest_len = serde_json::to_vec(&rest).map(|v| v.len()).unwrap_or(0);
    Ok(raw.len() - rest_len - r#","custom_details":"#.len())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn bodies_within_limits(event in event()) {
        let raw = event.to_body();
        check_limits(&event, &raw)?;
        let shrunk = event.to_body_shrunk();
        let details = check_limits(&event, &shrunk)?;
        prop_assert!(details <= SHRUNK_DETAILS_BYTES, "details {} bytes", details);

        let masked = event.to_masked_json();
        let masked: Value = serde_json::from_str(&masked)
            .map_err(|e| TestCaseError::fail(format!("masked: invalid JSON: {e}")))?;
        let mut body: Value = serde_json::from_slice(&raw)
            .map_err(|e| TestCaseError::fail(format!("invalid JSON: {e}")))?;
        body["routing_key"] = Value::String(pagerduty::mask_routing_key(&event.routing_key));
        prop_assert_eq!(masked, body);
    }

    #[test]
    fn huge_details_shrunk_within_limits(
        mut event in event(),
        details in huge_details(),
        severity in severity(),
    ) {
        event.event_action = Action::Trigger;
        event.payload = Some(Payload {
            summary: "summary".into(),
            source: "host".into(),
            severity,
            timestamp: None,
            component: None,
            group: None,
            class: None,
            custom_details: details,
        });
        let raw = event.to_body();
        check_limits(&event, &raw)?;
        let shrunk = check_limits(&event, &event.to_body_shrunk())?;
        prop_assert!(shrunk <= SHRUNK_DETAILS_BYTES, "details {} bytes", shrunk);
    }

    #[test]
    fn small_details_are_kept_as_they_are(
        details in prop::collection::btree_map("[a-z_]{1,8}", leaf(), 0..20),
    ) {
        let details: Map<String, Value> = details.into_iter().collect();
        prop_assume!(serde_json::to_vec(&details).map(|v| v.len()).unwrap_or(usize::MAX) < 60_000);
        let event = Event {
            routing_key: "R0123456789abcdefABCDEF012345678".into(),
            event_action: Action::Trigger,
            dedup_key: "1_2".into(),
            payload: Some(Payload {
                summary: "s".into(),
                source: "h".into(),
                severity: Severity::Info,
                timestamp: None,
                component: None,
                group: None,
                class: None,
                custom_details: details.clone(),
            }),
            links: vec![],
            client: None,
            client_url: None,
        };
        let expected = serde_json::to_string(&details)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        for raw in [event.to_body(), event.to_body_shrunk()] {
            let raw = String::from_utf8(raw).map_err(|e| TestCaseError::fail(e.to_string()))?;
            if details.is_empty() {
                prop_assert!(!raw.contains("custom_details"));
            } else {
                prop_assert!(raw.contains(&format!(r#""custom_details":{expected}}}"#)), "{}", raw);
            }
        }
    }

    #[test]
    fn classification_total_and_bounded(status in any::<u16>(), body in prop::collection::vec(any::<u8>(), 0..4096)) {
        let text = match classify_response(status, &body) {
            Outcome::Delivered => { prop_assert!((200..300).contains(&status)); return Ok(()); }
            Outcome::Throttled => { prop_assert_eq!(status, 429); return Ok(()); }
            Outcome::TooLarge => { prop_assert_eq!(status, 413); return Ok(()); }
            Outcome::Retry { reason } => {
                prop_assert!((500..600).contains(&status) || status == 408 || status == 425);
                reason
            }
            Outcome::RoutingKeyRejected { message } | Outcome::Rejected { message } => {
                prop_assert_eq!(status, 400);
                message
            }
            Outcome::ConfigError { reason } => reason,
        };
        prop_assert!(text.len() <= 1024);
        prop_assert!(!text.is_empty());
        prop_assert!(!text.chars().any(char::is_control));
    }

    #[test]
    fn truncate_chars_properties(s in any::<String>(), max in 0usize..64) {
        let t = pagerduty::truncate_chars(&s, max);
        let n = s.chars().count();
        if n <= max {
            prop_assert_eq!(t.as_ref(), s.as_str());
        } else {
            prop_assert_eq!(t.chars().count(), max);
            if max > 0 {
                prop_assert!(t.ends_with('…'));
                let prefix: String = s.chars().take(max - 1).collect();
                prop_assert!(t.starts_with(&prefix));
            }
        }
    }

    #[test]
    fn timestamps_well_formed(t in any::<i64>()) {
        let s = pagerduty::format_timestamp(t);
        prop_assert_eq!(s.len(), 20);
        let b = s.as_bytes();
        prop_assert!(b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && b[16] == b':' && b[19] == b'Z');
    }

    #[test]
    fn dedup_keys_within_limit(k in any::<String>(), n in 1usize..300) {
        let key = k.repeat(n);
        let d = pagerduty::dedup_key_within_limit(&key);
        prop_assert!(d.len() <= MAX_DEDUP_KEY_BYTES);
        if key.len() <= MAX_DEDUP_KEY_BYTES {
            prop_assert_eq!(d, key);
        } else {
            prop_assert_eq!(d.len(), 71);
        }
    }
}
