//! The byte format of one slot of the window log (see the module above).
//!
//! A slot is a blob of a fixed size, so that SQLite overwrites it in place:
//!
//! ```text
//! [format: u8 = 1][watermark: i64 LE][used: u16 LE][records: used bytes][zeros]
//! record = seq, ingested_at_ms, part, n (varints), then n entries
//! entry  = host_id - previous host_id (varint), service_id - previous service_id (zigzag
//!          varint), fingerprint (8 bytes LE); "previous" is the record's entry before, 0 first
//! ```
//!
//! A record's entries are in resource order (the caller sorts them, keeping each resource's
//! own entries in their order, which is all a replay window needs), so that an id takes a byte
//! or two: about 10 bytes an entry.
//!
//! `watermark`: records of a lower sequence are dead (their entries are covered by state rows
//! written since). `part` numbers the records of one batch that did not fit in one slot. It
//! owns the format only: which slot holds what is `ring`'s.

use super::WindowEntry;

/// Bytes before the records.
pub(super) const HEADER: usize = 11;
const FORMAT: u8 = 1;

/// One batch's entries, or the part of them that fitted in a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    pub seq: i64,
    pub ingested_at_ms: i64,
    pub part: u64,
    pub entries: Vec<WindowEntry>,
}

/// A slot's blob of `size` bytes: the header, then `records` (already encoded), then zeros.
pub(super) fn encode_slot(watermark: i64, records: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size.max(HEADER + records.len()));
    out.push(FORMAT);
    out.extend_from_slice(&watermark.to_le_bytes());
    out.extend_from_slice(&(records.len() as u16).to_le_bytes());
    out.extend_from_slice(records);
    out.resize(size.max(out.len()), 0);
    out
}

/// What a slot holds.
#[derive(Debug, Default)]
pub(super) struct Decoded {
    pub watermark: i64,
    pub records: Vec<Record>,
    /// The records' bytes that could be read, to append after.
    pub readable: Vec<u8>,
}

/// A slot's watermark and records; `None` when the blob is not a slot of this format. A
/// truncated record ends the list.
pub(super) fn decode_slot(blob: &[u8]) -> Option<Decoded> {
    let (&format, rest) = blob.split_first()?;
    let (watermark, rest) = rest.split_first_chunk::<8>()?;
    let (used, rest) = rest.split_first_chunk::<2>()?;
    if format != FORMAT {
        return None;
    }
    let used = usize::from(u16::from_le_bytes(*used));
    let all = &rest[..used.min(rest.len())];
    let mut body = all;
    let mut records = Vec::new();
    let mut readable = 0;
    while !body.is_empty() {
        let Some(record) = take_record(&mut body) else {
            break;
        };
        records.push(record);
        readable = all.len() - body.len();
    }
    Some(Decoded {
        watermark: i64::from_le_bytes(*watermark),
        records,
        readable: all[..readable].to_vec(),
    })
}

/// Encode a record of as many of `entries` as fit in `room` bytes; the bytes and how many
/// entries they hold (0: not even one fits).
pub(super) fn encode_record(
    seq: i64,
    ingested_at_ms: i64,
    part: u64,
    entries: &[WindowEntry],
    room: usize,
) -> (Vec<u8>, usize) {
    let mut body = Vec::new();
    let mut n = 0;
    let mut header = record_header(seq, ingested_at_ms, part, 0);
    let mut prev = WindowEntry::default();
    for e in entries {
        let before = body.len();
        encode_delta(&mut body, &prev, e);
        let head = record_header(seq, ingested_at_ms, part, n as u64 + 1);
        if head.len() + body.len() > room {
            body.truncate(before);
            break;
        }
        header = head;
        prev = *e;
        n += 1;
    }
    if n == 0 {
        return (Vec::new(), 0);
    }
    header.extend_from_slice(&body);
    (header, n)
}

fn record_header(seq: i64, ingested_at_ms: i64, part: u64, n: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(24);
    varint(&mut out, seq.max(0) as u64);
    varint(&mut out, ingested_at_ms.max(0) as u64);
    varint(&mut out, part);
    varint(&mut out, n);
    out
}

fn take_record(body: &mut &[u8]) -> Option<Record> {
    let seq = take_varint(body)? as i64;
    let ingested_at_ms = take_varint(body)? as i64;
    let part = take_varint(body)?;
    let n = take_varint(body)?;
    let mut entries = Vec::new();
    let mut prev = WindowEntry::default();
    for _ in 0..n {
        prev = take_delta(body, &prev)?;
        entries.push(prev);
    }
    Some(Record {
        seq,
        ingested_at_ms,
        part,
        entries,
    })
}

