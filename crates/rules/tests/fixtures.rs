//! The fixture scenarios of `tests/fixtures/` (see its README): every scenario, run through
//! `normalise_line` and the rules with the default settings and an in-memory store, produces
//! exactly the PagerDuty events its README lists, in order.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use broker::{normalise_line, Normalised};
use pagerduty::{Action, Severity};
use rules::{Engine, MemoryStore, Settings};

macro_rules! fixture {
    ($scenario:literal, $file:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/",
            $scenario,
            "/",
            $file
        ))
    };
}

/// One PagerDuty event as the README lists it: dedup key, action, severity (triggers only).
type Expected = (&'static str, Action, Option<Severity>);

const TRIGGER: Action = Action::Trigger;
const ACK: Action = Action::Acknowledge;
const RESOLVE: Action = Action::Resolve;

/// The largest time field of a line: a daemon clock that follows the scenario.
fn line_time(line: &str) -> i64 {
    let v: serde_json::Value = serde_json::from_str(line).expect("fixture lines are JSON");
    [
        "last_check",
        "last_update",
        "entry_time",
        "actual_start_time",
        "actual_end_time",
        "deletion_time",
    ]
    .iter()
    .filter_map(|k| v.get(k).and_then(serde_json::Value::as_i64))
    .max()
    .unwrap_or(0)
}

/// Run an NDJSON stream; every line must be accepted (event or ignored), none rejected.
fn run(ndjson: &str) -> Vec<(String, Action, Option<Severity>, pagerduty::Event)> {
    let engine = Engine::new(Settings::default());
    let mut store = MemoryStore::default();
    let mut now = 1_781_000_000;
    let mut sent = Vec::new();
    for (n, line) in ndjson.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        now = now.max(line_time(line));
        match normalise_line(line.as_bytes()) {
            Ok(Normalised::Event(event)) => {
                let outcome = engine.apply(&mut store, &event, now);
                assert!(!outcome.replay || n > 0, "line {}: replay", n + 1);
                for o in outcome.outgoing {
                    assert_eq!(o.dedup_key, o.event().unwrap().dedup_key);
                    assert_eq!(o.action, o.event().unwrap().event_action);
                    let severity = o.event().unwrap().payload.as_ref().map(|p| p.severity);
                    sent.push((o.dedup_key.clone(), o.action, severity, o.event().unwrap()));
                }
            }
            Ok(Normalised::Ignored(why)) => panic!("line {}: ignored: {why:?}", n + 1),
            Err(rejection) => panic!("line {}: rejected: {rejection}", n + 1),
        }
    }
    sent
}

fn check(scenario: &str, ndjson: &str, expected: &[Expected]) {
    let sent = run(ndjson);
    let got: Vec<(&str, Action, Option<Severity>)> = sent
        .iter()
        .map(|(k, a, s, _)| (k.as_str(), *a, *s))
        .collect();
    assert_eq!(got, expected, "{scenario}");
    for (key, action, _, event) in &sent {
        match action {
            Action::Trigger => {
                let payload = event.payload.as_ref().expect("a trigger has a payload");
                assert!(!payload.summary.is_empty(), "{scenario} {key}");
                assert!(payload.timestamp.is_some(), "{scenario} {key}");
                assert_eq!(event.client.as_deref(), Some("Centreon"));
            }
            _ => {
                assert!(event.payload.is_none(), "{scenario} {key}: {action}");
                assert!(event.links.is_empty());
            }
        }
    }
}

#[test]
fn v2_service_lifecycle() {
    let expected = [
        ("101_2001", TRIGGER, Some(Severity::Warning)),
        ("101_2001", TRIGGER, Some(Severity::Critical)),
        ("101_2001", RESOLVE, None),
    ];
    check(
        "v2_service_lifecycle",
        fixture!("v2_service_lifecycle", "shim.ndjson"),
        &expected,
    );
}

#[test]
fn v2_host_lifecycle() {
    let expected = [
        ("201_H", TRIGGER, Some(Severity::Critical)),
        ("202_H", TRIGGER, Some(Severity::Error)),
        ("201_H", RESOLVE, None),
        ("202_H", RESOLVE, None),
    ];
    check(
        "v2_host_lifecycle",
        fixture!("v2_host_lifecycle", "shim.ndjson"),
        &expected,
    );
}

