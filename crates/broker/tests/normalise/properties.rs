//! Properties: never a panic, invariants of the model; truncated lines, deep nesting.

use crate::helpers::{norm, v2_service_status, v3_host_status, v3_service_status};
use broker::{normalise_line, Event, Normalised, Rejection, PENDING};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Every key the normaliser reads, and a few it does not.
const KEYS: &[&str] = &[
    "_type",
    "category",
    "element",
    "host_id",
    "service_id",
    "instance_id",
    "state",
    "state_type",
    "last_hard_state",
    "last_check",
    "last_update",
    "last_hard_state_change",
    "output",
    "long_output",
    "perfdata",
    "acknowledged",
    "acknowledgement_type",
    "scheduled_downtime_depth",
    "flapping",
    "notify",
    "check_attempt",
    "max_check_attempts",
    "notification_number",
    "enabled",
    "volatile",
    "is_volatile",
    "name",
    "description",
    "host_name",
    "notes_url",
    "action_url",
    "type",
    "internal_id",
    "id",
    "entry_time",
    "deletion_time",
    "sticky",
    "actual_start_time",
    "actual_end_time",
    "started",
    "cancelled",
    "_cache",
    "service_description",
    "hostgroups",
    "servicegroups",
    "host_severity",
    "service_severity",
    "poller",
    "group_name",
    "check_interval",
    "latency",
    "tags",
];

const ELEMENTS: &[i64] = &[
    1, 2, 5, 12, 14, 23, 24, 27, 28, 29, 30, 31, 32, 36, 45, 55, 56, 0, 99,
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => "[a-z_]{0,12}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-5i64..10).prop_map(Value::from),
        (1_700_000_000i64..1_800_000_000).prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (-5i64..10).prop_map(|i| json!(i as f64)),
        ".{0,20}".prop_map(Value::from),
        "[0-9]{1,4}(\\.[05])?".prop_map(Value::from),
        "(true|false|yes|no|0|1)".prop_map(Value::from),
        "[a-z ]{0,8}\n[a-z\n]{0,8}".prop_map(Value::from),
        "_Module_BAM_[0-9]".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An object shaped like a Broker event: a NEB element and real keys with random values.
fn broker_like() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(ELEMENTS),
        any::<bool>(),
        prop::collection::vec((key(), json_value()), 0..24),
    )
        .prop_map(|(element, with_type, fields)| {
            let mut obj: Map<String, Value> = fields.into_iter().collect();
            obj.insert("category".into(), json!(1));
            obj.insert("element".into(), json!(element));
            if with_type {
                obj.insert("_type".into(), json!((1 << 16) | element));
            }
            Value::Object(obj)
        })
}

/// Check the model's invariants on whatever came out.
fn invariants(result: &Result<Normalised, Rejection>) -> Result<(), TestCaseError> {
    let positive = |t: Option<i64>| t.is_none_or(|t| t > 0);
    if let Ok(Normalised::Event(e)) = result {
        prop_assert!(e.resource().host_id > 0, "{e:?}");
        match e {
            Event::Status(s) => {
                prop_assert!(s.state <= PENDING);
                prop_assert!(!s.output.contains('\n'), "{s:?}");
                prop_assert!(positive(s.last_check) && positive(s.last_update));
                prop_assert!(positive(s.last_hard_state_change));
                prop_assert!(s.ack.is_none_or(|a| a <= 2));
                prop_assert!(s.downtime_depth.is_none_or(|d| d >= 0));
                let is_service = matches!(s.resource.service_id, 1..);
                prop_assert!(!s.meta_service || is_service);
            }
            Event::AdaptiveStatus(a) => {
                prop_assert!(a.ack.is_none_or(|a| a <= 2));
                prop_assert!(a.downtime_depth.is_none_or(|d| d >= 0));
            }
            Event::Acknowledgement(a) => {
                prop_assert!(positive(a.entry_time) && positive(a.deletion_time));
            }
            Event::Downtime(d) => prop_assert!(d.id > 0),
            Event::Definition(d) => {
                prop_assert!(d.host_name.as_deref().is_none_or(|n| !n.is_empty()));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = normalise_line(&bytes);
    }

    #[test]
    fn never_panics_on_json_looking_bytes(s in "[{}\\[\\]\":,0-9a-z_ .eE+-]{0,200}") {
        let _ = normalise_line(s.as_bytes());
    }

    #[test]
    fn never_panics_on_arbitrary_json(v in json_value()) {
        let result = normalise_line(&serde_json::to_vec(&v).unwrap());
        invariants(&result)?;
    }

    #[test]
    fn never_panics_on_broker_like_objects(v in broker_like()) {
        let result = normalise_line(&serde_json::to_vec(&v).unwrap());
        invariants(&result)?;
    }

    /// Fields the normaliser does not read may take any type: the result is the same.
    #[test]
    fn unread_fields_never_change_the_result(
        extra in prop::collection::vec(("[a-z]{3,10}_x", json_value()), 0..12),
        base in prop::sample::select(vec![0usize, 1, 2]),
    ) {
        let base = [v2_service_status(), v3_service_status(), v3_host_status()][base].clone();
        let expected = norm(&base);
        let mut v = base;
        for (k, val) in extra {
            v[k.as_str()] = val;
        }
        prop_assert_eq!(norm(&v), expected);
    }

}

/// A line cut anywhere is rejected (or, cut at its very end, still parses): never a panic,
/// and the ids are read from what is left only when they are whole.
#[test]
fn truncated_lines() {
    for base in [v2_service_status(), v3_service_status()] {
        let line = serde_json::to_vec(&base).unwrap();
        let (element, host, service) = (
            base["element"].as_i64(),
            base["host_id"].as_i64(),
            base["service_id"].as_i64(),
        );
        for cut in 0..=line.len() {
            match normalise_line(&line[..cut]) {
                Ok(_) => assert_eq!(cut, line.len()),
                Err(r) => {
                    assert!(r.element.is_none() || r.element == element, "{cut}: {r:?}");
                    assert!(r.host_id.is_none() || r.host_id == host, "{cut}: {r:?}");
                    assert!(
                        r.service_id.is_none() || r.service_id == service,
                        "{cut}: {r:?}"
                    );
                }
            }
        }
    }
    // Cut in the middle of an id: not read.
    let r = normalise_line(br#"{"category":1,"element":24,"host_id":10"#).unwrap_err();
    assert_eq!((r.element, r.host_id), (Some(24), None));
}

/// Deeply nested values (in read and unread fields) are rejected or skipped without
/// overflowing the stack.
#[test]
fn deep_nesting_does_not_overflow() {
    for depth in [100usize, 1_000, 100_000] {
        for key in ["brand_new", "output", "_cache", "hostgroups", "host_id"] {
            let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let line = format!(
                r#"{{"category":1,"element":24,"host_id":1,"service_id":2,"state":0,"{key}":{nested}}}"#
            );
            let _ = normalise_line(line.as_bytes());
            let nested = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
            let line = format!(
                r#"{{"category":1,"element":24,"host_id":1,"service_id":2,"state":0,"{key}":{nested}}}"#
            );
            let _ = normalise_line(line.as_bytes());
        }
        let cache = format!(
            r#"{{"category":1,"element":24,"host_id":1,"service_id":2,"state":0,"_cache":{{"hostgroups":[{}1{}]}}}}"#,
            "{\"group_name\":".repeat(depth),
            "}".repeat(depth)
        );
        let _ = normalise_line(cache.as_bytes());
    }
}
