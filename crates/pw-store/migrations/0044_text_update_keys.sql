-- A finding text names its update by key (issue 15 item 3: database ≤ 100 MB per 1,000 hosts).
-- Each text (62,000 at 1,000 hosts, ~40 bytes of packed JSON each since 0040) repeated its
-- update's package and fixed version as columns for the console, in the row and again in the
-- index by update: the texts' rows and indexes took ~14 MB beside 2.5 MB of packed JSON. The
-- two columns give way to the update's key in `update_keys` (0043), and the index by update to
-- one by that key; the console's summaries group a host's findings by it without reading a
-- name.
INSERT INTO update_keys (package, fixed)
SELECT DISTINCT package, fixed FROM finding_texts WHERE TRUE
ORDER BY package, fixed
ON CONFLICT (package, fixed) DO NOTHING;

-- A text never changes (the trigger, rebuilt as 0040 left it once the key is filled in).
DROP TRIGGER finding_texts_final;
ALTER TABLE finding_texts ADD COLUMN update_key INTEGER REFERENCES update_keys(id);
UPDATE finding_texts SET update_key = (SELECT k.id FROM update_keys k
    WHERE k.package = finding_texts.package AND k.fixed = finding_texts.fixed);
DROP INDEX finding_texts_update;
ALTER TABLE finding_texts DROP COLUMN package;
ALTER TABLE finding_texts DROP COLUMN fixed;
CREATE INDEX finding_texts_update ON finding_texts(update_key);
CREATE TRIGGER finding_texts_final BEFORE UPDATE ON finding_texts
WHEN NOT (
    (OLD.digest IS NULL AND NEW.finding IS OLD.finding AND NEW.packed IS OLD.packed
        AND NEW.dictionary IS OLD.dictionary)
    OR (OLD.packed IS NULL AND NEW.packed IS NOT NULL AND NEW.dictionary IS NOT NULL
        AND NEW.finding = '' AND NEW.digest IS OLD.digest))
    OR NEW.update_key IS NOT OLD.update_key
BEGIN SELECT RAISE(ABORT, 'a finding text never changes'); END;
