//! The clock spans and logs are timed with: the system clock, or a deterministic one for tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// Where timestamps come from.
///
/// Every timestamp BudObserve writes (span start and end, log time, event time) is read from the instance's clock,
/// once per use, so a test clock makes whole traces reproducible.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
///
/// use budobserve::Clock;
///
/// let fixed = Clock::Fixed(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
/// assert_eq!(fixed.now(), fixed.now());
/// let stepping = Clock::stepping();                      // each read a step later: reproducible durations
/// assert!(stepping.now() < stepping.now());
/// ```
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A clock that starts at one second after the Unix epoch and moves on by one second at every read.
    Stepping(Arc<SteppingClock>),
    /// A clock that always reads the same time (a log's events are at the log's time).
    Fixed(SystemTime),
}

impl Clock {
    /// A new stepping clock (see [`Clock::Stepping`]).
    pub fn stepping() -> Clock {
        Clock::Stepping(Arc::new(SteppingClock::default()))
    }

    /// The current time.
    #[inline]
    pub fn now(&self) -> SystemTime {
        match self {
            Clock::System => SystemTime::now(),
            Clock::Stepping(clock) => clock.next(),
            Clock::Fixed(time) => *time,
        }
    }
}

/// The state of [`Clock::Stepping`].
///
/// ```
/// use budobserve::Clock;
///
/// let clock = Clock::stepping();
/// let (first, second) = (clock.now(), clock.now());
/// assert!(second > first);                                 // a fixed step per read: reproducible durations
/// ```
#[derive(Debug, Default)]
pub struct SteppingClock {
    reads: AtomicU64,
}

impl SteppingClock {
    fn next(&self) -> SystemTime {
        let seconds = self.reads.fetch_add(1, Ordering::Relaxed) + 1;
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stepping_clock_moves_one_second_per_read() {
        let clock = Clock::stepping();
        let first = clock.now();
        let second = clock.now();
        assert_eq!(first, SystemTime::UNIX_EPOCH + Duration::from_secs(1));
        assert_eq!(second.duration_since(first).ok(), Some(Duration::from_secs(1)));
    }
}
