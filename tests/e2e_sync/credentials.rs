//! Centreon credentials: an expired session logs in again; a refused token pauses the mirror
//! loudly until it is valid again.

use crate::common::*;
use crate::helpers::{assert_no_secret, config, paged, start, wait_acks, Apis, Auth};
use serde_json::Value;

#[test]
fn an_expired_session_logs_in_again_and_a_refused_token_pauses_loudly() {
    // Login mode: the session expires; the next acknowledgement logs in again.
    let events = MockPagerDuty::start();
    let apis = Apis::start();
    let d = start(config(&events, &apis, Auth::Login));
    let mut one = Svc::new(5300, 53000);
    let mut two = Svc::new(5300, 53001);
    paged(&d, &events, &mut one);
    paged(&d, &events, &mut two);
    apis.acknowledge_incident("PONE001", &one.dedup_key(), "Jane Doe");
    assert!(wait_acks(&apis, &one, 1));
    let logins = apis.centreon.logins();
    apis.centreon.expire_sessions();
    apis.acknowledge_incident("PTWO002", &two.dedup_key(), "Jane Doe");
    assert!(
        wait_acks(&apis, &two, 1),
        "no new login after a 401\n{}",
        d.log_tail(30)
    );
    assert_eq!(apis.centreon.logins(), logins + 1, "one new login");
    apis.assert_no_violation();
    drop(d);

    // Token mode: a revoked token pauses the mirror with an error; it resumes once valid.
    let events = MockPagerDuty::start();
    let apis = Apis::start();
    apis.centreon.set_token_valid(false);
    let d = start(config(&events, &apis, Auth::Token).set_str("delivery", "config_probe", "1s"));
    let mut svc = Svc::new(5301, 53010);
    paged(&d, &events, &mut svc);
    apis.acknowledge_incident("PTOK001", &svc.dedup_key(), "Jane Doe");
    assert!(
        poll_until(WAIT, || {
            let s: Value =
                serde_json::from_slice(&d.cli(&["status", "--json"]).stdout).unwrap_or_default();
            s["sync"]["paused"]
                .as_str()
                .is_some_and(|p| p.contains("Centreon"))
        }),
        "a refused token did not pause the sync\n{}",
        d.log_tail(30)
    );
    assert!(
        d.logs().contains("ERROR") && d.logs().contains("centreon_api_token_file"),
        "no loud error\n{}",
        d.log_tail(30)
    );
    let nagios = d.cli(&["status", "--nagios"]);
    assert_no_secret(&d, &String::from_utf8_lossy(&nagios.stdout));
    apis.centreon.set_token_valid(true);
    assert!(wait_acks(&apis, &svc, 1), "not resumed\n{}", d.log_tail(30));
    apis.assert_no_violation();
}