fn encode_delta(out: &mut Vec<u8>, prev: &WindowEntry, e: &WindowEntry) {
    varint(out, e.host_id.wrapping_sub(prev.host_id));
    let d = e.service_id.wrapping_sub(prev.service_id) as i64;
    varint(out, ((d << 1) ^ (d >> 63)) as u64);
    out.extend_from_slice(&e.fingerprint.to_le_bytes());
}

fn take_delta(b: &mut &[u8], prev: &WindowEntry) -> Option<WindowEntry> {
    let host_id = prev.host_id.wrapping_add(take_varint(b)?);
    let z = take_varint(b)?;
    let d = ((z >> 1) as i64) ^ -((z & 1) as i64);
    let service_id = prev.service_id.wrapping_add(d as u64);
    let (fp, rest) = b.split_first_chunk::<8>()?;
    *b = rest;
    Some(WindowEntry {
        host_id,
        service_id,
        fingerprint: u64::from_le_bytes(*fp),
    })
}

/// The entry format of schema 8's rows: host_id and service_id as LEB128 varints, the
/// fingerprint as 8 bytes little-endian.
#[cfg(test)]
pub(super) fn encode_entry(out: &mut Vec<u8>, e: &WindowEntry) {
    varint(out, e.host_id);
    varint(out, e.service_id);
    out.extend_from_slice(&e.fingerprint.to_le_bytes());
}

/// An entry of a schema-8 row.
pub(super) fn take_entry(b: &mut &[u8]) -> Option<WindowEntry> {
    let host_id = take_varint(b)?;
    let service_id = take_varint(b)?;
    let (fp, rest) = b.split_first_chunk::<8>()?;
    *b = rest;
    Some(WindowEntry {
        host_id,
        service_id,
        fingerprint: u64::from_le_bytes(*fp),
    })
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(service_id: u64, fingerprint: u64) -> WindowEntry {
        WindowEntry {
            host_id: 300_000,
            service_id,
            fingerprint,
        }
    }

    #[test]
    fn a_slot_round_trips_and_a_record_takes_what_fits() {
        let entries: Vec<_> = (0..10).map(|n| entry(n, u64::MAX - n)).collect();
        let (one, n) = encode_record(7, 1_781_000_000_000, 0, &entries, 100);
        assert!(
            n > 0 && n < 10 && one.len() <= 100,
            "{n} entries in {}",
            one.len()
        );
        let (two, m) = encode_record(7, 1_781_000_000_000, 1, &entries[n..], 4000);
        assert_eq!(m, 10 - n);
        let blob = encode_slot(5, &[one.clone(), two.clone()].concat(), 4032);
        assert_eq!(blob.len(), 4032);
        let Decoded {
            watermark,
            records,
            readable,
        } = decode_slot(&blob).unwrap();
        assert_eq!(watermark, 5);
        assert_eq!(records.len(), 2);
        assert_eq!(readable.len(), one.len() + two.len());
        assert_eq!((records[1].seq, records[1].part), (7, 1));
        let back: Vec<_> = records.into_iter().flat_map(|r| r.entries).collect();
        assert_eq!(back, entries);
        assert_eq!(encode_record(7, 0, 0, &entries, 3), (Vec::new(), 0));
        // Ids at the ends of their range (deltas wrap).
        let extreme = vec![
            WindowEntry {
                host_id: 0,
                service_id: u64::MAX,
                fingerprint: 1,
            },
            WindowEntry {
                host_id: u64::MAX,
                service_id: 0,
                fingerprint: 2,
            },
        ];
        let (rec, n) = encode_record(1, 2, 0, &extreme, 4000);
        assert_eq!(n, 2);
        let back = decode_slot(&encode_slot(0, &rec, 0)).unwrap();
        assert_eq!(back.records[0].entries, extreme);
    }

    #[test]
    fn a_damaged_slot_gives_what_can_be_read() {
        let (first, _) = encode_record(3, 9, 0, &[entry(1, 2)], 4000);
        let (second, _) = encode_record(4, 9, 0, &[entry(3, 4)], 4000);
        let blob = encode_slot(0, &[first.clone(), second].concat(), 0);
        // Cut inside the second record: the first is kept.
        let cut = decode_slot(&blob[..blob.len() - 3]).unwrap();
        assert_eq!(cut.records.len(), 1);
        assert_eq!(cut.readable, first);
        let records = cut.records;
        assert_eq!(records[0].entries, vec![entry(1, 2)]);
        assert!(decode_slot(&[2; 40]).is_none(), "another format");
        assert!(decode_slot(&[1, 0]).is_none(), "too short");
    }
}
