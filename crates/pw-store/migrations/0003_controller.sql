-- Controller: enrolled hosts, their agent identities, enrollment tokens, reported inventories,
-- pending updates, findings, commands, and the append-only audit log with a hash chain.

CREATE TABLE hosts (
    id            TEXT PRIMARY KEY NOT NULL,
    hostname      TEXT NOT NULL,
    enrolled_at   TEXT NOT NULL,
    last_seen_at  TEXT,
    agent_version TEXT,
    read_only     INTEGER NOT NULL DEFAULT 0,
    os            TEXT
) STRICT;

-- One row per issued client certificate; agents are recognized by the certificate's SHA-256.
CREATE TABLE agent_identities (
    fingerprint TEXT PRIMARY KEY NOT NULL,
    host_id     TEXT NOT NULL REFERENCES hosts(id),
    issued_at   TEXT NOT NULL,
    not_after   TEXT NOT NULL,
    revoked_at  TEXT
) STRICT;
CREATE INDEX agent_identities_host ON agent_identities(host_id);

-- Tokens are stored only as the SHA-256 of the secret; single use, expiring.
CREATE TABLE enrollment_tokens (
    id           TEXT PRIMARY KEY NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    used_at      TEXT,
    used_by_host TEXT REFERENCES hosts(id),
    note         TEXT
) STRICT;

-- The last full inventory per host (packages as JSON: pw_model::InstalledPackage list).
CREATE TABLE inventories (
    host_id            TEXT PRIMARY KEY NOT NULL REFERENCES hosts(id),
    reported_at        TEXT NOT NULL,
    collected_at       TEXT NOT NULL,
    os                 TEXT NOT NULL,
    packages           TEXT NOT NULL,
    package_count      INTEGER NOT NULL,
    reboot_required    INTEGER NOT NULL,
    reboot_required_by TEXT NOT NULL,
    -- 0 when the agent did not look at its package manager's offers.
    pending_reported   INTEGER NOT NULL
) STRICT;

CREATE TABLE pending_updates (
    host_id      TEXT NOT NULL REFERENCES hosts(id),
    package      TEXT NOT NULL,
    arch         TEXT NOT NULL,
    from_version TEXT NOT NULL,
    to_version   TEXT NOT NULL,
    origin       TEXT NOT NULL,
    suite        TEXT NOT NULL,
    PRIMARY KEY (host_id, package, arch)
) STRICT;

-- Findings computed from the last inventory (JSON: pw_model::Finding list, ranked).
CREATE TABLE host_findings (
    host_id     TEXT PRIMARY KEY NOT NULL REFERENCES hosts(id),
    computed_at TEXT NOT NULL,
    source      TEXT NOT NULL,
    findings    TEXT NOT NULL,
    tier_counts TEXT NOT NULL
) STRICT;

CREATE TABLE commands (
    id             TEXT PRIMARY KEY NOT NULL,
    host_id        TEXT NOT NULL REFERENCES hosts(id),
    kind           TEXT NOT NULL,
    payload        TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'succeeded', 'failed', 'refused')),
    created_at     TEXT NOT NULL,
    delivered_at   TEXT,
    finished_at    TEXT,
    result_message TEXT
) STRICT;
CREATE INDEX commands_open ON commands(host_id, state);

-- Append-only: hash = sha256(prev_hash || canonical JSON of the record), hex.
CREATE TABLE audit (
    seq       INTEGER PRIMARY KEY NOT NULL,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    details   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
) STRICT;

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
