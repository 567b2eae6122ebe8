//! Statuses: v2 and v3 fields, pending, acknowledgement, timestamps, outputs, adaptive, BAM.

use crate::helpers::{
    event, neb, norm, rejected, remove, set, status, v2_service_status, v3_host_status,
    v3_service_status,
};
use broker::{
    AdaptiveStatus, Bbdo, Context, Event, Ignored, Normalised, RejectReason, ResourceId, Status,
    PENDING,
};
use serde_json::{json, Value};

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
