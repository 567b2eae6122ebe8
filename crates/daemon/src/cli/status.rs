//! `centreon-pagerduty status` (`--json`, `--nagios`): queues, pauses, dead letters, last
//! errors; from the daemon, else from the spool.

use super::client::*;
use super::*;
use crate::api::types::{PausedKey, Status};
use std::process::ExitCode;

/// Nagios plugin exit codes.
pub(super) mod nagios {
    pub const OK: u8 = 0;
    pub const WARNING: u8 = 1;
    pub const CRITICAL: u8 = 2;
    pub const UNKNOWN: u8 = 3;
}

/// Where a status came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    Daemon,
    Spool,
}

/// Status from the daemon, else from the spool.
pub(super) fn fetch_status(t: &Target) -> Result<(Status, Source), (anyhow::Error, anyhow::Error)> {
    let daemon_err = match t.call("GET", "/v1/status", None) {
        Ok((200, v)) => match serde_json::from_value::<Status>(v) {
            Ok(status) => return Ok((status, Source::Daemon)),
            Err(e) => anyhow::anyhow!("unexpected status from the daemon: {e}"),
        },
        Ok((code, v)) => {
            return Err((
                anyhow::anyhow!("status {code}: {v}"),
                anyhow::anyhow!("not tried"),
            ))
        }
        Err(e) => e,
    };
    let spool = t
        .read_only_spool()
        .map_err(|e| (anyhow::anyhow!("{daemon_err:#}"), e))?;
    let stats = spool
        .stats()
        .map_err(|e| (anyhow::anyhow!("{daemon_err:#}"), e.into()))?;
    let mut status = Status::of_spool(&stats, spool.size_bytes(), crate::service::state::now_ms());
    status.spool_damage = spool.damage().unwrap_or(None);
    status.paused = spool
        .paused_routes()
        .unwrap_or_default()
        .into_iter()
        .map(|route| PausedKey {
            route,
            routing_key: String::new(),
            reason: "paused by an operator".into(),
            until_ms: 0,
        })
        .collect();
    status.daemon = Some("not answering".into());
    status.daemon_error = Some(format!("{daemon_err:#}"));
    Ok((status, Source::Spool))
}

pub(super) struct NagiosThresholds {
    pub warning_age: i64,
    pub critical_age: i64,
}

