//! The replay window's log, in memory (the spool's `window` module has the format).
//!
//! Owns the log entries that no state row covers yet: per resource, the fingerprints of the
//! statuses that changed nothing but its replay window, with the sequence of the batch that
//! logged them. It completes a state read back from the spool ([`WindowLog::complete`]), learns
//! what each commit logged and wrote ([`WindowLog::committed`]), and says which resources'
//! rows to rewrite so that the log stays short ([`WindowLog::to_rewrite`]) and below which
//! sequence the spool may drop it ([`WindowLog::trim_due`]). It touches neither the spool nor
//! the rules: the ingest path carries what it says.
//!
//! Only a resource's last [`REPLAY_WINDOW`] entries are kept: applied to any older state, they
//! leave the same window, so older ones pin nothing in the spool's log. With a few thousand
//! resources the log then stays short without any row rewritten.
//!
//! Bounded in memory: above [`MEMORY_BUDGET`] (entries and resources holding them, counted at
//! what they cost), each batch rewrites the rows of the [`REWRITE_PER_BATCH`] resources with
//! the oldest entries. A budget rather than an entry count: with a few resources the log keeps
//! their whole windows and no row is rewritten, with tens of thousands each holds enough
//! entries that a rewrite is rare, and with hundreds of thousands it costs no more memory.

use broker::{IdMap, IdSet, ResourceId};
use rules::{ResourceState, REPLAY_WINDOW};
use spool::LoggedEntry;
use std::collections::{BTreeSet, VecDeque};

/// Memory the log may take before rows are rewritten.
const MEMORY_BUDGET: usize = 8 << 20;
/// What an entry costs: 16 bytes in its resource's queue, with the queue's spare capacity.
const ENTRY_BYTES: usize = 24;
/// What a resource holding entries costs beside them: its map slot, its queue's allocation
/// and its place in `oldest`.
const RESOURCE_BYTES: usize = 96;
/// Rows rewritten per batch while over [`MEMORY_BUDGET`].
const REWRITE_PER_BATCH: usize = 2_000;

#[derive(Debug, Default)]
pub struct WindowLog {
    /// Per resource, its entries (sequence, fingerprint), oldest first.
    pending: IdMap<VecDeque<(i64, u64)>>,
    /// Resources by the sequence of their oldest entry.
    oldest: BTreeSet<(i64, ResourceId)>,
    len: usize,
    /// The spool's log has no row below this sequence any more.
    trimmed_below: i64,
}

impl WindowLog {
    /// The spool's log, as read at start.
    pub fn load(entries: Vec<LoggedEntry>) -> WindowLog {
        let mut log = WindowLog::default();
        for e in entries {
            let id = ResourceId::service(e.entry.host_id, e.entry.service_id);
            log.add(id, e.seq, e.entry.fingerprint);
        }
        log
    }

    fn add(&mut self, id: ResourceId, seq: i64, fingerprint: u64) {
        let entries = self.pending.entry(id).or_default();
        if entries.is_empty() {
            self.oldest.insert((seq, id));
        }
        entries.push_back((seq, fingerprint));
        self.len += 1;
        if entries.len() > REPLAY_WINDOW {
            // Pushed out of the window by the newer ones: the oldest entry needed moves on.
            if let Some((gone, _)) = entries.pop_front() {
                self.oldest.remove(&(gone, id));
                self.len -= 1;
            }
            if let Some(&(next, _)) = entries.front() {
                self.oldest.insert((next, id));
            }
        }
    }

    fn drop_resource(&mut self, id: ResourceId) {
        if let Some(entries) = self.pending.remove(&id) {
            if let Some(&(seq, _)) = entries.front() {
                self.oldest.remove(&(seq, id));
            }
            self.len -= entries.len();
        }
    }

    /// Complete a state read back from the spool, whose row a batch of sequence `row_seq`
    /// wrote, with the fingerprints logged after it, in order.
    pub fn complete(&self, id: ResourceId, state: &mut ResourceState, row_seq: i64) {
        for &(seq, fp) in self.pending.get(&id).into_iter().flatten() {
            if seq > row_seq {
                state.remember(fp);
            }
        }
    }

