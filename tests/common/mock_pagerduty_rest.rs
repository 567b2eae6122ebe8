//! A mock PagerDuty REST API (`GET /incidents`) on 127.0.0.1, built on the official OpenAPI
//! excerpt: every request is recorded and validated against `tests/fixtures/openapi/
//! pagerduty-rest.json` ([`MockPagerDutyRest::violations`] must stay empty), and every 200 answer
//! it builds is checked against the spec's answer schema too.
//!
//! It holds incidents ([`MockIncident`]), filters them by `statuses[]`, pages them with
//! `offset`/`limit`/`more`, checks `Authorization: Token token=<token>` (401 otherwise), and
//! can be scripted to answer the next requests with anything ([`MockPagerDutyRest::push_reply`]:
//! 429 with `ratelimit-reset`, 5xx…). Incidents change as in PagerDuty
//! ([`MockPagerDutyRest::upsert_incident`], [`MockPagerDutyRest::set_status`]), and a test can
//! wait for the client's next listings ([`MockPagerDutyRest::wait_listings`]).
//! Needs `super::mock_http` and `super::openapi`.

#![allow(dead_code)]

use super::mock_http::{self, MockResponse};
use super::openapi::{numbered_violations, HttpRequest, Spec};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An incident held by the mock.
#[derive(Debug, Clone)]
pub struct MockIncident {
    pub id: String,
    pub incident_key: Option<String>,
    /// `triggered`, `acknowledged` or `resolved`.
    pub status: String,
    /// Acknowledgers' summaries.
    pub acknowledgers: Vec<String>,
    /// `created_at`, Unix seconds.
    pub created_at: i64,
}

impl MockIncident {
    pub fn acknowledged(id: &str, key: &str, who: &str) -> MockIncident {
        MockIncident {
            id: id.into(),
            incident_key: Some(key.into()),
            status: "acknowledged".into(),
            acknowledgers: vec![who.into()],
            created_at: unix_now(),
        }
    }

    /// The same, created `seconds` ago.
    pub fn created_ago(mut self, seconds: i64) -> MockIncident {
        self.created_at = unix_now() - seconds;
        self
    }

    fn to_json(&self) -> Value {
        let acks: Vec<Value> = self
            .acknowledgers
            .iter()
            .enumerate()
            .map(|(i, who)| {
                json!({"at": "2026-01-01T00:00:00Z", "acknowledger": {
                    "id": format!("PUSER{i}"), "type": "user_reference", "summary": who,
                    "self": format!("https://api.pagerduty.com/users/PUSER{i}"),
                    "html_url": format!("https://acme.pagerduty.com/users/PUSER{i}")}})
            })
            .collect();
        let mut v = json!({
            "id": self.id, "type": "incident", "summary": format!("[#1] {}", self.id),
            "self": format!("https://api.pagerduty.com/incidents/{}", self.id),
            "html_url": format!("https://acme.pagerduty.com/incidents/{}", self.id),
            "incident_number": 1, "created_at": rfc3339(self.created_at),
            "status": self.status, "title": "Mock incident",
            "service": {"id": "PSVC", "type": "service_reference", "summary": "Centreon"},
            "assignments": [], "acknowledgements": acks, "urgency": "high",
        });
        if let Some(k) = &self.incident_key {
            v["incident_key"] = json!(k);
        }
        v
    }
}

/// One request received, with what the spec says of it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub request: HttpRequest,
    pub violations: Vec<String>,
    pub status: u16,
    /// When it was received.
    pub at: Instant,
}

impl Recorded {
    /// `GET /incidents`.
    pub fn is_listing(&self) -> bool {
        self.request.method == "GET" && self.request.path == "/incidents"
    }

