//! Replays and clocks: replayed statuses, patches and downtime ends, clock skew, adaptive statuses.

use crate::support::*;
use serde_json::json;

#[test]
fn replay_of_recent_status_is_ignored() {
    for v in BOTH {
        let mut h = Harness::new();
        known_ok(&mut h, v);
        let problem = svc(CRITICAL, T0 + 300).changed().json(v);
        let recovery = svc(OK, T0 + 600).changed().json(v);
        assert_eq!(
            h.run([problem.clone(), recovery.clone()]),
            vec![trig(S), res(S)]
        );
        // Broker replays what the daemon never acknowledged: never pages again, never undoes.
        let o = h.send(problem.clone());
        assert!(o.replay, "{v:?}");
        assert_eq!(sent(&o), vec![]);
        assert!(h.send(recovery).replay);
        let rs = h.state(ResourceId::service(HOST, SVC));
        assert_eq!(rs.hard_state, Some(OK), "{v:?}");

        // Past the window of 32 statuses, the same status is applied again.
        for i in 1..=32 {
            h.send(svc(OK, T0 + 600 + i * 60).hard_change_at(T0 + 600).json(v));
        }
        let o = h.send(problem);
        assert!(!o.replay, "{v:?}");
        assert!(o.clock_skew, "{v:?}");
        assert_eq!(sent(&o), vec![trig(S)], "{v:?}");
    }
}

/// Broker replays a suffix of its stream in order: acknowledgements and downtimes of an
/// incident that has since closed must not touch the incident open now.
#[test]
fn replayed_patches_are_recognised_after_the_status_they_followed() {
    for v in BOTH {
        let mut h = Harness::new();
        known_ok(&mut h, v);
        let problem = svc(WARNING, T0 + 300).changed().json(v);
        let acked = adaptive_status(HOST, SVC, json!({"acknowledgement_type": 1}));
        let ack_ev = ack_event(v, HOST, SVC, T0 + 310, false, WARNING);
        let still = svc(WARNING, T0 + 360)
            .hard_change_at(T0 + 300)
            .ack(1)
            .json(v);
        let worse = svc(CRITICAL, T0 + 600).changed().ack(0).json(v);
        // Engine sends the acknowledgement event, then the adaptive status.
        let first: Vec<Value> = vec![problem, ack_ev, acked, still, worse];
        assert_eq!(
            h.run(first.clone()),
            vec![trig(S), ack(S), res(S), trig(S)],
            "{v:?}: the non-sticky acknowledgement ends with the change: a new incident"
        );
        // Replays, from the problem or from the acknowledgement (no status of the resource
        // before it in the replay): every event recognised, nothing sent; the new incident
        // stays unacknowledged.
        for from in [0, 1] {
            for raw in first[from..].iter().cloned() {
                let o = h.send(raw);
                assert!(o.replay, "{v:?}");
                assert_eq!(sent(&o), vec![]);
            }
        }
        let rs = h.state(ResourceId::service(HOST, SVC));
        assert!(rs.ack.is_none(), "{v:?}: {:?}", rs.ack);
        // The same adaptive acknowledgement after the newer status is a new one.
        let acked_again = adaptive_status(HOST, SVC, json!({"acknowledgement_type": 1}));
        assert_eq!(h.run([acked_again]), vec![ack(S)], "{v:?}");

        // Downtimes: a replayed start after the end does not put the resource back in downtime.
        let mut h = Harness::new();
        known_ok(&mut h, v);
        let start = downtime(v, HOST, SVC, 7, Phase::Started, T0 + 100);
        let end = downtime(v, HOST, SVC, 7, Phase::Ended, T0 + 200);
        let ok = svc(OK, T0 + 250).hard_change_at(T0 - 3600).json(v);
        h.run([start.clone(), ok.clone(), end.clone()]);
        assert!(!h.state(ResourceId::service(HOST, SVC)).in_downtime);
        h.run([svc(OK, T0 + 300).hard_change_at(T0 - 3600).json(v)]);
        // The replay starts before the status that preceded the end.
        h.run([start, ok, end]);
        let rs = h.state(ResourceId::service(HOST, SVC));
        assert!(!rs.in_downtime && rs.downtimes.is_empty(), "{v:?}: {rs:?}");
        // The critical that follows pages at once.
        assert_eq!(
            h.run([svc(CRITICAL, T0 + 400).changed().json(v)]),
            vec![trig(S)],
            "{v:?}"
        );
    }
}

