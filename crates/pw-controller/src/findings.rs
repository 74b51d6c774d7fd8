//! Findings of a reported inventory: the scan of `patchwarden scan`, run by the controller with
//! the database's feeds (or the embedded snapshot), cached per OS release until the next feed
//! import (`patchwarden feeds import|sync` while the controller runs). A use-case of the
//! controller: the scan queue's workers, a fleet apply's re-ranking and the API call it.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use anyhow::Context;
use jiff::Timestamp;
use pw_model::{Finding, InstalledPackage, OsRelease};
use pw_scan::{Intelligence, ScanContext, Upgrade};
use pw_store::{BackportedFinding, CurrentFinding, FindingsSnapshot, PendingRow, Recorded, Store};
use tokio::sync::Mutex;

/// Loaded intelligence per OS release (loading parses feeds once per release), each with the
/// last feed import it was loaded after: a newer import makes the next scan load again.
pub struct IntelligenceCache {
    store: Store,
    loaded: Mutex<HashMap<OsRelease, Loaded>>,
}

struct Loaded {
    import: Option<i64>,
    intelligence: Arc<(Intelligence, String)>,
}

impl IntelligenceCache {
    pub fn new(store: Store) -> IntelligenceCache {
        IntelligenceCache {
            store,
            loaded: Mutex::default(),
        }
    }

    /// The intelligence for `os` and where it came from.
    pub async fn for_release(&self, os: &OsRelease) -> anyhow::Result<Arc<(Intelligence, String)>> {
        // Read before the lock: scans of other hosts must not queue behind this query.
        let import = self.store.last_feed_import().await?;
        let mut loaded = self.loaded.lock().await;
        if let Some(found) = loaded.get(os)
            && found.import == import
        {
            return Ok(found.intelligence.clone());
        }
        let stored = pw_feeds::load_from_open_store(&self.store, os).await?;
        let os_owned = os.clone();
        let built = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let (mut parsed, source) = match stored {
                Some(parsed) => (parsed, "controller database".to_owned()),
                None => (
                    pw_feeds::snapshot_for(&os_owned)?,
                    pw_feeds::snapshot_source(),
                ),
            };
            let advisories = parsed.advisories();
            let intelligence = Intelligence::new(advisories, parsed.kev.as_ref(), &parsed.epss);
            Ok(Arc::new((intelligence, source)))
        })
        .await
        .context("loading advisories panicked")??;
        let entry = Loaded {
            import,
            intelligence: built.clone(),
        };
        loaded.insert(os.clone(), entry);
        Ok(built)
    }
}

/// What the agent read on the host besides its packages (issue 11): the installed changelogs'
/// history and the pending upgrades with the CVEs their candidate changelogs name.
#[derive(Debug, Clone, Default)]
pub struct HostEvidence {
    /// Binary → CVE ids named in its installed version's changelog history.
    pub history: HashMap<String, BTreeSet<String>>,
    pub upgrades: Vec<Upgrade>,
}

