-- A finding text's content address in 16 bytes (issue 15 item 3: database ≤ 100 MB per 1,000
-- hosts). The digest, the first 16 bytes of the text's SHA-256 since this migration (was all 32
-- since 0039), is only compared for equality among the texts of one database: at 2^64 texts
-- the chance of two sharing one is ~1 in 2^64, while 62,000 texts at 1,000 hosts (a few
-- million at 100,000) are far below that. The table and its unique index each lose 16 bytes a
-- text (~2 MB at 1,000 hosts). A text without a digest yet (written at 0033, filled in on open)
-- gets the short one.
DROP TRIGGER finding_texts_final;
DROP INDEX finding_texts_digest;
UPDATE finding_texts SET digest = substr(digest, 1, 16) WHERE length(digest) > 16;
CREATE UNIQUE INDEX finding_texts_digest ON finding_texts(digest);
CREATE TRIGGER finding_texts_final BEFORE UPDATE ON finding_texts
WHEN NOT (
    (OLD.digest IS NULL AND NEW.finding IS OLD.finding AND NEW.packed IS OLD.packed
        AND NEW.dictionary IS OLD.dictionary)
    OR (OLD.packed IS NULL AND NEW.packed IS NOT NULL AND NEW.dictionary IS NOT NULL
        AND NEW.finding = '' AND NEW.digest IS OLD.digest))
    OR NEW.update_key IS NOT OLD.update_key
BEGIN SELECT RAISE(ABORT, 'a finding text never changes'); END;
