-- The operator console (issue 12): filters and paging of /hosts and /findings in SQL at fleet
-- size (10,000 hosts, 1,000,000 findings).
--
-- The open episodes of finding_history are the current findings. Their update to apply — the
-- package the advisory is matched on and the version fixing it — and the KEV/EPSS facts are read
-- from the stored finding JSON by virtual generated columns (computed, never stored in the table,
-- so closed episodes stay unchanged), indexed for the open episodes only.
ALTER TABLE finding_history ADD COLUMN update_package TEXT
    GENERATED ALWAYS AS (json_extract(finding, '$.package')) VIRTUAL;
ALTER TABLE finding_history ADD COLUMN update_fixed TEXT
    GENERATED ALWAYS AS (json_extract(finding, '$.fixed')) VIRTUAL;
ALTER TABLE finding_history ADD COLUMN kev INTEGER
    GENERATED ALWAYS AS (coalesce(json_extract(finding, '$.kev'), 0)) VIRTUAL;
ALTER TABLE finding_history ADD COLUMN epss REAL
    GENERATED ALWAYS AS (json_extract(finding, '$.epss')) VIRTUAL;

-- /findings: one row per update (package, fixed version), its most urgent tier and deadline,
-- its hosts; a covering index so the grouping never reads the JSON.
CREATE INDEX finding_history_open_updates
    ON finding_history(update_package, update_fixed, tier, deadline, host_id, kev, epss, advisory)
    WHERE fixed_at IS NULL;

-- /hosts?overdue: does a host have an open finding past its deadline.
CREATE INDEX finding_history_open_deadline
    ON finding_history(host_id, deadline)
    WHERE fixed_at IS NULL;
