//! Security checks, end to end (DESIGN §3.1–3.4): who may talk to the socket and change state,
//! the read-only spool fallback, routing keys never printed whole, routing key files, and the
//! body/line/connection limits of the ingest server.
//!
//! The permission checks run the daemon and the commands as throwaway UNPRIVILEGED users (root
//! ignores file modes): a group standing for `centreon-pagerduty`, the daemon's user (primary
//! group: that group), a member of the group (like `centreon-broker` or `centreon-engine`) and
//! an outsider. They are created with groupadd/useradd and removed afterwards; commands run
//! through `setpriv --reuid --regid --init-groups`, the daemon under `umask 0027` as systemd's
//! unit does. Without root (or without those tools) these tests say SKIPPED and pass.
//!
//! Modules: output, users, site (shared helpers); socket, state_changes, read_only_spool,
//! leak_check, routing_keys, routing_keys_in_errors, key_files, limits (the checks).

#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;

mod key_files;
mod leak_check;
mod limits;
mod output;
mod read_only_spool;
mod routing_keys;
mod routing_keys_in_errors;
mod site;
mod socket;
mod state_changes;
mod users;

use common::*;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

// Here at the crate root, not in `users`: `Accounts::connect_as` runs it by its exact name.
/// Not a test on its own: the client process that
/// [`Accounts::connect_as`](crate::users::Accounts::connect_as) runs as another user.
#[test]
#[ignore = "helper process of the socket checks: they start it as another user"]
fn helper_socket_client() {
    let Some(socket) = std::env::var_os("SECURITY_HELPER_SOCKET") else {
        return;
    };
    let path = std::env::var("SECURITY_HELPER_PATH").unwrap_or_else(|_| "/v1/health".into());
    match UnixStream::connect(&socket) {
        Err(e) => println!("HELPER connect-error {}", e.raw_os_error().unwrap_or(-1)),
        Ok(stream) => {
            drop(stream);
            let status = unix_request(
                Path::new(&socket),
                "GET",
                &path,
                b"",
                Duration::from_secs(10),
            )
            .map_or(0, |r| r.status);
            println!("HELPER status {status}");
        }
    }
}
