//! Delivery to a loopback mock PagerDuty that answers 202 at once, pacing off.

use crate::support::{post, start, status_line};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

pub(crate) fn run() {
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
