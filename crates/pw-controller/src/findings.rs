//! Findings of a reported inventory: the scan of `patchwarden scan`, run by the controller with
//! the database's feeds (or the embedded snapshot), cached per OS release until the next feed
//! import (`patchwarden feeds import|sync` while the controller runs). A use-case of the
//! controller: the scan queue's workers, a fleet apply's re-ranking and the API call it.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use anyhow::Context;
use foldhash::HashSet;
use jiff::Timestamp;
use pw_model::{Finding, InstalledPackage, OsRelease};
use pw_priority::PriorityPolicy;
use pw_scan::{Intelligence, ScanContext, Upgrade};
use pw_store::{
    BackportedFinding, Covered, CurrentFinding, FirstSights, InventoryRow, PendingRow, ScanReads,
    Store,
};
use tokio::sync::Mutex;

use crate::ranked_list::StoredList;

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
        self.after_import(os, import).await
    }

    /// [`IntelligenceCache::for_release`] as of feed import `import` (the last one, read once
    /// for a group of hosts: [`GroupReads`]).
    async fn after_import(
        &self,
        os: &OsRelease,
        import: Option<i64>,
    ) -> anyhow::Result<Arc<(Intelligence, String)>> {
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

/// What every host of a group is scanned with, read once for the group (`scan_group.rs`): the
/// last feed import (the loaded intelligence is current while it is) and the fleet document.
/// A feed import or fleet apply committed meanwhile queues the hosts again (`rerank.rs`,
/// `fleet.rs`): their next scan reads it.
pub(crate) struct GroupReads {
    import: Option<i64>,
    document: Option<pw_fleet::FleetDocument>,
}

impl GroupReads {
    pub(crate) async fn read(store: &Store) -> anyhow::Result<GroupReads> {
        Ok(GroupReads {
            import: store.last_feed_import().await?,
            document: (crate::fleet::current_document(store).await?).map(|(_, d)| d),
        })
    }

    /// The intelligence for `os` as of the group's feed import.
    pub(crate) async fn intelligence(
        &self,
        cache: &IntelligenceCache,
        os: &OsRelease,
    ) -> anyhow::Result<Arc<(Intelligence, String)>> {
        cache.after_import(os, self.import).await
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
    /// Recorded from a scan of only the binaries a feed import can change (`rerank_scan.rs`),
    /// as [`Scanned::Stored`].
    Reranked(usize, Vec<pw_notify::Event>),
    /// The same ranking as stored (and nothing backported): nothing written.
    Unchanged(usize),
    /// A feed import's changes cannot touch the host (`rerank.rs`): not scanned.
    Untouched,
    /// No inventory, or a newer one arrived meanwhile: this computation is dropped.
    Dropped,
}

/// A host scanned, before its findings are written: done (nothing to write), or what to write
/// (`ranked_write.rs`).
pub(crate) enum Ready {
    Done(Scanned),
    Write(Box<crate::ranked_write::Write>),
}

/// What a scan of a host reads besides the advisories: its stored inventory and evidence, the
/// policy ranking it, and the digest of all that (`rerank_scan.rs`'s basis).
pub struct HostInputs {
    pub os: OsRelease,
    pub packages: Vec<InstalledPackage>,
    pub evidence: HostEvidence,
    pub inventory_collected_at: Timestamp,
    pub policy: PriorityPolicy,
    pub group: Option<String>,
    /// `None`: unknown (`ranking_basis.rs`); a re-rank then scans the host whole.
    pub basis: Option<Vec<u8>>,
}

/// Scans one host's packages, its findings ranked to record with their history: a finding
/// already open keeps its first sight (its deadline runs from the later of publication and first
/// sight), a new one is first seen `now`. With the host's `evidence`, findings whose CVEs the
/// installed changelog names are fixed by a backport (closed in the history with that reason)
/// and every pending upgrade not already ranked is a finding (pw-scan's `upgrade_findings`).
/// With `keep_equal`, a ranking equal to the stored one with no backported finding is not
/// written again (a feed import re-ranking a host it did not change costs no write; with
/// backported findings the history may need their episodes, so it is written).
pub(crate) async fn rank_whole(
    (cache, group): (&IntelligenceCache, &GroupReads),
    store: &Store,
    host_id: &str,
    inputs: Arc<HostInputs>,
    now: Timestamp,
    keep_equal: bool,
) -> anyhow::Result<Ready> {
    let loaded = group.intelligence(cache, &inputs.os).await?;
    let first_seen = store.first_sights(host_id).await?;
    let scanned = inputs.clone();
    let (findings, backported, source, first_seen) = tokio::task::spawn_blocking(move || {
        let (intelligence, source) = &*loaded;
        let (packages, upgrades) = (&scanned.packages, &scanned.evidence.upgrades);
        let (findings, backported) =
            rank(intelligence, &scanned, packages, upgrades, &first_seen, now);
        (findings, backported, source.clone(), first_seen)
    })
    .await
    .context("scanning panicked")?;
    let ranked = Ranked {
        findings,
        backported,
        first_seen,
        source,
    };
    let list = List::Whole { keep_equal };
    prepare_ranked(store, (host_id, &inputs), ranked, list, now).await
}

/// A host's findings as ranked now, to store ([`prepare_ranked`]): all of them, or those a
/// re-rank in part covers (`rerank_scan.rs`), with those a backport fixed.
pub(crate) struct Ranked {
    pub findings: Vec<Finding>,
    pub backported: Vec<pw_scan::Backported>,
    /// The first sights they were ranked with (of the covered findings only, in part).
    pub first_seen: FirstSights,
    /// Where the advisories came from.
    pub source: String,
}

/// What the ranked findings are of, and so the list stored.
pub(crate) enum List<'a> {
    /// The whole host: the list is theirs. With `keep_equal`, a list equal to the stored one
    /// (from the same source, nothing backported) is not written.
    Whole { keep_equal: bool },
    /// Part of the host (`covered`): spliced into its stored list (`stored`, as read: a
    /// spliced list equal to it with nothing backported is not written).
    Part {
        list: &'a StoredList<'a>,
        stored: &'a str,
        covered: &'a Covered,
    },
}

/// A host's findings ranked now, to store unless nothing changed: the ranked list (theirs, or
/// spliced) and the findings they cover, with what the notification events need
/// (`ranked_write.rs` records them, with other hosts' at once). The one tail of a whole scan
/// and of a re-rank in part.
pub(crate) async fn prepare_ranked(
    store: &Store,
    (host_id, inputs): (&str, &HostInputs),
    ranked: Ranked,
    list: List<'_>,
    now: Timestamp,
) -> anyhow::Result<Ready> {
    let current = (ranked.findings.iter())
        .map(CurrentFinding::of)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let backported = backported_findings(&ranked.backported)?;
    let (findings_json, tiers, only) = match &list {
        List::Whole { .. } => {
            let tiers = tier_counts(&ranked.findings);
            (crate::ranked_list::list_json(&current), tiers, None)
        }
        List::Part { list, covered, .. } => {
            let fresh: Vec<(&Finding, &str)> = (ranked.findings.iter())
                .zip(current.iter().map(|c| c.json.as_str()))
                .collect();
            let spliced = (list.splice(covered, &fresh))
                .with_context(|| format!("the stored ranking of host {host_id}"))?;
            (spliced.json, spliced.tiers, Some((*covered).clone()))
        }
    };
    let count = tiers.iter().sum();
    let unchanged = backported.is_empty()
        && match list {
            List::Whole { keep_equal: false } => false,
            List::Whole { keep_equal: true } => (store.findings(host_id).await?)
                .is_some_and(|s| s.findings == findings_json && s.source == ranked.source),
            List::Part { stored, .. } => findings_json == stored,
        };
    if unchanged {
        return Ok(Ready::Done(Scanned::Unchanged(count)));
    }
    let first_seen = &ranked.first_seen;
    let was_open = |binary: &str, advisory: &str| first_seen.get(binary, advisory).is_some();
    let urgent = (ranked.findings.into_iter())
        .filter(|f| crate::notify::is_new_urgent(f, was_open))
        .collect();
    Ok(Ready::Write(Box::new(crate::ranked_write::Write {
        host_id: host_id.to_owned(),
        inventory_collected_at: inputs.inventory_collected_at,
        basis: inputs.basis.clone(),
        group: inputs.group.clone(),
        computed_at: now,
        tier_counts_json: serde_json::to_string(&tiers)?,
        count,
        packed: pw_store::PackedList::of(&findings_json)?,
        findings_json,
        texts: pw_store::FindingTexts::of(&current, &backported),
        current,
        backported,
        only,
        source: ranked.source,
        urgent,
    })))
}

/// What a scan of the host reads: its inventory (all its packages, or those a re-rank in part
/// reads), evidence, policy, group and the ranking's basis.
fn host_inputs(
    inventory: InventoryRow,
    digest: Option<String>,
    pending: Option<&[PendingRow]>,
    policy: PriorityPolicy,
    group: Option<String>,
) -> anyhow::Result<HostInputs> {
    let basis = crate::ranking_basis::basis(
        digest.as_deref(),
        &inventory.facts.os,
        pending,
        &policy,
        group.as_deref(),
    )?;
    Ok(HostInputs {
        os: OsRelease::parse(&inventory.facts.os)?,
        evidence: HostEvidence::from_stored(inventory.backport_history, pending)?,
        packages: inventory.packages,
        inventory_collected_at: inventory.facts.collected_at,
        policy,
        group,
        basis,
    })
}

/// Matches and ranks `packages` of the host (all of them, or those of the binaries a feed
/// import can change) with its changelog history and the pending `upgrades` (likewise).
pub(crate) fn rank(
    intelligence: &Intelligence,
    inputs: &HostInputs,
    packages: &[InstalledPackage],
    upgrades: &[Upgrade],
    first_seen: &FirstSights,
    now: Timestamp,
) -> (Vec<Finding>, Vec<pw_scan::Backported>) {
    let context = scan_context(inputs, now);
    let lookup = |binary: &str, advisory: &str| first_seen.get(binary, advisory);
    let mut matcher = intelligence.matcher(&inputs.os, false);
    let findings = intelligence.scan_with_history(&mut matcher, packages, &context, &lookup);
    let history = &inputs.evidence.history;
    let (mut findings, backported) = pw_scan::split_backported(findings, history);
    let upgrades = intelligence.upgrade_findings(upgrades, packages, &findings, &context, &lookup);
    findings.extend(upgrades);
    pw_scan::sort_findings(&mut findings);
    (findings, backported)
}

/// What a scan of the host at `now` ranks with besides the advisories (a finding never seen
/// before is first seen `now`).
pub(crate) fn scan_context(inputs: &HostInputs, now: Timestamp) -> ScanContext<'_> {
    ScanContext {
        policy: &inputs.policy,
        group: inputs.group.as_deref(),
        first_seen: Some(now),
        now,
    }
}

