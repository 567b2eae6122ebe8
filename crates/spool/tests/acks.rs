//! Acknowledgements to mirror into Centreon (DESIGN §4.6): one row per PagerDuty incident,
//! durable.
#![allow(clippy::unwrap_used)]

mod common;

use common::{batch, delivery};
use spool::{Batch, IncidentRow, NewAck, ResourceKey, Spool};

/// DESIGN §4.6: an acknowledgement seen in PagerDuty is one row per PagerDuty incident,
/// recorded with the batch that marks the incident acknowledged, done once, kept while the
/// incident is open (so the next listings find it done), across a reopen.
#[test]
fn acknowledgements_to_mirror_are_one_row_per_incident_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path()).unwrap();
    let incident = IncidentRow {
        host_id: 1,
        service_id: 2,
        dedup_key: "1_2".into(),
        resource: "h/s".into(),
        route: "default".into(),
        opened_at_ms: 1,
        acked: false,
        last_event_at_ms: 1,
    };
    s.commit_batch(&Batch {
        incidents: vec![incident],
        ..Batch::default()
    })
    .unwrap();
    assert_eq!(s.open_incident_resource("1_2").unwrap(), Some((1, 2, 1)));
    assert_eq!(s.open_incident_resource("9_9").unwrap(), None);
    assert!(!s.resolve_queued("1_2").unwrap());
    s.commit_batch(&batch(vec![delivery("1_2", "resolve", 2)]))
        .unwrap();
    assert!(
        s.resolve_queued("1_2").unwrap(),
        "an earlier episode's resolve waits"
    );
    let ack = NewAck {
        incident_id: "PT4KHLK".into(),
        dedup_key: "1_2".into(),
        host_id: 1,
        service_id: 2,
        who: "Jane Doe".into(),
    };
    let b = Batch {
        acks: vec![ack.clone()],
        acks_seen_at_ms: 10,
        ..Batch::default()
    };
    s.commit_batch(&b).unwrap();
    s.commit_batch(&b).unwrap();
    assert!(s.ack_known("PT4KHLK").unwrap());
    let due = s.due_acks(10, 10).unwrap();
    assert_eq!(due.len(), 1, "one row per incident");
    assert_eq!((due[0].who.as_str(), due[0].attempts), ("Jane Doe", 0));
    // An attempt is recorded before it leaves: killed before its outcome is recorded, the row
    // comes back, later, as tried once (Centreon may have it).
    s.ack_attempt("PT4KHLK", 40).unwrap();
    drop(s);
    let mut s = Spool::open(dir.path()).unwrap();
    assert!(
        s.due_acks(39, 10).unwrap().is_empty(),
        "not before the grace"
    );
    let due = s.due_acks(40, 10).unwrap();
    assert_eq!(due[0].attempts, 1, "the attempt survived the reopen");
    s.ack_attempt("PT4KHLK", 45).unwrap();
    s.ack_turned_away("PT4KHLK", 45, "Centreon: 401").unwrap();
    assert_eq!(
        s.due_acks(45, 10).unwrap()[0].attempts,
        1,
        "turned away: not counted"
    );
    s.ack_attempt("PT4KHLK", 45).unwrap();
    s.ack_retry("PT4KHLK", 50, "Centreon: 503").unwrap();
    assert!(s.due_acks(49, 10).unwrap().is_empty());
    assert_eq!(s.next_ack_due().unwrap(), Some(50));
    drop(s);
    let mut s = Spool::open(dir.path()).unwrap();
    let due = s.due_acks(50, 10).unwrap();
    assert_eq!(
        due[0].attempts, 2,
        "one count per attempt; the retry survived the reopen"
    );
    s.ack_done("PT4KHLK", 60, None).unwrap();
    s.ack_done("PT4KHLK", 61, None).unwrap();
    let stats = s.sync_stats().unwrap();
    assert_eq!((stats.mirrored, stats.pending), (1, 0), "done once");
    assert_eq!(
        s.record_acks(std::slice::from_ref(&ack), 70).unwrap(),
        0,
        "known: kept while open"
    );
    // The incident closes: the done row goes at the next record; a new episode is new.
    s.commit_batch(&Batch {
        closed_incidents: vec![ResourceKey {
            host_id: 1,
            service_id: 2,
        }],
        ..Batch::default()
    })
    .unwrap();
    let next = NewAck {
        incident_id: "PNEXT01".into(),
        ..ack
    };
    assert_eq!(s.record_acks(&[next], 80).unwrap(), 1);
    assert!(!s.ack_known("PT4KHLK").unwrap());
}
