//! End-to-end: a damaged spool must not stop paging (DESIGN §4.5), through the real binary.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::Value;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

/// Overwrite `pages` 4 KiB pages in the middle of the spool's database file.
fn corrupt_middle(spool_dir: &Path, pages: usize) {
    let path = spool_dir.join("spool.db");
    let len = std::fs::metadata(&path).unwrap().len();
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.seek(SeekFrom::Start((len / 2) & !4095)).unwrap();
    f.write_all(&vec![0xA5; 4096 * pages]).unwrap();
    f.sync_all().unwrap();
}

/// 1,500 services go CRITICAL with long outputs (a spool of many pages) while PagerDuty is down.
fn queue_long_triggers(d: &Daemon, base: u64) {
    let mut svcs = services(base, 1500);
    let firsts: Vec<String> = svcs.iter_mut().map(Svc::first_ok).collect();
    d.post_ok(&firsts);
    let long = "y".repeat(800);
    let crits: Vec<String> = svcs
        .iter_mut()
        .map(|s| s.critical(&format!("CRITICAL: {long}")))
        .collect();
    d.post_ok(&crits);
}

fn status(d: &Daemon) -> Value {
    serde_json::from_slice(&d.cli(&["status", "--json"]).stdout).unwrap_or(Value::Null)
}

fn nagios(d: &Daemon) -> (Option<i32>, String) {
    let o = d.cli(&["status", "--nagios"]);
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// The spool is damaged while the daemon is stopped: at its next start (or at the first read
/// that meets the damage) it is set aside, never deleted; what can be read is delivered; new
/// events are accepted and delivered; `status --nagios` says CRITICAL until an operator runs
/// `spool acknowledge-damage`.
#[test]
fn a_spool_damaged_while_stopped_is_set_aside_and_paging_goes_on() {
    let mock = MockPagerDuty::start();
    mock.set_default(Reply::unavailable());
    let mut d = Daemon::start(Config::new(&mock.url()));
    queue_long_triggers(&d, 5000);
    assert!(d.sigterm(WAIT).is_some_and(|s| s.success()));
    let spool_dir = d.dir.path().join("spool");
    corrupt_middle(&spool_dir, 24);

    mock.set_default(Reply::Accept);
    d.spawn();
    d.wait_ready(WAIT);
    assert!(
        poll_until(WAIT, || !status(&d)["spool_damage"].is_null()),
        "the damage was not found\n{}",
        d.log_tail(40)
    );
    let (code, line) = nagios(&d);
    assert_eq!(code, Some(2), "{line}");
    assert!(line.contains("spool damaged"), "{line}");
    let aside: Vec<_> = std::fs::read_dir(&spool_dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("spool.damaged-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "the damaged files are kept aside");
    assert!(aside[0].path().join("spool.db").exists());

    // What could be read is delivered, and new events page.
    assert!(
        mock.wait_until(WAIT, |r| r.iter().filter(|r| r.delivered()).count() > 500),
        "the readable deliveries were not delivered ({} delivered)\n{}",
        mock.delivered_count(),
        d.log_tail(40)
    );
    let mut fresh = Svc::new(7000, 70000);
    d.post_ok(&[fresh.first_ok()]);
    d.post_ok(&[fresh.critical("CRITICAL: after the damage")]);
    assert!(
        mock.wait_until(WAIT, |r| r.iter().any(
            |r| r.delivered() && r.dedup_key() == Some(fresh.dedup_key().as_str())
        )),
        "a new event was not delivered after the damage\n{}",
        d.log_tail(40)
    );

    // Loud until acknowledged.
    let ack = d.cli(&["spool", "acknowledge-damage"]);
    assert!(ack.status.success(), "{ack:?}");
    assert!(status(&d)["spool_damage"].is_null());
    assert!(d.logs().contains("The spool was damaged"));
}

/// The same damage met while the daemon runs: the read or commit that meets it sets the spool
/// aside; the daemon goes on.
#[test]
fn a_spool_damaged_while_running_is_set_aside_and_paging_goes_on() {
    let mock = MockPagerDuty::start();
    mock.set_default(Reply::unavailable());
    let d = Daemon::start(Config::new(&mock.url()));
    queue_long_triggers(&d, 8000);
    // Let the WAL reach the database file, then damage it under the running daemon.
    let spool_dir = d.dir.path().join("spool");
    {
        let conn = rusqlite::Connection::open(spool_dir.join("spool.db")).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    corrupt_middle(&spool_dir, 24);
    mock.set_default(Reply::Accept);
    // Reads of the queue, and new batches, meet the damage.
    let mut more = services(9000, 200);
    let firsts: Vec<String> = more.iter_mut().map(Svc::first_ok).collect();
    let _ = d.post_lines(&firsts);
    assert!(
        poll_until(WAIT, || !status(&d)["spool_damage"].is_null()),
        "the damage was not found while running\n{}",
        d.log_tail(40)
    );
    let mut fresh = Svc::new(7100, 71000);
    assert!(poll_until(WAIT, || d
        .post_lines(&[fresh.first_ok()])
        .is_ok_and(|r| r.status == 200)));
    d.post_ok(&[fresh.critical("CRITICAL: after the damage")]);
    assert!(
        mock.wait_until(WAIT, |r| r.iter().any(
            |r| r.delivered() && r.dedup_key() == Some(fresh.dedup_key().as_str())
        )),
        "a new event was not delivered after the damage\n{}",
        d.log_tail(40)
    );
    let (code, line) = nagios(&d);
    assert_eq!(code, Some(2), "{line}");
}
