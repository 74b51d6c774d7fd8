//! Inventory reports (mTLS): `POST /api/v1/agent/inventory` (the full report, every agent
//! version) and `POST /api/v1/agent/inventory/delta` (changes against the content the
//! controller acknowledged; docs/agent.md "Inventory deltas"). Both answer the stored content's
//! digest; a delta that does not apply answers `full_inventory_needed` and stores nothing.
//! Findings are computed in the background (`scan_queue.rs`), only for a changed inventory.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use pw_model::OsRelease;
use pw_protocol::{InventoryAck, InventoryDelta, InventoryReport, PendingUpdate, RestartStatus};
use pw_store::{ContentChange, InventoryFacts, InventoryRow, InventoryStored, PendingRow};

use super::agent::{AgentHost, check_protocol, checked_hostname};
use crate::error::{ApiError, ApiJson};
use crate::state::AppState;

/// What both report forms send whole, checked.
struct Checked {
    hostname: String,
    facts: InventoryFacts,
    pending: Option<Vec<PendingRow>>,
}

/// The parts of a report (full or delta) besides its content.
struct Sent<'a> {
    protocol_version: u32,
    hostname: &'a str,
    os: &'a str,
    pending_updates: Option<&'a [PendingUpdate]>,
    reboot_required: bool,
    reboot_required_by: &'a [String],
    collected_at: jiff::Timestamp,
    labels: Option<&'a BTreeMap<String, String>>,
    restart: Option<&'a RestartStatus>,
}

fn check(sent: &Sent<'_>) -> Result<Checked, ApiError> {
    check_protocol(sent.protocol_version)?;
    let hostname = checked_hostname(sent.hostname)?.to_owned();
    let os = OsRelease::parse(sent.os).map_err(|e| ApiError::InvalidBody(e.to_string()))?;
    if let Some(labels) = sent.labels {
        pw_model::check_labels(labels).map_err(|e| ApiError::InvalidLabel(e.to_string()))?;
    }
    if let Some(restart) = sent.restart {
        pw_rollout::Aftercare::try_from(restart)
            .map_err(|e| ApiError::InvalidBody(format!("restart.{e}")))?;
    }
    let pending = sent
        .pending_updates
        .map(|updates| updates.iter().map(PendingRow::from_update).collect())
        .transpose()?;
    let facts = InventoryFacts {
        collected_at: sent.collected_at,
        os: os.to_string(),
        reboot_required: sent.reboot_required,
        reboot_required_by: serde_json::to_string(sent.reboot_required_by)
            .map_err(anyhow::Error::from)?,
        restart: sent
            .restart
            .map(serde_json::to_string)
            .transpose()
            .map_err(anyhow::Error::from)?,
    };
    Ok(Checked {
        hostname,
        facts,
        pending,
    })
}

pub async fn full(
    State(state): State<AppState>,
    AgentHost(host_id): AgentHost,
    ApiJson(report): ApiJson<InventoryReport>,
) -> Result<Json<InventoryAck>, ApiError> {
    let checked = check(&Sent {
        protocol_version: report.protocol_version,
        hostname: &report.hostname,
        os: &report.os,
        pending_updates: report.pending_updates.as_deref(),
        reboot_required: report.reboot_required,
        reboot_required_by: &report.reboot_required_by,
        collected_at: report.collected_at,
        labels: report.labels.as_ref(),
        restart: report.restart.as_ref(),
    })?;
    // Labels first: the scan started below resolves the host's group from them.
    if let Some(labels) = &report.labels {
        state.store.set_host_labels(&host_id, labels).await?;
    }
    let row = InventoryRow {
        facts: checked.facts,
        packages: report.packages,
        backport_history: report.backport_history,
    };
    let stored = state
        .store
        .store_inventory(&host_id, &checked.hostname, row, checked.pending.as_deref())
        .await?;
    Ok(Json(acknowledge(&state, host_id, stored)))
}

pub async fn delta(
    State(state): State<AppState>,
    AgentHost(host_id): AgentHost,
    ApiJson(delta): ApiJson<InventoryDelta>,
) -> Result<Json<InventoryAck>, ApiError> {
    let checked = check(&Sent {
        protocol_version: delta.protocol_version,
        hostname: &delta.hostname,
        os: &delta.os,
        pending_updates: delta.pending_updates.as_deref(),
        reboot_required: delta.reboot_required,
        reboot_required_by: &delta.reboot_required_by,
        collected_at: delta.collected_at,
        labels: delta.labels.as_ref(),
        restart: delta.restart.as_ref(),
    })?;
    if let Some(labels) = &delta.labels {
        state.store.set_host_labels(&host_id, labels).await?;
    }
    let change = ContentChange {
        base: &delta.base_digest,
        result: &delta.digest,
        changes: &delta.changes,
    };
    let stored = state
        .store
        .store_inventory_delta(
            (&host_id, &checked.hostname),
            &checked.facts,
            change,
            checked.pending.as_deref(),
        )
        .await?;
    let Some(stored) = stored else {
        state.metrics.inventory_delta("full_inventory_needed");
        return Ok(Json(InventoryAck {
            host_id,
            packages: 0,
            digest: None,
            full_inventory_needed: true,
        }));
    };
    state.metrics.inventory_delta("applied");
    Ok(Json(acknowledge(&state, host_id, stored)))
}

/// Counts the report, queues its scan when its inventory changed, and answers.
fn acknowledge(
    state: &AppState,
    host_id: String,
    stored: pw_store::StoredInventory,
) -> InventoryAck {
    let changed = stored.outcome == InventoryStored::Changed;
    state
        .metrics
        .inventory_report(&host_id, stored.packages, changed);
    // The scan runs in the background (`scan_queue.rs`): the agent does not wait for it, and
    // an unchanged inventory needs none.
    if changed {
        state.scans.push(&host_id);
    }
    InventoryAck {
        host_id,
        packages: stored.packages,
        digest: Some(stored.digest),
        full_inventory_needed: false,
    }
}
