-- PostgreSQL twin of ../0040_text_dictionary.sql: finding texts zstd-compressed against a shared
-- dictionary (`packed`, naming its `dictionary`; `finding` ''), the rows of before packed by the
-- store's first open, found through a partial index.
ALTER TABLE finding_texts ADD COLUMN dictionary INTEGER CHECK (dictionary >= 1);
ALTER TABLE finding_texts ADD COLUMN packed BYTEA;
CREATE INDEX finding_texts_unpacked ON finding_texts(id) WHERE packed IS NULL;

DROP TRIGGER finding_texts_final ON finding_texts;
CREATE TRIGGER finding_texts_final BEFORE UPDATE ON finding_texts
FOR EACH ROW WHEN (NOT (
    (OLD.digest IS NULL AND NEW.finding IS NOT DISTINCT FROM OLD.finding
        AND NEW.packed IS NOT DISTINCT FROM OLD.packed
        AND NEW.dictionary IS NOT DISTINCT FROM OLD.dictionary)
    OR (OLD.packed IS NULL AND NEW.packed IS NOT NULL AND NEW.dictionary IS NOT NULL
        AND NEW.finding = '' AND NEW.digest IS NOT DISTINCT FROM OLD.digest)))
EXECUTE FUNCTION pw_refuse('a finding text never changes');
