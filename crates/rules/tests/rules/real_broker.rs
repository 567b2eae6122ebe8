//! What a real Centreon Engine + Broker 25.05 does, and what old connectors and Engine agree on.

use crate::support::*;
use serde_json::json;

/// A downtime event with its own identity: `entry_time` and `start_time` as given.
fn downtime_entered(v: V, id: u64, phase: Phase, t: i64, entry: i64) -> Value {
    let mut e = downtime(v, HOST, SVC, id, phase, t);
    e["entry_time"] = json!(entry);
    e["start_time"] = json!(entry);
    e
}

/// DESIGN §4.2, Downtime: when an Engine stops, Broker delivers an end for every downtime (after
/// the instance event with `running` false, which the shim does not forward) and they come
/// back as started when it starts; the statuses keep their depth. Such an end ends nothing:
/// the problem held in the downtime stays held through the restart, and the real deletion
/// (followed at once by a status showing depth 0) releases it. Each downtime event reaches Lua
/// twice: harmless.
#[test]
fn engine_restart_ends_no_downtime() {
    for v in BOTH {
        let mut h = Harness::new();
        known_ok(&mut h, v);
        let started = downtime_entered(v, 3, Phase::Started, T0 + 100, T0 + 90);
        let ended = downtime_entered(v, 3, Phase::Deleted, T0 + 600, T0 + 90);
        let back = downtime_entered(v, 3, Phase::Started, T0 + 603, T0 + 90);
        let future = downtime_entered(v, 2, Phase::Scheduled, T0 + 50, T0 + 40);
        let future_gone = downtime_entered(v, 2, Phase::DeletedUnstarted, T0 + 600, T0 + 40);
        assert_eq!(
            h.run([
                future.clone(),
                future,
                started.clone(),
                started,
                depth_now(v, 1, T0 + 100)
            ]),
            vec![]
        );
        assert_eq!(
            h.run([svc(CRITICAL, T0 + 300).changed().depth(1).json(v)]),
            vec![],
            "{v:?}: held in downtime"
        );
        // Engine stops: an end for every downtime, each twice; then it starts again.
        let restart = [
            future_gone.clone(),
            future_gone,
            ended.clone(),
            ended.clone(),
            back.clone(),
            back,
            svc(CRITICAL, T0 + 610)
                .hard_change_at(T0 + 300)
                .depth(1)
                .json(v),
        ];
        assert_eq!(
            h.run(restart),
            vec![],
            "{v:?}: an Engine restart ends no downtime"
        );
        assert!(h.state(ResourceId::service(HOST, SVC)).in_downtime);
        // The real deletion, each event twice, and the status Engine sends with it.
        assert_eq!(
            h.run([ended.clone(), depth_now(v, 0, T0 + 700), ended]),
            vec![trig(S)],
            "{v:?}: the real deletion releases the trigger"
        );
        assert_eq!(
            h.run([svc(OK, T0 + 900).changed().json(v)]),
            vec![res(S)],
            "{v:?}"
        );
    }
}

/// DESIGN §4.2, Downtime: Engine renumbers downtimes from its scheduled ones at each start, so
/// a new downtime comes back with the id of one that ended; it is identified by
/// (id, entry_time, start_time) and is not mistaken for a replay.
#[test]
fn a_downtime_is_not_identified_by_its_id_alone() {
    for v in BOTH {
        let mut h = Harness::alerts(|a| a.acknowledge_on_downtime_start = true);
        let id = ResourceId::service(HOST, SVC);
        known_ok(&mut h, v);
        // Downtime id 1: starts, is deleted (the depth drops), ends.
        let ok_depth = |depth: i64, t: i64| match v {
            V2 => svc(OK, t).depth(depth).json(v),
            V3 => adaptive_status(HOST, SVC, json!({ "scheduled_downtime_depth": depth })),
        };
        h.run([
            downtime_entered(v, 1, Phase::Started, T0 + 100, T0 + 100),
            ok_depth(1, T0 + 100),
            downtime_entered(v, 1, Phase::Deleted, T0 + 200, T0 + 100),
            ok_depth(0, T0 + 200),
        ]);
        assert!(!h.state(id).in_downtime, "{v:?}");
        // A problem opens an incident.
        assert_eq!(
            h.run([svc(CRITICAL, T0 + 300).changed().json(v)]),
            vec![trig(S)],
            "{v:?}"
        );
        // Engine restarted meanwhile; a new downtime gets id 1 again: it starts.
        let o = h.send(downtime_entered(v, 1, Phase::Started, T0 + 400, T0 + 390));
        assert!(!o.replay, "{v:?}: a new downtime taken for a replay");
        assert!(h.state(id).in_downtime, "{v:?}");
        assert_eq!(
            sent(&o),
            vec![ack(S)],
            "{v:?}: on_downtime_start = acknowledge"
        );
        // A replay of the first downtime id 1's start is still recognised.
        let o = h.send(downtime_entered(v, 1, Phase::Started, T0 + 100, T0 + 100));
        assert!(o.replay, "{v:?}");
    }
}

