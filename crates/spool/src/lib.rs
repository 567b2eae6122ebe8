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
//! - **Replay windows.** A status that changed nothing but its resource's replay window is
//!   logged compactly, in page-sized slots overwritten in place, instead of rewriting the resource's state
//!   ([`Batch::window`], [`Spool::window_log`]).
//! - **Acknowledgements to mirror** into Centreon (DESIGN §4.6) are rows of their own, one per
//!   PagerDuty incident, never in the delivery queue ([`Spool::record_acks`]).
//! - **Bounded tables.** Rejected lines and dead letters keep at most [`MAX_KEPT_ROWS`] rows
//!   each; the oldest are dropped and counted in `counters`.
//! - **Schema.** Migrations are forward-only and keyed by `PRAGMA user_version`. A database
//!   written by a newer binary is refused ([`SpoolError::TooNew`]); a damaged one gives
//!   [`SpoolError::Damaged`]. Nothing is ever deleted to "repair" a spool: [`quarantine`]
//!   moves a damaged one aside and carries what can be read into a fresh one.

mod operator;
mod queue;
mod resync;
mod rows;
mod salvage;
mod schema;
mod sync;
mod window;
mod writer;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use thiserror::Error;

pub use operator::{DeadLetter, QueueStats};
pub use queue::{Completion, Pending};
pub use resync::{Gap, QueuedResolve, Resync};
pub use salvage::{quarantine, quarantine_running, Damage};
pub use schema::SCHEMA_VERSION;
pub use sync::{NewAck, PendingAck, SyncStats};
pub use window::{LoggedEntry, WindowEntry};
pub use writer::{
    Batch, IncidentRow, NameRow, NewDelivery, ReadSnapshot, RejectedLine, ResourceKey, StateRow,
    StoredState,
};

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

/// The spool.
pub struct Spool {
    conn: Connection,
    path: PathBuf,
    /// The rules generation (DESIGN §4.7): states written in an older one are stale.
    generation: i64,
    /// The last resync's gap, if any.
    gap: Option<Gap>,
    /// The sequence of the last batch committed (see `window`).
    seq: i64,
    /// PagerDuty may hold incidents this spool does not know of (see `resync`).
    pagerduty_unknown: bool,
    /// Daemon time (ms) of the last batch from Broker committed (0: none).
    last_ingest: i64,
    /// The replay window log's slots, as the last commit left them.
    ring: window::Ring,
}

/// Counter: daemon time (ms) of the last batch from Broker committed.
pub(crate) const LAST_INGEST: &str = "last_ingest_ms";
/// Counter: the rules generation, bumped at each resync.
pub(crate) const RULES_GENERATION: &str = "rules_generation";

impl Spool {
    /// Open (creating if needed) the spool in `dir`, migrating it forward.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path).map_err(|source| SpoolError::Open {
            path: path.clone(),
            source,
        })?;
        let mut spool = Self {
            conn,
            path,
            generation: 0,
            gap: None,
            seq: 0,
            pagerduty_unknown: false,
            last_ingest: 0,
            ring: window::Ring::default(),
        };
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
        spool.generation = spool.counter(RULES_GENERATION)?;
        spool.gap = spool.stored_gap()?;
        let loaded = window::Ring::load(&spool.conn)?;
        spool.ring = window::import_legacy(&mut spool.conn, loaded.ring)?;
        let logged = match loaded.newest {
            // Imported rows: read what the slots now hold.
            None => window::Ring::load(&spool.conn)?.newest,
            some => some,
        };
        (spool.seq, spool.last_ingest) = window::newest(&spool.conn, logged)?;
        spool.pagerduty_unknown = spool.counter(resync::PAGERDUTY_UNKNOWN_SINCE)? > 0;
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
                generation: 0,
                gap: None,
                seq: 0,
                pagerduty_unknown: false,
                last_ingest: 0,
                ring: window::Ring::default(),
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

    /// Cheap liveness probe for the watchdog.
    pub fn ping(&self) -> Result<()> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))?;
        Ok(())
    }
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

/// An `action` column: `trigger`, `acknowledge` or `resolve`; anything else is a damaged row.
pub(crate) fn action_of(
    r: &rusqlite::Row<'_>,
    column: usize,
) -> rusqlite::Result<pagerduty::Action> {
    let text: String = r.get(column)?;
    text.parse().map_err(|e: pagerduty::ParseActionError| {
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(e))
    })
}

pub(crate) fn counter_of(conn: &Connection, name: &str) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT value FROM counters WHERE name=?1")?
        .query_row(params![name], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

pub(crate) fn set_counter(conn: &Connection, name: &str, value: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO counters(name, value) VALUES(?1, ?2)
         ON CONFLICT(name) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![name, value])?;
    Ok(())
}

pub(crate) fn add_counter(conn: &Connection, name: &str, delta: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO counters(name, value) VALUES(?1, ?2)
         ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
    )?
    .execute(params![name, delta])?;
    Ok(())
}
