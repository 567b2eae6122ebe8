//! The spool's durability and queue rules, on real SQLite files in temp dirs.
#![allow(clippy::unwrap_used)]

use pagerduty::Action;
use spool::{
    Batch, Completion, IncidentRow, NameRow, NewAck, NewDelivery, RejectedLine, ResourceKey, Spool,
    SpoolError, StateRow, DB_FILE, MAX_KEPT_ROWS, SCHEMA_VERSION,
};

fn delivery(key: &str, action: &str, at: i64) -> NewDelivery {
    NewDelivery {
        dedup_key: key.into(),
        route: "default".into(),
        routing_key: "R0UT1NGKEY0000000000000000000001".into(),
        action: action.parse().unwrap(),
        body: format!("{{\"event_action\":\"{action}\"}}"),
        host_id: 1,
        service_id: 2,
        resource: "h/s".into(),
        ingested_at_ms: at,
        due_at_ms: at,
    }
}

fn batch(deliveries: Vec<NewDelivery>) -> Batch {
    Batch {
        deliveries,
        ..Batch::default()
    }
}

const RK: &str = "R0UT1NGKEY0000000000000000000001";

#[test]
fn deliveries_are_fifo_per_dedup_key_and_heads_advance() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path()).unwrap();
    s.commit_batch(&batch(vec![
        delivery("a", "trigger", 1),
        delivery("b", "trigger", 2),
        delivery("a", "resolve", 3),
    ]))
    .unwrap();
    let due = s.due(RK, 10, 10, &|_| false).unwrap();
    // One head per key, oldest first.
    assert_eq!(
        due.iter()
            .map(|p| (p.dedup_key.as_str(), p.action.as_str()))
            .collect::<Vec<_>>(),
        vec![("a", "trigger"), ("b", "trigger")]
    );
    let a = &due[0];
    s.complete(
        &[Completion::Done {
            id: a.id,
            dedup_key: "a".into(),
        }],
        10,
    )
    .unwrap();
    let due = s.due(RK, 10, 10, &|k| k == "b").unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].action, Action::Resolve);
}

#[test]
fn state_survives_reopen_and_retry_reschedules() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = Spool::open(dir.path()).unwrap();
        let mut b = batch(vec![delivery("a", "trigger", 1)]);
        b.states.push(StateRow {
            resource: ResourceKey {
                host_id: 1,
                service_id: 2,
            },
            state: "{\"v\":1}".into(),
        });
        b.names.push(NameRow {
            resource: ResourceKey {
                host_id: 1,
                service_id: 0,
            },
            name: "host-1".into(),
        });
        s.commit_batch(&b).unwrap();
        s.complete(
            &[Completion::Retry {
                dedup_key: "a".into(),
                due_at_ms: 1_000,
                attempts: 3,
                maybe_delivered: false,
            }],
            5,
        )
        .unwrap();
    }
    let s = Spool::open(dir.path()).unwrap();
    let stored = s.resource_state(1, 2).unwrap().unwrap();
    assert_eq!((stored.json.as_str(), stored.stale), ("{\"v\":1}", false));
    assert_eq!(s.name(1, 0).unwrap().as_deref(), Some("host-1"));
    assert!(s.due(RK, 999, 10, &|_| false).unwrap().is_empty());
    let due = s.due(RK, 1_000, 10, &|_| false).unwrap();
    assert_eq!(due[0].attempts, 3);
}

#[test]
fn dead_letters_move_the_head_on_and_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path()).unwrap();
    s.commit_batch(&batch(vec![
        delivery("a", "trigger", 1),
        delivery("a", "resolve", 2),
    ]))
    .unwrap();
    let head = s.due(RK, 10, 1, &|_| false).unwrap().remove(0);
    s.complete(
        &[Completion::DeadLetter {
            id: head.id,
            dedup_key: "a".into(),
            reason: "400 'summary' is too long".into(),
        }],
        10,
    )
    .unwrap();
    assert_eq!(
        s.due(RK, 10, 1, &|_| false).unwrap()[0].action,
        Action::Resolve
    );
    let letters = s.dead_letters(10).unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].reason, "400 'summary' is too long");

    // Bounded: the oldest are dropped and counted.
    let many: Vec<NewDelivery> = (0..(MAX_KEPT_ROWS + 5))
        .map(|i| delivery(&format!("k{i}"), "trigger", i))
        .collect();
    s.commit_batch(&batch(many)).unwrap();
    let mut completions = Vec::new();
    for key in 0..(MAX_KEPT_ROWS + 5) {
        let p = s.queued_after(&format!("k{key}"), 0).unwrap();
        completions.push(Completion::DeadLetter {
            id: p[0].0,
            dedup_key: format!("k{key}"),
            reason: "x".into(),
        });
    }
    s.complete(&completions, 20).unwrap();
    assert_eq!(s.stats().unwrap().dead_letters, MAX_KEPT_ROWS);
    assert_eq!(s.counter("dead_letters_dropped").unwrap(), 6);
}

