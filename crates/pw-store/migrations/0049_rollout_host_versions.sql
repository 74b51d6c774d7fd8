-- A rollout's host versions kept with it (issue 15, per-batch overhead at 10,000 hosts). The
-- scheduler keeps a rollout's hosts between passes and trusts them while the sum of their
-- `row_version`s is the stored one (pw-controller's `scheduler_load.rs`); each pass summed the
-- 10,000 rows (2.6–10 ms on SQLite under load, the rows' states read with them). The sum is now
-- a column of the rollout, read with it by every pass (`active_rollouts`) and kept by the only
-- two writers of `rollout_hosts`: the rollout's creation (every host at version 1) and
-- `transitions.rs` (each row it updates is one version more), in the same transaction.
ALTER TABLE rollouts ADD COLUMN host_versions INTEGER NOT NULL DEFAULT 0;
UPDATE rollouts SET host_versions =
  (SELECT COALESCE(SUM(row_version), 0) FROM rollout_hosts WHERE rollout_id = rollouts.id);
