-- Advisory intelligence: OSV records, CISA KEV, EPSS, and a record of every import.

CREATE TABLE advisories (
    id          TEXT PRIMARY KEY NOT NULL,
    -- The record's own dates, never the import time (RFC 3339 UTC).
    modified    TEXT NOT NULL,
    published   TEXT,
    withdrawn   TEXT,
    summary     TEXT NOT NULL DEFAULT '',
    -- The OSV record exactly as read (JSON text), so nothing is lost.
    record      TEXT NOT NULL,
    -- Where it came from (file path or URL) and when it was last written.
    source      TEXT NOT NULL,
    imported_at TEXT NOT NULL
) STRICT;

-- One row per (advisory, ecosystem, package): lets a scan load only what can match.
CREATE TABLE advisory_packages (
    advisory_id TEXT NOT NULL REFERENCES advisories(id) ON DELETE CASCADE,
    ecosystem   TEXT NOT NULL,
    name        TEXT NOT NULL,
    PRIMARY KEY (advisory_id, ecosystem, name)
) STRICT;
CREATE INDEX advisory_packages_by_ecosystem ON advisory_packages(ecosystem, name);

CREATE TABLE kev (
    cve_id          TEXT PRIMARY KEY NOT NULL,
    date_added      TEXT NOT NULL,
    due_date        TEXT,
    vendor_project  TEXT NOT NULL DEFAULT '',
    product         TEXT NOT NULL DEFAULT '',
    name            TEXT NOT NULL DEFAULT '',
    ransomware      TEXT NOT NULL DEFAULT '',
    catalog_version TEXT NOT NULL
) STRICT;

CREATE TABLE epss (
    cve_id        TEXT PRIMARY KEY NOT NULL,
    probability   REAL NOT NULL CHECK (probability >= 0 AND probability <= 1),
    percentile    REAL NOT NULL CHECK (percentile >= 0 AND percentile <= 1),
    model_version TEXT,
    score_date    TEXT
) STRICT;

CREATE TABLE feed_imports (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL CHECK (kind IN ('osv', 'kev', 'epss')),
    source      TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    records     INTEGER NOT NULL,
    inserted    INTEGER NOT NULL,
    updated     INTEGER NOT NULL,
    unchanged   INTEGER NOT NULL
) STRICT;
