-- +goose Up
-- Organisations and the people who act for them (DOMAIN.md, "Who uses the system").

CREATE TABLE orgs (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (btrim(name) <> '' AND length(name) <= 200),
    kind        text NOT NULL CHECK (kind IN ('enterprise', 'institute', 'employer', 'bureau', 'village')),
    -- the unit that recommends this one (推荐单位/主管部门); NULL at the top
    parent_id   uuid REFERENCES orgs (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_id IS NULL OR parent_id <> id)
);
CREATE UNIQUE INDEX orgs_name_key ON orgs (lower(name));
CREATE INDEX orgs_parent_idx ON orgs (parent_id);

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username      text NOT NULL CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
    name          text NOT NULL CHECK (btrim(name) <> '' AND length(name) <= 100),
    org_id        uuid NOT NULL REFERENCES orgs (id),
    roles         text[] NOT NULL CHECK (
                      cardinality(roles) > 0
                      AND roles <@ ARRAY['applicant', 'unit_reviewer', 'staff', 'expert',
                                         'leader', 'auditor', 'admin']::text[]),
    -- argon2id in PHC string format; never the password itself
    password_hash text NOT NULL,
    disabled_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_key ON users (username);
CREATE INDEX users_org_idx ON users (org_id);

-- +goose Down
DROP TABLE users;
DROP TABLE orgs;
