//! Durable ingest of steady statuses over the socket, in batches of 1,000: events per second,
//! the daemon's CPU per event, and the bytes it writes per status (`/proc/PID/io`).

use crate::support::{
    assert_nothing_queued, post, start, status_line, Profile, FIRST_SIGHT, OK_SINCE,
};
use std::time::{Duration, Instant};

pub(crate) fn run(count: u64) {
    let (d, _) = start(
        tempfile::tempdir().unwrap(),
        "http://127.0.0.1:9/v2/enqueue",
        "",
    );
    let socket = d.socket();
    println!("RSS idle: {} KiB", d.rss_kib());
    // `count` services, 10 a host; round 0 creates their state (a first sight that queues
    // nothing), later rounds change nothing.
    let services: Vec<(u64, u64)> = (0..count).map(|i| (1000 + i / 10, 50_000 + i)).collect();
    let round = |r: i64| -> Vec<u8> {
        services
            .iter()
            .flat_map(|&(h, s)| status_line(h, s, 0, OK_SINCE + r * 300).into_bytes())
            .collect()
    };
    for first in services.chunks(1000) {
        let body: Vec<u8> = first
            .iter()
            .flat_map(|&(h, s)| status_line(h, s, 0, FIRST_SIGHT).into_bytes())
            .collect();
        assert_eq!(post(&socket, &body), 200);
    }
    assert_nothing_queued(&socket);
    let batch_lines = 1000;
    // Statuses of rounds 1, 2, ... in batches of 1,000, made as they are posted (not timed).
    let mut rounds = (1..).flat_map(|r| {
        let lines = round(r);
        lines
            .split_inclusive(|&b| b == b'\n')
            .map(<[u8]>::to_vec)
            .collect::<Vec<_>>()
    });
    // `shim_fields`: each line cut to the fields the shim sends (see `shim_line`).
    let mut measure = |batches: usize, shim_fields: bool| {
        let written = d.write_bytes();
        let cpu = d.cpu_time();
        let faults = d.minor_faults();
        let mut elapsed = Duration::ZERO;
        for _ in 0..batches {
            let body: Vec<u8> = rounds
                .by_ref()
                .take(batch_lines)
                .flat_map(|l| if shim_fields { shim_line(&l) } else { l })
                .collect();
            let t = Instant::now();
            assert_eq!(post(&socket, &body), 200);
            elapsed += t.elapsed();
        }
        // The WAL reaches the disk at each commit (synchronous=FULL); checkpoints are in it.
        let events = (batches * batch_lines) as f64;
        let bytes = d.write_bytes().saturating_sub(written) as f64 / events;
        // The daemon is idle while the next body is made, so this is its cost of the posts.
        let cpu_us = d.cpu_time().saturating_sub(cpu).as_secs_f64() * 1e6 / events;
        let faults = d.minor_faults().saturating_sub(faults) as f64 / batches as f64;
        (bytes, events, elapsed, cpu_us, faults)
    };
    // The first 200,000 statuses (the figure as first measured) fill the window log's slots
    // of a fresh spool; the steady figure is over the next 600,000 (a few checkpoints).
    let (cold_bytes, _, _, _, _) = measure(200, false);
    let perf = Profile::start(&d);
    let (bytes, events, elapsed, cpu_us, faults) = measure(600, false);
    if let Some(p) = perf {
        p.stop();
    }
    let (shim_bytes, shim_events, shim_elapsed, shim_cpu_us, shim_faults) = measure(300, true);
    println!(
        "disk writes per steady status (write_bytes of /proc/PID/io, {count} services): {bytes:.0} bytes/event \
         ({cold_bytes:.0} over the first 200,000 statuses of a fresh spool)"
    );
    println!(
        "durable ingest, steady state, NDJSON batches of {batch_lines} over the socket: {:.0} events/s ({} events in {:?}; daemon CPU {cpu_us:.1} µs/event; {faults:.0} page faults a batch)",
        events / elapsed.as_secs_f64(),
        events,
        elapsed
    );
    println!(
        "durable ingest, steady state, the lines the shim sends (the normaliser's fields), batches of {batch_lines}: \
         {:.0} events/s ({} events in {:?}; {shim_bytes:.0} bytes written per status; daemon CPU {shim_cpu_us:.1} µs/event; {shim_faults:.0} page faults a batch)",
        shim_events / shim_elapsed.as_secs_f64(),
        shim_events,
        shim_elapsed
    );
    // Batches that each change every resource (write path): 500 triggers then 500 resolves.
    let services = &services[..services.len().min(500)];
    let t = Instant::now();
    let mut changed = 0;
    for r in 0..20i64 {
        let state = if r % 2 == 0 { 2 } else { 0 };
        let body: Vec<u8> = services
            .iter()
            .flat_map(|&(h, s)| status_line(h, s, state, 1_781_200_000 + r * 300).into_bytes())
            .collect();
        assert_eq!(post(&socket, &body), 200);
        changed += services.len();
    }
    let elapsed = t.elapsed();
    println!(
        "durable ingest, every event a state change (trigger or resolve queued), batches of 500: {:.0} events/s",
        changed as f64 / elapsed.as_secs_f64()
    );
    println!("RSS after ingest: {} KiB", d.rss_kib());
}

/// A status line as the shim posts it: the raw event cut to the fields the daemon's normaliser
/// reads for a service status, plus `_cache`, as the one list of them says
/// (`tests/fixtures/normaliser-fields.txt`: its `*` line and its line for element 1:24).
fn shim_line(line: &[u8]) -> Vec<u8> {
    const LIST: &str = include_str!("../../../../tests/fixtures/normaliser-fields.txt");
    let fields: Vec<&str> = LIST
        .lines()
        .filter_map(|l| l.split_once(char::is_whitespace))
        .filter(|(groups, _)| *groups == "*" || groups.split(',').any(|g| g == "1:24"))
        .flat_map(|(_, fields)| fields.split_whitespace())
        .collect();
    let mut event: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(line).unwrap();
    event.retain(|k, _| fields.contains(&k.as_str()));
    let mut out = serde_json::to_vec(&event).unwrap();
    out.push(b'\n');
    out
}
