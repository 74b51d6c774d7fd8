-- The console's fleet-size reads from summaries kept at write time (issue 12: /findings and
-- /hosts?overdue in ≤ 300 ms at 10,000 hosts and 1,000,000 findings). Grouping every open
-- finding into updates on each request took 0.5 s in release; the summaries are maintained by
-- the findings write path (Store::record_findings, update_summary.rs) in its transaction.
--
-- An update is (package, fixed): the package the advisories are matched on and the version
-- fixing them; '' stands for "no fixed version yet" (a key column is never NULL).

-- Per host and update: its open findings, most urgent tier, earliest deadline, KEV, EPSS.
CREATE TABLE open_update_hosts (
    package  TEXT NOT NULL,
    fixed    TEXT NOT NULL,
    host_id  TEXT NOT NULL REFERENCES hosts(id),
    findings INTEGER NOT NULL CHECK (findings > 0),
    tier     INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 4),
    deadline TEXT,
    kev      INTEGER NOT NULL CHECK (kev IN (0, 1)),
    epss     REAL,
    PRIMARY KEY (host_id, package, fixed)
) STRICT;
-- An update's most urgent tier, earliest deadline, KEV and highest EPSS, each by one seek.
CREATE INDEX open_update_hosts_tier ON open_update_hosts(package, fixed, tier);
CREATE INDEX open_update_hosts_deadline ON open_update_hosts(package, fixed, deadline);
CREATE INDEX open_update_hosts_kev ON open_update_hosts(package, fixed, kev);
CREATE INDEX open_update_hosts_epss ON open_update_hosts(package, fixed, epss);

-- Per update over every host: the rows /findings pages through. (No CHECK on the counts: an
-- upsert's proposed row carries the differences, and is checked before it meets the stored row.)
CREATE TABLE open_updates (
    package  TEXT NOT NULL,
    fixed    TEXT NOT NULL,
    hosts    INTEGER NOT NULL,
    findings INTEGER NOT NULL,
    tier     INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 4),
    deadline TEXT,
    kev      INTEGER NOT NULL CHECK (kev IN (0, 1)),
    epss     REAL,
    PRIMARY KEY (package, fixed)
) STRICT;

-- /hosts?overdue: a host's earliest open deadline. The index covers what the host filters read
-- (tier counts, earliest deadline) so that they never touch the row: in SQLite both columns sit
-- after the host's whole findings JSON, and reaching them walked its overflow pages.
ALTER TABLE host_findings ADD COLUMN earliest_deadline TEXT;
CREATE INDEX host_findings_console ON host_findings(host_id, earliest_deadline, tier_counts);

-- The summaries of the findings already stored.
INSERT INTO open_update_hosts (package, fixed, host_id, findings, tier, deadline, kev, epss)
SELECT coalesce(update_package, ''), coalesce(update_fixed, ''), host_id, COUNT(*), MIN(tier),
       MIN(deadline), MAX(kev), MAX(epss)
FROM finding_history WHERE fixed_at IS NULL
GROUP BY host_id, coalesce(update_package, ''), coalesce(update_fixed, '');

INSERT INTO open_updates (package, fixed, hosts, findings, tier, deadline, kev, epss)
SELECT package, fixed, COUNT(*), SUM(findings), MIN(tier), MIN(deadline), MAX(kev), MAX(epss)
FROM open_update_hosts GROUP BY package, fixed;

UPDATE host_findings SET earliest_deadline =
    (SELECT MIN(o.deadline) FROM open_update_hosts o WHERE o.host_id = host_findings.host_id);