/// A replayed downtime end, after the host's own downtime ended meanwhile, must not release
/// the held trigger early: the service's next status does, as it did the first time.
#[test]
fn replayed_downtime_end_releases_nothing() {
    for v in BOTH {
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.run([host(UP, T0).depth(1).json(v)]);
        h.run([downtime(v, HOST, SVC, 7, Phase::Started, T0 + 10)]);
        let held = svc(CRITICAL, T0 + 60).changed().depth(1).json(v);
        assert_eq!(h.run([held]), vec![], "{v:?}: held in downtime");
        let end = downtime(v, HOST, SVC, 7, Phase::Ended, T0 + 100);
        assert_eq!(
            h.run([end.clone()]),
            vec![],
            "{v:?}: the host is in downtime"
        );
        assert_eq!(h.run([host(UP, T0 + 120).json(v)]), vec![]);
        let o = h.send(end);
        assert_eq!(sent(&o), vec![], "{v:?}");
        let next = svc(CRITICAL, T0 + 180).hard_change_at(T0 + 60).json(v);
        assert_eq!(h.run([next]), vec![trig(S)], "{v:?}");
    }
}

#[test]
fn older_status_still_applied_and_counted_as_clock_skew() {
    for v in BOTH {
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.run([svc(OK, T0 + 3600).json(v)]);
        // The poller's clock stepped back an hour.
        let o = h.send(svc(CRITICAL, T0 + 60).changed().json(v));
        assert!(o.clock_skew, "{v:?}");
        assert!(!o.replay);
        assert_eq!(sent(&o), vec![trig(S)], "{v:?}");
        let o = h.send(svc(OK, T0 + 120).changed().json(v));
        assert!(!o.clock_skew, "{v:?}: newer than the last one applied");
        assert_eq!(sent(&o), vec![res(S)]);
    }
}

#[test]
fn adaptive_status_never_implies_state() {
    let id = ResourceId::service(HOST, SVC);
    // Unknown resource: an adaptive status is no first sight and pages nothing.
    let mut h = Harness::new();
    let patches = [
        adaptive_status(HOST, SVC, json!({"scheduled_downtime_depth": 0})),
        adaptive_status(HOST, SVC, json!({"acknowledgement_type": 0})),
        adaptive_status(HOST, SVC, json!({"notification_number": 3})),
        adaptive_status(HOST, SVC, json!({})),
        adaptive_status(HOST, 0, json!({"scheduled_downtime_depth": 0})),
    ];
    assert_eq!(h.run(patches), vec![]);
    if let Some(rs) = h.store.resources.get(&id) {
        assert_eq!(rs.state, None);
        assert_eq!(rs.hard_state, None);
        assert!(!rs.known);
    }
    // The next full status is still a first sight.
    assert_eq!(h.run([svc(OK, T0).changed().json(V3)]), vec![res(S)]);

    // Known OK: patches do not make it a problem.
    let mut h = Harness::new();
    known_ok(&mut h, V3);
    let patches = [
        adaptive_status(HOST, SVC, json!({"acknowledgement_type": 1})),
        adaptive_status(HOST, SVC, json!({"scheduled_downtime_depth": 1})),
        adaptive_status(
            HOST,
            SVC,
            json!({"scheduled_downtime_depth": 0, "notification_number": 1}),
        ),
    ];
    assert_eq!(h.run(patches), vec![]);
    assert_eq!(h.state(id).hard_state, Some(OK));

    // Open incident: patches do not resolve it.
    let mut h = Harness::new();
    open_incident(&mut h, V3);
    let patches = [
        adaptive_status(HOST, SVC, json!({"notification_number": 2})),
        adaptive_status(HOST, SVC, json!({"scheduled_downtime_depth": 1})),
        adaptive_status(HOST, SVC, json!({"scheduled_downtime_depth": 0})),
    ];
    assert_eq!(h.run(patches), vec![]);
    assert!(h.state(id).incident.is_some());
}
