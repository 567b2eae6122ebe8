//! The operator's view of the spool: queue figures, open incidents, dead letters (list, show,
//! retry, purge), counters and the routes paused by an operator.

use crate::{action_of, add_counter, IncidentRow, Result, Spool};
use pagerduty::Action;
use rusqlite::{params, OptionalExtension};

/// A dead letter.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub id: i64,
    pub dedup_key: String,
    pub route: String,
    pub action: Action,
    pub resource: String,
    pub reason: String,
    pub body: String,
    pub ingested_at_ms: i64,
    pub failed_at_ms: i64,
}

/// Queue figures for status and metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueStats {
    pub pending: i64,
    pub keys: i64,
    pub oldest_ingested_at_ms: Option<i64>,
    pub dead_letters: i64,
    pub rejected: i64,
    /// Daemon time (ms) of the last resync (DESIGN §4.7), if any.
    pub last_resync_ms: Option<i64>,
    /// PagerDuty's state is unknown for the dedup keys not delivered since this daemon time
    /// (ms); 1: since ever (`[ha] cluster`). See [`Spool::forget_pagerduty_state`].
    pub pagerduty_unknown_since_ms: Option<i64>,
}

impl Spool {
    pub fn stats(&self) -> Result<QueueStats> {
        let (pending, oldest): (i64, Option<i64>) = self.conn.query_row(
            "SELECT count(*), min(ingested_at_ms) FROM deliveries",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let keys: i64 = self
            .conn
            .query_row("SELECT count(*) FROM heads", [], |r| r.get(0))?;
        let dead_letters: i64 =
            self.conn
                .query_row("SELECT count(*) FROM dead_letters", [], |r| r.get(0))?;
        let rejected: i64 = self
            .conn
            .query_row("SELECT count(*) FROM rejected", [], |r| r.get(0))?;
        Ok(QueueStats {
            pending,
            keys,
            oldest_ingested_at_ms: oldest,
            dead_letters,
            rejected,
            last_resync_ms: Some(self.counter("last_resync_ms")?).filter(|&t| t > 0),
            pagerduty_unknown_since_ms: Some(self.counter(crate::resync::PAGERDUTY_UNKNOWN_SINCE)?)
                .filter(|&t| t > 0),
        })
    }

    pub fn dead_letters(&self, limit: i64) -> Result<Vec<DeadLetter>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, dedup_key, route, action, resource, reason, body, ingested_at_ms,
                    failed_at_ms FROM dead_letters ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit], dead_letter_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A counter kept in the spool (dropped rows, collapsed episodes…).
    pub fn counter(&self, name: &str) -> Result<i64> {
        crate::counter_of(&self.conn, name)
    }

    pub fn add_counter(&mut self, name: &str, delta: i64) -> Result<()> {
        add_counter(&self.conn, name, delta)
    }
}

/// A `dead_letters` row, selected as `id, dedup_key, route, action, resource, reason, body,
/// ingested_at_ms, failed_at_ms`.
fn dead_letter_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeadLetter> {
    Ok(DeadLetter {
        id: r.get(0)?,
        dedup_key: r.get(1)?,
        route: r.get(2)?,
        action: action_of(r, 3)?,
        resource: r.get(4)?,
        reason: r.get(5)?,
        body: r.get(6)?,
        ingested_at_ms: r.get(7)?,
        failed_at_ms: r.get(8)?,
    })
}

impl Spool {
    /// Open incidents, oldest first.
    pub fn incidents(&self) -> Result<Vec<IncidentRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT host_id, service_id, dedup_key, resource, route, opened_at_ms, acked,
                    last_event_at_ms FROM incidents ORDER BY opened_at_ms, dedup_key",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(IncidentRow {
                host_id: r.get::<_, i64>(0)? as u64,
                service_id: r.get::<_, i64>(1)? as u64,
                dedup_key: r.get(2)?,
                resource: r.get(3)?,
                route: r.get(4)?,
                opened_at_ms: r.get(5)?,
                acked: r.get(6)?,
                last_event_at_ms: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// One dead letter.
    pub fn dead_letter(&self, id: i64) -> Result<Option<DeadLetter>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id, dedup_key, route, action, resource, reason, body, ingested_at_ms,
                        failed_at_ms FROM dead_letters WHERE id=?1",
            )?
            .query_row(params![id], dead_letter_row)
            .optional()?)
    }

    /// Was an event of this key ingested after `ingested_at_ms` already delivered?
    pub fn newer_delivered(&self, dedup_key: &str, ingested_at_ms: i64) -> Result<bool> {
        let last: Option<i64> = self
            .conn
            .prepare_cached("SELECT last_ingested_at_ms FROM delivered WHERE dedup_key=?1")?
            .query_row(params![dedup_key], |r| r.get(0))
            .optional()?;
        Ok(last.is_some_and(|t| t > ingested_at_ms))
    }

    /// Put a dead letter back at the end of its key's queue, due now.
    pub fn requeue_dead_letter(&mut self, id: i64, now_ms: i64) -> Result<bool> {
        let tx = self.conn.transaction()?;
        let moved = tx
            .prepare_cached(
                "INSERT INTO deliveries(dedup_key, route, routing_key, action, body, host_id,
                     service_id, resource, ingested_at_ms)
                 SELECT dedup_key, route, routing_key, action, body, 0, 0, resource,
                     ingested_at_ms FROM dead_letters WHERE id=?1",
            )?
            .execute(params![id])?;
        if moved == 1 {
            let new_id = tx.last_insert_rowid();
            tx.prepare_cached(
                "INSERT OR IGNORE INTO heads(dedup_key, routing_key, head_id, due_at_ms, attempts)
                 SELECT dedup_key, routing_key, id, ?2, 0 FROM deliveries WHERE id=?1",
            )?
            .execute(params![new_id, now_ms])?;
            tx.prepare_cached("DELETE FROM dead_letters WHERE id=?1")?
                .execute(params![id])?;
        }
        tx.commit()?;
        Ok(moved == 1)
    }

    /// Delete every dead letter; returns how many.
    pub fn purge_dead_letters(&mut self) -> Result<usize> {
        Ok(self.conn.execute("DELETE FROM dead_letters", [])?)
    }

    /// Routes an operator paused.
    pub fn paused_routes(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT route FROM paused_routes ORDER BY route")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn set_route_paused(&mut self, route: &str, paused: bool, now_ms: i64) -> Result<()> {
        if paused {
            self.conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO paused_routes(route, since_ms) VALUES(?1, ?2)",
                )?
                .execute(params![route, now_ms])?;
        } else {
            self.conn
                .prepare_cached("DELETE FROM paused_routes WHERE route=?1")?
                .execute(params![route])?;
        }
        Ok(())
    }
}
