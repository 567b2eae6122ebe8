//! Normalisation of raw Broker events, BBDO v2 and v3 (DESIGN §4.1), and properties:
//! `normalise_line` never panics, whatever the bytes or the JSON.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap
#![recursion_limit = "256"]

use broker::normalise::element;
use broker::{
    normalise_line, Acknowledgement, AdaptiveStatus, Bbdo, Context, Definition, Downtime,
    DowntimePhase, Event, Ignored, Normalised, RejectReason, Rejection, ResourceId, Status,
    PENDING,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

// ---------------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------------

fn neb(element: i64, mut fields: Value) -> Value {
    let obj = fields.as_object_mut().unwrap();
    obj.insert("_type".into(), json!((1 << 16) | element));
    obj.insert("category".into(), json!(1));
    obj.insert("element".into(), json!(element));
    fields
}

fn norm(v: &Value) -> Result<Normalised, Rejection> {
    normalise_line(&serde_json::to_vec(v).unwrap())
}

fn event(v: &Value) -> Event {
    match norm(v) {
        Ok(Normalised::Event(e)) => e,
        other => panic!("not an event: {other:?}\n{v}"),
    }
}

fn status(v: &Value) -> Status {
    match event(v) {
        Event::Status(s) => s,
        other => panic!("not a status: {other:?}"),
    }
}

fn rejected(v: &Value) -> Rejection {
    match norm(v) {
        Err(r) => r,
        other => panic!("not rejected: {other:?}\n{v}"),
    }
}

/// A BBDO v2 service_status as Broker gives it: zero times absent, `output` = first + long.
fn v2_service_status() -> Value {
    neb(
        24,
        json!({
            "acknowledged": false, "acknowledgement_type": 0, "active_checks": true,
            "check_interval": 5.0, "check_period": "24x7", "check_type": 0, "check_attempt": 3,
            "state": 2, "scheduled_downtime_depth": 0, "enabled": true, "event_handler": "",
            "event_handler_enabled": true, "execution_time": 0.4, "flap_detection": true,
            "checked": true, "host_id": 101, "flapping": false, "last_check": 1781001050,
            "last_hard_state": 2, "last_hard_state_change": 1781001050,
            "last_notification": 1781001050, "last_state_change": 1781000330,
            "last_time_ok": 1781000030, "last_time_critical": 1781001050,
            "last_update": 1781001051, "latency": 0.2, "max_check_attempts": 3,
            "next_check": 1781001350, "no_more_notifications": false, "notification_number": 1,
            "notify": true, "obsess_over_service": true, "passive_checks": false,
            "percent_state_change": 0.0, "retry_interval": 1.0, "should_be_scheduled": true,
            "state_type": 1, "check_command": "generic-active-service",
            "output": "HTTP CRITICAL - 503\nbackend pool empty\nretry later\n",
            "perfdata": "time=0.041s;1.000;2.000;0.000", "service_id": 2001,
            "_cache": {
                "host_name": "srv-web-01", "service_description": "HTTP",
                "hostgroups": ["Web", "Linux"], "servicegroups": ["Frontends"],
                "host_severity": 2, "service_severity": 3,
                "notes_url": "https://wiki/x", "action_url": "https://grafana/y",
                "poller": "Central"
            }
        }),
    )
}

/// A BBDO v3 pb_service_status: every field present, `long_output` apart, no `last_update`.
fn v3_service_status() -> Value {
    neb(
        29,
        json!({
            "host_id": 301, "service_id": 3001, "checked": true, "check_type": 0, "state": 2,
            "state_type": 1, "last_state_change": 1781000320, "last_hard_state": 2,
            "last_hard_state_change": 1781000440, "last_time_ok": 1781000020,
            "last_time_warning": 0, "last_time_critical": 1781000440, "last_time_unknown": 0,
            "output": "CRITICAL: 1012 client connection threads",
            "long_output": "Top users:\nweb: 800\nbatch: 212",
            "perfdata": "Connections=1012;800;1000;0;", "flapping": false,
            "percent_state_change": 0.0, "latency": 0.193, "execution_time": 1.33,
            "last_check": 1781000440, "next_check": 1781000740, "should_be_scheduled": true,
            "check_attempt": 3, "notification_number": 1, "no_more_notifications": false,
            "last_notification": 1781000440, "next_notification": 1781002240,
            "acknowledgement_type": 0, "scheduled_downtime_depth": 0, "type": 0,
            "internal_id": 0,
            "_cache": {"host_name": "db-lyon-01", "service_description": "MySQL-Connections"}
        }),
    )
}

/// A BBDO v3 pb_host_status.
fn v3_host_status() -> Value {
    neb(
        32,
        json!({
            "host_id": 301, "checked": true, "check_type": 0, "state": 1, "state_type": 1,
            "last_state_change": 1781000860, "last_hard_state": 1,
            "last_hard_state_change": 1781000920, "last_time_up": 1781000020,
            "last_time_down": 1781000920, "last_time_unreachable": 0,
            "output": "ping timeout\narp: incomplete\nno route", "long_output": "",
            "perfdata": "pl=100%;80;100;0;100", "flapping": false,
            "percent_state_change": 0.0, "latency": 0.248, "execution_time": 0.041,
            "last_check": 1781000920, "next_check": 1781001220, "should_be_scheduled": true,
            "check_attempt": 2, "notification_number": 1, "no_more_notifications": false,
            "last_notification": 1781000920, "next_host_notification": 1781002720,
            "acknowledgement_type": 0, "scheduled_downtime_depth": 0
        }),
    )
}

fn set(mut v: Value, key: &str, val: Value) -> Value {
    v[key] = val;
    v
}

fn remove(mut v: Value, key: &str) -> Value {
    v.as_object_mut().unwrap().remove(key);
    v
}

// ---------------------------------------------------------------------------------------------
// Statuses.
// ---------------------------------------------------------------------------------------------

#[test]
fn v2_service_status_fields() {
    let s = status(&v2_service_status());
    assert_eq!(
        s,
        Status {
            resource: ResourceId::service(101, 2001),
            bbdo: Bbdo::V2,
            state: 2,
            hard: true,
            last_hard_state: Some(2),
            attempt: Some(3),
            max_attempts: Some(3),
            last_check: Some(1781001050),
            last_update: Some(1781001051),
            last_hard_state_change: Some(1781001050),
            output: "HTTP CRITICAL - 503".into(),
            long_output: "backend pool empty\nretry later".into(),
            perfdata: "time=0.041s;1.000;2.000;0.000".into(),
            ack: Some(0),
            downtime_depth: Some(0),
            flapping: Some(false),
            notify: Some(true),
            meta_service: false,
            context: Context {
                host_name: Some("srv-web-01".into()),
                service_description: Some("HTTP".into()),
                hostgroups: vec!["Web".into(), "Linux".into()],
                servicegroups: vec!["Frontends".into()],
                host_severity: Some(2),
                service_severity: Some(3),
                notes_url: Some("https://wiki/x".into()),
                action_url: Some("https://grafana/y".into()),
                poller: Some("Central".into()),
            },
        }
    );
    assert_eq!(s.event_time(), Some(1781001050));
}

#[test]
fn v3_service_status_fields() {
    let s = status(&v3_service_status());
    assert_eq!(s.resource, ResourceId::service(301, 3001));
    assert_eq!(s.bbdo, Bbdo::V3);
    assert_eq!((s.state, s.hard), (2, true));
    assert_eq!(s.output, "CRITICAL: 1012 client connection threads");
    assert_eq!(s.long_output, "Top users:\nweb: 800\nbatch: 212");
    // No last_update, no max_check_attempts, no notify in v3 statuses.
    assert_eq!(s.last_update, None);
    assert_eq!(s.max_attempts, None);
    assert_eq!(s.notify, None);
    assert_eq!(s.ack, Some(0));
    assert_eq!(s.downtime_depth, Some(0));
    assert_eq!(s.last_check, Some(1781000440));
    assert_eq!(s.event_time(), Some(1781000440));
    assert!(!s.meta_service);
    assert_eq!(s.context.host_name.as_deref(), Some("db-lyon-01"));
    assert_eq!(s.context.hostgroups, Vec::<String>::new());
    // SOFT.
    let s = status(&set(v3_service_status(), "state_type", json!(0)));
    assert!(!s.hard);
}

#[test]
fn pending_status_is_a_status_with_state_4() {
    let v2 = neb(
        24,
        json!({"host_id": 101, "service_id": 2001, "state": 4, "state_type": 1,
               "checked": false, "output": "", "last_update": 1781000000}),
    );
    let s = status(&v2);
    assert_eq!(s.state, PENDING);
    assert!(s.hard);
    assert_eq!(s.last_check, None);
    assert_eq!(s.event_time(), Some(1781000000));
    let v3 = set(
        set(
            set(v3_service_status(), "state", json!(4)),
            "last_check",
            json!(0),
        ),
        "checked",
        json!(false),
    );
    let s = status(&v3);
    assert_eq!(s.state, PENDING);
    assert_eq!(s.last_check, None);
    assert_eq!(s.event_time(), None);
    // Hosts too (pb host enums have no 4, Engine sends it anyway).
    let s = status(&set(v3_host_status(), "state", json!(4)));
    assert_eq!(s.state, PENDING);
    // Out of range states are rejected.
    for bad in [json!(5), json!(-1), json!(2.5), json!("x"), json!(null)] {
        let r = rejected(&set(v3_service_status(), "state", bad.clone()));
        assert_eq!(r.reason, RejectReason::NoState, "{bad}");
        assert!(r.looks_like_alert());
        assert_eq!(r.host_id, Some(301));
        assert_eq!(r.service_id, Some(3001));
    }
}

#[test]
fn acknowledged_v2_vs_acknowledgement_type_v3() {
    let v2 = |acked: Value, kind: Option<i64>| {
        let mut e = set(v2_service_status(), "acknowledged", acked);
        match kind {
            Some(k) => e["acknowledgement_type"] = json!(k),
            None => e = remove(e, "acknowledgement_type"),
        }
        status(&e).ack
    };
    assert_eq!(v2(json!(false), Some(0)), Some(0));
    assert_eq!(v2(json!(true), Some(1)), Some(1));
    assert_eq!(v2(json!(true), Some(2)), Some(2));
    // `acknowledged` alone.
    assert_eq!(v2(json!(true), None), Some(1));
    assert_eq!(v2(json!(false), None), Some(0));
    // `acknowledged` is the v2 truth: true with a type 0 is a normal acknowledgement.
    assert_eq!(v2(json!(true), Some(0)), Some(1));
    assert_eq!(v2(json!(1), Some(2)), Some(2));
    // v3: the type only.
    let v3 = |kind: Value| status(&set(v3_service_status(), "acknowledgement_type", kind)).ack;
    assert_eq!(v3(json!(0)), Some(0));
    assert_eq!(v3(json!(1)), Some(1));
    assert_eq!(v3(json!(2)), Some(2));
    assert_eq!(v3(json!(2.0)), Some(2));
    assert_eq!(v3(json!(9)), Some(2));
    // Neither: unknown.
    let s = status(&remove(v3_service_status(), "acknowledgement_type"));
    assert_eq!(s.ack, None);
}

#[test]
fn absent_zero_and_minus_one_timestamps_are_none() {
    // v2: absent.
    let e = remove(
        remove(
            remove(v2_service_status(), "last_check"),
            "last_hard_state_change",
        ),
        "last_update",
    );
    let s = status(&e);
    assert_eq!(
        (s.last_check, s.last_update, s.last_hard_state_change),
        (None, None, None)
    );
    assert_eq!(s.event_time(), None);
    // v3: zero.
    let e = set(
        set(v3_service_status(), "last_check", json!(0)),
        "last_hard_state_change",
        json!(0),
    );
    let s = status(&e);
    assert_eq!((s.last_check, s.last_hard_state_change), (None, None));
    // -1 and null.
    let s = status(&set(v3_service_status(), "last_check", json!(-1)));
    assert_eq!(s.last_check, None);
    let s = status(&set(v3_service_status(), "last_check", Value::Null));
    assert_eq!(s.last_check, None);
    // Event time falls back to last_update.
    let s = status(&remove(v2_service_status(), "last_check"));
    assert_eq!(s.event_time(), Some(1781001051));
}

#[test]
fn v2_combined_output_is_split() {
    let out = |o: &str| {
        let s = status(&set(v2_service_status(), "output", json!(o)));
        (s.output, s.long_output)
    };
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        out("first\nlong 1\nlong 2\n"),
        pair("first", "long 1\nlong 2")
    );
    assert_eq!(out("only line\n"), pair("only line", ""));
    assert_eq!(out("no newline"), pair("no newline", ""));
    assert_eq!(out(""), pair("", ""));
    assert_eq!(out("\n"), pair("", ""));
    assert_eq!(out("dos\r\nlong\r\n"), pair("dos", "long"));
    assert_eq!(
        out("first\n\nafter blank\n"),
        pair("first", "\nafter blank")
    );
    // A v2 event without output.
    let s = status(&remove(v2_service_status(), "output"));
    assert_eq!((s.output.as_str(), s.long_output.as_str()), ("", ""));
}

