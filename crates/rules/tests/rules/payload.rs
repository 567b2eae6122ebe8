//! Payload (DESIGN §4.3): summary, fields, severity, timestamp, custom and legacy details, links.

use crate::support::*;
use serde_json::json;

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
        let body = body_of(&the_trigger(&o));
        let summary = body["payload"]["summary"].as_str().unwrap();
        assert_eq!(summary.chars().count(), 1024, "{v:?}");
        let prefix = "srv-web-01/Disk-/var: CRITICAL - ";
        let expected = format!("{prefix}{}…", "é".repeat(1023 - prefix.len()));
        assert_eq!(summary, expected, "{v:?}");
        // Exactly 1024: not cut.
        let output = "x".repeat(1024 - prefix.len());
        let mut h = Harness::new();
        let o = h.send(svc(CRITICAL, T0).output(&output, "").json(v));
        let body = body_of(&the_trigger(&o));
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
        assert_eq!(body_of(&the_trigger(&o))["payload"].get("group"), None);
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

/// The rules write a trigger's body without building its event (a storm spent a fifth of its
/// time on that): the body must be exactly what serialising the event it holds gives, with
/// nothing sent as null at the top of `custom_details`.
#[test]
fn trigger_body_is_a_canonical_event() {
    let odd = "quote \" backslash \\ tab \t newline \n control \u{1} é 😀 </script>";
    for v in BOTH {
        for legacy in [false, true] {
            for check in [
                svc(CRITICAL, T0).output(odd, odd).perfdata(
                    "used=97%;85;95;0;100 'free space'=3,5GB;;;0; used=98%;80;90 x=1e999",
                ),
                svc(WARNING, T0).output("", "").perfdata(""),
                host(DOWN, T0),
            ] {
                let mut h = Harness::alerts(|a| a.legacy_details = legacy);
                let o = h.send(check.json(v));
                let sent = o
                    .outgoing
                    .iter()
                    .find(|o| o.action == Action::Trigger)
                    .expect("a trigger");
                let event = sent.event().unwrap();
                assert_eq!(sent.body, serde_json::to_string(&event).unwrap(), "{v:?}");
                let details = &event.payload.as_ref().unwrap().custom_details;
                assert!(details.values().all(|d| !d.is_null()), "{details:?}");
                assert_eq!(details.contains_key("Output"), legacy);
            }
        }
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
        let body = body_of(&the_trigger(&o));
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
