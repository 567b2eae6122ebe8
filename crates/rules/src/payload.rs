//! PagerDuty payloads (DESIGN §4.3): the names and dedup key of a resource, and the events the
//! rules send, written as the JSON of a [`pagerduty::Event`], which is what the spool stores and
//! delivery reads back. It decides nothing: what to send is `engine`'s.

use crate::settings::Settings;
use crate::state::Problem;
use crate::template::{url_encode, Template, Var};
use broker::perfdata;
use broker::{state_name, Context, ResourceId};
use pagerduty::{Action, Link, Severity};
use serde::Serialize;
use std::collections::BTreeMap;

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

/// acknowledge and resolve carry the routing key, dedup key and action only
/// ([`pagerduty::Event::action_only`]), as JSON.
pub fn action_only(action: Action, routing_key: &str, dedup_key: &str) -> String {
    to_json(&pagerduty::Event::action_only(
        action,
        routing_key,
        dedup_key,
    ))
}

/// The trigger for a problem: the JSON of the [`pagerduty::Event`] it is, as the spool stores
/// it (see [`Outgoing::body`](crate::Outgoing::body)).
pub fn trigger(
    settings: &Settings,
    id: ResourceId,
    names: &Names,
    problem: &Problem,
    routing_key: &str,
    dedup_key: &str,
    event_time: i64,
) -> String {
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
    let metrics = perfdata::parse(&problem.perfdata);
    let links = links(settings, id, names, ctx);
    to_json(&Trigger {
        routing_key,
        event_action: Action::Trigger,
        dedup_key,
        payload: TriggerPayload {
            summary: &summary,
            source: settings.centreon.source.as_deref().unwrap_or(&names.host),
            severity: settings.alerts.severity.of(is_host, problem.state),
            timestamp: pagerduty::format_timestamp(event_time),
            component: names.service.as_deref().unwrap_or(&names.host),
            group: (!ctx.hostgroups.is_empty()).then(|| ctx.hostgroups.join(", ")),
            class: if is_host { "host" } else { "service" },
            custom_details: Details::new(settings, id, problem, state, &metrics),
        },
        links: &links,
        client: "Centreon",
        client_url: &settings.centreon.url,
    })
}

/// JSON of a value whose keys are all strings, into a buffer sized for a typical trigger.
fn to_json(value: &impl Serialize) -> String {
    let mut out = Vec::with_capacity(1536);
    // Cannot fail: every map key is a string and writing to a Vec cannot fail; an empty body
    // would be dead-lettered, loudly, as unreadable.
    match serde_json::to_writer(&mut out, value) {
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

// The borrowed forms below serialise a trigger exactly as the [`pagerduty::Event`] it is (same
// fields, same order, same omissions), without building its `custom_details` map: a storm of
// triggers spent a fifth of its time building, serialising and freeing those maps. The test
// `trigger_body_is_a_canonical_event` holds them to it.

#[derive(Serialize)]
struct Trigger<'a> {
    routing_key: &'a str,
    event_action: Action,
    dedup_key: &'a str,
    payload: TriggerPayload<'a>,
    #[serde(skip_serializing_if = "<[Link]>::is_empty")]
    links: &'a [Link],
    client: &'a str,
    client_url: &'a str,
}

#[derive(Serialize)]
struct TriggerPayload<'a> {
    summary: &'a str,
    source: &'a str,
    severity: Severity,
    timestamp: String,
    component: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    class: &'a str,
    custom_details: Details<'a>,
}

/// `custom_details` (DESIGN §4.3), its keys in the order of a [`serde_json::Map`] (sorted, the
/// capitalised legacy ones first); absent values are left out rather than sent as null.
#[derive(Serialize)]
struct Details<'a> {
    #[serde(rename = "Hostgroups", skip_serializing_if = "Option::is_none")]
    legacy_hostgroups: Option<String>,
    #[serde(rename = "Hostseverity", skip_serializing_if = "Option::is_none")]
    legacy_host_severity: Option<i64>,
    #[serde(rename = "Output", skip_serializing_if = "Option::is_none")]
    legacy_output: Option<&'a str>,
    #[serde(rename = "Servicegroups", skip_serializing_if = "Option::is_none")]
    legacy_servicegroups: Option<String>,
    #[serde(rename = "Serviceseverity", skip_serializing_if = "Option::is_none")]
    legacy_service_severity: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attempt: Option<i64>,
    host_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    host_severity: Option<i64>,
    hostgroups: &'a [String],
    long_output: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_attempts: Option<i64>,
    metrics: BTreeMap<&'a str, MetricDetail<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notes_url: Option<&'a str>,
    output: &'a str,
    perfdata: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    poller: Option<&'a str>,
    service_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_severity: Option<i64>,
    servicegroups: &'a [String],
    state: &'a str,
    state_type: &'a str,
}

impl<'a> Details<'a> {
    fn new(
        settings: &Settings,
        id: ResourceId,
        problem: &'a Problem,
        state: &'a str,
        metrics: &'a [perfdata::Metric],
    ) -> Self {
        let ctx = &problem.context;
        let legacy = settings.alerts.legacy_details;
        Details {
            legacy_hostgroups: legacy.then(|| ctx.hostgroups.join(", ")),
            legacy_host_severity: ctx.host_severity.filter(|_| legacy),
            legacy_output: legacy.then_some(problem.output.as_str()),
            legacy_servicegroups: legacy.then(|| ctx.servicegroups.join(", ")),
            legacy_service_severity: ctx.service_severity.filter(|_| legacy),
            action_url: ctx.action_url.as_deref(),
            attempt: problem.attempt,
            host_id: id.host_id,
            host_severity: ctx.host_severity,
            hostgroups: &ctx.hostgroups,
            long_output: &problem.long_output,
            max_attempts: problem.max_attempts,
            // A repeated label: the last wins.
            metrics: metrics
                .iter()
                .map(|m| (m.label.as_str(), m.into()))
                .collect(),
            notes_url: ctx.notes_url.as_deref(),
            output: &problem.output,
            perfdata: &problem.perfdata,
            poller: ctx.poller.as_deref(),
            service_id: id.service_id,
            service_severity: ctx.service_severity,
            servicegroups: &ctx.servicegroups,
            state,
            state_type: if problem.hard { "HARD" } else { "SOFT" },
        }
    }
}

/// One metric of `custom_details.metrics`: `{crit, max, min, uom, value, warn}`, absent
/// values as null.
#[derive(Serialize)]
struct MetricDetail<'a> {
    crit: Option<&'a str>,
    max: Option<f64>,
    min: Option<f64>,
    uom: &'a str,
    value: f64,
    warn: Option<&'a str>,
}

impl<'a> From<&'a perfdata::Metric> for MetricDetail<'a> {
    fn from(m: &'a perfdata::Metric) -> Self {
        MetricDetail {
            crit: m.crit.as_deref(),
            max: m.max,
            min: m.min,
            uom: &m.uom,
            value: m.value,
            warn: m.warn.as_deref(),
        }
    }
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
