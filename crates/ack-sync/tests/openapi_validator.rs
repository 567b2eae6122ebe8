//! The validator of tests/common/openapi.rs refuses what the specifications refuse.

#![allow(clippy::unwrap_used)] // test helpers may unwrap: a failing setup fails the test

#[path = "../../../tests/common/openapi.rs"]
mod openapi;

use openapi::{HttpRequest, Spec};

fn req(
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    body: &str,
) -> HttpRequest {
    HttpRequest {
        method: method.into(),
        path: path.into(),
        query: query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

const PD_HEADERS: &[(&str, &str)] = &[
    ("Accept", "application/vnd.pagerduty+json;version=2"),
    ("Content-Type", "application/json"),
    ("Authorization", "Token token=x"),
];

#[test]
fn pagerduty_listing() {
    let spec = Spec::pagerduty_rest();
    let ok = req(
        "GET",
        "/incidents",
        &[
            ("statuses[]", "acknowledged"),
            ("limit", "100"),
            ("offset", "0"),
            ("date_range", "all"),
        ],
        PD_HEADERS,
        "",
    );
    assert_eq!(spec.check_request(&ok), Vec::<String>::new());
    let bad_status = req(
        "GET",
        "/incidents",
        &[("statuses[]", "acked")],
        PD_HEADERS,
        "",
    );
    assert_eq!(spec.check_request(&bad_status).len(), 1);
    let bad_limit = req("GET", "/incidents", &[("limit", "ten")], PD_HEADERS, "");
    assert_eq!(spec.check_request(&bad_limit).len(), 1);
    let unknown = req(
        "GET",
        "/incidents",
        &[("status", "acknowledged")],
        PD_HEADERS,
        "",
    );
    assert_eq!(spec.check_request(&unknown).len(), 1);
    let no_headers = req("GET", "/incidents", &[], &[], "");
    // Accept, Content-Type, and the api_key security scheme.
    assert_eq!(
        spec.check_request(&no_headers).len(),
        3,
        "{:?}",
        spec.check_request(&no_headers)
    );
    assert_eq!(
        spec.check_request(&req("GET", "/incident", &[], PD_HEADERS, ""))
            .len(),
        1
    );
    let answer = serde_json::json!({"incidents": [{"id": "P1", "status": "nope", "acknowledgements": [{"at": "x"}]}], "more": "yes"});
    assert_eq!(
        spec.check_response("GET", "/incidents", 200, &answer).len(),
        3,
        "{:?}",
        spec.check_response("GET", "/incidents", 200, &answer)
    );
}

#[test]
fn centreon_operations() {
    let spec = Spec::centreon();
    let json = &[("Content-Type", "application/json")];
    let login = req(
        "POST",
        "/login",
        &[],
        json,
        r#"{"security":{"credentials":{"login":"a","password":"b"}}}"#,
    );
    assert_eq!(spec.check_request(&login), Vec::<String>::new());
    assert_eq!(
        spec.check_request(&req("POST", "/login", &[], json, ""))
            .len(),
        1
    );
    let ack = r#"{"acknowledgement":{"comment":"c","is_notify_contacts":false,"is_persistent_comment":true,"is_sticky":true,"with_services":false},"resources":[{"type":"host","id":1,"parent":null}]}"#;
    let with_token = &[("Content-Type", "application/json"), ("X-AUTH-TOKEN", "t")];
    assert_eq!(
        spec.check_request(&req(
            "POST",
            "/monitoring/resources/acknowledge",
            &[],
            with_token,
            ack
        )),
        Vec::<String>::new()
    );
    // No token: the Token (or Cookie) security scheme is not satisfied.
    assert_eq!(
        spec.check_request(&req(
            "POST",
            "/monitoring/resources/acknowledge",
            &[],
            json,
            ack
        ))
        .len(),
        1
    );
    let bad = r#"{"acknowledgement":{"is_sticky":"yes"},"resources":[{"type":"service","id":"27","parent":{"id":1.5}}]}"#;
    assert_eq!(
        spec.check_request(&req(
            "POST",
            "/monitoring/resources/acknowledge",
            &[],
            with_token,
            bad
        ))
        .len(),
        3
    );
}

#[test]
fn centreon_resource_listing() {
    let spec = Spec::centreon();
    let token = &[("Accept", "application/json"), ("X-AUTH-TOKEN", "t")];
    let ok = req("GET", "/monitoring/resources", &[("limit", "1")], token, "");
    assert_eq!(spec.check_request(&ok), Vec::<String>::new());
    let paged = req(
        "GET",
        "/monitoring/resources",
        &[
            ("page", "2"),
            ("limit", "20"),
            ("search", r#"{"h.name":"Central"}"#),
        ],
        token,
        "",
    );
    assert_eq!(spec.check_request(&paged), Vec::<String>::new());
    // limit has a minimum of 1; `count` is no parameter of this operation; no token.
    let zero = req("GET", "/monitoring/resources", &[("limit", "0")], token, "");
    assert_eq!(
        spec.check_request(&zero).len(),
        1,
        "{:?}",
        spec.check_request(&zero)
    );
    let unknown = req("GET", "/monitoring/resources", &[("count", "1")], token, "");
    assert_eq!(spec.check_request(&unknown).len(), 1);
    let anonymous = req("GET", "/monitoring/resources", &[("limit", "1")], &[], "");
    assert_eq!(spec.check_request(&anonymous).len(), 1);
    // A body where the operation takes none.
    let body = req("GET", "/monitoring/resources", &[], token, "{}");
    assert_eq!(spec.check_request(&body).len(), 1);
    let answer = serde_json::json!({"result": [], "meta": {"page": 1, "limit": 1,
        "search": {}, "sort_by": {}, "total": 0}});
    assert_eq!(
        spec.check_response("GET", "/monitoring/resources", 200, &answer),
        Vec::<String>::new()
    );
    let wrong = serde_json::json!({"result": {}, "meta": {"page": "1"}});
    assert_eq!(
        spec.check_response("GET", "/monitoring/resources", 200, &wrong)
            .len(),
        2
    );
}
