//! Opening a spool: a newer or damaged one is refused with a clear error and left alone;
//! older schemas migrate, every row kept.
#![allow(clippy::unwrap_used)]

mod common;

use common::{batch, delivery, rusqlite_connection, state_row};
use spool::{Spool, SpoolError, DB_FILE, SCHEMA_VERSION};

#[test]
fn a_newer_spool_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    drop(Spool::open(dir.path()).unwrap());
    let conn = rusqlite_connection(dir.path());
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    match Spool::open(dir.path()) {
        Err(SpoolError::TooNew {
            found, supported, ..
        }) => {
            assert_eq!(found, SCHEMA_VERSION + 1);
            assert_eq!(supported, SCHEMA_VERSION);
        }
        other => panic!("expected TooNew, got {:?}", other.err()),
    }
    assert!(dir.path().join(DB_FILE).exists());
}

#[test]
fn a_damaged_spool_gives_a_clear_error_and_is_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    std::fs::write(&path, b"this is not a database, but it is someone's data").unwrap();
    let err = match Spool::open(dir.path()) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a damaged spool was opened"),
    };
    assert!(err.contains("damaged"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"this is not a database, but it is someone's data"
    );
}

/// A spool of schema 1 (before open incidents were recorded) keeps every resolve it may need:
/// its open incidents and its queued keys count as open.
#[test]
fn migration_to_schema_2_counts_open_incidents_and_queued_keys_as_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = Spool::open(dir.path()).unwrap();
        s.commit_batch(&batch(vec![delivery("queued", "trigger", 1)]))
            .unwrap();
    }
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.execute_batch(
        "DROP TABLE open_in_pagerduty;
         ALTER TABLE resources DROP COLUMN generation;
         DROP TABLE damage;
         DROP TABLE sync_acks;
         DROP TABLE window_log;
         DROP TABLE window_slots;
         ALTER TABLE resources DROP COLUMN log_seq;
         INSERT INTO incidents VALUES (7, 0, 'held', 'h', 'default', 1, 0, 1);
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);
    let s = Spool::open(dir.path()).unwrap();
    assert!(s.open_in_pagerduty("queued").unwrap());
    assert!(s.open_in_pagerduty("held").unwrap());
    assert!(!s.open_in_pagerduty("other").unwrap());
}

/// Schema 6 kept resource states in a WITHOUT ROWID table, where a state of about 1 KB spilled
/// into an overflow page; schema 7 moves them into a rowid table, every column kept. Schema 8
/// adds the last ingest to the window log's rows; the counters still count until it is written.
#[test]
fn migration_to_schema_7_keeps_every_resource_state() {
    let dir = tempfile::tempdir().unwrap();
    drop(Spool::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.execute_batch(
        "DROP TABLE resources;
         CREATE TABLE resources(
            host_id INTEGER NOT NULL, service_id INTEGER NOT NULL, state TEXT NOT NULL,
            generation INTEGER NOT NULL DEFAULT 0, log_seq INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY(host_id, service_id)) WITHOUT ROWID;
         INSERT INTO resources VALUES (7, 0, '{\"v\":1}', 0, 12), (7, 3, '{\"v\":2}', 0, 0);
         DROP TABLE window_log;
         DROP TABLE window_slots;
         CREATE TABLE window_log(seq INTEGER PRIMARY KEY, entries BLOB NOT NULL);
         INSERT INTO window_log VALUES (12, x'');
         INSERT INTO counters VALUES ('batch_seq', 12), ('last_ingest_ms', 1000);
         PRAGMA user_version = 6;",
    )
    .unwrap();
    drop(conn);
    let mut s = Spool::open(dir.path()).unwrap();
    assert_eq!(s.batch_seq(), 12);
    assert_eq!(
        s.last_ingest_ms().unwrap(),
        Some(1000),
        "schema 8: from the counters"
    );
    let host = s.resource_state(7, 0).unwrap().unwrap();
    assert_eq!((host.json.as_str(), host.log_seq), ("{\"v\":1}", 12));
    assert_eq!(s.resource_state(7, 3).unwrap().unwrap().json, "{\"v\":2}");
    assert!(s.resource_state(7, 4).unwrap().is_none());
    // Upserts find the rows by resource, as before.
    let mut b = batch(vec![]);
    b.states.push(state_row(7, 3, "{\"v\":3}"));
    s.commit_batch(&b).unwrap();
    assert_eq!(s.resource_state(7, 3).unwrap().unwrap().json, "{\"v\":3}");
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM resources", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 2);
}
