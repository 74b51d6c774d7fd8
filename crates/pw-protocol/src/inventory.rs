//! Inventory deltas (issue 15, docs/agent.md "Inventory deltas"): what an inventory's content
//! is (one package per name × architecture, and the installed changelogs' CVE history), its
//! canonical bytes and its digest — **the one place digests are computed**, on the agent, on
//! the controller and in the load generator — and the delta between two contents.
//!
//! An agent that holds the content the controller acknowledged (the digest the controller
//! answered) sends an [`InventoryDelta`] against it: the packages added or changed, the keys
//! removed, the changed history entries, with the base's digest and the result's. The controller
//! applies it to its stored content only when its stored digest is the base and the result's
//! digest checks out; otherwise it answers [`InventoryAck::full_inventory_needed`] and the agent
//! sends a full [`InventoryReport`]. The stored content is the truth.

use std::collections::BTreeMap;

use jiff::Timestamp;
use pw_model::InstalledPackage;
use sha2::{Digest as _, Sha256};

use crate::{InventoryAck, InventoryReport, PendingUpdate, RestartStatus};

/// The installed changelogs' history: binary package → the CVE ids its installed version's
/// history names.
pub type BackportHistory = BTreeMap<String, Vec<String>>;

/// What identifies one installed package on a host (multiarch: `libc6` amd64 and i386 are two).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct PackageKey {
    pub name: String,
    pub arch: String,
}

impl PackageKey {
    pub fn of(package: &InstalledPackage) -> PackageKey {
        PackageKey {
            name: package.name.clone(),
            arch: package.arch.clone(),
        }
    }
}

/// The content deltas and digests are about. A package list naming one key twice keeps the
/// last entry (on both sides: the same rule builds every content).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InventoryContent {
    packages: BTreeMap<PackageKey, InstalledPackage>,
    backport_history: Option<BackportHistory>,
}

/// A content in its canonical form: what the controller stores (compressed) and what the
/// digest is taken over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedContent {
    /// The packages as a JSON array of `[name, arch, version, source, source_version]`
    /// (`null` for an absent source), in key order.
    pub packages_json: Vec<u8>,
    /// `sha256:` and 64 hex digits.
    pub digest: String,
    /// Distinct packages.
    pub count: usize,
}

/// One package in the canonical form (borrowed for encoding, owned for decoding).
type CanonicalRef<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>);
type Canonical = (String, String, String, Option<String>, Option<String>);

/// A package of the canonical form.
fn package_of((name, arch, version, source, source_version): Canonical) -> InstalledPackage {
    InstalledPackage {
        name,
        version,
        arch,
        source,
        source_version,
    }
}

/// A package of the canonical form, copied from its row.
fn owned((name, arch, version, source, source_version): CanonicalRef<'_>) -> InstalledPackage {
    InstalledPackage {
        name: name.to_owned(),
        version: version.to_owned(),
        arch: arch.to_owned(),
        source: source.map(str::to_owned),
        source_version: source_version.map(str::to_owned),
    }
}

/// The rows of [`EncodedContent::packages_json`] as [`InventoryContent::encode`] writes them —
/// compact, no string with an escape or a control character, in key order and unique — read
/// by hand with their strings borrowed (serde's visitors took most of a re-rank's reading of
/// ~1,500 rows); `None` for rows in any other form (then read by serde, which decides what
/// they hold).
fn ordered_plain_rows(json: &[u8]) -> Option<Vec<CanonicalRef<'_>>> {
    let mut rest = std::str::from_utf8(json).ok()?.strip_prefix('[')?;
    let mut rows: Vec<CanonicalRef<'_>> = Vec::new();
    if rest == "]" {
        return Some(rows);
    }
    loop {
        let (name, after) = plain(rest.strip_prefix('[')?)?;
        let (arch, after) = plain(after.strip_prefix(',')?)?;
        let (version, after) = plain(after.strip_prefix(',')?)?;
        let (source, after) = plain_or_null(after.strip_prefix(',')?)?;
        let (source_version, after) = plain_or_null(after.strip_prefix(',')?)?;
        if rows
            .last()
            .is_some_and(|last| (last.0, last.1) >= (name, arch))
        {
            return None;
        }
        rows.push((name, arch, version, source, source_version));
        match after.strip_prefix(']')? {
            "]" => return Some(rows),
            more => rest = more.strip_prefix(',')?,
        }
    }
}

