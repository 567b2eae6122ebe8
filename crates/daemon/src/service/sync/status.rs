//! What the sync knows about itself, for `status` and the metrics: behind one lock, changed
//! only through the named transitions below. The spool holds the rest (mirrored, pending).

use std::sync::Mutex;

/// The sync's own state, shared by its tasks and the status API.
#[derive(Debug, Default)]
pub struct SyncStatus {
    inner: Mutex<Inner>,
}

/// A copy of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSnapshot {
    pub enabled: bool,
    pub webhook: bool,
    /// Daemon time (ms) of the last listing that succeeded.
    pub last_poll_ms: Option<i64>,
    /// The last failure (PagerDuty or Centreon), with its daemon time (ms).
    pub last_error: Option<(i64, String)>,
    /// Why the sync is paused (a configuration error), if it is.
    pub paused: Option<String>,
}

type Inner = SyncSnapshot;

impl SyncStatus {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        match self.inner.lock() {
            Ok(mut inner) => f(&mut inner),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// The sync runs (`webhook`: with its listener).
    pub fn started(&self, webhook: bool) {
        self.with(|s| {
            s.enabled = true;
            s.webhook = webhook;
        });
    }

    /// A listing succeeded.
    pub fn polled(&self, now_ms: i64) {
        self.with(|s| {
            s.last_poll_ms = Some(now_ms);
            if s.paused
                .as_deref()
                .is_some_and(|p| p.starts_with("PagerDuty"))
            {
                s.paused = None;
            }
        });
    }

    /// Something failed and will be tried again.
    pub fn failed(&self, now_ms: i64, error: String) {
        self.with(|s| s.last_error = Some((now_ms, error)));
    }

    /// A configuration error: paused until it passes again.
    pub fn paused(&self, now_ms: i64, reason: String) {
        self.with(|s| {
            s.last_error = Some((now_ms, reason.clone()));
            s.paused = Some(reason);
        });
    }

    /// Centreon took an acknowledgement again after a pause.
    pub fn centreon_ok(&self) {
        self.with(|s| {
            if s.paused
                .as_deref()
                .is_some_and(|p| p.starts_with("Centreon"))
            {
                s.paused = None;
            }
        });
    }

    pub fn snapshot(&self) -> SyncSnapshot {
        self.with(|s| s.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_lifts_only_for_its_own_side() {
        let s = SyncStatus::default();
        s.started(false);
        s.paused(1, "Centreon: 401".into());
        s.polled(2);
        assert_eq!(s.snapshot().paused.as_deref(), Some("Centreon: 401"));
        s.centreon_ok();
        assert_eq!(s.snapshot().paused, None);
        assert_eq!(s.snapshot().last_error, Some((1, "Centreon: 401".into())));
        s.paused(3, "PagerDuty: 401".into());
        s.centreon_ok();
        assert!(s.snapshot().paused.is_some());
        s.polled(4);
        assert_eq!(s.snapshot().paused, None);
        assert_eq!(s.snapshot().last_poll_ms, Some(4));
    }
}
