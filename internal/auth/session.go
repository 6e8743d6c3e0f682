package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
)

// Throttling: past these many failures within Window, sign-in answers 429
// until the oldest of them ages out. The tight limit is per name and
// address, so guessing from one machine is slow while the account's owner,
// signing in from elsewhere, is not shut out; the per-address limit stops
// one machine guessing across many accounts; the much higher per-name limit
// bounds guessing spread over many machines. The window slides, so nobody
// is locked out for good.
const (
	Window              = 15 * time.Minute
	MaxUserAddrFailures = 20
	MaxAddrFailures     = 100
	MaxUserFailures     = 300
)

// TokenTTL is how long an API token lives.
const TokenTTL = 12 * time.Hour

// Service signs people in and recognises their tokens.
type Service struct {
	db     *postgres.DB
	chain  *audit.Chain
	secret []byte
	// Now is the clock; tests move it.
	Now func() time.Time
	// dummyHash is checked against when the user does not exist, so that an
	// unknown name takes as long as a wrong password. Made on first need:
	// hashing costs 64 MiB, which no process should hold from its start
	// (every CLI command makes a Service).
	dummyHash func() (string, error)
}

// NewService makes the sign-in service; secret keys the token hashes.
func NewService(db *postgres.DB, chain *audit.Chain, secret string) (*Service, error) {
	dummy := sync.OnceValues(func() (string, error) { return HashPassword("no such user, no such password") })
	return &Service{db: db, chain: chain, secret: []byte(secret), Now: time.Now, dummyHash: dummy}, nil
}

var errBadLogin = errs.E(errs.Unauthenticated, "用户名或密码错误", "wrong username or password")

// Login checks a password and issues an API token. Unknown users, disabled
// users and wrong passwords get the same answer.
func (s *Service) Login(ctx context.Context, username, password, address string) (string, identity.User, error) {
	return s.login(ctx, username, password, address, true)
}

// LoginBrowser checks a password for a browser sign-in, which keeps its
// state in a server-side session instead of a token.
func (s *Service) LoginBrowser(ctx context.Context, username, password, address string) (identity.User, error) {
	_, u, err := s.login(ctx, username, password, address, false)
	return u, err
}

func (s *Service) login(ctx context.Context, username, password, address string, issueToken bool) (string, identity.User, error) {
	username = strings.ToLower(strings.TrimSpace(username))
	if len(username) > 64 {
		username = username[:64]
	}
	now := s.Now()
	attempt, err := s.claimAttempt(ctx, username, address, now)
	if err != nil {
		return "", identity.User{}, err
	}
	cred, err := s.db.CredentialsByUsername(ctx, username)
	found := err == nil
	if err != nil && errs.CodeOf(err) != errs.NotFound {
		return "", identity.User{}, err
	}
	var hash string
	if found {
		hash = cred.PasswordHash
	} else if hash, err = s.dummyHash(); err != nil {
		return "", identity.User{}, err
	}
	ok, err := CheckPassword(hash, password)
	if err != nil {
		ok = false
	}
	channel := "browser"
	if issueToken {
		channel = "api"
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return "", identity.User{}, err
	}
	defer tx.Rollback()
	if !found || !ok || cred.User.Disabled {
		entry := audit.Entry{Kind: audit.KindLoginFailed, AtMicros: now.UnixMicro(), Subject: username,
			Data: map[string]any{"address": address, "channel": channel}}
		if found {
			entry.ActorID = cred.User.ID
		}
		if _, err := s.chain.Append(ctx, tx, entry); err != nil {
			return "", identity.User{}, err
		}
		if err := tx.Commit(); err != nil {
			return "", identity.User{}, err
		}
		return "", identity.User{}, errBadLogin
	}
	if err := tx.ForgetLoginFailure(ctx, attempt); err != nil {
		return "", identity.User{}, err
	}
	token := ""
	if issueToken {
		if token, err = RandomToken(); err != nil {
			return "", identity.User{}, err
		}
		if err := tx.InsertToken(ctx, s.tokenHash(token), cred.User.ID, now.Add(TokenTTL)); err != nil {
			return "", identity.User{}, err
		}
	}
	_, err = s.chain.Append(ctx, tx, audit.Entry{Kind: audit.KindLogin, AtMicros: now.UnixMicro(), ActorID: cred.User.ID,
		Subject: cred.User.Username, Data: map[string]any{"address": address, "channel": channel}})
	if err != nil {
		return "", identity.User{}, err
	}
	if err := tx.Commit(); err != nil {
		return "", identity.User{}, err
	}
	return token, cred.User, nil
}