/// A JSON string at the start of `text` without escapes or control characters, and what
/// follows it.
fn plain(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix('"')?;
    let end = rest
        .bytes()
        .position(|b| b == b'"' || b == b'\\' || b < 0x20)?;
    (rest.as_bytes()[end] == b'"').then(|| (&rest[..end], &rest[end + 1..]))
}

/// [`plain`], or `null`.
fn plain_or_null(text: &str) -> Option<(Option<&str>, &str)> {
    match text.strip_prefix("null") {
        Some(after) => Some((None, after)),
        None => plain(text).map(|(string, after)| (Some(string), after)),
    }
}

/// A package's row of the canonical form.
fn row_of(p: &InstalledPackage) -> CanonicalRef<'_> {
    (
        p.name.as_str(),
        p.arch.as_str(),
        p.version.as_str(),
        p.source.as_deref(),
        p.source_version.as_deref(),
    )
}

/// The canonical bytes of `rows` (in key order, unique) and the digest over them and `history`.
fn encode_rows(rows: &[CanonicalRef<'_>], history: Option<&BackportHistory>) -> EncodedContent {
    let packages_json = serde_json::to_vec(rows).expect("strings always serialize");
    let history = serde_json::to_vec(&history).expect("strings always serialize");
    let mut hash = Sha256::new();
    hash.update(b"patchwarden inventory 1\n");
    hash.update(&packages_json);
    hash.update(b"\n");
    hash.update(&history);
    EncodedContent {
        digest: format!("sha256:{}", hex::encode(hash.finalize())),
        count: rows.len(),
        packages_json,
    }
}

impl InventoryContent {
    pub fn new(
        packages: Vec<InstalledPackage>,
        backport_history: Option<BackportHistory>,
    ) -> InventoryContent {
        let packages = packages
            .into_iter()
            .map(|p| (PackageKey::of(&p), p))
            .collect();
        InventoryContent {
            packages,
            backport_history,
        }
    }

    /// A report's content (its packages and history, cloned).
    pub fn of_report(report: &InventoryReport) -> InventoryContent {
        InventoryContent::new(report.packages.clone(), report.backport_history.clone())
    }

    /// Reads [`EncodedContent::packages_json`] back.
    pub fn decode(
        packages_json: &[u8],
        backport_history: Option<BackportHistory>,
    ) -> Result<InventoryContent, serde_json::Error> {
        let rows: Vec<Canonical> = serde_json::from_slice(packages_json)?;
        let packages = rows.into_iter().map(package_of).collect();
        Ok(InventoryContent::new(packages, backport_history))
    }

    /// [`Self::decode`] into its parts ([`Self::into_parts`]) without building the map: the
    /// rows [`Self::encode`] writes are in key order and unique, so they are the packages in
    /// key order as read by hand (`ordered_plain_rows`; a scan reads a host's ~1,500 for
    /// every re-rank). Rows in another form are read through [`Self::decode`].
    pub fn decode_parts(
        packages_json: &[u8],
        backport_history: Option<BackportHistory>,
    ) -> Result<(Vec<InstalledPackage>, Option<BackportHistory>), serde_json::Error> {
        let Some(rows) = ordered_plain_rows(packages_json) else {
            return Ok(Self::decode(packages_json, backport_history)?.into_parts());
        };
        Ok((rows.into_iter().map(owned).collect(), backport_history))
    }

    /// The packages of [`Self::decode_parts`] that `keep` takes (by name and source name), in
    /// key order: the rows are read by hand with their strings borrowed and only those taken
    /// are copied (a feed import's re-rank needs the few of a host's ~1,500 it names). Rows in
    /// another form (not in key order, an escaped string) are read through
    /// [`Self::decode_parts`].
    pub fn decode_packages_where(
        packages_json: &[u8],
        mut keep: impl FnMut(&str, Option<&str>) -> bool,
    ) -> Result<Vec<InstalledPackage>, serde_json::Error> {
        let Some(rows) = ordered_plain_rows(packages_json) else {
            let (packages, _) = Self::decode_parts(packages_json, None)?;
            return Ok((packages.into_iter())
                .filter(|p| keep(&p.name, p.source.as_deref()))
                .collect());
        };
        Ok((rows.into_iter())
            .filter(|row| keep(row.0, row.3))
            .map(owned)
            .collect())
    }

    /// The canonical bytes and the digest: the one digest function of the protocol.
    pub fn encode(&self) -> EncodedContent {
        let rows: Vec<CanonicalRef<'_>> = self.packages.values().map(row_of).collect();
        encode_rows(&rows, self.backport_history.as_ref())
    }

    /// [`Self::encode`] of the content [`Self::new`] makes of `packages` and `history`, without
    /// making it: `packages` are sorted by key in place (a key named twice keeps its last
    /// entry, as in `new`). The controller encodes every full report for its digest; the
    /// content's map would copy every name and architecture for its keys.
    pub fn encode_packages(
        packages: &mut [InstalledPackage],
        history: Option<&BackportHistory>,
    ) -> EncodedContent {
        fn key(p: &InstalledPackage) -> (&str, &str) {
            (p.name.as_str(), p.arch.as_str())
        }
        // Stable: entries of one key stay in their order, the last one last.
        packages.sort_by(|a, b| key(a).cmp(&key(b)));
        let rows: Vec<CanonicalRef<'_>> = (packages.iter().enumerate())
            .filter(|(at, p)| packages.get(at + 1).is_none_or(|next| key(next) != key(p)))
            .map(|(_, p)| row_of(p))
            .collect();
        encode_rows(&rows, history)
    }

    /// [`Self::encode`]'s digest.
    pub fn digest(&self) -> String {
        self.encode().digest
    }

    pub fn package_count(&self) -> usize {
        self.packages.len()
    }

    pub fn packages(&self) -> impl Iterator<Item = &InstalledPackage> {
        self.packages.values()
    }

    pub fn backport_history(&self) -> Option<&BackportHistory> {
        self.backport_history.as_ref()
    }

    /// The packages in key order and the history.
    pub fn into_parts(self) -> (Vec<InstalledPackage>, Option<BackportHistory>) {
        (self.packages.into_values().collect(), self.backport_history)
    }

    /// What turns `self` into `new` ([`Self::apply`]).
    pub fn delta_to(&self, new: &InventoryContent) -> ContentDelta {
        let (changed, removed) = map_delta(&self.packages, &new.packages);
        let backport_history = new.backport_history.as_ref().map(|history| {
            let empty = BackportHistory::new();
            let base = self.backport_history.as_ref().unwrap_or(&empty);
            let (changed, removed) = map_delta(base, history);
            HistoryDelta {
                changed: changed
                    .into_iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                removed: removed.into_iter().cloned().collect(),
            }
        });
        ContentDelta {
            changed: changed.into_iter().map(|(_, p)| p.clone()).collect(),
            removed: removed.into_iter().cloned().collect(),
            backport_history,
        }
    }

    /// Applies `delta`: removals first, then the added and changed packages; the history
    /// follows the delta's (none in the delta: none in the result).
    pub fn apply(&mut self, delta: &ContentDelta) {
        for key in &delta.removed {
            self.packages.remove(key);
        }
        for package in &delta.changed {
            self.packages
                .insert(PackageKey::of(package), package.clone());
        }
        self.backport_history = delta.backport_history.as_ref().map(|changes| {
            let mut history = self.backport_history.take().unwrap_or_default();
            for binary in &changes.removed {
                history.remove(binary);
            }
            for (binary, cves) in &changes.changed {
                history.insert(binary.clone(), cves.clone());
            }
            history
        });
    }
}

/// The entries of `new` not equal in `old`, and the keys of `old` not in `new`.
fn map_delta<'a, K: Ord, V: PartialEq>(
    old: &'a BTreeMap<K, V>,
    new: &'a BTreeMap<K, V>,
) -> (Vec<(&'a K, &'a V)>, Vec<&'a K>) {
    let changed = new.iter().filter(|(k, v)| old.get(k) != Some(v)).collect();
    let removed = old.keys().filter(|k| !new.contains_key(k)).collect();
    (changed, removed)
}

