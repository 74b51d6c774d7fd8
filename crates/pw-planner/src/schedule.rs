//! Placing one group's batches into its window slots with the seed's capacity formula.
//!
//! For a slot of length `total`: `rollback_buffer = ⌈total × rollback_buffer_percent⌉`,
//! `usable = total − (verification + rollback_buffer)`. Batches of a group run one after another;
//! the hosts of one batch change in parallel, so a batch takes as long as its slowest host. A batch
//! may start in a slot when its apply time ends by `slot end − rollback_buffer − verification`
//! (earlier batches in the same slot consume usable time, verification included) and its
//! rollback time fits in the buffer. Otherwise the hosts that fit stay (the batch is split, the
//! rest follows as the next batch) or, when none fits, the batch moves to the next slot. Every
//! split and move is recorded as a note on the batch. Hosts that fit no slot of the horizon at all
//! are reported as unscheduled with the numbers. When no canary host fits any slot, the first batch
//! that is placed becomes the canary (noted), so a group never starts with a wave.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::duration::format_duration;
use crate::fleet::WindowSlot;
use crate::targets::HostEstimate;

/// Whether a batch is the canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchKind {
    Canary,
    Wave,
}

/// A batch waiting to be placed: host indices into the group's host list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingBatch {
    pub kind: BatchKind,
    pub hosts: Vec<usize>,
}

/// A placed batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub kind: BatchKind,
    pub hosts: Vec<usize>,
    pub window: String,
    pub slot_start: Timestamp,
    pub slot_end: Timestamp,
    pub start: Timestamp,
    /// End of the verification period.
    pub end: Timestamp,
    pub apply_seconds: u64,
    pub rollback_seconds: u64,
    pub rollback_buffer_seconds: u64,
    pub usable_seconds: u64,
    pub notes: Vec<String>,
}

/// Hosts that could not be placed, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotPlaced {
    pub hosts: Vec<usize>,
    pub reason: String,
}

/// Capacity numbers of one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub total_seconds: u64,
    pub rollback_buffer_seconds: u64,
    pub usable_seconds: u64,
}

/// The seed's formula for one slot.
pub fn capacity(slot: &WindowSlot, verification_seconds: u64, buffer_percent: f64) -> Capacity {
    let total = u64::try_from(slot.end.as_second() - slot.start.as_second()).unwrap_or(0);
    let buffer = ((total as f64) * buffer_percent / 100.0 - 1e-9)
        .ceil()
        .max(0.0) as u64;
    Capacity {
        total_seconds: total,
        rollback_buffer_seconds: buffer.min(total),
        usable_seconds: total.saturating_sub(verification_seconds.saturating_add(buffer)),
    }
}

/// Group-level settings for placement.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub verification_seconds: u64,
    pub buffer_percent: f64,
    /// Nothing starts before this (the plan's `from`, or the end of the staging counterpart).
    pub not_before: Timestamp,
}

