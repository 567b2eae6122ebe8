//! 4. Routing keys are never printed whole: in configuration errors and PagerDuty's errors.

use crate::common::*;
use crate::leak_check::{LeakCheck, SECRET};
use crate::output::{cli_env_out, cli_out, Out};
use crate::routing_keys::key_daemon;
use crate::site::wait_delivered;
use serde_json::Value;

/// Configuration errors with the key next to them, in the file or the environment.
#[test]
fn routing_keys_never_appear_in_configuration_errors() {
    let d = Daemon::prepare(Config::new("http://127.0.0.1:9/v2/enqueue"));
    let dir = d.dir.path().display().to_string();
    let tail = format!(
        "[listen]\nsocket = \"{dir}/broker.sock\"\nsocket_group = \"\"\n\n[spool]\ndir = \"{dir}/spool\"\n"
    );
    let bad_char = format!("{}-{}", &SECRET[..16], &SECRET[17..]);
    let cases: [(&str, String, i32); 15] = [
        ("a bad value next to the key in an inline table", format!("pagerduty = {{ routing_key = \"{SECRET}\", timeout = 10 }}\n"), 2),
        ("an unknown key next to the key in an inline table", format!("pagerduty = {{ routing_key = \"{SECRET}\", bogus = 1 }}\n"), 2),
        ("a syntax error on the key's line", format!("[pagerduty]\nrouting_key = \"{SECRET}\" x\n"), 2),
        ("the key unterminated", format!("[pagerduty]\nrouting_key = \"{SECRET}\n"), 2),
        ("the key unquoted", format!("[pagerduty]\nrouting_key = {SECRET}\n"), 2),
        ("the key in an array", format!("[pagerduty]\nrouting_key = [\"{SECRET}\"]\n"), 2),
        ("the key given twice", format!("[pagerduty]\nrouting_key = \"{SECRET}\"\nrouting_key = \"{SECRET}\"\n"), 2),
        ("a key and a key file", format!("[pagerduty]\nrouting_key = \"{SECRET}\"\nrouting_key_file = \"/nonexistent\"\n"), 2),
        ("a bad timeout on the next line", format!("[pagerduty]\nrouting_key = \"{SECRET}\"\ntimeout = \"soon\"\n"), 2),
        ("a key of 33 characters", format!("[pagerduty]\nrouting_key = \"{SECRET}X\"\n"), 0),
        ("a key with a bad character", format!("[pagerduty]\nrouting_key = \"{bad_char}\"\n"), 0),
        ("a route with a key and action drop", format!("[pagerduty]\nrouting_key = \"{SECRET}\"\n\n[[route]]\nname = \"x\"\nrouting_key = \"{SECRET}\"\naction = \"drop\"\n"), 2),
        ("a route with a bad regex next to its key", format!("[pagerduty]\nrouting_key = \"{SECRET}\"\n\n[[route]]\nname = \"x\"\nrouting_key = \"{SECRET}\"\nhosts = [\"(unclosed\"]\n"), 2),
        ("a route with an unknown key next to its key", format!("[pagerduty]\nrouting_key = \"{SECRET}\"\n\n[[route]]\nname = \"x\"\nrouting_key = \"{SECRET}\"\nhostz = [\"a\"]\n"), 2),
        ("a route key of the wrong type", format!("[pagerduty]\nrouting_key = \"{SECRET}\"\n\n[[route]]\nname = \"x\"\nrouting_key = {{ k = \"{SECRET}\" }}\n"), 2),
    ];
    let mut leaks = LeakCheck::default();
    for (what, text, want) in &cases {
        d.write_config_text(&format!("{text}\n{tail}"));
        for args in [
            &["check-config"][..],
            &["check-config", "--json"],
            &["status"],
            &["send-test"],
        ] {
            let o = cli_out(&d, args);
            let o = Out {
                what: format!("{} with {what}", o.what),
                ..o
            };
            if args[0] == "check-config" {
                assert_eq!(o.code, Some(*want), "{}", o.show());
            }
            leaks.out(&o);
        }
        if *want == 2 {
            let o = Out::of(
                &format!("run with {what}"),
                &run_bin(&["run", "-c", &d.config_path.display().to_string()], &[]),
            )
            .expect(2);
            leaks.out(&o);
        }
    }
    // From the environment.
    d.write_config_text(&format!(
        "[pagerduty]\nrouting_key = \"{SECRET}\"\n\n{tail}"
    ));
    let array = format!("[\"{SECRET}\"]");
    let table = format!("{{k = \"{SECRET}\"}}");
    let long = format!("{SECRET}X");
    let env_cases: [&[(&str, &str)]; 5] = [
        &[("CENTREON_PAGERDUTY_PAGERDUTY__ROUTING_KEY", &array)],
        &[("CENTREON_PAGERDUTY_PAGERDUTY__ROUTING_KEY", &table)],
        &[("CENTREON_PAGERDUTY_PAGERDUTY__ROUTING_KEY", &long)],
        &[
            ("CENTREON_PAGERDUTY_PAGERDUTY__ROUTING_KEY", SECRET),
            ("CENTREON_PAGERDUTY_PAGERDUTY__TIMEOUT", "soon"),
        ],
        &[
            ("CENTREON_PAGERDUTY_PAGERDUTY__ROUTING_KEY", SECRET),
            ("CENTREON_PAGERDUTY_PAGERDUTY__BOGUS", "1"),
        ],
    ];
    for env in env_cases {
        for args in [&["check-config"][..], &["check-config", "--json"]] {
            leaks.out(&cli_env_out(&d, args, env));
        }
    }
    leaks.assert_clean();
}

