//! How an inventory's package list is stored (migration 0034): pw-protocol's canonical form
//! (`InventoryContent::encode`, a JSON array of `[name, arch, version, source,
//! source_version]` in key order) compressed behind a one-byte format tag, with the content's
//! digest in its own column. The compression: DEFLATE (`deflate.rs`, tag 1, since 0034), or zstd
//! against a dictionary of package lists (tag 2, then the dictionary's number: `zdict.rs`,
//! since 0040); a row keeps the form it was written in until the host's list changes. Rows
//! written before 0034 hold the old JSON list of packages (first byte `[`) and no digest until
//! [`Store::convert_legacy_inventories`] (run on open) rewrites them; reading understands all.

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::Context;
use pw_model::InstalledPackage;
use pw_protocol::{BackportHistory, EncodedContent, InventoryContent};
use sqlx::Row;

use crate::controller::{InventoryFacts, InventoryRow};
use crate::{Store, parse_time, zdict};

/// The format tag of a compressed canonical package list (0034).
const DEFLATED_CANONICAL: u8 = 1;

/// The format tag of a canonical package list compressed with zstd against a dictionary of
/// package lists (`zdict.rs`, `PACKAGES`; the dictionary's number follows the tag).
const ZSTD_CANONICAL: u8 = 2;

/// Rows converted per transaction by [`Store::convert_legacy_inventories`].
const CONVERT_BATCH: i64 = 200;

/// A content ready to store: the compressed package list, its digest and count, the history
/// as its column holds it.
#[derive(Debug, Clone)]
pub(crate) struct PreparedContent {
    pub blob: Vec<u8>,
    pub digest: String,
    pub count: usize,
    pub history: Option<String>,
}

/// Compressed lists kept before the cache starts over: a bound on memory (a 1,500-package
/// list is ~90 KB canonical, ~10 KB compressed: ~800 lists).
const PACKED_BYTES: usize = 8 << 20;

/// Package lists this process compressed, by content digest (which names the canonical list:
/// pw-protocol's `InventoryContent::encode` hashes it whole). Hosts of a fleet report the same
/// lists — one image, the same upgrades applied the same day — and a list is compressed once
/// for all of them (~1.8 ms at level 6 on the ingest path) instead of once a host.
#[derive(Debug, Default)]
pub(crate) struct PackCache(Mutex<Packed>);

#[derive(Debug, Default)]
struct Packed {
    blobs: HashMap<String, Vec<u8>>,
    bytes: usize,
}

impl PackCache {
    /// The compressed list of content `digest`, if this process packed it lately.
    fn get(&self, digest: &str) -> Option<Vec<u8>> {
        let packed = self.0.lock().expect("package list cache");
        packed.blobs.get(digest).cloned()
    }

    /// Remembers the compressed list of content `digest` (one larger than the bound is not kept).
    fn keep(&self, digest: &str, blob: &[u8]) {
        if blob.len() > PACKED_BYTES {
            return;
        }
        let mut packed = self.0.lock().expect("package list cache");
        if packed.bytes + blob.len() > PACKED_BYTES {
            *packed = Packed::default();
        }
        packed.bytes += blob.len();
        packed.blobs.insert(digest.to_owned(), blob.to_vec());
    }
}

impl PreparedContent {
    /// Encodes and compresses `content` (CPU work: done before the write transaction); a list
    /// `packs` holds is not compressed again.
    pub fn new(content: &InventoryContent, packs: &PackCache) -> anyhow::Result<PreparedContent> {
        Self::of_encoded(content.encode(), content.backport_history(), packs)
    }

    /// [`Self::new`] of a full report's content, straight from its packages (sorted in place:
    /// `InventoryContent::encode_packages`).
    pub fn of_report(
        packages: &mut [InstalledPackage],
        history: Option<&BackportHistory>,
        packs: &PackCache,
    ) -> anyhow::Result<PreparedContent> {
        let encoded = InventoryContent::encode_packages(packages, history);
        Self::of_encoded(encoded, history, packs)
    }

