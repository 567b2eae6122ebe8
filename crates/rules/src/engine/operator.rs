//! What an operator's command does to a resource's rule state: `centreon-pagerduty resolve`
//! closes its incident now. The daemon only carries the result to the spool.

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
}
