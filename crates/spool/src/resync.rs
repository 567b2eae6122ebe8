//! Resync after a gap (DESIGN §4.7, Centreon-HA): a spool whose last ingest is older than
//! `[ha] resync_after` was not the active one. Its rule state is unknown — every state written
//! before now is stale, but for its pinned incident — and what it queued before the gap is
//! collapsed.
//!
//! A resolve queued before the gap for an incident open in PagerDuty is not sent as it is: the
//! other node may have opened an incident under the same dedup key for a newer problem of the
//! resource, which that resolve would close while the problem is still there. Its incident is
//! pinned again in the resource's stale state instead ([`Spool::queued_resolves_at_resync`],
//! [`Spool::repin_stale_state`]), so that the first status after the gap decides: a recovery
//! resolves it, a problem still there triggers into it.
//!
//! What PagerDuty holds is unknown too, key by key, until this spool delivers something for the
//! key again ([`Spool::forget_pagerduty_state`]): the other node may have opened an incident
//! this one never heard of, so a collapsed episode keeps its resolve ([`open_or_unknown`]). A
//! node of a cluster (`[ha] cluster`) starts that way on a fresh spool as well
//! ([`Spool::set_cluster_member`]).

use crate::{add_counter, set_counter, Result, Spool, RULES_GENERATION};
use rusqlite::params;

/// What a resync did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resync {
    /// Daemon time (ms) of the last ingest before the gap.
    pub last_ingest_ms: i64,
    /// Deliveries queued before the gap and collapsed.
    pub collapsed: usize,
}

/// Counters of the last resync's gap (see [`Gap`]).
const GAP_MIDDLE: &str = "resync_gap_middle_ms";
const GAP_UNTIL: &str = "resync_gap_until_ms";
const GAP_LEAD: &str = "resync_clock_lead_s";
const GAP_LEAD_KNOWN: &str = "resync_clock_lead_known";
/// Counter: since when (daemon ms) PagerDuty's state is unknown for a key this spool has
/// delivered nothing for; 0 = known, [`CLUSTER_MEMBER`] = since ever (a node of a cluster).
pub(crate) const PAGERDUTY_UNKNOWN_SINCE: &str = "pagerduty_unknown_since_ms";
/// [`PAGERDUTY_UNKNOWN_SINCE`] of a cluster node that has not resynced yet.
const CLUSTER_MEMBER: i64 = 1;

/// SQL: PagerDuty may have an incident open for the dedup key `key` (an SQL expression): one is
/// open by what this spool delivered, or the key's state is unknown (nothing delivered for it
/// since [`PAGERDUTY_UNKNOWN_SINCE`]).
pub(crate) fn open_or_unknown(key: &str) -> String {
    format!(
        "(EXISTS(SELECT 1 FROM open_in_pagerduty o WHERE o.dedup_key = {key})
          OR EXISTS(SELECT 1 FROM counters c
                    WHERE c.name = '{PAGERDUTY_UNKNOWN_SINCE}' AND c.value > 0
                    AND NOT EXISTS(SELECT 1 FROM delivered d WHERE d.dedup_key = {key}
                                   AND d.last_ingested_at_ms >= c.value)))"
    )
}

/// A resync's gap, in daemon time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// Between the last ingest before the gap and the start after it.
    pub middle_ms: i64,
    /// Until when events from before the gap are recognised.
    pub until_ms: i64,
    /// How far the daemon's clock runs ahead of the resources' (seconds), if known.
    pub clock_lead_s: Option<i64>,
}

/// A resolve queued before the gap for an incident open in PagerDuty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedResolve {
    pub host_id: u64,
    pub service_id: u64,
    pub dedup_key: String,
    pub route: String,
    /// Empty in dry run.
    pub routing_key: String,
}

impl Spool {
    /// Daemon time (ms) of the last batch from Broker committed, if any.
    pub fn last_ingest_ms(&self) -> Result<Option<i64>> {
        Ok(Some(self.last_ingest).filter(|&t| t > 0))
    }

    /// Start a new rules generation: every state stored so far is stale (cheap: one counter).
    /// `gap` is remembered for the stale states and the resources first seen after it. Call
    /// before any ingest; then [`Spool::collapse_before_resync`].
    pub fn begin_resync(&mut self, now_ms: i64, gap: Gap) -> Result<()> {
        let tx = self.conn.transaction()?;
        add_counter(&tx, RULES_GENERATION, 1)?;
        set_counter(&tx, "last_resync_ms", now_ms)?;
        set_counter(&tx, GAP_MIDDLE, gap.middle_ms)?;
        set_counter(&tx, GAP_UNTIL, gap.until_ms)?;
        set_counter(&tx, GAP_LEAD, gap.clock_lead_s.unwrap_or(0))?;
        set_counter(&tx, GAP_LEAD_KNOWN, i64::from(gap.clock_lead_s.is_some()))?;
        add_counter(&tx, "resyncs", 1)?;
        tx.commit()?;
        self.generation = self.counter(RULES_GENERATION)?;
        self.gap = Some(gap);
        Ok(())
    }

