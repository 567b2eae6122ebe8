//! `centreon-pagerduty pause|resume ROUTE`: hold or release the deliveries of one routing key.

use super::client::*;
use serde_json::json;
use std::process::ExitCode;

pub(super) fn pause(t: &Target, route: &str, paused: bool) -> ExitCode {
    let path = if paused { "/v1/pause" } else { "/v1/resume" };
    match t.call("POST", path, Some(&json!({ "route": route }))) {
        Ok((200, _)) => {
            println!(
                "route {route}: deliveries {}",
                if paused {
                    "paused (events keep queueing)"
                } else {
                    "resumed"
                }
            );
            ExitCode::SUCCESS
        }
        Ok((code, v)) => failure(code, &v),
        Err(e) => unreachable_daemon(&e),
    }
}
