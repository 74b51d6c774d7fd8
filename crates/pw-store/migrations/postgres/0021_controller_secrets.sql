-- PostgreSQL twin of ../0021_controller_secrets.sql (the same tables, columns and constraints;
-- TEXT is COLLATE "C" so that text sorts and compares bytewise as in SQLite).
-- Secrets every controller on one database shares (issue 15 item 2, docs/server.md "Several
-- controllers"): the controller CA's certificate and key (agents enrolled through one replica
-- talk mutual TLS to any other) and the login form's CSRF key. Each value is sealed with the
-- operator's secret key (`--secret-key-file`, never in the database) by ChaCha20-Poly1305 with
-- a random nonce and the row's name as associated data: the database alone opens nothing, and a
-- sealed value moved to another name does not open. Written once, by the first controller
-- started with a key; the others read it.
CREATE TABLE controller_secrets (
    name       TEXT COLLATE "C" PRIMARY KEY,
    -- 12 bytes, hex.
    nonce      TEXT COLLATE "C" NOT NULL,
    -- The ciphertext with its 16-byte tag, hex.
    sealed     TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL
);
