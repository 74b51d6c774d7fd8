-- The open set without its foreign keys: the SQLite migration's comment says why. The names are
-- those PostgreSQL gave the unnamed REFERENCES clauses of 0045's CREATE TABLE open_episodes.
ALTER TABLE open_episodes DROP CONSTRAINT IF EXISTS open_episodes_host_key_fkey;
ALTER TABLE open_episodes DROP CONSTRAINT IF EXISTS open_episodes_key_id_fkey;
ALTER TABLE open_episodes DROP CONSTRAINT IF EXISTS open_episodes_text_id_fkey;
