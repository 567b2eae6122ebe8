//! `tests/fixtures/normaliser-fields.txt` lists, per element, the fields of a raw event that the
//! normaliser reads: the shim sends only those (plus `_cache`). This test proves the list
//! complete against the normaliser itself:
//!
//! - every fixture event of `tests/fixtures` (the real Broker 25.05 capture included), reduced to
//!   its listed fields, normalises exactly as the full event;
//! - for every element, no field of [`RawEvent`] that the list leaves out changes what the
//!   normaliser gives, whatever its value, on many base events (the reduced fixtures, a rich
//!   synthetic event, a bare one). `RawEvent`'s field names come from its own `Deserialize`
//!   (serde hands them to `deserialize_struct`), so a field added to it later is covered too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests may unwrap
#![recursion_limit = "256"]

use broker::normalise::element::*;
use broker::raw::RawEvent;
use broker::{normalise_line, Normalised, Rejection};
use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Every element the normaliser handles (and the shim accepts).
const ELEMENTS: [i64; 16] = [
    ACKNOWLEDGEMENT_V2,
    DOWNTIME_V2,
    HOST_V2,
    HOST_STATUS_V2,
    SERVICE_V2,
    SERVICE_STATUS_V2,
    PB_SERVICE,
    PB_ADAPTIVE_SERVICE,
    PB_SERVICE_STATUS,
    PB_HOST,
    PB_ADAPTIVE_HOST,
    PB_HOST_STATUS,
    PB_DOWNTIME,
    PB_ACKNOWLEDGEMENT,
    PB_ADAPTIVE_SERVICE_STATUS,
    PB_ADAPTIVE_HOST_STATUS,
];

fn fixtures_dir() -> String {
    format!("{}/../../tests/fixtures", env!("CARGO_MANIFEST_DIR"))
}

/// (category, element) → the listed fields.
fn listed() -> BTreeMap<(i64, i64), BTreeSet<String>> {
    let path = format!("{}/normaliser-fields.txt", fixtures_dir());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut common = BTreeSet::new();
    let mut out: BTreeMap<(i64, i64), BTreeSet<String>> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let head = words.next().unwrap();
        let fields: Vec<String> = words.map(str::to_owned).collect();
        assert!(!fields.is_empty(), "{path}:{}: no field", n + 1);
        if head == "*" {
            common.extend(fields);
            continue;
        }
        for pair in head.split(',') {
            let (c, e) = pair
                .split_once(':')
                .unwrap_or_else(|| panic!("{path}:{}: {pair}: not category:element", n + 1));
            let key = (c.parse().unwrap(), e.parse().unwrap());
            let set = out.entry(key).or_default();
            for f in &fields {
                assert!(
                    set.insert(f.clone()),
                    "{path}:{}: {f} twice for {pair}",
                    n + 1
                );
            }
        }
    }
    for set in out.values_mut() {
        set.extend(common.iter().cloned());
    }
    out
}

