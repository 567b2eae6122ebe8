//! The durable spool of centreon-pagerduty: one SQLite database (WAL, `synchronous=FULL`).
//!
//! # Durability rules
//!
//! - **Ingest.** The effects of one ingest batch — resource state changes, learnt names,
//!   new deliveries, rejected lines — are written in ONE transaction
//!   ([`Spool::commit_batch`]). The daemon answers 200 only after it commits, so an event the
//!   shim saw acknowledged has its effects on disk; a batch that fails to commit leaves no trace
//!   and the shim keeps it.
//! - **Queues.** Deliveries are appended with increasing ids. For each dedup key, the
//!   `heads` table names the oldest pending delivery and when it is due; only a head is ever
//!   sent, so delivery is strictly FIFO per dedup key. A head moves on only in the same
//!   transaction that deletes (delivered) or dead-letters the previous one.
//! - **Completions.** [`Spool::complete`] applies many completions in one transaction (group
//!   commit). A crash before it commits replays those deliveries: at-least-once, never reordered
//!   per key, because completions of one key are committed in the order they happened.
//!   The same transaction records whether PagerDuty has an incident open for the key (a
//!   delivered trigger opens it, a delivered resolve closes it; a collapsed event is not
//!   delivered), which decides whether a collapsed episode's resolve is still worth sending.
//! - **Bounded tables.** Rejected lines and dead letters keep at most [`MAX_KEPT_ROWS`] rows
//!   each; the oldest are dropped and counted in `counters`.
//! - **Schema.** Migrations are forward-only and keyed by `PRAGMA user_version`. A database
//!   written by a newer binary is refused ([`SpoolError::TooNew`]); a damaged one gives
//!   [`SpoolError::Damaged`]. Nothing is ever deleted to "repair" a spool.

mod schema;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction};
use std::path::{Path, PathBuf};
use thiserror::Error;

pub use schema::SCHEMA_VERSION;

/// Rows kept in each of `rejected` and `dead_letters`.
pub const MAX_KEPT_ROWS: i64 = 10_000;

/// File name of the database inside the spool directory.
pub const DB_FILE: &str = "spool.db";

#[derive(Debug, Error)]
pub enum SpoolError {
    #[error("the spool {path} was written by a newer centreon-pagerduty (schema {found}); this binary supports schema {supported}: upgrade the package, or point spool.dir elsewhere")]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("the spool {path} is damaged ({detail}); nothing was changed: move it aside to start with an empty spool, and keep it for inspection")]
    Damaged { path: PathBuf, detail: String },
    #[error("the spool {path} is not writable by this user: check the owner and mode of the file and its directory (the service runs as centreon-pagerduty)")]
    ReadOnly { path: PathBuf },
    #[error("spool {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("spool: {0}")]
    Sql(#[from] rusqlite::Error),
}

impl SpoolError {
    /// The disk is full or the spool is read-only: the batch cannot be stored right now.
    pub fn is_storage_full(&self) -> bool {
        match self {
            SpoolError::Sql(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::ReadOnly
                    | rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::SystemIoFailure
            ),
            _ => false,
        }
    }
}

pub type Result<T, E = SpoolError> = std::result::Result<T, E>;

/// A delivery to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub dedup_key: String,
    pub route: String,
    /// Empty when no key is configured (dry-run).
    pub routing_key: String,
    pub action: String,
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

/// A queued delivery, as the delivery workers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub id: i64,
    pub dedup_key: String,
    pub route: String,
    pub routing_key: String,
    pub action: String,
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
    },
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
    /// Resources whose incident closed.
    pub closed_incidents: Vec<(u64, u64)>,
    /// (host_id, service_id, state JSON).
    pub states: Vec<(u64, u64, String)>,
    /// (host_id, service_id, name).
    pub names: Vec<(u64, u64, String)>,
    pub deliveries: Vec<NewDelivery>,
    /// (received_at_ms, reason, line prefix).
    pub rejected: Vec<(i64, String, String)>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
            && self.incidents.is_empty()
            && self.closed_incidents.is_empty()
            && self.names.is_empty()
            && self.deliveries.is_empty()
            && self.rejected.is_empty()
    }
}

/// A dead letter.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub id: i64,
    pub dedup_key: String,
    pub route: String,
    pub action: String,
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
}

