-- +goose Up
-- Reading the log page by page while it is being written. An entry's seq is
-- taken when its row is inserted, but its transaction commits later, and
-- transactions commit in any order: a reader paging by seq can pass a seq
-- whose entry is still uncommitted and never come back for it.
--
-- So every entry records the transaction that wrote it, and listings go in
-- (xid, seq) order and show only the entries of transactions that had ended
-- before the oldest one still running took its id (postgres.auditHorizon).
-- An entry not yet listed belongs to a transaction that was running or had
-- not begun, whose xid is therefore at or above that horizon, above every
-- xid already listed: it sorts after any cursor a reader holds, so paging
-- on from the cursor finds it.
--
-- The default is evaluated once for the rows already here (PostgreSQL adds a
-- column with a non-volatile default without rewriting the table): entries
-- written before this migration all carry its transaction's id, final, in
-- seq order, before everything written later.
ALTER TABLE audit_log ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX audit_log_listing_idx ON audit_log (xid, seq);

-- +goose Down
DROP INDEX audit_log_listing_idx;
ALTER TABLE audit_log DROP COLUMN xid;
