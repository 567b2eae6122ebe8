//! One test per rule of DESIGN §4.2 (and the payload of §4.3), fed with raw Broker events as
//! the shim posts them (JSON lines through `broker::normalise_line`), BBDO v2 and v3 alike
//! where the rule applies to statuses.
//!
//! BBDO v2 lines omit zero ids and times and carry `output` = `"first\nlong\n"`; BBDO v3 lines
//! carry every field, `long_output` separately (hosts: the long output in `output`, Engine's
//! quirk), and no `last_update`, `max_check_attempts` nor `notify` in statuses.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

mod support;
use serde_json::json;
use support::*;

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

// ---------------------------------------------------------------------------------------------
// Resolve.
// ---------------------------------------------------------------------------------------------

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
        let body: Value = serde_json::from_slice(&o.outgoing[0].event.to_body()).unwrap();
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

// ---------------------------------------------------------------------------------------------
// First sight.
// ---------------------------------------------------------------------------------------------

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
        assert_eq!(o.outgoing[0].event.routing_key, KEY_WEB);
        // Hosts: an UP that changed at this check.
        let o = h.send(host(UP, T0).changed().json(v));
        assert_eq!(sent(&o), vec![res(H)], "{v:?}");
        // Without the cache, the default route.
        let mut h = Harness::with(routed_settings());
        let o = h.send(svc(OK, T0).changed().no_cache().json(v));
        assert_eq!(sent(&o), vec![res(S)], "{v:?}");
        assert_eq!(o.outgoing[0].route, "default");
        assert_eq!(o.outgoing[0].event.routing_key, KEY_DEFAULT);
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

// ---------------------------------------------------------------------------------------------
// Host first.
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Downtime.
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Flapping and notifications.
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Acknowledgement.
// ---------------------------------------------------------------------------------------------

