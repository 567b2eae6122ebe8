//! The ingest writer's part of the spool: one batch's effects (resource states, names, new
//! deliveries, incidents opened and closed, rejected lines) in ONE transaction. It never
//! reads or completes the delivery queue.

use crate::rows::{self, MultiRow};
use crate::{add_counter, set_counter, Result, Spool, LAST_INGEST, MAX_KEPT_ROWS};
use pagerduty::Action;
use rusqlite::{params, OptionalExtension, ToSql, Transaction};

/// A delivery to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub dedup_key: String,
    pub route: String,
    /// Empty when no key is configured (dry-run).
    pub routing_key: String,
    pub action: Action,
    /// The PagerDuty event, JSON, routing key included.
    pub body: String,
    pub host_id: u64,
    pub service_id: u64,
    /// `host` or `host/service`.
    pub resource: String,
    /// Daemon time (ms) it was ingested.
    pub ingested_at_ms: i64,
    /// Daemon time (ms) it may be sent.
    pub due_at_ms: i64,
}

/// An open incident, as operators list it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IncidentRow {
    pub host_id: u64,
    pub service_id: u64,
    pub dedup_key: String,
    pub resource: String,
    pub route: String,
    pub opened_at_ms: i64,
    pub acked: bool,
    pub last_event_at_ms: i64,
}

/// State changes of one ingest batch.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    /// Incidents now open (upserted) for resources whose state changed.
    pub incidents: Vec<IncidentRow>,
    /// Resources whose incident closed: (host_id, service_id).
    pub closed_incidents: Vec<ResourceKey>,
    pub states: Vec<StateRow>,
    pub names: Vec<NameRow>,
    pub deliveries: Vec<NewDelivery>,
    pub rejected: Vec<RejectedLine>,
    /// Acknowledgements seen in PagerDuty, to mirror into Centreon (DESIGN §4.6), recorded
    /// with the states that mark their incidents acknowledged.
    pub acks: Vec<crate::NewAck>,
    /// Daemon time (ms) the acknowledgements were seen.
    pub acks_seen_at_ms: i64,
    /// Fingerprints of statuses that changed nothing but their resource's replay window.
    pub window: Vec<crate::WindowEntry>,
    /// Drop the window log's rows below this sequence: every state row covers them.
    pub trim_window_below: Option<i64>,
    /// Set for a batch from Broker: the time of the last ingest (DESIGN §4.7).
    pub ingested_at_ms: Option<i64>,
}

/// A resource, as the spool keys it: `service_id` 0 is the host itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResourceKey {
    pub host_id: u64,
    pub service_id: u64,
}

/// A resource's rule state, serialised by the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRow {
    pub resource: ResourceKey,
    pub state: String,
}

/// A resource's stored rule state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredState {
    pub json: String,
    /// Written before the last resync.
    pub stale: bool,
    /// The sequence of the batch that wrote it: the window log's newer entries complete it.
    pub log_seq: i64,
}

/// A name learnt from a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRow {
    pub resource: ResourceKey,
    pub name: String,
}

/// A line that could not be used, kept for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedLine {
    pub received_at_ms: i64,
    pub reason: String,
    /// The line's first bytes.
    pub line: String,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
            && self.incidents.is_empty()
            && self.closed_incidents.is_empty()
            && self.names.is_empty()
            && self.deliveries.is_empty()
            && self.rejected.is_empty()
            && self.acks.is_empty()
            && self.window.is_empty()
    }
}

/// One read transaction around the reads of an ingest batch (see [`Spool::read_snapshot`]);
/// it ends when dropped.
#[must_use = "the read transaction ends when it is dropped"]
pub struct ReadSnapshot<'a> {
    conn: &'a rusqlite::Connection,
}

