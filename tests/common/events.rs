//! Raw Broker events: BBDO v2 `service_status` lines as the shim posts them, and services
//! (`Svc`) that generate them on a clock of their own while recording what the daemon should
//! send for them (`Expected`).

use super::now_secs;
use serde_json::json;

/// A BBDO v2 `service_status` (NEB element 24), as the shim posts it (with `_cache`).
#[allow(clippy::too_many_arguments)]
pub fn v2_service_status(
    host_id: u64,
    service_id: u64,
    host: &str,
    service: &str,
    state: u8,
    hard: bool,
    last_check: i64,
    last_hard_state_change: i64,
    last_hard_state: u8,
    attempt: u32,
    output: &str,
    perfdata: &str,
) -> String {
    let mut e = json!({
        "_type": 65560, "category": 1, "element": 24,
        "acknowledged": false, "acknowledgement_type": 0,
        "active_checks": true, "check_interval": 5.0, "check_period": "24x7", "check_type": 0,
        "check_attempt": attempt, "state": state, "scheduled_downtime_depth": 0,
        "enabled": true, "event_handler": "", "event_handler_enabled": true,
        "execution_time": 0.012, "flap_detection": true, "checked": true,
        "host_id": host_id, "flapping": false,
    });
    let more = json!({
        "last_check": last_check, "last_hard_state": last_hard_state,
        "last_hard_state_change": last_hard_state_change,
        "last_state_change": last_hard_state_change,
        "last_update": last_check, "latency": 0.01, "max_check_attempts": 3,
        "next_check": last_check + 300, "no_more_notifications": false,
        "notification_number": 0, "notify": true, "obsess_over_service": true,
        "passive_checks": false, "percent_state_change": 0.0, "retry_interval": 1.0,
    });
    let rest = json!({
        "should_be_scheduled": true, "state_type": if hard { 1 } else { 0 },
        "check_command": "generic-active-service",
        "output": format!("{output}\n"), "perfdata": perfdata,
        "service_id": service_id,
        "_cache": {"host_name": host, "service_description": service,
                   "hostgroups": ["E2E"], "servicegroups": []}
    });
    if let (Some(o), Some(m), Some(r)) = (e.as_object_mut(), more.as_object(), rest.as_object()) {
        for (k, v) in m.iter().chain(r.iter()) {
            o.insert(k.clone(), v.clone());
        }
    }
    // BBDO v2: zero timestamps are absent.
    if last_hard_state_change == 0 {
        if let Some(o) = e.as_object_mut() {
            o.remove("last_hard_state_change");
            o.remove("last_state_change");
        }
    }
    e.to_string()
}

/// What the daemon should send for one produced event: action, and the trigger's summary.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expected {
    pub action: String,
    pub summary: String,
}

impl Expected {
    pub fn trigger(summary: impl Into<String>) -> Expected {
        Expected {
            action: "trigger".into(),
            summary: summary.into(),
        }
    }
    pub fn resolve() -> Expected {
        Expected {
            action: "resolve".into(),
            summary: String::new(),
        }
    }
    pub fn acknowledge() -> Expected {
        Expected {
            action: "acknowledge".into(),
            summary: String::new(),
        }
    }
    pub fn ident(&self) -> (String, String) {
        (self.action.clone(), self.summary.clone())
    }
}

/// One service whose statuses are generated with a clock of its own, strictly increasing, so
/// that no two statuses look like a replay (DESIGN §4.2).
#[derive(Clone, Debug)]
pub struct Svc {
    pub host_id: u64,
    pub service_id: u64,
    pub host: String,
    pub service: String,
    pub clock: i64,
    pub hard_state: u8,
    pub expected: Vec<Expected>,
}

impl Svc {
    pub fn new(host_id: u64, service_id: u64) -> Svc {
        Svc {
            host_id,
            service_id,
            host: format!("e2e-host-{host_id}"),
            service: format!("e2e-svc-{service_id}"),
            // An hour ago, leaving room for many checks a minute apart... in the past.
            clock: now_secs() - 6 * 3600,
            hard_state: 0,
            expected: Vec::new(),
        }
    }

    pub fn dedup_key(&self) -> String {
        format!("{}_{}", self.host_id, self.service_id)
    }

    fn tick(&mut self) -> i64 {
        self.clock += 60;
        self.clock
    }

    /// First check: HARD OK whose hard state did not change at this check: recorded silently.
    pub fn first_ok(&mut self) -> String {
        let t = self.tick();
        self.hard_state = 0;
        v2_service_status(
            self.host_id,
            self.service_id,
            &self.host,
            &self.service,
            0,
            true,
            t,
            t - 86400,
            0,
            1,
            "OK: all good",
            "time=0.012s;1;2;0;",
        )
    }

    /// HARD CRITICAL changing at this check: a trigger.
    pub fn critical(&mut self, output: &str) -> String {
        let t = self.tick();
        self.hard_state = 2;
        self.expected.push(Expected::trigger(format!(
            "{}/{}: CRITICAL - {}",
            self.host, self.service, output
        )));
        v2_service_status(
            self.host_id,
            self.service_id,
            &self.host,
            &self.service,
            2,
            true,
            t,
            t,
            2,
            3,
            output,
            "time=9.9s;1;2;0;",
        )
    }

    /// HARD OK changing at this check: a resolve (the problem was open).
    pub fn recover(&mut self) -> String {
        let t = self.tick();
        self.hard_state = 0;
        self.expected.push(Expected::resolve());
        v2_service_status(
            self.host_id,
            self.service_id,
            &self.host,
            &self.service,
            0,
            true,
            t,
            t,
            0,
            1,
            "OK: back to normal",
            "time=0.010s;1;2;0;",
        )
    }
}

/// `n` services on hosts of 10 services each, ids starting at `base`.
pub fn services(base: u64, n: u64) -> Vec<Svc> {
    (0..n)
        .map(|i| Svc::new(base + i / 10, base * 10 + i))
        .collect()
}
