//! The delivery state of every routing key, behind one handle: pauses (429, configuration
//! errors, operators), the probe of a paused key, its token bucket, the dedup keys in flight,
//! and the routing keys that may have work.
//!
//! It owns that state and changes it only through named transitions ([`DeliveryState::throttled`],
//! [`DeliveryState::config_error`], [`DeliveryState::delivered`], …). It never touches the spool
//! or the network, and its one lock is never held across either: the scheduler takes a
//! [`DeliveryState::budget`], queries the spool, then [`DeliveryState::claim`]s what it picked.
//!
//! Pause epochs (DESIGN §4.4): every pause begun bumps its key's epoch, and a request records
//! the epoch it was sent in. An answer to a request sent before the current pause began says
//! nothing about that pause: a 202 does not lift it, a 429 does not double it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Token bucket burst (DESIGN §3.2).
const BURST: f64 = 10.0;
/// Consecutive non-key 400s that pause a routing key.
const MAX_CONSECUTIVE_400: u32 = 5;

/// Why a routing key is not being sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PauseKind {
    /// 429: PagerDuty asked us to slow down.
    Throttled,
    /// PagerDuty refused the key or the endpoint: an operator must look.
    ConfigError(String),
}

/// A paused routing key, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paused {
    pub route: String,
    pub routing_key: String,
    /// Paused by an operator (`centreon-pagerduty pause ROUTE`).
    pub by_operator: bool,
    pub kind: Option<PauseKind>,
    pub until_ms: i64,
}

/// What the scheduler may send on one routing key now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Up to this many requests; `probe`: the key is paused and this one request tests it.
    Send { slots: usize, probe: bool },
    /// Nothing before this time (ms), unless new work arrives.
    WaitUntil(i64),
    /// Paused by an operator, or its probe is out.
    Hold,
}

/// A request the scheduler claimed: what its answer must be judged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    /// The routing key's pause epoch when the request left.
    pub epoch: u64,
    /// The one request testing a paused key.
    pub probe: bool,
}

/// Delivery state of one routing key.
#[derive(Debug, Clone)]
struct KeyState {
    route: String,
    paused_until_ms: i64,
    pause: Option<PauseKind>,
    operator_paused: bool,
    /// Consecutive 429s (for the doubling throttle).
    throttle_level: u32,
    /// Consecutive 400s that were not about the routing key.
    consecutive_400: u32,
    probe_in_flight: bool,
    pause_epoch: u64,
    /// Nothing of this key is due before this time (ms), unless new work arrives.
    next_check_ms: i64,
    tokens: f64,
    tokens_at_ms: i64,
}

impl KeyState {
    fn new(route: &str, now_ms: i64) -> Self {
        Self {
            route: route.to_owned(),
            paused_until_ms: 0,
            pause: None,
            operator_paused: false,
            throttle_level: 0,
            consecutive_400: 0,
            probe_in_flight: false,
            pause_epoch: 0,
            next_check_ms: 0,
            tokens: BURST,
            tokens_at_ms: now_ms,
        }
    }

    /// Refill the token bucket and say how many requests may go now.
    fn available(&mut self, rate_per_minute: u32, now_ms: i64) -> usize {
        let elapsed = (now_ms - self.tokens_at_ms).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * f64::from(rate_per_minute) / 60.0).min(BURST);
        self.tokens_at_ms = now_ms;
        self.tokens.floor().max(0.0) as usize
    }

    fn begin_pause(&mut self, kind: PauseKind, until_ms: i64) {
        self.pause_epoch = self.pause_epoch.wrapping_add(1);
        self.pause = Some(kind);
        self.paused_until_ms = self.paused_until_ms.max(until_ms);
    }
}

#[derive(Default)]
struct Inner {
    keys: HashMap<String, KeyState>,
    /// Dedup keys picked and not yet completed (one request in flight per dedup key).
    busy: HashSet<String>,
    /// Routing keys that may have pending deliveries (a superset).
    routing_keys: BTreeSet<String>,
}

