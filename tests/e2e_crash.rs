//! End-to-end: SIGKILL of the daemon while it ingests and delivers, repeatedly, restarting each
//! time. Every batch answered 200 must be delivered at least once, and for each dedup_key the
//! actions received, duplicates collapsed, are the produced trigger…resolve sequence in order
//! (DESIGN §1, §3.4, §4.4: "nothing is lost either way").
//!
//! `E2E_CRASH_CYCLES` (default 10) sets the number of kills; `E2E_SEED` replays a run.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn sigkill_during_ingest_and_delivery_loses_nothing_and_keeps_per_key_order() {
    let cycles: usize = std::env::var("E2E_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let mut rng = Rng::new();

    let mock = MockPagerDuty::start();
    // A little latency so that requests are in flight when the daemon dies.
    mock.set_default(Reply::delay(Duration::from_millis(15), Reply::Accept));
    let mut d = Daemon::start(Config::new(&mock.url()));

    // 60 services, three problem episodes each, interleaved across batches of 15 statuses.
    let mut svcs = services(7000, 60);
    let mut batches: Vec<Vec<String>> = Vec::new();
    let firsts: Vec<String> = svcs.iter_mut().map(Svc::first_ok).collect();
    batches.extend(firsts.chunks(15).map(<[String]>::to_vec));
    for episode in 1..=3 {
        let crits: Vec<String> = svcs
            .iter_mut()
            .map(|s| {
                let out = format!("CRITICAL: episode {episode} of {}", s.dedup_key());
                s.critical(&out)
            })
            .collect();
        batches.extend(crits.chunks(15).map(<[String]>::to_vec));
        let recs: Vec<String> = svcs.iter_mut().map(Svc::recover).collect();
        batches.extend(recs.chunks(15).map(<[String]>::to_vec));
    }
    let total_batches = batches.len();

    // The shim's behaviour: post each batch until it is answered 200, in order.
    let socket: PathBuf = d.socket.clone();
    let accepted = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let poster = {
        let (accepted, failures, stop) = (accepted.clone(), failures.clone(), stop.clone());
        let mut prng = Rng::new();
        std::thread::spawn(move || {
            for batch in batches {
                let body = ndjson(&batch);
                loop {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    match post_events(&socket, &body) {
                        Ok(r) if r.status == 200 => break,
                        _ => {
                            failures.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
                accepted.fetch_add(1, Ordering::SeqCst);
                // Spread the batches over the crash cycles.
                std::thread::sleep(Duration::from_millis(prng.range(20, 120)));
            }
        })
    };

    let deadline = Instant::now() + Duration::from_secs(120);
    let mut kills = 0;
    for cycle in 0..cycles {
        // Kill while deliveries are flowing: wait for a few more answers (or the end of the work),
        // then a random extra moment.
        let before = mock.delivered_count();
        let want = rng.range(1, 12) as usize;
        mock.wait_until(Duration::from_secs(5), |reqs| {
            reqs.iter().filter(|r| r.delivered()).count() >= before + want
        });
        std::thread::sleep(Duration::from_millis(rng.range(0, 60)));
        d.sigkill();
        kills += 1;
        eprintln!(
            "cycle {cycle}: killed after {} deliveries, {}/{total_batches} batches accepted",
            mock.delivered_count(),
            accepted.load(Ordering::SeqCst)
        );
        d.spawn();
        d.wait_ready(WAIT);
        assert!(Instant::now() < deadline, "crash cycles took too long");
    }

    // Let the poster finish, then everything must arrive.
    let posted_all = poll_until(Duration::from_secs(60), || {
        accepted.load(Ordering::SeqCst) == total_batches
    });
    stop.store(true, Ordering::SeqCst);
    let _ = poster.join();
    assert!(
        posted_all,
        "the daemon did not accept every batch after restarts: {}/{total_batches}\n{}",
        accepted.load(Ordering::SeqCst),
        d.log_tail(60)
    );
    eprintln!(
        "{kills} kills; {} failed posts retried (shim behaviour)",
        failures.load(Ordering::SeqCst)
    );

    expect_all_delivered(&mock, &d, &svcs, Duration::from_secs(60));

    let reqs = mock.requests();
    let delivered = reqs.iter().filter(|r| r.delivered()).count();
    let produced: usize = svcs.iter().map(|s| s.expected.len()).sum();
    eprintln!(
        "{produced} events produced, {delivered} delivered requests ({} duplicates), {} requests in total",
        delivered.saturating_sub(produced),
        reqs.len()
    );

    // Graceful stop at the end.
    let status = d.sigterm(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGTERM after the crash cycles: {status:?}\n{}",
        d.log_tail(40)
    );
}

/// Broker replays what the daemon never acknowledged, and the daemon must recognise every status
/// it applied (DESIGN §4.2) — also after a restart, and also statuses that changed nothing. An
/// OK that changed nothing, replayed after a later CRITICAL, must not resolve the open incident.
#[test]
fn a_replay_after_a_restart_is_recognised_even_for_statuses_that_changed_nothing() {
    let mock = MockPagerDuty::start();
    let mut d = Daemon::start(Config::new(&mock.url()));
    let mut s = Svc::new(9100, 91000);
    let first = s.first_ok(); // a new resource: stored
    let quiet = s.first_ok(); // HARD OK again: nothing changes but the check
    assert_eq!(d.post_ok(&[&first]), (1, 0, 0));
    assert_eq!(d.post_ok(&[&quiet]), (1, 0, 0));

    d.restart_after_kill();
    let crit = s.critical("CRITICAL: disk full");
    assert_eq!(d.post_ok(&[&crit]), (1, 0, 0));
    expect_all_delivered(&mock, &d, std::slice::from_ref(&s), WAIT);

    // The acknowledgements were lost: Broker replays all three, in order.
    assert_eq!(
        d.post_ok(&[&first, &quiet, &crit]),
        (0, 3, 0),
        "every replayed status is recognised and ignored\n{}",
        d.log_tail(20)
    );
    let resolve = s.recover();
    assert_eq!(d.post_ok(&[&resolve]), (1, 0, 0));
    expect_all_delivered(&mock, &d, std::slice::from_ref(&s), WAIT);
    let actions = mock.delivered_actions(&s.dedup_key());
    assert_eq!(
        collapse(&actions),
        ["trigger", "resolve"],
        "the replay neither resolved nor paged again\n{}",
        mock.dump()
    );
}
