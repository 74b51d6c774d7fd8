//! Findings of the hosts and their history (migrations 0010, 0033 and 0037).
//!
//! A findings computation replaces the host's snapshot (`host_findings`, the ranked list the
//! API shows) and, in the same transaction, its history: per host × finding key (binary
//! package, advisory id) × episode. An episode opens at the first computation that shows the
//! finding (`first_seen`) and closes at the first that no longer does (`fixed_at`); a finding
//! that comes back opens a new episode. Open episodes are the compact current set
//! (`open_findings`, integer keys); closed ones are stored per host and computation, packed,
//! never changed nor deleted (`findings_closed.rs`). An episode names its finding's text,
//! stored once (`finding_texts.rs`), and keeps its own deadline. Times are the controller's
//! (`computed_at`), not the agent's.

use std::collections::{BTreeSet, HashMap};

use anyhow::Context;
use jiff::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::placeholders;
use crate::finding_texts::with_stored_deadline;
use crate::findings_write::rows_per_statement;
use crate::instants::{instant, nanos, optional_instant};
use crate::zdict::{TEXTS, Unpacker, text_columns};
use crate::{Store, parse_time};

/// One computation of a host's findings, to be recorded.
#[derive(Debug, Clone)]
pub struct FindingsSnapshot<'a> {
    pub host_id: &'a str,
    /// `collected_at` of the inventory scanned: a computation for an inventory older than the
    /// stored one (or older than the stored computation) is stale and not recorded.
    pub inventory_collected_at: Timestamp,
    pub computed_at: Timestamp,
    pub source: &'a str,
    /// JSON list of `pw_model::Finding`, ranked.
    pub findings_json: &'a str,
    /// JSON `[t0, t1, t2, t3, t4]`.
    pub tier_counts_json: &'a str,
    /// The same findings, one by one, for the history (duplicate keys: the first counts).
    pub current: &'a [CurrentFinding],
    /// Findings the host's evidence shows fixed by a backport (the installed changelog names
    /// their CVEs): an open episode closes with the reason (`fixed_by`); a finding never recorded
    /// gets one closed episode with the reason, once.
    pub backported: &'a [BackportedFinding],
}

/// A finding not pending because of a backport, with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct BackportedFinding {
    pub finding: CurrentFinding,
    pub reason: String,
}

/// One finding of a computation.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentFinding {
    pub binary: String,
    pub advisory: String,
    /// 0 (T0) to 4 (T4).
    pub tier: u8,
    pub deadline: Option<Timestamp>,
    /// JSON of the `pw_model::Finding`.
    pub json: String,
}

impl CurrentFinding {
    /// The history's view of a finding as the scan computed it.
    pub fn of(finding: &pw_model::Finding) -> anyhow::Result<CurrentFinding> {
        Ok(CurrentFinding {
            binary: finding.binary.clone(),
            advisory: finding.advisory.clone(),
            tier: finding.tier.index() as u8,
            deadline: finding.deadline,
            json: serde_json::to_string(finding)?,
        })
    }
}

/// What recording a computation changed in the history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryChange {
    /// Findings seen for the first time on the host.
    pub opened: usize,
    /// Findings seen again after they had been fixed (a new episode).
    pub reopened: usize,
    /// Open findings still there.
    pub kept: usize,
    /// Open findings gone (their episode closed with `fixed_at`).
    pub fixed: usize,
}

/// The outcome of [`Store::record_findings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Recorded(HistoryChange),
    /// A newer inventory or computation is already stored; nothing was written.
    Stale,
}

/// One episode of one finding on one host.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub host_id: String,
    pub hostname: String,
    pub binary: String,
    pub advisory: String,
    /// 1 for the first time the finding was seen on the host, 2 after it came back once, …
    pub episode: u32,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// `None` while the finding is open.
    pub fixed_at: Option<Timestamp>,
    /// Why the episode closed when not by an upgrade (a backport named by the changelog).
    pub fixed_by: Option<String>,
    pub tier: u8,
    pub deadline: Option<Timestamp>,
    /// JSON of the `pw_model::Finding` as last seen.
    pub finding: String,
}