/// The difference between two contents.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContentDelta {
    /// Packages added or changed (version, source) since the base: whole entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<InstalledPackage>,
    /// Packages no longer installed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<PackageKey>,
    /// `None` when the agent read no changelogs (the result has no history); otherwise the
    /// history's changes against the base's (a base without history counts as empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backport_history: Option<HistoryDelta>,
}

impl ContentDelta {
    /// Whether the packages are the base's (the history may still come or go).
    pub fn packages_unchanged(&self) -> bool {
        self.changed.is_empty() && self.removed.is_empty()
    }
}

/// Changes to the changelog history: entries set (whole) and binaries dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HistoryDelta {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub changed: BackportHistory,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
}

/// `POST /api/v1/agent/inventory/delta` (mTLS): an [`InventoryReport`] whose packages and
/// history are sent as changes against the content the controller acknowledged with
/// `base_digest`. Everything else is sent whole, as in the full report, with the same meaning.
/// The answer is an [`InventoryAck`]: `full_inventory_needed` when the controller's stored
/// content is not the base or the result's digest is not `digest`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InventoryDelta {
    pub protocol_version: u32,
    pub hostname: String,
    pub os: String,
    /// The digest of the content the changes apply to ([`InventoryAck::digest`] of an earlier
    /// report).
    pub base_digest: String,
    /// The digest of the content after the changes.
    pub digest: String,
    #[serde(default)]
    pub changes: ContentDelta,
    #[serde(default)]
    pub pending_updates: Option<Vec<PendingUpdate>>,
    pub reboot_required: bool,
    #[serde(default)]
    pub reboot_required_by: Vec<String>,
    pub collected_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartStatus>,
}

impl InventoryDelta {
    /// `report` as changes against `base` (acknowledged as `base_digest`); `digest` is the
    /// report's content's ([`InventoryContent::digest`], computed once by the caller).
    pub fn from_report(
        report: &InventoryReport,
        (base, base_digest): (&InventoryContent, &str),
        (content, digest): (&InventoryContent, &str),
    ) -> InventoryDelta {
        InventoryDelta {
            protocol_version: report.protocol_version,
            hostname: report.hostname.clone(),
            os: report.os.clone(),
            base_digest: base_digest.to_owned(),
            digest: digest.to_owned(),
            changes: base.delta_to(content),
            pending_updates: report.pending_updates.clone(),
            reboot_required: report.reboot_required,
            reboot_required_by: report.reboot_required_by.clone(),
            collected_at: report.collected_at,
            labels: report.labels.clone(),
            restart: report.restart.clone(),
        }
    }
}

impl InventoryAck {
    /// Whether this answer acknowledges the content with `digest` (the agent may send deltas
    /// against it from now on).
    pub fn acknowledges(&self, digest: &str) -> bool {
        !self.full_inventory_needed && self.digest.as_deref() == Some(digest)
    }
}

#[cfg(test)]
#[path = "inventory_tests.rs"]
mod tests;