#[test]
fn rejected_lines_are_kept_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path()).unwrap();
    let b = Batch {
        rejected: (0..(MAX_KEPT_ROWS + 1))
            .map(|i| RejectedLine {
                received_at_ms: i,
                reason: "invalid JSON".into(),
                line: "{".into(),
            })
            .collect(),
        ..Batch::default()
    };
    s.commit_batch(&b).unwrap();
    assert_eq!(s.stats().unwrap().rejected, MAX_KEPT_ROWS);
    assert_eq!(s.counter("rejected_dropped").unwrap(), 1);
}

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

#[test]
fn read_only_open_sees_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path()).unwrap();
    s.commit_batch(&batch(vec![delivery("a", "trigger", 1)]))
        .unwrap();
    let ro = Spool::open_read_only(dir.path()).unwrap();
    assert_eq!(ro.stats().unwrap().pending, 1);
    ro.ping().unwrap();
    s.ping().unwrap();
}

fn rusqlite_connection(dir: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join(DB_FILE)).unwrap()
}

/// DESIGN §4.4: which keys have an incident open in PagerDuty is recorded per dedup key,
/// durably: a delivered trigger opens it, a delivered resolve closes it, a collapsed event
/// changes nothing.
#[test]
fn open_in_pagerduty_follows_delivered_triggers_and_resolves_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let head = |s: &Spool, key: &str| {
        s.due(RK, 100, 10, &|_| false)
            .unwrap()
            .into_iter()
            .find(|p| p.dedup_key == key)
            .unwrap()
    };
    {
        let mut s = Spool::open(dir.path()).unwrap();
        s.commit_batch(&batch(vec![
            delivery("a", "trigger", 1),
            delivery("a", "resolve", 2),
            delivery("b", "trigger", 3),
            delivery("b", "resolve", 4),
        ]))
        .unwrap();
        let (a, b) = (head(&s, "a"), head(&s, "b"));
        s.complete(
            &[
                Completion::Done {
                    id: a.id,
                    dedup_key: "a".into(),
                },
                Completion::Collapsed {
                    id: b.id,
                    dedup_key: "b".into(),
                },
            ],
            10,
        )
        .unwrap();
        assert!(s.open_in_pagerduty("a").unwrap());
        assert!(!s.open_in_pagerduty("b").unwrap());
    }
    let mut s = Spool::open(dir.path()).unwrap();
    assert!(s.open_in_pagerduty("a").unwrap(), "survives a reopen");
    let a = head(&s, "a");
    assert_eq!(a.action, Action::Resolve);
    s.complete(
        &[Completion::Done {
            id: a.id,
            dedup_key: "a".into(),
        }],
        20,
    )
    .unwrap();
    assert!(!s.open_in_pagerduty("a").unwrap());
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
    b.states.push(StateRow {
        resource: ResourceKey {
            host_id: 7,
            service_id: 3,
        },
        state: "{\"v\":3}".into(),
    });
    s.commit_batch(&b).unwrap();
    assert_eq!(s.resource_state(7, 3).unwrap().unwrap().json, "{\"v\":3}");
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM resources", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 2);
}

