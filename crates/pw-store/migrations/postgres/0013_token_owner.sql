-- PostgreSQL twin of ../0013_token_owner.sql (the same tables, columns and constraints; TEXT is
-- COLLATE "C" so that text sorts and compares bytewise as in SQLite).
-- Enrollment tokens name the operator who issued them, so revoking that operator revokes its
-- unused tokens (issue 14.6). Tokens issued before this migration get their issuer from the
-- audit record of their creation.

ALTER TABLE enrollment_tokens ADD COLUMN created_by TEXT COLLATE "C";
ALTER TABLE enrollment_tokens ADD COLUMN revoked_at TEXT COLLATE "C";

UPDATE enrollment_tokens SET created_by = (
    SELECT actor FROM audit
    WHERE action = 'enrollment_token.created' AND subject = enrollment_tokens.id
);

CREATE INDEX enrollment_tokens_created_by ON enrollment_tokens(created_by);
