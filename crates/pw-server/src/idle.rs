//! Hosts whose last look at their commands, on this controller, found none (issue 15: at
//! 10,000 agents every long-poll began with a read of its host's commands, ~400 a second,
//! though almost every one found nothing). A long-poll of such a host waits for its wake-up
//! first and reads only when woken: every command queued for a host wakes its long-poll
//! (`Controller::waiter`, which keeps the wake-up when nobody waits; commands queued by another
//! replica through `wakeups::relay`, and every host is woken when the relay reconnects). A host
//! is trusted for a random 50–100 % of [`TRUST_FOR`] and read again after it: the hosts found
//! empty together (every agent's first long-poll after a start) must not all be read again in
//! the same minute (at 10,000 agents, one trust period for all brought 10,000 reads within ~30 s
//! every 5 minutes, and long-polls that waited for a pooled connection until they failed).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest a host found without commands is trusted to have none unless woken.
pub const TRUST_FOR: Duration = Duration::from_secs(300);

#[derive(Default)]
pub struct IdleHosts {
    /// Host → until when it is trusted to have no commands.
    until: Mutex<HashMap<String, Instant>>,
}

impl IdleHosts {
    /// Whether the host's commands were found empty and it is still trusted at `now`.
    pub fn is_idle(&self, host: &str, now: Instant) -> bool {
        self.until
            .lock()
            .expect("idle hosts lock")
            .get(host)
            .is_some_and(|until| now < *until)
    }

    /// What a read of the host's commands found at `now`; an empty read is trusted for
    /// `50 + 50 × unit` % of [`TRUST_FOR`] (`unit` in [0, 1)).
    pub fn found(&self, host: &str, empty: bool, now: Instant, unit: f64) {
        let mut until = self.until.lock().expect("idle hosts lock");
        if empty {
            let trust = TRUST_FOR.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0));
            until.insert(host.to_owned(), now + trust);
        } else {
            until.remove(host);
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
        idle.found("h1", true, start, 0.999_999);
        assert!(idle.is_idle("h1", start + TRUST_FOR - Duration::from_secs(1)));
        assert!(
            !idle.is_idle("h1", start + TRUST_FOR),
            "read again after its time"
        );
        idle.found("h1", false, start, 0.5);
        assert!(!idle.is_idle("h1", start), "commands found");
    }

    #[test]
    fn hosts_found_empty_together_are_trusted_for_spread_times() {
        let idle = IdleHosts::default();
        let start = Instant::now();
        let half = TRUST_FOR / 2;
        idle.found("least", true, start, 0.0);
        idle.found("middle", true, start, 0.5);
        idle.found("most", true, start, 0.999_999);
        let second = Duration::from_secs(1);
        assert!(idle.is_idle("least", start + half - second));
        assert!(!idle.is_idle("least", start + half), "half the time");
        assert!(idle.is_idle("middle", start + half + TRUST_FOR / 4 - second));
        assert!(!idle.is_idle("middle", start + half + TRUST_FOR / 4));
        assert!(idle.is_idle("most", start + TRUST_FOR - second));
    }
}
