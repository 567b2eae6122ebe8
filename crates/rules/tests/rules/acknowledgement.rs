//! Acknowledgement: ack events and statuses, sticky or not, ack options (and disabled resources).

use crate::support::*;
use serde_json::json;

#[test]
fn acknowledgement_event_acknowledges_once() {
    for v in BOTH {
        let mut h = Harness::new();
        open_incident(&mut h, v);
        let o = h.send(ack_event(v, HOST, SVC, T0 + 400, false, CRITICAL));
        assert_eq!(sent(&o), vec![ack(S)], "{v:?}");
        // acknowledge carries routing key, dedup key and action only.
        let body: Value =
            serde_json::from_slice(&o.outgoing[0].event().unwrap().to_body()).unwrap();
        assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
        // Again, and the statuses showing it: nothing more.
        let more = [
            ack_event(v, HOST, SVC, T0 + 450, false, CRITICAL),
            svc(CRITICAL, T0 + 600)
                .hard_change_at(T0 + 300)
                .ack(1)
                .json(v),
        ];
        assert_eq!(h.run(more), vec![], "{v:?}");
        // Hosts.
        h.run([host(UP, T0).json(v), host(DOWN, T0 + 300).changed().json(v)]);
        assert_eq!(
            h.run([ack_event(v, HOST, 0, T0 + 400, true, DOWN)]),
            vec![ack(H)],
            "{v:?}"
        );
        // acknowledge = false: never.
        let mut h = Harness::alerts(|a| a.acknowledge = false);
        open_incident(&mut h, v);
        assert_eq!(
            h.run([ack_event(v, HOST, SVC, T0 + 400, false, CRITICAL)]),
            vec![],
            "{v:?}"
        );
    }
}

#[test]
fn status_ack_acknowledges() {
    for v in BOTH {
        let mut h = Harness::new();
        open_incident(&mut h, v);
        let acked = svc(CRITICAL, T0 + 600)
            .hard_change_at(T0 + 300)
            .ack(1)
            .json(v);
        assert_eq!(h.run([acked]), vec![ack(S)], "{v:?}");
        // Sticky (type 2) too.
        let mut h = Harness::new();
        open_incident(&mut h, v);
        let acked = svc(CRITICAL, T0 + 600)
            .hard_change_at(T0 + 300)
            .ack(2)
            .json(v);
        assert_eq!(h.run([acked]), vec![ack(S)], "{v:?}");
    }
    // v3 adaptive status.
    let mut h = Harness::new();
    open_incident(&mut h, V3);
    assert_eq!(
        h.run([adaptive_status(
            HOST,
            SVC,
            json!({"acknowledgement_type": 1})
        )]),
        vec![ack(S)]
    );
    // v2: `acknowledged` alone is enough.
    let mut h = Harness::new();
    open_incident(&mut h, V2);
    let mut acked = svc(CRITICAL, T0 + 600).hard_change_at(T0 + 300).json(V2);
    acked["acknowledged"] = json!(true);
    acked
        .as_object_mut()
        .unwrap()
        .remove("acknowledgement_type");
    assert_eq!(h.run([acked]), vec![ack(S)]);
}

#[test]
fn old_acknowledgement_does_not_ack_new_incident() {
    for v in BOTH {
        let mut h = Harness::new();
        open_incident(&mut h, v);
        assert_eq!(
            h.run([ack_event(v, HOST, SVC, T0 + 400, false, CRITICAL)]),
            vec![ack(S)]
        );
        assert_eq!(h.run([svc(OK, T0 + 900).changed().json(v)]), vec![res(S)]);
        // A new problem, then the old acknowledgement event again (Broker resends it).
        assert_eq!(
            h.run([svc(CRITICAL, T0 + 1200).changed().json(v)]),
            vec![trig(S)]
        );
        assert_eq!(
            h.run([ack_event(v, HOST, SVC, T0 + 400, false, CRITICAL)]),
            vec![],
            "{v:?}"
        );
        // An acknowledgement entered at the new incident's check does.
        assert_eq!(
            h.run([ack_event(v, HOST, SVC, T0 + 1200, false, CRITICAL)]),
            vec![ack(S)],
            "{v:?}"
        );
        // A deleted acknowledgement acknowledges nothing.
        let mut h = Harness::new();
        open_incident(&mut h, v);
        assert_eq!(
            h.run([ack_deleted(v, HOST, SVC, T0 + 400, T0 + 500)]),
            vec![],
            "{v:?}"
        );
    }
}