/// When a host's open findings were first seen, by binary package then advisory (looked up
/// by `&str` without allocating: a scan looks up every finding it computes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FirstSights(HashMap<String, HashMap<String, Timestamp>>);

impl FirstSights {
    /// When the open finding of `binary` and `advisory` was first seen, if it is open.
    pub fn get(&self, binary: &str, advisory: &str) -> Option<Timestamp> {
        self.0.get(binary)?.get(advisory).copied()
    }

    /// How many findings are open.
    pub fn len(&self) -> usize {
        self.0.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.values().all(HashMap::is_empty)
    }

    pub(crate) fn insert(&mut self, binary: String, advisory: String, first_seen: Timestamp) {
        self.0
            .entry(binary)
            .or_default()
            .insert(advisory, first_seen);
    }
}

/// The open episode of one finding on one host.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenEpisode {
    pub host_id: String,
    pub binary: String,
    pub advisory: String,
    pub episode: u32,
    pub first_seen: Timestamp,
}

impl Store {
    /// The rows of `select` (without a WHERE) whose `column` is `host_id`, or all of them.
    pub(crate) async fn rows_of_host(
        &self,
        select: &str,
        column: &str,
        host_id: Option<&str>,
    ) -> sqlx::Result<Vec<AnyRow>> {
        // Two texts, not `($1 IS NULL OR host_id = $1)`: with the OR, SQLite reads every open
        // finding of the fleet for one host (no index applies), and every scan did so.
        match host_id {
            Some(host) => {
                sqlx::query(sqlx::AssertSqlSafe(format!("{select} WHERE {column} = $1")))
                    .bind(host)
                    .fetch_all(self.pool())
                    .await
            }
            None => {
                sqlx::query(sqlx::AssertSqlSafe(select))
                    .fetch_all(self.pool())
                    .await
            }
        }
    }

    /// The open episodes of one host's findings, or of every host's.
    pub async fn open_episodes(&self, host_id: Option<&str>) -> anyhow::Result<Vec<OpenEpisode>> {
        let select =
            "SELECT host_id, binary_name, advisory, episode, first_seen FROM open_findings_named";
        let rows = self
            .rows_of_host(select, "host_id", host_id)
            .await
            .context("reading open findings")?;
        rows.iter()
            .map(|r| {
                Ok(OpenEpisode {
                    host_id: r.try_get("host_id")?,
                    binary: r.try_get("binary_name")?,
                    advisory: r.try_get("advisory")?,
                    episode: u32::try_from(r.try_get::<i64, _>("episode")?)
                        .context("episode out of range")?,
                    first_seen: instant(r, "first_seen")?,
                })
            })
            .collect()
    }

    /// When each open finding of one host was first seen, by binary package and advisory: what
    /// a scan needs of the host's history (three columns of its open findings, read for every
    /// scan, instead of the whole episodes with the host's id on each).
    pub async fn first_sights(&self, host_id: &str) -> anyhow::Result<FirstSights> {
        let rows = sqlx::query(
            "SELECT k.binary_name, k.advisory, o.first_seen
               FROM finding_hosts h
               JOIN open_findings o ON o.host_key = h.key
               JOIN finding_keys k ON k.id = o.key_id
              WHERE h.host_id = $1",
        )
        .bind(host_id)
        .fetch_all(self.pool())
        .await
        .context("reading the first sights of open findings")?;
        let mut sights = FirstSights::default();
        for row in &rows {
            let binary: String = row.try_get("binary_name")?;
            let advisory: String = row.try_get("advisory")?;
            sights.insert(binary, advisory, instant(row, "first_seen")?);
        }
        Ok(sights)
    }

