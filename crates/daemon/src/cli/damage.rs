//! `centreon-pagerduty spool acknowledge-damage`: an operator has seen that the spool was
//! damaged and set aside (DESIGN §4.5); `status --nagios` is no longer CRITICAL for it.

use super::client::*;
use super::EXIT_FAILURE;
use serde_json::json;
use std::process::ExitCode;

pub(super) fn acknowledge_damage(t: &Target) -> ExitCode {
    match t.call("POST", "/v1/spool/acknowledge-damage", Some(&json!({}))) {
        Ok((200, v)) => {
            println!("{} damage record(s) acknowledged", v["acknowledged"]);
            ExitCode::SUCCESS
        }
        Ok((code, v)) => failure(code, &v),
        // The daemon is stopped: the spool is ours to write.
        Err(e) => match ::spool::Spool::open(&t.spool_dir)
            .and_then(|mut s| s.acknowledge_damage(crate::service::state::now_ms()))
        {
            Ok(n) => {
                eprintln!(
                    "The daemon does not answer ({e:#}); acknowledged in the spool directly."
                );
                println!("{n} damage record(s) acknowledged");
                ExitCode::SUCCESS
            }
            Err(s) => {
                eprintln!("Cannot acknowledge: daemon: {e:#}; spool: {s}");
                ExitCode::from(EXIT_FAILURE)
            }
        },
    }
}
