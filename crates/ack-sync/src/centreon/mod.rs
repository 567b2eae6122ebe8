//! Centreon API v2: `POST {base}/login`, `POST {base}/monitoring/resources/acknowledge`, and
//! `GET {base}/monitoring/resources/hosts/{host_id}[/services/{service_id}]`.
//!
//! Names and shapes are those of Centreon's OpenAPI document (`centreon/centreon`,
//! `centreon/doc/API/centreon-api.yaml`): the login body is `AuthenticationRequest`
//! (`{"security":{"credentials":{"login","password"}}}`) and the answer
//! `LoginAuthenticationResponse` (`security.token`); the token goes in the `X-AUTH-TOKEN` header
//! (security scheme `Token`); the acknowledge body is `Acknowledgement.Bulk`
//! (`acknowledgement`: `Acknowledgement.Resource`, `resources[]`: `Monitoring.Resource.Action`)
//! and its success is `204 Command Sent`.
//!
//! Contract:
//! - [`CentreonClient::acknowledge`] sends exactly DESIGN §4.6's body for one resource:
//!   `{"acknowledgement":{"comment","is_notify_contacts","is_persistent_comment":true,
//!   "is_sticky","with_services":false},"resources":[{"type":"service","id":SID,
//!   "parent":{"id":HID}}]}` (a host: `{"type":"host","id":HID,"parent":null}`).
//! - Any 2xx (the API says 204) is done.
//! - [`CentreonClient::is_acknowledged`] reads the resource's detail (`Monitoring.ServiceDetail`
//!   or its host counterpart) and returns its `acknowledged`; it changes nothing.
//! - Login mode ([`CentreonAuth::Login`]): the first call logs in; the token is kept and reused;
//!   a 401 forgets it, logs in again once and retries once; a second 401, or a login refused
//!   (400/401/403), is [`CentreonError::Unauthorized`] (configuration).
//! - Token mode ([`CentreonAuth::Token`]): a 401 is [`CentreonError::Unauthorized`] at once
//!   (configuration: pause and say so loudly); nothing else is tried.
//! - 403 → [`CentreonError::Forbidden`] (the API user lacks the right: configuration); other 4xx
//!   → [`CentreonError::Rejected`] (permanent for this request); 5xx, 408, 429 →
//!   [`CentreonError::Server`] and transport failures → [`CentreonError::Network`] (retry).
//! - The token and the password are sent only where the API wants them and never appear in an
//!   error or in `Debug` output.

use crate::secret::Secret;
use crate::text::{bounded, bounded_bytes, error_message, transport_detail};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Value};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod error;
mod request;

use error::done_or_error;
pub use error::CentreonError;
pub use request::{Acknowledgement, CentreonAuth, Credentials, Resource};

/// The header Centreon reads the token from (security scheme `Token`).
const TOKEN_HEADER: &str = "X-AUTH-TOKEN";
/// Largest answer body read, in bytes.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// A client of Centreon's API v2.
#[derive(Clone)]
pub struct CentreonClient {
    http: reqwest::Client,
    base: String,
    auth: CentreonAuth,
    /// Login mode: the session token, once logged in.
    session: Arc<Mutex<Option<Secret>>>,
}

impl fmt::Debug for CentreonClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CentreonClient")
            .field("base", &self.base)
            .field("auth", &self.auth)
            .finish()
    }
}

