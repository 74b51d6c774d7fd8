-- Compact inventories (issue 15): the twin of ../0034_compact_inventories.sql. The package list
-- becomes bytes (pw-protocol's canonical form, compressed, a one-byte format tag first; rows
-- from before keep their JSON as bytes until the store converts them on open), and the
-- content's digest gets its own column (NULL until converted).
ALTER TABLE inventories ALTER COLUMN packages TYPE BYTEA USING convert_to(packages, 'UTF8');

ALTER TABLE inventories ADD COLUMN digest TEXT COLLATE "C";