/// DESIGN §4.7: after a gap, states written before the resync are stale, the resolves queued
/// for incidents open in PagerDuty are listed (the daemon pins their incidents again in the
/// stale states, which stay stale), and what was queued before the gap is collapsed.
#[test]
fn resync_marks_states_stale_lists_needed_resolves_and_collapses_the_stale_queue() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path()).unwrap();
    assert_eq!(s.last_ingest_ms().unwrap(), None);
    let mut b = batch(vec![
        delivery("open", "trigger", 1),
        delivery("open", "resolve", 2),
        delivery("never", "trigger", 3),
        delivery("never", "resolve", 4),
    ]);
    b.states.push(StateRow {
        resource: ResourceKey {
            host_id: 1,
            service_id: 2,
        },
        state: "{}".into(),
    });
    b.ingested_at_ms = Some(5);
    s.commit_batch(&b).unwrap();
    assert_eq!(s.last_ingest_ms().unwrap(), Some(5));
    // 'open' had its trigger delivered: PagerDuty has an incident open for it.
    let head = s.due(RK, 10, 10, &|k| k != "open").unwrap().remove(0);
    s.complete(
        &[Completion::Done {
            id: head.id,
            dedup_key: "open".into(),
        }],
        6,
    )
    .unwrap();

    let gap = spool::Gap {
        middle_ms: 52,
        until_ms: 700,
        clock_lead_s: Some(-3),
    };
    s.begin_resync(100, gap).unwrap();
    assert!(s.resource_state(1, 2).unwrap().unwrap().stale);
    assert_eq!(s.gap(), Some(gap));
    let queued = s.queued_resolves_at_resync(5).unwrap();
    assert_eq!(
        queued
            .iter()
            .map(|q| (q.dedup_key.as_str(), q.host_id, q.service_id))
            .collect::<Vec<_>>(),
        vec![("open", 1, 2)]
    );
    s.repin_stale_state(1, 2, "{\"pinned\":1}").unwrap();
    let stored = s.resource_state(1, 2).unwrap().unwrap();
    assert!(stored.stale && stored.json.contains("pinned"));
    let r = s.collapse_before_resync(5, 100).unwrap();
    assert_eq!(r.collapsed, 3);
    assert!(s.due(RK, 100, 10, &|_| false).unwrap().is_empty());
    assert!(s.open_in_pagerduty("open").unwrap());
    assert!(s.stats().unwrap().last_resync_ms == Some(100));
    // A state written after the resync is current, across a reopen.
    let mut b = Batch::default();
    b.states.push(StateRow {
        resource: ResourceKey {
            host_id: 1,
            service_id: 2,
        },
        state: "{}".into(),
    });
    s.commit_batch(&b).unwrap();
    drop(s);
    let s = Spool::open(dir.path()).unwrap();
    assert!(!s.resource_state(1, 2).unwrap().unwrap().stale);
    assert_eq!(s.gap(), Some(gap), "the gap survives a reopen");
}

