-- Findings stored once (issue 15 item 3: database ≤ 100 MB per 1,000 hosts). Every history row
-- held its finding's whole JSON (~400 bytes) although a finding's text is the same on every
-- host with the same installed version and policy: after 1,000 hosts × 2 inventory rounds
-- finding_history took 1.05 GB for 1.6 M episodes. A finding's text — its JSON without the
-- deadline, which depends on when the host first saw it — is now stored once in finding_texts
-- (content-addressed: `digest` is the SHA-256 of `finding`, hex) and each episode names its text
-- by `text_id`; the deadline stays on the episode and is put back into the JSON when read
-- (`"deadline":null` → `"deadline":"…"`, findings.rs FINDING_JSON). Texts are never changed nor
-- deleted: a closed episode's text is as final as the episode.
--
-- The console's columns read from the JSON (update package and fixed version, KEV, EPSS) are
-- columns of the text; the covering index of every open finding by update
-- (finding_history_open_updates) gives way to one by text (finding_history_open_text), and the
-- history table is keyed by its primary key alone (WITHOUT ROWID: no second copy of the key).
CREATE TABLE finding_texts (
    id       INTEGER PRIMARY KEY NOT NULL,
    -- NULL only between this migration and the store's first open (Store::connect fills it:
    -- SQLite has no SHA-256 function).
    digest   TEXT,
    -- The package the advisory is matched on and the fixed version ('' when none).
    package  TEXT NOT NULL,
    fixed    TEXT NOT NULL,
    advisory TEXT NOT NULL,
    kev      INTEGER NOT NULL CHECK (kev IN (0, 1)),
    epss     REAL,
    -- JSON of the pw_model::Finding with "deadline":null.
    finding  TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX finding_texts_digest ON finding_texts(digest);
CREATE INDEX finding_texts_update ON finding_texts(package, fixed);
CREATE INDEX finding_texts_advisory ON finding_texts(advisory);

CREATE TRIGGER finding_texts_no_delete BEFORE DELETE ON finding_texts
BEGIN SELECT RAISE(ABORT, 'a finding text is never deleted'); END;
CREATE TRIGGER finding_texts_final BEFORE UPDATE ON finding_texts
WHEN OLD.digest IS NOT NULL OR NEW.finding IS NOT OLD.finding
BEGIN SELECT RAISE(ABORT, 'a finding text never changes'); END;

-- The texts of the stored findings: each JSON without its deadline, once.
INSERT INTO finding_texts (package, fixed, advisory, kev, epss, finding)
SELECT coalesce(json_extract(finding, '$.package'), ''), coalesce(json_extract(finding, '$.fixed'), ''),
       coalesce(json_extract(finding, '$.advisory'), ''), coalesce(json_extract(finding, '$.kev'), 0),
       json_extract(finding, '$.epss'), finding
FROM (SELECT DISTINCT CASE WHEN deadline IS NULL THEN finding
        ELSE replace(finding, '"deadline":"' || deadline || '"', '"deadline":null') END AS finding
      FROM finding_history) AS texts;
CREATE INDEX finding_texts_migrating ON finding_texts(finding);

CREATE TABLE finding_history_compact (
    host_id     TEXT NOT NULL REFERENCES hosts(id),
    binary_name TEXT NOT NULL,
    advisory    TEXT NOT NULL,
    episode     INTEGER NOT NULL CHECK (episode >= 1),
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    fixed_at    TEXT,
    fixed_by    TEXT,
    tier        INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 4),
    deadline    TEXT,
    text_id     INTEGER NOT NULL REFERENCES finding_texts(id),
    PRIMARY KEY (host_id, binary_name, advisory, episode)
) STRICT, WITHOUT ROWID;

INSERT INTO finding_history_compact (host_id, binary_name, advisory, episode, first_seen,
    last_seen, fixed_at, fixed_by, tier, deadline, text_id)
SELECT f.host_id, f.binary_name, f.advisory, f.episode, f.first_seen, f.last_seen, f.fixed_at,
       f.fixed_by, f.tier, f.deadline, t.id
FROM finding_history f JOIN finding_texts t ON t.finding =
    CASE WHEN f.deadline IS NULL THEN f.finding
    ELSE replace(f.finding, '"deadline":"' || f.deadline || '"', '"deadline":null') END;

DROP INDEX finding_texts_migrating;
DROP TRIGGER finding_history_no_delete;
DROP TRIGGER finding_history_closed_is_final;
DROP TABLE finding_history;
ALTER TABLE finding_history_compact RENAME TO finding_history;

CREATE UNIQUE INDEX finding_history_one_open
    ON finding_history(host_id, binary_name, advisory) WHERE fixed_at IS NULL;
-- The console's reads of an update's open findings: its texts (finding_texts_update), then
-- their open episodes.
CREATE INDEX finding_history_open_text ON finding_history(text_id) WHERE fixed_at IS NULL;
-- The deadline check across the fleet (by deadline) and the /metrics tier gauges (covering).
CREATE INDEX finding_history_open_by_deadline
    ON finding_history(deadline, tier) WHERE fixed_at IS NULL;

CREATE TRIGGER finding_history_no_delete BEFORE DELETE ON finding_history
BEGIN SELECT RAISE(ABORT, 'finding history is never deleted'); END;
CREATE TRIGGER finding_history_closed_is_final BEFORE UPDATE ON finding_history
WHEN OLD.fixed_at IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'a fixed finding episode is final'); END;

-- A host's ranked findings list (~800 findings, ~330 KB of JSON) deflated, behind a one-byte
-- format tag (findings_packed.rs); `findings` is '' once packed. Nothing queries inside the
-- list. Rows written before 0033 are packed on the store's first open.
ALTER TABLE host_findings ADD COLUMN packed BLOB;