/// PagerDuty (or a proxy in front of it) may quote the key back in its error text: the daemon
/// stores and shows that text (dead letters, last error, log), so it must mask the key in it.
#[test]
fn routing_keys_quoted_back_by_pagerduty_are_masked() {
    let mock = MockPagerDuty::start();
    let mut d = key_daemon(&mock);
    // Names the routing key (a configuration error) only when `what` does.
    let quoted = |what: &str| format!("{what} (integration {SECRET})");
    let mut leaks = LeakCheck::default();

    mock.set_default(Reply::invalid_event(&quoted("payload.summary refused")));
    leaks.out(&cli_out(&d, &["send-test"]).expect(1));
    mock.set_default(Reply::status(
        400,
        serde_json::json!({"status": "invalid event", "message": "Event object is invalid", "errors": [quoted("invalid routing_key")]}),
    ));
    leaks.out(&cli_out(&d, &["send-test"]).expect(1));
    mock.set_default(Reply::status(
        500,
        serde_json::json!({"message": quoted("internal error")}),
    ));
    leaks.out(&cli_out(&d, &["send-test"]).expect(1));
    mock.reset_script();

    d.spawn();
    d.wait_ready(WAIT);
    let mut svcs = [
        Svc::new(9500, 95001),
        Svc::new(9501, 95011),
        Svc::new(9502, 95021),
    ];
    let replies = [
        Reply::status(
            400,
            serde_json::json!({"status": "invalid event", "message": "Event object is invalid", "errors": [quoted("invalid routing_key")]}),
        ),
        Reply::invalid_event(&quoted("payload.summary refused")),
        Reply::status(
            500,
            serde_json::json!({"message": quoted("internal error")}),
        ),
    ];
    for (s, r) in svcs.iter().zip(replies) {
        mock.push_rule(
            Match::DedupAction(s.dedup_key(), "trigger".into()),
            r,
            Some(1),
        );
    }
    let mut lines = Vec::new();
    for s in &mut svcs {
        lines.push(s.first_ok());
        lines.push(s.critical("CRITICAL: quoted"));
    }
    d.post_ok(&lines);
    wait_delivered(&mock, &d, &svcs[0].dedup_key(), "trigger");
    wait_delivered(&mock, &d, &svcs[2].dedup_key(), "trigger");
    let letters = || -> Vec<Value> {
        cli_out(&d, &["dead-letters", "list", "--json"])
            .expect(0)
            .json()["dead_letters"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    assert!(poll_until(WAIT, || letters().len() == 1), "{:?}", letters());
    let id = letters()[0]["id"].as_i64().unwrap().to_string();
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["status", "--nagios"],
        &["dead-letters", "list"],
        &["dead-letters", "list", "--json"],
        &["dead-letters", "show", &id],
    ] {
        leaks.out(&cli_out(&d, args));
    }
    for p in ["/v1/status", "/v1/dead-letters", "/metrics"] {
        leaks.check(
            &format!("GET {p}"),
            &d.request("GET", p, b"").unwrap().text(),
        );
    }
    d.sigterm(WAIT);
    leaks.check("the daemon's log", &d.logs());
    leaks.assert_clean();
}

/// An operator who pastes the key itself into `routing_key_file` must not see it echoed back as
/// a file name.
#[test]
fn a_key_pasted_into_routing_key_file_is_not_echoed() {
    let d = Daemon::prepare(
        Config::new("http://127.0.0.1:9/v2/enqueue")
            .unset("pagerduty", "routing_key")
            .set_str("pagerduty", "routing_key_file", SECRET),
    );
    let mut leaks = LeakCheck::default();
    for args in [
        &["check-config"][..],
        &["check-config", "--json"],
        &["send-test"],
    ] {
        let o = cli_out(&d, args);
        assert_eq!(o.code, Some(2), "{}", o.show());
        leaks.out(&o);
    }
    // Commands that send nothing do not need the key: they warn and go on (here: no daemon).
    let o = cli_out(&d, &["status"]);
    assert_ne!(o.code, Some(0), "{}", o.show());
    leaks.out(&o);
    let o = Out::of(
        "run",
        &run_bin(&["run", "-c", &d.config_path.display().to_string()], &[]),
    )
    .expect(2);
    leaks.out(&o);
    leaks.assert_clean();
}
