package postgres

import (
	"context"
	"database/sql"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/sciflow/sciflow/internal/identity"
)

type userRow struct {
	ID          string         `db:"id"`
	Username    string         `db:"username"`
	Name        string         `db:"name"`
	OrgID       string         `db:"org_id"`
	Roles       pq.StringArray `db:"roles"`
	Disabled    sql.NullTime   `db:"disabled_at"`
	Individual  bool           `db:"individual"`
	Phone       sql.NullString `db:"phone"`
	Email       sql.NullString `db:"email"`
	PasswordSet time.Time      `db:"password_changed_at"`
	Created     time.Time      `db:"created_at"`
}

func toUser(r userRow) identity.User {
	roles := make([]identity.Role, len(r.Roles))
	for i, s := range r.Roles {
		roles[i] = identity.Role(s)
	}
	return identity.User{ID: r.ID, Username: r.Username, Name: r.Name, OrgID: r.OrgID, Roles: roles,
		Disabled: r.Disabled.Valid, Individual: r.Individual, Phone: r.Phone.String, Email: r.Email.String,
		PasswordChanged: r.PasswordSet, Created: r.Created}
}

const userColumns = `id, username, name, org_id, roles, disabled_at, individual, phone, email, password_changed_at, created_at`

func insertUser(ctx context.Context, q sqlx.QueryerContext, u identity.User, passwordHash string) (identity.User, error) {
	const query = `
INSERT INTO users (username, name, org_id, roles, password_hash, individual, phone, email)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING ` + userColumns
	var r userRow
	err := sqlx.GetContext(ctx, q, &r, query, u.Username, u.Name, u.OrgID, pq.StringArray(identity.RoleStrings(u.Roles)),
		passwordHash, u.Individual, nullString(u.Phone), nullString(u.Email))
	if err != nil {
		return identity.User{}, mapError("insert user", err)
	}
	return toUser(r), nil
}

// CreateUser stores a new user with an already hashed password.
func (db *DB) CreateUser(ctx context.Context, u identity.User, passwordHash string) (identity.User, error) {
	return insertUser(ctx, db, u, passwordHash)
}

// CreateUser stores a new user inside the transaction.
func (tx *Tx) CreateUser(ctx context.Context, u identity.User, passwordHash string) (identity.User, error) {
	return insertUser(ctx, tx, u, passwordHash)
}

// UserByUsername finds a user by login name.
func (db *DB) UserByUsername(ctx context.Context, username string) (identity.User, error) {
	var r userRow
	if err := db.GetContext(ctx, &r, `SELECT `+userColumns+` FROM users WHERE username = $1`, username); err != nil {
		return identity.User{}, mapError("find user", err)
	}
	return toUser(r), nil
}

// User finds a user by id.
func (db *DB) User(ctx context.Context, id string) (identity.User, error) {
	if !isUUID(id) {
		return identity.User{}, mapError("find user", sql.ErrNoRows)
	}
	var r userRow
	if err := db.GetContext(ctx, &r, `SELECT `+userColumns+` FROM users WHERE id = $1`, id); err != nil {
		return identity.User{}, mapError("find user", err)
	}
	return toUser(r), nil
}

// LockUser reads a user and locks the row for the rest of the transaction.
func (tx *Tx) LockUser(ctx context.Context, ref string) (identity.User, error) {
	q := `SELECT ` + userColumns + ` FROM users WHERE username = $1 FOR UPDATE`
	if isUUID(ref) {
		q = `SELECT ` + userColumns + ` FROM users WHERE id = $1 FOR UPDATE`
	}
	var r userRow
	if err := tx.GetContext(ctx, &r, q, ref); err != nil {
		return identity.User{}, mapError("find user", err)
	}
	return toUser(r), nil
}

// Users lists every account by login name.
func (db *DB) Users(ctx context.Context) ([]identity.User, error) {
	var rows []userRow
	if err := db.SelectContext(ctx, &rows, `SELECT `+userColumns+` FROM users ORDER BY username`); err != nil {
		return nil, mapError("list users", err)
	}
	out := make([]identity.User, len(rows))
	for i, r := range rows {
		out[i] = toUser(r)
	}
	return out, nil
}

// UpdateUser stores a user's name, roles, disabled state and e-mail address
// (NULL when empty, so that "no address" has one spelling).
func (tx *Tx) UpdateUser(ctx context.Context, u identity.User, at time.Time) error {
	const q = `
UPDATE users SET name = $2, roles = $3,
    disabled_at = CASE WHEN $4 THEN coalesce(disabled_at, $5) ELSE NULL END,
    email = $6
WHERE id = $1`
	_, err := tx.ExecContext(ctx, q, u.ID, u.Name, pq.StringArray(identity.RoleStrings(u.Roles)), u.Disabled, at,
		nullString(u.Email))
	return mapError("update user", err)
}

// SetPasswordHash replaces a password and voids every session, token and
// reset link issued before now: a link handed out earlier must not undo the
// new password later.
func (tx *Tx) SetPasswordHash(ctx context.Context, userID, hash string, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE id = $1`, userID, hash, at); err != nil {
		return mapError("set password", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`, userID, at); err != nil {
		return mapError("revoke tokens", err)
	}
	const links = `UPDATE password_resets SET expires_at = $2 WHERE user_id = $1 AND used_at IS NULL AND expires_at > $2`
	if _, err := tx.ExecContext(ctx, links, userID, at); err != nil {
		return mapError("void reset links", err)
	}
	return nil
}

