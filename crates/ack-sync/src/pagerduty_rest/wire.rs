//! PagerDuty's JSON answer (`Pagination` with `incidents[]` of `Incident`) as it comes, read
//! leniently and reduced to a [`Page`]. Private to the module; nothing here talks to the network.

use super::{AckedIncident, IncidentStatus, Page, RestError};
use crate::text::{bounded, bounded_bytes};
use serde::Deserialize;

#[derive(Deserialize)]
struct WirePage {
    incidents: Vec<WireIncident>,
    #[serde(default)]
    more: Option<bool>,
}

#[derive(Deserialize)]
struct WireIncident {
    id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    incident_key: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    acknowledgements: Option<Vec<WireAcknowledgement>>,
}

#[derive(Deserialize)]
struct WireAcknowledgement {
    #[serde(default)]
    acknowledger: Option<WireReference>,
}

#[derive(Deserialize)]
struct WireReference {
    #[serde(default)]
    summary: Option<String>,
}

pub(super) fn parse_page(body: &[u8], offset: u32) -> Result<Page, RestError> {
    let wire: WirePage = serde_json::from_slice(body).map_err(|e| RestError::Malformed {
        detail: format!(
            "not a list of incidents ({}): {}",
            bounded(&e.to_string()),
            bounded_bytes(body)
        ),
    })?;
    let incidents = wire
        .incidents
        .into_iter()
        .map(|i| AckedIncident {
            id: i.id,
            incident_key: i.incident_key.filter(|k| !k.is_empty()),
            status: IncidentStatus::parse(i.status.as_deref().unwrap_or("")),
            created_at: i.created_at.as_deref().and_then(crate::parse_rfc3339),
            acknowledgers: i
                .acknowledgements
                .unwrap_or_default()
                .into_iter()
                .filter_map(|a| a.acknowledger?.summary)
                .filter(|s| !s.trim().is_empty())
                .collect(),
        })
        .collect();
    Ok(Page {
        incidents,
        more: wire.more.unwrap_or(false),
        offset,
    })
}
