//! Operator endpoints on the socket: incidents, resolve, pause/resume, dead letters.
//!
//! Requests that change state are refused unless the peer (SO_PEERCRED) is root or the
//! daemon's own user; read-only ones are open to the socket's group.

use super::types::{DeadLetterView, ResolveRequest, RetryRequest, RouteRequest};
use crate::api::status::Peer;
use crate::service::state::{now_ms, Shared};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use std::sync::Arc;
use tracing::info;

fn reply(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

fn forbidden_unless_privileged(peer: Option<Peer>) -> Option<Response> {
    let euid = rustix::process::geteuid().as_raw();
    match peer {
        Some(p) if p.uid == 0 || p.uid == euid => None,
        Some(p) => Some(reply(
            StatusCode::FORBIDDEN,
            serde_json::json!({"error": format!("uid {} may read but not change the daemon's state: run this command as root or as the daemon's user", p.uid)}),
        )),
        None => Some(reply(
            StatusCode::FORBIDDEN,
            serde_json::json!({"error": "unknown peer"}),
        )),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(reply(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": e}),
        )),
        Err(e) => Err(reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({"error": e.to_string()}),
        )),
    }
}

pub async fn incidents(State(shared): State<Arc<Shared>>) -> Response {
    match blocking(move || {
        shared
            .spool
            .lock()
            .map_err(|_| "spool lock poisoned".to_owned())?
            .incidents()
            .map_err(|e| e.to_string())
    })
    .await
    {
        Ok(rows) => reply(StatusCode::OK, serde_json::json!({ "incidents": rows })),
        Err(r) => r,
    }
}

pub async fn resolve(
    State(shared): State<Arc<Shared>>,
    Extension(peer): Extension<Option<Peer>>,
    Json(req): Json<ResolveRequest>,
) -> Response {
    if let Some(r) = forbidden_unless_privileged(peer) {
        return r;
    }
    let shared2 = shared.clone();
    match blocking(move || crate::service::operator::resolve(&shared2, &req)).await {
        Ok(answer) => {
            shared.wake.notify_one();
            (StatusCode::OK, Json(answer)).into_response()
        }
        Err(r) => r,
    }
}

pub async fn pause(
    state: State<Arc<Shared>>,
    peer: Extension<Option<Peer>>,
    req: Json<RouteRequest>,
) -> Response {
    set_paused(state, peer, req, true).await
}

pub async fn resume(
    state: State<Arc<Shared>>,
    peer: Extension<Option<Peer>>,
    req: Json<RouteRequest>,
) -> Response {
    set_paused(state, peer, req, false).await
}

async fn set_paused(
    State(shared): State<Arc<Shared>>,
    Extension(peer): Extension<Option<Peer>>,
    Json(req): Json<RouteRequest>,
    paused: bool,
) -> Response {
    if let Some(r) = forbidden_unless_privileged(peer) {
        return r;
    }
    let Some(key) = shared
        .loaded
        .keys
        .iter()
        .find(|(n, _)| *n == req.route)
        .map(|(_, k)| k.as_ref().map(|k| k.0.clone()).unwrap_or_default())
    else {
        let known: Vec<&str> = shared.loaded.keys.iter().map(|(n, _)| n.as_str()).collect();
        return reply(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": format!("no route {:?}; routes: {}", req.route, known.join(", "))}),
        );
    };
    let shared2 = shared.clone();
    let route = req.route.clone();
    let result = blocking(move || {
        let mut spool = shared2
            .spool
            .lock()
            .map_err(|_| "spool lock poisoned".to_owned())?;
        spool
            .set_route_paused(&route, paused, now_ms())
            .map_err(|e| e.to_string())?;
        if !paused {
            spool
                .release_routing_key(&key, now_ms())
                .map_err(|e| e.to_string())?;
        }
        drop(spool);
        shared2.delivery.operator(&key, &route, paused, now_ms());
        Ok(())
    })
    .await;
    match result {
        Ok(()) => {
            info!(route = %req.route, "{} by an operator.", if paused { "Deliveries paused" } else { "Deliveries resumed" });
            shared.wake.notify_one();
            reply(
                StatusCode::OK,
                serde_json::json!({"route": req.route, "paused": paused}),
            )
        }
        Err(r) => r,
    }
}

pub async fn dead_letters(State(shared): State<Arc<Shared>>) -> Response {
    match blocking(move || {
        shared
            .spool
            .lock()
            .map_err(|_| "spool lock poisoned".to_owned())?
            .dead_letters(spool::MAX_KEPT_ROWS)
            .map_err(|e| e.to_string())
    })
    .await
    {
        Ok(rows) => reply(
            StatusCode::OK,
            serde_json::json!({ "dead_letters": rows.iter().map(DeadLetterView::from).collect::<Vec<_>>() }),
        ),
        Err(r) => r,
    }
}

