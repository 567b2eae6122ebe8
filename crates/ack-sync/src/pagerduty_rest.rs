//! PagerDuty REST API v2: the paged listing of acknowledged incidents (`GET /incidents`).
//!
//! Names and shapes are those of PagerDuty's OpenAPI document (`PagerDuty/api-schema`,
//! `reference/REST/openapiv3.json`): parameters `statuses[]`, `limit`, `offset`, `date_range`,
//! `since`; headers `Accept: application/vnd.pagerduty+json;version=2` and `Content-Type:
//! application/json` (both `required` there, even on a GET) and `Authorization: Token token=…`
//! (security scheme `api_key`); the answer is `Pagination` (`limit`, `offset`, `more`, `total`)
//! with `incidents[]` of `Incident` (`id`, `status`, `incident_key`,
//! `acknowledgements[].acknowledger.summary`).
//!
//! Contract:
//! - One listing is one or more pages of [`MAX_PAGE_LIMIT`] (or the query's limit), fetched in
//!   order, stopping when PagerDuty says `more: false`, when a page is empty, or after
//!   `max_pages` pages (then [`Listing::truncated`] is true). Incidents are deduplicated by id.
//! - Any failure on any page fails the whole listing with a [`RestError`] that classifies it:
//!   429 → [`RestError::RateLimited`] with the wait from `ratelimit-reset` or `Retry-After`;
//!   401 → [`RestError::Unauthorized`] and 403 → [`RestError::Forbidden`] (configuration: pause);
//!   5xx → [`RestError::Server`] and transport failures → [`RestError::Network`] (retry);
//!   an answer that is not the documented JSON → [`RestError::Malformed`]; other 4xx →
//!   [`RestError::Rejected`] (configuration or a bug: pause).
//! - The token is sent only in the `Authorization` header and never appears in an error.

use crate::secret::Secret;
use crate::text::{bounded, bounded_bytes, error_message};
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use thiserror::Error;

/// PagerDuty's REST API (US service region).
pub const API_URL_US: &str = "https://api.pagerduty.com";
/// PagerDuty's REST API (EU service region).
pub const API_URL_EU: &str = "https://api.eu.pagerduty.com";
/// Largest `limit` PagerDuty accepts for classic (offset) pagination.
pub const MAX_PAGE_LIMIT: u32 = 100;
/// The `Accept` header that selects REST API v2 (`header_Accept` default in the spec).
const ACCEPT_V2: &str = "application/vnd.pagerduty+json;version=2";
/// Longest wait taken from a 429's headers; longer values are capped.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Largest answer body read, in bytes (100 incidents are a few hundred KB).
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

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
    fn parse(s: &str) -> IncidentStatus {
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

/// Why a listing failed. Texts never contain the token.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RestError {
    /// 429: the REST rate limit. Wait `retry_after` (from `ratelimit-reset` or `Retry-After`)
    /// when given, else back off.
    #[error("PagerDuty REST API rate limit reached (429){}", .retry_after.map(|d| format!(", retry in {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// The wait PagerDuty asked for, capped at one hour.
        retry_after: Option<Duration>,
    },
    /// 401: the API token is wrong or revoked (configuration).
    #[error("PagerDuty REST API refused the token (401): {message}; check sync.pagerduty_api_token_file")]
    Unauthorized {
        /// PagerDuty's message.
        message: String,
    },
    /// 403: the token may not read incidents (configuration).
    #[error("PagerDuty REST API forbids this token to list incidents (403): {message}")]
    Forbidden {
        /// PagerDuty's message.
        message: String,
    },
    /// Another 4xx (400 bad arguments, 402 ability missing, 404 wrong URL…): configuration or
    /// a bug; retrying the same request will not help.
    #[error("PagerDuty REST API rejected the listing ({status}): {message}")]
    Rejected {
        /// The status code.
        status: u16,
        /// PagerDuty's message.
        message: String,
    },
    /// 5xx (or an unexpected 1xx/3xx): PagerDuty's side; retry with backoff.
    #[error("PagerDuty REST API failed ({status}): {message}")]
    Server {
        /// The status code.
        status: u16,
        /// PagerDuty's message, when any.
        message: String,
    },
    /// No answer: DNS, connection, TLS, timeout, connection closed. Retry with backoff.
    #[error("PagerDuty REST API unreachable: {detail}")]
    Network {
        /// What failed.
        detail: String,
    },
    /// A 2xx whose body is not the documented JSON. Retry with backoff.
    #[error("PagerDuty REST API answered something unexpected: {detail}")]
    Malformed {
        /// What was wrong.
        detail: String,
    },
    /// The client could not be built (bad base URL, TLS setup).
    #[error("PagerDuty REST client: {detail}")]
    Setup {
        /// What failed.
        detail: String,
    },
}

