//! Downtimes: their phases, BBDO v2 and v3, and their identity.

use crate::helpers::{event, neb, rejected, remove, set};
use broker::{Downtime, DowntimePhase, Event, RejectReason, ResourceId};
use serde_json::{json, Value};

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
