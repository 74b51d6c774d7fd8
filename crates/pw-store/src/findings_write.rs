//! The write path of a findings computation ([`Store::record_findings`]): the host's snapshot and
//! its history in one transaction, with as few statements as the change needs.
//!
//! A scan of an unchanged host shows the same ~800 findings again; writing each of them back
//! (as this path once did) made the history the controller's bottleneck at fleet size (issue 15:
//! 6–17 scans/s at 1,000 agents). So the history is compared first, in memory, with what is
//! stored: an open finding that is still there and unchanged is not written at all (its
//! `last_seen` is the host's latest computation, read through `host_findings`); new episodes
//! are inserted and gone ones closed in multi-row statements; only findings whose tier,
//! deadline or text changed are updated one by one. Episodes name their finding's text, stored
//! once across the fleet (`finding_texts.rs`), and their first sight, deadline, tier and
//! episode number, stored once per host (`open_stamps.rs`, since migrations 0045 and 0053:
//! `open_findings` is a view of both). When the open findings changed, the console's summaries
//! of them follow in the same transaction (`update_summary.rs`).

use std::collections::BTreeSet;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use anyhow::Context;
use sqlx::Row;

use crate::finding_keys::{Key, KeyCache, KeyRef, key_ids};
use crate::finding_texts::{
    StoredText, Summarised, TextCache, TextDigest, stored_digest, summarised,
};
use crate::findings::{BackportedFinding, CurrentFinding, FindingsSnapshot, HistoryChange};
use crate::findings_closed::ClosedEpisode;
use crate::findings_early::{Early, OpenRows, read_open};
use crate::findings_group::{GroupRows, HostHistory, HostKey, HostRows, freshness, host_key};
use crate::findings_scope::{Computation, Covered};
use crate::instants::{nanos, nanos_text};
use crate::open_stamps::Stamps;
use crate::open_tiers::{TierDeltas, TierHost};
use crate::open_writes::{OpenRow, delete_open, write_open};
use crate::text_digests::{SnapshotTexts, WriteTexts};
use crate::write_clock::WriteClock;
use crate::{Recorded, Store};

#[path = "findings_counted.rs"]
mod counted;
use counted::summary_of;
#[path = "findings_rows.rs"]
mod rows;
use rows::{closings, freed_stamps, new_rows, refreshed_rows};

/// Bound parameters per multi-row statement. Few statements instead of one per row, but not
/// many parameters per statement: sqlx binds SQLite's numbered `$N` parameters by name, and
/// SQLite finds a name by a linear search (`sqlite3VListNumToName`), so binding costs grow with
/// the square of the parameters in a statement (at 1,800 parameters that search was a fifth of
/// the controller's CPU under pw-loadgen).
const PARAMETERS: usize = 128;

/// Rows per statement for a statement with `columns` parameters per row.
pub(crate) fn rows_per_statement(columns: usize) -> usize {
    (PARAMETERS / columns).max(1)
}

/// What is stored for one open episode, to compare with the new computation and to close it.
struct StoredOpen {
    key_id: i64,
    episode: i64,
    /// Nanoseconds since the epoch (`instants.rs`), as the deadline.
    first_seen: i64,
    tier: i64,
    deadline: Option<i64>,
    text_id: i64,
    /// The digest of its text (`finding_texts.rs`).
    digest: Option<TextDigest>,
    /// What the console's summaries count of its text.
    summarised: Summarised,
}

/// The host's history as the write path needs it.
struct Stored {
    /// The host's key (`finding_hosts`).
    host_key: i64,
    open: HashMap<Key, StoredOpen>,
    /// The last closed episode number of every finding key the host ever had closed.
    last_closed: HashMap<i64, i64>,
}

/// The writes one computation needs, decided before anything is written.
#[derive(Default)]
struct Writes<'a> {
    /// Findings not open: new episodes (numbered once their keys are known).
    new: Vec<&'a CurrentFinding>,
    /// Open findings whose tier, deadline or text changed.
    refresh: Vec<&'a CurrentFinding>,
    /// Open episodes closed by a backport.
    backported: Vec<&'a BackportedFinding>,
    /// Backported findings not open: recorded (one episode, opened and closed) if never seen.
    backported_new: Vec<&'a BackportedFinding>,
    /// Open episodes no longer shown.
    gone: Vec<Key>,
}

