//! Acknowledgements to mirror from PagerDuty into Centreon (DESIGN §4.6).
//!
//! One row per PagerDuty incident (its id), so one Centreon acknowledgement per incident
//! episode: a row is recorded when the sync first sees the incident acknowledged, done when
//! Centreon took it, and kept while this daemon holds the incident open, so that the next
//! listings, which still show it acknowledged, find it done. Rows of closed incidents go at the
//! next record. Nothing here touches the delivery queue: a slow Centreon never slows PagerDuty.

use crate::{Result, Spool};
use rusqlite::{params, OptionalExtension, Transaction};

/// An acknowledgement seen in PagerDuty, for an incident this daemon holds open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAck {
    /// PagerDuty's incident id: the episode.
    pub incident_id: String,
    pub dedup_key: String,
    pub host_id: u64,
    pub service_id: u64,
    /// PagerDuty's acknowledger summary.
    pub who: String,
}

/// An acknowledgement still to set in Centreon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAck {
    pub incident_id: String,
    pub dedup_key: String,
    pub host_id: u64,
    pub service_id: u64,
    pub who: String,
    pub attempts: u32,
}

/// The sync's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncStats {
    /// Set in Centreon (204), counted over the spool's life.
    pub mirrored: u64,
    /// Refused by Centreon for good (the resource is gone, …), over the spool's life.
    pub refused: u64,
    /// Still to set.
    pub pending: u64,
    /// Daemon time (ms) the oldest pending one was seen.
    pub oldest_pending_ms: Option<i64>,
}

impl Spool {
    /// The resource of an incident this daemon holds open, by dedup key, and the daemon time
    /// (ms) that episode opened.
    pub fn open_incident_resource(&self, dedup_key: &str) -> Result<Option<(u64, u64, i64)>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT host_id, service_id, opened_at_ms FROM incidents WHERE dedup_key = ?1",
            )?
            .query_row(params![dedup_key], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, i64>(1)? as u64,
                    r.get(2)?,
                ))
            })
            .optional()?)
    }

    /// Whether a resolve of `dedup_key` waits in the queue: while the key is open again in the
    /// daemon, that resolve closes an earlier episode's incident, which PagerDuty still lists.
    pub fn resolve_queued(&self, dedup_key: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT 1 FROM deliveries WHERE dedup_key = ?1 AND action = 'resolve' LIMIT 1",
            )?
            .query_row(params![dedup_key], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Whether an acknowledgement of this incident was recorded already.
    pub fn ack_known(&self, incident_id: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM sync_acks WHERE incident_id = ?1")?
            .query_row(params![incident_id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Record new acknowledgements, due now; those known already are ignored. Done rows of
    /// incidents no longer open go. One transaction; returns how many were new. (The daemon
    /// records them with the ingest batch that marks their incidents acknowledged instead:
    /// [`crate::Batch::acks`].)
    pub fn record_acks(&mut self, acks: &[NewAck], now_ms: i64) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let added = put_acks(&tx, acks, now_ms)?;
        tx.commit()?;
        Ok(added)
    }

    /// Acknowledgements due at `now_ms`, oldest first.
    pub fn due_acks(&self, now_ms: i64, limit: usize) -> Result<Vec<PendingAck>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT incident_id, dedup_key, host_id, service_id, who, attempts FROM sync_acks
             WHERE done_at_ms IS NULL AND due_at_ms <= ?1 ORDER BY found_at_ms LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![now_ms, limit as i64], |r| {
            Ok(PendingAck {
                incident_id: r.get(0)?,
                dedup_key: r.get(1)?,
                host_id: r.get::<_, i64>(2)? as u64,
                service_id: r.get::<_, i64>(3)? as u64,
                who: r.get(4)?,
                attempts: r.get::<_, i64>(5)?.clamp(0, i64::from(u32::MAX)) as u32,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// When the next pending acknowledgement is due, if any.
    pub fn next_ack_due(&self) -> Result<Option<i64>> {
        Ok(self.conn.query_row(
            "SELECT min(due_at_ms) FROM sync_acks WHERE done_at_ms IS NULL",
            [],
            |r| r.get(0),
        )?)
    }

    /// Centreon took it (`refused`: Centreon refused it for good; kept, never tried again).
    pub fn ack_done(
        &mut self,
        incident_id: &str,
        now_ms: i64,
        refused: Option<&str>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        let changed = tx.execute(
            "UPDATE sync_acks SET done_at_ms = ?2, last_error = ?3
             WHERE incident_id = ?1 AND done_at_ms IS NULL",
            params![incident_id, now_ms, refused],
        )?;
        let counter = if refused.is_some() {
            "sync_refused"
        } else {
            "sync_mirrored"
        };
        crate::add_counter(&tx, counter, changed as i64)?;
        tx.commit()?;
        Ok(())
    }

    /// An attempt starts: counted, durably, before the request leaves, and the row due again at
    /// `due_at_ms` should its outcome never be recorded (the daemon killed while Centreon
    /// answered). A row with `attempts > 0` may have been taken by Centreon already.
    pub fn ack_attempt(&mut self, incident_id: &str, due_at_ms: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE sync_acks SET due_at_ms = ?2, attempts = attempts + 1
             WHERE incident_id = ?1 AND done_at_ms IS NULL",
            params![incident_id, due_at_ms],
        )?;
        Ok(())
    }

    /// Centreon turned the attempt away before acting on it (credentials, rights): it does not
    /// count, and the row is due again at `due_at_ms`.
    pub fn ack_turned_away(
        &mut self,
        incident_id: &str,
        due_at_ms: i64,
        error: &str,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE sync_acks SET due_at_ms = ?2, last_error = ?3, attempts = max(attempts - 1, 0)
             WHERE incident_id = ?1",
            params![incident_id, due_at_ms, error],
        )?;
        Ok(())
    }

    /// The attempt failed: try again at `due_at_ms`.
    pub fn ack_retry(&mut self, incident_id: &str, due_at_ms: i64, error: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE sync_acks SET due_at_ms = ?2, last_error = ?3 WHERE incident_id = ?1",
            params![incident_id, due_at_ms, error],
        )?;
        Ok(())
    }

    /// The sync's figures.
    pub fn sync_stats(&self) -> Result<SyncStats> {
        let (pending, oldest) = self.conn.query_row(
            "SELECT count(*), min(found_at_ms) FROM sync_acks WHERE done_at_ms IS NULL",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?)),
        )?;
        Ok(SyncStats {
            mirrored: self.counter("sync_mirrored")?.max(0) as u64,
            refused: self.counter("sync_refused")?.max(0) as u64,
            pending: pending.max(0) as u64,
            oldest_pending_ms: oldest,
        })
    }
}

/// Insert acknowledgements (known ones ignored) and drop the done rows of incidents no longer
/// open; how many were new.
pub(crate) fn put_acks(tx: &Transaction<'_>, acks: &[NewAck], now_ms: i64) -> Result<usize> {
    let mut added = 0;
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO sync_acks(incident_id, dedup_key, host_id, service_id, who,
         found_at_ms, due_at_ms, attempts) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6, 0)",
    )?;
    for a in acks {
        added += insert.execute(params![
            a.incident_id,
            a.dedup_key,
            a.host_id as i64,
            a.service_id as i64,
            a.who,
            now_ms
        ])?;
    }
    tx.execute(
        "DELETE FROM sync_acks WHERE done_at_ms IS NOT NULL
         AND dedup_key NOT IN (SELECT dedup_key FROM incidents)",
        [],
    )?;
    Ok(added)
}