impl HostEvidence {
    /// The evidence as stored with the inventory: the history (`None`: not collected) and
    /// the pending rows (`None`: not reported).
    pub fn from_stored(
        history: Option<pw_protocol::BackportHistory>,
        pending: Option<&[PendingRow]>,
    ) -> anyhow::Result<HostEvidence> {
        let history = history
            .unwrap_or_default()
            .into_iter()
            .map(|(binary, cves)| (binary, cves.into_iter().collect()))
            .collect();
        let upgrades = pending
            .unwrap_or_default()
            .iter()
            .map(|row| {
                let cves = row
                    .cves
                    .as_deref()
                    .map(serde_json::from_str::<Vec<String>>)
                    .transpose()
                    .context("stored candidate CVEs unreadable")?;
                let origin = pw_inventory::apt::AptOrigin {
                    label: row.origin.clone(),
                    release: String::new(),
                    suite: row.suite.clone(),
                };
                Ok(Upgrade {
                    binary: row.package.clone(),
                    installed: row.from_version.clone(),
                    candidate: row.to_version.clone(),
                    suite: row.suite.clone(),
                    label: row.origin.clone(),
                    security: origin.is_security(),
                    cves,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(HostEvidence { history, upgrades })
    }
}

/// Why a stored inventory is scanned.
#[derive(Debug, Clone, Copy)]
pub enum Why<'a> {
    /// A new inventory or fleet document: the computation is recorded.
    Report,
    /// Feed imports (`Some`: what they changed; `None`: anything may have changed): a host they
    /// cannot touch is not scanned, and a ranking equal to the stored one is not written.
    Import(Option<&'a crate::rerank::Affected>),
}

/// What a scan of a stored inventory did.
#[derive(Debug)]
pub enum Scanned {
    /// Recorded: how many findings, with the events of the new T0/T1 ones (notifications).
    Stored(usize, Vec<pw_notify::Event>),
    /// The same ranking as stored (and nothing backported): nothing written.
    Unchanged(usize),
    /// A feed import's changes cannot touch the host (`rerank.rs`): not scanned.
    Untouched,
    /// No inventory, or a newer one arrived meanwhile: this computation is dropped.
    Dropped,
}

/// Scans one host's packages and records its findings, ranked, with their history: a finding
/// already open keeps its first sight (its deadline runs from the later of publication and first
/// sight), a new one is first seen `now`. With the host's `evidence`, findings whose CVEs the
/// installed changelog names are fixed by a backport (closed in the history with that reason)
/// and every pending upgrade not already ranked is a finding (pw-scan's `upgrade_findings`).
/// With `keep_equal`, a ranking equal to the stored one with no backported finding is not
/// written again (a feed import re-ranking a host it did not change costs no write; with
/// backported findings the history may need their episodes, so it is written).
#[allow(clippy::too_many_arguments)]
pub async fn compute_and_store(
    cache: &IntelligenceCache,
    store: &Store,
    host_id: &str,
    os: &OsRelease,
    packages: Vec<InstalledPackage>,
    evidence: HostEvidence,
    inventory_collected_at: Timestamp,
    now: Timestamp,
    keep_equal: bool,
) -> anyhow::Result<Scanned> {
    let loaded = cache.for_release(os).await?;
    let first_seen = store.first_sights(host_id).await?;
    // The fleet document's priority policy, the host's group and the emergency flags covering
    // it (the default policy and no group before a document is applied).
    let (policy, group) = crate::fleet::ranking_policy(store, host_id, now).await?;
    let host_group = group.clone();
    let os_owned = os.clone();
    let (findings, backported, source, first_seen) = tokio::task::spawn_blocking(move || {
        let (intelligence, source) = &*loaded;
        let context = ScanContext {
            policy: &policy,
            group: group.as_deref(),
            first_seen: Some(now),
            now,
        };
        let lookup = |binary: &str, advisory: &str| first_seen.get(binary, advisory);
        let mut matcher = intelligence.matcher(&os_owned, false);
        let findings = intelligence.scan_with_history(&mut matcher, &packages, &context, &lookup);
        let (mut findings, backported) = pw_scan::split_backported(findings, &evidence.history);
        let upgrades = intelligence.upgrade_findings(
            &evidence.upgrades,
            &packages,
            &findings,
            &context,
            &lookup,
        );
        findings.extend(upgrades);
        pw_scan::sort_findings(&mut findings);
        (findings, backported, source.clone(), first_seen)
    })
    .await
    .context("scanning panicked")?;
    let current = findings
        .iter()
        .map(CurrentFinding::of)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let backported = backported
        .iter()
        .map(|b| {
            Ok(BackportedFinding {
                finding: CurrentFinding::of(&b.finding)?,
                reason: b.reason.clone(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let findings_json = list_json(&current);
    if keep_equal
        && backported.is_empty()
        && let Some(stored) = store.findings(host_id).await?
        && stored.findings == findings_json
        && stored.source == source
    {
        return Ok(Scanned::Unchanged(findings.len()));
    }
    let snapshot = FindingsSnapshot {
        host_id,
        inventory_collected_at,
        computed_at: now,
        source: &source,
        findings_json: &findings_json,
        tier_counts_json: &serde_json::to_string(&tier_counts(&findings))?,
        current: &current,
        backported: &backported,
    };
    match store.record_findings(&snapshot).await? {
        Recorded::Recorded(_) => {
            let hostname = store.host(host_id).await?.map(|h| h.hostname);
            let events = crate::notify::new_findings(
                host_id,
                hostname.as_deref().unwrap_or(host_id),
                host_group.as_deref(),
                &findings,
                |binary, advisory| first_seen.get(binary, advisory).is_some(),
                now,
            );
            Ok(Scanned::Stored(findings.len(), events))
        }
        Recorded::Stale => Ok(Scanned::Dropped),
    }
}

/// The ranked list's JSON, as `serde_json::to_string` of the findings gives it, from their
/// JSON in `current` (each finding serialized once, not twice).
fn list_json(current: &[CurrentFinding]) -> String {
    let commas = current.len().saturating_sub(1);
    let length = current.iter().map(|f| f.json.len()).sum::<usize>() + commas + 2;
    let mut json = String::with_capacity(length);
    json.push('[');
    for (at, finding) in current.iter().enumerate() {
        if at > 0 {
            json.push(',');
        }
        json.push_str(&finding.json);
    }
    json.push(']');
    json
}

/// Findings per tier `[T0..T4]`.
pub fn tier_counts(findings: &[Finding]) -> [usize; 5] {
    let mut counts = [0; 5];
    for finding in findings {
        counts[finding.tier as usize] += 1;
    }
    counts
}

/// Scans the host's stored inventory with its stored evidence and records the findings; for
/// feed imports ([`Why::Import`]), only when they can touch the host's ranking and only when
/// it changed.
pub async fn scan_stored(
    cache: &IntelligenceCache,
    store: &Store,
    host_id: &str,
    now: Timestamp,
    why: Why<'_>,
) -> anyhow::Result<Scanned> {
    let Some(inventory) = store.inventory(host_id).await? else {
        return Ok(Scanned::Dropped);
    };
    let pending = store.pending_updates(host_id).await?;
    let os = OsRelease::parse(&inventory.facts.os)?;
    let evidence = HostEvidence::from_stored(inventory.backport_history, pending.as_deref())?;
    let packages: Vec<InstalledPackage> = inventory.packages;
    if let Why::Import(Some(affected)) = why
        && !affected.touches(&packages, &evidence.upgrades)
    {
        return Ok(Scanned::Untouched);
    }
    compute_and_store(
        cache,
        store,
        host_id,
        &os,
        packages,
        evidence,
        inventory.facts.collected_at,
        now,
        matches!(why, Why::Import(_)),
    )
    .await
}

#[cfg(test)]
mod tests {
    use pw_model::Finding;
    use pw_store::CurrentFinding;
    use serde_json::json;

    fn finding(binary: &str, summary: &str) -> Finding {
        serde_json::from_value(json!({
            "binary": binary, "installed": "1.0-1", "package": binary, "package_version": "1.0-1",
            "advisory": "DSA-1", "aliases": ["CVE-2026-1"], "fixed": null, "tier": "T1",
            "deadline": "2026-12-05T10:00:00Z", "reasons": ["a \"quoted\", reason"],
            "summary": summary, "published": null, "cvss": 7.5, "epss": 0.25, "kev": true
        }))
        .unwrap()
    }

    #[test]
    fn the_list_is_the_findings_serialized_together() {
        for findings in [
            vec![],
            vec![finding("curl", "one")],
            vec![
                finding("curl", "[1,2]"),
                finding("bash", "]"),
                finding("zlib", ","),
            ],
        ] {
            let current: Vec<CurrentFinding> = findings
                .iter()
                .map(|f| CurrentFinding::of(f).unwrap())
                .collect();
            let list = super::list_json(&current);
            assert_eq!(list, serde_json::to_string(&findings).unwrap());
            assert_eq!(list.capacity(), list.len(), "allocated once");
        }
    }
}
