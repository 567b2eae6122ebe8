//! The daemon's counters (DESIGN §4.5), each declared once here with its metric family, help
//! and label; incremented by the roles, rendered in Prometheus' text format by the API. The
//! gauges (queue depth, ages, dead letters, paused keys, spool size) come from the status.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Everything counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    EventsReceived,
    EventsAccepted,
    EventsIgnored,
    EventsRejected,
    RejectedAlertEvents,
    AlertsTrigger,
    AlertsAcknowledge,
    AlertsResolve,
    DeliveriesDelivered,
    DeliveriesRetried,
    DeliveriesThrottled,
    DeliveriesDeadLettered,
    DeliveriesConfigError,
    Collapsed,
    ClockSkew,
    BatchesRefused,
    Resyncs,
    BeforeGap,
    SyncPolls,
    SyncMirrored,
    SyncErrors,
}

impl Counter {
    /// Every counter, in the order they are rendered (a family's members together).
    pub const ALL: [Counter; 21] = [
        Counter::EventsReceived,
        Counter::EventsAccepted,
        Counter::EventsIgnored,
        Counter::EventsRejected,
        Counter::RejectedAlertEvents,
        Counter::AlertsTrigger,
        Counter::AlertsAcknowledge,
        Counter::AlertsResolve,
        Counter::DeliveriesDelivered,
        Counter::DeliveriesRetried,
        Counter::DeliveriesThrottled,
        Counter::DeliveriesDeadLettered,
        Counter::DeliveriesConfigError,
        Counter::Collapsed,
        Counter::ClockSkew,
        Counter::BatchesRefused,
        Counter::Resyncs,
        Counter::BeforeGap,
        Counter::SyncPolls,
        Counter::SyncMirrored,
        Counter::SyncErrors,
    ];

    /// (metric family, help, label).
    fn family(self) -> (&'static str, &'static str, &'static str) {
        use Counter::*;
        const ALERTS: &str = "PagerDuty events queued, by action.";
        const DELIVERIES: &str = "Delivery attempts, by outcome.";
        match self {
            EventsReceived => (
                "events_received_total",
                "Raw events received from the shim.",
                "",
            ),
            EventsAccepted => ("events_accepted_total", "Events handed to the rules.", ""),
            EventsIgnored => (
                "events_ignored_total",
                "Events ignored (unused elements, replays).",
                "",
            ),
            EventsRejected => ("events_rejected_total", "Malformed lines.", ""),
            RejectedAlertEvents => (
                "rejected_alert_events_total",
                "Rejected lines that looked like statuses, acknowledgements or downtimes.",
                "",
            ),
            AlertsTrigger => ("alerts_total", ALERTS, "action=\"trigger\""),
            AlertsAcknowledge => ("alerts_total", ALERTS, "action=\"acknowledge\""),
            AlertsResolve => ("alerts_total", ALERTS, "action=\"resolve\""),
            DeliveriesDelivered => ("deliveries_total", DELIVERIES, "outcome=\"delivered\""),
            DeliveriesRetried => ("deliveries_total", DELIVERIES, "outcome=\"retried\""),
            DeliveriesThrottled => ("deliveries_total", DELIVERIES, "outcome=\"throttled\""),
            DeliveriesDeadLettered => ("deliveries_total", DELIVERIES, "outcome=\"dead_lettered\""),
            DeliveriesConfigError => ("deliveries_total", DELIVERIES, "outcome=\"config_error\""),
            Collapsed => (
                "collapsed_total",
                "Stale trigger/resolve episodes not sent.",
                "",
            ),
            ClockSkew => (
                "clock_skew_total",
                "Statuses older than the last one applied to their resource.",
                "",
            ),
            BatchesRefused => ("batches_refused_total", "Batches answered 503.", ""),
            Resyncs => (
                "resyncs_total",
                "Starts on a spool idle longer than [ha] resync_after (rule state unknown).",
                "",
            ),
            BeforeGap => (
                "before_gap_ignored_total",
                "Events from before a resync's gap (this node's Broker retention), ignored.",
                "",
            ),
            SyncPolls => (
                "sync_polls_total",
                "Listings of PagerDuty's acknowledged incidents that succeeded ([sync]).",
                "",
            ),
            SyncMirrored => (
                "sync_acknowledgements_total",
                "Acknowledgements made in PagerDuty and set in Centreon ([sync]).",
                "",
            ),
            SyncErrors => (
                "sync_errors_total",
                "Failed calls to PagerDuty's REST API or Centreon's API ([sync]).",
                "",
            ),
        }
    }
}

/// The counters, and the time of the last event received.
#[derive(Default)]
pub struct Metrics {
    counts: [AtomicU64; Counter::ALL.len()],
    /// Daemon time (s) of the last event received.
    last_event_at: AtomicI64,
}

impl Metrics {
    pub fn add(&self, counter: Counter, n: u64) {
        self.counts[counter as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self, counter: Counter) -> u64 {
        self.counts[counter as usize].load(Ordering::Relaxed)
    }

    pub fn event_received_at(&self, now_s: i64) {
        self.last_event_at.store(now_s, Ordering::Relaxed);
    }

    /// Daemon time (s) of the last event received, if any.
    pub fn last_event_at(&self) -> Option<i64> {
        Some(self.last_event_at.load(Ordering::Relaxed)).filter(|&t| t > 0)
    }

    /// The counters in Prometheus' text format.
    pub fn render(&self, out: &mut String) {
        let mut family = "";
        for c in Counter::ALL {
            let (name, help, label) = c.family();
            if name != family {
                family = name;
                let _ = writeln!(
                    out,
                    "# HELP centreon_pagerduty_{name} {help}\n# TYPE centreon_pagerduty_{name} counter"
                );
            }
            let v = self.get(c);
            if label.is_empty() {
                let _ = writeln!(out, "centreon_pagerduty_{name} {v}");
            } else {
                let _ = writeln!(out, "centreon_pagerduty_{name}{{{label}}} {v}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_renders_once_with_its_family_header_once() {
        let m = Metrics::default();
        m.add(Counter::DeliveriesThrottled, 3);
        let mut out = String::new();
        m.render(&mut out);
        assert_eq!(
            out.matches("# TYPE centreon_pagerduty_deliveries_total")
                .count(),
            1
        );
        assert!(out.contains("centreon_pagerduty_deliveries_total{outcome=\"throttled\"} 3\n"));
        assert_eq!(
            out.lines().filter(|l| !l.starts_with('#')).count(),
            Counter::ALL.len()
        );
    }
}
