//! The scenario's fixed values: the start time, the service (42, 7) and its host with their
//! names, the BBDO versions the builders speak (`V`, `BOTH`) and the state codes.

/// Scenario start: 2026-06-09T10:13:20Z.
pub const T0: i64 = 1_781_000_000;
pub const HOST: u64 = 42;
pub const SVC: u64 = 7;
pub const HOST_NAME: &str = "srv-web-01";
pub const SVC_NAME: &str = "Disk-/var";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V {
    V2,
    V3,
}
pub use V::{V2, V3};
pub const BOTH: [V; 2] = [V2, V3];

pub const OK: u8 = 0;
pub const WARNING: u8 = 1;
pub const CRITICAL: u8 = 2;
pub const UNKNOWN: u8 = 3;
pub const UP: u8 = 0;
pub const DOWN: u8 = 1;
pub const UNREACHABLE: u8 = 2;
pub const PENDING: u8 = 4;
