//! Centreon failing: down across a restart, or an answer lost after it took the acknowledgement;
//! either way the acknowledgement reaches it once.

use crate::common::*;
use crate::helpers::{acks_for, config, paged, start, wait_acks, wait_listings, Apis, Auth};
use serde_json::{json, Value};

#[test]
fn centreon_down_then_back_gets_the_acknowledgement_once_across_a_restart() {
    let events = MockPagerDuty::start();
    let apis = Apis::start();
    let mut d = start(config(&events, &apis, Auth::Login));
    let mut svc = Svc::new(5200, 52000);
    paged(&d, &events, &mut svc);

    apis.centreon.set_down(true);
    apis.acknowledge_incident("PDOWN01", &svc.dedup_key(), "John Smith");
    assert!(
        apis.centreon.wait_for(WAIT, |r| r
            .iter()
            .any(|r| r.is_acknowledge() && r.status == 503)),
        "the daemon did not try Centreon\n{}",
        d.log_tail(30)
    );
    let status: Value = serde_json::from_slice(&d.cli(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["sync"]["pending"], json!(1), "{status:#}");
    assert!(
        status["sync"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("Centreon")),
        "{status:#}"
    );

    // A restart while Centreon is down: the acknowledgement is still owed, and done once.
    assert!(d.sigterm(WAIT).is_some_and(|s| s.success()));
    apis.centreon.set_down(false);
    d.spawn();
    d.wait_ready(WAIT);
    assert!(
        wait_acks(&apis, &svc, 1),
        "not mirrored after the restart\n{}",
        d.log_tail(30)
    );
    wait_listings(&apis, 3);
    assert_eq!(acks_for(&apis, &svc).len(), 1, "mirrored once");
    assert!(apis.centreon.logins() >= 1, "login mode logs in");
    // Another restart repeats nothing.
    assert!(d.sigterm(WAIT).is_some_and(|s| s.success()));
    d.spawn();
    d.wait_ready(WAIT);
    wait_listings(&apis, 2);
    assert_eq!(acks_for(&apis, &svc).len(), 1, "a restart repeated it");
    apis.assert_no_violation();
}

/// An acknowledgement Centreon took whose answer was lost (here a 503 after taking it; in life
/// a timeout, or the daemon killed between Centreon's 204 and its record): before sending it
/// again the daemon asks Centreon, which shows the resource acknowledged, so it is not sent
/// twice. A restart afterwards repeats nothing.
#[test]
fn an_acknowledgement_centreon_took_is_not_sent_again_when_its_answer_was_lost() {
    let events = MockPagerDuty::start();
    let apis = Apis::start();
    let mut d = start(config(&events, &apis, Auth::Token));
    let mut svc = Svc::new(5300, 53000);
    paged(&d, &events, &mut svc);

    apis.centreon.take_and_fail();
    apis.acknowledge_incident("PLOST01", &svc.dedup_key(), "Dana Scully");
    assert!(
        apis.centreon.wait_for(WAIT, |r| r
            .iter()
            .any(|r| r.is_details() && r.status == 200)),
        "the daemon did not ask Centreon before trying again\n{}",
        d.log_tail(30)
    );
    assert!(
        poll_until(WAIT, || {
            let status: Value =
                serde_json::from_slice(&d.cli(&["status", "--json"]).stdout).unwrap_or_default();
            status["sync"]["pending"] == json!(0)
        }),
        "still pending\n{}",
        d.log_tail(30)
    );
    assert!(
        d.logs().contains("Already acknowledged in Centreon"),
        "{}",
        d.log_tail(30)
    );
    let posts = |apis: &Apis| {
        apis.centreon
            .requests()
            .iter()
            .filter(|r| r.is_acknowledge())
            .count()
    };
    assert_eq!(posts(&apis), 1, "sent once: the first attempt was taken");
    assert_eq!(acks_for(&apis, &svc).len(), 1);
    assert!(d.sigterm(WAIT).is_some_and(|s| s.success()));
    d.spawn();
    d.wait_ready(WAIT);
    wait_listings(&apis, 2);
    assert_eq!(posts(&apis), 1, "a restart repeated it");
    apis.assert_no_violation();
}
