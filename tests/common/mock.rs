//! A mock PagerDuty Events API v2: a real HTTP/1.1 server on 127.0.0.1:0.
//!
//! Written on `std::net` with one thread per connection rather than on a framework, so that it
//! can do what a framework won't: close a connection without answering, stall, answer late. It
//! speaks keep-alive (reqwest pools connections), `Content-Length` and chunked bodies.
//!
//! Every request to `POST /v2/enqueue` is recorded (arrival time, raw bytes, parsed JSON, what was
//! answered) and answered by a programmable script: ordered [`Rule`]s (a matcher, a reply, an
//! optional number of uses), else the default reply. The normal answer is PagerDuty's
//! `202 {"status":"success","message":"Event processed","dedup_key":"…"}`.

use super::http::{self, Message};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What the mock answers.
#[derive(Clone, Debug)]
pub enum Reply {
    /// `202 {"status":"success","message":"Event processed","dedup_key":…}`.
    Accept,
    /// Any status with a JSON (or empty) body.
    Status(u16, String),
    /// Sleep, then answer (use a delay longer than the client timeout to provoke a timeout).
    Delay(Duration, Box<Reply>),
    /// Read the request, then close the connection without answering.
    Close,
}

impl Reply {
    pub fn status(code: u16, body: Value) -> Reply {
        Reply::Status(code, body.to_string())
    }
    pub fn unavailable() -> Reply {
        Reply::Status(503, String::new())
    }
    pub fn throttled() -> Reply {
        Reply::status(
            429,
            json!({"status":"throttle event","message":"Requests for this service are arriving too quickly.  Please retry later."}),
        )
    }
    /// PagerDuty's answer to a bad routing key.
    pub fn invalid_routing_key() -> Reply {
        Reply::status(
            400,
            json!({"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}),
        )
    }
    /// PagerDuty's answer to an invalid event that does not involve the routing key.
    pub fn invalid_event(error: &str) -> Reply {
        Reply::status(
            400,
            json!({"status":"invalid event","message":"Event object is invalid","errors":[error]}),
        )
    }
    pub fn delay(d: Duration, then: Reply) -> Reply {
        Reply::Delay(d, Box::new(then))
    }
}

/// Which requests a rule applies to.
#[derive(Clone, Debug)]
pub enum Match {
    Any,
    RoutingKey(String),
    DedupKey(String),
    Action(String),
    /// dedup_key and event_action.
    DedupAction(String, String),
}

impl Match {
    fn matches(&self, body: Option<&Value>) -> bool {
        let field = |name: &str| {
            body.and_then(|b| b.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        match self {
            Match::Any => true,
            Match::RoutingKey(k) => field("routing_key").as_deref() == Some(k),
            Match::DedupKey(k) => field("dedup_key").as_deref() == Some(k),
            Match::Action(a) => field("event_action").as_deref() == Some(a),
            Match::DedupAction(k, a) => {
                field("dedup_key").as_deref() == Some(k)
                    && field("event_action").as_deref() == Some(a)
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub matcher: Match,
    pub reply: Reply,
    /// `None`: until removed; `Some(n)`: the next n matching requests only.
    pub remaining: Option<usize>,
}

/// One request received.
#[derive(Clone, Debug)]
pub struct Request {
    pub seq: usize,
    pub conn: usize,
    /// When the whole request had been read.
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub raw: Vec<u8>,
    pub body: Option<Value>,
    /// Status written back; `None` while not answered yet, or when closed without an answer.
    pub status: Option<u16>,
    pub answered_at: Option<Instant>,
    /// The script said: close without answering.
    pub closed: bool,
    /// The script delays the answer by this much (known at arrival).
    pub delayed: Option<Duration>,
}

impl Request {
    fn str_field(&self, name: &str) -> Option<&str> {
        self.body.as_ref()?.get(name)?.as_str()
    }
    pub fn dedup_key(&self) -> Option<&str> {
        self.str_field("dedup_key")
    }
    pub fn action(&self) -> Option<&str> {
        self.str_field("event_action")
    }
    pub fn routing_key(&self) -> Option<&str> {
        self.str_field("routing_key")
    }
    pub fn summary(&self) -> Option<&str> {
        self.body.as_ref()?.get("payload")?.get("summary")?.as_str()
    }
    pub fn severity(&self) -> Option<&str> {
        self.body
            .as_ref()?
            .get("payload")?
            .get("severity")?
            .as_str()
    }
    /// PagerDuty took it: answered 2xx.
    pub fn delivered(&self) -> bool {
        matches!(self.status, Some(200..=299))
    }
    /// (action, summary) — identifies one produced event for order checks.
    pub fn ident(&self) -> (String, String) {
        (
            self.action().unwrap_or("?").to_owned(),
            self.summary().unwrap_or("").to_owned(),
        )
    }
}

struct State {
    requests: Vec<Request>,
    default: Reply,
    rules: Vec<Rule>,
    next_conn: usize,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stop: AtomicBool,
}

pub struct MockPagerDuty {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.state.lock().unwrap_or_else(|e| e.into_inner())
}

impl MockPagerDuty {
    pub fn start() -> MockPagerDuty {
        let listener = TcpListener::bind("127.0.0.1:0").expect("mock: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("mock: local_addr");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                requests: Vec::new(),
                default: Reply::Accept,
                rules: Vec::new(),
                next_conn: 0,
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::Builder::new()
            .name("mock-pagerduty-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if s.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let conn = {
                        let mut st = lock(&s);
                        st.next_conn += 1;
                        st.next_conn
                    };
                    let s2 = s.clone();
                    let _ = std::thread::Builder::new()
                        .name(format!("mock-pagerduty-conn-{conn}"))
                        .spawn(move || serve(stream, conn, &s2));
                }
            })
            .expect("mock: spawn accept thread");
        MockPagerDuty { addr, shared }
    }

    pub fn url(&self) -> String {
        format!("http://{}/v2/enqueue", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    // ---- script ----

    /// What every request not matched by a rule gets.
    pub fn set_default(&self, reply: Reply) {
        lock(&self.shared).default = reply;
    }

    pub fn push_rule(&self, matcher: Match, reply: Reply, remaining: Option<usize>) {
        lock(&self.shared).rules.push(Rule {
            matcher,
            reply,
            remaining,
        });
    }

    /// The next `n` requests (any) get `reply`.
    pub fn next_n(&self, n: usize, reply: Reply) {
        self.push_rule(Match::Any, reply, Some(n));
    }

    pub fn clear_rules(&self) {
        lock(&self.shared).rules.clear();
    }

    /// Back to "accept everything".
    pub fn reset_script(&self) {
        let mut st = lock(&self.shared);
        st.rules.clear();
        st.default = Reply::Accept;
    }

    // ---- what was received ----

    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared).requests.clone()
    }

    pub fn count(&self) -> usize {
        lock(&self.shared).requests.len()
    }

    /// Every request carrying this dedup_key, in arrival order.
    pub fn events_for(&self, dedup_key: &str) -> Vec<Request> {
        lock(&self.shared)
            .requests
            .iter()
            .filter(|r| r.dedup_key() == Some(dedup_key))
            .cloned()
            .collect()
    }

    /// Actions PagerDuty took (2xx) for this dedup_key, in order.
    pub fn delivered_actions(&self, dedup_key: &str) -> Vec<String> {
        self.events_for(dedup_key)
            .iter()
            .filter(|r| r.delivered())
            .map(|r| r.action().unwrap_or("?").to_owned())
            .collect()
    }

    /// Requests answered 2xx, grouped per dedup_key, each group in arrival order.
    pub fn delivered_by_key(&self) -> BTreeMap<String, Vec<Request>> {
        let mut out: BTreeMap<String, Vec<Request>> = BTreeMap::new();
        for r in lock(&self.shared).requests.iter().filter(|r| r.delivered()) {
            out.entry(r.dedup_key().unwrap_or("?").to_owned())
                .or_default()
                .push(r.clone());
        }
        out
    }

    pub fn delivered_count(&self) -> usize {
        lock(&self.shared)
            .requests
            .iter()
            .filter(|r| r.delivered())
            .count()
    }

    /// Polls `pred` on the recorded requests, waking up on every new request or answer (and at
    /// least every 50 ms). True as soon as it holds; false after `timeout`.
    pub fn wait_until(&self, timeout: Duration, mut pred: impl FnMut(&[Request]) -> bool) -> bool {
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
            let wait = (deadline - now).min(Duration::from_millis(50));
            st = self
                .shared
                .changed
                .wait_timeout(st, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// One line per request, for failure messages.
    pub fn dump(&self) -> String {
        let st = lock(&self.shared);
        let t0 = st.requests.first().map(|r| r.at);
        let mut s = String::new();
        for r in &st.requests {
            let t = t0.map_or(0.0, |t0| r.at.duration_since(t0).as_secs_f64());
            s.push_str(&format!(
                "  #{:<4} +{:>7.3}s conn {:<3} {} {} {:?} {} {:?} -> {}\n",
                r.seq,
                t,
                r.conn,
                r.method,
                r.path,
                r.dedup_key().unwrap_or("-"),
                r.action().unwrap_or("-"),
                r.summary().unwrap_or(""),
                match (r.status, r.closed) {
                    (Some(c), _) => c.to_string(),
                    (None, true) => "closed".into(),
                    (None, false) => "(pending)".into(),
                }
            ));
        }
        s
    }
}

impl Drop for MockPagerDuty {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Unblock accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn pick_reply(st: &mut State, body: Option<&Value>) -> Reply {
    for i in 0..st.rules.len() {
        if st.rules[i].matcher.matches(body) {
            let reply = st.rules[i].reply.clone();
            if let Some(n) = st.rules[i].remaining.as_mut() {
                *n -= 1;
                if *n == 0 {
                    st.rules.remove(i);
                }
            }
            return reply;
        }
    }
    st.default.clone()
}

fn write_response(stream: &mut TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        http::reason(status),
        body.len()
    );
    let mut out = head.into_bytes();
    out.extend_from_slice(body.as_bytes());
    stream.write_all(&out)?;
    stream.flush()
}

fn serve(stream: TcpStream, conn: usize, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let _ = stream.set_nodelay(true);
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
        let path = parts.next().unwrap_or("").to_owned();
        let close_after = msg
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let body: Option<Value> = serde_json::from_slice(&msg.body).ok();
        let enqueue = path == "/v2/enqueue" && method == "POST";

        let (seq, reply) = {
            let mut st = lock(shared);
            let seq = st.requests.len();
            let reply = if enqueue {
                pick_reply(&mut st, body.as_ref())
            } else if path != "/v2/enqueue" {
                Reply::Status(404, json!({"status":"not found"}).to_string())
            } else {
                Reply::Status(405, String::new())
            };
            let mut planned = None;
            let mut r = &reply;
            while let Reply::Delay(d, inner) = r {
                planned = Some(planned.unwrap_or(Duration::ZERO) + *d);
                r = inner;
            }
            st.requests.push(Request {
                seq,
                conn,
                at: Instant::now(),
                method,
                path,
                headers: msg.headers.clone(),
                raw: msg.body.clone(),
                body: body.clone(),
                status: None,
                answered_at: None,
                closed: false,
                delayed: planned,
            });
            shared.changed.notify_all();
            (seq, reply)
        };

        let mut reply = reply;
        while let Reply::Delay(d, inner) = reply {
            std::thread::sleep(d);
            reply = *inner;
        }
        let (status, text) = match reply {
            Reply::Close => {
                let mut st = lock(shared);
                st.requests[seq].closed = true;
                shared.changed.notify_all();
                drop(st);
                let _ = writer.shutdown(std::net::Shutdown::Both);
                return;
            }
            Reply::Accept => match body.as_ref() {
                Some(b) => (
                    202,
                    json!({"status":"success","message":"Event processed","dedup_key": b.get("dedup_key").cloned().unwrap_or(Value::Null)}).to_string(),
                ),
                None => (
                    400,
                    json!({"status":"invalid event","message":"Event object is invalid","errors":["Body is not valid JSON"]}).to_string(),
                ),
            },
            Reply::Status(c, t) => (c, t),
            Reply::Delay(..) => unreachable!(),
        };
        let ok = write_response(&mut writer, status, &text).is_ok();
        {
            let mut st = lock(shared);
            let r = &mut st.requests[seq];
            if ok {
                r.status = Some(status);
                r.answered_at = Some(Instant::now());
            } else {
                r.closed = true;
            }
            shared.changed.notify_all();
        }
        if !ok || close_after {
            let _ = writer.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}
