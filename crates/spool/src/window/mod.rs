//! The replay window's log (DESIGN §4.2, Replays): a status that changed nothing but its
//! resource's replay window is not stored by rewriting the resource's whole state row; its
//! fingerprint joins the log, about 10 bytes an entry.
//!
//! Each committed batch has a sequence number; a state row records the sequence of the batch
//! that wrote it (`resources.log_seq`), so that the log entries newer than a row complete its
//! window when it is read back. The daemon keeps the entries not yet covered by a state row in
//! memory, rewrites the rows of the resources with the oldest entries when the log grows
//! ([`crate::Batch::trim_window_below`] then drops what every row covers). Nothing here
//! decides what a steady status is: the rules say it.
//!
//! The log lives in `window_slots`: fixed-size slots of one page each, overwritten in place
//! (`ring` says which slot holds what, `slot` has the bytes). A steady batch of 1,000 statuses
//! writes three or four pages and nothing else. Spools of schema 8 and older kept one row per
//! batch in `window_log`; those rows move into slots at the first start ([`import_legacy`]).

mod ring;
mod slot;

pub(crate) use ring::Ring;

use crate::{Result, Spool};
use rusqlite::Connection;

/// A fingerprint to remember for a resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowEntry {
    pub host_id: u64,
    pub service_id: u64,
    pub fingerprint: u64,
}

/// A logged entry, with the sequence of the batch that wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggedEntry {
    pub seq: i64,
    pub entry: WindowEntry,
}

/// Counter: the sequence of the last batch committed.
pub(crate) const BATCH_SEQ: &str = "batch_seq";

impl Spool {
    /// The sequence of the last batch committed (0: none yet).
    pub fn batch_seq(&self) -> i64 {
        self.seq
    }

    /// Every live entry of the log, in commit order, as the disk has it. Unreadable slots are
    /// skipped (the entries of a damaged slot only weaken replay detection, they page nobody).
    pub fn window_log(&self) -> Result<Vec<LoggedEntry>> {
        Ok(Ring::load(&self.conn)?.entries)
    }
}

/// The sequence of the last batch committed and the last ingest (0: none), as stored: the
/// counters, unless the newest logged record is newer. Every batch either logs a record or
/// writes the counters, and a record is only overwritten by a later batch's, so the newer of
/// the two is the last batch's.
pub(crate) fn newest(conn: &Connection, logged: Option<(i64, i64)>) -> Result<(i64, i64)> {
    let counted = (
        crate::counter_of(conn, BATCH_SEQ)?,
        crate::counter_of(conn, crate::LAST_INGEST)?,
    );
    Ok(match logged {
        Some(row) if row.0 > counted.0 => row,
        _ => counted,
    })
}

/// Move the rows of a spool of schema 8 or older (`window_log`, one row per batch) into slots,
/// in one transaction; the ring as it is after.
pub(crate) fn import_legacy(conn: &mut Connection, mut ring: Ring) -> Result<Ring> {
    let rows: Vec<(i64, Vec<u8>, i64)> = {
        let mut stmt =
            conn.prepare("SELECT seq, entries, ingested_at_ms FROM window_log ORDER BY seq")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    if rows.is_empty() {
        return Ok(ring);
    }
    let tx = conn.transaction()?;
    for (seq, blob, ingested_at_ms) in rows {
        ring.put(&tx, seq, &decode_legacy(&blob), None, ingested_at_ms)?;
    }
    tx.execute("DELETE FROM window_log", [])?;
    tx.commit()?;
    Ok(ring)
}

/// The entries of a schema-8 row (the entry format of a slot, back to back); a truncated
/// tail is dropped.
fn decode_legacy(mut blob: &[u8]) -> Vec<WindowEntry> {
    let mut out = Vec::new();
    while let Some(entry) = slot::take_entry(&mut blob) {
        out.push(entry);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_legacy_row_is_read_and_a_truncated_tail_is_dropped() {
        let entries = vec![
            WindowEntry {
                host_id: 1,
                service_id: 0,
                fingerprint: u64::MAX,
            },
            WindowEntry {
                host_id: 300_000,
                service_id: u64::MAX,
                fingerprint: 42,
            },
        ];
        let mut blob = Vec::new();
        for e in &entries {
            slot::encode_entry(&mut blob, e);
        }
        assert_eq!(decode_legacy(&blob), entries);
        assert_eq!(decode_legacy(&blob[..blob.len() - 1]), entries[..1]);
        assert!(decode_legacy(&[0xff; 3]).is_empty());
    }
}
