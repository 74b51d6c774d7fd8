-- What a host's stored ranking was computed from (issue 15 item 3: feed import → every host
-- re-ranked in ≤ 30 s). `basis` is a digest the controller makes of a computation's inputs
-- besides the advisories — the inventory's packages, OS and changelog history, the pending
-- upgrades, the priority policy with the emergency flags covering the host, the host's group
-- and where the advisories came from (pw-controller's `rerank_scan.rs`). A feed import's
-- re-rank rescans only the binaries the import can change and keeps the stored ranking's other
-- findings, which is exact only while the stored ranking was made from the same inputs: when
-- `basis` differs (or is NULL: rows written before this migration, a failed scan) the host is
-- scanned whole.
ALTER TABLE host_findings ADD COLUMN basis BLOB;
