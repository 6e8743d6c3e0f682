package postgres

import (
	"context"
	"database/sql"

	"github.com/lib/pq"

	"github.com/sciflow/sciflow/internal/identity"
)

// SetUserOrg moves a user to another organisation; what the user sees
// follows it from their next request.
func (tx *Tx) SetUserOrg(ctx context.Context, userID, orgID string) error {
	const q = `UPDATE users SET org_id = $2 WHERE id = $1`
	res, err := tx.ExecContext(ctx, q, userID, orgID)
	if err != nil {
		return mapError("move user", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return mapError("move user", sql.ErrNoRows)
	}
	return nil
}

// UsersByID finds the users of ids in one query (the actors of a page of the
// audit log); ids that name nobody, or are not ids, are left out.
func (db *DB) UsersByID(ctx context.Context, ids []string) ([]identity.User, error) {
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if isUUID(id) {
			valid = append(valid, id)
		}
	}
	if len(valid) == 0 {
		return nil, nil
	}
	var rows []userRow
	const q = `SELECT ` + userColumns + ` FROM users WHERE id = ANY ($1::uuid[]) ORDER BY username`
	if err := db.SelectContext(ctx, &rows, q, pq.StringArray(valid)); err != nil {
		return nil, mapError("find users", err)
	}
	out := make([]identity.User, len(rows))
	for i, r := range rows {
		out[i] = toUser(r)
	}
	return out, nil
}
