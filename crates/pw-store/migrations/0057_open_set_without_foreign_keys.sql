-- The open set without its foreign keys on SQLite too (issue 15 item 3: ≥ 1,000 full
-- inventories/s with scans keeping pace). `open_episodes` referenced `finding_hosts`,
-- `finding_keys` and `finding_texts`; PostgreSQL dropped the three keys in 0048, and SQLite kept
-- them then because each check is one lookup in the parent's B-tree (~1 µs a row, ~0.85 ms of
-- a first report's ~800 rows, 1.6 % of its controller CPU at the time) and dropping them means
-- rebuilding the table. A first report now costs ~17 ms of controller CPU, ~9 ms of it in the
-- writers' line, so the checks are about a tenth of its turn in the line
-- (docs/PERFORMANCE.md, "The open set without its foreign keys on SQLite").
--
-- Nothing relies on the keys: none cascades, no code deletes from the three parents
-- (`finding_texts` refuses it by trigger) and the write path takes every id it writes from those
-- tables in the same write transaction (docs/design/decisions.md, "The open set's foreign keys").
-- The table is rebuilt as it was otherwise (STRICT, WITHOUT ROWID, its primary key) in key
-- order, and the two views on it are made again as 0053 made them. Both backends' tables are the
-- same again.
DROP VIEW open_findings_named;
DROP VIEW open_findings;

CREATE TABLE open_episodes_0057 (
    host_key INTEGER NOT NULL,
    key_id   INTEGER NOT NULL,
    -- The host's stamp (open_stamps): first sight, deadline, tier and episode number.
    stamp    INTEGER NOT NULL,
    text_id  INTEGER NOT NULL,
    PRIMARY KEY (host_key, key_id)
) STRICT, WITHOUT ROWID;
INSERT INTO open_episodes_0057 (host_key, key_id, stamp, text_id)
SELECT host_key, key_id, stamp, text_id FROM open_episodes ORDER BY host_key, key_id;
DROP TABLE open_episodes;
ALTER TABLE open_episodes_0057 RENAME TO open_episodes;

CREATE VIEW open_findings AS
SELECT o.host_key, o.key_id, s.episode, s.first_seen, s.tier, s.deadline, o.text_id
FROM open_episodes o
JOIN open_stamps s ON s.host_key = o.host_key AND s.stamp = o.stamp;

CREATE VIEW open_findings_named AS
SELECT h.host_id, k.binary_name, k.advisory, o.episode, o.first_seen, o.tier, o.deadline,
       o.text_id, o.host_key, o.key_id
FROM open_findings o
JOIN finding_hosts h ON h.key = o.host_key
JOIN finding_keys k ON k.id = o.key_id;
