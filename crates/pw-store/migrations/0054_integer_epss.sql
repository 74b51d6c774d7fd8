-- The per-host update summary's EPSS in integer parts per billion (issue 15 item 3: database
-- ≤ 100 MB per 1,000 hosts; PostgreSQL kept 101.0 MB per 1,000 at 10,000 hosts with 0053:
-- docs/PERFORMANCE.md). `open_update_hosts.epss` is the highest EPSS of a host's findings of an
-- update, and its index by (update_key, epss) gives an update's highest over its hosts in one
-- seek. PostgreSQL's B-tree deduplication does not apply to DOUBLE PRECISION, so that index
-- kept a 24-byte entry per row (14.6 MB at 10,000 hosts); over an INTEGER it keeps one per
-- distinct value and update, and the row's tuple falls from 64 bytes to 56. On SQLite a REAL
-- takes 8 bytes and a small integer 1–4, in the table and the index.
--
-- A probability is in 0–1; FIRST's feed gives it with five decimals. Parts per billion keep any
-- value with up to nine decimals whole (1.0 is 10^9, within a 4-byte integer), sort as the
-- floats did, and divided by 10^9 give back the float the feed's text parsed to: the console's
-- per-update EPSS (`open_updates.epss`, still DOUBLE PRECISION) reads as before
-- (`pw-store/src/epss_parts.rs`). docs/design/decisions.md, "EPSS in integer parts per
-- billion".
--
-- SQLite cannot change a column's type in place: the table is rebuilt (STRICT, WITHOUT ROWID,
-- its foreign keys and checks as they were) with its four indexes.
CREATE TABLE open_update_hosts_0054 (
    host_key   INTEGER NOT NULL REFERENCES finding_hosts(key),
    update_key INTEGER NOT NULL REFERENCES update_keys(id),
    findings   INTEGER NOT NULL CHECK (findings > 0),
    tier       INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 4),
    deadline   INTEGER,
    kev        INTEGER NOT NULL CHECK (kev IN (0, 1)),
    -- The highest EPSS in parts per billion (epss_parts.rs).
    epss       INTEGER,
    PRIMARY KEY (host_key, update_key)
) STRICT, WITHOUT ROWID;
INSERT INTO open_update_hosts_0054 (host_key, update_key, findings, tier, deadline, kev, epss)
SELECT host_key, update_key, findings, tier, deadline, kev,
       CAST(round(epss * 1000000000) AS INTEGER)
FROM open_update_hosts
ORDER BY host_key, update_key;
DROP TABLE open_update_hosts;
ALTER TABLE open_update_hosts_0054 RENAME TO open_update_hosts;
-- An update's most urgent tier, earliest deadline, KEV and highest EPSS, each by one seek.
CREATE INDEX open_update_hosts_tier ON open_update_hosts(update_key, tier);
CREATE INDEX open_update_hosts_deadline ON open_update_hosts(update_key, deadline);
CREATE INDEX open_update_hosts_kev ON open_update_hosts(update_key, kev);
CREATE INDEX open_update_hosts_epss ON open_update_hosts(update_key, epss);
