//! The running daemon (`centreon-pagerduty run`).
//!
//! - this file: start-up, the health task, the stop; it wires the roles below together;
//! - `ingest`: a batch from the shim through the rules into one spool transaction;
//! - `delivery`: the queue to PagerDuty (scheduler, transport, policy, outcomes);
//! - `state`: what the roles share (the spool connections, the ingest state, the delivery
//!   state, metrics), each behind its own lock or handle;
//! - `store`: the rules' store over the spool, with its in-memory cache, and the rules' state;
//! - `clock`: the daemon's time, on the monotonic clock;
//! - `operator`: what operators' commands (`resolve`) do, committed like an ingest batch;
//! - `telemetry`: the counters, declared once with their metric names;
//! - `repair`: a damaged spool set aside and salvaged, at start or while running;
//! - `resync`: the start on a spool idle longer than `[ha] resync_after` (DESIGN §4.7);
//! - `window`: the replay window's log in memory (statuses that changed nothing else);
//! - `sync`: PagerDuty acknowledgements mirrored into Centreon (DESIGN §4.6), when `[sync]` is on.
//!
//! Start-up opens the spool (no integrity check, no queue scan), binds or takes the activated
//! socket, then says READY. SIGTERM/SIGINT stop accepting, let in-flight requests finish within
//! `shutdown_grace`, commit what they did, and exit 0.
//!
//! Lock order, where more than one is taken: ingest state, then the spool writer; the delivery
//! state's lock is never held across another lock, a spool call or an await.

pub(crate) mod clock;
pub(crate) mod delivery;
pub(crate) mod ingest;
pub(crate) mod operator;
pub(crate) mod repair;
mod resync;
pub(crate) mod state;
pub(crate) mod store;
pub(crate) mod sync;
pub(crate) mod telemetry;
mod window;

use crate::config::Loaded;
use crate::service::state::Counter;
use crate::service::state::{now_ms, Shared};
use crate::service::store::Ingest;
use anyhow::{bail, Context as _};
use delivery::Sender;
use sd_notify::NotifyState;
use spool::{Spool, SpoolError};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UnixListener;
use tracing::{error, info, warn};

