//! Sending an inventory (docs/agent.md "Inventory deltas"): changes against the content the
//! controller last acknowledged when the agent holds one, the full report otherwise — and the
//! full report after all when the controller cannot apply the changes (it answers
//! `full_inventory_needed`: a restored database, another replica's newer report, a controller
//! that lost the base) or does not know deltas (an older controller answers 404). The agent
//! remembers a content only once an answer acknowledges its digest. pw-loadgen sends its
//! simulated inventories through [`send_inventory`] too.

use std::sync::Mutex;

use anyhow::Context;
use pw_protocol::{InventoryAck, InventoryContent, InventoryDelta, InventoryReport};

use crate::client::{self, Refused};

/// How a report went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InventoryForm {
    /// Only the changes (the controller applied them, or they were none).
    Delta,
    /// The full report (no acknowledged base).
    Full,
    /// The changes were refused (`full_inventory_needed`, or 404 from an older controller),
    /// then the full report went.
    DeltaThenFull,
}

/// Sends `delta` when there is one, else (or when it is not taken) the full report
/// `full_body` builds (JSON of an [`InventoryReport`]).
pub async fn send_inventory(
    http: &reqwest::Client,
    server: &str,
    delta: Option<&InventoryDelta>,
    full_body: impl FnOnce() -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<(InventoryAck, InventoryForm)> {
    let mut form = InventoryForm::Full;
    if let Some(delta) = delta {
        let request = http
            .post(format!("{server}/api/v1/agent/inventory/delta"))
            .json(delta);
        match client::send_json::<InventoryAck>(request).await {
            Ok(ack) if !ack.full_inventory_needed => return Ok((ack, InventoryForm::Delta)),
            Ok(_) => {}
            Err(error) if older_controller(&error) => {}
            Err(error) => return Err(error.context("inventory delta")),
        }
        form = InventoryForm::DeltaThenFull;
    }
    let body = full_body()?;
    let request = http
        .post(format!("{server}/api/v1/agent/inventory"))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    let ack = client::send_json(request)
        .await
        .context("inventory report")?;
    Ok((ack, form))
}

/// A controller from before deltas has no such route.
fn older_controller(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<Refused>()
        .is_some_and(|r| r.status == reqwest::StatusCode::NOT_FOUND)
}

/// What an agent remembers: the content the controller acknowledged, with its digest.
#[derive(Default)]
pub struct Acknowledged(Mutex<Option<(InventoryContent, String)>>);

impl Acknowledged {
    /// Sends `report` as a delta against the acknowledged content, or whole; remembers its
    /// content when the answer acknowledges it (and forgets the old base either way).
    pub async fn send(
        &self,
        http: &reqwest::Client,
        server: &str,
        report: &InventoryReport,
    ) -> anyhow::Result<(InventoryAck, InventoryForm)> {
        let content = InventoryContent::of_report(report);
        let digest = content.digest();
        let base = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        let delta = base.as_ref().map(|(base, base_digest)| {
            InventoryDelta::from_report(report, (base, base_digest), (&content, &digest))
        });
        let full = || serde_json::to_vec(report).context("encoding the inventory");
        let (ack, form) = send_inventory(http, server, delta.as_ref(), full).await?;
        if ack.acknowledges(&digest) {
            *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((content, digest));
        }
        Ok((ack, form))
    }
}
