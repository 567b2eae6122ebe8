//! Daemon benchmarks, on the real binary (built with the bench profile) and real files:
//! fsync latency of the spool's filesystem, durable ingest over the socket, delivery to a
//! loopback mock PagerDuty with pacing off, memory, start-up with a large backlog, and the
//! memory with 200,000 resources known (the state cache is bounded) with the cost of a miss.
//!
//! `cargo bench -p centreon-pagerduty --bench daemon [-- --pending N] [--only PART]`; results go to stdout
//! and are recorded by hand in BENCHMARKS.md.

// A benchmark aborts on any setup failure: that is the right outcome.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_centreon-pagerduty");
const KEY: &str = "R0UT1NGKEY0000000000000000000001";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pending: u64 = args
        .iter()
        .position(|a| a == "--pending")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    if args.iter().any(|a| a == "--list") {
        println!("daemon: benchmark");
        return;
    }
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    // `--only ingest|storm|delivery|backlog|memory`: one part (with the fsync probe, which explains them).
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    let wanted = |part: &str| only.is_none_or(|o| o == part);
    fsync_latency();
    if wanted("ingest") {
        // `--services N`: the steady figures with N services instead of 500.
        let services = args
            .iter()
            .position(|a| a == "--services")
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(500);
        ingest(services);
    }
    if wanted("storm") {
        storm();
    }
    if wanted("delivery") {
        delivery();
    }
    if wanted("backlog") {
        backlog(pending);
    }
    if wanted("memory") {
        memory();
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default()
}

fn fsync_latency() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe");
    let mut f = std::fs::File::create(&path).unwrap();
    let mut samples = Vec::new();
    for _ in 0..200 {
        f.write_all(&[0u8; 4096]).unwrap();
        let t = Instant::now();
        f.sync_data().unwrap();
        samples.push(t.elapsed());
    }
    samples.sort();
    println!(
        "fsync (4 KiB write + fdatasync, 200 samples): median {:?}, p99 {:?}",
        samples[100], samples[198]
    );
}

struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
}

