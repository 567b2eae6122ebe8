//! The per-resource state machine of DESIGN §4.2.
//!
//! Every event updates what is known about its resource (states, acknowledgement, downtime,
//! flapping, notifications), then [`Engine::reconcile`] compares that with what PagerDuty was
//! told and emits what is missing. Each rule of §4.2 is a named function below:
//! [`trigger_is_owed`] (trigger, volatile, retrigger), [`first_sight`], [`hold_reason`] (host
//! first, downtime, flapping, notifications, acknowledged problems), [`ack_ended_by_state_change`]
//! (non-sticky acknowledgements), [`ack_applies`] (acknowledgement), and the resolve, downtime
//! start, disabled-resource and replay rules in `reconcile`, `apply_downtime`,
//! `apply_definition` and [`fingerprint`].
//!
//! Time is an argument (`now`, daemon seconds). Nothing here does I/O: states come from and go
//! to a [`Store`], which learns which resources changed in a way that must be persisted.

use crate::payload::{self, Names};
use crate::routing::{self, Subject};
use crate::settings::{AcknowledgedProblems, InDowntime, Settings, Target};
use crate::state::{Ack, Fnv, HoldReason, Incident, Problem, ResourceState};
use crate::store::Store;
use broker::{
    Acknowledgement, AdaptiveStatus, Context, Definition, Downtime, DowntimePhase, Event,
    ResourceId, StateCode, Status, PENDING,
};
use pagerduty::Action;

/// One event for PagerDuty, ready to be queued.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub resource: ResourceId,
    pub names: Names,
    pub route: String,
    /// `None`: no routing key configured (dry-run).
    pub routing_key: Option<String>,
    pub dedup_key: String,
    pub action: Action,
    /// The event; its `routing_key` is empty when `routing_key` is `None`.
    pub event: pagerduty::Event,
    /// Centreon's time of the status behind it (§4.1).
    pub event_time: i64,
}

/// A decision worth an info log line, besides the events sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    /// A trigger is held.
    Held {
        resource: ResourceId,
        names: Names,
        reason: HoldReason,
    },
    /// A held trigger was released.
    Released {
        resource: ResourceId,
        names: Names,
        was: HoldReason,
    },
    /// The route says to send nothing.
    Dropped {
        resource: ResourceId,
        names: Names,
        route: String,
    },
}

/// What one event did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcome {
    pub outgoing: Vec<Outgoing>,
    pub notes: Vec<Note>,
    /// A replay of a recent status: ignored.
    pub replay: bool,
    /// A status older than the last one applied to its resource (poller clock stepped back).
    pub clock_skew: bool,
}

/// The rules, with their settings.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    pub settings: Settings,
}

/// What `reconcile` needs to know about the event that led to it.
#[derive(Debug, Clone, Copy, Default)]
struct Trigger {
    /// The host of a service is HARD DOWN/UNREACHABLE or in downtime.
    host_blocks: bool,
    /// The resource entered a downtime with this event.
    entered_downtime: bool,
    /// A non-sticky acknowledgement ended because the problem changed state.
    ack_lost: bool,
    /// The event is a status of the resource that may page: HARD (or any, without
    /// `hard_only`). Only such a status releases a trigger held for its host.
    paging_status: bool,
}

impl Engine {
    pub fn new(settings: Settings) -> Self {
        Self { settings }
    }

    /// Apply one event at daemon time `now`.
    pub fn apply(&self, store: &mut impl Store, event: &Event, now: i64) -> Outcome {
        let mut out = Outcome::default();
        match event {
            Event::Status(s) => self.apply_status(store, s, now, &mut out),
            Event::AdaptiveStatus(a) => self.apply_adaptive(store, a, now, &mut out),
            Event::Acknowledgement(a) => self.apply_acknowledgement(store, a, now, &mut out),
            Event::Downtime(d) => self.apply_downtime(store, d, now, &mut out),
            Event::Definition(d) => self.apply_definition(store, d, now, &mut out),
        }
        out
    }

