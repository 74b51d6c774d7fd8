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
//! once across the fleet (`finding_texts.rs`). When the open findings changed, the
//! console's summaries of them follow in the same transaction (`update_summary.rs`).

use std::collections::{HashMap, HashSet};

use anyhow::Context;
use sqlx::Row;

use crate::finding_texts::{digest, text_ids, text_of};
use crate::findings::{BackportedFinding, CurrentFinding, FindingsSnapshot, HistoryChange};
use crate::{Recorded, Store, parse_time};

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

type Key = (String, String);

/// What is stored for one open episode, to compare with the new computation.
struct StoredOpen {
    tier: i64,
    deadline: Option<String>,
    /// The digest of its text (`finding_texts.rs`).
    digest: String,
}

/// A finding of the computation as the history stores it: its deadline as text, its text
/// without the deadline and that text's digest.
struct Prepared {
    deadline: Option<String>,
    text: String,
    digest: String,
}

impl Prepared {
    fn of(finding: &CurrentFinding) -> Prepared {
        let deadline = finding.deadline.map(|d| d.to_string());
        let text = text_of(&finding.json, deadline.as_deref());
        Prepared {
            digest: digest(&text),
            deadline,
            text,
        }
    }
}

/// The host's history as the write path needs it.
struct Stored {
    open: HashMap<Key, StoredOpen>,
    /// The last episode number of every finding the host ever had.
    last_episode: HashMap<Key, i64>,
}

/// The writes one computation needs, decided before anything is written.
#[derive(Default)]
struct Writes<'a> {
    /// New episodes with their numbers.
    open: Vec<(&'a CurrentFinding, i64)>,
    /// Open findings whose tier, deadline or text changed.
    refresh: Vec<&'a CurrentFinding>,
    /// Open episodes closed by a backport (after `open`: a backport never recorded gets one
    /// episode, opened and closed).
    backported: Vec<&'a BackportedFinding>,
    /// Open episodes no longer shown.
    gone: Vec<Key>,
}

impl Writes<'_> {
    /// Whether the host's open findings change (the console's summaries with them).
    fn changes_history(&self) -> bool {
        !(self.open.is_empty()
            && self.refresh.is_empty()
            && self.backported.is_empty()
            && self.gone.is_empty())
    }
}

impl Store {
    /// Stores a computation: the host's snapshot and its history, in one transaction.
    pub async fn record_findings(
        &self,
        snapshot: &FindingsSnapshot<'_>,
    ) -> anyhow::Result<Recorded> {
        let host_id = snapshot.host_id;
        let packed = crate::findings_packed::pack(snapshot.findings_json)?;
        let mut tx = self.begin_immediate().await?;
        let Some(previous) = freshness(&mut tx, snapshot).await? else {
            return Ok(Recorded::Stale);
        };
        let computed_at = snapshot.computed_at.to_string();
        sqlx::query(
            "INSERT INTO host_findings (host_id, computed_at, source, findings, tier_counts, packed)
             VALUES ($1, $2, $3, '', $4, $5)
             ON CONFLICT (host_id) DO UPDATE SET computed_at = excluded.computed_at,
               source = excluded.source, findings = '', tier_counts = excluded.tier_counts,
               packed = excluded.packed",
        )
        .bind(host_id)
        .bind(&computed_at)
        .bind(snapshot.source)
        .bind(snapshot.tier_counts_json)
        .bind(packed)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("storing the findings of host {host_id}"))?;
        let stored = read_history(&mut tx, host_id).await?;
        let (writes, change) = plan(&stored, snapshot);
        // A closed episode was last seen by the computation before this one (it was open, so
        // shown, until now).
        let last_seen = previous.unwrap_or_else(|| computed_at.clone());
        let texts = write_texts(&mut tx, &writes).await?;
        insert_episodes(&mut tx, host_id, &writes.open, &texts, &computed_at).await?;
        for finding in &writes.refresh {
            update_open(&mut tx, host_id, finding, &texts, &computed_at, None).await?;
        }
        for resolved in &writes.backported {
            let reason = Some(resolved.reason.as_str());
            let finding = &resolved.finding;
            update_open(&mut tx, host_id, finding, &texts, &computed_at, reason).await?;
        }
        close_gone(&mut tx, host_id, &writes.gone, &computed_at, &last_seen).await?;
        // The names of new or changed findings' advisories, for the console's CVE search.
        let names = (writes.open.iter().map(|(f, _)| *f))
            .chain(writes.refresh.iter().copied())
            .map(|f| (f.advisory.as_str(), f.json.as_str()));
        crate::notices::record_aliases(&mut tx, names).await?;
        if writes.changes_history() {
            crate::update_summary::refresh_host(&mut tx, host_id).await?;
        }
        tx.commit()
            .await
            .with_context(|| format!("committing the findings of host {host_id}"))?;
        Ok(Recorded::Recorded(change))
    }
}

