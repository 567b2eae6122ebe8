//! What to list and where: the service region and its base URL, the time window, the page size
//! and the page budget. Plain data; nothing here talks to the network.

use crate::text::bounded;
use std::str::FromStr;

/// PagerDuty's REST API (US service region).
pub const API_URL_US: &str = "https://api.pagerduty.com";
/// PagerDuty's REST API (EU service region).
pub const API_URL_EU: &str = "https://api.eu.pagerduty.com";
/// Largest `limit` PagerDuty accepts for classic (offset) pagination.
pub const MAX_PAGE_LIMIT: u32 = 100;

/// A PagerDuty service region (`[pagerduty] region`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// `us`: api.pagerduty.com.
    Us,
    /// `eu`: api.eu.pagerduty.com.
    Eu,
}

impl Region {
    /// The REST API base URL of the region.
    pub fn api_url(self) -> &'static str {
        match self {
            Region::Us => API_URL_US,
            Region::Eu => API_URL_EU,
        }
    }
}

impl FromStr for Region {
    type Err = String;
    fn from_str(s: &str) -> Result<Region, String> {
        match s {
            "us" | "" => Ok(Region::Us),
            "eu" => Ok(Region::Eu),
            other => Err(format!(
                "unknown PagerDuty region {:?}: expected \"us\" or \"eu\"",
                bounded(other)
            )),
        }
    }
}

/// Which incidents, in time, a listing covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeWindow {
    /// `date_range=all`: every acknowledged incident whatever its age. The default: without it
    /// PagerDuty lists only the incidents of the last month ("default is 1 month"), and an
    /// incident this daemon holds open can be older.
    All,
    /// `since=…` (an ISO 8601 date-time): incidents created since then, up to now. PagerDuty
    /// accepts at most 6 months.
    Since(String),
}

/// What to list. [`ListQuery::default`]: all ages, pages of 100, at most 100 pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// The time window.
    pub window: TimeWindow,
    /// Incidents per page, 1..=[`MAX_PAGE_LIMIT`] (clamped).
    pub limit: u32,
    /// Pages fetched at most in one listing (≥ 1).
    pub max_pages: u32,
}

impl Default for ListQuery {
    fn default() -> ListQuery {
        ListQuery {
            window: TimeWindow::All,
            limit: MAX_PAGE_LIMIT,
            max_pages: 100,
        }
    }
}