// ExpertProfile is what an expert knows and whom they must not review.
type ExpertProfile struct {
	Specialties  []string
	ConflictOrgs []string
}

// SetExpertProfile replaces an expert's specialties and declared conflicts.
func (tx *Tx) SetExpertProfile(ctx context.Context, userID string, p ExpertProfile) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM expert_specialties WHERE user_id = $1`, userID); err != nil {
		return mapError("clear specialties", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM expert_conflicts WHERE user_id = $1`, userID); err != nil {
		return mapError("clear conflicts", err)
	}
	const spec = `INSERT INTO expert_specialties (user_id, specialty) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`
	if _, err := tx.ExecContext(ctx, spec, userID, pq.StringArray(p.Specialties)); err != nil {
		return mapError("store specialties", err)
	}
	const conf = `INSERT INTO expert_conflicts (user_id, org_id) SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING`
	if _, err := tx.ExecContext(ctx, conf, userID, pq.StringArray(p.ConflictOrgs)); err != nil {
		return mapError("store conflicts", err)
	}
	return nil
}

// ExpertProfile reads an expert's specialties and conflicts.
func (db *DB) ExpertProfile(ctx context.Context, userID string) (ExpertProfile, error) {
	var p ExpertProfile
	if err := db.SelectContext(ctx, &p.Specialties, `SELECT specialty FROM expert_specialties WHERE user_id = $1 ORDER BY specialty`, userID); err != nil {
		return p, mapError("read specialties", err)
	}
	if err := db.SelectContext(ctx, &p.ConflictOrgs, `SELECT org_id FROM expert_conflicts WHERE user_id = $1 ORDER BY org_id`, userID); err != nil {
		return p, mapError("read conflicts", err)
	}
	return p, nil
}

// InsertPasswordReset stores a reset link's token hash.
func (tx *Tx) InsertPasswordReset(ctx context.Context, hash []byte, userID string, expires time.Time) error {
	const q = `INSERT INTO password_resets (hash, user_id, expires_at) VALUES ($1, $2, $3)`
	if _, err := tx.ExecContext(ctx, q, hash, userID, expires); err != nil {
		return mapError("store reset link", err)
	}
	return nil
}

// UsePasswordReset spends a live reset link and returns its user's id.
func (tx *Tx) UsePasswordReset(ctx context.Context, hash []byte, at time.Time) (string, error) {
	const q = `UPDATE password_resets SET used_at = $2
WHERE hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id`
	var id string
	if err := tx.GetContext(ctx, &id, q, hash, at); err != nil {
		return "", mapError("use reset link", err)
	}
	return id, nil
}

// CandidateQuery describes who may review a stage of an application.
type CandidateQuery struct {
	Role string
	// UnitScope limits the role to the application's organisation and its
	// recommending unit (a unit reviewer's scope).
	UnitScope   bool
	OrgID       string
	OrgParentID string
	// ExpertRules keeps out the applicant's own organisation and anyone who
	// declared a conflict with it (回避).
	ExpertRules bool
	Specialty   string
	// Exclude are people who may not review: the applicant, whoever
	// submitted, the previous stage's deciders, those already on the panel.
	Exclude []string
	// Only, when set, asks about one person.
	Only string
}

// Candidate is a person who may review.
type Candidate struct {
	ID       string `db:"id"`
	Username string `db:"username"`
	Name     string `db:"name"`
}

// candidatesWhere selects the users a CandidateQuery asks for, its
// arguments $1 to $8 (candidateArgs).
const candidatesWhere = `
WHERE $1 = ANY (u.roles) AND u.disabled_at IS NULL
  AND NOT (u.id = ANY ($2::uuid[]))
  AND (NOT $3 OR u.org_id = $4::uuid OR u.org_id = $5::uuid)
  AND (NOT $6 OR (u.org_id <> $4::uuid
      AND NOT EXISTS (SELECT 1 FROM expert_conflicts c WHERE c.user_id = u.id AND c.org_id = $4::uuid)))
  AND ($7 = '' OR EXISTS (SELECT 1 FROM expert_specialties s WHERE s.user_id = u.id AND s.specialty = $7))
  AND ($8 = '' OR u.id::text = $8)`

func (c CandidateQuery) args() []any {
	exclude := c.Exclude
	if exclude == nil {
		exclude = []string{}
	}
	return []any{c.Role, pq.StringArray(exclude), c.UnitScope, c.OrgID, nullString(c.OrgParentID), c.ExpertRules, c.Specialty, c.Only}
}

// ReviewCandidates lists the enabled holders of a role who may review, by id
// (a draw's pool is this list, so its order must be stable).
func (tx *Tx) ReviewCandidates(ctx context.Context, c CandidateQuery) ([]Candidate, error) {
	var out []Candidate
	if err := tx.SelectContext(ctx, &out, `SELECT u.id, u.username, u.name FROM users u`+candidatesWhere+` ORDER BY u.id`, c.args()...); err != nil {
		return nil, mapError("list review candidates", err)
	}
	return out, nil
}
