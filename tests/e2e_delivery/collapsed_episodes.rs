//! Collapsed episodes after an outage (DESIGN §4.4): no resolve without an incident open.

use crate::common::*;
use serde_json::Value;
use std::time::Duration;

/// DESIGN §4.4: after an outage, a collapsed episode's resolve is sent only where PagerDuty has
/// an incident open for the key (a trigger delivered after the last delivered resolve).
#[test]
fn collapse_never_sends_a_useless_resolve() {
    let mock = MockPagerDuty::start();
    let config = Config::new(&mock.url()).set_str("delivery", "collapse_after", "1s");
    let d = Daemon::start(config);
    let mut opened = Svc::new(4000, 40000);
    let mut never = Svc::new(4001, 40010);

    // `opened` has an incident open in PagerDuty before the outage.
    d.post_ok(&[opened.first_ok(), never.first_ok()]);
    d.post_ok(&[opened.critical("CRITICAL: before the outage")]);
    assert!(
        mock.wait_until(WAIT, |r| r.iter().any(
            |r| r.delivered() && r.dedup_key() == Some(opened.dedup_key().as_str())
        )),
        "the first trigger was not delivered\n{}",
        d.log_tail(40)
    );

    // During the outage: `opened` escalates then recovers; `never` fails and recovers.
    mock.set_default(Reply::unavailable());
    let t = opened.clock + 60;
    opened.clock = t;
    let escalation = v2_service_status(
        opened.host_id,
        opened.service_id,
        &opened.host,
        &opened.service,
        1,
        true,
        t,
        t,
        2,
        3,
        "WARNING: during the outage",
        "",
    );
    d.post_ok(&[
        escalation,
        opened.recover(),
        never.critical("CRITICAL: during the outage"),
        never.recover(),
    ]);
    // Past collapse_after, both episodes are collapsed; then PagerDuty comes back.
    std::thread::sleep(Duration::from_millis(2500));
    mock.set_default(Reply::Accept);
    assert!(
        mock.wait_until(WAIT, |r| r.iter().any(|r| r.delivered()
            && r.action() == Some("resolve")
            && r.dedup_key() == Some(opened.dedup_key().as_str()))),
        "the open incident's resolve was not delivered\n{}\n{}",
        last_lines(&mock.dump(), 40),
        d.log_tail(40)
    );
    assert_drained(&d);

    let by_key = mock.delivered_by_key();
    let actions = |key: &str| -> Vec<String> {
        collapse(
            &by_key
                .get(key)
                .map(|v| {
                    v.iter()
                        .filter_map(|r| r.action().map(str::to_owned))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        )
    };
    assert_eq!(
        actions(&opened.dedup_key()),
        ["trigger", "resolve"],
        "the escalation is collapsed, the resolve of the open incident is sent"
    );
    assert!(
        actions(&never.dedup_key()).is_empty(),
        "no incident was ever open for {}: nothing may be delivered, got {:?}",
        never.dedup_key(),
        actions(&never.dedup_key())
    );
}

/// The daemon's queue empties within [`WAIT`].
pub(crate) fn assert_drained(d: &Daemon) {
    assert!(
        poll_until(WAIT, || {
            serde_json::from_slice::<Value>(&d.cli(&["status", "--json"]).stdout)
                .is_ok_and(|j| j["pending"] == 0)
        }),
        "the queue did not drain\n{}",
        d.log_tail(40)
    );
}
