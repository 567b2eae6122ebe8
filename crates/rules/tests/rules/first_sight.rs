//! First sight: the first status seen of a resource triggers, resolves or is recorded silently.

use crate::support::*;

#[test]
fn first_sight_hard_problem_triggers() {
    for v in BOTH {
        let mut h = Harness::new();
        assert_eq!(
            h.run([svc(CRITICAL, T0).hard_change_at(T0 - 3600).json(v)]),
            vec![trig(S)],
            "{v:?}"
        );
        let mut h = Harness::new();
        assert_eq!(h.run([host(DOWN, T0).json(v)]), vec![trig(H)], "{v:?}");
        // Held like any other trigger: here by a downtime, released when it ends.
        let mut h = Harness::new();
        assert_eq!(h.run([svc(CRITICAL, T0).depth(1).json(v)]), vec![], "{v:?}");
        assert_eq!(
            h.run([svc(CRITICAL, T0 + 300).depth(0).json(v)]),
            vec![trig(S)],
            "{v:?}"
        );
        // … and by an acknowledgement.
        let mut h = Harness::new();
        assert_eq!(h.run([svc(CRITICAL, T0).ack(1).json(v)]), vec![], "{v:?}");
    }
}

#[test]
fn first_sight_ok_changed_at_this_check_resolves_on_todays_route() {
    for v in BOTH {
        let mut h = Harness::with(routed_settings());
        let o = h.send(svc(OK, T0).changed().json(v));
        assert_eq!(sent(&o), vec![res(S)], "{v:?}");
        // Today's route for a resource in hostgroup Web.
        assert_eq!(o.outgoing[0].route, "web");
        assert_eq!(o.outgoing[0].routing_key.as_deref(), Some(KEY_WEB));
        assert_eq!(o.outgoing[0].event().unwrap().routing_key, KEY_WEB);
        // Hosts: an UP that changed at this check.
        let o = h.send(host(UP, T0).changed().json(v));
        assert_eq!(sent(&o), vec![res(H)], "{v:?}");
        // Without the cache, the default route.
        let mut h = Harness::with(routed_settings());
        let o = h.send(svc(OK, T0).changed().no_cache().json(v));
        assert_eq!(sent(&o), vec![res(S)], "{v:?}");
        assert_eq!(o.outgoing[0].route, "default");
        assert_eq!(o.outgoing[0].event().unwrap().routing_key, KEY_DEFAULT);
        // The hard state changed after the check (clock details): still "at this check".
        let mut h = Harness::new();
        let o = h.send(svc(OK, T0).hard_change_at(T0 + 1).json(v));
        assert_eq!(sent(&o), vec![res(S)], "{v:?}");
    }
}

#[test]
fn first_sight_otherwise_recorded_silently() {
    for v in BOTH {
        let cases = [
            // HARD OK whose hard state changed long ago.
            svc(OK, T0).hard_change_at(T0 - 3600),
            // HARD OK, no hard state change known (v2: absent; v3: 0).
            svc(OK, T0),
            // SOFT problems.
            svc(CRITICAL, T0).soft(1).last_hard(OK),
            // Pending.
            svc(PENDING, 0).output("", ""),
            // Hosts.
            host(UP, T0).hard_change_at(T0 - 60),
        ];
        for check in cases {
            let mut h = Harness::new();
            let o = h.send(check.json(v));
            assert_eq!(sent(&o), vec![], "{v:?} {check:?}");
            let id = if check.service == 0 {
                ResourceId::host(HOST)
            } else {
                ResourceId::service(HOST, SVC)
            };
            assert!(h.state(id).known, "{v:?} {check:?}");
        }
    }
}

#[test]
fn first_seen_soft_takes_last_hard_state() {
    for v in BOTH {
        let id = ResourceId::service(HOST, SVC);
        // First seen SOFT CRITICAL after a HARD OK: its HARD state is OK, so the HARD
        // CRITICAL that follows is a transition and pages.
        let mut h = Harness::new();
        let first = svc(CRITICAL, T0)
            .soft(1)
            .last_hard(OK)
            .hard_change_at(T0 - 86_400);
        assert_eq!(h.run([first.json(v)]), vec![], "{v:?}");
        assert_eq!(h.state(id).hard_state, Some(OK), "{v:?}");
        assert_eq!(
            h.run([svc(CRITICAL, T0 + 60).changed().json(v)]),
            vec![trig(S)],
            "{v:?}"
        );
        // First seen SOFT with a last HARD state of WARNING: that is its HARD state; a HARD
        // WARNING next is the same HARD state, a HARD CRITICAL a transition.
        let mut h = Harness::new();
        let first = svc(CRITICAL, T0)
            .soft(1)
            .last_hard(WARNING)
            .hard_change_at(T0 - 600);
        assert_eq!(h.run([first.json(v)]), vec![], "{v:?}");
        assert_eq!(h.state(id).hard_state, Some(WARNING), "{v:?}");
        let same = svc(WARNING, T0 + 60).hard_change_at(T0 - 600).json(v);
        assert_eq!(h.run([same]), vec![], "{v:?}");
        assert_eq!(
            h.run([svc(CRITICAL, T0 + 120).changed().json(v)]),
            vec![trig(S)],
            "{v:?}"
        );
    }
}

#[test]
fn pending_makes_resource_known() {
    for v in BOTH {
        let mut h = Harness::new();
        let pending = svc(PENDING, 0).output("", "").perfdata("").last_hard(OK);
        assert_eq!(h.run([pending.json(v)]), vec![], "{v:?}");
        assert!(h.state(ResourceId::service(HOST, SVC)).known);
        // Not a first sight: a HARD OK changed at this check resolves nothing.
        assert_eq!(h.run([svc(OK, T0).changed().json(v)]), vec![], "{v:?}");
        // … and a problem after pending pages like any transition.
        let mut h = Harness::new();
        h.run([pending.json(v)]);
        assert_eq!(
            h.run([svc(CRITICAL, T0).changed().json(v)]),
            vec![trig(S)],
            "{v:?}"
        );
        // Hosts too.
        let mut h = Harness::new();
        h.run([host(PENDING, 0)
            .output("", "")
            .perfdata("")
            .last_hard(UP)
            .json(v)]);
        assert_eq!(h.run([host(UP, T0).changed().json(v)]), vec![], "{v:?}");
    }
}
