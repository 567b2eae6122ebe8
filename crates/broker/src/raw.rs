//! The raw events as the shim posts them: one JSON object per line, the Lua table Broker gave
//! the connector (`broker_api_version = 1`) plus the shim's `_cache` object.
//!
//! One flat struct covers every element the daemon reads, BBDO v2 and v3 alike (their Lua key
//! names are the same where the concept is the same, see the v2 → v3 cheat sheet of the Broker
//! reference). Only the fields the rules use are declared; every other key is skipped unread,
//! whatever its type. Every declared field is lenient (see [`crate::lenient`]).

use crate::lenient::{self, absent};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// One raw Broker event (any element), reduced to the fields the daemon reads.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct RawEvent {
    #[serde(rename = "_type", deserialize_with = "lenient::int")]
    pub type_id: Option<i64>,
    #[serde(deserialize_with = "lenient::int")]
    pub category: Option<i64>,
    #[serde(deserialize_with = "lenient::int")]
    pub element: Option<i64>,

    #[serde(deserialize_with = "lenient::int")]
    pub host_id: Option<i64>,
    #[serde(deserialize_with = "lenient::int")]
    pub service_id: Option<i64>,
    #[serde(deserialize_with = "lenient::int")]
    pub instance_id: Option<i64>,

    // Status fields.
    #[serde(deserialize_with = "lenient::int")]
    pub state: Option<i64>,
    #[serde(deserialize_with = "lenient::int")]
    pub state_type: Option<i64>,
    #[serde(deserialize_with = "lenient::int")]
    pub last_hard_state: Option<i64>,
    #[serde(deserialize_with = "lenient::int")]
    pub last_check: Option<i64>,
    #[serde(deserialize_with = "lenient::int")]
    pub last_update: Option<i64>,
    #[serde(deserialize_with = "lenient::int")]
    pub last_hard_state_change: Option<i64>,
    #[serde(deserialize_with = "lenient::string")]
    pub output: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub long_output: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub perfdata: Option<String>,
    #[serde(deserialize_with = "lenient::boolean")]
    pub acknowledged: Option<bool>,
    #[serde(deserialize_with = "lenient::int")]
    pub acknowledgement_type: Option<i64>,
    #[serde(deserialize_with = "lenient::int")]
    pub scheduled_downtime_depth: Option<i64>,
    #[serde(deserialize_with = "lenient::boolean")]
    pub flapping: Option<bool>,
    #[serde(deserialize_with = "lenient::boolean")]
    pub notify: Option<bool>,
    #[serde(deserialize_with = "lenient::int")]
    pub check_attempt: Option<i64>,
    #[serde(deserialize_with = "lenient::int")]
    pub max_check_attempts: Option<i64>,
    #[serde(deserialize_with = "lenient::int")]
    pub notification_number: Option<i64>,

    // Definition fields.
    #[serde(deserialize_with = "lenient::boolean")]
    pub enabled: Option<bool>,
    /// BBDO v2 `volatile`.
    #[serde(rename = "volatile", deserialize_with = "lenient::boolean")]
    pub is_volatile: Option<bool>,
    /// BBDO v3 `is_volatile` (a separate field, not an alias: a line may carry both).
    #[serde(rename = "is_volatile", deserialize_with = "lenient::boolean")]
    pub is_volatile_v3: Option<bool>,
    #[serde(deserialize_with = "lenient::string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub description: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub host_name: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub notes_url: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub action_url: Option<String>,

    /// Acknowledgement: 0 host, 1 service. Downtime: 1 service, 2 host. v3 service status:
    /// 0 service, 2 meta-service, 3 BA, 4 anomaly detection.
    #[serde(rename = "type", deserialize_with = "lenient::int")]
    pub kind: Option<i64>,
    #[serde(deserialize_with = "lenient::int")]
    pub internal_id: Option<i64>,
    #[serde(deserialize_with = "lenient::int")]
    pub id: Option<i64>,

    // Acknowledgement and downtime fields.
    #[serde(deserialize_with = "lenient::int")]
    pub entry_time: Option<i64>,
    #[serde(deserialize_with = "lenient::int")]
    pub deletion_time: Option<i64>,
    #[serde(deserialize_with = "lenient::boolean")]
    pub sticky: Option<bool>,
    #[serde(deserialize_with = "lenient::int")]
    pub start_time: Option<i64>,
    #[serde(deserialize_with = "lenient::int")]
    pub actual_start_time: Option<i64>,
    #[serde(deserialize_with = "lenient::int")]
    pub actual_end_time: Option<i64>,
    #[serde(deserialize_with = "lenient::boolean")]
    pub started: Option<bool>,
    #[serde(deserialize_with = "lenient::boolean")]
    pub cancelled: Option<bool>,
    /// Definitions: false for a resource Engine never checked.
    #[serde(deserialize_with = "lenient::boolean")]
    pub checked: Option<bool>,

    #[serde(rename = "_cache", deserialize_with = "cache")]
    pub cache: Option<RawCache>,
}

/// The `_cache` object the shim builds from `broker_cache` (absent fields omitted).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct RawCache {
    #[serde(deserialize_with = "lenient::string")]
    pub host_name: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub service_description: Option<String>,
    #[serde(deserialize_with = "lenient::string_list")]
    pub hostgroups: Option<Vec<String>>,
    #[serde(deserialize_with = "lenient::string_list")]
    pub servicegroups: Option<Vec<String>>,
    #[serde(deserialize_with = "lenient::int")]
    pub host_severity: Option<i64>,
    #[serde(deserialize_with = "lenient::int")]
    pub service_severity: Option<i64>,
    #[serde(deserialize_with = "lenient::string")]
    pub notes_url: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub action_url: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub poller: Option<String>,
    /// Notifications enabled, from `broker_cache` (BBDO v3 statuses carry no `notify`).
    #[serde(deserialize_with = "lenient::boolean")]
    pub notify: Option<bool>,
    /// From `broker_cache` (BBDO v3 statuses carry no `max_check_attempts`).
    #[serde(deserialize_with = "lenient::int")]
    pub max_check_attempts: Option<i64>,
}

struct CacheVisitor;

impl<'de> Visitor<'de> for CacheVisitor {
    type Value = Option<RawCache>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the shim's _cache object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        RawCache::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
    }
    absent!(seq, str, i64, u64, f64, bool, none, unit);
}

fn cache<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RawCache>, D::Error> {
    d.deserialize_any(CacheVisitor)
}
