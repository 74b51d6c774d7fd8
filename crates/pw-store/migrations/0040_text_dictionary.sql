-- Finding texts compressed against a shared dictionary (issue 15 item 3: database ≤ 100 MB per
-- 1,000 hosts). A text is a finding's JSON without its deadline, ~400 bytes that share most of
-- their content with other texts (member names, reasons, summaries) and little within
-- themselves: at 1,000 hosts the 62,000 texts were 24 MB of JSON in a 32 MB table. Since 0040 a
-- text is zstd-compressed against a dictionary built from real findings (pw-store
-- zdict.rs): `packed` holds it, `dictionary` names the dictionary (a later one is added
-- under the next number; rows keep theirs), `finding` is ''. SQL cannot compress: the rows
-- written before keep their JSON in `finding` until the store's first open packs them
-- (finding_texts.rs, found through the partial index below, empty once they are).
ALTER TABLE finding_texts ADD COLUMN dictionary INTEGER CHECK (dictionary >= 1);
ALTER TABLE finding_texts ADD COLUMN packed BLOB;
CREATE INDEX finding_texts_unpacked ON finding_texts(id) WHERE packed IS NULL;

-- A text never changes, but for the two one-time steps on open: a text of 0033 gets its digest,
-- a text of before 0040 gets packed (its JSON moved into `packed`, `finding` emptied).
DROP TRIGGER finding_texts_final;
CREATE TRIGGER finding_texts_final BEFORE UPDATE ON finding_texts
WHEN NOT (
    (OLD.digest IS NULL AND NEW.finding IS OLD.finding AND NEW.packed IS OLD.packed
        AND NEW.dictionary IS OLD.dictionary)
    OR (OLD.packed IS NULL AND NEW.packed IS NOT NULL AND NEW.dictionary IS NOT NULL
        AND NEW.finding = '' AND NEW.digest IS OLD.digest))
BEGIN SELECT RAISE(ABORT, 'a finding text never changes'); END;