#[test]
fn v3_output_and_long_output_and_host_quirk() {
    // Services: output + long_output.
    let s = status(&v3_service_status());
    assert_eq!(s.output, "CRITICAL: 1012 client connection threads");
    assert_eq!(s.long_output, "Top users:\nweb: 800\nbatch: 212");
    // Hosts: the long output overwrote `output`, `long_output` is empty.
    let s = status(&v3_host_status());
    assert_eq!(s.resource, ResourceId::host(301));
    assert_eq!(s.output, "ping timeout");
    assert_eq!(s.long_output, "arp: incomplete\nno route");
    // A host without a long output.
    let s = status(&set(v3_host_status(), "output", json!("PING OK")));
    assert_eq!((s.output.as_str(), s.long_output.as_str()), ("PING OK", ""));
    // Should Engine fix the quirk one day, a host long_output is used as is.
    let e = set(
        set(v3_host_status(), "output", json!("PING CRITICAL")),
        "long_output",
        json!("detail"),
    );
    let s = status(&e);
    assert_eq!(
        (s.output.as_str(), s.long_output.as_str()),
        ("PING CRITICAL", "detail")
    );
}

#[test]
fn adaptive_statuses_are_patches() {
    let e = neb(
        55,
        json!({"host_id": 401, "service_id": 4001, "type": 0, "internal_id": 0,
               "acknowledgement_type": 1}),
    );
    assert_eq!(
        event(&e),
        Event::AdaptiveStatus(AdaptiveStatus {
            resource: ResourceId::service(401, 4001),
            downtime_depth: None,
            ack: Some(1),
            notification_number: None,
            context: Context::default(),
        })
    );
    let e = neb(56, json!({"host_id": 401, "scheduled_downtime_depth": 1}));
    assert_eq!(
        event(&e),
        Event::AdaptiveStatus(AdaptiveStatus {
            resource: ResourceId::host(401),
            downtime_depth: Some(1),
            ack: None,
            notification_number: None,
            context: Context::default(),
        })
    );
    let e = neb(56, json!({"host_id": 401, "notification_number": 3}));
    match event(&e) {
        Event::AdaptiveStatus(a) => assert_eq!(a.notification_number, Some(3)),
        other => panic!("{other:?}"),
    }
    // A `state` in an adaptive status (there is none in Broker's) is not read as a state.
    let e = neb(55, json!({"host_id": 401, "service_id": 4001, "state": 2}));
    assert!(matches!(event(&e), Event::AdaptiveStatus(_)));
    // An adaptive service status without service_id is unusable.
    let r = rejected(&neb(55, json!({"host_id": 401, "acknowledgement_type": 1})));
    assert!(r.looks_like_alert());
    // BA adaptive statuses are BAM.
    let e = neb(
        55,
        json!({"host_id": 9, "service_id": 1, "type": 3, "scheduled_downtime_depth": 1}),
    );
    assert_eq!(norm(&e), Ok(Normalised::Ignored(Ignored::Bam)));
}

