//! Finished host changes of rollouts (`0019_change_results.sql`): the staging gate's evidence.
//! Written by [`crate::Store::transition_host`] with a host's terminal transition, in its
//! transaction; read back as `pw_planner::staging::HostChangeResult`.

use std::collections::BTreeMap;

use anyhow::Context;
use pw_planner::staging::HostChangeResult;
use sqlx::Row;

use crate::Store;

/// Stores (or replaces) one finished host change.
pub(crate) async fn record(
    tx: &mut sqlx::AnyConnection,
    result: &HostChangeResult,
) -> anyhow::Result<()> {
    let what = || {
        format!(
            "recording the result of host {} in rollout {}",
            result.host_id, result.rollout_id
        )
    };
    sqlx::query(
        "INSERT INTO change_results (rollout_id, host_id, passed, drill, finished_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (rollout_id, host_id) DO UPDATE SET passed = excluded.passed,
             drill = excluded.drill, finished_at = excluded.finished_at",
    )
    .bind(&result.rollout_id)
    .bind(&result.host_id)
    .bind(i64::from(result.passed))
    .bind(i64::from(result.drill))
    .bind(result.finished_at.to_string())
    .execute(&mut *tx)
    .await
    .with_context(what)?;
    sqlx::query("DELETE FROM change_result_packages WHERE rollout_id = $1 AND host_id = $2")
        .bind(&result.rollout_id)
        .bind(&result.host_id)
        .execute(&mut *tx)
        .await
        .with_context(what)?;
    for (package, version) in &result.packages {
        sqlx::query(
            "INSERT INTO change_result_packages (rollout_id, host_id, package, version)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&result.rollout_id)
        .bind(&result.host_id)
        .bind(package)
        .bind(version)
        .execute(&mut *tx)
        .await
        .with_context(what)?;
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
