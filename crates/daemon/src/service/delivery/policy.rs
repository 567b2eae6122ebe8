//! Delivery policy (DESIGN §4.4), as pure functions of time and the queue: the backoff after
//! a failure, the jitter, and what becomes of an old queue head (collapse, `max_event_age`).
//! Nothing here does I/O or holds state; the queue is read through [`Behind`].

use crate::service::state::now_ms;
use pagerduty::Action;
use std::time::Duration;

pub use super::state::throttle_pause;

/// Exponential backoff with jitter: `min·2^attempts`, capped at `max`, then a random
/// value between half of it and all of it.
pub fn backoff(min: Duration, max: Duration, attempts: u32, jitter: f64) -> Duration {
    let base = min.as_secs_f64() * 2f64.powi(attempts.min(30) as i32);
    let capped = base.min(max.as_secs_f64());
    Duration::from_secs_f64(capped * (0.5 + 0.5 * jitter.clamp(0.0, 1.0)))
}

/// A small xorshift generator for jitter (no need for cryptographic randomness).
pub struct Jitter(u64);

impl Jitter {
    pub fn seeded() -> Self {
        Jitter((now_ms() as u64) | 1)
    }
    /// A number in [0, 1).
    pub fn sample(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What to do with a queue head before sending it (DESIGN §4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stale {
    /// Send it.
    Send,
    /// A trigger older than `collapse_after` whose resolve is queued behind it: neither it nor
    /// anything queued before that resolve is sent (these ids, head first). The resolve is
    /// among them when PagerDuty has no incident open for the key: it would close nothing.
    Collapse(Vec<i64>),
    /// Past `max_event_age`: a superseded trigger, or an acknowledge. Dead letter.
    Expire(&'static str),
}

/// What the queue knows about a head's dedup key, asked only for old triggers.
pub trait Behind {
    /// (id, action) queued after the head.
    fn queued(&self) -> Vec<(i64, Action)>;
    /// PagerDuty has an incident open for the key (a trigger delivered after the last resolve).
    fn open_in_pagerduty(&self) -> bool;
}

/// Decide about a head `age_ms` old (DESIGN §4.4: collapse and `max_event_age`).
pub fn stale_head(
    head_id: i64,
    action: Action,
    age_ms: i64,
    behind: &impl Behind,
    collapse_ms: i64,
    max_age_ms: i64,
) -> Stale {
    match action {
        Action::Trigger if age_ms > collapse_ms || age_ms > max_age_ms => {
            let queued = behind.queued();
            if age_ms > collapse_ms {
                if let Some(pos) = queued.iter().position(|(_, a)| *a == Action::Resolve) {
                    let end = if behind.open_in_pagerduty() {
                        pos
                    } else {
                        pos + 1
                    };
                    let mut skip = vec![head_id];
                    skip.extend(queued[..end].iter().map(|(id, _)| *id));
                    return Stale::Collapse(skip);
                }
            }
            // A current problem (nothing behind it) is never expired.
            if age_ms > max_age_ms && !queued.is_empty() {
                return Stale::Expire("expired: superseded trigger older than max_event_age");
            }
            Stale::Send
        }
        Action::Acknowledge if age_ms > max_age_ms => {
            Stale::Expire("expired: acknowledge older than max_event_age")
        }
        // Resolves never expire.
        _ => Stale::Send,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let min = Duration::from_secs(1);
        let max = Duration::from_secs(300);
        assert_eq!(backoff(min, max, 0, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(min, max, 3, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(min, max, 20, 1.0), Duration::from_secs(300));
        // Jitter keeps at least half.
        assert_eq!(backoff(min, max, 3, 0.0), Duration::from_secs(4));
    }

    struct Queue {
        queued: Vec<(i64, Action)>,
        open: bool,
    }

    impl Behind for Queue {
        fn queued(&self) -> Vec<(i64, Action)> {
            self.queued.clone()
        }
        fn open_in_pagerduty(&self) -> bool {
            self.open
        }
    }

    fn behind(items: &[(i64, &str)]) -> Queue {
        Queue {
            queued: items
                .iter()
                .map(|(id, a)| (*id, a.parse().unwrap_or(Action::Trigger)))
                .collect(),
            open: true,
        }
    }

    fn never_opened(items: &[(i64, &str)]) -> Queue {
        Queue {
            open: false,
            ..behind(items)
        }
    }

    const MIN: i64 = 60_000;
    const COLLAPSE: i64 = 15 * MIN;
    const MAX_AGE: i64 = 7 * 24 * 60 * MIN;

    #[test]
    fn stale_trigger_with_queued_resolve_collapses_with_what_lies_between() {
        let queue = behind(&[
            (2, "acknowledge"),
            (3, "trigger"),
            (4, "resolve"),
            (5, "trigger"),
        ]);
        let d = stale_head(1, Action::Trigger, 16 * MIN, &queue, COLLAPSE, MAX_AGE);
        assert_eq!(d, Stale::Collapse(vec![1, 2, 3]));
    }

    #[test]
    fn collapse_never_sends_a_useless_resolve() {
        // No incident open in PagerDuty for the key: its resolve would close nothing.
        let queue = never_opened(&[(2, "resolve"), (3, "trigger")]);
        let d = stale_head(1, Action::Trigger, 16 * MIN, &queue, COLLAPSE, MAX_AGE);
        assert_eq!(d, Stale::Collapse(vec![1, 2]));
        // An incident open: the resolve goes.
        let queue = behind(&[(2, "resolve"), (3, "trigger")]);
        let d = stale_head(1, Action::Trigger, 16 * MIN, &queue, COLLAPSE, MAX_AGE);
        assert_eq!(d, Stale::Collapse(vec![1]));
    }

    #[test]
    fn recent_trigger_or_no_resolve_is_sent() {
        let resolve = behind(&[(2, "resolve")]);
        assert_eq!(
            stale_head(1, Action::Trigger, 14 * MIN, &resolve, COLLAPSE, MAX_AGE),
            Stale::Send
        );
        let ack = behind(&[(2, "acknowledge")]);
        assert_eq!(
            stale_head(1, Action::Trigger, 16 * MIN, &ack, COLLAPSE, MAX_AGE),
            Stale::Send
        );
    }

    #[test]
    fn max_event_age_expires_superseded_triggers_and_acks_never_current_problems_or_resolves() {
        let old = MAX_AGE + 1;
        let superseded = behind(&[(2, "trigger")]);
        let nothing = behind(&[]);
        assert!(matches!(
            stale_head(1, Action::Trigger, old, &superseded, COLLAPSE, MAX_AGE),
            Stale::Expire(_)
        ));
        assert_eq!(
            stale_head(1, Action::Trigger, old, &nothing, COLLAPSE, MAX_AGE),
            Stale::Send
        );
        assert!(matches!(
            stale_head(1, Action::Acknowledge, old, &nothing, COLLAPSE, MAX_AGE),
            Stale::Expire(_)
        ));
        assert_eq!(
            stale_head(1, Action::Resolve, old, &nothing, COLLAPSE, MAX_AGE),
            Stale::Send
        );
    }

    #[test]
    fn jitter_in_unit_interval() {
        let mut j = Jitter(12345);
        for _ in 0..1000 {
            let x = j.sample();
            assert!((0.0..1.0).contains(&x));
        }
    }
}
