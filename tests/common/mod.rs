//! End-to-end harness: the real `centreon-pagerduty run` binary as a child process, a TOML config
//! in a temporary directory, a mock PagerDuty on loopback, an HTTP/1.1 client for the daemon's
//! Unix socket, and builders of raw Broker events.
//!
//! Everything waits by polling with generous deadlines (slow, shared CI machines) and returns as
//! soon as the awaited condition holds.

#![allow(dead_code)]
#![allow(clippy::unwrap_used)]

pub mod http;
pub mod mock;
pub mod mock_centreon;
pub mod mock_http;
pub mod mock_pagerduty_rest;
pub mod openapi;

use serde_json::{json, Value};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[allow(unused_imports)]
pub use mock::{Match, MockPagerDuty, Reply, Request};

pub const BIN: &str = env!("CARGO_BIN_EXE_centreon-pagerduty");
/// 32 characters of `[A-Za-z0-9]`.
pub const ROUTING_KEY: &str = "R0UT1NGKEY0000000000000000000001";
pub const SHIM_USER_AGENT: &str = "centreon-pagerduty-shim/0.1.0";
/// Default deadline for anything that should happen "soon".
pub const WAIT: Duration = Duration::from_secs(20);

pub fn fixtures_dir() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    if here.join("v2_service_lifecycle/shim.ndjson").exists() {
        return here;
    }
    // Temporary fallback while the fixtures are being copied into the repository.
    let shared = PathBuf::from("/work/shared/fixtures");
    if shared.join("v2_service_lifecycle/shim.ndjson").exists() {
        eprintln!("note: tests/fixtures missing, using {}", shared.display());
        return shared;
    }
    here
}

/// `shim.ndjson` of a fixture scenario, one raw line per element (bytes as stored).
pub fn fixture_lines(scenario: &str) -> Vec<Vec<u8>> {
    let path = fixtures_dir().join(scenario).join("shim.ndjson");
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    data.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC) — DESIGN §4.3 `payload.timestamp`.
pub fn format_timestamp(t: i64) -> String {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Polls `f` every 20 ms until it returns true or `timeout` passes.
pub fn poll_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ------------------------------------------------------------------------------------------------
// Configuration

/// The test configuration, as ordered sections of `key = raw TOML value`.
#[derive(Clone, Debug)]
pub struct Config {
    sections: Vec<(String, Vec<(String, String)>)>,
}

impl Config {
    /// DESIGN §3.2 keys with test-sized delivery timings. `{DIR}` is replaced by the daemon's
    /// temporary directory when written.
    pub fn new(pagerduty_url: &str) -> Config {
        let q = |s: &str| format!("{s:?}");
        let sections = vec![
            (
                "pagerduty".to_owned(),
                vec![
                    ("routing_key".into(), q(ROUTING_KEY)),
                    ("url".into(), q(pagerduty_url)),
                    ("timeout".into(), q("2s")),
                    ("rate_limit_per_minute".into(), "6000".into()),
                ],
            ),
            (
                "listen".to_owned(),
                vec![
                    ("socket".into(), q("{DIR}/broker.sock")),
                    ("socket_group".into(), q("")),
                    ("socket_mode".into(), q("0660")),
                ],
            ),
            (
                "spool".to_owned(),
                vec![
                    ("dir".into(), q("{DIR}/spool")),
                    ("max_size".into(), q("64MiB")),
                    ("min_free".into(), q("1MiB")),
                ],
            ),
            (
                "delivery".to_owned(),
                vec![
                    ("backoff_min".into(), q("100ms")),
                    ("backoff_max".into(), q("1s")),
                    ("throttle_min".into(), q("200ms")),
                    ("throttle_max".into(), q("1s")),
                    ("config_probe".into(), q("500ms")),
                    ("collapse_after".into(), q("15m")),
                    ("max_event_age".into(), q("7d")),
                    ("concurrency".into(), "8".into()),
                    ("shutdown_grace".into(), q("2s")),
                ],
            ),
        ];
        Config { sections }
    }

    /// Sets `section.key` to a raw TOML value (`"\"1MiB\""`, `"8"`, `"true"`).
    pub fn set(mut self, section: &str, key: &str, raw_value: &str) -> Config {
        let sec = match self.sections.iter().position(|(s, _)| s == section) {
            Some(i) => i,
            None => {
                self.sections.push((section.to_owned(), Vec::new()));
                self.sections.len() - 1
            }
        };
        let entries = &mut self.sections[sec].1;
        match entries.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = raw_value.to_owned(),
            None => entries.push((key.to_owned(), raw_value.to_owned())),
        }
        self
    }

    /// Sets a string value.
    pub fn set_str(self, section: &str, key: &str, value: &str) -> Config {
        self.set(section, key, &format!("{value:?}"))
    }

    pub fn render(&self, dir: &Path) -> String {
        let mut s = String::new();
        for (section, entries) in &self.sections {
            let _ = writeln!(s, "[{section}]");
            for (k, v) in entries {
                let _ = writeln!(
                    s,
                    "{k} = {}",
                    v.replace("{DIR}", &dir.display().to_string())
                );
            }
            s.push('\n');
        }
        s
    }
}