impl Store {
    /// Stores a computation: the host's snapshot and its history, in one transaction.
    pub async fn record_findings(
        &self,
        snapshot: &FindingsSnapshot<'_>,
    ) -> anyhow::Result<Recorded> {
        self.record_computation(snapshot, &Computation::default())
            .await
    }

    /// [`Store::record_findings`] with what the computation was made from and covers
    /// (`findings_scope.rs`): its basis is stored with the ranking, and a computation of some
    /// binaries only compares and writes their open findings.
    pub async fn record_computation(
        &self,
        snapshot: &FindingsSnapshot<'_>,
        computation: &Computation<'_>,
    ) -> anyhow::Result<Recorded> {
        let mut recorded = self.record_computations(&[(snapshot, computation)]).await?;
        recorded.pop().context("no computation recorded")
    }

    /// Several hosts' computations ([`Store::record_computation`]) in one write transaction:
    /// one turn in the writers' line and one commit for a group of hosts re-ranked together
    /// (issue 15: a feed import's re-rank of every host). Each host's rows are its own; one
    /// host's error fails the group (nothing is written), and the caller records the hosts one
    /// by one (pw-controller's `scan_group.rs`). The outcomes in `computations`' order.
    pub async fn record_computations(
        &self,
        computations: &[(&FindingsSnapshot<'_>, &Computation<'_>)],
    ) -> anyhow::Result<Vec<Recorded>> {
        let mut clock = WriteClock::start();
        let packed = (computations.iter())
            .map(|(snapshot, computation)| {
                crate::findings_packed::packed_for(snapshot.findings_json, computation.packed)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        // The findings' text digests, before the turn (given by the controller, else here).
        let digests: Vec<SnapshotTexts<'_>> = (computations.iter())
            .map(|(snapshot, computation)| SnapshotTexts::new(snapshot, computation.texts))
            .collect();
        clock.lap("pack");
        // Read while the write before this one holds the line (`findings_early.rs`); a host
        // whose early read fails or is out of date is read in the turn.
        let mut early = match Early::read(self, computations).await {
            Ok(early) => early,
            Err(error) => {
                tracing::debug!(error = %format!("{error:#}"), "no early read of a group");
                Early::default()
            }
        };
        clock.lap("early");
        let mut tx = self.begin_immediate().await?;
        clock.lap("turn");
        let ids: Vec<String> = (computations.iter())
            .map(|(snapshot, _)| snapshot.host_id.to_owned())
            .collect();
        let mut group = GroupRows::read(&mut tx, &ids).await?;
        clock.lap("group_reads");
        let mut outcomes = Vec::with_capacity(computations.len());
        let mut learned = Learned::default();
        let mut summarised = Vec::new();
        let mut tiers = Vec::new();
        let hosts = computations.iter().zip(packed).zip(&digests);
        for (((snapshot, computation), packed), digests) in hosts {
            let read = group.take(snapshot.host_id);
            let open = read.as_ref().and_then(|read| {
                let key = read.history.as_ref().map(|history| history.key);
                early.take(snapshot.host_id, key, read.computed_at.as_ref())
            });
            let write = record_in(
                (&mut tx, &mut clock),
                (&self.keys, &self.texts, &mut learned),
                (snapshot, computation, read, open),
                (packed, digests),
            );
            let (recorded, summary) = write.await?;
            outcomes.push(recorded);
            if let Some((host_key, deltas, covered)) = summary {
                summarised.push((snapshot.host_id, host_key, covered));
                tiers.push((snapshot.host_id, host_key, deltas));
            }
        }
        // The console's summaries of the hosts whose open findings changed, together.
        let tiers: Vec<TierHost<'_>> = (tiers.iter())
            .map(|(host_id, host_key, deltas)| (*host_id, *host_key, deltas))
            .collect();
        crate::open_tiers::adjust(&mut tx, &tiers).await?;
        clock.lap("sum_tiers");
        crate::update_summary::refresh_hosts(&mut tx, &summarised, &mut clock).await?;
        let hosts = computations.len();
        tx.commit()
            .await
            .with_context(|| format!("committing the findings of {hosts} hosts"))?;
        clock.lap("commit");
        clock.log(hosts, summarised.len());
        self.keys
            .learn(learned.keys.iter().map(|(key, id)| (key, *id)));
        self.texts.learn(learned.texts);
        self.texts.learn_named(learned.named);
        Ok(outcomes)
    }
}

/// The finding keys and texts a group's writes read or stored, and the texts whose names they
/// recorded, for the process's caches once committed (`finding_keys.rs`, `finding_texts.rs`).
#[derive(Default)]
struct Learned {
    keys: HashMap<Key, i64>,
    texts: HashMap<TextDigest, StoredText>,
    named: HashSet<TextDigest>,
}

/// One host's computation written in `tx` (begun in the writers' line), with its rows as read
/// for its group (`None`: read here); the finding keys and texts it read or stored go to
/// `learned`. The outcome and, when its open findings changed, the host's summaries to
/// refresh ([`HostSummary`]).
async fn record_in(
    (tx, clock): (&mut sqlx::AnyConnection, &mut WriteClock),
    (key_cache, text_cache, learned): (&KeyCache, &TextCache, &mut Learned),
    (snapshot, computation, read, early): Reads<'_, '_>,
    (packed, digests): (Vec<u8>, &SnapshotTexts<'_>),
) -> anyhow::Result<(Recorded, Option<HostSummary>)> {
    let host_id = snapshot.host_id;
    let (times, history) = match read {
        Some(read) => (Some((read.collected_at, read.computed_at)), read.history),
        None => (None, None),
    };
    let Some(previous) = freshness(tx, snapshot, times).await? else {
        return Ok((Recorded::Stale, None));
    };
    clock.lap("freshness");
    let computed_at = snapshot.computed_at.to_string();
    sqlx::query(
        "INSERT INTO host_findings (host_id, computed_at, source, findings, tier_counts, packed,
           basis)
         VALUES ($1, $2, $3, '', $4, $5, $6)
         ON CONFLICT (host_id) DO UPDATE SET computed_at = excluded.computed_at,
           source = excluded.source, findings = '', tier_counts = excluded.tier_counts,
           packed = excluded.packed, basis = excluded.basis",
    )
    .bind(host_id)
    .bind(&computed_at)
    .bind(snapshot.source)
    .bind(snapshot.tier_counts_json)
    .bind(packed)
    .bind(computation.basis.map(<[u8]>::to_vec))
    .execute(&mut *tx)
    .await
    .with_context(|| format!("storing the findings of host {host_id}"))?;
    clock.lap("ranking");
    let history = read_history(tx, (host_id, history, early), key_cache, computation.only);
    let (mut stored, stamps) = history.await?;
    clock.lap("open_read");
    let (writes, mut change) = plan(&stored, snapshot, digests);
    clock.lap("plan");
    // A closed episode was last seen by the computation before this one (it was open, so
    // shown, until now).
    let instants = Instants {
        computed_at: &computed_at,
        last_seen: previous.as_deref().unwrap_or(&computed_at),
    };
    let texts = write_texts(tx, (text_cache, &mut learned.texts), digests, &writes).await?;
    clock.lap("texts");
    let new_keys = (writes.new.iter().copied())
        .chain(writes.backported_new.iter().map(|b| &b.finding))
        .map(borrowed_key);
    let (keys, stored_keys) = key_ids(tx, key_cache, new_keys.collect()).await?;
    learned.keys.extend(stored_keys);
    let opened = number_new(&stored, &writes, &keys, &mut change)?;
    clock.lap("keys");
    let first_seen = nanos(snapshot.computed_at);
    let mut stamps = match stamps {
        Some(stamps) => stamps,
        None => Stamps::read(tx, stored.host_key).await?,
    };
    let new_rows = new_rows(&opened, &texts, first_seen, &mut stamps)?;
    let refreshed = refreshed_rows(&stored, &writes.refresh, &texts, &mut stamps)?;
    stamps.store_new(tx, stored.host_key).await?;
    clock.lap("stamps");
    write_open(tx, stored.host_key, &new_rows, "").await?;
    let update = "ON CONFLICT (host_key, key_id) DO UPDATE SET stamp = excluded.stamp,
         text_id = excluded.text_id";
    write_open(tx, stored.host_key, &refreshed, update).await?;
    clock.lap("open_write");
    let closed = closings(&stored, &writes, &keys, &texts, &instants)?;
    let gone_keys: Vec<i64> = (writes.gone.iter().map(|k| &stored.open[k]))
        .chain(
            writes
                .backported
                .iter()
                .map(|b| &stored.open[&key_of(&b.finding)]),
        )
        .map(|open| open.key_id)
        .collect();
    delete_open(tx, stored.host_key, &gone_keys).await?;
    clock.lap("open_delete");
    let host_key = stored.host_key;
    if !(gone_keys.is_empty() && refreshed.is_empty()) {
        let freed = freed_stamps(&stored, &writes, &stamps, [&new_rows, &refreshed]);
        crate::open_stamps::forget_unused(tx, host_key, freed.as_ref()).await?;
    }
    clock.lap("forget_stamps");
    crate::findings_closed::record_closed(tx, host_key, &closed, &mut stored.last_closed).await?;
    clock.lap("closed");
    record_names(tx, (text_cache, &mut learned.named), digests, &writes).await?;
    clock.lap("aliases");
    let summary = summary_of((&stored, &writes, &opened, &texts), snapshot)?;
    Ok((Recorded::Recorded(change), summary))
}

/// The names of new or changed findings' advisories, for the console's CVE search: of texts
/// whose names the process has not committed (`named`: those this group's writes recorded).
async fn record_names(
    tx: &mut sqlx::AnyConnection,
    (cache, named): (&TextCache, &mut HashSet<TextDigest>),
    digests: &SnapshotTexts<'_>,
    writes: &Writes<'_>,
) -> anyhow::Result<()> {
    let texts = (writes.new.iter().copied())
        .chain(writes.refresh.iter().copied())
        .map(|f| (digests.digest(f), f))
        .filter(|(digest, _)| !named.contains(digest));
    let unnamed = cache.unnamed(texts);
    let names = (unnamed.iter()).map(|(_, f)| (f.advisory.as_str(), f.json.as_str()));
    crate::notices::record_aliases(tx, names).await?;
    named.extend(unnamed.iter().map(|(digest, _)| *digest));
    Ok(())
}

/// One host's computation and its rows as read for its group and before the turn.
type Reads<'a, 'b> = (
    &'a FindingsSnapshot<'b>,
    &'a Computation<'b>,
    Option<HostRows>,
    Option<OpenRows>,
);

/// A host whose open findings' summaries change: its key, its counts' changes per tier and
/// deadline (`open_tiers.rs`) and, computed in part, its covered rows' updates
/// (`update_summary.rs`).
type HostSummary = (
    i64,
    TierDeltas,
    Option<crate::covered_updates::CoveredUpdates>,
);

fn key_of(finding: &CurrentFinding) -> Key {
    (finding.binary.clone(), finding.advisory.clone())
}

/// A finding's key (binary, advisory), borrowed: a first scan's ~800 findings are compared
/// without copying their keys.
fn borrowed_key(finding: &CurrentFinding) -> KeyRef<'_> {
    (finding.binary.as_str(), finding.advisory.as_str())
}

/// The stored open episode of `finding`'s key (none to look up when nothing is open).
fn open_of<'s>(stored: &'s Stored, finding: &CurrentFinding) -> Option<&'s StoredOpen> {
    match stored.open.is_empty() {
        true => None,
        false => stored.open.get(&key_of(finding)),
    }
}

