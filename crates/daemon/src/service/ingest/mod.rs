//! One ingest batch (DESIGN §3.4): NDJSON lines → normalise → rules → ONE spool transaction.
//!
//! Invariant: the reply says 200 only after the batch's effects are committed. When the spool
//! cannot take the batch (over `max_size`, under `min_free`, disk full, read-only), nothing of
//! it is kept, in memory or on disk, and the reply is 503 so that the shim keeps the batch.
//!
//! - this file: lines in, the rules applied to each, the answer's counts;
//! - `effects`: what a batch changes, its one commit path (shared with operator commands) and
//!   what is logged and woken once it is on disk.
//!
//! Locks: the ingest state, then the spool writer; never the other way round.

mod effects;

pub(crate) use effects::{announce, commit, Admission, Effects, IngestError};

use crate::api::types::Reply;
pub use crate::api::types::MAX_LINE_BYTES;
use crate::service::state::{now_ms, Counter, Shared};
use crate::service::store::{BatchStore, Ingest};
use broker::{normalise_line, Event, Normalised};
use rules::Engine;
use std::collections::HashSet;
use tracing::{debug, error, warn};

/// Bytes of a rejected line kept for inspection.
const REJECTED_LINE_KEPT: usize = 512;

/// The non-empty lines of an NDJSON body, trimmed. The newlines are found with `memchr` (many
/// bytes at a time): splitting byte by byte was a twentieth of a steady batch's time.
pub fn lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', body)
        .chain(std::iter::once(body.len()))
        .map(move |end| {
            let line = &body[start..end];
            start = end + 1;
            line.trim_ascii()
        })
        .filter(|l| !l.is_empty())
}

/// One line: normalised, or why it is rejected (with what could be read of it).
pub fn parse_line(line: &[u8]) -> Result<Normalised, (String, Option<broker::Rejection>)> {
    if line.len() > MAX_LINE_BYTES {
        return Err((
            format!("line of {} bytes is over the 1 MiB limit", line.len()),
            None,
        ));
    }
    normalise_line(line).map_err(|r| (r.to_string(), Some(r)))
}

/// Process one batch body. Runs on a blocking thread.
pub fn process(shared: &Shared, body: &[u8]) -> Result<Reply, IngestError> {
    let epoch = shared.spool_epoch.load(std::sync::atomic::Ordering::SeqCst);
    match apply_and_commit(shared, body) {
        Err(IngestError::Damaged(detail)) => {
            crate::service::repair::quarantine(shared, epoch, &detail);
            Err(IngestError::Damaged(detail))
        }
        Err(IngestError::Io(detail)) => {
            crate::service::repair::reopen(shared, epoch);
            Err(IngestError::Io(detail))
        }
        other => other,
    }
}

/// The batch through the rules and into the spool, under the ingest and spool locks.
fn apply_and_commit(shared: &Shared, body: &[u8]) -> Result<Reply, IngestError> {
    let mut ingest = shared
        .ingest
        .lock()
        .map_err(|_| IngestError::Storage("ingest lock poisoned".into()))?;
    let Ingest {
        engine,
        cache,
        skew_warned,
    } = &mut *ingest;
    let mut spool = shared
        .spool
        .lock()
        .map_err(|_| IngestError::Storage("spool lock poisoned".into()))?;
    let now_ms = now_ms();
    let mut reply = Reply::default();
    let mut effects = Effects::default();
    // The states and names the cache misses are read in one read transaction.
    let snapshot = spool.read_snapshot();
    let mut store = BatchStore::new(cache, &spool);
    let mut batch = Run {
        shared,
        engine,
        skew_warned,
        now_ms,
    };
    let mut failed = None;
    for line in lines(body) {
        if let Err(e) = batch.apply_line(&mut store, line, &mut effects, &mut reply) {
            failed = Some(e);
            break;
        }
    }
    effects.finish(&mut store, now_ms);
    effects.received_from_broker(now_ms);
    drop(store);
    drop(snapshot);
    if let Some(e) = failed {
        effects.abandon(cache);
        error!(error = %e, "A batch cannot be stored; the shim keeps it and retries.");
        return Err(e);
    }
    for e in cache.read_errors.drain(..) {
        error!(error = %e, "Could not read a resource's state from the spool; treating it as new.");
    }
    commit(shared, &mut spool, cache, &effects, Admission::Ingest)?;
    drop(spool);
    drop(ingest);

    let metrics = &shared.metrics;
    metrics.add(Counter::EventsAccepted, reply.accepted);
    metrics.add(Counter::EventsIgnored, reply.ignored);
    metrics.add(Counter::EventsRejected, reply.rejected);
    if reply.accepted + reply.ignored + reply.rejected > 0 {
        metrics.event_received_at(now_ms / 1000);
    }
    announce(shared, effects);
    Ok(reply)
}

/// One batch being applied.
struct Run<'a> {
    shared: &'a Shared,
    engine: &'a Engine,
    skew_warned: &'a mut HashSet<String>,
    now_ms: i64,
}

impl Run<'_> {
    fn apply_line(
        &mut self,
        store: &mut BatchStore<'_>,
        line: &[u8],
        effects: &mut Effects,
        reply: &mut Reply,
    ) -> Result<(), IngestError> {
        let metrics = &self.shared.metrics;
        metrics.add(Counter::EventsReceived, 1);
        let event = match parse_line(line) {
            Ok(Normalised::Event(event)) => event,
            Ok(Normalised::Ignored(_)) => {
                reply.ignored += 1;
                return Ok(());
            }
            Err((reason, rejection)) => {
                if let Some(rejection) = rejection.filter(|r| r.looks_like_alert()) {
                    metrics.add(Counter::RejectedAlertEvents, 1);
                    error!(
                        element = rejection.element,
                        host_id = rejection.host_id,
                        service_id = rejection.service_id,
                        reason = %rejection,
                        "Rejected an alert event: it cannot be paged."
                    );
                }
                reply.rejected += 1;
                let kept = &line[..line.len().min(REJECTED_LINE_KEPT)];
                effects.reject(
                    self.now_ms,
                    reason,
                    String::from_utf8_lossy(kept).into_owned(),
                );
                return Ok(());
            }
        };
        let outcome = self.engine.apply(store, &event, self.now_ms / 1000);
        if outcome.replay {
            reply.ignored += 1;
            debug!(resource = %event.resource(), "Replayed status ignored.");
            return Ok(());
        }
        if outcome.before_gap {
            reply.ignored += 1;
            self.shared.metrics.add(Counter::BeforeGap, 1);
            debug!(resource = %event.resource(), "Event from before the resync's gap ignored.");
            return Ok(());
        }
        reply.accepted += 1;
        if outcome.clock_skew {
            self.clock_skew(&event);
        }
        effects.notes(outcome.notes);
        for o in outcome.outgoing {
            effects.push(o, self.now_ms);
        }
        Ok(())
    }

    /// A status older than the last one applied: counted, and a warning once per poller.
    fn clock_skew(&mut self, event: &Event) {
        self.shared.metrics.add(Counter::ClockSkew, 1);
        let poller = event
            .context()
            .poller
            .clone()
            .unwrap_or_else(|| "(unknown poller)".into());
        if self.skew_warned.insert(poller.clone()) {
            warn!(%poller, resource = %event.resource(), "A status older than the last one applied arrived: the poller's clock may have stepped back. Applied in arrival order.");
        }
    }
}
