-- +goose Up
-- Separation of duties: an auditor checks decisions afterwards, so holds no
-- role that makes them (as the administrator holds none either).
ALTER TABLE users ADD CONSTRAINT users_auditor_alone
    CHECK (NOT ('auditor' = ANY (roles)) OR cardinality(roles) = 1);

-- +goose Down
ALTER TABLE users DROP CONSTRAINT users_auditor_alone;