/// How `run` ended, for the exit code.
#[derive(Debug)]
pub enum RunError {
    /// Configuration or spool version problem: exit 2 (systemd does not restart).
    Config(String),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for RunError {
    fn from(e: anyhow::Error) -> Self {
        RunError::Other(e)
    }
}

/// Run until `shutdown` completes (SIGTERM/SIGINT in `centreon-pagerduty run`; tests may stop
/// the daemon in-process), then stop as DESIGN §4.4 says.
pub async fn run(
    loaded: Loaded,
    activated: Option<std::os::unix::net::UnixListener>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), RunError> {
    let cfg = loaded.config.clone();
    for w in &loaded.warnings {
        warn!("{w}");
    }
    let (mut spool, reader) = open_spool(&cfg.spool.dir)?;
    spool
        .set_cluster_member(cfg.ha.cluster)
        .map_err(|e| RunError::Other(e.into()))?;
    let gap = resync::begin_if_idle(&mut spool, cfg.ha.resync_after.0)
        .map_err(|e| RunError::Other(e.into()))?;
    let sender =
        Sender::build(&cfg.pagerduty).map_err(|e| RunError::Config(format!("pagerduty: {e:#}")))?;
    let (listener, bound_path) = listen(&cfg.listen, activated)?;
    let engine = rules::Engine::new(loaded.rules_settings());
    let window =
        window::WindowLog::load(spool.window_log().map_err(|e| RunError::Other(e.into()))?);
    let shared = Arc::new(Shared {
        spool: Mutex::new(spool),
        reader: Mutex::new(reader),
        ingest: Mutex::new(Ingest::new(engine, window)),
        metrics: Default::default(),
        wake: Default::default(),
        delivery: Default::default(),
        last_error: Mutex::new(None),
        spool_epoch: Default::default(),
        sync: Default::default(),
        loaded,
    });
    restore_operator_pauses(&shared);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(crate::api::server::serve(
        listener,
        crate::api::server::router(shared.clone()),
        stop_rx.clone(),
    ));
    let delivery = {
        let (shared, stop) = (shared.clone(), stop_rx.clone());
        tokio::spawn(async move {
            prepare_queue(&shared, gap).await;
            delivery::run(shared, sender, stop).await
        })
    };
    let sync = tokio::spawn(sync::run(shared.clone(), stop_rx.clone()));
    serve_metrics(&cfg.metrics.listen, &shared, stop_rx).await;
    let health = tokio::spawn(health_task(shared.clone()));

    let _ = sd_notify::notify(false, &[NotifyState::Ready]);
    learn_backlog(&shared);
    info!(
        socket = %bound_path.as_ref().map_or("(activated)".into(), |p| p.display().to_string()),
        spool = %cfg.spool.dir,
        dry_run = cfg.pagerduty.dry_run,
        "centreon-pagerduty {} ready.", env!("CARGO_PKG_VERSION")
    );

    shutdown.await;
    info!("Stopping: no new batches; finishing in-flight deliveries.");
    let _ = sd_notify::notify(false, &[NotifyState::Stopping]);
    let _ = stop_tx.send(true);
    let _ = server.await;
    let _ = delivery.await;
    let _ = sync.await;
    health.abort();
    if let Some(path) = bound_path {
        let _ = std::fs::remove_file(path);
    }
    info!("Stopped.");
    Ok(())
}

/// The spool's writer and the dispatcher's reader, the directory created if needed. No
/// integrity check, no queue scan: READY must not wait for them (DESIGN §4.5).
fn open_spool(dir: &str) -> Result<(Spool, Spool), RunError> {
    let dir = PathBuf::from(dir);
    if !dir.exists() {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating the spool directory {}", dir.display()))?;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750));
    }
    let spool = match Spool::open(&dir) {
        Ok(s) => s,
        Err(e @ SpoolError::TooNew { .. }) => return Err(RunError::Config(e.to_string())),
        // Paging must not stop (DESIGN §4.5): set it aside, salvage, go on.
        Err(e) if e.is_damage() => {
            repair::at_start(&dir, &e).map_err(|e| RunError::Other(e.into()))?
        }
        Err(e) => return Err(RunError::Other(e.into())),
    };
    let reader = Spool::open(&dir).map_err(|e| RunError::Other(e.into()))?;
    Ok((spool, reader))
}

/// Before the first delivery (after READY: these read the queue): a trigger at the head of
/// its queue may have reached PagerDuty before a crash without its outcome being recorded, so
/// its key counts as open (a collapse then keeps the episode's resolve); and after a gap
/// (`gap`: the last ingest), what was queued before it goes (`resync` pinned the incidents of
/// its resolves again).
async fn prepare_queue(shared: &Arc<Shared>, gap: Option<i64>) {
    let shared2 = shared.clone();
    let epoch = shared.spool_epoch.load(std::sync::atomic::Ordering::SeqCst);
    let result = tokio::task::spawn_blocking(move || {
        let Ok(mut spool) = shared2.spool.lock() else {
            return Ok(None);
        };
        spool.mark_unsettled_triggers_open()?;
        let delivery = &shared2.loaded.config.delivery;
        let longest = delivery
            .backoff_max
            .0
            .max(delivery.throttle_max.0.max(delivery.config_probe.0));
        spool.clamp_due_times(now_ms(), longest.as_millis() as i64)?;
        gap.map(|last| spool.collapse_before_resync(last, now_ms()))
            .transpose()
    })
    .await;
    match result {
        Ok(Ok(None)) => {}
        Ok(Ok(Some(r))) => {
            shared.metrics.add(Counter::Resyncs, 1);
            shared.metrics.add(Counter::Collapsed, r.collapsed as u64);
            warn!(
                collapsed = r.collapsed,
                "Resync: deliveries queued before the gap collapsed."
            );
        }
        Ok(Err(e)) => {
            error!(error = %e, "Cannot prepare the delivery queue; it is delivered as it is.");
            // Damage met here is set aside like anywhere else (DESIGN §4.5).
            let shared = shared.clone();
            let _ =
                tokio::task::spawn_blocking(move || repair::after_error(&shared, epoch, &e)).await;
        }
        Err(e) => error!(error = %e, "Queue preparation task failed."),
    }
}

/// The activated socket, else one bound at `listen.socket` (returned to be removed at stop).
fn listen(
    cfg: &crate::config::ListenConfig,
    activated: Option<std::os::unix::net::UnixListener>,
) -> Result<(UnixListener, Option<PathBuf>), RunError> {
    match activated {
        Some(std_listener) => {
            if cfg.socket != crate::config::ListenConfig::default().socket {
                warn!(socket = %cfg.socket, "Socket activation: listen.socket is ignored, the socket comes from systemd.");
            }
            std_listener
                .set_nonblocking(true)
                .context("activated socket")?;
            Ok((
                UnixListener::from_std(std_listener).context("activated socket")?,
                None,
            ))
        }
        None => {
            let path = PathBuf::from(&cfg.socket);
            Ok((bind(&path, cfg).map_err(RunError::Other)?, Some(path)))
        }
    }
}

/// `/metrics` over TCP when `metrics.listen` is set.
async fn serve_metrics(
    addr: &str,
    shared: &Arc<Shared>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    if addr.is_empty() {
        return;
    }
    match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => {
            info!(%addr, "Metrics on TCP.");
            let app = axum::Router::new()
                .route(
                    "/metrics",
                    axum::routing::get(crate::api::status::metrics_text),
                )
                .with_state(shared.clone());
            tokio::spawn(async move {
                let _ = axum::serve(l, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop.changed().await;
                    })
                    .await;
            });
        }
        Err(e) => warn!(%addr, error = %e, "Cannot listen for metrics."),
    }
}

