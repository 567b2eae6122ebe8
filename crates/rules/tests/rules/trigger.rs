//! Trigger: HARD transitions into a paging state, duplicates, SOFT states, volatile, retrigger.

use crate::support::*;

#[test]
fn trigger_on_hard_transition_into_paging_state() {
    for v in BOTH {
        let mut h = Harness::new();
        known_ok(&mut h, v);
        let o = h.send(svc(WARNING, T0 + 300).changed().json(v));
        assert_eq!(sent(&o), vec![trig(S)], "{v:?}");
        assert_eq!(payload(&o).severity, Severity::Warning);
        // HARD WARNING → HARD CRITICAL: a different HARD state, a new trigger.
        let o = h.send(svc(CRITICAL, T0 + 600).changed().json(v));
        assert_eq!(sent(&o), vec![trig(S)], "{v:?}");
        assert_eq!(payload(&o).severity, Severity::Critical);
        // Hosts too.
        h.run([host(UP, T0).json(v)]);
        let o = h.send(host(DOWN, T0 + 300).changed().json(v));
        assert_eq!(sent(&o), vec![trig(H)], "{v:?}");
        assert_eq!(payload(&o).severity, Severity::Critical);
        let o = h.send(host(UNREACHABLE, T0 + 360).changed().json(v));
        assert_eq!(sent(&o), vec![trig(H)], "{v:?}");
        assert_eq!(payload(&o).severity, Severity::Error);
    }
}

#[test]
fn same_hard_state_again_is_deduplicated() {
    for v in BOTH {
        let mut h = Harness::new();
        open_incident(&mut h, v);
        // Later checks, same HARD state, other output: nothing.
        let later = (1..5).map(|i| {
            svc(CRITICAL, T0 + 300 + i * 60)
                .hard_change_at(T0 + 300)
                .output(&format!("DISK CRITICAL - /var {}%", 97 + i), "")
                .json(v)
        });
        assert_eq!(h.run(later), vec![], "{v:?}");
        // Broker's duplicated status (identical line): nothing.
        let dup = svc(CRITICAL, T0 + 600).hard_change_at(T0 + 300).json(v);
        assert_eq!(h.run([dup.clone(), dup]), vec![], "{v:?}");
        // Same for hosts (v2 delivers every host_status twice).
        h.run([host(UP, T0).json(v)]);
        let down = host(DOWN, T0 + 300).changed().json(v);
        assert_eq!(h.run([down.clone(), down]), vec![trig(H)], "{v:?}");
    }
}

#[test]
fn soft_states_do_nothing_when_hard_only() {
    for v in BOTH {
        let mut h = Harness::new();
        known_ok(&mut h, v);
        let soft = [
            svc(CRITICAL, T0 + 300).soft(1).last_hard(OK).json(v),
            svc(CRITICAL, T0 + 360).soft(2).last_hard(OK).json(v),
            // Soft recovery.
            svc(OK, T0 + 420).json(v),
        ];
        assert_eq!(h.run(soft), vec![], "{v:?}");
        // The third attempt is HARD: now it pages.
        let hard = [
            svc(CRITICAL, T0 + 600).soft(1).last_hard(OK).json(v),
            svc(CRITICAL, T0 + 660).soft(2).last_hard(OK).json(v),
            svc(CRITICAL, T0 + 720).changed().json(v),
        ];
        assert_eq!(h.run(hard), vec![trig(S)], "{v:?}");

        // With hard_only = false, SOFT problems page too.
        let mut h = Harness::alerts(|a| a.hard_only = false);
        known_ok(&mut h, v);
        let o = h.send(svc(CRITICAL, T0 + 300).soft(1).last_hard(OK).json(v));
        assert_eq!(sent(&o), vec![trig(S)], "{v:?}");
        assert_eq!(payload(&o).custom_details["state_type"], "SOFT");
        assert_eq!(h.run([svc(OK, T0 + 360).json(v)]), vec![res(S)], "{v:?}");
    }
}

#[test]
fn volatile_service_triggers_on_every_hard_non_ok() {
    // v2 service definitions carry `volatile`.
    volatile_case(V2);
}

#[test]
fn volatile_service_triggers_on_every_hard_non_ok_v3() {
    volatile_case(V3);
}

fn volatile_case(v: V) {
    let mut h = Harness::new();
    assert_eq!(h.run([definition(v, HOST, SVC, true, true, true)]), vec![]);
    known_ok(&mut h, v);
    let traps = [
        svc(CRITICAL, T0 + 300).changed().json(v),
        svc(CRITICAL, T0 + 310).hard_change_at(T0 + 300).json(v),
        svc(WARNING, T0 + 320).changed().json(v),
        svc(WARNING, T0 + 330).hard_change_at(T0 + 320).json(v),
    ];
    assert_eq!(
        h.run(traps),
        vec![trig(S), trig(S), trig(S), trig(S)],
        "{v:?}"
    );
    // A replay is still a replay.
    let again = svc(WARNING, T0 + 330).hard_change_at(T0 + 320).json(v);
    assert_eq!(h.run([again]), vec![], "{v:?}");
    assert_eq!(h.run([svc(OK, T0 + 400).changed().json(v)]), vec![res(S)]);
}

#[test]
fn retrigger_after_interval() {
    for v in BOTH {
        let mut h = Harness::alerts(|a| a.retrigger_interval = 3600);
        open_incident(&mut h, v);
        let still = |t: i64| svc(CRITICAL, t).hard_change_at(T0 + 300).json(v);
        assert_eq!(h.run([still(T0 + 1800)]), vec![], "{v:?}");
        assert_eq!(h.run([still(T0 + 300 + 3600)]), vec![trig(S)], "{v:?}");
        assert_eq!(h.run([still(T0 + 300 + 3900)]), vec![], "{v:?}");
        assert_eq!(h.run([still(T0 + 300 + 7200)]), vec![trig(S)], "{v:?}");

        // Without an interval, never again.
        let mut h = Harness::new();
        open_incident(&mut h, v);
        assert_eq!(h.run([still(T0 + 300 + 86_400)]), vec![], "{v:?}");
    }
}
