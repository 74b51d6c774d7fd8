-- The /metrics tier gauges from a summary (issue 15 item 3). Counting the fleet's open findings
-- per tier scanned every open episode's index entry on each scrape: ~0.7 s of CPU at 1,000
-- hosts (826,000 open findings), and pw-loadgen scrapes every second, so the scrapes took the
-- cores the scans needed. Per host and tier: how many open findings, kept by the findings write
-- path in its transaction (update_summary.rs); the overdue counts stay one range of
-- finding_history_open_by_deadline (only the overdue entries).
CREATE TABLE open_tier_hosts (
    host_id  TEXT NOT NULL REFERENCES hosts(id),
    tier     INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 4),
    findings INTEGER NOT NULL CHECK (findings > 0),
    PRIMARY KEY (host_id, tier)
) STRICT;

INSERT INTO open_tier_hosts (host_id, tier, findings)
SELECT host_id, tier, COUNT(*) FROM finding_history WHERE fixed_at IS NULL
GROUP BY host_id, tier;