pub(super) fn status(t: &Target, as_json: bool, nagios_mode: Option<NagiosThresholds>) -> ExitCode {
    let fetched = fetch_status(t);
    if let Some(th) = nagios_mode {
        return match fetched {
            Ok((v, source)) => nagios_line(&v, source, &th),
            Err((d, s)) => {
                println!("CENTREON-PAGERDUTY UNKNOWN - neither the daemon ({d:#}) nor the spool ({s:#}) can be read");
                ExitCode::from(nagios::UNKNOWN)
            }
        };
    }
    let (v, source) = match fetched {
        Ok(x) => x,
        Err((d, s)) => {
            eprintln!("Cannot read the status: daemon: {d:#}; spool: {s:#}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    if source == Source::Spool {
        eprintln!(
            "The daemon does not answer ({}); showing the spool read-only.",
            v.daemon_error.as_deref().unwrap_or("")
        );
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    print_status(&v);
    ExitCode::SUCCESS
}

pub(super) fn print_status(v: &Status) {
    let dry_run = if v.dry_run { " (dry run)" } else { "" };
    println!("centreon-pagerduty {}{dry_run}", v.version);
    println!(
        "  pending deliveries   {} on {} dedup keys",
        v.pending, v.keys
    );
    println!(
        "  oldest pending       {}",
        age(v.oldest_pending_age_seconds)
    );
    println!("  dead letters         {}", v.dead_letters);
    println!("  rejected lines       {}", v.rejected_lines);
    println!(
        "  last event received  {}",
        v.last_event_age_seconds
            .map_or("-".into(), |s| format!("{} ago", age(Some(s))))
    );
    println!("  spool size           {} bytes", v.spool_bytes);
    if v.paused.is_empty() {
        println!("  paused routing keys  none");
    } else {
        println!("  paused routing keys:");
        for p in &v.paused {
            println!("    {:<16} {:<8} {}", p.route, p.routing_key, p.reason);
        }
    }
    if let Some(at) = v.last_resync_ms {
        println!(
            "  last resync          {} (the spool had been idle longer than [ha] resync_after)",
            time_of(at)
        );
    }
    match v.pagerduty_unknown_since_ms {
        Some(1) => println!(
            "  PagerDuty state      unknown for dedup keys never delivered ([ha] cluster = true): \
             a collapsed episode keeps its resolve"
        ),
        Some(at) => println!(
            "  PagerDuty state      unknown for dedup keys not delivered since {} (a resync, or \
             a damaged spool): a collapsed episode keeps its resolve",
            time_of(at)
        ),
        None => {}
    }
    if let Some(d) = &v.spool_damage {
        println!(
            "  SPOOL DAMAGED        at {}: moved aside to {}; {} pending deliveries carried over, {} \
             rows lost; acknowledge with: centreon-pagerduty spool acknowledge-damage",
            time_of(d.at_ms),
            d.aside,
            d.carried_deliveries,
            d.lost_rows.max(0)
        );
    }
    if let Some(s) = &v.sync {
        print_sync(s);
    }
    if let Some(e) = &v.last_error {
        println!("  last error           {e}");
    }
}

/// The `[sync]` lines of `status`.
fn print_sync(s: &crate::api::types::SyncView) {
    println!("  acknowledgement sync ({}, PagerDuty → Centreon):", s.mode);
    println!(
        "    last poll          {}",
        s.last_poll_ms.map_or("never".into(), time_of)
    );
    println!(
        "    mirrored           {} (refused by Centreon: {})",
        s.mirrored, s.refused
    );
    println!(
        "    pending            {}{}",
        s.pending,
        s.oldest_pending_age_seconds
            .map_or(String::new(), |a| format!(", oldest {}", age(Some(a))))
    );
    if let Some(p) = &s.paused {
        println!("    PAUSED             {p}");
    }
    if let (Some(e), Some(at)) = (&s.last_error, s.last_error_ms) {
        println!("    last error         {} at {}", e, time_of(at));
    }
}

pub(super) fn nagios_line(v: &Status, source: Source, th: &NagiosThresholds) -> ExitCode {
    let pending = v.pending;
    let oldest = v.oldest_pending_age_seconds.unwrap_or(0);
    let dead = v.dead_letters;
    let paused = v.paused.len();
    let last_event = v.last_event_age_seconds;
    let damaged = v.spool_damage.is_some();
    let (code, label) = if damaged || paused > 0 || oldest > th.critical_age {
        (nagios::CRITICAL, "CRITICAL")
    } else if dead > 0 || oldest > th.warning_age {
        (nagios::WARNING, "WARNING")
    } else {
        (nagios::OK, "OK")
    };
    let mut reasons = Vec::new();
    if let Some(d) = &v.spool_damage {
        reasons.push(format!(
            "spool damaged, moved aside to {} (centreon-pagerduty spool acknowledge-damage)",
            d.aside
        ));
    }
    if paused > 0 {
        reasons.push(format!("{paused} paused routing key(s)"));
    }
    if dead > 0 {
        reasons.push(format!("{dead} dead letter(s)"));
    }
    reasons.push(format!("{pending} pending, oldest {}", age(Some(oldest))));
    if source == Source::Spool {
        reasons.push("daemon not answering, read from the spool".into());
    }
    let last_event_perf =
        last_event.map_or(String::new(), |s| format!(" last_event_age={s}s;;;0;"));
    println!(
        "CENTREON-PAGERDUTY {label} - {} | queue_depth={pending};;;0; oldest_pending_age={oldest}s;{};{};0; dead_letters={dead};;;0; paused_keys={paused};;;0;{last_event_perf}",
        reasons.join(", "),
        th.warning_age,
        th.critical_age
    );
    ExitCode::from(code)
}
