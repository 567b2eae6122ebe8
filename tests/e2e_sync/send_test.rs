//! `send-test --sync`: both APIs answer (token and login modes), a refused token fails it, and it
//! acknowledges nothing and sends no event.

use crate::common::mock_centreon;
use crate::common::*;
use crate::helpers::{assert_no_secret, config, start, Apis, Auth, CENTREON_TOKEN};

#[test]
fn send_test_sync_proves_both_apis_answer_and_acknowledges_nothing() {
    let events = MockPagerDuty::start();
    let apis = Apis::start();
    for auth in [Auth::Token, Auth::Login] {
        let d = start(config(&events, &apis, auth).set_str("sync", "poll_interval", "1h"));
        let out = d.cli(&["send-test", "--sync"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{auth:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("PagerDuty REST API: OK") && text.contains("authenticated"),
            "{text}"
        );
        assert_no_secret(&d, &text);
    }
    apis.centreon.set_token_valid(false);
    let d = start(config(&events, &apis, Auth::Token).set_str("sync", "poll_interval", "1h"));
    let out = d.cli(&["send-test", "--sync"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("Centreon API") && text.contains("FAILED"),
        "{text}"
    );
    assert!(!text.contains(CENTREON_TOKEN), "{text}");
    assert!(
        !apis
            .centreon
            .requests()
            .iter()
            .any(mock_centreon::Recorded::is_acknowledge),
        "send-test --sync acknowledged something"
    );
    assert!(
        events.requests().is_empty(),
        "send-test --sync sent an event"
    );
    apis.assert_no_violation();
}