#[test]
fn acknowledged_problem_is_skipped_then_triggered_when_ack_goes() {
    for v in BOTH {
        // Acknowledged while SOFT (acknowledgement event), HARD while acknowledged: held.
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.run([svc(CRITICAL, T0 + 300).soft(1).last_hard(OK).json(v)]);
        h.run([ack_event(v, HOST, SVC, T0 + 310, true, CRITICAL)]);
        let o = h.send(svc(CRITICAL, T0 + 420).changed().ack(2).json(v));
        assert_eq!(sent(&o), vec![], "{v:?}");
        assert!(o.notes.iter().any(|n| matches!(
            n,
            Note::Held {
                reason: HoldReason::Acknowledged,
                ..
            }
        )));
        // Still acknowledged: nothing.
        let still = svc(CRITICAL, T0 + 480)
            .hard_change_at(T0 + 420)
            .ack(2)
            .json(v);
        assert_eq!(h.run([still]), vec![], "{v:?}");
        // The acknowledgement goes (status without it): trigger.
        let gone = svc(CRITICAL, T0 + 540)
            .hard_change_at(T0 + 420)
            .ack(0)
            .json(v);
        assert_eq!(h.run([gone]), vec![trig(S)], "{v:?}");

        // The acknowledgement goes by a deletion event.
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.run([svc(CRITICAL, T0 + 300).soft(1).last_hard(OK).ack(1).json(v)]);
        assert_eq!(
            h.run([svc(CRITICAL, T0 + 420).changed().ack(1).json(v)]),
            vec![]
        );
        assert_eq!(
            h.run([ack_deleted(v, HOST, SVC, T0 + 310, T0 + 500)]),
            vec![trig(S)],
            "{v:?}"
        );

        // Recovered while acknowledged: nothing, ever.
        let mut h = Harness::new();
        known_ok(&mut h, v);
        let quiet = [
            svc(CRITICAL, T0 + 300).soft(1).last_hard(OK).ack(1).json(v),
            svc(CRITICAL, T0 + 420).changed().ack(1).json(v),
            svc(OK, T0 + 600).changed().json(v),
        ];
        assert_eq!(h.run(quiet), vec![], "{v:?}");
    }
    // v3: the acknowledgement goes by an adaptive status.
    let mut h = Harness::new();
    known_ok(&mut h, V3);
    h.run([svc(CRITICAL, T0 + 300)
        .soft(1)
        .last_hard(OK)
        .ack(1)
        .json(V3)]);
    assert_eq!(
        h.run([svc(CRITICAL, T0 + 420).changed().ack(1).json(V3)]),
        vec![]
    );
    assert_eq!(
        h.run([adaptive_status(
            HOST,
            SVC,
            json!({"acknowledgement_type": 0})
        )]),
        vec![trig(S)]
    );
}

#[test]
fn trigger_and_ack_option() {
    for v in BOTH {
        let mut h =
            Harness::alerts(|a| a.acknowledged_problems = AcknowledgedProblems::TriggerAndAck);
        known_ok(&mut h, v);
        h.run([svc(CRITICAL, T0 + 300).soft(1).last_hard(OK).ack(1).json(v)]);
        assert_eq!(
            h.run([svc(CRITICAL, T0 + 420).changed().ack(1).json(v)]),
            vec![trig(S), ack(S)],
            "{v:?}"
        );
    }
}

