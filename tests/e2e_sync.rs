//! DESIGN §4.6, end to end: PagerDuty acknowledgements mirrored into Centreon by the real
//! binary, against a mock PagerDuty Events API (what the daemon sends), and the mocks of the
//! PagerDuty REST API and the Centreon API built on their official OpenAPI specifications
//! (`common::mock_pagerduty_rest`, `common::mock_centreon`): every request the daemon makes to
//! them is validated against `tests/fixtures/openapi/`, and each test ends with no violation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::mock_centreon::{self, MockCentreon};
use common::mock_http::MockResponse;
use common::mock_pagerduty_rest::{MockIncident, MockPagerDutyRest};
use common::*;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

/// The PagerDuty REST API key the mock accepts.
const PD_API_TOKEN: &str = "y_NbAkKc66ryYTWUXYEu";
/// The Centreon API token the mock accepts.
const CENTREON_TOKEN: &str = "centreon-api-token-0123456789";
/// The Centreon login and password the mock accepts.
const CENTREON_LOGIN: (&str, &str) = ("pagerduty-sync", "s3cret: with spaces");

/// How Centreon is reached.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Auth {
    Token,
    Login,
}

/// The two APIs the sync talks to, each validating what it receives against its specification.
struct Apis {
    pd: MockPagerDutyRest,
    centreon: MockCentreon,
}

impl Apis {
    fn start() -> Apis {
        Apis {
            pd: MockPagerDutyRest::start(PD_API_TOKEN),
            centreon: MockCentreon::start(Some(CENTREON_TOKEN), CENTREON_LOGIN.0, CENTREON_LOGIN.1),
        }
    }

    /// An incident opened by an event with `incident_key`, acknowledged in PagerDuty by `who`.
    fn acknowledge_incident(&self, id: &str, incident_key: &str, who: &str) {
        self.pd
            .upsert_incident(MockIncident::acknowledged(id, incident_key, who));
    }

    /// Every request the daemon made, as the official specifications say.
    fn assert_no_violation(&self) {
        assert_eq!(
            self.pd.violations(),
            Vec::<String>::new(),
            "PagerDuty REST requests departing from the specification"
        );
        assert_eq!(
            self.centreon.violations(),
            Vec::<String>::new(),
            "Centreon API requests departing from the specification"
        );
    }
}

fn secret_file(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
}

fn config(events: &MockPagerDuty, apis: &Apis, auth: Auth) -> Config {
    let c = Config::new(&events.url())
        .set_str("sync", "pagerduty_api_token_file", "{DIR}/pd-api.key")
        .set_str("sync", "pagerduty_api_url", &apis.pd.url())
        .set_str("sync", "poll_interval", "1s")
        .set_str("sync", "centreon_api_url", &apis.centreon.url());
    match auth {
        Auth::Token => c.set_str("sync", "centreon_api_token_file", "{DIR}/centreon.token"),
        Auth::Login => c.set_str("sync", "centreon_login_file", "{DIR}/centreon.login"),
    }
}

/// A daemon with `[sync]` on, its secret files written.
fn start(config: Config) -> Daemon {
    let mut d = Daemon::prepare(config);
    let dir = d.dir.path().to_owned();
    secret_file(&dir, "pd-api.key", &format!("{PD_API_TOKEN}\n"));
    secret_file(&dir, "centreon.token", &format!("{CENTREON_TOKEN}\n"));
    secret_file(
        &dir,
        "centreon.login",
        &format!("{}:{}\n", CENTREON_LOGIN.0, CENTREON_LOGIN.1),
    );
    d.spawn();
    d.wait_ready(WAIT);
    d
}

/// A service paged: its trigger delivered, its incident open in the daemon.
fn paged(d: &Daemon, events: &MockPagerDuty, svc: &mut Svc) {
    d.post_ok(&[svc.first_ok()]);
    d.post_ok(&[svc.critical("CRITICAL: disk full")]);
    let key = svc.dedup_key();
    assert!(
        events.wait_until(WAIT, |r| r
            .iter()
            .any(|r| r.delivered() && r.dedup_key() == Some(key.as_str()))),
        "the trigger was not delivered\n{}",
        d.log_tail(30)
    );
}