    pub fn query(&self, name: &str) -> Vec<&str> {
        self.request
            .query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

struct State {
    token: String,
    incidents: Vec<MockIncident>,
    replies: VecDeque<MockResponse>,
    requests: Vec<Recorded>,
}

pub struct MockPagerDutyRest {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

fn lock(s: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MockPagerDutyRest {
    /// A mock accepting `token`.
    pub fn start(token: &str) -> MockPagerDutyRest {
        let state = Arc::new(Mutex::new(State {
            token: token.into(),
            incidents: Vec::new(),
            replies: VecDeque::new(),
            requests: Vec::new(),
        }));
        let spec = Arc::new(Spec::pagerduty_rest());
        let s = state.clone();
        let addr = mock_http::serve(Arc::new(move |req| handle(&s, &spec, req)));
        MockPagerDutyRest { addr, state }
    }

    /// The base URL to give the client (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_incidents(&self, incidents: Vec<MockIncident>) {
        lock(&self.state).incidents = incidents;
    }

    /// Adds `incident`, or replaces the one of the same id.
    pub fn upsert_incident(&self, incident: MockIncident) {
        let mut st = lock(&self.state);
        match st.incidents.iter_mut().find(|i| i.id == incident.id) {
            Some(i) => *i = incident,
            None => st.incidents.push(incident),
        }
    }

    /// The incident `id` changes status in PagerDuty (`triggered`, `acknowledged`, `resolved`).
    pub fn set_status(&self, id: &str, status: &str) {
        for i in lock(&self.state)
            .incidents
            .iter_mut()
            .filter(|i| i.id == id)
        {
            i.status = status.into();
        }
    }

    /// `GET /incidents` requests received so far (whatever the answer).
    pub fn listings(&self) -> usize {
        lock(&self.state)
            .requests
            .iter()
            .filter(|r| r.is_listing())
            .count()
    }

    /// Polls `pred` over the requests received until it holds or `timeout` passes.
    pub fn wait_for(&self, timeout: Duration, mut pred: impl FnMut(&[Recorded]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if pred(&lock(&self.state).requests) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until at least `n` listings were received in all.
    pub fn wait_listings(&self, n: usize, timeout: Duration) -> bool {
        self.wait_for(timeout, |r| {
            r.iter().filter(|r| r.is_listing()).count() >= n
        })
    }

    /// The next request is answered with `reply` (in order, before the normal answers).
    pub fn push_reply(&self, reply: MockResponse) {
        lock(&self.state).replies.push_back(reply);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state).requests.clone()
    }

    /// Every spec violation seen so far, with the request's number.
    pub fn violations(&self) -> Vec<String> {
        numbered_violations(
            lock(&self.state)
                .requests
                .iter()
                .map(|r| r.violations.as_slice()),
        )
    }
}

fn handle(state: &Mutex<State>, spec: &Spec, req: HttpRequest) -> MockResponse {
    let at = Instant::now();
    let mut violations = spec.check_request(&req);
    let mut st = lock(state);
    let resp = if let Some(r) = st.replies.pop_front() {
        r
    } else if req.header("authorization") != Some(&format!("Token token={}", st.token)) {
        MockResponse::json(
            401,
            &json!({"error": {"message": "Authentication required", "code": 2006}}),
        )
    } else if req.method != "GET" || req.path != "/incidents" {
        MockResponse::json(
            404,
            &json!({"error": {"message": "Not Found", "code": 2100}}),
        )
    } else {
        let q = |name: &str| -> Vec<String> {
            req.query
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .collect()
        };
        let statuses = q("statuses[]");
        let limit: usize = q("limit")
            .first()
            .and_then(|v| v.parse().ok())
            .unwrap_or(25);
        let offset: usize = q("offset")
            .first()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let matching: Vec<&MockIncident> = st
            .incidents
            .iter()
            .filter(|i| statuses.is_empty() || statuses.contains(&i.status))
            .collect();
        let page: Vec<Value> = matching
            .iter()
            .skip(offset)
            .take(limit)
            .map(|i| i.to_json())
            .collect();
        let more = offset + page.len() < matching.len();
        let body = json!({"incidents": page, "limit": limit, "offset": offset, "more": more, "total": null});
        for v in spec.check_response("GET", "/incidents", 200, &body) {
            violations.push(format!("mock answer: {v}"));
        }
        MockResponse::json(200, &body)
    };
    st.requests.push(Recorded {
        request: req,
        violations,
        status: resp.status,
        at,
    });
    resp
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `YYYY-MM-DDTHH:MM:SSZ` (civil date from days, Howard Hinnant's algorithm).
fn rfc3339(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}
