//! The client: [`PagerDutyRest`] builds the `GET /incidents` requests (headers, parameters,
//! token), walks the pages of a listing and reads each answer within its size limit. What an
//! answer means is `error`'s and `wire`'s.

use super::error::classify;
use super::wire::parse_page;
use super::{ListQuery, Listing, Page, Region, RestError, TimeWindow, MAX_PAGE_LIMIT};
use crate::secret::Secret;
use crate::text::{bounded, transport_detail};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

/// The `Accept` header that selects REST API v2 (`header_Accept` default in the spec).
const ACCEPT_V2: &str = "application/vnd.pagerduty+json;version=2";
/// Largest answer body read, in bytes (100 incidents are a few hundred KB).
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

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
