//! Downtime: triggers held and released, recoveries inside, nesting, flexible downtimes, depth.

use crate::support::*;
use serde_json::json;

#[test]
fn downtime_holds_trigger_and_releases_when_it_ends() {
    for v in BOTH {
        // Depth from statuses; the end from a full status (v2) or an adaptive one (v3).
        let mut h = Harness::new();
        known_ok(&mut h, v);
        let start = match v {
            V2 => svc(OK, T0 + 100).depth(1).json(v),
            V3 => adaptive_status(HOST, SVC, json!({"scheduled_downtime_depth": 1})),
        };
        assert_eq!(h.run([start]), vec![]);
        let o = h.send(svc(CRITICAL, T0 + 300).changed().depth(1).json(v));
        assert_eq!(sent(&o), vec![], "{v:?}");
        assert!(o.notes.iter().any(|n| matches!(
            n,
            Note::Held {
                reason: HoldReason::Downtime,
                ..
            }
        )));
        let end = match v {
            V2 => svc(CRITICAL, T0 + 600)
                .hard_change_at(T0 + 300)
                .depth(0)
                .json(v),
            V3 => adaptive_status(HOST, SVC, json!({"scheduled_downtime_depth": 0})),
        };
        let o = h.send(end);
        assert_eq!(sent(&o), vec![trig(S)], "{v:?}");
        // The released trigger carries the problem's latest check (v3: the adaptive status
        // carries none, so the check that raised it).
        let p = payload(&o);
        assert_eq!(
            p.summary,
            "srv-web-01/Disk-/var: CRITICAL - DISK CRITICAL - /var 97%"
        );
        let expected = match v {
            V2 => "2026-06-09T10:23:20Z",
            V3 => "2026-06-09T10:18:20Z",
        };
        assert_eq!(p.timestamp.as_deref(), Some(expected));

        // Downtime events.
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.run([
            downtime(v, HOST, SVC, 11, Phase::Scheduled, T0 + 50),
            downtime(v, HOST, SVC, 11, Phase::Started, T0 + 100),
        ]);
        assert_eq!(
            h.run([svc(CRITICAL, T0 + 300).changed().depth(1).json(v)]),
            vec![]
        );
        // The end event alone ends nothing (an Engine stop sends one too); the status that
        // follows a real end at once shows the depth drop, and releases the trigger.
        assert_eq!(
            h.run([downtime(v, HOST, SVC, 11, Phase::Ended, T0 + 3700)]),
            vec![],
            "{v:?}"
        );
        assert_eq!(h.run([depth_now(v, 0, T0 + 3700)]), vec![trig(S)], "{v:?}");
        // Its deletion afterwards changes nothing.
        assert_eq!(
            h.run([downtime(v, HOST, SVC, 11, Phase::Deleted, T0 + 3700)]),
            vec![]
        );

        // With in_downtime = "send", nothing is held.
        let mut h = Harness::alerts(|a| a.in_downtime = InDowntime::Send);
        known_ok(&mut h, v);
        assert_eq!(
            h.run([svc(CRITICAL, T0 + 300).changed().depth(1).json(v)]),
            vec![trig(S)],
            "{v:?}"
        );
    }
}

#[test]
fn recovery_inside_downtime_sends_nothing() {
    for v in BOTH {
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.run([downtime(v, HOST, SVC, 11, Phase::Started, T0 + 100)]);
        let inside = [
            svc(CRITICAL, T0 + 300).changed().depth(1).json(v),
            svc(OK, T0 + 900).changed().depth(1).json(v),
            downtime(v, HOST, SVC, 11, Phase::Ended, T0 + 3700),
            downtime(v, HOST, SVC, 11, Phase::Deleted, T0 + 3700),
            svc(OK, T0 + 4000).hard_change_at(T0 + 900).json(v),
        ];
        assert_eq!(h.run(inside), vec![], "{v:?}");
        let rs = h.state(ResourceId::service(HOST, SVC));
        assert!(!rs.owed && rs.incident.is_none(), "{rs:?}");
    }
}