// ------------------------------------------------------------------------------------------------
// HTTP over the daemon's Unix socket

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// `(accepted, ignored, rejected)` of a `/v1/events` answer.
    pub fn counts(&self) -> Option<(u64, u64, u64)> {
        let j = self.json()?;
        Some((
            j.get("accepted")?.as_u64()?,
            j.get("ignored")?.as_u64()?,
            j.get("rejected")?.as_u64()?,
        ))
    }
}

/// One request on a fresh connection (`Connection: close`), as the shim does.
pub fn unix_request(
    socket: &Path,
    method: &str,
    path: &str,
    body: &[u8],
    timeout: Duration,
) -> io::Result<Response> {
    let stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut w = stream.try_clone()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: {SHIM_USER_AGENT}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut req = head.into_bytes();
    req.extend_from_slice(body);
    // The server may answer (413) and stop reading before the whole body is sent: a write error
    // is then not the result; the answer is.
    let write_err = w.write_all(&req).and_then(|()| w.flush()).err();
    let mut r = BufReader::new(stream);
    match http::read_message(&mut r, true) {
        Ok(Some(m)) => {
            let status = m
                .start_line
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad status line {:?}", m.start_line),
                    )
                })?;
            Ok(Response {
                status,
                headers: m.headers,
                body: m.body,
            })
        }
        Ok(None) => Err(write_err.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::UnexpectedEof, "closed without an answer")
        })),
        Err(e) => Err(write_err.unwrap_or(e)),
    }
}

/// `POST /v1/events` with an NDJSON body.
pub fn post_events(socket: &Path, body: &[u8]) -> io::Result<Response> {
    unix_request(socket, "POST", "/v1/events", body, Duration::from_secs(30))
}

/// Joins lines into an NDJSON body (each line followed by `\n`).
pub fn ndjson<L: AsRef<[u8]>>(lines: &[L]) -> Vec<u8> {
    let mut body = Vec::new();
    for l in lines {
        body.extend_from_slice(l.as_ref());
        body.push(b'\n');
    }
    body
}

// ------------------------------------------------------------------------------------------------
// The daemon

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub socket: PathBuf,
    pub spool_dir: PathBuf,
    child: Option<Child>,
    starts: usize,
    logs: Vec<PathBuf>,
}

impl Daemon {
    /// Writes the config and starts `centreon-pagerduty run -c CONFIG`; waits for the socket.
    pub fn start(config: Config) -> Daemon {
        let mut d = Daemon::prepare(config);
        d.spawn();
        d.wait_ready(WAIT);
        d
    }