/// The bodies of the acknowledgements of `svc` Centreon took (204).
fn acks_for(apis: &Apis, svc: &Svc) -> Vec<Value> {
    apis.centreon
        .acknowledgements()
        .into_iter()
        .filter(|b| b["resources"][0]["id"] == svc.service_id)
        .collect()
}

fn wait_acks(apis: &Apis, svc: &Svc, n: usize) -> bool {
    poll_until(WAIT, || acks_for(apis, svc).len() >= n)
}

/// Polls seen so far.
fn listings(apis: &Apis) -> usize {
    apis.pd.listings()
}

/// Wait for `n` more listings (the daemon has looked again).
fn wait_listings(apis: &Apis, n: usize) {
    let target = listings(apis) + n;
    assert!(
        apis.pd.wait_listings(target, WAIT),
        "the daemon stopped polling"
    );
}

#[test]
fn an_acknowledgement_in_pagerduty_is_set_once_in_centreon_and_its_echo_sends_nothing() {
    let events = MockPagerDuty::start();
    let apis = Apis::start();
    let d = start(config(&events, &apis, Auth::Token));
    let mut svc = Svc::new(5100, 51000);
    paged(&d, &events, &mut svc);

    // An earlier episode's incident of the key, still listed acknowledged (its resolve not
    // taken yet): not the current problem's acknowledgement.
    apis.pd.upsert_incident(
        MockIncident::acknowledged("POLD001", &svc.dedup_key(), "Old Ack").created_ago(3600),
    );
    wait_listings(&apis, 2);
    assert!(
        acks_for(&apis, &svc).is_empty(),
        "an earlier episode's acknowledgement was mirrored"
    );
    apis.pd.set_status("POLD001", "resolved");

    apis.acknowledge_incident("PT4KHLK", &svc.dedup_key(), "Jane Doe");
    assert!(
        wait_acks(&apis, &svc, 1),
        "no Centreon acknowledgement\n{}",
        d.log_tail(30)
    );
    let ack = &acks_for(&apis, &svc)[0];
    assert_eq!(
        ack,
        &json!({
            "acknowledgement": {
                "comment": "Acknowledged in PagerDuty by Jane Doe",
                "is_notify_contacts": false,
                "is_persistent_comment": true,
                "is_sticky": true,
                "with_services": false
            },
            "resources": [{"type": "service", "id": svc.service_id, "parent": {"id": svc.host_id}}]
        })
    );
    let request = apis
        .centreon
        .requests()
        .into_iter()
        .find(mock_centreon::Recorded::is_acknowledge)
        .unwrap();
    assert_eq!(request.request.header("x-auth-token"), Some(CENTREON_TOKEN));

    // Centreon reports the acknowledgement back through Broker: PagerDuty hears nothing of it.
    let echo = format!(
        r#"{{"_type":65537,"category":1,"element":1,"host_id":{},"service_id":{},"instance_id":1,"acknowledgement_type":1,"author":"pagerduty-sync","comment_data":"Acknowledged in PagerDuty by Jane Doe","entry_time":{},"notify_contacts":false,"persistent_comment":true,"state":2,"sticky":true,"_cache":{{"host_name":"{}","service_description":"{}"}}}}"#,
        svc.host_id,
        svc.service_id,
        svc.clock + 10,
        svc.host,
        svc.service
    );
    d.post_ok(&[echo]);
    wait_listings(&apis, 3);
    let key = svc.dedup_key();
    assert_eq!(
        events.delivered_actions(&key),
        vec!["trigger"],
        "the echo of the mirrored acknowledgement went to PagerDuty\n{}",
        d.log_tail(30)
    );
    assert_eq!(
        acks_for(&apis, &svc).len(),
        1,
        "acknowledged in Centreon once"
    );

    // A resolve in PagerDuty changes nothing in Centreon.
    apis.pd.set_status("PT4KHLK", "resolved");
    wait_listings(&apis, 2);
    assert_eq!(acks_for(&apis, &svc).len(), 1);

    let status = d.cli(&["status", "--json"]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["sync"]["mirrored"], json!(1), "{status:#}");
    assert_eq!(status["sync"]["pending"], json!(0), "{status:#}");
    assert!(
        status["sync"]["last_poll_ms"].as_i64().is_some(),
        "{status:#}"
    );
    let text = String::from_utf8_lossy(&d.cli(&["status"]).stdout).into_owned();
    assert!(text.contains("acknowledgement sync"), "{text}");
    apis.assert_no_violation();
    assert_no_secret(&d, &text);
}

