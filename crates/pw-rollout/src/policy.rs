//! The per-host policy as data beside the state enum: per-step timeouts, retry limits and a capped
//! exponential backoff, the verification period, the health checks that must pass and the
//! protection steps run before a change.
//!
//! Defaults (docs/design/rollout-engine.md "Timeouts and retries"): recording versions 2 min × 3
//! tries, protection 30 min × 2, install 30 min × 2, rollback 30 min × 3, backoff 10 s doubling up
//! to 5 min, verification 5 min (the seed's "core services up within 5 minutes").

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// How the engine treats one host (a group's settings, resolved by the controller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    pub timeouts: Timeouts,
    /// How long health checks run after an install before the host counts as done.
    pub verification_seconds: u64,
    /// Checks that must each have passed by the end of the verification period.
    pub health_checks: Vec<String>,
    /// Protection hooks (snapshot, backup with restore check, pause writes) run before the
    /// install, in order. Empty: the `protecting` state is skipped.
    pub protection_steps: Vec<String>,
    /// The host's change includes the rollback drill (its batch drills, `BatchSpec::drill`):
    /// `done` needs a drill that passed on its evidence.
    pub drill: bool,
    /// At most this many hosts of the rollout reboot at once (0 counts as 1).
    pub reboot_budget: u32,
    /// Checks of the host's group that the controller evaluates (PromQL gates). When there are
    /// any, a change the guard verified stays `verifying` for `verification_seconds` more:
    /// the group's gate must stay green meanwhile, and a failure of one rolls it back
    /// (`GateFailed`); the batch is not complete before.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gate_checks: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            timeouts: Timeouts::default(),
            verification_seconds: 300,
            health_checks: Vec::new(),
            protection_steps: Vec::new(),
            drill: false,
            reboot_budget: 1,
            gate_checks: Vec::new(),
        }
    }
}

/// Timeouts and retry limits of every state that waits for the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Timeouts {
    /// `claimed`: waiting for the recorded versions.
    pub record_versions: StepLimits,
    /// `protecting`: waiting for the protection hooks.
    pub protect: StepLimits,
    /// `applying`: waiting for the install.
    pub apply: StepLimits,
    /// `rolling_back`: waiting for the rollback and its checks.
    pub rollback: StepLimits,
    /// `restarting`: waiting for the agent's `restart_services`.
    pub restart: StepLimits,
    /// `rebooting`: waiting for the agent to answer and come back from a new boot (one try:
    /// a second reboot is an operator's call).
    pub reboot: StepLimits,
    /// Delay before a retry.
    pub backoff: Backoff,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            record_versions: StepLimits::new(120, 3),
            protect: StepLimits::new(1800, 2),
            apply: StepLimits::new(1800, 2),
            rollback: StepLimits::new(1800, 3),
            restart: StepLimits::new(600, 2),
            reboot: StepLimits::new(900, 1),
            backoff: Backoff::default(),
        }
    }
}

/// One step's timeout and how often it is tried in all (0 counts as 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepLimits {
    pub timeout_seconds: u64,
    pub max_tries: u32,
}

impl StepLimits {
    pub const fn new(timeout_seconds: u64, max_tries: u32) -> Self {
        StepLimits {
            timeout_seconds,
            max_tries,
        }
    }

    /// Whether a step tried `tries` times may be tried again.
    pub fn may_retry(&self, tries: u32) -> bool {
        tries < self.max_tries.max(1)
    }
}

/// Capped exponential backoff: `initial × 2^(retry−1)`, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backoff {
    pub initial_seconds: u64,
    pub max_seconds: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial_seconds: 10,
            max_seconds: 300,
        }
    }
}

impl Backoff {
    /// Seconds to wait before retry number `retry` (1 = the first retry; 0 waits nothing).
    pub fn delay_seconds(&self, retry: u32) -> u64 {
        if retry == 0 {
            return 0;
        }
        let factor = 1u64.checked_shl(retry - 1).unwrap_or(u64::MAX);
        self.initial_seconds
            .saturating_mul(factor)
            .min(self.max_seconds)
    }
}

/// `at` plus `seconds`, saturating at the end of representable time instead of panicking.
pub fn after(at: Timestamp, seconds: u64) -> Timestamp {
    let seconds = i64::try_from(seconds).unwrap_or(i64::MAX);
    at.checked_add(SignedDuration::from_secs(seconds))
        .unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(backoff: Backoff, retry: u32, expected: u64) {
        assert_eq!(backoff.delay_seconds(retry), expected, "retry {retry}");
    }

    #[test]
    fn backoff_doubles_then_caps() {
        let b = Backoff::default();
        check(b, 0, 0);
        check(b, 1, 10);
        check(b, 2, 20);
        check(b, 3, 40);
        check(b, 5, 160);
        check(b, 6, 300);
        check(b, 7, 300);
        check(b, 64, 300);
        check(b, u32::MAX, 300);
    }

    #[test]
    fn backoff_never_overflows() {
        let b = Backoff {
            initial_seconds: u64::MAX,
            max_seconds: u64::MAX,
        };
        check(b, 1, u64::MAX);
        check(b, 40, u64::MAX);
        let zero = Backoff {
            initial_seconds: 0,
            max_seconds: 100,
        };
        check(zero, 9, 0);
    }

    #[test]
    fn retry_limits_count_the_first_try() {
        let limits = StepLimits::new(60, 3);
        assert!(limits.may_retry(1));
        assert!(limits.may_retry(2));
        assert!(!limits.may_retry(3));
        assert!(!StepLimits::new(60, 0).may_retry(1));
        assert!(!StepLimits::new(60, 1).may_retry(1));
    }

    #[test]
    fn after_saturates() {
        let t: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(after(t, 60).to_string(), "2025-01-01T00:01:00Z");
        assert_eq!(after(t, u64::MAX), Timestamp::MAX);
        assert_eq!(after(Timestamp::MAX, 1), Timestamp::MAX);
    }

    #[test]
    fn policy_reads_partial_toml_like_json() {
        let policy: Policy =
            serde_json::from_str(r#"{"verification_seconds": 600, "health_checks": ["nginx"]}"#)
                .unwrap();
        assert_eq!(policy.verification_seconds, 600);
        assert_eq!(policy.timeouts, Timeouts::default());
    }
}
