//! Resync after a gap (DESIGN §4.7, Centreon-HA): a spool whose last ingest is older than
//! `[ha] resync_after` was not the active one. Its rule state is unknown — every state written
//! before now is stale, but for its pinned incident — and what it queued before the gap is
//! collapsed, except the resolves of incidents still open in PagerDuty.

use crate::{add_counter, set_counter, Result, Spool, LAST_INGEST, RULES_GENERATION};
use rusqlite::params;

/// What a resync did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resync {
    /// Daemon time (ms) of the last ingest before the gap.
    pub last_ingest_ms: i64,
    /// Deliveries queued before the gap and collapsed.
    pub collapsed: usize,
    /// Resolves of incidents open in PagerDuty, kept.
    pub kept_resolves: usize,
}

impl Spool {
    /// Daemon time (ms) of the last batch from Broker committed, if any.
    pub fn last_ingest_ms(&self) -> Result<Option<i64>> {
        Ok(Some(self.counter(LAST_INGEST)?).filter(|&t| t > 0))
    }

    /// Start a new rules generation: every state stored so far is stale (cheap: one counter).
    /// Call before any ingest; then [`Spool::collapse_before_resync`].
    pub fn begin_resync(&mut self, now_ms: i64) -> Result<()> {
        let tx = self.conn.transaction()?;
        add_counter(&tx, RULES_GENERATION, 1)?;
        set_counter(&tx, "last_resync_ms", now_ms)?;
        add_counter(&tx, "resyncs", 1)?;
        tx.commit()?;
        self.generation = self.counter(RULES_GENERATION)?;
        Ok(())
    }

    /// Collapse what was queued up to `last_ingest_ms`, except resolves of dedup keys with an
    /// incident open in PagerDuty; heads move to what is left. One transaction.
    pub fn collapse_before_resync(&mut self, last_ingest_ms: i64, now_ms: i64) -> Result<Resync> {
        let tx = self.conn.transaction()?;
        let kept_resolves = tx.query_row(
            "SELECT count(*) FROM deliveries WHERE ingested_at_ms <= ?1 AND action = 'resolve'
             AND dedup_key IN (SELECT dedup_key FROM open_in_pagerduty)",
            params![last_ingest_ms],
            |r| r.get::<_, i64>(0),
        )? as usize;
        let collapsed = tx.execute(
            "DELETE FROM deliveries WHERE ingested_at_ms <= ?1 AND NOT (action = 'resolve'
             AND dedup_key IN (SELECT dedup_key FROM open_in_pagerduty))",
            params![last_ingest_ms],
        )?;
        tx.execute(
            "DELETE FROM heads WHERE head_id NOT IN (SELECT id FROM deliveries)",
            [],
        )?;
        tx.execute(
            "INSERT INTO heads(dedup_key, routing_key, head_id, due_at_ms, attempts)
             SELECT dedup_key, routing_key, min(id), ?1, 0 FROM deliveries
             WHERE dedup_key NOT IN (SELECT dedup_key FROM heads) GROUP BY dedup_key",
            params![now_ms],
        )?;
        add_counter(&tx, "collapsed_at_resync", collapsed as i64)?;
        tx.commit()?;
        Ok(Resync {
            last_ingest_ms,
            collapsed,
            kept_resolves,
        })
    }
}
