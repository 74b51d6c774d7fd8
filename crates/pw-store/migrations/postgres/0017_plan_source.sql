-- PostgreSQL twin of ../0017_plan_source.sql (the same tables, columns and constraints; TEXT is
-- COLLATE "C" so that text sorts and compares bytewise as in SQLite).
-- Plans built by the controller from live data (issue 9 item 3) keep what they were built from:
-- the operator's request and, per host, the live versions each change was planned on (installed
-- version, the version the package manager offered and from which suite). The controller
-- compares them with the hosts' current inventories to call a plan stale, and rebuilds it from
-- the same request. NULL for plans saved from files (the offline `patchwarden plan`).
ALTER TABLE plans ADD COLUMN source TEXT COLLATE "C";
