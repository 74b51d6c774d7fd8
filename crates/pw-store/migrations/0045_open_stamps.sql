-- An open finding's first sight and deadline stored once per host (issue 15 item 3: database
-- ≤ 100 MB per 1,000 hosts). Each open finding (843,000 at 1,000 hosts) held its first-seen
-- instant and its deadline, two 8-byte integers: 16 of its ~33 bytes, though a host's findings
-- share a handful of pairs (those first seen by one computation with one tier's deadline).
-- The pairs are now stored per host in `open_stamps`, numbered from 1 per host, and an open
-- episode (`open_episodes`, the table that was `open_findings`) names its pair by that number
-- (one byte). `open_findings` becomes a view with the columns it had, so that every reader
-- reads the open set as before; the findings write path writes `open_episodes` and the host's
-- stamps, and removes a stamp no open episode of the host names.
CREATE TABLE open_stamps (
    host_key   INTEGER NOT NULL REFERENCES finding_hosts(key),
    stamp      INTEGER NOT NULL CHECK (stamp >= 1),
    -- Nanoseconds since the epoch (instants.rs), as in open_findings since 0038.
    first_seen INTEGER NOT NULL,
    deadline   INTEGER,
    PRIMARY KEY (host_key, stamp)
) STRICT, WITHOUT ROWID;
INSERT INTO open_stamps (host_key, stamp, first_seen, deadline)
SELECT host_key, ROW_NUMBER() OVER (PARTITION BY host_key ORDER BY first_seen, deadline),
       first_seen, deadline
FROM (SELECT DISTINCT host_key, first_seen, deadline FROM open_findings) AS pairs
ORDER BY host_key;

CREATE TABLE open_episodes (
    host_key INTEGER NOT NULL REFERENCES finding_hosts(key),
    key_id   INTEGER NOT NULL REFERENCES finding_keys(id),
    episode  INTEGER NOT NULL CHECK (episode >= 1),
    -- The host's stamp (open_stamps) holding its first sight and deadline.
    stamp    INTEGER NOT NULL,
    tier     INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 4),
    text_id  INTEGER NOT NULL REFERENCES finding_texts(id),
    PRIMARY KEY (host_key, key_id)
) STRICT, WITHOUT ROWID;
INSERT INTO open_episodes (host_key, key_id, episode, stamp, tier, text_id)
SELECT o.host_key, o.key_id, o.episode, s.stamp, o.tier, o.text_id
FROM open_findings o
JOIN open_stamps s ON s.host_key = o.host_key AND s.first_seen = o.first_seen
    AND s.deadline IS o.deadline
ORDER BY o.host_key, o.key_id;

DROP VIEW open_findings_named;
DROP TABLE open_findings;
-- The console's reads of an update's open findings (by its texts), as open_findings_text was.
CREATE INDEX open_episodes_text ON open_episodes(text_id);

CREATE VIEW open_findings AS
SELECT o.host_key, o.key_id, o.episode, s.first_seen, o.tier, s.deadline, o.text_id
FROM open_episodes o
JOIN open_stamps s ON s.host_key = o.host_key AND s.stamp = o.stamp;

CREATE VIEW open_findings_named AS
SELECT h.host_id, k.binary_name, k.advisory, o.episode, o.first_seen, o.tier, o.deadline,
       o.text_id, o.host_key, o.key_id
FROM open_findings o
JOIN finding_hosts h ON h.key = o.host_key
JOIN finding_keys k ON k.id = o.key_id;
