//! How commands reach the daemon (its socket) and, when it does not answer, the spool
//! (read-only); and the small helpers of their output.

use super::inject::request;
use super::*;
use crate::config::Loaded;
use serde_json::{json, Value};
use spool::Spool;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

pub(super) const TIMEOUT: Duration = Duration::from_secs(10);

/// Where operator commands find the daemon and the spool.
pub(super) struct Target {
    pub endpoint: crate::cli::inject::Endpoint,
    pub spool_dir: PathBuf,
}

impl Target {
    pub(super) fn of(loaded: &Loaded) -> Self {
        Self {
            endpoint: crate::cli::inject::Endpoint {
                socket: PathBuf::from(&loaded.config.listen.socket),
                group: loaded.config.listen.socket_group.clone(),
            },
            spool_dir: PathBuf::from(&loaded.config.spool.dir),
        }
    }

    /// GET/POST a JSON endpoint.
    pub(super) fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let (status, answer) = request(&self.endpoint, method, path, &bytes, TIMEOUT)?;
        let value = serde_json::from_slice(&answer)
            .unwrap_or_else(|_| json!({ "error": String::from_utf8_lossy(&answer) }));
        Ok((status, value))
    }

    pub(super) fn read_only_spool(&self) -> anyhow::Result<Spool> {
        Spool::open_read_only(&self.spool_dir).map_err(|e| anyhow::anyhow!("{e}"))
    }
}

pub(super) fn fallback_notice(err: &anyhow::Error) {
    eprintln!("The daemon does not answer ({err:#}); showing the spool read-only.");
}

pub(super) fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

pub(super) fn age(seconds: Option<i64>) -> String {
    match seconds {
        None => "-".into(),
        Some(s) if s < 120 => format!("{s}s"),
        Some(s) if s < 7200 => format!("{}m", s / 60),
        Some(s) if s < 172_800 => format!("{}h", s / 3600),
        Some(s) => format!("{}d", s / 86400),
    }
}

pub(super) fn time_of(ms: i64) -> String {
    pagerduty::format_timestamp(ms / 1000)
}

pub(super) fn failure(code: u16, v: &Value) -> ExitCode {
    eprintln!(
        "The daemon refused ({code}): {}",
        v["error"]
            .as_str()
            .map_or_else(|| v.to_string(), str::to_owned)
    );
    ExitCode::from(EXIT_FAILURE)
}

pub(super) fn unreachable_daemon(e: &anyhow::Error) -> ExitCode {
    eprintln!("{e:#}");
    ExitCode::from(EXIT_FAILURE)
}
