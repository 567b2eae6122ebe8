//! Check results: `Check`, a host or service status (full, BBDO v2 or v3), its builders `svc`
//! and `host` and its modifiers.

use super::{cache, neb, v2_omit_zero, V, V2, V3};
use super::{CRITICAL, DOWN, HOST, OK, PENDING, SVC, UNKNOWN, UNREACHABLE, UP, WARNING};
use serde_json::{json, Value};

/// A host or service check result (a full status).
#[derive(Debug, Clone)]
pub struct Check {
    pub host: u64,
    pub service: u64,
    pub state: u8,
    pub hard: bool,
    pub attempt: i64,
    pub max_attempts: i64,
    pub last_check: i64,
    pub last_hard_state: u8,
    pub last_hard_state_change: i64,
    pub output: String,
    pub long_output: String,
    pub perfdata: String,
    pub ack: u8,
    pub depth: i64,
    pub flapping: bool,
    pub notify: bool,
    pub cache: Option<Value>,
}

/// A HARD status of the service (42, 7) checked at `t`.
pub fn svc(state: u8, t: i64) -> Check {
    Check {
        host: HOST,
        service: SVC,
        state,
        hard: true,
        attempt: 1,
        max_attempts: 3,
        last_check: t,
        last_hard_state: state,
        last_hard_state_change: 0,
        output: match state {
            OK => "DISK OK - /var 69%".into(),
            WARNING => "DISK WARNING - /var 85%".into(),
            CRITICAL => "DISK CRITICAL - /var 97%".into(),
            UNKNOWN => "DISK UNKNOWN - cannot stat /var".into(),
            _ => String::new(),
        },
        long_output: String::new(),
        perfdata: "used=41986296644o;48103633715;54116587930;0;60129542144".into(),
        ack: 0,
        depth: 0,
        flapping: false,
        notify: true,
        cache: Some(cache(HOST, SVC)),
    }
}

/// A HARD status of the host 42 checked at `t`.
pub fn host(state: u8, t: i64) -> Check {
    Check {
        service: 0,
        output: match state {
            UP => "OK - 10.0.0.101 rta 0.5ms lost 0%".into(),
            DOWN => "CRITICAL - 10.0.0.101: rta nan, lost 100%".into(),
            UNREACHABLE => "UNREACHABLE - 10.0.0.101".into(),
            _ => String::new(),
        },
        perfdata: "rta=0,263ms;3000,000;5000,000;0; pl=0%;80;100;0;100".into(),
        cache: Some(cache(HOST, 0)),
        ..svc(state, t)
    }
}

impl Check {
    pub fn soft(mut self, attempt: i64) -> Self {
        self.hard = false;
        self.attempt = attempt;
        self
    }
    /// The hard state changed at this check.
    pub fn changed(mut self) -> Self {
        self.last_hard_state_change = self.last_check;
        self
    }
    pub fn hard_change_at(mut self, t: i64) -> Self {
        self.last_hard_state_change = t;
        self
    }
    pub fn last_hard(mut self, state: u8) -> Self {
        self.last_hard_state = state;
        self
    }
    pub fn ack(mut self, kind: u8) -> Self {
        self.ack = kind;
        self
    }
    pub fn depth(mut self, depth: i64) -> Self {
        self.depth = depth;
        self
    }
    pub fn flapping(mut self, f: bool) -> Self {
        self.flapping = f;
        self
    }
    pub fn notify(mut self, n: bool) -> Self {
        self.notify = n;
        self
    }
    pub fn output(mut self, output: &str, long: &str) -> Self {
        self.output = output.into();
        self.long_output = long.into();
        self
    }
    pub fn perfdata(mut self, p: &str) -> Self {
        self.perfdata = p.into();
        self
    }
    pub fn of(mut self, host: u64, service: u64) -> Self {
        self.host = host;
        self.service = service;
        self.cache = Some(cache(host, service));
        self
    }
    pub fn no_cache(mut self) -> Self {
        self.cache = None;
        self
    }
    pub fn with_cache(mut self, c: Value) -> Self {
        self.cache = Some(c);
        self
    }

