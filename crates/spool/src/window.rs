//! The replay window's log (DESIGN §4.2, Replays): a status that changed nothing but its
//! resource's replay window is not stored by rewriting the resource's whole state row; its
//! fingerprint is appended to one log row per batch (a few bytes an event, pages touched once).
//!
//! Each committed batch has a sequence number; a state row records the sequence of the batch
//! that wrote it (`resources.log_seq`), so that the log entries newer than a row complete its
//! window when it is read back. The daemon keeps the entries not yet covered by a state row in
//! memory, rewrites the rows of the resources with the oldest entries when the log grows
//! ([`crate::Batch::trim_window_below`] then drops what every row covers). Nothing here
//! decides what a steady status is: the rules say it.

use crate::{Result, Spool};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

/// A fingerprint to remember for a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    /// Every entry of the log, in commit order. Unreadable rows are skipped (the entries of a
    /// damaged row only weaken replay detection, they page nobody).
    pub fn window_log(&self) -> Result<Vec<LoggedEntry>> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, entries FROM window_log ORDER BY seq")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        let mut out = Vec::new();
        for (seq, blob) in rows.flatten() {
            out.extend(
                decode(&blob)
                    .into_iter()
                    .map(|entry| LoggedEntry { seq, entry }),
            );
        }
        Ok(out)
    }
}

/// Append one batch's entries as one row, recording `last_ingest_ms` with it, and drop the
/// rows below `trim_below`. Returns whether a row was appended: when none was, the caller
/// records the sequence and the last ingest in the counters instead ([`newest`]).
pub(crate) fn put_window(
    tx: &Transaction<'_>,
    seq: i64,
    entries: &[WindowEntry],
    trim_below: Option<i64>,
    last_ingest_ms: i64,
) -> Result<bool> {
    if !entries.is_empty() {
        tx.prepare_cached(
            "INSERT INTO window_log(seq, entries, ingested_at_ms) VALUES(?1, ?2, ?3)",
        )?
        .execute(params![seq, encode(entries), last_ingest_ms])?;
    }
    if let Some(below) = trim_below {
        tx.prepare_cached("DELETE FROM window_log WHERE seq < ?1")?
            .execute(params![below])?;
    }
    Ok(!entries.is_empty())
}

/// The sequence of the last batch committed and the last ingest (0: none), as stored: the
/// counters, unless the newest log row is newer. Every batch either appends a row or writes
/// the counters, and a row is only dropped by a later batch, so the newer of the two is the
/// last batch's.
pub(crate) fn newest(conn: &Connection) -> Result<(i64, i64)> {
    let counted = (
        crate::counter_of(conn, BATCH_SEQ)?,
        crate::counter_of(conn, crate::LAST_INGEST)?,
    );
    let logged: Option<(i64, i64)> = conn
        .query_row(
            "SELECT seq, ingested_at_ms FROM window_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(match logged {
        Some(row) if row.0 > counted.0 => row,
        _ => counted,
    })
}

/// host_id and service_id as LEB128 varints (Centreon's ids are small), the fingerprint as 8
/// bytes little-endian: about 12 bytes an entry.
fn encode(entries: &[WindowEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 14);
    for e in entries {
        varint(&mut out, e.host_id);
        varint(&mut out, e.service_id);
        out.extend_from_slice(&e.fingerprint.to_le_bytes());
    }
    out
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The entries of a row; a truncated tail is dropped.
fn decode(mut blob: &[u8]) -> Vec<WindowEntry> {
    fn take_varint(b: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = b.split_first()?;
            *b = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(v);
            }
        }
        None
    }
    let mut out = Vec::new();
    while !blob.is_empty() {
        let (Some(host_id), Some(service_id)) = (take_varint(&mut blob), take_varint(&mut blob))
        else {
            break;
        };
        let Some((fp, rest)) = blob.split_first_chunk::<8>() else {
            break;
        };
        blob = rest;
        out.push(WindowEntry {
            host_id,
            service_id,
            fingerprint: u64::from_le_bytes(*fp),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_a_truncated_tail_is_dropped() {
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
        let blob = encode(&entries);
        assert_eq!(decode(&blob), entries);
        assert_eq!(decode(&blob[..blob.len() - 1]), entries[..1]);
        assert!(decode(&[0xff; 3]).is_empty());
    }
}