    /// Writes the config in a new temporary directory without starting anything.
    pub fn prepare(config: Config) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("cpd-e2e-")
            .tempdir()
            .expect("tempdir");
        let config_path = dir.path().join("centreon-pagerduty.toml");
        std::fs::write(&config_path, config.render(dir.path())).expect("write config");
        let socket = dir.path().join("broker.sock");
        let spool_dir = dir.path().join("spool");
        Daemon {
            dir,
            config_path,
            socket,
            spool_dir,
            child: None,
            starts: 0,
            logs: Vec::new(),
        }
    }

    /// Rewrites the config (takes effect at the next start).
    pub fn rewrite_config(&self, config: Config) {
        std::fs::write(&self.config_path, config.render(self.dir.path())).expect("write config");
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_remove("RUST_LOG")
            .env_remove("JOURNAL_STREAM")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES")
            .env_remove("CENTREON_PAGERDUTY_CONFIG");
        for (k, _) in std::env::vars_os() {
            if let Some(k) = k.to_str() {
                if k.starts_with("CENTREON_PAGERDUTY_") {
                    cmd.env_remove(k);
                }
            }
        }
        cmd
    }

    /// Starts the child (the socket may not be ready yet).
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "daemon already running");
        self.starts += 1;
        let log = self.dir.path().join(format!("daemon.{}.log", self.starts));
        let stderr = File::create(&log).expect("create log");
        let stdout = stderr.try_clone().expect("clone log");
        let child = self
            .command()
            .arg("run")
            .arg("-c")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {BIN}: {e}"));
        self.logs.push(log);
        self.child = Some(child);
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Waits until the socket accepts a connection. Panics (with the log) if the daemon exits.
    pub fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    panic!(
                        "daemon exited before its socket was ready: {status}\n--- log ---\n{}",
                        self.log_tail(80)
                    );
                }
            }
            if UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "daemon socket {} not ready after {timeout:?}\n--- log ---\n{}",
                    self.socket.display(),
                    self.log_tail(80)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL and reap.
    pub fn sigkill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait up to `timeout` for the exit; SIGKILL after that (returns None then).
    pub fn sigterm(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Still running?
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGKILL (if running), start again, wait for the socket.
    pub fn restart_after_kill(&mut self) {
        self.sigkill();
        self.spawn();
        self.wait_ready(WAIT);
    }

    pub fn post(&self, body: &[u8]) -> io::Result<Response> {
        post_events(&self.socket, body)
    }

    pub fn post_lines<L: AsRef<[u8]>>(&self, lines: &[L]) -> io::Result<Response> {
        self.post(&ndjson(lines))
    }

    /// Posts and insists on `200` with counts; panics with the log otherwise.
    pub fn post_ok<L: AsRef<[u8]>>(&self, lines: &[L]) -> (u64, u64, u64) {
        match self.post_lines(lines) {
            Ok(r) if r.status == 200 => r.counts().unwrap_or_else(|| {
                panic!(
                    "200 without {{accepted,ignored,rejected}}: {:?}\n--- log ---\n{}",
                    r.text(),
                    self.log_tail(40)
                )
            }),
            Ok(r) => panic!(
                "POST /v1/events answered {} {:?}\n--- log ---\n{}",
                r.status,
                r.text(),
                self.log_tail(40)
            ),
            Err(e) => panic!(
                "POST /v1/events failed: {e}\n--- log ---\n{}",
                self.log_tail(40)
            ),
        }
    }

    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> io::Result<Response> {
        unix_request(&self.socket, method, path, body, Duration::from_secs(30))
    }

    /// Runs `centreon-pagerduty ARGS -c CONFIG` (a CLI command talking to this daemon).
    pub fn cli(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .arg("-c")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {BIN} {args:?}: {e}"))
    }

    /// `centreon-pagerduty inject FILE -c CONFIG`.
    pub fn inject(&self, file: &Path) -> Output {
        self.cli(&["inject", &file.display().to_string()])
    }

    /// All logs (stdout+stderr) of every start, in order.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for (i, p) in self.logs.iter().enumerate() {
            let mut text = String::new();
            if let Ok(mut f) = File::open(p) {
                let mut bytes = Vec::new();
                let _ = f.read_to_end(&mut bytes);
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            if self.logs.len() > 1 {
                let _ = writeln!(s, "=== start #{} ===", i + 1);
            }
            s.push_str(&text);
        }
        s
    }

    pub fn log_tail(&self, n: usize) -> String {
        let all = self.logs();
        let lines: Vec<&str> = all.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- daemon log ({}), last 150 lines ---\n{}",
                self.dir.path().display(),
                self.log_tail(150)
            );
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Raw Broker events

