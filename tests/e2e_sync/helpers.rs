//! Shared helpers: the secrets the mocks accept, the two API mocks (`Apis`), a daemon with
//! `[sync]` on, a service paged, the acknowledgements Centreon took, the listings PagerDuty saw,
//! no secret printed whole.

use crate::common::mock_centreon::MockCentreon;
use crate::common::mock_pagerduty_rest::{MockIncident, MockPagerDutyRest};
use crate::common::*;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The PagerDuty REST API key the mock accepts.
pub(crate) const PD_API_TOKEN: &str = "y_NbAkKc66ryYTWUXYEu";
/// The Centreon API token the mock accepts.
pub(crate) const CENTREON_TOKEN: &str = "centreon-api-token-0123456789";
/// The Centreon login and password the mock accepts.
pub(crate) const CENTREON_LOGIN: (&str, &str) = ("pagerduty-sync", "s3cret: with spaces");

/// How Centreon is reached.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Auth {
    Token,
    Login,
}

/// The two APIs the sync talks to, each validating what it receives against its specification.
pub(crate) struct Apis {
    pub(crate) pd: MockPagerDutyRest,
    pub(crate) centreon: MockCentreon,
}

impl Apis {
    pub(crate) fn start() -> Apis {
        Apis {
            pd: MockPagerDutyRest::start(PD_API_TOKEN),
            centreon: MockCentreon::start(Some(CENTREON_TOKEN), CENTREON_LOGIN.0, CENTREON_LOGIN.1),
        }
    }

    /// An incident opened by an event with `incident_key`, acknowledged in PagerDuty by `who`.
    pub(crate) fn acknowledge_incident(&self, id: &str, incident_key: &str, who: &str) {
        self.pd
            .upsert_incident(MockIncident::acknowledged(id, incident_key, who));
    }

    /// Every request the daemon made, as the official specifications say.
    pub(crate) fn assert_no_violation(&self) {
        assert_eq!(
            self.pd.violations(),
            Vec::<String>::new(),
            "PagerDuty REST requests departing from the specification"
        );
        assert_eq!(
            self.centreon.violations(),
            Vec::<String>::new(),
            "Centreon API requests departing from the specification"
        );
    }
}

pub(crate) fn secret_file(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
}

pub(crate) fn config(events: &MockPagerDuty, apis: &Apis, auth: Auth) -> Config {
    let c = Config::new(&events.url())
        .set_str("sync", "pagerduty_api_token_file", "{DIR}/pd-api.key")
        .set_str("sync", "pagerduty_api_url", &apis.pd.url())
        .set_str("sync", "poll_interval", "1s")
        .set_str("sync", "centreon_api_url", &apis.centreon.url());
    match auth {
        Auth::Token => c.set_str("sync", "centreon_api_token_file", "{DIR}/centreon.token"),
        Auth::Login => c.set_str("sync", "centreon_login_file", "{DIR}/centreon.login"),
    }
}

/// A daemon with `[sync]` on, its secret files written.
pub(crate) fn start(config: Config) -> Daemon {
    let mut d = Daemon::prepare(config);
    let dir = d.dir.path().to_owned();
    secret_file(&dir, "pd-api.key", &format!("{PD_API_TOKEN}\n"));
    secret_file(&dir, "centreon.token", &format!("{CENTREON_TOKEN}\n"));
    secret_file(
        &dir,
        "centreon.login",
        &format!("{}:{}\n", CENTREON_LOGIN.0, CENTREON_LOGIN.1),
    );
    d.spawn();
    d.wait_ready(WAIT);
    d
}

/// A service paged: its trigger delivered, its incident open in the daemon.
pub(crate) fn paged(d: &Daemon, events: &MockPagerDuty, svc: &mut Svc) {
    d.post_ok(&[svc.first_ok()]);
    d.post_ok(&[svc.critical("CRITICAL: disk full")]);
    let key = svc.dedup_key();
    assert!(
        events.wait_until(WAIT, |r| r
            .iter()
            .any(|r| r.delivered() && r.dedup_key() == Some(key.as_str()))),
        "the trigger was not delivered\n{}",
        d.log_tail(30)
    );
}

/// The bodies of the acknowledgements of `svc` Centreon took (204).
pub(crate) fn acks_for(apis: &Apis, svc: &Svc) -> Vec<Value> {
    apis.centreon
        .acknowledgements()
        .into_iter()
        .filter(|b| b["resources"][0]["id"] == svc.service_id)
        .collect()
}

pub(crate) fn wait_acks(apis: &Apis, svc: &Svc, n: usize) -> bool {
    poll_until(WAIT, || acks_for(apis, svc).len() >= n)
}

/// Polls seen so far.
pub(crate) fn listings(apis: &Apis) -> usize {
    apis.pd.listings()
}

/// Wait for `n` more listings (the daemon has looked again).
pub(crate) fn wait_listings(apis: &Apis, n: usize) {
    let target = listings(apis) + n;
    assert!(
        apis.pd.wait_listings(target, WAIT),
        "the daemon stopped polling"
    );
}

/// Tokens never printed whole: the logs, `status`, `check-config`.
pub(crate) fn assert_no_secret(d: &Daemon, status: &str) {
    let check = String::from_utf8_lossy(&d.cli(&["check-config"]).stdout).into_owned();
    for text in [d.logs(), status.to_owned(), check] {
        for secret in [PD_API_TOKEN, CENTREON_TOKEN, CENTREON_LOGIN.1] {
            assert!(!text.contains(secret), "a secret in:\n{text}");
        }
    }
}
