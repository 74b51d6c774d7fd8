-- PostgreSQL twin of ../0042_ranking_basis.sql: the digest of what a host's stored ranking was
-- computed from (a feed import's re-rank rescans only the binaries it can change while the
-- basis is the same).
ALTER TABLE host_findings ADD COLUMN basis BYTEA;
