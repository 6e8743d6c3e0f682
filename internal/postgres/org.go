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
	ID         string         `db:"id"`
	Name       string         `db:"name"`
	Kind       string         `db:"kind"`
	ParentID   sql.NullString `db:"parent_id"`
	CreditCode sql.NullString `db:"credit_code"`
	Created    time.Time      `db:"created_at"`
}

func toOrg(r orgRow) identity.Org {
	return identity.Org{ID: r.ID, Name: r.Name, Kind: identity.OrgKind(r.Kind), ParentID: r.ParentID.String,
		CreditCode: r.CreditCode.String, Created: r.Created}
}

const orgColumns = `id, name, kind, parent_id, credit_code, created_at`

func insertOrg(ctx context.Context, q sqlx.QueryerContext, o identity.Org) (identity.Org, error) {
	const query = `
INSERT INTO orgs (name, kind, parent_id, credit_code)
VALUES ($1, $2, $3, $4)
RETURNING ` + orgColumns
	var r orgRow
	err := sqlx.GetContext(ctx, q, &r, query, o.Name, string(o.Kind), nullString(o.ParentID), nullString(o.CreditCode))
	if err != nil {
		return identity.Org{}, mapError("insert org", err)
	}
	return toOrg(r), nil
}

// CreateOrg stores a new organisation and returns it with its id.
func (db *DB) CreateOrg(ctx context.Context, o identity.Org) (identity.Org, error) {
	return insertOrg(ctx, db, o)
}

// CreateOrg stores a new organisation inside the transaction.
func (tx *Tx) CreateOrg(ctx context.Context, o identity.Org) (identity.Org, error) {
	return insertOrg(ctx, tx, o)
}

// OrgByRef finds an organisation by id or by name (case-insensitive), the two
// ways an operator refers to one on the command line.
func (db *DB) OrgByRef(ctx context.Context, ref string) (identity.Org, error) {
	return orgByRef(ctx, db, ref)
}

// OrgByRef finds an organisation inside the transaction.
func (tx *Tx) OrgByRef(ctx context.Context, ref string) (identity.Org, error) {
	return orgByRef(ctx, tx, ref)
}

func orgByRef(ctx context.Context, q sqlx.QueryerContext, ref string) (identity.Org, error) {
	const byID = `SELECT ` + orgColumns + ` FROM orgs WHERE id = $1`
	const byName = `SELECT ` + orgColumns + ` FROM orgs WHERE lower(name) = lower($1)`
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

// CreditCodeTaken reports whether an organisation already has code.
func (tx *Tx) CreditCodeTaken(ctx context.Context, code string) (bool, error) {
	var taken bool
	if err := tx.GetContext(ctx, &taken, `SELECT EXISTS (SELECT 1 FROM orgs WHERE credit_code = $1)`, code); err != nil {
		return false, mapError("look up credit code", err)
	}
	return taken, nil
}

// Orgs lists every organisation by name.
func (db *DB) Orgs(ctx context.Context) ([]identity.Org, error) {
	var rows []orgRow
	if err := db.SelectContext(ctx, &rows, `SELECT `+orgColumns+` FROM orgs ORDER BY name`); err != nil {
		return nil, mapError("list orgs", err)
	}
	out := make([]identity.Org, len(rows))
	for i, r := range rows {
		out[i] = toOrg(r)
	}
	return out, nil
}

func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}
