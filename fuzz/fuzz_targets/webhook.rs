//! A PagerDuty webhook V3 body as the listener receives it: the signature check (which must
//! refuse it: the fuzzer knows no secret) and then the parser, fed directly (it runs only on
//! verified bodies in the daemon, but must be total on any bytes).
#![no_main]
use ack_sync::webhook::{parse, WebhookVerifier};
use ack_sync::Secret;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First line: a signature header; the rest: the body.
    let (header, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    if let Ok(v) = WebhookVerifier::new(vec![Secret::new("fuzz-secret")]) {
        let _ = v.verify(Some(header), body);
    }
    if let Ok(ack_sync::webhook::WebhookEvent::Acknowledged(a)) = parse(body) {
        assert!(!a.event_id.is_empty() && !a.incident_id.is_empty());
    }
});