impl RestError {
    /// Worth retrying later as is (rate limit, PagerDuty or network trouble, odd answer).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            RestError::RateLimited { .. }
                | RestError::Server { .. }
                | RestError::Network { .. }
                | RestError::Malformed { .. }
        )
    }

    /// The configuration must change before this can work: pause and say so loudly.
    pub fn is_config_error(&self) -> bool {
        !self.is_retryable()
    }

    /// The wait PagerDuty asked for, for a 429.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RestError::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

/// A client of PagerDuty's REST API for the incident listing.
#[derive(Clone)]
pub struct PagerDutyRest {
    http: reqwest::Client,
    base: String,
    token: Secret,
}

impl fmt::Debug for PagerDutyRest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PagerDutyRest")
            .field("base", &self.base)
            .field("token", &self.token)
            .finish()
    }
}

impl PagerDutyRest {
    /// A client of `base_url` (an explicit URL wins; else `region.api_url()`), with its own
    /// HTTP client (rustls, native roots) and `timeout` per request.
    pub fn new(
        base_url: Option<&str>,
        region: Region,
        token: Secret,
        timeout: Duration,
    ) -> Result<PagerDutyRest, RestError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("centreon-pagerduty/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RestError::Setup {
                detail: bounded(&e.to_string()),
            })?;
        PagerDutyRest::with_client(http, base_url, region, token)
    }

    /// Same with an HTTP client the caller built (proxy, extra CA, timeouts).
    pub fn with_client(
        http: reqwest::Client,
        base_url: Option<&str>,
        region: Region,
        token: Secret,
    ) -> Result<PagerDutyRest, RestError> {
        let base = match base_url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => region.api_url().to_owned(),
        };
        reqwest::Url::parse(&base).map_err(|e| RestError::Setup {
            detail: format!("invalid URL {:?}: {e}", bounded(&base)),
        })?;
        Ok(PagerDutyRest { http, base, token })
    }

    /// The base URL requests go to (no trailing `/`).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Lists every acknowledged incident, page after page (see the module's contract).
    pub async fn list_acknowledged(&self, query: &ListQuery) -> Result<Listing, RestError> {
        let mut listing = Listing::default();
        let mut seen = HashSet::new();
        let mut offset = 0u32;
        let max_pages = query.max_pages.max(1);
        loop {
            let page = self.list_page(query, offset).await?;
            listing.pages += 1;
            let got = u32::try_from(page.incidents.len()).unwrap_or(u32::MAX);
            for incident in page.incidents {
                if seen.insert(incident.id.clone()) {
                    listing.incidents.push(incident);
                }
            }
            if !page.more || got == 0 {
                return Ok(listing);
            }
            if listing.pages >= max_pages {
                listing.truncated = true;
                return Ok(listing);
            }
            offset = offset.saturating_add(got);
        }
    }

    /// One page of acknowledged incidents at `offset` (also what `send-test --sync` needs).
    pub async fn list_page(&self, query: &ListQuery, offset: u32) -> Result<Page, RestError> {
        let limit = query.limit.clamp(1, MAX_PAGE_LIMIT);
        let mut params: Vec<(&str, String)> = vec![
            ("statuses[]", "acknowledged".to_owned()),
            ("limit", limit.to_string()),
            ("offset", offset.to_string()),
        ];
        match &query.window {
            TimeWindow::All => params.push(("date_range", "all".to_owned())),
            TimeWindow::Since(since) => params.push(("since", since.clone())),
        }
        let url = format!("{}/incidents", self.base);
        let answer = self
            .http
            .get(&url)
            .query(&params)
            .header(ACCEPT, ACCEPT_V2)
            .header(CONTENT_TYPE, "application/json")
            .header(
                AUTHORIZATION,
                format!("Token token={}", self.token.expose()),
            )
            .send()
            .await
            .map_err(|e| RestError::Network {
                detail: transport_detail(&e),
            })?;
        let status = answer.status().as_u16();
        let headers = answer.headers().clone();
        let body = read_body(answer).await?;
        classify(status, &headers, &body)?;
        parse_page(&body, offset)
    }
}

