//! Evidence for the risk checklist, from the agents (issue 9 item 2): ask a host's agent to
//! collect it for exact targets (`collect_evidence`, a read-only command every agent runs), take
//! its answer — checked at the edge by the one wire → planner conversion, stored with the
//! command's result in one transaction — and hand the latest to the plan builder as planner
//! input ([`LatestEvidence::planner_input`]). Requests and results are audited.
//!
//! The routes (pw-server's `routes/evidence.rs`, `routes/agent.rs`) only parse, call it and
//! render; plans (`crate::plans`) read the latest evidence of their hosts.

use jiff::Timestamp;
use pw_planner::Evidence;
use pw_protocol::{
    Command, CommandResult, CommandStatus, EvidenceReport, MAX_EVIDENCE_TARGETS, PackagePin,
};
use pw_rollout::wire::{WireError, targets_from_pins};
use pw_store::{CommandState, FinishOutcome, NewCommand, NewEvidence};

use pw_store::Store;

use crate::Refusal;

/// The latest evidence a host's agent collected, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestEvidence {
    pub host_id: String,
    /// The `collect_evidence` command that brought it.
    pub command_id: String,
    pub targets: Vec<PackagePin>,
    /// The agent's time when it finished collecting.
    pub collected_at: Timestamp,
    /// When the controller stored it.
    pub received_at: Timestamp,
    pub report: EvidenceReport,
}

impl LatestEvidence {
    /// The planner's input (simulation, availability, conffiles, modified conffiles), through
    /// the one conversion `TryFrom<&EvidenceReport> for pw_planner::Evidence`.
    pub fn planner_input(&self) -> Result<Evidence, Refusal> {
        Evidence::try_from(&self.report).map_err(|e| {
            Refusal::Internal(anyhow::anyhow!(
                "stored evidence of host {} (command {}) no longer converts: {e}",
                self.host_id,
                self.command_id
            ))
        })
    }
}

/// Queues `collect_evidence` for exactly `targets` on a host (audited with `actor`); the
/// caller wakes its long-poll. Returns the command id. Read-only agents run it too.
pub async fn request_evidence(
    store: &Store,
    host_id: &str,
    targets: &[PackagePin],
    actor: &str,
) -> Result<String, Refusal> {
    if store.host(host_id).await?.is_none() {
        return Err(Refusal::HostNotFound(host_id.to_owned()));
    }
    let request = [(host_id.to_owned(), targets.to_vec())];
    let mut ids = request_evidence_many(store, &request, None, actor).await?;
    Ok(ids.pop().map(|(_, id)| id).unwrap_or_default())
}

/// Queues `collect_evidence` for each (enrolled host, targets) in one transaction, unless that
/// host already has an unfinished request for exactly those targets (whose id is returned
/// instead: asking twice only makes the agent work twice). Returns (host id, command id) in
/// the order given; the caller wakes the hosts' long-polls. A downgrade plan's local `archive`
/// is offered to apt on every host (docs/downgrade.md).
pub async fn request_evidence_many(
    store: &Store,
    requests: &[(String, Vec<PackagePin>)],
    archive: Option<&str>,
    actor: &str,
) -> Result<Vec<(String, String)>, Refusal> {
    let mut open = std::collections::HashMap::new();
    for (host, id, payload) in store.open_commands_of_kind("collect_evidence").await? {
        if let Ok(Command::CollectEvidence {
            targets,
            archive: a,
        }) = serde_json::from_str(&payload)
            && a.as_deref() == archive
        {
            open.insert((host, targets_key(&targets)), id);
        }
    }
    let mut out = Vec::with_capacity(requests.len());
    let mut queued = Vec::new();
    for (host_id, targets) in requests {
        if targets.is_empty() || targets.len() > MAX_EVIDENCE_TARGETS {
            return Err(Refusal::InvalidBody(format!(
                "targets: expected 1 to {MAX_EVIDENCE_TARGETS} packages"
            )));
        }
        targets_from_pins("targets", targets).map_err(invalid)?;
        if let Some(id) = open.get(&(host_id.clone(), targets_key(targets))) {
            out.push((host_id.clone(), id.clone()));
            continue;
        }
        let id = format!("cmd-{}", uuid::Uuid::now_v7());
        let command = Command::CollectEvidence {
            targets: targets.to_vec(),
            archive: archive.map(str::to_owned),
        };
        let payload = serde_json::to_string(&command).map_err(anyhow::Error::from)?;
        queued.push((host_id.clone(), id.clone(), command.kind(), payload));
        out.push((host_id.clone(), id));
    }
    let commands: Vec<NewCommand<'_>> = queued
        .iter()
        .map(|(host_id, id, kind, payload)| NewCommand {
            id,
            host_id,
            kind,
            payload_json: payload,
        })
        .collect();
    if !commands.is_empty() {
        store.create_commands(&commands, actor).await?;
    }
    Ok(out)
}

