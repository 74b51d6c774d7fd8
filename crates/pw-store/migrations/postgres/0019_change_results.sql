-- PostgreSQL twin of ../0019_change_results.sql (the same tables, columns and constraints; TEXT is
-- COLLATE "C" so that text sorts and compares bytewise as in SQLite).
-- Finished host changes of rollouts, typed (issue 9 item 3): per rollout host, whether it passed
-- (done: on the exact targets, every check passed), whether a rollback drill passed there, when
-- it finished, and the exact version of every package it applied. The staging gate's evidence
-- (pw_planner::staging::HostChangeResult). Written with the host's terminal transition, in its
-- transaction.

CREATE TABLE change_results (
    rollout_id  TEXT COLLATE "C" NOT NULL,
    host_id     TEXT COLLATE "C" NOT NULL,
    passed      BIGINT NOT NULL CHECK (passed IN (0, 1)),
    drill       BIGINT NOT NULL CHECK (drill IN (0, 1)),
    finished_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (rollout_id, host_id),
    FOREIGN KEY (rollout_id, host_id) REFERENCES rollout_hosts (rollout_id, host_id)
);

CREATE TABLE change_result_packages (
    rollout_id TEXT COLLATE "C" NOT NULL,
    host_id    TEXT COLLATE "C" NOT NULL,
    package    TEXT COLLATE "C" NOT NULL,
    version    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (rollout_id, host_id, package),
    FOREIGN KEY (rollout_id, host_id) REFERENCES change_results (rollout_id, host_id)
        ON DELETE CASCADE
);

-- Hosts that finished before this migration: passed when done, no drill (none could run).
-- (The SQLite file's backfill in PostgreSQL's JSON functions; `state` is always JSON here.)
INSERT INTO change_results (rollout_id, host_id, passed, drill, finished_at)
SELECT rollout_id, host_id, CASE WHEN state_name = 'done' THEN 1 ELSE 0 END, 0,
       COALESCE(state::jsonb #>> '{state,at}', updated_at)
FROM rollout_hosts
WHERE state_name IN ('done', 'rolled_back', 'failed');

INSERT INTO change_result_packages (rollout_id, host_id, package, version)
SELECT h.rollout_id, h.host_id, t.value ->> 'package', t.value ->> 'version'
FROM rollout_hosts AS h,
     jsonb_array_elements(CASE WHEN jsonb_typeof(h.state::jsonb #> '{state,targets}') = 'array'
                               THEN h.state::jsonb #> '{state,targets}'
                               ELSE '[]'::jsonb END) AS t
WHERE h.state_name IN ('done', 'rolled_back', 'failed')
  AND t.value ->> 'package' IS NOT NULL
  AND t.value ->> 'version' IS NOT NULL
ON CONFLICT DO NOTHING;
