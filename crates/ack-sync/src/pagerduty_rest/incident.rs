//! What a listing returns: the incidents reduced to what the sync needs, one page, the whole
//! listing. Plain data; the wire format is `wire`'s, the fetching `client`'s.

use crate::text::bounded;

/// `Incident.status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentStatus {
    /// `triggered`.
    Triggered,
    /// `acknowledged`.
    Acknowledged,
    /// `resolved`.
    Resolved,
    /// A status this version does not know ("more status codes may be introduced").
    Other(String),
}

impl IncidentStatus {
    pub(super) fn parse(s: &str) -> IncidentStatus {
        match s {
            "triggered" => IncidentStatus::Triggered,
            "acknowledged" => IncidentStatus::Acknowledged,
            "resolved" => IncidentStatus::Resolved,
            other => IncidentStatus::Other(bounded(other)),
        }
    }
}

/// One incident of a listing, reduced to what the sync needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckedIncident {
    /// `id` (e.g. `PT4KHLK`).
    pub id: String,
    /// `incident_key`: the Events API `dedup_key` the incident was opened with; absent for
    /// incidents that were not opened by an event (or that have several alerts).
    pub incident_key: Option<String>,
    /// `status`.
    pub status: IncidentStatus,
    /// `acknowledgements[].acknowledger.summary`, in PagerDuty's order, nulls left out.
    pub acknowledgers: Vec<String>,
    /// `created_at`, in Unix seconds, when given and readable: which episode of its
    /// `incident_key` the incident is (a dedup key opens a new incident after a resolve).
    pub created_at: Option<i64>,
}

impl AckedIncident {
    /// The acknowledgers for a comment's `{who}`: their summaries joined with `, `, or
    /// `PagerDuty` when none is known.
    pub fn who(&self) -> String {
        if self.acknowledgers.is_empty() {
            "PagerDuty".to_owned()
        } else {
            self.acknowledgers.join(", ")
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The incidents of this page.
    pub incidents: Vec<AckedIncident>,
    /// `more`: PagerDuty has further pages.
    pub more: bool,
    /// The offset of this page.
    pub offset: u32,
}

/// A whole listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    /// Every acknowledged incident listed, deduplicated by id.
    pub incidents: Vec<AckedIncident>,
    /// Pages fetched.
    pub pages: u32,
    /// Stopped at `max_pages` while PagerDuty said `more: true`.
    pub truncated: bool,
}
