-- Issue 12: deadline and silence notifications announced once each, and the console's CVE
-- search served by an index. PostgreSQL twin of ../0022_notices.sql (TEXT is COLLATE "C" so that
-- text sorts and compares bytewise as in SQLite).

-- Which open finding episode has been announced as near its deadline or overdue (or was covered
-- by an accepted risk when it would have been): each episode once per notice.
CREATE TABLE deadline_notices (
    host_id     TEXT COLLATE "C" NOT NULL,
    binary_name TEXT COLLATE "C" NOT NULL,
    advisory    TEXT COLLATE "C" NOT NULL,
    episode     BIGINT NOT NULL,
    notice      TEXT COLLATE "C" NOT NULL CHECK (notice IN ('near', 'overdue')),
    emitted_at  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (host_id, binary_name, advisory, episode, notice)
);

-- The open findings by deadline, for the periodic deadline check across the fleet.
CREATE INDEX finding_history_open_by_deadline
    ON finding_history(deadline)
    WHERE fixed_at IS NULL AND deadline IS NOT NULL;

-- Which silence of an agent has been announced: one per host and last contact.
CREATE TABLE silence_notices (
    host_id    TEXT COLLATE "C" NOT NULL,
    last_seen  TEXT COLLATE "C" NOT NULL,
    emitted_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (host_id, last_seen)
);

-- Every name a recorded finding's advisory is known by — its own id and each alias, upper-cased
-- — so `/findings?cve=` looks the searched id up here and then the open findings of those
-- advisories by index, instead of reading every open finding's JSON. Filled when findings are
-- recorded; never pruned (an alias stays true).
CREATE TABLE advisory_aliases (
    alias    TEXT COLLATE "C" NOT NULL,
    advisory TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (alias, advisory)
);

INSERT INTO advisory_aliases (alias, advisory)
    SELECT upper(advisory), advisory FROM finding_history WHERE fixed_at IS NULL
    UNION
    SELECT upper(a), f.advisory
    FROM finding_history f,
         jsonb_array_elements_text(COALESCE(CAST(f.finding AS jsonb) -> 'aliases', '[]'::jsonb)) AS a
    WHERE f.fixed_at IS NULL;

-- The open findings of an advisory.
CREATE INDEX finding_history_open_advisory
    ON finding_history(advisory)
    WHERE fixed_at IS NULL;
