//! The configuration file (DESIGN §3.2): TOML, `CENTREON_PAGERDUTY_<SECTION>__<KEY>`
//! environment overrides, strict keys and values.
//!
//! Errors are reported as `FILE:LINE:COL: KEY: message` (or `VAR: KEY: message` for an
//! environment override). Loading runs in three passes: a strict TOML pass over the file alone
//! (syntax and type errors with their position), a figment pass that layers defaults, file and
//! environment, and a semantic pass that reports every remaining problem at once.

use crate::units::{ByteSize, HumanDuration};
use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use pagerduty::Severity;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Packaged location of the configuration.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/centreon-pagerduty/centreon-pagerduty.toml";
/// Environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "CENTREON_PAGERDUTY_CONFIG";
/// Prefix of environment overrides; only variables containing `__` are overrides.
pub const ENV_PREFIX: &str = "CENTREON_PAGERDUTY_";

/// A routing key: never printed whole.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&pagerduty::mask_routing_key(&self.0))
    }
}

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
pub enum InDowntime {
    Suppress,
    Send,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AcknowledgedProblems {
    Skip,
    TriggerAndAck,
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

/// One configuration error, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// `FILE:LINE:COL`, `FILE`, or the environment variable's name.
    pub location: String,
    /// Dotted key, e.g. `pagerduty.timeout`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.location, self.message)
        } else {
            write!(f, "{}: {}: {}", self.location, self.key, self.message)
        }
    }
}

/// Every error found (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// What the configuration is loaded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The daemon and the commands that talk to PagerDuty: a routing key is required unless
    /// `dry_run`.
    Service,
    /// `translate`: nothing is sent, routing keys may be missing.
    Offline,
}

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// The file it came from (`None`: embedded defaults).
    pub path: Option<PathBuf>,
    /// Routing keys read from their files, by route name (`default` for `[pagerduty]`).
    pub keys: Vec<(String, Option<Secret>)>,
    /// Things worth saying that do not stop the daemon.
    pub warnings: Vec<String>,
}

/// Which file to read: `-c`, else `$CENTREON_PAGERDUTY_CONFIG`, else the packaged path.
pub fn config_path(cli: Option<&Path>) -> PathBuf {
    cli.map(Path::to_path_buf)
        .or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH))
}

/// Load from a file (`None`: defaults only) and the given environment.
pub fn load(
    path: Option<&Path>,
    env: &[(String, String)],
    purpose: Purpose,
) -> Result<Loaded, ConfigErrors> {
    let text = match path {
        Some(p) => std::fs::read_to_string(p).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                location: p.display().to_string(),
                key: String::new(),
                message: format!("cannot read the configuration: {e}"),
            }])
        })?,
        None => String::new(),
    };
    load_str(path, &text, env, purpose)
}

