//! The configuration's keys, their types and their defaults (DESIGN §3.2). Serde only: no
//! checks, no I/O.

use super::keys::Secret;
use crate::units::{ByteSize, HumanDuration};
use pagerduty::Severity;
use serde::{Deserialize, Serialize};

/// Shared with the rules: one type, parsed here, used there.
pub use rules::settings::{AcknowledgedProblems, InDowntime};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub pagerduty: PagerDutyConfig,
    pub centreon: CentreonConfig,
    pub listen: ListenConfig,
    pub metrics: MetricsConfig,
    pub spool: SpoolConfig,
    pub alerts: AlertsConfig,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<RouteConfig>,
    pub delivery: DeliveryConfig,
    pub log: LogConfig,
    pub ha: HaConfig,
    pub sync: SyncConfig,
}

impl Config {
    /// `[[route]]` tables must come after plain keys when written as TOML.
    pub fn has_routes(&self) -> bool {
        !self.route.is_empty()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagerDutyConfig {
    pub routing_key: Secret,
    pub routing_key_file: String,
    pub region: Region,
    pub url: String,
    pub proxy: String,
    pub timeout: HumanDuration,
    pub ca_file: String,
    pub rate_limit_per_minute: u32,
    pub dry_run: bool,
}

impl Default for PagerDutyConfig {
    fn default() -> Self {
        Self {
            routing_key: Secret::default(),
            routing_key_file: String::new(),
            region: Region::Us,
            url: String::new(),
            proxy: String::new(),
            timeout: HumanDuration::secs(10),
            ca_file: String::new(),
            rate_limit_per_minute: 100,
            dry_run: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    Us,
    Eu,
}

impl PagerDutyConfig {
    /// The Events API v2 endpoint: `url` when set, else the region's.
    pub fn endpoint(&self) -> String {
        if !self.url.is_empty() {
            return self.url.clone();
        }
        match self.region {
            Region::Us => "https://events.pagerduty.com/v2/enqueue".into(),
            Region::Eu => "https://events.eu.pagerduty.com/v2/enqueue".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CentreonConfig {
    pub url: String,
    pub source: String,
    pub platform: String,
    pub host_link: String,
    pub service_link: String,
}

impl Default for CentreonConfig {
    fn default() -> Self {
        Self {
            url: "https://centreon.example.com".into(),
            source: String::new(),
            platform: String::new(),
            host_link: rules::settings::DEFAULT_HOST_LINK.into(),
            service_link: rules::settings::DEFAULT_SERVICE_LINK.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenConfig {
    pub socket: String,
    pub socket_group: String,
    pub socket_mode: String,
}

impl Default for ListenConfig {
    fn default() -> Self {
        Self {
            socket: "/run/centreon-pagerduty/broker.sock".into(),
            socket_group: "centreon-pagerduty".into(),
            socket_mode: "0660".into(),
        }
    }
}

impl ListenConfig {
    pub fn mode(&self) -> Option<u32> {
        u32::from_str_radix(self.socket_mode.trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o777)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub listen: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    pub dir: String,
    pub max_size: ByteSize,
    pub min_free: ByteSize,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            dir: "/var/lib/centreon-pagerduty".into(),
            max_size: ByteSize(1 << 30),
            min_free: ByteSize(1 << 30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnDowntimeStart {
    None,
    Acknowledge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flapping {
    Send,
    Suppress,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    pub hard_only: bool,
    pub host_states: Vec<String>,
    pub service_states: Vec<String>,
    pub services_follow_host: bool,
    pub in_downtime: InDowntime,
    pub on_downtime_start: OnDowntimeStart,
    pub flapping: Flapping,
    pub acknowledge: bool,
    pub acknowledged_problems: AcknowledgedProblems,
    pub reopen_on_ack_loss: bool,
    pub respect_notifications: bool,
    pub resolve_on_disable: bool,
    pub retrigger_interval: HumanDuration,
    pub dedup_key: String,
    pub legacy_details: bool,
    pub severity: SeverityConfig,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            hard_only: true,
            host_states: vec!["DOWN".into(), "UNREACHABLE".into()],
            service_states: vec!["WARNING".into(), "CRITICAL".into(), "UNKNOWN".into()],
            services_follow_host: true,
            in_downtime: InDowntime::Suppress,
            on_downtime_start: OnDowntimeStart::None,
            flapping: Flapping::Suppress,
            acknowledge: true,
            acknowledged_problems: AcknowledgedProblems::Skip,
            reopen_on_ack_loss: true,
            respect_notifications: true,
            resolve_on_disable: true,
            retrigger_interval: HumanDuration::secs(0),
            dedup_key: rules::settings::DEFAULT_DEDUP_KEY.into(),
            legacy_details: false,
            severity: SeverityConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeverityConfig {
    pub host_down: Severity,
    pub host_unreachable: Severity,
    pub service_critical: Severity,
    pub service_warning: Severity,
    pub service_unknown: Severity,
}

impl Default for SeverityConfig {
    fn default() -> Self {
        let d = rules::settings::Severities::default();
        Self {
            host_down: d.host_down,
            host_unreachable: d.host_unreachable,
            service_critical: d.service_critical,
            service_warning: d.service_warning,
            service_unknown: d.service_unknown,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteAction {
    Send,
    Drop,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_key_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<RouteAction>,
    pub hostgroups: Vec<String>,
    pub servicegroups: Vec<String>,
    pub hosts: Vec<String>,
    pub services: Vec<String>,
    pub pollers: Vec<String>,
    pub states: Vec<String>,
    /// Centreon severity level: matches levels 1..N (1 is the most important).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_severity_level_max: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_severity_level_max: Option<i64>,
    /// Removed (it compared the wrong way round); kept only to say what replaces it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_severity_min: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_severity_min: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    pub backoff_min: HumanDuration,
    pub backoff_max: HumanDuration,
    pub throttle_min: HumanDuration,
    pub throttle_max: HumanDuration,
    pub config_probe: HumanDuration,
    pub collapse_after: HumanDuration,
    pub max_event_age: HumanDuration,
    pub concurrency: usize,
    pub shutdown_grace: HumanDuration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            backoff_min: HumanDuration::secs(1),
            backoff_max: HumanDuration::secs(300),
            throttle_min: HumanDuration::secs(30),
            throttle_max: HumanDuration::secs(300),
            config_probe: HumanDuration::secs(300),
            collapse_after: HumanDuration::secs(900),
            max_event_age: HumanDuration::secs(7 * 86400),
            concurrency: 8,
            shutdown_grace: HumanDuration::secs(10),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub level: LogLevel,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: LogLevel::Info,
        }
    }
}

/// `[ha]` (DESIGN §4.7).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HaConfig {
    /// A spool whose last ingest is older than this starts with its rule state unknown (0 = off).
    pub resync_after: HumanDuration,
    /// This node is one of a Centreon-HA cluster: the other node may have opened incidents
    /// this spool never heard of, even when it is fresh.
    pub cluster: bool,
}

impl Default for HaConfig {
    fn default() -> Self {
        Self {
            resync_after: HumanDuration::secs(600),
            cluster: false,
        }
    }
}

/// `[sync]` (DESIGN §4.6): PagerDuty acknowledgements mirrored into Centreon. Off unless
/// `pagerduty_api_token_file` is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// PagerDuty REST API key (read access to incidents); empty = off.
    pub pagerduty_api_token_file: String,
    /// Default from `[pagerduty] region`: api.pagerduty.com / api.eu.pagerduty.com.
    pub pagerduty_api_url: String,
    pub poll_interval: HumanDuration,
    /// E.g. `https://centreon.example.com/centreon/api/latest`.
    pub centreon_api_url: String,
    /// Centreon API token (`X-AUTH-TOKEN`, Centreon ≥ 23.04)...
    pub centreon_api_token_file: String,
    /// ... or `login:password` of a dedicated user (`POST /login`).
    pub centreon_login_file: String,
    /// `{who}`: PagerDuty's acknowledger summary.
    pub comment: String,
    pub sticky: bool,
    pub notify_contacts: bool,
    /// Optional push: PagerDuty webhooks V3 on this address (`host:port`).
    pub webhook_listen: String,
    /// Required with `webhook_listen`: one secret per line (several during a rotation).
    pub webhook_secret_file: String,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            pagerduty_api_token_file: String::new(),
            pagerduty_api_url: String::new(),
            poll_interval: HumanDuration::secs(30),
            centreon_api_url: String::new(),
            centreon_api_token_file: String::new(),
            centreon_login_file: String::new(),
            comment: "Acknowledged in PagerDuty by {who}".into(),
            sticky: true,
            notify_contacts: false,
            webhook_listen: String::new(),
            webhook_secret_file: String::new(),
        }
    }
}

impl SyncConfig {
    /// The sync runs only with a PagerDuty REST API key.
    pub fn enabled(&self) -> bool {
        !self.pagerduty_api_token_file.is_empty()
    }
}
