//! A damaged spool (DESIGN §4.5): paging must not stop. The damaged file set is moved aside
//! into `spool.damaged-<UTC time>/` (never deleted), what can be read of it — pending
//! deliveries (with their ids), open incidents, resource states, names, routes paused by an
//! operator, which keys have an incident open in PagerDuty, the acknowledgements to mirror into
//! Centreon (done or not, so none is repeated) — is carried row by row into a fresh
//! spool, skipping what cannot be read, and the damage is recorded there until an operator
//! acknowledges it ([`Spool::acknowledge_damage`]).
//!
//! The salvage reads a working copy of the damaged files (SQLite replays a WAL on open), so
//! the files set aside stay exactly as they were found.

use crate::{Result, Spool, SpoolError, DB_FILE};
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

/// The tables carried over: name, key columns (the order rows are read in), the other
/// columns (same names on both sides).
const CARRIED: &[(&str, &[&str], &str)] = &[
    (
        "deliveries",
        &["id"],
        "dedup_key, route, routing_key, action, body, host_id, service_id, resource, ingested_at_ms",
    ),
    (
        "incidents",
        &["host_id", "service_id"],
        "dedup_key, resource, route, opened_at_ms, acked, last_event_at_ms",
    ),
    ("resources", &["host_id", "service_id"], "state"),
    ("names", &["host_id", "service_id"], "name"),
    ("open_in_pagerduty", &["dedup_key"], ""),
    ("paused_routes", &["route"], "since_ms"),
    (
        "sync_acks",
        &["incident_id"],
        "dedup_key, host_id, service_id, who, found_at_ms, due_at_ms, attempts, done_at_ms, \
         last_error",
    ),
];

/// Give up on a table after this many unreadable stretches in a row.
const MAX_CONSECUTIVE_FAILURES: u32 = 64;

/// The damage recorded in a spool, until acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Damage {
    /// Daemon time (ms) the damage was found.
    pub at_ms: i64,
    /// Where the damaged files were moved.
    pub aside: String,
    /// What SQLite said.
    pub detail: String,
    /// Pending deliveries carried into the fresh spool.
    pub carried_deliveries: i64,
    /// Rows of every table that could not be read.
    pub lost_rows: i64,
}

impl SpoolError {
    /// A failed read, write or fsync (SQLITE_IOERR): the connection must not be trusted again.
    pub fn is_io(&self) -> bool {
        matches!(
            self,
            SpoolError::Sql(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::SystemIoFailure
        )
    }

    /// The database is damaged (not a permission, lock or space problem): it must be set aside.
    pub fn is_damage(&self) -> bool {
        match self {
            SpoolError::Damaged { .. } => true,
            SpoolError::Sql(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase
            ),
            _ => false,
        }
    }
}

/// Move the damaged spool in `dir` aside, start a fresh one, carry over what can be read.
/// `stamp` names the aside directory (`spool.damaged-<stamp>`), `now_ms` dates the damage.
pub fn quarantine(dir: &Path, stamp: &str, detail: &str, now_ms: i64) -> Result<(Spool, Damage)> {
    let aside = dir.join(format!("spool.damaged-{stamp}"));
    std::fs::create_dir_all(&aside).map_err(|e| io(&aside, e))?;
    for suffix in ["", "-wal", "-shm"] {
        let from = dir.join(format!("{DB_FILE}{suffix}"));
        if from.exists() {
            let to = aside.join(format!("{DB_FILE}{suffix}"));
            std::fs::rename(&from, &to).map_err(|e| io(&from, e))?;
        }
    }
    let mut fresh = Spool::open(dir)?;
    let (carried_deliveries, lost_rows) = match working_copy(&aside) {
        Ok((copy, conn)) => {
            let counts = carry(&conn, &mut fresh);
            drop(conn);
            let _ = std::fs::remove_dir_all(copy);
            counts?
        }
        // Nothing readable at all: start empty, and say so.
        Err(_) => (0, -1),
    };
    let damage = Damage {
        at_ms: now_ms,
        aside: aside.display().to_string(),
        detail: detail.to_owned(),
        carried_deliveries,
        lost_rows,
    };
    fresh.record_damage(&damage)?;
    if lost_rows != 0 {
        // Which incidents are open may be among what was lost: a collapsed episode keeps its
        // resolve until the key is delivered again.
        fresh.forget_pagerduty_state(now_ms)?;
    }
    Ok((fresh, damage))
}

fn io(path: &Path, e: std::io::Error) -> SpoolError {
    SpoolError::Damaged {
        path: path.to_owned(),
        detail: format!("cannot move the damaged spool aside: {e}"),
    }
}

/// A copy of the damaged files, opened read-write so that SQLite may replay their WAL.
fn working_copy(aside: &Path) -> std::result::Result<(PathBuf, Connection), SpoolError> {
    let copy = aside.join("salvage-working-copy");
    std::fs::create_dir_all(&copy).map_err(|e| io(&copy, e))?;
    for suffix in ["", "-wal"] {
        let from = aside.join(format!("{DB_FILE}{suffix}"));
        if from.exists() {
            std::fs::copy(&from, copy.join(format!("{DB_FILE}{suffix}")))
                .map_err(|e| io(&from, e))?;
        }
    }
    let conn = Connection::open(copy.join(DB_FILE))?;
    Ok((copy, conn))
}

/// Carry every readable row of the [`CARRIED`] tables, then rebuild the queue heads.
/// Returns (deliveries carried, rows lost; -1 when a table could not be read at all).
fn carry(from: &Connection, to: &mut Spool) -> Result<(i64, i64)> {
    let tx = to.conn.transaction()?;
    let mut lost = 0i64;
    let mut deliveries = 0i64;
    for (table, key, columns) in CARRIED {
        if absent(from, table) {
            // A spool of an older schema: nothing of it to carry.
            continue;
        }
        let (copied, skipped) = copy_table(from, &tx, table, key, columns)?;
        lost += skipped;
        if *table == "deliveries" {
            deliveries = copied;
        }
    }
    tx.execute(
        "INSERT OR IGNORE INTO heads(dedup_key, routing_key, head_id, due_at_ms, attempts)
         SELECT dedup_key, routing_key, min(id), 0, 0 FROM deliveries GROUP BY dedup_key",
        [],
    )?;
    tx.commit()?;
    Ok((deliveries, lost))
}

/// The damaged spool says it has no such table (an older schema). When even that cannot be
/// read, the table is tried.
fn absent(from: &Connection, table: &str) -> bool {
    from.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        params![table],
        |r| r.get::<_, i64>(0),
    )
    .is_ok_and(|n| n == 0)
}

