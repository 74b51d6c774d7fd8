//! A pass's hosts of one rollout, kept between passes (issue 15: per-batch overhead ≤ 50 ms at
//! 10,000 hosts). The scheduler keeps each active rollout's hosts as its last pass left them —
//! their parsed states, lock versions and last commands — with the totals of their versions.
//! A pass compares them with the sum the rollout's row keeps (`RolloutRow::host_versions`,
//! read with the row: no statement of its own); when they are equal no host's state was
//! written since (a version only grows and no host leaves a rollout), and the pass reads only
//! the outcomes of the commands still in flight
//! (`finished_commands`): a pass over a rollout of 10,000 hosts reads the ~1,000 of its batch,
//! not 10,000 rows, and clones nothing. Otherwise (an operator's action, another replica, a
//! write that lost its lock) it reads every host's version with its last command's outcome and
//! parses the states of only the hosts whose version moved (`rollout_pass_hosts`).
//!
//! Passes run one at a time, so a pass takes its rollout's hosts out of the cache and gives
//! them back when it is done (`HostStates::keep`); a pass that fails midway gives nothing back
//! and the next one reads the rollout again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use pw_rollout::{HostChange, HostId, RolloutPlan};
use pw_store::RolloutRow;

use super::Loaded;
use crate::Controller;

/// A rollout's hosts as a pass left them, the sum of their versions then, and how many of
/// their commands were in flight.
struct Kept {
    hosts: BTreeMap<HostId, Loaded>,
    versions: i64,
    in_flight: usize,
}

/// Commands in flight above which a rollout's wave is large: its results are gathered
/// (`scheduler.rs`) until the wave's last is in, or for at most the gathering's time. Below it
/// (a rolling rollout's few slots) every result gets its pass at once, as it may free a slot.
pub(super) const LARGE_WAVE: usize = 32;

/// What the scheduler keeps of the active rollouts between passes, by rollout: their hosts as
/// the last passes left them, and their plans parsed (a plan never changes once stored; at
/// 10,000 hosts it is ~1 MB of JSON).
#[derive(Default)]
pub struct HostStates {
    hosts: Mutex<HashMap<String, Kept>>,
    plans: Mutex<HashMap<String, Arc<Parsed>>>,
    /// The rollouts in a large wave: one that had more than [`LARGE_WAVE`] commands in flight
    /// at the end of a pass, until a pass ends with none (its tail stays large).
    large: Mutex<std::collections::HashSet<String>>,
}

/// A rollout's plan as stored and parsed, with each host's group in it.
pub(crate) struct Parsed {
    pub(crate) plan: Arc<RolloutPlan>,
    pub(super) groups: Arc<BTreeMap<HostId, String>>,
    /// Its gates' per-host part under the fleet of the last pass (`gates.rs`).
    pub(crate) host_gates: Mutex<Option<Arc<crate::gates::HostGates>>>,
}

impl HostStates {
    fn take(&self, rollout: &str) -> Option<Kept> {
        self.hosts.lock().expect("host states lock").remove(rollout)
    }

    /// Reads and parses the plans of `rollouts` not kept yet (a plan never changes once
    /// stored: each is read once while its rollout is active). A plan that cannot be read
    /// fails its own rollout's pass only ([`HostStates::plan`] says why).
    pub(super) async fn load_plans(&self, store: &pw_store::Store, rollouts: &[RolloutRow]) {
        for row in rollouts {
            if self.plans.lock().expect("plans lock").contains_key(&row.id) {
                continue;
            }
            match parsed_plan(store, &row.id).await {
                Ok(parsed) => {
                    let parsed = Arc::new(parsed);
                    (self.plans.lock().expect("plans lock")).insert(row.id.clone(), parsed);
                }
                Err(error) => {
                    let error = format!("{error:#}");
                    tracing::warn!(rollout = %row.id, error, "rollout plan unreadable");
                }
            }
        }
    }

    /// The rollout's plan, parsed ([`HostStates::load_plans`] read it this pass).
    pub(crate) fn plan(&self, rollout: &str) -> anyhow::Result<Arc<Parsed>> {
        (self.plans.lock().expect("plans lock").get(rollout).cloned())
            .with_context(|| format!("the plan of rollout {rollout} is not loaded"))
    }

    /// Gives a rollout's hosts back after a pass: as the pass wrote them (each successful
    /// write one version more), so their sum is the database's unless someone else wrote.
    pub(super) fn keep(&self, rollout: &str, hosts: BTreeMap<HostId, Loaded>) {
        let versions = hosts.values().map(|h| h.version).sum();
        let in_flight = (hosts.values())
            .filter(|h| h.command_id.is_some() && h.finished.is_none())
            .count();
        let mut large = self.large.lock().expect("waves lock");
        if in_flight > LARGE_WAVE {
            large.insert(rollout.to_owned());
        } else if in_flight == 0 {
            large.remove(rollout);
        }
        drop(large);
        let kept = Kept {
            hosts,
            versions,
            in_flight,
        };
        (self.hosts.lock().expect("host states lock")).insert(rollout.to_owned(), kept);
    }

