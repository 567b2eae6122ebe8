//! Shared helpers: NEB events by element, the normaliser's outcomes, v2 and v3 statuses to alter.

use broker::{normalise_line, Event, Normalised, Rejection, Status};
use serde_json::{json, Value};

pub(crate) fn neb(element: i64, mut fields: Value) -> Value {
    let obj = fields.as_object_mut().unwrap();
    obj.insert("_type".into(), json!((1 << 16) | element));
    obj.insert("category".into(), json!(1));
    obj.insert("element".into(), json!(element));
    fields
}

pub(crate) fn norm(v: &Value) -> Result<Normalised, Rejection> {
    normalise_line(&serde_json::to_vec(v).unwrap())
}

pub(crate) fn event(v: &Value) -> Event {
    match norm(v) {
        Ok(Normalised::Event(e)) => e,
        other => panic!("not an event: {other:?}\n{v}"),
    }
}

pub(crate) fn status(v: &Value) -> Status {
    match event(v) {
        Event::Status(s) => s,
        other => panic!("not a status: {other:?}"),
    }
}

pub(crate) fn rejected(v: &Value) -> Rejection {
    match norm(v) {
        Err(r) => r,
        other => panic!("not rejected: {other:?}\n{v}"),
    }
}

/// A BBDO v2 service_status as Broker gives it: zero times absent, `output` = first + long.
pub(crate) fn v2_service_status() -> Value {
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
pub(crate) fn v3_service_status() -> Value {
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
pub(crate) fn v3_host_status() -> Value {
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

pub(crate) fn set(mut v: Value, key: &str, val: Value) -> Value {
    v[key] = val;
    v
}

pub(crate) fn remove(mut v: Value, key: &str) -> Value {
    v.as_object_mut().unwrap().remove(key);
    v
}
