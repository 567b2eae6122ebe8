//! `centreon-pagerduty inject FILE`: post raw Broker events (NDJSON) to the daemon over its
//! socket, as the shim does: streamed, in batches of at most [`BATCH_LINES`] lines and
//! [`BATCH_BYTES`] bytes (the shim's defaults, well within the daemon's 16 MiB body limit),
//! whatever the size of the file. A line larger than a batch goes alone.

use super::{config_failure, load_config, EXIT_FAILURE};
use crate::api::types::Reply;
use crate::config::Purpose;
use anyhow::{bail, Context as _};
use std::io::{BufRead, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// Lines per POST, as the shim's default `max_buffer_size`.
pub const BATCH_LINES: usize = 1000;
/// Bytes per POST, as the shim's default `max_batch_bytes`.
pub const BATCH_BYTES: usize = 4 * 1024 * 1024;
/// A batch refused with 503 (the spool cannot take it now) is posted again this many times,
/// [`RETRY_AFTER`] apart, before giving up.
const RETRIES_503: u32 = 10;
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Where the daemon listens, and who may talk to it (for clear messages).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub socket: std::path::PathBuf,
    /// `listen.socket_group`: the group a user needs.
    pub group: String,
}

/// An HTTP/1.1 request over the Unix socket; returns (status, body).
pub fn request(
    endpoint: &Endpoint,
    method: &str,
    path: &str,
    body: &[u8],
    timeout: Duration,
) -> anyhow::Result<(u16, Vec<u8>)> {
    let socket = &endpoint.socket;
    let mut stream = UnixStream::connect(socket).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound => {
                " (is the daemon running? systemctl status centreon-pagerduty)".to_owned()
            }
            std::io::ErrorKind::PermissionDenied if endpoint.group.is_empty() => {
                " (permission denied: run as root or as the daemon's user)".to_owned()
            }
            std::io::ErrorKind::PermissionDenied => format!(
                " (permission denied: run as root or as a member of the group {0}, e.g. usermod -a -G {0} $USER, then log in again)",
                endpoint.group
            ),
            std::io::ErrorKind::ConnectionRefused => {
                " (nothing listens on it: the daemon is stopped)".to_owned()
            }
            _ => String::new(),
        };
        anyhow::anyhow!("cannot connect to {}: {e}{hint}", socket.display())
    })?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let content_type = if path == "/v1/events" {
        "application/x-ndjson"
    } else {
        "application/json"
    };
    let mut message = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: centreon-pagerduty/{}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION"),
        body.len()
    )
    .into_bytes();
    message.extend_from_slice(body);
    // The daemon may answer (e.g. 403, 413) and close before reading everything: still read
    // its answer after a failed write.
    let written = stream.write_all(&message);
    let mut response = Vec::new();
    let read = stream.read_to_end(&mut response);
    if response.is_empty() {
        written.context("sending the request to the daemon")?;
        read.context("reading the daemon's answer")?;
    }
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("malformed answer from the daemon")?;
    let head = String::from_utf8_lossy(&response[..split]);
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("malformed status line from the daemon")?;
    let mut body = response[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok((status, body))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = data.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&data[..pos])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = pos + 2;
        let end = (start + size).min(data.len());
        out.extend_from_slice(&data[start..end]);
        data = data.get(end + 2..).unwrap_or(&[]);
    }
    out
}

/// Post every line of `input` in batches.
pub fn inject(endpoint: &Endpoint, input: &mut dyn BufRead) -> anyhow::Result<Reply> {
    let mut totals = Reply::default();
    let mut batch = Vec::new();
    let mut lines = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = input.read_until(b'\n', &mut line)?;
        let event = line.trim_ascii();
        if !event.is_empty() {
            if lines > 0 && batch.len() + event.len() + 1 > BATCH_BYTES {
                totals.add(post_batch(endpoint, &batch)?);
                batch.clear();
                lines = 0;
            }
            batch.extend_from_slice(event);
            batch.push(b'\n');
            lines += 1;
        }
        if (n == 0 && lines > 0) || lines >= BATCH_LINES {
            totals.add(post_batch(endpoint, &batch)?);
            batch.clear();
            lines = 0;
        }
        if n == 0 {
            return Ok(totals);
        }
    }
}

/// POST one batch; a 503 (spool full or unwritable for now) is retried a few times.
fn post_batch(endpoint: &Endpoint, batch: &[u8]) -> anyhow::Result<Reply> {
    let mut attempt = 0;
    loop {
        let (status, body) = request(
            endpoint,
            "POST",
            "/v1/events",
            batch,
            Duration::from_secs(60),
        )?;
        if status == 503 && attempt < RETRIES_503 {
            attempt += 1;
            eprintln!(
                "The daemon cannot take events now (503: {}); posting again in {}s.",
                String::from_utf8_lossy(&body).trim(),
                RETRY_AFTER.as_secs()
            );
            std::thread::sleep(RETRY_AFTER);
            continue;
        }
        if status != 200 {
            bail!(
                "the daemon answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        return serde_json::from_slice(&body).context("unexpected answer from the daemon");
    }
}

pub(super) fn command(config_path: Option<&Path>, file: &Path) -> ExitCode {
    let loaded = match load_config(config_path, Purpose::Offline, true) {
        Ok(l) => l,
        Err(e) => return config_failure(&e),
    };
    let endpoint = super::client::Target::of(&loaded).endpoint;
    let result = if file.as_os_str() == "-" {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        crate::cli::inject::inject(&endpoint, &mut input)
    } else {
        match std::fs::File::open(file) {
            Ok(f) => crate::cli::inject::inject(&endpoint, &mut std::io::BufReader::new(f)),
            Err(e) => {
                eprintln!("{}: cannot read: {e}", file.display());
                return ExitCode::from(EXIT_FAILURE);
            }
        }
    };
    match result {
        Ok(t) => {
            println!(
                "accepted {}, ignored {}, rejected {}",
                t.accepted, t.ignored, t.rejected
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
