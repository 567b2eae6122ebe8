//! What an operator's command, or PagerDuty itself, does to a resource's rule state:
//! `centreon-pagerduty resolve` closes its incident now; an acknowledgement made in PagerDuty
//! (DESIGN §4.6) marks the incident acknowledged, so that Centreon's echo of it sends nothing.
//! The daemon only carries the result to the spool.

use super::{Engine, Outcome, Outgoing};
use crate::store::Store;
use broker::{Context, ResourceId};
use pagerduty::Action;

impl Engine {
    /// Close the resource's open incident now: a resolve on its pinned dedup and routing keys,
    /// and nothing owed or held any more. The problem's state is kept, so the same state again
    /// pages nobody; the next HARD change into a problem pages as usual. `None` when no
    /// incident is open.
    pub fn operator_resolve(
        &self,
        store: &mut impl Store,
        id: ResourceId,
        now: i64,
    ) -> Option<Outgoing> {
        let rs = store.resource(id)?;
        let incident = rs.incident.take()?;
        rs.owed = false;
        rs.held = None;
        store.mark_changed(id);
        let mut out = Outcome::default();
        let ctx = Context::default();
        self.emit_action(store, id, &ctx, &incident, Action::Resolve, now, &mut out);
        out.outgoing.pop()
    }

    /// The incident `dedup_key` of the resource was acknowledged in PagerDuty (DESIGN §4.6):
    /// PagerDuty needs no `acknowledge` for it any more, so the acknowledgement that Centreon
    /// reports through Broker once the sync mirrored it sends nothing (no loop). True when the
    /// resource holds that incident open and it was not marked acknowledged yet.
    pub fn acknowledged_in_pagerduty(
        &self,
        store: &mut impl Store,
        id: ResourceId,
        dedup_key: &str,
    ) -> bool {
        let Some(rs) = store.resource(id) else {
            return false;
        };
        let Some(incident) = rs.incident.as_mut().filter(|i| i.dedup_key == dedup_key) else {
            return false;
        };
        if incident.acked {
            return false;
        }
        incident.acked = true;
        store.mark_changed(id);
        true
    }
}
