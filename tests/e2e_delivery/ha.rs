//! Centreon-HA (DESIGN §4.7): a cluster node's unknown keys, a spool idle past `resync_after`.

use crate::collapsed_episodes::assert_drained;
use crate::common::*;
use serde_json::Value;
use std::time::Duration;

/// DESIGN §4.7 with `[ha] cluster = true` (RELIABILITY.md, failover defect 14): the other node
/// may have opened an incident under a dedup key this node never delivered anything for, so a
/// collapsed episode keeps its resolve until the key is delivered once — even on a fresh spool.
/// Once a resolve is delivered, the key is known: the next collapsed episode sends nothing.
#[test]
fn a_cluster_node_keeps_the_resolve_of_a_key_it_never_delivered() {
    let mock = MockPagerDuty::start();
    let config = Config::new(&mock.url())
        .set_str("delivery", "collapse_after", "1s")
        .set("ha", "cluster", "true");
    let d = Daemon::start(config);
    let mut other = Svc::new(4050, 40500);
    d.post_ok(&[other.first_ok()]);

    // The other node opened an incident for `other`; this one sees a new problem and its
    // recovery, both queued through an outage longer than collapse_after.
    let outage_episode = |d: &Daemon, other: &mut Svc, what: &str| {
        mock.set_default(Reply::unavailable());
        d.post_ok(&[other.critical(what), other.recover()]);
        std::thread::sleep(Duration::from_millis(2500));
        mock.set_default(Reply::Accept);
        assert_drained(d);
    };
    outage_episode(&d, &mut other, "CRITICAL: during the first outage");
    let key = other.dedup_key();
    let actions = || -> Vec<String> {
        mock.delivered_by_key()
            .get(&key)
            .map(|v| {
                v.iter()
                    .filter_map(|r| r.action().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        actions(),
        ["resolve"],
        "the trigger is collapsed, the resolve is kept: the other node may have an incident open\n{}",
        d.log_tail(40)
    );

    let status: Value = serde_json::from_slice(&d.cli(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["pagerduty_unknown_since_ms"], 1, "{status:#}");
    let text = String::from_utf8_lossy(&d.cli(&["status"]).stdout).into_owned();
    assert!(text.contains("[ha] cluster = true"), "{text}");

    // The key is known now: nothing open in PagerDuty, so the next collapsed episode is silent.
    outage_episode(&d, &mut other, "CRITICAL: during the second outage");
    assert_eq!(
        actions(),
        ["resolve"],
        "a useless resolve was sent\n{}",
        d.log_tail(40)
    );
}

/// DESIGN §4.7 (Centreon-HA): a daemon started on a spool idle longer than `[ha] resync_after`
/// (its node was passive) treats its rule state as unknown and collapses what it queued before
/// the gap. A problem still present pages again at its next status. A resolve queued before
/// the gap for an incident open in PagerDuty waits for the resource's next status: a recovery
/// sends it; a problem (the other node opened an incident for it under the same dedup key
/// meanwhile: chaos/failover defect 11) triggers into that incident, and nothing resolves it.
#[test]
fn a_spool_idle_longer_than_resync_after_starts_with_its_rule_state_unknown() {
    let mock = MockPagerDuty::start();
    let mut d = Daemon::start(Config::new(&mock.url()).set_str("ha", "resync_after", "1s"));
    let mut opened = Svc::new(4100, 41000);
    let mut stale = Svc::new(4101, 41010);
    let mut reopened = Svc::new(4102, 41020);
    d.post_ok(&[opened.first_ok(), stale.first_ok(), reopened.first_ok()]);
    d.post_ok(&[
        opened.critical("CRITICAL: before the gap"),
        reopened.critical("CRITICAL: before the gap"),
    ]);
    assert!(
        mock.wait_until(WAIT, |r| r.iter().filter(|r| r.delivered()).count() == 2),
        "the first triggers were not delivered\n{}",
        d.log_tail(40)
    );
    // PagerDuty is down; this node queues a problem and two recoveries, then goes passive.
    mock.set_default(Reply::unavailable());
    d.post_ok(&[
        stale.critical("CRITICAL: queued before the gap"),
        opened.recover(),
        reopened.recover(),
    ]);
    assert!(d.sigterm(WAIT).is_some_and(|s| s.success()));
    std::thread::sleep(Duration::from_millis(1500));

    mock.set_default(Reply::Accept);
    let before = mock.requests().len();
    d.spawn();
    d.wait_ready(WAIT);
    // After the gap: `opened` still OK, `reopened` CRITICAL again (the other node paged it),
    // `stale` still CRITICAL.
    // Checked after the gap on one clock, as Engine's checks are (each Svc keeps its own
    // synthetic clock: the latest of them, a minute later).
    let t = [&opened, &stale, &reopened]
        .iter()
        .map(|s| s.clock)
        .max()
        .unwrap_or_default()
        + 60;
    let status = |s: &Svc, state: u8, changed: i64, output: &str| {
        v2_service_status(
            s.host_id,
            s.service_id,
            &s.host,
            &s.service,
            state,
            true,
            t,
            changed,
            1,
            3,
            output,
            "",
        )
    };
    d.post_ok(&[
        status(&opened, 0, opened.clock, "OK: after the gap"),
        status(
            &reopened,
            2,
            reopened.clock + 30,
            "CRITICAL: the other node paged it",
        ),
        status(
            &stale,
            2,
            stale.clock,
            "CRITICAL: still there after the gap",
        ),
    ]);
    let key = |s: &Svc| s.dedup_key();
    let delivered = |r: &[Request], s: &Svc, action: &str| {
        let k = key(s);
        r.iter()
            .any(|r| r.delivered() && r.action() == Some(action) && r.dedup_key() == Some(&k))
    };
    assert!(
        mock.wait_until(WAIT, |r| delivered(&r[before..], &opened, "resolve")),
        "the recovery after the gap did not resolve the incident open in PagerDuty\n{}",
        d.log_tail(40)
    );
    assert!(
        mock.wait_until(WAIT, |r| delivered(&r[before..], &reopened, "trigger")),
        "the problem after the gap did not trigger into the open incident\n{}",
        d.log_tail(40)
    );
    assert!(
        mock.wait_until(WAIT, |r| r[before..].iter().any(|r| r.delivered()
            && r.summary()
                .is_some_and(|s| s.contains("still there after the gap")))),
        "a problem still present after the gap did not page\n{}",
        d.log_tail(40)
    );
    let after: Vec<_> = mock.requests()[before..].to_vec();
    assert!(
        !delivered(&after, &reopened, "resolve"),
        "the resolve queued before the gap closed the incident of the newer problem"
    );
    let stale_triggers: Vec<String> = after
        .iter()
        .filter(|r| r.delivered() && r.dedup_key() == Some(key(&stale).as_str()))
        .filter_map(|r| r.summary().map(str::to_owned))
        .collect();
    assert!(
        stale_triggers
            .iter()
            .all(|s| !s.contains("queued before the gap")),
        "a trigger queued before the gap was delivered: {stale_triggers:?}"
    );
    let status = d.cli(&["status", "--json"]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(status["last_resync_ms"].as_i64().is_some(), "{status:#}");
    assert!(
        status["pagerduty_unknown_since_ms"].as_i64() > Some(1),
        "after a resync, PagerDuty's state is unknown: {status:#}"
    );
    assert!(d.logs().contains("resync_after"), "the resync is logged");
}