/// Reads a body up to [`MAX_RESPONSE_BYTES`].
async fn read_body(mut answer: reqwest::Response) -> Result<Vec<u8>, RestError> {
    let mut body = Vec::new();
    loop {
        match answer.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(RestError::Malformed {
                        detail: format!("answer larger than {MAX_RESPONSE_BYTES} bytes"),
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(RestError::Network {
                    detail: transport_detail(&e),
                })
            }
        }
    }
}

/// A transport failure in words, without the URL's query (which holds nothing secret anyway).
pub(crate) fn transport_detail(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "connection broken while reading the answer"
    } else if e.is_request() {
        "request failed"
    } else {
        "transport error"
    };
    let mut detail = what.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    bounded(&detail)
}

/// Status (and headers) to an error, or `Ok` for 2xx.
fn classify(status: u16, headers: &HeaderMap, body: &[u8]) -> Result<(), RestError> {
    match status {
        200..=299 => Ok(()),
        429 => Err(RestError::RateLimited {
            retry_after: retry_after(headers),
        }),
        401 => Err(RestError::Unauthorized {
            message: error_message(body),
        }),
        403 => Err(RestError::Forbidden {
            message: error_message(body),
        }),
        400..=499 => Err(RestError::Rejected {
            status,
            message: error_message(body),
        }),
        _ => Err(RestError::Server {
            status,
            message: error_message(body),
        }),
    }
}

/// `ratelimit-reset` (seconds to wait, PagerDuty's header) else `Retry-After` (seconds).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs = |name: &str| -> Option<f64> {
        let v = headers.get(name)?.to_str().ok()?.trim();
        let n: f64 = v.parse().ok()?;
        (n.is_finite() && n >= 0.0).then_some(n)
    };
    let n = secs("ratelimit-reset").or_else(|| secs(RETRY_AFTER.as_str()))?;
    Some(Duration::from_secs_f64(
        n.min(MAX_RETRY_AFTER.as_secs_f64()),
    ))
}

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

fn parse_page(body: &[u8], offset: u32) -> Result<Page, RestError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn regions() {
        assert_eq!("us".parse::<Region>(), Ok(Region::Us));
        assert_eq!("eu".parse::<Region>(), Ok(Region::Eu));
        assert!("mars".parse::<Region>().is_err());
        assert_eq!(Region::Eu.api_url(), "https://api.eu.pagerduty.com");
    }

    #[test]
    fn retry_after_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("ratelimit-reset", HeaderValue::from_static("30"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(30)));
        h.insert("ratelimit-reset", HeaderValue::from_static("99999"));
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
        h.insert("ratelimit-reset", HeaderValue::from_static("-1"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
    }

    #[test]
    fn classification_is_exclusive() {
        let h = HeaderMap::new();
        for status in [400u16, 401, 402, 403, 404, 429, 500, 502, 503, 302, 100] {
            let e = classify(status, &h, b"").unwrap_err();
            assert_ne!(e.is_retryable(), e.is_config_error(), "{status}");
        }
        assert!(classify(200, &h, b"").is_ok());
    }

    #[test]
    fn pages_parse_leniently() {
        let page = parse_page(
            br#"{"incidents":[{"id":"P1","status":"acknowledged","incident_key":"1_2",
                "acknowledgements":[{"at":"x","acknowledger":{"id":"U","type":"user_reference","summary":"Ann"}},
                                    {"at":"y","acknowledger":{"id":"S","type":"service_reference","summary":null}}]},
                {"id":"P2","status":"weird","incident_key":null}],"more":true,"limit":2,"offset":0}"#,
            0,
        )
        .unwrap();
        assert!(page.more);
        assert_eq!(page.incidents[0].acknowledgers, vec!["Ann".to_owned()]);
        assert_eq!(page.incidents[0].who(), "Ann");
        assert_eq!(page.incidents[1].incident_key, None);
        assert_eq!(page.incidents[1].created_at, None);
        assert_eq!(page.incidents[1].who(), "PagerDuty");
        assert_eq!(
            page.incidents[1].status,
            IncidentStatus::Other("weird".into())
        );
        assert!(matches!(
            parse_page(b"<html>", 0),
            Err(RestError::Malformed { .. })
        ));
        assert!(matches!(
            parse_page(br#"{"more":false}"#, 0),
            Err(RestError::Malformed { .. })
        ));
    }
}