/// One answer.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl CentreonClient {
    /// A client of `base_url` (e.g. `https://centreon.example.com/centreon/api/latest`) with its
    /// own HTTP client (rustls, native roots) and `timeout` per request.
    pub fn new(
        base_url: &str,
        auth: CentreonAuth,
        timeout: Duration,
    ) -> Result<CentreonClient, CentreonError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("centreon-pagerduty/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CentreonError::Setup {
                detail: bounded(&e.to_string()),
            })?;
        CentreonClient::with_client(http, base_url, auth)
    }

    /// Same with an HTTP client the caller built (proxy, extra CA, timeouts).
    pub fn with_client(
        http: reqwest::Client,
        base_url: &str,
        auth: CentreonAuth,
    ) -> Result<CentreonClient, CentreonError> {
        let base = base_url.trim().trim_end_matches('/').to_owned();
        let url = reqwest::Url::parse(&base).map_err(|e| CentreonError::Setup {
            detail: format!("invalid URL {:?}: {e}", bounded(&base)),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(CentreonError::Setup {
                detail: format!("URL {:?} is not http(s)", bounded(&base)),
            });
        }
        Ok(CentreonClient {
            http,
            base,
            auth,
            session: Arc::new(Mutex::new(None)),
        })
    }

    /// The base URL (no trailing `/`).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `POST /login` now (login mode), keeping the new session token. In token mode, nothing
    /// to do. Proves the credentials (`send-test --sync` in login mode).
    pub async fn login(&self) -> Result<(), CentreonError> {
        match &self.auth {
            CentreonAuth::Token(_) => Ok(()),
            CentreonAuth::Login(c) => {
                let token = self.post_login(c).await?;
                *lock(&self.session) = Some(token);
                Ok(())
            }
        }
    }

    /// Acknowledges one resource (see the module's contract).
    pub async fn acknowledge(&self, ack: &Acknowledgement) -> Result<(), CentreonError> {
        let body = &ack.to_body();
        let a = self
            .authorized(|token| async move {
                self.send(
                    Method::POST,
                    "/monitoring/resources/acknowledge",
                    Some(&token),
                    Some(body),
                )
                .await
            })
            .await?;
        done_or_error(a.status, &a.body)
    }

    /// Whether Centreon shows the resource acknowledged now (`GET
    /// /monitoring/resources/hosts/{host_id}[/services/{service_id}]`, its `acknowledged`).
    /// Asked before sending again an acknowledgement whose first sending has no known outcome:
    /// Centreon may have taken it. The answer lags the acknowledgement by the time Centreon takes
    /// to apply a command (seconds). Same authentication and errors as
    /// [`CentreonClient::acknowledge`]; a 200 without a boolean `acknowledged` is
    /// [`CentreonError::Malformed`].
    pub async fn is_acknowledged(&self, resource: Resource) -> Result<bool, CentreonError> {
        let path = &match resource {
            Resource::Host { host_id } => format!("/monitoring/resources/hosts/{host_id}"),
            Resource::Service {
                host_id,
                service_id,
            } => format!("/monitoring/resources/hosts/{host_id}/services/{service_id}"),
        };
        let a = self
            .authorized(
                |token| async move { self.send(Method::GET, path, Some(&token), None).await },
            )
            .await?;
        done_or_error(a.status, &a.body)?;
        serde_json::from_slice::<Value>(&a.body)
            .ok()
            .and_then(|v| v.get("acknowledged").and_then(Value::as_bool))
            .ok_or_else(|| CentreonError::Malformed {
                detail: format!(
                    "{path}: an answer without a boolean \"acknowledged\": {}",
                    bounded_bytes(&a.body)
                ),
            })
    }

    /// One authenticated call (`call` with the token): in token mode a 401 is
    /// [`CentreonError::Unauthorized`]; in login mode the session token is reused, and a 401
    /// logs in again once and calls once more. The answer returned is never a 401.
    async fn authorized<F, Fut>(&self, call: F) -> Result<Answer, CentreonError>
    where
        F: Fn(Secret) -> Fut,
        Fut: Future<Output = Result<Answer, CentreonError>>,
    {
        match &self.auth {
            CentreonAuth::Token(token) => {
                let a = call(token.clone()).await?;
                if a.status == 401 {
                    return Err(CentreonError::Unauthorized {
                        status: 401,
                        message: format!(
                            "{}; check sync.centreon_api_token_file (token {}: expired or revoked?)",
                            error_message(&a.body),
                            token.masked()
                        ),
                    });
                }
                Ok(a)
            }
            CentreonAuth::Login(credentials) => {
                let cached = lock(&self.session).clone();
                let (token, fresh) = match cached {
                    Some(t) => (t, false),
                    None => (self.fresh_token(credentials).await?, true),
                };
                let a = call(token.clone()).await?;
                if a.status != 401 {
                    return Ok(a);
                }
                if fresh {
                    return Err(unauthorized_after_login(credentials, &a.body));
                }
                // The session expired (Centreon drops tokens unused for an hour): once more.
                forget(&self.session, &token);
                let token = self.fresh_token(credentials).await?;
                let a = call(token.clone()).await?;
                if a.status == 401 {
                    forget(&self.session, &token);
                    return Err(unauthorized_after_login(credentials, &a.body));
                }
                Ok(a)
            }
        }
    }

    /// Proves the credentials and the API access without changing anything (`send-test
    /// --sync`): in login mode a new login, then in both modes an authenticated
    /// `GET /monitoring/resources?limit=1` (the realtime API the acknowledgements go to).
    pub async fn check_access(&self) -> Result<(), CentreonError> {
        let token = match &self.auth {
            CentreonAuth::Token(token) => token.clone(),
            CentreonAuth::Login(credentials) => self.fresh_token(credentials).await?,
        };
        let a = self
            .send(
                Method::GET,
                "/monitoring/resources?limit=1",
                Some(&token),
                None,
            )
            .await?;
        match a.status {
            401 => Err(CentreonError::Unauthorized {
                status: 401,
                message: format!(
                    "{}; check sync.centreon_api_token_file or sync.centreon_login_file",
                    error_message(&a.body)
                ),
            }),
            status => done_or_error(status, &a.body),
        }
    }

    /// Logs in and keeps the token.
    async fn fresh_token(&self, credentials: &Credentials) -> Result<Secret, CentreonError> {
        let token = self.post_login(credentials).await?;
        *lock(&self.session) = Some(token.clone());
        Ok(token)
    }

    async fn post_login(&self, credentials: &Credentials) -> Result<Secret, CentreonError> {
        let body = json!({"security": {"credentials": {
            "login": credentials.login(),
            "password": credentials.password().expose(),
        }}});
        let a = self.send(Method::POST, "/login", None, Some(&body)).await?;
        match a.status {
            200..=299 => {}
            400 | 401 | 403 => {
                return Err(CentreonError::Unauthorized {
                    status: a.status,
                    message: format!(
                        "login {:?} refused: {}; check sync.centreon_login_file",
                        bounded(credentials.login()),
                        error_message(&a.body)
                    ),
                })
            }
            status => return done_or_error(status, &a.body).map(|()| Secret::new("")),
        }
        let v: Value = serde_json::from_slice(&a.body).map_err(|e| CentreonError::Malformed {
            detail: format!(
                "login answer is not JSON ({}): {}",
                bounded(&e.to_string()),
                bounded_bytes(&a.body)
            ),
        })?;
        match v
            .get("security")
            .and_then(|s| s.get("token"))
            .and_then(Value::as_str)
        {
            Some(t) if !t.is_empty() => Ok(Secret::new(t)),
            _ => Err(CentreonError::Malformed {
                detail: "login answer without security.token".to_owned(),
            }),
        }
    }

    /// One request (a JSON body when given); the answer's status and the start of its body.
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&Secret>,
        body: Option<&Value>,
    ) -> Result<Answer, CentreonError> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(ACCEPT, "application/json");
        if let Some(body) = body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        if let Some(t) = token {
            req = req.header(TOKEN_HEADER, t.expose());
        }
        let mut answer = req.send().await.map_err(|e| CentreonError::Network {
            detail: transport_detail(&e),
        })?;
        let status = answer.status().as_u16();
        let mut body = Vec::new();
        loop {
            match answer.chunk().await {
                Ok(Some(chunk)) => {
                    // Only the start matters for messages; keep reading to end the exchange.
                    if body.len() < MAX_RESPONSE_BYTES {
                        let room = MAX_RESPONSE_BYTES - body.len();
                        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(CentreonError::Network {
                        detail: transport_detail(&e),
                    })
                }
            }
        }
        Ok(Answer { status, body })
    }
}

fn lock(m: &Mutex<Option<Secret>>) -> std::sync::MutexGuard<'_, Option<Secret>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Forgets the session token if it is still `token` (another call may have renewed it).
fn forget(session: &Mutex<Option<Secret>>, token: &Secret) {
    let mut s = lock(session);
    if s.as_ref() == Some(token) {
        *s = None;
    }
}

fn unauthorized_after_login(credentials: &Credentials, body: &[u8]) -> CentreonError {
    CentreonError::Unauthorized {
        status: 401,
        message: format!(
            "{} (a fresh session of {:?} was refused too); check the API access of that user",
            error_message(body),
            bounded(credentials.login())
        ),
    }
}