#[test]
fn bam_skipped_meta_services_kept() {
    // v3: ServiceStatus.type 3 (BA).
    let ba = set(v3_service_status(), "type", json!(3));
    assert_eq!(norm(&ba), Ok(Normalised::Ignored(Ignored::Bam)));
    // Hosts named _Module_BAM_* (v2 and v3).
    let mut v2 = v2_service_status();
    v2["_cache"] = json!({"host_name": "_Module_BAM_1", "service_description": "ba_3"});
    assert_eq!(norm(&v2), Ok(Normalised::Ignored(Ignored::Bam)));
    let mut v3 = v3_service_status();
    v3["_cache"] = json!({"host_name": "_Module_BAM_1", "service_description": "ba_3"});
    assert_eq!(norm(&v3), Ok(Normalised::Ignored(Ignored::Bam)));
    // BAM's own category (6) is not NEB.
    let e = json!({"_type": (6 << 16) | 1, "category": 6, "element": 1, "ba_id": 3, "state": 2});
    assert_eq!(
        norm(&e),
        Ok(Normalised::Ignored(Ignored::Element {
            category: 6,
            element: 1
        }))
    );
    // Meta-services are kept: v3 type 2, v2 on the _Module_Meta host.
    let s = status(&set(v3_service_status(), "type", json!(2)));
    assert!(s.meta_service);
    let mut v2 = v2_service_status();
    v2["_cache"] = json!({"host_name": "_Module_Meta", "service_description": "meta_1"});
    let s = status(&v2);
    assert_eq!(s.context.host_name.as_deref(), Some("_Module_Meta"));
    // Anomaly detection (type 4) is a service.
    let s = status(&set(v3_service_status(), "type", json!(4)));
    assert!(!s.meta_service);
}

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

