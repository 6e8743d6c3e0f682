-- +goose Up
-- Staged review: the stages an application passes through, each reviewer's
-- task in them, expert draws that can be replayed, the questions of a send
-- back, in-app notifications, local working-day overrides and e-mail
-- addresses. Side effects now travel as river jobs (rivermigrate creates
-- river's tables after these migrations), so the outbox table goes: nothing
-- ever consumed it, and every transition it described is in the audit chain.

ALTER TABLE users ADD COLUMN email text
    CHECK (length(email) <= 254 AND email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$');

-- One row per entry of an application into a review state that declares
-- reviewers: the stage's round. It is closed when the application leaves
-- the state; decided when its own policy ended it (then a reviewer may
-- recall that decision while the application has not moved on).
CREATE TABLE review_stages (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (id),
    state          text NOT NULL,
    round          integer NOT NULL CHECK (round > 0),
    policy         text NOT NULL CHECK (policy IN ('all', 'any', 'k_of_n', 'sequential', 'score')),
    opened_at      timestamptz NOT NULL,
    due_at         timestamptz,
    closed_at      timestamptz,
    -- the event that ended the stage
    outcome        text,
    decided        boolean NOT NULL DEFAULT false,
    -- the application's version right after the outcome: recall is possible
    -- only while it is still the same
    result_version integer,
    -- the tally or the scores' aggregate that decided it
    summary        jsonb,
    UNIQUE (application_id, state, round),
    CHECK (NOT decided OR closed_at IS NOT NULL)
);
-- An application is in one state at a time, so it has one open stage.
CREATE UNIQUE INDEX review_stages_open_key ON review_stages (application_id) WHERE closed_at IS NULL;

-- 专家抽取: a seeded random draw, stored with its pool so that anyone can
-- replay it (docs/workflows.md gives the rule).
CREATE TABLE expert_draws (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stage_id      bigint NOT NULL REFERENCES review_stages (id),
    seed          text NOT NULL CHECK (seed ~ '^[0-9a-f]{32}$'),
    specialty     text,
    wanted        integer NOT NULL CHECK (wanted > 0),
    -- every eligible expert at the time, sorted; picked is in draw order
    pool          uuid[] NOT NULL,
    picked        uuid[] NOT NULL,
    -- a replacement draw names the task whose reviewer recused
    replaces_task uuid,
    drawn_by      uuid REFERENCES users (id),
    drawn_at      timestamptz NOT NULL
);
CREATE INDEX expert_draws_stage_idx ON expert_draws (stage_id);

CREATE TABLE review_tasks (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stage_id       bigint NOT NULL REFERENCES review_stages (id),
    application_id uuid NOT NULL REFERENCES applications (id),
    assignee_id    uuid NOT NULL REFERENCES users (id),
    -- order of the panel; a sequential stage opens them in this order
    position       integer NOT NULL,
    via            text NOT NULL CHECK (via IN ('role', 'assigned', 'drawn', 'replacement', 'delegated')),
    status         text NOT NULL CHECK (status IN ('waiting', 'open', 'decided', 'recused', 'delegated', 'cancelled')),
    decision       text,
    scores         jsonb,
    total          numeric(7, 2),
    comment        text NOT NULL DEFAULT '' CHECK (length(comment) <= 10000),
    -- why it was recused, delegated or cancelled
    reason         text NOT NULL DEFAULT '' CHECK (length(reason) <= 2000),
    draw_id        bigint REFERENCES expert_draws (id),
    delegated_from uuid REFERENCES review_tasks (id),
    due_at         timestamptz,
    created_at     timestamptz NOT NULL,
    decided_at     timestamptz,
    closed_at      timestamptz,
    CHECK ((status = 'decided') = (decision IS NOT NULL))
);
-- Never the same person twice in one stage, whatever became of the first task.
CREATE UNIQUE INDEX review_tasks_once_key ON review_tasks (stage_id, assignee_id);
CREATE INDEX review_tasks_inbox_idx ON review_tasks (assignee_id, status, due_at);
CREATE INDEX review_tasks_application_idx ON review_tasks (application_id, assignee_id);
CREATE INDEX review_tasks_overdue_idx ON review_tasks (due_at) WHERE status = 'open';
ALTER TABLE expert_draws ADD FOREIGN KEY (replaces_task) REFERENCES review_tasks (id);

-- 退回修改: the questions a send back asks, and the applicant's answers.
CREATE TABLE review_questions (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id uuid NOT NULL REFERENCES applications (id),
    -- the nth send back of this application
    round          integer NOT NULL CHECK (round > 0),
    position       integer NOT NULL CHECK (position > 0),
    question       text NOT NULL CHECK (btrim(question) <> '' AND length(question) <= 2000),
    asked_in       text NOT NULL,
    asked_by       uuid REFERENCES users (id),
    asked_at       timestamptz NOT NULL,
    answer         text CHECK (length(answer) <= 10000),
    answered_by    uuid REFERENCES users (id),
    answered_at    timestamptz,
    UNIQUE (application_id, round, position)
);

-- In-app notifications, each with the cause it was made for: a cause
-- delivered twice (a job retried, two servers) makes one notification.
CREATE TABLE notifications (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        uuid NOT NULL REFERENCES users (id),
    kind           text NOT NULL CHECK (kind IN ('task', 'reminder', 'escalation', 'returned', 'decision')),
    application_id uuid REFERENCES applications (id),
    task_id        uuid REFERENCES review_tasks (id),
    title_zh       text NOT NULL,
    title_en       text NOT NULL,
    dedupe_key     text NOT NULL,
    created_at     timestamptz NOT NULL,
    read_at        timestamptz,
    -- when it was handed to the SMTP server; never twice
    emailed_at     timestamptz
);
CREATE UNIQUE INDEX notifications_dedupe_key ON notifications (dedupe_key);
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at DESC, id DESC);

-- Working-day overrides the administrator adds on top of the national
-- calendar (a local holiday, a make-up day the county declares).
CREATE TABLE calendar_overrides (
    day        date PRIMARY KEY,
    working    boolean NOT NULL,
    note       text NOT NULL DEFAULT '' CHECK (length(note) <= 200),
    created_by uuid REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Timers remember which entry into their state they belong to, so that a
-- timer left from an earlier visit of the same state can never fire.
ALTER TABLE timers ADD COLUMN entered_at timestamptz;

DROP TABLE outbox;

-- Everything recorded about one application since a point in the chain
-- (has anyone acted since a stage's decision, so that it may be recalled?).
CREATE INDEX audit_log_application_idx ON audit_log (application_id, seq) WHERE application_id IS NOT NULL;

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sciflow_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON review_stages, expert_draws, review_tasks, review_questions,
            notifications, calendar_overrides TO sciflow_app;
        GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO sciflow_app;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX audit_log_application_idx;
CREATE TABLE outbox (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic          text NOT NULL,
    application_id uuid REFERENCES applications (id),
    payload        jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    processed_at   timestamptz
);
ALTER TABLE timers DROP COLUMN entered_at;
DROP TABLE calendar_overrides, notifications, review_questions;
ALTER TABLE expert_draws DROP COLUMN replaces_task;
DROP TABLE review_tasks, expert_draws, review_stages;
ALTER TABLE users DROP COLUMN email;