    /// Every episode of every finding of one host: open ones first, then by when they were
    /// fixed (latest first), binary, advisory and episode.
    pub async fn finding_history(&self, host_id: &str) -> anyhow::Result<Vec<HistoryRow>> {
        // An open episode was last seen by the host's latest computation (the write path does
        // not touch an unchanged open episode: `findings_write.rs`).
        let sql = format!(
            "SELECT f.*, h.hostname, {}, c.computed_at
             FROM open_findings_named f
             JOIN finding_texts t ON t.id = f.text_id
             JOIN hosts h ON h.id = f.host_id
             LEFT JOIN host_findings c ON c.host_id = f.host_id
             WHERE f.host_id = $1",
            text_columns("t")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(host_id)
            .fetch_all(self.pool())
            .await
            .with_context(|| format!("reading the finding history of host {host_id}"))?;
        let mut unpacker = Unpacker::new(&TEXTS);
        let mut history = rows
            .iter()
            .map(|row| open_history_row(row, &mut unpacker))
            .collect::<anyhow::Result<Vec<_>>>()?;
        history.extend(self.closed_episodes(Some(host_id)).await?);
        history.sort_by(|a, b| {
            (&a.binary, &a.advisory, a.episode).cmp(&(&b.binary, &b.advisory, b.episode))
        });
        // Stable: equal fixing times keep the key order (timestamps compare parsed).
        history.sort_by_key(|row| (row.fixed_at.is_some(), std::cmp::Reverse(row.fixed_at)));
        Ok(history)
    }
}

impl Store {
    /// Every closed episode of every host (for reports), by host, binary, advisory and episode.
    /// Fixing times are compared by the caller, parsed.
    pub async fn fixed_episodes(&self) -> anyhow::Result<Vec<HistoryRow>> {
        let mut fixed = self.closed_episodes(None).await?;
        fixed.sort_by(|a, b| {
            (&a.host_id, &a.binary, &a.advisory, a.episode).cmp(&(
                &b.host_id,
                &b.binary,
                &b.advisory,
                b.episode,
            ))
        });
        Ok(fixed)
    }
}

fn open_history_row(row: &AnyRow, unpacker: &mut Unpacker) -> anyhow::Result<HistoryRow> {
    let first_seen = instant(row, "first_seen")?;
    let computed_at: Option<String> = row.try_get("computed_at")?;
    let deadline: Option<i64> = row.try_get("deadline")?;
    Ok(HistoryRow {
        host_id: row.try_get("host_id")?,
        hostname: row.try_get("hostname")?,
        binary: row.try_get("binary_name")?,
        advisory: row.try_get("advisory")?,
        episode: u32::try_from(row.try_get::<i64, _>("episode")?)
            .context("episode out of range")?,
        first_seen,
        last_seen: match computed_at {
            Some(text) => parse_time(&text)?,
            None => first_seen,
        },
        fixed_at: None,
        fixed_by: None,
        tier: u8::try_from(row.try_get::<i64, _>("tier")?).context("tier out of range")?,
        deadline: optional_instant(row, "deadline")?,
        finding: with_stored_deadline(unpacker.text_of_row(row)?, deadline)?,
    })
}

/// One open finding as stored, for the tally's accepted risks.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenFinding {
    pub host_id: String,
    pub binary: String,
    pub advisory: String,
    /// JSON of the `pw_model::Finding`.
    pub finding: String,
}

impl Store {
    /// The fleet's open findings per tier (0–4): how many, and how many of them are past their
    /// deadline at `now` (the /metrics gauges; no finding is read or parsed), from the per-host
    /// summary (`open_tier_hosts`: a row per host, tier and deadline, ~5 a host), the overdue
    /// ones through its index by deadline. Deadlines compare as stored integers
    /// (`instants.rs`), exactly.
    pub async fn open_tier_counts(&self, now: Timestamp) -> anyhow::Result<[(u64, u64); 5]> {
        let open = sqlx::query(
            "SELECT tier, CAST(SUM(findings) AS BIGINT) AS n FROM open_tier_hosts GROUP BY tier",
        )
        .fetch_all(self.pool())
        .await
        .context("counting open findings")?;
        let overdue = sqlx::query(
            "SELECT tier, CAST(SUM(findings) AS BIGINT) AS n FROM open_tier_hosts
             WHERE deadline < $1 GROUP BY tier",
        )
        .bind(nanos(now))
        .fetch_all(self.pool())
        .await
        .context("counting overdue findings")?;
        let mut counts = [(0, 0); 5];
        for (rows, overdue) in [(&open, false), (&overdue, true)] {
            for row in rows {
                let tier = usize::try_from(row.try_get::<i64, _>("tier")?).context("tier")?;
                let slot = counts.get_mut(tier).context("tier out of range")?;
                let n = u64::try_from(row.try_get::<i64, _>("n")?)?;
                if overdue {
                    slot.1 = n;
                } else {
                    slot.0 = n;
                }
            }
        }
        Ok(counts)
    }

