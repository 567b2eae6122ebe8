//! The raw events other than check results, BBDO v2 and v3: acknowledgements, downtimes, full
//! and adaptive definitions, adaptive statuses.

use super::{cache, host_name, neb, svc, svc_name, v2_omit_zero, V, V2, V3};
use super::{CRITICAL, HOST, SVC, T0};
use serde_json::{json, Value};

/// An acknowledgement event (v2 element 1, v3 element 45).
pub fn ack_event(v: V, host: u64, service: u64, entry_time: i64, sticky: bool, state: u8) -> Value {
    let mut e = json!({
        "host_id": host,
        "service_id": service,
        "instance_id": 1,
        "type": if service == 0 { 0 } else { 1 },
        "author": "jdoe",
        "comment_data": "looking at it",
        "sticky": sticky,
        "notify_contacts": true,
        "persistent_comment": true,
        "entry_time": entry_time,
        "deletion_time": 0,
        "state": state,
        "_cache": cache(host, service),
    });
    match v {
        V2 => {
            v2_omit_zero(&mut e, &["service_id", "deletion_time"]);
            neb(1, e)
        }
        V3 => neb(45, e),
    }
}

/// The end of an acknowledgement (an acknowledgement event with a deletion time).
pub fn ack_deleted(v: V, host: u64, service: u64, entry_time: i64, deleted: i64) -> Value {
    let mut e = ack_event(v, host, service, entry_time, false, CRITICAL);
    e["deletion_time"] = json!(deleted);
    e
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// Added, waiting for its start (fixed) or its trigger (flexible).
    Scheduled,
    Started,
    /// `actual_end_time` set.
    Ended,
    /// `deletion_time` set, after its end.
    Deleted,
    /// Deleted before it ever started (a flexible downtime that never triggered).
    DeletedUnstarted,
}

/// A downtime event (v2 element 5, v3 element 36).
pub fn downtime(v: V, host: u64, service: u64, id: u64, phase: Phase, t: i64) -> Value {
    let started = matches!(phase, Phase::Started | Phase::Ended | Phase::Deleted);
    let unset = -1;
    let mut e = json!({
        "host_id": host,
        "service_id": service,
        "instance_id": 1,
        "type": if service == 0 { 2 } else { 1 },
        "author": "jdoe",
        "comment_data": "maintenance",
        "duration": 3600,
        "triggered_by": 0,
        "entry_time": T0,
        "start_time": T0,
        "end_time": T0 + 100_000,
        "fixed": phase != Phase::DeletedUnstarted,
        "started": started,
        "cancelled": phase == Phase::DeletedUnstarted,
        "actual_start_time": if started { t } else { unset },
        "actual_end_time": if matches!(phase, Phase::Ended | Phase::Deleted) { t } else { unset },
        "deletion_time": if matches!(phase, Phase::Deleted | Phase::DeletedUnstarted) { t } else { unset },
        "_cache": cache(host, service),
    });
    match v {
        V2 => {
            let obj = e.as_object_mut().unwrap();
            obj.insert("internal_id".into(), json!(id));
            obj.retain(|_, val| val.as_i64() != Some(-1));
            v2_omit_zero(&mut e, &["service_id", "triggered_by"]);
            neb(5, e)
        }
        V3 => {
            e["id"] = json!(id);
            neb(36, e)
        }
    }
}

/// A full definition (v2 12/23, v3 30/27) with `enabled`, `notify` and volatility.
pub fn definition(
    v: V,
    host: u64,
    service: u64,
    enabled: bool,
    notify: bool,
    volatile: bool,
) -> Value {
    let mut e = json!({
        "host_id": host,
        "enabled": enabled,
        "notify": notify,
        "acknowledged": false,
        "acknowledgement_type": 0,
        "active_checks": true,
        "check_interval": 5.0,
        "max_check_attempts": 3,
        "state": 4,
        "state_type": 1,
        "output": "",
        "perfdata": "",
        "notes_url": "",
        "action_url": "",
        "last_update": T0,
    });
    let is_host = service == 0;
    if is_host {
        e["name"] = json!(host_name(host));
        e["alias"] = json!(host_name(host));
        e["address"] = json!("10.0.0.101");
    } else {
        e["service_id"] = json!(service);
        e["description"] = json!(svc_name(service));
        e["host_name"] = json!(host_name(host));
    }
    match (v, is_host) {
        (V2, true) => neb(12, e),
        (V2, false) => {
            e["volatile"] = json!(volatile);
            neb(23, e)
        }
        (V3, true) => {
            e["tags"] = json!([{"id": 1, "type": 1}]);
            e["severity_id"] = json!(0);
            neb(30, e)
        }
        (V3, false) => {
            e["is_volatile"] = json!(volatile);
            e["type"] = json!(0);
            e["internal_id"] = json!(0);
            e["long_output"] = json!("");
            neb(27, e)
        }
    }
}

/// A v3 adaptive definition (31 host, 28 service) carrying only what changed.
pub fn adaptive_definition(host: u64, service: u64, changes: Value) -> Value {
    let mut e = changes;
    e["host_id"] = json!(host);
    if service == 0 {
        neb(31, e)
    } else {
        e["service_id"] = json!(service);
        neb(28, e)
    }
}

/// A v3 adaptive status (56 host, 55 service) carrying only what changed.
pub fn adaptive_status(host: u64, service: u64, changes: Value) -> Value {
    let mut e = changes;
    e["host_id"] = json!(host);
    if service == 0 {
        neb(56, e)
    } else {
        e["service_id"] = json!(service);
        e["type"] = json!(0);
        e["internal_id"] = json!(0);
        neb(55, e)
    }
}

/// What Engine sends at once when the service's downtime depth changes with the problem still
/// CRITICAL since T0 + 300: a full status (v2) or an adaptive status (v3).
pub fn depth_now(v: V, depth: i64, t: i64) -> Value {
    match v {
        V2 => svc(CRITICAL, t)
            .hard_change_at(T0 + 300)
            .depth(depth)
            .json(v),
        V3 => adaptive_status(HOST, SVC, json!({"scheduled_downtime_depth": depth})),
    }
}
