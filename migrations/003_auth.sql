-- +goose Up
-- Sign-in: API tokens and the record of failed attempts that throttles guessing.

-- Bearer tokens for API clients. Only an HMAC of each token is kept, so a
-- copy of this table opens no account.
CREATE TABLE api_tokens (
    hash       bytea PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

-- Failed sign-ins in the recent past, by login name and by address; old
-- rows only age out, so throttling never locks anyone out for good.
CREATE TABLE login_failures (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username text NOT NULL,
    address  text NOT NULL,
    at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_username_idx ON login_failures (username, at);
CREATE INDEX login_failures_address_idx ON login_failures (address, at);

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sciflow_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON api_tokens, login_failures TO sciflow_app;
        GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO sciflow_app;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE login_failures, api_tokens;
