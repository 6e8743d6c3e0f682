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

-- Which seals name which chain: a chain's last seal (postgres.ChainState,
-- the decision record) was found by reading the seals newest first until one
-- named it, which is years of seals for an application finished long ago.
-- A GIN index on the seals' JSON served it only while the planner chose it:
-- with few, large seals it read every seal (4 s at a million applications).
-- Written with each seal, in its statement; append-only as the seals are.
CREATE TABLE audit_seal_chains (
    chain text NOT NULL,
    -- no foreign key: this only finds seals, which verification reads
    -- themselves, and a seal deleted by hand must be found missing
    seal  bigint NOT NULL,
    PRIMARY KEY (chain, seal)
);
INSERT INTO audit_seal_chains (chain, seal)
SELECT DISTINCT c.chain, s.seq FROM audit_seals s, jsonb_to_recordset(s.content::jsonb -> 'chains') AS c(chain text);
CREATE TRIGGER audit_seal_chains_append_only BEFORE UPDATE OR DELETE ON audit_seal_chains
    FOR EACH ROW EXECUTE FUNCTION sciflow_refuse_change();
CREATE TRIGGER audit_seal_chains_no_truncate BEFORE TRUNCATE ON audit_seal_chains
    FOR EACH STATEMENT EXECUTE FUNCTION sciflow_refuse_change();

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sciflow_app') THEN
        GRANT SELECT, INSERT, UPDATE ON plan_snapshot TO sciflow_app;
        GRANT SELECT, INSERT ON audit_seal_chains TO sciflow_app;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE audit_seal_chains;
DROP TABLE plan_snapshot;
