//! Forward-only migrations, keyed by `PRAGMA user_version`.

use crate::{Result, SpoolError};
use rusqlite::Connection;
use std::path::Path;

/// The schema this binary writes.
pub const SCHEMA_VERSION: i64 = 9;

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 → 1
    "CREATE TABLE resources(
        host_id INTEGER NOT NULL, service_id INTEGER NOT NULL, state TEXT NOT NULL,
        PRIMARY KEY(host_id, service_id)) WITHOUT ROWID;
     CREATE TABLE names(
        host_id INTEGER NOT NULL, service_id INTEGER NOT NULL, name TEXT NOT NULL,
        PRIMARY KEY(host_id, service_id)) WITHOUT ROWID;
     CREATE TABLE deliveries(
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        dedup_key TEXT NOT NULL, route TEXT NOT NULL, routing_key TEXT NOT NULL,
        action TEXT NOT NULL, body TEXT NOT NULL,
        host_id INTEGER NOT NULL, service_id INTEGER NOT NULL, resource TEXT NOT NULL,
        ingested_at_ms INTEGER NOT NULL);
     CREATE INDEX deliveries_by_key ON deliveries(dedup_key, id);
     CREATE TABLE heads(
        dedup_key TEXT PRIMARY KEY, routing_key TEXT NOT NULL,
        head_id INTEGER NOT NULL, due_at_ms INTEGER NOT NULL, attempts INTEGER NOT NULL)
        WITHOUT ROWID;
     CREATE INDEX heads_by_routing_key ON heads(routing_key, head_id);
     CREATE INDEX heads_by_due ON heads(routing_key, due_at_ms);
     CREATE TABLE dead_letters(
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        dedup_key TEXT NOT NULL, route TEXT NOT NULL, routing_key TEXT NOT NULL,
        action TEXT NOT NULL, body TEXT NOT NULL, resource TEXT NOT NULL, reason TEXT NOT NULL,
        ingested_at_ms INTEGER NOT NULL, failed_at_ms INTEGER NOT NULL);
     CREATE TABLE rejected(
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        received_at_ms INTEGER NOT NULL, reason TEXT NOT NULL, line TEXT NOT NULL);
     CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
     CREATE TABLE incidents(
        host_id INTEGER NOT NULL, service_id INTEGER NOT NULL,
        dedup_key TEXT NOT NULL, resource TEXT NOT NULL, route TEXT NOT NULL,
        opened_at_ms INTEGER NOT NULL, acked INTEGER NOT NULL, last_event_at_ms INTEGER NOT NULL,
        PRIMARY KEY(host_id, service_id)) WITHOUT ROWID;
     CREATE INDEX incidents_by_key ON incidents(dedup_key);
     CREATE TABLE delivered(
        dedup_key TEXT PRIMARY KEY, last_ingested_at_ms INTEGER NOT NULL) WITHOUT ROWID;
     CREATE TABLE paused_routes(route TEXT PRIMARY KEY, since_ms INTEGER NOT NULL) WITHOUT ROWID;",
    // 1 → 2: dedup keys with an incident open in PagerDuty (a trigger delivered after the last
    // delivered resolve). Seeded so that no resolve an incident may need is ever collapsed:
    // every open incident, and every key with something queued.
    "CREATE TABLE open_in_pagerduty(dedup_key TEXT PRIMARY KEY) WITHOUT ROWID;
     INSERT OR IGNORE INTO open_in_pagerduty SELECT dedup_key FROM incidents;
     INSERT OR IGNORE INTO open_in_pagerduty SELECT DISTINCT dedup_key FROM deliveries;",
    // 2 → 3: the rules generation a resource's state was written in (DESIGN §4.7: after a
    // resync, a state of an older generation is unknown but for its pinned incident).
    "ALTER TABLE resources ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;",
    // 3 → 4: damage found and set aside (DESIGN §4.5), loud until acknowledged.
    "CREATE TABLE damage(
        id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, aside TEXT NOT NULL,
        detail TEXT NOT NULL, carried_deliveries INTEGER NOT NULL, lost_rows INTEGER NOT NULL,
        acknowledged_at_ms INTEGER);",
    // 4 → 5: acknowledgements to mirror from PagerDuty into Centreon (DESIGN §4.6), one per
    // PagerDuty incident.
    "CREATE TABLE sync_acks(
        incident_id TEXT PRIMARY KEY, dedup_key TEXT NOT NULL,
        host_id INTEGER NOT NULL, service_id INTEGER NOT NULL, who TEXT NOT NULL,
        found_at_ms INTEGER NOT NULL, due_at_ms INTEGER NOT NULL, attempts INTEGER NOT NULL,
        done_at_ms INTEGER, last_error TEXT) WITHOUT ROWID;
     CREATE INDEX sync_acks_pending ON sync_acks(done_at_ms, due_at_ms);",
    // 5 → 6: the replay window's log (`window`): the batch that wrote each state row, and the
    // fingerprints of the statuses that changed nothing else, one row per batch.
    "ALTER TABLE resources ADD COLUMN log_seq INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE window_log(seq INTEGER PRIMARY KEY, entries BLOB NOT NULL);",
    // 6 → 7: resource states in a rowid table. A state is about 1 KB; in a WITHOUT ROWID
    // table (an index B-tree, whose cells hold at most about 1,000 bytes on 4 KiB pages) most
    // spilled into an overflow page of their own: 20,000 states took 86 MB instead of 26, and
    // every rewrite of one wrote a page and more.
    "CREATE TABLE resources_v7(
        id INTEGER PRIMARY KEY,
        host_id INTEGER NOT NULL, service_id INTEGER NOT NULL, state TEXT NOT NULL,
        generation INTEGER NOT NULL DEFAULT 0, log_seq INTEGER NOT NULL DEFAULT 0);
     INSERT INTO resources_v7(host_id, service_id, state, generation, log_seq)
        SELECT host_id, service_id, state, generation, log_seq FROM resources
        ORDER BY host_id, service_id;
     DROP TABLE resources;
     ALTER TABLE resources_v7 RENAME TO resources;
     CREATE UNIQUE INDEX resources_by_resource ON resources(host_id, service_id);",
    // 7 → 8: a window log row also records the time of the last ingest, so that a batch that
    // logs fingerprints (every steady batch) touches no counter: the batch sequence and the
    // last ingest are the newest of the counters and the newest log row (`window`). Resource
    // states are written as version 2 from now on, which an older binary cannot read.
    "ALTER TABLE window_log ADD COLUMN ingested_at_ms INTEGER NOT NULL DEFAULT 0;",
    // 8 → 9: the window log in page-sized slots overwritten in place (`window`): a steady
    // batch no longer inserts a row and frees an older one, which also wrote a B-tree interior
    // page, a free-list page and the header page. The rows of `window_log` move into slots at
    // the first start (`window::import_legacy`); the table stays, empty.
    "CREATE TABLE window_slots(slot INTEGER PRIMARY KEY, data BLOB NOT NULL);",
];

pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| SpoolError::Damaged {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
    if version > SCHEMA_VERSION {
        return Err(SpoolError::TooNew {
            path: path.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", from as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
