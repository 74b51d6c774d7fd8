-- Change plans (pw-planner) and their approval workflow: draft → in_review → approved → scheduled,
-- plus rejected and expired. Depends only on 0001's conventions, never on later migrations: a
-- database that already has 0003 applied still gets this one (sqlx applies every missing version).

CREATE TABLE plans (
    -- The number people use: "plan 7".
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The plan's own id from `patchwarden plan --id` (default plan-<from>); not unique.
    name         TEXT NOT NULL,
    author       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    -- The approval state's name, for listing; `approval` holds the state with its data (JSON of
    -- pw_planner::ApprovalState) and always agrees with it.
    state        TEXT NOT NULL CHECK (state IN
                     ('draft', 'in_review', 'approved', 'scheduled', 'rejected', 'expired')),
    approval     TEXT NOT NULL,
    -- Optimistic concurrency: every change (transition or revision) adds one; a writer names the
    -- version it read and is refused when the plan moved on.
    version      INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
    -- Distinct environments of the plan's groups (JSON array of strings, sorted).
    environments TEXT NOT NULL,
    production   INTEGER NOT NULL CHECK (production IN (0, 1)),
    -- What approving needs (JSON of pw_planner::ApprovalGates: four eyes, staging-gate problems).
    gates        TEXT NOT NULL,
    -- The plan as built (JSON of pw_planner::Plan) and its Markdown rendering.
    plan         TEXT NOT NULL,
    markdown     TEXT NOT NULL
) STRICT;
CREATE INDEX plans_by_state ON plans(state);

-- Every change of a plan, in order; approvals and rejections with their comment. Append-only.
CREATE TABLE plan_events (
    plan_id    INTEGER NOT NULL REFERENCES plans(id),
    -- 1-based per plan.
    seq        INTEGER NOT NULL,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    -- saved, revised, submitted, approved, declined, scheduled, expired, reopened.
    event      TEXT NOT NULL,
    -- NULL for `saved`.
    from_state TEXT,
    to_state   TEXT NOT NULL,
    -- The plan's version after this event.
    version    INTEGER NOT NULL,
    comment    TEXT,
    PRIMARY KEY (plan_id, seq)
) STRICT;

CREATE TRIGGER plan_events_no_update BEFORE UPDATE ON plan_events
BEGIN SELECT RAISE(ABORT, 'plan_events is append-only'); END;
CREATE TRIGGER plan_events_no_delete BEFORE DELETE ON plan_events
BEGIN SELECT RAISE(ABORT, 'plan_events is append-only'); END;