    /// The open findings whose stored text names `advisory` (an advisory id or alias, ASCII
    /// case ignored), on one host or every host: a superset of those an accepted risk for it
    /// covers (the caller applies the exact rule).
    pub async fn open_findings_naming(
        &self,
        advisory: &str,
        host_id: Option<&str>,
    ) -> anyhow::Result<Vec<OpenFinding>> {
        // Texts are stored compressed (`zdict.rs`): each is read and searched here, as the
        // `LIKE '%"name"%'` on the JSON did (ASCII case ignored).
        let needle = format!("\"{}\"", advisory.to_ascii_lowercase());
        let sql = format!(
            "SELECT id, advisory, {} FROM finding_texts t",
            text_columns("t")
        );
        let mut unpacker = Unpacker::new(&TEXTS);
        let mut texts = HashMap::new();
        let mut advisories = BTreeSet::new();
        for row in (sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await)
            .with_context(|| format!("reading the finding texts naming {advisory}"))?
        {
            let text = unpacker.text_of_row(&row)?;
            if text.to_ascii_lowercase().contains(&needle) {
                texts.insert(row.try_get::<i64, _>("id")?, text);
                advisories.insert(row.try_get::<String, _>("advisory")?);
            }
        }
        // Their open episodes: those of their advisories' finding keys (a finding key's advisory
        // is its texts'), each host's by the primary key (the open set has no index by text
        // since migration 0046), the texts' own kept.
        let mut found = Vec::new();
        let advisories: Vec<String> = advisories.into_iter().collect();
        for chunk in advisories.chunks(rows_per_statement(1)) {
            let query = naming_sql(chunk.len(), host_id.is_some());
            let mut query = sqlx::query(sqlx::AssertSqlSafe(query));
            for advisory in chunk {
                query = query.bind(advisory.as_str());
            }
            if let Some(host) = host_id {
                query = query.bind(host);
            }
            let rows = query
                .fetch_all(self.pool())
                .await
                .with_context(|| format!("reading open findings naming {advisory}"))?;
            for r in &rows {
                let Some(text) = texts.get(&r.try_get::<i64, _>("text_id")?) else {
                    continue;
                };
                found.push(OpenFinding {
                    host_id: r.try_get("host_id")?,
                    binary: r.try_get("binary_name")?,
                    advisory: r.try_get("advisory")?,
                    finding: with_stored_deadline(text.clone(), r.try_get("deadline")?)?,
                });
            }
        }
        Ok(found)
    }
}

/// The open episodes of the finding keys of `advisories` advisories (`$1`…), on the host whose
/// id follows when `on_host`, with the host's id, the key's names, the deadline and the text's
/// id: those keys (a scan of `finding_keys`) on every host (or the one), each episode by the
/// primary key (the open set has no index by text since migration 0046). Every host, not only
/// those the console's update summary names: an accepted risk's findings are read from the open
/// set alone.
pub(crate) fn naming_sql(advisories: usize, on_host: bool) -> String {
    let select = format!(
        "SELECT h.host_id, f.binary_name, f.advisory, s.deadline, o.text_id
         FROM finding_keys f CROSS JOIN finding_hosts h CROSS JOIN open_episodes o
           CROSS JOIN open_stamps s
         WHERE f.advisory IN ({}) AND o.host_key = h.key AND o.key_id = f.id
           AND s.host_key = o.host_key AND s.stamp = o.stamp",
        placeholders(1, advisories)
    );
    match on_host {
        true => format!("{select} AND h.host_id = ${}", advisories + 1),
        false => select,
    }
}
