//! The intelligence a scan starts from: the database's imported feeds when there are any,
//! else the snapshot embedded in the binary. Shared by `patchwarden scan` and the controller.

use std::path::Path;

use pw_model::{OsFamily, OsRelease};
use pw_store::Store;

use crate::{Parsed, Silent, load_from_store, parse_inputs, snapshot};

/// Where [`load_for_release`] found its data, in words for reports.
pub fn snapshot_source() -> String {
    "built-in snapshot (run `patchwarden feeds sync` for current data)".to_owned()
}

/// Loads advisories, KEV and EPSS for `os` from the database file at `db` when it exists and
/// holds advisories, else from the embedded snapshot. Returns the data and its source in words.
pub async fn load_for_release(db: &Path, os: &OsRelease) -> anyhow::Result<(Parsed, String)> {
    if db.exists() {
        let store = Store::open(db).await?;
        let stored = load_from_open_store(&store, os).await;
        store.close().await;
        if let Some(parsed) = stored? {
            return Ok((parsed, format!("database {}", db.display())));
        }
    }
    Ok((snapshot_for(os)?, snapshot_source()))
}

/// Like [`load_for_release`] on an already open store; `None` when it holds no advisories.
pub async fn load_from_open_store(store: &Store, os: &OsRelease) -> anyhow::Result<Option<Parsed>> {
    if store.counts().await?.advisories == 0 {
        return Ok(None);
    }
    Ok(Some(load_from_store(store, &ecosystem_prefixes(os)).await?))
}

/// The snapshot documents useful for this release (RPM advisories only for RPM systems).
pub fn snapshot_for(os: &OsRelease) -> anyhow::Result<Parsed> {
    let rpm = os.scheme() == pw_version::Scheme::Rpm;
    let inputs: Vec<_> = snapshot::inputs()?
        .into_iter()
        .filter(|i| i.origin.contains("almalinux") == rpm || !i.origin.contains("osv-"))
        .collect();
    parse_inputs(&inputs, &Silent)
}

/// The OSV ecosystem prefixes stored advisories are loaded by for this release.
pub fn ecosystem_prefixes(os: &OsRelease) -> Vec<&'static str> {
    match os.family {
        OsFamily::Debian => vec!["Debian:"],
        OsFamily::Ubuntu => vec!["Ubuntu:"],
        OsFamily::AlmaLinux => vec!["AlmaLinux:"],
        OsFamily::Rocky => vec!["Rocky Linux:"],
        OsFamily::Rhel => vec!["Red Hat:"],
    }
}
