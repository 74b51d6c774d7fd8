//! What the controller's periodic notification check reads and records (issue 12, migration
//! 0022): open findings whose deadline is near or past and not yet announced, agents silent
//! since a time and not yet announced for that silence, and the marks that make each announced
//! once; and the advisory aliases recorded with findings for the console's CVE search.

use std::collections::BTreeSet;

use anyhow::Context;
use jiff::Timestamp;
use sqlx::Row;

use crate::db::value_rows;
use crate::finding_texts::with_stored_deadline;
use crate::findings_write::rows_per_statement;
use crate::instants::{instant, nanos};
use crate::zdict::{TEXTS, Unpacker, text_columns};
use crate::{Store, optional_time};

/// Which deadline notice: near (`finding.deadline_near`) or past (`finding.overdue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeadlineNotice {
    Near,
    Overdue,
}

impl DeadlineNotice {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineNotice::Near => "near",
            DeadlineNotice::Overdue => "overdue",
        }
    }
}

/// An open finding episode due for a deadline notice.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadlineDue {
    pub host_id: String,
    pub hostname: String,
    pub binary: String,
    pub advisory: String,
    pub episode: i64,
    pub tier: u8,
    pub deadline: Timestamp,
    /// JSON of the `pw_model::Finding`.
    pub finding: String,
}

/// An agent silent since `last_seen`, not yet announced for that silence.
#[derive(Debug, Clone, PartialEq)]
pub struct SilentHost {
    pub host_id: String,
    pub hostname: String,
    pub last_seen: Timestamp,
}

