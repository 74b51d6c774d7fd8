-- PostgreSQL twin of ../0054_integer_epss.sql (its comment says why): the per-host update
-- summary's EPSS in integer parts per billion, so that B-tree deduplication applies to its
-- index by (update_key, epss). One rewrite of the table, which rebuilds its five indexes.
ALTER TABLE open_update_hosts
    ALTER COLUMN epss TYPE INTEGER USING CAST(round(epss * 1000000000) AS INTEGER);