    /// The raw event in BBDO v2 or v3.
    pub fn json(&self, v: V) -> Value {
        let is_host = self.service == 0;
        let mut e = match v {
            V2 => {
                let output = if self.output.is_empty() && self.long_output.is_empty() {
                    String::new()
                } else if self.long_output.is_empty() {
                    format!("{}\n", self.output)
                } else {
                    format!("{}\n{}\n", self.output, self.long_output)
                };
                let mut e = json!({
                    "acknowledged": self.ack > 0,
                    "acknowledgement_type": self.ack,
                    "active_checks": true,
                    "check_interval": 5.0,
                    "check_period": "24x7",
                    "check_type": 0,
                    "check_attempt": self.attempt,
                    "state": self.state,
                    "scheduled_downtime_depth": self.depth,
                    "enabled": true,
                    "execution_time": 0.041,
                    "flap_detection": true,
                    "checked": self.state != PENDING,
                    "host_id": self.host,
                    "flapping": self.flapping,
                    "last_check": self.last_check,
                    "last_hard_state": self.last_hard_state,
                    "last_hard_state_change": self.last_hard_state_change,
                    "last_state_change": self.last_hard_state_change,
                    "last_update": self.last_check,
                    "latency": 0.5,
                    "max_check_attempts": self.max_attempts,
                    "next_check": self.last_check + 300,
                    "no_more_notifications": false,
                    "notification_number": 0,
                    "notify": self.notify,
                    "passive_checks": false,
                    "percent_state_change": 0.0,
                    "retry_interval": 1.0,
                    "should_be_scheduled": true,
                    "state_type": i64::from(self.hard),
                    "check_command": "generic-active",
                    "output": output,
                    "perfdata": self.perfdata,
                });
                if !is_host {
                    e["service_id"] = json!(self.service);
                }
                v2_omit_zero(
                    &mut e,
                    &[
                        "last_check",
                        "last_update",
                        "last_hard_state_change",
                        "last_state_change",
                        "next_check",
                    ],
                );
                neb(if is_host { 14 } else { 24 }, e)
            }
            V3 => {
                let (output, long) = if is_host && !self.long_output.is_empty() {
                    // Engine quirk: a host's long output overwrites `output`.
                    (
                        format!("{}\n{}", self.output, self.long_output),
                        String::new(),
                    )
                } else {
                    (self.output.clone(), self.long_output.clone())
                };
                let mut e = json!({
                    "host_id": self.host,
                    "checked": self.state != PENDING,
                    "check_type": 0,
                    "state": self.state,
                    "state_type": i64::from(self.hard),
                    "last_state_change": self.last_hard_state_change,
                    "last_hard_state": self.last_hard_state,
                    "last_hard_state_change": self.last_hard_state_change,
                    "output": output,
                    "long_output": long,
                    "perfdata": self.perfdata,
                    "flapping": self.flapping,
                    "percent_state_change": 0.0,
                    "latency": 0.193,
                    "execution_time": 1.33,
                    "last_check": self.last_check,
                    "next_check": if self.last_check > 0 { self.last_check + 300 } else { 0 },
                    "should_be_scheduled": true,
                    "check_attempt": self.attempt,
                    "notification_number": 0,
                    "no_more_notifications": false,
                    "last_notification": 0,
                    "acknowledgement_type": self.ack,
                    "scheduled_downtime_depth": self.depth,
                });
                if is_host {
                    for k in ["last_time_up", "last_time_down", "last_time_unreachable"] {
                        e[k] = json!(0);
                    }
                    e["next_host_notification"] = json!(0);
                } else {
                    e["service_id"] = json!(self.service);
                    for k in [
                        "last_time_ok",
                        "last_time_warning",
                        "last_time_critical",
                        "last_time_unknown",
                    ] {
                        e[k] = json!(0);
                    }
                    e["next_notification"] = json!(0);
                    e["type"] = json!(0);
                    e["internal_id"] = json!(0);
                }
                neb(if is_host { 32 } else { 29 }, e)
            }
        };
        if let Some(c) = &self.cache {
            e["_cache"] = c.clone();
        }
        e
    }
}
