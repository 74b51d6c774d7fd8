-- An update's most urgent tier, earliest deadline, KEV and highest EPSS over its hosts
-- (`open_updates`) kept with how many hosts' rows hold each, instead of re-read through four
-- indexes of `open_update_hosts` (issue 15 item 3: ≥ 1,000 full inventories/s with scans
-- keeping pace). Each of a first report's ~46 summary rows went into the table and four
-- indexes by (update key, value): four scattered index pages a row, each journalled for the
-- statement and written to the WAL at the commit — about a third of a first report's turn in
-- the writers' line (docs/PERFORMANCE.md, "A first report's summaries: an update's extremes
-- kept by counts"). The write now works an update's extremes out from its stored row and the
-- host rows it removes and adds (`update_extremes.rs`); only when every host holding an
-- extreme left it, and no added row reaches it, are the update's rows read again. One index is
-- kept, by (update key, deadline): deadlines follow each host's first sight, so an update's
-- earliest is often held by one host, and it is read again by one seek (the other extremes are
-- coarse — five tiers, KEV, an advisory's EPSS — and held by many hosts); it also serves the
-- console's joins by update.
--
-- A count of 0 is not known: rows stored before this migration are counted again at their
-- update's next write (the migration computes nothing, so it is instant on a large fleet).
ALTER TABLE open_updates ADD COLUMN tier_hosts INTEGER NOT NULL DEFAULT 0
    CHECK (tier_hosts >= 0);
ALTER TABLE open_updates ADD COLUMN deadline_hosts INTEGER NOT NULL DEFAULT 0
    CHECK (deadline_hosts >= 0);
ALTER TABLE open_updates ADD COLUMN kev_hosts INTEGER NOT NULL DEFAULT 0
    CHECK (kev_hosts >= 0);
ALTER TABLE open_updates ADD COLUMN epss_hosts INTEGER NOT NULL DEFAULT 0
    CHECK (epss_hosts >= 0);
DROP INDEX open_update_hosts_tier;
DROP INDEX open_update_hosts_kev;
DROP INDEX open_update_hosts_epss;
