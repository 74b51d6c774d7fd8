-- Rollout hosts found by host: the SQLite migration's comment says why.
CREATE INDEX rollout_hosts_failed ON rollout_hosts (host_id) WHERE state_name = 'failed';
CREATE INDEX rollout_hosts_by_host ON rollout_hosts (host_id);
