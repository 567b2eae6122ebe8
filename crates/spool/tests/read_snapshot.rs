//! An ingest batch's reads in one read transaction: they see what is committed, and the
//! batch's own transaction begins once the snapshot is dropped, whether it read or not.
#![allow(clippy::unwrap_used)]

mod common;

use common::state_row;
use spool::{Batch, Spool};

#[test]
fn reads_in_a_snapshot_see_the_committed_states_and_the_next_batch_commits() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path()).unwrap();
    s.commit_batch(&Batch {
        states: vec![state_row(7, 1, r#"{"v":2}"#)],
        ..Batch::default()
    })
    .unwrap();

    let snapshot = s.read_snapshot();
    assert!(snapshot.is_some());
    assert!(s.read_snapshot().is_none(), "one at a time");
    assert_eq!(s.resource_state(7, 1).unwrap().unwrap().json, r#"{"v":2}"#);
    assert!(s.resource_state(7, 2).unwrap().is_none());
    assert!(s.name(7, 1).unwrap().is_none());
    drop(snapshot);

    s.commit_batch(&Batch {
        states: vec![state_row(7, 2, r#"{"v":2,"known":true}"#)],
        ..Batch::default()
    })
    .unwrap();
    let unused = s.read_snapshot();
    drop(unused);
    s.commit_batch(&Batch {
        states: vec![state_row(7, 3, "{}")],
        ..Batch::default()
    })
    .unwrap();

    drop(s);
    let s = Spool::open(dir.path()).unwrap();
    assert!(s.resource_state(7, 2).unwrap().is_some());
    assert!(s.resource_state(7, 3).unwrap().is_some());
}
