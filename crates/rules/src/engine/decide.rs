//! The rules of DESIGN §4.2 that are pure predicates of a resource's state and a status:
//! first sight, when a trigger is owed, when a non-sticky acknowledgement ends, when an
//! acknowledgement applies to the open incident.

use crate::state::{Ack, Incident, ResourceState};
use broker::{StateCode, Status, PENDING};

/// How a resource's first status is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstSight {
    Trigger,
    Resolve,
    Record,
}

/// First sight (DESIGN §4.2): a HARD problem triggers; a HARD OK/UP whose hard state changed
/// at this very check resolves; anything else is recorded silently.
pub fn first_sight(st: &Status, problem_now: bool, hard_only: bool) -> FirstSight {
    if problem_now && (st.hard || !hard_only) && st.state != PENDING {
        FirstSight::Trigger
    } else if st.hard
        && st.state == 0
        && matches!((st.last_hard_state_change, st.last_check), (Some(changed), Some(check)) if changed >= check)
    {
        FirstSight::Resolve
    } else {
        FirstSight::Record
    }
}

/// Trigger on every transition of the effective state into a paging state from a different
/// state; volatile services on every HARD non-OK result. An open incident already showing the
/// same state needs nothing.
pub fn trigger_is_owed(
    rs: &ResourceState,
    prev_effective: Option<StateCode>,
    effective: Option<StateCode>,
    problem_now: bool,
    st: &Status,
) -> bool {
    if !problem_now {
        return false;
    }
    if rs.volatile && st.hard && st.state != 0 && st.state != PENDING {
        return true;
    }
    if effective == prev_effective {
        return rs.owed;
    }
    rs.incident
        .as_ref()
        .is_none_or(|i| Some(i.state) != effective || i.acked)
}

/// Engine's rule: a non-sticky acknowledgement ends when the problem changes to another
/// non-OK state.
pub fn ack_ended_by_state_change(
    rs: &ResourceState,
    prev_state: Option<StateCode>,
    st: &Status,
) -> bool {
    let Some(ack) = &rs.ack else {
        return false;
    };
    let acked_state = ack.state.or(prev_state);
    !ack.sticky
        && st.state != 0
        && acked_state.is_some_and(|s| s != st.state)
        && st.ack.is_none_or(|a| a == 0)
}

/// An acknowledgement applies to the open incident when a status showed it, or when its
/// `entry_time` is not older than the check that opened the incident.
pub fn ack_applies(ack: &Ack, incident: &Incident) -> bool {
    ack.from_status || ack.entry_time.is_none_or(|t| t >= incident.opened_check)
}
