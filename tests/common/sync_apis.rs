//! A mock PagerDuty REST API v2 and a mock Centreon API v2 on one loopback server, for the
//! acknowledgement sync (DESIGN §4.6). Same approach as `mock.rs`: `std::net`, one thread per
//! connection, every request recorded, answers scripted.
//!
//! - PagerDuty REST, under `/pd`: `GET /pd/incidents` lists the incidents the test declared,
//!   filtered by `statuses[]`, paged by `offset`/`limit` with `more`, as PagerDuty answers; it
//!   checks `Authorization: Token token=…` (401 otherwise) and the `Accept` header.
//! - Centreon, under `/centreon/api/latest`: `POST /login` gives a session token for the
//!   declared login and password; `POST /monitoring/resources/acknowledge` answers 204 to a
//!   valid token (the declared API token or a session token) and records the body; 401
//!   otherwise; `GET /monitoring/resources` answers a page of nothing (an authenticated call).
//!
//! Scripts: answers forced for the next PagerDuty listings (a 429 with `ratelimit-reset`), a
//! Centreon that is down (503), sessions revoked (their tokens give 401 from then on).

use super::http::{self, Message};
use serde_json::{json, Value};
use std::collections::{HashSet, VecDeque};
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The PagerDuty REST API key the mock accepts.
pub const PD_API_TOKEN: &str = "y_NbAkKc66ryYTWUXYEu";
/// The Centreon API token the mock accepts.
pub const CENTREON_TOKEN: &str = "centreon-api-token-0123456789";
/// The Centreon login and password the mock accepts.
pub const CENTREON_LOGIN: (&str, &str) = ("pagerduty-sync", "s3cret: with spaces");

/// One request received.
#[derive(Clone, Debug)]
pub struct ApiRequest {
    pub at: Instant,
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    pub status: u16,
}

impl ApiRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn is_listing(&self) -> bool {
        self.method == "GET" && self.path == "/pd/incidents"
    }
    pub fn is_acknowledge(&self) -> bool {
        self.method == "POST"
            && self.path == "/centreon/api/latest/monitoring/resources/acknowledge"
    }
    pub fn is_login(&self) -> bool {
        self.method == "POST" && self.path == "/centreon/api/latest/login"
    }
}

/// A forced answer.
#[derive(Clone, Debug)]
pub struct Forced {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

struct State {
    requests: Vec<ApiRequest>,
    incidents: Vec<Value>,
    pd_next: VecDeque<Forced>,
    centreon_down: bool,
    sessions: HashSet<String>,
    logins: usize,
    api_token_valid: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stop: AtomicBool,
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.state.lock().unwrap_or_else(|e| e.into_inner())
}

/// The two APIs.
pub struct MockApis {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl MockApis {
    pub fn start() -> MockApis {
        let listener = TcpListener::bind("127.0.0.1:0").expect("mock apis: bind");
        let addr = listener.local_addr().expect("mock apis: local_addr");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                requests: Vec::new(),
                incidents: Vec::new(),
                pd_next: VecDeque::new(),
                centreon_down: false,
                sessions: HashSet::new(),
                logins: 0,
                api_token_valid: true,
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::Builder::new()
            .name("mock-apis-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if s.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let s2 = s.clone();
                    let _ = std::thread::Builder::new()
                        .name("mock-apis-conn".into())
                        .spawn(move || serve(stream, &s2));
                }
            })
            .expect("mock apis: spawn");
        MockApis { addr, shared }
    }

    /// `[sync] pagerduty_api_url`.
    pub fn pagerduty_url(&self) -> String {
        format!("http://{}/pd", self.addr)
    }

    /// `[sync] centreon_api_url`.
    pub fn centreon_url(&self) -> String {
        format!("http://{}/centreon/api/latest", self.addr)
    }

    // ---- PagerDuty ----

    /// An incident opened by an event with `incident_key`, acknowledged by `who` (PagerDuty's
    /// user summary); replaces an incident of the same id.
    pub fn acknowledge_incident(&self, id: &str, incident_key: &str, who: &str) {
        let incident = json!({
            "id": id,
            "type": "incident",
            "summary": format!("[#1] {incident_key}"),
            "self": format!("https://api.pagerduty.com/incidents/{id}"),
            "html_url": format!("https://acme.pagerduty.com/incidents/{id}"),
            "incident_number": 1,
            "title": incident_key,
            "created_at": "2026-12-06T05:00:00Z",
            "status": "acknowledged",
            "incident_key": incident_key,
            "urgency": "high",
            "acknowledgements": [{
                "at": "2026-12-06T05:01:00Z",
                "acknowledger": {
                    "id": "PXPGF42",
                    "type": "user_reference",
                    "summary": who,
                    "self": "https://api.pagerduty.com/users/PXPGF42",
                    "html_url": "https://acme.pagerduty.com/users/PXPGF42"
                }
            }],
        });
        let mut st = lock(&self.shared);
        st.incidents.retain(|i| i["id"] != id);
        st.incidents.push(incident);
    }

    /// The incident is resolved in PagerDuty.
    pub fn resolve_incident(&self, id: &str) {
        let mut st = lock(&self.shared);
        for i in st.incidents.iter_mut().filter(|i| i["id"] == id) {
            i["status"] = json!("resolved");
        }
    }

    /// The next listings get these answers instead.
    pub fn force_listings(&self, answers: Vec<Forced>) {
        lock(&self.shared).pd_next.extend(answers);
    }

