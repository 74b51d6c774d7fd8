-- PostgreSQL twin of ../0004_rollouts.sql (the same tables, columns and constraints; TEXT is
-- COLLATE "C" so that text sorts and compares bytewise as in SQLite).
-- Rollouts: the plan and policy (pw-rollout versioned JSON documents), one durable state per
-- host with an optimistic-lock version, versions blocked fleet-wide, and the change reports
-- agents send with the results of `apply_change` commands.

CREATE TABLE rollouts (
    id         TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    created_by TEXT COLLATE "C" NOT NULL,
    -- running | paused | completed | stopped
    status     TEXT COLLATE "C" NOT NULL,
    -- pw_rollout::RolloutPlan, pw_rollout::Policy (to_json), pw_protocol::HealthCheckSpec list
    plan       TEXT COLLATE "C" NOT NULL,
    policy     TEXT COLLATE "C" NOT NULL,
    checks     TEXT COLLATE "C" NOT NULL,
    -- the last decision's summary (JSON: why it waits, why it stopped, failures)
    detail     TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    updated_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE rollout_hosts (
    rollout_id  TEXT COLLATE "C" NOT NULL REFERENCES rollouts(id),
    host_id     TEXT COLLATE "C" NOT NULL REFERENCES hosts(id),
    position    BIGINT NOT NULL,
    -- pw_rollout::HostChange (to_json); written before any command of the transition exists
    state       TEXT COLLATE "C" NOT NULL,
    state_name  TEXT COLLATE "C" NOT NULL,
    row_version BIGINT NOT NULL,
    -- the agent command the current state waits for
    command_id  TEXT COLLATE "C",
    updated_at  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (rollout_id, host_id)
);

CREATE TABLE blocked_versions (
    package    TEXT COLLATE "C" NOT NULL,
    version    TEXT COLLATE "C" NOT NULL,
    reason     TEXT COLLATE "C" NOT NULL,
    rollout_id TEXT COLLATE "C" NOT NULL,
    host_id    TEXT COLLATE "C" NOT NULL,
    blocked_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (package, version)
);

CREATE TABLE change_reports (
    command_id  TEXT COLLATE "C" PRIMARY KEY NOT NULL REFERENCES commands(id),
    report      TEXT COLLATE "C" NOT NULL,
    received_at TEXT COLLATE "C" NOT NULL
);