    fn of_encoded(
        encoded: EncodedContent,
        history: Option<&BackportHistory>,
        packs: &PackCache,
    ) -> anyhow::Result<PreparedContent> {
        let EncodedContent {
            packages_json,
            digest,
            count,
        } = encoded;
        let blob = match packs.get(&digest) {
            Some(blob) => blob,
            None => {
                let blob = zdict::pack_tagged(&zdict::PACKAGES, ZSTD_CANONICAL, &packages_json)
                    .context("compressing the packages")?;
                packs.keep(&digest, &blob);
                blob
            }
        };
        Ok(PreparedContent {
            blob,
            digest,
            count,
            history: history.map(serde_json::to_string).transpose()?,
        })
    }
}

/// The stored content from the `packages` and `backport_history` columns.
pub(crate) fn decode(blob: &[u8], history: Option<&str>) -> anyhow::Result<InventoryContent> {
    let history: Option<BackportHistory> = history
        .map(serde_json::from_str)
        .transpose()
        .context("stored backport history unreadable")?;
    match blob.first() {
        Some(&ZSTD_CANONICAL) => {
            let json = zdict::unpack_tagged(&zdict::PACKAGES, &blob[1..])?;
            InventoryContent::decode(&json, history).context("stored inventory unreadable")
        }
        Some(&DEFLATED_CANONICAL) => {
            let json = crate::deflate::inflate(&blob[1..]).context("stored inventory")?;
            InventoryContent::decode(&json, history).context("stored inventory unreadable")
        }
        // Before migration 0034: the JSON list of `InstalledPackage`s.
        Some(b'[') => {
            let packages: Vec<InstalledPackage> =
                serde_json::from_slice(blob).context("stored inventory unreadable")?;
            Ok(InventoryContent::new(packages, history))
        }
        other => anyhow::bail!("stored inventory has an unknown format (tag {other:?})"),
    }
}

/// [`decode`] into the packages (in key order) and the history, without building the content's
/// map for the canonical forms (pw-protocol's `InventoryContent::decode_parts`).
pub(crate) fn decode_parts(
    blob: &[u8],
    history: Option<&str>,
) -> anyhow::Result<(Vec<InstalledPackage>, Option<BackportHistory>)> {
    let json = match blob.first() {
        Some(&ZSTD_CANONICAL) => zdict::unpack_tagged(&zdict::PACKAGES, &blob[1..])?,
        Some(&DEFLATED_CANONICAL) => {
            crate::deflate::inflate(&blob[1..]).context("stored inventory")?
        }
        _ => return Ok(decode(blob, history)?.into_parts()),
    };
    InventoryContent::decode_parts(&json, history_of(history)?)
        .context("stored inventory unreadable")
}

/// A stored inventory's backport history (`inventories.backport_history`), read.
pub(crate) fn history_of(history: Option<&str>) -> anyhow::Result<Option<BackportHistory>> {
    (history.map(serde_json::from_str).transpose()).context("stored backport history unreadable")
}

/// The packages of a stored inventory that `keep` takes (by name and source name), in key
/// order: the others are read but not copied (pw-protocol's
/// `InventoryContent::decode_packages_where`).
pub(crate) fn decode_packages_where(
    blob: &[u8],
    keep: impl FnMut(&str, Option<&str>) -> bool,
) -> anyhow::Result<Vec<InstalledPackage>> {
    let json = match blob.first() {
        Some(&ZSTD_CANONICAL) => zdict::unpack_tagged(&zdict::PACKAGES, &blob[1..])?,
        Some(&DEFLATED_CANONICAL) => {
            crate::deflate::inflate(&blob[1..]).context("stored inventory")?
        }
        _ => {
            let (packages, _) = decode(blob, None)?.into_parts();
            let mut keep = keep;
            return Ok((packages.into_iter())
                .filter(|p| keep(&p.name, p.source.as_deref()))
                .collect());
        }
    };
    InventoryContent::decode_packages_where(&json, keep).context("stored inventory unreadable")
}

