//! The rollout's per-batch overhead as the agents see it (docs/PERFORMANCE.md): for each batch
//! after the first, from the last result of the batch before acknowledged by the controller (the
//! result is stored) to the first `apply_change` of this batch received by its agent (the
//! scheduler's pass, the claims' commit and the long-poll's wake-up). The batches of an ad-hoc
//! rollout are known from the hosts' order: the first host is the canary, then waves of
//! `batch` hosts (pw-rollout's `ad_hoc_plan`).

use std::sync::Mutex;
use std::time::Instant;

/// One simulated install: its agent, when the command arrived and when its result was
/// acknowledged.
#[derive(Debug, Clone, Copy)]
pub struct Apply {
    pub agent: usize,
    pub received: Instant,
    pub acknowledged: Instant,
}

/// The installs of a run, in arrival order.
#[derive(Default)]
pub struct Applies(Mutex<Vec<Apply>>);

impl Applies {
    pub fn record(&self, apply: Apply) {
        self.0.lock().expect("applies lock").push(apply);
    }

    /// Every install so far; the list starts empty again.
    pub fn take(&self) -> Vec<Apply> {
        std::mem::take(&mut *self.0.lock().expect("applies lock"))
    }
}

/// The batch agent `index` belongs to: 0 for the canary, then waves of `batch`.
fn batch_of(index: usize, batch: usize) -> usize {
    if index == 0 {
        0
    } else {
        1 + (index - 1) / batch.max(1)
    }
}

/// What the installs show per batch boundary.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct BatchFigures {
    /// Per boundary (batch 1 onwards): last result of the batch before → first command of
    /// this one, in milliseconds.
    pub overhead_ms: Vec<f64>,
    /// Per batch: its first command received → its last result acknowledged (the agents'
    /// round trips and the result writes), in milliseconds.
    pub batch_ms: Vec<f64>,
}

/// Figures from the installs of a rollout with waves of `batch` (a batch that saw no install
/// is left out, with its boundaries).
pub fn figures(applies: &[Apply], batch: usize) -> BatchFigures {
    let batches = applies
        .iter()
        .map(|a| batch_of(a.agent, batch))
        .max()
        .map_or(0, |b| b + 1);
    let mut spans: Vec<Option<(Instant, Instant)>> = vec![None; batches];
    for apply in applies {
        let span = &mut spans[batch_of(apply.agent, batch)];
        *span = Some(match *span {
            None => (apply.received, apply.acknowledged),
            Some((first, last)) => (first.min(apply.received), last.max(apply.acknowledged)),
        });
    }
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let overhead_ms = spans
        .windows(2)
        .filter_map(|pair| match pair {
            [Some((_, last)), Some((first, _))] => Some(ms(first.saturating_duration_since(*last))),
            _ => None,
        })
        .collect();
    let batch_ms = spans
        .iter()
        .flatten()
        .map(|(first, last)| ms(last.saturating_duration_since(*first)))
        .collect();
    BatchFigures {
        overhead_ms,
        batch_ms,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{Apply, figures};

    #[test]
    fn overhead_runs_from_a_batchs_last_result_to_the_next_batchs_first_command() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let apply = |agent, received, acknowledged| Apply {
            agent,
            received: at(received),
            acknowledged: at(acknowledged),
        };
        // Canary 0; batch 1 = agents 1, 2; batch 2 = agents 3, 4.
        let applies = [
            apply(0, 0, 10),
            apply(2, 40, 55),
            apply(1, 30, 70),
            apply(4, 95, 100),
            apply(3, 90, 120),
        ];
        let figures = figures(&applies, 2);
        assert_eq!(figures.overhead_ms, vec![20.0, 20.0]);
        assert_eq!(figures.batch_ms, vec![10.0, 40.0, 30.0]);
    }
}