/// Load from a file's text (`path` only names it in errors).
pub fn load_str(
    path: Option<&Path>,
    text: &str,
    env: &[(String, String)],
    purpose: Purpose,
) -> Result<Loaded, ConfigErrors> {
    let file_name = path.map_or_else(|| "(defaults)".to_owned(), |p| p.display().to_string());

    // Pass 1: the file alone, strictly, for errors with line and column.
    let de = toml::Deserializer::new(text);
    if let Err(e) = serde_path_to_error::deserialize::<_, Config>(de) {
        let inner = e.inner();
        let location = match inner.span() {
            Some(span) => {
                let (line, col) = line_col(text, span.start);
                format!("{file_name}:{line}:{col}")
            }
            None => file_name.clone(),
        };
        let key = clean_path(&e.path().to_string());
        return Err(ConfigErrors(vec![ConfigError {
            location,
            key,
            message: first_line(inner.message()),
        }]));
    }

    // Pass 2: defaults < file < environment.
    let overrides: Vec<&(String, String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k[ENV_PREFIX.len()..].contains("__"))
        .collect();
    let mut figment =
        Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(text));
    for (var, value) in &overrides {
        let key = var[ENV_PREFIX.len()..].to_lowercase().replace("__", ".");
        let value: figment::value::Value = value
            .parse()
            .unwrap_or_else(|_| figment::value::Value::from(value.clone()));
        figment = figment.merge(Serialized::defaults(figment::util::nest(&key, value)));
    }
    let config: Config = figment.extract().map_err(|e| {
        ConfigErrors(
            e.into_iter()
                .map(|e| {
                    let key = e.path.join(".");
                    let var = format!("{ENV_PREFIX}{}", e.path.join("__").to_uppercase());
                    ConfigError {
                        location: var,
                        key,
                        message: first_line(&e.kind.to_string()),
                    }
                })
                .collect(),
        )
    })?;

    // Pass 3: everything else, all at once.
    let doc = toml_edit::ImDocument::parse(text.to_owned()).ok();
    let locate = |key_path: &[&str]| -> String {
        let var = format!(
            "{ENV_PREFIX}{}",
            key_path
                .iter()
                .filter(|s| s.parse::<usize>().is_err())
                .cloned()
                .collect::<Vec<_>>()
                .join("__")
                .to_uppercase()
        );
        if overrides.iter().any(|(k, _)| *k == var) {
            return var;
        }
        match doc.as_ref().and_then(|d| span_of(d, key_path)) {
            Some(offset) => {
                let (line, col) = line_col(text, offset);
                format!("{file_name}:{line}:{col}")
            }
            None => file_name.clone(),
        }
    };
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut err = |key_path: &[&str], message: String| {
        errors.push(ConfigError {
            location: locate(key_path),
            key: display_key(key_path),
            message,
        })
    };
    validate(&config, purpose, &mut err, &mut warnings);
    let keys = read_keys(&config, purpose, &mut err, &mut warnings);
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    Ok(Loaded {
        config,
        path: path.map(Path::to_path_buf),
        keys,
        warnings,
    })
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_owned()
}

/// serde_path_to_error writes `route[0].name`; a top-level error has the path `.`.
fn clean_path(p: &str) -> String {
    if p == "." {
        String::new()
    } else {
        p.to_owned()
    }
}

