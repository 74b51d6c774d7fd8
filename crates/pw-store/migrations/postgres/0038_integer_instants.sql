-- PostgreSQL twin of ../0038_integer_instants.sql: the instants the open findings are compared
-- by — first sight and deadline, and the deadlines of the console's summaries — as BIGINT
-- nanoseconds since the Unix epoch (UTC), instants outside 1677-09-21 … 2262-04-11 stored as the
-- nearest end of that range; the summaries' deadlines computed again from the open findings'.
-- Columns keep their names and places (host_findings.earliest_deadline moves to the end of the
-- row, as on SQLite).

-- Seconds from the first 19 characters (YYYY-MM-DDTHH:MM:SS), the fraction after the dot padded
-- to 9 digits (timestamptz keeps microseconds only, so the fraction is read from the text);
-- NULL for NULL (STRICT: GREATEST and LEAST would ignore it).
CREATE FUNCTION pw_instant_ns_0038(t TEXT) RETURNS BIGINT LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CAST(LEAST(GREATEST(
        CAST(extract(epoch FROM CAST(substr(t, 1, 19) || '+00:00' AS timestamptz)) AS NUMERIC)
            * 1000000000
        + CASE WHEN substr(t, 20, 1) = '.'
            THEN CAST(substr(substr(t, 21, length(t) - 21) || '000000000', 1, 9) AS NUMERIC)
            ELSE 0 END,
        -9223372036854775808), 9223372036854775807) AS BIGINT)
$$;

DROP VIEW open_findings_named;
ALTER TABLE open_findings
    ALTER COLUMN first_seen TYPE BIGINT USING pw_instant_ns_0038(first_seen),
    ALTER COLUMN deadline TYPE BIGINT USING pw_instant_ns_0038(deadline);
CREATE VIEW open_findings_named AS
SELECT h.host_id, k.binary_name, k.advisory, o.episode, o.first_seen, o.tier, o.deadline,
       o.text_id, o.host_key, o.key_id
FROM open_findings o
JOIN finding_hosts h ON h.key = o.host_key
JOIN finding_keys k ON k.id = o.key_id;

ALTER TABLE open_update_hosts ALTER COLUMN deadline TYPE BIGINT USING NULL;
UPDATE open_update_hosts u SET deadline = d.deadline
FROM (SELECT h.host_id, t.package, t.fixed, MIN(o.deadline) AS deadline
      FROM open_findings o
      JOIN finding_texts t ON t.id = o.text_id
      JOIN finding_hosts h ON h.key = o.host_key
      GROUP BY h.host_id, t.package, t.fixed) AS d
WHERE d.host_id = u.host_id AND d.package = u.package AND d.fixed = u.fixed
  AND d.deadline IS NOT NULL;
ALTER TABLE open_updates ALTER COLUMN deadline TYPE BIGINT USING NULL;
UPDATE open_updates u SET deadline = (SELECT MIN(h.deadline) FROM open_update_hosts h
    WHERE h.package = u.package AND h.fixed = u.fixed);

ALTER TABLE host_findings ADD COLUMN earliest_due BIGINT;
UPDATE host_findings SET earliest_due =
    (SELECT MIN(o.deadline) FROM open_update_hosts o WHERE o.host_id = host_findings.host_id);
ALTER TABLE host_findings DROP COLUMN earliest_deadline;
ALTER TABLE host_findings RENAME COLUMN earliest_due TO earliest_deadline;
CREATE INDEX host_findings_console ON host_findings(host_id, earliest_deadline, tier_counts);

DROP FUNCTION pw_instant_ns_0038(TEXT);
