//! Operator endpoints on the socket: incidents, resolve, pause/resume, dead letters.
//!
//! Requests that change state are refused unless the peer (SO_PEERCRED) is root or the
//! daemon's own user; read-only ones are open to the socket's group.

use crate::ingest::{announce, commit, Admission, Effects};
use crate::shared::{now_ms, Shared};
use crate::state_cache::BatchStore;
use crate::status::Peer;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use broker::ResourceId;
use serde::Deserialize;
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

#[derive(Debug, Deserialize)]
pub struct ResolveRequest {
    #[serde(default)]
    pub dedup_keys: Vec<String>,
    pub stale_seconds: Option<i64>,
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
    match blocking(move || resolve_now(&shared2, &req)).await {
        Ok((resolved, unknown)) => {
            shared.wake.notify_one();
            reply(
                StatusCode::OK,
                serde_json::json!({ "resolved": resolved, "unknown": unknown }),
            )
        }
        Err(r) => r,
    }
}

/// Close incidents now (`rules::Engine::operator_resolve`), committed through the same path
/// as an ingest batch.
fn resolve_now(
    shared: &Shared,
    req: &ResolveRequest,
) -> Result<(Vec<String>, Vec<String>), String> {
    let mut ingest = shared
        .ingest
        .lock()
        .map_err(|_| "ingest lock poisoned".to_owned())?;
    let ingest = &mut *ingest;
    let mut spool = shared
        .spool
        .lock()
        .map_err(|_| "spool lock poisoned".to_owned())?;
    let now = now_ms();
    let open = spool.incidents().map_err(|e| e.to_string())?;
    let targets: Vec<_> = open
        .iter()
        .filter(|i| {
            req.dedup_keys.contains(&i.dedup_key)
                || req
                    .stale_seconds
                    .is_some_and(|s| now - i.last_event_at_ms >= s.saturating_mul(1000))
        })
        .collect();
    let unknown: Vec<String> = req
        .dedup_keys
        .iter()
        .filter(|k| !open.iter().any(|i| &i.dedup_key == *k))
        .cloned()
        .collect();
    let mut effects = Effects::default();
    let mut resolved = Vec::new();
    let mut store = BatchStore::new(&mut ingest.cache, &spool);
    for row in targets {
        let id = ResourceId::service(row.host_id, row.service_id);
        let Some(o) = ingest.engine.operator_resolve(&mut store, id, now / 1000) else {
            continue;
        };
        info!(resource = %row.resource, dedup_key = %o.dedup_key, "Resolve requested by an operator: enqueued.");
        resolved.push(o.dedup_key.clone());
        if let Err(e) = effects.push(o, now) {
            effects.finish(&mut store, now);
            drop(store);
            effects.abandon(&mut ingest.cache);
            return Err(e.to_string());
        }
    }
    effects.finish(&mut store, now);
    drop(store);
    commit(
        shared,
        &mut spool,
        &mut ingest.cache,
        &effects,
        Admission::Operator,
    )
    .map_err(|e| e.to_string())?;
    drop(spool);
    announce(shared, effects);
    Ok((resolved, unknown))
}

#[derive(Debug, Deserialize)]
pub struct RouteRequest {
    pub route: String,
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
            serde_json::json!({ "dead_letters": rows.iter().map(crate::commands::dead_letter_json).collect::<Vec<_>>() }),
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
        Ok(Some(d)) => reply(StatusCode::OK, crate::commands::dead_letter_json(&d)),
        Ok(None) => reply(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": format!("no dead letter {id}")}),
        ),
        Err(r) => r,
    }
}

#[derive(Debug, Deserialize)]
pub struct RetryRequest {
    pub id: Option<i64>,
    #[serde(default)]
    pub all: bool,
    #[serde(default)]
    pub force: bool,
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

pub async fn purge(
    State(shared): State<Arc<Shared>>,
    Extension(peer): Extension<Option<Peer>>,
    _body: axum::body::Bytes,
) -> Response {
    if let Some(r) = forbidden_unless_privileged(peer) {
        return r;
    }
    match blocking(move || {
        shared
            .spool
            .lock()
            .map_err(|_| "spool lock poisoned".to_owned())?
            .purge_dead_letters()
            .map_err(|e| e.to_string())
    })
    .await
    {
        Ok(n) => {
            info!(purged = n, "Dead letters purged by an operator.");
            reply(StatusCode::OK, serde_json::json!({"purged": n}))
        }
        Err(r) => r,
    }
}
