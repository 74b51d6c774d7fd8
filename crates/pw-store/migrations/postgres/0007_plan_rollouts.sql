-- PostgreSQL twin of ../0007_plan_rollouts.sql (the same tables, columns and constraints; TEXT is
-- COLLATE "C" so that text sorts and compares bytewise as in SQLite).
-- Rollouts of stored change plans (issue 5): which plan (and which of its versions) a rollout
-- carries out, at most one running or paused rollout per plan, and agents that are read-only but
-- accept changes of approved plans.

ALTER TABLE rollouts ADD COLUMN plan_id BIGINT REFERENCES plans(id);
ALTER TABLE rollouts ADD COLUMN plan_version BIGINT;
CREATE UNIQUE INDEX rollouts_one_active_per_plan ON rollouts(plan_id)
    WHERE plan_id IS NOT NULL AND status IN ('running', 'paused');

-- 1 when the agent runs `--read-only --allow-approved-plans` (reported with every heartbeat).
ALTER TABLE hosts ADD COLUMN plan_changes BIGINT NOT NULL DEFAULT 0;
