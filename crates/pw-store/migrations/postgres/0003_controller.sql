-- PostgreSQL twin of ../0003_controller.sql (the same tables, columns and constraints; TEXT is
-- COLLATE "C" so that text sorts and compares bytewise as in SQLite).
-- Controller: enrolled hosts, their agent identities, enrollment tokens, reported inventories,
-- pending updates, findings, commands, and the append-only audit log with a hash chain.

CREATE TABLE hosts (
    id            TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    hostname      TEXT COLLATE "C" NOT NULL,
    enrolled_at   TEXT COLLATE "C" NOT NULL,
    last_seen_at  TEXT COLLATE "C",
    agent_version TEXT COLLATE "C",
    read_only     BIGINT NOT NULL DEFAULT 0,
    os            TEXT COLLATE "C"
);

-- One row per issued client certificate; agents are recognized by the certificate's SHA-256.
CREATE TABLE agent_identities (
    fingerprint TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    host_id     TEXT COLLATE "C" NOT NULL REFERENCES hosts(id),
    issued_at   TEXT COLLATE "C" NOT NULL,
    not_after   TEXT COLLATE "C" NOT NULL,
    revoked_at  TEXT COLLATE "C"
);
CREATE INDEX agent_identities_host ON agent_identities(host_id);

-- Tokens are stored only as the SHA-256 of the secret; single use, expiring.
CREATE TABLE enrollment_tokens (
    id           TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    token_sha256 TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at   TEXT COLLATE "C" NOT NULL,
    expires_at   TEXT COLLATE "C" NOT NULL,
    used_at      TEXT COLLATE "C",
    used_by_host TEXT COLLATE "C" REFERENCES hosts(id),
    note         TEXT COLLATE "C"
);

-- The last full inventory per host (packages as JSON: pw_model::InstalledPackage list).
CREATE TABLE inventories (
    host_id            TEXT COLLATE "C" PRIMARY KEY NOT NULL REFERENCES hosts(id),
    reported_at        TEXT COLLATE "C" NOT NULL,
    collected_at       TEXT COLLATE "C" NOT NULL,
    os                 TEXT COLLATE "C" NOT NULL,
    packages           TEXT COLLATE "C" NOT NULL,
    package_count      BIGINT NOT NULL,
    reboot_required    BIGINT NOT NULL,
    reboot_required_by TEXT COLLATE "C" NOT NULL,
    -- 0 when the agent did not look at its package manager's offers.
    pending_reported   BIGINT NOT NULL
);

CREATE TABLE pending_updates (
    host_id      TEXT COLLATE "C" NOT NULL REFERENCES hosts(id),
    package      TEXT COLLATE "C" NOT NULL,
    arch         TEXT COLLATE "C" NOT NULL,
    from_version TEXT COLLATE "C" NOT NULL,
    to_version   TEXT COLLATE "C" NOT NULL,
    origin       TEXT COLLATE "C" NOT NULL,
    suite        TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (host_id, package, arch)
);

-- Findings computed from the last inventory (JSON: pw_model::Finding list, ranked).
CREATE TABLE host_findings (
    host_id     TEXT COLLATE "C" PRIMARY KEY NOT NULL REFERENCES hosts(id),
    computed_at TEXT COLLATE "C" NOT NULL,
    source      TEXT COLLATE "C" NOT NULL,
    findings    TEXT COLLATE "C" NOT NULL,
    tier_counts TEXT COLLATE "C" NOT NULL
);

CREATE TABLE commands (
    id             TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    host_id        TEXT COLLATE "C" NOT NULL REFERENCES hosts(id),
    kind           TEXT COLLATE "C" NOT NULL,
    payload        TEXT COLLATE "C" NOT NULL,
    state          TEXT COLLATE "C" NOT NULL CHECK (state IN ('queued', 'delivered', 'succeeded', 'failed', 'refused')),
    created_at     TEXT COLLATE "C" NOT NULL,
    delivered_at   TEXT COLLATE "C",
    finished_at    TEXT COLLATE "C",
    result_message TEXT COLLATE "C"
);
CREATE INDEX commands_open ON commands(host_id, state);

-- Append-only: hash = sha256(prev_hash || canonical JSON of the record), hex.
CREATE TABLE audit (
    seq       BIGINT PRIMARY KEY NOT NULL,
    at        TEXT COLLATE "C" NOT NULL,
    actor     TEXT COLLATE "C" NOT NULL,
    action    TEXT COLLATE "C" NOT NULL,
    subject   TEXT COLLATE "C" NOT NULL,
    details   TEXT COLLATE "C" NOT NULL,
    prev_hash TEXT COLLATE "C" NOT NULL,
    hash      TEXT COLLATE "C" NOT NULL
);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
FOR EACH ROW EXECUTE FUNCTION pw_refuse('audit is append-only');
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
FOR EACH ROW EXECUTE FUNCTION pw_refuse('audit is append-only');
