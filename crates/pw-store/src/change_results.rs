//! Finished host changes of rollouts (`0019_change_results.sql`): the staging gate's evidence.
//! Written by [`crate::Store::transition_hosts`] with hosts' terminal transitions, in its
//! transaction; read back as `pw_planner::staging::HostChangeResult`.

use std::collections::BTreeMap;

use anyhow::Context;
use pw_planner::staging::HostChangeResult;
use sqlx::Row;

use crate::Store;

/// Finished host changes per statement (5 parameters a change, bound by position on SQLite:
/// `db::value_rows_in`).
const RESULTS_PER_STATEMENT: usize = 500;

/// Stores (or replaces) finished host changes, several per statement (a scheduler pass takes a
/// batch's results together: one statement each was a round trip per host).
pub(crate) async fn record(
    tx: &mut sqlx::AnyConnection,
    results: &[&HostChangeResult],
) -> anyhow::Result<()> {
    // A host's later result replaces its earlier one (one statement may not touch a row twice).
    let mut last = std::collections::HashMap::new();
    for (at, result) in results.iter().enumerate() {
        last.insert((&result.rollout_id, &result.host_id), at);
    }
    let results: Vec<&HostChangeResult> = (results.iter().enumerate())
        .filter(|(at, r)| last.get(&(&r.rollout_id, &r.host_id)) == Some(at))
        .map(|(_, r)| *r)
        .collect();
    for chunk in results.chunks(RESULTS_PER_STATEMENT) {
        let what = || {
            format!(
                "recording the results of hosts {} to {} in rollout {}",
                chunk[0].host_id,
                chunk[chunk.len() - 1].host_id,
                chunk[0].rollout_id
            )
        };
        let sql = format!(
            "INSERT INTO change_results (rollout_id, host_id, passed, drill, finished_at)
             VALUES {}
             ON CONFLICT (rollout_id, host_id) DO UPDATE SET passed = excluded.passed,
                 drill = excluded.drill, finished_at = excluded.finished_at",
            crate::db::value_rows_in(tx, chunk.len(), 5)
        );
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
        for result in chunk {
            insert = insert
                .bind(&result.rollout_id)
                .bind(&result.host_id)
                .bind(i64::from(result.passed))
                .bind(i64::from(result.drill))
                .bind(result.finished_at.to_string());
        }
        insert.execute(&mut *tx).await.with_context(what)?;
        let sql = format!(
            "DELETE FROM change_result_packages WHERE (rollout_id, host_id) IN (VALUES {})",
            crate::db::value_rows_in(tx, chunk.len(), 2)
        );
        let mut delete = sqlx::query(sqlx::AssertSqlSafe(sql));
        for result in chunk {
            delete = delete.bind(&result.rollout_id).bind(&result.host_id);
        }
        delete.execute(&mut *tx).await.with_context(what)?;
        let packages: Vec<(&HostChangeResult, &String, &String)> = (chunk.iter())
            .flat_map(|r| r.packages.iter().map(move |(p, v)| (*r, p, v)))
            .collect();
        for rows in packages.chunks(RESULTS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO change_result_packages (rollout_id, host_id, package, version)
                 VALUES {}",
                crate::db::value_rows_in(tx, rows.len(), 4)
            );
            let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (result, package, version) in rows {
                insert = insert
                    .bind(&result.rollout_id)
                    .bind(&result.host_id)
                    .bind(*package)
                    .bind(*version);
            }
            insert.execute(&mut *tx).await.with_context(what)?;
        }
    }
    Ok(())
}

impl Store {
    /// Every finished rollout host change (done, rolled back or failed), oldest first: host,
    /// the exact versions applied, passed (done and verified), drill (a rollback drill passed
    /// there) and when it finished. Feed to `pw_planner::staging::staging_runs`.
    pub async fn change_results(&self) -> anyhow::Result<Vec<HostChangeResult>> {
        let rows = sqlx::query(
            "SELECT rollout_id, host_id, passed, drill, finished_at FROM change_results
             ORDER BY finished_at, rollout_id, host_id",
        )
        .fetch_all(self.pool())
        .await
        .context("reading change results")?;
        let packages = sqlx::query(
            "SELECT rollout_id, host_id, package, version FROM change_result_packages
             ORDER BY rollout_id, host_id, package",
        )
        .fetch_all(self.pool())
        .await
        .context("reading change result packages")?;
        let mut by_host: BTreeMap<(String, String), BTreeMap<String, String>> = BTreeMap::new();
        for row in &packages {
            let key = (row.try_get("rollout_id")?, row.try_get("host_id")?);
            let (package, version): (String, String) =
                (row.try_get("package")?, row.try_get("version")?);
            by_host.entry(key).or_default().insert(package, version);
        }
        rows.iter()
            .map(|row| {
                let rollout_id: String = row.try_get("rollout_id")?;
                let host_id: String = row.try_get("host_id")?;
                let finished_at: String = row.try_get("finished_at")?;
                let finished_at = finished_at.parse().with_context(|| {
                    format!(
                        "change result of {host_id} in {rollout_id}: finished_at {finished_at:?}"
                    )
                })?;
                let key = (rollout_id, host_id);
                let packages = by_host.remove(&key).unwrap_or_default();
                let (rollout_id, host_id) = key;
                Ok(HostChangeResult {
                    rollout_id,
                    host_id,
                    packages,
                    passed: crate::flag(row, "passed")?,
                    drill: crate::flag(row, "drill")?,
                    finished_at,
                })
            })
            .collect()
    }
}