    fn apply_status(&self, store: &mut impl Store, st: &Status, now: i64, out: &mut Outcome) {
        let id = st.resource;
        let fp = fingerprint(st);
        let host_blocks = self.host_blocks(store, id);
        let Some((mut rs, new)) = take(store, id, Some(fp)) else {
            out.replay = true;
            return;
        };
        let first = new || !rs.known;
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
                FirstSight::Resolve => self.first_sight_resolve(store, st, now, out),
                FirstSight::Record => {}
            }
        } else if trigger_is_owed(&rs, prev_effective, effective, problem_now, st) {
            rs.owed = true;
        } else if effective != prev_effective {
            rs.owed = false;
        }
        if problem_now && (rs.owed || self.retrigger_due(&rs, now)) {
            rs.problem = Some(problem_of(st));
        }

        self.reconcile(store, id, &mut rs, cause, &st.context, now, out);
        put(store, id, rs, None, new);
    }

    /// Events other than full statuses: update what is known with `update`, then reconcile.
    /// They are applied in arrival order, except a replay, recognised by `check` (see
    /// [`ResourceState::remember_timed_patch`] and [`ResourceState::remember_patch`]).
    #[allow(clippy::too_many_arguments)]
    fn patch(
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
        let before = Some(snapshot(&mut rs));
        let replay = match check {
            ReplayCheck::Timed(content) => rs.remember_timed_patch(content),
            ReplayCheck::Untimed(content) => rs.remember_patch(content),
            ReplayCheck::Downtime { key } => rs.ended_downtimes.contains(&key),
            ReplayCheck::None => false,
        };
        if replay {
            // The anchor moved: kept in memory, not worth a write.
            out.replay = true;
            if let Some(slot) = store.resource(id) {
                *slot = rs;
            }
            return;
        }
        update(&mut rs, &mut cause);
        self.reconcile(store, id, &mut rs, cause, ctx, now, out);
        put(store, id, rs, before, new);
    }

    /// Adaptive statuses patch downtime depth and acknowledgement; they never imply a state.
    fn apply_adaptive(
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

    fn apply_acknowledgement(
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
            ReplayCheck::Timed(content),
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
    fn apply_downtime(&self, store: &mut impl Store, d: &Downtime, now: i64, out: &mut Outcome) {
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
            ReplayCheck::Downtime { key },
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
    fn apply_definition(
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

    /// Bring PagerDuty in line with what is known of the resource. `ctx` is what the shim
    /// said about the resource with this event (names for the log lines).
    #[allow(clippy::too_many_arguments)]
    fn reconcile(
        &self,
        store: &mut impl Store,
        id: ResourceId,
        rs: &mut ResourceState,
        cause: Trigger,
        ctx: &Context,
        now: i64,
        out: &mut Outcome,
    ) {
        let alerts = &self.settings.alerts;
        let problem_now = self.is_problem(id.is_host(), self.effective(rs));
        let disabled = !rs.enabled && alerts.resolve_on_disable;

        // Resolve: on recovery, on a non-paging state, on disable. Resolves are never held.
        if !problem_now || disabled {
            if let Some(incident) = rs.incident.take() {
                self.emit_action(store, id, ctx, &incident, Action::Resolve, now, out);
                // A problem still there when the resource is enabled again pages again.
                rs.owed = problem_now;
            }
        }
        if !problem_now {
            rs.owed = false;
            rs.held = None;
            rs.problem = None;
            return;
        }

        // Reopen on ack loss: PagerDuty would not notify a new trigger on an acknowledged incident.
        if cause.ack_lost && alerts.reopen_on_ack_loss {
            if let Some(incident) = rs.incident.take_if(|i| i.acked) {
                self.emit_action(store, id, ctx, &incident, Action::Resolve, now, out);
                rs.owed = true;
            }
        }

        let retrigger = !rs.owed && self.retrigger_due(rs, now);
        if rs.owed || retrigger {
            let host_blocks = cause.host_blocks
                || (rs.owed && rs.held == Some(HoldReason::HostDown) && !cause.paging_status);
            match self.hold_reason(rs, host_blocks) {
                Some(reason) => {
                    if rs.owed && rs.held != Some(reason) {
                        out.notes.push(Note::Held {
                            resource: id,
                            names: self.names(store, id, self.naming_context(rs, ctx)),
                            reason,
                        });
                    }
                    if rs.owed {
                        rs.held = Some(reason);
                    }
                }
                None => {
                    if let Some(was) = rs.held.take() {
                        out.notes.push(Note::Released {
                            resource: id,
                            names: self.names(store, id, self.naming_context(rs, ctx)),
                            was,
                        });
                    }
                    self.send_trigger(store, id, rs, now, out);
                }
            }
        }

        let Some(incident) = rs.incident.as_ref() else {
            return;
        };
        if incident.acked {
            return;
        }
        let acknowledge = (alerts.acknowledge
            && rs.ack.as_ref().is_some_and(|a| ack_applies(a, incident)))
            || (alerts.acknowledge_on_downtime_start && cause.entered_downtime);
        if acknowledge {
            let incident = incident.clone();
            self.emit_action(store, id, ctx, &incident, Action::Acknowledge, now, out);
            if let Some(i) = rs.incident.as_mut() {
                i.acked = true;
            }
        }
    }

    /// Why an owed trigger must wait, if it must (DESIGN §4.2: host first, downtime, flapping,
    /// notifications, acknowledged problems). `host_blocks`: the service's host is HARD
    /// DOWN/UNREACHABLE or in downtime, or was, and the service has not had the HARD status
    /// that Engine re-checks it to once its host is back (host first).
    pub fn hold_reason(&self, rs: &ResourceState, host_blocks: bool) -> Option<HoldReason> {
        let alerts = &self.settings.alerts;
        if !rs.enabled {
            Some(HoldReason::Disabled)
        } else if host_blocks {
            Some(HoldReason::HostDown)
        } else if alerts.in_downtime == InDowntime::Suppress && rs.in_downtime {
            Some(HoldReason::Downtime)
        } else if alerts.suppress_flapping && rs.flapping {
            Some(HoldReason::Flapping)
        } else if alerts.respect_notifications && !rs.notify {
            Some(HoldReason::NotificationsDisabled)
        } else if rs.incident.is_none()
            && alerts.acknowledged_problems == AcknowledgedProblems::Skip
            && rs.ack.is_some()
        {
            Some(HoldReason::Acknowledged)
        } else {
            None
        }
    }

    /// Send the owed trigger: on the open incident, or on a new one pinned to today's route.
    fn send_trigger(
        &self,
        store: &mut impl Store,
        id: ResourceId,
        rs: &mut ResourceState,
        now: i64,
        out: &mut Outcome,
    ) {
        rs.owed = false;
        let problem = rs.problem.take().unwrap_or_else(|| Problem {
            state: self.effective(rs).unwrap_or(0),
            hard: true,
            attempt: None,
            max_attempts: None,
            check_time: rs.hard_since,
            output: String::new(),
            long_output: String::new(),
            perfdata: String::new(),
            context: Context::default(),
        });
        let names = self.names(store, id, &problem.context);
        let event_time = problem.check_time.unwrap_or(now);
        let incident = match rs.incident.take() {
            Some(incident) => incident,
            None => {
                let subject = Subject {
                    is_host: id.is_host(),
                    host: &names.host,
                    service: names.service.as_deref(),
                    state: problem.state,
                    context: &problem.context,
                };
                let chosen = routing::choose(&self.settings, &subject);
                match chosen.target {
                    Target::Drop => {
                        out.notes.push(Note::Dropped {
                            resource: id,
                            names,
                            route: chosen.name.to_owned(),
                        });
                        return;
                    }
                    Target::Key(key) => Incident {
                        dedup_key: payload::dedup_key(&self.settings, id, &names),
                        route: chosen.name.to_owned(),
                        routing_key: key.clone(),
                        opened_check: event_time,
                        opened_at: now,
                        state: problem.state,
                        acked: false,
                        last_trigger_at: now,
                    },
                }
            }
        };
        let routing_key = incident.routing_key.clone().unwrap_or_default();
        let event = payload::trigger(
            &self.settings,
            id,
            &names,
            &problem,
            &routing_key,
            &incident.dedup_key,
            event_time,
        );
        out.outgoing.push(Outgoing {
            resource: id,
            names,
            route: incident.route.clone(),
            routing_key: incident.routing_key.clone(),
            dedup_key: incident.dedup_key.clone(),
            action: Action::Trigger,
            event,
            event_time,
        });
        rs.incident = Some(Incident {
            state: problem.state,
            last_trigger_at: now,
            ..incident
        });
    }

    /// An acknowledge or resolve on a pinned incident.
    #[allow(clippy::too_many_arguments)]
    fn emit_action(
        &self,
        store: &mut impl Store,
        id: ResourceId,
        ctx: &Context,
        incident: &Incident,
        action: Action,
        now: i64,
        out: &mut Outcome,
    ) {
        let names = self.names(store, id, ctx);
        let routing_key = incident.routing_key.clone().unwrap_or_default();
        out.outgoing.push(Outgoing {
            resource: id,
            names,
            route: incident.route.clone(),
            routing_key: incident.routing_key.clone(),
            dedup_key: incident.dedup_key.clone(),
            action,
            event: payload::action_only(action, &routing_key, &incident.dedup_key),
            event_time: now,
        });
    }

    /// First sight of a HARD OK/UP that changed at this very check: close whatever the old
    /// connectors (same dedup keys) may have left open, on today's route.
    fn first_sight_resolve(
        &self,
        store: &mut impl Store,
        st: &Status,
        now: i64,
        out: &mut Outcome,
    ) {
        let id = st.resource;
        let names = self.names(store, id, &st.context);
        let subject = Subject {
            is_host: id.is_host(),
            host: &names.host,
            service: names.service.as_deref(),
            state: st.state,
            context: &st.context,
        };
        let chosen = routing::choose(&self.settings, &subject);
        let Target::Key(key) = chosen.target else {
            return;
        };
        let dedup_key = payload::dedup_key(&self.settings, id, &names);
        let routing_key = key.clone().unwrap_or_default();
        out.outgoing.push(Outgoing {
            resource: id,
            names,
            route: chosen.name.to_owned(),
            routing_key: key.clone(),
            event: payload::action_only(Action::Resolve, &routing_key, &dedup_key),
            dedup_key,
            action: Action::Resolve,
            event_time: st.event_time().unwrap_or(now),
        });
    }

    /// The state that pages: the HARD state, or the current one when `hard_only` is off.
    fn effective(&self, rs: &ResourceState) -> Option<StateCode> {
        if self.settings.alerts.hard_only {
            rs.hard_state
        } else {
            rs.state
        }
    }

    fn is_problem(&self, is_host: bool, state: Option<StateCode>) -> bool {
        state.is_some_and(|s| self.settings.alerts.is_paging(is_host, s))
    }

    /// With `retrigger_interval` > 0, a problem still present is triggered again.
    fn retrigger_due(&self, rs: &ResourceState, now: i64) -> bool {
        let interval = self.settings.alerts.retrigger_interval;
        interval > 0
            && rs
                .incident
                .as_ref()
                .is_some_and(|i| now.saturating_sub(i.last_trigger_at) >= interval)
    }

    /// Host first: a service's problem waits while its host is HARD DOWN/UNREACHABLE or in downtime.
    fn host_blocks(&self, store: &mut impl Store, id: ResourceId) -> bool {
        if id.is_host() || !self.settings.alerts.services_follow_host {
            return false;
        }
        store
            .resource(id.host_resource())
            .is_some_and(|h| matches!(h.hard_state, Some(1 | 2)) || h.in_downtime)
    }

    /// The event's context when it names the resource, else the held problem's.
    fn naming_context<'a>(&self, rs: &'a ResourceState, ctx: &'a Context) -> &'a Context {
        match &rs.problem {
            Some(p) if ctx.host_name.is_none() => &p.context,
            _ => ctx,
        }
    }

    /// Names from the shim's cache, else learnt from definitions, else from ids.
    pub fn names(&self, store: &mut impl Store, id: ResourceId, ctx: &Context) -> Names {
        let host = ctx
            .host_name
            .clone()
            .or_else(|| store.name(id.host_resource()))
            .unwrap_or_else(|| format!("host #{}", id.host_id));
        let service = (!id.is_host()).then(|| {
            ctx.service_description
                .clone()
                .or_else(|| store.name(id))
                .unwrap_or_else(|| format!("service #{}", id.service_id))
        });
        Names { host, service }
    }
}

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

fn apply_status_ack(rs: &mut ResourceState, st: &Status, ack_lost: bool) {
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
fn set_downtime_depth(rs: &mut ResourceState, depth: i64) -> bool {
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

fn problem_of(st: &Status) -> Problem {
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

/// How a patch event is recognised as a replay.
enum ReplayCheck {
    /// By its content, which includes its own time; it anchors the untimed patches after it.
    Timed(u64),
    /// By its content after the current anchor (adaptive statuses carry no time).
    Untimed(u64),
    /// A downtime's start: a replay when that downtime already ended (see [`downtime_key`]).
    Downtime { key: u64 },
    /// Not at all: applied as it comes (definitions are configuration).
    None,
}

/// Take a resource's state out of the store for the duration of an event; `true` when the
/// resource is new. With `replay_check`, `None` means "replay: ignore".
fn take(
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
            if let Some(slot) = store.resource(id) {
                *slot = rs;
            }
            return None;
        }
    }
    Some((rs, new))
}

/// A copy to compare with after a patch (the replay window, which a patch never moves, left out).
fn snapshot(rs: &mut ResourceState) -> ResourceState {
    let recent = std::mem::take(&mut rs.recent);
    let before = rs.clone();
    rs.recent = recent;
    before
}

/// Put the state back and mark it changed (to be stored) unless `before` shows that nothing but
/// the last check moved. A full status always passes `None`: its fingerprint joined the replay
/// window, which must survive a restart, or a Broker replay after it would apply old statuses
/// again (an old OK resolving an open incident, an old problem paging again).
fn put(
    store: &mut impl Store,
    id: ResourceId,
    rs: ResourceState,
    before: Option<ResourceState>,
    new: bool,
) {
    if new {
        store.insert_resource(id, rs);
        return;
    }
    let changed = before.is_none_or(|mut before| {
        before.last_check = rs.last_check;
        before.recent = rs.recent.clone();
        before != rs
    });
    if let Some(slot) = store.resource(id) {
        *slot = rs;
    }
    if changed {
        store.mark_changed(id);
    }
}
