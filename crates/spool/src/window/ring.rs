//! Which slot of the window log holds what, and the writes of one batch.
//!
//! Design constraints:
//! - **One page, overwritten in place.** A slot is a blob one page long, always of the same
//!   size, so that SQLite overwrites its page where it is: a steady batch writes the page(s)
//!   of its entries and nothing else (no B-tree interior page, no free-list page, no header
//!   page). Small batches share the open slot; a batch that does not fit closes it and goes on
//!   in another.
//! - **Dead slots are reused, never deleted.** A trim raises the watermark; a slot whose
//!   records are all below it goes to the free list, and its old bytes stay until a later
//!   batch overwrites them. The watermark is written in every slot written, so the newest
//!   slot (the open one) carries the latest: at load, records below the highest watermark
//!   are dead.
//! - **Changed only after the commit.** [`Ring::put`] changes a copy; the spool keeps it once
//!   the transaction commits, so a failed batch leaves the ring as the disk has it.

use super::slot::{self, Record};
use super::{LoggedEntry, WindowEntry};
use crate::Result;
use rusqlite::{params, Connection, Transaction};
use std::collections::BTreeMap;

/// Bytes of a slot below the page size: what SQLite needs beside the blob in a leaf page that
/// holds one record (kept with a margin, so that a slot never spills into an overflow page).
const PAGE_MARGIN: usize = 64;

/// The window log's slots, as the last commit left them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ring {
    /// Blob size of a slot.
    slot_bytes: usize,
    /// Records below this sequence are dead.
    watermark: i64,
    /// Full slots with live records: slot → the newest sequence in it.
    closed: BTreeMap<i64, i64>,
    /// Slots whose records are all dead, to overwrite.
    free: Vec<i64>,
    /// Slots in the table: ids `0..slots`.
    slots: i64,
    /// The slot the next records go to.
    open: Option<Open>,
}

#[derive(Debug, Clone)]
struct Open {
    slot: i64,
    /// Its records, encoded.
    records: Vec<u8>,
    /// The newest sequence in it.
    newest: i64,
}

/// What [`Ring::load`] read.
pub(crate) struct Loaded {
    pub ring: Ring,
    /// The live entries, in commit order.
    pub entries: Vec<LoggedEntry>,
    /// The newest record's sequence and last ingest, dead or alive.
    pub newest: Option<(i64, i64)>,
}

impl Ring {
    /// Read every slot. A slot that cannot be read is reused (its entries only weakened
    /// replay detection; they page nobody).
    pub(crate) fn load(conn: &Connection) -> Result<Loaded> {
        let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let mut ring = Ring {
            slot_bytes: (page.max(1024) as usize).saturating_sub(PAGE_MARGIN),
            ..Ring::default()
        };
        let mut slots = Vec::new();
        let mut stmt = conn.prepare("SELECT slot, data FROM window_slots ORDER BY slot")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        for row in rows {
            let (id, blob) = row?;
            ring.slots = ring.slots.max(id + 1);
            let decoded = slot::decode_slot(&blob).unwrap_or_default();
            ring.watermark = ring.watermark.max(decoded.watermark);
            slots.push((id, decoded));
        }
        // The open slot holds the newest record.
        let newest = slots
            .iter()
            .flat_map(|(id, d)| d.records.iter().map(move |r| ((r.seq, r.part), *id, r)))
            .max_by_key(|&(order, _, _)| order);
        let open_id = newest.map(|(_, id, _)| id);
        let newest = newest.map(|(_, _, r)| (r.seq, r.ingested_at_ms));
        let mut live: Vec<&Record> = Vec::new();
        for (id, decoded) in &slots {
            let newest_seq = decoded.records.iter().map(|r| r.seq).max();
            let alive = newest_seq.filter(|&seq| seq >= ring.watermark);
            if Some(*id) == open_id {
                ring.open = Some(Open {
                    slot: *id,
                    records: alive.map_or_else(Vec::new, |_| decoded.readable.clone()),
                    newest: newest_seq.unwrap_or(i64::MIN),
                });
            } else if let Some(seq) = alive {
                ring.closed.insert(*id, seq);
            } else {
                ring.free.push(*id);
            }
            live.extend(decoded.records.iter().filter(|r| r.seq >= ring.watermark));
        }
        live.sort_by_key(|r| (r.seq, r.part));
        let entries = live
            .into_iter()
            .flat_map(|r| {
                r.entries
                    .iter()
                    .map(move |&entry| LoggedEntry { seq: r.seq, entry })
            })
            .collect();
        Ok(Loaded {
            ring,
            entries,
            newest,
        })
    }

