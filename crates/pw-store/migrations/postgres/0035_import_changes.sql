-- What a feed import changed, for the controller's re-ranking (issue 15: feed import → every
-- host re-ranked in ≤ 30 s): a JSON object `{"packages": [...], "cves": [...]}` with the
-- package names of the OSV records the import inserted or replaced (their stored and their new
-- affected packages) and every CVE id either text names. A host none of whose installed
-- packages (by name or source name) nor pending upgrades' CVEs are in it ranks the same after
-- the import: the controller scans only the others. NULL where that is not known, and where
-- anything may have changed — KEV and EPSS runs (they re-rank by CVE), the first advisories
-- stored (the scans move from the built-in snapshot to the database), imports made by an
-- older binary: every host is ranked again.
ALTER TABLE feed_imports ADD COLUMN changes TEXT;
