//! The harness: normalise a raw line, apply it to the engine over a memory store, collect what
//! PagerDuty hears; and the first steps most scenarios share (`known_ok`, `open_incident`).

use super::{sent, svc, trig, CRITICAL, OK, S, T0, V};
use broker::{normalise_line, Normalised, ResourceId};
use pagerduty::Action;
use rules::{Engine, MemoryStore, Outcome, Settings};
use serde_json::Value;

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
