//! What the console's summaries read of a finding text (`update_summary.rs`): its update's key,
//! its KEV flag and EPSS, with the texts this process has seen stored ([`TextFactsCache`]).
//!
//! These three columns are set when a text is stored and never change (`finding_texts.rs`
//! rewrites only a text's digest and packing), so a text id once read names the same facts for
//! good. The summaries of a host's open findings are grouped from its open rows (text id, tier,
//! deadline) and these facts, instead of joining each of the host's ~800–1,800 open findings
//! with its text row in SQL on every computation (the texts' rows are large and spread over the
//! file: that join was most of a feed import's re-rank's statement time). Facts are cached only
//! once their transaction committed (a text inserted by a transaction that rolls back could give
//! its id to another text on SQLite).

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::Context;
use sqlx::Row;

use crate::db::placeholders;
use crate::findings_write::rows_per_statement;

/// Texts cached before the cache starts over (a bound on memory: a fleet of 1,000 hosts has
/// ~64,000 texts; an entry is ~40 bytes).
const MOST: usize = 1_000_000;

/// A finding text's facts the summaries group by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TextFacts {
    /// `update_keys.id` of the text's update (package, fixed version).
    pub update_key: i64,
    /// 0 or 1.
    pub kev: i64,
    pub epss: Option<f64>,
}

/// The texts' facts this process has read from committed rows.
#[derive(Debug, Default)]
pub(crate) struct TextFactsCache(Mutex<HashMap<i64, TextFacts>>);

impl TextFactsCache {
    /// Remembers facts read in a transaction that committed.
    pub(crate) fn learn(&self, read: &HashMap<i64, TextFacts>) {
        let mut known = self.0.lock().expect("text facts cache");
        if known.len() + read.len() > MOST {
            known.clear();
        }
        known.extend(read.iter().map(|(id, facts)| (*id, *facts)));
    }

    /// The facts of `ids`: the cached ones, and the others read in `tx` (also returned in the
    /// second map, to [`learn`](Self::learn) once `tx` committed).
    pub(crate) async fn facts(
        &self,
        tx: &mut sqlx::AnyConnection,
        ids: impl Iterator<Item = i64>,
    ) -> anyhow::Result<(HashMap<i64, TextFacts>, HashMap<i64, TextFacts>)> {
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        {
            let known = self.0.lock().expect("text facts cache");
            for id in ids {
                if found.contains_key(&id) {
                    continue;
                }
                match known.get(&id) {
                    Some(facts) => {
                        found.insert(id, *facts);
                    }
                    None => missing.push(id),
                }
            }
        }
        missing.sort_unstable();
        missing.dedup();
        let read = read_facts(tx, &missing).await?;
        found.extend(read.iter().map(|(id, facts)| (*id, *facts)));
        Ok((found, read))
    }
}

/// The facts of the texts `ids`, read a statement per [`rows_per_statement`] ids.
async fn read_facts(
    tx: &mut sqlx::AnyConnection,
    ids: &[i64],
) -> anyhow::Result<HashMap<i64, TextFacts>> {
    let mut read = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(rows_per_statement(1)) {
        let sql = format!(
            "SELECT id, update_key, kev, CAST(epss AS DOUBLE PRECISION) AS epss
             FROM finding_texts WHERE id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(*id);
        }
        let rows = (query.fetch_all(&mut *tx).await).context("reading finding texts' updates")?;
        for row in &rows {
            let facts = TextFacts {
                update_key: (row.try_get::<Option<i64>, _>("update_key")?)
                    .context("a finding text names no update")?,
                kev: row.try_get("kev")?,
                epss: row.try_get("epss")?,
            };
            read.insert(row.try_get("id")?, facts);
        }
    }
    anyhow::ensure!(
        read.len() == ids.len(),
        "an open finding names a text that is not stored"
    );
    Ok(read)
}
