//! The replay window's log in page-sized slots: what a batch logs is read back in order after
//! a reopen, trims free slots that later batches reuse, a steady batch writes only its pages,
//! and the rows of a schema-8 spool are carried into slots.
#![allow(clippy::unwrap_used)]

use spool::{Batch, Spool, WindowEntry, DB_FILE};
use std::collections::BTreeMap;

/// A small deterministic generator (the test needs no crate for it).
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

fn entry(host_id: u64, service_id: u64, fingerprint: u64) -> WindowEntry {
    WindowEntry {
        host_id,
        service_id,
        fingerprint,
    }
}

fn log_of(s: &Spool) -> Vec<(i64, WindowEntry)> {
    s.window_log()
        .unwrap()
        .into_iter()
        .map(|e| (e.seq, e.entry))
        .collect()
}

fn slots(dir: &std::path::Path) -> i64 {
    rusqlite::Connection::open(dir.join(DB_FILE))
        .unwrap()
        .query_row("SELECT count(*) FROM window_slots", [], |r| r.get(0))
        .unwrap()
}

/// Batches of every size (none, a few, more than a slot holds), trims at random points, and
/// reopens: the log always reads back as a model of it says, and the slots stay bounded.
#[test]
fn the_log_reads_back_as_written_across_trims_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path()).unwrap();
    let mut rng = Lcg(7);
    let mut model: BTreeMap<i64, Vec<WindowEntry>> = BTreeMap::new();
    let mut next_fp = 1u64;
    let mut last_ingest = None;
    for round in 0..400 {
        let n = match rng.below(4) {
            0 => 0,
            1 => rng.below(5),
            2 => rng.below(400),
            _ => 700 + rng.below(900),
        };
        let window: Vec<_> = (0..n)
            .map(|_| {
                next_fp += 1;
                entry(1 + rng.below(3_000), rng.below(200_000), next_fp << 20)
            })
            .collect();
        let trim = (rng.below(3) == 0).then(|| s.batch_seq() + 1 - rng.below(20) as i64);
        let seq = s
            .commit_batch(&Batch {
                window: window.clone(),
                trim_window_below: trim,
                ingested_at_ms: Some(1_000 + round),
                ..Batch::default()
            })
            .unwrap();
        if !window.is_empty() || trim.is_some() {
            last_ingest = Some(1_000 + round);
        }
        if let Some(below) = trim {
            model.retain(|&k, _| k >= below);
        }
        if !window.is_empty() {
            // A batch's entries come back in resource order, each resource's in its order.
            let mut sorted = window;
            sorted.sort_by_key(|e| (e.host_id, e.service_id));
            model.insert(seq, sorted);
        }
        if rng.below(10) == 0 {
            drop(s);
            s = Spool::open(dir.path()).unwrap();
            assert_eq!(s.batch_seq(), seq, "round {round}");
            assert_eq!(s.last_ingest_ms().unwrap(), last_ingest);
        }
        let want: Vec<_> = model
            .iter()
            .flat_map(|(&seq, es)| es.iter().map(move |&e| (seq, e)))
            .collect();
        assert_eq!(log_of(&s), want, "round {round}");
    }
    // Trim everything: every slot is free, and the next batches reuse them.
    let before = slots(dir.path());
    s.commit_batch(&Batch {
        trim_window_below: Some(s.batch_seq() + 1),
        ..Batch::default()
    })
    .unwrap();
    assert!(log_of(&s).is_empty());
    drop(s);
    let mut s = Spool::open(dir.path()).unwrap();
    assert!(log_of(&s).is_empty(), "the trim survives a reopen");
    for i in 0..50u64 {
        s.commit_batch(&Batch {
            window: (0..1000).map(|n| entry(1, n, i * 1000 + n)).collect(),
            trim_window_below: Some(s.batch_seq() - 3),
            ..Batch::default()
        })
        .unwrap();
    }
    assert_eq!(slots(dir.path()), before, "freed slots were reused");
}

/// The design constraint of the slots: a steady batch of 1,000 statuses overwrites the pages
/// its entries take (about 12 KB: three or four) and nothing else.
#[test]
fn a_steady_batch_writes_only_the_pages_of_its_entries() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path()).unwrap();
    let wal = dir.path().join(format!("{DB_FILE}-wal"));
    let batch = |i: u64| Batch {
        window: (0..1000)
            .map(|n| entry(1000 + n / 10, 50_000 + n, i << 32 | n))
            .collect(),
        ..Batch::default()
    };
    // Warm up: the log's slots exist, and each batch trims what it no longer needs.
    for i in 0..30 {
        let mut b = batch(i);
        b.trim_window_below = Some(s.batch_seq() - 5);
        s.commit_batch(&b).unwrap();
    }
    for i in 30..60 {
        let mut b = batch(i);
        b.trim_window_below = Some(s.batch_seq() - 5);
        let size = std::fs::metadata(&wal).unwrap().len();
        s.commit_batch(&b).unwrap();
        let frames = (std::fs::metadata(&wal).unwrap().len().saturating_sub(size)) / (4096 + 24);
        // The WAL restarts at a checkpoint: only growth is measured.
        assert!(frames <= 4, "batch {i}: {frames} pages written");
    }
}

/// A spool of schema 8 kept one row per batch in `window_log`: its entries, its batch sequence
/// and its last ingest are carried into slots at the first start, and the rows go.
#[test]
fn the_rows_of_a_schema_8_spool_move_into_slots() {
    let dir = tempfile::tempdir().unwrap();
    drop(Spool::open(dir.path()).unwrap());
    let legacy = |entries: &[WindowEntry]| {
        let mut out = Vec::new();
        for e in entries {
            for mut v in [e.host_id, e.service_id] {
                while v >= 0x80 {
                    out.push((v as u8) | 0x80);
                    v >>= 7;
                }
                out.push(v as u8);
            }
            out.extend_from_slice(&e.fingerprint.to_le_bytes());
        }
        out
    };
    let first = vec![entry(7, 1, 11), entry(300_000, 2, u64::MAX)];
    let second = vec![entry(7, 1, 12)];
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.execute_batch(
        "DROP TABLE window_slots;
         INSERT INTO counters VALUES ('batch_seq', 3), ('last_ingest_ms', 500);
         PRAGMA user_version = 8;",
    )
    .unwrap();
    for (seq, entries, at) in [(4, &first, 600), (5, &second, 700)] {
        conn.execute(
            "INSERT INTO window_log(seq, entries, ingested_at_ms) VALUES(?1, ?2, ?3)",
            rusqlite::params![seq, legacy(entries), at],
        )
        .unwrap();
    }
    drop(conn);
    let s = Spool::open(dir.path()).unwrap();
    assert_eq!(s.batch_seq(), 5);
    assert_eq!(s.last_ingest_ms().unwrap(), Some(700));
    let want: Vec<_> = first
        .iter()
        .map(|&e| (4, e))
        .chain(second.iter().map(|&e| (5, e)))
        .collect();
    assert_eq!(log_of(&s), want);
    drop(s);
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM window_log", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0);
    drop(conn);
    let s = Spool::open(dir.path()).unwrap();
    assert_eq!((s.batch_seq(), log_of(&s)), (5, want), "and again");
}