/// When a computation closes episodes: its own instant, and the last instant a gone finding
/// was seen.
struct Instants<'a> {
    computed_at: &'a str,
    last_seen: &'a str,
}

/// Compares a computation with the host's open findings: the writes it needs, and what
/// changed as far as known before the new findings are numbered ([`number_new`]).
fn plan<'a>(
    stored: &Stored,
    snapshot: &'a FindingsSnapshot<'_>,
    digests: &SnapshotTexts<'_>,
) -> (Writes<'a>, HistoryChange) {
    let mut writes = Writes::default();
    let mut change = HistoryChange::default();
    let mut seen: HashSet<(&str, &str)> = HashSet::with_capacity(snapshot.current.len());
    for finding in snapshot.current {
        if !seen.insert(borrowed_key(finding)) {
            continue;
        }
        let Some(open) = open_of(stored, finding) else {
            writes.new.push(finding);
            continue;
        };
        change.kept += 1;
        let same = open.tier == i64::from(finding.tier)
            && open.deadline == finding.deadline.map(nanos)
            && open.digest == Some(digests.digest(finding));
        if !same {
            writes.refresh.push(finding);
        }
    }
    for resolved in snapshot.backported {
        if !seen.insert(borrowed_key(&resolved.finding)) {
            continue;
        }
        if open_of(stored, &resolved.finding).is_some() {
            writes.backported.push(resolved);
            change.fixed += 1;
        } else {
            writes.backported_new.push(resolved);
        }
    }
    writes.gone = stored
        .open
        .keys()
        .filter(|(binary, advisory)| !seen.contains(&(binary.as_str(), advisory.as_str())))
        .cloned()
        .collect();
    writes.gone.sort();
    change.fixed += writes.gone.len();
    (writes, change)
}

