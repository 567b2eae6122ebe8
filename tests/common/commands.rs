//! The binary run as an operator runs it (tests/e2e_commands/): exact arguments, no `-c` added,
//! an environment scrubbed of everything the binary reads. Commands against a daemon's config
//! are `Daemon::cli` and `Daemon::cli_env`.

use super::BIN;
use std::process::{Command, Output, Stdio};

/// Removes from `cmd`'s environment every variable the binary reads (as [`Daemon`] does for the
/// commands it runs): logging, systemd, socket activation and `CENTREON_PAGERDUTY_*`.
pub fn scrub_env(cmd: &mut Command) -> &mut Command {
    for k in [
        "RUST_LOG",
        "JOURNAL_STREAM",
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
    ] {
        cmd.env_remove(k);
    }
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str() {
            if k.starts_with("CENTREON_PAGERDUTY_") {
                cmd.env_remove(k);
            }
        }
    }
    cmd
}

/// Runs the binary with exactly `args` (no `-c` added), a scrubbed environment plus `env`.
pub fn run_bin(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    scrub_env(&mut cmd);
    cmd.args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    cmd.output()
        .unwrap_or_else(|e| panic!("run {BIN} {args:?}: {e}"))
}
