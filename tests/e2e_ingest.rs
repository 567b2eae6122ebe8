//! End-to-end: the ingest server on the Unix socket under bad input and hostile clients
//! (DESIGN §3.4, §4.5). Whatever happens, the daemon stays healthy: a later valid batch still
//! gets 200 and is delivered.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Posts a trigger+resolve for a fresh service and checks both are delivered.
fn assert_still_healthy(d: &Daemon, mock: &MockPagerDuty, id: u64) {
    let mut s = vec![Svc::new(id, id * 10)];
    let first = s[0].first_ok();
    let crit = s[0].critical("CRITICAL: health probe");
    d.post_ok(&[first, crit]);
    let rec = s[0].recover();
    d.post_ok(&[rec]);
    expect_all_delivered(mock, d, &s, WAIT);
}

#[test]
fn malformed_lines_are_counted_rejected_and_never_fail_the_batch() {
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));
    let mut svcs = vec![Svc::new(8000, 80000), Svc::new(8001, 80010)];

    let mut huge = Svc::new(8002, 80020);
    let _ = huge.first_ok();
    let oversize = huge.critical(&"x".repeat((1 << 20) + 1000)); // a status line > 1 MiB
    assert!(oversize.len() > 1 << 20);

    let mut body: Vec<u8> = Vec::new();
    let mut n_lines = 0;
    let mut n_bad = 0;
    let mut push = |line: &[u8], bad: bool, body: &mut Vec<u8>| {
        body.extend_from_slice(line);
        body.push(b'\n');
        n_lines += 1;
        if bad {
            n_bad += 1;
        }
    };
    push(svcs[0].first_ok().as_bytes(), false, &mut body);
    push(b"this is not json", true, &mut body);
    push(
        b"{\"_type\":65560,\"category\":1,\"element\":24,\"host_id\":",
        true,
        &mut body,
    );
    push(b"\xff\xfe\xfd garbage \xc3\x28", true, &mut body);
    push(oversize.as_bytes(), true, &mut body);
    push(svcs[1].first_ok().as_bytes(), false, &mut body);
    // Valid JSON framing but invalid UTF-8 inside a string: rejected or accepted (lossily), never
    // a failed batch.
    let mut bad_utf8 = svcs[1].critical("CRITICAL: bad bytes here").into_bytes();
    let pos = bad_utf8.windows(9).position(|w| w == b"bad bytes").unwrap();
    bad_utf8[pos] = 0xff;
    push(&bad_utf8, false, &mut body);
    push(
        svcs[0].critical("CRITICAL: after the garbage").as_bytes(),
        false,
        &mut body,
    );

    let r = d.post(&body).expect("post");
    assert_eq!(
        r.status,
        200,
        "malformed lines must never fail a batch: {} {:?}\n{}",
        r.status,
        r.text(),
        d.log_tail(40)
    );
    let (a, i, rej) = r.counts().expect("counts");
    eprintln!("accepted {a}, ignored {i}, rejected {rej} of {n_lines} lines ({n_bad} malformed)");
    assert_eq!(
        (a + i + rej) as usize,
        n_lines,
        "every line must be counted"
    );
    assert!(
        rej as usize >= n_bad,
        "the {n_bad} malformed lines (garbage, truncated JSON, invalid UTF-8, > 1 MiB) must be rejected: rejected {rej}"
    );
    assert!(
        rej as usize <= n_bad + 1,
        "valid lines were rejected: {rej}"
    );

    // The valid events around the garbage took effect.
    // svcs[1]'s trigger came in the line with invalid UTF-8: either outcome is fine.
    svcs.truncate(1);
    expect_all_delivered(&mock, &d, &svcs, WAIT);
    assert!(
        mock.events_for(&huge.dedup_key()).is_empty(),
        "the oversize line must not produce an event"
    );
    assert_still_healthy(&d, &mock, 8003);
}

#[test]
fn body_over_16_mib_is_413() {
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));
    let mut s = Svc::new(8100, 81000);
    let line = s.first_ok();
    let mut body = Vec::with_capacity(17 << 20);
    while body.len() <= (16 << 20) + 4096 {
        body.extend_from_slice(line.as_bytes());
        body.push(b'\n');
    }
    let r = d.post(&body);
    match r {
        Ok(r) => assert_eq!(
            r.status,
            413,
            "body of {} bytes: {:?}",
            body.len(),
            r.text()
        ),
        Err(e) => panic!(
            "no answer to a body over 16 MiB (want 413): {e}\n{}",
            d.log_tail(30)
        ),
    }
    assert_still_healthy(&d, &mock, 8101);
}

