//! What the benchmarks share: the daemon as a child process (its config, its start, what
//! `/proc` says of it), posting a batch over its socket, and the status lines posted.

use std::io::{Read, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_centreon-pagerduty");
pub(crate) const KEY: &str = "R0UT1NGKEY0000000000000000000001";

pub(crate) struct Daemon {
    child: Child,
    pub(crate) dir: tempfile::TempDir,
}

impl Daemon {
    pub(crate) fn socket(&self) -> PathBuf {
        self.dir.path().join("broker.sock")
    }
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
    pub(crate) fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
    /// The daemon's CPU time (user + system, all threads) from `/proc/PID/stat`.
    pub(crate) fn cpu_time(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
        let ticks: u64 = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().skip(11).take(2))
            .into_iter()
            .flatten()
            .filter_map(|v| v.parse::<u64>().ok())
            .sum();
        // USER_HZ is 100 on Linux.
        Duration::from_millis(ticks * 10)
    }
    /// The daemon's minor page faults so far (`minflt` of `/proc/PID/stat`): pages it touched
    /// for the first time, each zeroed by the kernel.
    pub(crate) fn minor_faults(&self) -> u64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // `minflt` is the 10th field, the 8th after the command's closing parenthesis.
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(7))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
    /// `write_bytes` of `/proc/PID/io`: what the daemon caused to be written to storage.
    pub(crate) fn write_bytes(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/io", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("write_bytes:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A config; `rate`: `rate_limit_per_minute` (huge: pacing off).
fn config(dir: &Path, url: &str, rate: u32, extra: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[pagerduty]\nrouting_key = \"{KEY}\"\nurl = \"{url}\"\nrate_limit_per_minute = {rate}\n\
             [listen]\nsocket = \"{}\"\nsocket_group = \"\"\n\
             [spool]\ndir = \"{}\"\nmax_size = \"4GiB\"\nmin_free = \"64MiB\"\n\
             [log]\nlevel = \"{level}\"\n{extra}",
            dir.join("broker.sock").display(),
            dir.join("spool").display(),
            level = std::env::var("BENCH_LOG_LEVEL").unwrap_or_else(|_| "warn".into()),
        ),
    )
    .unwrap();
    path
}

/// Start the daemon and wait for READY=1 on our own notify socket; returns the time it took.
pub(crate) fn start(dir: tempfile::TempDir, url: &str, extra: &str) -> (Daemon, Duration) {
    start_paced(dir, url, NO_PACING, extra)
}

/// Pacing off.
const NO_PACING: u32 = 100_000_000;

pub(crate) fn start_paced(
    dir: tempfile::TempDir,
    url: &str,
    rate: u32,
    extra: &str,
) -> (Daemon, Duration) {
    let cfg = config(dir.path(), url, rate, extra);
    let notify_path = dir.path().join("notify.sock");
    let _ = std::fs::remove_file(&notify_path);
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let t = Instant::now();
    let child = Command::new(BIN)
        .args(["run", "-c"])
        .arg(&cfg)
        .env("NOTIFY_SOCKET", &notify_path)
        .stderr(match std::env::var_os("BENCH_DAEMON_LOG") {
            Some(p) => Stdio::from(
                std::fs::File::options()
                    .append(true)
                    .create(true)
                    .open(p)
                    .unwrap(),
            ),
            None => Stdio::null(),
        })
        .spawn()
        .unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let n = notify.recv(&mut buf).expect("no READY=1 within 60 s");
        if String::from_utf8_lossy(&buf[..n])
            .lines()
            .any(|l| l == "READY=1")
        {
            break;
        }
    }
    (Daemon { child, dir }, t.elapsed())
}

/// Deliveries pending (`pending` of `GET /v1/status`).
pub(crate) fn pending(socket: &Path) -> u64 {
    let answer = request(socket, "GET /v1/status", b"");
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let status: serde_json::Value = serde_json::from_str(body).unwrap();
    status["pending"].as_u64().unwrap()
}

/// Panics unless nothing is queued: the steady figures must not carry a delivery backlog (its
/// retries against the benches' unreachable URL would be measured with them).
pub(crate) fn assert_nothing_queued(socket: &Path) {
    let queued = pending(socket);
    assert_eq!(queued, 0, "the first sights queued {queued} deliveries");
}

