-- PostgreSQL twin of ../0045_open_stamps.sql (the same tables, columns, constraints, indexes
-- and views). An open finding's first sight and deadline stored once per host in
-- `open_stamps`; an open episode (`open_episodes`) names its host's stamp; `open_findings` is
-- a view with the columns the table had.
CREATE TABLE open_stamps (
    host_key   BIGINT NOT NULL REFERENCES finding_hosts(key),
    stamp      BIGINT NOT NULL CHECK (stamp >= 1),
    first_seen BIGINT NOT NULL,
    deadline   BIGINT,
    PRIMARY KEY (host_key, stamp)
);
INSERT INTO open_stamps (host_key, stamp, first_seen, deadline)
SELECT host_key, ROW_NUMBER() OVER (PARTITION BY host_key ORDER BY first_seen, deadline),
       first_seen, deadline
FROM (SELECT DISTINCT host_key, first_seen, deadline FROM open_findings) AS pairs
ORDER BY host_key;

CREATE TABLE open_episodes (
    host_key BIGINT NOT NULL REFERENCES finding_hosts(key),
    key_id   BIGINT NOT NULL REFERENCES finding_keys(id),
    episode  BIGINT NOT NULL CHECK (episode >= 1),
    stamp    BIGINT NOT NULL,
    tier     BIGINT NOT NULL CHECK (tier BETWEEN 0 AND 4),
    text_id  BIGINT NOT NULL REFERENCES finding_texts(id),
    PRIMARY KEY (host_key, key_id)
);
INSERT INTO open_episodes (host_key, key_id, episode, stamp, tier, text_id)
SELECT o.host_key, o.key_id, o.episode, s.stamp, o.tier, o.text_id
FROM open_findings o
JOIN open_stamps s ON s.host_key = o.host_key AND s.first_seen = o.first_seen
    AND s.deadline IS NOT DISTINCT FROM o.deadline
ORDER BY o.host_key, o.key_id;

DROP VIEW open_findings_named;
DROP TABLE open_findings;
CREATE INDEX open_episodes_text ON open_episodes(text_id);

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
