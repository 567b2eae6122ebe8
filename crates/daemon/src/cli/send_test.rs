//! `centreon-pagerduty send-test`: one event now, straight to PagerDuty with the daemon's
//! HTTP settings, bypassing spool and state.

use super::*;
use crate::config::{self, Loaded, Purpose};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

pub(super) fn command(
    config_path: Option<&Path>,
    resolve: bool,
    route: Option<&str>,
    all: bool,
) -> ExitCode {
    let loaded = match load_config(config_path, Purpose::Service, false) {
        Ok(l) => l,
        Err(e) => return config_failure(&e),
    };
    // Dry run: the event is logged at info instead of being sent.
    crate::logging::init(if loaded.config.pagerduty.dry_run {
        config::LogLevel::Info
    } else {
        config::LogLevel::Warn
    });
    let runtime = match runtime(&mut tokio::runtime::Builder::new_current_thread()) {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(send_test(&loaded, resolve, route, all))
}

/// `send-test --sync`: both APIs of `[sync]` answer (DESIGN §4.6); exit 0 when they do.
pub(super) fn sync_command(config_path: Option<&Path>) -> ExitCode {
    let loaded = match load_config(config_path, Purpose::Service, false) {
        Ok(l) => l,
        Err(e) => return config_failure(&e),
    };
    crate::logging::init(config::LogLevel::Warn);
    let runtime = match runtime(&mut tokio::runtime::Builder::new_current_thread()) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let (lines, ok) = runtime.block_on(crate::service::sync::check(&loaded));
    for line in lines {
        println!("{line}");
    }
    if ok {
        ExitCode::SUCCESS
    } else if loaded.sync.is_none() {
        ExitCode::from(crate::cli::EXIT_CONFIG)
    } else {
        ExitCode::FAILURE
    }
}

/// An outcome in words, for `send-test`.
pub(super) fn describe(outcome: &pagerduty::Outcome) -> String {
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
pub(super) async fn send_test(
    loaded: &Loaded,
    resolve: bool,
    route: Option<&str>,
    all: bool,
) -> ExitCode {
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
    let dedup_key = format!("centreon-pagerduty-test-{host}");
    let mut failed = false;
    for (name, key) in routes {
        let key = key.as_ref().map(|k| k.0.clone()).unwrap_or_default();
        let event = if resolve {
            pagerduty::Event::action_only(pagerduty::Action::Resolve, &key, &dedup_key)
        } else {
            test_trigger(loaded, &host, name, &key, &dedup_key)
        };
        let outcome = crate::service::delivery::scrub(sender.send_now(&event).await, &key);
        let label = pagerduty::mask_routing_key(&key);
        let action = event.event_action;
        match outcome {
            pagerduty::Outcome::Delivered if loaded.config.pagerduty.dry_run => println!(
                "route {name} ({label}): dry run (pagerduty.dry_run = true): the {action} was NOT \
                 sent to PagerDuty; this is what would be sent:\n{}",
                event.to_masked_json()
            ),
            pagerduty::Outcome::Delivered => println!(
                "route {name} ({label}): {action} accepted by PagerDuty (dedup_key {dedup_key})"
            ),
            other => {
                failed = true;
                eprintln!(
                    "route {name} ({label}): {action} failed: {}",
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

/// The test trigger (DESIGN §3.3): severity info, this machine's test dedup key.
fn test_trigger(
    loaded: &Loaded,
    host: &str,
    route: &str,
    key: &str,
    dedup_key: &str,
) -> pagerduty::Event {
    let mut details = serde_json::Map::new();
    details.insert("sent_by".into(), json!("centreon-pagerduty send-test"));
    details.insert("route".into(), json!(route));
    pagerduty::Event {
        routing_key: key.to_owned(),
        event_action: pagerduty::Action::Trigger,
        dedup_key: dedup_key.to_owned(),
        payload: Some(pagerduty::Payload {
            summary: format!("centreon-pagerduty test event from {host} (route {route})"),
            source: host.to_owned(),
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
}

pub(super) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