    /// A batch of sequence `seq` was committed: it logged `logged` and wrote the rows of
    /// `written`, which cover every entry of those resources; its trim (if any) took effect.
    pub fn committed(
        &mut self,
        seq: i64,
        logged: &[(ResourceId, u64)],
        written: &IdSet,
        trimmed_below: Option<i64>,
    ) {
        for id in written {
            self.drop_resource(*id);
        }
        for &(id, fp) in logged {
            // A row written by the same batch covers it.
            if !written.contains(&id) {
                self.add(id, seq, fp);
            }
        }
        if let Some(t) = trimmed_below {
            self.trimmed_below = self.trimmed_below.max(t);
        }
    }

    /// Resources whose rows the next batch should rewrite, the oldest entries first.
    pub fn to_rewrite(&self) -> Vec<ResourceId> {
        if self.len * ENTRY_BYTES + self.pending.len() * RESOURCE_BYTES <= MEMORY_BUDGET {
            return Vec::new();
        }
        self.oldest
            .iter()
            .take(REWRITE_PER_BATCH)
            .map(|&(_, id)| id)
            .collect()
    }

    /// The sequence below which the spool may drop its log rows, when that frees any: the
    /// oldest entry still needed, or `next_seq` when none is.
    pub fn trim_due(&self, next_seq: i64) -> Option<i64> {
        let below = self.oldest.first().map_or(next_seq, |&(seq, _)| seq);
        (below > self.trimmed_below).then_some(below)
    }

    /// Entries held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> ResourceId {
        ResourceId::service(1, n)
    }

    #[test]
    fn a_row_written_covers_its_entries_and_the_log_trims_below_the_oldest_needed() {
        let mut log = WindowLog::default();
        let none = IdSet::default();
        log.committed(1, &[(id(1), 11), (id(2), 21)], &none, None);
        log.committed(2, &[(id(1), 12)], &none, None);
        assert_eq!(log.len(), 3);
        assert_eq!(log.trim_due(3), Some(1));
        let mut st = ResourceState::default();
        log.complete(id(1), &mut st, 1);
        assert_eq!(st.recent, vec![12], "only what came after the row");
        // Resource 1's row is written at 3: its entries go; 2's entry (seq 1) is still needed.
        log.committed(3, &[], &IdSet::from_iter([id(1)]), Some(1));
        assert_eq!(log.len(), 1);
        assert_eq!(log.trim_due(4), None, "nothing more to drop below 1");
        log.committed(4, &[], &IdSet::from_iter([id(2)]), None);
        assert_eq!(log.trim_due(5), Some(5));
        assert!(log.to_rewrite().is_empty());
    }

    #[test]
    fn a_resource_keeps_its_last_window_of_entries_and_older_ones_pin_nothing() {
        let mut log = WindowLog::default();
        let none = IdSet::default();
        for seq in 1..=40 {
            log.committed(seq, &[(id(1), 100 + seq as u64)], &none, None);
        }
        log.committed(41, &[(id(2), 7)], &none, None);
        assert_eq!(log.len(), REPLAY_WINDOW + 1);
        assert_eq!(
            log.trim_due(42),
            Some(9),
            "entries 1 to 8 are out of the window"
        );
        // Completing any older state gives the window the whole log would have given.
        let mut full = ResourceState::default();
        for fp in 0..50 {
            full.remember(fp);
        }
        let mut kept = full.clone();
        for seq in 1..=40 {
            full.remember(100 + seq);
        }
        log.complete(id(1), &mut kept, 0);
        assert_eq!(kept.recent, full.recent);
    }

    #[test]
    fn over_the_budget_the_oldest_resources_are_rewritten() {
        // One entry a resource costs 120 bytes: 69,000 of them are within 8 MiB, 70,000 not.
        let entries: Vec<_> = (0..70_000).map(|n| (id(n), n)).collect();
        let mut log = WindowLog::default();
        log.committed(1, &entries[..69_000], &IdSet::default(), None);
        assert!(log.to_rewrite().is_empty(), "within the budget");
        let mut log = WindowLog::default();
        log.committed(1, &entries[..10], &IdSet::default(), None);
        log.committed(2, &entries[10..], &IdSet::default(), None);
        let rewrite = log.to_rewrite();
        assert_eq!(rewrite.len(), REWRITE_PER_BATCH);
        assert!(rewrite[..10].iter().all(|r| (0..10).any(|n| *r == id(n))));
    }
}
