-- PostgreSQL twin of ../0041_deadline_groups.sql: the open findings' deadline index gives way
-- to `open_tier_hosts` kept per host, tier and deadline (the gauges and the deadline check read
-- its groups).
ALTER TABLE open_tier_hosts DROP CONSTRAINT open_tier_hosts_pkey;
ALTER TABLE open_tier_hosts ADD COLUMN deadline BIGINT;
DELETE FROM open_tier_hosts;
INSERT INTO open_tier_hosts (host_id, tier, deadline, findings)
SELECT h.host_id, o.tier, o.deadline, COUNT(*)
FROM open_findings o JOIN finding_hosts h ON h.key = o.host_key
GROUP BY h.host_id, o.tier, o.deadline;
CREATE UNIQUE INDEX open_tier_hosts_key ON open_tier_hosts(host_id, tier, deadline);
CREATE INDEX open_tier_hosts_deadline ON open_tier_hosts(deadline, host_id)
    WHERE deadline IS NOT NULL;
DROP INDEX open_findings_deadline;
