//! Host first: a service problem held while its host is down, re-evaluated at the next status.

use crate::support::*;
use serde_json::json;

#[test]
fn host_first_holds_service_problem_while_host_down() {
    for v in BOTH {
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.run([host(UP, T0).json(v)]);
        assert_eq!(
            h.run([host(DOWN, T0 + 300).changed().json(v)]),
            vec![trig(H)]
        );
        // The service goes CRITICAL behind its host: held.
        let o = h.send(svc(CRITICAL, T0 + 360).changed().json(v));
        assert_eq!(sent(&o), vec![], "{v:?}");
        assert!(
            o.notes.iter().any(|n| matches!(
                n,
                Note::Held {
                    reason: HoldReason::HostDown,
                    ..
                }
            )),
            "{:?}",
            o.notes
        );
        // Host UNREACHABLE holds too.
        assert_eq!(
            h.run([host(UNREACHABLE, T0 + 400).changed().json(v)]),
            vec![trig(H)]
        );
        let still = svc(CRITICAL, T0 + 420).hard_change_at(T0 + 360).json(v);
        assert_eq!(h.run([still]), vec![], "{v:?}");
        // The service recovers right after its host: only the host's incident resolves.
        assert_eq!(
            h.run([
                host(UP, T0 + 600).changed().json(v),
                svc(OK, T0 + 620).changed().json(v),
            ]),
            vec![res(H)],
            "{v:?}"
        );

        // A host in downtime holds its services too.
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.run([host(UP, T0).json(v)]);
        h.run([downtime(v, HOST, 0, 3, Phase::Started, T0 + 100)]);
        assert_eq!(
            h.run([svc(CRITICAL, T0 + 360).changed().json(v)]),
            vec![],
            "{v:?}"
        );
        // Without services_follow_host, it pages.
        let mut h = Harness::alerts(|a| a.services_follow_host = false);
        known_ok(&mut h, v);
        h.run([host(UP, T0).json(v), host(DOWN, T0 + 300).changed().json(v)]);
        assert_eq!(
            h.run([svc(CRITICAL, T0 + 360).changed().json(v)]),
            vec![trig(S)],
            "{v:?}"
        );
    }
}

#[test]
fn host_first_reevaluates_at_next_service_status() {
    for v in BOTH {
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.run([host(UP, T0).json(v), host(DOWN, T0 + 300).changed().json(v)]);
        assert_eq!(h.run([svc(CRITICAL, T0 + 360).changed().json(v)]), vec![]);
        // The host comes back: its status alone does not release the service.
        assert_eq!(
            h.run([host(UP, T0 + 600).changed().json(v)]),
            vec![res(H)],
            "{v:?}"
        );
        // The service's next status, still CRITICAL: now it pages.
        let o = h.send(svc(CRITICAL, T0 + 660).hard_change_at(T0 + 360).json(v));
        assert_eq!(sent(&o), vec![trig(S)], "{v:?}");
        assert!(
            o.notes.iter().any(|n| matches!(
                n,
                Note::Released {
                    was: HoldReason::HostDown,
                    ..
                }
            )),
            "{:?}",
            o.notes
        );

        // Host downtime ended (v3: adaptive status; v2: full status): same.
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.run([host(UP, T0).depth(1).json(v)]);
        assert_eq!(h.run([svc(CRITICAL, T0 + 360).changed().json(v)]), vec![]);
        let end = match v {
            V2 => host(UP, T0 + 600).depth(0).json(v),
            V3 => adaptive_status(HOST, 0, json!({"scheduled_downtime_depth": 0})),
        };
        assert_eq!(h.run([end]), vec![], "{v:?}");
        let next = svc(CRITICAL, T0 + 660).hard_change_at(T0 + 360).json(v);
        assert_eq!(h.run([next]), vec![trig(S)], "{v:?}");
    }
}
