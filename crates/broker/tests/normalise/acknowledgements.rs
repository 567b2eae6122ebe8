//! Acknowledgement events, BBDO v2 and v3.

use crate::helpers::{event, neb, rejected, remove, set};
use broker::normalise::element;
use broker::{Acknowledgement, Context, Event, RejectReason, ResourceId};
use serde_json::{json, Value};

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
