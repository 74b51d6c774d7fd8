-- Instants of the open findings as integers (issue 15 item 3: database ≤ 100 MB per 1,000
-- hosts). The open set (`open_findings`, 843,000 rows at 1,000 hosts) held its first-seen
-- instant and its deadline as RFC 3339 text with nanoseconds (~30 bytes each) and its deadline
-- index repeated the deadline: 134 MB of the database's 267 MB per 1,000 hosts. Every instant
-- the open findings are compared by — their first sight and deadline, the deadlines of the
-- console's summaries (`open_update_hosts`, `open_updates`, `host_findings.earliest_deadline`)
-- — is now an INTEGER: nanoseconds since the Unix epoch (UTC), exact for every instant the
-- controller writes (jiff's instants are nanoseconds; docs/design/decisions.md, "Instants as
-- integer nanoseconds"), in the 8 bytes microseconds would take too. Instants outside
-- 1677-09-21 … 2262-04-11 are stored as the nearest end of that range (a deadline that overflowed
-- to jiff's largest instant is "later than any other", and stays so). Integers also compare
-- exactly, where the text compared only to the second ("…05Z" sorts after "…05.5Z"); the
-- summaries' deadlines are therefore computed again from the open findings' integers, as the
-- write path computes them (update_summary.rs), not converted.
--
-- The closed episodes (`closed_findings`, packed JSON) keep their instants as text.

-- Each stored instant, once, with its nanoseconds: seconds from the first 19 characters
-- (YYYY-MM-DDTHH:MM:SS), the fraction after the dot padded to 9 digits.
CREATE TEMP TABLE instants_0038 (
    text TEXT PRIMARY KEY NOT NULL,
    s    INTEGER,
    f    INTEGER,
    ns   INTEGER
);
INSERT INTO instants_0038 (text)
SELECT first_seen FROM open_findings
UNION SELECT deadline FROM open_findings WHERE deadline IS NOT NULL;
UPDATE instants_0038 SET
    s = unixepoch(substr(text, 1, 19)),
    f = CASE WHEN substr(text, 20, 1) = '.'
        THEN CAST(substr(substr(text, 21, length(text) - 21) || '000000000', 1, 9) AS INTEGER)
        ELSE 0 END;
UPDATE instants_0038 SET ns = CASE
    WHEN s > 9223372036 OR (s = 9223372036 AND f > 854775807) THEN 9223372036854775807
    WHEN s < -9223372037 OR (s = -9223372037 AND f < 145224192) THEN -9223372036854775808
    ELSE s * 1000000000 + f END;

DROP VIEW open_findings_named;

CREATE TABLE open_findings_0038 (
    host_key   INTEGER NOT NULL REFERENCES finding_hosts(key),
    key_id     INTEGER NOT NULL REFERENCES finding_keys(id),
    episode    INTEGER NOT NULL CHECK (episode >= 1),
    first_seen INTEGER NOT NULL,
    tier       INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 4),
    deadline   INTEGER,
    text_id    INTEGER NOT NULL REFERENCES finding_texts(id),
    PRIMARY KEY (host_key, key_id)
) STRICT, WITHOUT ROWID;
INSERT INTO open_findings_0038 (host_key, key_id, episode, first_seen, tier, deadline, text_id)
SELECT o.host_key, o.key_id, o.episode, (SELECT ns FROM instants_0038 WHERE text = o.first_seen),
       o.tier, (SELECT ns FROM instants_0038 WHERE text = o.deadline), o.text_id
FROM open_findings o ORDER BY o.host_key, o.key_id;
DROP TABLE open_findings;
ALTER TABLE open_findings_0038 RENAME TO open_findings;
CREATE INDEX open_findings_text ON open_findings(text_id);
CREATE INDEX open_findings_deadline ON open_findings(deadline, tier) WHERE deadline IS NOT NULL;

CREATE VIEW open_findings_named AS
SELECT h.host_id, k.binary_name, k.advisory, o.episode, o.first_seen, o.tier, o.deadline,
       o.text_id, o.host_key, o.key_id
FROM open_findings o
JOIN finding_hosts h ON h.key = o.host_key
JOIN finding_keys k ON k.id = o.key_id;

-- Per host and update, the earliest deadline of its open findings.
CREATE TEMP TABLE due_0038 (
    host_id  TEXT NOT NULL,
    package  TEXT NOT NULL,
    fixed    TEXT NOT NULL,
    deadline INTEGER,
    PRIMARY KEY (host_id, package, fixed)
);
INSERT INTO due_0038 (host_id, package, fixed, deadline)
SELECT h.host_id, t.package, t.fixed, MIN(o.deadline)
FROM open_findings o
JOIN finding_texts t ON t.id = o.text_id
JOIN finding_hosts h ON h.key = o.host_key
GROUP BY h.host_id, t.package, t.fixed;

CREATE TABLE open_update_hosts_0038 (
    package  TEXT NOT NULL,
    fixed    TEXT NOT NULL,
    host_id  TEXT NOT NULL REFERENCES hosts(id),
    findings INTEGER NOT NULL CHECK (findings > 0),
    tier     INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 4),
    deadline INTEGER,
    kev      INTEGER NOT NULL CHECK (kev IN (0, 1)),
    epss     REAL,
    PRIMARY KEY (host_id, package, fixed)
) STRICT;
INSERT INTO open_update_hosts_0038 (package, fixed, host_id, findings, tier, deadline, kev, epss)
SELECT u.package, u.fixed, u.host_id, u.findings, u.tier,
       (SELECT d.deadline FROM due_0038 d
        WHERE d.host_id = u.host_id AND d.package = u.package AND d.fixed = u.fixed),
       u.kev, u.epss
