//! Order checks: the events the mock PagerDuty received, per dedup key, against those each
//! service produced (at-least-once: consecutive duplicates collapsed); and a small seeded PRNG
//! for randomised runs (`Rng`, `E2E_SEED`).

use super::{poll_until, Daemon, Expected, MockPagerDuty, Request, Svc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Collapses consecutive duplicates (at-least-once re-sends of the same event).
pub fn collapse<T: PartialEq + Clone>(seq: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for x in seq {
        if out.last() != Some(x) {
            out.push(x.clone());
        }
    }
    out
}

/// For every service: the delivered (2xx) events of its dedup_key, consecutive duplicates
/// collapsed, equal the produced ones in order. Returns the mismatches, one line each.
pub fn order_mismatches(mock: &MockPagerDuty, svcs: &[Svc]) -> Vec<String> {
    let by_key = mock.delivered_by_key();
    let mut bad = Vec::new();
    for s in svcs {
        let key = s.dedup_key();
        let got: Vec<(String, String)> = by_key
            .get(&key)
            .map(|v| v.iter().map(Request::ident).collect())
            .unwrap_or_default();
        let got = collapse(&got);
        let want: Vec<(String, String)> = s.expected.iter().map(Expected::ident).collect();
        if got != want {
            bad.push(format!("{key}: got {got:?}\n      want {want:?}"));
        }
    }
    bad
}

/// Every produced event of every service delivered (at least once, in order)?
pub fn all_delivered(mock: &MockPagerDuty, svcs: &[Svc]) -> bool {
    order_mismatches(mock, svcs).is_empty()
}

/// Waits until every service's events were delivered in order; panics with details otherwise.
pub fn expect_all_delivered(
    mock: &MockPagerDuty,
    daemon: &Daemon,
    svcs: &[Svc],
    timeout: Duration,
) {
    let ok = poll_until(timeout, || all_delivered(mock, svcs));
    if !ok {
        let bad = order_mismatches(mock, svcs);
        panic!(
            "not every event was delivered in order after {timeout:?}: {} of {} keys wrong:\n  {}\n--- mock (last 60) ---\n{}\n--- daemon log ---\n{}",
            bad.len(),
            svcs.len(),
            bad.iter().take(20).cloned().collect::<Vec<_>>().join("\n  "),
            last_lines(&mock.dump(), 60),
            daemon.log_tail(60)
        );
    }
}

pub fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Small deterministic PRNG (xorshift64*), seeded from the clock unless `E2E_SEED` is set.
pub struct Rng(u64);

impl Rng {
    pub fn new() -> Rng {
        let seed = std::env::var("E2E_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
                    | 1
            });
        eprintln!("E2E_SEED={seed}");
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// In `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}
