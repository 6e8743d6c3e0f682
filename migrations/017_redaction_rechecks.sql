-- +goose Up
-- What a redaction checked: the personal fields and slots (attachments.KEY)
-- its workflow marked when the application was last redacted. A workflow
-- version that marks more makes the retention sweep (engine.RedactDue)
-- redact the application again, instead of leaving what is newly marked
-- personal in applications redacted before it. NULL for redactions made
-- before this column: the next sweep checks them once more.
ALTER TABLE applications ADD COLUMN redacted_personal text[];

-- +goose Down
ALTER TABLE applications DROP COLUMN redacted_personal;