/// A BBDO v2 `service_status` (NEB element 24), as the shim posts it (with `_cache`).
#[allow(clippy::too_many_arguments)]
pub fn v2_service_status(
    host_id: u64,
    service_id: u64,
    host: &str,
    service: &str,
    state: u8,
    hard: bool,
    last_check: i64,
    last_hard_state_change: i64,
    last_hard_state: u8,
    attempt: u32,
    output: &str,
    perfdata: &str,
) -> String {
    let mut e = json!({
        "_type": 65560, "category": 1, "element": 24,
        "acknowledged": false, "acknowledgement_type": 0,
        "active_checks": true, "check_interval": 5.0, "check_period": "24x7", "check_type": 0,
        "check_attempt": attempt, "state": state, "scheduled_downtime_depth": 0,
        "enabled": true, "event_handler": "", "event_handler_enabled": true,
        "execution_time": 0.012, "flap_detection": true, "checked": true,
        "host_id": host_id, "flapping": false,
    });
    let more = json!({
        "last_check": last_check, "last_hard_state": last_hard_state,
        "last_hard_state_change": last_hard_state_change,
        "last_state_change": last_hard_state_change,
        "last_update": last_check, "latency": 0.01, "max_check_attempts": 3,
        "next_check": last_check + 300, "no_more_notifications": false,
        "notification_number": 0, "notify": true, "obsess_over_service": true,
        "passive_checks": false, "percent_state_change": 0.0, "retry_interval": 1.0,
    });
    let rest = json!({
        "should_be_scheduled": true, "state_type": if hard { 1 } else { 0 },
        "check_command": "generic-active-service",
        "output": format!("{output}\n"), "perfdata": perfdata,
        "service_id": service_id,
        "_cache": {"host_name": host, "service_description": service,
                   "hostgroups": ["E2E"], "servicegroups": []}
    });
    if let (Some(o), Some(m), Some(r)) = (e.as_object_mut(), more.as_object(), rest.as_object()) {
        for (k, v) in m.iter().chain(r.iter()) {
            o.insert(k.clone(), v.clone());
        }
    }
    // BBDO v2: zero timestamps are absent.
    if last_hard_state_change == 0 {
        if let Some(o) = e.as_object_mut() {
            o.remove("last_hard_state_change");
            o.remove("last_state_change");
        }
    }
    e.to_string()
}

/// What the daemon should send for one produced event: action, and the trigger's summary.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expected {
    pub action: String,
    pub summary: String,
}

impl Expected {
    pub fn trigger(summary: impl Into<String>) -> Expected {
        Expected {
            action: "trigger".into(),
            summary: summary.into(),
        }
    }
    pub fn resolve() -> Expected {
        Expected {
            action: "resolve".into(),
            summary: String::new(),
        }
    }
    pub fn acknowledge() -> Expected {
        Expected {
            action: "acknowledge".into(),
            summary: String::new(),
        }
    }
    pub fn ident(&self) -> (String, String) {
        (self.action.clone(), self.summary.clone())
    }
}

/// One service whose statuses are generated with a clock of its own, strictly increasing, so
/// that no two statuses look like a replay (DESIGN §4.2).
#[derive(Clone, Debug)]
pub struct Svc {
    pub host_id: u64,
    pub service_id: u64,
    pub host: String,
    pub service: String,
    pub clock: i64,
    pub hard_state: u8,
    pub expected: Vec<Expected>,
}

