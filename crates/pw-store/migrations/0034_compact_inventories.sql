-- Compact inventories (issue 15): the package list is stored in pw-protocol's canonical form,
-- compressed (DEFLATE, a one-byte format tag first), with the digest of the content
-- (`InventoryContent::digest`) beside it, so an agent's delta is checked against the digest
-- and an unchanged full report is recognised without reading the list. Existing rows keep
-- their JSON list (as bytes) with no digest; the store rewrites them on open
-- (`Store::convert_legacy_inventories`, inventory_codec.rs) and reads both forms meanwhile.
-- SQLite cannot change a column's type: the table is rebuilt, same columns in the same order.
CREATE TABLE inventories_0034 (
    host_id            TEXT PRIMARY KEY NOT NULL REFERENCES hosts(id),
    reported_at        TEXT NOT NULL,
    collected_at       TEXT NOT NULL,
    os                 TEXT NOT NULL,
    packages           BLOB NOT NULL,
    package_count      INTEGER NOT NULL,
    reboot_required    INTEGER NOT NULL,
    reboot_required_by TEXT NOT NULL,
    pending_reported   INTEGER NOT NULL,
    restart            TEXT,
    backport_history   TEXT,
    -- `sha256:…` of the content; NULL until a row from before 0034 is converted.
    digest             TEXT
) STRICT;

INSERT INTO inventories_0034
    SELECT host_id, reported_at, collected_at, os, CAST(packages AS BLOB), package_count,
           reboot_required, reboot_required_by, pending_reported, restart, backport_history, NULL
      FROM inventories;

DROP TABLE inventories;

ALTER TABLE inventories_0034 RENAME TO inventories;
