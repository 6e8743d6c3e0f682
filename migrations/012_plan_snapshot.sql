-- +goose Up
-- The plan indicators as last computed (engine.PlanStats). At a province's
-- size computing every indicator reads every application of its programme
-- (2.5 s at a million applications), so the dashboard serves the last
-- computation with its time, and the servers compute it again every half
-- of SCIFLOW_PLAN_MAX_AGE. One row: the indicators are computed together,
-- by one statement, so they all describe the same moment.
CREATE TABLE plan_snapshot (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    -- which indicators, as declared, the values answer: a new definition
    -- that changes one makes the snapshot stale at once
    fingerprint text NOT NULL,
    as_of       timestamptz NOT NULL,
    took_ms     integer NOT NULL,
    -- {"indicator key": {"breakdown key": value}}
    indicators  jsonb NOT NULL
);

-- A chain's last seal (postgres.ChainState, the decision record) was found by
-- reading the seals newest first until one named the chain: years of seals
-- for an application finished long ago. The seals naming a chain come from
-- this index instead.
CREATE INDEX audit_seals_chains_idx ON audit_seals USING gin ((content::jsonb -> 'chains') jsonb_path_ops);

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sciflow_app') THEN
        GRANT SELECT, INSERT, UPDATE ON plan_snapshot TO sciflow_app;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX audit_seals_chains_idx;
DROP TABLE plan_snapshot;
