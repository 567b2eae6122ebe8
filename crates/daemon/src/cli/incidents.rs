//! `centreon-pagerduty incidents`: the open incidents.

use super::client::*;
use super::*;
use serde_json::{json, Value};
use std::process::ExitCode;

pub(super) fn incidents(t: &Target, as_json: bool) -> ExitCode {
    let rows: Vec<Value> = match t.call("GET", "/v1/incidents", None) {
        Ok((200, v)) => v["incidents"].as_array().cloned().unwrap_or_default(),
        Ok((code, v)) => return failure(code, &v),
        Err(e) => match t
            .read_only_spool()
            .and_then(|s| s.incidents().map_err(Into::into))
        {
            Ok(rows) => {
                fallback_notice(&e);
                rows.iter()
                    .filter_map(|r| serde_json::to_value(r).ok())
                    .collect()
            }
            Err(s) => {
                eprintln!("Cannot list incidents: daemon: {e:#}; spool: {s:#}");
                return ExitCode::from(EXIT_FAILURE);
            }
        },
    };
    if as_json {
        print_json(&json!({ "incidents": rows }));
        return ExitCode::SUCCESS;
    }
    if rows.is_empty() {
        println!("No open incident.");
        return ExitCode::SUCCESS;
    }
    println!(
        "{:<28} {:<14} {:<21} {:<5} {:<21} RESOURCE",
        "DEDUP KEY", "ROUTE", "OPENED", "ACKED", "LAST EVENT"
    );
    for r in rows {
        println!(
            "{:<28} {:<14} {:<21} {:<5} {:<21} {}",
            r["dedup_key"].as_str().unwrap_or(""),
            r["route"].as_str().unwrap_or(""),
            time_of(r["opened_at_ms"].as_i64().unwrap_or(0)),
            if r["acked"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            },
            time_of(r["last_event_at_ms"].as_i64().unwrap_or(0)),
            r["resource"].as_str().unwrap_or("")
        );
    }
    ExitCode::SUCCESS
}
