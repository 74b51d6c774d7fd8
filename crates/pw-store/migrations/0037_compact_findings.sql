-- Compact findings (issue 15 item 3: database ≤ 100 MB per 1,000 hosts). finding_history held
-- one ~230-byte row per host × finding × episode (a 41-character host id, the key's package
-- and advisory, four RFC 3339 instants, tier, text id) and three partial indexes over the open
-- episodes, each repeating that key: 676 MB per 1,000 hosts after two changed inventory rounds.
-- It is split in two:
--
-- * the current set, `open_findings`: one row per open episode keyed by integers — the host's
--   key (`finding_hosts`) and the finding's key (`finding_keys`: binary package, advisory) —
--   with its episode number, first-seen instant, tier, deadline and text; one index by text (the
--   console's updates) and one by deadline (the deadline check, the overdue gauges). An open
--   episode was last seen by the host's latest computation (host_findings.computed_at).
-- * the closed episodes, `closed_findings`: one row per host and computation that closed any,
--   holding them all (JSON array of [key, episode, first_seen, last_seen, fixed_at, fixed_by,
--   tier, deadline, text], deflated behind a one-byte tag; as plain JSON for the rows this
--   migration writes — SQL cannot deflate). Rows are never changed nor deleted.
--
-- `finding_hosts.episodes` holds, per host, the last closed episode of each finding key
-- ([[key, episode], …], same format), so the write path numbers a finding that comes back
-- without reading the closed history. `open_findings_named` shows the current set with the
-- host ids and key names the readers filter on.
CREATE TABLE finding_hosts (
    key      INTEGER PRIMARY KEY NOT NULL,
    host_id  TEXT NOT NULL UNIQUE REFERENCES hosts(id),
    episodes BLOB
) STRICT;

CREATE TABLE finding_keys (
    id          INTEGER PRIMARY KEY NOT NULL,
    binary_name TEXT NOT NULL,
    advisory    TEXT NOT NULL,
    UNIQUE (binary_name, advisory)
) STRICT;

CREATE TABLE open_findings (
    host_key   INTEGER NOT NULL REFERENCES finding_hosts(key),
    key_id     INTEGER NOT NULL REFERENCES finding_keys(id),
    episode    INTEGER NOT NULL CHECK (episode >= 1),
    first_seen TEXT NOT NULL,
    tier       INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 4),
    deadline   TEXT,
    text_id    INTEGER NOT NULL REFERENCES finding_texts(id),
    PRIMARY KEY (host_key, key_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX open_findings_text ON open_findings(text_id);
CREATE INDEX open_findings_deadline ON open_findings(deadline, tier) WHERE deadline IS NOT NULL;

CREATE TABLE closed_findings (
    id       INTEGER PRIMARY KEY NOT NULL,
    host_key INTEGER NOT NULL REFERENCES finding_hosts(key),
    episodes BLOB NOT NULL
) STRICT;
CREATE INDEX closed_findings_host ON closed_findings(host_key);

CREATE TRIGGER closed_findings_no_delete BEFORE DELETE ON closed_findings
BEGIN SELECT RAISE(ABORT, 'finding history is never deleted'); END;
CREATE TRIGGER closed_findings_final BEFORE UPDATE ON closed_findings
BEGIN SELECT RAISE(ABORT, 'a fixed finding episode is final'); END;

CREATE VIEW open_findings_named AS
SELECT h.host_id, k.binary_name, k.advisory, o.episode, o.first_seen, o.tier, o.deadline,
       o.text_id, o.host_key, o.key_id
FROM open_findings o
JOIN finding_hosts h ON h.key = o.host_key
JOIN finding_keys k ON k.id = o.key_id;

-- The history as it was.
INSERT INTO finding_hosts (host_id)
SELECT DISTINCT host_id FROM finding_history ORDER BY host_id;
INSERT INTO finding_keys (binary_name, advisory)
SELECT DISTINCT binary_name, advisory FROM finding_history ORDER BY binary_name, advisory;

INSERT INTO open_findings (host_key, key_id, episode, first_seen, tier, deadline, text_id)
SELECT h.key, k.id, f.episode, f.first_seen, f.tier, f.deadline, f.text_id
FROM finding_history f
JOIN finding_hosts h ON h.host_id = f.host_id
JOIN finding_keys k ON k.binary_name = f.binary_name AND k.advisory = f.advisory
WHERE f.fixed_at IS NULL;

INSERT INTO closed_findings (host_key, episodes)
SELECT h.key, CAST(json_group_array(json_array(k.id, f.episode, f.first_seen, f.last_seen,
         f.fixed_at, f.fixed_by, f.tier, f.deadline, f.text_id)) AS BLOB)
FROM finding_history f
JOIN finding_hosts h ON h.host_id = f.host_id
JOIN finding_keys k ON k.binary_name = f.binary_name AND k.advisory = f.advisory
WHERE f.fixed_at IS NOT NULL
GROUP BY h.key, f.fixed_at
ORDER BY h.key, f.fixed_at;

UPDATE finding_hosts SET episodes = (
    SELECT CAST(json_group_array(json_array(k.id, m.episode)) AS BLOB)
    FROM (SELECT binary_name, advisory, MAX(episode) AS episode FROM finding_history f
          WHERE f.host_id = finding_hosts.host_id AND f.fixed_at IS NOT NULL
          GROUP BY binary_name, advisory) AS m
    JOIN finding_keys k ON k.binary_name = m.binary_name AND k.advisory = m.advisory);

DROP TABLE finding_history;