impl Drop for ReadSnapshot<'_> {
    fn drop(&mut self) {
        // Nothing was written: COMMIT only ends the read. Should it fail, ROLLBACK does, so
        // that the batch's own transaction can begin.
        if !self.conn.is_autocommit() && self.conn.execute_batch("COMMIT").is_err() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

impl Spool {
    /// Make the reads that follow, until the snapshot is dropped, one read transaction instead
    /// of one each. In WAL mode a read transaction takes and releases a lock on the shared
    /// memory file with two `fcntl` calls; a storm of 50,000 changes, each a cache miss, spent
    /// a tenth of its time there. `None` when it cannot begin: the reads then go one by one.
    /// Drop it before [`Spool::commit_batch`].
    pub fn read_snapshot(&self) -> Option<ReadSnapshot<'_>> {
        self.conn
            .execute_batch("BEGIN DEFERRED")
            .ok()
            .map(|()| ReadSnapshot { conn: &self.conn })
    }

    /// The stored state of a resource, and whether it was written before the last resync
    /// (DESIGN §4.7: its rule state is unknown then, but for its pinned incident).
    pub fn resource_state(&self, host_id: u64, service_id: u64) -> Result<Option<StoredState>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT state, generation, log_seq FROM resources WHERE host_id=?1 AND service_id=?2",
            )?
            .query_row(params![host_id as i64, service_id as i64], |r| {
                Ok(StoredState {
                    json: r.get(0)?,
                    stale: r.get::<_, i64>(1)? < self.generation,
                    log_seq: r.get(2)?,
                })
            })
            .optional()?)
    }

    /// A name learnt from a definition.
    pub fn name(&self, host_id: u64, service_id: u64) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT name FROM names WHERE host_id=?1 AND service_id=?2")?
            .query_row(params![host_id as i64, service_id as i64], |r| r.get(0))
            .optional()?)
    }

    /// Write one ingest batch in one transaction; its sequence (see `window`), or the last
    /// one when there was nothing to write.
    pub fn commit_batch(&mut self, batch: &Batch) -> Result<i64> {
        if batch.is_empty() && batch.trim_window_below.is_none() {
            return Ok(self.seq);
        }
        let seq = self.seq + 1;
        let last_ingest = batch.ingested_at_ms.unwrap_or(self.last_ingest);
        let tx = self.conn.transaction()?;
        put_states(&tx, batch, self.generation, seq)?;
        let mut ring = self.ring.clone();
        let logged = ring.put(
            &tx,
            seq,
            &batch.window,
            batch.trim_window_below,
            last_ingest,
        )?;
        if !logged {
            set_counter(&tx, crate::window::BATCH_SEQ, seq)?;
            set_counter(&tx, LAST_INGEST, last_ingest)?;
        }
        put_deliveries(&tx, &batch.deliveries)?;
        put_incidents(&tx, batch)?;
        if !batch.acks.is_empty() {
            crate::sync::put_acks(&tx, &batch.acks, batch.acks_seen_at_ms)?;
        }
        if !batch.rejected.is_empty() {
            let mut put = tx.prepare_cached(
                "INSERT INTO rejected(received_at_ms, reason, line) VALUES(?1, ?2, ?3)",
            )?;
            for r in &batch.rejected {
                put.execute(params![r.received_at_ms, r.reason, r.line])?;
            }
            drop(put);
            trim_table(&tx, "rejected", "rejected_dropped")?;
        }
        tx.commit()?;
        self.seq = seq;
        self.last_ingest = last_ingest;
        self.ring = ring;
        Ok(seq)
    }
}

fn put_states(tx: &Transaction<'_>, batch: &Batch, generation: i64, seq: i64) -> Result<()> {
    let mut put_state = tx.prepare_cached(
        "INSERT INTO resources(host_id, service_id, state, generation, log_seq)
         VALUES(?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(host_id, service_id) DO UPDATE SET state=excluded.state,
             generation=excluded.generation, log_seq=excluded.log_seq",
    )?;
    for s in &batch.states {
        let k = s.resource;
        put_state.execute(params![
            k.host_id as i64,
            k.service_id as i64,
            s.state,
            generation,
            seq
        ])?;
    }
    let mut put_name = tx.prepare_cached(
        "INSERT INTO names(host_id, service_id, name) VALUES(?1, ?2, ?3)
         ON CONFLICT(host_id, service_id) DO UPDATE SET name=excluded.name",
    )?;
    for n in &batch.names {
        let k = n.resource;
        put_name.execute(params![k.host_id as i64, k.service_id as i64, n.name])?;
    }
    Ok(())
}

/// A delivery, appended.
const PUT_DELIVERY: MultiRow = MultiRow {
    head: "INSERT INTO deliveries(dedup_key, route, routing_key, action, body, host_id,
        service_id, resource, ingested_at_ms) VALUES",
    tuple: "(?, ?, ?, ?, ?, ?, ?, ?, ?)",
};

