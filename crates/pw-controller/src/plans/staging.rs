//! The staging evidence of the approval gate (DESIGN.md §4): the host changes the rollout
//! engine finished (`Store::change_results`: passed or failed, with or without a passed
//! rollback drill) on hosts the fleet document puts in a non-production group, as pw-planner's
//! `StagingRun`s.

use std::collections::HashMap;

use pw_fleet::FleetDocument;
use pw_planner::StagingRun;
use pw_store::HostRow;

use crate::fleet::facts;
use crate::{Controller, Refusal};

/// The runs of every non-production group under `document`, for the enrolled `hosts` (the
/// caller has read them already).
pub async fn runs(
    controller: &Controller,
    document: &FleetDocument,
    hosts: &[HostRow],
) -> Result<Vec<StagingRun>, Refusal> {
    let store = &controller.store;
    let by_id: HashMap<&str, _> = hosts.iter().map(|h| (h.id.as_str(), h)).collect();
    let results = store.change_results().await?;
    let group_of = |host_id: &str| {
        let host = by_id.get(host_id)?;
        let group = document.resolve(facts(host)).group()?.to_owned();
        let policy = document.policy.groups.get(&group)?;
        (!policy.is_production()).then_some(group)
    };
    Ok(pw_planner::staging::staging_runs(&results, group_of))
}
