-- Rollouts: the plan and policy (pw-rollout versioned JSON documents), one durable state per
-- host with an optimistic-lock version, versions blocked fleet-wide, and the change reports
-- agents send with the results of `apply_change` commands.

CREATE TABLE rollouts (
    id         TEXT PRIMARY KEY NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    -- running | paused | completed | stopped
    status     TEXT NOT NULL,
    -- pw_rollout::RolloutPlan, pw_rollout::Policy (to_json), pw_protocol::HealthCheckSpec list
    plan       TEXT NOT NULL,
    policy     TEXT NOT NULL,
    checks     TEXT NOT NULL,
    -- the last decision's summary (JSON: why it waits, why it stopped, failures)
    detail     TEXT NOT NULL DEFAULT '{}',
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE rollout_hosts (
    rollout_id  TEXT NOT NULL REFERENCES rollouts(id),
    host_id     TEXT NOT NULL REFERENCES hosts(id),
    position    INTEGER NOT NULL,
    -- pw_rollout::HostChange (to_json); written before any command of the transition exists
    state       TEXT NOT NULL,
    state_name  TEXT NOT NULL,
    row_version INTEGER NOT NULL,
    -- the agent command the current state waits for
    command_id  TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (rollout_id, host_id)
) STRICT;

CREATE TABLE blocked_versions (
    package    TEXT NOT NULL,
    version    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    rollout_id TEXT NOT NULL,
    host_id    TEXT NOT NULL,
    blocked_at TEXT NOT NULL,
    PRIMARY KEY (package, version)
) STRICT;

CREATE TABLE change_reports (
    command_id  TEXT PRIMARY KEY NOT NULL REFERENCES commands(id),
    report      TEXT NOT NULL,
    received_at TEXT NOT NULL
) STRICT;
