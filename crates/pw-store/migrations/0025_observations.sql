-- Observation after a rollout's last batch (issue 13 item 4; docs/design/rollout-engine.md
-- "Observation"): one row per observed host of a completed rollout. `state` is the JSON of
-- pw_rollout::Observation (phase, recorded versions, alerts); `phase` and `final` are copies
-- for reads; `next_due` (Unix seconds) is when the scheduler must tick it; `command_id` the
-- agent command (a round of checks or the late rollback) whose result it waits for; `version`
-- the optimistic lock of the scheduler's and an operator's writes.

CREATE TABLE observations (
    rollout_id TEXT NOT NULL,
    host_id    TEXT NOT NULL,
    group_name TEXT NOT NULL,
    state      TEXT NOT NULL,
    phase      TEXT NOT NULL,
    final      INTEGER NOT NULL CHECK (final IN (0, 1)),
    next_due   INTEGER,
    command_id TEXT,
    version    INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (rollout_id, host_id),
    FOREIGN KEY (rollout_id, host_id) REFERENCES rollout_hosts (rollout_id, host_id)
) STRICT;

CREATE INDEX observations_open ON observations (next_due) WHERE final = 0;
