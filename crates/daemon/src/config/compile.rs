//! The rules' settings, compiled once from the configuration: templates, anchored regexes,
//! state sets, severities and routes with their keys. What cannot be compiled is reported as a
//! located error; nothing is silently dropped or defaulted.

use super::keys::Secret;
use super::load::{first_line, ErrFn};
use super::{
    AlertsConfig, CentreonConfig, Config, Flapping, OnDowntimeStart, RouteAction, RouteConfig,
};
use rules::settings::{
    anchored_regex, Alerts, Centreon, Criteria, Route, Settings, Severities, Target, DEFAULT_ROUTE,
};
use rules::template::{Template, Var};

/// Compile `c`, with the routing keys read for each route (`default` for `[pagerduty]`).
pub(super) fn compile(
    c: &Config,
    keys: &[(String, Option<Secret>)],
    err: &mut ErrFn<'_>,
) -> Settings {
    let key = |route: &str| {
        keys.iter()
            .find(|(n, _)| n == route)
            .and_then(|(_, k)| k.as_ref())
            .map(|k| k.0.clone())
    };
    Settings {
        alerts: alerts(&c.alerts, err),
        centreon: centreon(&c.centreon, err),
        routes: c
            .route
            .iter()
            .enumerate()
            .map(|(i, r)| route(i, r, key(&r.name), err))
            .collect(),
        default_target: Target::Key(key(DEFAULT_ROUTE)),
    }
}

fn template(path: &[&str], text: &str, err: &mut ErrFn<'_>) -> Template {
    Template::parse(text).unwrap_or_else(|e| {
        err(path, e.to_string());
        Template::default()
    })
}

/// The paging states of a host or service, by state code.
fn states(key: &str, names: &[String], is_host: bool, err: &mut ErrFn<'_>) -> [bool; 5] {
    let mut set = [false; 5];
    for name in names {
        match broker::state_from_name(is_host, name) {
            Some(s) if s != 0 && s != broker::PENDING => set[usize::from(s)] = true,
            _ => err(
                &["alerts", key],
                format!(
                    "{name:?} is not a problem state of a {} (use {})",
                    if is_host { "host" } else { "service" },
                    if is_host {
                        "DOWN, UNREACHABLE"
                    } else {
                        "WARNING, CRITICAL, UNKNOWN"
                    }
                ),
            ),
        }
    }
    set
}

fn alerts(a: &AlertsConfig, err: &mut ErrFn<'_>) -> Alerts {
    let dedup_key = template(&["alerts", "dedup_key"], &a.dedup_key, err);
    if !(dedup_key.uses(Var::HostId) || dedup_key.uses(Var::Host))
        || !(dedup_key.uses(Var::ServiceId) || dedup_key.uses(Var::Service))
    {
        err(
            &["alerts", "dedup_key"],
            "must identify the resource: use {host_id} or {host}, and {service_id} or {service}"
                .into(),
        );
    }
    Alerts {
        hard_only: a.hard_only,
        host_states: states("host_states", &a.host_states, true, err),
        service_states: states("service_states", &a.service_states, false, err),
        services_follow_host: a.services_follow_host,
        in_downtime: a.in_downtime,
        acknowledge_on_downtime_start: a.on_downtime_start == OnDowntimeStart::Acknowledge,
        suppress_flapping: a.flapping == Flapping::Suppress,
        acknowledge: a.acknowledge,
        acknowledged_problems: a.acknowledged_problems,
        reopen_on_ack_loss: a.reopen_on_ack_loss,
        respect_notifications: a.respect_notifications,
        resolve_on_disable: a.resolve_on_disable,
        retrigger_interval: a.retrigger_interval.as_secs_i64(),
        dedup_key,
        legacy_details: a.legacy_details,
        severity: Severities {
            host_down: a.severity.host_down,
            host_unreachable: a.severity.host_unreachable,
            service_critical: a.severity.service_critical,
            service_warning: a.severity.service_warning,
            service_unknown: a.severity.service_unknown,
        },
    }
}

fn centreon(c: &CentreonConfig, err: &mut ErrFn<'_>) -> Centreon {
    Centreon {
        url: c.url.clone(),
        source: Some(c.source.clone()).filter(|s| !s.is_empty()),
        platform: c.platform.clone(),
        host_link: template(&["centreon", "host_link"], &c.host_link, err),
        service_link: template(&["centreon", "service_link"], &c.service_link, err),
    }
}

fn route(i: usize, r: &RouteConfig, key: Option<String>, err: &mut ErrFn<'_>) -> Route {
    let idx = i.to_string();
    let mut regexes = |field: &str, patterns: &[String]| {
        patterns
            .iter()
            .filter_map(|p| match anchored_regex(p) {
                Ok(re) => Some(re),
                Err(e) => {
                    let msg = format!("invalid regex {p:?}: {}", first_line(&e.to_string()));
                    err(&["route", &idx, field], msg);
                    None
                }
            })
            .collect()
    };
    let hosts = regexes("hosts", &r.hosts);
    let services = regexes("services", &r.services);
    for s in &r.states {
        if broker::state_from_name(true, s).is_none() && broker::state_from_name(false, s).is_none()
        {
            err(
                &["route", &idx, "states"],
                format!("{s:?} is not a Centreon state"),
            );
        }
    }
    Route {
        name: r.name.clone(),
        target: if r.action == Some(RouteAction::Drop) {
            Target::Drop
        } else {
            Target::Key(key)
        },
        criteria: Criteria {
            hostgroups: r.hostgroups.clone(),
            servicegroups: r.servicegroups.clone(),
            hosts,
            services,
            pollers: r.pollers.clone(),
            states: r.states.clone(),
            host_severity_level_max: r.host_severity_level_max,
            service_severity_level_max: r.service_severity_level_max,
        },
    }
}
