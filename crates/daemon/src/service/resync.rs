//! Resync at start (DESIGN §4.7, Centreon-HA): a spool whose last ingest is older than
//! `[ha] resync_after` (0 = off) was not the active one.
//!
//! Owns the start-time half of the resync, run before the socket accepts anything: a new rules
//! generation (every stored state becomes unknown, read back through
//! `ResourceState::resynced`), and the incidents whose resolve was still queued pinned again in
//! their resources' stale states, so that the first status after the gap decides whether they
//! are resolved (a recovery) or triggered into (the problem is still there, and the other node
//! may have an incident open under that key); then what PagerDuty holds is unknown, key by key,
//! until something is delivered for the key (a collapsed episode keeps its resolve). The
//! queue's collapse, after READY, is `prepare_queue`'s. Touches nothing else.

use super::state::now_ms;
use rules::state::Incident;
use rules::ResourceState;
use spool::{Gap, QueuedResolve, Spool, SpoolError};
use std::time::Duration;
use tracing::warn;

/// Begin a resync if the spool was idle longer than `resync_after`; returns the last ingest's
/// time, whose stale queue `prepare_queue` collapses once the daemon is ready.
pub(super) fn begin_if_idle(
    spool: &mut Spool,
    resync_after: Duration,
) -> Result<Option<i64>, SpoolError> {
    let now = now_ms();
    let Some(last) = spool.last_ingest_ms()?.filter(|&t| {
        !resync_after.is_zero() && now.saturating_sub(t) > resync_after.as_millis() as i64
    }) else {
        return Ok(None);
    };
    let gap = Gap {
        middle_ms: last + (now - last) / 2,
        until_ms: now + resync_after.max(REPLAY_TIME).as_millis() as i64,
        clock_lead_s: usual_clock_lead(spool)?,
    };
    spool.begin_resync(now, gap)?;
    let repinned = repin_queued_resolves(spool, last)?;
    // The other node may have opened or resolved incidents during the gap.
    spool.forget_pagerduty_state(now)?;
    warn!(
        idle_seconds = (now - last) / 1000,
        repinned,
        "The spool was idle longer than [ha] resync_after (this node was passive, or stopped): \
         rule state is unknown, every resource is at first sight again (open incidents stay \
         pinned), events from before the gap are ignored, and what was queued before the gap is \
         collapsed; a queued resolve waits for the resource's next status instead."
    );
    Ok(Some(last))
}

/// How long after the start events from before the gap are recognised, at least: Broker
/// replays its retention first, within seconds of `cbd`'s start.
const REPLAY_TIME: Duration = Duration::from_secs(600);

/// States sampled for [`usual_clock_lead`].
const LEAD_SAMPLE: usize = 1000;

/// The usual lead of the daemon's clock over the resources' (pollers') clocks, from a sample of
/// the states stored before the gap: where the gap's middle stands for resources first seen
/// after it.
fn usual_clock_lead(spool: &Spool) -> Result<Option<i64>, SpoolError> {
    let leads: Vec<i64> = spool
        .sample_states(LEAD_SAMPLE)?
        .iter()
        .filter_map(|json| ResourceState::from_json(json).ok()?.clock_lead())
        .collect();
    Ok(low_decile(leads))
}

/// The lower tenth of the sampled leads, not their median. A lead is measured on the last full
/// status applied, and a status often carries an older check time than when it arrived: the
/// statuses Engine sends at its start (up to a check interval old), after an acknowledgement or
/// a downtime. Those only ever make a lead look larger, and on a spool that saw little more
/// than the first statuses they are the majority: a median then puts the cut before events
/// that were in this node's Broker retention. The true lead (transit time plus the pollers'
/// clock offset) is what the fresh statuses show, the smallest ones, bar a few outliers.
fn low_decile(mut leads: Vec<i64>) -> Option<i64> {
    leads.sort_unstable();
    leads.get(leads.len() / 10).copied()
}

/// Pin again, in each resource's stale state, the incident a queued resolve was for.
fn repin_queued_resolves(spool: &mut Spool, last_ingest_ms: i64) -> Result<usize, SpoolError> {
    let mut repinned = 0;
    for queued in spool.queued_resolves_at_resync(last_ingest_ms)? {
        let stored = spool.resource_state(queued.host_id, queued.service_id)?;
        let mut state = match stored.map(|s| ResourceState::from_json(&s.json)) {
            Some(Ok(state)) => state,
            // Unreadable or missing: an empty state, which the incident makes worth keeping.
            Some(Err(_)) | None => ResourceState::default(),
        };
        if state.incident.is_some() {
            continue;
        }
        state.incident = Some(incident_of(&queued));
        spool.repin_stale_state(queued.host_id, queued.service_id, &state.to_json())?;
        repinned += 1;
    }
    Ok(repinned)
}

fn incident_of(queued: &QueuedResolve) -> Incident {
    Incident {
        dedup_key: queued.dedup_key.clone(),
        route: queued.route.clone(),
        routing_key: Some(queued.routing_key.clone()).filter(|k| !k.is_empty()),
        // Any acknowledgement applies to it; the state is not known.
        opened_check: 0,
        opened_at: 0,
        state: 2,
        acked: false,
        last_trigger_at: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::low_decile;

    #[test]
    fn stale_check_times_do_not_move_the_lead() {
        // 700 resources seen only in Engine's first statuses (checked 60 s before), 300 since.
        let mut leads = vec![60; 700];
        leads.extend(std::iter::repeat_n(1, 300));
        assert_eq!(low_decile(leads), Some(1));
    }

    #[test]
    fn a_few_outliers_do_not_move_it_either() {
        let mut leads = vec![-3600; 5];
        leads.extend(std::iter::repeat_n(2, 95));
        assert_eq!(low_decile(leads), Some(2));
        assert_eq!(low_decile(Vec::new()), None);
    }
}
