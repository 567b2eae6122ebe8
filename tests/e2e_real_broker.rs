//! End-to-end: what a real Centreon Engine + Broker 25.05 does (tests/fixtures/real-broker-25.05,
//! DESIGN §4.2), through the real `centreon-pagerduty` binary.
//!
//! - The real capture, offline through `translate`: the PagerDuty events DESIGN requires
//!   (`expected-events.txt`, derived from the capture's `expected.md`), per key, in order.
//! - A synthetic stream shaped like the capture, generated here: Engine restarts while
//!   downtimes run over many resources, with held triggers and an acknowledged incident, and the
//!   daemon killed in the middle of the Engine restart. Nobody is paged until the downtimes are
//!   really deleted.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn capture_dir() -> PathBuf {
    fixtures_dir().join("real-broker-25.05")
}

/// `KEY ACTION [SEVERITY] [@LINE]` lines, `#` comments: what PagerDuty must hear, per key in
/// order.
fn expected_events() -> BTreeMap<String, Vec<String>> {
    let path = capture_dir().join("expected-events.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        // `#` starts a comment; `@LINE` names the capture line that owes the event.
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace().filter(|w| !w.starts_with('@'));
        let key = words.next().unwrap().to_owned();
        let rest: Vec<&str> = words.collect();
        by_key.entry(key).or_default().push(rest.join(" "));
    }
    by_key
}

/// `action severity` of a PagerDuty event (severity for triggers only).
fn describe(event: &Value) -> String {
    let action = event["event_action"].as_str().unwrap_or("?");
    match event["payload"]["severity"].as_str() {
        Some(severity) if action == "trigger" => format!("{action} {severity}"),
        _ => action.to_owned(),
    }
}

#[test]
fn the_real_capture_translates_to_the_pagerduty_events_design_requires() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dry-run.toml");
    std::fs::write(&config, "[pagerduty]\ndry_run = true\n").unwrap();
    let capture = capture_dir().join("events.ndjson");
    let out = run_bin(
        &[
            "translate",
            "-c",
            config.to_str().unwrap(),
            capture.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "translate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        let key = event["dedup_key"].as_str().unwrap().to_owned();
        got.entry(key).or_default().push(describe(&event));
    }
    assert_eq!(got, expected_events());
}

// ------------------------------------------------------------------------------------------------
// A capture-shaped stream: BBDO v3, as Broker 25.05 hands it to the shim.

const HOST: u64 = 9100;
/// Services held in a downtime with a problem.
const HELD: std::ops::Range<u64> = 1..11;
/// Services with an acknowledged incident, then a downtime.
const ACKED: std::ops::Range<u64> = 11..16;

fn neb(element: i64, mut fields: Value) -> String {
    fields["category"] = json!(1);
    fields["element"] = json!(element);
    fields["_type"] = json!((1 << 16) | element);
    fields.to_string()
}

fn cache(service: u64) -> Value {
    json!({"host_name": "capture-host", "service_description": format!("svc_{service}"),
           "hostgroups": ["Capture"], "poller": "Central"})
}

/// A v3 service status (29): no `notify`, `max_check_attempts`, `acknowledged`, names.
fn status(service: u64, state: u8, t: i64, changed: i64, depth: i64, ack: u8) -> String {
    let mut e = json!({
        "host_id": HOST, "service_id": service, "checked": true, "check_type": 0,
        "state": state, "state_type": 1, "check_attempt": 1, "last_check": t,
        "last_hard_state": state, "last_hard_state_change": changed,
        "last_state_change": changed, "output": format!("state {state}"), "long_output": "",
        "perfdata": "value=1;1;2;0;3", "flapping": false, "acknowledgement_type": ack,
        "scheduled_downtime_depth": depth, "type": 0, "internal_id": 0,
    });
    e["_cache"] = cache(service);
    neb(29, e)
}

fn adaptive_depth(service: u64, depth: i64) -> String {
    neb(
        55,
        json!({"host_id": HOST, "service_id": service, "type": 0, "internal_id": 0,
               "scheduled_downtime_depth": depth}),
    )
}

/// A v3 downtime (36): id, entry and start times identify it; unset times are -1.
fn downtime(service: u64, id: u64, entry: i64, started_at: i64, deleted_at: i64) -> String {
    neb(
        36,
        json!({"host_id": HOST, "service_id": service, "id": id, "instance_id": 1, "type": 1,
               "author": "admin", "comment_data": "maintenance", "duration": 3600,
               "triggered_by": 0, "fixed": true, "entry_time": entry, "start_time": entry,
               "end_time": entry + 3600, "started": true, "cancelled": deleted_at > 0,
               "actual_start_time": started_at,
               "actual_end_time": if deleted_at > 0 { deleted_at } else { -1 },
               "deletion_time": if deleted_at > 0 { deleted_at } else { -1 }}),
    )
}

fn instance(running: bool, t: i64) -> String {
    neb(
        44,
        json!({"instance_id": 1, "name": "Central", "running": running, "start_time": t,
               "engine": "Centreon Engine", "pid": 4242}),
    )
}

fn twice(line: String) -> [String; 2] {
    [line.clone(), line]
}

