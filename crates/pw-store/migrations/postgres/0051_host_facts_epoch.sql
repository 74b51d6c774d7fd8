-- A count of changes to the facts fleet groups are resolved from: the SQLite migration's
-- comment says why.
CREATE TABLE host_facts_epoch (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    n  BIGINT NOT NULL
);
INSERT INTO host_facts_epoch (id, n) VALUES (1, 0);
CREATE FUNCTION host_facts_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE host_facts_epoch SET n = n + 1 WHERE id = 1; RETURN NULL; END $$;
CREATE TRIGGER host_facts_inserted AFTER INSERT ON hosts
FOR EACH ROW EXECUTE FUNCTION host_facts_bump();
CREATE TRIGGER host_facts_deleted AFTER DELETE ON hosts
FOR EACH ROW EXECUTE FUNCTION host_facts_bump();
CREATE TRIGGER host_facts_changed AFTER UPDATE OF hostname, labels ON hosts
FOR EACH ROW WHEN (OLD.hostname IS DISTINCT FROM NEW.hostname OR OLD.labels IS DISTINCT FROM NEW.labels)
EXECUTE FUNCTION host_facts_bump();
