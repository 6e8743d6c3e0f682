package postgres

import (
	"context"
	"time"

	"github.com/sciflow/sciflow/internal/identity"
)

// Credentials are what signing in checks.
type Credentials struct {
	User         identity.User
	PasswordHash string
}

// CredentialsByUsername finds a user and their password hash.
func (db *DB) CredentialsByUsername(ctx context.Context, username string) (Credentials, error) {
	q := `SELECT ` + userColumns + `, password_hash FROM users WHERE username = $1`
	var r struct {
		userRow
		PasswordHash string `db:"password_hash"`
	}
	if err := db.GetContext(ctx, &r, q, username); err != nil {
		return Credentials{}, mapError("find credentials", err)
	}
	return Credentials{User: toUser(r.userRow), PasswordHash: r.PasswordHash}, nil
}

// InsertToken stores a token's hash for user until expires.
func (tx *Tx) InsertToken(ctx context.Context, hash []byte, userID string, expires time.Time) error {
	const q = `INSERT INTO api_tokens (hash, user_id, expires_at) VALUES ($1, $2, $3)`
	if _, err := tx.ExecContext(ctx, q, hash, userID, expires); err != nil {
		return mapError("insert token", err)
	}
	return nil
}

// UserByToken finds the enabled user a live token belongs to. Disabling a
// user or revoking the token takes effect on the very next request.
func (db *DB) UserByToken(ctx context.Context, hash []byte, now time.Time) (identity.User, error) {
	const q = `
SELECT u.id, u.username, u.name, u.org_id, u.roles, u.disabled_at, u.individual, u.phone, u.email, u.password_changed_at,
    u.created_at
FROM api_tokens t JOIN users u ON u.id = t.user_id
WHERE t.hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2 AND u.disabled_at IS NULL`
	var r userRow
	if err := db.getPrepared(ctx, &r, q, hash, now); err != nil {
		return identity.User{}, mapError("find token", err)
	}
	return toUser(r), nil
}

// RevokeToken ends a token; it reports whether there was a live one.
func (tx *Tx) RevokeToken(ctx context.Context, hash []byte, now time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $2 WHERE hash = $1 AND revoked_at IS NULL`, hash, now)
	if err != nil {
		return false, mapError("revoke token", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// LockLoginAttempts makes sign-in attempts for username, and those from
// address, wait for each other until this transaction ends, so that each
// is counted before the next is judged. The name's lock is always taken
// before the address's, so two attempts never wait on each other.
func (tx *Tx) LockLoginAttempts(ctx context.Context, username, address string) error {
	if err := tx.LockKey(ctx, "login name:"+username); err != nil {
		return err
	}
	return tx.LockKey(ctx, "login address:"+address)
}

// RecordLoginFailure notes a failed sign-in, or one whose password is yet
// to be checked, and returns its id.
func (tx *Tx) RecordLoginFailure(ctx context.Context, username, address string, at time.Time) (int64, error) {
	const q = `INSERT INTO login_failures (username, address, at) VALUES ($1, $2, $3) RETURNING id`
	var id int64
	if err := tx.GetContext(ctx, &id, q, username, address, at); err != nil {
		return 0, mapError("record login failure", err)
	}
	return id, nil
}

// ForgetLoginFailure takes back the failure recorded for an attempt that
// turned out right.
func (tx *Tx) ForgetLoginFailure(ctx context.Context, id int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM login_failures WHERE id = $1`, id); err != nil {
		return mapError("forget login failure", err)
	}
	return nil
}

// LoginFailures counts recent failures three ways, each with the time of
// the oldest it counted: for this name from this address, for this name
// from anywhere, and from this address for any name.
type LoginFailures struct {
	ByUserAddr     int        `db:"by_user_address"`
	ByUser         int        `db:"by_user"`
	ByAddress      int        `db:"by_address"`
	OldestUserAddr *time.Time `db:"oldest_user_address"`
	OldestUser     *time.Time `db:"oldest_user"`
	OldestAddr     *time.Time `db:"oldest_address"`
}

// RecentLoginFailures counts failures since since; under LockLoginAttempts
// no other attempt for the name or from the address adds to them meanwhile.
func (tx *Tx) RecentLoginFailures(ctx context.Context, username, address string, since time.Time) (LoginFailures, error) {
	const q = `
SELECT
    count(*) FILTER (WHERE username = $1 AND address = $2) AS by_user_address,
    count(*) FILTER (WHERE username = $1) AS by_user,
    count(*) FILTER (WHERE address = $2) AS by_address,
    min(at) FILTER (WHERE username = $1 AND address = $2) AS oldest_user_address,
    min(at) FILTER (WHERE username = $1) AS oldest_user,
    min(at) FILTER (WHERE address = $2) AS oldest_address
FROM login_failures
WHERE at > $3 AND (username = $1 OR address = $2)`
	var f LoginFailures
	if err := tx.GetContext(ctx, &f, q, username, address, since); err != nil {
		return f, mapError("count login failures", err)
	}
	return f, nil
}
