//! Start-up and status with a large backlog of pending deliveries (written straight into a
//! spool, then the daemon started on it).

use crate::support::{start, KEY};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

pub(crate) fn run(pending: u64) {
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
