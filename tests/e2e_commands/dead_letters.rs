//! Dead letters: `dead-letters list`, `show`, `retry` (one, refused, `--force`, `--all`), `purge`.

use crate::common::*;
use crate::helpers::{
    cli, dead_letters, nagios, open_problem, refuse_next_trigger, status_json, wait_dead_letter,
    wait_delivered, QUIET, REFUSAL,
};

#[test]
fn dead_letters_list_show_retry() {
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));
    let o = cli(&d, &["dead-letters", "list"]).expect(0, "dead-letters list, none");
    assert!(o.stdout.contains("No dead letter"), "{}", o.show());

    let mut s = Svc::new(109, 1091);
    let key = s.dedup_key();
    refuse_next_trigger(&mock, &key);
    open_problem(&d, &mut s);
    let letter = wait_dead_letter(&d, &mock, &key);
    assert_eq!(letter["action"], "trigger", "{letter:#}");
    assert!(
        letter["reason"]
            .as_str()
            .is_some_and(|r| r.contains(REFUSAL)),
        "PagerDuty's error text: {letter:#}"
    );
    let id = letter["id"].as_i64().unwrap().to_string();

    let o = cli(&d, &["dead-letters", "list"]).expect(0, "dead-letters list");
    let row = o
        .stdout
        .lines()
        .find(|l| l.contains(&key))
        .unwrap_or_else(|| panic!("no row for {key}\n{}", o.show()));
    assert!(
        row.starts_with(&id) && row.contains(REFUSAL),
        "{}",
        o.show()
    );

    let o = cli(&d, &["dead-letters", "show", &id]).expect(0, "dead-letters show");
    let j = o.json();
    assert_eq!(
        j["id"].as_i64().map(|i| i.to_string()),
        Some(id.clone()),
        "{j:#}"
    );
    assert_eq!(j["event"]["routing_key"], "…0001", "{j:#}");
    assert_eq!(j["event"]["dedup_key"], key.as_str(), "{j:#}");
    cli(&d, &["dead-letters", "show", "999999"]).expect(1, "dead-letters show unknown id");

    // PagerDuty now takes it.
    let o = cli(&d, &["dead-letters", "retry", &id]).expect(0, "dead-letters retry ID");
    assert!(o.stdout.contains("1 dead letter"), "{}", o.show());
    wait_delivered(&mock, &d, &key, "trigger", 1);
    assert!(poll_until(WAIT, || dead_letters(&d).is_empty()));
    cli(&d, &["dead-letters", "retry", "999999"]).expect(1, "retry an unknown id");
}

/// The daemon purges, answers 200 and may close without reading the request body: the client
/// must still report the answer. It once failed on `Connection reset by peer` (reading) or
/// `Broken pipe` (writing the body) and exited 1, one run in a few; 30 runs make such a
/// regression near-certain to show.
#[test]
fn dead_letters_purge() {
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));
    let mut more = [Svc::new(112, 1121), Svc::new(112, 1122)];
    for s in &mut more {
        refuse_next_trigger(&mock, &s.dedup_key());
        open_problem(&d, s);
    }
    assert!(poll_until(WAIT, || dead_letters(&d).len() == 2));
    let o = cli(&d, &["dead-letters", "purge"]).expect(0, "dead-letters purge");
    assert!(o.stdout.contains('2'), "{}", o.show());
    assert!(dead_letters(&d).is_empty());
    let o = nagios(&d, &[]);
    assert_eq!(o.code, Some(0), "no dead letter left\n{}", o.show());
    for i in 0..30 {
        let o = cli(&d, &["dead-letters", "purge"]).expect(0, &format!("purge again, run {i}"));
        assert!(o.stdout.contains('0'), "{}", o.show());
    }
}

#[test]
fn dead_letter_retry_refused_behind_a_newer_delivered_event_unless_forced() {
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));
    let mut s = Svc::new(110, 1101);
    let key = s.dedup_key();
    refuse_next_trigger(&mock, &key);
    open_problem(&d, &mut s);
    let id = wait_dead_letter(&d, &mock, &key)["id"]
        .as_i64()
        .unwrap()
        .to_string();
    // The key's next event proceeds and is delivered: the resolve.
    d.post_ok(&[s.recover()]);
    wait_delivered(&mock, &d, &key, "resolve", 1);
    // Completions are group-committed (DESIGN §4.4): wait until the daemon recorded it.
    assert!(
        poll_until(WAIT, || status_json(&d)["pending"] == 0),
        "the delivered resolve stays pending\n{}",
        d.log_tail(40)
    );

    let o = cli(&d, &["dead-letters", "retry", &id]).expect(1, "retry behind a newer event");
    assert!(
        o.stderr.contains(&key) && o.stderr.contains("--force"),
        "say why and how to force\n{}",
        o.show()
    );
    assert_eq!(
        dead_letters(&d).len(),
        1,
        "the refused retry keeps the dead letter"
    );
    assert!(
        !mock.wait_until(QUIET, |r| r
            .iter()
            .any(|r| r.dedup_key() == Some(key.as_str())
                && r.delivered()
                && r.action() == Some("trigger"))),
        "a refused retry sent the trigger\n{}",
        mock.dump()
    );

    let o = cli(&d, &["dead-letters", "retry", &id, "--force"]).expect(0, "retry --force");
    assert!(o.stdout.contains("1 dead letter"), "{}", o.show());
    wait_delivered(&mock, &d, &key, "trigger", 1);
    assert!(poll_until(WAIT, || dead_letters(&d).is_empty()));
}

#[test]
fn dead_letter_retry_all() {
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));
    let mut svcs = [Svc::new(111, 1111), Svc::new(111, 1112)];
    for s in &mut svcs {
        refuse_next_trigger(&mock, &s.dedup_key());
        open_problem(&d, s);
    }
    assert!(poll_until(WAIT, || dead_letters(&d).len() == 2));
    let o = cli(&d, &["dead-letters", "retry", "--all"]).expect(0, "retry --all");
    assert!(o.stdout.contains("2 dead letter"), "{}", o.show());
    for s in &svcs {
        wait_delivered(&mock, &d, &s.dedup_key(), "trigger", 1);
    }
    assert!(poll_until(WAIT, || dead_letters(&d).is_empty()));
    cli(&d, &["dead-letters", "retry"]).expect(2, "retry without ID or --all");
}
