//! PagerDuty → Centreon acknowledgements (DESIGN §4.6), a role of its own, off unless `[sync]`
//! has a PagerDuty REST API key.
//!
//! One role per file:
//! - `poll`: one listing of PagerDuty's acknowledged incidents per `poll_interval` (at once
//!   when the webhook says one was acknowledged), matched by `incident_key` against the
//!   incidents this daemon holds open; each new one marks the incident acknowledged in the
//!   rules' state and is recorded in the spool, in one commit (no loop: Centreon's echo of the
//!   acknowledgement then sends PagerDuty nothing);
//! - `mirror`: the spool's pending acknowledgements set in Centreon, oldest first, with backoff;
//!   a configuration error pauses it loudly and it probes again every `config_probe`;
//! - `webhook`: the optional listener for PagerDuty webhooks V3 — signature checked before
//!   anything is parsed, a signed `incident.acknowledged` wakes the poller; nothing else served;
//! - `status`: what `status` and the metrics show of it, behind named transitions.
//!
//! It never touches the delivery queue nor its state: a slow or broken Centreon or PagerDuty
//! REST API never slows the delivery to PagerDuty. The ingest lock is taken only to mark
//! incidents acknowledged, as an operator's command does.

mod mirror;
mod poll;
mod status;
mod webhook;

pub(crate) use status::{SyncSnapshot, SyncStatus};

use crate::config::SyncSettings;
use crate::service::state::Shared;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tracing::{error, info};

/// Longest wait between two tries of a failing call.
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// What the sync's tasks share: the daemon's state, the settings, and the two wake-ups.
struct Role {
    shared: Arc<Shared>,
    settings: SyncSettings,
    /// A webhook said an incident was acknowledged: poll now.
    poll_now: Notify,
    /// New acknowledgements were recorded.
    mirror_now: Notify,
}

/// Run the sync until `stop`, if `[sync]` is on.
pub(crate) async fn run(shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    let Some(settings) = shared.loaded.sync.clone() else {
        return;
    };
    let webhook = settings.webhook.clone();
    shared.sync.started(webhook.is_some());
    let sync = Arc::new(Role {
        shared,
        settings,
        poll_now: Notify::new(),
        mirror_now: Notify::new(),
    });
    let cfg = &sync.shared.loaded.config.pagerduty;
    let (poll, mirror) = match (
        poll::Poller::build(cfg, &sync.settings),
        mirror::Mirror::build(cfg, &sync.settings),
    ) {
        (Ok(p), Ok(m)) => (p, m),
        (Err(e), _) | (_, Err(e)) => {
            error!(error = %e, "The PagerDuty → Centreon acknowledgement sync cannot start.");
            sync.shared.sync.paused(crate::service::state::now_ms(), e);
            return;
        }
    };
    info!(
        poll_interval_s = sync.settings.poll_interval.as_secs(),
        centreon = %sync.settings.centreon_api_url,
        webhook = ?webhook.as_ref().map(|(a, _)| a),
        "PagerDuty → Centreon acknowledgement sync started."
    );
    let mut tasks = vec![
        tokio::spawn(poll.run(sync.clone(), stop.clone())),
        tokio::spawn(mirror.run(sync.clone(), stop.clone())),
    ];
    if let Some((addr, secrets)) = webhook {
        tasks.push(tokio::spawn(webhook::serve(
            sync.clone(),
            addr,
            secrets,
            stop,
        )));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// `send-test --sync`: one page of PagerDuty's acknowledged incidents, and an authenticated
/// call to Centreon; nothing is acknowledged. One line per API, and whether both answered.
pub(crate) async fn check(loaded: &crate::config::Loaded) -> (Vec<String>, bool) {
    let Some(settings) = &loaded.sync else {
        return (
            vec!["[sync] is off: set sync.pagerduty_api_token_file (README, [sync])".into()],
            false,
        );
    };
    let cfg = &loaded.config.pagerduty;
    let mut lines = Vec::new();
    let mut ok = true;
    match poll::Poller::build(cfg, settings) {
        Ok(p) => match p.list_one_page().await {
            Ok(n) => lines.push(format!(
                "PagerDuty REST API: OK, {n} acknowledged incident(s) on the first page"
            )),
            Err(e) => {
                ok = false;
                lines.push(format!("PagerDuty REST API: FAILED: {e}"));
            }
        },
        Err(e) => {
            ok = false;
            lines.push(e);
        }
    }
    match mirror::Mirror::build(cfg, settings) {
        Ok(m) => match m.check_access().await {
            Ok(()) => lines.push(format!(
                "Centreon API ({}): OK, authenticated",
                settings.centreon_api_url
            )),
            Err(e) => {
                ok = false;
                lines.push(format!(
                    "Centreon API ({}): FAILED: {e}",
                    settings.centreon_api_url
                ));
            }
        },
        Err(e) => {
            ok = false;
            lines.push(e);
        }
    }
    (lines, ok)
}

/// Exponential backoff from `min`, doubling per failure, capped at [`BACKOFF_MAX`].
fn backoff(min: Duration, failures: u32) -> Duration {
    min.saturating_mul(1u32 << failures.min(16))
        .min(BACKOFF_MAX)
}

/// Sleep `d`, or less if `stop` fires or `wake` is notified; true when stopping.
async fn wait(d: Duration, wake: &Notify, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = wake.notified() => false,
        _ = stop.changed() => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let s = Duration::from_secs(1);
        assert_eq!(backoff(s, 0), s);
        assert_eq!(backoff(s, 3), Duration::from_secs(8));
        assert_eq!(backoff(s, 40), BACKOFF_MAX);
    }
}
