//! What the spool's tests share: deliveries and batches to write, a raw connection to the
//! database, and a way to damage one.
#![allow(dead_code)]

use spool::{Batch, NewDelivery, ResourceKey, StateRow, DB_FILE};

pub fn delivery(key: &str, action: &str, at: i64) -> NewDelivery {
    NewDelivery {
        dedup_key: key.into(),
        route: "default".into(),
        routing_key: "R0UT1NGKEY0000000000000000000001".into(),
        action: action.parse().unwrap(),
        body: format!("{{\"event_action\":\"{action}\"}}"),
        host_id: 1,
        service_id: 2,
        resource: "h/s".into(),
        ingested_at_ms: at,
        due_at_ms: at,
    }
}

pub fn batch(deliveries: Vec<NewDelivery>) -> Batch {
    Batch {
        deliveries,
        ..Batch::default()
    }
}

pub const RK: &str = "R0UT1NGKEY0000000000000000000001";

pub fn rusqlite_connection(dir: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join(DB_FILE)).unwrap()
}

/// Overwrite `pages` pages of 4 KiB in the middle of a closed spool's database file.
pub fn corrupt_middle(dir: &std::path::Path, pages: usize) {
    use std::io::{Seek, SeekFrom, Write};
    let path = dir.join(DB_FILE);
    let len = std::fs::metadata(&path).unwrap().len();
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.seek(SeekFrom::Start((len / 2) & !4095)).unwrap();
    f.write_all(&vec![0xA5; 4096 * pages]).unwrap();
    f.sync_all().unwrap();
}

/// A resource state row to store.
pub fn state_row(host_id: u64, service_id: u64, json: &str) -> StateRow {
    StateRow {
        resource: ResourceKey {
            host_id,
            service_id,
        },
        state: json.into(),
    }
}
