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

/// The group's slots in time order with their capacities, and the largest of them.
struct Slots<'a> {
    slots: Vec<&'a WindowSlot>,
    capacities: Vec<Capacity>,
    largest_usable: u64,
    largest_buffer: u64,
}

impl<'a> Slots<'a> {
    fn new(slots: &'a [WindowSlot], rules: Rules) -> Slots<'a> {
        let mut slots: Vec<&WindowSlot> = slots.iter().filter(|s| s.end > s.start).collect();
        slots.sort_by(|a, b| (a.start, a.end, &a.window).cmp(&(b.start, b.end, &b.window)));
        let capacities: Vec<Capacity> = slots
            .iter()
            .map(|s| capacity(s, rules.verification_seconds, rules.buffer_percent))
            .collect();
        let largest = |f: fn(&Capacity) -> u64| capacities.iter().map(f).max().unwrap_or(0);
        Slots {
            largest_usable: largest(|c| c.usable_seconds),
            largest_buffer: largest(|c| c.rollback_buffer_seconds),
            slots,
            capacities,
        }
    }

    /// Whether no slot of the horizon can hold this host at all.
    fn never_fits(&self, e: HostEstimate) -> bool {
        e.apply_seconds > self.largest_usable || e.rollback_seconds > self.largest_buffer
    }

    /// Why a host no slot can hold is left out.
    fn never_reason(&self, e: HostEstimate) -> String {
        if self.slots.is_empty() {
            return "no open window slot in the planning horizon".into();
        }
        format!(
            "needs {} to apply and {} to roll back; the largest slot in the horizon offers {} usable and a {} rollback buffer",
            format_duration(e.apply_seconds),
            format_duration(e.rollback_seconds),
            format_duration(self.largest_usable),
            format_duration(self.largest_buffer)
        )
    }
}

/// The first slot (from `slot_index`, not before `cursor`) where some of the hosts fit.
struct Fit {
    index: usize,
    start: Timestamp,
    fit: Vec<usize>,
    rest: Vec<usize>,
    remaining: u64,
    cap: Capacity,
}

/// The search for a batch's slot: where it fits (if anywhere), and the slots it skipped.
struct Search {
    found: Option<Fit>,
    moved: usize,
    first_move: Option<String>,
}

fn find_slot(
    slots: &Slots<'_>,
    hosts: &[usize],
    estimates: &[HostEstimate],
    (cursor, slot_index): (Timestamp, usize),
    rules: Rules,
) -> Search {
    let mut search = Search {
        found: None,
        moved: 0,
        first_move: None,
    };
    for (index, slot) in slots.slots.iter().enumerate().skip(slot_index) {
        if slot.end <= cursor {
            continue;
        }
        let cap = slots.capacities[index];
        let start = cursor.max(slot.start);
        let usable_end = slot.end
            - SignedDuration::from_secs(
                (cap.rollback_buffer_seconds + rules.verification_seconds) as i64,
            );
        let remaining = u64::try_from(usable_end.as_second() - start.as_second()).unwrap_or(0);
        let (fit, rest): (Vec<usize>, Vec<usize>) = hosts.iter().partition(|&&h| {
            estimates[h].apply_seconds <= remaining
                && estimates[h].rollback_seconds <= cap.rollback_buffer_seconds
        });
        if fit.is_empty() {
            search.moved += 1;
            if search.first_move.is_none() {
                search.first_move = Some(move_reason(hosts, estimates, slot, remaining, cap));
            }
            continue;
        }
        search.found = Some(Fit {
            index,
            start,
            fit,
            rest,
            remaining,
            cap,
        });
        break;
    }
    search
}

/// Places `batches` (canary first) into `slots` (any order); `estimates[i]` belongs to host `i`.
pub fn place(
    batches: Vec<PendingBatch>,
    slots: &[WindowSlot],
    estimates: &[HostEstimate],
    rules: Rules,
) -> (Vec<Placed>, Vec<NotPlaced>) {
    let slots = Slots::new(slots, rules);
    let mut placed = Vec::new();
    let mut not_placed = Vec::new();
    let mut queue: std::collections::VecDeque<(PendingBatch, Vec<String>)> =
        batches.into_iter().map(|b| (b, Vec::new())).collect();
    let mut cursor = rules.not_before;
    let mut slot_index = 0usize;
    let mut canary_placed = false;
    while let Some((mut batch, mut notes)) = queue.pop_front() {
        let (never, hosts): (Vec<usize>, Vec<usize>) = batch
            .hosts
            .iter()
            .partition(|&&h| slots.never_fits(estimates[h]));
        not_placed.extend(never.into_iter().map(|host| NotPlaced {
            hosts: vec![host],
            reason: slots.never_reason(estimates[host]),
        }));
        if hosts.is_empty() {
            continue;
        }
        batch.hosts = hosts;
        let search = find_slot(&slots, &batch.hosts, estimates, (cursor, slot_index), rules);
        let Some(found) = search.found else {
            not_placed.push(NotPlaced {
                hosts: batch.hosts,
                reason: match search.first_move {
                    Some(reason) => format!("no slot left in the horizon; {reason}"),
                    None => "no open window slot left in the planning horizon".into(),
                },
            });
            continue;
        };
        if let Some(reason) = search.first_move {
            notes.push(if search.moved == 1 {
                format!("moved to the next slot: {reason}")
            } else {
                format!("moved past {} slots; first: {reason}", search.moved)
            });
        }
        if !found.rest.is_empty() {
            notes.push(split_note(&found, estimates));
            queue.push_front((
                PendingBatch {
                    kind: batch.kind,
                    hosts: found.rest.clone(),
                },
                vec!["split from the previous batch (capacity)".into()],
            ));
        }
        if batch.kind == BatchKind::Wave && !canary_placed {
            batch.kind = BatchKind::Canary;
            notes.push("promoted to canary: the planned canary host(s) fit no slot".into());
        }
        canary_placed = true;
        slot_index = found.index;
        let batch = record(batch.kind, found, &slots, estimates, rules, notes);
        cursor = batch.end;
        placed.push(batch);
    }
    (placed, not_placed)
}

/// The note of a batch split for capacity.
fn split_note(found: &Fit, estimates: &[HostEstimate]) -> String {
    let slow = found
        .rest
        .iter()
        .map(|h| estimates[*h].apply_seconds)
        .max()
        .unwrap_or(0);
    format!(
        "split: {} of {} hosts fit the {} left in this slot; {} host(s) needing up to {} follow in the next batch",
        found.fit.len(),
        found.fit.len() + found.rest.len(),
        format_duration(found.remaining),
        found.rest.len(),
        format_duration(slow)
    )
}

/// The placed batch: its hosts, slot, times and the slot's capacity.
fn record(
    kind: BatchKind,
    found: Fit,
    slots: &Slots<'_>,
    estimates: &[HostEstimate],
    rules: Rules,
    notes: Vec<String>,
) -> Placed {
    let longest = |f: fn(&HostEstimate) -> u64| {
        found
            .fit
            .iter()
            .map(|h| f(&estimates[*h]))
            .max()
            .unwrap_or(0)
    };
    let apply = longest(|e| e.apply_seconds);
    let rollback = longest(|e| e.rollback_seconds);
    let end = found.start + SignedDuration::from_secs((apply + rules.verification_seconds) as i64);
    let slot = slots.slots[found.index];
    Placed {
        kind,
        hosts: found.fit,
        window: slot.window.clone(),
        slot_start: slot.start,
        slot_end: slot.end,
        start: found.start,
        end,
        apply_seconds: apply,
        rollback_seconds: rollback,
        rollback_buffer_seconds: found.cap.rollback_buffer_seconds,
        usable_seconds: found.cap.usable_seconds,
        notes,
    }
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
