//! Backups and snapshots the agents' protection providers took (docs/protection.md): kept from
//! each `apply_change` report when its result arrives (`protection_records`), and read back per
//! rollout host for `GET /api/v1/rollouts/{id}` and the console's rollout page.

use std::collections::BTreeMap;

use pw_protocol::{ChangeReport, Command, ProtectionRecordView};
use pw_store::Store;

/// Stores the records of `report`, the report of command `command_id` of host `host_id`. A
/// command that is not this host's `apply_change` stores nothing.
pub async fn record(
    store: &Store,
    host_id: &str,
    command_id: &str,
    report: &ChangeReport,
) -> anyhow::Result<()> {
    let records = ProtectionRecordView::from_report(report);
    if records.is_empty() {
        return Ok(());
    }
    let Some(command) = store.command(command_id).await? else {
        return Ok(());
    };
    if command.host_id != host_id {
        return Ok(());
    }
    let Ok(Command::ApplyChange { rollout, .. }) = serde_json::from_str(&command.payload) else {
        return Ok(());
    };
    store
        .record_protection(&rollout, host_id, command_id, &records)
        .await
}

/// A rollout's records by host id.
pub async fn by_host(
    store: &Store,
    rollout_id: &str,
) -> anyhow::Result<BTreeMap<String, Vec<ProtectionRecordView>>> {
    let mut out: BTreeMap<String, Vec<ProtectionRecordView>> = BTreeMap::new();
    for (host, record) in store.rollout_protection(rollout_id).await? {
        out.entry(host).or_default().push(record);
    }
    Ok(out)
}