/// The JSON keys `RawEvent` reads, as its derived `Deserialize` declares them.
fn raw_event_keys() -> Vec<&'static str> {
    struct Capture;
    #[derive(Debug)]
    struct Fields(&'static [&'static str]);
    impl fmt::Display for Fields {
        fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("captured")
        }
    }
    impl std::error::Error for Fields {}
    impl de::Error for Fields {
        fn custom<T: fmt::Display>(_: T) -> Self {
            Fields(&[])
        }
    }
    impl<'de> Deserializer<'de> for Capture {
        type Error = Fields;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Fields> {
            Err(Fields(&[]))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Fields> {
            Err(Fields(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let Err(Fields(keys)) = RawEvent::deserialize(Capture) else {
        panic!("RawEvent did not ask for a struct");
    };
    assert!(
        keys.len() > 30 && keys.contains(&"_cache") && keys.contains(&"state"),
        "{keys:?}"
    );
    keys.to_vec()
}

fn norm(v: &Value) -> Result<Normalised, Rejection> {
    normalise_line(&serde_json::to_vec(v).unwrap())
}

fn id_of(v: &Value) -> Option<(i64, i64)> {
    Some((v.get("category")?.as_i64()?, v.get("element")?.as_i64()?))
}

fn keep(v: &Value, fields: &BTreeSet<String>) -> Value {
    let kept: Map<String, Value> = v
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| fields.contains(k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(kept)
}

/// Every line of every fixture file of raw events (`events.ndjson`, `shim.ndjson`).
fn fixture_events() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let dir = fixtures_dir();
    let mut scenarios: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    scenarios.sort();
    for scenario in scenarios {
        for file in ["events.ndjson", "shim.ndjson"] {
            let path = scenario.join(file);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            for (n, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let v: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), n + 1));
                out.push((format!("{}:{}", path.display(), n + 1), v));
            }
        }
    }
    out
}

#[test]
fn the_list_names_every_element_and_only_fields_the_normaliser_declares() {
    let listed = listed();
    let keys: BTreeSet<&str> = raw_event_keys().into_iter().collect();
    for e in ELEMENTS {
        assert!(listed.contains_key(&(1, e)), "element {e} is not listed");
    }
    for ((c, e), fields) in &listed {
        assert!(
            *c == 1 && ELEMENTS.contains(e),
            "{c}:{e} is not an element the daemon reads"
        );
        for f in fields {
            assert!(
                keys.contains(f.as_str()),
                "{c}:{e} {f}: RawEvent has no such field"
            );
        }
    }
}

#[test]
fn every_fixture_event_normalises_the_same_with_only_the_listed_fields() {
    let listed = listed();
    let events = fixture_events();
    assert!(
        events.len() > 5000,
        "fixtures not found: {} events",
        events.len()
    );
    let mut compared = 0;
    for (at, full) in &events {
        let Some(fields) = id_of(full).and_then(|id| listed.get(&id)) else {
            continue;
        };
        let reduced = keep(full, fields);
        assert_eq!(norm(&reduced), norm(full), "{at}: reduced to {reduced}");
        compared += 1;
    }
    assert!(compared > 2500, "only {compared} events compared");
}

/// Values of every kind a field may take: each must leave the normalisation of an element
/// unchanged when the field is not listed for it.
fn probe_values() -> Vec<Value> {
    vec![
        json!(null),
        json!(0),
        json!(1),
        json!(2),
        json!(3),
        json!(4),
        json!(-1),
        json!(1781000500),
        json!(2.0),
        json!(0.5),
        json!(true),
        json!(false),
        json!(""),
        json!("x"),
        json!("1"),
        json!("_Module_BAM_1"),
        json!("first\nsecond\n"),
        json!(["a"]),
        json!({"host_name": "_Module_BAM_2", "notify": false, "max_check_attempts": 9}),
    ]
}

/// A plausible value for every field the normaliser knows (the rest get probe values anyway).
fn rich_values() -> Map<String, Value> {
    let v = json!({
        "host_id": 101, "service_id": 2001, "instance_id": 1, "state": 2, "state_type": 1,
        "last_hard_state": 0, "last_check": 1781000100, "last_update": 1781000101,
        "last_hard_state_change": 1781000100, "output": "CRITICAL - x\nlong\n", "long_output": "more",
        "perfdata": "a=1;2;3", "acknowledged": true, "acknowledgement_type": 2,
        "scheduled_downtime_depth": 1, "flapping": true, "notify": false, "check_attempt": 2,
        "max_check_attempts": 3, "notification_number": 4, "enabled": false, "volatile": true,
        "is_volatile": true, "name": "h", "description": "s", "host_name": "hn",
        "notes_url": "n", "action_url": "a", "type": 2, "internal_id": 7, "id": 8,
        "entry_time": 1781000050, "deletion_time": 1781000200, "sticky": true,
        "start_time": 1781000060, "actual_start_time": 1781000061, "actual_end_time": 1781000201,
        "started": true, "cancelled": true, "checked": false,
        "_cache": {"host_name": "hc", "service_description": "sc", "hostgroups": ["g"],
                   "notify": true, "max_check_attempts": 5, "poller": "p"}
    });
    v.as_object().unwrap().clone()
}

/// What tells two reduced fixture events apart for the normaliser: each field's presence, kind
/// and small values (states, types, flags), not its timestamps or texts.
fn shape(v: &Value) -> String {
    let mut out = String::new();
    for (k, v) in v.as_object().unwrap() {
        let class = match v {
            Value::Number(n) => match n.as_i64() {
                Some(i) if (-1..10).contains(&i) => i.to_string(),
                Some(i) if i < 0 => "negative".to_owned(),
                Some(_) => "big".to_owned(),
                None => "float".to_owned(),
            },
            Value::String(s) if s.is_empty() => "empty".to_owned(),
            Value::String(s) if s.contains('\n') => "lines".to_owned(),
            Value::String(s) if s.starts_with("_Module_BAM") => "bam".to_owned(),
            Value::String(_) => "text".to_owned(),
            Value::Object(o) => {
                let mut keys: Vec<_> = o.keys().cloned().collect();
                keys.sort();
                format!("{{{}}}", keys.join(","))
            }
            other => other.to_string(),
        };
        out.push_str(&format!("{k}={class};"));
    }
    out
}

fn header(element: i64) -> Map<String, Value> {
    let v = json!({"_type": (1 << 16) | element, "category": 1, "element": element,
                   "host_id": 101, "service_id": 2001});
    v.as_object().unwrap().clone()
}

#[test]
fn no_unlisted_field_changes_what_an_element_gives() {
    let listed = listed();
    let keys = raw_event_keys();
    let fixtures = fixture_events();
    let probes = probe_values();
    let rich = rich_values();
    for e in ELEMENTS {
        let fields = &listed[&(1, e)];
        // Bases: the fixture events of this element reduced to their listed fields (distinct
        // ones), the listed fields of a rich event, and a bare event (ids only), each also
        // without its service_id.
        let mut bases: BTreeSet<String> = BTreeSet::new();
        let mut shapes = BTreeSet::new();
        for (_, full) in &fixtures {
            if id_of(full) == Some((1, e)) {
                let reduced = keep(full, fields);
                if shapes.insert(shape(&reduced)) {
                    bases.insert(reduced.to_string());
                }
            }
        }
        let mut synthetic = header(e);
        for f in fields {
            if let Some(v) = rich.get(f) {
                synthetic.insert(f.clone(), v.clone());
            }
        }
        bases.insert(Value::Object(synthetic).to_string());
        bases.insert(Value::Object(header(e)).to_string());
        let mut more = BTreeSet::new();
        for b in &bases {
            let mut v: Value = serde_json::from_str(b).unwrap();
            v.as_object_mut().unwrap().remove("service_id");
            more.insert(v.to_string());
        }
        bases.extend(more);
        let mut probed = 0;
        for base in &bases {
            let base: Value = serde_json::from_str(base).unwrap();
            let want = norm(&base);
            for key in keys.iter().filter(|k| !fields.contains(**k)) {
                for p in &probes {
                    let mut v = base.clone();
                    v.as_object_mut()
                        .unwrap()
                        .insert((*key).to_owned(), p.clone());
                    assert_eq!(
                        norm(&v),
                        want,
                        "element {e}: the unlisted field {key} = {p} changes the normalisation of {base}"
                    );
                    probed += 1;
                }
            }
        }
        assert!(probed > 100, "element {e}: {probed} probes");
    }
}

/// The probes do find a field the normaliser reads: each listed field (but `_type`, read only
/// without category/element) changes what some base gives for some element it is listed for.
#[test]
fn the_probes_see_every_listed_field() {
    let listed = listed();
    let probes = probe_values();
    let rich = rich_values();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for e in ELEMENTS {
        let fields = &listed[&(1, e)];
        let mut full = header(e);
        for f in fields {
            if let Some(v) = rich.get(f) {
                full.insert(f.clone(), v.clone());
            }
        }
        // the least an element needs to be an event (a status its state, a downtime its id)
        let mut minimal = header(e);
        for f in ["state", "id"] {
            if fields.contains(f) {
                minimal.insert(f.to_owned(), rich[f].clone());
            }
        }
        for f in fields {
            let mut without = full.clone();
            without.remove(f);
            let mut bare = minimal.clone();
            bare.remove(f);
            for base in [
                Value::Object(without),
                Value::Object(full.clone()),
                Value::Object(bare),
            ] {
                let want = norm(&base);
                for p in &probes {
                    let mut v = base.clone();
                    v.as_object_mut().unwrap().insert(f.clone(), p.clone());
                    if norm(&v) != want {
                        seen.insert(f.clone());
                    }
                }
            }
        }
    }
    let all: BTreeSet<String> = listed.values().flatten().cloned().collect();
    let unseen: Vec<_> = all.difference(&seen).filter(|f| *f != "_type").collect();
    assert!(unseen.is_empty(), "listed but never read: {unseen:?}");
}
