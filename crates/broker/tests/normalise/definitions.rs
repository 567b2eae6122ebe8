//! Definitions: BBDO v2, v3 and adaptive, volatile services, resources never checked.

use crate::helpers::{event, neb};
use broker::{Definition, Event, ResourceId};
use serde_json::{json, Value};

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