#[test]
fn v3_service_host_lifecycle() {
    let expected = [
        ("301_3001", TRIGGER, Some(Severity::Critical)),
        ("301_3002", TRIGGER, Some(Severity::Error)),
        ("301_H", TRIGGER, Some(Severity::Critical)),
        ("301_H", RESOLVE, None),
        ("301_3001", RESOLVE, None),
        ("301_3002", RESOLVE, None),
    ];
    check(
        "v3_service_host_lifecycle",
        fixture!("v3_service_host_lifecycle", "shim.ndjson"),
        &expected,
    );
}

#[test]
fn downtime_ack() {
    let expected = [
        ("401_4001", TRIGGER, Some(Severity::Critical)),
        ("401_4001", ACK, None),
        ("401_4001", RESOLVE, None),
        ("401_4002", TRIGGER, Some(Severity::Critical)),
        ("401_4002", RESOLVE, None),
    ];
    check(
        "downtime_ack",
        fixture!("downtime_ack", "shim.ndjson"),
        &expected,
    );
}

/// The raw events without the shim's `_cache` give the same decisions: names then come from
/// the definition events at the start of each scenario.
#[test]
fn raw_events_without_cache_give_the_same_decisions() {
    for (scenario, shim, events) in [
        (
            "v2_service_lifecycle",
            fixture!("v2_service_lifecycle", "shim.ndjson"),
            fixture!("v2_service_lifecycle", "events.ndjson"),
        ),
        (
            "v2_host_lifecycle",
            fixture!("v2_host_lifecycle", "shim.ndjson"),
            fixture!("v2_host_lifecycle", "events.ndjson"),
        ),
        (
            "v3_service_host_lifecycle",
            fixture!("v3_service_host_lifecycle", "shim.ndjson"),
            fixture!("v3_service_host_lifecycle", "events.ndjson"),
        ),
        (
            "downtime_ack",
            fixture!("downtime_ack", "shim.ndjson"),
            fixture!("downtime_ack", "events.ndjson"),
        ),
    ] {
        let with_cache = run(shim);
        let without = run(events);
        let decisions = |v: &[(String, Action, Option<Severity>, pagerduty::Event)]| {
            v.iter()
                .map(|(k, a, s, e)| {
                    let p = e.payload.as_ref();
                    (
                        k.clone(),
                        *a,
                        *s,
                        p.map(|p| p.source.clone()),
                        p.and_then(|p| p.component.clone()),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(decisions(&with_cache), decisions(&without), "{scenario}");
    }
}

/// Payload details of the fixtures' triggers (DESIGN §4.3) on real Broker data.
#[test]
fn fixture_trigger_payloads() {
    let sent = run(fixture!("v2_service_lifecycle", "shim.ndjson"));
    let (_, _, _, warning) = &sent[0];
    let p = warning.payload.as_ref().unwrap();
    assert!(
        p.summary.starts_with("srv-web-01/HTTP: WARNING - "),
        "{}",
        p.summary
    );
    assert!(!p.summary.contains('\n'));
    assert_eq!(p.source, "srv-web-01");
    assert_eq!(p.component.as_deref(), Some("HTTP"));
    assert_eq!(p.group.as_deref(), Some("Web, Linux"));
    assert_eq!(p.class.as_deref(), Some("service"));
    assert_eq!(p.custom_details["state_type"], "HARD");
    assert_eq!(
        p.custom_details["servicegroups"],
        serde_json::json!(["Frontends"])
    );

    // The v3 host quirk: the long output was in `output`; the summary has the first line only.
    let sent = run(fixture!("v3_service_host_lifecycle", "shim.ndjson"));
    let (_, _, _, host) = sent.iter().find(|(k, ..)| k == "301_H").unwrap();
    let p = host.payload.as_ref().unwrap();
    assert_eq!(p.summary, "db-lyon-01: DOWN - ping timeout");
    assert_eq!(p.custom_details["output"], "ping timeout");
    assert_eq!(p.custom_details["long_output"], "arp: incomplete");
    assert_eq!(p.class.as_deref(), Some("host"));
    assert_eq!(p.component.as_deref(), Some("db-lyon-01"));

    // Comma decimals in v2 host perfdata still give metrics.
    let sent = run(fixture!("v2_host_lifecycle", "shim.ndjson"));
    let p = sent[0].3.payload.as_ref().unwrap();
    let metrics = p.custom_details["metrics"].as_object().unwrap();
    assert_eq!(metrics["pl"]["value"], 100.0, "{metrics:?}");
    assert_eq!(metrics["rta"]["warn"], "3000.000", "{metrics:?}");
}
