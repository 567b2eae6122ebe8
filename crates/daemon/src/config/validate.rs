//! Semantic checks of the values the rules do not compile themselves: URLs, paths, modes,
//! sizes, delivery timings, route names and targets. Every problem is reported, not the first.

use super::keys::check_routing_key;
use super::load::ErrFn;
use super::{Config, Purpose, RouteAction};
use std::path::Path;

/// Every check; errors through `err`, the rest as `warnings`.
pub(super) fn validate(
    c: &Config,
    purpose: Purpose,
    err: &mut ErrFn<'_>,
    warnings: &mut Vec<String>,
) {
    pagerduty(c, purpose, err, warnings);
    places(c, err);
    routes(c, purpose, err, warnings);
    delivery(c, err);
}

/// `[pagerduty]`: one routing key (or dry run), the endpoint, proxy, timeout, pacing, CA.
fn pagerduty(c: &Config, purpose: Purpose, err: &mut ErrFn<'_>, warnings: &mut Vec<String>) {
    let pd = &c.pagerduty;
    let has_key = !pd.routing_key.0.is_empty();
    let has_file = !pd.routing_key_file.is_empty();
    if has_key && has_file {
        err(
            &["pagerduty", "routing_key_file"],
            "set routing_key or routing_key_file, not both".into(),
        );
    }
    if !has_key && !has_file {
        if purpose == Purpose::Offline {
        } else if pd.dry_run {
            warnings.push("no routing key: dry_run is on, events are logged with routing key (none) and never sent".into());
        } else {
            err(
                &["pagerduty", "routing_key"],
                "a routing key is required: set pagerduty.routing_key or pagerduty.routing_key_file (the Integration Key of an Events API v2 integration), or dry_run = true".into(),
            );
        }
    }
    if has_key {
        match check_routing_key(&pd.routing_key.0) {
            Err(e) => err(&["pagerduty", "routing_key"], e),
            Ok(Some(w)) => warnings.push(format!("pagerduty.routing_key: {w}")),
            Ok(None) => {}
        }
    }
    if !(pd.url.is_empty() || pd.url.starts_with("https://") || pd.url.starts_with("http://")) {
        err(
            &["pagerduty", "url"],
            format!("must be an http:// or https:// URL, got {:?}", pd.url),
        );
    }
    if !pd.proxy.is_empty() && !pd.proxy.contains("://") {
        err(
            &["pagerduty", "proxy"],
            format!(
                "must be a URL such as http://proxy.example.com:3128, got {:?}",
                pd.proxy
            ),
        );
    }
    if pd.timeout.0.is_zero() {
        err(&["pagerduty", "timeout"], "must be greater than 0s".into());
    }
    if pd.rate_limit_per_minute == 0 {
        err(
            &["pagerduty", "rate_limit_per_minute"],
            "must be at least 1".into(),
        );
    }
    if !pd.ca_file.is_empty() && !Path::new(&pd.ca_file).is_file() {
        err(
            &["pagerduty", "ca_file"],
            format!("{} is not a readable file", pd.ca_file),
        );
    }
}

/// `[listen]`, `[metrics]`, `[spool]`: where the daemon listens and keeps its spool.
fn places(c: &Config, err: &mut ErrFn<'_>) {
    if !c.listen.socket.starts_with('/') {
        err(
            &["listen", "socket"],
            format!("must be an absolute path, got {:?}", c.listen.socket),
        );
    }
    if c.listen.mode().is_none() {
        err(
            &["listen", "socket_mode"],
            format!(
                "must be an octal mode such as \"0660\", got {:?}",
                c.listen.socket_mode
            ),
        );
    }
    if !c.metrics.listen.is_empty() && c.metrics.listen.parse::<std::net::SocketAddr>().is_err() {
        err(
            &["metrics", "listen"],
            format!(
                "must be ADDRESS:PORT such as 127.0.0.1:9781, got {:?}",
                c.metrics.listen
            ),
        );
    }
    if c.spool.dir.is_empty() {
        err(&["spool", "dir"], "must not be empty".into());
    }
    if c.spool.max_size.0 < 1 << 20 {
        err(&["spool", "max_size"], "must be at least 1MiB".into());
    }
}