impl Store {
    /// Open findings with a deadline in `(after, before]` (`after` None: any time up to
    /// `before`) not yet marked for `notice`, earliest deadline first, at most `limit`.
    pub async fn deadlines_due(
        &self,
        notice: DeadlineNotice,
        after: Option<Timestamp>,
        before: Timestamp,
        limit: u32,
    ) -> anyhow::Result<Vec<DeadlineDue>> {
        // Without `after`, every deadline up to `before` (at or above the smallest integer).
        let above = if after.is_some() { ">" } else { ">=" };
        let after = after.map_or(i64::MIN, nanos);
        // The (host, tier, deadline) groups in the window from the summary's index by deadline
        // (`open_tier_hosts`, migration 0041: ~5 a host), in deadline and host order, then each
        // group's open findings by the host's primary key range: the LIMIT stops the walk.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT g.host_id, h.hostname, k.binary_name, k.advisory, o.episode, o.tier,
                    o.deadline, {}
             FROM open_tier_hosts g
             JOIN finding_hosts fh ON fh.host_id = g.host_id
             JOIN open_findings o
               ON o.host_key = fh.key AND o.tier = g.tier AND o.deadline = g.deadline
             JOIN finding_keys k ON k.id = o.key_id
             JOIN hosts h ON h.id = g.host_id
             JOIN finding_texts t ON t.id = o.text_id
             WHERE g.deadline IS NOT NULL AND g.deadline <= $1 AND g.deadline {above} $2
               AND NOT EXISTS (SELECT 1 FROM deadline_notices n
                   WHERE n.host_id = g.host_id AND n.binary_name = k.binary_name
                     AND n.advisory = k.advisory AND n.episode = o.episode AND n.notice = $3)
             ORDER BY g.deadline, g.host_id, k.binary_name, k.advisory
             LIMIT $4",
            text_columns("t")
        )))
        .bind(nanos(before))
        .bind(after)
        .bind(notice.as_str())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .context("reading the findings due for a deadline notice")?;
        let mut unpacker = Unpacker::new(&TEXTS);
        rows.iter()
            .map(|r| {
                Ok(DeadlineDue {
                    host_id: r.try_get("host_id")?,
                    hostname: r.try_get("hostname")?,
                    binary: r.try_get("binary_name")?,
                    advisory: r.try_get("advisory")?,
                    episode: r.try_get("episode")?,
                    tier: u8::try_from(r.try_get::<i64, _>("tier")?).context("tier")?,
                    deadline: instant(r, "deadline")?,
                    finding: with_stored_deadline(
                        unpacker.text_of_row(r)?,
                        r.try_get("deadline")?,
                    )?,
                })
            })
            .collect()
    }

    /// Marks finding episodes as announced for `notice` (again is a no-op).
    pub async fn mark_deadline_notices(
        &self,
        notice: DeadlineNotice,
        due: &[DeadlineDue],
        now: Timestamp,
    ) -> anyhow::Result<()> {
        let mut tx = self.begin_immediate().await?;
        for chunk in due.chunks(rows_per_statement(6)) {
            let sql = format!(
                "INSERT INTO deadline_notices
                   (host_id, binary_name, advisory, episode, notice, emitted_at)
                 VALUES {} ON CONFLICT DO NOTHING",
                value_rows(chunk.len(), 6)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for d in chunk {
                query = query
                    .bind(d.host_id.clone())
                    .bind(d.binary.clone())
                    .bind(d.advisory.clone())
                    .bind(d.episode)
                    .bind(notice.as_str())
                    .bind(now.to_string());
            }
            query
                .execute(&mut *tx)
                .await
                .context("marking deadline notices")?;
        }
        tx.commit().await.context("committing deadline notices")
    }

    /// Hosts last heard from before `before` and not yet announced for that silence, the
    /// longest silent first, at most `limit`. Hosts never heard from after enrollment are not
    /// silent agents (they have no last contact).
    pub async fn silent_hosts(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> anyhow::Result<Vec<SilentHost>> {
        let rows = sqlx::query(
            "SELECT h.id, h.hostname, h.last_seen_at FROM hosts h
             WHERE h.last_seen_at IS NOT NULL AND h.last_seen_at < $1
               AND NOT EXISTS (SELECT 1 FROM silence_notices n
                   WHERE n.host_id = h.id AND n.last_seen = h.last_seen_at)
             ORDER BY h.last_seen_at, h.id
             LIMIT $2",
        )
        .bind(before.to_string())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .context("reading silent agents")?;
        rows.iter()
            .map(|r| {
                Ok(SilentHost {
                    host_id: r.try_get("id")?,
                    hostname: r.try_get("hostname")?,
                    last_seen: optional_time(r, "last_seen_at")?.context("last_seen_at")?,
                })
            })
            .collect()
    }

    /// Marks silences as announced (again is a no-op).
    pub async fn mark_silence_notices(
        &self,
        silent: &[SilentHost],
        now: Timestamp,
    ) -> anyhow::Result<()> {
        let mut tx = self.begin_immediate().await?;
        for chunk in silent.chunks(rows_per_statement(3)) {
            let sql = format!(
                "INSERT INTO silence_notices (host_id, last_seen, emitted_at)
                 VALUES {} ON CONFLICT DO NOTHING",
                value_rows(chunk.len(), 3)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for s in chunk {
                query = query
                    .bind(s.host_id.clone())
                    .bind(s.last_seen.to_string())
                    .bind(now.to_string());
            }
            query
                .execute(&mut *tx)
                .await
                .context("marking silence notices")?;
        }
        tx.commit().await.context("committing silence notices")
    }
}

/// Records every name of the advisories of `findings` (JSON of `pw_model::Finding`): its id and
/// its aliases, upper-cased, for the console's CVE search; names already known are kept.
pub(crate) async fn record_aliases<'a>(
    tx: &mut sqlx::AnyConnection,
    findings: impl Iterator<Item = (&'a str, &'a str)>,
) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    struct Aliases {
        #[serde(default)]
        aliases: Vec<String>,
    }
    let mut names: BTreeSet<(String, String)> = BTreeSet::new();
    for (advisory, json) in findings {
        let parsed: Aliases =
            serde_json::from_str(json).with_context(|| format!("finding of {advisory}"))?;
        names.insert((advisory.to_uppercase(), advisory.to_owned()));
        for alias in parsed.aliases {
            names.insert((alias.to_uppercase(), advisory.to_owned()));
        }
    }
    let names: Vec<_> = names.into_iter().collect();
    // Bound by position on SQLite (`db::value_rows_in`), 500 rows a statement.
    for chunk in names.chunks(500) {
        let sql = format!(
            "INSERT INTO advisory_aliases (alias, advisory) VALUES {} ON CONFLICT DO NOTHING",
            crate::db::value_rows_in(tx, chunk.len(), 2)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (alias, advisory) in chunk {
            query = query.bind(alias.clone()).bind(advisory.clone());
        }
        query
            .execute(&mut *tx)
            .await
            .context("recording advisory aliases")?;
    }
    Ok(())
}
