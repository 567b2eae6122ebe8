//! A damaged spool (DESIGN §4.5): set aside, never deleted, and what can be read carried
//! into a fresh one.
#![allow(clippy::unwrap_used)]

mod common;

use common::{batch, corrupt_middle, delivery, RK};
use spool::{NewAck, NewDelivery, Spool, DB_FILE};

/// DESIGN §4.5: a damaged spool is set aside (never deleted), what can be read is carried
/// into a fresh one, and the damage stays recorded until an operator acknowledges it.
#[test]
fn a_damaged_spool_is_set_aside_and_what_can_be_read_is_carried_over() {
    let dir = tempfile::tempdir().unwrap();
    let total = 5_000;
    {
        let mut s = Spool::open(dir.path()).unwrap();
        let many: Vec<NewDelivery> = (0..total)
            .map(|i| {
                let mut d = delivery(&format!("key-{i}"), "trigger", i);
                d.body = format!(
                    "{{\"event_action\":\"trigger\",\"pad\":\"{}\"}}",
                    "x".repeat(300)
                );
                d
            })
            .collect();
        s.commit_batch(&batch(many)).unwrap();
        drop(s);
        let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    corrupt_middle(dir.path(), 8);
    let before = std::fs::read(dir.path().join(DB_FILE)).unwrap();

    let (fresh, damage) = spool::quarantine(
        dir.path(),
        "20261206T030000Z",
        "database disk image is malformed",
        42,
    )
    .unwrap();
    let aside = dir.path().join("spool.damaged-20261206T030000Z");
    assert_eq!(damage.aside, aside.display().to_string());
    assert_eq!(
        std::fs::read(aside.join(DB_FILE)).unwrap(),
        before,
        "the damaged file is kept as it was"
    );
    assert!(!aside.join("salvage-working-copy").exists());
    let pending = fresh.stats().unwrap().pending;
    assert_eq!(pending, damage.carried_deliveries);
    assert!(
        pending > total / 2 && pending < total,
        "{pending} of {total} carried over"
    );
    assert!(damage.lost_rows > 0, "{damage:?}");
    // The carried deliveries keep their ids and are due.
    let due = fresh.due(RK, 100, 3, &|_| false).unwrap();
    assert_eq!(due.len(), 3);
    assert_eq!(due[0].id, 1);

    // Loud until acknowledged, across a reopen.
    drop(fresh);
    let mut s = Spool::open(dir.path()).unwrap();
    assert_eq!(s.damage().unwrap().map(|d| d.at_ms), Some(42));
    assert_eq!(s.acknowledge_damage(50).unwrap(), 1);
    assert_eq!(s.damage().unwrap(), None);
}

/// A damaged spool's acknowledgements to mirror are carried over, done or not: none is lost,
/// none repeated.
#[test]
fn acknowledgements_to_mirror_are_carried_out_of_a_damaged_spool() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = Spool::open(dir.path()).unwrap();
        let ack = |id: &str| NewAck {
            incident_id: id.into(),
            dedup_key: "1_2".into(),
            host_id: 1,
            service_id: 2,
            who: "Jane Doe".into(),
        };
        s.record_acks(&[ack("PDONE01"), ack("PWAIT01")], 10)
            .unwrap();
        s.ack_done("PDONE01", 20, None).unwrap();
    }
    let (fresh, damage) = spool::quarantine(dir.path(), "20261206T060000Z", "test", 42).unwrap();
    assert_eq!(damage.lost_rows, 0, "{damage:?}");
    assert!(fresh.ack_known("PDONE01").unwrap() && fresh.ack_known("PWAIT01").unwrap());
    let due = fresh.due_acks(100, 10).unwrap();
    assert_eq!(
        due.iter()
            .map(|a| a.incident_id.as_str())
            .collect::<Vec<_>>(),
        vec!["PWAIT01"]
    );
}
