//! DESIGN §4.7 (Centreon-HA): what a node does after a resync, when its spool was idle longer
//! than `[ha] resync_after` while the other node paged. One test per defect that
//! `chaos/failover` found (chaos/README-chaos.md, 8 to 11; `chaos/repro/failback.sh` shows
//! each with the real daemon). The node's last event before the gap is at `T0 + 300`; the
//! other node was active for about two hours; the events after the gap are from `AFTER` on.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

mod support;
use rules::state::{Gap, ResourceState};
use serde_json::json;
use support::*;

/// The gap: the last ingest at `T0 + 300`, the start after it two hours later; events from
/// before it recognised for ten minutes. The resources' clocks keep the daemon's time.
const GAP: Gap = Gap {
    middle: T0 + 300 + 3600,
    until: AFTER + 600,
    clock_lead: Some(0),
};
/// The first check after the gap.
const AFTER: i64 = T0 + 300 + 7200;

/// The resync, as the daemon does it when it loads a state written before the gap.
fn resync(h: &mut Harness, id: ResourceId) {
    let state = h.store.resources.remove(&id).unwrap();
    h.store.resources.insert(id, state.resynced(GAP));
    h.now = AFTER - 60;
}

/// A service known OK before the gap (its last check at `T0 + 300`), then the resync.
fn ok_then_resync(h: &mut Harness, v: V) -> ResourceId {
    known_ok(h, v);
    assert_eq!(h.run([svc(OK, T0 + 300).json(v)]), vec![]);
    let id = ResourceId::service(HOST, SVC);
    resync(h, id);
    id
}

/// Defect 10: an acknowledgement event first after the resync must not resolve the pinned
/// incident; it acknowledges it. The next status decides: a problem still there is a first
/// sight again, sent into the same (acknowledged) incident; a recovery resolves it.
#[test]
fn an_acknowledgement_first_resolves_nothing() {
    for v in BOTH {
        let mut h = Harness::new();
        open_incident(&mut h, v);
        let id = ResourceId::service(HOST, SVC);
        resync(&mut h, id);
        let o = h.send(ack_event(v, HOST, SVC, AFTER, true, CRITICAL));
        assert_eq!(sent(&o), vec![ack(S)], "{v:?}: acknowledged, not resolved");
        let still = svc(CRITICAL, AFTER + 60)
            .hard_change_at(T0 + 300)
            .ack(2)
            .json(v);
        assert_eq!(h.run([still]), vec![trig(S)], "{v:?}");
        assert_eq!(
            h.run([svc(OK, AFTER + 120).changed().json(v)]),
            vec![res(S)],
            "{v:?}"
        );
    }
}

/// Defect 8: the other node opened an incident; here the problem's first status after the gap
/// is not paged (acknowledged before it became HARD, or in downtime). Its recovery resolves
/// what the other node may have opened.
#[test]
fn a_recovery_resolves_what_the_other_node_may_have_opened() {
    for v in BOTH {
        // Acknowledged.
        let mut h = Harness::new();
        ok_then_resync(&mut h, v);
        let o = h.send(ack_event(v, HOST, SVC, AFTER, true, CRITICAL));
        assert_eq!(sent(&o), vec![], "{v:?}");
        let acked = svc(CRITICAL, AFTER + 60)
            .hard_change_at(AFTER - 600)
            .ack(2)
            .json(v);
        assert_eq!(h.run([acked]), vec![], "{v:?}: acknowledged, not paged");
        let ok = svc(OK, AFTER + 120).changed().json(v);
        assert_eq!(h.run([ok]), vec![res(S)], "{v:?}: the recovery resolves");
        let again = svc(CRITICAL, AFTER + 600).changed().json(v);
        let ok = svc(OK, AFTER + 900).changed().json(v);
        assert_eq!(h.run([again, ok]), vec![trig(S), res(S)], "{v:?}: as usual");

        // In downtime.
        let mut h = Harness::new();
        ok_then_resync(&mut h, v);
        let held = svc(CRITICAL, AFTER)
            .hard_change_at(AFTER - 600)
            .depth(1)
            .json(v);
        assert_eq!(h.run([held]), vec![], "{v:?}: in downtime, not paged");
        let ok = svc(OK, AFTER + 60).changed().json(v);
        assert_eq!(h.run([ok]), vec![res(S)], "{v:?}");
    }
}

