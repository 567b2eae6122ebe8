//! Properties of the webhook verifier and parser (the stable-toolchain twin of
//! fuzz/fuzz_targets/webhook.rs): total on any bytes, and signatures hold exactly.

#![allow(clippy::unwrap_used)] // test helpers may unwrap: a failing setup fails the test

use ack_sync::webhook::{parse, sign, WebhookError, WebhookEvent, WebhookVerifier};
use ack_sync::Secret;
use proptest::prelude::*;
use serde_json::json;

proptest! {
    #[test]
    fn any_bytes_never_panic(header in proptest::collection::vec(any::<u8>(), 0..200),
                             body in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let v = WebhookVerifier::new(vec![Secret::new("s3cret")]).unwrap();
        // Without the secret, nothing verifies.
        prop_assert!(v.verify(Some(&header), &body).is_err());
        let _ = parse(&body);
    }

    #[test]
    fn signed_bodies_verify_and_only_with_their_secret(body in proptest::collection::vec(any::<u8>(), 0..2000),
                                                       secret in "[A-Za-z0-9+/]{8,40}") {
        let s = Secret::new(secret.clone());
        let header = sign(&s, &body);
        let v = WebhookVerifier::new(vec![s]).unwrap();
        prop_assert!(v.verify(Some(header.as_bytes()), &body).is_ok());
        let other = WebhookVerifier::new(vec![Secret::new(format!("{secret}x"))]).unwrap();
        prop_assert_eq!(other.verify(Some(header.as_bytes()), &body), Err(WebhookError::BadSignature));
    }

    #[test]
    fn acknowledged_events_round_trip(id in "[ -~]{1,40}", incident in "P[A-Z0-9]{1,10}",
                                      key in proptest::option::of("[0-9]{1,6}_[0-9H]{1,6}"),
                                      who in proptest::option::of("\\PC{1,30}")) {
        let mut data = json!({"id": incident, "type": "incident"});
        if let Some(k) = &key { data["incident_key"] = json!(k); }
        let agent = who.as_ref().map(|w| json!({"summary": w, "type": "user_reference", "id": "U"}));
        let body = json!({"event": {"id": id, "event_type": "incident.acknowledged",
            "occurred_at": "2026-01-02T03:04:05Z", "agent": agent, "data": data}}).to_string();
        let WebhookEvent::Acknowledged(a) = parse(body.as_bytes()).unwrap() else { panic!() };
        prop_assert_eq!(a.event_id, id);
        prop_assert_eq!(a.incident_id, incident);
        prop_assert_eq!(a.incident_key, key);
        prop_assert_eq!(a.acknowledger, who.filter(|w| !w.trim().is_empty()));
    }
}