/// The new episodes with their key ids and numbers (after the key's last closed episode),
/// counted in `change` as opened or reopened.
fn number_new<'a>(
    stored: &Stored,
    writes: &Writes<'a>,
    keys: &HashMap<KeyRef<'_>, i64>,
    change: &mut HistoryChange,
) -> anyhow::Result<Vec<(&'a CurrentFinding, i64, i64)>> {
    let mut opened = Vec::with_capacity(writes.new.len());
    for finding in &writes.new {
        let key_id = key_id(keys, finding)?;
        let episode = match stored.last_closed.get(&key_id) {
            Some(last) => {
                change.reopened += 1;
                last + 1
            }
            None => {
                change.opened += 1;
                1
            }
        };
        opened.push((*finding, key_id, episode));
    }
    Ok(opened)
}

fn key_id(keys: &HashMap<KeyRef<'_>, i64>, finding: &CurrentFinding) -> anyhow::Result<i64> {
    keys.get(&borrowed_key(finding))
        .copied()
        .with_context(|| format!("no key stored for {} {}", finding.binary, finding.advisory))
}

/// The host's key (given one if it has none), open episodes (of the binaries `only`, else all:
/// `early` when read before the write's turn, `findings_early.rs`) and last closed episodes;
/// with its stamps when its group read them (`history`: its key, closed episodes and stamps as
/// read for its group, `None`: read here).
async fn read_history(
    tx: &mut sqlx::AnyConnection,
    (host_id, history, early): (&str, Option<HostHistory>, Option<OpenRows>),
    keys: &KeyCache,
    only: Option<&Covered>,
) -> anyhow::Result<(Stored, Option<Stamps>)> {
    let (host_key, episodes, stamps, given) = match history {
        Some(read) => (read.key, read.episodes, Some(read.stamps), false),
        None => match host_key(tx, host_id).await? {
            HostKey::Known { key, episodes } => (key, episodes, None, false),
            // Nothing open to read, no stamps.
            HostKey::Given(key) => (key, None, Some(Stamps::none()), true),
        },
    };
    let mut stored = Stored {
        host_key,
        open: HashMap::new(),
        last_closed: crate::findings_closed::last_closed(episodes.as_deref())?,
    };
    let OpenRows { rows, mut names } = match early {
        Some(early) => early,
        None if given => OpenRows::default(),
        None => read_open(tx, host_key, keys, only).await?,
    };
    for row in &rows {
        let key_id: i64 = row.try_get("key_id")?;
        let key = names
            .remove(&key_id)
            .context("an open finding has no key")?;
        let open = StoredOpen {
            key_id,
            episode: row.try_get("episode")?,
            first_seen: row.try_get("first_seen")?,
            tier: row.try_get("tier")?,
            deadline: row.try_get("deadline")?,
            text_id: row.try_get("text_id")?,
            digest: (row.try_get::<Option<Vec<u8>>, _>("digest")?)
                .map(stored_digest)
                .transpose()?,
            summarised: summarised(row)?,
        };
        stored.open.insert(key, open);
    }
    Ok((stored, stamps))
}

/// The stored texts of the findings `writes` stores (storing new texts).
async fn write_texts<'d>(
    tx: &mut sqlx::AnyConnection,
    cache: (&TextCache, &mut HashMap<TextDigest, StoredText>),
    digests: &'d SnapshotTexts<'_>,
    writes: &Writes<'_>,
) -> anyhow::Result<WriteTexts<'d>> {
    let findings = (writes.new.iter().copied())
        .chain(writes.refresh.iter().copied())
        .chain(writes.backported.iter().map(|b| &b.finding))
        .chain(writes.backported_new.iter().map(|b| &b.finding));
    digests.store(tx, cache, findings).await
}
