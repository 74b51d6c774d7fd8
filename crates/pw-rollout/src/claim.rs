//! Which hosts a running rollout claims now: the current batch's (in rolling mode also the
//! following waves' of its group), each through its group's health and window gates, within the
//! group's disruption budget.

use std::collections::BTreeMap;

use crate::block::BlockList;
use crate::gate::{WindowHold, window_allows};
use crate::host::{AsHostState, HostState};
use crate::model::HostId;
use crate::plan::{BatchKind, HostSpec, Mode, RolloutPlan};
use crate::rollout::{CarriedOver, Claim, Gates, RolloutDecision, WaitReason, state_in};

/// What the claim step needs from the rest of [`crate::decide`].
pub(crate) struct ClaimInput<'a, S> {
    pub plan: &'a RolloutPlan,
    pub current: usize,
    pub states: &'a BTreeMap<HostId, S>,
    pub blocks: &'a BlockList,
    pub gates: &'a Gates,
    /// Failures per batch that no operator accepted (and the policy does not ignore).
    pub unaccepted_failures: &'a [usize],
    /// Hosts an operator skipped.
    pub skipped: &'a BTreeMap<HostId, String>,
}

/// Batches to claim from: the current one; in rolling mode also the following waves of its
/// group, as long as no wave so far has an unaccepted failure (the stream stops at a failure
/// as strict batches do at a batch boundary).
fn drawn_batches<S>(input: &ClaimInput<'_, S>) -> Vec<usize> {
    let plan = input.plan;
    let current = &plan.batches[input.current];
    let mut drawn = vec![input.current];
    if plan.mode != Mode::Rolling || current.kind != BatchKind::Wave {
        return drawn;
    }
    if input.unaccepted_failures[input.current] > 0 {
        return drawn;
    }
    for (index, batch) in plan.batches.iter().enumerate().skip(input.current + 1) {
        if batch.kind != BatchKind::Wave || batch.group != current.group {
            break;
        }
        let early = |start| input.gates.now.is_none_or(|now| now < start);
        if !input.gates.emergency && batch.not_before.is_some_and(early) {
            break;
        }
        drawn.push(index);
        if input.unaccepted_failures[index] > 0 {
            break;
        }
    }
    drawn
}

/// Claims what may be claimed now into `decision`, or says why it waits.
pub(crate) fn claim_hosts<S: AsHostState>(
    input: &ClaimInput<'_, S>,
    decision: &mut RolloutDecision,
) {
    let ClaimInput {
        plan,
        current,
        states,
        blocks,
        gates,
        ..
    } = *input;
    let batch = &plan.batches[current];
    // A T0 emergency does not wait for the planned slot either (it is a window gate).
    if let Some(start) = batch.not_before
        && !gates.emergency
        && gates.now.is_none_or(|now| now < start)
    {
        decision.waiting.push(WaitReason::BatchNotStarted {
            batch: current + 1,
            start,
        });
        return;
    }
    if let Some(end) = batch.not_after
        && gates.now.is_none_or(|now| now > end)
    {
        decision.carried_over = Some(CarriedOver {
            batch: current + 1,
            planned_end: end,
        });
    }
    let budget = plan.budgets.get(&batch.group).copied().unwrap_or(0);
    let elsewhere = gates.busy_elsewhere.get(&batch.group).copied().unwrap_or(0);
    let holding = decision.slots.get(&batch.group).map_or(0, Vec::len);
    let mut free = budget.saturating_sub(holding.saturating_add(elsewhere));
    let mut holds: Vec<WindowHold> = Vec::new();
    let mut red: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut pending_left = false;
    'batches: for index in drawn_batches(input) {
        let candidates = plan.batches[index].hosts.iter().filter(|h| {
            matches!(state_in(states, &h.id), HostState::Pending { .. })
                && blocks.blocked(&h.targets).next().is_none()
                && !input.skipped.contains_key(&h.id)
        });
        for host in candidates {
            let group = gates.group_of(&host.id, &batch.group);
            if let Some(health) = gates.health.get(group)
                && !health.red.is_empty()
            {
                red.entry(group.to_owned())
                    .or_insert_with(|| health.red.clone());
                continue;
            }
            if let Err(wait) = window_gate(gates, group, host) {
                match holds
                    .iter_mut()
                    .find(|h| h.group == group && h.wait == wait)
                {
                    Some(hold) => hold.hosts.push(host.id.clone()),
                    None => holds.push(WindowHold {
                        group: group.to_owned(),
                        hosts: vec![host.id.clone()],
                        wait,
                    }),
                }
                continue;
            }
            if free == 0 {
                pending_left = true;
                break 'batches;
            }
            free -= 1;
            decision.claim.push(Claim {
                host: host.id.clone(),
                group: batch.group.clone(),
                batch: index + 1,
                targets: host.targets.clone(),
            });
        }
    }
    for (group, red) in red {
        decision.waiting.push(WaitReason::HealthGate { group, red });
    }
    decision
        .waiting
        .extend(holds.into_iter().map(WaitReason::Window));
    if pending_left {
        decision.waiting.push(WaitReason::BudgetFull {
            group: batch.group.clone(),
            budget,
            elsewhere,
            holders: decision
                .slots
                .get(&batch.group)
                .cloned()
                .unwrap_or_default(),
        });
    } else if decision.claim.is_empty() && decision.waiting.is_empty() {
        decision
            .waiting
            .push(WaitReason::BatchInProgress { batch: current + 1 });
    }
}

fn window_gate(gates: &Gates, group: &str, host: &HostSpec) -> Result<(), crate::WindowWait> {
    let Some(gate) = gates.windows.get(group) else {
        return Ok(());
    };
    let apply = gates.apply_seconds.get(&host.id).copied().unwrap_or(0);
    match gates.now {
        Some(now) => window_allows(gate, now, apply, gates.emergency),
        // Without a clock only an ungated group or an emergency may go.
        None if gates.emergency || *gate == crate::WindowGate::NoWindows => Ok(()),
        None => Err(crate::WindowWait::Closed {
            next: None,
            blackout: None,
        }),
    }
}
