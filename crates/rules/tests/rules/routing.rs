//! Routing and dedup keys: routes pinned per incident, the drop route, the dedup key template.

use crate::support::*;
use serde_json::json;

#[test]
fn routing_pinned_per_incident() {
    for v in BOTH {
        let mut h = Harness::with(routed_settings());
        known_ok(&mut h, v);
        let o = h.send(svc(WARNING, T0 + 300).changed().json(v));
        assert_eq!(o.outgoing[0].route, "web");
        assert_eq!(o.outgoing[0].event().unwrap().routing_key, KEY_WEB);

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
            assert_eq!(out.event().unwrap().routing_key, KEY_WEB);
        }
        assert_eq!(
            [sent(&o), sent(&o2), sent(&o3)].concat(),
            vec![trig(S), ack(S), res(S)]
        );
        // The next incident takes today's settings.
        let o = h.send(svc(CRITICAL, T0 + 1200).changed().json(v));
        assert_eq!(o.outgoing[0].dedup_key, "srv-web-01-Disk-/var");
        assert_eq!(o.outgoing[0].route, "default");
        assert_eq!(o.outgoing[0].event().unwrap().routing_key, KEY_DEFAULT);
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
            assert_eq!(o.event().unwrap().routing_key, KEY_DEFAULT);
        }
        // The next incident opens CRITICAL: the critical route.
        let o = h.send(svc(CRITICAL, T0 + 1200).changed().json(v));
        assert_eq!(o.outgoing[0].route, "critical", "{v:?}");
        assert_eq!(o.outgoing[0].event().unwrap().routing_key, KEY_WEB);
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