/// Copy one table row by row, in key order (keyset pagination, so that a damaged stretch does
/// not end the copy); an unreadable stretch is skipped — an integer key jumps 1, 2, 4, …
/// further each time in a row; a text key ends the table. Returns (rows copied, rows or
/// stretches lost).
fn copy_table(
    from: &Connection,
    to: &rusqlite::Transaction<'_>,
    table: &str,
    key: &[&str],
    columns: &str,
) -> Result<(i64, i64)> {
    let all: Vec<&str> = key
        .iter()
        .copied()
        .chain(columns.split(',').map(str::trim).filter(|c| !c.is_empty()))
        .collect();
    let list = all.join(", ");
    let keys = key.join(", ");
    let marks = vec!["?"; key.len()].join(", ");
    let insert = format!(
        "INSERT OR IGNORE INTO {table}({list}) VALUES({})",
        vec!["?"; all.len()].join(", ")
    );
    let first = format!("SELECT {list} FROM {table} ORDER BY {keys} LIMIT 1");
    let next =
        format!("SELECT {list} FROM {table} WHERE ({keys}) > ({marks}) ORDER BY {keys} LIMIT 1");
    let (mut last, mut copied, mut lost, mut failures) = (None::<Vec<Value>>, 0i64, 0i64, 0u32);
    loop {
        let read = |r: &rusqlite::Row<'_>| {
            (0..all.len())
                .map(|i| r.get::<_, Value>(i))
                .collect::<rusqlite::Result<Vec<_>>>()
        };
        let row = match &last {
            None => from.query_row(&first, [], read),
            Some(k) => from.query_row(&next, rusqlite::params_from_iter(k.iter()), read),
        }
        .optional();
        match row {
            Ok(Some(values)) => {
                failures = 0;
                last = Some(values[..key.len()].to_vec());
                match to.execute(&insert, rusqlite::params_from_iter(values)) {
                    Ok(_) => copied += 1,
                    Err(_) => lost += 1,
                }
            }
            Ok(None) => break,
            Err(_) => {
                lost += 1;
                failures += 1;
                let jump = 1i64 << failures.min(40);
                let skipped = match last.as_mut().and_then(|k| k.first_mut()) {
                    Some(Value::Integer(i)) if failures <= MAX_CONSECUTIVE_FAILURES => {
                        *i = i.saturating_add(jump);
                        true
                    }
                    None if failures <= MAX_CONSECUTIVE_FAILURES => {
                        last = Some(vec![Value::Integer(i64::MIN); key.len()]);
                        true
                    }
                    _ => false,
                };
                if !skipped {
                    break;
                }
            }
        }
    }
    Ok((copied, lost))
}

impl Spool {
    fn record_damage(&mut self, d: &Damage) -> Result<()> {
        self.conn.execute(
            "INSERT INTO damage(at_ms, aside, detail, carried_deliveries, lost_rows)
             VALUES(?1, ?2, ?3, ?4, ?5)",
            params![
                d.at_ms,
                d.aside,
                d.detail,
                d.carried_deliveries,
                d.lost_rows
            ],
        )?;
        Ok(())
    }

    /// The last damage not yet acknowledged by an operator, if any.
    pub fn damage(&self) -> Result<Option<Damage>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT at_ms, aside, detail, carried_deliveries, lost_rows FROM damage
                 WHERE acknowledged_at_ms IS NULL ORDER BY id DESC LIMIT 1",
            )?
            .query_row([], |r| {
                Ok(Damage {
                    at_ms: r.get(0)?,
                    aside: r.get(1)?,
                    detail: r.get(2)?,
                    carried_deliveries: r.get(3)?,
                    lost_rows: r.get(4)?,
                })
            })
            .optional()?)
    }

    /// An operator has seen the damage (`centreon-pagerduty spool acknowledge-damage`).
    /// Returns how many records it cleared.
    pub fn acknowledge_damage(&mut self, now_ms: i64) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE damage SET acknowledged_at_ms = ?1 WHERE acknowledged_at_ms IS NULL",
            params![now_ms],
        )?)
    }
}

/// [`quarantine`] for a running daemon, whose writer and reader connections are open on the
/// damaged files: both are closed first (so that closing them can never touch the fresh
/// spool's files), then the spool is set aside and salvaged, and both connections reopened on
/// the fresh one. Delivery ids are kept, so outcomes recorded later still find their rows.
pub fn quarantine_running(
    writer: &mut Spool,
    reader: &mut Spool,
    stamp: &str,
    detail: &str,
    now_ms: i64,
) -> Result<Damage> {
    let dir = writer
        .path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    for spool in [&mut *writer, &mut *reader] {
        spool.conn = Connection::open_in_memory()?;
    }
    let (fresh, damage) = quarantine(&dir, stamp, detail, now_ms)?;
    *writer = fresh;
    *reader = Spool::open(&dir)?;
    Ok(damage)
}
