-- PostgreSQL twin of ../0036_open_tiers.sql (the same table).
-- The /metrics tier gauges from a summary: per host and tier, how many open findings, kept by
-- the findings write path in its transaction (update_summary.rs).
CREATE TABLE open_tier_hosts (
    host_id  TEXT COLLATE "C" NOT NULL REFERENCES hosts(id),
    tier     BIGINT NOT NULL CHECK (tier BETWEEN 0 AND 4),
    findings BIGINT NOT NULL CHECK (findings > 0),
    PRIMARY KEY (host_id, tier)
);

INSERT INTO open_tier_hosts (host_id, tier, findings)
SELECT host_id, tier, COUNT(*) FROM finding_history WHERE fixed_at IS NULL
GROUP BY host_id, tier;
