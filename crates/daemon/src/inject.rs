//! `centreon-pagerduty inject FILE`: post raw Broker events (NDJSON) to the daemon over its
//! socket, as the shim does, in batches of at most 1000 lines.

use anyhow::{bail, Context as _};
use std::io::{BufRead, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Lines per POST, as the shim's default `max_buffer_size`.
pub const BATCH_LINES: usize = 1000;

/// Totals of the daemon's answers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct Totals {
    pub accepted: u64,
    pub ignored: u64,
    pub rejected: u64,
}

/// An HTTP/1.1 request over the Unix socket; returns (status, body).
pub fn request(
    socket: &Path,
    method: &str,
    path: &str,
    body: &[u8],
    timeout: Duration,
) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut stream = UnixStream::connect(socket).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound => " (is the daemon running? systemctl status centreon-pagerduty)".to_owned(),
            std::io::ErrorKind::PermissionDenied => " (permission denied: run as root or as a member of the group centreon-pagerduty, e.g. usermod -a -G centreon-pagerduty $USER)".to_owned(),
            std::io::ErrorKind::ConnectionRefused => " (nothing listens on it: the daemon is stopped)".to_owned(),
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
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: centreon-pagerduty/{}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .context("reading the daemon's answer")?;
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
pub fn inject(socket: &Path, input: &mut dyn BufRead) -> anyhow::Result<Totals> {
    let mut totals = Totals::default();
    let mut batch = Vec::new();
    let mut lines = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = input.read_until(b'\n', &mut line)?;
        if n > 0 && !line.trim_ascii().is_empty() {
            batch.extend_from_slice(line.trim_ascii_end());
            batch.push(b'\n');
            lines += 1;
        }
        if (n == 0 && lines > 0) || lines >= BATCH_LINES {
            let (status, body) = request(
                socket,
                "POST",
                "/v1/events",
                &batch,
                Duration::from_secs(60),
            )?;
            if status != 200 {
                bail!(
                    "the daemon answered {status}: {}",
                    String::from_utf8_lossy(&body)
                );
            }
            let t: Totals =
                serde_json::from_slice(&body).context("unexpected answer from the daemon")?;
            totals.accepted += t.accepted;
            totals.ignored += t.ignored;
            totals.rejected += t.rejected;
            batch.clear();
            lines = 0;
        }
        if n == 0 {
            return Ok(totals);
        }
    }
}