    /// The commands still in flight, when their passes ended, of the kept rollouts in a large
    /// wave: the results a woken pass gathers (0: none, a pass at once).
    pub(super) fn in_large_waves(&self) -> usize {
        let hosts = self.hosts.lock().expect("host states lock");
        let large = self.large.lock().expect("waves lock");
        (hosts.iter())
            .filter(|(id, _)| large.contains(*id))
            .map(|(_, kept)| kept.in_flight)
            .sum()
    }

    /// Forgets the rollouts that are no longer active.
    pub(super) fn keep_only<'a>(&self, active: impl Iterator<Item = &'a str>) {
        let active: std::collections::HashSet<&str> = active.collect();
        let mut hosts = self.hosts.lock().expect("host states lock");
        hosts.retain(|id, _| active.contains(id.as_str()));
        let mut plans = self.plans.lock().expect("plans lock");
        plans.retain(|id, _| active.contains(id.as_str()));
        let mut large = self.large.lock().expect("waves lock");
        large.retain(|id| active.contains(id.as_str()));
    }
}

/// The rollout's hosts as stored now (taken out of the cache: give them back with
/// [`HostStates::keep`]).
pub(super) async fn load_hosts(
    state: &Controller,
    row: &RolloutRow,
) -> anyhow::Result<BTreeMap<HostId, Loaded>> {
    let id = &row.id;
    let kept = state.host_states.take(id);
    match kept {
        Some(kept) if kept.versions == row.host_versions => {
            let mut hosts = kept.hosts;
            take_finished(state, &mut hosts).await?;
            Ok(hosts)
        }
        kept => read_all(state, id, kept.map(|k| k.hosts)).await,
    }
}

/// The outcomes of the hosts' commands still in flight, when they have finished.
async fn take_finished(
    state: &Controller,
    hosts: &mut BTreeMap<HostId, Loaded>,
) -> anyhow::Result<()> {
    let open: Vec<&str> = (hosts.values())
        .filter(|h| h.finished.is_none())
        .filter_map(|h| h.command_id.as_deref())
        .collect();
    if open.is_empty() {
        return Ok(());
    }
    let mut finished = state.store.finished_commands(&open).await?;
    for host in hosts.values_mut() {
        if host.finished.is_none()
            && let Some(command) = (host.command_id.as_ref()).and_then(|c| finished.remove(c))
        {
            host.finished = Some(command);
        }
    }
    Ok(())
}

/// Rollout `id`'s plan as stored, parsed, with each host's group in it.
async fn parsed_plan(store: &pw_store::Store, id: &str) -> anyhow::Result<Parsed> {
    let text = (store.rollout_plan(id).await?).with_context(|| format!("rollout {id} is gone"))?;
    let plan: RolloutPlan = pw_rollout::from_json(&text).context("stored plan")?;
    let groups = (plan.batches.iter())
        .flat_map(|b| b.hosts.iter().map(|h| (h.id.clone(), b.group.clone())))
        .collect();
    Ok(Parsed {
        plan: Arc::new(plan),
        groups: Arc::new(groups),
        host_gates: Mutex::default(),
    })
}

/// Every host of the rollout read again, the states of `before` kept where their version is
/// the stored one.
async fn read_all(
    state: &Controller,
    id: &str,
    before: Option<BTreeMap<HostId, Loaded>>,
) -> anyhow::Result<BTreeMap<HostId, Loaded>> {
    let mut before = before.unwrap_or_default();
    let known: HashMap<String, i64> = (before.iter())
        .map(|(host, loaded)| (host.0.clone(), loaded.version))
        .collect();
    let rows = state.store.rollout_pass_hosts(id, &known).await?;
    let mut hosts = BTreeMap::new();
    for row in rows {
        let host = HostId(row.host_id);
        let change: HostChange = match (&row.state, before.remove(&host)) {
            (Some(text), _) => pw_rollout::from_json(text)
                .with_context(|| format!("stored state of host {host}"))?,
            (None, Some(loaded)) => loaded.change,
            (None, None) => anyhow::bail!("host {host} of rollout {id} has no stored state"),
        };
        let loaded = Loaded {
            change,
            version: row.row_version,
            command_id: row.command_id,
            finished: row.finished,
        };
        hosts.insert(host, loaded);
    }
    Ok(hosts)
}
