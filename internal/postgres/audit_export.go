package postgres

import (
	"context"
	"database/sql"
)

// AuditExportRow is an entry as an export writes it: with the name and
// username of its actor, who may be a user since renamed or one no longer
// there (then both are empty).
type AuditExportRow struct {
	AuditRow
	ActorName     sql.NullString `db:"actor_name"`
	ActorUsername sql.NullString `db:"actor_username"`
}

// ScanAuditEntries calls fn for every entry the filters select after the
// cursor, in AuditEntries' order and under its rule of final entries, with
// no limit. It is one query whose rows are read as fn takes them, so an
// export of the whole log holds one entry at a time, and all of it comes
// from one snapshot. An error before the first call to fn is one of the
// query's: nothing has been passed on by then.
func (db *DB) ScanAuditEntries(ctx context.Context, f AuditQuery, fn func(AuditExportRow) error) error {
	if err := f.Check(); err != nil {
		return err
	}
	after, err := db.auditStart(ctx, f.AfterSeq)
	if err != nil {
		return err
	}
	f.Limit = 0
	// A lateral lookup, not a join the planner might hash and then sort:
	// rows leave in the index's order as the scan finds them.
	q, args := f.listing(auditRowColumns+`, u.name AS actor_name, u.username AS actor_username`,
		`LEFT JOIN LATERAL (SELECT name, username FROM users WHERE id = l.actor_id) u ON true`, after)
	rows, err := db.QueryxContext(ctx, q, args...)
	if err != nil {
		return mapError("export audit entries", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r AuditExportRow
		if err := rows.StructScan(&r); err != nil {
			return mapError("read audit entry", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return mapError("export audit entries", rows.Err())
}