/// DESIGN §3.2 `[[route]]`: severity criteria take Centreon severity LEVELS, where 1 is the most
/// important: `host_severity_level_max = N` matches levels 1..N (the old connectors'
/// `host_severity_threshold = N` with operator ">="); a resource without a severity never
/// matches.
#[test]
fn severity_level_max_matches_the_most_important_levels() {
    const KEY_VIP: &str = "R0000000000000000000000000000vip";
    for (criteria, host_level, service_level) in [
        (
            Criteria {
                host_severity_level_max: Some(2),
                ..Default::default()
            },
            true,
            false,
        ),
        (
            Criteria {
                service_severity_level_max: Some(2),
                ..Default::default()
            },
            false,
            true,
        ),
    ] {
        for (level, matches) in [
            (Some(1), true),
            (Some(2), true),
            (Some(3), false),
            (None, false),
        ] {
            let mut settings = routed_settings();
            settings.routes = vec![route("vip", KEY_VIP, criteria.clone())];
            let mut h = Harness::with(settings);
            let mut c = cache(HOST, SVC);
            let obj = c.as_object_mut().unwrap();
            for (key, used) in [
                ("host_severity", host_level),
                ("service_severity", service_level),
            ] {
                obj.remove(key);
                if let (true, Some(l)) = (used, level) {
                    obj.insert(key.into(), json!(l));
                }
            }
            h.run([svc(OK, T0).with_cache(c.clone()).json(V3)]);
            let o = h.send(svc(CRITICAL, T0 + 300).changed().with_cache(c).json(V3));
            let routing_key = o.outgoing[0].routing_key.clone();
            let want = if matches { KEY_VIP } else { KEY_DEFAULT };
            assert_eq!(
                routing_key.as_deref(),
                Some(want),
                "level {level:?} against level_max 2 ({criteria:?})"
            );
        }
    }
}

/// DESIGN §3.2, §4.2 Flapping: suppressed by default, as Engine (no problem notification while
/// flapping) and the old connectors (flapping events dropped) do. Triggers wait while the
/// resource flaps and go if the problem is still there when it stops; resolves never wait.
#[test]
fn flapping_is_suppressed_by_default_through_an_episode() {
    for v in BOTH {
        let mut h = Harness::new();
        known_ok(&mut h, v);
        // An incident opens before the flapping starts.
        assert_eq!(
            h.run([svc(CRITICAL, T0 + 300).changed().json(v)]),
            vec![trig(S)]
        );
        // It flaps: the recovery resolves at once, the next problems wait.
        let episode = [
            svc(OK, T0 + 360).changed().flapping(true).json(v),
            svc(CRITICAL, T0 + 420).changed().flapping(true).json(v),
            svc(OK, T0 + 480).changed().flapping(true).json(v),
            svc(WARNING, T0 + 540).changed().flapping(true).json(v),
        ];
        assert_eq!(h.run(episode), vec![res(S)], "{v:?}");
        let rs = h.state(ResourceId::service(HOST, SVC));
        assert_eq!(rs.held, Some(HoldReason::Flapping), "{v:?}");
        // Flapping stops with the problem still there: it pages.
        let calm = svc(WARNING, T0 + 600)
            .hard_change_at(T0 + 540)
            .flapping(false)
            .json(v);
        assert_eq!(h.run([calm]), vec![trig(S)], "{v:?}");
        // Flapping stops after a recovery: nothing owed.
        let mut h = Harness::new();
        known_ok(&mut h, v);
        let quiet = [
            svc(CRITICAL, T0 + 300).changed().flapping(true).json(v),
            svc(OK, T0 + 360).changed().flapping(true).json(v),
            svc(OK, T0 + 420).hard_change_at(T0 + 360).json(v),
        ];
        assert_eq!(h.run(quiet), vec![], "{v:?}");
    }
}

/// DESIGN §3.4, §4.2 Notifications: BBDO v3 statuses carry no `notify` (nor
/// `max_check_attempts`); the shim adds both to `_cache` from `broker_cache`, which Broker keeps
/// current. Notifications disabled before the daemon started (so it never saw the definition
/// that said so) still hold the trigger, and `max_attempts` is filled.
#[test]
fn v3_notifications_disabled_before_the_daemon_started_hold_the_trigger() {
    let v = V3;
    let with = |notify: bool| {
        let mut c = cache(HOST, SVC);
        c["notify"] = json!(notify);
        c["max_check_attempts"] = json!(5);
        c
    };
    let mut h = Harness::new();
    h.run([svc(OK, T0).with_cache(with(false)).json(v)]);
    let o = h.send(
        svc(CRITICAL, T0 + 300)
            .changed()
            .with_cache(with(false))
            .json(v),
    );
    assert_eq!(sent(&o), vec![]);
    assert!(o.notes.iter().any(|n| matches!(
        n,
        Note::Held {
            reason: HoldReason::NotificationsDisabled,
            ..
        }
    )));
    // Enabled again (Broker's cache says so): the problem still there pages.
    let on = svc(CRITICAL, T0 + 600)
        .hard_change_at(T0 + 300)
        .with_cache(with(true))
        .json(v);
    let o = h.send(on);
    assert_eq!(sent(&o), vec![trig(S)]);
    assert_eq!(payload(&o).custom_details["max_attempts"], 5);
}

