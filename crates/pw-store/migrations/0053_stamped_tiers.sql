-- An open episode's tier and episode number kept in its host's stamp (issue 15 item 3: database
-- ≤ 100 MB per 1,000 hosts; PostgreSQL kept 113.5 MB per 1,000 at 10,000 hosts with 0052, the
-- open set 630 MB of it: docs/PERFORMANCE.md). A stamp was a host's pair of first sight and
-- deadline; it is now a host's distinct (first sight, deadline, tier, episode), numbered from 1
-- per host, and `open_episodes` keeps the host, the finding key, the stamp and the text: four
-- integers instead of six. A host's ~850 open findings still share a handful of stamps (a
-- first scan's findings share their first sight, their tier mostly follows their deadline, and
-- nearly every episode is the key's first). On PostgreSQL the row's values fall from 24 bytes
-- to 16 and its tuple from 48 bytes to 40 (MAXALIGN rounds a 24-byte header and 20 bytes of
-- values up to 48: the tier alone would save nothing); on SQLite ~2 bytes a row. A tier or
-- episode change names another stamp, as a deadline change does.
--
-- Both tables are rebuilt (SQLite cannot drop a column of a WITHOUT ROWID table's row in place,
-- and PostgreSQL's DROP COLUMN keeps the bytes until a rewrite); the two views on them are made
-- again with the columns they had, so every reader reads as before. docs/design/decisions.md,
-- "The tier and episode in the host's stamp".
DROP VIEW open_findings_named;
DROP VIEW open_findings;

CREATE TABLE open_stamps_0053 (
    host_key   INTEGER NOT NULL REFERENCES finding_hosts(key),
    stamp      INTEGER NOT NULL CHECK (stamp >= 1),
    -- Nanoseconds since the epoch (instants.rs).
    first_seen INTEGER NOT NULL,
    deadline   INTEGER,
    tier       INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 4),
    episode    INTEGER NOT NULL CHECK (episode >= 1),
    PRIMARY KEY (host_key, stamp)
) STRICT, WITHOUT ROWID;
INSERT INTO open_stamps_0053 (host_key, stamp, first_seen, deadline, tier, episode)
SELECT host_key,
       ROW_NUMBER() OVER (PARTITION BY host_key ORDER BY first_seen, deadline, tier, episode),
       first_seen, deadline, tier, episode
FROM (SELECT DISTINCT o.host_key, s.first_seen, s.deadline, o.tier, o.episode
      FROM open_episodes o
      JOIN open_stamps s ON s.host_key = o.host_key AND s.stamp = o.stamp) AS stamps
ORDER BY host_key;

CREATE TABLE open_episodes_0053 (
    host_key INTEGER NOT NULL REFERENCES finding_hosts(key),
    key_id   INTEGER NOT NULL REFERENCES finding_keys(id),
    -- The host's stamp (open_stamps): first sight, deadline, tier and episode number.
    stamp    INTEGER NOT NULL,
    text_id  INTEGER NOT NULL REFERENCES finding_texts(id),
    PRIMARY KEY (host_key, key_id)
) STRICT, WITHOUT ROWID;
INSERT INTO open_episodes_0053 (host_key, key_id, stamp, text_id)
SELECT o.host_key, o.key_id, n.stamp, o.text_id
FROM open_episodes o
JOIN open_stamps s ON s.host_key = o.host_key AND s.stamp = o.stamp
JOIN open_stamps_0053 n ON n.host_key = o.host_key AND n.first_seen = s.first_seen
    AND n.deadline IS s.deadline AND n.tier = o.tier AND n.episode = o.episode
ORDER BY o.host_key, o.key_id;

DROP TABLE open_episodes;
DROP TABLE open_stamps;
ALTER TABLE open_stamps_0053 RENAME TO open_stamps;
ALTER TABLE open_episodes_0053 RENAME TO open_episodes;

CREATE VIEW open_findings AS
SELECT o.host_key, o.key_id, s.episode, s.first_seen, s.tier, s.deadline, o.text_id
FROM open_episodes o
JOIN open_stamps s ON s.host_key = o.host_key AND s.stamp = o.stamp;

CREATE VIEW open_findings_named AS
SELECT h.host_id, k.binary_name, k.advisory, o.episode, o.first_seen, o.tier, o.deadline,
       o.text_id, o.host_key, o.key_id
FROM open_findings o
JOIN finding_hosts h ON h.key = o.host_key
JOIN finding_keys k ON k.id = o.key_id;
