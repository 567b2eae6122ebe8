//! The HTTP/1.1 server on the Unix socket (DESIGN §3.4).
//!
//! Slow or hostile clients cannot hold it: connections are capped, headers must arrive within
//! [`HEADER_TIMEOUT`], a body within [`BODY_TIMEOUT`], and a connection lives at most
//! [`CONNECTION_LIFETIME`].

use super::body::{self, BodyPool, ReadError};
use super::types::MAX_BODY_BYTES;
use crate::service::ingest::{self, IngestError};
use crate::service::state::Shared;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixListener;
use tracing::{debug, warn};

pub const MAX_CONNECTIONS: usize = 256;
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);

/// The shim's product name in `User-Agent`.
const SHIM_AGENT: &str = "centreon-pagerduty-shim/";

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/events", post(post_events))
        .route("/v1/status", get(crate::api::status::status_json))
        .route("/v1/health", get(health))
        .route("/metrics", get(crate::api::status::metrics_text))
        .route("/v1/incidents", get(crate::api::operator::incidents))
        .route("/v1/resolve", post(crate::api::operator::resolve))
        .route("/v1/pause", post(crate::api::operator::pause))
        .route("/v1/resume", post(crate::api::operator::resume))
        .route("/v1/dead-letters", get(crate::api::operator::dead_letters))
        .route(
            "/v1/dead-letters/{id}",
            get(crate::api::operator::dead_letter),
        )
        .route("/v1/dead-letters/retry", post(crate::api::operator::retry))
        .route("/v1/dead-letters/purge", post(crate::api::operator::purge))
        .route(
            "/v1/spool/acknowledge-damage",
            post(crate::api::operator::acknowledge_damage),
        )
        .layer(DefaultBodyLimit::disable())
        .layer(Extension(Arc::new(BodyPool::default())))
        .with_state(shared)
}

async fn health(State(shared): State<Arc<Shared>>) -> Response {
    let ok = tokio::task::spawn_blocking(move || {
        shared
            .spool
            .lock()
            .map(|s| s.ping().is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false);
    if ok {
        (StatusCode::OK, Json(serde_json::json!({"status": "ok"}))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "spool unreadable"})),
        )
            .into_response()
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

async fn post_events(
    State(shared): State<Arc<Shared>>,
    Extension(bodies): Extension<Arc<BodyPool>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let expected = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if expected.is_some_and(|len| len > MAX_BODY_BYTES) {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "body over 16 MiB");
    }
    check_agent(&headers);
    let mut buf = bodies.take();
    let read = tokio::time::timeout(
        BODY_TIMEOUT,
        body::read_into(body, MAX_BODY_BYTES, expected, &mut buf),
    )
    .await;
    match read {
        Ok(Ok(())) => {}
        Ok(Err(ReadError::TooLarge)) => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, "body over 16 MiB")
        }
        Ok(Err(ReadError::Broken(e))) => {
            debug!(error = %e, "A batch's body could not be read.");
            return error(StatusCode::BAD_REQUEST, "could not read the body");
        }
        Err(_) => return error(StatusCode::REQUEST_TIMEOUT, "body not received in time"),
    }
    let shared2 = shared.clone();
    let processed = tokio::task::spawn_blocking(move || {
        let reply = ingest::process(&shared2, &buf);
        bodies.give_back(buf);
        reply
    })
    .await;
    match processed {
        Ok(Ok(reply)) => (StatusCode::OK, Json(reply)).into_response(),
        Ok(Err(IngestError::Full(why))) => error(StatusCode::SERVICE_UNAVAILABLE, &why),
        Ok(Err(IngestError::Storage(why) | IngestError::Damaged(why) | IngestError::Io(why))) => {
            error(StatusCode::SERVICE_UNAVAILABLE, &why)
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// Warn once when a shim of another version posts (the previous version is accepted).
fn check_agent(headers: &HeaderMap) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(version) = agent.strip_prefix(SHIM_AGENT) {
        if version != env!("CARGO_PKG_VERSION") {
            WARNED.call_once(|| {
                warn!(shim = version, daemon = env!("CARGO_PKG_VERSION"), "The Broker shim and the daemon are different versions: install the shim of this package (/usr/share/centreon-broker/lua/centreon-pagerduty.lua) and restart cbd.");
            });
        }
    }
}

/// The open connections, oldest first, so that an idle one can make room for a new one.
#[derive(Default)]
struct Connections {
    next_id: u64,
    open: Vec<Connection>,
}

struct Connection {
    id: u64,
    /// A request is being handled on it.
    busy: Arc<std::sync::atomic::AtomicBool>,
    /// Dropping it closes the connection.
    evict: tokio::sync::oneshot::Sender<()>,
}

impl Connections {
    /// Room for one more: below the limit, or by closing the oldest connection that is not
    /// handling a request (a client that connected and sent nothing, or an idle keep-alive).
    /// Idle clients therefore cannot lock the shim out.
    fn make_room(&mut self) -> bool {
        if self.open.len() < MAX_CONNECTIONS {
            return true;
        }
        let idle = self
            .open
            .iter()
            .position(|c| !c.busy.load(std::sync::atomic::Ordering::Relaxed));
        match idle {
            Some(i) => {
                drop(self.open.remove(i).evict);
                true
            }
            None => false,
        }
    }
}

/// Serve connections until `stop` fires.
pub async fn serve(
    listener: UnixListener,
    app: Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let connections = Arc::new(std::sync::Mutex::new(Connections::default()));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => break,
        };
        let (stream, _) = match accepted {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let busy = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (evict, evicted) = tokio::sync::oneshot::channel::<()>();
        let id = {
            let Ok(mut open) = connections.lock() else {
                continue;
            };
            if !open.make_room() {
                debug!("Connection limit reached, every connection busy: closing a new one.");
                continue;
            }
            open.next_id += 1;
            let id = open.next_id;
            open.open.push(Connection {
                id,
                busy: busy.clone(),
                evict,
            });
            id
        };
        let peer = stream.peer_cred().ok().map(|c| crate::api::status::Peer {
            uid: c.uid(),
            gid: c.gid(),
        });
        let flag = busy.clone();
        let app = app
            .clone()
            .layer(axum::Extension(peer))
            .layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    let flag = flag.clone();
                    async move {
                        flag.store(true, std::sync::atomic::Ordering::Relaxed);
                        let response = next.run(req).await;
                        flag.store(false, std::sync::atomic::Ordering::Relaxed);
                        response
                    }
                },
            ));
        let connections = connections.clone();
        tokio::spawn(async move {
            let service = hyper_util::service::TowerToHyperService::new(app);
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = tokio::time::timeout(CONNECTION_LIFETIME, connection) => {}
                _ = evicted => debug!("Closed an idle connection to make room."),
            }
            if let Ok(mut open) = connections.lock() {
                open.open.retain(|c| c.id != id);
            }
        });
    }
}