#[test]
fn unknown_paths_are_404_and_wrong_methods_405() {
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));
    let cases: [(&str, &str, u16); 5] = [
        ("GET", "/v1/nope", 404),
        ("POST", "/v2/events", 404),
        ("GET", "/", 404),
        ("GET", "/v1/events", 405),
        ("PUT", "/v1/events", 405),
    ];
    let mut wrong = Vec::new();
    for (method, path, want) in cases {
        match d.request(method, path, b"") {
            Ok(r) if r.status == want => {}
            Ok(r) => wrong.push(format!("{method} {path}: {} (want {want})", r.status)),
            Err(e) => wrong.push(format!("{method} {path}: {e} (want {want})")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_still_healthy(&d, &mock, 8200);
}

/// Sends `head`, then stalls; true when the daemon drops the connection (EOF, reset or an error
/// answer such as 408) within `within`.
fn stalled_client_is_dropped(
    socket: &std::path::Path,
    head: &[u8],
    within: Duration,
) -> Result<Duration, String> {
    let mut s = UnixStream::connect(socket).map_err(|e| format!("connect: {e}"))?;
    s.write_all(head).map_err(|e| format!("write: {e}"))?;
    let t0 = Instant::now();
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 512];
    match s.read(&mut buf) {
        Ok(_) => Ok(t0.elapsed()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Err(format!("still connected after {within:?}"))
        }
        Err(_) => Ok(t0.elapsed()),
    }
}

#[test]
fn slow_clients_cannot_hold_the_server() {
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));
    let within = Duration::from_secs(90);

    let sock = d.socket.clone();
    let body_staller = std::thread::spawn(move || {
        // Headers complete, body promised but never sent in full.
        stalled_client_is_dropped(
            &sock,
            b"POST /v1/events HTTP/1.1\r\nHost: localhost\r\nUser-Agent: centreon-pagerduty-shim/0.1.0\r\nContent-Length: 100000\r\n\r\n{\"_type\":",
            within,
        )
    });
    let sock = d.socket.clone();
    let header_staller = std::thread::spawn(move || {
        // Headers never finished (slowloris).
        stalled_client_is_dropped(
            &sock,
            b"POST /v1/events HTTP/1.1\r\nHost: localhost\r\n",
            within,
        )
    });

    // Meanwhile the daemon serves others promptly.
    let t0 = Instant::now();
    assert_still_healthy(&d, &mock, 8300);
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "serving others took {:?} while slow clients were connected",
        t0.elapsed()
    );

    let b = body_staller.join().unwrap();
    let h = header_staller.join().unwrap();
    eprintln!("stalled body dropped: {b:?}; stalled headers dropped: {h:?}");
    assert!(
        b.is_ok() && h.is_ok(),
        "slow clients held: body {b:?}, headers {h:?}"
    );
    assert_still_healthy(&d, &mock, 8301);
}

#[test]
fn many_concurrent_connections_leave_the_daemon_healthy() {
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));

    // 300 idle connections held open.
    let idle: Vec<UnixStream> = (0..300)
        .filter_map(|_| UnixStream::connect(&d.socket).ok())
        .collect();
    eprintln!("{} idle connections open", idle.len());

    // 24 clients posting 4 batches each, concurrently, retrying like the shim until 200.
    let mut all = Vec::new();
    let mut handles = Vec::new();
    let failures = Arc::new(AtomicUsize::new(0));
    for c in 0..24u64 {
        let mut svcs: Vec<Svc> = (0..4)
            .map(|k| Svc::new(8400 + c, 84000 + c * 10 + k))
            .collect();
        let batches: Vec<Vec<u8>> = svcs
            .iter_mut()
            .map(|s| {
                let out = format!("CRITICAL: concurrent {}", s.dedup_key());
                ndjson(&[s.first_ok(), s.critical(&out)])
            })
            .collect();
        all.extend(svcs);
        let socket = d.socket.clone();
        let failures = failures.clone();
        handles.push(std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(90);
            for b in batches {
                loop {
                    match post_events(&socket, &b) {
                        Ok(r) if r.status == 200 => break,
                        other => {
                            failures.fetch_add(1, Ordering::SeqCst);
                            if Instant::now() > deadline {
                                return Err(format!("{other:?}"));
                            }
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                }
            }
            Ok(())
        }));
    }
    let results: Vec<Result<(), String>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    eprintln!("retried posts: {}", failures.load(Ordering::SeqCst));
    drop(idle);
    let failed: Vec<_> = results.iter().filter(|r| r.is_err()).collect();
    assert!(
        failed.is_empty(),
        "posts never accepted: {failed:?}\n{}",
        d.log_tail(40)
    );
    expect_all_delivered(&mock, &d, &all, WAIT);
    assert_still_healthy(&d, &mock, 8499);
}

