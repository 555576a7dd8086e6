//! How long an ingest keeps other writers out: the limits, and the timer that enforces them
//! with the monotonic clock (not a report clock, so the store may read it).

use std::time::{Duration, Instant};

/// How long an ingest may keep other writers out. SQLite's busy handler retries a waiting
/// writer at most every 100 ms, so a lock released for less than that may never be seen: after
/// holding the lock (across back-to-back transactions) for `yield_after`, the ingest pauses
/// for `pause`, longer than that retry interval, so a waiting writer gets its turn well inside
/// the 10 s busy timeout. A single transaction commits early once held for `max_hold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteLimits {
    pub max_hold: Duration,
    pub yield_after: Duration,
    pub pause: Duration,
}

impl Default for WriteLimits {
    fn default() -> WriteLimits {
        WriteLimits {
            max_hold: Duration::from_secs(1),
            yield_after: Duration::from_secs(2),
            pause: Duration::from_millis(110),
        }
    }
}

/// How long this connection has held the write lock without a gap another writer could use.
#[derive(Default)]
pub(super) struct LockTimer {
    streak_start: Option<Instant>,
    last_release: Option<Instant>,
}

impl LockTimer {
    /// Before taking the lock: a gap of at least `pause` since the last commit starts a new
    /// streak.
    pub(super) fn before_begin(&mut self, limits: &WriteLimits) -> Instant {
        let now = Instant::now();
        let gap = self
            .last_release
            .is_none_or(|t| now.duration_since(t) >= limits.pause);
        if gap || self.streak_start.is_none() {
            self.streak_start = Some(now);
        }
        now
    }

    /// After a commit: pause if the streak has lasted `yield_after`.
    pub(super) fn after_commit(&mut self, limits: &WriteLimits) {
        let now = Instant::now();
        self.last_release = Some(now);
        if self
            .streak_start
            .is_some_and(|s| now.duration_since(s) >= limits.yield_after)
        {
            std::thread::sleep(limits.pause);
            self.streak_start = None;
        }
    }
}
