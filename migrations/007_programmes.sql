-- +goose Up
-- What the programmes need beyond staged review: a third party to an
-- application (the service target of a technology envoy), public notices
-- (公示) with their real-name objections (异议).

-- The organisation a definition names as the application's other party
-- (its `party` field): its people see the application and act where an
-- event allows `party`. Children inherit their parent's.
ALTER TABLE applications ADD COLUMN party_org_id uuid REFERENCES orgs (id);
CREATE INDEX applications_party_idx ON applications (party_org_id) WHERE party_org_id IS NOT NULL;

-- One row per entry of an application into a notice state: what the public
-- list shows (never phone numbers, ID numbers or attachments) and when the
-- period ends. Re-entering the same notice (an objection dismissed) resumes
-- the period rather than starting a new one.
CREATE TABLE notices (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (id),
    state          text NOT NULL,
    title          text NOT NULL,
    org_name       text NOT NULL,
    person         text,
    amount         numeric(14, 2),
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX notices_open_idx ON notices (ends_at, starts_at);
CREATE INDEX notices_application_idx ON notices (application_id, state);

-- 异议: real-name, written, with reasons; decided by staff.
CREATE TABLE objections (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    notice_id      bigint NOT NULL REFERENCES notices (id),
    application_id uuid NOT NULL REFERENCES applications (id),
    name           text NOT NULL CHECK (btrim(name) <> '' AND length(name) <= 100),
    phone          text NOT NULL CHECK (phone ~ '^[0-9+ -]{6,20}$'),
    org            text NOT NULL DEFAULT '' CHECK (length(org) <= 200),
    reason         text NOT NULL CHECK (length(reason) BETWEEN 1 AND 5000),
    address        text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL,
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'sustained', 'dismissed')),
    decided_at     timestamptz,
    decision       text NOT NULL DEFAULT '' CHECK (length(decision) <= 10000)
);
CREATE INDEX objections_application_idx ON objections (application_id, status);

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sciflow_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON notices, objections TO sciflow_app;
        GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO sciflow_app;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE objections, notices;
DROP INDEX applications_party_idx;
ALTER TABLE applications DROP COLUMN party_org_id;
