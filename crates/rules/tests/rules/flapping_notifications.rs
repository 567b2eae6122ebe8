//! Flapping and notifications: a trigger held while suppressed or disabled, released after.

use crate::support::*;
use serde_json::json;

#[test]
fn flapping_suppress_holds_and_releases() {
    for v in BOTH {
        let mut h = Harness::alerts(|a| a.suppress_flapping = true);
        known_ok(&mut h, v);
        let o = h.send(svc(CRITICAL, T0 + 300).changed().flapping(true).json(v));
        assert_eq!(sent(&o), vec![], "{v:?}");
        assert!(o.notes.iter().any(|n| matches!(
            n,
            Note::Held {
                reason: HoldReason::Flapping,
                ..
            }
        )));
        let calm = svc(CRITICAL, T0 + 600)
            .hard_change_at(T0 + 300)
            .flapping(false);
        assert_eq!(h.run([calm.json(v)]), vec![trig(S)], "{v:?}");

        // Stops flapping after it recovered: nothing.
        let mut h = Harness::alerts(|a| a.suppress_flapping = true);
        known_ok(&mut h, v);
        let flaps = [
            svc(CRITICAL, T0 + 300).changed().flapping(true).json(v),
            svc(OK, T0 + 600).changed().flapping(true).json(v),
            svc(OK, T0 + 900).hard_change_at(T0 + 600).json(v),
        ];
        assert_eq!(h.run(flaps), vec![], "{v:?}");

        // flapping = "send": flapping does not hold.
        let mut h = Harness::alerts(|a| a.suppress_flapping = false);
        known_ok(&mut h, v);
        let o = h.send(svc(CRITICAL, T0 + 300).changed().flapping(true).json(v));
        assert_eq!(sent(&o), vec![trig(S)], "{v:?}");
    }
}

#[test]
fn notifications_disabled_hold_and_release() {
    // v2 statuses carry `notify`.
    let v = V2;
    let mut h = Harness::new();
    known_ok(&mut h, v);
    let o = h.send(svc(CRITICAL, T0 + 300).changed().notify(false).json(v));
    assert_eq!(sent(&o), vec![]);
    assert!(o.notes.iter().any(|n| matches!(
        n,
        Note::Held {
            reason: HoldReason::NotificationsDisabled,
            ..
        }
    )));
    let on = svc(CRITICAL, T0 + 600)
        .hard_change_at(T0 + 300)
        .notify(true);
    assert_eq!(h.run([on.json(v)]), vec![trig(S)]);

    // Definitions (v2 and v3): released at the definition that enables them again.
    for v in BOTH {
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.run([definition(v, HOST, SVC, true, false, false)]);
        let problem = svc(CRITICAL, T0 + 300).changed().notify(false).json(v);
        assert_eq!(h.run([problem]), vec![], "{v:?}");
        let o = h.send(definition(v, HOST, SVC, true, true, false));
        assert_eq!(sent(&o), vec![trig(S)], "{v:?}");
        // With the problem's details.
        assert_eq!(
            payload(&o).summary,
            "srv-web-01/Disk-/var: CRITICAL - DISK CRITICAL - /var 97%"
        );
    }

    // Adaptive definitions (v3 elements 28 and 31).
    let v = V3;
    let mut h = Harness::new();
    known_ok(&mut h, v);
    h.run([adaptive_definition(HOST, SVC, json!({"notify": false}))]);
    assert_eq!(h.run([svc(CRITICAL, T0 + 300).changed().json(v)]), vec![]);
    assert_eq!(
        h.run([adaptive_definition(HOST, SVC, json!({"notify": true}))]),
        vec![trig(S)]
    );
    let mut h = Harness::new();
    h.run([host(UP, T0).json(v)]);
    h.run([adaptive_definition(HOST, 0, json!({"notify": false}))]);
    assert_eq!(h.run([host(DOWN, T0 + 300).changed().json(v)]), vec![]);
    assert_eq!(
        h.run([adaptive_definition(HOST, 0, json!({"notify": true}))]),
        vec![trig(H)]
    );

    // Recovered while disabled: nothing when enabled again.
    for v in BOTH {
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.run([definition(v, HOST, SVC, true, false, false)]);
        h.run([
            svc(CRITICAL, T0 + 300).changed().notify(false).json(v),
            svc(OK, T0 + 600).changed().notify(false).json(v),
        ]);
        assert_eq!(h.run([definition(v, HOST, SVC, true, true, false)]), vec![]);
    }

    // respect_notifications = false: nothing held.
    let mut h = Harness::alerts(|a| a.respect_notifications = false);
    known_ok(&mut h, V2);
    let o = h.send(svc(CRITICAL, T0 + 300).changed().notify(false).json(V2));
    assert_eq!(sent(&o), vec![trig(S)]);
}