// claimAttempt judges an attempt by the recent failures and, unless they
// are too many already, records it as one more: it counts as failed from
// before its password is checked until it proves right. Counting and
// recording are one step under locks on the name and the address, so that
// guesses sent all at once cannot each find the count below the limit
// while the first of them are still being hashed.
func (s *Service) claimAttempt(ctx context.Context, username, address string, now time.Time) (int64, error) {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if err := tx.LockLoginAttempts(ctx, username, address); err != nil {
		return 0, err
	}
	f, err := tx.RecentLoginFailures(ctx, username, address, now.Add(-Window))
	if err != nil {
		return 0, err
	}
	if wait := throttled(f, now); wait > 0 {
		e := errs.E(errs.TooMany, "登录失败次数过多，请稍后再试", "too many failed sign-ins; try again later")
		e.RetryAfter = wait
		return 0, e
	}
	id, err := tx.RecordLoginFailure(ctx, username, address, now)
	if err != nil {
		return 0, err
	}
	return id, tx.Commit()
}

// throttled is how long to wait before another attempt, or 0.
func throttled(f postgres.LoginFailures, now time.Time) time.Duration {
	var wait time.Duration
	for _, limit := range []struct {
		count, max int
		oldest     *time.Time
	}{
		{f.ByUserAddr, MaxUserAddrFailures, f.OldestUserAddr},
		{f.ByAddress, MaxAddrFailures, f.OldestAddr},
		{f.ByUser, MaxUserFailures, f.OldestUser},
	} {
		if limit.count >= limit.max && limit.oldest != nil {
			wait = max(wait, limit.oldest.Add(Window).Sub(now))
		}
	}
	if wait > 0 && wait < time.Second {
		wait = time.Second
	}
	return wait
}

// Authenticate finds the user of a live token.
func (s *Service) Authenticate(ctx context.Context, token string) (identity.User, error) {
	if token == "" || len(token) > 200 {
		return identity.User{}, errs.E(errs.Unauthenticated, "请先登录", "please sign in")
	}
	u, err := s.db.UserByToken(ctx, s.tokenHash(token), s.Now())
	if errs.CodeOf(err) == errs.NotFound {
		return identity.User{}, errs.E(errs.Unauthenticated, "登录已失效，请重新登录", "your sign-in has expired; please sign in again")
	}
	return u, err
}

// LogoutBrowser records a browser sign-out (the session itself is ended by
// the caller).
func (s *Service) LogoutBrowser(ctx context.Context, user identity.User) error {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := s.chain.Append(ctx, tx, audit.Entry{Kind: audit.KindLogout, AtMicros: s.Now().UnixMicro(),
		ActorID: user.ID, Subject: user.Username, Data: map[string]any{"channel": "browser"}}); err != nil {
		return err
	}
	return tx.Commit()
}

// Logout revokes a token.
func (s *Service) Logout(ctx context.Context, token string, user identity.User) error {
	now := s.Now()
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	revoked, err := tx.RevokeToken(ctx, s.tokenHash(token), now)
	if err != nil {
		return err
	}
	if revoked {
		if _, err := s.chain.Append(ctx, tx, audit.Entry{Kind: audit.KindLogout, AtMicros: now.UnixMicro(),
			ActorID: user.ID, Subject: user.Username}); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (s *Service) tokenHash(token string) []byte { return Digest(s.secret, "api token", token) }

// Digest is HMAC-SHA256 of a secret token under the server's key, labelled
// by purpose so a digest made for one use never matches another. Only
// digests are stored, so a copy of the database opens nothing.
func Digest(key []byte, purpose, token string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("sciflow " + purpose + "\x00"))
	m.Write([]byte(token))
	return m.Sum(nil)
}

// RandomToken is 256 random bits, URL-safe: API tokens, CSRF tokens and
// reset links are all made of it.
func RandomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
