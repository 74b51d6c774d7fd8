-- A count of changes to the facts fleet groups are resolved from: hosts enrolled or removed, a
-- host name or labels changed (issue 15, scheduler passes at 10,000 hosts with a fleet
-- document). The scheduler keeps every host's group between passes (pw-controller's
-- `fleet_groups.rs`) and read every host's name and labels each pass to see whether one moved:
-- 10,000 rows a pass. It now reads this one row and the hosts again only when it moved. Kept by
-- triggers, so no writer can forget it: an inventory report names its host every time, and the
-- trigger's WHEN leaves the count alone unless the name or labels differ.
CREATE TABLE host_facts_epoch (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    n  INTEGER NOT NULL
) STRICT;
INSERT INTO host_facts_epoch (id, n) VALUES (1, 0);
CREATE TRIGGER host_facts_inserted AFTER INSERT ON hosts
BEGIN UPDATE host_facts_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER host_facts_deleted AFTER DELETE ON hosts
BEGIN UPDATE host_facts_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER host_facts_changed AFTER UPDATE OF hostname, labels ON hosts
WHEN old.hostname IS NOT new.hostname OR old.labels IS NOT new.labels
BEGIN UPDATE host_facts_epoch SET n = n + 1 WHERE id = 1; END;
