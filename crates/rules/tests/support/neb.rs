//! What every raw event shares: the NEB envelope (category, element, `_type`), BBDO v2's
//! "nil if 0", the `_cache` the shim adds, and the resources' names.

use super::{HOST, HOST_NAME, SVC, SVC_NAME};
use serde_json::{json, Value};

/// Add category, element and `_type` to an event.
pub fn neb(element: i64, mut fields: Value) -> Value {
    let obj = fields.as_object_mut().expect("an object");
    obj.insert("_type".into(), json!((1 << 16) | element));
    obj.insert("category".into(), json!(1));
    obj.insert("element".into(), json!(element));
    fields
}

/// Drop the keys whose value is 0 (BBDO v2's "nil if 0").
pub fn v2_omit_zero(v: &mut Value, keys: &[&str]) {
    let obj = v.as_object_mut().expect("an object");
    for k in keys {
        if obj.get(*k).and_then(Value::as_i64) == Some(0) {
            obj.remove(*k);
        }
    }
}

pub fn cache(host: u64, service: u64) -> Value {
    let mut c = json!({
        "host_name": host_name(host),
        "hostgroups": ["Web", "Linux"],
        "host_severity": 2,
        "poller": "Central",
    });
    if service != 0 {
        let obj = c.as_object_mut().unwrap();
        obj.insert("service_description".into(), json!(svc_name(service)));
        obj.insert("servicegroups".into(), json!(["Frontends"]));
        obj.insert("service_severity".into(), json!(3));
        obj.insert(
            "action_url".into(),
            json!("https://grafana.example.com/d/disk"),
        );
    } else {
        let obj = c.as_object_mut().unwrap();
        obj.insert(
            "notes_url".into(),
            json!("https://wiki.example.com/hosts/srv-web-01"),
        );
    }
    c
}

pub fn host_name(host: u64) -> String {
    if host == HOST {
        HOST_NAME.into()
    } else {
        format!("host-{host}")
    }
}

pub fn svc_name(service: u64) -> String {
    if service == SVC {
        SVC_NAME.into()
    } else {
        format!("svc-{service}")
    }
}
