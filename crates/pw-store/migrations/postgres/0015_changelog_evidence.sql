-- PostgreSQL twin of ../0015_changelog_evidence.sql (the same tables, columns and constraints; TEXT is
-- COLLATE "C" so that text sorts and compares bytewise as in SQLite).
-- Host-side changelog evidence (issue 11): what the agent read from Debian changelogs, kept with
-- the inventory so that a later re-ranking (fleet document applied, feeds imported) uses it too.

-- JSON object {binary: [CVE id, …]}: the CVE ids the installed changelog of each package names in
-- its installed version's history. NULL when the agent did not read changelogs (older agents,
-- RPM hosts).
ALTER TABLE inventories ADD COLUMN backport_history TEXT COLLATE "C";

-- JSON array of the CVE ids the candidate's new changelog entries name; NULL when unknown.
ALTER TABLE pending_updates ADD COLUMN cves TEXT COLLATE "C";

-- Why an episode closed when it was not by an upgrade: "fixed by a backport: the changelog of …
-- names CVE-…". NULL for an episode closed because a computation no longer showed the finding.
ALTER TABLE finding_history ADD COLUMN fixed_by TEXT COLLATE "C";
