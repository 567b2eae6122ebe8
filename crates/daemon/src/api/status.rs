//! `GET /v1/status` and `GET /metrics`.

use super::types::{PausedKey, Status, SyncView};
use crate::service::delivery::PauseKind;
use crate::service::state::{now_ms, Counter, Shared};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::fmt::Write as _;
use std::sync::Arc;

/// The peer of a socket connection (SO_PEERCRED).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
}

pub fn collect(shared: &Shared) -> Result<Status, String> {
    let now = now_ms();
    let (stats, size, damage, sync_stats) = {
        let spool = shared
            .spool
            .lock()
            .map_err(|_| "spool lock poisoned".to_owned())?;
        (
            spool.stats().map_err(|e| e.to_string())?,
            spool.size_bytes(),
            spool.damage().unwrap_or(None),
            spool.sync_stats().ok(),
        )
    };
    let paused = shared
        .delivery
        .paused(now)
        .into_iter()
        .map(|k| PausedKey {
            route: k.route,
            routing_key: pagerduty::mask_routing_key(&k.routing_key),
            reason: if k.by_operator {
                "paused by an operator".into()
            } else {
                match k.kind {
                    Some(PauseKind::Throttled) => "throttled (429)".into(),
                    Some(PauseKind::ConfigError(e)) => e,
                    None => String::new(),
                }
            },
            until_ms: k.until_ms,
        })
        .collect();
    let last_event = shared.metrics.last_event_at();
    Ok(Status {
        dry_run: shared.loaded.config.pagerduty.dry_run,
        paused,
        last_error: shared.last_error.lock().ok().and_then(|e| e.clone()),
        last_event_age_seconds: last_event.map(|t| (now / 1000 - t).max(0)),
        collapsed: shared.metrics.get(Counter::Collapsed),
        spool_damage: damage,
        sync: sync_view(shared.sync.snapshot(), sync_stats, now),
        ..Status::of_spool(&stats, size, now)
    })
}

fn sync_view(
    s: crate::service::sync::SyncSnapshot,
    stats: Option<spool::SyncStats>,
    now: i64,
) -> Option<SyncView> {
    if !s.enabled {
        return None;
    }
    let stats = stats.unwrap_or_default();
    Some(SyncView {
        mode: if s.webhook { "poll+webhook" } else { "poll" }.into(),
        last_poll_ms: s.last_poll_ms,
        last_error_ms: s.last_error.as_ref().map(|(t, _)| *t),
        last_error: s.last_error.map(|(_, e)| e),
        paused: s.paused,
        mirrored: stats.mirrored,
        refused: stats.refused,
        pending: stats.pending,
        oldest_pending_age_seconds: stats.oldest_pending_ms.map(|t| ((now - t) / 1000).max(0)),
    })
}

pub async fn status_json(State(shared): State<Arc<Shared>>) -> Response {
    match tokio::task::spawn_blocking(move || collect(&shared)).await {
        Ok(Ok(s)) => (StatusCode::OK, Json(s)).into_response(),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"error": e})),
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

pub async fn metrics_text(State(shared): State<Arc<Shared>>) -> Response {
    let shared2 = shared.clone();
    let status = tokio::task::spawn_blocking(move || collect(&shared2))
        .await
        .ok()
        .and_then(Result::ok);
    let mut out = String::new();
    shared.metrics.render(&mut out);
    if let Some(s) = status {
        let gauges = [
            ("queue_depth", "Deliveries pending.", s.pending as f64),
            (
                "oldest_pending_age_seconds",
                "Age of the oldest pending delivery.",
                s.oldest_pending_age_seconds.unwrap_or(0) as f64,
            ),
            ("dead_letters", "Dead letters kept.", s.dead_letters as f64),
            ("paused_keys", "Routing keys paused.", s.paused.len() as f64),
            (
                "spool_damaged",
                "1 while a damaged spool set aside is not acknowledged.",
                f64::from(u8::from(s.spool_damage.is_some())),
            ),
            (
                "spool_bytes",
                "Spool size (database + WAL).",
                s.spool_bytes as f64,
            ),
            (
                "sync_pending",
                "Acknowledgements from PagerDuty still to set in Centreon ([sync]).",
                s.sync.as_ref().map_or(0.0, |v| v.pending as f64),
            ),
            (
                "sync_paused",
                "1 while the acknowledgement sync is paused by a configuration error.",
                f64::from(u8::from(
                    s.sync.as_ref().is_some_and(|v| v.paused.is_some()),
                )),
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP centreon_pagerduty_{name} {help}\n# TYPE centreon_pagerduty_{name} gauge\ncentreon_pagerduty_{name} {v}");
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
