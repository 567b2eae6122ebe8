//! Delivery to PagerDuty (DESIGN §4.4).
//!
//! A dispatcher picks due queue heads — per routing key, oldest first, within the key's token
//! bucket and the global `concurrency` — and hands each to a sender task. One request is in
//! flight per dedup key: a key stays busy from the moment its head is picked until the
//! completion (delivered, dead-lettered, or rescheduled) is committed. Completions are
//! group-committed by one committer task at most every [`GROUP_COMMIT`].
//!
//! A failed commit (disk full, spool not writable) keeps its keys busy and is retried every
//! second: nothing is sent twice while the daemon runs. At stop the retries end with the
//! grace (at least [`FINAL_COMMIT`]): the stop is never held by the disk, and what was not
//! recorded is sent again at the next start (at-least-once; PagerDuty deduplicates).

use crate::config::DeliveryConfig;
use crate::shared::{now_ms, throttle_pause, KeyState, Metrics, Shared};
use pagerduty::{Outcome, TransportFailure};
use spool::{Completion, Pending};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

/// Longest wait before completions are committed.
pub const GROUP_COMMIT: Duration = Duration::from_millis(100);
/// A trigger delivered this late carries `custom_details.delivery_delay_seconds`.
pub const LATE_AFTER_MS: i64 = 2_000;
/// Longest sleep of the dispatcher when nothing wakes it.
const IDLE_POLL_MS: i64 = 100;
/// Consecutive non-key 400s that pause a routing key.
const MAX_CONSECUTIVE_400: u32 = 5;
/// At stop, the least time given to recording the outcomes of finished deliveries.
const FINAL_COMMIT: Duration = Duration::from_secs(2);

/// How events leave the daemon.
#[derive(Clone)]
pub enum Sender {
    Http {
        client: reqwest::Client,
        url: String,
    },
    /// `dry_run`: log each event instead of sending it.
    DryRun,
}

