//! What PagerDuty must hear, given what is known of a resource (DESIGN §4.2, §4.3): triggers,
//! holds and releases, resolves, acknowledges; the routing pinned per incident, and names.
//! It reads the resource's state, never an event's raw fields.
use super::decide::*;
use super::{Engine, Note, Outcome, Outgoing, Trigger};
use crate::payload::{self, Names};
use crate::routing::{self, Subject};
use crate::settings::{AcknowledgedProblems, InDowntime, Target};
use crate::state::{HoldReason, Incident, Problem, ResourceState};
use crate::store::Store;
use broker::{Context, ResourceId, StateCode, Status};
use pagerduty::Action;

impl Engine {
    /// Bring PagerDuty in line with what is known of the resource. `ctx` is what the shim
    /// said about the resource with this event (names for the log lines).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn reconcile(
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
        let effective = self.effective(rs);
        let problem_now = self.is_problem(id.is_host(), effective);
        let disabled = !rs.enabled && alerts.resolve_on_disable;
        // The state is unknown after a resync (DESIGN §4.7) until a status says it: an
        // acknowledgement or downtime event then resolves nothing.
        let known_not_a_problem = effective.is_some() && !problem_now;

        // Resolve: on recovery, on a non-paging state, on disable. Resolves are never held.
        if known_not_a_problem || disabled {
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
            if rs.incident.is_none() {
                return;
            }
            // Unknown state with a pinned incident (after a resync): only an acknowledgement.
            self.acknowledge_if_due(store, id, rs, cause, ctx, now, out);
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
            let hold = self
                .hold_reason(rs, host_blocks)
                .filter(|&r| !(cause.ack_came_later && r == HoldReason::Acknowledged));
            match hold {
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
        self.acknowledge_if_due(store, id, rs, cause, ctx, now, out);
    }

    /// Acknowledge the open incident, once: a Centreon acknowledgement that applies to it, or
    /// its downtime starting (`on_downtime_start = "acknowledge"`).
    #[allow(clippy::too_many_arguments)]
    fn acknowledge_if_due(
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
        let Some(incident) = rs.incident.as_ref().filter(|i| !i.acked) else {
            return;
        };
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
    pub(super) fn send_trigger(
        &self,
        store: &mut impl Store,
        id: ResourceId,
        rs: &mut ResourceState,
        now: i64,
        out: &mut Outcome,
    ) {
        rs.owed = false;
        // The incident this trigger opens or updates is the one PagerDuty holds for the key.
        rs.maybe_open = false;
        let problem = rs.problem.take().map_or_else(
            || Problem {
                state: self.effective(rs).unwrap_or(0),
                hard: true,
                attempt: None,
                max_attempts: None,
                check_time: rs.hard_since,
                output: String::new(),
                long_output: String::new(),
                perfdata: String::new(),
                context: Context::default(),
            },
            |p| *p,
        );
        let names = self.names(store, id, &problem.context);
        let event_time = problem.check_time.unwrap_or(now);
        let incident = match rs.incident.take() {
            Some(incident) => incident,
            None => match self.open_incident(id, &names, &problem, event_time, now) {
                Ok(incident) => incident,
                Err(route) => {
                    out.notes.push(Note::Dropped {
                        resource: id,
                        names,
                        route,
                    });
                    return;
                }
            },
        };
        let routing_key = incident.routing_key.clone().unwrap_or_default();
        let body = payload::trigger(
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
            body,
            event_time,
        });
        rs.incident = Some(Incident {
            state: problem.state,
            last_trigger_at: now,
            ..incident
        });
    }

    /// A new incident, pinned to the route today's `[[route]]`s choose; `Err(route)` when that
    /// route drops the problem.
    fn open_incident(
        &self,
        id: ResourceId,
        names: &Names,
        problem: &Problem,
        event_time: i64,
        now: i64,
    ) -> Result<Incident, String> {
        let subject = Subject {
            is_host: id.is_host(),
            host: &names.host,
            service: names.service.as_deref(),
            state: problem.state,
            context: &problem.context,
        };
        let chosen = routing::choose(&self.settings, &subject);
        match chosen.target {
            Target::Drop => Err(chosen.name.to_owned()),
            Target::Key(key) => Ok(Incident {
                dedup_key: payload::dedup_key(&self.settings, id, names),
                route: chosen.name.to_owned(),
                routing_key: key.clone(),
                opened_check: event_time,
                opened_at: now,
                state: problem.state,
                acked: false,
                last_trigger_at: now,
            }),
        }
    }

    /// An acknowledge or resolve on a pinned incident.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn emit_action(
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
            body: payload::action_only(action, &routing_key, &incident.dedup_key),
            event_time: now,
        });
    }

    /// First sight of a HARD OK/UP that changed at this very check: close whatever the old
    /// connectors (same dedup keys) may have left open, on today's route.
    pub(super) fn first_sight_resolve(
        &self,
        store: &mut impl Store,
        st: &Status,
        now: i64,
        out: &mut Outcome,
    ) {
        let id = st.resource;
        self.resolve_unpinned(store, id, &st.context, st.state, st.event_time(), now, out);
    }

    /// A resolve for an incident this state has not pinned (opened by the old connectors, or
    /// by the other node of a cluster), on today's route for the resource in `state`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn resolve_unpinned(
        &self,
        store: &mut impl Store,
        id: ResourceId,
        ctx: &Context,
        state: StateCode,
        event_time: Option<i64>,
        now: i64,
        out: &mut Outcome,
    ) {
        let names = self.names(store, id, ctx);
        let subject = Subject {
            is_host: id.is_host(),
            host: &names.host,
            service: names.service.as_deref(),
            state,
            context: ctx,
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
            body: payload::action_only(Action::Resolve, &routing_key, &dedup_key),
            dedup_key,
            action: Action::Resolve,
            event_time: event_time.unwrap_or(now),
        });
    }

    /// The state that pages: the HARD state, or the current one when `hard_only` is off.
    pub(super) fn effective(&self, rs: &ResourceState) -> Option<StateCode> {
        if self.settings.alerts.hard_only {
            rs.hard_state
        } else {
            rs.state
        }
    }

    pub(super) fn is_problem(&self, is_host: bool, state: Option<StateCode>) -> bool {
        state.is_some_and(|s| self.settings.alerts.is_paging(is_host, s))
    }

    /// With `retrigger_interval` > 0, a problem still present is triggered again.
    pub(super) fn retrigger_due(&self, rs: &ResourceState, now: i64) -> bool {
        let interval = self.settings.alerts.retrigger_interval;
        interval > 0
            && rs
                .incident
                .as_ref()
                .is_some_and(|i| now.saturating_sub(i.last_trigger_at) >= interval)
    }

    /// Host first: a service's problem waits while its host is HARD DOWN/UNREACHABLE or in downtime.
    pub(super) fn host_blocks(&self, store: &mut impl Store, id: ResourceId) -> bool {
        if id.is_host() || !self.settings.alerts.services_follow_host {
            return false;
        }
        store
            .resource(id.host_resource())
            .is_some_and(|h| matches!(h.hard_state, Some(1 | 2)) || h.in_downtime)
    }

    /// The event's context when it names the resource, else the held problem's.
    pub(super) fn naming_context<'a>(
        &self,
        rs: &'a ResourceState,
        ctx: &'a Context,
    ) -> &'a Context {
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
