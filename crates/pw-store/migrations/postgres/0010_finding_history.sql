-- PostgreSQL twin of ../0010_finding_history.sql (the same tables, columns and constraints; TEXT is
-- COLLATE "C" so that text sorts and compares bytewise as in SQLite).
-- Compliance history (issue 9 item 7, DESIGN.md §9 items 9 and 11): findings keep their history
-- across inventories, and operators accept risks with a reason and an expiry.

-- One row per host × finding (binary package + advisory id) × episode. An episode opens when a
-- findings computation first shows the finding and closes (fixed_at) at the first computation
-- that no longer shows it; a finding that comes back opens a new episode. Rows are never deleted
-- and a closed episode never changes again.
CREATE TABLE finding_history (
    host_id     TEXT COLLATE "C" NOT NULL REFERENCES hosts(id),
    binary_name TEXT COLLATE "C" NOT NULL,
    advisory    TEXT COLLATE "C" NOT NULL,
    episode     BIGINT NOT NULL CHECK (episode >= 1),
    first_seen  TEXT COLLATE "C" NOT NULL,
    last_seen   TEXT COLLATE "C" NOT NULL,
    fixed_at    TEXT COLLATE "C",
    -- The finding as last seen (JSON: pw_model::Finding), its tier (0–4) and deadline.
    tier        BIGINT NOT NULL CHECK (tier BETWEEN 0 AND 4),
    deadline    TEXT COLLATE "C",
    finding     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (host_id, binary_name, advisory, episode)
);
CREATE UNIQUE INDEX finding_history_one_open
    ON finding_history(host_id, binary_name, advisory) WHERE fixed_at IS NULL;

CREATE TRIGGER finding_history_no_delete BEFORE DELETE ON finding_history
FOR EACH ROW EXECUTE FUNCTION pw_refuse('finding history is never deleted');
CREATE TRIGGER finding_history_closed_is_final BEFORE UPDATE ON finding_history
FOR EACH ROW WHEN (OLD.fixed_at IS NOT NULL) EXECUTE FUNCTION pw_refuse('a fixed finding episode is final');

-- Accepted risks: an advisory (id or alias such as a CVE id), optionally one package (binary or
-- source name), on one host or (host_id NULL) on every host, until expires_at. Revoking keeps
-- the row (revoked_at, revoked_by).
CREATE TABLE accepted_risks (
    id          TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    host_id     TEXT COLLATE "C" REFERENCES hosts(id),
    advisory    TEXT COLLATE "C" NOT NULL,
    package     TEXT COLLATE "C",
    reason      TEXT COLLATE "C" NOT NULL CHECK (length(trim(reason)) > 0),
    accepted_by TEXT COLLATE "C" NOT NULL,
    accepted_at TEXT COLLATE "C" NOT NULL,
    expires_at  TEXT COLLATE "C" NOT NULL,
    revoked_at  TEXT COLLATE "C",
    revoked_by  TEXT COLLATE "C"
);
CREATE INDEX accepted_risks_host ON accepted_risks(host_id);
