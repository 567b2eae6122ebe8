//! `pause` and `resume`: deliveries held across a restart, released by the resume.

use crate::common::*;
use crate::helpers::{cli, open_problem, status_json, stop, wait_delivered, QUIET};
use serde_json::Value;

#[test]
fn pause_holds_deliveries_across_a_restart_and_resume_releases_them() {
    let mock = MockPagerDuty::start();
    let mut d = Daemon::start(Config::new(&mock.url()));
    let o = cli(&d, &["pause", "default"]).expect(0, "pause default");
    assert!(o.stdout.contains("default"), "{}", o.show());

    let mut s = Svc::new(108, 1081);
    let key = s.dedup_key();
    open_problem(&d, &mut s);
    assert!(
        !mock.wait_until(QUIET, |r| !r.is_empty()),
        "delivered while paused\n{}",
        mock.dump()
    );
    let paused_default = |j: &Value| {
        j["paused"].as_array().is_some_and(|p| {
            p.iter()
                .any(|k| k["route"] == "default" && k["routing_key"] == "…0001")
        })
    };
    let j = status_json(&d);
    assert!(
        paused_default(&j),
        "status --json must show the paused key: {j:#}"
    );
    assert_eq!(j["pending"], 1, "{j:#}");
    let o = cli(&d, &["status"]).expect(0, "status");
    assert!(
        o.stdout
            .lines()
            .any(|l| l.contains("default") && l.contains("…0001")),
        "status must show the paused key\n{}",
        o.show()
    );

    // A restart keeps the pause.
    stop(&mut d);
    d.spawn();
    d.wait_ready(WAIT);
    let j = status_json(&d);
    assert!(paused_default(&j), "the pause is lost at restart: {j:#}");
    assert!(
        !mock.wait_until(QUIET, |r| !r.is_empty()),
        "delivered after a restart while paused\n{}",
        mock.dump()
    );

    let o = cli(&d, &["resume", "default"]).expect(0, "resume default");
    assert!(o.stdout.contains("default"), "{}", o.show());
    wait_delivered(&mock, &d, &key, "trigger", 1);
    let j = status_json(&d);
    assert_eq!(j["paused"].as_array().map(Vec::len), Some(0), "{j:#}");

    let o = cli(&d, &["pause", "nosuchroute"]).expect(1, "pause an unknown route");
    assert!(o.stderr.contains("nosuchroute"), "{}", o.show());
    cli(&d, &["pause"]).expect(2, "pause without a route");
}
