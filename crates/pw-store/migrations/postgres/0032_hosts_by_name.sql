-- The console's /hosts pages go through the fleet by host name (issue 12): a page deep in the
-- list (OFFSET 7,450 of 10,000) sorted every joined host row — each with its findings' JSON
-- in the way of `tier_counts` — before skipping. With this index the page's ids are read in
-- name order from the index alone, and only the page's rows are joined.
CREATE INDEX hosts_by_name ON hosts(hostname, id);
