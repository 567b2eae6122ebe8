//! 2. State changes: root or the daemon's user only.

use crate::common::*;
use crate::site::{wait_delivered, Site};
use std::time::Duration;

#[test]
fn state_changes_are_refused_to_group_members_and_accepted_from_the_daemon_user() {
    let Some(site) = Site::start("b") else {
        return;
    };
    let mut open = Svc::new(9100, 91001);
    let mut refused = Svc::new(9100, 91002);
    site.open_incident(&mut open);
    let letter = site.dead_letter(&mut refused);
    let open_key = open.dedup_key();
    let incidents_before = site.incident_keys();
    assert!(incidents_before.contains(&open_key));

    // A member of the group: refused, with the reason, and nothing changes.
    for args in [
        &["pause", "default"][..],
        &["resume", "default"],
        &["resolve", &open_key],
        &["resolve", "--stale", "0s"],
        &["dead-letters", "retry", &letter],
        &["dead-letters", "retry", "--all"],
        &["dead-letters", "retry", "--all", "--force"],
        &["dead-letters", "purge"],
    ] {
        let o = site.member(args).expect(1);
        assert!(
            o.stderr.contains("root") && o.stderr.contains("daemon's user"),
            "say that root or the daemon's user is needed\n{}",
            o.show()
        );
        assert!(
            !o.says_read_only(),
            "a state change must never fall back to the spool\n{}",
            o.show()
        );
    }
    let j = site.status_json();
    assert_eq!(j["paused"].as_array().map(Vec::len), Some(0), "{j:#}");
    assert_eq!(
        j["dead_letters"], 1,
        "a refused purge/retry changed them: {j:#}"
    );
    assert_eq!(
        site.incident_keys(),
        incidents_before,
        "a refused resolve resolved"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        site.mock
            .events_for(&open_key)
            .iter()
            .all(|r| r.action() != Some("resolve"))
            && site
                .mock
                .events_for(&refused.dedup_key())
                .iter()
                .filter(|r| r.action() == Some("trigger"))
                .count()
                == 1,
        "a refused request sent something\n{}",
        site.mock.dump()
    );

    // The daemon's own user: accepted.
    site.daemon_user(&["pause", "default"]).expect(0);
    let j = site.status_json();
    assert!(
        j["paused"]
            .as_array()
            .is_some_and(|p| p.iter().any(|k| k["route"] == "default")),
        "pause by the daemon's user not taken: {j:#}"
    );
    site.daemon_user(&["resume", "default"]).expect(0);
    let j = site.status_json();
    assert_eq!(j["paused"].as_array().map(Vec::len), Some(0), "{j:#}");

    let o = site
        .daemon_user(&["dead-letters", "retry", &letter])
        .expect(0);
    assert!(o.stdout.contains("1 dead letter"), "{}", o.show());
    assert!(
        site.mock
            .wait_until(WAIT, |reqs| reqs.iter().any(|r| r.delivered()
                && r.dedup_key() == Some(refused.dedup_key().as_str())
                && r.action() == Some("trigger"))),
        "the retried trigger was not delivered\n{}",
        site.mock.dump()
    );
    let mut again = Svc::new(9100, 91003);
    site.dead_letter(&mut again);
    site.daemon_user(&["dead-letters", "retry", "--all"])
        .expect(0);
    assert!(poll_until(WAIT, || site.dead_letters().is_empty()));
    let mut third = Svc::new(9100, 91004);
    site.dead_letter(&mut third);
    let o = site.daemon_user(&["dead-letters", "purge"]).expect(0);
    assert!(o.stdout.contains("1 dead letter"), "{}", o.show());
    assert!(site.dead_letters().is_empty());

    let o = site.daemon_user(&["resolve", &open_key]).expect(0);
    assert!(o.stdout.contains(&open_key), "{}", o.show());
    wait_delivered(&site.mock, &site.d, &open_key, "resolve");
    let mut stale = Svc::new(9100, 91005);
    site.open_incident(&mut stale);
    site.daemon_user(&["resolve", "--stale", "0s"]).expect(0);
    wait_delivered(&site.mock, &site.d, &stale.dedup_key(), "resolve");

    // And root, although the daemon runs as another user.
    site.root(&["pause", "default"]).expect(0);
    site.root(&["resume", "default"]).expect(0);
}
