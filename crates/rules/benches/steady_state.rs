//! Steady-state throughput of the translate path: parse + normalise + rules, per event.
//!
//! The stream is generated here, shaped like the `steady_10k` fixture (see
//! `tests/fixtures/README.md`): 500 services on 50 hosts, BBDO v2 `service_status` lines as the
//! shim posts them (with `_cache`), about 1 KB each, all HARD OK with the same output round
//! after round; only `last_check` (and the times derived from it) and the perfdata values
//! move. One service goes HARD CRITICAL at round 10 and stays so (one trigger in all).
//!
//! The store is warm: the first round is applied before measuring, so every measured event
//! is a known resource whose state does not change — the common case of a real platform.
//!
//! Run: `cargo bench -p rules -- --warm-up-time 1 --measurement-time 5`

use broker::{normalise_line, Event, Normalised};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rules::{Engine, MemoryStore, Settings};
use std::fmt::Write as _;

const SERVICES: usize = 500;
const HOSTS: usize = 50;
const ROUNDS: usize = 20;
const T0: i64 = 1_781_000_000;
const INTERVAL: i64 = 300;
/// The service that goes CRITICAL at round 10.
const FAILING: usize = 0;

/// One BBDO v2 service_status line, as the shim posts it.
fn line(round: usize, service: usize) -> String {
    let host = service % HOSTS;
    let host_id = 40_000 + host;
    let service_id = 60_000 + service;
    let last_check = T0 + 1 + (round as i64) * INTERVAL + (service as i64 % 60);
    let critical = service == FAILING && round >= 10;
    let (state, output, last_hard_state_change) = if critical {
        (
            2,
            format!("CRITICAL - /data{service:05} used 97%"),
            T0 + 1 + 10 * INTERVAL + (service as i64 % 60),
        )
    } else {
        (0, format!("OK - /data{service:05} mounted"), T0 - 86_400)
    };
    // Values that move: pseudo-random but deterministic.
    let used = 30 + (round * 7 + service * 13) % 50;
    let used = if critical { 97 } else { used };
    let latency = ((round * 31 + service * 17) % 500) as f64 / 1000.0;
    let execution = ((round * 53 + service * 29) % 2000) as f64 / 1000.0;
    let hostgroup = ["Linux", "Web", "Databases", "Storage"][host % 4];
    let mut s = String::with_capacity(1100);
    let _ = write!(
        s,
        concat!(
            r#"{{"_type":65560,"category":1,"element":24,"acknowledged":false,"#,
            r#""acknowledgement_type":0,"active_checks":true,"check_interval":5.0,"#,
            r#""check_period":"24x7","check_type":0,"check_attempt":1,"state":{state},"#,
            r#""scheduled_downtime_depth":0,"enabled":true,"event_handler":"","#,
            r#""event_handler_enabled":true,"execution_time":{execution},"flap_detection":true,"#,
            r#""checked":true,"host_id":{host_id},"flapping":false,"last_check":{last_check},"#,
            r#""last_hard_state":{state},"last_hard_state_change":{lhsc},"#,
            r#""last_state_change":{lhsc},"last_time_ok":{last_check},"#,
            r#""last_update":{last_check},"latency":{latency},"max_check_attempts":1,"#,
            r#""next_check":{next_check},"no_more_notifications":false,"#,
            r#""notification_number":0,"notify":true,"obsess_over_service":true,"#,
            r#""passive_checks":false,"percent_state_change":0.0,"retry_interval":1.0,"#,
            r#""should_be_scheduled":true,"state_type":1,"#,
            r#""check_command":"generic-active-service","output":"{output}\n","#,
            r#""perfdata":"used={used}%;80;90;0;100 size=500GB","service_id":{service_id},"#,
            r#""_cache":{{"host_name":"steady-node-{host:04}","#,
            r#""service_description":"Disk-/data{service:05}","hostgroups":["{hostgroup}"],"#,
            r#""host_severity":1,"poller":"Central"}}}}"#
        ),
        state = state,
        execution = execution,
        host_id = host_id,
        last_check = last_check,
        lhsc = last_hard_state_change,
        latency = latency,
        next_check = last_check + INTERVAL,
        output = output,
        used = used,
        service_id = service_id,
        host = host,
        service = service,
        hostgroup = hostgroup,
    );
    s
}

