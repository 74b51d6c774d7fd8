-- PostgreSQL twin of ../0009_evidence.sql (the same tables, columns and constraints; TEXT is
-- COLLATE "C" so that text sorts and compares bytewise as in SQLite).
-- Evidence collected by agents for the risk checklist (`collect_evidence`, docs/planning.md):
-- the latest report per host and target set, with the agent's collection time. A newer report
-- for the same targets replaces the older one; the audit chain keeps every request and result.
-- Depends only on 0003 (hosts, commands).

CREATE TABLE host_evidence (
    host_id      TEXT COLLATE "C" NOT NULL REFERENCES hosts(id),
    -- The targets as sorted `name=version` lines: one row per target set.
    targets_key  TEXT COLLATE "C" NOT NULL,
    -- JSON array of pw_protocol::PackagePin, as requested.
    targets      TEXT COLLATE "C" NOT NULL,
    -- The collect_evidence command that brought it.
    command_id   TEXT COLLATE "C" NOT NULL REFERENCES commands(id),
    -- When the agent collected it (its clock), RFC 3339.
    collected_at TEXT COLLATE "C" NOT NULL,
    -- When the controller stored it.
    received_at  TEXT COLLATE "C" NOT NULL,
    -- JSON of pw_protocol::EvidenceReport, validated before it was stored.
    report       TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (host_id, targets_key)
);
CREATE INDEX host_evidence_latest ON host_evidence(host_id, collected_at);
