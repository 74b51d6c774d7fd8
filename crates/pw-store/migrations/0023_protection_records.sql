-- Issue 13 item 2: the backups and snapshots taken by the protection providers of a host change
-- (docs/protection.md), one row per rollout host and item name, from the agent's change report:
-- time, size, status (verified by a restore, or failed), location and retention (expiry), and
-- whether the guard restored it after a rollback (NULL: not restored).

CREATE TABLE protection_records (
    rollout_id  TEXT NOT NULL,
    host_id     TEXT NOT NULL,
    name        TEXT NOT NULL,
    step        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    taken_at    TEXT NOT NULL,
    size_bytes  INTEGER NOT NULL CHECK (size_bytes >= 0),
    status      TEXT NOT NULL CHECK (status IN ('verified', 'failed')),
    location    TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    take_ms     INTEGER NOT NULL CHECK (take_ms >= 0),
    verify_ms   INTEGER NOT NULL CHECK (verify_ms >= 0),
    detail      TEXT NOT NULL,
    restored_ok INTEGER CHECK (restored_ok IN (0, 1)),
    restored    TEXT,
    command_id  TEXT NOT NULL,
    PRIMARY KEY (rollout_id, host_id, name),
    FOREIGN KEY (rollout_id, host_id) REFERENCES rollout_hosts (rollout_id, host_id)
) STRICT;

-- Items by expiry, for retention reports across the fleet.
CREATE INDEX protection_records_by_expiry ON protection_records(expires_at);
