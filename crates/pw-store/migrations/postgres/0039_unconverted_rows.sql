-- PostgreSQL twin of ../0039_unconverted_rows.sql: the rows the store's one-time data steps
-- convert on open, each found through a partial index that is empty once they are converted.
CREATE INDEX host_findings_unpacked ON host_findings(host_id) WHERE packed IS NULL;
CREATE INDEX inventories_unconverted ON inventories(host_id) WHERE digest IS NULL;

-- A finding text's content address as the 32 bytes of its SHA-256 (was 64 hexadecimal
-- characters), at the end of the row as on SQLite.
DROP TRIGGER finding_texts_final ON finding_texts;
ALTER TABLE finding_texts ADD COLUMN sha256 BYTEA;
UPDATE finding_texts SET sha256 = decode(digest, 'hex') WHERE digest IS NOT NULL;
ALTER TABLE finding_texts DROP COLUMN digest;
ALTER TABLE finding_texts RENAME COLUMN sha256 TO digest;
CREATE UNIQUE INDEX finding_texts_digest ON finding_texts(digest);
CREATE TRIGGER finding_texts_final BEFORE UPDATE ON finding_texts
FOR EACH ROW WHEN (OLD.digest IS NOT NULL OR NEW.finding IS DISTINCT FROM OLD.finding)
EXECUTE FUNCTION pw_refuse('a finding text never changes');
