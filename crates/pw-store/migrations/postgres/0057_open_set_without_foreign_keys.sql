-- The open set without its foreign keys: PostgreSQL dropped them in 0048; the SQLite migration
-- of this number rebuilds its table without them (its comment says why). Nothing to do here.
SELECT 1;
