-- Evidence collected by agents for the risk checklist (`collect_evidence`, docs/planning.md):
-- the latest report per host and target set, with the agent's collection time. A newer report
-- for the same targets replaces the older one; the audit chain keeps every request and result.
-- Depends only on 0003 (hosts, commands).

CREATE TABLE host_evidence (
    host_id      TEXT NOT NULL REFERENCES hosts(id),
    -- The targets as sorted `name=version` lines: one row per target set.
    targets_key  TEXT NOT NULL,
    -- JSON array of pw_protocol::PackagePin, as requested.
    targets      TEXT NOT NULL,
    -- The collect_evidence command that brought it.
    command_id   TEXT NOT NULL REFERENCES commands(id),
    -- When the agent collected it (its clock), RFC 3339.
    collected_at TEXT NOT NULL,
    -- When the controller stored it.
    received_at  TEXT NOT NULL,
    -- JSON of pw_protocol::EvidenceReport, validated before it was stored.
    report       TEXT NOT NULL,
    PRIMARY KEY (host_id, targets_key)
) STRICT;
CREATE INDEX host_evidence_latest ON host_evidence(host_id, collected_at);
