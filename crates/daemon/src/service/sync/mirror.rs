//! The mirror: the spool's pending acknowledgements set in Centreon
//! (`POST /monitoring/resources/acknowledge`), oldest first.
//!
//! Contract: a 204 is done, recorded at once; a failure that may pass (5xx, network, a login
//! answer without token) is retried with backoff per row; a configuration error (401 with an
//! API token, 401 again after a new login, 403) pauses the mirror loudly and it probes again
//! every `[delivery] config_probe`; a request Centreon will never take (another 4xx: the
//! resource is gone) is recorded as refused and logged.
//!
//! Each attempt is recorded before it leaves. A row tried before has an unknown outcome at
//! worst (a timeout; the daemon killed between Centreon's 204 and its record, in which case the
//! row is due again [`OUTCOME_GRACE`] later): before sending it again the mirror asks Centreon
//! whether the resource is acknowledged (`GET /monitoring/resources/hosts/…`) and, if so, records
//! it done without sending. If Centreon cannot tell, it is sent: twice rather than never.

use super::{backoff, wait, Role};
use crate::config::{PagerDutyConfig, SyncSettings};
use crate::service::delivery::http_client;
use crate::service::state::{now_ms, Counter};
use ack_sync::{Acknowledgement, CentreonClient, Resource};
use spool::PendingAck;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tracing::{debug, error, info, warn};

/// First wait after a failure; doubles per failure of the same row.
const RETRY_MIN: Duration = Duration::from_secs(5);
/// Rows read per round.
const ROUND: usize = 50;
/// When an attempt's outcome was never recorded (the daemon killed while Centreon answered),
/// the row is due again this long after it left, and Centreon is asked first whether it took
/// it: long enough for Centreon to have applied the command it answered 204 to.
const OUTCOME_GRACE: Duration = Duration::from_secs(15);

pub(super) struct Mirror {
    client: CentreonClient,
}

impl Mirror {
    pub(super) fn build(cfg: &PagerDutyConfig, settings: &SyncSettings) -> Result<Mirror, String> {
        let http = http_client(cfg, false)
            .and_then(|b| Ok(b.build()?))
            .map_err(|e| format!("Centreon API client: {e:#}"))?;
        let client = CentreonClient::with_client(
            http,
            &settings.centreon_api_url,
            settings.centreon_auth.clone(),
        )
        .map_err(|e| format!("Centreon API client: {e}"))?;
        Ok(Mirror { client })
    }

    /// An authenticated call that changes nothing (`send-test --sync`).
    pub(super) async fn check_access(&self) -> Result<(), ack_sync::CentreonError> {
        self.client.check_access().await
    }

    pub(super) async fn run(self, sync: Arc<Role>, mut stop: watch::Receiver<bool>) {
        let probe = sync.shared.loaded.config.delivery.config_probe.0;
        // While paused, new acknowledgements wait for the probe too.
        let paused_wake = Notify::new();
        loop {
            let paused = self.round(&sync).await;
            let (next, wake) = if paused {
                (probe, &paused_wake)
            } else {
                (next_due(&sync).await, &sync.mirror_now)
            };
            if wait(next, wake, &mut stop).await {
                return;
            }
        }
    }

    /// Set every due acknowledgement; true when a configuration error paused the mirror.
    async fn round(&self, sync: &Arc<Role>) -> bool {
        let due = {
            let shared = sync.shared.clone();
            tokio::task::spawn_blocking(move || {
                shared
                    .reader
                    .lock()
                    .map_err(|_| "spool lock poisoned".to_owned())
                    .and_then(|s| s.due_acks(now_ms(), ROUND).map_err(|e| e.to_string()))
            })
            .await
        };
        let due = match due.map_err(|e| e.to_string()).and_then(|read| read) {
            Ok(due) => due,
            Err(e) => {
                error!(error = %e, "Cannot read the acknowledgements to mirror.");
                return false;
            }
        };
        for row in due {
            if self.mirror(sync, row).await {
                return true;
            }
        }
        false
    }

