//! A computation that covers only some of a host's binaries (migration 0042): a feed import's
//! re-rank scans again only the binaries the import can change, and the write path compares
//! and writes only their open findings — the host's other open findings stay as they are, as
//! does their history. What the stored ranking was computed from is kept beside it
//! (`host_findings.basis`, a digest the controller makes): the controller rescans part of a
//! host only while the stored ranking's basis is the one it would compute from now.

use std::collections::BTreeSet;

use foldhash::HashMap;

use anyhow::Context;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::instants::instant;

/// Binary names per `IN (…)` list (SQLite binds numbered parameters by a linear search:
/// `findings_write.rs`, `PARAMETERS`).
const NAMES: usize = 100;

/// A host's open findings with their keys' names (`$1`: the host id), for a WHERE clause on the
/// keys' names to extend: the host's episodes walked, each one's key looked up.
pub(crate) const OPEN_OF_HOST: &str = "FROM finding_hosts h
      JOIN open_findings o ON o.host_key = h.key
      JOIN finding_keys k ON k.id = o.key_id
     WHERE h.host_id = $1";

/// [`OPEN_OF_HOST`] keys first ([`covered_rows`]).
pub(crate) const OPEN_OF_HOST_BY_KEY: &str = "FROM finding_hosts h CROSS JOIN finding_keys k
      CROSS JOIN open_findings o
     WHERE o.host_key = h.key AND o.key_id = k.id AND h.host_id = $1";

/// What a computation was made from and what it covers, beside its [`crate::FindingsSnapshot`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Computation<'a> {
    /// The digest of the computation's inputs besides the advisories (stored with the ranking;
    /// `None`: unknown, a later re-rank scans the host whole).
    pub basis: Option<&'a [u8]>,
    /// `Some`: the snapshot's findings (current and backported) are those it covers only, and
    /// the host's other open findings are kept as they are; its `findings_json` and
    /// `tier_counts_json` are still the whole ranked list's.
    pub only: Option<&'a Covered>,
    /// The digests of the snapshot's findings' texts, worked out before the write (`None`:
    /// worked out by the write, before its turn in the writers' line).
    pub texts: Option<&'a crate::FindingTexts>,
    /// The snapshot's `findings_json` packed before the write (`None`: packed by the write,
    /// before its turn in the writers' line).
    pub packed: Option<&'a crate::PackedList>,
}

/// What a computation of part of a host covers: every finding of some binaries, and some
/// findings by key (binary, advisory) — of other binaries (a feed import's re-rank by advisory).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Covered {
    pub binaries: BTreeSet<String>,
    pub keys: BTreeSet<(String, String)>,
}

impl Covered {
    /// Every finding of `binaries`.
    pub fn binaries(binaries: BTreeSet<String>) -> Covered {
        Covered {
            binaries,
            keys: BTreeSet::new(),
        }
    }
}

/// What a host's stored ranking was computed from and how many findings it holds, read
/// without its list (a re-rank decides from it whether to scan the host in part).
#[derive(Debug, Clone, PartialEq)]
pub struct RankingBasis {
    pub source: String,
    pub basis: Option<Vec<u8>>,
    /// The ranked list's findings (its tier counts summed).
    pub findings: usize,
}

/// A host's stored ranking with what it was computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRanking {
    /// JSON list of `pw_model::Finding`, ranked.
    pub findings: String,
    /// How many of them per tier `[T0..T4]` (stored with the list).
    pub tiers: [usize; 5],
    pub source: String,
    pub basis: Option<Vec<u8>>,
}

/// The counts per tier of `host_findings.tier_counts`.
fn tier_counts(row: &AnyRow) -> anyhow::Result<[usize; 5]> {
    let tiers: String = row.try_get("tier_counts")?;
    serde_json::from_str(&tiers).context("stored tier counts unreadable")
}

/// A `host_findings` row's ranking (columns `findings, packed, tier_counts, source, basis`).
pub(crate) fn stored_ranking_of_row(row: &AnyRow) -> anyhow::Result<StoredRanking> {
    Ok(StoredRanking {
        findings: crate::findings_packed::unpack(row)?,
        tiers: tier_counts(row)?,
        source: row.try_get("source")?,
        basis: row.try_get("basis")?,
    })
}

/// A `host_findings` row's basis (columns `source, basis, tier_counts`).
pub(crate) fn ranking_basis_of_row(row: &AnyRow) -> anyhow::Result<RankingBasis> {
    let tiers = tier_counts(row)?;
    Ok(RankingBasis {
        source: row.try_get("source")?,
        basis: row.try_get("basis")?,
        findings: tiers.iter().sum(),
    })
}

impl Store {
    /// The host's stored ranking and its basis, if findings were computed.
    pub async fn stored_ranking(&self, host_id: &str) -> anyhow::Result<Option<StoredRanking>> {
        let row = sqlx::query(
            "SELECT findings, packed, tier_counts, source, basis FROM host_findings
             WHERE host_id = $1",
        )
        .bind(host_id)
        .fetch_optional(self.pool())
        .await
        .with_context(|| format!("reading the ranking of host {host_id}"))?;
        row.as_ref().map(stored_ranking_of_row).transpose()
    }

    /// What the host's stored ranking was computed from and its size, if findings were
    /// computed: one row's small columns, the list neither read nor unpacked.
    pub async fn ranking_basis(&self, host_id: &str) -> anyhow::Result<Option<RankingBasis>> {
        let row =
            sqlx::query("SELECT source, basis, tier_counts FROM host_findings WHERE host_id = $1")
                .bind(host_id)
                .fetch_optional(self.pool())
                .await
                .with_context(|| format!("reading the ranking basis of host {host_id}"))?;
        row.as_ref().map(ranking_basis_of_row).transpose()
    }

