-- +goose Up
-- The workflow engine: pinned definition versions, applications, the audit
-- chain that is also every application's history, side effects and timers.

-- Refuses any change to an append-only table. Only a superuser who disables
-- the trigger can get past it, and the audit chain then shows what changed.
-- +goose StatementBegin
CREATE FUNCTION sciflow_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd

-- Every definition ever loaded, immutable; applications pin one.
CREATE TABLE workflow_versions (
    key        text NOT NULL,
    version    integer NOT NULL CHECK (version > 0),
    hash       text NOT NULL,
    -- file name -> content, exactly as read, so the version can be rebuilt
    source     jsonb NOT NULL CHECK (jsonb_typeof(source) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (key, version),
    UNIQUE (key, hash)
);
CREATE TRIGGER workflow_versions_append_only BEFORE UPDATE OR DELETE ON workflow_versions
    FOR EACH ROW EXECUTE FUNCTION sciflow_refuse_change();
CREATE TRIGGER workflow_versions_no_truncate BEFORE TRUNCATE ON workflow_versions
    FOR EACH STATEMENT EXECUTE FUNCTION sciflow_refuse_change();

CREATE TABLE applications (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workflow         text NOT NULL,
    workflow_version integer NOT NULL,
    state            text NOT NULL,
    -- optimistic concurrency: every change adds one
    version          integer NOT NULL DEFAULT 1 CHECK (version > 0),
    data             jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(data) = 'object'),
    org_id           uuid NOT NULL REFERENCES orgs (id),
    applicant_id     uuid NOT NULL REFERENCES users (id),
    parent_id        uuid REFERENCES applications (id),
    -- first time it left its initial state; until then only its own side sees it
    submitted_at     timestamptz,
    state_entered_at timestamptz NOT NULL DEFAULT now(),
    deadline         timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (workflow, workflow_version) REFERENCES workflow_versions (key, version),
    CHECK (parent_id IS NULL OR parent_id <> id)
);
CREATE INDEX applications_org_idx ON applications (org_id);
CREATE INDEX applications_workflow_state_idx ON applications (workflow, state);
CREATE INDEX applications_parent_idx ON applications (parent_id);
CREATE INDEX applications_page_idx ON applications (created_at DESC, id DESC);

-- 留痕: one hash chain over every audited action. The history of an
-- application is its 'transition' entries. Only content is stored; the
-- columns after it are derived from it, so no part of an entry can change
-- without breaking its hash.
CREATE TABLE audit_log (
    seq            bigint PRIMARY KEY CHECK (seq > 0),
    content        text NOT NULL,
    prev_hash      bytea NOT NULL,
    hash           bytea NOT NULL,
    kind           text GENERATED ALWAYS AS (content::jsonb ->> 'kind') STORED,
    at             timestamptz GENERATED ALWAYS AS
                       (to_timestamp(((content::jsonb ->> 'at_us')::bigint)::double precision / 1000000)) STORED,
    actor_id       uuid GENERATED ALWAYS AS ((content::jsonb ->> 'actor_id')::uuid) STORED,
    application_id uuid GENERATED ALWAYS AS ((content::jsonb ->> 'application_id')::uuid) STORED,
    app_seq        integer GENERATED ALWAYS AS ((content::jsonb ->> 'app_seq')::integer) STORED,
    workflow       text GENERATED ALWAYS AS (content::jsonb ->> 'workflow') STORED,
    event          text GENERATED ALWAYS AS (content::jsonb ->> 'event') STORED
);
-- one history row per application and step
CREATE UNIQUE INDEX audit_log_history_key ON audit_log (application_id, app_seq)
    WHERE application_id IS NOT NULL AND app_seq IS NOT NULL;
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, seq);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION sciflow_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION sciflow_refuse_change();

-- The signed head of the chain (count and last hash), updated in the same
-- transaction as each append: deleting the newest entries leaves it ahead of
-- the log, which verification reports.
CREATE TABLE audit_head (
    id        boolean PRIMARY KEY DEFAULT true CHECK (id),
    count     bigint NOT NULL CHECK (count >= 0),
    last_hash bytea NOT NULL,
    signature bytea NOT NULL
);
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION sciflow_refuse_change();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION sciflow_refuse_change();

-- Side effects (notifications, reminders) queued in the transaction that
-- causes them, processed after it commits.
CREATE TABLE outbox (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic          text NOT NULL,
    application_id uuid REFERENCES applications (id),
    payload        jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    processed_at   timestamptz
);
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE processed_at IS NULL;

-- Timers of the state an application is in; one that no longer matches the
-- application's state is void.
CREATE TABLE timers (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (id),
    state          text NOT NULL,
    event          text NOT NULL,
    due_at         timestamptz NOT NULL,
    done_at        timestamptz
);
CREATE INDEX timers_due_idx ON timers (due_at) WHERE done_at IS NULL;

-- The first answer to each (user, Idempotency-Key), given again on repeats.
CREATE TABLE idempotency_keys (
    user_id      uuid NOT NULL REFERENCES users (id),
    key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    request_hash text NOT NULL,
    response     jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);

CREATE TABLE attachments (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id uuid NOT NULL REFERENCES applications (id),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    label          text NOT NULL DEFAULT '' CHECK (length(label) <= 200),
    size           bigint NOT NULL CHECK (size >= 0),
    sha256         text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content_type   text NOT NULL,
    -- hidden from experts (a business plan's financials, say)
    confidential   boolean NOT NULL DEFAULT false,
    content        bytea NOT NULL,
    uploaded_by    uuid NOT NULL REFERENCES users (id),
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attachments_application_idx ON attachments (application_id);

-- The role the server runs as: it may read and write the business tables but
-- only append to the audit log and the workflow versions, and owns nothing,
-- so it can neither drop a table nor disable a trigger. Creating it needs
-- CREATEROLE; without it the server runs as the connecting user and the
-- triggers alone protect the log.
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sciflow_app') THEN
        BEGIN
            CREATE ROLE sciflow_app NOLOGIN;
        EXCEPTION
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'cannot create role sciflow_app: the server will run as %', current_user;
                RETURN;
            WHEN duplicate_object OR unique_violation THEN
                NULL; -- created meanwhile by a concurrent migration
        END;
    END IF;
    BEGIN
        EXECUTE format('GRANT sciflow_app TO %I', current_user);
    EXCEPTION WHEN insufficient_privilege OR invalid_grant_operation THEN
        NULL; -- a superuser needs no membership
    END;
    GRANT USAGE ON SCHEMA public TO sciflow_app;
    GRANT SELECT ON schema_migrations TO sciflow_app;
    GRANT SELECT, INSERT, UPDATE, DELETE ON orgs, users, applications, outbox, timers,
        idempotency_keys, attachments TO sciflow_app;
    GRANT SELECT, INSERT ON audit_log, workflow_versions TO sciflow_app;
    GRANT SELECT, INSERT, UPDATE ON audit_head TO sciflow_app;
    GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO sciflow_app;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE attachments, idempotency_keys, timers, outbox, audit_head, audit_log, applications, workflow_versions;
DROP FUNCTION sciflow_refuse_change();