/// Tokens never printed whole: the logs, `status`, `check-config`.
fn assert_no_secret(d: &Daemon, status: &str) {
    let check = String::from_utf8_lossy(&d.cli(&["check-config"]).stdout).into_owned();
    for text in [d.logs(), status.to_owned(), check] {
        for secret in [PD_API_TOKEN, CENTREON_TOKEN, CENTREON_LOGIN.1] {
            assert!(!text.contains(secret), "a secret in:\n{text}");
        }
    }
}

#[test]
fn centreon_down_then_back_gets_the_acknowledgement_once_across_a_restart() {
    let events = MockPagerDuty::start();
    let apis = Apis::start();
    let mut d = start(config(&events, &apis, Auth::Login));
    let mut svc = Svc::new(5200, 52000);
    paged(&d, &events, &mut svc);

    apis.centreon.set_down(true);
    apis.acknowledge_incident("PDOWN01", &svc.dedup_key(), "John Smith");
    assert!(
        apis.centreon.wait_for(WAIT, |r| r
            .iter()
            .any(|r| r.is_acknowledge() && r.status == 503)),
        "the daemon did not try Centreon\n{}",
        d.log_tail(30)
    );
    let status: Value = serde_json::from_slice(&d.cli(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["sync"]["pending"], json!(1), "{status:#}");
    assert!(
        status["sync"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("Centreon")),
        "{status:#}"
    );

    // A restart while Centreon is down: the acknowledgement is still owed, and done once.
    assert!(d.sigterm(WAIT).is_some_and(|s| s.success()));
    apis.centreon.set_down(false);
    d.spawn();
    d.wait_ready(WAIT);
    assert!(
        wait_acks(&apis, &svc, 1),
        "not mirrored after the restart\n{}",
        d.log_tail(30)
    );
    wait_listings(&apis, 3);
    assert_eq!(acks_for(&apis, &svc).len(), 1, "mirrored once");
    assert!(apis.centreon.logins() >= 1, "login mode logs in");
    // Another restart repeats nothing.
    assert!(d.sigterm(WAIT).is_some_and(|s| s.success()));
    d.spawn();
    d.wait_ready(WAIT);
    wait_listings(&apis, 2);
    assert_eq!(acks_for(&apis, &svc).len(), 1, "a restart repeated it");
    apis.assert_no_violation();
}

/// An acknowledgement Centreon took whose answer was lost (here a 503 after taking it; in life
/// a timeout, or the daemon killed between Centreon's 204 and its record): before sending it
/// again the daemon asks Centreon, which shows the resource acknowledged, so it is not sent
/// twice. A restart afterwards repeats nothing.
#[test]
fn an_acknowledgement_centreon_took_is_not_sent_again_when_its_answer_was_lost() {
    let events = MockPagerDuty::start();
    let apis = Apis::start();
    let mut d = start(config(&events, &apis, Auth::Token));
    let mut svc = Svc::new(5300, 53000);
    paged(&d, &events, &mut svc);

    apis.centreon.take_and_fail();
    apis.acknowledge_incident("PLOST01", &svc.dedup_key(), "Dana Scully");
    assert!(
        apis.centreon.wait_for(WAIT, |r| r
            .iter()
            .any(|r| r.is_details() && r.status == 200)),
        "the daemon did not ask Centreon before trying again\n{}",
        d.log_tail(30)
    );
    assert!(
        poll_until(WAIT, || {
            let status: Value =
                serde_json::from_slice(&d.cli(&["status", "--json"]).stdout).unwrap_or_default();
            status["sync"]["pending"] == json!(0)
        }),
        "still pending\n{}",
        d.log_tail(30)
    );
    assert!(
        d.logs().contains("Already acknowledged in Centreon"),
        "{}",
        d.log_tail(30)
    );
    let posts = |apis: &Apis| {
        apis.centreon
            .requests()
            .iter()
            .filter(|r| r.is_acknowledge())
            .count()
    };
    assert_eq!(posts(&apis), 1, "sent once: the first attempt was taken");
    assert_eq!(acks_for(&apis, &svc).len(), 1);
    assert!(d.sigterm(WAIT).is_some_and(|s| s.success()));
    d.spawn();
    d.wait_ready(WAIT);
    wait_listings(&apis, 2);
    assert_eq!(posts(&apis), 1, "a restart repeated it");
    apis.assert_no_violation();
}

#[test]
fn an_expired_session_logs_in_again_and_a_refused_token_pauses_loudly() {
    // Login mode: the session expires; the next acknowledgement logs in again.
    let events = MockPagerDuty::start();
    let apis = Apis::start();
    let d = start(config(&events, &apis, Auth::Login));
    let mut one = Svc::new(5300, 53000);
    let mut two = Svc::new(5300, 53001);
    paged(&d, &events, &mut one);
    paged(&d, &events, &mut two);
    apis.acknowledge_incident("PONE001", &one.dedup_key(), "Jane Doe");
    assert!(wait_acks(&apis, &one, 1));
    let logins = apis.centreon.logins();
    apis.centreon.expire_sessions();
    apis.acknowledge_incident("PTWO002", &two.dedup_key(), "Jane Doe");
    assert!(
        wait_acks(&apis, &two, 1),
        "no new login after a 401\n{}",
        d.log_tail(30)
    );
    assert_eq!(apis.centreon.logins(), logins + 1, "one new login");
    apis.assert_no_violation();
    drop(d);

    // Token mode: a revoked token pauses the mirror with an error; it resumes once valid.
    let events = MockPagerDuty::start();
    let apis = Apis::start();
    apis.centreon.set_token_valid(false);
    let d = start(config(&events, &apis, Auth::Token).set_str("delivery", "config_probe", "1s"));
    let mut svc = Svc::new(5301, 53010);
    paged(&d, &events, &mut svc);
    apis.acknowledge_incident("PTOK001", &svc.dedup_key(), "Jane Doe");
    assert!(
        poll_until(WAIT, || {
            let s: Value =
                serde_json::from_slice(&d.cli(&["status", "--json"]).stdout).unwrap_or_default();
            s["sync"]["paused"]
                .as_str()
                .is_some_and(|p| p.contains("Centreon"))
        }),
        "a refused token did not pause the sync\n{}",
        d.log_tail(30)
    );
    assert!(
        d.logs().contains("ERROR") && d.logs().contains("centreon_api_token_file"),
        "no loud error\n{}",
        d.log_tail(30)
    );
    let nagios = d.cli(&["status", "--nagios"]);
    assert_no_secret(&d, &String::from_utf8_lossy(&nagios.stdout));
    apis.centreon.set_token_valid(true);
    assert!(wait_acks(&apis, &svc, 1), "not resumed\n{}", d.log_tail(30));
    apis.assert_no_violation();
}

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

#[test]
fn send_test_sync_proves_both_apis_answer_and_acknowledges_nothing() {
    let events = MockPagerDuty::start();
    let apis = Apis::start();
    for auth in [Auth::Token, Auth::Login] {
        let d = start(config(&events, &apis, auth).set_str("sync", "poll_interval", "1h"));
        let out = d.cli(&["send-test", "--sync"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{auth:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("PagerDuty REST API: OK") && text.contains("authenticated"),
            "{text}"
        );
        assert_no_secret(&d, &text);
    }
    apis.centreon.set_token_valid(false);
    let d = start(config(&events, &apis, Auth::Token).set_str("sync", "poll_interval", "1h"));
    let out = d.cli(&["send-test", "--sync"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("Centreon API") && text.contains("FAILED"),
        "{text}"
    );
    assert!(!text.contains(CENTREON_TOKEN), "{text}");
    assert!(
        !apis
            .centreon
            .requests()
            .iter()
            .any(mock_centreon::Recorded::is_acknowledge),
        "send-test --sync acknowledged something"
    );
    assert!(
        events.requests().is_empty(),
        "send-test --sync sent an event"
    );
    apis.assert_no_violation();
}
