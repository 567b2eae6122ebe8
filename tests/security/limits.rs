//! 6. Body, line and connection limits.

use crate::common::{self, *};
use crate::output::cli_out;
use crate::site::wait_delivered;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

const MIB: usize = 1 << 20;

/// A body of exactly `size` bytes: valid NDJSON lines (replays of one status, cheap to ingest),
/// padded with empty lines.
fn body_of(size: usize) -> Vec<u8> {
    let mut s = Svc::new(9600, 96001);
    let line = s.first_ok();
    let mut body = Vec::with_capacity(size);
    while body.len() + line.len() < size {
        body.extend_from_slice(line.as_bytes());
        body.push(b'\n');
    }
    body.resize(size, b'\n');
    body
}

/// `POST /v1/events` with a chunked body (no Content-Length to trust).
fn post_chunked(socket: &Path, body: &[u8]) -> std::io::Result<Response> {
    use std::io::{BufReader, Write as _};
    let stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_write_timeout(Some(Duration::from_secs(60)))?;
    let mut w = stream.try_clone()?;
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: localhost\r\nUser-Agent: {SHIM_USER_AGENT}\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let mut write = || -> std::io::Result<()> {
        w.write_all(head.as_bytes())?;
        for chunk in body.chunks(256 * 1024) {
            w.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
            w.write_all(chunk)?;
            w.write_all(b"\r\n")?;
        }
        w.write_all(b"0\r\n\r\n")?;
        w.flush()
    };
    // The daemon may answer 413 and stop reading: then its answer is the result.
    let write_err = write().err();
    let mut r = BufReader::new(stream);
    match common::http::read_message(&mut r, true) {
        Ok(Some(m)) => Ok(Response {
            status: m
                .start_line
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            headers: m.headers,
            body: m.body,
        }),
        Ok(None) => Err(write_err.unwrap_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed without an answer",
            )
        })),
        Err(e) => Err(write_err.unwrap_or(e)),
    }
}

/// `/v1/health` 200, and a trigger and a resolve for a fresh service both delivered.
fn assert_healthy(d: &Daemon, mock: &MockPagerDuty, id: u64) {
    let r = d.request("GET", "/v1/health", b"").expect("GET /v1/health");
    assert_eq!(r.status, 200, "{}", r.text());
    let mut s = [Svc::new(id, id * 10)];
    let lines = [s[0].first_ok(), s[0].critical("CRITICAL: health probe")];
    d.post_ok(&lines);
    let rec = s[0].recover();
    d.post_ok(&[rec]);
    expect_all_delivered(mock, d, &s, WAIT);
}

#[test]
fn body_limit_is_16_mib_exactly() {
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));

    let at_limit = body_of(16 * MIB);
    assert_eq!(at_limit.len(), 16 * MIB);
    let r = d.post(&at_limit).expect("POST of 16 MiB");
    assert_eq!(
        r.status,
        200,
        "a body of exactly 16 MiB is allowed: {}",
        r.text()
    );

    let over = body_of(16 * MIB + 1);
    assert_eq!(over.len(), 16 * MIB + 1);
    match d.post(&over) {
        Ok(r) => assert_eq!(
            r.status,
            413,
            "16 MiB + 1 with Content-Length: {}",
            r.text()
        ),
        Err(e) => panic!(
            "no answer to 16 MiB + 1 (want 413): {e}\n{}",
            d.log_tail(30)
        ),
    }
    assert_healthy(&d, &mock, 9601);

    // Chunked: the daemon cannot trust a length given up front.
    match post_chunked(&d.socket, &at_limit) {
        Ok(r) => assert_eq!(r.status, 200, "16 MiB chunked: {}", r.text()),
        Err(e) => panic!("no answer to 16 MiB chunked: {e}\n{}", d.log_tail(30)),
    }
    match post_chunked(&d.socket, &over) {
        Ok(r) => assert_eq!(r.status, 413, "16 MiB + 1 chunked: {}", r.text()),
        Err(e) => panic!(
            "no answer to 16 MiB + 1 chunked (want 413): {e}\n{}",
            d.log_tail(30)
        ),
    }
    assert_healthy(&d, &mock, 9602);
}

/// A HARD CRITICAL status line of exactly `size` bytes for `s` (its output padded).
fn critical_line_of(s: &mut Svc, size: usize) -> String {
    let probe = s.clone().critical("");
    let pad = size.checked_sub(probe.len()).expect("size too small");
    let line = s.critical(&"x".repeat(pad));
    assert_eq!(line.len(), size, "line size");
    line
}

