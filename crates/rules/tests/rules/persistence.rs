//! What must be persisted: every applied status, and not a replay.

use crate::support::*;

#[test]
fn every_applied_status_is_persisted_a_replay_is_not() {
    for v in BOTH {
        let id = ResourceId::service(HOST, SVC);
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.send(host(UP, T0).json(v));
        let (changed, _) = h.store.take_changed();
        assert!(changed.contains(&id), "a new resource is stored");
        // Same state, new check time, output and perfdata: no event, but the status joined the
        // replay window, which must survive a restart (DESIGN §4.2): stored.
        for i in 1..=5 {
            let c = svc(OK, T0 + i * 300)
                .output(&format!("DISK OK - /var {}%", 60 + i), "")
                .perfdata(&format!("used={}%;85;95;0;100", 60 + i));
            assert_eq!(h.run([c.json(v)]), vec![]);
            let (changed, names) = h.store.take_changed();
            assert!(changed.contains(&id), "{v:?} round {i}: {changed:?}");
            assert!(names.is_empty());
        }
        // A replay changes nothing.
        h.send(svc(OK, T0 + 1500).output("DISK OK - /var 65%", "").json(v));
        assert!(h.store.take_changed().0.is_empty());
        // A state change (even SOFT) is stored.
        h.send(svc(WARNING, T0 + 1800).soft(1).last_hard(OK).json(v));
        assert!(h.store.take_changed().0.contains(&id), "{v:?}");
        h.send(svc(WARNING, T0 + 1860).changed().json(v));
        assert!(h.store.take_changed().0.contains(&id), "{v:?}");
        // An acknowledgement is.
        h.send(ack_event(v, HOST, SVC, T0 + 1930, false, WARNING));
        assert!(h.store.take_changed().0.contains(&id), "{v:?}");
        // A patch that changes nothing (the same acknowledgement again) is not.
        h.send(ack_event(v, HOST, SVC, T0 + 1930, false, WARNING));
        assert!(h.store.take_changed().0.is_empty(), "{v:?}");
    }
}
