-- +goose Up
-- Accounts: self-registration, expert profiles, password resets, browser sessions.

-- 统一社会信用代码 (GB 32100-2015), unique among organisations that have one.
ALTER TABLE orgs ADD COLUMN credit_code text
    CHECK (credit_code ~ '^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$');
CREATE UNIQUE INDEX orgs_credit_code_key ON orgs (credit_code) WHERE credit_code IS NOT NULL;

-- A person who registered alone (an envoy candidate, a talent) sees only
-- their own applications, not their employer's.
ALTER TABLE users ADD COLUMN individual boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN phone text CHECK (phone ~ '^[0-9+ -]{6,20}$');
-- Sessions and tokens issued before this moment are void: a new password
-- signs every other device out.
ALTER TABLE users ADD COLUMN password_changed_at timestamptz NOT NULL DEFAULT now();
-- Separation of duties: whoever administers accounts holds no other role,
-- so the administrator can never approve anything.
ALTER TABLE users ADD CONSTRAINT users_admin_alone
    CHECK (NOT ('admin' = ANY (roles)) OR cardinality(roles) = 1);

-- 评审专家: what an expert knows, and the organisations they must never review.
CREATE TABLE expert_specialties (
    user_id   uuid NOT NULL REFERENCES users (id),
    specialty text NOT NULL CHECK (btrim(specialty) <> '' AND length(specialty) <= 100),
    PRIMARY KEY (user_id, specialty)
);
CREATE TABLE expert_conflicts (
    user_id uuid NOT NULL REFERENCES users (id),
    org_id  uuid NOT NULL REFERENCES orgs (id),
    PRIMARY KEY (user_id, org_id)
);

-- One-time password reset links an administrator hands over; only an HMAC
-- of each link's token is kept.
CREATE TABLE password_resets (
    hash       bytea PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

-- Browser sessions (alexedwards/scs postgresstore's schema).
CREATE TABLE sessions (
    token  text PRIMARY KEY,
    data   bytea NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sciflow_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON expert_specialties, expert_conflicts, password_resets, sessions
            TO sciflow_app;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE sessions, password_resets, expert_conflicts, expert_specialties;
ALTER TABLE users DROP CONSTRAINT users_admin_alone, DROP COLUMN password_changed_at, DROP COLUMN phone,
    DROP COLUMN individual;
DROP INDEX orgs_credit_code_key;
ALTER TABLE orgs DROP COLUMN credit_code;