impl Svc {
    pub fn new(host_id: u64, service_id: u64) -> Svc {
        Svc {
            host_id,
            service_id,
            host: format!("e2e-host-{host_id}"),
            service: format!("e2e-svc-{service_id}"),
            // An hour ago, leaving room for many checks a minute apart... in the past.
            clock: now_secs() - 6 * 3600,
            hard_state: 0,
            expected: Vec::new(),
        }
    }

    pub fn dedup_key(&self) -> String {
        format!("{}_{}", self.host_id, self.service_id)
    }

    fn tick(&mut self) -> i64 {
        self.clock += 60;
        self.clock
    }

    /// First check: HARD OK whose hard state did not change at this check: recorded silently.
    pub fn first_ok(&mut self) -> String {
        let t = self.tick();
        self.hard_state = 0;
        v2_service_status(
            self.host_id,
            self.service_id,
            &self.host,
            &self.service,
            0,
            true,
            t,
            t - 86400,
            0,
            1,
            "OK: all good",
            "time=0.012s;1;2;0;",
        )
    }

    /// HARD CRITICAL changing at this check: a trigger.
    pub fn critical(&mut self, output: &str) -> String {
        let t = self.tick();
        self.hard_state = 2;
        self.expected.push(Expected::trigger(format!(
            "{}/{}: CRITICAL - {}",
            self.host, self.service, output
        )));
        v2_service_status(
            self.host_id,
            self.service_id,
            &self.host,
            &self.service,
            2,
            true,
            t,
            t,
            2,
            3,
            output,
            "time=9.9s;1;2;0;",
        )
    }

    /// HARD OK changing at this check: a resolve (the problem was open).
    pub fn recover(&mut self) -> String {
        let t = self.tick();
        self.hard_state = 0;
        self.expected.push(Expected::resolve());
        v2_service_status(
            self.host_id,
            self.service_id,
            &self.host,
            &self.service,
            0,
            true,
            t,
            t,
            0,
            1,
            "OK: back to normal",
            "time=0.010s;1;2;0;",
        )
    }
}

/// `n` services on hosts of 10 services each, ids starting at `base`.
pub fn services(base: u64, n: u64) -> Vec<Svc> {
    (0..n)
        .map(|i| Svc::new(base + i / 10, base * 10 + i))
        .collect()
}

// ------------------------------------------------------------------------------------------------
// Order checks

/// Collapses consecutive duplicates (at-least-once re-sends of the same event).
pub fn collapse<T: PartialEq + Clone>(seq: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for x in seq {
        if out.last() != Some(x) {
            out.push(x.clone());
        }
    }
    out
}

/// For every service: the delivered (2xx) events of its dedup_key, consecutive duplicates
/// collapsed, equal the produced ones in order. Returns the mismatches, one line each.
pub fn order_mismatches(mock: &MockPagerDuty, svcs: &[Svc]) -> Vec<String> {
    let by_key = mock.delivered_by_key();
    let mut bad = Vec::new();
    for s in svcs {
        let key = s.dedup_key();
        let got: Vec<(String, String)> = by_key
            .get(&key)
            .map(|v| v.iter().map(Request::ident).collect())
            .unwrap_or_default();
        let got = collapse(&got);
        let want: Vec<(String, String)> = s.expected.iter().map(Expected::ident).collect();
        if got != want {
            bad.push(format!("{key}: got {got:?}\n      want {want:?}"));
        }
    }
    bad
}

/// Every produced event of every service delivered (at least once, in order)?
pub fn all_delivered(mock: &MockPagerDuty, svcs: &[Svc]) -> bool {
    order_mismatches(mock, svcs).is_empty()
}