/// The head of a dedup key's queue, unless it has one.
const PUT_HEAD: MultiRow = MultiRow {
    head:
        "INSERT OR IGNORE INTO heads(dedup_key, routing_key, head_id, due_at_ms, attempts) VALUES",
    tuple: "(?, ?, ?, ?, 0)",
};

/// Append deliveries; a dedup key without a head gets one (due at the delivery's due time).
///
/// Several to a statement ([`rows`]): the table is `AUTOINCREMENT`, and SQLite reads and
/// writes its sequence once per statement; with a statement per row, a storm of triggers
/// spent about 5 % more time. The rows of one statement get consecutive ids (each is one more
/// than the largest ever, and nothing else writes in between), the last one being
/// `last_insert_rowid`.
fn put_deliveries(tx: &Transaction<'_>, deliveries: &[NewDelivery]) -> Result<()> {
    for chunk in rows::chunks(deliveries) {
        let keys: Vec<[i64; 2]> = chunk
            .iter()
            .map(|d| [d.host_id as i64, d.service_id as i64])
            .collect();
        let actions: Vec<&str> = chunk.iter().map(|d| d.action.as_str()).collect();
        let mut values: Vec<&dyn ToSql> = Vec::with_capacity(chunk.len() * 9);
        for ((d, [host, service]), action) in chunk.iter().zip(&keys).zip(&actions) {
            values.extend_from_slice(&[
                &d.dedup_key,
                &d.route,
                &d.routing_key,
                action,
                &d.body,
                host,
                service,
                &d.resource,
                &d.ingested_at_ms,
            ]);
        }
        PUT_DELIVERY
            .statement(tx, chunk.len())?
            .execute(values.as_slice())?;
        let first_id = tx.last_insert_rowid() - chunk.len() as i64 + 1;
        let ids: Vec<i64> = (first_id..).take(chunk.len()).collect();
        values.clear();
        for (d, id) in chunk.iter().zip(&ids) {
            values.extend_from_slice(&[&d.dedup_key, &d.routing_key, id, &d.due_at_ms]);
        }
        PUT_HEAD
            .statement(tx, chunk.len())?
            .execute(values.as_slice())?;
    }
    Ok(())
}

fn put_incidents(tx: &Transaction<'_>, batch: &Batch) -> Result<()> {
    let mut put_incident = tx.prepare_cached(
        "INSERT INTO incidents(host_id, service_id, dedup_key, resource, route,
             opened_at_ms, acked, last_event_at_ms)
         VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT(host_id, service_id) DO UPDATE SET dedup_key=excluded.dedup_key,
             resource=excluded.resource, route=excluded.route,
             opened_at_ms=excluded.opened_at_ms, acked=excluded.acked,
             last_event_at_ms=excluded.last_event_at_ms",
    )?;
    for i in &batch.incidents {
        put_incident.execute(params![
            i.host_id as i64,
            i.service_id as i64,
            i.dedup_key,
            i.resource,
            i.route,
            i.opened_at_ms,
            i.acked,
            i.last_event_at_ms
        ])?;
    }
    let mut close_incident =
        tx.prepare_cached("DELETE FROM incidents WHERE host_id=?1 AND service_id=?2")?;
    for k in &batch.closed_incidents {
        close_incident.execute(params![k.host_id as i64, k.service_id as i64])?;
    }
    Ok(())
}

/// Keep at most [`MAX_KEPT_ROWS`] rows, counting what is dropped.
pub(crate) fn trim_table(tx: &Transaction<'_>, table: &str, counter: &str) -> Result<()> {
    let excess: i64 = tx.query_row(
        &format!("SELECT max(0, count(*) - {MAX_KEPT_ROWS}) FROM {table}"),
        [],
        |r| r.get(0),
    )?;
    if excess > 0 {
        tx.execute(
            &format!(
                "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} ORDER BY id LIMIT ?1)"
            ),
            params![excess],
        )?;
        add_counter(tx, counter, excess)?;
    }
    Ok(())
}