// ---------------------------------------------------------------------------------------------
// Acknowledgements, downtimes, definitions.
// ---------------------------------------------------------------------------------------------

#[test]
fn acknowledgement_events_v2_and_v3() {
    // v2: deletion_time absent (nil if -1), service_id absent for hosts.
    let v2 = neb(
        1,
        json!({"host_id": 201, "instance_id": 1, "type": 0, "author": "jdoe",
               "comment_data": "on it", "sticky": true, "notify_contacts": true,
               "persistent_comment": true, "entry_time": 1781000500, "state": 1}),
    );
    assert_eq!(
        event(&v2),
        Event::Acknowledgement(Acknowledgement {
            resource: ResourceId::host(201),
            entry_time: Some(1781000500),
            deletion_time: None,
            sticky: true,
            state: Some(1),
            context: Context::default(),
        })
    );
    let v2_end = set(
        set(v2.clone(), "deletion_time", json!(1781000900)),
        "service_id",
        json!(5),
    );
    match event(&v2_end) {
        Event::Acknowledgement(a) => {
            assert_eq!(a.resource, ResourceId::service(201, 5));
            assert_eq!(a.deletion_time, Some(1781000900));
        }
        other => panic!("{other:?}"),
    }
    // v3: every field; deletion_time 0 or -1 when unset.
    let v3 = neb(
        45,
        json!({"host_id": 401, "service_id": 4001, "instance_id": 1, "type": 1,
               "author": "jdoe", "comment_data": "looking", "sticky": false,
               "notify_contacts": true, "entry_time": 1781000420, "deletion_time": 0,
               "persistent_comment": true, "state": 2}),
    );
    for deletion in [json!(0), json!(-1), Value::Null] {
        match event(&set(v3.clone(), "deletion_time", deletion)) {
            Event::Acknowledgement(a) => {
                assert_eq!(a.resource, ResourceId::service(401, 4001));
                assert_eq!(a.deletion_time, None);
                assert!(!a.sticky);
                assert_eq!(a.entry_time, Some(1781000420));
            }
            other => panic!("{other:?}"),
        }
    }
    // v3 host acknowledgement: service_id 0.
    match event(&set(v3.clone(), "service_id", json!(0))) {
        Event::Acknowledgement(a) => assert_eq!(a.resource, ResourceId::host(401)),
        other => panic!("{other:?}"),
    }
    // Without host_id: rejected, and it looks like an alert.
    let r = rejected(&remove(v3, "host_id"));
    assert_eq!(r.reason, RejectReason::NoHostId);
    assert_eq!(r.element, Some(element::PB_ACKNOWLEDGEMENT));
    assert!(r.looks_like_alert());
}

