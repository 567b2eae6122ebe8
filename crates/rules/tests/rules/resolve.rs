//! Resolve: on HARD OK, never held, and from a problem state that does not page.

use crate::support::*;

#[test]
fn resolve_on_hard_ok() {
    for v in BOTH {
        let mut h = Harness::new();
        open_incident(&mut h, v);
        // A SOFT OK does not exist in Engine, but a HARD OK resolves.
        assert_eq!(
            h.run([svc(OK, T0 + 900).changed().json(v)]),
            vec![res(S)],
            "{v:?}"
        );
        // Nothing open any more: another OK sends nothing.
        assert_eq!(h.run([svc(OK, T0 + 1200).json(v)]), vec![], "{v:?}");
        // Hosts: UP resolves.
        h.run([host(UP, T0).json(v), host(DOWN, T0 + 300).changed().json(v)]);
        assert_eq!(
            h.run([host(UP, T0 + 900).changed().json(v)]),
            vec![res(H)],
            "{v:?}"
        );
        // The resolve carries routing key, dedup key and action only.
        h.run([host(DOWN, T0 + 1300).changed().json(v)]);
        let o = h.send(host(UP, T0 + 1600).changed().json(v));
        let body: Value =
            serde_json::from_slice(&o.outgoing[0].event().unwrap().to_body()).unwrap();
        let mut keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["dedup_key", "event_action", "routing_key"]);
    }
}

#[test]
fn resolve_is_never_held_in_downtime_flapping_or_notifications_off() {
    for v in BOTH {
        let settings = || {
            let mut s = Settings::default();
            s.alerts.suppress_flapping = true;
            s
        };
        // Downtime (status depth).
        let mut h = Harness::with(settings());
        open_incident(&mut h, v);
        let recover = svc(OK, T0 + 900).changed().depth(1).json(v);
        assert_eq!(h.run([recover]), vec![res(S)], "{v:?} downtime");

        // Downtime (downtime event).
        let mut h = Harness::with(settings());
        open_incident(&mut h, v);
        h.run([downtime(v, HOST, SVC, 9, Phase::Started, T0 + 600)]);
        assert_eq!(
            h.run([svc(OK, T0 + 900).changed().depth(1).json(v)]),
            vec![res(S)],
            "{v:?} downtime event"
        );

        // Flapping.
        let mut h = Harness::with(settings());
        open_incident(&mut h, v);
        let flapping = svc(CRITICAL, T0 + 600)
            .hard_change_at(T0 + 300)
            .flapping(true);
        assert_eq!(h.run([flapping.json(v)]), vec![], "{v:?}");
        let recover = svc(OK, T0 + 900).changed().flapping(true).json(v);
        assert_eq!(h.run([recover]), vec![res(S)], "{v:?} flapping");

        // Notifications disabled (v2: in the status; both: in the definition).
        let mut h = Harness::with(settings());
        open_incident(&mut h, v);
        h.run([definition(v, HOST, SVC, true, false, false)]);
        let recover = svc(OK, T0 + 900).changed().notify(false).json(v);
        assert_eq!(h.run([recover]), vec![res(S)], "{v:?} notifications");

        // Host down (host first).
        let mut h = Harness::with(settings());
        open_incident(&mut h, v);
        h.run([host(UP, T0).json(v), host(DOWN, T0 + 600).changed().json(v)]);
        assert_eq!(
            h.run([svc(OK, T0 + 900).changed().json(v)]),
            vec![res(S)],
            "{v:?} host down"
        );
    }
}

#[test]
fn non_paging_problem_state_resolves() {
    for v in BOTH {
        let mut h = Harness::alerts(|a| {
            a.service_states = [false, false, true, false, false]; // CRITICAL only
            a.host_states = [false, true, false, false, false]; // DOWN only
        });
        known_ok(&mut h, v);
        // WARNING does not page.
        assert_eq!(h.run([svc(WARNING, T0 + 300).changed().json(v)]), vec![]);
        assert_eq!(
            h.run([svc(CRITICAL, T0 + 600).changed().json(v)]),
            vec![trig(S)],
            "{v:?}"
        );
        // CRITICAL → WARNING (HARD, outside the paging states): resolve.
        assert_eq!(
            h.run([svc(WARNING, T0 + 900).changed().json(v)]),
            vec![res(S)],
            "{v:?}"
        );
        h.run([host(UP, T0).json(v)]);
        assert_eq!(
            h.run([host(DOWN, T0 + 300).changed().json(v)]),
            vec![trig(H)]
        );
        assert_eq!(
            h.run([host(UNREACHABLE, T0 + 600).changed().json(v)]),
            vec![res(H)],
            "{v:?}"
        );
    }
}
