//! A mock Centreon API v2 (`POST /login`, `POST /monitoring/resources/acknowledge`) on
//! 127.0.0.1 under `/centreon/api/latest`, built on the official OpenAPI excerpt: every request is
//! recorded and validated against `tests/fixtures/openapi/centreon.json`
//! ([`MockCentreon::violations`] must stay empty).
//!
//! Logins with the configured login and password get a new session token; acknowledgements
//! need a valid `X-AUTH-TOKEN` (the API token, or a live session token) and are answered 204
//! and kept ([`MockCentreon::acknowledgements`]); [`MockCentreon::expire_sessions`] makes the
//! session tokens invalid (401), as Centreon does after an hour unused; scripted replies
//! ([`MockCentreon::push_reply`]) answer the next acknowledge requests (5xx, 401, 403…).
//! Needs `super::mock_http` and `super::openapi`.

#![allow(dead_code)]

use super::mock_http::{self, MockResponse};
use super::openapi::{HttpRequest, Spec};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The API base path, as in `https://host/centreon/api/latest`.
pub const BASE_PATH: &str = "/centreon/api/latest";

#[derive(Debug, Clone)]
pub struct Recorded {
    pub request: HttpRequest,
    /// Path relative to [`BASE_PATH`].
    pub path: String,
    pub violations: Vec<String>,
    pub status: u16,
}

impl Recorded {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.request.body).ok()
    }
}

struct State {
    api_token: Option<String>,
    login: (String, String),
    sessions: Vec<String>,
    logins: usize,
    replies: VecDeque<MockResponse>,
    requests: Vec<Recorded>,
    acks: Vec<Value>,
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
            login: (login.into(), password.into()),
            sessions: Vec::new(),
            logins: 0,
            replies: VecDeque::new(),
            requests: Vec::new(),
            acks: Vec::new(),
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

    /// Session tokens stop being valid (401), as after an hour unused.
    pub fn expire_sessions(&self) {
        lock(&self.state).sessions.clear();
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
        lock(&self.state)
            .requests
            .iter()
            .enumerate()
            .flat_map(|(i, r)| {
                r.violations
                    .iter()
                    .map(move |v| format!("request {i}: {v}"))
            })
            .collect()
    }
}

fn handle(state: &Mutex<State>, spec: &Spec, req: HttpRequest) -> MockResponse {
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
            } else {
                let token = req.header("x-auth-token").unwrap_or("").to_owned();
                let valid =
                    st.api_token.as_deref() == Some(token.as_str()) || st.sessions.contains(&token);
                if valid {
                    st.acks.push(body.clone().unwrap_or(Value::Null));
                    MockResponse::empty(204)
                } else {
                    unauthorized()
                }
            }
        }
        _ => MockResponse::json(404, &json!({"code": 404, "message": "Not Found"})),
    };
    st.requests.push(Recorded {
        request: req,
        path,
        violations,
        status: resp.status,
    });
    resp
}