/// Compares a computation with the stored history: the writes it needs and what changed.
fn plan<'a>(stored: &Stored, snapshot: &'a FindingsSnapshot<'_>) -> (Writes<'a>, HistoryChange) {
    let mut writes = Writes::default();
    let mut change = HistoryChange::default();
    let mut seen: HashSet<Key> = HashSet::new();
    for finding in snapshot.current {
        let key = (finding.binary.clone(), finding.advisory.clone());
        if !seen.insert(key.clone()) {
            continue;
        }
        if let Some(open) = stored.open.get(&key) {
            change.kept += 1;
            let prepared = Prepared::of(finding);
            let same = open.tier == i64::from(finding.tier)
                && open.deadline == prepared.deadline
                && open.digest == prepared.digest;
            if !same {
                writes.refresh.push(finding);
            }
            continue;
        }
        let episode = stored.last_episode.get(&key).map_or(1, |last| last + 1);
        if episode > 1 {
            change.reopened += 1;
        } else {
            change.opened += 1;
        }
        writes.open.push((finding, episode));
    }
    for resolved in snapshot.backported {
        let finding = &resolved.finding;
        let key = (finding.binary.clone(), finding.advisory.clone());
        if !seen.insert(key.clone()) {
            continue;
        }
        if stored.open.contains_key(&key) {
            writes.backported.push(resolved);
            change.fixed += 1;
        } else if !stored.last_episode.contains_key(&key) {
            writes.open.push((finding, 1));
            writes.backported.push(resolved);
        }
    }
    writes.gone = stored
        .open
        .keys()
        .filter(|key| !seen.contains(*key))
        .cloned()
        .collect();
    writes.gone.sort();
    change.fixed += writes.gone.len();
    (writes, change)
}

/// `None` when a newer inventory or computation than `snapshot`'s is stored for its host (the
/// computation is stale); else the time of the host's previous computation, if any.
async fn freshness(
    tx: &mut sqlx::AnyConnection,
    snapshot: &FindingsSnapshot<'_>,
) -> anyhow::Result<Option<Option<String>>> {
    let row = sqlx::query(
        "SELECT i.collected_at, f.computed_at FROM hosts h
         LEFT JOIN inventories i ON i.host_id = h.id
         LEFT JOIN host_findings f ON f.host_id = h.id
         WHERE h.id = $1",
    )
    .bind(snapshot.host_id)
    .fetch_optional(&mut *tx)
    .await
    .context("reading the host's last inventory")?
    .with_context(|| format!("host {} is not enrolled", snapshot.host_id))?;
    let collected: Option<String> = row.try_get("collected_at")?;
    let computed: Option<String> = row.try_get("computed_at")?;
    if let Some(text) = &collected
        && parse_time(text)? > snapshot.inventory_collected_at
    {
        return Ok(None);
    }
    if let Some(text) = &computed
        && parse_time(text)? > snapshot.computed_at
    {
        return Ok(None);
    }
    Ok(Some(computed))
}

/// The host's open episodes and the last episode number of every finding it ever had.
async fn read_history(tx: &mut sqlx::AnyConnection, host_id: &str) -> anyhow::Result<Stored> {
    let mut stored = Stored {
        open: HashMap::new(),
        last_episode: HashMap::new(),
    };
    let rows = sqlx::query(
        "SELECT f.binary_name, f.advisory, f.episode, f.tier, f.deadline, t.digest AS open_digest
           FROM finding_history f
           LEFT JOIN finding_texts t ON t.id = f.text_id AND f.fixed_at IS NULL
          WHERE f.host_id = $1",
    )
    .bind(host_id)
    .fetch_all(&mut *tx)
    .await
    .context("reading the host's finding history")?;
    for row in &rows {
        let key: Key = (row.try_get("binary_name")?, row.try_get("advisory")?);
        let episode: i64 = row.try_get("episode")?;
        let last = stored.last_episode.entry(key.clone()).or_insert(episode);
        *last = (*last).max(episode);
        if let Some(digest) = row.try_get::<Option<String>, _>("open_digest")? {
            let open = StoredOpen {
                tier: row.try_get("tier")?,
                deadline: row.try_get("deadline")?,
                digest,
            };
            stored.open.insert(key, open);
        }
    }
    Ok(stored)
}

