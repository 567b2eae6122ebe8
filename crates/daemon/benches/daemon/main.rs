//! Daemon benchmarks, on the real binary (built with the bench profile) and real files, one
//! file each: `ingest` (durable ingest over the socket, disk writes per steady status),
//! `storm` (every event a state change), `delivery` (to a loopback mock PagerDuty, pacing
//! off), `backlog` (start-up with a large backlog), `memory` (200,000 resources known, and the
//! cost of a state cache miss); `support` has what they share. The fsync latency of the
//! spool's filesystem comes first: it explains the others.
//!
//! `cargo bench -p centreon-pagerduty --bench daemon [-- --pending N] [--only PART] [--services N]`;
//! results go to stdout and are recorded by hand in BENCHMARKS.md. With `BENCH_PERF=FILE`,
//! `perf record` samples the daemon (call graphs) during the steady ingest and the storm, into
//! FILE (one run of one part: `--only ingest` or `--only storm`); `BENCH_LOG_LEVEL` and
//! `BENCH_DAEMON_LOG` keep its log.

// A benchmark aborts on any setup failure: that is the right outcome.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod backlog;
mod delivery;
mod ingest;
mod memory;
mod storm;
mod support;

use std::io::Write;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pending: u64 = args
        .iter()
        .position(|a| a == "--pending")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    if args.iter().any(|a| a == "--list") {
        println!("daemon: benchmark");
        return;
    }
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    // `--only ingest|storm|delivery|backlog|memory`: one part (with the fsync probe, which explains them).
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    let wanted = |part: &str| only.is_none_or(|o| o == part);
    fsync_latency();
    if wanted("ingest") {
        // `--services N`: the steady figures with N services instead of 500.
        let services = args
            .iter()
            .position(|a| a == "--services")
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(500);
        ingest::run(services);
    }
    if wanted("storm") {
        storm::run();
    }
    if wanted("delivery") {
        delivery::run();
    }
    if wanted("backlog") {
        backlog::run(pending);
    }
    if wanted("memory") {
        memory::run();
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default()
}

fn fsync_latency() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe");
    let mut f = std::fs::File::create(&path).unwrap();
    let mut samples = Vec::new();
    for _ in 0..200 {
        f.write_all(&[0u8; 4096]).unwrap();
        let t = Instant::now();
        f.sync_data().unwrap();
        samples.push(t.elapsed());
    }
    samples.sort();
    println!(
        "fsync (4 KiB write + fdatasync, 200 samples): median {:?}, p99 {:?}",
        samples[100], samples[198]
    );
}