/// Defect 8, the other side: a resource OK at its first status after the gap needs nothing,
/// and a problem of it later that is not paged needs no resolve either.
#[test]
fn a_resource_ok_after_the_gap_sends_nothing_more() {
    for v in BOTH {
        let mut h = Harness::new();
        let id = ok_then_resync(&mut h, v);
        let ok = svc(OK, AFTER).hard_change_at(T0).json(v);
        assert_eq!(h.run([ok]), vec![], "{v:?}");
        assert!(!h.state(id).maybe_open, "{v:?}");
        let o = h.send(ack_event(v, HOST, SVC, AFTER + 30, true, CRITICAL));
        assert_eq!(sent(&o), vec![]);
        let acked = svc(CRITICAL, AFTER + 60).changed().ack(2).json(v);
        let ok = svc(OK, AFTER + 120).changed().json(v);
        assert_eq!(h.run([acked, ok]), vec![], "{v:?}");
    }
}

/// Defect 9: this node's Broker replays, ahead of the live stream, what it had not handed over
/// when the cluster moved (checked just after the last event before the gap). It is history:
/// an old CRITICAL does not page, an old downtime start or acknowledgement holds nothing, an
/// adaptive status before the first status from after the gap changes nothing.
#[test]
fn events_from_before_the_gap_are_history() {
    for v in BOTH {
        let mut h = Harness::new();
        let id = ok_then_resync(&mut h, v);
        let old = svc(CRITICAL, T0 + 330).changed().json(v);
        let o = h.send(old);
        assert!(o.before_gap && sent(&o).is_empty(), "{v:?}: {o:?}");
        let o = h.send(downtime(v, HOST, SVC, 9, Phase::Started, T0 + 340));
        assert!(o.before_gap, "{v:?}: {o:?}");
        let o = h.send(ack_event(v, HOST, SVC, T0 + 350, true, CRITICAL));
        assert!(o.before_gap, "{v:?}: {o:?}");
        if v == V3 {
            let o = h.send(adaptive_status(
                HOST,
                SVC,
                json!({"scheduled_downtime_depth": 1}),
            ));
            assert!(o.before_gap, "{o:?}");
        }
        assert!(!h.state(id).in_downtime && h.state(id).ack.is_none());
        // The live stream: the problem of today pages, held by nothing from the past.
        let now = svc(CRITICAL, AFTER).changed().json(v);
        assert_eq!(h.run([now]), vec![trig(S)], "{v:?}");
        // An event from before the gap is still history after that.
        let old_ok = svc(OK, T0 + 360).changed().json(v);
        assert!(h.send(old_ok).before_gap, "{v:?}");
        let ok = svc(OK, AFTER + 60).changed().json(v);
        assert_eq!(h.run([ok]), vec![res(S)], "{v:?}");
    }
}

/// Defect 13 (failover seed 777): the problem became HARD, then was acknowledged, while this
/// node's daemon was down and before the cluster moved. The other node saw it first
/// acknowledged and held it (`acknowledged_problems = "skip"`); this node's retention, history
/// otherwise, shows the problem HARD before anyone acknowledged it. The first status after the
/// gap, the same HARD problem acknowledged, triggers then acknowledges, as a node that saw it
/// live would have. A HARD problem of another episode, acknowledged, is still held.
#[test]
fn retention_shows_the_problem_was_hard_before_its_acknowledgement() {
    for v in BOTH {
        let mut h = Harness::new();
        ok_then_resync(&mut h, v);
        let hard = svc(CRITICAL, T0 + 330).changed().json(v);
        assert!(h.send(hard).before_gap, "{v:?}");
        let o = h.send(ack_event(v, HOST, SVC, T0 + 340, true, CRITICAL));
        assert!(o.before_gap, "{v:?}");
        let acked = svc(CRITICAL, T0 + 350)
            .hard_change_at(T0 + 330)
            .ack(2)
            .json(v);
        assert!(h.send(acked).before_gap, "{v:?}");
        let now = svc(CRITICAL, AFTER).hard_change_at(T0 + 330).ack(2).json(v);
        assert_eq!(h.run([now]), vec![trig(S), ack(S)], "{v:?}");
        let ok = svc(OK, AFTER + 60).changed().json(v);
        assert_eq!(h.run([ok]), vec![res(S)], "{v:?}");

        // Another episode: acknowledged before it became HARD, for all this node knows.
        let mut h = Harness::new();
        ok_then_resync(&mut h, v);
        let hard = svc(CRITICAL, T0 + 330).changed().json(v);
        assert!(h.send(hard).before_gap, "{v:?}");
        let newer = svc(CRITICAL, AFTER)
            .hard_change_at(AFTER - 600)
            .ack(2)
            .json(v);
        assert_eq!(h.run([newer]), vec![], "{v:?}: held, acknowledged");
    }
}

