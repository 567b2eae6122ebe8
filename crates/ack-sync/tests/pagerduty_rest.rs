//! The PagerDuty REST client against the spec-validated mock (tests/common/mock_pagerduty_rest.rs).

#![allow(clippy::unwrap_used)] // test helpers may unwrap: a failing setup fails the test

#[path = "../../../tests/common/mock_http.rs"]
mod mock_http;
#[path = "../../../tests/common/mock_pagerduty_rest.rs"]
mod mock_pagerduty_rest;
#[path = "../../../tests/common/openapi.rs"]
mod openapi;

use ack_sync::{
    IncidentStatus, ListQuery, PagerDutyRest, Region, RestError, Secret, TimeWindow, API_URL_EU,
};
use mock_http::MockResponse;
use mock_pagerduty_rest::{MockIncident, MockPagerDutyRest};
use serde_json::json;
use std::time::Duration;

const TOKEN: &str = "u+PDRESTTOKEN0000wxyz";

fn client(url: &str, token: &str) -> PagerDutyRest {
    PagerDutyRest::new(
        Some(url),
        Region::Us,
        Secret::new(token),
        Duration::from_secs(5),
    )
    .unwrap()
}

fn incidents(n: usize) -> Vec<MockIncident> {
    (0..n)
        .map(|i| MockIncident::acknowledged(&format!("P{i:03}"), &format!("{i}_H"), "Ann Oncall"))
        .collect()
}

