-- PostgreSQL twin of ../0052_narrow_integers.sql: the open set's and the per-host update
-- summary's integer columns as 4-byte INTEGER instead of 8-byte BIGINT (the SQLite migration's
-- comment says why and what bounds their values). One rewrite per table (every column in one
-- ALTER TABLE); the two views on the open set are dropped and made again as they were (a view
-- holds its columns' types).
DROP VIEW open_findings_named;
DROP VIEW open_findings;

ALTER TABLE open_episodes
    ALTER COLUMN host_key TYPE INTEGER,
    ALTER COLUMN key_id TYPE INTEGER,
    ALTER COLUMN episode TYPE INTEGER,
    ALTER COLUMN stamp TYPE INTEGER,
    ALTER COLUMN tier TYPE INTEGER,
    ALTER COLUMN text_id TYPE INTEGER;

ALTER TABLE open_stamps
    ALTER COLUMN host_key TYPE INTEGER,
    ALTER COLUMN stamp TYPE INTEGER;

ALTER TABLE open_update_hosts
    ALTER COLUMN host_key TYPE INTEGER,
    ALTER COLUMN update_key TYPE INTEGER,
    ALTER COLUMN findings TYPE INTEGER,
    ALTER COLUMN tier TYPE INTEGER,
    ALTER COLUMN kev TYPE INTEGER;

CREATE VIEW open_findings AS
SELECT o.host_key, o.key_id, o.episode, s.first_seen, o.tier, s.deadline, o.text_id
FROM open_episodes o
JOIN open_stamps s ON s.host_key = o.host_key AND s.stamp = o.stamp;

CREATE VIEW open_findings_named AS
SELECT h.host_id, k.binary_name, k.advisory, o.episode, o.first_seen, o.tier, o.deadline,
       o.text_id, o.host_key, o.key_id
FROM open_findings o
JOIN finding_hosts h ON h.key = o.host_key
JOIN finding_keys k ON k.id = o.key_id;