/// Defect 11 (the rules' half; the daemon pins again the incident of a resolve still queued
/// at the gap, `e2e_delivery`): with the incident pinned, a problem at the first status after
/// the gap triggers into it, and only a recovery resolves it.
#[test]
fn a_pinned_incident_is_resolved_only_by_a_recovery_after_the_gap() {
    for v in BOTH {
        let mut h = Harness::new();
        open_incident(&mut h, v);
        let id = ResourceId::service(HOST, SVC);
        resync(&mut h, id);
        let newer = svc(CRITICAL, AFTER).hard_change_at(AFTER - 900).json(v);
        assert_eq!(h.run([newer]), vec![trig(S)], "{v:?}");
        let ok = svc(OK, AFTER + 60).changed().json(v);
        assert_eq!(h.run([ok]), vec![res(S)], "{v:?}");
    }
}

/// Without the resources' usual clock lead (states written by an older version of the daemon),
/// what is not newer than the resource's last check is history.
#[test]
fn without_a_clock_lead_the_last_check_is_the_limit() {
    let mut h = Harness::new();
    known_ok(&mut h, V3);
    assert_eq!(h.run([svc(OK, T0 + 300).json(V3)]), vec![]);
    let id = ResourceId::service(HOST, SVC);
    let state = h.store.resources.remove(&id).unwrap();
    let no_lead = Gap {
        clock_lead: None,
        ..GAP
    };
    h.store.resources.insert(id, state.resynced(no_lead));
    h.now = AFTER - 60;
    assert!(
        h.send(svc(CRITICAL, T0 + 200).changed().json(V3))
            .before_gap
    );
    let now = svc(CRITICAL, T0 + 400).changed().json(V3);
    assert_eq!(h.run([now]), vec![trig(S)]);
}

/// A resource first seen soon after the resync (its first status in this node's Broker
/// retention): the gap's middle on the resources' usual clock applies to it.
#[test]
fn a_resource_first_seen_after_the_gap_recognises_the_retention_too() {
    let mut h = Harness::new();
    let id = ResourceId::service(HOST, SVC);
    h.store
        .resources
        .insert(id, ResourceState::first_seen_after(GAP).unwrap());
    h.now = AFTER - 60;
    let old = svc(CRITICAL, T0 + 330).changed().json(V3);
    assert!(h.send(old).before_gap);
    let now = svc(CRITICAL, AFTER).changed().json(V3);
    assert_eq!(h.run([now]), vec![trig(S)]);
    let no_lead = Gap {
        clock_lead: None,
        ..GAP
    };
    assert!(ResourceState::first_seen_after(no_lead).is_none());
}

/// Events from before the gap are recognised only while Broker replays its retention: after
/// `until`, a poller whose clock stepped back is applied (and warned about) as usual.
#[test]
fn events_from_before_the_gap_are_recognised_for_a_while_only() {
    let mut h = Harness::new();
    ok_then_resync(&mut h, V3);
    h.now = GAP.until;
    let late = svc(CRITICAL, T0 + 330).changed().json(V3);
    let o = h.send(late);
    assert!(!o.before_gap);
    assert_eq!(sent(&o), vec![trig(S)]);
}