/// DESIGN §4.7 (RELIABILITY.md, failover defect 14): after a resync, or on any spool of a
/// cluster node, a dedup key this spool has delivered nothing for since may have an incident
/// the other node opened: it counts as open (a collapse keeps the resolve) until something is
/// delivered for it. A queued resolve of such a key is pinned again at a resync.
#[test]
fn pagerduty_state_is_unknown_for_keys_not_delivered_since_a_resync_or_on_a_cluster_node() {
    let dir = tempfile::tempdir().unwrap();
    let deliver = |s: &mut Spool, key: &str, now: i64| {
        let head = s
            .due(RK, now, 10, &|_| false)
            .unwrap()
            .into_iter()
            .find(|p| p.dedup_key == key)
            .unwrap();
        s.complete(
            &[Completion::Done {
                id: head.id,
                dedup_key: key.into(),
            }],
            now,
        )
        .unwrap();
    };
    let mut s = Spool::open(dir.path()).unwrap();
    assert!(!s.pagerduty_state_unknown());
    assert!(
        !s.open_in_pagerduty("never").unwrap(),
        "a single node's fresh spool"
    );

    s.set_cluster_member(true).unwrap();
    assert!(s.pagerduty_state_unknown());
    assert!(
        s.open_in_pagerduty("never").unwrap(),
        "a cluster node's fresh spool"
    );
    s.commit_batch(&batch(vec![
        delivery("closed", "trigger", 10),
        delivery("closed", "resolve", 11),
    ]))
    .unwrap();
    deliver(&mut s, "closed", 20);
    assert!(
        s.open_in_pagerduty("closed").unwrap(),
        "its trigger was delivered"
    );
    deliver(&mut s, "closed", 21);
    assert!(
        !s.open_in_pagerduty("closed").unwrap(),
        "its resolve was delivered"
    );
    drop(s);
    let mut s = Spool::open(dir.path()).unwrap();
    assert!(s.pagerduty_state_unknown(), "survives a reopen");
    assert!(!s.open_in_pagerduty("closed").unwrap());
    s.set_cluster_member(false).unwrap();
    assert!(
        !s.open_in_pagerduty("never").unwrap(),
        "the setting removed"
    );

    // A resync at 100: every key is unknown again, 'closed' included; a resolve queued for
    // it before the gap is pinned again.
    s.commit_batch(&batch(vec![delivery("closed", "resolve", 50)]))
        .unwrap();
    assert!(s.queued_resolves_at_resync(50).unwrap().is_empty());
    s.forget_pagerduty_state(100).unwrap();
    assert!(s.open_in_pagerduty("closed").unwrap());
    assert_eq!(s.queued_resolves_at_resync(50).unwrap().len(), 1);
    s.set_cluster_member(false).unwrap();
    assert!(
        s.pagerduty_state_unknown(),
        "a resync is not undone by the setting"
    );
    // Known again once something ingested after the resync is delivered for it.
    s.collapse_before_resync(50, 100).unwrap();
    s.commit_batch(&batch(vec![delivery("closed", "resolve", 150)]))
        .unwrap();
    deliver(&mut s, "closed", 160);
    assert!(!s.open_in_pagerduty("closed").unwrap());
    assert!(s.open_in_pagerduty("never").unwrap());
}

/// A trigger PagerDuty may have taken without an answer (a timeout; a crash before the outcome
/// was recorded) counts as an incident open in PagerDuty: a collapse then keeps the resolve.
#[test]
fn a_trigger_with_an_unknown_outcome_counts_as_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path()).unwrap();
    s.commit_batch(&batch(vec![
        delivery("timeout", "trigger", 1),
        delivery("refused", "trigger", 2),
        delivery("crash", "trigger", 3),
    ]))
    .unwrap();
    let retry = |key: &str, maybe_delivered: bool| Completion::Retry {
        dedup_key: key.into(),
        due_at_ms: 10,
        attempts: 1,
        maybe_delivered,
    };
    s.complete(&[retry("timeout", true), retry("refused", false)], 5)
        .unwrap();
    assert!(s.open_in_pagerduty("timeout").unwrap());
    assert!(!s.open_in_pagerduty("refused").unwrap());
    assert!(!s.open_in_pagerduty("crash").unwrap());
    // At start, every trigger at the head of its queue may have gone out before a crash.
    assert_eq!(s.mark_unsettled_triggers_open().unwrap(), 2);
    assert!(s.open_in_pagerduty("crash").unwrap());
}

/// Overwrite `pages` pages of 4 KiB in the middle of a closed spool's database file.
fn corrupt_middle(dir: &std::path::Path, pages: usize) {
    use std::io::{Seek, SeekFrom, Write};
    let path = dir.join(DB_FILE);
    let len = std::fs::metadata(&path).unwrap().len();
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.seek(SeekFrom::Start((len / 2) & !4095)).unwrap();
    f.write_all(&vec![0xA5; 4096 * pages]).unwrap();
    f.sync_all().unwrap();
}

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
    s.ack_retry("PT4KHLK", 50, "Centreon: 503").unwrap();
    assert!(s.due_acks(49, 10).unwrap().is_empty());
    assert_eq!(s.next_ack_due().unwrap(), Some(50));
    drop(s);
    let mut s = Spool::open(dir.path()).unwrap();
    let due = s.due_acks(50, 10).unwrap();
    assert_eq!(due[0].attempts, 1, "the retry survived the reopen");
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
        states: vec![StateRow {
            resource: ResourceKey {
                host_id: 7,
                service_id: 1,
            },
            state: "{}".into(),
        }],
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
            states: vec![StateRow {
                resource: ResourceKey {
                    host_id: 7,
                    service_id: 1,
                },
                state: "{}".into(),
            }],
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
