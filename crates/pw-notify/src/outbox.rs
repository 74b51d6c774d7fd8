//! The outbox's rules: the idempotency key of a delivery and the retry schedule.

use jiff::SignedDuration;

/// The idempotency key of delivering `event_id` to `channel`.
pub fn outbox_key(event_id: &str, channel: &str) -> String {
    format!("{event_id}/{channel}")
}

/// How a failed delivery is retried: after `base`, then twice as long each time, at most
/// `max_delay` apart, `max_attempts` attempts in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: SignedDuration,
    pub max_delay: SignedDuration,
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 30 s, 1 min, 2 min … at most 1 h apart, 10 attempts (about 4.5 hours in all).
    fn default() -> RetryPolicy {
        RetryPolicy {
            base: SignedDuration::from_secs(30),
            max_delay: SignedDuration::from_hours(1),
            max_attempts: 10,
        }
    }
}

impl RetryPolicy {
    /// The wait before the next attempt after attempt number `attempts` (1-based) failed;
    /// `None`: give up.
    pub fn next_delay(&self, attempts: u32) -> Option<SignedDuration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let factor = 1_i32
            .checked_shl(attempts.saturating_sub(1))
            .unwrap_or(i32::MAX);
        let delay = self.base.checked_mul(factor).unwrap_or(self.max_delay);
        Some(delay.min(self.max_delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_then_gives_up() {
        let policy = RetryPolicy::default();
        let secs: Vec<i64> = (1..=10)
            .map(|n| policy.next_delay(n).map_or(-1, |d| d.as_secs()))
            .collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, -1]);
        assert_eq!(outbox_key("plan:1:approved", "ops"), "plan:1:approved/ops");
    }
}
