-- PostgreSQL twin of ../0053_stamped_tiers.sql (the SQLite migration's comment says why): the
-- tier and episode number kept in the host's stamp, `open_episodes` four 4-byte integers (a
-- 40-byte tuple instead of 48). Both tables rebuilt under new names, the old ones dropped, the
-- new ones and their primary keys renamed to the old names; the views made again as they were.
-- The open set keeps no foreign key (0048); the stamps keep theirs to finding_hosts (0045), and
-- their constraints keep the names PostgreSQL gave them there.
DROP VIEW open_findings_named;
DROP VIEW open_findings;

CREATE TABLE open_stamps_0053 (
    host_key   INTEGER NOT NULL
        CONSTRAINT open_stamps_host_key_fkey REFERENCES finding_hosts(key),
    stamp      INTEGER NOT NULL CONSTRAINT open_stamps_stamp_check CHECK (stamp >= 1),
    first_seen BIGINT NOT NULL,
    deadline   BIGINT,
    tier       INTEGER NOT NULL CONSTRAINT open_stamps_tier_check CHECK (tier BETWEEN 0 AND 4),
    episode    INTEGER NOT NULL CONSTRAINT open_stamps_episode_check CHECK (episode >= 1),
    PRIMARY KEY (host_key, stamp)
);
INSERT INTO open_stamps_0053 (host_key, stamp, first_seen, deadline, tier, episode)
SELECT host_key,
       ROW_NUMBER() OVER (PARTITION BY host_key ORDER BY first_seen, deadline, tier, episode),
       first_seen, deadline, tier, episode
FROM (SELECT DISTINCT o.host_key, s.first_seen, s.deadline, o.tier, o.episode
      FROM open_episodes o
      JOIN open_stamps s ON s.host_key = o.host_key AND s.stamp = o.stamp) AS stamps
ORDER BY host_key;

CREATE TABLE open_episodes_0053 (
    host_key INTEGER NOT NULL,
    key_id   INTEGER NOT NULL,
    stamp    INTEGER NOT NULL,
    text_id  INTEGER NOT NULL,
    PRIMARY KEY (host_key, key_id)
);
INSERT INTO open_episodes_0053 (host_key, key_id, stamp, text_id)
SELECT o.host_key, o.key_id, n.stamp, o.text_id
FROM open_episodes o
JOIN open_stamps s ON s.host_key = o.host_key AND s.stamp = o.stamp
JOIN open_stamps_0053 n ON n.host_key = o.host_key AND n.first_seen = s.first_seen
    AND n.deadline IS NOT DISTINCT FROM s.deadline AND n.tier = o.tier
    AND n.episode = o.episode
ORDER BY o.host_key, o.key_id;

DROP TABLE open_episodes;
DROP TABLE open_stamps;
ALTER TABLE open_stamps_0053 RENAME TO open_stamps;
ALTER INDEX open_stamps_0053_pkey RENAME TO open_stamps_pkey;
ALTER TABLE open_episodes_0053 RENAME TO open_episodes;
ALTER INDEX open_episodes_0053_pkey RENAME TO open_episodes_pkey;

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