FROM open_update_hosts u;
DROP TABLE open_update_hosts;
ALTER TABLE open_update_hosts_0038 RENAME TO open_update_hosts;
CREATE INDEX open_update_hosts_tier ON open_update_hosts(package, fixed, tier);
CREATE INDEX open_update_hosts_deadline ON open_update_hosts(package, fixed, deadline);
CREATE INDEX open_update_hosts_kev ON open_update_hosts(package, fixed, kev);
CREATE INDEX open_update_hosts_epss ON open_update_hosts(package, fixed, epss);

CREATE TABLE open_updates_0038 (
    package  TEXT NOT NULL,
    fixed    TEXT NOT NULL,
    hosts    INTEGER NOT NULL,
    findings INTEGER NOT NULL,
    tier     INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 4),
    deadline INTEGER,
    kev      INTEGER NOT NULL CHECK (kev IN (0, 1)),
    epss     REAL,
    PRIMARY KEY (package, fixed)
) STRICT;
INSERT INTO open_updates_0038 (package, fixed, hosts, findings, tier, deadline, kev, epss)
SELECT u.package, u.fixed, u.hosts, u.findings, u.tier,
       (SELECT MIN(h.deadline) FROM open_update_hosts h
        WHERE h.package = u.package AND h.fixed = u.fixed), u.kev, u.epss
FROM open_updates u;
DROP TABLE open_updates;
ALTER TABLE open_updates_0038 RENAME TO open_updates;

-- A host's earliest open deadline: the column dropped and added again as an integer (at the
-- end of the row, as on PostgreSQL).
DROP INDEX host_findings_console;
ALTER TABLE host_findings ADD COLUMN earliest_due INTEGER;
UPDATE host_findings SET earliest_due =
    (SELECT MIN(o.deadline) FROM open_update_hosts o WHERE o.host_id = host_findings.host_id);
ALTER TABLE host_findings DROP COLUMN earliest_deadline;
ALTER TABLE host_findings RENAME COLUMN earliest_due TO earliest_deadline;
CREATE INDEX host_findings_console ON host_findings(host_id, earliest_deadline, tier_counts);

DROP TABLE instants_0038;
DROP TABLE due_0038;
