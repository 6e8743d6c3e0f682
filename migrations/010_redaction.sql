-- +goose Up
-- Retention: after its retention period an application's personal data
-- (the form fields its workflow marks x-personal) may be redacted, from the
-- form and from every entry of its audit chain, without breaking the chain.
--
-- An entry's hash is HMAC(prev_hash || content) and stays as it was, so the
-- entries after it, the chain's head, the seals and any anchor filed outside
-- still hold. The redacted content cannot reproduce that hash, so the
-- redaction keeps the SHA-256 of the original content (whoever still holds
-- the original can show it is the one) and signs, with the chain's key, the
-- entry's hash together with that digest and the new content: verification
-- checks the signature where it cannot check the hash. Redaction happens only
-- after the original was verified.
ALTER TABLE audit_log
    ADD COLUMN redacted_sha256 bytea,
    ADD COLUMN redaction_sig bytea,
    ADD CONSTRAINT audit_log_redaction_whole CHECK ((redacted_sha256 IS NULL) = (redaction_sig IS NULL));

ALTER TABLE applications ADD COLUMN redacted_at timestamptz;

-- An application's entries from before per-chain hashing are found by the
-- application, not by the chain (postgres.ScanChain): few rows, and only in
-- installations that predate migration 008.
CREATE INDEX audit_log_legacy_app_idx ON audit_log (application_id) WHERE chain IS NULL;

-- The log stays append-only but for one kind of update: a redaction. It may
-- remove the comment and the data's values, nothing else: the fields every
-- derived column reads, the links and the position stay; and once redacted,
-- the digest of the original stays.
-- +goose StatementBegin
CREATE FUNCTION sciflow_audit_redaction_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.redacted_sha256 IS NULL
        OR NEW.seq <> OLD.seq OR NEW.xid <> OLD.xid
        OR NEW.prev_hash <> OLD.prev_hash OR NEW.hash <> OLD.hash
        OR (OLD.redacted_sha256 IS NOT NULL AND NEW.redacted_sha256 <> OLD.redacted_sha256)
        OR (NEW.content::jsonb - 'comment' - 'data') <> (OLD.content::jsonb - 'comment' - 'data')
    THEN
        RAISE EXCEPTION 'audit_log is append-only: only a redaction may change an entry'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
DROP TRIGGER audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION sciflow_refuse_change();
CREATE TRIGGER audit_log_redaction_only BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION sciflow_audit_redaction_only();

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sciflow_app') THEN
        GRANT UPDATE (content, redacted_sha256, redaction_sig) ON audit_log TO sciflow_app;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX audit_log_legacy_app_idx;
DROP TRIGGER audit_log_redaction_only ON audit_log;
DROP TRIGGER audit_log_no_delete ON audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION sciflow_refuse_change();
DROP FUNCTION sciflow_audit_redaction_only();
ALTER TABLE applications DROP COLUMN redacted_at;
ALTER TABLE audit_log DROP COLUMN redaction_sig, DROP COLUMN redacted_sha256,
    DROP CONSTRAINT audit_log_redaction_whole;