/// Every line of the stream, round by round.
fn stream() -> Vec<Vec<u8>> {
    (0..ROUNDS)
        .flat_map(|round| (0..SERVICES).map(move |service| line(round, service).into_bytes()))
        .collect()
}

fn normalised(line: &[u8]) -> Event {
    match normalise_line(line) {
        Ok(Normalised::Event(event)) => event,
        other => panic!("not an event: {other:?}"),
    }
}

fn now_of(event: &Event) -> i64 {
    match event {
        Event::Status(s) => s.event_time().unwrap_or(T0),
        _ => T0,
    }
}

/// A store warmed with the first round.
fn warm(engine: &Engine, first_round: &[Vec<u8>]) -> MemoryStore {
    let mut store = MemoryStore::default();
    for line in first_round {
        let event = normalised(line);
        let out = engine.apply(&mut store, &event, now_of(&event));
        assert!(out.outgoing.is_empty());
    }
    store.take_changed();
    store
}

fn copy(store: &MemoryStore) -> MemoryStore {
    MemoryStore {
        resources: store.resources.clone(),
        names: store.names.clone(),
        ..MemoryStore::default()
    }
}

/// The whole translate path on the measured rounds; returns the triggers sent.
fn translate(engine: &Engine, store: &mut MemoryStore, lines: &[Vec<u8>]) -> usize {
    let mut sent = 0;
    for line in lines {
        if let Ok(Normalised::Event(event)) = normalise_line(line) {
            let out = engine.apply(store, &event, now_of(&event));
            sent += out.outgoing.len();
        }
    }
    sent
}

fn bench(c: &mut Criterion) {
    let engine = Engine::new(Settings::default());
    let lines = stream();
    let (first, measured) = lines.split_at(SERVICES);
    let store = warm(&engine, first);

    // `STEADY_STATE_PASSES=N`: no criterion, just N passes of the whole path, timed with the
    // process's CPU time as well as wall time (for `perf stat`, or a busy machine where wall
    // time counts other processes' turns).
    if let Some(passes) = std::env::var("STEADY_STATE_PASSES")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
    {
        let stores: Vec<MemoryStore> = (0..passes).map(|_| copy(&store)).collect();
        let wall = std::time::Instant::now();
        let cpu = cpu_time();
        let mut sent = 0;
        for mut s in stores {
            sent += translate(&engine, &mut s, measured);
        }
        let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_time() - cpu);
        let events = f64::from(passes) * measured.len() as f64;
        eprintln!(
            "steady_state: {events} events, {sent} sent; wall {wall:.3} s = {:.0} events/s; \
             cpu {cpu:.3} s = {:.0} events/s",
            events / wall,
            events / cpu
        );
        return;
    }

    // Sanity: the stream is what it claims to be.
    let mut check = copy(&store);
    assert_eq!(translate(&engine, &mut check, measured), 1, "one trigger");
    let avg = lines.iter().map(Vec::len).sum::<usize>() / lines.len();
    eprintln!(
        "steady_state: {} events measured per pass, {avg} bytes per line on average",
        measured.len()
    );

    let mut group = c.benchmark_group("steady_state");
    group.throughput(Throughput::Elements(measured.len() as u64));

    group.bench_function("parse+normalise+rules", |b| {
        b.iter_batched(
            || copy(&store),
            |mut store| black_box(translate(&engine, &mut store, measured)),
            BatchSize::LargeInput,
        )
    });

    // The parts, to see which dominates. The floor: serde_json scanning the line and
    // skipping every value, without building anything.
    group.bench_function("json-skip-only", |b| {
        b.iter(|| {
            for line in measured {
                black_box(serde_json::from_slice::<serde::de::IgnoredAny>(black_box(line)).is_ok());
            }
        })
    });
    group.bench_function("parse+normalise", |b| {
        b.iter(|| {
            for line in measured {
                black_box(normalise_line(black_box(line)).is_ok());
            }
        })
    });
    let events: Vec<Event> = measured.iter().map(|l| normalised(l)).collect();
    group.bench_function("rules", |b| {
        b.iter_batched(
            || copy(&store),
            |mut store| {
                let mut sent = 0;
                for event in &events {
                    sent += engine
                        .apply(&mut store, event, now_of(event))
                        .outgoing
                        .len();
                }
                black_box(sent)
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// CPU time of this process, in seconds (Linux: `/proc/self/stat` utime + stime; 0 elsewhere).
fn cpu_time() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

criterion_group!(benches, bench);
criterion_main!(benches);
