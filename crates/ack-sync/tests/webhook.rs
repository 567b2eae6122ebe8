//! PagerDuty webhooks V3: signature before parsing, rotation, replays, body limit.

#![allow(clippy::unwrap_used)] // test helpers may unwrap: a failing setup fails the test

use ack_sync::webhook::{
    parse, sign, ReplayGuard, WebhookError, WebhookEvent, WebhookVerifier, MAX_BODY_BYTES,
};
use ack_sync::Secret;
use serde_json::json;
use std::time::Duration;

const OLD: &str = "oldWebhookSecret0000aaaa";
const NEW: &str = "newWebhookSecret1111bbbb";
const NOW: i64 = 1_601_664_322 + 30; // 30 s after the events' occurred_at

fn ack_body(event_id: &str, with_key: bool) -> Vec<u8> {
    let mut data = json!({"id": "PGR0VU2", "type": "incident", "number": 2, "status": "acknowledged",
        "created_at": "2020-04-09T15:16:27Z", "title": "CPU on srv1",
        "service": {"id": "PF9KMXH", "type": "service_reference", "summary": "Centreon"}});
    if with_key {
        data["incident_key"] = json!("14_27");
    }
    json!({"event": {"id": event_id, "event_type": "incident.acknowledged", "resource_type": "incident",
        "occurred_at": "2020-10-02T18:45:22.169Z",
        "agent": {"id": "PLH1HKV", "type": "user_reference", "summary": "Ann Oncall"},
        "client": {"name": "PagerDuty"}, "data": data}})
    .to_string()
    .into_bytes()
}

fn verifier(secrets: &[&str]) -> WebhookVerifier {
    WebhookVerifier::new(secrets.iter().map(|s| Secret::new(*s)).collect()).unwrap()
}

#[test]
fn valid_signature_gives_the_acknowledgement() {
    let body = ack_body("ev-1", true);
    let header = sign(&Secret::new(NEW), &body);
    let ev = verifier(&[NEW])
        .verify_and_parse(Some(header.as_bytes()), &body)
        .unwrap();
    let WebhookEvent::Acknowledged(ack) = ev else {
        panic!("{ev:?}")
    };
    assert_eq!(ack.event_id, "ev-1");
    assert_eq!(ack.incident_id, "PGR0VU2");
    assert_eq!(ack.incident_key.as_deref(), Some("14_27"));
    assert_eq!(ack.acknowledger.as_deref(), Some("Ann Oncall"));
    assert_eq!(ack.occurred_at, "2020-10-02T18:45:22.169Z");
    assert_eq!(ack.occurred_at_unix, 1_601_664_322);
    let body = ack_body("ev-2", false);
    let header = sign(&Secret::new(NEW), &body);
    let Ok(WebhookEvent::Acknowledged(ack)) =
        verifier(&[NEW]).verify_and_parse(Some(header.as_bytes()), &body)
    else {
        panic!()
    };
    assert_eq!(ack.incident_key, None);
}

#[test]
fn bad_missing_or_malformed_signatures_are_401_and_never_parsed() {
    let v = verifier(&[NEW]);
    let body = ack_body("ev-1", true);
    let wrong = sign(&Secret::new("someoneElsesSecret"), &body);
    assert_eq!(
        v.verify_and_parse(Some(wrong.as_bytes()), &body),
        Err(WebhookError::BadSignature)
    );
    assert_eq!(
        v.verify_and_parse(None, &body),
        Err(WebhookError::MissingSignature)
    );
    assert_eq!(
        v.verify_and_parse(Some(b""), &body),
        Err(WebhookError::MalformedSignature)
    );
    assert_eq!(
        v.verify_and_parse(Some(b"v1=xyz"), &body),
        Err(WebhookError::MalformedSignature)
    );
    // A signature of another body does not carry over (tampered body).
    let good = sign(&Secret::new(NEW), &body);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    assert_eq!(
        v.verify_and_parse(Some(good.as_bytes()), &tampered),
        Err(WebhookError::BadSignature)
    );
    // Garbage that is not signed is refused before parsing: 401, not 400.
    assert_eq!(
        v.verify_and_parse(Some(good.as_bytes()), b"not json"),
        Err(WebhookError::BadSignature)
    );
    for e in [
        WebhookError::BadSignature,
        WebhookError::MissingSignature,
        WebhookError::MalformedSignature,
    ] {
        assert_eq!(e.http_status(), 401);
    }
    // Upper-case hex is the same signature.
    assert!(v
        .verify(
            Some(good.to_uppercase().replace("V1=", "v1=").as_bytes()),
            &body
        )
        .is_ok());
    assert!(WebhookVerifier::new(vec![Secret::new("")]).is_err());
}