fn phase(v: &Value) -> (ResourceId, u64, DowntimePhase) {
    match event(v) {
        Event::Downtime(Downtime {
            resource,
            id,
            phase,
            ..
        }) => (resource, id, phase),
        other => panic!("{other:?}"),
    }
}

#[test]
fn downtime_phases_v2() {
    // v2: ids in internal_id, unset times absent (nil if -1), zero ids absent.
    let base = neb(
        5,
        json!({"host_id": 401, "service_id": 4002, "internal_id": 1015, "instance_id": 1,
               "type": 1, "author": "jdoe", "comment_data": "backup", "duration": 3600,
               "entry_time": 1781001080, "start_time": 1781001080, "end_time": 1781004680,
               "fixed": true, "started": false, "cancelled": false}),
    );
    let svc = ResourceId::service(401, 4002);
    assert_eq!(phase(&base), (svc, 1015, DowntimePhase::Scheduled));
    let started = set(
        set(base.clone(), "started", json!(true)),
        "actual_start_time",
        json!(1781001080),
    );
    assert_eq!(phase(&started), (svc, 1015, DowntimePhase::Started));
    let ended = set(started.clone(), "actual_end_time", json!(1781004680));
    assert_eq!(phase(&ended), (svc, 1015, DowntimePhase::Ended));
    let deleted = set(ended, "deletion_time", json!(1781004680));
    assert_eq!(phase(&deleted), (svc, 1015, DowntimePhase::Ended));
    // A flexible downtime cancelled before it started.
    let cancelled = set(
        set(
            set(base.clone(), "fixed", json!(false)),
            "cancelled",
            json!(true),
        ),
        "deletion_time",
        json!(1781002000),
    );
    assert_eq!(phase(&cancelled), (svc, 1015, DowntimePhase::Ended));
    // Host downtime: no service_id.
    let host = set(remove(started, "service_id"), "type", json!(2));
    assert_eq!(phase(&host).0, ResourceId::host(401));
    // `started` alone (older Broker) is enough.
    let started = set(base.clone(), "started", json!(1));
    assert_eq!(phase(&started).2, DowntimePhase::Started);
    // Without an id: rejected, looks like an alert.
    let r = rejected(&remove(base, "internal_id"));
    assert_eq!(r.reason, RejectReason::NoDowntimeId);
    assert!(r.looks_like_alert());
}

