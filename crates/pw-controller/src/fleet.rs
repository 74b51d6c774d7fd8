//! The stored fleet document as the controller's use-cases read it (docs/fleet.md).

use pw_fleet::{FleetDocument, HostFacts, parse_fleet};
use pw_store::{HostRow, Store, StoredFleet};

/// The current document, parsed; `None` before the first apply. A stored document was valid
/// when applied, so one that no longer reads (a newer build with stricter rules) is an
/// internal error naming its version.
pub async fn current_document(
    store: &Store,
) -> anyhow::Result<Option<(StoredFleet, FleetDocument)>> {
    let Some(stored) = store.current_fleet().await? else {
        return Ok(None);
    };
    let document = parse_fleet(&stored.document).map_err(|e| {
        anyhow::anyhow!(
            "stored fleet document version {} does not read: {e}",
            stored.version
        )
    })?;
    Ok(Some((stored, document)))
}

/// What group resolution needs of a stored host.
pub fn facts(host: &HostRow) -> HostFacts<'_> {
    HostFacts {
        hostname: &host.hostname,
        labels: &host.labels,
    }
}
