//! The rules' settings, compiled from the `[alerts]`, `[centreon]` and `[[route]]` sections.
//!
//! The daemon parses and validates the TOML; this module holds the checked, ready-to-use form
//! (state sets, compiled regexes, parsed templates) so that the hot path never re-parses.

use crate::template::Template;
use broker::StateCode;
use pagerduty::Severity;
use regex::Regex;

/// What to do with a problem arising while its resource is in downtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InDowntime {
    Suppress,
    Send,
}

/// What to do with a problem already acknowledged in Centreon when it first becomes HARD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AcknowledgedProblems {
    Skip,
    TriggerAndAck,
}

/// PagerDuty severity for each Centreon problem state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Severities {
    pub host_down: Severity,
    pub host_unreachable: Severity,
    pub service_critical: Severity,
    pub service_warning: Severity,
    pub service_unknown: Severity,
}

impl Default for Severities {
    fn default() -> Self {
        Self {
            host_down: Severity::Critical,
            host_unreachable: Severity::Error,
            service_critical: Severity::Critical,
            service_warning: Severity::Warning,
            service_unknown: Severity::Error,
        }
    }
}

impl Severities {
    pub fn of(&self, is_host: bool, state: StateCode) -> Severity {
        match (is_host, state) {
            (true, 1) => self.host_down,
            (true, 2) => self.host_unreachable,
            (false, 1) => self.service_warning,
            (false, 2) => self.service_critical,
            (false, 3) => self.service_unknown,
            _ => Severity::Info,
        }
    }
}

/// `[alerts]`: when to page.
#[derive(Debug, Clone)]
pub struct Alerts {
    pub hard_only: bool,
    /// Paging states, indexed by state code.
    pub host_states: [bool; 5],
    pub service_states: [bool; 5],
    pub services_follow_host: bool,
    pub in_downtime: InDowntime,
    pub acknowledge_on_downtime_start: bool,
    pub suppress_flapping: bool,
    pub acknowledge: bool,
    pub acknowledged_problems: AcknowledgedProblems,
    pub reopen_on_ack_loss: bool,
    pub respect_notifications: bool,
    pub resolve_on_disable: bool,
    /// Seconds; 0 disables re-triggering.
    pub retrigger_interval: i64,
    pub dedup_key: Template,
    pub legacy_details: bool,
    pub severity: Severities,
}

impl Default for Alerts {
    fn default() -> Self {
        Self {
            hard_only: true,
            host_states: [false, true, true, false, false],
            service_states: [false, true, true, true, false],
            services_follow_host: true,
            in_downtime: InDowntime::Suppress,
            acknowledge_on_downtime_start: false,
            suppress_flapping: true,
            acknowledge: true,
            acknowledged_problems: AcknowledgedProblems::Skip,
            reopen_on_ack_loss: true,
            respect_notifications: true,
            resolve_on_disable: true,
            retrigger_interval: 0,
            dedup_key: Template::parse(DEFAULT_DEDUP_KEY).unwrap_or_default(),
            legacy_details: false,
            severity: Severities::default(),
        }
    }
}

pub const DEFAULT_DEDUP_KEY: &str = "{host_id}_{service_id}";
pub const DEFAULT_HOST_LINK: &str = "{url}/centreon/main.php?p=20202&o=hd&host_name={host}";
pub const DEFAULT_SERVICE_LINK: &str =
    "{url}/centreon/main.php?p=20201&o=svcd&host_name={host}&service_description={service}";

impl Alerts {
    pub fn is_paging(&self, is_host: bool, state: StateCode) -> bool {
        let states = if is_host {
            &self.host_states
        } else {
            &self.service_states
        };
        states.get(usize::from(state)).copied().unwrap_or(false)
    }
}

/// `[centreon]`: how to describe and link back to Centreon.
#[derive(Debug, Clone)]
pub struct Centreon {
    pub url: String,
    pub source: Option<String>,
    pub platform: String,
    pub host_link: Template,
    pub service_link: Template,
}

impl Default for Centreon {
    fn default() -> Self {
        Self {
            url: "https://centreon.example.com".into(),
            source: None,
            platform: String::new(),
            host_link: Template::parse(DEFAULT_HOST_LINK).unwrap_or_default(),
            service_link: Template::parse(DEFAULT_SERVICE_LINK).unwrap_or_default(),
        }
    }
}

/// Where a route sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Send with this routing key (`None`: no key configured, dry-run only).
    Key(Option<String>),
    /// Send nothing.
    Drop,
}

/// The name of the `[pagerduty]` route.
pub const DEFAULT_ROUTE: &str = "default";

/// One `[[route]]`: every given criterion must match (AND); within a list any item (OR).
#[derive(Debug, Clone, Default)]
pub struct Criteria {
    pub hostgroups: Vec<String>,
    pub servicegroups: Vec<String>,
    pub hosts: Vec<Regex>,
    pub services: Vec<Regex>,
    pub pollers: Vec<String>,
    /// State names (`DOWN`, `CRITICAL`, …), compared case-insensitively.
    pub states: Vec<String>,
    /// Centreon severity levels 1..N (1 is the most important); no severity never matches.
    pub host_severity_level_max: Option<i64>,
    pub service_severity_level_max: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    pub target: Target,
    pub criteria: Criteria,
}

/// Everything the rules need.
#[derive(Debug, Clone)]
pub struct Settings {
    pub alerts: Alerts,
    pub centreon: Centreon,
    pub routes: Vec<Route>,
    /// The `[pagerduty]` routing key, used when no route matches.
    pub default_target: Target,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            alerts: Alerts::default(),
            centreon: Centreon::default(),
            routes: Vec::new(),
            default_target: Target::Key(None),
        }
    }
}

/// Compile a route regex: anchored, case-sensitive, Rust `regex` syntax.
pub fn anchored_regex(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})$"))
}
