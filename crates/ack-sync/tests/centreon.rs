//! The Centreon API client against the spec-validated mock (tests/common/mock_centreon.rs):
//! acknowledgements, logins, and the access check of `send-test --sync`.

#![allow(clippy::unwrap_used)] // test helpers may unwrap: a failing setup fails the test

#[path = "../../../tests/common/mock_centreon.rs"]
mod mock_centreon;
#[path = "../../../tests/common/mock_http.rs"]
mod mock_http;
#[path = "../../../tests/common/openapi.rs"]
mod openapi;

use ack_sync::{
    Acknowledgement, CentreonAuth, CentreonClient, CentreonError, Credentials, Resource, Secret,
};
use mock_centreon::MockCentreon;
use mock_http::MockResponse;
use serde_json::json;
use std::time::Duration;

const API_TOKEN: &str = "centreonApiToken0000q9z8";
const LOGIN: &str = "pagerduty-sync";
const PASSWORD: &str = "s3cret:pass word";

fn service_ack() -> Acknowledgement {
    Acknowledgement {
        resource: Resource::Service {
            host_id: 14,
            service_id: 27,
        },
        comment: "Acknowledged in PagerDuty by Ann Oncall".into(),
        notify_contacts: false,
        sticky: true,
    }
}

fn token_client(mock: &MockCentreon, token: &str) -> CentreonClient {
    CentreonClient::new(
        &mock.url(),
        CentreonAuth::Token(Secret::new(token)),
        Duration::from_secs(5),
    )
    .unwrap()
}

fn login_client(mock: &MockCentreon, password: &str) -> CentreonClient {
    let auth = CentreonAuth::Login(Credentials::new(LOGIN, Secret::new(password)));
    CentreonClient::new(&mock.url(), auth, Duration::from_secs(5)).unwrap()
}

