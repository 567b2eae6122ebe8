//! Each batch's sequence and the last ingest: they survive a reopen without a counter
//! written per batch, and state rows record the batch that wrote them.
#![allow(clippy::unwrap_used)]

mod common;

use common::{batch, delivery, state_row};
use spool::{Batch, Spool};

/// A steady batch writes its window log row and no counter (schema 8): the batch sequence and
/// the last ingest still survive a reopen, whichever of the log and the counters holds the
/// newest, through trims that empty the log and batches that do not come from Broker.
#[test]
fn the_batch_sequence_and_the_last_ingest_survive_a_reopen_without_a_counter_per_batch() {
    use spool::WindowEntry;
    let dir = tempfile::tempdir().unwrap();
    let entry = WindowEntry {
        host_id: 7,
        service_id: 1,
        fingerprint: 1,
    };
    let reopen = |s: Spool| {
        drop(s);
        let s = Spool::open(dir.path()).unwrap();
        let seen = (s.batch_seq(), s.last_ingest_ms().unwrap());
        (s, seen)
    };
    let s = Spool::open(dir.path()).unwrap();
    let (mut s, seen) = reopen(s);
    assert_eq!(seen, (0, None));
    for at in [10, 20] {
        s.commit_batch(&Batch {
            window: vec![entry],
            ingested_at_ms: Some(at),
            ..Batch::default()
        })
        .unwrap();
    }
    let (mut s, seen) = reopen(s);
    assert_eq!(seen, (2, Some(20)), "from the newest log row");
    // A batch that logs nothing and drops the whole log.
    s.commit_batch(&Batch {
        states: vec![state_row(7, 1, "{}")],
        trim_window_below: Some(3),
        ingested_at_ms: Some(30),
        ..Batch::default()
    })
    .unwrap();
    assert!(s.window_log().unwrap().is_empty());
    let (mut s, seen) = reopen(s);
    assert_eq!(seen, (3, Some(30)), "from the counters");
    // Not from Broker: the last ingest stays.
    s.commit_batch(&batch(vec![delivery("k", "trigger", 35)]))
        .unwrap();
    let (mut s, seen) = reopen(s);
    assert_eq!(seen, (4, Some(30)));
    s.commit_batch(&Batch {
        window: vec![entry],
        ingested_at_ms: Some(50),
        ..Batch::default()
    })
    .unwrap();
    let (_s, seen) = reopen(s);
    assert_eq!(seen, (5, Some(50)));
}

/// The replay window's log: each batch has a sequence, a state row records the one that wrote
/// it, logged fingerprints survive a reopen in order, and a trim drops the rows below it.
#[test]
fn the_window_log_keeps_fingerprints_in_order_and_trims() {
    use spool::WindowEntry;
    let dir = tempfile::tempdir().unwrap();
    let entry = |service_id, fingerprint| WindowEntry {
        host_id: 7,
        service_id,
        fingerprint,
    };
    let mut s = Spool::open(dir.path()).unwrap();
    let seq1 = s
        .commit_batch(&Batch {
            states: vec![state_row(7, 1, "{}")],
            ..Batch::default()
        })
        .unwrap();
    let seq2 = s
        .commit_batch(&Batch {
            window: vec![entry(1, 11), entry(2, 21)],
            ..Batch::default()
        })
        .unwrap();
    let seq3 = s
        .commit_batch(&Batch {
            window: vec![entry(1, 12)],
            ..Batch::default()
        })
        .unwrap();
    assert!(seq1 < seq2 && seq2 < seq3);
    assert_eq!(s.resource_state(7, 1).unwrap().unwrap().log_seq, seq1);
    drop(s);
    let mut s = Spool::open(dir.path()).unwrap();
    assert_eq!(s.batch_seq(), seq3);
    let log: Vec<_> = s
        .window_log()
        .unwrap()
        .into_iter()
        .map(|e| (e.seq, e.entry.service_id, e.entry.fingerprint))
        .collect();
    assert_eq!(log, vec![(seq2, 1, 11), (seq2, 2, 21), (seq3, 1, 12)]);
    s.commit_batch(&Batch {
        trim_window_below: Some(seq3),
        ..Batch::default()
    })
    .unwrap();
    assert_eq!(s.window_log().unwrap().len(), 1);
}