/// An `inventories` row as [`Store::inventory_with_digest`] reads it, decoded.
pub(crate) fn inventory_of_row(
    r: &sqlx::any::AnyRow,
    host_id: &str,
) -> anyhow::Result<(InventoryRow, Option<String>)> {
    let blob: Vec<u8> = r.try_get("packages")?;
    let history: Option<String> = r.try_get("backport_history")?;
    let (packages, backport_history) = decode_parts(&blob, history.as_deref())
        .with_context(|| format!("the inventory of host {host_id}"))?;
    inventory_row_with(r, packages, backport_history)
}

/// [`inventory_of_row`] with only the packages `keep` takes (by name and source name).
pub(crate) fn inventory_of_row_where(
    r: &sqlx::any::AnyRow,
    host_id: &str,
    keep: impl FnMut(&str, Option<&str>) -> bool,
) -> anyhow::Result<(InventoryRow, Option<String>)> {
    let blob: Vec<u8> = r.try_get("packages")?;
    let history: Option<String> = r.try_get("backport_history")?;
    let packages = decode_packages_where(&blob, keep);
    let backport_history = history_of(history.as_deref());
    let context = || format!("the inventory of host {host_id}");
    inventory_row_with(
        r,
        packages.with_context(context)?,
        backport_history.with_context(context)?,
    )
}

/// An inventory row's facts and digest with its packages and history read.
fn inventory_row_with(
    r: &sqlx::any::AnyRow,
    packages: Vec<InstalledPackage>,
    backport_history: Option<BackportHistory>,
) -> anyhow::Result<(InventoryRow, Option<String>)> {
    Ok((
        InventoryRow {
            facts: InventoryFacts {
                collected_at: parse_time(&r.try_get::<String, _>("collected_at")?)?,
                os: r.try_get("os")?,
                reboot_required: crate::flag(r, "reboot_required")?,
                reboot_required_by: r.try_get("reboot_required_by")?,
                restart: r.try_get("restart")?,
            },
            packages,
            backport_history,
        },
        r.try_get("digest")?,
    ))
}

/// The inventories not compact yet, a batch of them (through the partial index
/// `inventories_unconverted` of migration 0039: constant time once every one is converted).
pub(crate) const UNCONVERTED: &str = "SELECT host_id, packages, backport_history FROM inventories
      WHERE digest IS NULL ORDER BY host_id LIMIT $1";

