-- Notifications (issue 12 items 3-4, docs/notifications.md).
--
-- The outbox: one row per event x channel. `key` (event id + '/' + channel) is the idempotency
-- key: enqueueing the same event twice for a channel is one row. A row is `pending` until the
-- dispatcher claims it (`sending`, with a lease: a controller that dies while sending leaves a
-- row that is claimed again once the lease ran out), then `sent`, or back to `pending` with the
-- next attempt time after a failure, or `failed` when the retries are used up. Times the
-- dispatcher compares are Unix milliseconds (integers); the others RFC 3339 text for display.
CREATE TABLE notification_outbox (
    id              INTEGER PRIMARY KEY,
    key             TEXT NOT NULL UNIQUE,
    event_id        TEXT NOT NULL,
    event_kind      TEXT NOT NULL,
    channel         TEXT NOT NULL,
    -- JSON: the event, the rendered message and the email recipients; never a secret.
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    lease_until_ms  INTEGER,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT
) STRICT;

CREATE INDEX notification_outbox_due ON notification_outbox (status, next_attempt_ms);

-- A channel's secrets (a signing secret or SMTP password, and the {token} of its URL), set by
-- an admin through the API (audited without the values) and never returned by it.
CREATE TABLE notification_secrets (
    channel    TEXT PRIMARY KEY,
    secret     TEXT,
    token      TEXT,
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
