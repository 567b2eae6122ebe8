//! Issue #12's storm: every event a state change.

use crate::support::{assert_nothing_queued, post, start_paced, status_line, Profile, FIRST_SIGHT};
use std::time::Instant;

/// Issue #12's storm: a datacenter loses power, 50,000 services go OK → CRITICAL (HARD) at
/// once, in batches of 1,000; each change queues a trigger. Their first sight (OK) comes before.
/// Delivery is paced as by default (100 a minute): PagerDuty cannot take a storm at once, and
/// the figure is the ingest's.
pub(crate) fn run() {
    let (d, _) = start_paced(
        tempfile::tempdir().unwrap(),
        "http://127.0.0.1:9/v2/enqueue",
        100,
        "",
    );
    let socket = d.socket();
    let services: Vec<(u64, u64)> = (0..50_000).map(|i| (1000 + i / 10, 50_000 + i)).collect();
    let batches = |state: u8, check: i64| -> Vec<Vec<u8>> {
        services
            .chunks(1000)
            .map(|chunk| {
                chunk
                    .iter()
                    .flat_map(|&(h, s)| status_line(h, s, state, check).into_bytes())
                    .collect()
            })
            .collect()
    };
    for b in batches(0, FIRST_SIGHT) {
        assert_eq!(post(&socket, &b), 200);
    }
    assert_nothing_queued(&socket);
    let storm = batches(2, 1_781_000_300);
    let perf = Profile::start(&d);
    let written = d.write_bytes();
    let cpu = d.cpu_time();
    let t = Instant::now();
    for b in &storm {
        assert_eq!(post(&socket, b), 200);
    }
    let elapsed = t.elapsed();
    if let Some(p) = perf {
        p.stop();
    }
    println!(
        "storm: 50,000 OK -> CRITICAL (HARD) changes of 50,000 services in batches of 1,000: \
         committed in {elapsed:?}, {:.0} events/s, {:.0} bytes written per change, daemon CPU {:.1} µs/change",
        50_000.0 / elapsed.as_secs_f64(),
        d.write_bytes().saturating_sub(written) as f64 / 50_000.0,
        d.cpu_time().saturating_sub(cpu).as_secs_f64() * 1e6 / 50_000.0
    );
    println!("RSS after the storm: {} KiB", d.rss_kib());
}
