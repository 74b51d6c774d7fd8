-- PostgreSQL twin of ../0006_operators.sql (the same tables, columns and constraints; TEXT is
-- COLLATE "C" so that text sorts and compares bytewise as in SQLite).
-- Operators of the controller's API and page: a role each, an API token stored only as the
-- SHA-256 of its text, never deleted (revoked instead, so audit records keep naming someone).
-- Page sessions and one-time login tickets are stored the same way (SHA-256 of the secret).

CREATE TABLE operators (
    name         TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    role         TEXT COLLATE "C" NOT NULL CHECK (role IN ('viewer', 'operator', 'approver', 'admin')),
    token_sha256 TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at   TEXT COLLATE "C" NOT NULL,
    created_by   TEXT COLLATE "C" NOT NULL,
    revoked_at   TEXT COLLATE "C"
);

-- A browser session of the page: the cookie's SHA-256, the CSRF token its forms carry.
CREATE TABLE operator_sessions (
    id_sha256  TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    operator   TEXT COLLATE "C" NOT NULL REFERENCES operators(name),
    csrf_token TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    expires_at TEXT COLLATE "C" NOT NULL
);
CREATE INDEX operator_sessions_operator ON operator_sessions(operator);

-- Single-use login links (`patchwarden up` prints one): exchanged once for a session.
CREATE TABLE login_tickets (
    ticket_sha256 TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    operator      TEXT COLLATE "C" NOT NULL REFERENCES operators(name),
    created_at    TEXT COLLATE "C" NOT NULL,
    expires_at    TEXT COLLATE "C" NOT NULL,
    used_at       TEXT COLLATE "C"
);
