//! The rules' [`rules::Store`] over the spool: resource states and names are read through from
//! SQLite on first use and kept in memory; what an ingest batch changes is collected and written
//! in the batch's transaction.
//!
//! Invariant: after a batch whose transaction failed, [`StateCache::forget`] drops every entry
//! the batch touched, so memory never holds a state that is not on disk.
//!
//! [`Ingest`] is the rules' whole in-memory state (the engine, this cache, the pollers warned
//! about their clock), behind one lock in the shared state; `ingest` runs batches through it.

use super::state::now_ms;
use super::window::WindowLog;
use broker::{IdMap, IdSet, ResourceId};
use rules::state::{Gap, ResourceState};
use rules::Engine;
use spool::{NameRow, ResourceKey, Spool, StateRow};

fn key(id: ResourceId) -> ResourceKey {
    ResourceKey {
        host_id: id.host_id,
        service_id: id.service_id,
    }
}
use std::collections::HashSet;

/// Above this many cached resources, the entries the last batch did not touch are dropped
/// after its commit: memory stays bounded whatever the number of resources (a state is under
/// 1 KiB in memory), and the spool, where every committed state is, answers the misses.
const MAX_CACHED: usize = 20_000;

#[derive(Default)]
pub struct StateCache {
    states: IdMap<Option<ResourceState>>,
    names: IdMap<Option<String>>,
    /// The replay window entries no state row covers yet.
    pub window: WindowLog,
    /// Failed reads (damaged rows), for the operator's log.
    pub read_errors: Vec<String>,
}

/// The store the engine sees during one batch.
pub struct BatchStore<'a> {
    pub cache: &'a mut StateCache,
    pub spool: &'a Spool,
    pub touched: IdSet,
    pub changed: IdSet,
    pub changed_names: IdSet,
    /// Statuses that changed nothing but their resource's replay window: (resource, fingerprint).
    pub remembered: Vec<(ResourceId, u64)>,
}

impl<'a> BatchStore<'a> {
    pub fn new(cache: &'a mut StateCache, spool: &'a Spool) -> Self {
        Self {
            cache,
            spool,
            touched: IdSet::default(),
            changed: IdSet::default(),
            changed_names: IdSet::default(),
            remembered: Vec::new(),
        }
    }

    /// The rows the window log wants rewritten join the batch's changes (it stays short).
    pub fn rewrite_for_window_log(&mut self) {
        for id in self.cache.window.to_rewrite() {
            if rules::Store::resource(self, id).is_some() {
                self.changed.insert(id);
            }
        }
    }

    /// The fingerprints to log: those of resources whose row this batch does not write.
    pub fn take_remembered(&mut self) -> Vec<(ResourceId, u64)> {
        let mut remembered = std::mem::take(&mut self.remembered);
        remembered.retain(|(id, _)| !self.changed.contains(id));
        remembered
    }

    /// The batch's state changes, ready for the spool.
    pub fn take_changes(&mut self) -> (Vec<StateRow>, Vec<NameRow>) {
        let states = self
            .changed
            .iter()
            .filter_map(|id| {
                let st = self.cache.states.get(id)?.as_ref()?;
                Some(StateRow {
                    resource: key(*id),
                    state: st.to_json(),
                })
            })
            .collect();
        let names = self
            .changed_names
            .iter()
            .filter_map(|id| {
                let n = self.cache.names.get(id)?.as_ref()?;
                Some(NameRow {
                    resource: key(*id),
                    name: n.clone(),
                })
            })
            .collect();
        (states, names)
    }
}

impl BatchStore<'_> {
    /// The open-incident rows to write: upserts for resources that sent something in this
    /// batch (`sent`: resource → display name), deletions for changed ones without incident.
    pub fn incident_rows(
        &self,
        sent: &IdMap<String>,
        now_ms: i64,
    ) -> (Vec<spool::IncidentRow>, Vec<ResourceKey>) {
        let mut open = Vec::new();
        let mut closed = Vec::new();
        for id in &self.changed {
            let incident = self
                .cache
                .states
                .get(id)
                .and_then(Option::as_ref)
                .and_then(|s| s.incident.as_ref());
            match incident {
                Some(i) => {
                    if let Some(name) = sent.get(id) {
                        open.push(spool::IncidentRow {
                            host_id: id.host_id,
                            service_id: id.service_id,
                            dedup_key: i.dedup_key.clone(),
                            resource: name.clone(),
                            route: i.route.clone(),
                            opened_at_ms: i.opened_at.saturating_mul(1000),
                            acked: i.acked,
                            last_event_at_ms: now_ms,
                        });
                    }
                }
                None => closed.push(key(*id)),
            }
        }
        (open, closed)
    }
}

