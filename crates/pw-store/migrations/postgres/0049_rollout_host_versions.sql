-- A rollout's host versions kept with it: the SQLite migration's comment says why.
ALTER TABLE rollouts ADD COLUMN host_versions BIGINT NOT NULL DEFAULT 0;
UPDATE rollouts SET host_versions =
  (SELECT COALESCE(SUM(row_version), 0) FROM rollout_hosts WHERE rollout_id = rollouts.id);
