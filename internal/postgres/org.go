package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/sciflow/sciflow/internal/identity"
)

type orgRow struct {
	ID       string         `db:"id"`
	Name     string         `db:"name"`
	Kind     string         `db:"kind"`
	ParentID sql.NullString `db:"parent_id"`
	Created  time.Time      `db:"created_at"`
}

func toOrg(r orgRow) identity.Org {
	return identity.Org{ID: r.ID, Name: r.Name, Kind: identity.OrgKind(r.Kind), ParentID: r.ParentID.String, Created: r.Created}
}

// CreateOrg stores a new organisation and returns it with its id.
func (db *DB) CreateOrg(ctx context.Context, o identity.Org) (identity.Org, error) {
	const q = `
INSERT INTO orgs (name, kind, parent_id)
VALUES ($1, $2, $3)
RETURNING id, name, kind, parent_id, created_at`
	var r orgRow
	err := db.GetContext(ctx, &r, q, o.Name, string(o.Kind), nullString(o.ParentID))
	if err != nil {
		return identity.Org{}, mapError("insert org", err)
	}
	return toOrg(r), nil
}

// OrgByRef finds an organisation by id or by name (case-insensitive), the two
// ways an operator refers to one on the command line.
func (db *DB) OrgByRef(ctx context.Context, ref string) (identity.Org, error) {
	return orgByRef(ctx, db, ref)
}

func orgByRef(ctx context.Context, q sqlx.QueryerContext, ref string) (identity.Org, error) {
	const byID = `SELECT id, name, kind, parent_id, created_at FROM orgs WHERE id = $1`
	const byName = `SELECT id, name, kind, parent_id, created_at FROM orgs WHERE lower(name) = lower($1)`
	var r orgRow
	var err error
	if isUUID(ref) {
		err = sqlx.GetContext(ctx, q, &r, byID, ref)
	} else {
		err = sqlx.GetContext(ctx, q, &r, byName, ref)
	}
	if err != nil {
		return identity.Org{}, mapError(fmt.Sprintf("find org %q", ref), err)
	}
	return toOrg(r), nil
}

func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}