    /// From `now_ms` on, what PagerDuty holds is unknown for every dedup key until this spool
    /// delivers something for it (DESIGN §4.7: the other node may have opened or resolved
    /// incidents meanwhile). A collapsed episode of such a key keeps its resolve; at most one
    /// resolve per key is spent on a key that had nothing open.
    pub fn forget_pagerduty_state(&mut self, now_ms: i64) -> Result<()> {
        set_counter(
            &self.conn,
            PAGERDUTY_UNKNOWN_SINCE,
            now_ms.max(CLUSTER_MEMBER + 1),
        )?;
        self.pagerduty_unknown = true;
        Ok(())
    }

    /// `[ha] cluster`: this spool is one node's of a cluster, so a dedup key it has delivered
    /// nothing for may have an incident the other node opened, even on a fresh spool. Off again
    /// when the setting is removed, unless a resync has made the state unknown since.
    pub fn set_cluster_member(&mut self, member: bool) -> Result<()> {
        let since = self.counter(PAGERDUTY_UNKNOWN_SINCE)?;
        match (member, since) {
            (true, 0) => set_counter(&self.conn, PAGERDUTY_UNKNOWN_SINCE, CLUSTER_MEMBER)?,
            (false, CLUSTER_MEMBER) => set_counter(&self.conn, PAGERDUTY_UNKNOWN_SINCE, 0)?,
            _ => {}
        }
        self.pagerduty_unknown = self.counter(PAGERDUTY_UNKNOWN_SINCE)? > 0;
        Ok(())
    }

    /// Whether PagerDuty may hold incidents this spool does not know of (a cluster node, or a
    /// resync): a resource first seen may have one open.
    pub fn pagerduty_state_unknown(&self) -> bool {
        self.pagerduty_unknown
    }

    /// The last resync's gap, if any.
    pub fn gap(&self) -> Option<Gap> {
        self.gap
    }

    pub(crate) fn stored_gap(&self) -> Result<Option<Gap>> {
        let middle_ms = self.counter(GAP_MIDDLE)?;
        if middle_ms == 0 {
            return Ok(None);
        }
        Ok(Some(Gap {
            middle_ms,
            until_ms: self.counter(GAP_UNTIL)?,
            clock_lead_s: (self.counter(GAP_LEAD_KNOWN)? == 1)
                .then(|| self.counter(GAP_LEAD))
                .transpose()?,
        }))
    }

    /// Up to `limit` stored states (JSON), to estimate what they have in common.
    pub fn sample_states(&self, limit: usize) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare("SELECT state FROM resources LIMIT ?1")?;
        let rows = stmt.query_map(params![limit as i64], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The resolves queued up to `last_ingest_ms` for dedup keys with an incident open in
    /// PagerDuty, or maybe open ([`Spool::open_in_pagerduty`]), oldest first. Call before
    /// [`Spool::forget_pagerduty_state`].
    pub fn queued_resolves_at_resync(&self, last_ingest_ms: i64) -> Result<Vec<QueuedResolve>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT host_id, service_id, dedup_key, route, routing_key FROM deliveries
             WHERE ingested_at_ms <= ?1 AND action = 'resolve' AND {} ORDER BY id",
            open_or_unknown("deliveries.dedup_key")
        ))?;
        let rows = stmt.query_map(params![last_ingest_ms], |r| {
            Ok(QueuedResolve {
                host_id: r.get::<_, i64>(0)? as u64,
                service_id: r.get::<_, i64>(1)? as u64,
                dedup_key: r.get(2)?,
                route: r.get(3)?,
                routing_key: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Replace a resource's stale state, keeping it stale (its generation is not touched).
    pub fn repin_stale_state(&mut self, host_id: u64, service_id: u64, json: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE resources SET state = ?3 WHERE host_id = ?1 AND service_id = ?2",
            params![host_id as i64, service_id as i64, json],
        )?;
        Ok(())
    }

    /// Collapse what was queued up to `last_ingest_ms`; heads move to what is left. One
    /// transaction. The resolves of open incidents among them must have been pinned again
    /// first ([`Spool::queued_resolves_at_resync`]).
    pub fn collapse_before_resync(&mut self, last_ingest_ms: i64, now_ms: i64) -> Result<Resync> {
        let tx = self.conn.transaction()?;
        let collapsed = tx.execute(
            "DELETE FROM deliveries WHERE ingested_at_ms <= ?1",
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
        })
    }
}