/// The spool.
pub struct Spool {
    conn: Connection,
    path: PathBuf,
}

impl Spool {
    /// Open (creating if needed) the spool in `dir`, migrating it forward.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path).map_err(|source| SpoolError::Open {
            path: path.clone(),
            source,
        })?;
        let mut spool = Self { conn, path };
        // SQLite silently opens a file it may not write read-only: every batch would then be
        // refused until a restart. Refuse to start instead (systemd retries).
        if spool
            .conn
            .is_readonly(rusqlite::DatabaseName::Main)
            .unwrap_or(false)
        {
            return Err(SpoolError::ReadOnly { path: spool.path });
        }
        spool.configure()?;
        schema::migrate(&mut spool.conn, &spool.path)?;
        Ok(spool)
    }

    /// Open an existing spool read-only (operator commands while the daemon is down).
    pub fn open_read_only(dir: &Path) -> Result<Self> {
        let path = dir.join(DB_FILE);
        let open = |uri: String| -> Result<Self> {
            let conn = Connection::open_with_flags(
                uri,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|source| SpoolError::Open {
                path: path.clone(),
                source,
            })?;
            let spool = Self {
                conn,
                path: path.clone(),
            };
            let version: i64 = spool
                .conn
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(|e| spool.classify(e))?;
            if version > SCHEMA_VERSION {
                return Err(SpoolError::TooNew {
                    path: spool.path,
                    found: version,
                    supported: SCHEMA_VERSION,
                });
            }
            Ok(spool)
        };
        if !path.exists() {
            return Err(SpoolError::Open {
                path: path.clone(),
                source: rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                    Some("no spool database here".into()),
                ),
            });
        }
        let uri = format!("file:{}?mode=ro", uri_path(&path));
        match open(uri) {
            // A cleanly stopped daemon leaves no WAL: a reader who may not create the WAL
            // index in the directory reads the database file as it is (nothing can be pending
            // in a WAL that does not exist).
            Err(SpoolError::Open { .. }) if !wal_path(&path).exists() => {
                open(format!("file:{}?immutable=1", uri_path(&path)))
            }
            other => other,
        }
    }

    /// Permission and locking problems are not damage: say so, and never suggest moving the
    /// spool aside for them.
    fn classify(&self, e: rusqlite::Error) -> SpoolError {
        let access = matches!(
            &e,
            rusqlite::Error::SqliteFailure(f, _) if matches!(
                f.code,
                rusqlite::ErrorCode::ReadOnly
                    | rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::PermissionDenied
                    | rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
            )
        );
        if access {
            SpoolError::Open {
                path: self.path.clone(),
                source: e,
            }
        } else {
            SpoolError::Damaged {
                path: self.path.clone(),
                detail: e.to_string(),
            }
        }
    }

    fn configure(&mut self) -> Result<()> {
        let damaged = |e: rusqlite::Error| self.classify(e);
        self.conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(damaged)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(SpoolError::Damaged {
                path: self.path.clone(),
                detail: format!("cannot switch to WAL (journal_mode={mode})"),
            });
        }
        self.conn
            .execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;")?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Spool size: the database's pages in use plus the WAL, in bytes. Free pages left by
    /// delivered events do not count: SQLite reuses them, so a spool that filled up during an
    /// outage accepts batches again once its queue drains.
    pub fn size_bytes(&self) -> u64 {
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        let wal_bytes = std::fs::metadata(&wal).map_or(0, |m| m.len());
        let pages = |pragma: &str| -> u64 {
            self.conn
                .query_row(&format!("PRAGMA {pragma}"), [], |r| r.get::<_, i64>(0))
                .map_or(0, |v| v.max(0) as u64)
        };
        let used = pages("page_count").saturating_sub(pages("freelist_count"));
        match used.checked_mul(pages("page_size")) {
            Some(db) if db > 0 => db + wal_bytes,
            _ => std::fs::metadata(&self.path).map_or(0, |m| m.len()) + wal_bytes,
        }
    }

    /// Fold the WAL into the database and truncate it (when the spool is near its limit).
    pub fn reclaim(&mut self) -> Result<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// The stored state of a resource.
    pub fn resource_state(&self, host_id: u64, service_id: u64) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT state FROM resources WHERE host_id=?1 AND service_id=?2")?
            .query_row(params![host_id as i64, service_id as i64], |r| r.get(0))
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

    /// Write one ingest batch in one transaction.
    pub fn commit_batch(&mut self, batch: &Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut put_state = tx.prepare_cached(
                "INSERT INTO resources(host_id, service_id, state) VALUES(?1, ?2, ?3)
                 ON CONFLICT(host_id, service_id) DO UPDATE SET state=excluded.state",
            )?;
            for (h, s, state) in &batch.states {
                put_state.execute(params![*h as i64, *s as i64, state])?;
            }
            let mut put_name = tx.prepare_cached(
                "INSERT INTO names(host_id, service_id, name) VALUES(?1, ?2, ?3)
                 ON CONFLICT(host_id, service_id) DO UPDATE SET name=excluded.name",
            )?;
            for (h, s, name) in &batch.names {
                put_name.execute(params![*h as i64, *s as i64, name])?;
            }
            let mut put_delivery = tx.prepare_cached(
                "INSERT INTO deliveries(dedup_key, route, routing_key, action, body, host_id,
                     service_id, resource, ingested_at_ms)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let mut put_head = tx.prepare_cached(
                "INSERT OR IGNORE INTO heads(dedup_key, routing_key, head_id, due_at_ms, attempts)
                 VALUES(?1, ?2, ?3, ?4, 0)",
            )?;
            for d in &batch.deliveries {
                put_delivery.execute(params![
                    d.dedup_key,
                    d.route,
                    d.routing_key,
                    d.action,
                    d.body,
                    d.host_id as i64,
                    d.service_id as i64,
                    d.resource,
                    d.ingested_at_ms
                ])?;
                let id = tx.last_insert_rowid();
                put_head.execute(params![d.dedup_key, d.routing_key, id, d.due_at_ms])?;
            }
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
            for (h, s) in &batch.closed_incidents {
                close_incident.execute(params![*h as i64, *s as i64])?;
            }
            let mut put_rejected = tx.prepare_cached(
                "INSERT INTO rejected(received_at_ms, reason, line) VALUES(?1, ?2, ?3)",
            )?;
            for (at, reason, line) in &batch.rejected {
                put_rejected.execute(params![at, reason, line])?;
            }
        }
        if !batch.rejected.is_empty() {
            trim_table(&tx, "rejected", "rejected_dropped")?;
        }
        tx.commit()?;
        Ok(())
    }

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
                action: r.get(4)?,
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
    pub fn queued_after(&self, dedup_key: &str, after_id: i64) -> Result<Vec<(i64, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, action FROM deliveries WHERE dedup_key=?1 AND id>?2 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![dedup_key, after_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Whether PagerDuty has an incident open for `dedup_key`: a trigger was delivered after the
    /// last delivered resolve.
    pub fn open_in_pagerduty(&self, dedup_key: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM open_in_pagerduty WHERE dedup_key=?1")?
            .query_row(params![dedup_key], |_| Ok(()))
            .optional()?
            .is_some())
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
                } => {
                    tx.prepare_cached(
                        "UPDATE heads SET due_at_ms=?2, attempts=?3 WHERE dedup_key=?1",
                    )?
                    .execute(params![dedup_key, due_at_ms, attempts])?;
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
        })
    }

    /// Cheap liveness probe for the watchdog.
    pub fn ping(&self) -> Result<()> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))?;
        Ok(())
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
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM counters WHERE name=?1")?
            .query_row(params![name], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
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
        action: r.get(3)?,
        resource: r.get(4)?,
        reason: r.get(5)?,
        body: r.get(6)?,
        ingested_at_ms: r.get(7)?,
        failed_at_ms: r.get(8)?,
    })
}

fn wal_path(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}-wal", db.display()))
}

/// A path as a `file:` URI path (percent-encoding what URIs reserve).
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for b in path.display().to_string().bytes() {
        match b {
            b'?' | b'#' | b'%' => out.push_str(&format!("%{b:02X}")),
            _ => out.push(char::from(b)),
        }
    }
    out
}

fn add_counter(conn: &Connection, name: &str, delta: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO counters(name, value) VALUES(?1, ?2)
         ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
    )?
    .execute(params![name, delta])?;
    Ok(())
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

/// Keep at most [`MAX_KEPT_ROWS`] rows, counting what is dropped.
fn trim_table(tx: &Transaction<'_>, table: &str, counter: &str) -> Result<()> {
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
