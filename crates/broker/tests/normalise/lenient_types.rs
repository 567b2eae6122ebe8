//! Lenient types: integer-valued floats, 0/1 booleans, retyped fields, the `_cache` context.

use crate::helpers::{
    event, neb, norm, rejected, remove, set, status, v2_service_status, v3_host_status,
    v3_service_status,
};
use broker::{Bbdo, Context, Event, RejectReason, ResourceId};
use serde_json::{json, Value};

#[test]
fn integer_valued_floats_are_integers() {
    let e = json!({
        "_type": 65565.0, "category": 1.0, "element": 29.0, "host_id": 301.0,
        "service_id": 3001.0, "state": 2.0, "state_type": 1.0, "last_check": 1781000440.0,
        "last_hard_state_change": 1781000440.0, "check_attempt": 3.0,
        "acknowledgement_type": 1.0, "scheduled_downtime_depth": 2.0, "output": "x",
    });
    let s = status(&e);
    assert_eq!(s.resource, ResourceId::service(301, 3001));
    assert_eq!((s.state, s.hard), (2, true));
    assert_eq!(s.last_check, Some(1781000440));
    assert_eq!(s.attempt, Some(3));
    assert_eq!(s.ack, Some(1));
    assert_eq!(s.downtime_depth, Some(2));
    // Numeric strings too.
    let e = set(
        set(v3_service_status(), "host_id", json!("301")),
        "state",
        json!("2"),
    );
    assert_eq!(status(&e).resource, ResourceId::service(301, 3001));
    // A fractional id is no id.
    let r = rejected(&set(v3_service_status(), "host_id", json!(301.5)));
    assert_eq!(r.reason, RejectReason::NoHostId);
    // `_type` alone gives category and element.
    let e = remove(remove(v3_service_status(), "category"), "element");
    assert_eq!(status(&e).bbdo, Bbdo::V3);
    let e = remove(remove(v2_service_status(), "category"), "element");
    assert_eq!(status(&e).bbdo, Bbdo::V2);
}

#[test]
fn zero_one_booleans() {
    let e = set(
        set(
            set(v2_service_status(), "flapping", json!(1)),
            "notify",
            json!(0),
        ),
        "acknowledged",
        json!(1),
    );
    let s = status(&e);
    assert_eq!(s.flapping, Some(true));
    assert_eq!(s.notify, Some(false));
    assert_eq!(s.ack, Some(1));
    let e = set(
        set(v2_service_status(), "flapping", json!(1.0)),
        "notify",
        json!("true"),
    );
    let s = status(&e);
    assert_eq!((s.flapping, s.notify), (Some(true), Some(true)));
    // Definitions.
    let d = neb(
        23,
        json!({"host_id": 1, "service_id": 2, "description": "d", "enabled": 0, "notify": 1,
               "volatile": 1}),
    );
    match event(&d) {
        Event::Definition(d) => {
            assert_eq!(d.enabled, Some(false));
            assert_eq!(d.notify, Some(true));
            assert_eq!(d.volatile, Some(true));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn retyped_unused_fields_change_nothing() {
    for base in [v2_service_status(), v3_service_status(), v3_host_status()] {
        let expected = norm(&base);
        let mut e = base.clone();
        let obj = e.as_object_mut().unwrap();
        for (k, v) in [
            ("check_interval", json!("5m")),
            ("latency", json!({"value": 0.2})),
            ("execution_time", Value::Null),
            ("check_command", json!(42)),
            ("check_period", json!([1, 2, {"x": null}])),
            ("next_check", json!("tomorrow")),
            ("percent_state_change", json!(true)),
            ("should_be_scheduled", json!("yes")),
            ("obsess_over_service", json!(1.5)),
            ("tags", json!("none")),
            (
                "brand_new_field",
                json!({"deep": [[[{"a": [1, 2.5, "x"]}]]]}),
            ),
            ("name", json!(["not", "a", "name"])),
            ("id", json!({"x": 1})),
            ("sticky", json!("maybe")),
        ] {
            obj.insert(k.into(), v);
        }
        assert_eq!(norm(&e), expected, "{e}");
    }
    // A field the rules read, retyped into nonsense, reads as absent: the alert still passes.
    let e = set(v2_service_status(), "perfdata", json!({"time": 0.04}));
    let s = status(&e);
    assert_eq!(s.perfdata, "");
    assert_eq!(s.state, 2);
    let e = set(v2_service_status(), "flapping", json!("sometimes"));
    assert_eq!(status(&e).flapping, None);
    let e = set(v2_service_status(), "_cache", json!("garbage"));
    assert_eq!(status(&e).context, Context::default());
    let e = set(
        v2_service_status(),
        "_cache",
        json!({"host_name": 12, "hostgroups": "Web", "servicegroups": {},
               "host_severity": "2", "poller": null}),
    );
    let c = status(&e).context;
    assert_eq!(c.host_name.as_deref(), Some("12"));
    assert_eq!(c.hostgroups, vec!["Web".to_owned()]);
    assert_eq!(c.servicegroups, Vec::<String>::new());
    assert_eq!(c.host_severity, Some(2));
    assert_eq!(c.poller, None);
}

#[test]
fn cache_context() {
    // broker_cache group tables, empty strings.
    let e = set(
        v2_service_status(),
        "_cache",
        json!({"host_name": "h", "service_description": "",
               "hostgroups": [{"group_id": 1, "group_name": "Web"}, {"group_id": 2}, "Linux"],
               "notes_url": "", "action_url": "https://a"}),
    );
    let c = status(&e).context;
    assert_eq!(c.host_name.as_deref(), Some("h"));
    assert_eq!(c.service_description, None);
    assert_eq!(c.hostgroups, vec!["Web".to_owned(), "Linux".to_owned()]);
    assert_eq!(c.notes_url, None);
    assert_eq!(c.action_url.as_deref(), Some("https://a"));
    // No cache: empty context.
    let c = status(&remove(v2_service_status(), "_cache")).context;
    assert_eq!(c, Context::default());
}
