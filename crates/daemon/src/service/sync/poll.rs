//! The poller: PagerDuty's acknowledged incidents, listed once per `poll_interval` (at once
//! when the webhook says so), matched against the incidents this daemon holds open.
//!
//! Contract: one paged listing per round, never one request per incident; a 429 waits what
//! PagerDuty asks (else backs off); 401/403 pause the poller loudly and it probes again every
//! `[delivery] config_probe`. A new acknowledgement marks the incident acknowledged in the
//! rules' state and is recorded in the spool in the same commit, through the operator path.
//! An incident known already (mirrored, pending, or acknowledged from Centreon first, which
//! PagerDuty then shows) is left alone, and so is an earlier episode's incident, still listed
//! acknowledged because its resolve is still queued (or created before the daemon's current
//! episode of the key opened); a
//! resolve in PagerDuty changes nothing here.

use super::{backoff, wait, Role};
use crate::config::{PagerDutyConfig, SyncSettings};
use crate::service::delivery::http_client;
use crate::service::ingest::Effects;
use crate::service::operator::commit_effects;
use crate::service::state::{now_ms, Counter};
use crate::service::store::BatchStore;
use ack_sync::{AckedIncident, ListQuery, PagerDutyRest, RestError};
use broker::ResourceId;
use spool::NewAck;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tracing::{debug, error, info, warn};

/// Least time between two listings.
const MIN_GAP: Duration = Duration::from_secs(1);

pub(super) struct Poller {
    client: PagerDutyRest,
}

impl Poller {
    pub(super) fn build(cfg: &PagerDutyConfig, settings: &SyncSettings) -> Result<Poller, String> {
        let http = http_client(cfg, true)
            .and_then(|b| Ok(b.build()?))
            .map_err(|e| format!("PagerDuty REST client: {e:#}"))?;
        let client = PagerDutyRest::with_client(
            http,
            settings.pagerduty_api_url.as_deref(),
            settings.region,
            settings.pagerduty_token.clone(),
        )
        .map_err(|e| format!("PagerDuty REST client: {e}"))?;
        Ok(Poller { client })
    }

    /// One page of acknowledged incidents (`send-test --sync`): how many.
    pub(super) async fn list_one_page(&self) -> Result<usize, RestError> {
        let query = ListQuery {
            max_pages: 1,
            ..ListQuery::default()
        };
        Ok(self.client.list_page(&query, 0).await?.incidents.len())
    }

    pub(super) async fn run(self, sync: Arc<Role>, mut stop: watch::Receiver<bool>) {
        let interval = sync.settings.poll_interval;
        let probe = sync.shared.loaded.config.delivery.config_probe.0;
        let mut failures = 0u32;
        // The first listing comes soon after the start, not a whole interval later.
        let mut next = Duration::from_secs(1);
        loop {
            let since = tokio::time::Instant::now();
            if wait(next, &sync.poll_now, &mut stop).await {
                return;
            }
            // Webhooks wake the poller at once, but a storm of them lists at most once a second.
            let rest = MIN_GAP.saturating_sub(since.elapsed());
            if !rest.is_zero() && wait(rest, &Notify::new(), &mut stop).await {
                return;
            }
            next = match self.client.list_acknowledged(&ListQuery::default()).await {
                Ok(listing) => {
                    failures = 0;
                    sync.shared.metrics.add(Counter::SyncPolls, 1);
                    sync.shared.sync.polled(now_ms());
                    if listing.truncated {
                        warn!(pages = listing.pages, "PagerDuty lists more acknowledged incidents than one round reads: those beyond these pages are not seen.");
                    }
                    match record(&sync, &listing.incidents).await {
                        Ok(0) => {}
                        Ok(n) => {
                            info!(
                                new = n,
                                "Acknowledged in PagerDuty: to mirror into Centreon."
                            );
                            sync.mirror_now.notify_one();
                        }
                        Err(e) => {
                            error!(error = %e, "Cannot record acknowledgements seen in PagerDuty; the next round tries again.");
                            sync.shared.sync.failed(now_ms(), e);
                        }
                    }
                    interval
                }
                Err(e) => {
                    sync.shared.metrics.add(Counter::SyncErrors, 1);
                    failures = failures.saturating_add(1);
                    failed(&sync, &e, failures, interval, probe)
                }
            };
        }
    }
}

