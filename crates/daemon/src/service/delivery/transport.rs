//! How events leave the daemon: the HTTP client (reqwest, rustls with the system trust store
//! plus `ca_file`, proxy, no redirects) or, in dry run, a log line. It sends one request and
//! classifies the answer (`pagerduty::classify_response`) or the failure, from the error's
//! types (timeouts, connection errors, rustls certificate errors, I/O error kinds), never from
//! its text. It knows nothing of queues, pauses or retries.

use pagerduty::{Outcome, TransportFailure};
use tracing::info;

/// How events leave the daemon.
#[derive(Clone)]
pub enum Sender {
    Http {
        client: reqwest::Client,
        url: String,
    },
    /// `dry_run`: log each event instead of sending it.
    DryRun,
}

/// An HTTP client with `[pagerduty]`'s timeout and extra CA (`ca_file`), its proxy when
/// `proxy` (the sync's Centreon client goes direct), no redirects.
pub(crate) fn http_client(
    cfg: &crate::config::PagerDutyConfig,
    proxy: bool,
) -> anyhow::Result<reqwest::ClientBuilder> {
    let mut builder = reqwest::Client::builder()
        .timeout(cfg.timeout.0)
        .connect_timeout(cfg.timeout.0)
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .user_agent(concat!("centreon-pagerduty/", env!("CARGO_PKG_VERSION")));
    if proxy && !cfg.proxy.is_empty() {
        builder = builder.proxy(reqwest::Proxy::all(&cfg.proxy)?);
    } else if !proxy {
        builder = builder.no_proxy();
    }
    if !cfg.ca_file.is_empty() {
        let pem = std::fs::read(&cfg.ca_file)?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    Ok(builder)
}

impl Sender {
    pub fn build(cfg: &crate::config::PagerDutyConfig) -> anyhow::Result<Self> {
        if cfg.dry_run {
            return Ok(Sender::DryRun);
        }
        let builder = http_client(cfg, true)?;
        Ok(Sender::Http {
            client: builder.build()?,
            url: cfg.endpoint(),
        })
    }

    /// Send one event now (used by `send-test`).
    pub async fn send_now(&self, event: &pagerduty::Event) -> Outcome {
        self.send(event.to_body(), &event.to_masked_json())
            .await
            .outcome
    }

    /// Send one request and classify what came back.
    pub(super) async fn send(&self, body: Vec<u8>, masked: &str) -> Sent {
        let client = match self {
            Sender::DryRun => {
                info!(event = %masked, "Dry run: not sent.");
                return Sent::answered(Outcome::Delivered);
            }
            Sender::Http { client, url } => client
                .post(url)
                .header("content-type", "application/json")
                .body(body),
        };
        match client.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let bytes = r.bytes().await.unwrap_or_default();
                Sent::answered(pagerduty::classify_response(status, &bytes))
            }
            Err(e) => {
                let failure = transport_failure(&e);
                Sent {
                    outcome: pagerduty::classify_transport(failure, &error_chain(&e)),
                    // The request may have reached PagerDuty before the failure.
                    maybe_taken: matches!(
                        failure,
                        TransportFailure::Timeout
                            | TransportFailure::Reset
                            | TransportFailure::Other
                    ),
                }
            }
        }
    }
}

/// What a request came to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sent {
    pub(crate) outcome: Outcome,
    /// No answer, but PagerDuty may have taken the event (a timeout, a connection cut after
    /// the request left).
    pub(crate) maybe_taken: bool,
}

impl Sent {
    fn answered(outcome: Outcome) -> Self {
        Sent {
            outcome,
            maybe_taken: false,
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// Every error in the chain, including the errors wrapped inside `std::io::Error`s (whose
/// `source()` skips them).
fn causes<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        out.push(err);
        next = match err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    out
}

/// What kind of transport failure a request error is, from the types in its chain.
fn transport_failure(e: &reqwest::Error) -> TransportFailure {
    let causes = causes(e);
    let tls = causes
        .iter()
        .find_map(|c| c.downcast_ref::<rustls::Error>());
    match tls {
        Some(
            rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::UnsupportedNameType,
        ) => return TransportFailure::TlsCertificate,
        Some(_) => return TransportFailure::TlsIo,
        None => {}
    }
    if e.is_timeout() {
        return TransportFailure::Timeout;
    }
    if e.is_connect() {
        return TransportFailure::Connect;
    }
    let io_kind = causes
        .iter()
        .find_map(|c| c.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind);
    use std::io::ErrorKind::*;
    let incomplete = causes
        .iter()
        .filter_map(|c| c.downcast_ref::<hyper::Error>())
        .any(|h| h.is_incomplete_message() || h.is_canceled() || h.is_closed());
    match io_kind {
        Some(ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof) => {
            TransportFailure::Reset
        }
        Some(TimedOut) => TransportFailure::Timeout,
        Some(ConnectionRefused | NotConnected | AddrNotAvailable) => TransportFailure::Connect,
        _ if incomplete => TransportFailure::Reset,
        _ => TransportFailure::Other,
    }
}

/// PagerDuty (or a proxy) may quote the routing key in its error text: mask it before the
/// text reaches logs, status or dead letters.
pub fn scrub(outcome: Outcome, routing_key: &str) -> Outcome {
    if routing_key.is_empty() {
        return outcome;
    }
    let mask = |m: String| m.replace(routing_key, &pagerduty::mask_routing_key(routing_key));
    match outcome {
        Outcome::Retry { reason } => Outcome::Retry {
            reason: mask(reason),
        },
        Outcome::RoutingKeyRejected { message } => Outcome::RoutingKeyRejected {
            message: mask(message),
        },
        Outcome::Rejected { message } => Outcome::Rejected {
            message: mask(message),
        },
        Outcome::ConfigError { reason } => Outcome::ConfigError {
            reason: mask(reason),
        },
        other => other,
    }
}
