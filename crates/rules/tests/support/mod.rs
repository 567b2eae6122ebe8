//! What the rules tests share: raw Broker events as the shim posts them (BBDO v2 and v3), a
//! harness that runs them through the engine over a memory store, and the expected PagerDuty
//! events.
#![allow(dead_code, unused_imports, unreachable_pub)]

pub use broker::{normalise_line, Normalised, ResourceId};
pub use pagerduty::{Action, Severity};
pub use rules::engine::Note;
pub use rules::settings::{
    anchored_regex, AcknowledgedProblems, Criteria, InDowntime, Route, Target,
};
pub use rules::template::Template;
pub use rules::{Engine, HoldReason, MemoryStore, Outcome, Settings};
pub use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Raw events, as Broker gives them to the shim and the shim posts them.
// ---------------------------------------------------------------------------------------------

/// Scenario start: 2026-06-09T10:13:20Z.
pub const T0: i64 = 1_781_000_000;
pub const HOST: u64 = 42;
pub const SVC: u64 = 7;
pub const HOST_NAME: &str = "srv-web-01";
pub const SVC_NAME: &str = "Disk-/var";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V {
    V2,
    V3,
}
pub use V::{V2, V3};
pub const BOTH: [V; 2] = [V2, V3];

pub const OK: u8 = 0;
pub const WARNING: u8 = 1;
pub const CRITICAL: u8 = 2;
pub const UNKNOWN: u8 = 3;
pub const UP: u8 = 0;
pub const DOWN: u8 = 1;
pub const UNREACHABLE: u8 = 2;
pub const PENDING: u8 = 4;

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

// ---------------------------------------------------------------------------------------------
// The harness: normalise a line, apply it, collect what PagerDuty hears.
// ---------------------------------------------------------------------------------------------

pub struct Harness {
    pub engine: Engine,
    pub store: MemoryStore,
    /// Daemon time; follows the events' check times unless set by the test.
    pub now: i64,
}

impl Harness {
    pub fn new() -> Self {
        Self::with(Settings::default())
    }
    pub fn with(settings: Settings) -> Self {
        Self {
            engine: Engine::new(settings),
            store: MemoryStore::default(),
            now: T0,
        }
    }
    pub fn alerts(f: impl FnOnce(&mut rules::settings::Alerts)) -> Self {
        let mut settings = Settings::default();
        f(&mut settings.alerts);
        Self::with(settings)
    }

    /// Send one raw event; the daemon clock moves to the event's check time if later.
    pub fn send(&mut self, raw: Value) -> Outcome {
        let t = [
            "last_check",
            "last_update",
            "entry_time",
            "actual_start_time",
            "actual_end_time",
            "deletion_time",
        ]
        .iter()
        .filter_map(|k| raw.get(*k).and_then(Value::as_i64))
        .max()
        .unwrap_or(0);
        self.now = self.now.max(t);
        let line = serde_json::to_vec(&raw).unwrap();
        let event = match normalise_line(&line) {
            Ok(Normalised::Event(e)) => e,
            other => panic!("not an event: {other:?}\n{raw}"),
        };
        self.engine.apply(&mut self.store, &event, self.now)
    }

    /// Send events; what PagerDuty hears, as (dedup_key, action).
    pub fn run(&mut self, raws: impl IntoIterator<Item = Value>) -> Vec<(String, Action)> {
        raws.into_iter()
            .flat_map(|raw| sent(&self.send(raw)))
            .collect()
    }

    pub fn state(&self, id: ResourceId) -> &rules::ResourceState {
        self.store.resources.get(&id).expect("a stored resource")
    }
}

pub fn sent(o: &Outcome) -> Vec<(String, Action)> {
    o.outgoing
        .iter()
        .map(|o| (o.dedup_key.clone(), o.action))
        .collect()
}

pub const S: &str = "42_7";
pub const H: &str = "42_H";

pub fn trig(key: &str) -> (String, Action) {
    (key.into(), Action::Trigger)
}
pub fn ack(key: &str) -> (String, Action) {
    (key.into(), Action::Acknowledge)
}
pub fn res(key: &str) -> (String, Action) {
    (key.into(), Action::Resolve)
}

/// The one trigger of an outcome.
pub fn the_trigger(o: &Outcome) -> &pagerduty::Event {
    let triggers: Vec<_> = o
        .outgoing
        .iter()
        .filter(|o| o.action == Action::Trigger)
        .collect();
    assert_eq!(triggers.len(), 1, "{:?}", sent(o));
    &triggers[0].event
}

pub fn payload(o: &Outcome) -> &pagerduty::Payload {
    the_trigger(o)
        .payload
        .as_ref()
        .expect("a trigger has a payload")
}

/// A service known OK, not a first sight any more.
pub fn known_ok(h: &mut Harness, v: V) {
    assert_eq!(h.run([svc(OK, T0).json(v)]), vec![]);
}

/// A service known OK, then HARD CRITICAL: one incident open.
pub fn open_incident(h: &mut Harness, v: V) {
    known_ok(h, v);
    assert_eq!(
        h.run([svc(CRITICAL, T0 + 300).changed().json(v)]),
        vec![trig(S)],
        "{v:?}"
    );
}

pub fn route(name: &str, key: &str, criteria: Criteria) -> Route {
    Route {
        name: name.into(),
        target: Target::Key(Some(key.into())),
        criteria,
    }
}

pub const KEY_DEFAULT: &str = "R0000000000000000000000000000def";
pub const KEY_WEB: &str = "R0000000000000000000000000000web";

pub fn routed_settings() -> Settings {
    Settings {
        routes: vec![route(
            "web",
            KEY_WEB,
            Criteria {
                hostgroups: vec!["Web".into()],
                ..Default::default()
            },
        )],
        default_target: Target::Key(Some(KEY_DEFAULT.into())),
        ..Settings::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Trigger.
// ---------------------------------------------------------------------------------------------