/// DESIGN §4.2, First sight: real Engine sends no pending status; a resource it never checked
/// shows up first in its definition (`state` 4, `checked` false), which makes it known: its
/// first check (whose `last_hard_state_change` is its `last_check`) is not a first sight and
/// resolves nothing (fixtures/real-broker-25.05, step a).
#[test]
fn a_never_checked_definition_makes_the_resource_known() {
    for v in BOTH {
        let mut h = Harness::new();
        let mut host_def = definition(v, HOST, 0, true, true, false);
        host_def["checked"] = json!(false);
        h.run([host_def, definition(v, HOST, SVC, true, true, false)]);
        let first = [
            host(UP, T0).changed().json(v),
            svc(OK, T0).changed().json(v),
        ];
        assert_eq!(h.run(first), vec![], "{v:?}: no resolve for a new resource");
        // Its first problem pages like any transition.
        assert_eq!(
            h.run([svc(CRITICAL, T0 + 300).changed().json(v)]),
            vec![trig(S)],
            "{v:?}"
        );
        // A definition of a resource Engine has checked changes nothing of that.
        let mut h = Harness::new();
        let mut checked = definition(v, HOST, SVC, true, true, false);
        checked["state"] = json!(0);
        checked["checked"] = json!(true);
        h.run([checked]);
        assert_eq!(
            h.run([svc(OK, T0).changed().json(v)]),
            vec![res(S)],
            "{v:?}: first sight of a checked resource still closes what the old connectors left"
        );
    }
}

/// DESIGN §4.2, Host first: when the host recovers, Engine puts its still-failing service back
/// to SOFT attempt 1 and retries; the held trigger goes at the service's next HARD status, never
/// at a SOFT one, and nothing is owed if it recovers during its retries
/// (fixtures/real-broker-25.05, step f4).
#[test]
fn a_host_held_service_is_released_at_its_next_hard_status_not_a_soft_one() {
    for v in BOTH {
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.run([host(UP, T0).json(v)]);
        assert_eq!(
            h.run([host(DOWN, T0 + 300).changed().json(v)]),
            vec![trig(H)]
        );
        assert_eq!(h.run([svc(CRITICAL, T0 + 360).changed().json(v)]), vec![]);
        assert_eq!(h.run([host(UP, T0 + 600).changed().json(v)]), vec![res(H)]);
        let retries = [
            svc(CRITICAL, T0 + 610)
                .soft(1)
                .hard_change_at(T0 + 360)
                .json(v),
            svc(CRITICAL, T0 + 620)
                .soft(2)
                .hard_change_at(T0 + 360)
                .json(v),
        ];
        assert_eq!(h.run(retries), vec![], "{v:?}: SOFT retries page nobody");
        let hard = svc(CRITICAL, T0 + 630).hard_change_at(T0 + 360).json(v);
        assert_eq!(h.run([hard]), vec![trig(S)], "{v:?}");

        // Recovered during its retries: nothing owed.
        let mut h = Harness::new();
        known_ok(&mut h, v);
        h.run([host(UP, T0).json(v), host(DOWN, T0 + 300).changed().json(v)]);
        h.run([svc(CRITICAL, T0 + 360).changed().json(v)]);
        h.run([host(UP, T0 + 600).changed().json(v)]);
        let recovered = [
            svc(CRITICAL, T0 + 610)
                .soft(1)
                .hard_change_at(T0 + 360)
                .json(v),
            svc(OK, T0 + 620).changed().json(v),
            svc(OK, T0 + 680).hard_change_at(T0 + 620).json(v),
        ];
        assert_eq!(h.run(recovered), vec![], "{v:?}");
    }
}

/// `centreon-pagerduty resolve`: the incident closes on its pinned keys, nothing stays owed;
/// the same problem state pages nobody again, the next HARD change pages as usual.
#[test]
fn operator_resolve_closes_the_incident_and_owes_nothing() {
    for v in BOTH {
        let mut h = Harness::new();
        open_incident(&mut h, v);
        let id = ResourceId::service(HOST, SVC);
        let o = h
            .engine
            .operator_resolve(&mut h.store, id, T0 + 400)
            .expect("a resolve");
        assert_eq!((o.dedup_key.as_str(), o.action), (S, Action::Resolve));
        let rs = h.state(id);
        assert!(
            rs.incident.is_none() && !rs.owed && rs.held.is_none(),
            "{rs:?}"
        );
        assert!(h.store.changed.contains(&id), "the change is stored");
        assert!(h
            .engine
            .operator_resolve(&mut h.store, id, T0 + 401)
            .is_none());
        let still = svc(CRITICAL, T0 + 600).hard_change_at(T0 + 300).json(v);
        assert_eq!(h.run([still]), vec![], "{v:?}");
        assert_eq!(
            h.run([svc(OK, T0 + 900).changed().json(v)]),
            vec![],
            "{v:?}"
        );
        let again = svc(CRITICAL, T0 + 1200).changed().json(v);
        assert_eq!(h.run([again]), vec![trig(S)], "{v:?}");
    }
}
