-- The controller's fleet document (docs/fleet.md): every applied version, append-only. The
-- current document is the highest version; there is none until the first apply (the controller
-- then has no groups). Depends only on 0003 (hosts).

CREATE TABLE fleet_documents (
    -- 1, 2, 3, … in apply order; a writer names the version it read (optimistic concurrency).
    version    INTEGER PRIMARY KEY NOT NULL CHECK (version >= 1),
    -- The TOML text exactly as applied.
    document   TEXT NOT NULL,
    -- SHA-256 (hex) of `document`.
    sha256     TEXT NOT NULL,
    -- The operator who applied it.
    operator   TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    -- What changed against the previous version: JSON array of readable lines.
    summary    TEXT NOT NULL
) STRICT;

CREATE TRIGGER fleet_documents_no_update BEFORE UPDATE ON fleet_documents
BEGIN SELECT RAISE(ABORT, 'fleet_documents is append-only'); END;
CREATE TRIGGER fleet_documents_no_delete BEFORE DELETE ON fleet_documents
BEGIN SELECT RAISE(ABORT, 'fleet_documents is append-only'); END;

-- Labels the host's agent reports from its own configuration (`--label KEY=VALUE`): a JSON
-- object of strings, replaced by every inventory report that carries labels.
ALTER TABLE hosts ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