    /// How many open findings of the host are of `binaries` (counted in the database: nothing
    /// but the count is read).
    pub async fn open_findings_of(
        &self,
        host_id: &str,
        binaries: &BTreeSet<String>,
    ) -> anyhow::Result<usize> {
        let select = format!("SELECT COUNT(*) AS n {OPEN_OF_HOST}");
        let mut conn = self.pool().acquire().await?;
        let rows = rows_of_binaries(&mut conn, &select, host_id.to_owned(), binaries)
            .await
            .context("counting the open findings of some binaries")?;
        let mut count = 0;
        for row in &rows {
            count += usize::try_from(row.try_get::<i64, _>("n")?)?;
        }
        Ok(count)
    }

    /// Forgets what the host's stored ranking was computed from (a re-rank that failed may have
    /// left it behind the feeds): the next re-rank scans the host whole.
    pub async fn forget_ranking_basis(&self, host_id: &str) -> anyhow::Result<()> {
        let mut tx = self.begin_immediate().await?;
        sqlx::query("UPDATE host_findings SET basis = NULL WHERE host_id = $1")
            .bind(host_id)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("forgetting the ranking basis of host {host_id}"))?;
        tx.commit().await.context("committing a forgotten basis")?;
        Ok(())
    }

    /// When each open finding the host's `covered` covers was first seen, by binary and
    /// advisory ([`Store::first_sights`] for part of a host).
    pub async fn first_sights_of(
        &self,
        host_id: &str,
        covered: &Covered,
    ) -> anyhow::Result<crate::FirstSights> {
        let columns = "SELECT k.binary_name, k.advisory, o.first_seen";
        let (by_binary, by_key) = (
            format!("{columns} {OPEN_OF_HOST}"),
            format!("{columns} {OPEN_OF_HOST_BY_KEY}"),
        );
        let selects = (by_binary.as_str(), by_key.as_str());
        let mut conn = self.pool().acquire().await?;
        let rows = covered_rows(&mut conn, selects, host_id.to_owned(), covered)
            .await
            .context("reading the first sights of open findings")?;
        let mut sights = crate::FirstSights::default();
        for row in &rows {
            sights.insert(
                row.try_get("binary_name")?,
                row.try_get("advisory")?,
                instant(row, "first_seen")?,
            );
        }
        Ok(sights)
    }
}

/// `select` (ending in a WHERE clause with its one parameter) of `names` binary names.
pub(crate) fn of_binaries(select: &str, names: usize) -> String {
    let names = crate::db::placeholders(2, names);
    format!("{select} AND k.binary_name IN ({names})")
}

/// `select` (ending in a WHERE clause with its one parameter) of `keys` keys (binary, advisory).
pub(crate) fn of_keys(select: &str, keys: usize) -> String {
    let keys = crate::db::value_rows_after(1, keys, 2);
    format!("{select} AND (k.binary_name, k.advisory) IN (VALUES {keys})")
}

/// The rows of `select` (ending in a WHERE clause with its one parameter, `first`) whose
/// `k.binary_name` is one of `binaries`, a statement per [`NAMES`] names.
pub(crate) async fn rows_of_binaries<T>(
    conn: &mut sqlx::AnyConnection,
    select: &str,
    first: T,
    binaries: &BTreeSet<String>,
) -> sqlx::Result<Vec<AnyRow>>
where
    T: for<'q> sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any> + Clone + Send + 'static,
{
    let names: Vec<&String> = binaries.iter().collect();
    let mut rows = Vec::new();
    for chunk in names.chunks(NAMES) {
        let sql = of_binaries(select, chunk.len());
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(first.clone());
        for name in chunk {
            query = query.bind((*name).clone());
        }
        rows.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(rows)
}

/// The rows whose key `covered` covers of `by_binary` (as [`rows_of_binaries`] takes it), a
/// statement per [`NAMES`] of its binaries, and of `by_key` (the same, keys first), a statement
/// per [`NAMES`] of its keys.
///
/// `by_key` names `finding_keys k` first, then `CROSS JOIN open_findings o`: the keys are found
/// by name and advisory (their unique index), then the host's episodes by their primary key
/// (host, key). SQLite joins a `CROSS JOIN`'s tables in the order written; without statistics
/// it walked the host's ~1,000 episodes and looked each one's key up to filter it (0.74 ms
/// against 0.004 for two keys, measured). By binary the walk stays: a kernel binary has
/// ~1,100 keys across the fleet, and reading them first was ×1.7 slower than the walk for the
/// kernel's binaries of a host (×0.2 for six small binaries). PostgreSQL plans a `CROSS JOIN`
/// with its `WHERE` as any inner join.
pub(crate) async fn covered_rows<T>(
    conn: &mut sqlx::AnyConnection,
    (by_binary, by_key): (&str, &str),
    first: T,
    covered: &Covered,
) -> sqlx::Result<Vec<AnyRow>>
where
    T: for<'q> sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any> + Clone + Send + 'static,
{
    let mut rows = rows_of_binaries(conn, by_binary, first.clone(), &covered.binaries).await?;
    let keys: Vec<&(String, String)> = covered.keys.iter().collect();
    for chunk in keys.chunks(NAMES) {
        let sql = of_keys(by_key, chunk.len());
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(first.clone());
        for (binary, advisory) in chunk {
            query = query.bind(binary.clone()).bind(advisory.clone());
        }
        rows.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(rows)
}

/// Key ids → (binary, advisory) of the rows read with `binary_name` and `advisory` columns.
pub(crate) fn named_keys(
    rows: &[AnyRow],
) -> anyhow::Result<HashMap<i64, crate::finding_keys::Key>> {
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("key_id")?,
                (row.try_get("binary_name")?, row.try_get("advisory")?),
            ))
        })
        .collect()
}
