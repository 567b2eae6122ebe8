//! The delivery queue: per dedup key FIFO heads, what is due, and the completions (delivered,
//! collapsed, dead-lettered, retried) applied in one transaction. It never writes resource
//! state.

use crate::writer::trim_table;
use crate::{action_of, Result, Spool};
use pagerduty::Action;
use rusqlite::{params, OptionalExtension, Transaction};

/// A queued delivery, as the delivery workers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub id: i64,
    pub dedup_key: String,
    pub route: String,
    pub routing_key: String,
    pub action: Action,
    pub body: String,
    pub resource: String,
    pub ingested_at_ms: i64,
    pub attempts: i64,
}

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    /// Accepted by PagerDuty: delete it, move the head on. A delivered trigger opens the
    /// key's incident in PagerDuty, a delivered resolve closes it (see
    /// [`Spool::open_in_pagerduty`]).
    Done { id: i64, dedup_key: String },
    /// Not sent, on purpose (collapsed): delete it, move the head on; PagerDuty heard nothing.
    Collapsed { id: i64, dedup_key: String },
    /// Dead-lettered with a reason; the head moves on.
    DeadLetter {
        id: i64,
        dedup_key: String,
        reason: String,
    },
    /// Not yet: try again at `due_at_ms`.
    Retry {
        dedup_key: String,
        due_at_ms: i64,
        attempts: i64,
        /// PagerDuty may have taken it (a timeout, a connection cut after the request left): a
        /// trigger then counts as an incident open in PagerDuty.
        maybe_delivered: bool,
    },
}

impl Spool {
    /// Due heads of one routing key, oldest first, skipping `busy` dedup keys.
    pub fn due(
        &self,
        routing_key: &str,
        now_ms: i64,
        limit: usize,
        busy: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<Pending>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT d.id, d.dedup_key, d.route, d.routing_key, d.action, d.body, d.resource,
                    d.ingested_at_ms, h.attempts
             FROM heads h INDEXED BY heads_by_routing_key
             JOIN deliveries d ON d.id = h.head_id
             WHERE h.routing_key = ?1 AND h.due_at_ms <= ?2
             ORDER BY h.head_id",
        )?;
        let mut rows = stmt.query(params![routing_key, now_ms])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let dedup_key: String = r.get(1)?;
            if busy(&dedup_key) {
                continue;
            }
            out.push(Pending {
                id: r.get(0)?,
                dedup_key,
                route: r.get(2)?,
                routing_key: r.get(3)?,
                action: action_of(r, 4)?,
                body: r.get(5)?,
                resource: r.get(6)?,
                ingested_at_ms: r.get(7)?,
                attempts: r.get(8)?,
            });
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Routing keys that have pending deliveries.
    pub fn routing_keys(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT DISTINCT routing_key FROM heads")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The earliest time any head of this routing key is due.
    pub fn next_due(&self, routing_key: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached("SELECT min(due_at_ms) FROM heads WHERE routing_key=?1")?
            .query_row(params![routing_key], |r| r.get(0))?)
    }

    /// Deliveries queued behind `after_id` for a dedup key: (id, action).
    pub fn queued_after(&self, dedup_key: &str, after_id: i64) -> Result<Vec<(i64, Action)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, action FROM deliveries WHERE dedup_key=?1 AND id>?2 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![dedup_key, after_id], |r| {
            Ok((r.get(0)?, action_of(r, 1)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// At start: no head may wait longer than `max_wait_ms` from now. Due times were computed
    /// by the previous run on its own clock; if the wall clock stepped back while the daemon
    /// was stopped, they would otherwise freeze delivery for the size of the step.
    pub fn clamp_due_times(&mut self, now_ms: i64, max_wait_ms: i64) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE heads SET due_at_ms = ?1 WHERE due_at_ms > ?1",
            params![now_ms.saturating_add(max_wait_ms)],
        )?)
    }

    /// After a crash, a trigger at the head of its queue may have been taken by PagerDuty
    /// without the outcome being recorded: count its key as open, so that a collapse keeps the
    /// episode's resolve. Returns how many keys were marked.
    pub fn mark_unsettled_triggers_open(&mut self) -> Result<usize> {
        Ok(self.conn.execute(
            "INSERT OR IGNORE INTO open_in_pagerduty(dedup_key)
             SELECT h.dedup_key FROM heads h JOIN deliveries d ON d.id = h.head_id
             WHERE d.action = 'trigger'",
            [],
        )?)
    }