impl Store {
    /// Rewrites the inventories stored before migration 0034 (no digest yet) in the compact
    /// form, a batch per transaction; returns how many. Run on open; safe to run on several
    /// replicas at once (a row is rewritten only while it still has no digest).
    pub async fn convert_legacy_inventories(&self) -> anyhow::Result<u64> {
        let mut converted = 0;
        loop {
            let rows = sqlx::query(UNCONVERTED)
                .bind(CONVERT_BATCH)
                .fetch_all(self.pool())
                .await
                .context("reading inventories to convert")?;
            if rows.is_empty() {
                return Ok(converted);
            }
            let mut prepared = Vec::with_capacity(rows.len());
            for row in &rows {
                let host_id: String = row.try_get("host_id")?;
                let blob: Vec<u8> = row.try_get("packages")?;
                let history: Option<String> = row.try_get("backport_history")?;
                let content = decode(&blob, history.as_deref())
                    .with_context(|| format!("converting the inventory of host {host_id}"))?;
                prepared.push((host_id, PreparedContent::new(&content, &self.packs)?));
            }
            let mut tx = self.begin_immediate().await?;
            for (host_id, content) in &prepared {
                let done = sqlx::query(
                    "UPDATE inventories SET packages = $1, digest = $2, package_count = $3,
                            backport_history = $4
                      WHERE host_id = $5 AND digest IS NULL",
                )
                .bind(&content.blob)
                .bind(&content.digest)
                .bind(content.count as i64)
                .bind(&content.history)
                .bind(host_id)
                .execute(&mut *tx)
                .await
                .with_context(|| format!("converting the inventory of host {host_id}"))?;
                converted += done.rows_affected();
            }
            tx.commit()
                .await
                .context("committing converted inventories")?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, version: &str) -> InstalledPackage {
        InstalledPackage {
            name: name.into(),
            version: version.into(),
            arch: "amd64".into(),
            source: None,
            source_version: None,
        }
    }

    #[test]
    fn both_stored_forms_read_back() {
        let content = InventoryContent::new(
            vec![package("bash", "5.2.15-2+b2")],
            Some(BackportHistory::from([(
                "bash".into(),
                vec!["CVE-1".into()],
            )])),
        );
        let prepared = PreparedContent::new(&content, &PackCache::default()).unwrap();
        assert_eq!(prepared.blob[..2], [ZSTD_CANONICAL, 1]);
        let back = decode(&prepared.blob, prepared.history.as_deref()).unwrap();
        assert_eq!(back, content);
        assert_eq!(back.digest(), prepared.digest);
        // As 0034 stored it: DEFLATE behind tag 1.
        let json = content.encode().packages_json;
        let deflated =
            crate::deflate::deflate(DEFLATED_CANONICAL, &json, flate2::Compression::fast());
        let old = decode(&deflated.unwrap(), prepared.history.as_deref()).unwrap();
        assert_eq!(old, content);
        let legacy = br#"[{"name":"bash","version":"5.2.15-2+b2","arch":"amd64"}]"#;
        let old = decode(legacy, prepared.history.as_deref()).unwrap();
        assert_eq!(old, content);
        assert!(decode(b"", None).is_err());
        assert!(decode(&[1, 0xff, 0xff], None).is_err());
        assert!(
            decode(&[2, 9, 0xff], None).is_err(),
            "an unknown dictionary"
        );
        assert!(decode(&[2], None).is_err());
    }

    #[test]
    fn a_list_packed_once_is_taken_from_the_cache_until_it_starts_over() {
        let packs = PackCache::default();
        let content = InventoryContent::new(vec![package("bash", "5.2.15-2+b2")], None);
        let first = PreparedContent::new(&content, &packs).unwrap();
        let digest = first.digest.clone();
        assert_eq!(packs.get(&digest).as_deref(), Some(&first.blob[..]));
        // What the cache holds is what is stored: a planted blob proves the second is taken
        // from it, not compressed again.
        let planted = [ZSTD_CANONICAL, 1, 0xAA];
        packs
            .0
            .lock()
            .unwrap()
            .blobs
            .insert(digest.clone(), planted.to_vec());
        let second = PreparedContent::new(&content, &packs).unwrap();
        assert_eq!(
            (second.blob, second.digest),
            (planted.to_vec(), digest.clone())
        );
        // Another content is compressed: its own blob, read back as itself.
        let other = InventoryContent::new(vec![package("bash", "5.2.15-2+b3")], None);
        let packed = PreparedContent::new(&other, &packs).unwrap();
        assert_ne!(packed.digest, digest);
        assert_eq!(decode(&packed.blob, None).unwrap(), other);
        // Past the bound the cache starts over: it never holds more than its bytes.
        let big = vec![0; PACKED_BYTES / 2 + 1];
        packs.keep("sha256:big-1", &big);
        packs.keep("sha256:big-2", &big);
        let held = packs.0.lock().unwrap();
        assert!(held.bytes <= PACKED_BYTES, "{} bytes held", held.bytes);
        assert_eq!(held.blobs.len(), 1, "started over: only the last list");
        assert!(held.blobs.contains_key("sha256:big-2"));
        drop(held);
        packs.keep("sha256:huge", &vec![0; PACKED_BYTES + 1]);
        assert!(
            packs.get("sha256:huge").is_none(),
            "a list over the bound is not kept"
        );
        assert!(
            packs.get("sha256:big-2").is_some(),
            "nor does it empty the cache"
        );
    }
}