#[test]
fn downtime_phases_v3() {
    let base = neb(
        36,
        json!({"host_id": 401, "service_id": 4002, "id": 1015, "instance_id": 1, "type": 1,
               "author": "jdoe", "comment_data": "backup", "duration": 3600,
               "triggered_by": 0, "entry_time": 1781001080, "start_time": 1781001080,
               "end_time": 1781004680, "fixed": true, "started": false,
               "actual_start_time": -1, "actual_end_time": -1, "deletion_time": -1,
               "cancelled": false}),
    );
    let svc = ResourceId::service(401, 4002);
    assert_eq!(phase(&base), (svc, 1015, DowntimePhase::Scheduled));
    let started = set(
        set(base.clone(), "started", json!(true)),
        "actual_start_time",
        json!(1781001080),
    );
    assert_eq!(phase(&started), (svc, 1015, DowntimePhase::Started));
    let ended = set(started.clone(), "actual_end_time", json!(1781004680));
    assert_eq!(phase(&ended), (svc, 1015, DowntimePhase::Ended));
    let deleted = set(ended, "deletion_time", json!(1781004680));
    assert_eq!(phase(&deleted), (svc, 1015, DowntimePhase::Ended));
    // uint64 -1 as the shim may write it, and 0: unset.
    let odd = set(
        set(base.clone(), "actual_start_time", json!(u64::MAX)),
        "deletion_time",
        json!(0),
    );
    assert_eq!(phase(&odd).2, DowntimePhase::Scheduled);
    // Cancelled before it started.
    let cancelled = set(
        set(base.clone(), "cancelled", json!(true)),
        "deletion_time",
        json!(1781002000),
    );
    assert_eq!(phase(&cancelled).2, DowntimePhase::Ended);
    // Host downtime: service_id 0.
    let host = set(set(started, "service_id", json!(0)), "type", json!(2));
    assert_eq!(phase(&host).0, ResourceId::host(401));
    // v3 `id` is the id even when internal_id is there too.
    let both = set(base.clone(), "internal_id", json!(7));
    assert_eq!(phase(&both).1, 1015);
    let r = rejected(&set(base, "id", json!(0)));
    assert_eq!(r.reason, RejectReason::NoDowntimeId);
}

fn definition(v: &Value) -> Definition {
    match event(v) {
        Event::Definition(d) => d,
        other => panic!("{other:?}"),
    }
}

