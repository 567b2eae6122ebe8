//! HTTP over the daemon's Unix socket: one request per connection (`Connection: close`) as the
//! shim makes it, `POST /v1/events` with an NDJSON body, and the answer. Reading an HTTP/1.1
//! message is `http`'s.

use super::{http, SHIM_USER_AGENT};
use serde_json::Value;
use std::io::{self, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// `(accepted, ignored, rejected)` of a `/v1/events` answer.
    pub fn counts(&self) -> Option<(u64, u64, u64)> {
        let j = self.json()?;
        Some((
            j.get("accepted")?.as_u64()?,
            j.get("ignored")?.as_u64()?,
            j.get("rejected")?.as_u64()?,
        ))
    }
}

/// One request on a fresh connection (`Connection: close`), as the shim does.
pub fn unix_request(
    socket: &Path,
    method: &str,
    path: &str,
    body: &[u8],
    timeout: Duration,
) -> io::Result<Response> {
    let stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut w = stream.try_clone()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: {SHIM_USER_AGENT}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut req = head.into_bytes();
    req.extend_from_slice(body);
    // The server may answer (413) and stop reading before the whole body is sent: a write error
    // is then not the result; the answer is.
    let write_err = w.write_all(&req).and_then(|()| w.flush()).err();
    let mut r = BufReader::new(stream);
    match http::read_message(&mut r, true) {
        Ok(Some(m)) => {
            let status = m
                .start_line
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad status line {:?}", m.start_line),
                    )
                })?;
            Ok(Response {
                status,
                headers: m.headers,
                body: m.body,
            })
        }
        Ok(None) => Err(write_err.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::UnexpectedEof, "closed without an answer")
        })),
        Err(e) => Err(write_err.unwrap_or(e)),
    }
}

/// `POST /v1/events` with an NDJSON body.
pub fn post_events(socket: &Path, body: &[u8]) -> io::Result<Response> {
    unix_request(socket, "POST", "/v1/events", body, Duration::from_secs(30))
}

/// Joins lines into an NDJSON body (each line followed by `\n`).
pub fn ndjson<L: AsRef<[u8]>>(lines: &[L]) -> Vec<u8> {
    let mut body = Vec::new();
    for l in lines {
        body.extend_from_slice(l.as_ref());
        body.push(b'\n');
    }
    body
}