    // ---- Centreon ----

    /// Centreon's API answers 503 to acknowledgements while down.
    pub fn set_centreon_down(&self, down: bool) {
        lock(&self.shared).centreon_down = down;
    }

    /// Every session token expires (Centreon drops idle sessions): 401 until a new login.
    pub fn expire_sessions(&self) {
        lock(&self.shared).sessions.clear();
    }

    /// The API token is revoked (401) or valid again.
    pub fn set_api_token_valid(&self, valid: bool) {
        lock(&self.shared).api_token_valid = valid;
    }

    pub fn logins(&self) -> usize {
        lock(&self.shared).logins
    }

    // ---- what was received ----

    pub fn requests(&self) -> Vec<ApiRequest> {
        lock(&self.shared).requests.clone()
    }

    /// The bodies of the acknowledgements Centreon took (204).
    pub fn acknowledgements(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.is_acknowledge() && r.status == 204)
            .filter_map(|r| r.body)
            .collect()
    }

    pub fn wait_until(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&[ApiRequest]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = lock(&self.shared);
        loop {
            if pred(&st.requests) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for MockApis {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let msg: Message = match http::read_message(&mut reader, false) {
            Ok(Some(m)) => m,
            _ => return,
        };
        let mut parts = msg.start_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let target = parts.next().unwrap_or("").to_owned();
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), parse_query(q)),
            None => (target.clone(), Vec::new()),
        };
        let body: Option<Value> = serde_json::from_slice(&msg.body).ok();
        let answer = {
            let mut st = lock(shared);
            let answer = answer(&mut st, &method, &path, &query, &msg, body.as_ref());
            st.requests.push(ApiRequest {
                at: Instant::now(),
                method,
                path,
                query,
                headers: msg.headers.clone(),
                body,
                status: answer.status,
            });
            shared.changed.notify_all();
            answer
        };
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Length: {}\r\n",
            answer.status,
            http::reason(answer.status),
            answer.body.len()
        );
        if !answer.body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        for (k, v) in &answer.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(answer.body.as_bytes());
        if writer
            .write_all(&out)
            .and_then(|()| writer.flush())
            .is_err()
        {
            return;
        }
    }
}

fn answer(
    st: &mut State,
    method: &str,
    path: &str,
    query: &[(String, String)],
    msg: &Message,
    body: Option<&Value>,
) -> Forced {
    let reply = |status: u16, body: Value| Forced {
        status,
        headers: Vec::new(),
        body: if body.is_null() {
            String::new()
        } else {
            body.to_string()
        },
    };
    match (method, path) {
        ("GET", "/pd/incidents") => {
            if msg.header("authorization") != Some(&format!("Token token={PD_API_TOKEN}")) {
                return reply(
                    401,
                    json!({"error": {"message": "Unauthorized", "code": 2006}}),
                );
            }
            if let Some(forced) = st.pd_next.pop_front() {
                return forced;
            }
            let statuses: Vec<&str> = query
                .iter()
                .filter(|(k, _)| k == "statuses[]")
                .map(|(_, v)| v.as_str())
                .collect();
            let number = |k: &str, default: usize| {
                query
                    .iter()
                    .find(|(q, _)| q == k)
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(default)
            };
            let (offset, limit) = (number("offset", 0), number("limit", 25));
            let matching: Vec<&Value> = st
                .incidents
                .iter()
                .filter(|i| statuses.is_empty() || statuses.iter().any(|s| i["status"] == *s))
                .collect();
            let page: Vec<&Value> = matching.iter().skip(offset).take(limit).copied().collect();
            reply(
                200,
                json!({
                    "incidents": page,
                    "limit": limit,
                    "offset": offset,
                    "more": offset + limit < matching.len(),
                    "total": null
                }),
            )
        }
        ("POST", "/centreon/api/latest/login") => {
            let creds = body.and_then(|b| b.pointer("/security/credentials"));
            let ok = creds.is_some_and(|c| {
                c["login"] == CENTREON_LOGIN.0 && c["password"] == CENTREON_LOGIN.1
            });
            if !ok {
                return reply(401, json!({"code": 401, "message": "Invalid credentials"}));
            }
            st.logins += 1;
            let token = format!("session-{}", st.logins);
            st.sessions.insert(token.clone());
            reply(
                200,
                json!({
                    "contact": {"id": 42, "name": "PagerDuty sync", "alias": CENTREON_LOGIN.0,
                                "email": "pd@example.com", "is_admin": false},
                    "security": {"token": token}
                }),
            )
        }
        (_, p) if p.starts_with("/centreon/api/latest/") => {
            let token = msg.header("x-auth-token").unwrap_or("");
            let valid =
                (st.api_token_valid && token == CENTREON_TOKEN) || st.sessions.contains(token);
            if !valid {
                return reply(401, json!({"code": 401, "message": "Invalid JWT Token"}));
            }
            match (method, p) {
                ("POST", "/centreon/api/latest/monitoring/resources/acknowledge") => {
                    if st.centreon_down {
                        reply(503, Value::Null)
                    } else {
                        reply(204, Value::Null)
                    }
                }
                ("GET", "/centreon/api/latest/monitoring/resources") => reply(
                    200,
                    json!({"result": [], "meta": {"page": 1, "limit": 1, "search": {}, "sort_by": {}, "total": 0}}),
                ),
                _ => reply(404, json!({"code": 404, "message": "Not found"})),
            }
        }
        _ => reply(404, json!({"error": "not found"})),
    }
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