impl rules::Store for BatchStore<'_> {
    fn resource(&mut self, id: ResourceId) -> Option<&mut ResourceState> {
        self.touched.insert(id);
        if !self.cache.states.contains_key(&id) {
            let gap = self.spool.gap().map(|g| Gap {
                middle: g.middle_ms / 1000,
                until: g.until_ms / 1000,
                clock_lead: g.clock_lead_s,
            });
            let loaded = match self.spool.resource_state(id.host_id, id.service_id) {
                Ok(Some(stored)) => match ResourceState::from_json(&stored.json).map(|mut st| {
                    if !stored.stale {
                        self.cache.window.complete(id, &mut st, stored.log_seq);
                    }
                    st
                }) {
                    // A resync recorded before the gap was: recognise nothing from before it.
                    Ok(st) if stored.stale => Some(st.resynced(gap.unwrap_or(Gap {
                        middle: 0,
                        until: 0,
                        clock_lead: None,
                    }))),
                    Ok(st) => Some(st),
                    Err(e) => {
                        self.cache.read_errors.push(format!("{id}: {e}"));
                        None
                    }
                },
                // First seen soon after a resync: its first events may be from before the gap.
                // First seen by a node of a cluster, or since a resync: the other node may have
                // an incident open for it.
                Ok(None) => gap
                    .filter(|g| now_ms() / 1000 < g.until)
                    .and_then(ResourceState::first_seen_after)
                    .or_else(|| {
                        self.spool
                            .pagerduty_state_unknown()
                            .then(ResourceState::first_seen_maybe_open)
                    }),
                Err(e) => {
                    self.cache.read_errors.push(format!("{id}: {e}"));
                    None
                }
            };
            self.cache.states.insert(id, loaded);
        }
        self.cache.states.get_mut(&id).and_then(Option::as_mut)
    }

    fn insert_resource(&mut self, id: ResourceId, state: ResourceState) -> &mut ResourceState {
        self.touched.insert(id);
        self.changed.insert(id);
        self.cache
            .states
            .entry(id)
            .insert_entry(Some(state))
            .into_mut()
            .get_or_insert_with(ResourceState::default)
    }

    fn mark_changed(&mut self, id: ResourceId) {
        self.changed.insert(id);
    }

    fn remembered(&mut self, id: ResourceId, fingerprint: u64) {
        self.touched.insert(id);
        self.remembered.push((id, fingerprint));
    }

    fn name(&mut self, id: ResourceId) -> Option<String> {
        if !self.cache.names.contains_key(&id) {
            let loaded = self.spool.name(id.host_id, id.service_id).ok().flatten();
            self.cache.names.insert(id, loaded);
        }
        self.cache.names.get(&id).cloned().flatten()
    }

    fn set_name(&mut self, id: ResourceId, name: &str) {
        if self.name(id).as_deref() != Some(name) {
            self.touched.insert(id);
            self.cache.names.insert(id, Some(name.to_owned()));
            self.changed_names.insert(id);
        }
    }
}

impl StateCache {
    /// Drop what a failed batch touched: the next read comes from disk.
    pub fn forget(&mut self, touched: &IdSet) {
        for id in touched {
            self.states.remove(id);
            self.names.remove(id);
        }
    }

    /// Keep memory bounded (everything is on disk after a commit): over [`MAX_CACHED`]
    /// entries, keep only what the batch just committed touched.
    pub fn trim(&mut self, touched: &IdSet) {
        if self.states.len() > MAX_CACHED {
            self.states.retain(|id, _| touched.contains(id));
            self.states.shrink_to(MAX_CACHED);
        }
        if self.names.len() > MAX_CACHED {
            self.names.retain(|id, _| touched.contains(id));
            self.names.shrink_to(MAX_CACHED);
        }
    }
}

/// The rules and their in-memory state; one batch at a time.
pub struct Ingest {
    pub engine: Engine,
    pub cache: StateCache,
    /// Pollers already warned about a clock that stepped back.
    pub(crate) skew_warned: HashSet<String>,
}

impl Ingest {
    /// `window`: the spool's window log, read at start.
    pub fn new(engine: Engine, window: WindowLog) -> Self {
        Self {
            engine,
            cache: StateCache {
                window,
                ..StateCache::default()
            },
            skew_warned: HashSet::new(),
        }
    }
}