/// After READY: learn which routing keys have a backlog (an index scan, not a queue scan).
fn learn_backlog(shared: &Arc<Shared>) {
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || {
        let keys = shared
            .spool
            .lock()
            .ok()
            .and_then(|s| s.routing_keys().ok())
            .unwrap_or_default();
        shared
            .delivery
            .add_routing_keys(keys.iter().map(String::as_str));
        shared.wake.notify_one();
    });
}

/// Routes an operator paused stay paused across restarts.
fn restore_operator_pauses(shared: &Shared) {
    let routes = shared
        .spool
        .lock()
        .ok()
        .and_then(|s| s.paused_routes().ok())
        .unwrap_or_default();
    for route in routes {
        let key = shared
            .loaded
            .key_of(&route)
            .map(|k| k.0.clone())
            .unwrap_or_default();
        shared.delivery.operator(&key, &route, true, now_ms());
        warn!(%route, "Deliveries of this route are paused by an operator: centreon-pagerduty resume {route}");
    }
}

/// READY is said once; then WATCHDOG=1 every WatchdogSec/2 while a spool read succeeds,
/// and STATUS= with the queue depth and last error.
async fn health_task(shared: Arc<Shared>) {
    let mut usec = 0u64;
    let watchdog = sd_notify::watchdog_enabled(false, &mut usec);
    let period = if watchdog {
        Duration::from_micros(usec / 2)
    } else {
        Duration::from_secs(10)
    };
    loop {
        let s = shared.clone();
        let status = tokio::task::spawn_blocking(move || crate::api::status::collect(&s))
            .await
            .ok()
            .and_then(Result::ok);
        if let Some(status) = status {
            let text = format!(
                "{} pending, {} dead letters, {} paused keys{}",
                status.pending,
                status.dead_letters,
                status.paused.len(),
                status
                    .last_error
                    .map(|e| format!("; last error: {e}"))
                    .unwrap_or_default()
            );
            let mut states = vec![NotifyState::Status(&text)];
            if watchdog {
                states.push(NotifyState::Watchdog);
            }
            let _ = sd_notify::notify(false, &states);
        }
        tokio::time::sleep(period).await;
    }
}

/// Bind the socket: remove a stale one, refuse to steal a live one, set group and mode.
fn bind(path: &Path, cfg: &crate::config::ListenConfig) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!(
                "{} is in use: another centreon-pagerduty is running",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("removing the stale socket {}", path.display()))?;
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    let mode = cfg.mode().unwrap_or(0o660);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting mode {mode:04o} on {}", path.display()))?;
    if !cfg.socket_group.is_empty() {
        match group_id(&cfg.socket_group) {
            Some(gid) => std::os::unix::fs::chown(path, None, Some(gid)).with_context(|| {
                format!("giving {} to group {}", path.display(), cfg.socket_group)
            })?,
            None => {
                warn!(group = %cfg.socket_group, "listen.socket_group does not exist: the socket keeps the daemon's group.")
            }
        }
    }
    Ok(listener)
}

/// A group's id from /etc/group.
fn group_id(name: &str) -> Option<u32> {
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then(|| f.nth(1)?.parse().ok())?
    })
}