#[test]
fn acknowledgement_event_acknowledges_once() {
    for v in BOTH {
        let mut h = Harness::new();
        open_incident(&mut h, v);
        let o = h.send(ack_event(v, HOST, SVC, T0 + 400, false, CRITICAL));
        assert_eq!(sent(&o), vec![ack(S)], "{v:?}");
        // acknowledge carries routing key, dedup key and action only.
        let body: Value = serde_json::from_slice(&o.outgoing[0].event.to_body()).unwrap();
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

// ---------------------------------------------------------------------------------------------
// Replays and clocks.
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Routing and dedup keys.
// ---------------------------------------------------------------------------------------------

#[test]
fn routing_pinned_per_incident() {
    for v in BOTH {
        let mut h = Harness::with(routed_settings());
        known_ok(&mut h, v);
        let o = h.send(svc(WARNING, T0 + 300).changed().json(v));
        assert_eq!(o.outgoing[0].route, "web");
        assert_eq!(o.outgoing[0].event.routing_key, KEY_WEB);

        // The configuration changes (restart with new routes and a new dedup key template).
        let mut settings = Settings {
            default_target: Target::Key(Some(KEY_DEFAULT.into())),
            ..Settings::default()
        };
        settings.alerts.dedup_key = Template::parse("{host}-{service}").unwrap();
        h.engine = Engine::new(settings);

        // A later trigger, an acknowledge and the resolve all use the pinned keys.
        let o = h.send(svc(CRITICAL, T0 + 600).changed().json(v));
        let o2 = h.send(ack_event(v, HOST, SVC, T0 + 700, true, CRITICAL));
        let o3 = h.send(svc(OK, T0 + 900).changed().json(v));
        for out in o.outgoing.iter().chain(&o2.outgoing).chain(&o3.outgoing) {
            assert_eq!(out.dedup_key, S, "{v:?}");
            assert_eq!(out.route, "web");
            assert_eq!(out.routing_key.as_deref(), Some(KEY_WEB));
            assert_eq!(out.event.routing_key, KEY_WEB);
        }
        assert_eq!(
            [sent(&o), sent(&o2), sent(&o3)].concat(),
            vec![trig(S), ack(S), res(S)]
        );
        // The next incident takes today's settings.
        let o = h.send(svc(CRITICAL, T0 + 1200).changed().json(v));
        assert_eq!(o.outgoing[0].dedup_key, "srv-web-01-Disk-/var");
        assert_eq!(o.outgoing[0].route, "default");
        assert_eq!(o.outgoing[0].event.routing_key, KEY_DEFAULT);
    }
}

/// A route chosen by state: the incident keeps the route it opened on when its state moves
/// into another route's criteria.
#[test]
fn routing_pinned_when_state_changes_route() {
    for v in BOTH {
        let settings = Settings {
            routes: vec![route(
                "critical",
                KEY_WEB,
                Criteria {
                    states: vec!["critical".into()],
                    ..Default::default()
                },
            )],
            default_target: Target::Key(Some(KEY_DEFAULT.into())),
            ..Settings::default()
        };
        let mut h = Harness::with(settings);
        known_ok(&mut h, v);
        let episode = [
            h.send(svc(WARNING, T0 + 300).changed().json(v)),
            h.send(svc(CRITICAL, T0 + 600).changed().json(v)),
            h.send(svc(OK, T0 + 900).changed().json(v)),
        ];
        let outs: Vec<_> = episode.iter().flat_map(|o| &o.outgoing).collect();
        assert_eq!(outs.len(), 3, "{v:?}");
        for o in outs {
            assert_eq!(o.route, "default", "{v:?}");
            assert_eq!(o.event.routing_key, KEY_DEFAULT);
        }
        // The next incident opens CRITICAL: the critical route.
        let o = h.send(svc(CRITICAL, T0 + 1200).changed().json(v));
        assert_eq!(o.outgoing[0].route, "critical", "{v:?}");
        assert_eq!(o.outgoing[0].event.routing_key, KEY_WEB);
    }
}

#[test]
fn drop_route_sends_nothing() {
    for v in BOTH {
        let mut settings = routed_settings();
        settings.routes.insert(
            0,
            Route {
                name: "lab".into(),
                target: Target::Drop,
                criteria: Criteria {
                    hosts: vec![anchored_regex("srv-.*").unwrap()],
                    ..Default::default()
                },
            },
        );
        let mut h = Harness::with(settings);
        known_ok(&mut h, v);
        let o = h.send(svc(CRITICAL, T0 + 300).changed().json(v));
        assert_eq!(sent(&o), vec![], "{v:?}");
        assert!(o
            .notes
            .iter()
            .any(|n| matches!(n, Note::Dropped { route, .. } if route == "lab")));
        let rest = [
            svc(CRITICAL, T0 + 600).hard_change_at(T0 + 300).json(v),
            ack_event(v, HOST, SVC, T0 + 700, false, CRITICAL),
            svc(OK, T0 + 900).changed().json(v),
            // First sight of an OK on a dropped route: no resolve either.
            svc(OK, T0).changed().of(HOST, 8).json(v),
        ];
        assert_eq!(h.run(rest), vec![], "{v:?}");
        // Other hosts still page.
        h.run([svc(OK, T0).of(43, 9).json(v)]);
        assert_eq!(
            h.run([svc(CRITICAL, T0 + 300).changed().of(43, 9).json(v)]),
            vec![trig("43_9")]
        );
    }
}

#[test]
fn dedup_key_template_and_hashing() {
    // Default: Centreon's own keys.
    let mut h = Harness::new();
    assert_eq!(h.run([svc(CRITICAL, T0).json(V2)]), vec![trig("42_7")]);
    assert_eq!(h.run([host(DOWN, T0).json(V2)]), vec![trig("42_H")]);

    // Every placeholder.
    let mut settings = Settings::default();
    settings.alerts.dedup_key =
        Template::parse("{platform}:{host_id}:{service_id}:{host}:{service}").unwrap();
    settings.centreon.platform = "paris".into();
    let mut h = Harness::with(settings.clone());
    assert_eq!(
        h.run([svc(CRITICAL, T0).json(V3)]),
        vec![trig("paris:42:7:srv-web-01:Disk-/var")]
    );
    assert_eq!(
        h.run([host(DOWN, T0).json(V3)]),
        vec![trig("paris:42:H:srv-web-01:")]
    );

    // Over 255 UTF-8 bytes: sha256- and 64 lowercase hex digits, the same for every event of
    // the incident.
    let long_name = "é".repeat(130); // 260 bytes
    let mut c = cache(HOST, SVC);
    c["host_name"] = json!(long_name);
    let mut settings = Settings::default();
    settings.alerts.dedup_key = Template::parse("{host}").unwrap();
    let mut h = Harness::with(settings);
    let out = h.run([
        svc(CRITICAL, T0).with_cache(c.clone()).json(V2),
        svc(OK, T0 + 300).changed().with_cache(c).json(V2),
    ]);
    assert_eq!(out.len(), 2);
    let key = &out[0].0;
    assert_eq!(key, &out[1].0);
    assert_eq!(key.len(), 7 + 64, "{key}");
    assert!(key.starts_with("sha256-"));
    assert!(key[7..]
        .chars()
        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
    assert_eq!(key, &pagerduty::dedup_key_within_limit(&long_name));
    // Exactly 255 bytes: kept as is.
    let name = "x".repeat(255);
    let mut c = cache(HOST, SVC);
    c["host_name"] = json!(name);
    let mut settings = Settings::default();
    settings.alerts.dedup_key = Template::parse("{host}").unwrap();
    let mut h = Harness::with(settings);
    assert_eq!(
        h.run([svc(CRITICAL, T0).with_cache(c).json(V2)]),
        vec![trig(&name)]
    );
}

// ---------------------------------------------------------------------------------------------
// Payload (DESIGN §4.3).
// ---------------------------------------------------------------------------------------------

fn body_of(event: &pagerduty::Event) -> Value {
    serde_json::from_slice(&event.to_body()).unwrap()
}

#[test]
fn payload_summary_with_and_without_output() {
    for v in BOTH {
        let mut h = Harness::new();
        let o = h.send(
            svc(CRITICAL, T0)
                .output("DISK CRITICAL - /var 97%", "/var/log 12G\n/var/lib 40G")
                .json(v),
        );
        assert_eq!(
            payload(&o).summary,
            "srv-web-01/Disk-/var: CRITICAL - DISK CRITICAL - /var 97%",
            "{v:?}"
        );
        let mut h = Harness::new();
        let o = h.send(svc(UNKNOWN, T0).output("", "").json(v));
        assert_eq!(
            payload(&o).summary,
            "srv-web-01/Disk-/var: UNKNOWN",
            "{v:?}"
        );
        let mut h = Harness::new();
        let o = h.send(
            host(DOWN, T0)
                .output("PING CRITICAL", "arp: incomplete")
                .json(v),
        );
        assert_eq!(
            payload(&o).summary,
            "srv-web-01: DOWN - PING CRITICAL",
            "{v:?}"
        );
        let mut h = Harness::new();
        let o = h.send(host(UNREACHABLE, T0).output("", "").json(v));
        assert_eq!(payload(&o).summary, "srv-web-01: UNREACHABLE", "{v:?}");
    }
}

#[test]
fn payload_summary_cut_at_1024_characters() {
    for v in BOTH {
        let mut h = Harness::new();
        let output = "é".repeat(2000);
        let o = h.send(svc(CRITICAL, T0).output(&output, "").json(v));
        let body = body_of(the_trigger(&o));
        let summary = body["payload"]["summary"].as_str().unwrap();
        assert_eq!(summary.chars().count(), 1024, "{v:?}");
        let prefix = "srv-web-01/Disk-/var: CRITICAL - ";
        let expected = format!("{prefix}{}…", "é".repeat(1023 - prefix.len()));
        assert_eq!(summary, expected, "{v:?}");
        // Exactly 1024: not cut.
        let output = "x".repeat(1024 - prefix.len());
        let mut h = Harness::new();
        let o = h.send(svc(CRITICAL, T0).output(&output, "").json(v));
        let body = body_of(the_trigger(&o));
        let summary = body["payload"]["summary"].as_str().unwrap();
        assert_eq!(summary, format!("{prefix}{output}"));
    }
}

#[test]
fn payload_host_vs_service_fields() {
    for v in BOTH {
        let mut h = Harness::new();
        let o = h.send(svc(CRITICAL, T0).json(v));
        let p = payload(&o);
        assert_eq!(p.source, "srv-web-01");
        assert_eq!(p.component.as_deref(), Some("Disk-/var"));
        assert_eq!(p.group.as_deref(), Some("Web, Linux"));
        assert_eq!(p.class.as_deref(), Some("service"));
        let mut h = Harness::new();
        let o = h.send(host(DOWN, T0).json(v));
        let p = payload(&o);
        assert_eq!(p.source, "srv-web-01");
        assert_eq!(p.component.as_deref(), Some("srv-web-01"));
        assert_eq!(p.group.as_deref(), Some("Web, Linux"));
        assert_eq!(p.class.as_deref(), Some("host"));
        // No hostgroups: no group.
        let mut h = Harness::new();
        let o = h.send(svc(CRITICAL, T0).no_cache().json(v));
        let p = payload(&o);
        assert_eq!(p.group, None, "{v:?}");
        assert_eq!(body_of(the_trigger(&o))["payload"].get("group"), None);
        // [centreon].source overrides the source.
        let mut settings = Settings::default();
        settings.centreon.source = Some("centreon-paris".into());
        let mut h = Harness::with(settings);
        let o = h.send(svc(CRITICAL, T0).json(v));
        assert_eq!(payload(&o).source, "centreon-paris");
    }
}

#[test]
fn payload_severity_mapping() {
    for v in BOTH {
        let mut h = Harness::new();
        let sev = |h: &mut Harness, c: Check| payload(&h.send(c.json(v))).severity;
        assert_eq!(sev(&mut h, host(DOWN, T0).of(1, 0)), Severity::Critical);
        assert_eq!(sev(&mut h, host(UNREACHABLE, T0).of(2, 0)), Severity::Error);
        assert_eq!(sev(&mut h, svc(CRITICAL, T0).of(3, 1)), Severity::Critical);
        assert_eq!(sev(&mut h, svc(WARNING, T0).of(3, 2)), Severity::Warning);
        assert_eq!(sev(&mut h, svc(UNKNOWN, T0).of(3, 3)), Severity::Error);
        let mut settings = Settings::default();
        settings.alerts.severity.service_warning = Severity::Info;
        settings.alerts.severity.host_down = Severity::Error;
        let mut h = Harness::with(settings);
        assert_eq!(sev(&mut h, svc(WARNING, T0).of(3, 2)), Severity::Info);
        assert_eq!(sev(&mut h, host(DOWN, T0).of(1, 0)), Severity::Error);
    }
}

#[test]
fn payload_timestamp_is_event_time() {
    for v in BOTH {
        let mut h = Harness::new();
        h.now = T0 + 9999;
        let o = h.send(svc(CRITICAL, T0).json(v));
        assert_eq!(
            payload(&o).timestamp.as_deref(),
            Some("2026-06-09T10:13:20Z"),
            "{v:?}: last_check"
        );
        assert_eq!(o.outgoing[0].event_time, T0);
    }
    // v2 without last_check: last_update.
    let mut h = Harness::new();
    h.now = T0 + 9999;
    let mut e = svc(CRITICAL, T0).json(V2);
    e.as_object_mut().unwrap().remove("last_check");
    e["last_update"] = json!(T0 + 60);
    let o = h.send(e);
    assert_eq!(
        payload(&o).timestamp.as_deref(),
        Some("2026-06-09T10:14:20Z")
    );
    // Neither (v2 absent, v3 zero): the daemon's receive time.
    for v in BOTH {
        let mut h = Harness::new();
        h.now = T0 + 120;
        let mut e = svc(CRITICAL, 0).json(v);
        e.as_object_mut().unwrap().remove("last_update");
        let o = h.send(e);
        assert_eq!(
            payload(&o).timestamp.as_deref(),
            Some("2026-06-09T10:15:20Z"),
            "{v:?}"
        );
    }
}

#[test]
fn payload_custom_details() {
    for v in BOTH {
        let check = svc(CRITICAL, T0)
            .output("DISK CRITICAL - /var 97%", "/var/log 12G\n/var/lib 40G")
            .perfdata("used=97%;85;95;0;100 'free space'=3,5GB;;;0; used=98%;80;90")
            .soft(1);
        let mut h = Harness::alerts(|a| a.hard_only = false);
        let o = h.send(check.json(v));
        let d = &payload(&o).custom_details;
        assert_eq!(d["output"], "DISK CRITICAL - /var 97%", "{v:?}");
        assert_eq!(d["long_output"], "/var/log 12G\n/var/lib 40G", "{v:?}");
        assert_eq!(d["state"], "CRITICAL");
        assert_eq!(d["state_type"], "SOFT");
        assert_eq!(d["attempt"], 1);
        match v {
            V2 => assert_eq!(d["max_attempts"], 3),
            // v3 statuses carry no max_check_attempts: absent values are left out.
            V3 => assert!(!d.contains_key("max_attempts")),
        }
        assert_eq!(d["host_id"], 42);
        assert_eq!(d["service_id"], 7);
        assert_eq!(d["hostgroups"], json!(["Web", "Linux"]));
        assert_eq!(d["servicegroups"], json!(["Frontends"]));
        assert_eq!(d["host_severity"], 2);
        assert_eq!(d["service_severity"], 3);
        assert_eq!(d["poller"], "Central");
        assert_eq!(
            d["perfdata"],
            "used=97%;85;95;0;100 'free space'=3,5GB;;;0; used=98%;80;90"
        );
        assert_eq!(d["action_url"], "https://grafana.example.com/d/disk");
        assert!(!d.contains_key("notes_url"));
        // Metrics: a repeated label, the last wins; warn/crit raw; comma decimals.
        let m = &d["metrics"];
        assert_eq!(
            m["used"],
            json!({"value": 98.0, "uom": "%", "warn": "80", "crit": "90", "min": null, "max": null}),
            "{v:?}"
        );
        assert_eq!(m["free space"]["value"], 3.5);
        assert_eq!(m["free space"]["uom"], "GB");
        assert_eq!(m["free space"]["min"], 0.0);
        assert_eq!(m.as_object().unwrap().len(), 2);
        // Not legacy.
        assert!(!d.contains_key("Hostgroups"));

        // Hosts: service_id 0, the host's notes_url.
        let mut h = Harness::new();
        let o = h.send(host(DOWN, T0).json(v));
        let d = &payload(&o).custom_details;
        assert_eq!(d["service_id"], 0);
        assert_eq!(d["state"], "DOWN");
        assert_eq!(d["state_type"], "HARD");
        assert_eq!(d["notes_url"], "https://wiki.example.com/hosts/srv-web-01");
        assert_eq!(d["metrics"]["rta"]["value"], 0.263);
        assert_eq!(d["metrics"]["rta"]["warn"], "3000.000");
    }
}

#[test]
fn payload_legacy_details() {
    for v in BOTH {
        let mut h = Harness::alerts(|a| a.legacy_details = true);
        let o = h.send(svc(CRITICAL, T0).json(v));
        let d = &payload(&o).custom_details;
        assert_eq!(d["Hostgroups"], "Web, Linux");
        assert_eq!(d["Servicegroups"], "Frontends");
        assert_eq!(d["Hostseverity"], 2);
        assert_eq!(d["Serviceseverity"], 3);
        assert_eq!(d["Output"], "DISK CRITICAL - /var 97%");
        // The new keys stay.
        assert_eq!(d["output"], "DISK CRITICAL - /var 97%");
    }
}

#[test]
fn payload_links_and_client() {
    for v in BOTH {
        let mut settings = Settings::default();
        settings.centreon.url = "https://centreon.example.com/".into();
        let mut h = Harness::with(settings.clone());
        let o = h.send(svc(CRITICAL, T0).json(v));
        let e = the_trigger(&o);
        let hrefs: Vec<_> = e.links.iter().map(|l| l.href.as_str()).collect();
        assert_eq!(
            hrefs,
            [
                "https://centreon.example.com/centreon/main.php?p=20201&o=svcd&host_name=srv-web-01&service_description=Disk-%2Fvar",
                "https://grafana.example.com/d/disk",
            ],
            "{v:?}"
        );
        assert_eq!(e.client.as_deref(), Some("Centreon"));
        assert_eq!(
            e.client_url.as_deref(),
            Some("https://centreon.example.com/")
        );

        let mut h = Harness::with(settings);
        let o = h.send(host(DOWN, T0).json(v));
        let e = the_trigger(&o);
        let hrefs: Vec<_> = e.links.iter().map(|l| l.href.as_str()).collect();
        assert_eq!(
            hrefs,
            [
                "https://centreon.example.com/centreon/main.php?p=20202&o=hd&host_name=srv-web-01",
                "https://wiki.example.com/hosts/srv-web-01",
            ],
            "{v:?}"
        );
        // Without notes/action URLs: the Centreon link only.
        let mut h = Harness::new();
        let o = h.send(svc(CRITICAL, T0).no_cache().json(v));
        assert_eq!(the_trigger(&o).links.len(), 1);
        let body = body_of(the_trigger(&o));
        assert_eq!(body["client"], "Centreon");
        assert_eq!(body["client_url"], "https://centreon.example.com");
    }
}

#[test]
fn names_from_cache_then_definitions_then_ids() {
    for v in BOTH {
        // No cache, no definition: ids.
        let mut h = Harness::new();
        let o = h.send(svc(CRITICAL, T0).no_cache().json(v));
        let p = payload(&o);
        assert_eq!(
            p.summary,
            "host #42/service #7: CRITICAL - DISK CRITICAL - /var 97%"
        );
        assert_eq!(p.source, "host #42");
        // Definitions seen earlier.
        let mut h = Harness::new();
        h.run([
            definition(v, HOST, 0, true, true, false),
            definition(v, HOST, SVC, true, true, false),
        ]);
        let o = h.send(svc(CRITICAL, T0).no_cache().json(v));
        let p = payload(&o);
        assert_eq!(
            p.summary,
            "srv-web-01/Disk-/var: CRITICAL - DISK CRITICAL - /var 97%"
        );
        // The cache wins.
        let mut c = cache(HOST, SVC);
        c["host_name"] = json!("renamed");
        let mut h = Harness::new();
        h.run([definition(v, HOST, 0, true, true, false)]);
        let o = h.send(svc(CRITICAL, T0).with_cache(c).json(v));
        assert_eq!(payload(&o).source, "renamed");
    }
}

// ---------------------------------------------------------------------------------------------
// What must be persisted.
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// What a real Centreon Engine + Broker 25.05 does (fixtures/real-broker-25.05) and what the old
// connectors and Engine agree on.
// ---------------------------------------------------------------------------------------------

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
