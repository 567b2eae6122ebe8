//! PagerDuty payloads (DESIGN §4.3).

use crate::settings::Settings;
use crate::state::Problem;
use crate::template::{url_encode, Template, Var};
use broker::perfdata;
use broker::{state_name, Context, ResourceId};
use pagerduty::{Action, Event, Link, Payload};
use serde_json::{json, Map, Value};

/// The names a resource is shown with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub host: String,
    /// `None` for a host.
    pub service: Option<String>,
}

impl Names {
    /// `host` or `host/service`, for logs.
    pub fn display(&self) -> String {
        match &self.service {
            Some(s) => format!("{}/{}", self.host, s),
            None => self.host.clone(),
        }
    }
}

/// Render a template for a resource; `encode` percent-encodes names (links).
pub fn render(
    template: &Template,
    settings: &Settings,
    id: ResourceId,
    names: &Names,
    encode: bool,
) -> String {
    let enc = |s: &str| {
        if encode {
            url_encode(s)
        } else {
            s.to_owned()
        }
    };
    template.render(|var| match var {
        Var::HostId => id.host_id.to_string(),
        Var::ServiceId => {
            if id.is_host() {
                "H".to_owned()
            } else {
                id.service_id.to_string()
            }
        }
        Var::Host => enc(&names.host),
        Var::Service => enc(names.service.as_deref().unwrap_or("")),
        Var::Platform => enc(&settings.centreon.platform),
        Var::Url => settings.centreon.url.trim_end_matches('/').to_owned(),
    })
}

/// The dedup key of a new incident, within PagerDuty's limit.
pub fn dedup_key(settings: &Settings, id: ResourceId, names: &Names) -> String {
    pagerduty::dedup_key_within_limit(&render(
        &settings.alerts.dedup_key,
        settings,
        id,
        names,
        false,
    ))
}

/// acknowledge and resolve carry the routing key, dedup key and action only.
pub fn action_only(action: Action, routing_key: &str, dedup_key: &str) -> Event {
    Event {
        routing_key: routing_key.to_owned(),
        event_action: action,
        dedup_key: dedup_key.to_owned(),
        payload: None,
        links: Vec::new(),
        client: None,
        client_url: None,
    }
}

/// The trigger for a problem.
pub fn trigger(
    settings: &Settings,
    id: ResourceId,
    names: &Names,
    problem: &Problem,
    routing_key: &str,
    dedup_key: &str,
    event_time: i64,
) -> Event {
    let is_host = id.is_host();
    let state = state_name(is_host, problem.state);
    let subject = match &names.service {
        Some(svc) => format!("{}/{}: {}", names.host, svc, state),
        None => format!("{}: {}", names.host, state),
    };
    let summary = if problem.output.is_empty() {
        subject
    } else {
        format!("{subject} - {}", problem.output)
    };
    let ctx = &problem.context;
    let details = custom_details(settings, id, problem, state);
    let links = links(settings, id, names, ctx);
    Event {
        routing_key: routing_key.to_owned(),
        event_action: Action::Trigger,
        dedup_key: dedup_key.to_owned(),
        payload: Some(Payload {
            summary,
            source: settings
                .centreon
                .source
                .clone()
                .unwrap_or_else(|| names.host.clone()),
            severity: settings.alerts.severity.of(is_host, problem.state),
            timestamp: Some(pagerduty::format_timestamp(event_time)),
            component: Some(names.service.clone().unwrap_or_else(|| names.host.clone())),
            group: (!ctx.hostgroups.is_empty()).then(|| ctx.hostgroups.join(", ")),
            class: Some(if is_host { "host" } else { "service" }.to_owned()),
            custom_details: details,
        }),
        links,
        client: Some("Centreon".into()),
        client_url: Some(settings.centreon.url.clone()),
    }
}

/// `custom_details` (DESIGN §4.3). Absent values are left out rather than sent as null.
fn custom_details(
    settings: &Settings,
    id: ResourceId,
    problem: &Problem,
    state: &str,
) -> Map<String, Value> {
    let ctx = &problem.context;
    let mut details = Map::new();
    let mut put = |key: &str, value: Value| {
        if !value.is_null() {
            details.insert(key.to_owned(), value);
        }
    };
    put("output", json!(problem.output));
    put("long_output", json!(problem.long_output));
    put("state", json!(state));
    put(
        "state_type",
        json!(if problem.hard { "HARD" } else { "SOFT" }),
    );
    put("attempt", json!(problem.attempt));
    put("max_attempts", json!(problem.max_attempts));
    put("host_id", json!(id.host_id));
    put("service_id", json!(id.service_id));
    put("hostgroups", json!(ctx.hostgroups));
    put("servicegroups", json!(ctx.servicegroups));
    put("host_severity", json!(ctx.host_severity));
    put("service_severity", json!(ctx.service_severity));
    put("poller", json!(ctx.poller));
    put("perfdata", json!(problem.perfdata));
    put("metrics", metrics(&problem.perfdata));
    put("notes_url", json!(ctx.notes_url));
    put("action_url", json!(ctx.action_url));
    if settings.alerts.legacy_details {
        put("Hostgroups", json!(ctx.hostgroups.join(", ")));
        put("Servicegroups", json!(ctx.servicegroups.join(", ")));
        put("Hostseverity", json!(ctx.host_severity));
        put("Serviceseverity", json!(ctx.service_severity));
        put("Output", json!(problem.output));
    }
    details
}

/// The link to the resource in Centreon, then its notes and action URLs when set.
fn links(settings: &Settings, id: ResourceId, names: &Names, ctx: &Context) -> Vec<Link> {
    let is_host = id.is_host();
    let link_template = if is_host {
        &settings.centreon.host_link
    } else {
        &settings.centreon.service_link
    };
    let mut links = vec![Link {
        href: render(link_template, settings, id, names, true),
        text: Some(if is_host {
            "Host in Centreon".to_owned()
        } else {
            "Service in Centreon".to_owned()
        }),
    }];
    for (url, text) in [(&ctx.notes_url, "Notes"), (&ctx.action_url, "Action")] {
        if let Some(url) = url {
            links.push(Link {
                href: url.clone(),
                text: Some(text.into()),
            });
        }
    }
    links
}

/// `{label: {value, uom, warn, crit, min, max}}`; a repeated label: the last wins.
fn metrics(perfdata: &str) -> Value {
    let mut out = Map::new();
    for m in perfdata::parse(perfdata) {
        out.insert(
            m.label,
            json!({"value": m.value, "uom": m.uom, "warn": m.warn, "crit": m.crit, "min": m.min, "max": m.max}),
        );
    }
    Value::Object(out)
}