/// The history's view of the findings a backport fixed.
pub(crate) fn backported_findings(
    backported: &[pw_scan::Backported],
) -> anyhow::Result<Vec<BackportedFinding>> {
    backported
        .iter()
        .map(|b| {
            Ok(BackportedFinding {
                finding: CurrentFinding::of(&b.finding)?,
                reason: b.reason.clone(),
            })
        })
        .collect()
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
/// feed imports ([`Why::Import`]), only when they can touch the host's ranking, only the
/// binaries they can change while the stored ranking's basis holds (`rerank_scan.rs`), and
/// only when it changed. Several hosts at once: `scan_group.rs`.
pub async fn scan_stored(
    cache: &IntelligenceCache,
    store: &Store,
    host_id: &str,
    now: Timestamp,
    why: Why<'_>,
) -> anyhow::Result<Scanned> {
    let group = GroupReads::read(store).await?;
    let reads = store
        .scan_reads(&[host_id.to_owned()])
        .await?
        .remove(host_id);
    match prepare_stored((cache, &group), store, (host_id, reads), now, why).await? {
        Ready::Done(scanned) => Ok(scanned),
        Ready::Write(write) => {
            let mut recorded = crate::ranked_write::record(store, &[*write]).await;
            recorded.pop().context("no findings recorded")?
        }
    }
}

/// [`scan_stored`] up to the write: what to write, if anything.
pub(crate) async fn prepare_stored(
    (cache, group): (&IntelligenceCache, &GroupReads),
    store: &Store,
    (host_id, reads): (&str, Option<ScanReads>),
    now: Timestamp,
    why: Why<'_>,
) -> anyhow::Result<Ready> {
    // What the host's scan reads, read with its group's (`Store::scan_reads`).
    let Some(reads) = reads else {
        return Ok(Ready::Done(Scanned::Dropped));
    };
    let pending = reads.pending.as_deref();
    // The fleet document's priority policy, the host's group and the emergency flags covering
    // it (the default policy and no group before a document is applied).
    let document = group.document.as_ref();
    let ranking = crate::fleet::ranking_policy_in(document, store, host_id, now);
    let (policy, fleet_group) = ranking.await?;
    if let Why::Import(Some(affected)) = why {
        // A re-rank in part reads only the packages the import names and those of the pending
        // upgrades (`Affected::binaries`): the host's others are not copied.
        let upgraded: HashSet<&str> = pending
            .unwrap_or_default()
            .iter()
            .map(|p| p.package.as_str())
            .collect();
        let keep = |name: &str, source: Option<&str>| {
            affected.names_package(name, source) || upgraded.contains(name)
        };
        let (inventory, digest) = reads.inventory_where(keep)?;
        let (policy, in_group) = (policy.clone(), fleet_group.clone());
        let inputs = host_inputs(inventory, digest, pending, policy, in_group)?;
        let binaries = affected.binaries(&inputs.packages, &inputs.evidence.upgrades);
        if binaries.is_empty() {
            return Ok(Ready::Done(Scanned::Untouched));
        }
        let import = (affected, &binaries);
        let host = (host_id, &reads);
        let part =
            crate::rerank_scan::rescan_part((cache, group), store, host, &inputs, import, now);
        if let Some(ready) = part.await? {
            return Ok(ready);
        }
    }
    let (inventory, digest) = reads.inventory()?;
    let inputs = host_inputs(inventory, digest, pending, policy, fleet_group)?;
    let inputs = Arc::new(inputs);
    let keep_equal = matches!(why, Why::Import(_));
    rank_whole((cache, group), store, host_id, inputs, now, keep_equal).await
}
