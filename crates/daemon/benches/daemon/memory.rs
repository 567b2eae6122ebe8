//! Memory with 200,000 resources known (the state cache is bounded), and the cost of a miss.

use crate::support::{assert_nothing_queued, post, start, status_line, FIRST_SIGHT};
use std::time::Instant;

/// RSS with 200,000 services known, after their first sight (1,000 statuses per batch); then
/// the cost of a cache miss: steady statuses of 1,000 services the cache holds, against 1,000
/// it dropped (their states read back from the spool).
pub(crate) fn run() {
    let (d, _) = start(
        tempfile::tempdir().unwrap(),
        "http://127.0.0.1:9/v2/enqueue",
        "",
    );
    let socket = d.socket();
    let total: u64 = 200_000;
    let service = |i: u64| (10_000 + i / 20, 1_000_000 + i);
    let batch = |from: u64, check: i64| -> Vec<u8> {
        (from..from + 1000)
            .flat_map(|i| {
                let (h, s) = service(i);
                status_line(h, s, 0, check).into_bytes()
            })
            .collect()
    };
    let t = Instant::now();
    for from in (0..total).step_by(1000) {
        assert_eq!(post(&socket, &batch(from, FIRST_SIGHT)), 200);
    }
    assert_nothing_queued(&socket);
    println!(
        "first sight of {total} services in {:?}; RSS {} KiB",
        t.elapsed(),
        d.rss_kib()
    );
    // The last batches are cached; the first ones were dropped long ago.
    let rounds = 20;
    let time = |from: u64| {
        let t = Instant::now();
        for r in 0..rounds {
            assert_eq!(post(&socket, &batch(from, 1_781_000_300 + r)), 200);
        }
        t.elapsed().as_secs_f64() / (rounds as f64 * 1000.0)
    };
    let hit = time(total - 1000);
    let mut miss_total = 0.0;
    for k in 0..rounds {
        // A different dropped batch each time: every read is a miss.
        let from = (k as u64) * 5000;
        let t = Instant::now();
        assert_eq!(post(&socket, &batch(from, 1_781_000_300)), 200);
        miss_total += t.elapsed().as_secs_f64();
    }
    let miss = miss_total / (rounds as f64 * 1000.0);
    println!(
        "steady status, state cached: {:.1} µs/event; state read from the spool (a miss): {:.1} µs/event; a miss costs {:.1} µs",
        hit * 1e6,
        miss * 1e6,
        (miss - hit) * 1e6
    );
    println!("RSS after: {} KiB", d.rss_kib());
}
