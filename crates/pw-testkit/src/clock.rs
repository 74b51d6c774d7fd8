//! Time the test drives: [`ManualClock`] stands still until the test moves it, so deadlines,
//! windows, timeouts and the scheduler's passes (`pw_controller::scheduler::tick`) are run at
//! chosen instants instead of waited for.

use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use pw_controller::Clock;

/// An RFC 3339 instant of a test (`2026-12-01T00:00:00Z`); panics on a typo.
pub fn at(text: &str) -> Timestamp {
    text.parse()
        .unwrap_or_else(|e| panic!("{text:?} is not an RFC 3339 instant: {e}"))
}

/// A clock that stands still until the test sets or advances it. Clones share the time.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<Mutex<Timestamp>>);

impl ManualClock {
    pub fn new(now: Timestamp) -> ManualClock {
        ManualClock(Arc::new(Mutex::new(now)))
    }

    /// A clock at the machine's time now, then standing still (for controllers whose TLS
    /// certificates and tokens must be valid in real time too).
    pub fn at_system_time() -> ManualClock {
        ManualClock::new(Timestamp::now())
    }

    pub fn set(&self, now: Timestamp) {
        *self.0.lock().unwrap() = now;
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: SignedDuration) {
        let mut now = self.0.lock().unwrap();
        *now = now.checked_add(by).expect("clock advanced out of range");
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_time_and_it_moves_only_when_told() {
        let clock = ManualClock::new(at("2026-12-01T00:00:00Z"));
        let other = clock.clone();
        assert_eq!(other.now(), at("2026-12-01T00:00:00Z"));
        clock.advance(SignedDuration::from_secs(90));
        assert_eq!(other.now(), at("2026-12-01T00:01:30Z"));
        other.set(at("2027-01-01T00:00:00Z"));
        assert_eq!(clock.now(), at("2027-01-01T00:00:00Z"));
    }
}
