-- PostgreSQL twin of ../0005_rollout_controls.sql (the same tables, columns and constraints; TEXT is
-- COLLATE "C" so that text sorts and compares bytewise as in SQLite).
-- Rollout engine, part 2: the protection steps a rollout's agents run before installing, the
-- operators' control of each rollout (pw_rollout::RolloutControl JSON: paused_by, stopped_by,
-- accepted failed batches), and an index for reading a rollout's operation log from the audit
-- chain (subjects `ROLLOUT` and `ROLLOUT/HOST`).

ALTER TABLE rollouts ADD COLUMN protection_steps TEXT COLLATE "C" NOT NULL DEFAULT '[]';
ALTER TABLE rollouts ADD COLUMN control TEXT COLLATE "C" NOT NULL DEFAULT '{}';

CREATE INDEX audit_by_subject ON audit (subject, seq);
