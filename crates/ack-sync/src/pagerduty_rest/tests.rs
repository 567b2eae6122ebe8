//! Unit tests: regions, the 429 wait, the classification of answers, the lenient parsing of
//! pages (the private parts of `error` and `wire` included).

use super::error::{classify, retry_after, MAX_RETRY_AFTER};
use super::wire::parse_page;
use super::*;
use reqwest::header::{HeaderMap, HeaderValue};
use std::time::Duration;

#[test]
fn regions() {
    assert_eq!("us".parse::<Region>(), Ok(Region::Us));
    assert_eq!("eu".parse::<Region>(), Ok(Region::Eu));
    assert!("mars".parse::<Region>().is_err());
    assert_eq!(Region::Eu.api_url(), "https://api.eu.pagerduty.com");
}

#[test]
fn retry_after_headers() {
    let mut h = HeaderMap::new();
    assert_eq!(retry_after(&h), None);
    h.insert("retry-after", HeaderValue::from_static("7"));
    assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
    h.insert("ratelimit-reset", HeaderValue::from_static("30"));
    assert_eq!(retry_after(&h), Some(Duration::from_secs(30)));
    h.insert("ratelimit-reset", HeaderValue::from_static("99999"));
    assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
    h.insert("ratelimit-reset", HeaderValue::from_static("-1"));
    assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
}

#[test]
fn classification_is_exclusive() {
    let h = HeaderMap::new();
    for status in [400u16, 401, 402, 403, 404, 429, 500, 502, 503, 302, 100] {
        let e = classify(status, &h, b"").unwrap_err();
        assert_ne!(e.is_retryable(), e.is_config_error(), "{status}");
    }
    assert!(classify(200, &h, b"").is_ok());
}

#[test]
fn pages_parse_leniently() {
    let page = parse_page(
        br#"{"incidents":[{"id":"P1","status":"acknowledged","incident_key":"1_2",
            "acknowledgements":[{"at":"x","acknowledger":{"id":"U","type":"user_reference","summary":"Ann"}},
                                {"at":"y","acknowledger":{"id":"S","type":"service_reference","summary":null}}]},
            {"id":"P2","status":"weird","incident_key":null}],"more":true,"limit":2,"offset":0}"#,
        0,
    )
    .unwrap();
    assert!(page.more);
    assert_eq!(page.incidents[0].acknowledgers, vec!["Ann".to_owned()]);
    assert_eq!(page.incidents[0].who(), "Ann");
    assert_eq!(page.incidents[1].incident_key, None);
    assert_eq!(page.incidents[1].created_at, None);
    assert_eq!(page.incidents[1].who(), "PagerDuty");
    assert_eq!(
        page.incidents[1].status,
        IncidentStatus::Other("weird".into())
    );
    assert!(matches!(
        parse_page(b"<html>", 0),
        Err(RestError::Malformed { .. })
    ));
    assert!(matches!(
        parse_page(br#"{"more":false}"#, 0),
        Err(RestError::Malformed { .. })
    ));
}