/// `max_size = "1MiB"`, PagerDuty down so the queue grows: flood triggers until 503; every batch
/// answered 200 is delivered once PagerDuty is back; a batch that creates no trigger is still
/// taken (up to max_size + 5%); and ingest recovers once the queue drains.
#[test]
fn spool_full_answers_503_and_acknowledges_only_what_it_stored() {
    let mock = MockPagerDuty::start();
    mock.set_default(Reply::unavailable());
    let d = Daemon::start(Config::new(&mock.url()).set_str("spool", "max_size", "1MiB"));

    let mut accepted: Vec<Svc> = Vec::new();
    let mut refused: Vec<Svc> = Vec::new();
    let mut got_503 = false;
    let mut other_answers = Vec::new();
    for b in 0..2000u64 {
        let mut svcs: Vec<Svc> = (0..10)
            .map(|k| Svc::new(90_000 + b, 900_000 + b * 10 + k))
            .collect();
        let mut lines: Vec<String> = svcs.iter_mut().map(Svc::first_ok).collect();
        lines.extend(svcs.iter_mut().map(|s| {
            let out = format!("CRITICAL: flood {} {}", s.dedup_key(), "y".repeat(400));
            s.critical(&out)
        }));
        match d.post_lines(&lines) {
            Ok(r) if r.status == 200 => accepted.extend(svcs),
            Ok(r) if r.status == 503 => {
                refused.extend(svcs);
                got_503 = true;
                break;
            }
            Ok(r) => other_answers.push(format!("{} {:?}", r.status, r.text())),
            Err(e) => other_answers.push(e.to_string()),
        }
    }
    eprintln!(
        "{} services accepted before 503: {got_503}; other answers: {other_answers:?}",
        accepted.len()
    );
    assert!(
        other_answers.is_empty(),
        "unexpected answers while flooding: {other_answers:?}"
    );
    assert!(
        got_503,
        "20000 triggers queued into a 1MiB spool and never a 503\n{}",
        d.log_tail(30)
    );

    // Resolves create no trigger: accepted up to max_size + 5%.
    let recs: Vec<String> = accepted.iter_mut().take(5).map(Svc::recover).collect();
    let resolve_answer = d.post_lines(&recs).map(|r| r.status);
    if resolve_answer.as_ref().ok() != Some(&200) {
        // Not accepted: the shim would keep them; they are not expected.
        for s in accepted.iter_mut().take(5) {
            s.expected.pop();
        }
    }

    mock.set_default(Reply::Accept);
    expect_all_delivered(&mock, &d, &accepted, Duration::from_secs(60));
    let leaked: Vec<String> = refused
        .iter()
        .map(Svc::dedup_key)
        .filter(|k| !mock.events_for(k).is_empty())
        .collect();
    eprintln!("triggers of the refused batch that were delivered anyway: {leaked:?}");

    // Once drained, the spool takes batches again.
    let mut fresh = vec![Svc::new(99_999, 999_990)];
    let lines = vec![
        fresh[0].first_ok(),
        fresh[0].critical("CRITICAL: after drain"),
    ];
    let mut last = None;
    let recovered = poll_until(Duration::from_secs(30), || {
        let r = d.post_lines(&lines).map(|r| r.status);
        let ok = matches!(r, Ok(200));
        last = Some(r);
        if !ok {
            std::thread::sleep(Duration::from_millis(300));
        }
        ok
    });

    assert_eq!(
        resolve_answer.as_ref().ok(),
        Some(&200),
        "a batch of resolves only (no new trigger) must be accepted up to max_size + 5%: {resolve_answer:?}"
    );
    assert!(
        recovered,
        "ingest still refuses after the queue drained (spool size never shrinks?): last {last:?}\n{}",
        d.log_tail(30)
    );
    expect_all_delivered(&mock, &d, &fresh, WAIT);
}

/// `centreon-pagerduty inject FILE` posts raw Broker events like the shim does.
#[test]
fn inject_posts_a_file_like_the_shim() {
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));
    let mut s = vec![Svc::new(8600, 86000)];
    let lines = vec![s[0].first_ok(), s[0].critical("CRITICAL: injected")];
    let file = d.dir.path().join("inject.ndjson");
    std::fs::write(&file, ndjson(&lines)).unwrap();
    let out = d.inject(&file);
    assert!(
        out.status.success(),
        "inject exit {}: stdout {:?} stderr {:?}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    expect_all_delivered(&mock, &d, &s, WAIT);
}

/// `inject` streams a file of any size in batches within the daemon's limits: 17 MB of events
/// (over the 16 MiB body limit in one request) all get in.
#[test]
fn inject_streams_a_file_larger_than_one_request() {
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));
    let mut svcs = services(8700, 1000);
    let long = "x".repeat(17_000);
    let mut lines: Vec<String> = svcs.iter_mut().map(Svc::first_ok).collect();
    lines.extend(
        svcs.iter_mut()
            .map(|s| s.critical(&format!("CRITICAL: {long}"))),
    );
    let body = ndjson(&lines);
    assert!(body.len() > 17_000_000, "{} bytes", body.len());
    let file = d.dir.path().join("big.ndjson");
    std::fs::write(&file, &body).unwrap();
    let out = d.inject(&file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "inject exit {}: stdout {stdout:?} stderr {:?}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("2000"), "every line accepted: {stdout:?}");
    let triggered = |r: &[Request]| {
        r.iter()
            .filter(|r| r.delivered() && r.action() == Some("trigger"))
            .filter_map(Request::dedup_key)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    assert!(
        mock.wait_until(WAIT, |r| triggered(r) == svcs.len()),
        "not every trigger was delivered: {} of {}",
        triggered(&mock.requests()),
        svcs.len()
    );
}
