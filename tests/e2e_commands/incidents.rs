//! `incidents` and `resolve`: the open incidents follow triggers and resolves; by key, `--stale`.

use crate::common::*;
use crate::helpers::{cli, incident_keys, incidents, open_problem, received, wait_delivered};

#[test]
fn incidents_follow_trigger_and_resolve() {
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));
    let o = cli(&d, &["incidents"]).expect(0, "incidents, none");
    assert!(o.stdout.contains("No open incident"), "{}", o.show());

    let mut s = Svc::new(105, 1051);
    let key = s.dedup_key();
    open_problem(&d, &mut s);
    wait_delivered(&mock, &d, &key, "trigger", 1);
    assert!(
        poll_until(WAIT, || incident_keys(&d).contains(&key)),
        "no incident for {key}"
    );
    let row = incidents(&d)
        .into_iter()
        .find(|i| i["dedup_key"].as_str() == Some(key.as_str()))
        .unwrap();
    assert_eq!(row["route"], "default", "{row:#}");
    let o = cli(&d, &["incidents"]).expect(0, "incidents");
    let line = o
        .stdout
        .lines()
        .find(|l| l.starts_with(&key))
        .unwrap_or_else(|| panic!("no row for {key}\n{}", o.show()));
    assert!(line.contains("default"), "{}", o.show());

    d.post_ok(&[s.recover()]);
    wait_delivered(&mock, &d, &key, "resolve", 1);
    assert!(
        poll_until(WAIT, || incidents(&d).is_empty()),
        "incident still open after the resolve: {:?}",
        incidents(&d)
    );
}

#[test]
fn resolve_by_key_and_unknown_key() {
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));
    let mut a = Svc::new(106, 1061);
    let mut b = Svc::new(106, 1062);
    open_problem(&d, &mut a);
    open_problem(&d, &mut b);
    wait_delivered(&mock, &d, &a.dedup_key(), "trigger", 1);
    wait_delivered(&mock, &d, &b.dedup_key(), "trigger", 1);
    assert!(poll_until(WAIT, || incident_keys(&d).len() == 2));

    let o = cli(&d, &["resolve", &a.dedup_key()]).expect(0, "resolve KEY");
    assert!(o.stdout.contains(&a.dedup_key()), "{}", o.show());
    wait_delivered(&mock, &d, &a.dedup_key(), "resolve", 1);
    let resolve = mock
        .events_for(&a.dedup_key())
        .into_iter()
        .find(|r| r.action() == Some("resolve"))
        .unwrap();
    assert_eq!(resolve.routing_key(), Some(ROUTING_KEY));
    assert!(poll_until(WAIT, || incident_keys(&d) == [b.dedup_key()]));
    assert_eq!(received(&mock, &b.dedup_key(), "resolve"), 0);

    let o = cli(&d, &["resolve", "999_999"]).expect(1, "resolve an unknown key");
    assert!(o.stderr.contains("999_999"), "{}", o.show());
    // Already resolved: unknown now.
    cli(&d, &["resolve", &a.dedup_key()]).expect(1, "resolve it again");
    cli(&d, &["resolve"]).expect(2, "resolve without a key");
}

#[test]
fn resolve_stale_zero_resolves_every_incident() {
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));
    let mut svcs = services(1070, 3);
    for s in &mut svcs {
        open_problem(&d, s);
    }
    for s in &svcs {
        wait_delivered(&mock, &d, &s.dedup_key(), "trigger", 1);
    }
    assert!(poll_until(WAIT, || incident_keys(&d).len() == 3));

    let o = cli(&d, &["resolve", "--stale", "0s"]).expect(0, "resolve --stale 0s");
    for s in &svcs {
        assert!(o.stdout.contains(&s.dedup_key()), "{}", o.show());
        wait_delivered(&mock, &d, &s.dedup_key(), "resolve", 1);
    }
    assert!(poll_until(WAIT, || incidents(&d).is_empty()));
    let o = cli(&d, &["resolve", "--stale", "0s"]).expect(0, "resolve --stale 0s, nothing open");
    assert!(o.stdout.contains("No incident"), "{}", o.show());
}
