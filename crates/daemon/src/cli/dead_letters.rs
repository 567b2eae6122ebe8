//! `centreon-pagerduty dead-letters`: list, show, retry, purge.

use super::client::*;
use super::*;
use crate::api::types::DeadLetterView;
use serde_json::{json, Value};
use std::process::ExitCode;

pub(super) fn dead_letter_json(d: &spool::DeadLetter) -> Value {
    serde_json::to_value(DeadLetterView::from(d)).unwrap_or(Value::Null)
}

pub(super) fn dead_letters(t: &Target, cmd: &DeadLettersAction) -> ExitCode {
    match *cmd {
        DeadLettersAction::List { json } => list(t, json),
        DeadLettersAction::Show { id } => show(t, id),
        DeadLettersAction::Retry { id, all, force } => retry(t, id, all, force),
        DeadLettersAction::Purge => purge(t),
    }
}

fn list(t: &Target, as_json: bool) -> ExitCode {
    let rows: Vec<Value> = match t.call("GET", "/v1/dead-letters", None) {
        Ok((200, v)) => v["dead_letters"].as_array().cloned().unwrap_or_default(),
        Ok((code, v)) => return failure(code, &v),
        Err(e) => match t
            .read_only_spool()
            .and_then(|s| s.dead_letters(spool::MAX_KEPT_ROWS).map_err(Into::into))
        {
            Ok(rows) => {
                fallback_notice(&e);
                rows.iter().map(dead_letter_json).collect()
            }
            Err(s) => {
                eprintln!("Cannot list dead letters: daemon: {e:#}; spool: {s:#}");
                return ExitCode::from(EXIT_FAILURE);
            }
        },
    };
    if as_json {
        print_json(&json!({ "dead_letters": rows }));
    } else if rows.is_empty() {
        println!("No dead letter.");
    } else {
        println!(
            "{:<6} {:<21} {:<12} {:<24} REASON",
            "ID", "FAILED", "ACTION", "DEDUP KEY"
        );
        for r in rows {
            println!(
                "{:<6} {:<21} {:<12} {:<24} {}",
                r["id"],
                time_of(r["failed_at_ms"].as_i64().unwrap_or(0)),
                r["action"].as_str().unwrap_or(""),
                r["dedup_key"].as_str().unwrap_or(""),
                r["reason"].as_str().unwrap_or("")
            );
        }
    }
    ExitCode::SUCCESS
}

fn show(t: &Target, id: i64) -> ExitCode {
    let v = match t.call("GET", &format!("/v1/dead-letters/{id}"), None) {
        Ok((200, v)) => v,
        Ok((code, v)) => return failure(code, &v),
        Err(e) => match t
            .read_only_spool()
            .and_then(|s| s.dead_letter(id).map_err(Into::into))
        {
            Ok(Some(d)) => {
                fallback_notice(&e);
                dead_letter_json(&d)
            }
            Ok(None) => {
                eprintln!("no dead letter {id}");
                return ExitCode::from(EXIT_FAILURE);
            }
            Err(s) => {
                eprintln!("Cannot read dead letter {id}: daemon: {e:#}; spool: {s:#}");
                return ExitCode::from(EXIT_FAILURE);
            }
        },
    };
    print_json(&v);
    ExitCode::SUCCESS
}

fn retry(t: &Target, id: Option<i64>, all: bool, force: bool) -> ExitCode {
    match t.call(
        "POST",
        "/v1/dead-letters/retry",
        Some(&json!({ "id": id, "all": all, "force": force })),
    ) {
        Ok((200, v)) => {
            let retried = v["retried"].as_array().map_or(0, Vec::len);
            println!("{retried} dead letter(s) queued again");
            let refused = v["refused"].as_array().cloned().unwrap_or_default();
            for r in &refused {
                eprintln!(
                    "not retried: {} ({}): {}",
                    r["id"],
                    r["dedup_key"].as_str().unwrap_or(""),
                    r["reason"].as_str().unwrap_or("")
                );
            }
            if refused.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILURE)
            }
        }
        Ok((code, v)) => failure(code, &v),
        Err(e) => unreachable_daemon(&e),
    }
}

fn purge(t: &Target) -> ExitCode {
    match t.call("POST", "/v1/dead-letters/purge", Some(&json!({}))) {
        Ok((200, v)) => {
            println!("{} dead letter(s) purged", v["purged"]);
            ExitCode::SUCCESS
        }
        Ok((code, v)) => failure(code, &v),
        Err(e) => unreachable_daemon(&e),
    }
}
