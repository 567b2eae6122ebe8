//! End-to-end harness: the real `centreon-pagerduty run` binary as a child process, a TOML config
//! in a temporary directory, a mock PagerDuty on loopback, an HTTP/1.1 client for the daemon's
//! Unix socket, and builders of raw Broker events.
//!
//! Everything waits by polling with generous deadlines (slow, shared CI machines) and returns as
//! soon as the awaited condition holds.
//!
//! Files: config (the TOML config), socket (HTTP over the daemon's socket), daemon (the child
//! process), events (raw Broker events), order (order checks), commands (the binary run as a
//! command), all re-exported here; http, mock, mock_centreon, mock_http, mock_pagerduty_rest,
//! openapi (public modules, some also used by crates/ack-sync/tests).

#![allow(dead_code)]
#![allow(clippy::unwrap_used)]

pub mod http;
pub mod mock;
pub mod mock_centreon;
pub mod mock_http;
pub mod mock_pagerduty_rest;
pub mod openapi;

mod commands;
mod config;
mod daemon;
mod events;
mod order;
mod socket;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[allow(unused_imports)]
pub use commands::{run_bin, scrub_env};
#[allow(unused_imports)]
pub use config::Config;
#[allow(unused_imports)]
pub use daemon::Daemon;
#[allow(unused_imports)]
pub use events::{services, v2_service_status, Expected, Svc};
#[allow(unused_imports)]
pub use mock::{Match, MockPagerDuty, Reply, Request};
#[allow(unused_imports)]
pub use order::{all_delivered, collapse, expect_all_delivered, last_lines, order_mismatches, Rng};
#[allow(unused_imports)]
pub use socket::{ndjson, post_events, unix_request, Response};

pub const BIN: &str = env!("CARGO_BIN_EXE_centreon-pagerduty");
/// 32 characters of `[A-Za-z0-9]`.
pub const ROUTING_KEY: &str = "R0UT1NGKEY0000000000000000000001";
pub const SHIM_USER_AGENT: &str = "centreon-pagerduty-shim/0.1.0";
/// Default deadline for anything that should happen "soon".
pub const WAIT: Duration = Duration::from_secs(20);

pub fn fixtures_dir() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    if here.join("v2_service_lifecycle/shim.ndjson").exists() {
        return here;
    }
    // Temporary fallback while the fixtures are being copied into the repository.
    let shared = PathBuf::from("/work/shared/fixtures");
    if shared.join("v2_service_lifecycle/shim.ndjson").exists() {
        eprintln!("note: tests/fixtures missing, using {}", shared.display());
        return shared;
    }
    here
}

/// `shim.ndjson` of a fixture scenario, one raw line per element (bytes as stored).
pub fn fixture_lines(scenario: &str) -> Vec<Vec<u8>> {
    let path = fixtures_dir().join(scenario).join("shim.ndjson");
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    data.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC) — DESIGN §4.3 `payload.timestamp`.
pub fn format_timestamp(t: i64) -> String {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Polls `f` every 20 ms until it returns true or `timeout` passes.
pub fn poll_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