    /// Whether PagerDuty may have an incident open for `dedup_key`: a trigger was delivered after
    /// the last delivered resolve, or PagerDuty's state for the key is unknown to this spool
    /// (nothing delivered for it since [`Spool::forget_pagerduty_state`]: the other node of a
    /// cluster may have opened one).
    pub fn open_in_pagerduty(&self, dedup_key: &str) -> Result<bool> {
        let sql = format!("SELECT {}", crate::resync::open_or_unknown("?1"));
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row(params![dedup_key], |r| r.get(0))?)
    }

    /// Apply completions in one transaction, in order.
    pub fn complete(&mut self, completions: &[Completion], now_ms: i64) -> Result<()> {
        if completions.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        let mut dead = false;
        for c in completions {
            match c {
                Completion::Done { id, dedup_key } => {
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO open_in_pagerduty(dedup_key)
                         SELECT dedup_key FROM deliveries WHERE id=?1 AND action='trigger'",
                    )?
                    .execute(params![id])?;
                    tx.prepare_cached(
                        "DELETE FROM open_in_pagerduty WHERE dedup_key=?2 AND EXISTS
                         (SELECT 1 FROM deliveries WHERE id=?1 AND action='resolve')",
                    )?
                    .execute(params![id, dedup_key])?;
                    tx.prepare_cached(
                        "INSERT INTO delivered(dedup_key, last_ingested_at_ms)
                         SELECT dedup_key, ingested_at_ms FROM deliveries WHERE id=?1
                         ON CONFLICT(dedup_key) DO UPDATE SET last_ingested_at_ms =
                             max(last_ingested_at_ms, excluded.last_ingested_at_ms)",
                    )?
                    .execute(params![id])?;
                    tx.prepare_cached("DELETE FROM deliveries WHERE id=?1")?
                        .execute(params![id])?;
                    advance_head(&tx, dedup_key, now_ms)?;
                }
                Completion::Collapsed { id, dedup_key } => {
                    tx.prepare_cached("DELETE FROM deliveries WHERE id=?1")?
                        .execute(params![id])?;
                    advance_head(&tx, dedup_key, now_ms)?;
                }
                Completion::DeadLetter {
                    id,
                    dedup_key,
                    reason,
                } => {
                    tx.prepare_cached(
                        "INSERT INTO dead_letters(dedup_key, route, routing_key, action, body,
                             resource, reason, ingested_at_ms, failed_at_ms)
                         SELECT dedup_key, route, routing_key, action, body, resource, ?2,
                             ingested_at_ms, ?3 FROM deliveries WHERE id=?1",
                    )?
                    .execute(params![id, reason, now_ms])?;
                    tx.prepare_cached("DELETE FROM deliveries WHERE id=?1")?
                        .execute(params![id])?;
                    advance_head(&tx, dedup_key, now_ms)?;
                    dead = true;
                }
                Completion::Retry {
                    dedup_key,
                    due_at_ms,
                    attempts,
                    maybe_delivered,
                } => {
                    tx.prepare_cached(
                        "UPDATE heads SET due_at_ms=?2, attempts=?3 WHERE dedup_key=?1",
                    )?
                    .execute(params![dedup_key, due_at_ms, attempts])?;
                    if *maybe_delivered {
                        tx.prepare_cached(
                            "INSERT OR IGNORE INTO open_in_pagerduty(dedup_key)
                             SELECT h.dedup_key FROM heads h JOIN deliveries d ON d.id = h.head_id
                             WHERE h.dedup_key = ?1 AND d.action = 'trigger'",
                        )?
                        .execute(params![dedup_key])?;
                    }
                }
            }
        }
        if dead {
            trim_table(&tx, "dead_letters", "dead_letters_dropped")?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Make every head of a routing key due no earlier than `due_at_ms` (not durable-critical).
    pub fn delay_routing_key(&mut self, routing_key: &str, due_at_ms: i64) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE heads SET due_at_ms=max(due_at_ms, ?2) WHERE routing_key=?1")?
            .execute(params![routing_key, due_at_ms])?;
        Ok(())
    }

    /// Make every head due now (resume after a pause).
    pub fn release_routing_key(&mut self, routing_key: &str, now_ms: i64) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE heads SET due_at_ms=?2 WHERE routing_key=?1 AND due_at_ms>?2")?
            .execute(params![routing_key, now_ms])?;
        Ok(())
    }
}

/// After the head of `dedup_key` left the queue, point the head at the next one (due now) or
/// remove it.
fn advance_head(tx: &Transaction<'_>, dedup_key: &str, now_ms: i64) -> Result<()> {
    let next: Option<(i64, String)> = tx
        .prepare_cached(
            "SELECT id, routing_key FROM deliveries WHERE dedup_key=?1 ORDER BY id LIMIT 1",
        )?
        .query_row(params![dedup_key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match next {
        Some((id, routing_key)) => {
            tx.prepare_cached(
                "UPDATE heads SET head_id=?2, routing_key=?3, due_at_ms=?4, attempts=0
                 WHERE dedup_key=?1",
            )?
            .execute(params![dedup_key, id, routing_key, now_ms])?;
        }
        None => {
            tx.prepare_cached("DELETE FROM heads WHERE dedup_key=?1")?
                .execute(params![dedup_key])?;
        }
    }
    Ok(())
}
