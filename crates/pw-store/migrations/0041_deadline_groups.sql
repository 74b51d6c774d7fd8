-- The open findings' deadline index gives way to a summary of their deadlines (issue 15 item 3:
-- database ≤ 100 MB per 1,000 hosts). `open_findings_deadline` held one entry per open finding
-- (843,000 at 1,000 hosts: 19.6 MB) for two readers: the /metrics overdue gauges (a count per
-- tier of the deadlines before now) and the deadline check (the open findings whose deadline
-- falls in a window, in deadline order). A host's findings first seen together with one tier
-- share their deadline: at 1,000 hosts the 843,000 open findings have 4,845 (host, tier,
-- deadline) groups. `open_tier_hosts`, the per-host tier counts the write path already keeps
-- (0036), is kept per host, tier and deadline instead; the gauges count its groups, the
-- deadline check takes the groups in its window and reads their hosts' open findings by the
-- primary key. The write path maintains one index fewer on every open finding it writes.
CREATE TABLE open_tier_hosts_0041 (
    host_id  TEXT NOT NULL REFERENCES hosts(id),
    tier     INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 4),
    findings INTEGER NOT NULL CHECK (findings > 0),
    -- The findings' deadline, nanoseconds since the epoch (instants.rs); NULL: none. Last, as
    -- on PostgreSQL (where the column is added).
    deadline INTEGER
) STRICT;
INSERT INTO open_tier_hosts_0041 (host_id, tier, deadline, findings)
SELECT h.host_id, o.tier, o.deadline, COUNT(*)
FROM open_findings o JOIN finding_hosts h ON h.key = o.host_key
GROUP BY h.host_id, o.tier, o.deadline;
DROP TABLE open_tier_hosts;
ALTER TABLE open_tier_hosts_0041 RENAME TO open_tier_hosts;
CREATE UNIQUE INDEX open_tier_hosts_key ON open_tier_hosts(host_id, tier, deadline);
CREATE INDEX open_tier_hosts_deadline ON open_tier_hosts(deadline, host_id)
    WHERE deadline IS NOT NULL;
DROP INDEX open_findings_deadline;
