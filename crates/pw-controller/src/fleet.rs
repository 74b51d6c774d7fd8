//! The fleet document as the controller's source of truth for groups, environments, owners,
//! windows, policies and emergency flags (docs/fleet.md): apply (validated as a whole, every
//! problem with its path, before anything is stored; versioned and audited with the operator,
//! guarded by the expected version; a dry run returns the diff only), read, list versions, and
//! resolve the groups against the hosts the controller knows. Until a document is applied the
//! controller has no groups and ranks with the default priority policy.
//!
//! Use-cases over the store with the controller's `now` passed in. Re-ranking the stored
//! inventories after an apply is pw-server's (`findings.rs`, with the intelligence cache).

use std::collections::BTreeMap;

use jiff::Timestamp;
use pw_fleet::{Change, ChangeKind, FleetDocument, HostFacts, Resolution, parse_fleet};
use pw_priority::PriorityPolicy;
use pw_protocol::{
    FleetApplied, FleetChange, FleetVersionList, FleetVersionView, FleetView, GroupList,
    GroupMember, GroupView, HostRef, MembershipConflict,
};
use pw_store::{FleetRefusal, HostRow, Store, StoredFleet};

use crate::Refusal;

/// Validates `text` and, unless `dry_run`, stores it as the next version applied by `operator`
/// (when the current version is `expected_version`, if given). Invalid: every problem, nothing
/// stored. A dry run reports the same diff and refusals without storing.
pub async fn apply(
    store: &Store,
    now: Timestamp,
    operator: &str,
    text: &str,
    expected_version: Option<i64>,
    dry_run: bool,
) -> Result<FleetApplied, Refusal> {
    let document = FleetDocument::for_apply(text, now).map_err(|e| Refusal::FleetInvalid(e.0))?;
    let current = store.current_fleet().await?;
    let previous_version = current.as_ref().map_or(0, |c| c.version);
    if let Some(expected) = expected_version
        && expected != previous_version
    {
        let stale = FleetRefusal::Stale {
            expected,
            current: previous_version,
        };
        return Err(Refusal::FleetStale(stale.to_string()));
    }
    // The diff needs the stored text as TOML only: a stored version that a newer build would
    // refuse must not block applying its fix.
    let previous = current
        .as_ref()
        .map(|c| pw_fleet::document_table(&c.document))
        .transpose()
        .map_err(|e| anyhow::anyhow!("the stored fleet document: {e}"))?;
    let changes = pw_fleet::diff(previous.as_ref(), &document.table);
    let views: Vec<FleetChange> = changes.iter().map(change_view).collect();
    if dry_run {
        return Ok(FleetApplied {
            dry_run: true,
            previous_version,
            version: None,
            sha256: None,
            changes: views,
        });
    }
    let summary: Vec<String> = changes.iter().map(ToString::to_string).collect();
    let stored = store
        .apply_fleet(text, operator, Some(previous_version), &summary, now)
        .await
        .map_err(|error| match error.downcast_ref::<FleetRefusal>() {
            Some(stale) => Refusal::FleetStale(stale.to_string()),
            None => Refusal::Internal(error),
        })?;
    tracing::info!(
        version = stored.version,
        operator,
        changes = summary.len(),
        "fleet document applied"
    );
    Ok(FleetApplied {
        dry_run: false,
        previous_version,
        version: Some(stored.version),
        sha256: Some(stored.sha256),
        changes: views,
    })
}

/// The current document.
pub async fn current(store: &Store) -> Result<FleetView, Refusal> {
    let stored = store
        .current_fleet()
        .await?
        .ok_or(Refusal::FleetNotApplied)?;
    Ok(FleetView {
        version: stored.version,
        document: stored.document,
        sha256: stored.sha256,
        operator: stored.operator,
        applied_at: stored.applied_at,
        summary: stored.summary,
    })
}

/// Every applied version, newest first.
pub async fn versions(store: &Store) -> Result<FleetVersionList, Refusal> {
    let versions = store.fleet_versions().await?;
    Ok(FleetVersionList {
        versions: versions.into_iter().map(version_view).collect(),
    })
}

/// The current document's groups with their members among the known hosts, the conflicts and
/// the hosts in no group.
pub async fn groups(store: &Store) -> Result<GroupList, Refusal> {
    let hosts = store.hosts().await?;
    let Some((stored, document)) = current_document(store).await? else {
        return Ok(GroupList {
            fleet_version: None,
            groups: Vec::new(),
            conflicts: Vec::new(),
            ungrouped: hosts.iter().map(host_ref).collect(),
        });
    };
    let mut views: BTreeMap<&str, GroupView> = document
        .policy
        .groups
        .iter()
        .map(|(name, group)| {
            let view = GroupView {
                name: name.clone(),
                environment: group.environment.clone(),
                staging_counterpart: group.staging_counterpart.clone(),
                owners: group.owners.clone(),
                members: Vec::new(),
                conflicts: Vec::new(),
            };
            (name.as_str(), view)
        })
        .collect();
    let mut conflicts = Vec::new();
    let mut ungrouped = Vec::new();
    for host in &hosts {
        match document.resolve(facts(host)) {
            Resolution::Member { group, level } => {
                if let Some(view) = views.get_mut(group.as_str()) {
                    view.members.push(GroupMember {
                        host_id: host.id.clone(),
                        hostname: host.hostname.clone(),
                        matched_by: level.as_str().to_owned(),
                    });
                }
            }
            Resolution::Conflict { level, groups } => {
                let conflict = MembershipConflict {
                    host_id: host.id.clone(),
                    hostname: host.hostname.clone(),
                    level: level.as_str().to_owned(),
                    groups: groups.clone(),
                };
                for group in &groups {
                    if let Some(view) = views.get_mut(group.as_str()) {
                        view.conflicts.push(conflict.clone());
                    }
                }
                conflicts.push(conflict);
                ungrouped.push(host_ref(host));
            }
            Resolution::Ungrouped => ungrouped.push(host_ref(host)),
        }
    }
    Ok(GroupList {
        fleet_version: Some(stored.version),
        groups: views.into_values().collect(),
        conflicts,
        ungrouped,
    })
}