#[test]
fn an_engine_restart_while_downtimes_run_pages_nobody_even_across_a_daemon_restart() {
    let mock = MockPagerDuty::start();
    let mut d = Daemon::start(Config::new(&mock.url()));
    let t0 = now_secs() - 3600;
    let entry = |s: u64| t0 + 10 + s as i64;
    let all = || HELD.chain(ACKED);

    // Everything known and OK.
    let oks: Vec<String> = all().map(|s| status(s, 0, t0, t0 - 86400, 0, 0)).collect();
    d.post_ok(&oks);
    // The acknowledged ones: CRITICAL (paged), then a sticky acknowledgement.
    let mut lines = Vec::new();
    for s in ACKED {
        lines.push(status(s, 2, t0 + 5, t0 + 5, 0, 0));
        let mut ack = json!({"host_id": HOST, "service_id": s, "instance_id": 1, "type": 1,
            "author": "admin", "comment_data": "on it", "sticky": true, "notify_contacts": true,
            "persistent_comment": true, "entry_time": t0 + 6, "deletion_time": 0, "state": 2});
        ack["_cache"] = cache(s);
        lines.push(neb(45, ack));
        lines.push(neb(
            55,
            json!({"host_id": HOST, "service_id": s, "type": 0, "internal_id": 0,
                   "acknowledgement_type": 2}),
        ));
    }
    d.post_ok(&lines);
    // Downtimes start on every service (each event twice); the held ones go CRITICAL inside.
    let mut lines = Vec::new();
    for s in all() {
        lines.extend(twice(downtime(s, s, entry(s), entry(s), 0)));
        lines.push(adaptive_depth(s, 1));
    }
    for s in HELD {
        lines.push(status(s, 2, t0 + 60, t0 + 60, 1, 0));
    }
    d.post_ok(&lines);
    assert!(
        mock.wait_until(WAIT, |r| r
            .iter()
            .filter(|r| r.delivered() && r.action() == Some("acknowledge"))
            .count()
            >= ACKED.count()),
        "the acknowledged incidents' trigger and acknowledge\n{}",
        last_lines(&mock.dump(), 40)
    );

    // Engine stops: the instance event, then a deletion for every downtime, each twice.
    let mut stop = vec![instance(false, t0 + 100)];
    for s in all() {
        stop.extend(twice(downtime(s, s, entry(s), entry(s), t0 + 100)));
    }
    let (half, rest) = stop.split_at(stop.len() / 2);
    d.post_ok(half);
    // The daemon is killed in the middle of the Engine restart.
    d.restart_after_kill();
    d.post_ok(rest);
    // Engine starts: its definitions (depth 0, as real Engine sends them after a restart),
    // the downtimes announced again (new actual_start_time), statuses still in downtime.
    let mut start = vec![instance(true, t0 + 103)];
    for s in all() {
        start.push(neb(
            27,
            json!({"host_id": HOST, "service_id": s, "description": format!("svc_{s}"),
                   "host_name": "capture-host", "enabled": true, "notify": true, "state": 2,
                   "checked": true, "scheduled_downtime_depth": 0, "type": 0}),
        ));
        start.extend(twice(downtime(s, s, entry(s), t0 + 103, 0)));
        start.push(adaptive_depth(s, 1));
    }
    for s in HELD {
        start.push(status(s, 2, t0 + 110, t0 + 60, 1, 0));
    }
    for s in ACKED {
        start.push(status(s, 2, t0 + 110, t0 + 5, 1, 2));
    }
    d.post_ok(&start);
    // What PagerDuty heard so far, duplicates (at-least-once, after the kill) collapsed.
    let heard = || -> BTreeMap<String, Vec<String>> {
        mock.delivered_by_key()
            .into_iter()
            .map(|(k, v)| {
                let actions: Vec<String> = v
                    .iter()
                    .map(|r| r.action().unwrap_or("?").to_owned())
                    .collect();
                (k, collapse(&actions))
            })
            .collect()
    };
    let before: BTreeMap<String, Vec<String>> = ACKED
        .map(|s| {
            (
                format!("{HOST}_{s}"),
                vec!["trigger".into(), "acknowledge".into()],
            )
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        heard(),
        before,
        "an Engine restart must page nobody\n{}",
        d.log_tail(40)
    );

    // The real deletions (each twice, then the adaptive status with depth 0), and recoveries.
    let mut end = Vec::new();
    for s in all() {
        end.extend(twice(downtime(s, s, entry(s), t0 + 103, t0 + 200)));
        end.push(adaptive_depth(s, 0));
    }
    for s in ACKED {
        end.push(status(s, 0, t0 + 210, t0 + 210, 0, 0));
    }
    d.post_ok(&end);

    let key = |s: u64| format!("{HOST}_{s}");
    let want: BTreeMap<String, Vec<&str>> = HELD
        .map(|s| (key(s), vec!["trigger"]))
        .chain(ACKED.map(|s| (key(s), vec!["trigger", "acknowledge", "resolve"])))
        .collect();
    let got = heard;
    let matches = || {
        let got = got();
        got.len() == want.len() && want.iter().all(|(k, w)| got.get(k).is_some_and(|g| g == w))
    };
    assert!(
        poll_until(WAIT, matches),
        "want {want:?}\n got {:?}\n{}",
        got(),
        d.log_tail(40)
    );
}