/// What a failed listing does; the wait before the next one.
fn failed(
    sync: &Role,
    e: &RestError,
    failures: u32,
    interval: Duration,
    probe: Duration,
) -> Duration {
    let now = now_ms();
    if e.is_config_error() {
        error!(error = %e, "PagerDuty REST API refused the sync's API key: acknowledgements are not mirrored until it is fixed ([sync] pagerduty_api_token_file; check it with centreon-pagerduty send-test --sync).");
        sync.shared
            .sync
            .paused(now, format!("PagerDuty REST API: {e}"));
        return probe;
    }
    sync.shared
        .sync
        .failed(now, format!("PagerDuty REST API: {e}"));
    let wait = match e.retry_after() {
        Some(d) => d.max(Duration::from_secs(1)),
        None => backoff(interval, failures - 1).max(interval),
    };
    warn!(error = %e, retry_in_s = wait.as_secs(), "Listing PagerDuty's acknowledged incidents failed; will retry.");
    wait
}

/// An acknowledged incident of PagerDuty's listing, as the sync needs it.
struct Candidate {
    incident_id: String,
    dedup_key: String,
    who: String,
    /// PagerDuty's `created_at` (Unix seconds).
    created_at: Option<i64>,
}

/// How much earlier than the daemon opened its episode PagerDuty may say it created the
/// incident (clocks): older, it is the incident of an earlier episode of the key.
const EPISODE_SKEW_MS: i64 = 10_000;

/// Mark each newly acknowledged incident that this daemon holds open and record it; how many.
async fn record(sync: &Arc<Role>, incidents: &[AckedIncident]) -> Result<usize, String> {
    let candidates: Vec<Candidate> = incidents
        .iter()
        .filter_map(|i| {
            Some(Candidate {
                incident_id: i.id.clone(),
                dedup_key: i.incident_key.clone()?,
                who: i.who(),
                created_at: i.created_at,
            })
        })
        .collect();
    if candidates.is_empty() {
        return Ok(0);
    }
    let sync = sync.clone();
    tokio::task::spawn_blocking(move || record_blocking(&sync, &candidates))
        .await
        .map_err(|e| format!("task: {e}"))?
}

fn record_blocking(sync: &Role, candidates: &[Candidate]) -> Result<usize, String> {
    let shared = &sync.shared;
    let mut ingest = shared.ingest.lock().map_err(|_| "ingest lock poisoned")?;
    let ingest = &mut *ingest;
    let spool = shared.spool.lock().map_err(|_| "spool lock poisoned")?;
    let now = now_ms();
    let mut acks = Vec::new();
    for c in candidates {
        if spool.ack_known(&c.incident_id).map_err(|e| e.to_string())? {
            continue;
        }
        let Some((host_id, service_id, opened_at_ms)) = spool
            .open_incident_resource(&c.dedup_key)
            .map_err(|e| e.to_string())?
        else {
            continue;
        };
        // An incident of an earlier episode of the key, whose resolve PagerDuty has not taken
        // yet: its acknowledgement is not the current problem's. The resolve still queued says
        // so (the next listing, once it is delivered, shows the current incident only); so does
        // an incident created before the current episode opened.
        let earlier = spool
            .resolve_queued(&c.dedup_key)
            .map_err(|e| e.to_string())?
            || c.created_at
                .is_some_and(|t| t.saturating_mul(1000) < opened_at_ms - EPISODE_SKEW_MS);
        if earlier {
            debug!(dedup_key = %c.dedup_key, incident = %c.incident_id, "Acknowledged in PagerDuty, but an earlier episode's incident: not mirrored.");
            continue;
        }
        acks.push(NewAck {
            incident_id: c.incident_id.clone(),
            dedup_key: c.dedup_key.clone(),
            host_id,
            service_id,
            who: c.who.clone(),
        });
    }
    if acks.is_empty() {
        return Ok(0);
    }
    let mut effects = Effects::default();
    let mut store = BatchStore::new(&mut ingest.cache, &spool);
    // Only incidents not acknowledged yet: one Centreon acknowledged first (this daemon then
    // sent PagerDuty the acknowledge) needs nothing back.
    acks.retain(|a| {
        let id = ResourceId::service(a.host_id, a.service_id);
        ingest
            .engine
            .acknowledged_in_pagerduty(&mut store, id, &a.dedup_key)
    });
    effects.finish(&mut store, now);
    drop(store);
    let added = acks.len();
    effects.record_acks(acks, now);
    commit_effects(shared, spool, &mut ingest.cache, effects)?;
    Ok(added)
}
