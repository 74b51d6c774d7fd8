-- Rollout hosts found by host (issue 15, scheduler passes at 10,000 hosts with a fleet
-- document). Every pass with a fleet document asks which hosts ended `failed` last
-- (`Store::hosts_failed_last`, the groups' health gates): without an index on `host_id` (the
-- primary key begins with `rollout_id`) that was two scans of every rollout's every host, state
-- text included. The partial index holds only the failed rows (few), the other every row's host
-- (written once, when the rollout is created; `host_id` is never updated). A rollout's creation
-- checks each of its hosts for another active rollout through the second as well.
CREATE INDEX rollout_hosts_failed ON rollout_hosts (host_id) WHERE state_name = 'failed';
CREATE INDEX rollout_hosts_by_host ON rollout_hosts (host_id);
