//! SIGTERM: exit 0, the queue kept across the restart, even while the spool cannot be written.

use crate::common::*;
use crate::helpers::assert_no_secret;
use std::time::{Duration, Instant};

/// SIGTERM: exit 0 within shutdown_grace; queued events survive the restart.
#[test]
fn sigterm_exits_zero_and_the_queue_survives_a_restart() {
    let mock = MockPagerDuty::start();
    mock.set_default(Reply::unavailable());
    let mut d = Daemon::start(Config::new(&mock.url()));
    let mut svcs = services(6000, 5);
    let mut lines: Vec<String> = svcs.iter_mut().map(Svc::first_ok).collect();
    lines.extend(svcs.iter_mut().map(|s| {
        let out = format!("CRITICAL: sigterm test {}", s.dedup_key());
        s.critical(&out)
    }));
    d.post_ok(&lines);
    assert!(
        mock.wait_until(WAIT, |r| r.len() >= 5),
        "nothing was attempted"
    );

    let t0 = Instant::now();
    let status = d.sigterm(Duration::from_secs(10));
    let took = t0.elapsed();
    let status = status.unwrap_or_else(|| {
        panic!(
            "no exit within 10s of SIGTERM (shutdown_grace 2s)\n{}",
            d.log_tail(40)
        )
    });
    assert!(
        status.success(),
        "SIGTERM exit status {status}\n{}",
        d.log_tail(40)
    );
    eprintln!("SIGTERM → exit 0 in {took:?}");

    mock.set_default(Reply::Accept);
    d.spawn();
    d.wait_ready(WAIT);
    let recs: Vec<String> = svcs.iter_mut().map(Svc::recover).collect();
    d.post_ok(&recs);
    expect_all_delivered(&mock, &d, &svcs, WAIT);
    assert_no_secret(&d);
}

/// SIGTERM while the spool cannot be written (here another process holds its write lock, as a
/// full disk refuses writes): the outcomes of finished deliveries cannot be recorded, yet the
/// daemon stops within shutdown_grace plus its last commit attempt, and exits 0; after the
/// restart those events are sent again (at-least-once), in order, none lost.
#[test]
fn sigterm_while_the_spool_cannot_be_written_still_stops_and_loses_nothing() {
    // The spool's lock must be taken before PagerDuty answers; on a machine too loaded for
    // that, the scenario runs again with PagerDuty slower.
    for answer_after in [2, 6, 15].map(Duration::from_secs) {
        if spool_unwritable_at_sigterm(answer_after) {
            return;
        }
        eprintln!("the spool's lock came after PagerDuty's answers ({answer_after:?}); again");
    }
    panic!("could not take the spool's lock before PagerDuty answered, even after 15 s");
}

/// One run of the scenario above; false when the lock came too late to prove anything.
fn spool_unwritable_at_sigterm(answer_after: Duration) -> bool {
    let mock = MockPagerDuty::start();
    mock.set_default(Reply::delay(answer_after, Reply::Accept));
    let mut d = Daemon::start(Config::new(&mock.url()));
    let mut svcs = services(6100, 4);
    let lines: Vec<String> = svcs
        .iter_mut()
        .map(|s| {
            let out = format!("CRITICAL: unwritable spool {}", s.dedup_key());
            s.critical(&out)
        })
        .collect();
    d.post_ok(&lines);
    assert!(
        mock.wait_until(WAIT, |r| r.len() >= 4),
        "nothing was attempted\n{}",
        d.log_tail(40)
    );

    // While PagerDuty takes its time, take the spool's write lock: the answers arrive, and the
    // commit of their outcomes fails (busy) for as long as the lock is held.
    let db = rusqlite::Connection::open(d.spool_dir.join("spool.db")).unwrap();
    db.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let locked_at = Instant::now();
    let first_answer = mock.requests().iter().map(|r| r.at).min().unwrap() + answer_after;
    if locked_at >= first_answer {
        d.sigkill();
        return false;
    }
    assert!(
        mock.wait_until(WAIT, |r| r.iter().filter(|r| r.delivered()).count() >= 4),
        "PagerDuty never answered\n{}",
        mock.dump()
    );

    let t0 = Instant::now();
    let status = d.sigterm(Duration::from_secs(20));
    let took = t0.elapsed();
    let status = status.unwrap_or_else(|| {
        panic!(
            "still running 20 s after SIGTERM (shutdown_grace 2s) while the spool could not be written\n{}",
            d.log_tail(40)
        )
    });
    assert!(status.success(), "exit status {status}\n{}", d.log_tail(40));
    eprintln!("SIGTERM with an unwritable spool → exit 0 in {took:?}");
    let log = d.logs();
    assert!(
        log.contains("Cannot record the outcomes of the last deliveries before stopping"),
        "the stop did not say that outcomes were left unrecorded\n{}",
        d.log_tail(40)
    );

    db.execute_batch("ROLLBACK").unwrap();
    drop(db);
    let before = mock.count();
    mock.set_default(Reply::Accept);
    d.spawn();
    d.wait_ready(WAIT);
    let resent = |r: &[Request]| -> Vec<String> {
        let mut keys: Vec<String> = r[before..]
            .iter()
            .filter(|r| r.delivered())
            .filter_map(|r| r.dedup_key().map(str::to_owned))
            .collect();
        keys.sort();
        keys
    };
    let want: Vec<String> = svcs.iter().map(Svc::dedup_key).collect();
    assert!(
        mock.wait_until(WAIT, |r| resent(r).len() >= 4),
        "the unrecorded deliveries are sent again\n{}\n{}",
        mock.dump(),
        d.log_tail(40)
    );
    assert_eq!(resent(&mock.requests()), want, "once each\n{}", mock.dump());
    expect_all_delivered(&mock, &d, &svcs, WAIT);
    assert_no_secret(&d);
    true
}
