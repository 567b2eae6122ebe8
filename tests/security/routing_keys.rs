//! 4. Routing keys are never printed whole: by the CLI, the API and the log.

use crate::common::*;
use crate::leak_check::{LeakCheck, FILE_SECRET, FILE_SECRET_MASKED, SECRET, SECRET_MASKED};
use crate::output::{cli_env_out, cli_out, Out};
use crate::site::{chmod, wait_delivered};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Routes `ops` (same key as `[pagerduty]`) and `files` (its key from a file).
fn key_routes(dir: &Path) -> String {
    format!(
        r#"
[[route]]
name = "ops"
routing_key = "{SECRET}"
hosts = ["ops-.*"]

[[route]]
name = "files"
routing_key_file = "{}"
hosts = ["files-.*"]
"#,
        dir.join("files.key").display()
    )
}

fn key_config(url: &str) -> Config {
    Config::new(url)
        .set_str("pagerduty", "routing_key", SECRET)
        .set_str("log", "level", "trace")
}

/// A daemon (any user) with the secret keys on three routes, the file key written 0600.
pub(crate) fn key_daemon(mock: &MockPagerDuty) -> Daemon {
    let d = Daemon::prepare(key_config(&mock.url()));
    let key_file = d.dir.path().join("files.key");
    std::fs::write(&key_file, format!("{FILE_SECRET}\n")).unwrap();
    chmod(&key_file, 0o600);
    d.write_config_text(&format!(
        "{}{}",
        key_config(&mock.url()).render(d.dir.path()),
        key_routes(d.dir.path())
    ));
    d
}

fn svc_on(host_prefix: &str, host_id: u64, service_id: u64) -> Svc {
    let mut s = Svc::new(host_id, service_id);
    s.host = format!("{host_prefix}-host-{host_id}");
    s
}

