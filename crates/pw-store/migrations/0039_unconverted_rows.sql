-- The store's one-time data steps, found in constant time (issue 15). On every open the store
-- looks for rows an older migration left for it to convert (lib.rs, `Store::connect`): findings
-- lists of before 0033 not yet packed, inventories of before 0034 not yet compact. Each look
-- was a scan of its whole table (rows of ~11 KB and ~30 KB: at 10,000 hosts every open read
-- them all). Each now reads a partial index holding only the rows still to convert, empty once
-- they are. (The third look, texts of 0033 without a digest, already goes through the unique
-- index on the digest.)
CREATE INDEX host_findings_unpacked ON host_findings(host_id) WHERE packed IS NULL;
CREATE INDEX inventories_unconverted ON inventories(host_id) WHERE digest IS NULL;

-- A finding text's content address as the 32 bytes of its SHA-256 instead of 64 hexadecimal
-- characters, in the table and in its unique index (62,000 texts at 1,000 hosts: ~4 MB). The
-- column is added again at the end of the row, as on PostgreSQL; the trigger naming it with it.
DROP TRIGGER finding_texts_final;
DROP INDEX finding_texts_digest;
ALTER TABLE finding_texts ADD COLUMN sha256 BLOB;
UPDATE finding_texts SET sha256 = unhex(digest) WHERE digest IS NOT NULL;
ALTER TABLE finding_texts DROP COLUMN digest;
ALTER TABLE finding_texts RENAME COLUMN sha256 TO digest;
CREATE UNIQUE INDEX finding_texts_digest ON finding_texts(digest);
CREATE TRIGGER finding_texts_final BEFORE UPDATE ON finding_texts
WHEN OLD.digest IS NOT NULL OR NEW.finding IS NOT OLD.finding
BEGIN SELECT RAISE(ABORT, 'a finding text never changes'); END;
