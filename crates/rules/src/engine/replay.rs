//! Identities and storage around one event (DESIGN §4.2, Replays): the fingerprint of a full
//! status, the identity of a downtime, and the take/put of a resource's state, which decides
//! whether the event changed something worth storing.

use crate::state::{Fnv, ResourceState};
use crate::store::Store;
use broker::{Downtime, ResourceId, Status};

/// A downtime's identity: (id, entry_time, start_time). Engine re-numbers downtimes from its
/// scheduled ones at each start, so an id alone comes back for another downtime.
pub fn downtime_key(d: &Downtime) -> u64 {
    Fnv::default()
        .write(b"downtime")
        .int(Some(d.id as i64))
        .int(d.entry_time)
        .int(d.start_time)
        .finish()
}

/// Replay detection (DESIGN §4.2): a full status identical in (`last_check`, state, state
/// type, attempt, acknowledgement, downtime depth, notifications) to a recent one.
pub fn fingerprint(st: &Status) -> u64 {
    Fnv::default()
        .int(st.last_check)
        .int(Some(i64::from(st.state)))
        .int(Some(i64::from(st.hard)))
        .int(st.attempt)
        .int(st.ack.map(i64::from))
        .int(st.downtime_depth)
        .int(st.notify.map(i64::from))
        .finish()
}

/// How a patch event is recognised as a replay.
pub(super) enum ReplayCheck {
    /// By its content, which includes its own time; it anchors the untimed patches after it.
    Timed { content: u64, time: Option<i64> },
    /// By its content after the current anchor (adaptive statuses carry no time).
    Untimed(u64),
    /// A downtime's start: a replay when that downtime already ended (see [`downtime_key`]).
    Downtime { key: u64, time: Option<i64> },
    /// Not at all: applied as it comes (definitions are configuration).
    None,
}

/// Take a resource's state out of the store for the duration of an event; `true` when the
/// resource is new. With `replay_check`, `None` means "replay: ignore".
pub(super) fn take(
    store: &mut impl Store,
    id: ResourceId,
    replay_check: Option<u64>,
) -> Option<(ResourceState, bool)> {
    let (mut rs, new) = match store.resource(id) {
        Some(rs) => (std::mem::take(rs), false),
        None => (ResourceState::default(), true),
    };
    if let Some(fp) = replay_check {
        if rs.remember(fp) {
            restore(store, id, rs);
            return None;
        }
    }
    Some((rs, new))
}

/// Put a state taken by [`take`] back as it is, for an event that changed nothing worth a write
/// (a replay, or history from before a resync's gap).
pub(super) fn restore(store: &mut impl Store, id: ResourceId, rs: ResourceState) {
    if let Some(slot) = store.resource(id) {
        *slot = rs;
    }
}

/// A copy to compare with after the event (see [`same_but_window`]), its replay window left out.
pub(super) fn snapshot(rs: &mut ResourceState) -> ResourceState {
    let recent = std::mem::take(&mut rs.recent);
    let before = rs.clone();
    rs.recent = recent;
    before
}

/// Put the state back after a full status (`before` is its [`snapshot`]): a new resource is
/// inserted; a status that changed nothing but the replay window and the times (last check,
/// seen) is only `remembered` (its fingerprint must survive a restart, see [`put`]); any other
/// is marked changed.
pub(super) fn put_status(
    store: &mut impl Store,
    id: ResourceId,
    mut rs: ResourceState,
    before: Option<ResourceState>,
    new: bool,
    fingerprint: u64,
) {
    if new {
        store.insert_resource(id, rs);
        return;
    }
    let steady = before.is_some_and(|mut before| {
        before.seen_at = rs.seen_at;
        before.anchor = rs.anchor;
        same_but_window(before, &mut rs)
    });
    if let Some(slot) = store.resource(id) {
        *slot = rs;
    }
    if steady {
        store.remembered(id, fingerprint);
    } else {
        store.mark_changed(id);
    }
}

/// Put the state back and mark it changed (to be stored) unless `before` shows that nothing but
/// the last check moved. A full status always passes `None`: its fingerprint joined the replay
/// window, which must survive a restart, or a Broker replay after it would apply old statuses
/// again (an old OK resolving an open incident, an old problem paging again).
pub(super) fn put(
    store: &mut impl Store,
    id: ResourceId,
    mut rs: ResourceState,
    before: Option<ResourceState>,
    new: bool,
) {
    if new {
        store.insert_resource(id, rs);
        return;
    }
    let changed = before.is_none_or(|before| !same_but_window(before, &mut rs));
    if let Some(slot) = store.resource(id) {
        *slot = rs;
    }
    if changed {
        store.mark_changed(id);
    }
}

/// `rs` equals its [`snapshot`] `before` but for the last check and the replay window (which a
/// snapshot leaves out): compared without `rs`'s window rather than with a copy of it.
fn same_but_window(mut before: ResourceState, rs: &mut ResourceState) -> bool {
    before.last_check = rs.last_check;
    let recent = std::mem::take(&mut rs.recent);
    let same = before == *rs;
    rs.recent = recent;
    same
}
