-- PostgreSQL twin of ../0023_protection_records.sql (the same table, columns and constraints;
-- TEXT is COLLATE "C" so that text sorts and compares bytewise as in SQLite).
-- Issue 13 item 2: the backups and snapshots taken by the protection providers of a host change
-- (docs/protection.md), one row per rollout host and item name, from the agent's change report:
-- time, size, status (verified by a restore, or failed), location and retention (expiry), and
-- whether the guard restored it after a rollback (NULL: not restored).

CREATE TABLE protection_records (
    rollout_id  TEXT COLLATE "C" NOT NULL,
    host_id     TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    step        TEXT COLLATE "C" NOT NULL,
    kind        TEXT COLLATE "C" NOT NULL,
    taken_at    TEXT COLLATE "C" NOT NULL,
    size_bytes  BIGINT NOT NULL CHECK (size_bytes >= 0),
    status      TEXT COLLATE "C" NOT NULL CHECK (status IN ('verified', 'failed')),
    location    TEXT COLLATE "C" NOT NULL,
    expires_at  TEXT COLLATE "C" NOT NULL,
    take_ms     BIGINT NOT NULL CHECK (take_ms >= 0),
    verify_ms   BIGINT NOT NULL CHECK (verify_ms >= 0),
    detail      TEXT COLLATE "C" NOT NULL,
    restored_ok BIGINT CHECK (restored_ok IN (0, 1)),
    restored    TEXT COLLATE "C",
    command_id  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (rollout_id, host_id, name),
    FOREIGN KEY (rollout_id, host_id) REFERENCES rollout_hosts (rollout_id, host_id)
);

-- Items by expiry, for retention reports across the fleet.
CREATE INDEX protection_records_by_expiry ON protection_records(expires_at);