#[test]
fn rotation_accepts_either_secret() {
    let body = ack_body("ev-1", true);
    let by_old = sign(&Secret::new(OLD), &body);
    let by_new = sign(&Secret::new(NEW), &body);
    // PagerDuty signs with both during a rotation: "v1=old,v1=new".
    let both = format!("{by_old},{by_new}");
    assert!(verifier(&[NEW])
        .verify(Some(both.as_bytes()), &body)
        .is_ok());
    assert!(verifier(&[OLD])
        .verify(Some(both.as_bytes()), &body)
        .is_ok());
    // The receiver may hold both secrets while PagerDuty still signs with one.
    assert!(verifier(&[OLD, NEW])
        .verify(Some(by_old.as_bytes()), &body)
        .is_ok());
    assert!(verifier(&[OLD, NEW])
        .verify(Some(by_new.as_bytes()), &body)
        .is_ok());
    assert_eq!(
        verifier(&[NEW]).verify(Some(by_old.as_bytes()), &body),
        Err(WebhookError::BadSignature)
    );
    // Unknown versions are ignored.
    let mixed = format!("v2=abcd, {by_new}");
    assert!(verifier(&[NEW])
        .verify(Some(mixed.as_bytes()), &body)
        .is_ok());
}

#[test]
fn replayed_and_stale_events_are_refused() {
    let v = verifier(&[NEW]);
    let mut guard = ReplayGuard::new(100, Duration::from_secs(600));
    let body = ack_body("ev-7", true);
    let header = sign(&Secret::new(NEW), &body);
    let ev = v.verify_and_parse(Some(header.as_bytes()), &body).unwrap();
    let WebhookEvent::Acknowledged(ack) = ev else {
        panic!()
    };
    guard
        .check(&ack.event_id, ack.occurred_at_unix, NOW)
        .unwrap();
    let e = guard
        .check(&ack.event_id, ack.occurred_at_unix, NOW)
        .unwrap_err();
    assert!(matches!(e, WebhookError::Replayed { .. }));
    assert_eq!(e.http_status(), 401);
    let e = guard
        .check("ev-8", ack.occurred_at_unix, NOW + 3600)
        .unwrap_err();
    assert!(matches!(e, WebhookError::Stale { age_secs: 3630, .. }));
    assert_eq!(e.http_status(), 401);
}

#[test]
fn bodies_over_the_limit_are_413() {
    let v = verifier(&[NEW]);
    let body = vec![b' '; MAX_BODY_BYTES + 1];
    let header = sign(&Secret::new(NEW), &body);
    let e = v
        .verify_and_parse(Some(header.as_bytes()), &body)
        .unwrap_err();
    assert_eq!(
        e,
        WebhookError::TooLarge {
            len: MAX_BODY_BYTES + 1
        }
    );
    assert_eq!(e.http_status(), 413);
    // Even unsigned: the size is checked first.
    assert_eq!(v.verify(None, &body).unwrap_err().http_status(), 413);
}

#[test]
fn other_events_and_malformed_envelopes() {
    let ping = br#"{"event":{"id":"01","event_type":"pagey.ping","resource_type":"pagey","occurred_at":"2021-12-08T22:43:56.000Z","agent":null,"client":null,"data":{"message":"Hello from your friend Pagey!","type":"ping"}}}"#;
    assert_eq!(
        parse(ping),
        Ok(WebhookEvent::Other {
            event_id: "01".into(),
            event_type: "pagey.ping".into()
        })
    );
    for bad in [
        &br#"{}"#[..],
        br#"{"event":{"id":"","event_type":"incident.acknowledged"}}"#,
        br#"{"event":{"id":"1","event_type":"incident.acknowledged","occurred_at":"yesterday","data":{"id":"P"}}}"#,
        br#"{"event":{"id":"1","event_type":"incident.acknowledged","occurred_at":"2021-12-08T22:43:56Z"}}"#,
        br#"{"event":{"id":"1","event_type":"incident.acknowledged","occurred_at":"2021-12-08T22:43:56Z","data":{"id":"P","type":"incident_note"}}}"#,
        b"\xff\xfe",
    ] {
        let e = parse(bad).unwrap_err();
        assert!(matches!(e, WebhookError::Malformed { .. }), "{e:?}");
        assert_eq!(e.http_status(), 400);
    }
}