fn display_key(path: &[&str]) -> String {
    let mut out = String::new();
    for seg in path {
        if seg.parse::<usize>().is_ok() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Byte offset of a key's value in the document, if the file sets it.
fn span_of(doc: &toml_edit::ImDocument<String>, path: &[&str]) -> Option<usize> {
    use toml_edit::{Item, Value};
    let mut table: &dyn toml_edit::TableLike = doc.as_table();
    let mut i = 0;
    loop {
        let item = table.get(path.get(i)?)?;
        i += 1;
        let Some(next) = path.get(i) else {
            return item.span().map(|s| s.start);
        };
        match next.parse::<usize>() {
            Ok(index) => {
                i += 1;
                match item {
                    Item::ArrayOfTables(a) => {
                        let t = a.get(index)?;
                        if i == path.len() {
                            return t.span().map(|s| s.start);
                        }
                        table = t;
                    }
                    Item::Value(Value::Array(a)) => return a.get(index)?.span().map(|s| s.start),
                    _ => return None,
                }
            }
            Err(_) => table = item.as_table_like()?,
        }
    }
}

type ErrFn<'a> = dyn FnMut(&[&str], String) + 'a;

fn validate(c: &Config, purpose: Purpose, err: &mut ErrFn<'_>, warnings: &mut Vec<String>) {
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

    for (key, value) in [
        ("host_link", &c.centreon.host_link),
        ("service_link", &c.centreon.service_link),
    ] {
        if let Err(e) = rules::template::Template::parse(value) {
            err(&["centreon", key], e.to_string());
        }
    }

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

    let a = &c.alerts;
    for (key, states, is_host) in [
        ("host_states", &a.host_states, true),
        ("service_states", &a.service_states, false),
    ] {
        for s in states {
            match broker::state_from_name(is_host, s) {
                Some(0) | Some(broker::PENDING) | None => err(
                    &["alerts", key],
                    format!(
                        "{s:?} is not a problem state of a {} (use {})",
                        if is_host { "host" } else { "service" },
                        if is_host {
                            "DOWN, UNREACHABLE"
                        } else {
                            "WARNING, CRITICAL, UNKNOWN"
                        }
                    ),
                ),
                Some(_) => {}
            }
        }
    }
    if let Err(e) = rules::template::Template::parse(&a.dedup_key) {
        err(&["alerts", "dedup_key"], e.to_string());
    } else if let Ok(t) = rules::template::Template::parse(&a.dedup_key) {
        use rules::template::Var;
        if !(t.uses(Var::HostId) || t.uses(Var::Host))
            || !(t.uses(Var::ServiceId) || t.uses(Var::Service))
        {
            err(&["alerts", "dedup_key"], "must identify the resource: use {host_id} or {host}, and {service_id} or {service}".into());
        }
    }

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
        for (key, list) in [("hosts", &r.hosts), ("services", &r.services)] {
            for pattern in list {
                if let Err(re) = rules::settings::anchored_regex(pattern) {
                    e(
                        key,
                        format!("invalid regex {pattern:?}: {}", first_line(&re.to_string())),
                    );
                }
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
        for s in &r.states {
            if broker::state_from_name(true, s).is_none()
                && broker::state_from_name(false, s).is_none()
            {
                e("states", format!("{s:?} is not a Centreon state"));
            }
        }
    }

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

/// A routing key that cannot be right is an error; one that does not look like PagerDuty's
/// 32 letters and digits is only a warning (PagerDuty will say whether it accepts it, and the
/// daemon then pauses the key and keeps everything). Messages never contain the key.
fn check_routing_key(key: &str) -> Result<Option<String>, String> {
    if key.is_empty() {
        return Err("is empty".into());
    }
    if let Some(pos) = key
        .chars()
        .position(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
    {
        return Err(format!("contains a space, control or non-ASCII character at position {} (a copy-paste problem?)", pos + 1));
    }
    Ok(pagerduty::validate_routing_key(key).err().map(|e| {
        format!("{e}: PagerDuty integration keys are 32 letters and digits; check it with centreon-pagerduty send-test")
    }))
}

/// Read every routing key (inline or from its file, after checking the file's owner and mode).
fn read_keys(
    c: &Config,
    purpose: Purpose,
    err: &mut ErrFn<'_>,
    warnings: &mut Vec<String>,
) -> Vec<(String, Option<Secret>)> {
    let mut keys = Vec::new();
    // Owners trusted besides root: whoever runs this command, the packaged daemon user, and
    // the owner of the spool directory (the user the daemon runs as).
    let mut trusted = vec![rustix_euid()];
    trusted.extend(user_id(DAEMON_USER));
    trusted.extend(std::fs::metadata(&c.spool.dir).ok().map(|m| m.uid()));
    let mut one = |route: &str, inline: Option<&Secret>, file: Option<&str>, path: Vec<String>| {
        let refs: Vec<&str> = path.iter().map(String::as_str).collect();
        let key = match (
            inline.filter(|k| !k.0.is_empty()),
            file.filter(|f| !f.is_empty()),
        ) {
            (Some(k), _) => Some(k.clone()),
            (None, Some(f)) => match read_key_file(Path::new(f), &trusted) {
                Ok(k) => Some(k),
                // Commands that send nothing do not need the key: say it, go on.
                Err(m) if purpose == Purpose::Offline => {
                    warnings.push(format!("{}: {m}", display_key(&refs)));
                    None
                }
                Err(m) => {
                    err(&refs, m);
                    None
                }
            },
            (None, None) => None,
        };
        keys.push((route.to_owned(), key));
    };
    one(
        rules::settings::DEFAULT_ROUTE,
        Some(&c.pagerduty.routing_key),
        Some(&c.pagerduty.routing_key_file),
        vec!["pagerduty".into(), "routing_key_file".into()],
    );
    for (i, r) in c.route.iter().enumerate() {
        one(
            &r.name,
            r.routing_key.as_ref(),
            r.routing_key_file.as_deref(),
            vec!["route".into(), i.to_string(), "routing_key_file".into()],
        );
    }
    keys
}

/// Read a routing key file: a regular file owned by root or a `trusted` user, not readable by
/// others nor writable by its group, holding one key.
pub fn read_key_file(path: &Path, trusted: &[u32]) -> Result<Secret, String> {
    let shown = path.display();
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        // The value may be a key pasted in place of a path: never echo it.
        Err(e) if !path.to_string_lossy().contains('/') => {
            return Err(format!(
                "is not the path of a file ({}): put the key in a file and give its path, or use routing_key",
                e.kind()
            ))
        }
        Err(e) => return Err(format!("cannot read {shown}: {e}")),
    };
    if !meta.file_type().is_file() {
        return Err(format!(
            "{shown} must be a regular file (not a link or directory)"
        ));
    }
    if meta.uid() != 0 && !trusted.contains(&meta.uid()) {
        return Err(format!(
            "{shown} must be owned by root or by the daemon's user {DAEMON_USER}, not uid {}; run: chown root:{DAEMON_USER} {shown}",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o027 != 0 {
        return Err(format!(
            "{shown} has mode {mode:04o}: a routing key file must not be readable by others nor writable by its group; run: chmod 0640 {shown}; chown root:centreon-pagerduty {shown}"
        ));
    }
    if meta.len() > 4096 {
        return Err(format!(
            "{shown} is too large for a routing key ({} bytes)",
            meta.len()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let key = text.trim().to_owned();
    if key.is_empty() {
        return Err(format!("{shown} is empty"));
    }
    check_routing_key(&key).map_err(|e| format!("{shown}: {e}"))?;
    Ok(Secret(key))
}

/// The daemon's system user (packages and units).
pub const DAEMON_USER: &str = "centreon-pagerduty";

/// A user's id from /etc/passwd.
fn user_id(name: &str) -> Option<u32> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then(|| f.nth(1)?.parse().ok())?
    })
}

/// The effective user id, from /proc (no libc call needed).
fn rustix_euid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

impl Loaded {
    /// The routing key of a route (`default` for `[pagerduty]`).
    pub fn key_of(&self, route: &str) -> Option<&Secret> {
        self.keys
            .iter()
            .find(|(n, _)| n == route)
            .and_then(|(_, k)| k.as_ref())
    }

    /// The compiled settings of the rules.
    pub fn rules_settings(&self) -> rules::Settings {
        use rules::settings::*;
        use rules::template::Template;
        let c = &self.config;
        let a = &c.alerts;
        let states = |names: &[String], is_host: bool| {
            let mut set = [false; 5];
            for n in names {
                if let Some(s) = broker::state_from_name(is_host, n) {
                    if let Some(slot) = set.get_mut(usize::from(s)) {
                        *slot = true;
                    }
                }
            }
            set
        };
        let template = |s: &str| Template::parse(s).unwrap_or_default();
        let key = |route: &str| self.key_of(route).map(|k| k.0.clone());
        Settings {
            alerts: Alerts {
                hard_only: a.hard_only,
                host_states: states(&a.host_states, true),
                service_states: states(&a.service_states, false),
                services_follow_host: a.services_follow_host,
                in_downtime: match a.in_downtime {
                    self::InDowntime::Suppress => rules::settings::InDowntime::Suppress,
                    self::InDowntime::Send => rules::settings::InDowntime::Send,
                },
                acknowledge_on_downtime_start: a.on_downtime_start == OnDowntimeStart::Acknowledge,
                suppress_flapping: a.flapping == Flapping::Suppress,
                acknowledge: a.acknowledge,
                acknowledged_problems: match a.acknowledged_problems {
                    self::AcknowledgedProblems::Skip => rules::settings::AcknowledgedProblems::Skip,
                    self::AcknowledgedProblems::TriggerAndAck => {
                        rules::settings::AcknowledgedProblems::TriggerAndAck
                    }
                },
                reopen_on_ack_loss: a.reopen_on_ack_loss,
                respect_notifications: a.respect_notifications,
                resolve_on_disable: a.resolve_on_disable,
                retrigger_interval: a.retrigger_interval.as_secs_i64(),
                dedup_key: template(&a.dedup_key),
                legacy_details: a.legacy_details,
                severity: Severities {
                    host_down: a.severity.host_down,
                    host_unreachable: a.severity.host_unreachable,
                    service_critical: a.severity.service_critical,
                    service_warning: a.severity.service_warning,
                    service_unknown: a.severity.service_unknown,
                },
            },
            centreon: Centreon {
                url: c.centreon.url.clone(),
                source: Some(c.centreon.source.clone()).filter(|s| !s.is_empty()),
                platform: c.centreon.platform.clone(),
                host_link: template(&c.centreon.host_link),
                service_link: template(&c.centreon.service_link),
            },
            routes: c
                .route
                .iter()
                .map(|r| Route {
                    name: r.name.clone(),
                    target: if r.action == Some(RouteAction::Drop) {
                        Target::Drop
                    } else {
                        Target::Key(key(&r.name))
                    },
                    criteria: Criteria {
                        hostgroups: r.hostgroups.clone(),
                        servicegroups: r.servicegroups.clone(),
                        hosts: r
                            .hosts
                            .iter()
                            .filter_map(|p| anchored_regex(p).ok())
                            .collect(),
                        services: r
                            .services
                            .iter()
                            .filter_map(|p| anchored_regex(p).ok())
                            .collect(),
                        pollers: r.pollers.clone(),
                        states: r.states.clone(),
                        host_severity_level_max: r.host_severity_level_max,
                        service_severity_level_max: r.service_severity_level_max,
                    },
                })
                .collect(),
            default_target: Target::Key(key(DEFAULT_ROUTE)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "R0UT1NGKEY0000000000000000000001";

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Loaded, ConfigErrors> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load_str(
            Some(Path::new("/etc/cp.toml")),
            text,
            &env,
            Purpose::Service,
        )
    }

    fn errors(text: &str, env: &[(&str, &str)]) -> Vec<String> {
        match load(text, env) {
            Ok(_) => panic!("expected errors"),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn defaults_with_a_key_are_valid() {
        let l = load(&format!("[pagerduty]\nrouting_key = \"{KEY}\"\n"), &[]).unwrap();
        assert_eq!(l.config.pagerduty.timeout, HumanDuration::secs(10));
        assert_eq!(
            l.config.pagerduty.endpoint(),
            "https://events.pagerduty.com/v2/enqueue"
        );
        assert_eq!(l.key_of("default").map(|k| k.0.as_str()), Some(KEY));
    }

    #[test]
    fn type_errors_carry_file_line_column_and_key() {
        let e = errors(
            &format!("[pagerduty]\nrouting_key = \"{KEY}\"\ntimeout = 10\n"),
            &[],
        );
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("/etc/cp.toml:3:11: pagerduty.timeout: "),
            "{}",
            e[0]
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = errors(
            &format!("[pagerduty]\nrouting_key = \"{KEY}\"\ntimout = \"5s\"\n"),
            &[],
        );
        assert!(e[0].starts_with("/etc/cp.toml:3:1: pagerduty"), "{}", e[0]);
        assert!(e[0].contains("timout"), "{}", e[0]);
    }

    #[test]
    fn bad_duration_names_the_key() {
        let e = errors(
            &format!("[pagerduty]\nrouting_key = \"{KEY}\"\ntimeout = \"ten\"\n"),
            &[],
        );
        assert!(
            e[0].starts_with("/etc/cp.toml:3:11: pagerduty.timeout: "),
            "{}",
            e[0]
        );
    }

    #[test]
    fn the_removed_severity_minimum_names_its_replacement() {
        let e = errors(
            &format!(
                "[pagerduty]\nrouting_key = \"{KEY}\"\n\n[[route]]\nname = \"vip\"\n\
                 routing_key = \"{KEY}\"\nhost_severity_min = 2\nservice_severity_level_max = 0\n"
            ),
            &[],
        );
        assert!(
            e.iter().any(
                |l| l.starts_with("/etc/cp.toml:7:21: route[0].host_severity_min: ")
                    && l.contains("host_severity_level_max = 2")
            ),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|l| l.starts_with("/etc/cp.toml:8:30: route[0].service_severity_level_max: ")),
            "{e:?}"
        );
    }

    #[test]
    fn semantic_errors_are_all_reported_with_positions() {
        let e = errors(
            "[pagerduty]\nregion = \"eu\"\n\n[alerts]\nhost_states = [\"UP\"]\n\n[[route]]\nname = \"db\"\nhosts = [\"(\"]\n",
            &[],
        );
        assert!(
            e.iter()
                .any(|l| l
                    .starts_with("/etc/cp.toml: pagerduty.routing_key: a routing key is required")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|l| l.starts_with("/etc/cp.toml:5:15: alerts.host_states: ")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|l| l.starts_with("/etc/cp.toml:9:9: route[0].hosts: invalid regex")),
            "{e:?}"
        );
    }

    #[test]
    fn environment_overrides_need_a_double_underscore() {
        let l = load(
            "",
            &[
                ("CENTREON_PAGERDUTY_PAGERDUTY__ROUTING_KEY", KEY),
                ("CENTREON_PAGERDUTY_PAGERDUTY__TIMEOUT", "3s"),
                ("CENTREON_PAGERDUTY_CONFIG", "/nowhere"),
            ],
        )
        .unwrap();
        assert_eq!(l.config.pagerduty.timeout, HumanDuration::secs(3));
        let e = errors(
            "",
            &[
                ("CENTREON_PAGERDUTY_PAGERDUTY__ROUTING_KEY", KEY),
                ("CENTREON_PAGERDUTY_PAGERDUTY__TIMEOUT", "soon"),
            ],
        );
        assert!(
            e[0].starts_with("CENTREON_PAGERDUTY_PAGERDUTY__TIMEOUT: pagerduty.timeout: "),
            "{}",
            e[0]
        );
    }

    #[test]
    fn dry_run_needs_no_key() {
        let l = load("[pagerduty]\ndry_run = true\n", &[]).unwrap();
        assert!(l.warnings.iter().any(|w| w.contains("dry_run")));
        assert_eq!(l.key_of("default"), None);
    }

    #[test]
    fn routing_keys_never_appear_in_errors() {
        let bad = "R0UT1NGKEY000000000 00000000000012345";
        let e = errors(&format!("[pagerduty]\nrouting_key = \"{bad}\"\n"), &[]);
        assert!(
            e.iter().all(|l| !l.contains(bad) && !l.contains(KEY)),
            "{e:?}"
        );
        assert!(e[0].contains("position 20"), "{e:?}");
        // A key of another length is only a warning.
        let odd = "R0UT1NGKEY00000000000000000000012345";
        let l = load(&format!("[pagerduty]\nrouting_key = \"{odd}\"\n"), &[]).unwrap();
        assert!(
            l.warnings.iter().all(|w| !w.contains(odd)),
            "{:?}",
            l.warnings
        );
        assert!(
            l.warnings.iter().any(|w| w.contains("32")),
            "{:?}",
            l.warnings
        );
        assert_eq!(format!("{:?}", Secret(KEY.into())), "…0001");
    }

    #[test]
    fn key_file_checks_owner_and_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("routing.key");
        std::fs::write(&path, format!("{KEY}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_key_file(&path, &[]).unwrap_err();
        assert!(err.contains("chmod 0640"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(read_key_file(&path, &[]).unwrap().0, KEY);
    }

    #[test]
    fn routes_compile_into_settings() {
        let l = load(
            &format!("[pagerduty]\nrouting_key = \"{KEY}\"\n[[route]]\nname = \"quiet\"\naction = \"drop\"\nhostgroups = [\"Lab\"]\n"),
            &[],
        )
        .unwrap();
        let s = l.rules_settings();
        assert_eq!(s.routes.len(), 1);
        assert_eq!(s.routes[0].target, rules::settings::Target::Drop);
        assert_eq!(
            s.default_target,
            rules::settings::Target::Key(Some(KEY.into()))
        );
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("a\nbé=c", 5), (2, 3));
    }
}

#[cfg(test)]
mod packaged {
    use super::*;

    #[test]
    fn packaged_config_is_the_defaults_and_asks_for_a_key() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/centreon-pagerduty.toml"
        ));
        let l = load(Some(path), &[], Purpose::Offline).unwrap();
        assert_eq!(l.config.delivery.concurrency, 8);
        let e = load(Some(path), &[], Purpose::Service).unwrap_err();
        assert!(
            e.to_string()
                .contains("pagerduty.routing_key: a routing key is required"),
            "{e}"
        );
        let dev = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/dev.toml"
        ));
        assert!(
            load(Some(dev), &[], Purpose::Service)
                .unwrap()
                .config
                .pagerduty
                .dry_run
        );
    }
}