#[test]
fn line_limit_is_1_mib_exactly_and_rejects_only_that_line() {
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));
    let mut before = Svc::new(9610, 96101);
    let mut at_limit = Svc::new(9611, 96111);
    let mut over = Svc::new(9612, 96121);
    let mut after = Svc::new(9613, 96131);
    d.post_ok(&[
        before.first_ok(),
        at_limit.first_ok(),
        over.first_ok(),
        after.first_ok(),
    ]);
    let rejected_before = cli_out(&d, &["status", "--json"]).expect(0).json()["rejected_lines"]
        .as_i64()
        .unwrap_or(-1);

    let lines = [
        before.critical("CRITICAL: before the long lines"),
        critical_line_of(&mut at_limit, MIB),
        critical_line_of(&mut over, MIB + 1),
        after.critical("CRITICAL: after the long lines"),
    ];
    let (accepted, ignored, rejected) = d.post_ok(&lines);
    assert_eq!(
        (accepted + ignored, rejected),
        (3, 1),
        "4 lines, only the one of 1 MiB + 1 rejected: accepted {accepted}, ignored {ignored}, rejected {rejected}"
    );
    for s in [&before, &at_limit, &after] {
        wait_delivered(&mock, &d, &s.dedup_key(), "trigger");
    }
    assert!(
        mock.events_for(&over.dedup_key()).is_empty(),
        "the rejected line must not page\n{}",
        mock.dump()
    );
    let j = cli_out(&d, &["status", "--json"]).expect(0).json();
    assert_eq!(
        j["rejected_lines"].as_i64(),
        Some(rejected_before + 1),
        "the rejected line is kept for inspection: {j:#}"
    );
    assert_healthy(&d, &mock, 9614);
}

/// Holds `n` connections that never send a byte; with `replenish`, reopens each one the daemon
/// closes, as fast as it can, until `stop`. Returns how many it reopened.
fn idle_flood(
    socket: PathBuf,
    n: usize,
    replenish: bool,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ready: std::sync::mpsc::Sender<usize>,
) -> std::thread::JoinHandle<usize> {
    use std::sync::atomic::Ordering;
    std::thread::spawn(move || {
        let open = |socket: &Path| {
            UnixStream::connect(socket).ok().inspect(|s| {
                let _ = s.set_nonblocking(true);
            })
        };
        let mut conns: Vec<Option<UnixStream>> = (0..n).map(|_| open(&socket)).collect();
        let _ = ready.send(conns.iter().flatten().count());
        let mut reopened = 0;
        while !stop.load(Ordering::SeqCst) {
            if replenish {
                for c in &mut conns {
                    let closed = match c {
                        None => true,
                        Some(s) => {
                            let mut buf = [0u8; 64];
                            match std::io::Read::read(s, &mut buf) {
                                Ok(_) => true,
                                Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                            }
                        }
                    };
                    if closed {
                        *c = open(&socket);
                        reopened += 1;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        reopened
    })
}

/// Posts a batch every 50 ms until one is answered 200: how long that took, and how many tries.
fn time_to_200(d: &Daemon, id: u64, limit: Duration) -> Result<(Duration, usize), String> {
    let mut s = Svc::new(id, id * 10);
    let body = ndjson(&[s.first_ok(), s.critical("CRITICAL: during the flood")]);
    let t0 = std::time::Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let r = unix_request(
            &d.socket,
            "POST",
            "/v1/events",
            &body,
            Duration::from_secs(5),
        );
        if r.as_ref().is_ok_and(|r| r.status == 200) {
            return Ok((t0.elapsed(), attempts));
        }
        if t0.elapsed() > limit {
            return Err(format!(
                "no 200 after {:?} and {attempts} attempts; last: {:?}",
                t0.elapsed(),
                r.map(|r| r.status)
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// 1000 idle connections (the daemon serves 256 at a time), then a client that posts like the
/// shim; it must get a 200 within 10 s. The time is printed (`--nocapture`).
fn flood_case(replenish: bool) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let flood = idle_flood(d.socket.clone(), 1000, replenish, stop.clone(), tx);
    let opened = rx.recv_timeout(WAIT).expect("the flood started");
    let kind = if replenish {
        "reopened as soon as closed"
    } else {
        "held"
    };
    let result = time_to_200(&d, 9700 + u64::from(replenish), Duration::from_secs(60));
    stop.store(true, Ordering::SeqCst);
    let reopened = flood.join().unwrap();
    match &result {
        Ok((took, attempts)) => eprintln!(
            "flood of {opened} idle connections ({kind}; {reopened} reopened): a legitimate client got 200 after {took:?} ({attempts} attempts)"
        ),
        Err(e) => eprintln!("flood of {opened} idle connections ({kind}): {e}"),
    }
    let (took, _) = result.unwrap_or_else(|e| panic!("{e}\n{}", d.log_tail(30)));
    assert!(
        took < Duration::from_secs(10),
        "a legitimate client waited {took:?} for a 200 behind {opened} idle connections ({kind})"
    );
    assert_healthy(&d, &mock, 9710 + u64::from(replenish));
}

/// The idle connections are dropped after the header timeout (5 s): then the client gets in.
#[test]
fn a_flood_of_idle_connections_does_not_lock_out_the_shim() {
    flood_case(false);
}

/// The attacker (any member of the socket's group) reopens every connection the daemon closes:
/// when the idle ones time out (header timeout, 5 s), the legitimate client races the flood for
/// the freed slots, and waits 5 s more each time it loses (seen: 5, 10, 15, 20, 30 s).
#[test]
fn a_sustained_flood_of_idle_connections_does_not_lock_out_the_shim() {
    flood_case(true);
}
