//! PagerDuty webhooks V3: a signed event polls at once (secret rotation, replays refused);
//! unsigned, badly signed, too large or misdirected ones are refused and do nothing.

use crate::common::*;
use crate::helpers::{
    acks_for, config, listings, paged, secret_file, wait_acks, Apis, Auth, CENTREON_TOKEN,
    PD_API_TOKEN,
};
use serde_json::{json, Value};
use std::time::Duration;

#[test]
fn a_webhook_polls_at_once_and_bad_signatures_are_refused() {
    let events = MockPagerDuty::start();
    let apis = Apis::start();
    let port = free_port();
    let secret = "whsec-rotated-NEW0123456789";
    let mut d = Daemon::prepare(
        config(&events, &apis, Auth::Token)
            .set_str("sync", "poll_interval", "1h")
            .set_str("sync", "webhook_listen", &format!("127.0.0.1:{port}"))
            .set_str("sync", "webhook_secret_file", "{DIR}/webhook.secret"),
    );
    let dir = d.dir.path().to_owned();
    secret_file(&dir, "pd-api.key", &format!("{PD_API_TOKEN}\n"));
    secret_file(&dir, "centreon.token", &format!("{CENTREON_TOKEN}\n"));
    secret_file(
        &dir,
        "webhook.secret",
        &format!("whsec-OLD-0123456789\n{secret}\n"),
    );
    d.spawn();
    d.wait_ready(WAIT);
    let mut svc = Svc::new(5400, 54000);
    paged(&d, &events, &mut svc);
    // The first listing comes a second after the start; the next one only in an hour.
    assert!(apis.pd.wait_listings(1, WAIT), "no listing");
    apis.acknowledge_incident("PHOOK01", &svc.dedup_key(), "Jane Doe");
    let body = webhook_body("01DHOOK1", "PHOOK01");
    let url = format!("http://127.0.0.1:{port}/");

    // Unsigned, badly signed, too large, another path: refused, nothing done.
    assert_eq!(webhook(&url, &body, None), 401);
    assert_eq!(webhook(&url, &body, Some("v1=00ff")), 401);
    assert_eq!(
        webhook(&url, &body, Some(&sign("wrong-secret", &body))),
        401
    );
    let huge = vec![b' '; 300 * 1024];
    assert_eq!(webhook(&url, &huge, Some(&sign(secret, &huge))), 413);
    assert_eq!(
        webhook(
            &format!("http://127.0.0.1:{port}/metrics"),
            &body,
            Some(&sign(secret, &body))
        ),
        404
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(listings(&apis), 1, "a refused webhook made the daemon poll");
    assert!(acks_for(&apis, &svc).is_empty());

    // Signed (with the new secret of a rotation, among others): polled at once.
    let signatures = format!("v1=deadbeef,{}", sign(secret, &body));
    assert_eq!(webhook(&url, &body, Some(&signatures)), 202);
    assert!(
        wait_acks(&apis, &svc, 1),
        "the webhook did not lead to the acknowledgement\n{}",
        d.log_tail(30)
    );
    // The same event again: a replay, refused.
    assert_eq!(webhook(&url, &body, Some(&signatures)), 401);
    let status: Value = serde_json::from_slice(&d.cli(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["sync"]["mode"], json!("poll+webhook"), "{status:#}");
    apis.assert_no_violation();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A PagerDuty webhook V3 `incident.acknowledged` event.
fn webhook_body(event_id: &str, incident_id: &str) -> Vec<u8> {
    let now = format_timestamp(now_secs());
    json!({"event": {
        "id": event_id,
        "event_type": "incident.acknowledged",
        "resource_type": "incident",
        "occurred_at": now,
        "agent": {"html_url": "https://acme.pagerduty.com/users/PXPGF42", "id": "PXPGF42",
                  "self": "https://api.pagerduty.com/users/PXPGF42", "summary": "Jane Doe",
                  "type": "user_reference"},
        "client": null,
        "data": {"id": incident_id, "type": "incident", "number": 1, "status": "acknowledged",
                 "title": "disk full", "html_url": "https://acme.pagerduty.com/incidents/PHOOK01"}
    }})
    .to_string()
    .into_bytes()
}

fn sign(secret: &str, body: &[u8]) -> String {
    ack_sync::webhook::sign(&ack_sync::Secret::new(secret), body)
}

/// POST to the webhook listener (`http://127.0.0.1:PORT/PATH`); the status code (0: no answer).
fn webhook(url: &str, body: &[u8], signature: Option<&str>) -> u16 {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(sig) = signature {
        head.push_str(&format!("X-PagerDuty-Signature: {sig}\r\n"));
    }
    head.push_str("\r\n");
    // The listener may answer (413) and close before the whole body is written.
    let _ = s
        .write_all(head.as_bytes())
        .and_then(|()| s.write_all(body));
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}