/// The host's group under `document`; none when it is in no group or in conflicting ones.
pub fn group_of(document: &FleetDocument, host: &HostRow) -> Option<String> {
    match document.resolve(facts(host)) {
        Resolution::Member { group, .. } => Some(group),
        _ => None,
    }
}

/// The current document, parsed; `None` before the first apply. A stored document was valid
/// when applied, so one that no longer reads (a newer build with stricter rules) is an
/// internal error naming its version.
pub async fn current_document(
    store: &Store,
) -> anyhow::Result<Option<(StoredFleet, FleetDocument)>> {
    let Some(stored) = store.current_fleet().await? else {
        return Ok(None);
    };
    let document = parse_stored(&stored)?;
    Ok(Some((stored, document)))
}

/// A stored document parsed (see [`current_document`] for why failing to is internal).
pub(crate) fn parse_stored(stored: &StoredFleet) -> anyhow::Result<FleetDocument> {
    parse_fleet(&stored.document).map_err(|e| {
        anyhow::anyhow!(
            "stored fleet document version {} does not read: {e}",
            stored.version
        )
    })
}

/// What ranking a host's findings uses at `now`: without a fleet document the default policy
/// and no group; with one, its `[priority]`, the host's group and the emergency flags covering
/// the host (docs/fleet.md, *Emergency flags*).
pub async fn ranking_policy(
    store: &Store,
    host_id: &str,
    now: Timestamp,
) -> anyhow::Result<(PriorityPolicy, Option<String>)> {
    let document = current_document(store).await?.map(|(_, document)| document);
    ranking_policy_in(document.as_ref(), store, host_id, now).await
}

/// [`ranking_policy`] under `document` (the current one, read once for a group of hosts:
/// `scan_group.rs`).
pub async fn ranking_policy_in(
    document: Option<&FleetDocument>,
    store: &Store,
    host_id: &str,
    now: Timestamp,
) -> anyhow::Result<(PriorityPolicy, Option<String>)> {
    // The host is read only when a document is applied (a feed import's re-rank reads this for
    // every host).
    let Some(document) = document else {
        return Ok((PriorityPolicy::default(), None));
    };
    let Some(host) = store.host(host_id).await? else {
        return Ok((PriorityPolicy::default(), None));
    };
    Ok(document.priority_for(facts(&host), now))
}

/// The hosts among `host_ids` that the current fleet document puts in a `production` group
/// (or whose conflicting candidate groups include one), as `id (hostname, group)`: production
/// changes go through an approved plan only (issue 9 item 5). Unknown ids are skipped (the
/// caller refuses them itself); none before the first apply.
pub async fn production_hosts(store: &Store, host_ids: &[String]) -> anyhow::Result<Vec<String>> {
    let Some((_, document)) = current_document(store).await? else {
        return Ok(Vec::new());
    };
    let production = |group: &str| {
        document
            .policy
            .groups
            .get(group)
            .is_some_and(|g| g.is_production())
    };
    let mut found = Vec::new();
    for id in host_ids {
        let Some(host) = store.host(id).await? else {
            continue;
        };
        let groups = match document.resolve(facts(&host)) {
            Resolution::Member { group, .. } => vec![group],
            Resolution::Conflict { groups, .. } => groups,
            Resolution::Ungrouped => Vec::new(),
        };
        if let Some(group) = groups.iter().find(|g| production(g)) {
            found.push(format!("{id} ({}, group {group})", host.hostname));
        }
    }
    Ok(found)
}

pub fn facts(host: &HostRow) -> HostFacts<'_> {
    HostFacts {
        hostname: &host.hostname,
        labels: &host.labels,
    }
}

fn host_ref(host: &HostRow) -> HostRef {
    HostRef {
        host_id: host.id.clone(),
        hostname: host.hostname.clone(),
    }
}

fn change_view(change: &Change) -> FleetChange {
    FleetChange {
        path: change.path.clone(),
        kind: match change.kind {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Changed => "changed",
        }
        .to_owned(),
        old: change.old.clone(),
        new: change.new.clone(),
        text: change.to_string(),
    }
}

fn version_view(stored: StoredFleet) -> FleetVersionView {
    FleetVersionView {
        version: stored.version,
        sha256: stored.sha256,
        operator: stored.operator,
        applied_at: stored.applied_at,
        summary: stored.summary,
    }
}