pub(crate) fn post(socket: &Path, body: &[u8]) -> u16 {
    request(socket, "POST /v1/events", body)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// One HTTP/1.1 request over the daemon's socket (`method_path` such as `GET /v1/status`),
/// on a connection of its own; the whole answer.
fn request(socket: &Path, method_path: &str, body: &[u8]) -> String {
    let mut s = UnixStream::connect(socket).unwrap();
    write!(
        s,
        "{method_path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

/// The hard state change of an OK [`status_line`]: an OK status checked at this very time is a
/// recovery, whose first sight queues a resolve (DESIGN §4.2).
pub(crate) const OK_SINCE: i64 = 1_781_000_000;

/// The check time of a first sight that changes nothing: a minute after [`OK_SINCE`], so an OK
/// status is recorded, not resolved. A first sight at [`OK_SINCE`] itself would queue one
/// resolve per service, retried against the benches' unreachable URL while they measure.
pub(crate) const FIRST_SIGHT: i64 = OK_SINCE + 60;

/// A BBDO v2 service status line like `steady_10k`'s, about 900 bytes.
pub(crate) fn status_line(host: u64, service: u64, state: u8, check: i64) -> String {
    let hard_change = if state == 0 { OK_SINCE } else { check };
    format!(
        concat!(
            "{{\"_type\":65560,\"category\":1,\"element\":24,\"acknowledged\":false,\"acknowledgement_type\":0,",
            "\"active_checks\":true,\"check_attempt\":1,\"check_command\":\"check_disk\",\"check_interval\":5.0,",
            "\"check_period\":\"24x7\",\"check_type\":0,\"checked\":true,\"enabled\":true,\"event_handler\":\"\",",
            "\"event_handler_enabled\":true,\"execution_time\":0.012,\"flap_detection\":true,\"flapping\":false,",
            "\"host_id\":{h},\"last_check\":{c},\"last_hard_state\":{s},\"last_hard_state_change\":{hc},",
            "\"last_state_change\":{hc},\"last_time_ok\":{c},\"last_update\":{c},\"latency\":0.2,",
            "\"max_check_attempts\":1,\"next_check\":{n},\"no_more_notifications\":false,\"notification_number\":0,",
            "\"notify\":true,\"obsess_over_service\":true,\"output\":\"DISK OK - free space: /data {free} MB\\n\",",
            "\"passive_checks\":false,\"percent_state_change\":0.0,",
            "\"perfdata\":\"used={used}MB;80000;90000;0;100000 free={free}MB;;;0;100000\",",
            "\"retry_interval\":1.0,\"scheduled_downtime_depth\":0,\"service_id\":{sv},\"should_be_scheduled\":true,",
            "\"state\":{s},\"state_type\":1,",
            "\"_cache\":{{\"host_name\":\"bench-node-{h}\",\"service_description\":\"Disk-/data{sv}\",",
            "\"hostgroups\":[\"Bench\"],\"servicegroups\":[\"Disks\"],\"host_severity\":1}}}}\n"
        ),
        h = host,
        sv = service,
        s = state,
        c = check,
        hc = hard_change,
        n = check + 300,
        used = 40_000 + (check % 1000),
        free = 60_000 - (check % 1000),
    )
}

/// `BENCH_PERF=FILE`: the daemon recorded by `perf record` (call graphs, 2,000 samples a
/// second) during a bench's measured part, into FILE.
pub(crate) struct Profile(Child);

impl Profile {
    /// `None` when `BENCH_PERF` is unset.
    pub(crate) fn start(d: &Daemon) -> Option<Profile> {
        let out = std::env::var("BENCH_PERF").ok()?;
        let perf = Command::new("perf")
            .args(["record", "-F", "2000", "--call-graph", "dwarf", "-o", &out])
            .arg("-p")
            .arg(d.pid().to_string())
            .stderr(Stdio::null())
            .spawn()
            .expect("BENCH_PERF is set, but perf cannot be run");
        // perf needs a moment to attach.
        std::thread::sleep(Duration::from_secs(2));
        Some(Profile(perf))
    }

    /// Stop recording: SIGINT, upon which perf writes its file.
    pub(crate) fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}