#[test]
fn definitions_v2_v3_and_adaptive() {
    let d = definition(&neb(
        12,
        json!({"host_id": 101, "name": "srv-web-01", "enabled": true, "notify": false,
               "max_check_attempts": 3, "state": 4, "alias": "x"}),
    ));
    assert_eq!(d.resource, ResourceId::host(101));
    assert!(!d.adaptive);
    assert_eq!(d.host_name.as_deref(), Some("srv-web-01"));
    assert_eq!(d.service_description, None);
    assert_eq!((d.enabled, d.notify), (Some(true), Some(false)));
    assert_eq!(d.max_attempts, Some(3));

    let d = definition(&neb(
        23,
        json!({"host_id": 101, "service_id": 2001, "description": "HTTP",
               "host_name": "srv-web-01", "enabled": false, "volatile": true}),
    ));
    assert_eq!(d.resource, ResourceId::service(101, 2001));
    assert_eq!(d.service_description.as_deref(), Some("HTTP"));
    assert_eq!(d.host_name.as_deref(), Some("srv-web-01"));
    assert_eq!((d.enabled, d.volatile), (Some(false), Some(true)));

    let d = definition(&neb(
        30,
        json!({"host_id": 301, "name": "db-lyon-01", "enabled": true, "notify": true,
               "tags": [{"id": 1, "type": 1}], "severity_id": 0}),
    ));
    assert_eq!(d.resource, ResourceId::host(301));
    assert_eq!(d.host_name.as_deref(), Some("db-lyon-01"));

    let d = definition(&neb(
        27,
        json!({"host_id": 301, "service_id": 3001, "description": "MySQL",
               "host_name": "db-lyon-01", "enabled": true, "notify": true, "type": 0,
               "internal_id": 0, "is_volatile": false}),
    ));
    assert_eq!(d.resource, ResourceId::service(301, 3001));
    assert_eq!(d.service_description.as_deref(), Some("MySQL"));

    // Adaptive definitions carry only what changed.
    let d = definition(&neb(
        28,
        json!({"host_id": 301, "service_id": 3001, "notify": false}),
    ));
    assert!(d.adaptive);
    assert_eq!(d.resource, ResourceId::service(301, 3001));
    assert_eq!((d.enabled, d.notify, d.volatile), (None, Some(false), None));
    assert_eq!(d.service_description, None);
    let d = definition(&neb(31, json!({"host_id": 301, "notify": true})));
    assert!(d.adaptive);
    assert_eq!(d.resource, ResourceId::host(301));
    assert_eq!(d.notify, Some(true));
    // Empty names are no names.
    let d = definition(&neb(12, json!({"host_id": 1, "name": ""})));
    assert_eq!(d.host_name, None);
}

/// BBDO v3 `pb_service` names the flag `is_volatile` (Broker reference §2.5, the fixtures);
/// v2 `neb::service` names it `volatile`.
#[test]
fn v3_service_definition_is_volatile() {
    let d = definition(&neb(
        27,
        json!({"host_id": 301, "service_id": 3001, "description": "traps",
               "enabled": true, "is_volatile": true}),
    ));
    assert_eq!(d.volatile, Some(true));
}

// ---------------------------------------------------------------------------------------------
// Rejections and ignored events.
// ---------------------------------------------------------------------------------------------

