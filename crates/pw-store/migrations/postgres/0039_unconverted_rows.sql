-- PostgreSQL twin of ../0039_unconverted_rows.sql: the rows the store's one-time data steps
-- convert on open, each found through a partial index that is empty once they are converted.
CREATE INDEX host_findings_unpacked ON host_findings(host_id) WHERE packed IS NULL;
CREATE INDEX inventories_unconverted ON inventories(host_id) WHERE digest IS NULL;
