-- The console's per-host update summary keyed by integers (issue 15 item 3: database ≤ 100 MB
-- per 1,000 hosts). `open_update_hosts` (0026, one row per host and update) was a rowid table
-- keyed by the 41-character host id and the update's package and fixed version: its primary
-- key was a second B-tree as large as the table, and each of its four indexes repeated package
-- and fixed version (~16 MB at 1,000 hosts). An update is now named by an integer key
-- (`update_keys`: package, fixed version — '' when none —; never deleted, as `finding_keys`)
-- and a host by its finding key (`finding_hosts.key`, 0037); the table is keyed by both, WITHOUT
-- ROWID (no second copy of the key), and its indexes hold the update's key. `open_updates`, the
-- rows /findings pages through (one per update), keeps package and fixed version.
CREATE TABLE update_keys (
    id      INTEGER PRIMARY KEY NOT NULL,
    package TEXT NOT NULL,
    fixed   TEXT NOT NULL,
    UNIQUE (package, fixed)
) STRICT;
INSERT INTO update_keys (package, fixed)
SELECT DISTINCT package, fixed FROM open_update_hosts ORDER BY package, fixed;

CREATE TABLE open_update_hosts_0043 (
    host_key   INTEGER NOT NULL REFERENCES finding_hosts(key),
    update_key INTEGER NOT NULL REFERENCES update_keys(id),
    findings   INTEGER NOT NULL CHECK (findings > 0),
    tier       INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 4),
    deadline   INTEGER,
    kev        INTEGER NOT NULL CHECK (kev IN (0, 1)),
    epss       REAL,
    PRIMARY KEY (host_key, update_key)
) STRICT, WITHOUT ROWID;
-- A host with open findings has its finding key since 0037 (the write path gives it one
-- before it writes any).
INSERT INTO open_update_hosts_0043 (host_key, update_key, findings, tier, deadline, kev, epss)
SELECT h.key, k.id, o.findings, o.tier, o.deadline, o.kev, o.epss
FROM open_update_hosts o
JOIN finding_hosts h ON h.host_id = o.host_id
JOIN update_keys k ON k.package = o.package AND k.fixed = o.fixed
ORDER BY h.key, k.id;
DROP TABLE open_update_hosts;
ALTER TABLE open_update_hosts_0043 RENAME TO open_update_hosts;
-- An update's most urgent tier, earliest deadline, KEV and highest EPSS, each by one seek.
CREATE INDEX open_update_hosts_tier ON open_update_hosts(update_key, tier);
CREATE INDEX open_update_hosts_deadline ON open_update_hosts(update_key, deadline);
CREATE INDEX open_update_hosts_kev ON open_update_hosts(update_key, kev);
CREATE INDEX open_update_hosts_epss ON open_update_hosts(update_key, epss);