#[test]
fn invalid_json_and_utf8_rejected_with_ids() {
    let line = br#"{"_type":65560,"category":1,"element":24,"host_id":101,"service_id":2001,"state":2,"output":"cut here"#;
    let r = normalise_line(line).unwrap_err();
    assert!(matches!(r.reason, RejectReason::Json(_)), "{r:?}");
    assert_eq!(
        (r.element, r.host_id, r.service_id),
        (Some(24), Some(101), Some(2001))
    );
    assert!(r.looks_like_alert());
    assert!(r.to_string().starts_with("invalid JSON"), "{r}");

    let mut line = br#"{"_type":65565,"category":1,"element":29,"host_id":301,"service_id":3001,"state":2,"output":""#.to_vec();
    line.extend_from_slice(b"\xff\xfe bad\"}");
    let r = normalise_line(&line).unwrap_err();
    assert_eq!(r.reason, RejectReason::Utf8);
    assert_eq!(
        (r.element, r.host_id, r.service_id),
        (Some(29), Some(301), Some(3001))
    );
    assert!(r.looks_like_alert());

    // Spaces around the colon.
    let r = normalise_line(br#"{"element" : 1, "host_id":  7, oops}"#).unwrap_err();
    assert_eq!(
        (r.element, r.host_id, r.service_id),
        (Some(1), Some(7), None)
    );
    assert!(r.looks_like_alert());

    // A definition is not an alert.
    let r = normalise_line(br#"{"element":12,"host_id":7,"#).unwrap_err();
    assert!(!r.looks_like_alert());

    // Not an object; empty; garbage. (`[]` is a valid empty serde sequence: no element.)
    for line in [
        &b"[]"[..],
        b"42",
        b"\"x\"",
        b"null",
        b"",
        b"   ",
        b"{",
        b"}{",
        b"\x00",
    ] {
        let r = normalise_line(line).unwrap_err();
        assert!(
            matches!(
                r.reason,
                RejectReason::Json(_) | RejectReason::Utf8 | RejectReason::NoElement
            ),
            "{line:?}: {r:?}"
        );
        assert!(!r.looks_like_alert());
    }
}

#[test]
fn missing_ids_and_elements() {
    // No category/element/_type.
    let r = rejected(&json!({"host_id": 1, "state": 2}));
    assert_eq!(r.reason, RejectReason::NoElement);
    // A status without host_id, or a service status without service_id.
    let r = rejected(&remove(v2_service_status(), "host_id"));
    assert_eq!(r.reason, RejectReason::NoHostId);
    assert_eq!(r.element, Some(24));
    assert!(r.looks_like_alert());
    let r = rejected(&remove(v2_service_status(), "service_id"));
    assert!(r.looks_like_alert());
    assert_eq!(r.host_id, Some(101));
    // An element the rules do not use is ignored, with or without ids.
    let comment = neb(2, json!({"host_id": 1, "data": "x"}));
    assert_eq!(
        norm(&comment),
        Ok(Normalised::Ignored(Ignored::Element {
            category: 1,
            element: 2
        }))
    );
    let instance = neb(42, json!({"poller_id": 1}));
    assert_eq!(
        norm(&instance),
        Ok(Normalised::Ignored(Ignored::Element {
            category: 1,
            element: 42
        }))
    );
    // Other categories (storage metrics) are ignored.
    let metric = json!({"_type": (3 << 16) | 1, "category": 3, "element": 1, "metric_id": 5});
    assert!(matches!(norm(&metric), Ok(Normalised::Ignored(_))));
}

// ---------------------------------------------------------------------------------------------
// The fixtures.
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Properties: never a panic, invariants of the model.
// ---------------------------------------------------------------------------------------------

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

/// A downtime is identified by (id, entry_time, start_time): Engine renumbers downtimes at each
/// start (fixtures/real-broker-25.05). Unset v3 times (-1) are none.
#[test]
fn downtime_identity_carries_entry_and_start_times() {
    let e = neb(
        36,
        json!({"host_id": 1, "service_id": 2, "id": 3, "entry_time": 1796497670,
               "start_time": 1796497670, "end_time": 1796498270, "started": true,
               "actual_start_time": 1796497693, "actual_end_time": -1, "deletion_time": -1,
               "cancelled": false, "fixed": true}),
    );
    let Event::Downtime(d) = event(&e) else {
        panic!("not a downtime")
    };
    assert_eq!(
        (d.id, d.entry_time, d.start_time),
        (3, Some(1796497670), Some(1796497670))
    );
    assert_eq!(d.phase, DowntimePhase::Started);
    let unset = set(set(e, "entry_time", json!(-1)), "start_time", json!(0));
    let Event::Downtime(d) = event(&unset) else {
        panic!("not a downtime")
    };
    assert_eq!((d.entry_time, d.start_time), (None, None));
}

/// A definition of a resource Engine never checked (`state` 4, or `checked` false) says so;
/// adaptive definitions never do (they carry only what changed).
#[test]
fn never_checked_definitions() {
    let v3 = neb(
        27,
        json!({"host_id": 1, "service_id": 2, "description": "svc_2", "host_name": "host_1",
               "enabled": true, "state": 4, "checked": false}),
    );
    assert!(definition(&v3).never_checked);
    let v2 = neb(12, json!({"host_id": 1, "name": "host_1", "state": 4}));
    assert!(definition(&v2).never_checked);
    let unchecked = neb(
        30,
        json!({"host_id": 1, "name": "host_1", "checked": false}),
    );
    assert!(definition(&unchecked).never_checked);
    let checked = neb(
        27,
        json!({"host_id": 1, "service_id": 2, "state": 2, "checked": true}),
    );
    assert!(!definition(&checked).never_checked);
    let adaptive = neb(28, json!({"host_id": 1, "service_id": 2, "state": 4}));
    assert!(!definition(&adaptive).never_checked);
}

/// BBDO v3 statuses carry neither `notify` nor `max_check_attempts`: the shim adds both to
/// `_cache` from `broker_cache`; the status's own values win when present (v2).
#[test]
fn notify_and_max_attempts_from_the_cache_when_the_status_lacks_them() {
    let with_cache = set(
        v3_service_status(),
        "_cache",
        json!({"host_name": "db", "notify": false, "max_check_attempts": 5}),
    );
    let s = status(&with_cache);
    assert_eq!((s.notify, s.max_attempts), (Some(false), Some(5)));
    let v2 = set(
        v2_service_status(),
        "_cache",
        json!({"notify": false, "max_check_attempts": 5}),
    );
    let s = status(&v2);
    assert_eq!(s.notify, Some(true), "the status's own notify wins");
    assert_ne!(
        s.max_attempts,
        Some(5),
        "the status's own max_check_attempts wins"
    );
    let s = status(&v3_service_status());
    assert_eq!((s.notify, s.max_attempts), (None, None));
}
