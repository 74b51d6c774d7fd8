-- The open set without its index by text (issue 15 item 3: database ≤ 100 MB per 1,000 hosts).
-- `open_episodes_text` (0045, as `open_findings_text` since 0037) held one entry per open
-- episode (843,000 at 1,000 hosts, ~17 bytes each: 14.4 MB, as much as the texts, summaries and
-- stamps together) for the console's reads of an update's or an advisory's open findings. Those
-- reads now find the hosts first — an update's in the per-host update summary
-- (`open_update_hosts`, by its indexes on the update's key), an advisory's by its finding keys —
-- and read each host's episodes by the primary key (console.rs, findings.rs): the write path
-- keeps one B-tree fewer per episode.
DROP INDEX open_episodes_text;
