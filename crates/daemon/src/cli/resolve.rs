//! `centreon-pagerduty resolve`: resolves sent now, by dedup key or by age.

use super::client::*;
use super::*;
use serde_json::json;
use std::process::ExitCode;

pub(super) fn resolve(t: &Target, keys: &[String], stale: Option<i64>) -> ExitCode {
    let body = json!({ "dedup_keys": keys, "stale_seconds": stale });
    match t.call("POST", "/v1/resolve", Some(&body)) {
        Ok((200, v)) => {
            let resolved = v["resolved"].as_array().cloned().unwrap_or_default();
            let unknown = v["unknown"].as_array().cloned().unwrap_or_default();
            for k in &resolved {
                println!("resolve queued: {}", k.as_str().unwrap_or(""));
            }
            for k in &unknown {
                eprintln!(
                    "no open incident with dedup key {}",
                    k.as_str().unwrap_or("")
                );
            }
            if resolved.is_empty() && stale.is_some() {
                println!("No incident is that stale.");
            }
            if unknown.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILURE)
            }
        }
        Ok((code, v)) => failure(code, &v),
        Err(e) => unreachable_daemon(&e),
    }
}