/// Waits until every service's events were delivered in order; panics with details otherwise.
pub fn expect_all_delivered(
    mock: &MockPagerDuty,
    daemon: &Daemon,
    svcs: &[Svc],
    timeout: Duration,
) {
    let ok = poll_until(timeout, || all_delivered(mock, svcs));
    if !ok {
        let bad = order_mismatches(mock, svcs);
        panic!(
            "not every event was delivered in order after {timeout:?}: {} of {} keys wrong:\n  {}\n--- mock (last 60) ---\n{}\n--- daemon log ---\n{}",
            bad.len(),
            svcs.len(),
            bad.iter().take(20).cloned().collect::<Vec<_>>().join("\n  "),
            last_lines(&mock.dump(), 60),
            daemon.log_tail(60)
        );
    }
}

pub fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Small deterministic PRNG (xorshift64*), seeded from the clock unless `E2E_SEED` is set.
pub struct Rng(u64);

impl Rng {
    pub fn new() -> Rng {
        let seed = std::env::var("E2E_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
                    | 1
            });
        eprintln!("E2E_SEED={seed}");
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// In `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

// ------------------------------------------------------------------------------------------------
// Operator commands (tests/e2e_commands/)

/// Removes from `cmd`'s environment every variable the binary reads (as [`Daemon`] does for the
/// commands it runs): logging, systemd, socket activation and `CENTREON_PAGERDUTY_*`.
pub fn scrub_env(cmd: &mut Command) -> &mut Command {
    for k in [
        "RUST_LOG",
        "JOURNAL_STREAM",
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
    ] {
        cmd.env_remove(k);
    }
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str() {
            if k.starts_with("CENTREON_PAGERDUTY_") {
                cmd.env_remove(k);
            }
        }
    }
    cmd
}

/// Runs the binary with exactly `args` (no `-c` added), a scrubbed environment plus `env`.
pub fn run_bin(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    scrub_env(&mut cmd);
    cmd.args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    cmd.output()
        .unwrap_or_else(|e| panic!("run {BIN} {args:?}: {e}"))
}

impl Config {
    /// Removes `section.key` (no-op when absent).
    pub fn unset(mut self, section: &str, key: &str) -> Config {
        if let Some((_, entries)) = self.sections.iter_mut().find(|(s, _)| s == section) {
            entries.retain(|(k, _)| k != key);
        }
        self
    }
}

impl Daemon {
    /// `centreon-pagerduty ARGS -c CONFIG` with extra environment variables.
    pub fn cli_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command()
            .args(args)
            .arg("-c")
            .arg(&self.config_path)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {BIN} {args:?}: {e}"))
    }

    /// Writes `text` verbatim as the config (takes effect at the next start or command).
    pub fn write_config_text(&self, text: &str) {
        std::fs::write(&self.config_path, text).expect("write config");
    }
}

// ------------------------------------------------------------------------------------------------
// Security checks (tests/security/)

impl Daemon {
    /// Starts the child through `wrapper` (e.g. `setpriv --reuid=U … --`), which must `exec` the
    /// binary so that the child's pid is the daemon's: `centreon-pagerduty run -c CONFIG` is
    /// appended to it. The socket may not be ready yet (see [`Daemon::wait_ready`]).
    pub fn spawn_wrapped(&mut self, wrapper: &[String]) {
        assert!(self.child.is_none(), "daemon already running");
        assert!(!wrapper.is_empty(), "empty wrapper");
        self.starts += 1;
        let log = self.dir.path().join(format!("daemon.{}.log", self.starts));
        let stderr = File::create(&log).expect("create log");
        let stdout = stderr.try_clone().expect("clone log");
        let mut cmd = Command::new(&wrapper[0]);
        scrub_env(&mut cmd);
        let child = cmd
            .args(&wrapper[1..])
            .arg(BIN)
            .arg("run")
            .arg("-c")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {wrapper:?} {BIN}: {e}"));
        self.logs.push(log);
        self.child = Some(child);
    }

    /// Waits up to `timeout` for the child to exit by itself; its status, or None (still running).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
