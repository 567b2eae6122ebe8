//! After a gap (DESIGN §4.7): stale states, the resolves still needed, the stale queue
//! collapsed, and the keys whose state in PagerDuty is unknown.
#![allow(clippy::unwrap_used)]

mod common;

use common::{batch, delivery, state_row, RK};
use spool::{Batch, Completion, Spool};

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
    b.states.push(state_row(1, 2, "{}"));
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
    b.states.push(state_row(1, 2, "{}"));
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