pub async fn dead_letter(State(shared): State<Arc<Shared>>, Path(id): Path<i64>) -> Response {
    match blocking(move || {
        shared
            .spool
            .lock()
            .map_err(|_| "spool lock poisoned".to_owned())?
            .dead_letter(id)
            .map_err(|e| e.to_string())
    })
    .await
    {
        Ok(Some(d)) => (StatusCode::OK, Json(DeadLetterView::from(&d))).into_response(),
        Ok(None) => reply(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": format!("no dead letter {id}")}),
        ),
        Err(r) => r,
    }
}

pub async fn retry(
    State(shared): State<Arc<Shared>>,
    Extension(peer): Extension<Option<Peer>>,
    Json(req): Json<RetryRequest>,
) -> Response {
    if let Some(r) = forbidden_unless_privileged(peer) {
        return r;
    }
    let shared2 = shared.clone();
    let result = blocking(move || {
        let mut spool = shared2.spool.lock().map_err(|_| "spool lock poisoned".to_owned())?;
        let letters = match (req.id, req.all) {
            (Some(id), _) => spool.dead_letter(id).map_err(|e| e.to_string())?.into_iter().collect(),
            (None, true) => spool.dead_letters(spool::MAX_KEPT_ROWS).map_err(|e| e.to_string())?,
            (None, false) => return Err("give a dead letter id or all".to_owned()),
        };
        let mut retried = Vec::new();
        let mut refused = Vec::new();
        // Oldest first, so that a key's letters go back in their order.
        for d in letters.iter().rev() {
            if !req.force && spool.newer_delivered(&d.dedup_key, d.ingested_at_ms).map_err(|e| e.to_string())? {
                refused.push(serde_json::json!({"id": d.id, "dedup_key": d.dedup_key, "reason": "a newer event of this key was already delivered; --force to send it anyway"}));
                continue;
            }
            if spool.requeue_dead_letter(d.id, now_ms()).map_err(|e| e.to_string())? {
                retried.push(d.id);
                let keys = spool.routing_keys().map_err(|e| e.to_string())?;
                shared2.delivery.add_routing_keys(keys.iter().map(String::as_str));
            }
        }
        Ok((retried, refused))
    })
    .await;
    match result {
        Ok((retried, refused)) => {
            shared.wake.notify_one();
            if req.id.is_some() && retried.is_empty() && refused.is_empty() {
                return reply(
                    StatusCode::NOT_FOUND,
                    serde_json::json!({"error": "no such dead letter"}),
                );
            }
            reply(
                StatusCode::OK,
                serde_json::json!({"retried": retried, "refused": refused}),
            )
        }
        Err(r) => r,
    }
}

/// A privileged change of the spool: refused unless the peer may change state, then `f` on
/// the writer, off the async runtime.
async fn change_spool<T: Send + 'static>(
    shared: Arc<Shared>,
    peer: Option<Peer>,
    f: impl FnOnce(&mut spool::Spool) -> spool::Result<T> + Send + 'static,
) -> Result<T, Response> {
    if let Some(r) = forbidden_unless_privileged(peer) {
        return Err(r);
    }
    blocking(move || {
        let mut spool = shared
            .spool
            .lock()
            .map_err(|_| "spool lock poisoned".to_owned())?;
        f(&mut spool).map_err(|e| e.to_string())
    })
    .await
}

pub async fn purge(
    State(shared): State<Arc<Shared>>,
    Extension(peer): Extension<Option<Peer>>,
    _body: axum::body::Bytes,
) -> Response {
    match change_spool(shared, peer, |s| s.purge_dead_letters()).await {
        Ok(n) => {
            info!(purged = n, "Dead letters purged by an operator.");
            reply(StatusCode::OK, serde_json::json!({"purged": n}))
        }
        Err(r) => r,
    }
}

/// An operator has seen the damage of a spool set aside (DESIGN §4.5).
pub async fn acknowledge_damage(
    State(shared): State<Arc<Shared>>,
    Extension(peer): Extension<Option<Peer>>,
    _body: axum::body::Bytes,
) -> Response {
    match change_spool(shared, peer, |s| s.acknowledge_damage(now_ms())).await {
        Ok(n) => {
            info!(records = n, "Spool damage acknowledged by an operator.");
            reply(StatusCode::OK, serde_json::json!({ "acknowledged": n }))
        }
        Err(r) => r,
    }
}