#[tokio::test]
async fn token_mode_204_is_done_with_the_design_body() {
    let mock = MockCentreon::start(Some(API_TOKEN), LOGIN, PASSWORD);
    let c = token_client(&mock, API_TOKEN);
    c.acknowledge(&service_ack()).await.unwrap();
    c.acknowledge(&Acknowledgement {
        resource: Resource::Host { host_id: 14 },
        notify_contacts: true,
        sticky: false,
        ..service_ack()
    })
    .await
    .unwrap();
    let acks = mock.acknowledgements();
    assert_eq!(
        acks[0],
        json!({"acknowledgement": {"comment": "Acknowledged in PagerDuty by Ann Oncall",
            "is_notify_contacts": false, "is_persistent_comment": true, "is_sticky": true,
            "with_services": false},
            "resources": [{"type": "service", "id": 27, "parent": {"id": 14}}]})
    );
    assert_eq!(
        acks[1]["resources"],
        json!([{"type": "host", "id": 14, "parent": null}])
    );
    assert_eq!(
        acks[1]["acknowledgement"]["is_notify_contacts"],
        json!(true)
    );
    assert_eq!(acks[1]["acknowledgement"]["is_sticky"], json!(false));
    assert_eq!(mock.logins(), 0);
    let reqs = mock.requests();
    assert_eq!(reqs[0].request.header("x-auth-token"), Some(API_TOKEN));
    assert_eq!(mock.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn token_mode_401_is_a_configuration_error_without_login() {
    let mock = MockCentreon::start(Some(API_TOKEN), LOGIN, PASSWORD);
    let c = token_client(&mock, "revokedToken00001111wxyz");
    let e = c.acknowledge(&service_ack()).await.unwrap_err();
    assert!(
        matches!(e, CentreonError::Unauthorized { status: 401, .. }),
        "{e:?}"
    );
    assert!(e.is_config_error() && !e.is_retryable());
    let text = format!("{e} {e:?} {c:?}");
    assert!(!text.contains("revokedToken"), "{text}");
    assert!(text.contains("…wxyz"), "{text}");
    assert_eq!(mock.logins(), 0);
    assert_eq!(mock.requests().len(), 1);
    assert!(mock.acknowledgements().is_empty());
    assert_eq!(mock.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn login_mode_logs_in_once_then_again_on_401() {
    let mock = MockCentreon::start(None, LOGIN, PASSWORD);
    let c = login_client(&mock, PASSWORD);
    c.acknowledge(&service_ack()).await.unwrap();
    c.acknowledge(&service_ack()).await.unwrap();
    assert_eq!(mock.logins(), 1, "the session token is reused");
    mock.expire_sessions();
    c.acknowledge(&service_ack()).await.unwrap();
    assert_eq!(mock.logins(), 2, "a 401 logs in again");
    assert_eq!(mock.acknowledgements().len(), 3);
    let paths: Vec<String> = mock
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.path, r.status))
        .collect();
    assert_eq!(
        paths,
        [
            "/login 200",
            "/monitoring/resources/acknowledge 204",
            "/monitoring/resources/acknowledge 204",
            "/monitoring/resources/acknowledge 401",
            "/login 200",
            "/monitoring/resources/acknowledge 204"
        ]
    );
    let login = mock.requests()[0].json().unwrap();
    assert_eq!(
        login,
        json!({"security": {"credentials": {"login": LOGIN, "password": PASSWORD}}})
    );
    assert_eq!(mock.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn login_mode_401_after_a_fresh_login_stops() {
    let mock = MockCentreon::start(None, LOGIN, PASSWORD);
    let c = login_client(&mock, PASSWORD);
    c.login().await.unwrap();
    mock.push_reply(MockResponse::json(
        401,
        &json!({"code": 401, "message": "Invalid token"}),
    ));
    mock.push_reply(MockResponse::json(
        401,
        &json!({"code": 401, "message": "Invalid token"}),
    ));
    let e = c.acknowledge(&service_ack()).await.unwrap_err();
    assert!(
        matches!(e, CentreonError::Unauthorized { .. }) && e.is_config_error(),
        "{e:?}"
    );
    assert_eq!(mock.logins(), 2, "exactly one new login");
    // Wrong password: the login itself is refused; never shown.
    let bad = login_client(&mock, "wrongPassword1234");
    let e = bad.acknowledge(&service_ack()).await.unwrap_err();
    assert!(matches!(e, CentreonError::Unauthorized { status: 401, .. }) && e.is_config_error());
    assert!(!format!("{e} {e:?} {bad:?}").contains("wrongPassword"));
    assert_eq!(mock.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn server_errors_are_retryable_other_4xx_are_not() {
    let mock = MockCentreon::start(Some(API_TOKEN), LOGIN, PASSWORD);
    let c = token_client(&mock, API_TOKEN);
    mock.push_reply(MockResponse::json(
        500,
        &json!({"code": 500, "message": "Internal Server Error"}),
    ));
    let e = c.acknowledge(&service_ack()).await.unwrap_err();
    assert!(matches!(e, CentreonError::Server { status: 500, .. }) && e.is_retryable());
    mock.push_reply(MockResponse::empty(502));
    assert!(c
        .acknowledge(&service_ack())
        .await
        .unwrap_err()
        .is_retryable());
    mock.push_reply(MockResponse::json(
        403,
        &json!({"code": 403, "message": "You are not authorized to access this resource"}),
    ));
    let e = c.acknowledge(&service_ack()).await.unwrap_err();
    assert!(matches!(e, CentreonError::Forbidden { .. }) && e.is_config_error());
    mock.push_reply(MockResponse::json(
        400,
        &json!({"code": 400, "message": "Resource not found"}),
    ));
    let e = c.acknowledge(&service_ack()).await.unwrap_err();
    assert!(matches!(e, CentreonError::Rejected { status: 400, .. }));
    assert!(!e.is_retryable() && !e.is_config_error());
    // And after all that, it works.
    c.acknowledge(&service_ack()).await.unwrap();
    assert_eq!(mock.acknowledgements().len(), 1);
    let down = CentreonClient::new(
        "http://127.0.0.1:9/centreon/api/latest",
        CentreonAuth::Token(Secret::new(API_TOKEN)),
        Duration::from_secs(2),
    )
    .unwrap();
    let e = down.acknowledge(&service_ack()).await.unwrap_err();
    assert!(matches!(e, CentreonError::Network { .. }) && e.is_retryable());
    assert_eq!(mock.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn check_access_lists_one_resource_and_changes_nothing() {
    // Token mode: one authenticated `GET /monitoring/resources?limit=1`, answered 200.
    let mock = MockCentreon::start(Some(API_TOKEN), LOGIN, PASSWORD);
    token_client(&mock, API_TOKEN).check_access().await.unwrap();
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        (reqs[0].request.method.as_str(), reqs[0].path.as_str()),
        ("GET", "/monitoring/resources")
    );
    assert_eq!(
        reqs[0].request.query,
        vec![("limit".to_owned(), "1".to_owned())]
    );
    assert_eq!(reqs[0].request.header("x-auth-token"), Some(API_TOKEN));
    assert_eq!(reqs[0].status, 200);

    // A revoked (or wrong) token: 401, a configuration error that never shows the token.
    mock.set_token_valid(false);
    let c = token_client(&mock, API_TOKEN);
    let e = c.check_access().await.unwrap_err();
    assert!(
        matches!(e, CentreonError::Unauthorized { status: 401, .. }),
        "{e:?}"
    );
    assert!(e.is_config_error() && !e.is_retryable());
    assert!(e.to_string().contains("centreon_api_token_file"), "{e}");
    assert!(!format!("{e} {e:?} {c:?}").contains(API_TOKEN));
    mock.set_token_valid(true);
    c.check_access().await.unwrap();
    assert_eq!(mock.logins(), 0);
    assert!(mock.acknowledgements().is_empty());
    assert!(!mock.requests().iter().any(|r| r.is_acknowledge()));
    assert_eq!(mock.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn check_access_in_login_mode_logs_in_first() {
    let mock = MockCentreon::start(None, LOGIN, PASSWORD);
    login_client(&mock, PASSWORD).check_access().await.unwrap();
    assert_eq!(mock.logins(), 1);
    let paths: Vec<String> = mock
        .requests()
        .iter()
        .map(|r| format!("{} {} {}", r.request.method, r.path, r.status))
        .collect();
    assert_eq!(paths, ["POST /login 200", "GET /monitoring/resources 200"]);
    // The listing used the session token the login gave.
    let reqs = mock.requests();
    assert!(reqs[1]
        .request
        .header("x-auth-token")
        .is_some_and(|t| t.starts_with("session")));
    // A wrong password: the login is refused, a configuration error; nothing listed.
    let e = login_client(&mock, "wrongPassword1234")
        .check_access()
        .await
        .unwrap_err();
    assert!(
        matches!(e, CentreonError::Unauthorized { status: 401, .. }) && e.is_config_error(),
        "{e:?}"
    );
    assert_eq!(mock.requests().len(), 3);
    assert!(mock.requests()[2].is_login());
    assert!(mock.acknowledgements().is_empty());
    assert_eq!(mock.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn is_acknowledged_reads_the_resource_details_and_changes_nothing() {
    let mock = MockCentreon::start(Some(API_TOKEN), LOGIN, PASSWORD);
    let c = token_client(&mock, API_TOKEN);
    let service = service_ack().resource;
    let host = Resource::Host { host_id: 14 };
    assert!(!c.is_acknowledged(service).await.unwrap());
    assert!(!c.is_acknowledged(host).await.unwrap());
    c.acknowledge(&service_ack()).await.unwrap();
    assert!(c.is_acknowledged(service).await.unwrap());
    assert!(!c.is_acknowledged(host).await.unwrap(), "only the service");
    let paths: Vec<String> = mock
        .requests()
        .iter()
        .filter(|r| r.is_details())
        .map(|r| format!("{} {} {}", r.request.method, r.path, r.status))
        .collect();
    assert_eq!(
        paths,
        [
            "GET /monitoring/resources/hosts/14/services/27 200",
            "GET /monitoring/resources/hosts/14 200",
            "GET /monitoring/resources/hosts/14/services/27 200",
            "GET /monitoring/resources/hosts/14 200",
        ]
    );
    assert!(mock.requests().iter().filter(|r| r.is_details()).all(|r| r
        .request
        .header("x-auth-token")
        == Some(API_TOKEN)
        && r.request.body.is_empty()));
    assert_eq!(mock.acknowledgements().len(), 1, "reading changes nothing");

    // Errors are those of an acknowledgement: 401 in token mode is configuration, 5xx retryable,
    // 404 (the resource is gone) rejected.
    mock.set_details_status(Some(503));
    let e = c.is_acknowledged(service).await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    mock.set_details_status(Some(404));
    let e = c.is_acknowledged(service).await.unwrap_err();
    assert!(
        matches!(e, CentreonError::Rejected { status: 404, .. }),
        "{e:?}"
    );
    mock.set_details_status(None);
    mock.set_token_valid(false);
    let e = c.is_acknowledged(service).await.unwrap_err();
    assert!(e.is_config_error(), "{e:?}");
    assert!(!format!("{e} {e:?}").contains(API_TOKEN));
    assert_eq!(mock.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn is_acknowledged_in_login_mode_logs_in_again_when_the_session_expired() {
    let mock = MockCentreon::start(None, LOGIN, PASSWORD);
    let c = login_client(&mock, PASSWORD);
    c.acknowledge(&service_ack()).await.unwrap();
    mock.expire_sessions();
    assert!(c.is_acknowledged(service_ack().resource).await.unwrap());
    assert_eq!(mock.logins(), 2);
    let statuses: Vec<String> = mock
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.path, r.status))
        .collect();
    assert_eq!(
        statuses,
        [
            "/login 200",
            "/monitoring/resources/acknowledge 204",
            "/monitoring/resources/hosts/14/services/27 401",
            "/login 200",
            "/monitoring/resources/hosts/14/services/27 200",
        ]
    );
    assert_eq!(mock.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn is_acknowledged_needs_a_boolean_acknowledged() {
    // A server that answers 200 with something else (a proxy's page, another API): malformed,
    // retryable, its text bounded.
    let server = mock_http::serve(std::sync::Arc::new(|_req| {
        MockResponse::json(200, &json!({"id": 27, "acknowledged": "yes"}))
    }));
    let c = CentreonClient::new(
        &format!("http://{server}/centreon/api/latest"),
        CentreonAuth::Token(Secret::new(API_TOKEN)),
        Duration::from_secs(5),
    )
    .unwrap();
    let e = c.is_acknowledged(service_ack().resource).await.unwrap_err();
    assert!(
        matches!(e, CentreonError::Malformed { .. }) && e.is_retryable(),
        "{e:?}"
    );
    assert!(e.to_string().contains("acknowledged"), "{e}");
}