#[tokio::test]
async fn pages_through_every_acknowledged_incident() {
    let mock = MockPagerDutyRest::start(TOKEN);
    let mut all = incidents(7);
    all.push(MockIncident {
        id: "PRES".into(),
        incident_key: Some("9_9".into()),
        status: "resolved".into(),
        acknowledgers: vec![],
        created_at: 1_781_000_000,
    });
    all.push(MockIncident {
        id: "PNOKEY".into(),
        incident_key: None,
        status: "acknowledged".into(),
        acknowledgers: vec!["Bob".into(), "Eve".into()],
        created_at: 1_781_000_000,
    });
    mock.set_incidents(all);
    let query = ListQuery {
        limit: 3,
        ..ListQuery::default()
    };
    let listing = client(&mock.url(), TOKEN)
        .list_acknowledged(&query)
        .await
        .unwrap();
    assert_eq!(listing.pages, 3);
    assert!(!listing.truncated);
    assert_eq!(listing.incidents.len(), 8);
    assert!(listing
        .incidents
        .iter()
        .all(|i| i.status == IncidentStatus::Acknowledged));
    assert_eq!(listing.incidents[0].incident_key.as_deref(), Some("0_H"));
    assert_eq!(listing.incidents[0].who(), "Ann Oncall");
    let nokey = listing.incidents.iter().find(|i| i.id == "PNOKEY").unwrap();
    assert_eq!(nokey.incident_key, None);
    assert_eq!(nokey.who(), "Bob, Eve");
    assert_eq!(
        nokey.created_at,
        Some(1_781_000_000),
        "created_at read back"
    );
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 3);
    let offsets: Vec<Vec<&str>> = reqs.iter().map(|r| r.query("offset")).collect();
    assert_eq!(offsets, vec![vec!["0"], vec!["3"], vec!["6"]]);
    for r in &reqs {
        assert_eq!(r.query("statuses[]"), vec!["acknowledged"]);
        assert_eq!(r.query("date_range"), vec!["all"]);
        assert_eq!(r.query("limit"), vec!["3"]);
        assert_eq!(
            r.request.header("accept"),
            Some("application/vnd.pagerduty+json;version=2")
        );
    }
    assert_eq!(mock.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn max_pages_truncates_and_since_window_is_sent() {
    let mock = MockPagerDutyRest::start(TOKEN);
    mock.set_incidents(incidents(10));
    let query = ListQuery {
        window: TimeWindow::Since("2026-01-01T00:00:00Z".into()),
        limit: 2,
        max_pages: 2,
    };
    let listing = client(&mock.url(), TOKEN)
        .list_acknowledged(&query)
        .await
        .unwrap();
    assert_eq!(
        (listing.pages, listing.incidents.len(), listing.truncated),
        (2, 4, true)
    );
    let reqs = mock.requests();
    assert_eq!(reqs[0].query("since"), vec!["2026-01-01T00:00:00Z"]);
    assert!(reqs[0].query("date_range").is_empty());
    assert_eq!(mock.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn rate_limit_gives_the_wait() {
    let mock = MockPagerDutyRest::start(TOKEN);
    mock.set_incidents(incidents(1));
    let body = json!({"error": {"message": "Rate Limit Exceeded", "code": 2020}});
    mock.push_reply(MockResponse::json(429, &body).with_header("ratelimit-reset", "42"));
    mock.push_reply(MockResponse::json(429, &body).with_header("Retry-After", "3"));
    mock.push_reply(MockResponse::json(429, &body));
    let c = client(&mock.url(), TOKEN);
    let q = ListQuery::default();
    for expected in [Some(42), Some(3), None] {
        let e = c.list_acknowledged(&q).await.unwrap_err();
        assert_eq!(
            e,
            RestError::RateLimited {
                retry_after: expected.map(Duration::from_secs)
            }
        );
        assert!(e.is_retryable() && !e.is_config_error());
    }
    // Then it works again.
    assert_eq!(c.list_acknowledged(&q).await.unwrap().incidents.len(), 1);
    assert_eq!(mock.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn a_rate_limit_on_a_later_page_fails_the_listing() {
    let mock = MockPagerDutyRest::start(TOKEN);
    mock.set_incidents(incidents(5));
    let c = client(&mock.url(), TOKEN);
    let q = ListQuery {
        limit: 2,
        ..ListQuery::default()
    };
    // First page normal, then 429.
    c.list_page(&q, 0).await.unwrap();
    mock.push_reply(MockResponse::json(429, &json!({})).with_header("ratelimit-reset", "5"));
    assert!(matches!(
        c.list_acknowledged(&q).await,
        Err(RestError::RateLimited { .. })
    ));
}

#[tokio::test]
async fn wrong_token_is_a_configuration_error_and_never_shown() {
    let mock = MockPagerDutyRest::start(TOKEN);
    let wrong = "u+WRONGTOKEN99999abcd";
    let e = client(&mock.url(), wrong)
        .list_acknowledged(&ListQuery::default())
        .await
        .unwrap_err();
    assert!(matches!(e, RestError::Unauthorized { .. }), "{e:?}");
    assert!(e.is_config_error() && !e.is_retryable());
    let text = format!("{e} {e:?} {:?}", client(&mock.url(), wrong));
    assert!(!text.contains("WRONGTOKEN"), "{text}");
    assert!(format!("{:?}", client(&mock.url(), wrong)).contains("…abcd"));
    mock.push_reply(MockResponse::json(
        403,
        &json!({"error": {"message": "Access Denied", "code": 2010}}),
    ));
    let e = client(&mock.url(), TOKEN)
        .list_acknowledged(&ListQuery::default())
        .await
        .unwrap_err();
    assert!(matches!(e, RestError::Forbidden { ref message } if message.contains("Access Denied")));
    assert!(e.is_config_error());
}

#[tokio::test]
async fn server_errors_network_and_garbage_are_retryable() {
    let mock = MockPagerDutyRest::start(TOKEN);
    let c = client(&mock.url(), TOKEN);
    let q = ListQuery::default();
    mock.push_reply(MockResponse::empty(503));
    let e = c.list_acknowledged(&q).await.unwrap_err();
    assert!(matches!(e, RestError::Server { status: 503, .. }) && e.is_retryable());
    mock.push_reply(MockResponse {
        status: 200,
        headers: vec![],
        body: b"<html>proxy</html>".to_vec(),
    });
    let e = c.list_acknowledged(&q).await.unwrap_err();
    assert!(
        matches!(e, RestError::Malformed { .. }) && e.is_retryable(),
        "{e:?}"
    );
    mock.push_reply(MockResponse::json(400, &json!({"error": {"message": "Invalid Input Provided", "code": 2001, "errors": ["Offset must be..."]}})));
    let e = c.list_acknowledged(&q).await.unwrap_err();
    assert!(matches!(e, RestError::Rejected { status: 400, .. }) && e.is_config_error());
    // Nothing listens on port 9 of loopback.
    let e = client("http://127.0.0.1:9", TOKEN)
        .list_acknowledged(&q)
        .await
        .unwrap_err();
    assert!(
        matches!(e, RestError::Network { .. }) && e.is_retryable(),
        "{e:?}"
    );
}

#[test]
fn region_and_explicit_url() {
    let eu =
        PagerDutyRest::new(None, Region::Eu, Secret::new(TOKEN), Duration::from_secs(1)).unwrap();
    assert_eq!(eu.base_url(), API_URL_EU);
    assert_eq!(eu.base_url(), "https://api.eu.pagerduty.com");
    let us = PagerDutyRest::new(
        Some(""),
        Region::Us,
        Secret::new(TOKEN),
        Duration::from_secs(1),
    )
    .unwrap();
    assert_eq!(us.base_url(), "https://api.pagerduty.com");
    let explicit = PagerDutyRest::new(
        Some("http://127.0.0.1:1234/"),
        Region::Eu,
        Secret::new(TOKEN),
        Duration::from_secs(1),
    )
    .unwrap();
    assert_eq!(explicit.base_url(), "http://127.0.0.1:1234");
    assert!(matches!(
        PagerDutyRest::new(
            Some("not a url"),
            Region::Us,
            Secret::new(TOKEN),
            Duration::from_secs(1)
        ),
        Err(RestError::Setup { .. })
    ));
}
