package postgres

import (
	"context"
	"database/sql"
	"time"

	"github.com/lib/pq"

	"github.com/sciflow/sciflow/internal/identity"
)

type userRow struct {
	ID       string         `db:"id"`
	Username string         `db:"username"`
	Name     string         `db:"name"`
	OrgID    string         `db:"org_id"`
	Roles    pq.StringArray `db:"roles"`
	Disabled sql.NullTime   `db:"disabled_at"`
	Created  time.Time      `db:"created_at"`
}

func toUser(r userRow) identity.User {
	roles := make([]identity.Role, len(r.Roles))
	for i, s := range r.Roles {
		roles[i] = identity.Role(s)
	}
	return identity.User{ID: r.ID, Username: r.Username, Name: r.Name, OrgID: r.OrgID,
		Roles: roles, Disabled: r.Disabled.Valid, Created: r.Created}
}

// CreateUser stores a new user with an already hashed password.
func (db *DB) CreateUser(ctx context.Context, u identity.User, passwordHash string) (identity.User, error) {
	const q = `
INSERT INTO users (username, name, org_id, roles, password_hash)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, username, name, org_id, roles, disabled_at, created_at`
	var r userRow
	err := db.GetContext(ctx, &r, q, u.Username, u.Name, u.OrgID, pq.StringArray(identity.RoleStrings(u.Roles)), passwordHash)
	if err != nil {
		return identity.User{}, mapError("insert user", err)
	}
	return toUser(r), nil
}

// UserByUsername finds a user by login name.
func (db *DB) UserByUsername(ctx context.Context, username string) (identity.User, error) {
	const q = `
SELECT id, username, name, org_id, roles, disabled_at, created_at
FROM users WHERE username = $1`
	var r userRow
	if err := db.GetContext(ctx, &r, q, username); err != nil {
		return identity.User{}, mapError("find user", err)
	}
	return toUser(r), nil
}

// CountUsers counts every account, enabled or not.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := db.GetContext(ctx, &n, `SELECT count(*) FROM users`); err != nil {
		return 0, mapError("count users", err)
	}
	return n, nil
}
