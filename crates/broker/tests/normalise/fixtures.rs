//! The fixtures: every line of every scenario normalises.

use broker::{normalise_line, Bbdo, Event, Normalised};
use serde_json::Value;

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

#[test]
fn every_fixture_line_normalises() {
    for (name, text) in [
        (
            "v2_service_lifecycle/events",
            fixture!("v2_service_lifecycle", "events.ndjson"),
        ),
        (
            "v2_service_lifecycle/shim",
            fixture!("v2_service_lifecycle", "shim.ndjson"),
        ),
        (
            "v2_host_lifecycle/events",
            fixture!("v2_host_lifecycle", "events.ndjson"),
        ),
        (
            "v2_host_lifecycle/shim",
            fixture!("v2_host_lifecycle", "shim.ndjson"),
        ),
        (
            "v3_service_host_lifecycle/events",
            fixture!("v3_service_host_lifecycle", "events.ndjson"),
        ),
        (
            "v3_service_host_lifecycle/shim",
            fixture!("v3_service_host_lifecycle", "shim.ndjson"),
        ),
        (
            "downtime_ack/events",
            fixture!("downtime_ack", "events.ndjson"),
        ),
        ("downtime_ack/shim", fixture!("downtime_ack", "shim.ndjson")),
    ] {
        for (n, line) in text.lines().enumerate() {
            let raw: Value = serde_json::from_str(line).unwrap();
            match normalise_line(line.as_bytes()) {
                Ok(Normalised::Event(e)) => {
                    assert_eq!(e.resource().host_id, raw["host_id"].as_u64().unwrap());
                    if let Event::Status(s) = &e {
                        assert!(!s.output.contains('\n'), "{name}:{}", n + 1);
                        assert_eq!(
                            s.bbdo,
                            if raw["element"].as_i64().unwrap() < 25 {
                                Bbdo::V2
                            } else {
                                Bbdo::V3
                            }
                        );
                        if name.ends_with("shim") {
                            assert!(s.context.host_name.is_some(), "{name}:{}", n + 1);
                        }
                    }
                }
                other => panic!("{name}:{}: {other:?}", n + 1),
            }
        }
    }
}
