-- PostgreSQL twin of ../0011_restart_status.sql (the same tables, columns and constraints; TEXT is
-- COLLATE "C" so that text sorts and compares bytewise as in SQLite).
-- What each host still needs after its changes, as its agent last reported it (issue 11.4,
-- "patched means patched"): JSON of pw_protocol::RestartStatus — boot mark, running and newest
-- kernel, the reboot flag, processes mapping replaced libraries with their units, dpkg --audit.
-- NULL for agents that do not report it.
ALTER TABLE inventories ADD COLUMN restart TEXT COLLATE "C";