/// The ids of the texts of the findings `writes` stores, by digest (storing new texts).
async fn write_texts(
    tx: &mut sqlx::AnyConnection,
    writes: &Writes<'_>,
) -> anyhow::Result<HashMap<String, i64>> {
    let prepared: Vec<Prepared> = (writes.open.iter().map(|(f, _)| *f))
        .chain(writes.refresh.iter().copied())
        .chain(writes.backported.iter().map(|b| &b.finding))
        .map(Prepared::of)
        .collect();
    let texts: HashMap<String, &str> = prepared
        .iter()
        .map(|p| (p.digest.clone(), p.text.as_str()))
        .collect();
    text_ids(tx, &texts).await
}

/// The stored text id of `finding` (among those [`write_texts`] stored).
fn text_id(texts: &HashMap<String, i64>, finding: &CurrentFinding) -> anyhow::Result<i64> {
    let digest = Prepared::of(finding).digest;
    texts
        .get(&digest)
        .copied()
        .with_context(|| format!("no text stored for {} {}", finding.binary, finding.advisory))
}

/// Inserts new episodes, several rows per statement.
async fn insert_episodes(
    tx: &mut sqlx::AnyConnection,
    host_id: &str,
    episodes: &[(&CurrentFinding, i64)],
    texts: &HashMap<String, i64>,
    computed_at: &str,
) -> anyhow::Result<()> {
    const COLUMNS: usize = 9;
    for chunk in episodes.chunks(rows_per_statement(COLUMNS)) {
        let values = crate::db::value_rows(chunk.len(), COLUMNS);
        let text = format!(
            "INSERT INTO finding_history (host_id, binary_name, advisory, episode, first_seen,
               last_seen, tier, deadline, text_id) VALUES {values}"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(text));
        for (finding, episode) in chunk {
            let text_id = text_id(texts, finding)?;
            query = query
                .bind(host_id)
                .bind(&finding.binary)
                .bind(&finding.advisory)
                .bind(*episode)
                .bind(computed_at)
                .bind(computed_at)
                .bind(i64::from(finding.tier))
                .bind(finding.deadline.map(|d| d.to_string()))
                .bind(text_id);
        }
        query
            .execute(&mut *tx)
            .await
            .with_context(|| format!("opening {} findings of host {host_id}", chunk.len()))?;
    }
    Ok(())
}

/// Closes the open episodes of findings no longer shown, several per statement.
async fn close_gone(
    tx: &mut sqlx::AnyConnection,
    host_id: &str,
    gone: &[Key],
    computed_at: &str,
    last_seen: &str,
) -> anyhow::Result<()> {
    for chunk in gone.chunks(rows_per_statement(2)) {
        let keys = crate::db::value_rows_after(3, chunk.len(), 2);
        let text = format!(
            "UPDATE finding_history SET fixed_at = $1, last_seen = $2
             WHERE host_id = $3 AND fixed_at IS NULL
               AND (binary_name, advisory) IN (VALUES {keys})"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(text))
            .bind(computed_at)
            .bind(last_seen)
            .bind(host_id);
        for (binary, advisory) in chunk {
            query = query.bind(binary).bind(advisory);
        }
        query
            .execute(&mut *tx)
            .await
            .with_context(|| format!("closing {} findings of host {host_id}", chunk.len()))?;
    }
    Ok(())
}

/// Refreshes an open episode with the finding as computed now (its tier, deadline or text
/// changed); with `closed_by`, also closes it with that reason (a backport).
async fn update_open(
    tx: &mut sqlx::AnyConnection,
    host_id: &str,
    finding: &CurrentFinding,
    texts: &HashMap<String, i64>,
    computed_at: &str,
    closed_by: Option<&str>,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE finding_history SET last_seen = $1, tier = $2, deadline = $3, text_id = $4,
           fixed_at = $5, fixed_by = $6
         WHERE host_id = $7 AND binary_name = $8 AND advisory = $9 AND fixed_at IS NULL",
    )
    .bind(computed_at)
    .bind(i64::from(finding.tier))
    .bind(finding.deadline.map(|d| d.to_string()))
    .bind(text_id(texts, finding)?)
    .bind(closed_by.map(|_| computed_at))
    .bind(closed_by)
    .bind(host_id)
    .bind(&finding.binary)
    .bind(&finding.advisory)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("updating finding {} {}", finding.binary, finding.advisory))?;
    Ok(())
}
