-- +goose Up
-- Tasks opened but not yet announced to their reviewers. A transition that
-- opens a stage notes its open tasks here, in its own transaction, and the
-- servers' queue turns them into notifications in batches about twice a
-- second (notify.Service.AnnounceTasks). Writing the reviewers'
-- notifications in the transition itself cost 40% of a submission's time
-- at eight clients (docs/BENCHMARKS.md): every submission wrote rows for the
-- same few reviewers, sharing their user rows' locks and index pages.
-- No foreign key: the row is gone within a second, and the batch reads the
-- task it names.
CREATE TABLE tasks_to_announce (
    task_id uuid PRIMARY KEY
);

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sciflow_app') THEN
        -- UPDATE for the batch's FOR UPDATE SKIP LOCKED
        GRANT SELECT, INSERT, UPDATE, DELETE ON tasks_to_announce TO sciflow_app;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE tasks_to_announce;