#[test]
fn routing_keys_never_appear_whole() {
    let mock = MockPagerDuty::start();
    let mut d = key_daemon(&mock);
    let mut leaks = LeakCheck::default();

    // Offline first: check-config and translate.
    let o = cli_out(&d, &["check-config"]).expect(0);
    assert!(
        o.stdout.contains(SECRET_MASKED) && o.stdout.contains(FILE_SECRET_MASKED),
        "the masked keys must be shown\n{}",
        o.show()
    );
    leaks.out(&o);
    // JSON: the effective values as configured (the file's key is not among them).
    let o = cli_out(&d, &["check-config", "--json"]).expect(0);
    assert_eq!(
        o.json()["pagerduty"]["routing_key"],
        SECRET_MASKED,
        "{}",
        o.show()
    );
    leaks.out(&o);
    let input = d.dir.path().join("translate.ndjson");
    let (mut a, mut b, mut c) = (
        svc_on("ops", 9400, 94001),
        svc_on("files", 9401, 94011),
        Svc::new(9402, 94021),
    );
    std::fs::write(
        &input,
        ndjson(&[
            a.first_ok(),
            a.critical("CRITICAL: ops"),
            b.first_ok(),
            b.critical("CRITICAL: files"),
            c.first_ok(),
            c.critical("CRITICAL: default"),
            a.recover(),
            "not json at all".to_owned(),
        ]),
    )
    .unwrap();
    let fixture = fixtures_dir().join("v2_service_lifecycle/shim.ndjson");
    let o = cli_out(
        &d,
        &[
            "translate",
            &input.display().to_string(),
            &fixture.display().to_string(),
        ],
    );
    assert!(
        o.stdout.contains(SECRET_MASKED) && o.stdout.contains(FILE_SECRET_MASKED),
        "translate must show the masked keys\n{}",
        o.show()
    );
    leaks.out(&o);

    // send-test against every kind of answer.
    let send_tests: [&[&str]; 6] = [
        &["send-test"],
        &["send-test", "--route", "ops"],
        &["send-test", "--route", "files"],
        &["send-test", "--all"],
        &["send-test", "--resolve"],
        &["send-test", "--all", "--resolve"],
    ];
    let answers: [(&str, Option<Reply>); 8] = [
        ("202", None),
        ("400 routing key", Some(Reply::invalid_routing_key())),
        (
            "400 other",
            Some(Reply::invalid_event("payload.severity is invalid")),
        ),
        ("429", Some(Reply::throttled())),
        (
            "500",
            Some(Reply::status(
                500,
                serde_json::json!({"status": "error", "message": "internal"}),
            )),
        ),
        (
            "401",
            Some(Reply::status(
                401,
                serde_json::json!({"status": "unauthorized"}),
            )),
        ),
        ("closed", Some(Reply::Close)),
        (
            "timeout",
            Some(Reply::delay(Duration::from_secs(3), Reply::Accept)),
        ),
    ];
    for (name, reply) in &answers {
        for args in send_tests {
            if *name == "timeout" && args.len() > 1 {
                continue; // 2 s each: once is enough
            }
            mock.reset_script();
            if let Some(r) = reply {
                mock.set_default(r.clone());
            }
            let o = cli_out(&d, args);
            let o = Out {
                what: format!("{} (PagerDuty: {name})", o.what),
                ..o
            };
            let want = i32::from(*name != "202");
            assert_eq!(o.code, Some(want), "{}", o.show());
            if *name == "202" && args == ["send-test"] {
                assert!(o.stdout.contains(SECRET_MASKED), "{}", o.show());
            }
            if *name == "400 routing key" && args == ["send-test"] {
                assert!(o.stderr.contains(SECRET_MASKED), "{}", o.show());
            }
            leaks.out(&o);
        }
    }
    mock.reset_script();
    let o = cli_env_out(
        &d,
        &["send-test", "--all"],
        &[(
            "CENTREON_PAGERDUTY_PAGERDUTY__URL",
            "http://127.0.0.1:9/v2/enqueue",
        )],
    )
    .expect(1);
    leaks.out(&o);
    let sent: Vec<String> = mock
        .requests()
        .iter()
        .filter_map(|r| r.routing_key().map(str::to_owned))
        .collect();
    assert!(
        sent.iter().any(|k| k == SECRET) && sent.iter().any(|k| k == FILE_SECRET),
        "the real keys must reach PagerDuty: {sent:?}"
    );

    // The daemon, with PagerDuty refusing some of it.
    mock.reset_script();
    let start = mock.count();
    d.spawn();
    d.wait_ready(WAIT);
    let refusal = "payload.summary refused by the security e2e mock";
    let mut svcs = [
        Svc::new(9410, 94101), // 400 naming the routing key: paused, probed, delivered
        Svc::new(9411, 94111), // 400 other: dead letter
        Svc::new(9412, 94121), // 429
        Svc::new(9413, 94131), // 500
        svc_on("ops", 9414, 94141), // closed without an answer
        svc_on("files", 9415, 94151), // 400 other: dead letter, the file's key
        svc_on("ops", 9416, 94161), // delivered
    ];
    let rules: [Option<Reply>; 7] = [
        Some(Reply::invalid_routing_key()),
        Some(Reply::invalid_event(refusal)),
        Some(Reply::throttled()),
        Some(Reply::status(500, serde_json::json!({"status": "error"}))),
        Some(Reply::Close),
        Some(Reply::invalid_event(refusal)),
        None,
    ];
    for (s, r) in svcs.iter().zip(&rules) {
        if let Some(r) = r {
            mock.push_rule(
                Match::DedupAction(s.dedup_key(), "trigger".into()),
                r.clone(),
                Some(1),
            );
        }
    }
    let mut lines = Vec::new();
    for s in &mut svcs {
        lines.push(s.first_ok());
        lines.push(s.critical("CRITICAL: keys"));
    }
    d.post_ok(&lines);
    // Every trigger ends up delivered, or dead-lettered.
    let dead: Vec<String> = [&svcs[1], &svcs[5]].iter().map(|s| s.dedup_key()).collect();
    let settled = || {
        let reqs = mock.requests();
        svcs.iter().all(|s| {
            let key = s.dedup_key();
            reqs[start..].iter().any(|r| {
                r.dedup_key() == Some(key.as_str())
                    && r.action() == Some("trigger")
                    && (r.delivered() || (dead.contains(&key) && r.status == Some(400)))
            })
        })
    };
    assert!(
        poll_until(WAIT, settled),
        "not every trigger settled\n{}\n{}",
        mock.dump(),
        d.log_tail(60)
    );
    let letters = || -> Vec<Value> {
        cli_out(&d, &["dead-letters", "list", "--json"])
            .expect(0)
            .json()["dead_letters"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    assert!(poll_until(WAIT, || letters().len() == 2), "{:?}", letters());

    // An operator pause: the paused key is shown, masked.
    cli_out(&d, &["pause", "ops"]).expect(0);
    let o = cli_out(&d, &["status"]).expect(0);
    assert!(
        o.stdout.contains(SECRET_MASKED),
        "status must show the paused key masked\n{}",
        o.show()
    );
    leaks.out(&o);
    let o = cli_out(&d, &["status", "--json"]).expect(0);
    assert!(o.stdout.contains(SECRET_MASKED), "{}", o.show());
    leaks.out(&o);
    leaks.out(&cli_out(&d, &["status", "--nagios"]));
    leaks.out(&cli_out(&d, &["resume", "ops"]).expect(0));

    let mut resolves = Vec::new();
    for s in &mut svcs {
        resolves.push(s.recover());
    }
    d.post_ok(&resolves);
    for s in &svcs {
        wait_delivered(&mock, &d, &s.dedup_key(), "resolve");
    }

    for args in [
        &["status"][..],
        &["status", "--json"],
        &["status", "--nagios"],
        &["incidents"],
        &["incidents", "--json"],
        &["dead-letters", "list"],
        &["dead-letters", "list", "--json"],
    ] {
        leaks.out(&cli_out(&d, args));
    }
    let ids: Vec<String> = letters()
        .iter()
        .filter_map(|l| l["id"].as_i64().map(|i| i.to_string()))
        .collect();
    let mut shown = String::new();
    for id in &ids {
        let o = cli_out(&d, &["dead-letters", "show", id]).expect(0);
        shown.push_str(&o.stdout);
        leaks.out(&o);
    }
    assert!(
        shown.contains(SECRET_MASKED) && shown.contains(FILE_SECRET_MASKED),
        "dead-letters show must show the masked keys:\n{shown}"
    );
    let mut paths = vec![
        "/metrics".to_owned(),
        "/v1/status".into(),
        "/v1/incidents".into(),
        "/v1/dead-letters".into(),
        "/v1/health".into(),
    ];
    paths.extend(ids.iter().map(|id| format!("/v1/dead-letters/{id}")));
    for p in &paths {
        let r = d.request("GET", p, b"").unwrap();
        assert_eq!(r.status, 200, "GET {p}: {}", r.text());
        leaks.check(&format!("GET {p}"), &r.text());
    }
    // The same after a restart (keys seen in the spool, not the config), then read-only.
    let status = d.sigterm(WAIT);
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    for args in [
        &["status", "--json"][..],
        &["incidents"],
        &["dead-letters", "list", "--json"],
        &["dead-letters", "show", &ids[0]],
    ] {
        let o = cli_out(&d, args);
        assert!(o.says_read_only(), "{}", o.show());
        leaks.out(&o);
    }

    let log = d.logs();
    assert!(
        log.contains(SECRET_MASKED),
        "the log should name the refused key by its masked form\n{log}"
    );
    leaks.check("the daemon's log (level trace)", &log);
    leaks.assert_clean();
}
