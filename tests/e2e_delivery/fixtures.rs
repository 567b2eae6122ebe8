//! The fixture scenarios: the mock gets exactly the events `tests/fixtures/README.md` lists.

use crate::common::*;
use crate::helpers::assert_no_secret;
use serde_json::Value;
use std::time::Duration;

struct Exp {
    action: &'static str,
    severity: Option<&'static str>,
    /// Exact summary, or a prefix when it ends with `*`.
    summary: Option<&'static str>,
    source: Option<&'static str>,
    component: Option<&'static str>,
    class: Option<&'static str>,
    timestamp: Option<i64>,
}

const fn t(
    severity: &'static str,
    summary: &'static str,
    source: &'static str,
    component: &'static str,
    class: &'static str,
    timestamp: Option<i64>,
) -> Exp {
    Exp {
        action: "trigger",
        severity: Some(severity),
        summary: Some(summary),
        source: Some(source),
        component: Some(component),
        class: Some(class),
        timestamp,
    }
}

const R: Exp = Exp {
    action: "resolve",
    severity: None,
    summary: None,
    source: None,
    component: None,
    class: None,
    timestamp: None,
};
const A: Exp = Exp {
    action: "acknowledge",
    ..R
};

/// What `tests/fixtures/README.md` says each scenario sends, with DESIGN §4.3 payloads.
fn fixture_expectations() -> Vec<(&'static str, &'static str, Vec<Exp>)> {
    vec![
        ("v2_service_lifecycle", "101_2001", vec![
            t("warning", "srv-web-01/HTTP: WARNING - HTTP WARNING: HTTP/1.1 200 OK - 1.502 second response time", "srv-web-01", "HTTP", "service", Some(1_781_000_450)),
            t("critical", "srv-web-01/HTTP: CRITICAL - CRITICAL - Socket timeout after 10 seconds", "srv-web-01", "HTTP", "service", Some(1_781_001_350)),
            R,
        ]),
        ("v2_host_lifecycle", "201_H", vec![
            t("critical", "gw-paris-01: DOWN - CRITICAL - 10.0.2.1: rta nan, lost 100%", "gw-paris-01", "gw-paris-01", "host", Some(1_781_000_420)),
            R,
        ]),
        ("v2_host_lifecycle", "202_H", vec![
            t("error", "app-paris-02: UNREACHABLE - CRITICAL - Host Unreachable (10.0.2.2)", "app-paris-02", "app-paris-02", "host", Some(1_781_000_540)),
            R,
        ]),
        ("v3_service_host_lifecycle", "301_3001", vec![
            t("critical", "db-lyon-01/MySQL-Connections: CRITICAL - CRITICAL: 1012 client connection threads", "db-lyon-01", "MySQL-Connections", "service", Some(1_781_000_440)),
            R,
        ]),
        ("v3_service_host_lifecycle", "301_3002", vec![
            t("error", "db-lyon-01/MySQL-Replication: UNKNOWN - UNKNOWN: cannot connect to the replica", "db-lyon-01", "MySQL-Replication", "service", Some(1_781_000_560)),
            R,
        ]),
        ("v3_service_host_lifecycle", "301_H", vec![
            t("critical", "db-lyon-01: DOWN - ping timeout", "db-lyon-01", "db-lyon-01", "host", Some(1_781_000_920)),
            R,
        ]),
        ("downtime_ack", "401_4001", vec![
            t("critical", "fs-nantes-01/NFS-Exports: CRITICAL - CRITICAL: /srv/share not exported", "fs-nantes-01", "NFS-Exports", "service", Some(1_781_000_300)),
            A,
            R,
        ]),
        ("downtime_ack", "401_4002", vec![
            // Released when the downtime ends: the held status (26h) or the next one (27h).
            t("critical", "fs-nantes-01/Backup-Nightly: CRITICAL - CRITICAL: last backup 2*", "fs-nantes-01", "Backup-Nightly", "service", None),
            R,
        ]),
    ]
}

