-- Finished host changes of rollouts, typed (issue 9 item 3): per rollout host, whether it passed
-- (done: on the exact targets, every check passed), whether a rollback drill passed there, when
-- it finished, and the exact version of every package it applied. The staging gate's evidence
-- (pw_planner::staging::HostChangeResult). Written with the host's terminal transition, in its
-- transaction.

CREATE TABLE change_results (
    rollout_id  TEXT NOT NULL,
    host_id     TEXT NOT NULL,
    passed      INTEGER NOT NULL CHECK (passed IN (0, 1)),
    drill       INTEGER NOT NULL CHECK (drill IN (0, 1)),
    finished_at TEXT NOT NULL,
    PRIMARY KEY (rollout_id, host_id),
    FOREIGN KEY (rollout_id, host_id) REFERENCES rollout_hosts (rollout_id, host_id)
) STRICT;

CREATE TABLE change_result_packages (
    rollout_id TEXT NOT NULL,
    host_id    TEXT NOT NULL,
    package    TEXT NOT NULL,
    version    TEXT NOT NULL,
    PRIMARY KEY (rollout_id, host_id, package),
    FOREIGN KEY (rollout_id, host_id) REFERENCES change_results (rollout_id, host_id)
        ON DELETE CASCADE
) STRICT;

-- Hosts that finished before this migration: passed when done, no drill (none could run).
INSERT INTO change_results (rollout_id, host_id, passed, drill, finished_at)
SELECT rollout_id, host_id, state_name = 'done', 0,
       COALESCE(json_extract(state, '$.state.at'), updated_at)
FROM rollout_hosts
WHERE state_name IN ('done', 'rolled_back', 'failed') AND json_valid(state);

INSERT OR IGNORE INTO change_result_packages (rollout_id, host_id, package, version)
SELECT h.rollout_id, h.host_id, json_extract(t.value, '$.package'),
       json_extract(t.value, '$.version')
FROM rollout_hosts AS h, json_each(h.state, '$.state.targets') AS t
WHERE h.state_name IN ('done', 'rolled_back', 'failed') AND json_valid(h.state)
  AND json_extract(t.value, '$.package') IS NOT NULL
  AND json_extract(t.value, '$.version') IS NOT NULL;
