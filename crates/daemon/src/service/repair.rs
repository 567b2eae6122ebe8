//! A damaged spool must not stop paging (DESIGN §4.5). At start, or when a read or a commit
//! finds corruption while running, the damaged files are set aside and what can be read is
//! carried into a fresh spool (`spool::quarantine`); the damage stays loud — an error log,
//! `status --nagios` CRITICAL, the `spool_damaged` metric — until an operator runs
//! `centreon-pagerduty spool acknowledge-damage`.
//!
//! Locks, in this order only: the ingest state, the spool writer, the dispatcher's reader.

use crate::service::state::{now_ms, Shared};
use crate::service::store::StateCache;
use spool::{Damage, Spool, SpoolError};
use std::path::Path;
use std::sync::atomic::Ordering;
use tracing::error;

/// `YYYYMMDDTHHMMSSZ`, for the name of the directory the damaged files go to.
fn stamp(now_ms: i64) -> String {
    pagerduty::format_timestamp(now_ms / 1000).replace(['-', ':'], "")
}

fn log(damage: &Damage) {
    error!(
        aside = %damage.aside,
        detail = %damage.detail,
        carried_deliveries = damage.carried_deliveries,
        lost_rows = damage.lost_rows,
        "The spool was damaged: its files were moved aside (kept for inspection), what could \
         be read was carried into a fresh spool, and paging goes on. Check the disk, then run: \
         centreon-pagerduty spool acknowledge-damage"
    );
}

/// At start: the spool in `dir` could not be opened because it is damaged.
pub(crate) fn at_start(dir: &Path, err: &SpoolError) -> Result<Spool, SpoolError> {
    let now = now_ms();
    let (fresh, damage) = spool::quarantine(dir, &stamp(now), &err.to_string(), now)?;
    log(&damage);
    Ok(fresh)
}

/// While running: damage (`detail`) was found in the spool files of epoch `seen`. Unless another task has
/// replaced them already, set them aside and carry what can be read into a fresh spool.
/// Returns whether the spool was replaced (by this call or an earlier one).
pub(crate) fn quarantine(shared: &Shared, seen: u64, detail: &str) -> bool {
    let (Ok(mut ingest), Ok(mut writer), Ok(mut reader)) = (
        shared.ingest.lock(),
        shared.spool.lock(),
        shared.reader.lock(),
    ) else {
        return false;
    };
    if shared.spool_epoch.load(Ordering::SeqCst) != seen {
        return true;
    }
    let now = now_ms();
    match spool::quarantine_running(&mut writer, &mut reader, &stamp(now), detail, now) {
        Ok(damage) => {
            shared.spool_epoch.fetch_add(1, Ordering::SeqCst);
            if let Err(e) = writer.set_cluster_member(shared.loaded.config.ha.cluster) {
                error!(error = %e, "Cannot record [ha] cluster in the fresh spool.");
            }
            // States in memory came from the damaged files: read them again from the fresh ones
            // (whose window log starts empty).
            ingest.cache = StateCache::default();
            // The routing keys with a backlog, as the fresh spool has them (what was learnt
            // from the damaged one may be short: its read may have failed).
            if let Ok(keys) = writer.routing_keys() {
                shared
                    .delivery
                    .add_routing_keys(keys.iter().map(String::as_str));
            }
            shared.set_last_error(format!("spool damaged, moved aside to {}", damage.aside));
            log(&damage);
            shared.wake.notify_one();
            true
        }
        Err(e) => {
            error!(error = %e, "The spool is damaged and could not be set aside; retrying later.");
            false
        }
    }
}

/// After a failed spool operation of epoch `seen`: damage sets the spool aside; an I/O error
/// (a failed write or fsync: the page cache can no longer be trusted) reopens the writer's
/// connection, so that nothing is retried on it (DESIGN §4.5). Other errors change nothing.
pub(crate) fn after_error(shared: &Shared, seen: u64, err: &SpoolError) {
    if err.is_damage() {
        quarantine(shared, seen, &err.to_string());
    } else if err.is_io() {
        reopen(shared, seen);
    }
}

/// Reopen the writer's connection (same files), unless another task did since epoch `seen`.
pub(crate) fn reopen(shared: &Shared, seen: u64) {
    let Ok(mut writer) = shared.spool.lock() else {
        return;
    };
    if shared.spool_epoch.load(Ordering::SeqCst) != seen {
        return;
    }
    let dir = writer
        .path()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    match Spool::open(&dir) {
        Ok(fresh) => {
            *writer = fresh;
            shared.spool_epoch.fetch_add(1, Ordering::SeqCst);
            error!("A write to the spool failed: its connection was reopened; the batch is retried by the shim.");
        }
        Err(e) => error!(error = %e, "A write to the spool failed and it cannot be reopened yet."),
    }
}