/// The evidence of each host for exactly its targets, where collected (one read for a plan).
pub async fn evidence_for_many(
    store: &Store,
    wanted: &[(String, Vec<PackagePin>)],
) -> Result<std::collections::HashMap<String, LatestEvidence>, Refusal> {
    let keys: Vec<(String, String)> = wanted
        .iter()
        .map(|(host, targets)| (host.clone(), targets_key(targets)))
        .collect();
    let pairs: Vec<(&str, &str)> = keys.iter().map(|(h, k)| (h.as_str(), k.as_str())).collect();
    let rows = store.evidence_for_many(&pairs).await?;
    rows.into_iter()
        .map(|(host, row)| Ok((host, latest(row)?)))
        .collect()
}

/// The host's most recently collected evidence (any target set), `None` when its agent never
/// answered a request.
pub async fn latest_evidence(
    store: &Store,
    host_id: &str,
) -> Result<Option<LatestEvidence>, Refusal> {
    if store.host(host_id).await?.is_none() {
        return Err(Refusal::HostNotFound(host_id.to_owned()));
    }
    let row = store.latest_evidence(host_id).await?;
    row.map(latest).transpose()
}

fn latest(row: pw_store::EvidenceRow) -> Result<LatestEvidence, Refusal> {
    let unreadable = |what: &str, e: serde_json::Error| {
        anyhow::anyhow!(
            "stored evidence {} of host {}: {what}: {e}",
            row.command_id,
            row.host_id
        )
    };
    Ok(LatestEvidence {
        targets: serde_json::from_str(&row.targets).map_err(|e| unreadable("targets", e))?,
        report: serde_json::from_str(&row.report).map_err(|e| unreadable("report", e))?,
        host_id: row.host_id.clone(),
        command_id: row.command_id.clone(),
        collected_at: row.collected_at,
        received_at: row.received_at,
    })
}

/// Takes an agent's result for one of its `collect_evidence` commands (`targets`, from the
/// stored command). A succeeded result must carry a report for exactly those targets that
/// converts to planner input; one that does not is refused naming the field
/// (`evidence.simulation.actions[3].package: …`), and the command ends `failed` with that
/// reason and no evidence, so the agent's retry is answered "already finished".
pub async fn record_evidence_result(
    store: &Store,
    host_id: &str,
    command_id: &str,
    targets: &[PackagePin],
    result: &CommandResult,
) -> Result<FinishOutcome, Refusal> {
    let status = CommandState::from(result.status);
    if result.status != CommandStatus::Succeeded {
        return Ok(store
            .finish_evidence_command(
                host_id,
                command_id,
                status,
                &result.message,
                result.finished_at,
                None,
            )
            .await?);
    }
    let checked = match result.evidence.as_deref() {
        None => Err(WireError {
            field: "evidence".into(),
            problem: "a succeeded collect_evidence result must carry its report".into(),
        }),
        Some(report) => check(report, targets).map(|()| report),
    };
    let report = match checked {
        Ok(report) => report,
        Err(error) => {
            let message = format!("evidence refused by the controller: {error}");
            let outcome = store
                .finish_evidence_command(
                    host_id,
                    command_id,
                    CommandState::Failed,
                    &message,
                    result.finished_at,
                    None,
                )
                .await?;
            return match outcome {
                FinishOutcome::Recorded => Err(Refusal::InvalidBody(error.to_string())),
                other => Ok(other),
            };
        }
    };
    let targets_json = serde_json::to_string(targets).map_err(anyhow::Error::from)?;
    let report_json = serde_json::to_string(report).map_err(anyhow::Error::from)?;
    let key = targets_key(targets);
    let evidence = NewEvidence {
        targets_key: &key,
        targets: &targets_json,
        collected_at: report.collected_at,
        report: &report_json,
    };
    Ok(store
        .finish_evidence_command(
            host_id,
            command_id,
            status,
            &result.message,
            result.finished_at,
            Some(&evidence),
        )
        .await?)
}

/// The report is for exactly the requested targets and converts to planner input.
fn check(report: &EvidenceReport, targets: &[PackagePin]) -> Result<(), WireError> {
    Evidence::try_from(report).map_err(|e| e.within("evidence"))?;
    if report.targets != targets {
        return Err(WireError {
            field: "evidence.targets".into(),
            problem: "differ from the command's targets".into(),
        });
    }
    Ok(())
}

/// One row per host and target set: the targets as sorted `name=version` lines.
fn targets_key(targets: &[PackagePin]) -> String {
    let mut lines: Vec<String> = targets
        .iter()
        .map(|t| format!("{}={}", t.name, t.version))
        .collect();
    lines.sort();
    lines.join("\n")
}

fn invalid(error: WireError) -> Refusal {
    Refusal::InvalidBody(error.to_string())
}