impl Daemon {
    fn socket(&self) -> PathBuf {
        self.dir.path().join("broker.sock")
    }
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
    /// `write_bytes` of `/proc/PID/io`: what the daemon caused to be written to storage.
    fn write_bytes(&self) -> u64 {
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
fn start(dir: tempfile::TempDir, url: &str, extra: &str) -> (Daemon, Duration) {
    start_paced(dir, url, NO_PACING, extra)
}

/// Pacing off.
const NO_PACING: u32 = 100_000_000;

fn start_paced(dir: tempfile::TempDir, url: &str, rate: u32, extra: &str) -> (Daemon, Duration) {
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

fn post(socket: &Path, body: &[u8]) -> u16 {
    let mut s = UnixStream::connect(socket).unwrap();
    write!(
        s,
        "POST /v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// A BBDO v2 service status line like `steady_10k`'s, about 900 bytes.
fn status_line(host: u64, service: u64, state: u8, check: i64) -> String {
    let hard_change = if state == 0 { 1_781_000_000 } else { check };
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

/// A status line as the shim posts it: the raw event cut to the fields the daemon's normaliser
/// reads for a service status, plus `_cache`, as the one list of them says
/// (`tests/fixtures/normaliser-fields.txt`: its `*` line and its line for element 1:24).
fn shim_line(line: &[u8]) -> Vec<u8> {
    const LIST: &str = include_str!("../../../tests/fixtures/normaliser-fields.txt");
    let fields: Vec<&str> = LIST
        .lines()
        .filter_map(|l| l.split_once(char::is_whitespace))
        .filter(|(groups, _)| *groups == "*" || groups.split(',').any(|g| g == "1:24"))
        .flat_map(|(_, fields)| fields.split_whitespace())
        .collect();
    let mut event: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(line).unwrap();
    event.retain(|k, _| fields.contains(&k.as_str()));
    let mut out = serde_json::to_vec(&event).unwrap();
    out.push(b'\n');
    out
}

fn ingest(count: u64) {
    let (d, _) = start(
        tempfile::tempdir().unwrap(),
        "http://127.0.0.1:9/v2/enqueue",
        "",
    );
    let socket = d.socket();
    println!("RSS idle: {} KiB", d.rss_kib());
    // `count` services, 10 a host; round 0 creates their state, later rounds change nothing.
    let services: Vec<(u64, u64)> = (0..count).map(|i| (1000 + i / 10, 50_000 + i)).collect();
    let round = |r: i64| -> Vec<u8> {
        services
            .iter()
            .flat_map(|&(h, s)| status_line(h, s, 0, 1_781_000_000 + r * 300).into_bytes())
            .collect()
    };
    for first in services.chunks(1000) {
        let body: Vec<u8> = first
            .iter()
            .flat_map(|&(h, s)| status_line(h, s, 0, 1_781_000_000).into_bytes())
            .collect();
        assert_eq!(post(&socket, &body), 200);
    }
    let batch_lines = 1000;
    // Statuses of rounds 1, 2, ... in batches of 1,000, made as they are posted (not timed).
    let mut rounds = (1..).flat_map(|r| {
        let lines = round(r);
        lines
            .split_inclusive(|&b| b == b'\n')
            .map(<[u8]>::to_vec)
            .collect::<Vec<_>>()
    });
    // `shim_fields`: each line cut to the fields the shim sends (see `shim_line`).
    let mut measure = |batches: usize, shim_fields: bool| {
        let written = d.write_bytes();
        let mut elapsed = Duration::ZERO;
        for _ in 0..batches {
            let body: Vec<u8> = rounds
                .by_ref()
                .take(batch_lines)
                .flat_map(|l| if shim_fields { shim_line(&l) } else { l })
                .collect();
            let t = Instant::now();
            assert_eq!(post(&socket, &body), 200);
            elapsed += t.elapsed();
        }
        // The WAL reaches the disk at each commit (synchronous=FULL); checkpoints are in it.
        let events = (batches * batch_lines) as f64;
        let bytes = d.write_bytes().saturating_sub(written) as f64 / events;
        (bytes, events, elapsed)
    };
    // The first 200,000 statuses (the figure as first measured) fill the window log's slots
    // of a fresh spool; the steady figure is over the next 600,000 (a few checkpoints).
    let (cold_bytes, _, _) = measure(200, false);
    let (bytes, events, elapsed) = measure(600, false);
    let (shim_bytes, shim_events, shim_elapsed) = measure(300, true);
    println!(
        "disk writes per steady status (write_bytes of /proc/PID/io, {count} services): {bytes:.0} bytes/event \
         ({cold_bytes:.0} over the first 200,000 statuses of a fresh spool)"
    );
    println!(
        "durable ingest, steady state, NDJSON batches of {batch_lines} over the socket: {:.0} events/s ({} events in {:?})",
        events / elapsed.as_secs_f64(),
        events,
        elapsed
    );
    println!(
        "durable ingest, steady state, the lines the shim sends (the normaliser's fields), batches of {batch_lines}: \
         {:.0} events/s ({} events in {:?}; {shim_bytes:.0} bytes written per status)",
        shim_events / shim_elapsed.as_secs_f64(),
        shim_events,
        shim_elapsed
    );
    // Batches that each change every resource (write path): 500 triggers then 500 resolves.
    let services = &services[..services.len().min(500)];
    let t = Instant::now();
    let mut changed = 0;
    for r in 0..20i64 {
        let state = if r % 2 == 0 { 2 } else { 0 };
        let body: Vec<u8> = services
            .iter()
            .flat_map(|&(h, s)| status_line(h, s, state, 1_781_200_000 + r * 300).into_bytes())
            .collect();
        assert_eq!(post(&socket, &body), 200);
        changed += services.len();
    }
    let elapsed = t.elapsed();
    println!(
        "durable ingest, every event a state change (trigger or resolve queued), batches of 500: {:.0} events/s",
        changed as f64 / elapsed.as_secs_f64()
    );
    println!("RSS after ingest: {} KiB", d.rss_kib());
}

/// Issue #12's storm: a datacenter loses power, 50,000 services go OK → CRITICAL (HARD) at
/// once, in batches of 1,000; each change queues a trigger. Their first sight (OK) comes before.
/// Delivery is paced as by default (100 a minute): PagerDuty cannot take a storm at once, and
/// the figure is the ingest's.
fn storm() {
    let (d, _) = start_paced(
        tempfile::tempdir().unwrap(),
        "http://127.0.0.1:9/v2/enqueue",
        100,
        "",
    );
    let socket = d.socket();
    let services: Vec<(u64, u64)> = (0..50_000).map(|i| (1000 + i / 10, 50_000 + i)).collect();
    let batches = |state: u8, check: i64| -> Vec<Vec<u8>> {
        services
            .chunks(1000)
            .map(|chunk| {
                chunk
                    .iter()
                    .flat_map(|&(h, s)| status_line(h, s, state, check).into_bytes())
                    .collect()
            })
            .collect()
    };
    // Checked a minute after their last change: a first sight, not a recovery to resolve.
    for b in batches(0, 1_781_000_060) {
        assert_eq!(post(&socket, &b), 200);
    }
    let storm = batches(2, 1_781_000_300);
    let written = d.write_bytes();
    let t = Instant::now();
    for b in &storm {
        assert_eq!(post(&socket, b), 200);
    }
    let elapsed = t.elapsed();
    println!(
        "storm: 50,000 OK -> CRITICAL (HARD) changes of 50,000 services in batches of 1,000: \
         committed in {elapsed:?}, {:.0} events/s, {:.0} bytes written per change",
        50_000.0 / elapsed.as_secs_f64(),
        d.write_bytes().saturating_sub(written) as f64 / 50_000.0
    );
    println!("RSS after the storm: {} KiB", d.rss_kib());
}

/// A loopback PagerDuty that answers 202 at once and counts.
fn mock() -> (String, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v2/enqueue", listener.local_addr().unwrap());
    let counter = count.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let _ = stream.set_nodelay(true);
                let counter = counter.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let counter = counter.clone();
                            async move {
                                use http_body_util::BodyExt;
                                let _ = req.into_body().collect().await;
                                counter.fetch_add(1, Ordering::Relaxed);
                                Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .status(202)
                                    .body(http_body_util::Full::new(hyper::body::Bytes::from_static(
                                        b"{\"status\":\"success\",\"message\":\"Event processed\"}",
                                    )))
                                    .unwrap(),
                            )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
    });
    (url, count)
}

fn delivery() {
    let (url, count) = mock();
    let (d, _) = start(tempfile::tempdir().unwrap(), &url, "");
    let socket = d.socket();
    let n = 10_000u64;
    // First sight of each service: HARD CRITICAL → one trigger per dedup key.
    let lines: Vec<String> = (0..n)
        .map(|i| status_line(2000 + i / 100, 70_000 + i, 2, 1_781_300_000))
        .collect();
    let t = Instant::now();
    for chunk in lines.chunks(1000) {
        assert_eq!(post(&socket, chunk.concat().as_bytes()), 200);
    }
    while count.load(Ordering::Relaxed) < n {
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "delivery stalled at {}",
            count.load(Ordering::Relaxed)
        );
    }
    let elapsed = t.elapsed();
    println!(
        "delivery to a loopback mock (202 at once), pacing off, concurrency 8: {:.0} alerts/s ({n} alerts in {:?})",
        n as f64 / elapsed.as_secs_f64(),
        elapsed
    );
}

fn backlog(pending: u64) {
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    std::fs::create_dir_all(&spool_dir).unwrap();
    let t = Instant::now();
    {
        let mut spool = spool::Spool::open(&spool_dir).unwrap();
        let mut id = 0u64;
        while id < pending {
            let mut batch = spool::Batch::default();
            for _ in 0..10_000.min(pending - id) {
                let key = format!("{}_{}", 10_000 + id / 100, id);
                batch.deliveries.push(spool::NewDelivery {
                    body: format!("{{\"routing_key\":\"{KEY}\",\"event_action\":\"trigger\",\"dedup_key\":\"{key}\",\"payload\":{{\"summary\":\"bench-node/Disk: CRITICAL - DISK CRITICAL\",\"source\":\"bench-node\",\"severity\":\"critical\"}}}}"),
                    dedup_key: key,
                    route: "default".into(),
                    routing_key: KEY.into(),
                    action: pagerduty::Action::Trigger,
                    host_id: 1,
                    service_id: id,
                    resource: "bench-node/Disk".into(),
                    ingested_at_ms: 1_795_000_000_000,
                    due_at_ms: 0,
                });
                id += 1;
            }
            spool.commit_batch(&batch).unwrap();
        }
        // Paused by an operator so that the backlog stays while we measure.
        spool.set_route_paused("default", true, 0).unwrap();
    }
    println!(
        "backlog: {pending} pending deliveries written in {:?}",
        t.elapsed()
    );
    let tmp = tempfile::tempdir().unwrap();
    std::fs::rename(&spool_dir, tmp.path().join("spool")).unwrap();
    let (d, ready) = start(tmp, "http://127.0.0.1:9/v2/enqueue", "");
    std::thread::sleep(Duration::from_secs(3));
    let size: u64 = std::fs::read_dir(d.dir.path().join("spool"))
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "with {pending} pending: READY after {:?}, RSS {} KiB (spool {} MiB)",
        ready,
        d.rss_kib(),
        size >> 20
    );
    let t = Instant::now();
    let mut s = UnixStream::connect(d.socket()).unwrap();
    write!(
        s,
        "GET /v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    println!(
        "status with {pending} pending answered in {:?}",
        t.elapsed()
    );
}

/// RSS with 200,000 services known, after their first sight (1,000 statuses per batch); then
/// the cost of a cache miss: steady statuses of 1,000 services the cache holds, against 1,000
/// it dropped (their states read back from the spool).
fn memory() {
    let (d, _) = start(
        tempfile::tempdir().unwrap(),
        "http://127.0.0.1:9/v2/enqueue",
        "",
    );
    let socket = d.socket();
    let total: u64 = 200_000;
    let service = |i: u64| (10_000 + i / 20, 1_000_000 + i);
    let batch = |from: u64, check: i64| -> Vec<u8> {
        (from..from + 1000)
            .flat_map(|i| {
                let (h, s) = service(i);
                status_line(h, s, 0, check).into_bytes()
            })
            .collect()
    };
    let t = Instant::now();
    for from in (0..total).step_by(1000) {
        assert_eq!(post(&socket, &batch(from, 1_781_000_000)), 200);
    }
    println!(
        "first sight of {total} services in {:?}; RSS {} KiB",
        t.elapsed(),
        d.rss_kib()
    );
    // The last batches are cached; the first ones were dropped long ago.
    let rounds = 20;
    let time = |from: u64| {
        let t = Instant::now();
        for r in 0..rounds {
            assert_eq!(post(&socket, &batch(from, 1_781_000_300 + r)), 200);
        }
        t.elapsed().as_secs_f64() / (rounds as f64 * 1000.0)
    };
    let hit = time(total - 1000);
    let mut miss_total = 0.0;
    for k in 0..rounds {
        // A different dropped batch each time: every read is a miss.
        let from = (k as u64) * 5000;
        let t = Instant::now();
        assert_eq!(post(&socket, &batch(from, 1_781_000_300)), 200);
        miss_total += t.elapsed().as_secs_f64();
    }
    let miss = miss_total / (rounds as f64 * 1000.0);
    println!(
        "steady status, state cached: {:.1} µs/event; state read from the spool (a miss): {:.1} µs/event; a miss costs {:.1} µs",
        hit * 1e6,
        miss * 1e6,
        (miss - hit) * 1e6
    );
    println!("RSS after: {} KiB", d.rss_kib());
}
