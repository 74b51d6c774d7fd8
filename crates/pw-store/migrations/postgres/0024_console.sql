-- PostgreSQL twin of ../0024_console.sql (the same columns and indexes). PostgreSQL 15 has no
-- virtual generated columns: these are STORED (computed on every write of the row, kept on disk).
-- The operator console (issue 12): filters and paging of /hosts and /findings in SQL at fleet
-- size (10,000 hosts, 1,000,000 findings).
--
-- The open episodes of finding_history are the current findings. Their update to apply — the
-- package the advisory is matched on and the version fixing it — and the KEV/EPSS facts are read
-- from the stored finding JSON by generated columns, indexed for the open episodes only.
ALTER TABLE finding_history ADD COLUMN update_package TEXT COLLATE "C"
    GENERATED ALWAYS AS (CAST(finding AS jsonb) ->> 'package') STORED;
ALTER TABLE finding_history ADD COLUMN update_fixed TEXT COLLATE "C"
    GENERATED ALWAYS AS (CAST(finding AS jsonb) ->> 'fixed') STORED;
-- JSON true → 1, false → 0, absent → 0 (as SQLite's json_extract with coalesce).
ALTER TABLE finding_history ADD COLUMN kev BIGINT
    GENERATED ALWAYS AS (CASE CAST(finding AS jsonb) -> 'kev'
                           WHEN 'true'::jsonb THEN 1 ELSE 0 END) STORED;
ALTER TABLE finding_history ADD COLUMN epss DOUBLE PRECISION
    GENERATED ALWAYS AS (CAST(CAST(finding AS jsonb) ->> 'epss' AS double precision)) STORED;

-- /findings: one row per update (package, fixed version), its most urgent tier and deadline,
-- its hosts; a covering index so the grouping never reads the JSON.
CREATE INDEX finding_history_open_updates
    ON finding_history(update_package, update_fixed, tier, deadline, host_id, kev, epss, advisory)
    WHERE fixed_at IS NULL;

-- /hosts?overdue: does a host have an open finding past its deadline.
CREATE INDEX finding_history_open_deadline
    ON finding_history(host_id, deadline)
    WHERE fixed_at IS NULL;
