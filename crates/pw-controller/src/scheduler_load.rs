//! A pass's hosts of one rollout: two queries (pw-store's `rollout_pass_hosts`: every host's
//! lock version with its last command's outcome, then the state JSON of only the hosts whose
//! version changed) and the states parsed since the last pass kept by version, so a pass over a
//! rollout of 9,000 hosts parses the few hosts that moved, not all of them (issue 15: per-batch
//! overhead), and finds finished results without a query per host. `row_version` grows with
//! every write of a host's state (the scheduler's and an operator's alike), so a kept state at
//! the stored version is the stored state.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use anyhow::Context;
use pw_rollout::{HostChange, HostId};

use super::Loaded;
use crate::Controller;

/// One rollout's parsed host states with the versions they were read at, by host.
type Kept = HashMap<String, (i64, HostChange)>;

/// The parsed host states of the active rollouts, by rollout.
#[derive(Default)]
pub struct HostStates(Mutex<HashMap<String, Kept>>);

impl HostStates {
    fn known(&self, rollout: &str) -> HashMap<String, i64> {
        let cache = self.0.lock().expect("host states lock");
        cache.get(rollout).map_or_else(HashMap::new, |hosts| {
            hosts.iter().map(|(h, (v, _))| (h.clone(), *v)).collect()
        })
    }

    /// Forgets the rollouts that are no longer active.
    pub(super) fn keep_only<'a>(&self, active: impl Iterator<Item = &'a str>) {
        let active: std::collections::HashSet<&str> = active.collect();
        let mut cache = self.0.lock().expect("host states lock");
        cache.retain(|id, _| active.contains(id.as_str()));
    }
}

/// The rollout's hosts as stored now.
pub(super) async fn load_hosts(
    state: &Controller,
    id: &str,
) -> anyhow::Result<BTreeMap<HostId, Loaded>> {
    let cache = &state.host_states;
    let rows = state.store.rollout_pass_hosts(id, &cache.known(id)).await?;
    let mut parsed = Vec::new();
    for row in &rows {
        if let Some(text) = &row.state {
            let change: HostChange = pw_rollout::from_json(text)
                .with_context(|| format!("stored state of host {}", row.host_id))?;
            parsed.push((row.host_id.clone(), (row.row_version, change)));
        }
    }
    let mut all = cache.0.lock().expect("host states lock");
    let kept = all.entry(id.to_owned()).or_default();
    kept.extend(parsed);
    let mut hosts = BTreeMap::new();
    for row in rows {
        let Some((_, change)) = kept.get(&row.host_id) else {
            anyhow::bail!("host {} of rollout {id} has no stored state", row.host_id);
        };
        hosts.insert(
            change.host.clone(),
            Loaded {
                change: change.clone(),
                version: row.row_version,
                command_id: row.command_id,
                finished: row.finished,
            },
        );
    }
    Ok(hosts)
}
