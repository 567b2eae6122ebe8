//! Operator commands (DESIGN §3.3) that talk to the daemon over its socket, with a read-only
//! look at the spool when the daemon does not answer.

use crate::api::types::{DeadLetterView, PausedKey, Status};
use crate::cli::inject::request;
use crate::config::Loaded;
use serde_json::{json, Value};
use spool::Spool;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

use super::EXIT_FAILURE;

/// Nagios plugin exit codes.
pub mod nagios {
    pub const OK: u8 = 0;
    pub const WARNING: u8 = 1;
    pub const CRITICAL: u8 = 2;
    pub const UNKNOWN: u8 = 3;
}

fn dead_letter_json(d: &spool::DeadLetter) -> Value {
    serde_json::to_value(DeadLetterView::from(d)).unwrap_or(Value::Null)
}

/// Where operator commands find the daemon and the spool.
pub struct Target {
    pub endpoint: crate::cli::inject::Endpoint,
    pub spool_dir: PathBuf,
}

impl Target {
    pub fn of(loaded: &Loaded) -> Self {
        Self {
            endpoint: crate::cli::inject::Endpoint {
                socket: PathBuf::from(&loaded.config.listen.socket),
                group: loaded.config.listen.socket_group.clone(),
            },
            spool_dir: PathBuf::from(&loaded.config.spool.dir),
        }
    }

