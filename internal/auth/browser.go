package auth

import (
	"context"
	"crypto/subtle"
	"net/http"
	"time"

	"github.com/alexedwards/scs/postgresstore"
	"github.com/alexedwards/scs/v2"

	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
)

// Browser sessions live in PostgreSQL (scs's postgres store), so they
// survive restarts and work across several server processes.
const (
	sessionUser   = "user_id"
	sessionAuthAt = "auth_at"
	sessionCSRF   = "csrf"
)

// Sessions manages browser sessions and their CSRF tokens.
type Sessions struct {
	// Manager is the scs session manager; its LoadAndSave wraps the routes.
	Manager *scs.SessionManager
	db      *postgres.DB
	store   *postgresstore.PostgresStore
}

// NewSessions makes the session manager. secure marks the cookie
// HTTPS-only, for deployments behind TLS.
func NewSessions(db *postgres.DB, secure bool) *Sessions {
	store := postgresstore.NewWithCleanupInterval(db.DB.DB, 30*time.Minute)
	m := scs.New()
	m.Store = store
	m.Lifetime = 12 * time.Hour
	m.IdleTimeout = 2 * time.Hour
	m.Cookie.Name = "sciflow_session"
	m.Cookie.HttpOnly = true
	m.Cookie.SameSite = http.SameSiteLaxMode
	m.Cookie.Secure = secure
	m.Cookie.Path = "/"
	return &Sessions{Manager: m, db: db, store: store}
}

// Close stops the expired-session sweeper.
func (s *Sessions) Close() { s.store.StopCleanup() }

// SignIn binds the session to u under a fresh session token (so a token
// planted before sign-in is worthless) and a fresh CSRF token.
func (s *Sessions) SignIn(ctx context.Context, u identity.User) error {
	if err := s.Manager.RenewToken(ctx); err != nil {
		return err
	}
	s.Manager.Put(ctx, sessionUser, u.ID)
	s.Manager.Put(ctx, sessionAuthAt, time.Now().UnixMicro())
	csrf, err := RandomToken()
	if err != nil {
		return err
	}
	s.Manager.Put(ctx, sessionCSRF, csrf)
	return nil
}

// SignOut ends the session.
func (s *Sessions) SignOut(ctx context.Context) error { return s.Manager.Destroy(ctx) }

// User is the session's signed-in user, or nil. A disabled account, or a
// password changed since sign-in, ends the session at once.
func (s *Sessions) User(ctx context.Context) (*identity.User, error) {
	id := s.Manager.GetString(ctx, sessionUser)
	if id == "" {
		return nil, nil
	}
	u, err := s.db.User(ctx, id)
	if errs.CodeOf(err) == errs.NotFound {
		return nil, s.Manager.Destroy(ctx)
	}
	if err != nil {
		return nil, err
	}
	authAt := s.Manager.GetInt64(ctx, sessionAuthAt)
	if u.Disabled || u.PasswordChanged.UnixMicro() > authAt {
		return nil, s.Manager.Destroy(ctx)
	}
	return &u, nil
}

// CSRF is the session's CSRF token, created on first use; forms carry it
// in a hidden field, scripts in the X-CSRF-Token header.
func (s *Sessions) CSRF(ctx context.Context) (string, error) {
	tok := s.Manager.GetString(ctx, sessionCSRF)
	if tok == "" {
		var err error
		if tok, err = RandomToken(); err != nil {
			return "", err
		}
		s.Manager.Put(ctx, sessionCSRF, tok)
	}
	return tok, nil
}

// CheckCSRF reports whether token is the session's CSRF token.
func (s *Sessions) CheckCSRF(ctx context.Context, token string) bool {
	want := s.Manager.GetString(ctx, sessionCSRF)
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(token)) == 1
}