/// Places `batches` (canary first) into `slots` (any order); `estimates[i]` belongs to host `i`.
pub fn place(
    batches: Vec<PendingBatch>,
    slots: &[WindowSlot],
    estimates: &[HostEstimate],
    rules: Rules,
) -> (Vec<Placed>, Vec<NotPlaced>) {
    let mut slots: Vec<&WindowSlot> = slots.iter().filter(|s| s.end > s.start).collect();
    slots.sort_by(|a, b| (a.start, a.end, &a.window).cmp(&(b.start, b.end, &b.window)));
    let capacities: Vec<Capacity> = slots
        .iter()
        .map(|s| capacity(s, rules.verification_seconds, rules.buffer_percent))
        .collect();
    let largest_usable = capacities
        .iter()
        .map(|c| c.usable_seconds)
        .max()
        .unwrap_or(0);
    let largest_buffer = capacities
        .iter()
        .map(|c| c.rollback_buffer_seconds)
        .max()
        .unwrap_or(0);

    let mut placed = Vec::new();
    let mut not_placed = Vec::new();
    let mut queue: std::collections::VecDeque<(PendingBatch, Vec<String>)> =
        batches.into_iter().map(|b| (b, Vec::new())).collect();
    let mut cursor = rules.not_before;
    let mut slot_index = 0usize;
    let mut canary_placed = false;
    while let Some((mut batch, mut notes)) = queue.pop_front() {
        // Hosts no slot of the horizon can hold.
        let (never, hosts): (Vec<usize>, Vec<usize>) = batch.hosts.iter().partition(|&&h| {
            estimates[h].apply_seconds > largest_usable
                || estimates[h].rollback_seconds > largest_buffer
        });
        for host in never {
            let e = estimates[host];
            not_placed.push(NotPlaced {
                hosts: vec![host],
                reason: if slots.is_empty() {
                    "no open window slot in the planning horizon".into()
                } else {
                    format!(
                        "needs {} to apply and {} to roll back; the largest slot in the horizon offers {} usable and a {} rollback buffer",
                        format_duration(e.apply_seconds),
                        format_duration(e.rollback_seconds),
                        format_duration(largest_usable),
                        format_duration(largest_buffer)
                    )
                },
            });
        }
        if hosts.is_empty() {
            continue;
        }
        batch.hosts = hosts;
        let mut moved = 0usize;
        let mut first_move: Option<String> = None;
        let mut outcome = None;
        for (index, slot) in slots.iter().enumerate().skip(slot_index) {
            if slot.end <= cursor {
                continue;
            }
            let cap = capacities[index];
            let start = cursor.max(slot.start);
            let usable_end = slot.end
                - SignedDuration::from_secs(
                    (cap.rollback_buffer_seconds + rules.verification_seconds) as i64,
                );
            let remaining = u64::try_from(usable_end.as_second() - start.as_second()).unwrap_or(0);
            let (fit, rest): (Vec<usize>, Vec<usize>) = batch.hosts.iter().partition(|&&h| {
                estimates[h].apply_seconds <= remaining
                    && estimates[h].rollback_seconds <= cap.rollback_buffer_seconds
            });
            if fit.is_empty() {
                moved += 1;
                if first_move.is_none() {
                    first_move = Some(move_reason(&batch.hosts, estimates, slot, remaining, cap));
                }
                continue;
            }
            outcome = Some((index, start, fit, rest, remaining, cap));
            break;
        }
        let Some((index, start, fit, rest, remaining, cap)) = outcome else {
            not_placed.push(NotPlaced {
                hosts: batch.hosts.clone(),
                reason: match first_move {
                    Some(reason) => format!("no slot left in the horizon; {reason}"),
                    None => "no open window slot left in the planning horizon".into(),
                },
            });
            continue;
        };
        if let Some(reason) = first_move {
            notes.push(if moved == 1 {
                format!("moved to the next slot: {reason}")
            } else {
                format!("moved past {moved} slots; first: {reason}")
            });
        }
        if !rest.is_empty() {
            let slow = rest
                .iter()
                .map(|h| estimates[*h].apply_seconds)
                .max()
                .unwrap_or(0);
            notes.push(format!(
                "split: {} of {} hosts fit the {} left in this slot; {} host(s) needing up to {} follow in the next batch",
                fit.len(),
                fit.len() + rest.len(),
                format_duration(remaining),
                rest.len(),
                format_duration(slow)
            ));
            queue.push_front((
                PendingBatch {
                    kind: batch.kind,
                    hosts: rest,
                },
                vec!["split from the previous batch (capacity)".into()],
            ));
        }
        if batch.kind == BatchKind::Wave && !canary_placed {
            batch.kind = BatchKind::Canary;
            notes.push("promoted to canary: the planned canary host(s) fit no slot".into());
        }
        canary_placed = true;
        let apply = fit
            .iter()
            .map(|h| estimates[*h].apply_seconds)
            .max()
            .unwrap_or(0);
        let rollback = fit
            .iter()
            .map(|h| estimates[*h].rollback_seconds)
            .max()
            .unwrap_or(0);
        let end = start + SignedDuration::from_secs((apply + rules.verification_seconds) as i64);
        let slot = slots[index];
        placed.push(Placed {
            kind: batch.kind,
            hosts: fit,
            window: slot.window.clone(),
            slot_start: slot.start,
            slot_end: slot.end,
            start,
            end,
            apply_seconds: apply,
            rollback_seconds: rollback,
            rollback_buffer_seconds: cap.rollback_buffer_seconds,
            usable_seconds: cap.usable_seconds,
            notes,
        });
        cursor = end;
        slot_index = index;
    }
    (placed, not_placed)
}

fn move_reason(
    hosts: &[usize],
    estimates: &[HostEstimate],
    slot: &WindowSlot,
    remaining: u64,
    cap: Capacity,
) -> String {
    let apply = hosts
        .iter()
        .map(|h| estimates[*h].apply_seconds)
        .min()
        .unwrap_or(0);
    let rollback = hosts
        .iter()
        .map(|h| estimates[*h].rollback_seconds)
        .min()
        .unwrap_or(0);
    if rollback > cap.rollback_buffer_seconds {
        format!(
            "slot {} ({}) has a {} rollback buffer, the batch needs {} to roll back",
            slot.start,
            slot.window,
            format_duration(cap.rollback_buffer_seconds),
            format_duration(rollback)
        )
    } else {
        format!(
            "slot {} ({}) has {} of usable time left, the batch needs {} to apply",
            slot.start,
            slot.window,
            format_duration(remaining),
            format_duration(apply)
        )
    }
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
