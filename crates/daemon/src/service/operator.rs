//! What operators' commands do to the running daemon, behind the socket API's handlers, and
//! how changes made outside an ingest batch are committed ([`commit_effects`]).

use crate::api::types::{ResolveReply, ResolveRequest};
use crate::service::ingest::{announce, commit, Admission, Effects};
use crate::service::state::{now_ms, Shared};
use crate::service::store::{BatchStore, StateCache};
use broker::ResourceId;
use spool::Spool;
use std::sync::MutexGuard;
use tracing::info;

/// Close incidents now (`rules::Engine::operator_resolve`), committed through the same path
/// as an ingest batch.
pub(crate) fn resolve(shared: &Shared, req: &ResolveRequest) -> Result<ResolveReply, String> {
    let mut ingest = shared
        .ingest
        .lock()
        .map_err(|_| "ingest lock poisoned".to_owned())?;
    let ingest = &mut *ingest;
    let spool = shared
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
        effects.push(o, now);
    }
    effects.finish(&mut store, now);
    drop(store);
    commit_effects(shared, spool, &mut ingest.cache, effects)?;
    Ok(ResolveReply { resolved, unknown })
}

/// Commit what happened outside an ingest batch (an operator's command, an acknowledgement seen
/// by the sync) through the ingest path, release the spool, then wake the delivery.
pub(crate) fn commit_effects(
    shared: &Shared,
    mut spool: MutexGuard<'_, Spool>,
    cache: &mut StateCache,
    effects: Effects,
) -> Result<(), String> {
    commit(shared, &mut spool, cache, &effects, Admission::Operator).map_err(|e| e.to_string())?;
    drop(spool);
    announce(shared, effects);
    Ok(())
}