#[test]
fn nested_downtimes_count() {
    for v in BOTH {
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.run([
            downtime(v, HOST, SVC, 1, Phase::Started, T0 + 100),
            downtime(v, HOST, SVC, 2, Phase::Started, T0 + 200),
        ]);
        assert_eq!(
            h.run([svc(CRITICAL, T0 + 300).changed().depth(2).json(v)]),
            vec![]
        );
        // The first one ends: still in the second.
        assert_eq!(
            h.run([
                downtime(v, HOST, SVC, 1, Phase::Ended, T0 + 400),
                downtime(v, HOST, SVC, 1, Phase::Deleted, T0 + 400),
                depth_now(v, 1, T0 + 400),
            ]),
            vec![],
            "{v:?}"
        );
        // The second one ends: the problem is still there.
        assert_eq!(
            h.run([
                downtime(v, HOST, SVC, 2, Phase::Ended, T0 + 500),
                depth_now(v, 0, T0 + 500),
            ]),
            vec![trig(S)],
            "{v:?}"
        );

        // The same with depths from statuses: 2, 1 (held), 0 (released).
        let mut h = Harness::new();
        known_ok(&mut h, v);
        let held = [
            svc(CRITICAL, T0 + 300).changed().depth(2).json(v),
            svc(CRITICAL, T0 + 400)
                .hard_change_at(T0 + 300)
                .depth(1)
                .json(v),
        ];
        assert_eq!(h.run(held), vec![], "{v:?}");
        let end = svc(CRITICAL, T0 + 500)
            .hard_change_at(T0 + 300)
            .depth(0)
            .json(v);
        assert_eq!(h.run([end]), vec![trig(S)], "{v:?}");
    }
}

#[test]
fn flexible_downtime_deleted_before_start_changes_nothing() {
    for v in BOTH {
        // A problem arising after a flexible downtime was added then deleted unstarted pages.
        let mut h = Harness::new();
        known_ok(&mut h, v);
        let flexible = [
            downtime(v, HOST, SVC, 5, Phase::Scheduled, T0 + 100),
            downtime(v, HOST, SVC, 5, Phase::DeletedUnstarted, T0 + 200),
        ];
        assert_eq!(h.run(flexible), vec![]);
        assert!(!h.state(ResourceId::service(HOST, SVC)).in_downtime);
        assert_eq!(
            h.run([svc(CRITICAL, T0 + 300).changed().json(v)]),
            vec![trig(S)],
            "{v:?}"
        );

        // Inside another downtime, its deletion does not end that one.
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.run([downtime(v, HOST, SVC, 4, Phase::Started, T0 + 50)]);
        h.run([svc(CRITICAL, T0 + 300).changed().depth(1).json(v)]);
        let flexible = [
            downtime(v, HOST, SVC, 5, Phase::Scheduled, T0 + 400),
            downtime(v, HOST, SVC, 5, Phase::DeletedUnstarted, T0 + 500),
        ];
        assert_eq!(h.run(flexible), vec![], "{v:?}");
        assert!(h.state(ResourceId::service(HOST, SVC)).in_downtime);

        // With on_downtime_start = acknowledge, a scheduled-then-deleted downtime
        // acknowledges nothing.
        let mut h = Harness::alerts(|a| a.acknowledge_on_downtime_start = true);
        open_incident(&mut h, v);
        let flexible = [
            downtime(v, HOST, SVC, 5, Phase::Scheduled, T0 + 400),
            downtime(v, HOST, SVC, 5, Phase::DeletedUnstarted, T0 + 500),
        ];
        assert_eq!(h.run(flexible), vec![], "{v:?}");
    }
}

#[test]
fn downtime_depth_from_most_recent_source() {
    for v in BOTH {
        let id = ResourceId::service(HOST, SVC);
        // A downtime event starts it; a later status with depth 0 says it is over.
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.run([downtime(v, HOST, SVC, 8, Phase::Started, T0 + 100)]);
        assert!(h.state(id).in_downtime);
        assert_eq!(
            h.run([svc(CRITICAL, T0 + 300).changed().depth(0).json(v)]),
            vec![trig(S)],
            "{v:?}"
        );
        assert!(!h.state(id).in_downtime);

        // A status says depth 0; a later downtime event starts one.
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.run([downtime(v, HOST, SVC, 8, Phase::Started, T0 + 100)]);
        assert!(h.state(id).in_downtime, "{v:?}");
        // A status says depth 1; the end event of the downtime seen starting ends nothing
        // by itself: the status after it does.
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.run([downtime(v, HOST, SVC, 8, Phase::Started, T0 + 100)]);
        h.run([svc(CRITICAL, T0 + 300).changed().depth(1).json(v)]);
        assert_eq!(
            h.run([downtime(v, HOST, SVC, 8, Phase::Ended, T0 + 400)]),
            vec![],
            "{v:?}"
        );
        assert_eq!(h.run([depth_now(v, 0, T0 + 400)]), vec![trig(S)], "{v:?}");
        // An adaptive status (v3) is a status source as well.
        if v == V3 {
            let mut h = Harness::new();
            known_ok(&mut h, v);
            h.run([downtime(v, HOST, SVC, 8, Phase::Started, T0 + 100)]);
            h.run([svc(CRITICAL, T0 + 300).changed().depth(1).json(v)]);
            let over = adaptive_status(HOST, SVC, json!({"scheduled_downtime_depth": 0}));
            assert_eq!(h.run([over]), vec![trig(S)]);
        }
    }
}