fn check_event(key: &str, i: usize, r: &Request, e: &Exp, problems: &mut Vec<String>) {
    let mut bad = |what: String| problems.push(format!("{key} event #{i}: {what}"));
    let Some(body) = r.body.as_ref() else {
        bad("body is not JSON".into());
        return;
    };
    if r.routing_key() != Some(ROUTING_KEY) {
        bad(format!("routing_key {:?}", r.routing_key()));
    }
    if r.action() != Some(e.action) {
        bad(format!(
            "event_action {:?}, want {:?}",
            r.action(),
            e.action
        ));
        return;
    }
    if e.action != "trigger" {
        let mut keys: Vec<&str> = body
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        if keys != ["dedup_key", "event_action", "routing_key"] {
            bad(format!(
                "{} carries {keys:?} (want routing_key, dedup_key, event_action only)",
                e.action
            ));
        }
        return;
    }
    let p = &body["payload"];
    let s = |f: &str| p.get(f).and_then(Value::as_str).map(str::to_owned);
    if let Some(want) = e.summary {
        let got = s("summary").unwrap_or_default();
        let ok = match want.strip_suffix('*') {
            Some(prefix) => got.starts_with(prefix),
            None => got == want,
        };
        if !ok {
            bad(format!("summary {got:?}, want {want:?}"));
        }
    }
    for (field, want) in [
        ("severity", e.severity),
        ("source", e.source),
        ("component", e.component),
        ("class", e.class),
    ] {
        if let Some(want) = want {
            if s(field).as_deref() != Some(want) {
                bad(format!("payload.{field} {:?}, want {want:?}", s(field)));
            }
        }
    }
    let ts = s("timestamp").unwrap_or_default();
    let shape_ok = ts.len() == 20 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T';
    if !shape_ok {
        bad(format!(
            "payload.timestamp {ts:?} is not YYYY-MM-DDTHH:MM:SSZ"
        ));
    }
    if let Some(want) = e.timestamp {
        if ts != format_timestamp(want) {
            bad(format!(
                "payload.timestamp {ts:?}, want {:?}",
                format_timestamp(want)
            ));
        }
    }
    if body.get("client").and_then(Value::as_str) != Some("Centreon") {
        bad(format!("client {:?}", body.get("client")));
    }
    if !p.get("custom_details").is_some_and(Value::is_object) {
        bad("payload.custom_details missing".into());
    }
}

/// Every fixture scenario's `shim.ndjson`, posted in batches of 4 lines, one daemon: the mock gets
/// exactly the events the fixture README lists, per key in order, with DESIGN §4.3 payloads.
#[test]
fn fixture_lifecycles_deliver_exactly_the_listed_events() {
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));
    let expectations = fixture_expectations();

    let mut scenarios: Vec<&str> = expectations.iter().map(|(s, _, _)| *s).collect();
    scenarios.dedup();
    for scenario in &scenarios {
        let lines = fixture_lines(scenario);
        let mut total = 0;
        for batch in lines.chunks(4) {
            let (a, i, r) = d.post_ok(batch);
            assert_eq!(r, 0, "{scenario}: a fixture line was rejected");
            assert_eq!(
                (a + i + r) as usize,
                batch.len(),
                "{scenario}: accepted+ignored+rejected != lines in the batch"
            );
            total += batch.len();
        }
        assert_eq!(total, lines.len());
    }

    let want_total: usize = expectations.iter().map(|(_, _, v)| v.len()).sum();
    let keys: Vec<&str> = expectations.iter().map(|(_, k, _)| *k).collect();
    let complete = |reqs: &[Request]| {
        expectations.iter().all(|(_, key, exp)| {
            let n = reqs
                .iter()
                .filter(|r| r.delivered() && r.dedup_key() == Some(key))
                .count();
            n >= exp.len()
        })
    };
    let done = mock.wait_until(WAIT, complete);
    // Nothing more should come: give stragglers a moment (polling, returns at the first one).
    let extra = mock.wait_until(Duration::from_millis(1500), |reqs| reqs.len() > want_total);

    let mut problems = Vec::new();
    let by_key = mock.delivered_by_key();
    for (scenario, key, exp) in &expectations {
        let got: Vec<Request> = by_key.get(*key).cloned().unwrap_or_default();
        // Collapse at-least-once duplicates.
        let mut deduped: Vec<Request> = Vec::new();
        for r in got {
            if deduped.last().map(Request::ident) != Some(r.ident()) {
                deduped.push(r);
            }
        }
        let actions: Vec<&str> = deduped.iter().map(|r| r.action().unwrap_or("?")).collect();
        let want: Vec<&str> = exp.iter().map(|e| e.action).collect();
        if actions != want {
            problems.push(format!(
                "{scenario} {key}: actions {actions:?}, want {want:?}"
            ));
            continue;
        }
        for (i, (r, e)) in deduped.iter().zip(exp).enumerate() {
            check_event(key, i, r, e, &mut problems);
        }
    }
    for key in by_key.keys() {
        if !keys.contains(&key.as_str()) {
            problems.push(format!(
                "unexpected events for dedup_key {key}: {:?}",
                by_key[key].iter().map(Request::ident).collect::<Vec<_>>()
            ));
        }
    }
    let non_delivered: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| !r.delivered())
        .collect();
    if !non_delivered.is_empty() {
        problems.push(format!(
            "{} requests were not answered 2xx by an all-accepting mock",
            non_delivered.len()
        ));
    }
    if extra {
        problems.push(format!(
            "more requests than the {want_total} expected events"
        ));
    }
    assert!(
        done && problems.is_empty(),
        "complete={done}; problems:\n  {}\n--- mock ---\n{}",
        problems.join("\n  "),
        mock.dump()
    );
    assert_no_secret(&d);
}
