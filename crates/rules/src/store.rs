//! Where the engine reads and writes resource states and learnt names.
//!
//! The daemon backs this with an in-memory cache over the spool, and persists what the engine
//! marks as changed in the batch's transaction; `translate` and tests use [`MemoryStore`].

use crate::state::ResourceState;
use broker::ResourceId;
use std::collections::{HashMap, HashSet};

pub trait Store {
    /// The state of a resource, if one was ever stored.
    fn resource(&mut self, id: ResourceId) -> Option<&mut ResourceState>;
    /// Store a new resource's state and return it.
    fn insert_resource(&mut self, id: ResourceId, state: ResourceState) -> &mut ResourceState;
    /// The state of `id` changed in a way that must be persisted with this batch.
    fn mark_changed(&mut self, id: ResourceId);
    /// A full status changed nothing of `id` but its replay window (and its last check): only
    /// `fingerprint`, now the newest of the window, must be persisted, so that a replay of it
    /// is recognised after a restart. A store may persist the whole state instead (the
    /// default).
    fn remembered(&mut self, id: ResourceId, fingerprint: u64) {
        let _ = fingerprint;
        self.mark_changed(id);
    }
    /// A name learnt from a definition event: the host name for a host, the service
    /// description for a service.
    fn name(&mut self, id: ResourceId) -> Option<String>;
    fn set_name(&mut self, id: ResourceId, name: &str);
}

/// A store that lives in memory only.
#[derive(Debug, Default)]
pub struct MemoryStore {
    pub resources: HashMap<ResourceId, ResourceState>,
    pub names: HashMap<ResourceId, String>,
    /// Resources marked changed since the last [`MemoryStore::take_changed`].
    pub changed: HashSet<ResourceId>,
    pub changed_names: HashSet<ResourceId>,
}

impl MemoryStore {
    pub fn take_changed(&mut self) -> (HashSet<ResourceId>, HashSet<ResourceId>) {
        (
            std::mem::take(&mut self.changed),
            std::mem::take(&mut self.changed_names),
        )
    }
}

impl Store for MemoryStore {
    fn resource(&mut self, id: ResourceId) -> Option<&mut ResourceState> {
        self.resources.get_mut(&id)
    }
    fn insert_resource(&mut self, id: ResourceId, state: ResourceState) -> &mut ResourceState {
        self.changed.insert(id);
        self.resources.entry(id).insert_entry(state).into_mut()
    }
    fn mark_changed(&mut self, id: ResourceId) {
        self.changed.insert(id);
    }
    fn name(&mut self, id: ResourceId) -> Option<String> {
        self.names.get(&id).cloned()
    }
    fn set_name(&mut self, id: ResourceId, name: &str) {
        if self.names.get(&id).map(String::as_str) != Some(name) {
            self.names.insert(id, name.to_owned());
            self.changed_names.insert(id);
        }
    }
}
