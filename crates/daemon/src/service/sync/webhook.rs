//! The webhook listener (`webhook_listen`): PagerDuty webhooks V3, the push alternative to
//! waiting for the next poll.
//!
//! Contract: one endpoint, `POST /`; anything else is 404 (405 for another method on `/`).
//! The body is read up to `ack_sync::webhook::MAX_BODY_BYTES` (413 beyond), its
//! `X-PagerDuty-Signature` checked against every secret before it is parsed (401 when missing
//! or wrong), a replayed or stale event refused (401). A signed `incident.acknowledged` wakes
//! the poller, which lists the incidents and records what it finds: the webhook carries no
//! state of its own, and a lost or forged-but-signed push can do no more than an early poll.

use super::Role;
use crate::service::state::now_ms;
use ack_sync::webhook::{
    ReplayGuard, WebhookEvent, WebhookVerifier, MAX_BODY_BYTES, SIGNATURE_HEADER,
};
use ack_sync::Secret;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

/// Event ids remembered against replays.
const REPLAY_IDS: usize = 10_000;
/// Oldest event accepted.
const MAX_AGE: Duration = Duration::from_secs(600);

struct Hook {
    sync: Arc<Role>,
    verifier: WebhookVerifier,
    replays: Mutex<ReplayGuard>,
}

pub(super) async fn serve(
    sync: Arc<Role>,
    addr: SocketAddr,
    secrets: Vec<Secret>,
    mut stop: watch::Receiver<bool>,
) {
    let verifier = match WebhookVerifier::new(secrets) {
        Ok(v) => v,
        Err(e) => {
            error!(error = %e, "The webhook listener cannot start.");
            return;
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            error!(%addr, error = %e, "Cannot listen for PagerDuty webhooks ([sync] webhook_listen); polling goes on.");
            sync.shared
                .sync
                .failed(now_ms(), format!("webhook listener {addr}: {e}"));
            return;
        }
    };
    info!(%addr, "Listening for PagerDuty webhooks V3 (POST /).");
    let app = router(Arc::new(Hook {
        sync,
        verifier,
        replays: Mutex::new(ReplayGuard::new(REPLAY_IDS, MAX_AGE)),
    }));
    let shutdown = async move {
        let _ = stop.changed().await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        error!(error = %e, "The webhook listener stopped.");
    }
}

fn router(hook: Arc<Hook>) -> Router {
    Router::new()
        .route("/", post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(hook)
}

async fn receive(State(hook): State<Arc<Hook>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers.get(SIGNATURE_HEADER).map(|v| v.as_bytes());
    let event = match hook.verifier.verify_and_parse(signature, &body) {
        Ok(event) => event,
        Err(e) => {
            warn!(error = %e, "PagerDuty webhook refused.");
            return StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        }
    };
    match event {
        WebhookEvent::Acknowledged(ack) => {
            let checked = match hook.replays.lock() {
                Ok(mut guard) => guard.check(&ack.event_id, ack.occurred_at_unix, now_ms() / 1000),
                Err(_) => return StatusCode::INTERNAL_SERVER_ERROR,
            };
            if let Err(e) = checked {
                warn!(error = %e, "PagerDuty webhook refused.");
                return StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
            }
            debug!(incident = %ack.incident_id, "PagerDuty webhook: incident acknowledged; polling now.");
            hook.sync.poll_now.notify_one();
            StatusCode::ACCEPTED
        }
        WebhookEvent::Other { event_type, .. } => {
            debug!(%event_type, "PagerDuty webhook: nothing to do for this event type.");
            StatusCode::ACCEPTED
        }
    }
}
