//! A mock Centreon API v2 (`POST /login`, `GET /monitoring/resources`,
//! `POST /monitoring/resources/acknowledge`, `GET /monitoring/resources/hosts/{host_id}` and
//! `…/services/{service_id}`) on 127.0.0.1 under `/centreon/api/latest`, built on
//! the official OpenAPI excerpt: every request is recorded and validated against
//! `tests/fixtures/openapi/centreon.json` ([`MockCentreon::violations`] must stay empty), and
//! every 200 answer it builds is checked against the spec's answer schema too.
//!
//! Logins with the configured login and password get a new session token; the other operations
//! need a valid `X-AUTH-TOKEN` (the API token unless revoked, or a live session token), 401
//! otherwise. Acknowledgements are answered 204 and kept ([`MockCentreon::acknowledgements`]),
//! and their resource is acknowledged from then on: the resource details answer
//! `"acknowledged": true` (false for any other resource); the resource listing answers an
//! empty page (an authenticated call that changes nothing).
//!
//! Scripts: [`MockCentreon::expire_sessions`] makes the session tokens invalid, as Centreon does
//! after an hour unused; [`MockCentreon::set_token_valid`] revokes the API token (and makes it
//! valid again); [`MockCentreon::set_down`] makes acknowledgements answer 503 until switched
//! back; scripted replies ([`MockCentreon::push_reply`]) answer the next acknowledge requests
//! (5xx, 401, 403…); [`MockCentreon::take_and_fail`] takes the next one and answers 503, as when
//! Centreon's answer is lost; [`MockCentreon::set_details_status`] makes the resource details
//! answer another status. Needs `super::mock_http` and `super::openapi`.

#![allow(dead_code)]

use super::mock_http::{self, MockResponse};
use super::openapi::{numbered_violations, HttpRequest, Spec};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The API base path, as in `https://host/centreon/api/latest`.
pub const BASE_PATH: &str = "/centreon/api/latest";

#[derive(Debug, Clone)]
pub struct Recorded {
    pub request: HttpRequest,
    /// Path relative to [`BASE_PATH`].
    pub path: String,
    pub violations: Vec<String>,
    pub status: u16,
    /// When it was received.
    pub at: Instant,
}

impl Recorded {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.request.body).ok()
    }

    /// `POST /monitoring/resources/acknowledge`.
    pub fn is_acknowledge(&self) -> bool {
        self.request.method == "POST" && self.path == "/monitoring/resources/acknowledge"
    }

    /// `GET /monitoring/resources/hosts/…`: a resource's details.
    pub fn is_details(&self) -> bool {
        self.request.method == "GET" && self.path.starts_with("/monitoring/resources/hosts/")
    }

    /// `POST /login`.
    pub fn is_login(&self) -> bool {
        self.request.method == "POST" && self.path == "/login"
    }
}

struct State {
    api_token: Option<String>,
    api_token_revoked: bool,
    down: bool,
    login: (String, String),
    sessions: Vec<String>,
    logins: usize,
    replies: VecDeque<MockResponse>,
    requests: Vec<Recorded>,
    acks: Vec<Value>,
    /// (host id, service id; 0 for a host) acknowledged so far.
    acknowledged: Vec<(u64, u64)>,
    take_and_fail: usize,
    details_status: Option<u16>,
}