#[test]
fn non_sticky_ack_lost_reopens() {
    for v in BOTH {
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.run([svc(WARNING, T0 + 300).changed().json(v)]);
        assert_eq!(
            h.run([ack_event(v, HOST, SVC, T0 + 400, false, WARNING)]),
            vec![ack(S)]
        );
        // WARNING → CRITICAL: Engine drops the normal acknowledgement (type 0 in the status).
        let worse = svc(CRITICAL, T0 + 600).changed().ack(0).json(v);
        assert_eq!(h.run([worse]), vec![res(S), trig(S)], "{v:?}");
        // The new incident is not acknowledged: a new acknowledgement acknowledges it.
        assert_eq!(
            h.run([ack_event(v, HOST, SVC, T0 + 700, false, CRITICAL)]),
            vec![ack(S)],
            "{v:?}"
        );

        // Acknowledged by status only (no event), then lost.
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.run([svc(WARNING, T0 + 300).changed().json(v)]);
        let acked = svc(WARNING, T0 + 360)
            .hard_change_at(T0 + 300)
            .ack(1)
            .json(v);
        assert_eq!(h.run([acked]), vec![ack(S)]);
        let worse = svc(CRITICAL, T0 + 600).changed().ack(0).json(v);
        assert_eq!(h.run([worse]), vec![res(S), trig(S)], "{v:?}");

        // reopen_on_ack_loss = false: the change is sent as a trigger on the same incident.
        let mut h = Harness::alerts(|a| a.reopen_on_ack_loss = false);
        known_ok(&mut h, v);
        h.run([svc(WARNING, T0 + 300).changed().json(v)]);
        h.run([ack_event(v, HOST, SVC, T0 + 400, false, WARNING)]);
        let worse = svc(CRITICAL, T0 + 600).changed().ack(0).json(v);
        assert_eq!(h.run([worse]), vec![trig(S)], "{v:?}");
    }
}

#[test]
fn sticky_ack_change_sent_on_acked_incident() {
    for v in BOTH {
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.run([svc(WARNING, T0 + 300).changed().json(v)]);
        assert_eq!(
            h.run([ack_event(v, HOST, SVC, T0 + 400, true, WARNING)]),
            vec![ack(S)]
        );
        // WARNING → CRITICAL: the sticky acknowledgement lasts (type 2 in the status).
        let o = h.send(svc(CRITICAL, T0 + 600).changed().ack(2).json(v));
        assert_eq!(sent(&o), vec![trig(S)], "{v:?}");
        assert_eq!(payload(&o).severity, Severity::Critical);
        let rs = h.state(ResourceId::service(HOST, SVC));
        assert!(rs.incident.as_ref().unwrap().acked, "{v:?}");
        // Recovery ends it.
        assert_eq!(h.run([svc(OK, T0 + 900).changed().json(v)]), vec![res(S)]);
    }
}

#[test]
fn downtime_start_acknowledges_when_configured() {
    for v in BOTH {
        let starts = [
            downtime(v, HOST, SVC, 21, Phase::Started, T0 + 600),
            match v {
                V2 => svc(CRITICAL, T0 + 600)
                    .hard_change_at(T0 + 300)
                    .depth(1)
                    .json(v),
                V3 => adaptive_status(HOST, SVC, json!({"scheduled_downtime_depth": 1})),
            },
        ];
        for start in starts {
            let mut h = Harness::alerts(|a| a.acknowledge_on_downtime_start = true);
            open_incident(&mut h, v);
            assert_eq!(h.run([start.clone()]), vec![ack(S)], "{v:?} {start}");
            // Once.
            let again = svc(CRITICAL, T0 + 900)
                .hard_change_at(T0 + 300)
                .depth(1)
                .json(v);
            assert_eq!(h.run([again]), vec![], "{v:?}");
            // Default (none): nothing.
            let mut h = Harness::new();
            open_incident(&mut h, v);
            assert_eq!(h.run([start]), vec![], "{v:?}");
        }
    }
}

#[test]
fn disabled_resource_resolves() {
    for v in BOTH {
        let mut h = Harness::new();
        open_incident(&mut h, v);
        assert_eq!(
            h.run([definition(v, HOST, SVC, false, true, false)]),
            vec![res(S)],
            "{v:?}"
        );
        // Still disabled: later problem statuses send nothing.
        let later = svc(CRITICAL, T0 + 900).hard_change_at(T0 + 300).json(v);
        assert_eq!(h.run([later]), vec![], "{v:?}");
        // Hosts.
        let mut h = Harness::new();
        h.run([host(UP, T0).json(v), host(DOWN, T0 + 300).changed().json(v)]);
        assert_eq!(
            h.run([definition(v, HOST, 0, false, true, false)]),
            vec![res(H)],
            "{v:?}"
        );
        // resolve_on_disable = false: nothing.
        let mut h = Harness::alerts(|a| a.resolve_on_disable = false);
        open_incident(&mut h, v);
        assert_eq!(
            h.run([definition(v, HOST, SVC, false, true, false)]),
            vec![],
            "{v:?}"
        );
    }
}
