//! Hosts whose last look at their commands, on this controller, found none (issue 15: at
//! 10,000 agents every long-poll began with a read of its host's commands, ~400 a second,
//! though almost every one found nothing). A long-poll of such a host waits for its wake-up
//! first and reads only when woken: every command queued for a host wakes its long-poll
//! (`Controller::waiter`, which keeps the wake-up when nobody waits; commands queued by another
//! replica through `wakeups::relay`, and every host is woken when the relay reconnects). A host
//! idle for longer than [`TRUST_FOR`] is read again anyway.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a host found without commands is trusted to have none unless woken.
pub const TRUST_FOR: Duration = Duration::from_secs(300);

#[derive(Default)]
pub struct IdleHosts {
    /// Host → when its commands were last read and found empty.
    since: Mutex<HashMap<String, Instant>>,
}

impl IdleHosts {
    /// Whether the host's commands were found empty within [`TRUST_FOR`] before `now`.
    pub fn is_idle(&self, host: &str, now: Instant) -> bool {
        self.since
            .lock()
            .expect("idle hosts lock")
            .get(host)
            .is_some_and(|at| now.saturating_duration_since(*at) < TRUST_FOR)
    }

    /// What a read of the host's commands found at `now`.
    pub fn found(&self, host: &str, empty: bool, now: Instant) {
        let mut since = self.since.lock().expect("idle hosts lock");
        if empty {
            since.insert(host.to_owned(), now);
        } else {
            since.remove(host);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_found_empty_is_idle_until_it_has_commands_or_its_time_passes() {
        let idle = IdleHosts::default();
        let start = Instant::now();
        assert!(!idle.is_idle("h1", start), "never read");
        idle.found("h1", true, start);
        assert!(idle.is_idle("h1", start + TRUST_FOR - Duration::from_secs(1)));
        assert!(
            !idle.is_idle("h1", start + TRUST_FOR),
            "read again after its time"
        );
        idle.found("h1", false, start);
        assert!(!idle.is_idle("h1", start), "commands found");
    }
}
