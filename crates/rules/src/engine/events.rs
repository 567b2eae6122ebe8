//! How each kind of event updates what is known about its resource (DESIGN §4.2): full
//! statuses, adaptive statuses, acknowledgements, downtimes and definitions. Each ends with
//! [`Engine::reconcile`]; nothing here decides what PagerDuty hears.
use super::decide::*;
use super::replay::*;
use super::{Engine, Outcome, Trigger};
use crate::state::{Ack, Fnv, Problem, ResourceState};
use crate::store::Store;
use broker::{
    Acknowledgement, AdaptiveStatus, Context, Definition, Downtime, DowntimePhase, ResourceId,
    Status, PENDING,
};

impl Engine {
    pub(super) fn apply_status(
        &self,
        store: &mut impl Store,
        st: &Status,
        now: i64,
        out: &mut Outcome,
    ) {
        let id = st.resource;
        let fp = fingerprint(st);
        let host_blocks = self.host_blocks(store, id);
        let Some((mut rs, new)) = take(store, id, Some(fp)) else {
            out.replay = true;
            return;
        };
        if rs.before_gap(st.event_time(), now) {
            out.before_gap = true;
            // History, except one fact: the problem was HARD before anyone acknowledged it.
            if st.hard && st.ack == Some(0) && self.is_problem(id.is_host(), Some(st.state)) {
                if let Some(since) = st.last_hard_state_change {
                    rs.retained_unacked_hard = Some(since);
                    restore(store, id, rs);
                    store.mark_changed(id);
                    return;
                }
            }
            restore(store, id, rs);
            return;
        }
        let before = (!new).then(|| snapshot(&mut rs));
        rs.seen_at = Some(now);
        let first = new || !rs.known;
        let retained = rs.retained_unacked_hard.take();
        out.clock_skew = matches!((rs.last_check, st.last_check), (Some(a), Some(b)) if b < a);
        if st.last_check.is_some() {
            rs.last_check = st.last_check;
        }

        let alerts = &self.settings.alerts;
        let is_host = id.is_host();
        let prev_effective = self.effective(&rs);
        let prev_state = rs.state;
        rs.known = true;
        if st.state != PENDING {
            rs.state = Some(st.state);
            if st.hard {
                if rs.hard_state != Some(st.state) {
                    rs.hard_state = Some(st.state);
                    rs.hard_since = st.event_time();
                }
            } else if first && rs.hard_state.is_none() {
                // A resource first seen SOFT takes its last HARD state from Engine.
                rs.hard_state = st.last_hard_state.filter(|&s| s != PENDING);
                rs.hard_since = st.last_hard_state_change;
            }
        }
        let mut cause = Trigger {
            host_blocks,
            paging_status: st.state != PENDING && (st.hard || !alerts.hard_only),
            ack_came_later: first
                && st.hard
                && retained.is_some()
                && retained == st.last_hard_state_change,
            ..Trigger::default()
        };
        if let Some(depth) = st.downtime_depth {
            cause.entered_downtime = set_downtime_depth(&mut rs, depth);
        }
        if let Some(f) = st.flapping {
            rs.flapping = f;
        }
        if let Some(n) = st.notify {
            rs.notify = n;
        }
        if st.state != PENDING {
            cause.ack_lost = ack_ended_by_state_change(&rs, prev_state, st);
            apply_status_ack(&mut rs, st, cause.ack_lost);
        }

        let effective = self.effective(&rs);
        let problem_now = self.is_problem(is_host, effective);
        if first {
            match first_sight(st, problem_now, alerts.hard_only) {
                FirstSight::Trigger => rs.owed = true,
                FirstSight::Resolve => {
                    rs.maybe_open = false;
                    self.first_sight_resolve(store, st, now, out);
                }
                // Not a problem at first sight: the other node resolved what it had opened.
                FirstSight::Record if !problem_now => rs.maybe_open = false,
                FirstSight::Record => {}
            }
        } else if rs.maybe_open && !problem_now && self.is_problem(is_host, prev_effective) {
            // After a resync, a recovery of a problem this node did not page (held, or
            // acknowledged before it became HARD): the other node may have.
            rs.maybe_open = false;
            if rs.incident.is_none() {
                self.resolve_unpinned(store, id, &st.context, st.state, st.event_time(), now, out);
            }
        } else if trigger_is_owed(&rs, prev_effective, effective, problem_now, st) {
            rs.owed = true;
        } else if effective != prev_effective {
            rs.owed = false;
        }
        if problem_now && (rs.owed || self.retrigger_due(&rs, now)) {
            rs.problem = Some(Box::new(problem_of(st)));
        }

        self.reconcile(store, id, &mut rs, cause, &st.context, now, out);
        put_status(store, id, rs, before, new, fp);
    }

