//! The delivery queue: FIFO per dedup key, retries, dead letters, rejected lines, and
//! which keys have an incident open in PagerDuty, on real SQLite files in temp dirs.
#![allow(clippy::unwrap_used)]

mod common;

use common::{batch, delivery, state_row, RK};
use pagerduty::Action;
use spool::{
    Batch, Completion, NameRow, NewDelivery, RejectedLine, ResourceKey, Spool, MAX_KEPT_ROWS,
};

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

/// A batch of more deliveries than one statement inserts (the writer inserts them 50 to a
/// statement, the rest one by one): every delivery kept, FIFO per key, each key's head its
/// oldest delivery, even when a key repeats within a statement and across statements.
#[test]
fn large_batches_keep_fifo_per_key_and_heads() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path()).unwrap();
    // 137 deliveries over 40 keys: 2 full statements and 37 single rows; the body says which.
    let mut rows = Vec::new();
    for i in 0..137i64 {
        let mut d = delivery(&format!("k{}", i % 40), "trigger", 1);
        d.body = format!("{i}");
        rows.push(d);
    }
    // One more batch after it, so that ids continue from the last statement.
    s.commit_batch(&batch(rows)).unwrap();
    s.commit_batch(&batch(vec![delivery("k0", "resolve", 2)]))
        .unwrap();
    let mut seen = vec![Vec::new(); 40];
    loop {
        let due = s.due(RK, 10, 1000, &|_| false).unwrap();
        if due.is_empty() {
            break;
        }
        let mut done = Vec::new();
        for p in due {
            let key: usize = p.dedup_key[1..].parse().unwrap();
            seen[key].push(p.body.clone());
            done.push(Completion::Done {
                id: p.id,
                dedup_key: p.dedup_key,
            });
        }
        s.complete(&done, 10).unwrap();
    }
    for (key, bodies) in seen.iter().enumerate() {
        let mut expected: Vec<String> = (0..137)
            .filter(|i| i % 40 == key)
            .map(|i| i.to_string())
            .collect();
        if key == 0 {
            expected.push("{\"event_action\":\"resolve\"}".into());
        }
        assert_eq!(bodies, &expected, "key k{key}");
    }
}

#[test]
fn state_survives_reopen_and_retry_reschedules() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = Spool::open(dir.path()).unwrap();
        let mut b = batch(vec![delivery("a", "trigger", 1)]);
        b.states.push(state_row(1, 2, "{\"v\":1}"));
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