    /// Log one batch's entries under `seq` after dropping the records below `trim_below`;
    /// whether a record was written.
    pub(crate) fn put(
        &mut self,
        tx: &Transaction<'_>,
        seq: i64,
        entries: &[WindowEntry],
        trim_below: Option<i64>,
        ingested_at_ms: i64,
    ) -> Result<bool> {
        let mut dirty = false;
        if let Some(below) = trim_below.filter(|&b| b > self.watermark) {
            self.trim(below);
            dirty = self.open.is_some();
        }
        // Resource order makes ids small deltas; a resource's own entries keep their order.
        let mut sorted = entries.to_vec();
        sorted.sort_by_key(|e| (e.host_id, e.service_id));
        let mut rest = &sorted[..];
        let mut part = 0;
        while !rest.is_empty() {
            let room = self.room();
            let open = self.open_slot();
            let (bytes, taken) = slot::encode_record(seq, ingested_at_ms, part, rest, room);
            if taken == 0 {
                // Full (or an entry larger than a slot, which varints cannot make).
                if open.records.is_empty() {
                    break;
                }
                self.close(tx)?;
                continue;
            }
            open.records.extend_from_slice(&bytes);
            open.newest = seq;
            rest = &rest[taken..];
            part += 1;
            dirty = true;
        }
        if dirty {
            if let Some(open) = &self.open {
                self.write(tx, open.slot, &open.records)?;
            }
        }
        Ok(!entries.is_empty())
    }

    fn trim(&mut self, below: i64) {
        self.watermark = below;
        let dead: Vec<i64> = self
            .closed
            .iter()
            .filter(|&(_, &newest)| newest < below)
            .map(|(&slot, _)| slot)
            .collect();
        for slot in dead {
            self.closed.remove(&slot);
            self.free.push(slot);
        }
        if let Some(open) = &mut self.open {
            if open.newest < below {
                open.records.clear();
            }
        }
    }

    /// Bytes left in the open slot (a whole slot when none is open).
    fn room(&self) -> usize {
        let used = self.open.as_ref().map_or(0, |o| o.records.len());
        self.capacity().saturating_sub(used)
    }

    fn capacity(&self) -> usize {
        self.slot_bytes.saturating_sub(slot::HEADER)
    }

    fn open_slot(&mut self) -> &mut Open {
        let (free, slots) = (&mut self.free, &mut self.slots);
        self.open.get_or_insert_with(|| {
            let slot = free.pop().unwrap_or_else(|| {
                *slots += 1;
                *slots - 1
            });
            Open {
                slot,
                records: Vec::new(),
                newest: i64::MIN,
            }
        })
    }

    /// Write the open slot as it is and close it.
    fn close(&mut self, tx: &Transaction<'_>) -> Result<()> {
        if let Some(open) = self.open.take() {
            self.write(tx, open.slot, &open.records)?;
            self.closed.insert(open.slot, open.newest);
        }
        Ok(())
    }

    fn write(&self, tx: &Transaction<'_>, slot: i64, records: &[u8]) -> Result<()> {
        tx.prepare_cached(
            "INSERT INTO window_slots(slot, data) VALUES(?1, ?2)
             ON CONFLICT(slot) DO UPDATE SET data = excluded.data",
        )?
        .execute(params![
            slot,
            slot::encode_slot(self.watermark, records, self.slot_bytes)
        ])?;
        Ok(())
    }
}
