//! Where a findings write's time goes (issue 15: a feed import's re-rank is held by the writers'
//! line, so only a cheaper write shortens it): the write's wall time summed per part over the
//! hosts of a group, logged at debug level (`RUST_LOG=pw_store::write_clock=debug`) once the
//! group is committed. A part's time includes its statements' round trips to the database.

use std::time::{Duration, Instant};

/// The parts' times of one write, in the order first lapped.
pub(crate) struct WriteClock {
    last: Instant,
    parts: Vec<(&'static str, Duration)>,
}

impl WriteClock {
    pub(crate) fn start() -> WriteClock {
        WriteClock {
            last: Instant::now(),
            parts: Vec::new(),
        }
    }

    /// Adds the time since the last lap (or the start) to `part`.
    pub(crate) fn lap(&mut self, part: &'static str) {
        let now = Instant::now();
        let took = now - self.last;
        self.last = now;
        match self.parts.iter_mut().find(|(name, _)| *name == part) {
            Some((_, total)) => *total += took,
            None => self.parts.push((part, took)),
        }
    }

    /// Logs the parts' times (ms) of a write of `hosts` hosts, `summarised` of them with their
    /// summaries refreshed.
    pub(crate) fn log(&self, hosts: usize, summarised: usize) {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let (ms, parts) = self.times();
        tracing::debug!(hosts, summarised, ms, parts, "findings written");
    }

    /// Logs the parts' times (ms) of one write of `what` (an inventory report: its turn in the
    /// line, its reads, its rows, its commit).
    pub(crate) fn log_write(&self, what: &'static str) {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let (ms, parts) = self.times();
        tracing::debug!(what, ms, parts, "write timed");
    }

    /// The total and the parts' times (ms), as logged.
    fn times(&self) -> (String, String) {
        let total: Duration = self.parts.iter().map(|(_, took)| *took).sum();
        let parts: Vec<String> = (self.parts.iter())
            .map(|(name, took)| format!("{name}={:.1}", took.as_secs_f64() * 1000.0))
            .collect();
        (
            format!("{:.1}", total.as_secs_f64() * 1000.0),
            parts.join(" "),
        )
    }
}
