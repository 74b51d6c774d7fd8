//! The periodic notification check (docs/notifications.md, *Events*): open findings whose
//! deadline is within the fleet document's `[notifications].deadline_near` (default 24 h) or
//! past, and agents not heard from for `[notifications].agent_silent` (default 30 min).
//!
//! Each is announced once: a finding episode once per notice (near, overdue) and an agent once
//! per silence (its last contact), marked in pw-store after the events are enqueued; the event
//! ids are stable too, so a pass repeated after a crash before the marks is still one message
//! per channel (the outbox key). A pass reads the time once, from the controller's clock (tests
//! move it), and handles at most [`MAX_FINDINGS`] findings per notice and [`MAX_SILENT`] hosts:
//! a backlog (a fleet's first pass) drains over several passes, oldest deadline first. A finding
//! covered by an accepted risk in force is marked without being announced.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use pw_fleet::FleetDocument;
use pw_model::{AcceptedRisk, Finding, Tier, acceptance_covers};
use pw_notify::{Detail, Event};
use pw_store::{DeadlineDue, DeadlineNotice, SilentHost};
use tokio::sync::watch;

use super::finding_events::advisory_names;
use crate::Controller;

/// How often the controller checks.
pub const PERIOD: Duration = Duration::from_secs(60);
/// Findings handled per notice and pass.
pub const MAX_FINDINGS: u32 = 500;
/// Silent agents handled per pass.
pub const MAX_SILENT: u32 = 200;

/// The events one pass enqueued, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchPass {
    pub deadline_near: usize,
    pub overdue: usize,
    pub silent: usize,
}

/// Checks every [`PERIOD`] until shutdown; a failed pass is logged and retried at the next.
pub async fn run(controller: Controller, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(error) = pass(&controller).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "notification check (deadlines, silent agents) failed"
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(PERIOD) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One check at the controller's time. Nothing is announced (or marked) before a fleet
/// document is applied: without one there are no routes.
pub async fn pass(controller: &Controller) -> anyhow::Result<WatchPass> {
    let Some((_, document)) = crate::fleet::current_document(&controller.store).await? else {
        return Ok(WatchPass::default());
    };
    let now = controller.now();
    let seconds = |s: u64| SignedDuration::from_secs(i64::try_from(s).unwrap_or(i64::MAX));
    let near_until = now.saturating_add(seconds(document.policy.deadline_near_seconds))?;
    let risks: Vec<AcceptedRisk> = controller.store.accepted_risks_in_force(now).await?;
    let mut groups = HostGroups::new(&document);
    let mut done = WatchPass::default();
    for (notice, after, before) in [
        (DeadlineNotice::Overdue, None, now),
        (DeadlineNotice::Near, Some(now), near_until),
    ] {
        let due = controller
            .store
            .deadlines_due(notice, after, before, MAX_FINDINGS)
            .await?;
        let events = deadline_events(controller, notice, &due, &risks, &mut groups, now).await?;
        let count = events.len();
        super::emit(controller, events).await;
        controller
            .store
            .mark_deadline_notices(notice, &due, now)
            .await?;
        match notice {
            DeadlineNotice::Near => done.deadline_near = count,
            DeadlineNotice::Overdue => done.overdue = count,
        }
    }
    let silent_since = now.saturating_sub(seconds(document.policy.agent_silent_seconds))?;
    let silent = controller
        .store
        .silent_hosts(silent_since, MAX_SILENT)
        .await?;
    let mut events = Vec::new();
    for host in &silent {
        events.push(silent_event(
            host,
            groups.of(controller, &host.host_id).await?,
            now,
        ));
    }
    done.silent = events.len();
    super::emit(controller, events).await;
    controller.store.mark_silence_notices(&silent, now).await?;
    Ok(done)
}

/// The hosts' groups under the current document, looked up once per host and pass.
struct HostGroups<'a> {
    document: &'a FleetDocument,
    known: HashMap<String, Option<String>>,
}

impl<'a> HostGroups<'a> {
    fn new(document: &'a FleetDocument) -> HostGroups<'a> {
        HostGroups {
            document,
            known: HashMap::new(),
        }
    }

    async fn of(&mut self, controller: &Controller, host_id: &str) -> anyhow::Result<Vec<String>> {
        if !self.known.contains_key(host_id) {
            let host = controller.store.host(host_id).await?;
            let group = host.and_then(|h| crate::fleet::group_of(self.document, &h));
            self.known.insert(host_id.to_owned(), group);
        }
        Ok(self.known[host_id].clone().into_iter().collect())
    }
}

/// One event per host and package among `due` (every advisory of the package's findings there,
/// the most urgent tier, the earliest deadline), leaving out findings an accepted risk covers.
async fn deadline_events(
    controller: &Controller,
    notice: DeadlineNotice,
    due: &[DeadlineDue],
    risks: &[AcceptedRisk],
    groups: &mut HostGroups<'_>,
    now: Timestamp,
) -> anyhow::Result<Vec<Event>> {
    let mut per_package: BTreeMap<(&str, String), Vec<(&DeadlineDue, Finding)>> = BTreeMap::new();
    for d in due {
        let finding: Finding = serde_json::from_str(&d.finding)?;
        let accepted = risks.iter().any(|r| {
            r.applies_to_host(&d.host_id)
                && acceptance_covers(&r.advisory, r.package.as_deref(), &finding)
        });
        if !accepted {
            let key = (d.host_id.as_str(), finding.binary.clone());
            per_package.entry(key).or_default().push((d, finding));
        }
    }
    let mut events = Vec::new();
    for ((host_id, package), found) in per_package {
        let first = found
            .iter()
            .min_by_key(|(d, _)| (d.deadline, d.advisory.clone()))
            .map(|(d, _)| *d)
            .expect("a group has a finding");
        let mut advisories: Vec<String> =
            found.iter().flat_map(|(_, f)| advisory_names(f)).collect();
        advisories.sort();
        advisories.dedup();
        let (host, deadline) = (first.hostname.clone(), first.deadline);
        let package = package.clone();
        let detail = match notice {
            DeadlineNotice::Near => Detail::DeadlineNear {
                host,
                package: package.clone(),
                deadline,
                advisories,
            },
            DeadlineNotice::Overdue => Detail::Overdue {
                host,
                package: package.clone(),
                deadline,
                advisories,
            },
        };
        let tier = found.iter().map(|(_, f)| f.tier).min().unwrap_or(Tier::T4);
        events.push(Event {
            id: format!(
                "finding:{host_id}:{package}:{}:{}:{}",
                notice.as_str(),
                first.advisory,
                first.episode
            ),
            at: now,
            groups: groups.of(controller, host_id).await?,
            tier: Some(tier),
            detail,
        });
    }
    Ok(events)
}

/// `agent.silent` for one silence (its id names the last contact: a later silence of the same
/// agent is another event).
fn silent_event(host: &SilentHost, groups: Vec<String>, now: Timestamp) -> Event {
    Event {
        id: format!(
            "agent:{}:silent:{}",
            host.host_id,
            host.last_seen.as_millisecond()
        ),
        at: now,
        groups,
        tier: None,
        detail: Detail::AgentSilent {
            host: host.hostname.clone(),
            last_seen: host.last_seen,
        },
    }
}