    /// GET/POST a JSON endpoint.
    pub fn call(
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

    fn read_only_spool(&self) -> anyhow::Result<Spool> {
        Spool::open_read_only(&self.spool_dir).map_err(|e| anyhow::anyhow!("{e}"))
    }
}

fn fallback_notice(err: &anyhow::Error) {
    eprintln!("The daemon does not answer ({err:#}); showing the spool read-only.");
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn age(seconds: Option<i64>) -> String {
    match seconds {
        None => "-".into(),
        Some(s) if s < 120 => format!("{s}s"),
        Some(s) if s < 7200 => format!("{}m", s / 60),
        Some(s) if s < 172_800 => format!("{}h", s / 3600),
        Some(s) => format!("{}d", s / 86400),
    }
}

fn time_of(ms: i64) -> String {
    pagerduty::format_timestamp(ms / 1000)
}

/// Where a status came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Daemon,
    Spool,
}

/// Status from the daemon, else from the spool.
fn fetch_status(t: &Target) -> Result<(Status, Source), (anyhow::Error, anyhow::Error)> {
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

pub struct NagiosThresholds {
    pub warning_age: i64,
    pub critical_age: i64,
}

pub fn status(t: &Target, as_json: bool, nagios_mode: Option<NagiosThresholds>) -> ExitCode {
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

fn print_status(v: &Status) {
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
    if let Some(e) = &v.last_error {
        println!("  last error           {e}");
    }
}

fn nagios_line(v: &Status, source: Source, th: &NagiosThresholds) -> ExitCode {
    let pending = v.pending;
    let oldest = v.oldest_pending_age_seconds.unwrap_or(0);
    let dead = v.dead_letters;
    let paused = v.paused.len();
    let last_event = v.last_event_age_seconds;
    let (code, label) = if paused > 0 || oldest > th.critical_age {
        (nagios::CRITICAL, "CRITICAL")
    } else if dead > 0 || oldest > th.warning_age {
        (nagios::WARNING, "WARNING")
    } else {
        (nagios::OK, "OK")
    };
    let mut reasons = Vec::new();
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

pub fn incidents(t: &Target, as_json: bool) -> ExitCode {
    let rows: Vec<Value> = match t.call("GET", "/v1/incidents", None) {
        Ok((200, v)) => v["incidents"].as_array().cloned().unwrap_or_default(),
        Ok((code, v)) => return failure(code, &v),
        Err(e) => match t
            .read_only_spool()
            .and_then(|s| s.incidents().map_err(Into::into))
        {
            Ok(rows) => {
                fallback_notice(&e);
                rows.iter()
                    .filter_map(|r| serde_json::to_value(r).ok())
                    .collect()
            }
            Err(s) => {
                eprintln!("Cannot list incidents: daemon: {e:#}; spool: {s:#}");
                return ExitCode::from(EXIT_FAILURE);
            }
        },
    };
    if as_json {
        print_json(&json!({ "incidents": rows }));
        return ExitCode::SUCCESS;
    }
    if rows.is_empty() {
        println!("No open incident.");
        return ExitCode::SUCCESS;
    }
    println!(
        "{:<28} {:<14} {:<21} {:<5} {:<21} RESOURCE",
        "DEDUP KEY", "ROUTE", "OPENED", "ACKED", "LAST EVENT"
    );
    for r in rows {
        println!(
            "{:<28} {:<14} {:<21} {:<5} {:<21} {}",
            r["dedup_key"].as_str().unwrap_or(""),
            r["route"].as_str().unwrap_or(""),
            time_of(r["opened_at_ms"].as_i64().unwrap_or(0)),
            if r["acked"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            },
            time_of(r["last_event_at_ms"].as_i64().unwrap_or(0)),
            r["resource"].as_str().unwrap_or("")
        );
    }
    ExitCode::SUCCESS
}

fn failure(code: u16, v: &Value) -> ExitCode {
    eprintln!(
        "The daemon refused ({code}): {}",
        v["error"]
            .as_str()
            .map_or_else(|| v.to_string(), str::to_owned)
    );
    ExitCode::from(EXIT_FAILURE)
}

fn unreachable_daemon(e: &anyhow::Error) -> ExitCode {
    eprintln!("{e:#}");
    ExitCode::from(EXIT_FAILURE)
}

pub fn resolve(t: &Target, keys: &[String], stale: Option<i64>) -> ExitCode {
    let body = json!({ "dedup_keys": keys, "stale_seconds": stale });
    match t.call("POST", "/v1/resolve", Some(&body)) {
        Ok((200, v)) => {
            let resolved = v["resolved"].as_array().cloned().unwrap_or_default();
            let unknown = v["unknown"].as_array().cloned().unwrap_or_default();
            for k in &resolved {
                println!("resolve queued: {}", k.as_str().unwrap_or(""));
            }
            for k in &unknown {
                eprintln!(
                    "no open incident with dedup key {}",
                    k.as_str().unwrap_or("")
                );
            }
            if resolved.is_empty() && stale.is_some() {
                println!("No incident is that stale.");
            }
            if unknown.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILURE)
            }
        }
        Ok((code, v)) => failure(code, &v),
        Err(e) => unreachable_daemon(&e),
    }
}

pub fn pause(t: &Target, route: &str, paused: bool) -> ExitCode {
    let path = if paused { "/v1/pause" } else { "/v1/resume" };
    match t.call("POST", path, Some(&json!({ "route": route }))) {
        Ok((200, _)) => {
            println!(
                "route {route}: deliveries {}",
                if paused {
                    "paused (events keep queueing)"
                } else {
                    "resumed"
                }
            );
            ExitCode::SUCCESS
        }
        Ok((code, v)) => failure(code, &v),
        Err(e) => unreachable_daemon(&e),
    }
}

pub enum DeadLetterCommand {
    List {
        json: bool,
    },
    Show {
        id: i64,
    },
    Retry {
        id: Option<i64>,
        all: bool,
        force: bool,
    },
    Purge,
}

pub fn dead_letters(t: &Target, cmd: DeadLetterCommand) -> ExitCode {
    match cmd {
        DeadLetterCommand::List { json: as_json } => {
            let rows: Vec<Value> = match t.call("GET", "/v1/dead-letters", None) {
                Ok((200, v)) => v["dead_letters"].as_array().cloned().unwrap_or_default(),
                Ok((code, v)) => return failure(code, &v),
                Err(e) => match t
                    .read_only_spool()
                    .and_then(|s| s.dead_letters(spool::MAX_KEPT_ROWS).map_err(Into::into))
                {
                    Ok(rows) => {
                        fallback_notice(&e);
                        rows.iter().map(dead_letter_json).collect()
                    }
                    Err(s) => {
                        eprintln!("Cannot list dead letters: daemon: {e:#}; spool: {s:#}");
                        return ExitCode::from(EXIT_FAILURE);
                    }
                },
            };
            if as_json {
                print_json(&json!({ "dead_letters": rows }));
            } else if rows.is_empty() {
                println!("No dead letter.");
            } else {
                println!(
                    "{:<6} {:<21} {:<12} {:<24} REASON",
                    "ID", "FAILED", "ACTION", "DEDUP KEY"
                );
                for r in rows {
                    println!(
                        "{:<6} {:<21} {:<12} {:<24} {}",
                        r["id"],
                        time_of(r["failed_at_ms"].as_i64().unwrap_or(0)),
                        r["action"].as_str().unwrap_or(""),
                        r["dedup_key"].as_str().unwrap_or(""),
                        r["reason"].as_str().unwrap_or("")
                    );
                }
            }
            ExitCode::SUCCESS
        }
        DeadLetterCommand::Show { id } => {
            let v = match t.call("GET", &format!("/v1/dead-letters/{id}"), None) {
                Ok((200, v)) => v,
                Ok((code, v)) => return failure(code, &v),
                Err(e) => match t
                    .read_only_spool()
                    .and_then(|s| s.dead_letter(id).map_err(Into::into))
                {
                    Ok(Some(d)) => {
                        fallback_notice(&e);
                        dead_letter_json(&d)
                    }
                    Ok(None) => {
                        eprintln!("no dead letter {id}");
                        return ExitCode::from(EXIT_FAILURE);
                    }
                    Err(s) => {
                        eprintln!("Cannot read dead letter {id}: daemon: {e:#}; spool: {s:#}");
                        return ExitCode::from(EXIT_FAILURE);
                    }
                },
            };
            print_json(&v);
            ExitCode::SUCCESS
        }
        DeadLetterCommand::Retry { id, all, force } => {
            match t.call(
                "POST",
                "/v1/dead-letters/retry",
                Some(&json!({ "id": id, "all": all, "force": force })),
            ) {
                Ok((200, v)) => {
                    let retried = v["retried"].as_array().map_or(0, Vec::len);
                    println!("{retried} dead letter(s) queued again");
                    let refused = v["refused"].as_array().cloned().unwrap_or_default();
                    for r in &refused {
                        eprintln!(
                            "not retried: {} ({}): {}",
                            r["id"],
                            r["dedup_key"].as_str().unwrap_or(""),
                            r["reason"].as_str().unwrap_or("")
                        );
                    }
                    if refused.is_empty() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(EXIT_FAILURE)
                    }
                }
                Ok((code, v)) => failure(code, &v),
                Err(e) => unreachable_daemon(&e),
            }
        }
        DeadLetterCommand::Purge => {
            match t.call("POST", "/v1/dead-letters/purge", Some(&json!({}))) {
                Ok((200, v)) => {
                    println!("{} dead letter(s) purged", v["purged"]);
                    ExitCode::SUCCESS
                }
                Ok((code, v)) => failure(code, &v),
                Err(e) => unreachable_daemon(&e),
            }
        }
    }
}

/// `check-config`: the effective configuration with secrets masked.
pub fn show_config(loaded: &Loaded) -> String {
    let mut c = loaded.config.clone();
    let mask = |s: &mut crate::config::Secret| {
        if !s.0.is_empty() {
            s.0 = pagerduty::mask_routing_key(&s.0);
        }
    };
    mask(&mut c.pagerduty.routing_key);
    for r in &mut c.route {
        if let Some(k) = r.routing_key.as_mut() {
            mask(k);
        }
    }
    let mut text = toml::to_string(&c).unwrap_or_default();
    for (route, key) in &loaded.keys {
        if let Some(k) = key {
            text.push_str(&format!(
                "# routing key of route {route}: {}\n",
                pagerduty::mask_routing_key(&k.0)
            ));
        }
    }
    text
}

/// An outcome in words, for `send-test`.
fn describe(outcome: &pagerduty::Outcome) -> String {
    use pagerduty::Outcome::*;
    match outcome {
        Delivered => "accepted".into(),
        Throttled => "PagerDuty answered 429 (rate limited): try again in a minute".into(),
        Retry { reason } => format!("temporary failure, the daemon would retry: {reason}"),
        RoutingKeyRejected { message } => format!("PagerDuty refused the routing key: {message}"),
        Rejected { message } => format!("PagerDuty refused the event: {message}"),
        TooLarge => "PagerDuty answered 413 (too large)".into(),
        ConfigError { reason } => {
            format!("configuration problem (endpoint, proxy, TLS or key): {reason}")
        }
    }
}

/// `send-test`: one event now, straight to PagerDuty with the daemon's HTTP settings.
pub async fn send_test(loaded: &Loaded, resolve: bool, route: Option<&str>, all: bool) -> ExitCode {
    let sender = match crate::service::delivery::Sender::build(&loaded.config.pagerduty) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pagerduty: {e:#}");
            return ExitCode::from(crate::cli::EXIT_CONFIG);
        }
    };
    let routes: Vec<&(String, Option<crate::config::Secret>)> = loaded
        .keys
        .iter()
        .filter(|(name, key)| {
            if all {
                key.is_some() || loaded.config.pagerduty.dry_run
            } else {
                name == route.unwrap_or(rules::settings::DEFAULT_ROUTE)
            }
        })
        .collect();
    if routes.is_empty() {
        let known: Vec<&str> = loaded.keys.iter().map(|(n, _)| n.as_str()).collect();
        eprintln!(
            "no such route {:?}; routes: {}",
            route.unwrap_or("default"),
            known.join(", ")
        );
        return ExitCode::from(crate::cli::EXIT_CONFIG);
    }
    let host = hostname();
    let mut failed = false;
    for (name, key) in routes {
        let key = key.as_ref().map(|k| k.0.clone()).unwrap_or_default();
        let dedup_key = format!("centreon-pagerduty-test-{host}");
        let event = if resolve {
            rules::payload::action_only(pagerduty::Action::Resolve, &key, &dedup_key)
        } else {
            let mut details = serde_json::Map::new();
            details.insert("sent_by".into(), json!("centreon-pagerduty send-test"));
            details.insert("route".into(), json!(name));
            pagerduty::Event {
                routing_key: key.clone(),
                event_action: pagerduty::Action::Trigger,
                dedup_key: dedup_key.clone(),
                payload: Some(pagerduty::Payload {
                    summary: format!("centreon-pagerduty test event from {host} (route {name})"),
                    source: host.clone(),
                    severity: pagerduty::Severity::Info,
                    timestamp: Some(pagerduty::format_timestamp(
                        crate::service::state::now_ms() / 1000,
                    )),
                    component: Some("centreon-pagerduty".into()),
                    group: None,
                    class: Some("test".into()),
                    custom_details: details,
                }),
                links: Vec::new(),
                client: Some("Centreon".into()),
                client_url: Some(loaded.config.centreon.url.clone()),
            }
        };
        let outcome = crate::service::delivery::scrub(sender.send_now(&event).await, &key);
        let label = pagerduty::mask_routing_key(&key);
        match outcome {
            pagerduty::Outcome::Delivered if loaded.config.pagerduty.dry_run => println!(
                "route {name} ({label}): dry run (pagerduty.dry_run = true): the {} was NOT sent \
                 to PagerDuty; this is what would be sent:\n{}",
                event.event_action,
                event.to_masked_json()
            ),
            pagerduty::Outcome::Delivered => println!(
                "route {name} ({label}): {} accepted by PagerDuty (dedup_key {dedup_key})",
                event.event_action
            ),
            other => {
                failed = true;
                eprintln!(
                    "route {name} ({label}): {} failed: {}",
                    event.event_action,
                    describe(&other)
                );
            }
        }
    }
    if failed {
        ExitCode::from(EXIT_FAILURE)
    } else {
        ExitCode::SUCCESS
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
