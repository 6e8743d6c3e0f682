-- +goose Up
-- Retention reaches the files too: once an application's personal data is
-- redacted (engine.Redact), the files in the slots its workflow marks
-- personal (an identity card, a diploma) lose their content and their
-- name, which often names the person; their slot, size, digest and
-- uploader stay, so the record still shows that a file was there and which.
-- A redacted file is marked, and only it may be empty of content.
ALTER TABLE attachments ADD COLUMN redacted_at timestamptz;
ALTER TABLE attachments ADD CONSTRAINT attachments_redacted_check CHECK (
    redacted_at IS NULL OR (length(content) = 0 AND name = label));

-- +goose Down
ALTER TABLE attachments DROP CONSTRAINT attachments_redacted_check;
ALTER TABLE attachments DROP COLUMN redacted_at;