impl Inner {
    fn key(&mut self, routing_key: &str, now_ms: i64) -> &mut KeyState {
        self.keys
            .entry(routing_key.to_owned())
            .or_insert_with(|| KeyState::new("", now_ms))
    }
}

/// The handle.
#[derive(Default)]
pub struct DeliveryState {
    inner: Mutex<Inner>,
}

impl DeliveryState {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding it leaves plain data behind: keep going with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Routing keys that now have deliveries queued.
    pub fn add_routing_keys<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        let mut inner = self.lock();
        for k in keys {
            if !inner.routing_keys.contains(k) {
                inner.routing_keys.insert(k.to_owned());
            }
        }
    }

    pub fn routing_keys(&self) -> Vec<String> {
        self.lock().routing_keys.iter().cloned().collect()
    }

    /// What may be sent on `routing_key` now, within `free_slots` and its token bucket.
    /// `woken`: new work arrived, so a remembered idle time is stale.
    pub fn budget(
        &self,
        routing_key: &str,
        rate_per_minute: u32,
        now_ms: i64,
        woken: bool,
        free_slots: usize,
    ) -> Budget {
        let mut inner = self.lock();
        let k = inner.key(routing_key, now_ms);
        if k.operator_paused {
            return Budget::Hold;
        }
        if k.paused_until_ms > now_ms {
            return Budget::WaitUntil(k.paused_until_ms);
        }
        if woken {
            k.next_check_ms = 0;
        }
        if k.next_check_ms > now_ms {
            return Budget::WaitUntil(k.next_check_ms);
        }
        let probe = k.pause.is_some();
        if probe && k.probe_in_flight {
            return Budget::Hold;
        }
        let mut slots = if probe { 1 } else { free_slots };
        if !routing_key.is_empty() {
            slots = slots.min(k.available(rate_per_minute, now_ms));
        }
        if slots == 0 {
            // Come back when the bucket has a token again.
            let per_token_ms = (60_000 / i64::from(rate_per_minute.max(1))).max(1);
            return Budget::WaitUntil(now_ms + per_token_ms);
        }
        Budget::Send { slots, probe }
    }

    /// Nothing of `routing_key` is due before `at_ms` (busy keys wake the scheduler when done).
    pub fn idle_until(&self, routing_key: &str, at_ms: i64, now_ms: i64) {
        self.lock().key(routing_key, now_ms).next_check_ms = at_ms;
    }

    /// Dedup keys with a request out or an outcome not yet committed.
    pub fn busy(&self) -> HashSet<String> {
        self.lock().busy.clone()
    }

    /// Claim a dedup key for a request on `routing_key` (of `route`): it stays busy until
    /// [`DeliveryState::release`]. `send`: a request goes (a token is taken); otherwise the
    /// head is completed without one (collapsed, expired). `None` if it is busy already.
    pub fn claim(
        &self,
        routing_key: &str,
        route: &str,
        dedup_key: &str,
        send: bool,
        now_ms: i64,
    ) -> Option<Ticket> {
        let mut inner = self.lock();
        if !inner.busy.insert(dedup_key.to_owned()) {
            return None;
        }
        let k = inner.key(routing_key, now_ms);
        if k.route.is_empty() {
            k.route = route.to_owned();
        }
        let probe = k.pause.is_some();
        if send {
            if !routing_key.is_empty() {
                k.tokens -= 1.0;
            }
            if probe {
                k.probe_in_flight = true;
            }
        }
        Some(Ticket {
            epoch: k.pause_epoch,
            probe: send && probe,
        })
    }

    /// Outcomes of these dedup keys are committed: they may go again.
    pub fn release<'a>(&self, dedup_keys: impl IntoIterator<Item = &'a str>) {
        let mut inner = self.lock();
        for k in dedup_keys {
            inner.busy.remove(k);
        }
    }

    /// The answer to a probe came back, whatever it was.
    pub fn probe_answered(&self, routing_key: &str, ticket: Ticket, now_ms: i64) {
        if ticket.probe {
            self.lock().key(routing_key, now_ms).probe_in_flight = false;
        }
    }

    /// PagerDuty accepted a request. Only one sent after the current pause began (the probe)
    /// proves the key works again: then its pause is lifted (returns the route).
    pub fn delivered(&self, routing_key: &str, ticket: Ticket, now_ms: i64) -> Option<String> {
        let mut inner = self.lock();
        let k = inner.key(routing_key, now_ms);
        if ticket.epoch != k.pause_epoch {
            return None;
        }
        k.throttle_level = 0;
        k.consecutive_400 = 0;
        k.paused_until_ms = 0;
        k.pause.take().map(|_| k.route.clone())
    }

    /// A 429. The first after the epoch the request saw begins a new pause, `pause(level)`
    /// long, and doubles the next; a 429 answering a request sent before the current pause
    /// began only keeps it. Returns the end of the pause (ms) and whether it is new.
    pub fn throttled(
        &self,
        routing_key: &str,
        ticket: Ticket,
        now_ms: i64,
        pause: impl FnOnce(u32) -> Duration,
    ) -> (i64, bool) {
        let mut inner = self.lock();
        let k = inner.key(routing_key, now_ms);
        let new = ticket.epoch == k.pause_epoch || k.pause.is_none();
        if new {
            let pause = pause(k.throttle_level);
            k.throttle_level = k.throttle_level.saturating_add(1);
            k.begin_pause(PauseKind::Throttled, now_ms + pause.as_millis() as i64);
        }
        (k.paused_until_ms, new)
    }

    /// PagerDuty refused the key or the endpoint: paused until `until_ms` (the next probe).
    pub fn config_error(&self, routing_key: &str, message: &str, until_ms: i64, now_ms: i64) {
        self.lock()
            .key(routing_key, now_ms)
            .begin_pause(PauseKind::ConfigError(message.to_owned()), until_ms);
    }

    /// A 400 that does not name the routing key; true when it is the consecutive one that
    /// pauses the key.
    pub fn rejected(&self, routing_key: &str, now_ms: i64) -> bool {
        let mut inner = self.lock();
        let k = inner.key(routing_key, now_ms);
        k.consecutive_400 += 1;
        k.consecutive_400 >= MAX_CONSECUTIVE_400
    }

    /// An operator paused (`true`) or resumed the route of `routing_key`. A resume ends every
    /// pause now.
    pub fn operator(&self, routing_key: &str, route: &str, paused: bool, now_ms: i64) {
        let mut inner = self.lock();
        let k = inner.key(routing_key, now_ms);
        k.route = route.to_owned();
        if paused {
            k.operator_paused = true;
        } else {
            k.operator_paused = false;
            k.paused_until_ms = 0;
            k.pause = None;
            k.pause_epoch = k.pause_epoch.wrapping_add(1);
        }
    }

    /// Routing keys paused now.
    pub fn paused(&self, now_ms: i64) -> Vec<Paused> {
        self.lock()
            .keys
            .iter()
            .filter(|(_, k)| (k.paused_until_ms > now_ms && k.pause.is_some()) || k.operator_paused)
            .map(|(rk, k)| Paused {
                route: k.route.clone(),
                routing_key: rk.clone(),
                by_operator: k.operator_paused,
                kind: k.pause.clone(),
                until_ms: k.paused_until_ms,
            })
            .collect()
    }
}

