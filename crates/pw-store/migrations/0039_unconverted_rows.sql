-- The store's one-time data steps, found in constant time (issue 15). On every open the store
-- looks for rows an older migration left for it to convert (lib.rs, `Store::connect`): findings
-- lists of before 0033 not yet packed, inventories of before 0034 not yet compact. Each look
-- was a scan of its whole table (rows of ~11 KB and ~30 KB: at 10,000 hosts every open read
-- them all). Each now reads a partial index holding only the rows still to convert, empty once
-- they are. (The third look, texts of 0033 without a digest, already goes through the unique
-- index on the digest.)
CREATE INDEX host_findings_unpacked ON host_findings(host_id) WHERE packed IS NULL;
CREATE INDEX inventories_unconverted ON inventories(host_id) WHERE digest IS NULL;
