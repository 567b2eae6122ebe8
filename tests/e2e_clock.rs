//! End-to-end: a step of the wall clock while the daemon runs (DESIGN §4.5) neither freezes
//! delivery nor makes everything old at once. The real binary under libfaketime (Debian
//! `faketime`), the time changed through its timestamp file while the daemon runs; the
//! monotonic clock is left alone, as a real step leaves it.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn libfaketime() -> Option<PathBuf> {
    [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
        "/usr/lib64/faketime/libfaketimeMT.so.1",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// A daemon whose wall clock is `offset_file`'s (libfaketime spec, e.g. `+0`, `-7200`).
fn start_under_faketime(config: Config, lib: &Path, offset_file: &Path) -> Daemon {
    std::fs::write(offset_file, "+0").unwrap();
    let mut d = Daemon::prepare(config);
    d.spawn_wrapped(&[
        "env".into(),
        format!("LD_PRELOAD={}", lib.display()),
        format!("FAKETIME_TIMESTAMP_FILE={}", offset_file.display()),
        "FAKETIME_NO_CACHE=1".into(),
        "DONT_FAKE_MONOTONIC=1".into(),
    ]);
    d.wait_ready(WAIT);
    d
}

fn step(offset_file: &Path, spec: &str) {
    std::fs::write(offset_file, spec).unwrap();
}

/// PagerDuty is down, the clock steps back 2 hours, PagerDuty comes back: every queued event
/// is delivered within `backoff_max` (1 s here) and a few seconds.
#[test]
fn a_clock_stepped_back_two_hours_does_not_freeze_delivery() {
    let Some(lib) = libfaketime() else {
        eprintln!("skipped: libfaketime is not installed (Debian package faketime)");
        return;
    };
    let mock = MockPagerDuty::start();
    mock.set_default(Reply::unavailable());
    let dir = tempfile::tempdir().unwrap();
    let offset = dir.path().join("faketime");
    let d = start_under_faketime(Config::new(&mock.url()), &lib, &offset);
    let mut svcs = services(6000, 20);
    let firsts: Vec<String> = svcs.iter_mut().map(Svc::first_ok).collect();
    d.post_ok(&firsts);
    let crits: Vec<String> = svcs
        .iter_mut()
        .map(|s| {
            let out = format!("CRITICAL: clock test {}", s.dedup_key());
            s.critical(&out)
        })
        .collect();
    d.post_ok(&crits);
    assert!(
        mock.wait_until(WAIT, |r| r.len() >= 20),
        "nothing was tried"
    );
    std::thread::sleep(Duration::from_millis(1500));
    step(&offset, "-7200");
    std::thread::sleep(Duration::from_millis(300));
    mock.set_default(Reply::Accept);
    let back = Instant::now();
    expect_all_delivered(&mock, &d, &svcs, Duration::from_secs(8));
    eprintln!("delivered {:?} after PagerDuty came back", back.elapsed());
}

/// The clock steps forward 2 hours while events wait: pacing still holds (the token bucket
/// gives no burst over its 10), and nothing is collapsed or expired because of the step.
#[test]
fn a_clock_stepped_forward_two_hours_neither_bursts_nor_collapses() {
    let Some(lib) = libfaketime() else {
        eprintln!("skipped: libfaketime is not installed (Debian package faketime)");
        return;
    };
    let mock = MockPagerDuty::start();
    mock.set_default(Reply::unavailable());
    let dir = tempfile::tempdir().unwrap();
    let offset = dir.path().join("faketime");
    let config = Config::new(&mock.url())
        .set("pagerduty", "rate_limit_per_minute", "60")
        .set_str("delivery", "collapse_after", "30m")
        .set_str("delivery", "max_event_age", "1h");
    let d = start_under_faketime(config, &lib, &offset);
    let mut svcs = services(6100, 20);
    let firsts: Vec<String> = svcs.iter_mut().map(Svc::first_ok).collect();
    d.post_ok(&firsts);
    let mut lines = Vec::new();
    for s in &mut svcs {
        let out = format!("CRITICAL: forward {}", s.dedup_key());
        lines.push(s.critical(&out));
        lines.push(s.recover());
    }
    d.post_ok(&lines);
    assert!(
        mock.wait_until(WAIT, |r| !r.is_empty()),
        "nothing was tried"
    );
    step(&offset, "+7200");
    std::thread::sleep(Duration::from_millis(300));
    let tried_before = mock.count();
    mock.set_default(Reply::Accept);
    let back = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let early = mock.count() - tried_before;
    // 60 a minute, burst 10: about 10 + 3 in 3 s; a refill "2 hours" long would not exceed the
    // burst either, and nothing may be sent beyond it.
    assert!(
        early <= 14,
        "{early} requests within 3 s of PagerDuty's return: a burst"
    );
    expect_all_delivered(&mock, &d, &svcs, Duration::from_secs(60));
    eprintln!("delivered {:?} after PagerDuty came back", back.elapsed());
    let logs = d.logs();
    assert!(!logs.contains("Collapsed"), "collapsed because of the step");
    assert!(!logs.contains("expired"), "expired because of the step");
}
