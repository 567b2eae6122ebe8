//! A 429 from the PagerDuty REST API: the next listing waits for `ratelimit-reset`.

use crate::common::mock_http::MockResponse;
use crate::common::*;
use crate::helpers::{config, start, wait_listings, Apis, Auth};
use serde_json::json;
use std::time::Duration;

#[test]
fn a_pagerduty_rest_429_backs_off() {
    let events = MockPagerDuty::start();
    let apis = Apis::start();
    apis.pd.push_reply(
        MockResponse::json(
            429,
            &json!({"error": {"message": "Rate Limit Exceeded", "code": 2020}}),
        )
        .with_header("ratelimit-reset", "3"),
    );
    let d = start(config(&events, &apis, Auth::Token));
    assert!(
        apis.pd.wait_for(WAIT, |r| r
            .iter()
            .any(|r| r.is_listing() && r.status == 429)),
        "no listing"
    );
    wait_listings(&apis, 1);
    let listed: Vec<_> = apis
        .pd
        .requests()
        .into_iter()
        .filter(|r| r.is_listing())
        .collect();
    let gap = listed[1].at.duration_since(listed[0].at);
    assert!(
        gap >= Duration::from_millis(2900),
        "the listing after a 429 came {gap:?} later, before ratelimit-reset\n{}",
        d.log_tail(20)
    );
    assert!(d.logs().contains("429"), "{}", d.log_tail(20));
    apis.assert_no_violation();
}