impl Sender {
    pub fn build(cfg: &crate::config::PagerDutyConfig) -> anyhow::Result<Self> {
        if cfg.dry_run {
            return Ok(Sender::DryRun);
        }
        let mut builder = reqwest::Client::builder()
            .timeout(cfg.timeout.0)
            .connect_timeout(cfg.timeout.0)
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .user_agent(concat!("centreon-pagerduty/", env!("CARGO_PKG_VERSION")));
        if !cfg.proxy.is_empty() {
            builder = builder.proxy(reqwest::Proxy::all(&cfg.proxy)?);
        }
        if !cfg.ca_file.is_empty() {
            let pem = std::fs::read(&cfg.ca_file)?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(Sender::Http {
            client: builder.build()?,
            url: cfg.endpoint(),
        })
    }

    /// Send one event now (used by `send-test`).
    pub async fn send_now(&self, event: &pagerduty::Event) -> Outcome {
        self.send(event.to_body(), &event.to_masked_json()).await
    }

    async fn send(&self, body: Vec<u8>, masked: &str) -> Outcome {
        match self {
            Sender::DryRun => {
                info!(event = %masked, "Dry run: not sent.");
                Outcome::Delivered
            }
            Sender::Http { client, url } => {
                let response = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                match response {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let bytes = r.bytes().await.unwrap_or_default();
                        pagerduty::classify_response(status, &bytes)
                    }
                    Err(e) => {
                        pagerduty::classify_transport(transport_failure(&e), &error_chain(&e))
                    }
                }
            }
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

fn transport_failure(e: &reqwest::Error) -> TransportFailure {
    let chain = error_chain(e).to_lowercase();
    if e.is_timeout() {
        TransportFailure::Timeout
    } else if chain.contains("certificate")
        || chain.contains("unknownissuer")
        || chain.contains("notvalidforname")
    {
        TransportFailure::TlsCertificate
    } else if chain.contains("tls") || chain.contains("handshake") {
        TransportFailure::TlsIo
    } else if e.is_connect() {
        TransportFailure::Connect
    } else if chain.contains("reset") || chain.contains("closed") || chain.contains("incomplete") {
        TransportFailure::Reset
    } else {
        TransportFailure::Other
    }
}

/// PagerDuty (or a proxy) may quote the routing key in its error text: mask it before the
/// text reaches logs, status or dead letters.
pub fn scrub(outcome: Outcome, routing_key: &str) -> Outcome {
    if routing_key.is_empty() {
        return outcome;
    }
    let mask = |m: String| m.replace(routing_key, &pagerduty::mask_routing_key(routing_key));
    match outcome {
        Outcome::Retry { reason } => Outcome::Retry {
            reason: mask(reason),
        },
        Outcome::RoutingKeyRejected { message } => Outcome::RoutingKeyRejected {
            message: mask(message),
        },
        Outcome::Rejected { message } => Outcome::Rejected {
            message: mask(message),
        },
        Outcome::ConfigError { reason } => Outcome::ConfigError {
            reason: mask(reason),
        },
        other => other,
    }
}

/// Exponential backoff with jitter: `min·2^attempts`, capped at `max`, then a random
/// value between half of it and all of it.
pub fn backoff(min: Duration, max: Duration, attempts: u32, jitter: f64) -> Duration {
    let base = min.as_secs_f64() * 2f64.powi(attempts.min(30) as i32);
    let capped = base.min(max.as_secs_f64());
    Duration::from_secs_f64(capped * (0.5 + 0.5 * jitter.clamp(0.0, 1.0)))
}

/// A small xorshift generator for jitter (no need for cryptographic randomness).
pub struct Jitter(u64);

impl Jitter {
    pub fn seeded() -> Self {
        Jitter((now_ms() as u64) | 1)
    }
    /// A number in [0, 1).
    pub fn sample(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What a sender reports back.
struct Done {
    completions: Vec<Completion>,
    dedup_key: String,
}

/// Run delivery until `stop` fires; then let in-flight requests finish within the grace.
pub async fn run(
    shared: Arc<Shared>,
    sender: Sender,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let cfg = shared.loaded.config.delivery.clone();
    let rate = shared.loaded.config.pagerduty.rate_limit_per_minute;
    let busy: Arc<Mutex<HashSet<String>>> = Arc::default();
    let (done_tx, done_rx) = mpsc::unbounded_channel::<Done>();
    let committer = tokio::spawn(committer(shared.clone(), done_rx, busy.clone()));
    let mut jitter = Jitter::seeded();
    let mut in_flight = tokio::task::JoinSet::new();

    // Requests out now: the concurrency limit. A key stays busy longer, until its outcome is
    // committed, but its slot is free as soon as the answer is in.
    let active = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut woken = true;
    loop {
        if *stop.borrow() {
            break;
        }
        let picked = {
            let shared = shared.clone();
            let busy = busy.clone();
            let cfg = cfg.clone();
            let free = cfg
                .concurrency
                .saturating_sub(active.load(std::sync::atomic::Ordering::Relaxed));
            tokio::task::spawn_blocking(move || pick(&shared, &busy, &cfg, rate, woken, free))
                .await
                .unwrap_or_else(|_| (Vec::new(), now_ms() + IDLE_POLL_MS))
        };
        let (picked, wake_at) = picked;
        for (p, action) in picked {
            match action {
                Pick::Send { epoch, probe } => {
                    let shared = shared.clone();
                    let sender = sender.clone();
                    let done_tx = done_tx.clone();
                    let cfg = cfg.clone();
                    let j = jitter.sample();
                    let active = active.clone();
                    active.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    in_flight.spawn(async move {
                        let sent = Sent { epoch, probe };
                        let completions = deliver(&shared, &sender, &cfg, &p, sent, j).await;
                        active.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                        shared.wake.notify_one();
                        let _ = done_tx.send(Done {
                            completions,
                            dedup_key: p.dedup_key,
                        });
                    });
                }
                Pick::Complete(completions) => {
                    let _ = done_tx.send(Done {
                        completions,
                        dedup_key: p.dedup_key,
                    });
                }
            }
        }
        while in_flight.try_join_next().is_some() {}
        woken = false;
        let nap = (wake_at - now_ms()).clamp(1, IDLE_POLL_MS) as u64;
        tokio::select! {
            _ = shared.wake.notified() => woken = true,
            _ = tokio::time::sleep(Duration::from_millis(nap)) => {}
            _ = stop.changed() => {}
        }
    }

    let grace = shared.loaded.config.delivery.shutdown_grace.0;
    let stop_deadline = tokio::time::Instant::now() + grace;
    if tokio::time::timeout_at(stop_deadline, async {
        while in_flight.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        warn!(
            "Shutdown grace over: abandoning in-flight requests; they will be sent again at start."
        );
        in_flight.abort_all();
    }
    drop(done_tx);
    // The committer retries a failed commit for as long as it runs; at stop it gets what is left
    // of the grace, and at least FINAL_COMMIT, so that an unwritable spool (disk full) cannot
    // hold the stop until systemd's SIGKILL. An outcome not recorded leaves its event at the head
    // of its queue: it is sent again at start, and PagerDuty deduplicates it.
    let commit_deadline = stop_deadline.max(tokio::time::Instant::now() + FINAL_COMMIT);
    let mut committer = committer;
    if tokio::time::timeout_at(commit_deadline, &mut committer)
        .await
        .is_err()
    {
        committer.abort();
        warn!(
            "Cannot record the outcomes of the last deliveries before stopping (the spool cannot \
             be written); those events will be sent again at start."
        );
    }
}

enum Pick {
    /// Send it. `epoch`: the routing key's pause epoch when it was picked; `probe`: the one
    /// request that tests a paused key.
    Send { epoch: u64, probe: bool },
    /// Handled without a request (collapsed, expired).
    Complete(Vec<Completion>),
}

/// Choose what to send now. Runs on a blocking thread (it reads the spool). `woken`: new work
/// arrived (enqueued or completed) since the last pick, so remembered idle times are stale.
fn pick(
    shared: &Shared,
    busy: &Mutex<HashSet<String>>,
    cfg: &DeliveryConfig,
    rate: u32,
    woken: bool,
    free_slots: usize,
) -> (Vec<(Pending, Pick)>, i64) {
    let now = now_ms();
    // When to look again if nothing wakes the dispatcher earlier.
    let mut wake_at = now + IDLE_POLL_MS;
    let Ok(spool) = shared.reader.lock() else {
        return (Vec::new(), wake_at);
    };
    let Ok(mut busy) = busy.lock() else {
        return (Vec::new(), wake_at);
    };
    let Ok(mut keys) = shared.keys.lock() else {
        return (Vec::new(), wake_at);
    };
    let routing_keys: Vec<String> = match shared.routing_keys.lock() {
        Ok(k) => k.iter().cloned().collect(),
        Err(_) => return (Vec::new(), wake_at),
    };
    let mut out = Vec::new();
    let mut free_slots = free_slots;
    for routing_key in routing_keys {
        let mut slots = free_slots;
        if slots == 0 {
            break;
        }
        let state = keys
            .entry(routing_key.clone())
            .or_insert_with(|| KeyState::new("", now));
        if state.operator_paused {
            continue;
        }
        if state.paused_until_ms > now {
            wake_at = wake_at.min(state.paused_until_ms);
            continue;
        }
        if woken {
            state.next_check_ms = 0;
        }
        if state.next_check_ms > now {
            wake_at = wake_at.min(state.next_check_ms);
            continue;
        }
        // After a pause, one request probes the key; the others wait for its answer.
        if state.pause.is_some() {
            if state.probe_in_flight {
                continue;
            }
            slots = 1;
        }
        let tokens = if routing_key.is_empty() {
            usize::MAX
        } else {
            state.available(rate, now)
        };
        slots = slots.min(tokens);
        if slots == 0 {
            // Come back when the bucket has a token again.
            let per_token_ms = (60_000 / i64::from(rate.max(1))).max(1);
            wake_at = wake_at.min(now + per_token_ms);
            continue;
        }
        let due = match spool.due(&routing_key, now, slots, &|k| busy.contains(k)) {
            Ok(d) => d,
            Err(e) => {
                error!(error = %e, "Cannot read the delivery queue.");
                continue;
            }
        };
        if due.is_empty() {
            // Nothing due: come back when the earliest head is (busy keys wake us on completion).
            state.next_check_ms = spool
                .next_due(&routing_key)
                .ok()
                .flatten()
                .map_or(i64::MAX, |t| t.max(now + 1));
        }
        for p in due {
            busy.insert(p.dedup_key.clone());
            if state.route.is_empty() {
                state.route = p.route.clone();
            }
            if let Some(completions) = skip_without_sending(shared, &spool, cfg, &p, now) {
                out.push((p, Pick::Complete(completions)));
                continue;
            }
            if !routing_key.is_empty() {
                state.take_token();
            }
            let probe = state.pause.is_some();
            if probe {
                state.probe_in_flight = true;
            }
            free_slots = free_slots.saturating_sub(1);
            out.push((
                p,
                Pick::Send {
                    epoch: state.pause_epoch,
                    probe,
                },
            ));
        }
    }
    (out, wake_at)
}

/// What to do with a queue head before sending it (DESIGN §4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stale {
    /// Send it.
    Send,
    /// A trigger older than `collapse_after` whose resolve is queued behind it: neither it nor
    /// anything queued before that resolve is sent (these ids, head first). The resolve is
    /// among them when PagerDuty has no incident open for the key: it would close nothing.
    Collapse(Vec<i64>),
    /// Past `max_event_age`: a superseded trigger, or an acknowledge. Dead letter.
    Expire(&'static str),
}

/// What the queue knows about a head's dedup key, asked only for old triggers.
pub trait Behind {
    /// (id, action) queued after the head.
    fn queued(&self) -> Vec<(i64, String)>;
    /// PagerDuty has an incident open for the key (a trigger delivered after the last resolve).
    fn open_in_pagerduty(&self) -> bool;
}

/// Decide about a head `age_ms` old (DESIGN §4.4: collapse and `max_event_age`).
pub fn stale_head(
    head_id: i64,
    action: &str,
    age_ms: i64,
    behind: &impl Behind,
    collapse_ms: i64,
    max_age_ms: i64,
) -> Stale {
    match action {
        "trigger" if age_ms > collapse_ms || age_ms > max_age_ms => {
            let queued = behind.queued();
            if age_ms > collapse_ms {
                if let Some(pos) = queued.iter().position(|(_, a)| a == "resolve") {
                    let end = if behind.open_in_pagerduty() {
                        pos
                    } else {
                        pos + 1
                    };
                    let mut skip = vec![head_id];
                    skip.extend(queued[..end].iter().map(|(id, _)| *id));
                    return Stale::Collapse(skip);
                }
            }
            // A current problem (nothing behind it) is never expired.
            if age_ms > max_age_ms && !queued.is_empty() {
                return Stale::Expire("expired: superseded trigger older than max_event_age");
            }
            Stale::Send
        }
        "acknowledge" if age_ms > max_age_ms => {
            Stale::Expire("expired: acknowledge older than max_event_age")
        }
        // Resolves never expire.
        _ => Stale::Send,
    }
}

/// Apply [`stale_head`] to a picked head: completions instead of a request, or `None`.
fn skip_without_sending(
    shared: &Shared,
    spool: &spool::Spool,
    cfg: &DeliveryConfig,
    p: &Pending,
    now: i64,
) -> Option<Vec<Completion>> {
    struct Queue<'a>(&'a spool::Spool, &'a Pending);
    impl Behind for Queue<'_> {
        fn queued(&self) -> Vec<(i64, String)> {
            self.0
                .queued_after(&self.1.dedup_key, self.1.id)
                .unwrap_or_default()
        }
        fn open_in_pagerduty(&self) -> bool {
            // When in doubt, the resolve is sent: a useless resolve costs less than an
            // incident left open.
            self.0.open_in_pagerduty(&self.1.dedup_key).unwrap_or(true)
        }
    }
    let decision = stale_head(
        p.id,
        &p.action,
        now - p.ingested_at_ms,
        &Queue(spool, p),
        cfg.collapse_after.0.as_millis() as i64,
        cfg.max_event_age.0.as_millis() as i64,
    );
    match decision {
        Stale::Send => None,
        Stale::Collapse(ids) => {
            Metrics::add(&shared.metrics.collapsed, 1);
            info!(resource = %p.resource, dedup_key = %p.dedup_key, skipped = ids.len(), "Collapsed: the problem ended long ago and its resolve is queued; the trigger is not sent (nor the resolve, when no incident is open in PagerDuty).");
            Some(
                ids.into_iter()
                    .map(|id| Completion::Collapsed {
                        id,
                        dedup_key: p.dedup_key.clone(),
                    })
                    .collect(),
            )
        }
        Stale::Expire(reason) => {
            Metrics::add(&shared.metrics.deliveries_dead_lettered, 1);
            warn!(resource = %p.resource, dedup_key = %p.dedup_key, action = %p.action, "{reason}: it goes to dead letters.");
            Some(vec![Completion::DeadLetter {
                id: p.id,
                dedup_key: p.dedup_key.clone(),
                reason: reason.to_owned(),
            }])
        }
    }
}

/// How a request left: its routing key's pause epoch then, and whether it was the probe.
#[derive(Debug, Clone, Copy)]
struct Sent {
    epoch: u64,
    probe: bool,
}

/// Send one queued event and decide what becomes of it.
async fn deliver(
    shared: &Shared,
    sender: &Sender,
    cfg: &DeliveryConfig,
    p: &Pending,
    sent: Sent,
    jitter: f64,
) -> Vec<Completion> {
    let now = now_ms();
    let mut event: pagerduty::Event = match serde_json::from_str(&p.body) {
        Ok(e) => e,
        Err(e) => {
            error!(dedup_key = %p.dedup_key, error = %e, "A queued event cannot be read; it goes to dead letters.");
            return vec![Completion::DeadLetter {
                id: p.id,
                dedup_key: p.dedup_key.clone(),
                reason: format!("unreadable queued event: {e}"),
            }];
        }
    };
    let delay_ms = now - p.ingested_at_ms;
    if delay_ms >= LATE_AFTER_MS {
        if let Some(payload) = event.payload.as_mut() {
            payload.custom_details.insert(
                "delivery_delay_seconds".into(),
                serde_json::json!(delay_ms / 1000),
            );
        }
    }
    let masked = event.to_masked_json();
    let mut outcome = sender.send(event.to_body(), &masked).await;
    if outcome == Outcome::TooLarge {
        warn!(dedup_key = %p.dedup_key, "PagerDuty answered 413: retrying once with custom_details shrunk to 64 KB.");
        outcome = sender.send(event.to_body_shrunk(), &masked).await;
        if outcome == Outcome::TooLarge {
            outcome = Outcome::Rejected {
                message: "413 Payload Too Large, even with custom_details shrunk to 64 KB".into(),
            };
        }
    }
    let key_label = pagerduty::mask_routing_key(&p.routing_key);
    let outcome = scrub(outcome, &p.routing_key);
    if sent.probe {
        update_key(shared, &p.routing_key, |k| k.probe_in_flight = false);
    }
    let m = &shared.metrics;
    let done = |c: Completion| vec![c];
    match outcome {
        Outcome::Delivered => {
            Metrics::add(&m.deliveries_delivered, 1);
            update_key(shared, &p.routing_key, |k| {
                if k.delivered(sent.epoch) {
                    info!(route = %k.route, routing_key = %key_label, "Routing key works again: resumed.");
                }
            });
            info!(resource = %p.resource, dedup_key = %p.dedup_key, action = %p.action, route = %p.route, "Delivered.");
            done(Completion::Done {
                id: p.id,
                dedup_key: p.dedup_key.clone(),
            })
        }
        Outcome::Throttled => {
            Metrics::add(&m.deliveries_throttled, 1);
            let mut until = now;
            update_key(shared, &p.routing_key, |k| {
                let epoch = k.pause_epoch;
                until = k.throttled(sent.epoch, now, |level| {
                    throttle_pause(cfg.throttle_min.0, cfg.throttle_max.0, level, jitter)
                });
                if k.pause_epoch != epoch {
                    warn!(route = %k.route, routing_key = %key_label, pause_ms = until - now, "PagerDuty answered 429: every event of this routing key waits.");
                }
            });
            done(Completion::Retry {
                dedup_key: p.dedup_key.clone(),
                due_at_ms: until,
                attempts: p.attempts,
            })
        }
        Outcome::Retry { reason } => {
            Metrics::add(&m.deliveries_retried, 1);
            let wait = backoff(
                cfg.backoff_min.0,
                cfg.backoff_max.0,
                p.attempts.clamp(0, 30) as u32,
                jitter,
            );
            warn!(resource = %p.resource, dedup_key = %p.dedup_key, attempt = p.attempts + 1, retry_in_ms = wait.as_millis() as u64, %reason, "Delivery failed; will retry.");
            shared.set_last_error(format!("{}: {reason}", p.dedup_key));
            done(Completion::Retry {
                dedup_key: p.dedup_key.clone(),
                due_at_ms: now + wait.as_millis() as i64,
                attempts: p.attempts + 1,
            })
        }
        Outcome::RoutingKeyRejected { message } | Outcome::ConfigError { reason: message } => {
            Metrics::add(&m.deliveries_config_error, 1);
            let probe = cfg.config_probe.0.as_millis() as i64;
            pause_for_config(shared, p, &key_label, now + probe, &message);
            done(Completion::Retry {
                dedup_key: p.dedup_key.clone(),
                due_at_ms: now + probe,
                attempts: p.attempts,
            })
        }
        Outcome::Rejected { message } => {
            Metrics::add(&m.deliveries_dead_lettered, 1);
            error!(resource = %p.resource, dedup_key = %p.dedup_key, action = %p.action, error = %message, "PagerDuty rejected the event: it goes to dead letters.");
            shared.set_last_error(format!("{}: {message}", p.dedup_key));
            let mut pause = false;
            update_key(shared, &p.routing_key, |k| {
                k.consecutive_400 += 1;
                pause = k.consecutive_400 >= MAX_CONSECUTIVE_400;
            });
            if pause {
                let probe = cfg.config_probe.0.as_millis() as i64;
                pause_for_config(
                    shared,
                    p,
                    &key_label,
                    now + probe,
                    "5 consecutive events rejected with 400",
                );
            }
            done(Completion::DeadLetter {
                id: p.id,
                dedup_key: p.dedup_key.clone(),
                reason: message,
            })
        }
        // Turned into `Rejected` above, after the one shrunk retry.
        Outcome::TooLarge => done(Completion::DeadLetter {
            id: p.id,
            dedup_key: p.dedup_key.clone(),
            reason: "413 Payload Too Large".into(),
        }),
    }
}

fn update_key(shared: &Shared, routing_key: &str, f: impl FnOnce(&mut KeyState)) {
    if let Ok(mut keys) = shared.keys.lock() {
        let k = keys
            .entry(routing_key.to_owned())
            .or_insert_with(|| KeyState::new("", now_ms()));
        f(k);
    }
}

fn pause_for_config(shared: &Shared, p: &Pending, label: &str, until: i64, message: &str) {
    update_key(shared, &p.routing_key, |k| {
        k.config_error(message, until);
        error!(route = %k.route, routing_key = %label, error = %message, "PagerDuty refused this routing key or endpoint: deliveries on it are paused and kept; it is probed again later. Check the configuration.");
    });
    shared.set_last_error(format!("routing key {label}: {message}"));
}

/// Group-commit completions, then release their keys.
async fn committer(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Done>,
    busy: Arc<Mutex<HashSet<String>>>,
) {
    let mut pending: Vec<Done> = Vec::new();
    loop {
        let first = if pending.is_empty() {
            rx.recv().await
        } else {
            None
        };
        let closed = pending.is_empty() && first.is_none();
        if let Some(d) = first {
            pending.push(d);
        }
        if closed {
            return;
        }
        let deadline = tokio::time::sleep(GROUP_COMMIT);
        tokio::pin!(deadline);
        let mut channel_open = true;
        loop {
            tokio::select! {
                d = rx.recv() => match d {
                    Some(d) => pending.push(d),
                    None => { channel_open = false; break; }
                },
                _ = &mut deadline => break,
            }
            if pending.len() >= 512 {
                break;
            }
        }
        let batch = std::mem::take(&mut pending);
        let shared2 = shared.clone();
        let result = tokio::task::spawn_blocking(move || {
            let completions: Vec<Completion> = batch
                .iter()
                .flat_map(|d| d.completions.iter().cloned())
                .collect();
            let r = shared2
                .spool
                .lock()
                .map_err(|_| "spool lock poisoned".to_owned())
                .and_then(|mut s| {
                    s.complete(&completions, now_ms())
                        .map_err(|e| e.to_string())
                });
            (batch, r)
        })
        .await;
        match result {
            Ok((batch, Ok(()))) => {
                if let Ok(mut busy) = busy.lock() {
                    for d in &batch {
                        busy.remove(&d.dedup_key);
                    }
                }
                shared.wake.notify_one();
            }
            Ok((batch, Err(e))) => {
                error!(error = %e, "Cannot record delivery outcomes in the spool; retrying.");
                shared.set_last_error(format!("spool: {e}"));
                pending = batch;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => error!(error = %e, "Committer task failed."),
        }
        if !channel_open && pending.is_empty() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let min = Duration::from_secs(1);
        let max = Duration::from_secs(300);
        assert_eq!(backoff(min, max, 0, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(min, max, 3, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(min, max, 20, 1.0), Duration::from_secs(300));
        // Jitter keeps at least half.
        assert_eq!(backoff(min, max, 3, 0.0), Duration::from_secs(4));
    }

    struct Queue {
        queued: Vec<(i64, String)>,
        open: bool,
    }

    impl Behind for Queue {
        fn queued(&self) -> Vec<(i64, String)> {
            self.queued.clone()
        }
        fn open_in_pagerduty(&self) -> bool {
            self.open
        }
    }

    fn behind(items: &[(i64, &str)]) -> Queue {
        Queue {
            queued: items.iter().map(|(id, a)| (*id, (*a).to_owned())).collect(),
            open: true,
        }
    }

    fn never_opened(items: &[(i64, &str)]) -> Queue {
        Queue {
            open: false,
            ..behind(items)
        }
    }

    const MIN: i64 = 60_000;
    const COLLAPSE: i64 = 15 * MIN;
    const MAX_AGE: i64 = 7 * 24 * 60 * MIN;

    #[test]
    fn stale_trigger_with_queued_resolve_collapses_with_what_lies_between() {
        let queue = behind(&[
            (2, "acknowledge"),
            (3, "trigger"),
            (4, "resolve"),
            (5, "trigger"),
        ]);
        let d = stale_head(1, "trigger", 16 * MIN, &queue, COLLAPSE, MAX_AGE);
        assert_eq!(d, Stale::Collapse(vec![1, 2, 3]));
    }

    #[test]
    fn collapse_never_sends_a_useless_resolve() {
        // No incident open in PagerDuty for the key: its resolve would close nothing.
        let queue = never_opened(&[(2, "resolve"), (3, "trigger")]);
        let d = stale_head(1, "trigger", 16 * MIN, &queue, COLLAPSE, MAX_AGE);
        assert_eq!(d, Stale::Collapse(vec![1, 2]));
        // An incident open: the resolve goes.
        let queue = behind(&[(2, "resolve"), (3, "trigger")]);
        let d = stale_head(1, "trigger", 16 * MIN, &queue, COLLAPSE, MAX_AGE);
        assert_eq!(d, Stale::Collapse(vec![1]));
    }

    #[test]
    fn recent_trigger_or_no_resolve_is_sent() {
        let resolve = behind(&[(2, "resolve")]);
        assert_eq!(
            stale_head(1, "trigger", 14 * MIN, &resolve, COLLAPSE, MAX_AGE),
            Stale::Send
        );
        let ack = behind(&[(2, "acknowledge")]);
        assert_eq!(
            stale_head(1, "trigger", 16 * MIN, &ack, COLLAPSE, MAX_AGE),
            Stale::Send
        );
    }

    #[test]
    fn max_event_age_expires_superseded_triggers_and_acks_never_current_problems_or_resolves() {
        let old = MAX_AGE + 1;
        let superseded = behind(&[(2, "trigger")]);
        let nothing = behind(&[]);
        assert!(matches!(
            stale_head(1, "trigger", old, &superseded, COLLAPSE, MAX_AGE),
            Stale::Expire(_)
        ));
        assert_eq!(
            stale_head(1, "trigger", old, &nothing, COLLAPSE, MAX_AGE),
            Stale::Send
        );
        assert!(matches!(
            stale_head(1, "acknowledge", old, &nothing, COLLAPSE, MAX_AGE),
            Stale::Expire(_)
        ));
        assert_eq!(
            stale_head(1, "resolve", old, &nothing, COLLAPSE, MAX_AGE),
            Stale::Send
        );
    }

    #[test]
    fn a_429_pause_is_never_shorter_than_throttle_min_and_doubles_up_to_throttle_max() {
        let min = Duration::from_secs(30);
        let max = Duration::from_secs(300);
        for j in [0.0, 0.3, 0.999] {
            let p = throttle_pause(min, max, 0, j);
            assert!(p >= min && p <= min.mul_f64(1.1), "{p:?}");
        }
        assert_eq!(throttle_pause(min, max, 1, 0.0), Duration::from_secs(60));
        assert_eq!(throttle_pause(min, max, 10, 0.0), max);
        assert!(throttle_pause(min, max, 10, 0.999) <= max.mul_f64(1.1));
    }

    #[test]
    fn a_success_sent_before_a_429_does_not_lift_its_pause() {
        let pause = |level: u32| Duration::from_secs(30 << level);
        let mut k = KeyState::new("r", 0);
        // Eight requests out at epoch 0; the first answer is a 429.
        let sent = k.pause_epoch;
        let until = k.throttled(sent, 1_000, pause);
        assert_eq!(until, 31_000);
        // A second 429 to a request of the same flight keeps that pause: no doubling.
        assert_eq!(k.throttled(sent, 1_010, pause), 31_000);
        // 202s to requests of the same flight prove nothing about the pause.
        assert!(!k.delivered(sent));
        assert_eq!(k.paused_until_ms, 31_000);
        assert!(k.pause.is_some());
        // The probe, sent after the pause began, answered 429 again: the pause doubles.
        let probe = k.pause_epoch;
        assert_eq!(k.throttled(probe, 31_000, pause), 91_000);
        // The next probe succeeds: resumed, and the next 429 starts again at the minimum.
        let probe = k.pause_epoch;
        assert!(k.delivered(probe));
        assert!(k.pause.is_none());
        assert_eq!(k.throttled(k.pause_epoch, 100_000, pause), 130_000);
    }

    #[test]
    fn a_success_sent_before_a_configuration_error_does_not_lift_its_pause() {
        let mut k = KeyState::new("r", 0);
        let sent = k.pause_epoch;
        k.config_error("401 Unauthorized", 300_000);
        assert!(!k.delivered(sent));
        assert_eq!(k.paused_until_ms, 300_000);
        assert!(k.delivered(k.pause_epoch));
        assert_eq!(k.paused_until_ms, 0);
    }

    #[test]
    fn jitter_in_unit_interval() {
        let mut j = Jitter(12345);
        for _ in 0..1000 {
            let x = j.sample();
            assert!((0.0..1.0).contains(&x));
        }
    }

    #[test]
    fn token_bucket_paces() {
        let mut k = KeyState::new("r", 0);
        assert_eq!(k.available(60, 0), 10);
        for _ in 0..10 {
            k.take_token();
        }
        assert_eq!(k.available(60, 0), 0);
        // 60 per minute: one per second.
        assert_eq!(k.available(60, 1000), 1);
        assert_eq!(k.available(60, 100_000), 10);
    }
}
