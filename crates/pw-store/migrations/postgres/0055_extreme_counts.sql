-- PostgreSQL twin of ../0055_extreme_counts.sql (its comment says why): how many of a host's
-- open findings of an update hold each of the row's extremes, four 16-bit counts in one BIGINT,
-- 0 where not known. A constant default: no rewrite of the table.
ALTER TABLE open_update_hosts
    ADD COLUMN extreme_counts BIGINT NOT NULL DEFAULT 0 CHECK (extreme_counts >= 0);
