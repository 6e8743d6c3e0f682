-- +goose Up
-- Retention reaches the objectors too: once an application's personal data
-- is redacted (engine.Redact), its objections lose the objector's name,
-- phone and the address it was filed from, and keep their reasons and
-- outcomes. A redacted objection is marked, and only it may be nameless.
ALTER TABLE objections ADD COLUMN redacted_at timestamptz;
ALTER TABLE objections DROP CONSTRAINT objections_name_check, DROP CONSTRAINT objections_phone_check;
ALTER TABLE objections ADD CONSTRAINT objections_objector_check CHECK (
    (redacted_at IS NULL AND btrim(name) <> '' AND length(name) <= 100 AND phone ~ '^[0-9+ -]{6,20}$')
    OR (redacted_at IS NOT NULL AND name = '' AND phone = '' AND address = ''));

-- +goose Down
ALTER TABLE objections DROP CONSTRAINT objections_objector_check;
ALTER TABLE objections ADD CONSTRAINT objections_name_check CHECK (btrim(name) <> '' AND length(name) <= 100),
    ADD CONSTRAINT objections_phone_check CHECK (phone ~ '^[0-9+ -]{6,20}$');
ALTER TABLE objections DROP COLUMN redacted_at;
