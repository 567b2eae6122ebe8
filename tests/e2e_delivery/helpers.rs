//! Shared helpers: no routing key in the logs, the dead letters, the mock's answers by status.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;

/// Routing keys must never be printed whole (DESIGN §3.2).
pub(crate) fn assert_no_secret(d: &Daemon) {
    let logs = d.logs();
    assert!(
        !logs.contains(ROUTING_KEY),
        "the routing key appears whole in the daemon's logs"
    );
}

/// `dead-letters list --json` when the command exists: number of entries; else None.
pub(crate) fn dead_letter_count(d: &Daemon) -> Option<usize> {
    let out = d.cli(&["dead-letters", "list", "--json"]);
    if !out.status.success() {
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    match v {
        Value::Array(a) => Some(a.len()),
        Value::Object(o) => o
            .get("dead_letters")
            .or_else(|| o.get("items"))
            .and_then(Value::as_array)
            .map(Vec::len),
        _ => None,
    }
}

pub(crate) fn statuses(reqs: &[Request]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in reqs {
        let k = match (r.status, r.closed) {
            (Some(c), _) => c.to_string(),
            (None, true) => "closed".into(),
            (None, false) => "pending".into(),
        };
        *m.entry(k).or_insert(0) += 1;
    }
    m
}
