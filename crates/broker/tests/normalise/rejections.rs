//! Rejections and ignored events: invalid JSON or UTF-8, missing ids and elements.

use crate::helpers::{neb, norm, rejected, remove, v2_service_status};
use broker::{normalise_line, Ignored, Normalised, RejectReason};
use serde_json::json;

#[test]
fn invalid_json_and_utf8_rejected_with_ids() {
    let line = br#"{"_type":65560,"category":1,"element":24,"host_id":101,"service_id":2001,"state":2,"output":"cut here"#;
    let r = normalise_line(line).unwrap_err();
    assert!(matches!(r.reason, RejectReason::Json(_)), "{r:?}");
    assert_eq!(
        (r.element, r.host_id, r.service_id),
        (Some(24), Some(101), Some(2001))
    );
    assert!(r.looks_like_alert());
    assert!(r.to_string().starts_with("invalid JSON"), "{r}");

    let mut line = br#"{"_type":65565,"category":1,"element":29,"host_id":301,"service_id":3001,"state":2,"output":""#.to_vec();
    line.extend_from_slice(b"\xff\xfe bad\"}");
    let r = normalise_line(&line).unwrap_err();
    assert_eq!(r.reason, RejectReason::Utf8);
    assert_eq!(
        (r.element, r.host_id, r.service_id),
        (Some(29), Some(301), Some(3001))
    );
    assert!(r.looks_like_alert());

    // Spaces around the colon.
    let r = normalise_line(br#"{"element" : 1, "host_id":  7, oops}"#).unwrap_err();
    assert_eq!(
        (r.element, r.host_id, r.service_id),
        (Some(1), Some(7), None)
    );
    assert!(r.looks_like_alert());

    // A definition is not an alert.
    let r = normalise_line(br#"{"element":12,"host_id":7,"#).unwrap_err();
    assert!(!r.looks_like_alert());

    // Not an object; empty; garbage. (`[]` is a valid empty serde sequence: no element.)
    for line in [
        &b"[]"[..],
        b"42",
        b"\"x\"",
        b"null",
        b"",
        b"   ",
        b"{",
        b"}{",
        b"\x00",
    ] {
        let r = normalise_line(line).unwrap_err();
        assert!(
            matches!(
                r.reason,
                RejectReason::Json(_) | RejectReason::Utf8 | RejectReason::NoElement
            ),
            "{line:?}: {r:?}"
        );
        assert!(!r.looks_like_alert());
    }
}

#[test]
fn missing_ids_and_elements() {
    // No category/element/_type.
    let r = rejected(&json!({"host_id": 1, "state": 2}));
    assert_eq!(r.reason, RejectReason::NoElement);
    // A status without host_id, or a service status without service_id.
    let r = rejected(&remove(v2_service_status(), "host_id"));
    assert_eq!(r.reason, RejectReason::NoHostId);
    assert_eq!(r.element, Some(24));
    assert!(r.looks_like_alert());
    let r = rejected(&remove(v2_service_status(), "service_id"));
    assert!(r.looks_like_alert());
    assert_eq!(r.host_id, Some(101));
    // An element the rules do not use is ignored, with or without ids.
    let comment = neb(2, json!({"host_id": 1, "data": "x"}));
    assert_eq!(
        norm(&comment),
        Ok(Normalised::Ignored(Ignored::Element {
            category: 1,
            element: 2
        }))
    );
    let instance = neb(42, json!({"poller_id": 1}));
    assert_eq!(
        norm(&instance),
        Ok(Normalised::Ignored(Ignored::Element {
            category: 1,
            element: 42
        }))
    );
    // Other categories (storage metrics) are ignored.
    let metric = json!({"_type": (3 << 16) | 1, "category": 3, "element": 1, "metric_id": 5});
    assert!(matches!(norm(&metric), Ok(Normalised::Ignored(_))));
}