    /// Set one acknowledgement; true when a configuration error paused the mirror.
    async fn mirror(&self, sync: &Arc<Role>, row: PendingAck) -> bool {
        let ack = acknowledgement(sync, &row);
        if row.attempts > 0 && self.taken_already(&row, ack.resource).await {
            let now = now_ms();
            sync.shared.metrics.add(Counter::SyncMirrored, 1);
            sync.shared.sync.centreon_ok();
            store(sync, move |s| s.ack_done(&row.incident_id, now, None)).await;
            return false;
        }
        let id = row.incident_id.clone();
        let unknown_after = now_ms() + OUTCOME_GRACE.as_millis() as i64;
        store(sync, move |s| s.ack_attempt(&id, unknown_after)).await;
        let result = self.client.acknowledge(&ack).await;
        let now = now_ms();
        match result {
            Ok(()) => {
                sync.shared.metrics.add(Counter::SyncMirrored, 1);
                sync.shared.sync.centreon_ok();
                info!(dedup_key = %row.dedup_key, incident = %row.incident_id, who = %row.who, "Acknowledged in Centreon, as in PagerDuty.");
                store(sync, move |s| s.ack_done(&row.incident_id, now, None)).await;
            }
            Err(e) if e.is_config_error() => {
                sync.shared.metrics.add(Counter::SyncErrors, 1);
                error!(error = %e, "Centreon's API refused the sync's credentials or rights: acknowledgements from PagerDuty are not mirrored until it is fixed ([sync] centreon_api_token_file or centreon_login_file; check with centreon-pagerduty send-test --sync).");
                sync.shared.sync.paused(now, format!("Centreon API: {e}"));
                // Turned away, not taken: due again when the probe finds the access back.
                let text = e.to_string();
                store(sync, move |s| {
                    s.ack_turned_away(&row.incident_id, now, &text)
                })
                .await;
                return true;
            }
            Err(e) if e.is_retryable() => {
                sync.shared.metrics.add(Counter::SyncErrors, 1);
                let wait = backoff(RETRY_MIN, row.attempts);
                warn!(error = %e, dedup_key = %row.dedup_key, retry_in_s = wait.as_secs(), "Centreon's API failed; the acknowledgement will be tried again.");
                sync.shared.sync.failed(now, format!("Centreon API: {e}"));
                let due = now + wait.as_millis() as i64;
                let text = e.to_string();
                store(sync, move |s| s.ack_retry(&row.incident_id, due, &text)).await;
            }
            Err(e) => {
                sync.shared.metrics.add(Counter::SyncErrors, 1);
                error!(error = %e, dedup_key = %row.dedup_key, "Centreon refused the acknowledgement; it is not tried again.");
                sync.shared.sync.failed(now, format!("Centreon API: {e}"));
                let text = e.to_string();
                store(sync, move |s| {
                    s.ack_done(&row.incident_id, now, Some(&text))
                })
                .await;
            }
        }
        false
    }

    /// Whether Centreon already shows the resource acknowledged, for a row tried before whose
    /// outcome may be unknown (a timeout, or the daemon killed before it recorded Centreon's
    /// 204). When Centreon cannot tell, the acknowledgement is sent again: twice rather than
    /// never.
    async fn taken_already(&self, row: &PendingAck, resource: Resource) -> bool {
        match self.client.is_acknowledged(resource).await {
            Ok(true) => {
                info!(dedup_key = %row.dedup_key, incident = %row.incident_id, who = %row.who, "Already acknowledged in Centreon (an earlier attempt was taken, or someone acknowledged it there); not sent again.");
                true
            }
            Ok(false) => false,
            // Centreon down or slow: the sending below fails too, and says so.
            Err(e) if e.is_retryable() => {
                debug!(error = %e, dedup_key = %row.dedup_key, "Cannot ask Centreon whether an earlier attempt was taken; the acknowledgement is sent again.");
                false
            }
            Err(e) => {
                warn!(error = %e, dedup_key = %row.dedup_key, "Cannot ask Centreon whether an earlier attempt was taken (can the API user see the resource?); the acknowledgement is sent again.");
                false
            }
        }
    }
}

/// The acknowledgement to set for a row (`comment` with `{who}` rendered).
fn acknowledgement(sync: &Role, row: &PendingAck) -> Acknowledgement {
    let resource = if row.service_id == 0 {
        Resource::Host {
            host_id: row.host_id,
        }
    } else {
        Resource::Service {
            host_id: row.host_id,
            service_id: row.service_id,
        }
    };
    Acknowledgement {
        resource,
        comment: sync.settings.comment.replace("{who}", &row.who),
        notify_contacts: sync.settings.notify_contacts,
        sticky: sync.settings.sticky,
    }
}

/// Write through the spool's writer; a failure is logged (the row stays as it was: tried again).
async fn store(
    sync: &Arc<Role>,
    f: impl FnOnce(&mut spool::Spool) -> spool::Result<()> + Send + 'static,
) {
    let shared = sync.shared.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut spool = shared
            .spool
            .lock()
            .map_err(|_| "spool lock poisoned".to_owned())?;
        f(&mut spool).map_err(|e| e.to_string())
    })
    .await;
    if let Some(e) = match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(e) => Some(e.to_string()),
    } {
        error!(error = %e, "Cannot record a mirrored acknowledgement's outcome.");
    }
}

/// How long until the next pending acknowledgement is due (a minute at most: new ones wake
/// the mirror anyway).
async fn next_due(sync: &Arc<Role>) -> Duration {
    let shared = sync.shared.clone();
    let next = tokio::task::spawn_blocking(move || {
        shared
            .reader
            .lock()
            .ok()
            .and_then(|s| s.next_ack_due().ok().flatten())
    })
    .await
    .ok()
    .flatten();
    let idle = Duration::from_secs(60);
    next.map_or(idle, |t| {
        Duration::from_millis((t - now_ms()).clamp(0, idle.as_millis() as i64) as u64)
    })
}
