//! `centreon-pagerduty translate`: raw Broker events (NDJSON) in, PagerDuty events (NDJSON)
//! out, through the same rules as the daemon with in-memory state. No network.

use super::{config_failure, load_config, EXIT_FAILURE};
use crate::api::types::MAX_LINE_BYTES;
use crate::config::Purpose;
use broker::{normalise_line, Normalised};
use rules::{Engine, MemoryStore};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Line counts of a translation.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub events: u64,
    pub ignored: u64,
    pub rejected: u64,
    pub sent: u64,
}

/// Translate one input. `name` labels errors (`FILE:LINE: …`); `now` gives the receive time.
pub fn translate(
    engine: &Engine,
    store: &mut MemoryStore,
    name: &str,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
    now: &dyn Fn() -> i64,
) -> std::io::Result<Counts> {
    let mut counts = Counts::default();
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        number += 1;
        let trimmed = trim(&line);
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.len() > MAX_LINE_BYTES {
            counts.rejected += 1;
            writeln!(
                err,
                "{name}:{number}: rejected: line longer than {MAX_LINE_BYTES} bytes"
            )?;
            continue;
        }
        match normalise_line(trimmed) {
            Ok(Normalised::Event(event)) => {
                counts.events += 1;
                let outcome = engine.apply(store, &event, now());
                for o in outcome.outgoing {
                    counts.sent += 1;
                    writeln!(out, "{}", o.event()?.to_masked_json())?;
                }
            }
            Ok(Normalised::Ignored(_)) => counts.ignored += 1,
            Err(rejection) => {
                counts.rejected += 1;
                writeln!(err, "{name}:{number}: rejected: {rejection}")?;
            }
        }
    }
    Ok(counts)
}

fn trim(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    let start = line
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(end);
    line.get(start..end).unwrap_or(&[])
}

pub(super) fn command(config_path: Option<&Path>, files: &[PathBuf]) -> ExitCode {
    let loaded = match load_config(config_path, Purpose::Offline, true) {
        Ok(l) => l,
        Err(e) => return config_failure(&e),
    };
    let engine = rules::Engine::new(loaded.rules_settings());
    let mut store = rules::MemoryStore::default();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err = std::io::stderr();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    };
    let inputs: Vec<PathBuf> = if files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        files.to_vec()
    };
    let mut failed = false;
    for file in inputs {
        let result = if file.as_os_str() == "-" {
            let stdin = std::io::stdin();
            let mut input = stdin.lock();
            crate::cli::translate::translate(
                &engine, &mut store, "(stdin)", &mut input, &mut out, &mut err, &now,
            )
        } else {
            match std::fs::File::open(&file) {
                Ok(f) => {
                    let mut input = std::io::BufReader::new(f);
                    let name = file.display().to_string();
                    crate::cli::translate::translate(
                        &engine, &mut store, &name, &mut input, &mut out, &mut err, &now,
                    )
                }
                Err(e) => {
                    let _ = writeln!(err, "{}: cannot read: {e}", file.display());
                    failed = true;
                    continue;
                }
            }
        };
        if let Err(e) = result {
            let _ = writeln!(err, "{}: {e}", file.display());
            failed = true;
        }
    }
    if out.flush().is_err() {
        failed = true;
    }
    if failed {
        ExitCode::from(EXIT_FAILURE)
    } else {
        ExitCode::SUCCESS
    }
}
