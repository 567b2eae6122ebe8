//! The daemon's clock (DESIGN §4.5): what every role measures time with.

/// The daemon's time, in milliseconds since the epoch: the wall clock read once, when first
/// asked, then advanced by the monotonic clock (DESIGN §4.5). Due times, backoffs, pauses,
/// pacing and the ages of queued events are computed on it, so a step of the wall clock while
/// the daemon runs — forward or back, by hours — neither freezes delivery nor makes every
/// event old at once. Each start re-reads the wall clock (and clamps due times stored by the
/// previous run: `Spool::clamp_due_times`). Event times come from Centreon, not from here.
pub fn now_ms() -> i64 {
    static ANCHOR: std::sync::OnceLock<(i64, std::time::Instant)> = std::sync::OnceLock::new();
    let (wall, at) = ANCHOR.get_or_init(|| {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        (wall, std::time::Instant::now())
    });
    wall.saturating_add(at.elapsed().as_millis() as i64)
}
