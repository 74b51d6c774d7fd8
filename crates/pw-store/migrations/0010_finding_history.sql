-- Compliance history (issue 9 item 7, DESIGN.md §9 items 9 and 11): findings keep their history
-- across inventories, and operators accept risks with a reason and an expiry.

-- One row per host × finding (binary package + advisory id) × episode. An episode opens when a
-- findings computation first shows the finding and closes (fixed_at) at the first computation
-- that no longer shows it; a finding that comes back opens a new episode. Rows are never deleted
-- and a closed episode never changes again.
CREATE TABLE finding_history (
    host_id     TEXT NOT NULL REFERENCES hosts(id),
    binary_name TEXT NOT NULL,
    advisory    TEXT NOT NULL,
    episode     INTEGER NOT NULL CHECK (episode >= 1),
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    fixed_at    TEXT,
    -- The finding as last seen (JSON: pw_model::Finding), its tier (0–4) and deadline.
    tier        INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 4),
    deadline    TEXT,
    finding     TEXT NOT NULL,
    PRIMARY KEY (host_id, binary_name, advisory, episode)
) STRICT;
CREATE UNIQUE INDEX finding_history_one_open
    ON finding_history(host_id, binary_name, advisory) WHERE fixed_at IS NULL;

CREATE TRIGGER finding_history_no_delete BEFORE DELETE ON finding_history
BEGIN SELECT RAISE(ABORT, 'finding history is never deleted'); END;
CREATE TRIGGER finding_history_closed_is_final BEFORE UPDATE ON finding_history
WHEN OLD.fixed_at IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'a fixed finding episode is final'); END;

-- Accepted risks: an advisory (id or alias such as a CVE id), optionally one package (binary or
-- source name), on one host or (host_id NULL) on every host, until expires_at. Revoking keeps
-- the row (revoked_at, revoked_by).
CREATE TABLE accepted_risks (
    id          TEXT PRIMARY KEY NOT NULL,
    host_id     TEXT REFERENCES hosts(id),
    advisory    TEXT NOT NULL,
    package     TEXT,
    reason      TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    accepted_by TEXT NOT NULL,
    accepted_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT,
    revoked_by  TEXT
) STRICT;
CREATE INDEX accepted_risks_host ON accepted_risks(host_id);