    /// Events other than full statuses: update what is known with `update`, then reconcile.
    /// They are applied in arrival order, except a replay, recognised by `check` (see
    /// [`ResourceState::remember_timed_patch`] and [`ResourceState::remember_patch`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn patch(
        &self,
        store: &mut impl Store,
        id: ResourceId,
        ctx: &Context,
        now: i64,
        out: &mut Outcome,
        check: ReplayCheck,
        update: impl FnOnce(&mut ResourceState, &mut Trigger),
    ) {
        let mut cause = Trigger {
            host_blocks: self.host_blocks(store, id),
            ..Trigger::default()
        };
        let Some((mut rs, new)) = take(store, id, None) else {
            return;
        };
        // After a resync: a timed event from before the gap, or an untimed one before the
        // first status from after it, is history (see `ResourceState::resynced`).
        let before_gap = match check {
            ReplayCheck::Timed { time, .. } | ReplayCheck::Downtime { time, .. } => {
                rs.before_gap(time, now)
            }
            ReplayCheck::Untimed(_) => rs.before_gap(Some(i64::MIN), now) && !rs.known,
            ReplayCheck::None => false,
        };
        if before_gap {
            out.before_gap = true;
            restore(store, id, rs);
            return;
        }
        let before = Some(snapshot(&mut rs));
        let replay = match check {
            ReplayCheck::Timed { content, .. } => rs.remember_timed_patch(content),
            ReplayCheck::Untimed(content) => rs.remember_patch(content),
            ReplayCheck::Downtime { key, .. } => rs.ended_downtimes.contains(&key),
            ReplayCheck::None => false,
        };
        if replay {
            // The anchor moved: kept in memory, not worth a write.
            out.replay = true;
            restore(store, id, rs);
            return;
        }
        update(&mut rs, &mut cause);
        self.reconcile(store, id, &mut rs, cause, ctx, now, out);
        put(store, id, rs, before, new);
    }

    /// Adaptive statuses patch downtime depth and acknowledgement; they never imply a state.
    pub(super) fn apply_adaptive(
        &self,
        store: &mut impl Store,
        a: &AdaptiveStatus,
        now: i64,
        out: &mut Outcome,
    ) {
        let content = Fnv::default()
            .write(b"adaptive")
            .int(a.downtime_depth)
            .int(a.ack.map(i64::from))
            .int(a.notification_number)
            .finish();
        self.patch(
            store,
            a.resource,
            &a.context,
            now,
            out,
            ReplayCheck::Untimed(content),
            |rs, cause| {
                if let Some(depth) = a.downtime_depth {
                    cause.entered_downtime = set_downtime_depth(rs, depth);
                }
                match a.ack {
                    Some(0) => rs.ack = None,
                    Some(kind) => {
                        rs.ack = Some(Ack {
                            sticky: kind == 2,
                            state: rs.ack.as_ref().and_then(|a| a.state).or(rs.state),
                            entry_time: rs.ack.as_ref().and_then(|a| a.entry_time),
                            from_status: true,
                        })
                    }
                    None => {}
                }
            },
        );
    }

    pub(super) fn apply_acknowledgement(
        &self,
        store: &mut impl Store,
        a: &Acknowledgement,
        now: i64,
        out: &mut Outcome,
    ) {
        let content = Fnv::default()
            .write(b"acknowledgement")
            .int(a.entry_time)
            .int(a.deletion_time)
            .int(Some(i64::from(a.sticky)))
            .int(a.state.map(i64::from))
            .finish();
        self.patch(
            store,
            a.resource,
            &a.context,
            now,
            out,
            ReplayCheck::Timed {
                content,
                time: a.deletion_time.or(a.entry_time),
            },
            |rs, _| {
                rs.ack = if a.deletion_time.is_some() {
                    None
                } else {
                    Some(Ack {
                        sticky: a.sticky,
                        state: a.state.or(rs.state),
                        entry_time: a.entry_time,
                        from_status: false,
                    })
                };
            },
        );
    }

    /// Downtime events (DESIGN §4.2, Downtime). A started downtime puts the resource in
    /// downtime at once. An end or a deletion ends nothing by itself: when an Engine stops,
    /// Broker delivers one for every downtime, and they come back when it starts, while the
    /// resource stays in downtime. A real end is followed at once by a status or adaptive
    /// status showing the depth drop, which is what ends it ([`set_downtime_depth`]); so is the
    /// first status after an Engine start that did not announce the downtime again.
    ///
    /// Downtimes are identified by (id, entry_time, start_time), never by their id alone:
    /// Engine renumbers them at each start. A downtime that ended never starts again, so a
    /// replayed start of one is recognised; each downtime event reaching Lua twice is harmless.
    pub(super) fn apply_downtime(
        &self,
        store: &mut impl Store,
        d: &Downtime,
        now: i64,
        out: &mut Outcome,
    ) {
        let key = downtime_key(d);
        if d.phase != DowntimePhase::Started {
            // Scheduled (not in effect yet) or ended (ends nothing by itself, see above).
            return;
        }
        self.patch(
            store,
            d.resource,
            &d.context,
            now,
            out,
            ReplayCheck::Downtime {
                key,
                time: d.start_time.max(d.entry_time),
            },
            |rs, cause| {
                if !rs.downtimes.contains(&key) {
                    rs.downtimes.push(key);
                    cause.entered_downtime = !rs.in_downtime;
                    rs.in_downtime = true;
                }
            },
        );
    }

    /// Definitions teach names, and carry `enabled`, `notify` and `volatile`.
    pub(super) fn apply_definition(
        &self,
        store: &mut impl Store,
        d: &Definition,
        now: i64,
        out: &mut Outcome,
    ) {
        let id = d.resource;
        if let Some(host) = d.host_name.as_deref().or(d.context.host_name.as_deref()) {
            store.set_name(id.host_resource(), host);
        }
        if !id.is_host() {
            if let Some(svc) = d
                .service_description
                .as_deref()
                .or(d.context.service_description.as_deref())
            {
                store.set_name(id, svc);
            }
        }
        if d.enabled.is_none() && d.notify.is_none() && d.volatile.is_none() && !d.never_checked {
            return;
        }
        self.patch(
            store,
            id,
            &d.context,
            now,
            out,
            ReplayCheck::None,
            |rs, _| {
                if d.never_checked {
                    // Known and pending: its first status is not a first sight.
                    rs.known = true;
                }
                if let Some(e) = d.enabled {
                    rs.enabled = e;
                }
                if let Some(n) = d.notify {
                    rs.notify = n;
                }
                if let Some(v) = d.volatile {
                    rs.volatile = v;
                }
            },
        );
    }
}