/// The pause after a 429 (DESIGN §4.4): `min`, doubling with each consecutive 429 (`level`) up to
/// `max`; jitter (`jitter` in [0, 1)) only lengthens it, by up to 10 %.
pub fn throttle_pause(min: Duration, max: Duration, level: u32, jitter: f64) -> Duration {
    let base = (min.as_secs_f64() * 2f64.powi(level.min(30) as i32)).min(max.as_secs_f64());
    Duration::from_secs_f64(base * (1.0 + 0.1 * jitter.clamp(0.0, 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RK: &str = "R0UT1NGKEY0000000000000000000001";

    fn send(state: &DeliveryState, dedup_key: &str) -> Ticket {
        let t = state.claim(RK, "default", dedup_key, true, 0);
        state.release([dedup_key]);
        t.unwrap_or(Ticket {
            epoch: u64::MAX,
            probe: false,
        })
    }

    #[test]
    fn token_bucket_paces() {
        let mut k = KeyState::new("r", 0);
        assert_eq!(k.available(60, 0), 10);
        k.tokens -= 10.0;
        assert_eq!(k.available(60, 0), 0);
        // 60 per minute: one per second.
        assert_eq!(k.available(60, 1000), 1);
        assert_eq!(k.available(60, 100_000), 10);
    }

    #[test]
    fn a_429_pause_is_never_shorter_than_throttle_min_and_doubles_up_to_throttle_max() {
        let min = Duration::from_secs(30);
        let max = Duration::from_secs(300);
        for j in [0.0, 0.3, 0.999] {
            let p = throttle_pause(min, max, 0, j);
            assert!(p >= min && p <= min.mul_f64(1.1), "{p:?}");
        }
        assert_eq!(throttle_pause(min, max, 1, 0.0), Duration::from_secs(60));
        assert_eq!(throttle_pause(min, max, 10, 0.0), max);
        assert!(throttle_pause(min, max, 10, 0.999) <= max.mul_f64(1.1));
    }

    #[test]
    fn a_success_sent_before_a_429_does_not_lift_its_pause() {
        let pause = |level: u32| Duration::from_secs(30 << level);
        let s = DeliveryState::default();
        // Eight requests out in the same epoch; the first answer is a 429.
        let flight = send(&s, "a");
        assert_eq!(s.throttled(RK, flight, 1_000, pause), (31_000, true));
        // A second 429 to a request of the same flight keeps that pause: no doubling.
        assert_eq!(s.throttled(RK, flight, 1_010, pause), (31_000, false));
        // 202s to requests of the same flight prove nothing about the pause.
        assert_eq!(s.delivered(RK, flight, 1_020), None);
        assert_eq!(
            s.budget(RK, 6000, 2_000, true, 8),
            Budget::WaitUntil(31_000)
        );
        // After the pause, one probe; it answers 429 again: the pause doubles.
        assert_eq!(
            s.budget(RK, 6000, 31_000, true, 8),
            Budget::Send {
                slots: 1,
                probe: true
            }
        );
        let probe = send(&s, "b");
        assert!(probe.probe);
        s.probe_answered(RK, probe, 31_000);
        assert_eq!(s.throttled(RK, probe, 31_000, pause), (91_000, true));
        // The next probe succeeds: resumed, and the next 429 starts again at the minimum.
        let probe = send(&s, "c");
        assert!(s.delivered(RK, probe, 91_000).is_some());
        assert!(s.paused(91_000).is_empty());
        let after = send(&s, "d");
        assert_eq!(s.throttled(RK, after, 100_000, pause), (130_000, true));
    }

    #[test]
    fn a_success_sent_before_a_configuration_error_does_not_lift_its_pause() {
        let s = DeliveryState::default();
        let before = send(&s, "a");
        s.config_error(RK, "401 Unauthorized", 300_000, 0);
        assert_eq!(s.delivered(RK, before, 10), None);
        assert_eq!(s.paused(10).len(), 1);
        let probe = send(&s, "b");
        assert!(s.delivered(RK, probe, 300_000).is_some());
        assert!(s.paused(300_000).is_empty());
    }

    #[test]
    fn one_request_in_flight_per_dedup_key() {
        let s = DeliveryState::default();
        assert!(s.claim(RK, "default", "a", true, 0).is_some());
        assert!(s.claim(RK, "default", "a", true, 0).is_none());
        s.release(["a"]);
        assert!(s.claim(RK, "default", "a", true, 0).is_some());
    }

    #[test]
    fn an_operator_pause_holds_until_resumed_and_resume_ends_every_pause() {
        let s = DeliveryState::default();
        s.operator(RK, "default", true, 0);
        assert_eq!(s.budget(RK, 6000, 0, true, 8), Budget::Hold);
        s.config_error(RK, "403", 1_000_000, 0);
        s.operator(RK, "default", false, 0);
        assert!(matches!(
            s.budget(RK, 6000, 1, true, 8),
            Budget::Send { probe: false, .. }
        ));
    }
}
