//! `centreon-pagerduty run`: the service, as systemd starts it.

use super::*;
use crate::config::Purpose;
use std::path::Path;
use std::process::ExitCode;
use tracing::{error, info};

pub(super) fn run(config_path: Option<&Path>) -> ExitCode {
    let loaded = match load_config(config_path, Purpose::Service, false) {
        Ok(l) => l,
        Err(e) => return config_failure(&e),
    };
    crate::logging::init(loaded.config.log.level);
    // Socket activation reads (and clears) the environment: before any thread starts.
    let activated = match listenfd::ListenFd::from_env().take_unix_listener(0) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("socket activation: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let runtime = match runtime(tokio::runtime::Builder::new_multi_thread().worker_threads(2)) {
        Ok(r) => r,
        Err(code) => return code,
    };
    match runtime.block_on(crate::service::run(loaded, activated, wait_for_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(crate::service::RunError::Config(e)) => {
            tracing::error!("{e}");
            eprintln!("{e}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(crate::service::RunError::Other(e)) => {
            tracing::error!("{e:#}");
            eprintln!("{e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// SIGTERM or SIGINT: `systemctl stop`, or Ctrl-C.
pub(super) async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        error!("Cannot install signal handlers.");
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => info!("Received SIGTERM."),
        _ = int.recv() => info!("Received SIGINT."),
    }
}
