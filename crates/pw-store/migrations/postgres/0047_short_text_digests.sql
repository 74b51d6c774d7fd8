-- A finding text's content address in 16 bytes: the SQLite migration's comment says why.
DROP TRIGGER finding_texts_final ON finding_texts;
DROP INDEX finding_texts_digest;
UPDATE finding_texts SET digest = substring(digest FROM 1 FOR 16) WHERE length(digest) > 16;
CREATE UNIQUE INDEX finding_texts_digest ON finding_texts(digest);
CREATE TRIGGER finding_texts_final BEFORE UPDATE ON finding_texts
FOR EACH ROW WHEN (NOT (
    (OLD.digest IS NULL AND NEW.finding IS NOT DISTINCT FROM OLD.finding
        AND NEW.packed IS NOT DISTINCT FROM OLD.packed
        AND NEW.dictionary IS NOT DISTINCT FROM OLD.dictionary)
    OR (OLD.packed IS NULL AND NEW.packed IS NOT NULL AND NEW.dictionary IS NOT NULL
        AND NEW.finding = '' AND NEW.digest IS NOT DISTINCT FROM OLD.digest))
    OR NEW.update_key IS DISTINCT FROM OLD.update_key)
EXECUTE FUNCTION pw_refuse('a finding text never changes');