/// `[[route]]`: names, targets, keys and severity criteria.
fn routes(c: &Config, purpose: Purpose, err: &mut ErrFn<'_>, warnings: &mut Vec<String>) {
    let pd = &c.pagerduty;
    let mut names = std::collections::HashSet::new();
    for (i, r) in c.route.iter().enumerate() {
        let idx = i.to_string();
        let p = |k: &str| vec!["route".to_owned(), idx.clone(), k.to_owned()];
        let mut e = |k: &str, m: String| {
            let path = p(k);
            let refs: Vec<&str> = path.iter().map(String::as_str).collect();
            err(&refs, m)
        };
        if r.name.trim().is_empty() {
            e(
                "name",
                "every route needs a name (shown in status and metrics)".into(),
            );
        } else if r.name == rules::settings::DEFAULT_ROUTE {
            e(
                "name",
                "\"default\" is the name of the [pagerduty] route; choose another".into(),
            );
        } else if !names.insert(r.name.clone()) {
            e("name", format!("route name {:?} is used twice", r.name));
        }
        let targets = usize::from(r.routing_key.is_some())
            + usize::from(r.routing_key_file.is_some())
            + usize::from(r.action == Some(RouteAction::Drop));
        if targets > 1 || (targets == 0 && !pd.dry_run && purpose == Purpose::Service) {
            e(
                "routing_key",
                "set exactly one of routing_key, routing_key_file or action = \"drop\"".into(),
            );
        }
        if let Some(k) = &r.routing_key {
            match check_routing_key(&k.0) {
                Err(m) => e("routing_key", m),
                Ok(Some(w)) => warnings.push(format!("route {:?}: routing_key: {w}", r.name)),
                Ok(None) => {}
            }
        }
        for (old, new, value) in [
            (
                "host_severity_min",
                "host_severity_level_max",
                r.host_severity_min,
            ),
            (
                "service_severity_min",
                "service_severity_level_max",
                r.service_severity_min,
            ),
        ] {
            if let Some(n) = value {
                e(
                    old,
                    format!(
                        "removed: Centreon severity level 1 is the most important, and this \
                         matched levels >= {n}; use {new} = {n} to match levels 1..{n} (the old \
                         connectors' threshold with operator \">=\")"
                    ),
                );
            }
        }
        for (key, value) in [
            ("host_severity_level_max", r.host_severity_level_max),
            ("service_severity_level_max", r.service_severity_level_max),
        ] {
            if value.is_some_and(|n| n < 1) {
                e(
                    key,
                    "must be a Centreon severity level, 1 or more (1 is the most important)".into(),
                );
            }
        }
    }
}

/// `[delivery]`: backoff, throttle and probe timings, concurrency.
fn delivery(c: &Config, err: &mut ErrFn<'_>) {
    let d = &c.delivery;
    if d.backoff_min > d.backoff_max {
        err(
            &["delivery", "backoff_min"],
            "must not exceed delivery.backoff_max".into(),
        );
    }
    if d.throttle_min > d.throttle_max {
        err(
            &["delivery", "throttle_min"],
            "must not exceed delivery.throttle_max".into(),
        );
    }
    if d.backoff_min.0.is_zero() {
        err(
            &["delivery", "backoff_min"],
            "must be greater than 0s".into(),
        );
    }
    if d.config_probe.0.is_zero() {
        err(
            &["delivery", "config_probe"],
            "must be greater than 0s".into(),
        );
    }
    if d.concurrency == 0 {
        err(&["delivery", "concurrency"], "must be at least 1".into());
    }
}