pub struct MockCentreon {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

fn lock(s: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MockCentreon {
    /// Accepts the API token `api_token` (when given) and the login `login`/`password`.
    pub fn start(api_token: Option<&str>, login: &str, password: &str) -> MockCentreon {
        let state = Arc::new(Mutex::new(State {
            api_token: api_token.map(str::to_owned),
            api_token_revoked: false,
            down: false,
            login: (login.into(), password.into()),
            sessions: Vec::new(),
            logins: 0,
            replies: VecDeque::new(),
            requests: Vec::new(),
            acks: Vec::new(),
            acknowledged: Vec::new(),
            take_and_fail: 0,
            details_status: None,
        }));
        let spec = Arc::new(Spec::centreon());
        let s = state.clone();
        let addr = mock_http::serve(Arc::new(move |req| handle(&s, &spec, req)));
        MockCentreon { addr, state }
    }

    /// `http://127.0.0.1:PORT/centreon/api/latest`.
    pub fn url(&self) -> String {
        format!("http://{}{BASE_PATH}", self.addr)
    }

    /// The next acknowledge request is answered with `reply`.
    pub fn push_reply(&self, reply: MockResponse) {
        lock(&self.state).replies.push_back(reply);
    }

    /// The next acknowledge request is taken (kept, its resource acknowledged) but answered 503:
    /// Centreon acted, and the client cannot know.
    pub fn take_and_fail(&self) {
        lock(&self.state).take_and_fail += 1;
    }

    /// The resource details answer `status` (`None`: as usual).
    pub fn set_details_status(&self, status: Option<u16>) {
        lock(&self.state).details_status = status;
    }

    /// Session tokens stop being valid (401), as after an hour unused.
    pub fn expire_sessions(&self) {
        lock(&self.state).sessions.clear();
    }

    /// The API token is revoked (`false`: 401 from then on) or valid again (`true`).
    pub fn set_token_valid(&self, valid: bool) {
        lock(&self.state).api_token_revoked = !valid;
    }

    /// Centreon is down (`true`: every acknowledgement answered 503) or back (`false`).
    pub fn set_down(&self, down: bool) {
        lock(&self.state).down = down;
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

    /// Successful logins so far.
    pub fn logins(&self) -> usize {
        lock(&self.state).logins
    }

    /// Bodies of the acknowledgements accepted (204).
    pub fn acknowledgements(&self) -> Vec<Value> {
        lock(&self.state).acks.clone()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state).requests.clone()
    }

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
    let path = req
        .path
        .strip_prefix(BASE_PATH)
        .unwrap_or(&req.path)
        .to_owned();
    let mut relative = req.clone();
    relative.path = path.clone();
    let mut violations = spec.check_request(&relative);
    let mut st = lock(state);
    let body: Option<Value> = serde_json::from_slice(&req.body).ok();
    let unauthorized =
        || MockResponse::json(401, &json!({"code": 401, "message": "Invalid credentials"}));
    let token = req.header("x-auth-token").unwrap_or("").to_owned();
    let authenticated = (!st.api_token_revoked && st.api_token.as_deref() == Some(token.as_str()))
        || st.sessions.contains(&token);
    let resp = match (req.method.as_str(), path.as_str()) {
        ("POST", "/login") => {
            let cred = body
                .as_ref()
                .and_then(|b| b.pointer("/security/credentials"))
                .cloned()
                .unwrap_or(Value::Null);
            let ok = cred.get("login").and_then(Value::as_str) == Some(st.login.0.as_str())
                && cred.get("password").and_then(Value::as_str) == Some(st.login.1.as_str());
            if ok {
                st.logins += 1;
                let token = format!("session{:08}", st.logins);
                st.sessions.push(token.clone());
                let answer = json!({"contact": {"id": 3, "name": "PagerDuty sync", "alias": st.login.0,
                    "email": "sync@example.com", "is_admin": false}, "security": {"token": token}});
                for v in spec.check_response("POST", "/login", 200, &answer) {
                    violations.push(format!("mock answer: {v}"));
                }
                MockResponse::json(200, &answer)
            } else {
                unauthorized()
            }
        }
        ("POST", "/monitoring/resources/acknowledge") => {
            if let Some(r) = st.replies.pop_front() {
                r
            } else if st.down {
                MockResponse::json(503, &json!({"code": 503, "message": "Service Unavailable"}))
            } else if authenticated {
                st.acks.push(body.clone().unwrap_or(Value::Null));
                if let Some(r) = body.as_ref().and_then(acknowledged_resource) {
                    st.acknowledged.push(r);
                }
                if st.take_and_fail > 0 {
                    st.take_and_fail -= 1;
                    MockResponse::json(503, &json!({"code": 503, "message": "Service Unavailable"}))
                } else {
                    MockResponse::empty(204)
                }
            } else {
                unauthorized()
            }
        }
        ("GET", p) if p.starts_with("/monitoring/resources/hosts/") => {
            let segments: Vec<&str> = p["/monitoring/resources/hosts/".len()..]
                .split('/')
                .collect();
            let resource: Option<(u64, u64)> = match segments.as_slice() {
                [h] => h.parse().ok().map(|h| (h, 0)),
                [h, "services", s] => h.parse().ok().zip(s.parse().ok()),
                _ => None,
            };
            match (resource, st.details_status) {
                (_, _) if !authenticated => unauthorized(),
                (_, Some(status)) => {
                    MockResponse::json(status, &json!({"code": status, "message": "scripted"}))
                }
                (None, None) => {
                    MockResponse::json(404, &json!({"code": 404, "message": "Not Found"}))
                }
                (Some((h, s)), None) => {
                    let acknowledged = st.acknowledged.contains(&(h, s));
                    let answer = if s == 0 {
                        json!({"uuid": format!("h{h}"), "id": h, "name": format!("host{h}"),
                            "type": "host", "short_type": "h", "acknowledged": acknowledged})
                    } else {
                        json!({"uuid": format!("h{h}-s{s}"), "id": s, "name": format!("svc{s}"),
                            "type": "service", "short_type": "s", "acknowledged": acknowledged,
                            "parent": {"id": h, "name": format!("host{h}"), "type": "host"}})
                    };
                    for v in spec.check_response("GET", p, 200, &answer) {
                        violations.push(format!("mock answer: {v}"));
                    }
                    MockResponse::json(200, &answer)
                }
            }
        }
        ("GET", "/monitoring/resources") => {
            if authenticated {
                let number = |name: &str, default: u64| {
                    req.query
                        .iter()
                        .find(|(k, _)| k == name)
                        .and_then(|(_, v)| v.parse::<u64>().ok())
                        .unwrap_or(default)
                };
                let answer = json!({"result": [], "meta": {"page": number("page", 1),
                    "limit": number("limit", 10), "search": {}, "sort_by": {}, "total": 0}});
                for v in spec.check_response("GET", "/monitoring/resources", 200, &answer) {
                    violations.push(format!("mock answer: {v}"));
                }
                MockResponse::json(200, &answer)
            } else {
                unauthorized()
            }
        }
        _ => MockResponse::json(404, &json!({"code": 404, "message": "Not Found"})),
    };
    st.requests.push(Recorded {
        request: req,
        path,
        violations,
        status: resp.status,
        at,
    });
    resp
}

/// The resource of an acknowledge body's `resources[0]` (service id 0 for a host).
fn acknowledged_resource(body: &Value) -> Option<(u64, u64)> {
    let r = body.pointer("/resources/0")?;
    let id = r.get("id")?.as_u64()?;
    match r.get("type")?.as_str()? {
        "host" => Some((id, 0)),
        "service" => Some((r.pointer("/parent/id")?.as_u64()?, id)),
        _ => None,
    }
}
