-- PostgreSQL twin of ../0044_text_update_keys.sql (the same tables, columns, constraints and
-- indexes). A finding text names its update by its key in `update_keys` instead of repeating
-- the update's package and fixed version in its row and index.
INSERT INTO update_keys (package, fixed)
SELECT DISTINCT package, fixed FROM finding_texts
ORDER BY package, fixed
ON CONFLICT (package, fixed) DO NOTHING;

DROP TRIGGER finding_texts_final ON finding_texts;
ALTER TABLE finding_texts ADD COLUMN update_key BIGINT REFERENCES update_keys(id);
UPDATE finding_texts t SET update_key = k.id
FROM update_keys k WHERE k.package = t.package AND k.fixed = t.fixed;
DROP INDEX finding_texts_update;
ALTER TABLE finding_texts DROP COLUMN package;
ALTER TABLE finding_texts DROP COLUMN fixed;
CREATE INDEX finding_texts_update ON finding_texts(update_key);
CREATE TRIGGER finding_texts_final BEFORE UPDATE ON finding_texts
FOR EACH ROW WHEN (NOT (
    (OLD.digest IS NULL AND NEW.finding IS NOT DISTINCT FROM OLD.finding
        AND NEW.packed IS NOT DISTINCT FROM OLD.packed
        AND NEW.dictionary IS NOT DISTINCT FROM OLD.dictionary)
    OR (OLD.packed IS NULL AND NEW.packed IS NOT NULL AND NEW.dictionary IS NOT NULL
        AND NEW.finding = '' AND NEW.digest IS NOT DISTINCT FROM OLD.digest))
    OR NEW.update_key IS DISTINCT FROM OLD.update_key)
EXECUTE FUNCTION pw_refuse('a finding text never changes');
