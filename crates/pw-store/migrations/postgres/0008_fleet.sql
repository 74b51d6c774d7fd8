-- PostgreSQL twin of ../0008_fleet.sql (the same tables, columns and constraints; TEXT is
-- COLLATE "C" so that text sorts and compares bytewise as in SQLite).
-- The controller's fleet document (docs/fleet.md): every applied version, append-only. The
-- current document is the highest version; there is none until the first apply (the controller
-- then has no groups). Depends only on 0003 (hosts).

CREATE TABLE fleet_documents (
    -- 1, 2, 3, … in apply order; a writer names the version it read (optimistic concurrency).
    version    BIGINT PRIMARY KEY NOT NULL CHECK (version >= 1),
    -- The TOML text exactly as applied.
    document   TEXT COLLATE "C" NOT NULL,
    -- SHA-256 (hex) of `document`.
    sha256     TEXT COLLATE "C" NOT NULL,
    -- The operator who applied it.
    operator   TEXT COLLATE "C" NOT NULL,
    applied_at TEXT COLLATE "C" NOT NULL,
    -- What changed against the previous version: JSON array of readable lines.
    summary    TEXT COLLATE "C" NOT NULL
);

CREATE TRIGGER fleet_documents_no_update BEFORE UPDATE ON fleet_documents
FOR EACH ROW EXECUTE FUNCTION pw_refuse('fleet_documents is append-only');
CREATE TRIGGER fleet_documents_no_delete BEFORE DELETE ON fleet_documents
FOR EACH ROW EXECUTE FUNCTION pw_refuse('fleet_documents is append-only');

-- Labels the host's agent reports from its own configuration (`--label KEY=VALUE`): a JSON
-- object of strings, replaced by every inventory report that carries labels.
ALTER TABLE hosts ADD COLUMN labels TEXT COLLATE "C" NOT NULL DEFAULT '{}';
