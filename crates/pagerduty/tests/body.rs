//! Example-based tests of the request bodies.

#![allow(clippy::unwrap_used)] // tests may unwrap

use pagerduty::{
    Action, Event, Link, Payload, Severity, MAX_BODY_BYTES, MAX_FIELD_CHARS, SHRUNK_DETAILS_BYTES,
};
use serde_json::{json, Map, Value};

const KEY: &str = "R0123456789abcdefABCDEF012345678";

fn trigger() -> Event {
    let details = match json!({
        "output": "CRITICAL - load average: 12.3",
        "state": "CRITICAL",
        "state_type": "HARD",
        "attempt": 3,
        "hostgroups": ["linux", "web"],
        "metrics": {"load1": {"value": 12.3, "uom": "", "warn": "4", "crit": "8", "min": 0, "max": null}}
    }) {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    Event {
        routing_key: KEY.into(),
        event_action: Action::Trigger,
        dedup_key: "42_7".into(),
        payload: Some(Payload {
            summary: "web01/Load: CRITICAL - load average: 12.3".into(),
            source: "web01".into(),
            severity: Severity::Critical,
            timestamp: Some("2026-06-09T10:13:20Z".into()),
            component: Some("Load".into()),
            group: None,
            class: Some("service".into()),
            custom_details: details,
        }),
        links: vec![
            Link {
                href: "https://centreon.example/monitoring/resources".into(),
                text: Some("Centreon".into()),
            },
            Link {
                href: String::new(),
                text: Some("dropped".into()),
            },
            Link {
                href: "https://wiki.example/load".into(),
                text: None,
            },
        ],
        client: Some("Centreon".into()),
        client_url: Some("https://centreon.example".into()),
    }
}

fn parse(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

fn details_len(body: &Value) -> usize {
    serde_json::to_vec(&body["payload"]["custom_details"])
        .unwrap()
        .len()
}

#[test]
fn trigger_body() {
    let e = trigger();
    let body = parse(&e.to_body());
    assert_eq!(
        body,
        json!({
            "routing_key": KEY,
            "event_action": "trigger",
            "dedup_key": "42_7",
            "payload": {
                "summary": "web01/Load: CRITICAL - load average: 12.3",
                "source": "web01",
                "severity": "critical",
                "timestamp": "2026-06-09T10:13:20Z",
                "component": "Load",
                "class": "service",
                "custom_details": e.payload.as_ref().unwrap().custom_details.clone(),
            },
            "links": [
                {"href": "https://centreon.example/monitoring/resources", "text": "Centreon"},
                {"href": "https://wiki.example/load"}
            ],
            "client": "Centreon",
            "client_url": "https://centreon.example"
        })
    );
    // Small events are encoded like serde would encode them.
    assert_eq!(e.to_body(), e.to_body_shrunk());
}

#[test]
fn acknowledge_and_resolve_carry_three_fields() {
    for action in [Action::Acknowledge, Action::Resolve] {
        let mut e = trigger();
        e.event_action = action;
        let body = e.to_body();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            format!(r#"{{"routing_key":"{KEY}","event_action":"{action}","dedup_key":"42_7"}}"#)
        );
        assert_eq!(e.to_body_shrunk(), e.to_body());
    }
}

#[test]
fn long_dedup_key_hashed_for_every_action() {
    for action in [Action::Trigger, Action::Acknowledge, Action::Resolve] {
        let mut e = trigger();
        e.event_action = action;
        e.dedup_key = "k".repeat(300);
        let body = parse(&e.to_body());
        let key = body["dedup_key"].as_str().unwrap();
        assert_eq!(key, pagerduty::dedup_key_within_limit(&e.dedup_key));
        assert!(key.starts_with("sha256-"));
    }
    let mut e = trigger();
    e.dedup_key = "k".repeat(255);
    assert_eq!(parse(&e.to_body())["dedup_key"], e.dedup_key);
}

#[test]
fn empty_optional_parts_omitted() {
    let mut e = trigger();
    e.links = vec![Link {
        href: String::new(),
        text: None,
    }];
    e.client = None;
    e.client_url = None;
    let p = e.payload.as_mut().unwrap();
    p.timestamp = None;
    p.component = None;
    p.class = None;
    p.custom_details = Map::new();
    let body = parse(&e.to_body());
    assert_eq!(
        body,
        json!({
            "routing_key": KEY,
            "event_action": "trigger",
            "dedup_key": "42_7",
            "payload": {"summary": "web01/Load: CRITICAL - load average: 12.3", "source": "web01", "severity": "critical"}
        })
    );
    // A trigger without payload (PagerDuty will refuse it) still gives valid JSON.
    e.payload = None;
    assert_eq!(
        parse(&e.to_body()),
        json!({"routing_key": KEY, "event_action": "trigger", "dedup_key": "42_7"})
    );
}

#[test]
fn strings_capped() {
    let mut e = trigger();
    let p = e.payload.as_mut().unwrap();
    p.summary = "s".repeat(5000);
    p.source = "é".repeat(2000);
    p.component = Some("c\u{0}".repeat(2000));
    p.group = Some("g".repeat(1024));
    p.class = Some("👍".repeat(1025));
    e.client = Some("x".repeat(1 << 20));
    e.links = vec![Link {
        href: "h".repeat(3000),
        text: Some("t".repeat(3000)),
    }];
    let body = parse(&e.to_body());
    let p = &body["payload"];
    let summary = p["summary"].as_str().unwrap();
    assert_eq!(summary.chars().count(), 1024);
    assert_eq!(summary, format!("{}…", "s".repeat(1023)));
    for v in [
        &p["source"],
        &p["component"],
        &p["class"],
        &body["client"],
        &body["links"][0]["href"],
        &body["links"][0]["text"],
    ] {
        let s = v.as_str().unwrap();
        assert_eq!(s.chars().count(), MAX_FIELD_CHARS, "{s}");
        assert!(s.ends_with('…'));
    }
    assert_eq!(p["group"], "g".repeat(1024));
}

#[test]
fn huge_output_shrunk_to_fit_keeping_the_rest() {
    let mut e = trigger();
    let d = &mut e.payload.as_mut().unwrap().custom_details;
    d.insert("long_output".into(), json!("line\n".repeat(200_000)));
    d.insert("perfdata".into(), json!("x=1 ".repeat(100_000)));
    let raw = e.to_body();
    assert!(raw.len() <= MAX_BODY_BYTES);
    assert!(
        raw.len() > MAX_BODY_BYTES - 100,
        "room is used: {}",
        raw.len()
    );
    let body = parse(&raw);
    let d = &body["payload"]["custom_details"];
    assert_eq!(d["_truncated"], true);
    assert_eq!(d["output"], "CRITICAL - load average: 12.3");
    assert_eq!(d["attempt"], 3);
    // The largest value was cut first, just enough; the second one is whole.
    assert!(d["long_output"].as_str().unwrap().ends_with('…'));
    assert_eq!(d["perfdata"], json!("x=1 ".repeat(100_000)));

    let shrunk = parse(&e.to_body_shrunk());
    assert!(details_len(&shrunk) <= SHRUNK_DETAILS_BYTES);
    assert!(details_len(&shrunk) > SHRUNK_DETAILS_BYTES - 100);
    let d = &shrunk["payload"]["custom_details"];
    assert_eq!(d["_truncated"], true);
    assert_eq!(d["output"], "CRITICAL - load average: 12.3");
    assert_eq!(shrunk["payload"]["summary"], body["payload"]["summary"]);
}

#[test]
fn many_details_shrunk_quickly() {
    let mut e = trigger();
    let d = &mut e.payload.as_mut().unwrap().custom_details;
    for i in 0..200_000 {
        d.insert(format!("metric_{i:06}"), json!({"value": i, "uom": "ms"}));
    }
    let start = std::time::Instant::now();
    let raw = e.to_body();
    let shrunk = e.to_body_shrunk();
    let elapsed = start.elapsed();
    assert!(raw.len() <= MAX_BODY_BYTES);
    assert!(details_len(&parse(&shrunk)) <= SHRUNK_DETAILS_BYTES);
    // Generous: quadratic re-encoding would take minutes here.
    assert!(elapsed.as_secs() < 20, "{elapsed:?}");
}

#[test]
fn huge_links_bounded() {
    let mut e = trigger();
    e.links = (0..10_000)
        .map(|i| Link {
            href: format!("https://example.com/{i}/{}", "p".repeat(1000)),
            text: Some("t".repeat(1000)),
        })
        .collect();
    let raw = e.to_body();
    assert!(raw.len() <= MAX_BODY_BYTES);
    let body = parse(&raw);
    let links = body["links"].as_array().unwrap();
    assert!(!links.is_empty() && links.len() < 10_000);
    assert!(links[0]["href"]
        .as_str()
        .unwrap()
        .starts_with("https://example.com/0/"));
    // Details are untouched: links do not eat their room.
    assert_eq!(
        body["payload"]["custom_details"],
        Value::Object(e.payload.unwrap().custom_details)
    );
}

#[test]
fn masked_json_is_the_body_without_the_key() {
    let mut e = trigger();
    e.payload
        .as_mut()
        .unwrap()
        .custom_details
        .insert("big".into(), json!("b".repeat(600_000)));
    let masked = e.to_masked_json();
    assert!(!masked.contains(KEY));
    assert!(!masked.contains(&KEY[..28]));
    let masked: Value = serde_json::from_str(&masked).unwrap();
    let mut body = parse(&e.to_body());
    assert_eq!(masked["routing_key"], "…5678");
    body["routing_key"] = json!("…5678");
    assert_eq!(masked, body, "same shrinking decisions");

    e.routing_key = String::new();
    assert!(e.to_masked_json().contains(r#""routing_key":"(none)""#));
    e.event_action = Action::Resolve;
    e.routing_key = KEY.into();
    assert_eq!(
        e.to_masked_json(),
        r#"{"routing_key":"…5678","event_action":"resolve","dedup_key":"42_7"}"#
    );
}

#[test]
fn serde_of_event_is_lossless() {
    let e = trigger();
    let back: Event = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
    assert_eq!(back, e);
}