pub(super) fn apply_status_ack(rs: &mut ResourceState, st: &Status, ack_lost: bool) {
    if ack_lost || st.state == 0 {
        // Ended by a change of problem state, or by the recovery.
        rs.ack = None;
        return;
    }
    match st.ack {
        Some(0) => rs.ack = None,
        Some(kind) => {
            let previous = rs.ack.take();
            rs.ack = Some(Ack {
                sticky: kind == 2,
                state: previous.as_ref().and_then(|a| a.state).or(Some(st.state)),
                entry_time: previous.and_then(|a| a.entry_time),
                from_status: true,
            });
        }
        None => {}
    }
}

/// Depth from a full or adaptive status; true when the resource entered downtime. A depth of
/// 0 ends every downtime started so far: they are remembered as ended, so that a replay of
/// their start changes nothing.
pub(super) fn set_downtime_depth(rs: &mut ResourceState, depth: i64) -> bool {
    let was = rs.in_downtime;
    rs.downtime_depth = depth;
    rs.in_downtime = depth > 0;
    if depth == 0 {
        for key in std::mem::take(&mut rs.downtimes) {
            rs.remember_ended_downtime(key);
        }
    }
    !was && rs.in_downtime
}

pub(super) fn problem_of(st: &Status) -> Problem {
    Problem {
        state: st.state,
        hard: st.hard,
        attempt: st.attempt,
        max_attempts: st.max_attempts,
        check_time: st.event_time(),
        output: st.output.clone(),
        long_output: st.long_output.clone(),
        perfdata: st.perfdata.clone(),
        context: st.context.clone(),
    }
}
