-- PostgreSQL twin of ../0056_update_extremes.sql (its comment says why): an update's extremes
-- kept with how many hosts' rows hold each (0: not known), and `open_update_hosts` indexed by
-- (update key, deadline) alone instead of by (update key, value) four times.
ALTER TABLE open_updates
    ADD COLUMN tier_hosts INTEGER NOT NULL DEFAULT 0 CHECK (tier_hosts >= 0),
    ADD COLUMN deadline_hosts INTEGER NOT NULL DEFAULT 0 CHECK (deadline_hosts >= 0),
    ADD COLUMN kev_hosts INTEGER NOT NULL DEFAULT 0 CHECK (kev_hosts >= 0),
    ADD COLUMN epss_hosts INTEGER NOT NULL DEFAULT 0 CHECK (epss_hosts >= 0);
DROP INDEX open_update_hosts_tier;
DROP INDEX open_update_hosts_kev;
DROP INDEX open_update_hosts_epss;
