package httpapi

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"
	_ "github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/auth"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/postgres"
)

// unreachableDB is a handle whose server never answers, as when the
// database is down.
func unreachableDB(t *testing.T) *postgres.DB {
	sqldb, err := sql.Open("postgres", "host=/nonexistent-socket-dir dbname=x sslmode=disable connect_timeout=1")
	require.NoError(t, err)
	t.Cleanup(func() { sqldb.Close() })
	return &postgres.DB{DB: sqlx.NewDb(sqldb, "postgres")}
}

func do(s *Server, method, path string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

func TestHealthIs503WhenTheDatabaseIsDown(t *testing.T) {
	s := New(Deps{DB: unreachableDB(t), Log: slog.New(slog.DiscardHandler)})
	rec := do(s, http.MethodGet, "/healthz")
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.JSONEq(t, `{"status":"unavailable"}`, rec.Body.String())
}

// A request with a session cookie while the database is away: the session
// cannot be read, and the answer is 503 in the API's shape, or a page for a
// browser, never the session library's plain 500.
func TestSessionsAnswer503WhenTheDatabaseIsDown(t *testing.T) {
	db := unreachableDB(t)
	sessions := auth.NewSessions(db, false)
	t.Cleanup(sessions.Close)
	s := New(Deps{DB: db, Log: slog.New(slog.DiscardHandler), Sessions: sessions})
	cookie := "sciflow_session=planted-or-real"
	rec := do(s, http.MethodGet, "/api/v1/me", "Cookie", cookie)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
	require.Equal(t, "1", rec.Header().Get("Retry-After"))
	var body struct {
		Error struct{ Code, Message string }
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	require.Equal(t, "unavailable", body.Error.Code)
	rec = do(s, http.MethodGet, "/apps", "Cookie", cookie, "Accept", "text/html")
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Contains(t, rec.Body.String(), "服务暂时不可用")
}

func TestErrorsFollowAPIShape(t *testing.T) {
	var logged strings.Builder
	s := New(Deps{DB: unreachableDB(t), Log: slog.New(slog.NewTextHandler(&logged, nil))})
	s.echo.GET("/api/v1/test/:kind", func(c echo.Context) error {
		switch c.Param("kind") {
		case "invalid":
			return fmt.Errorf("save: %w", errs.E(errs.Invalid, "表单有误", "the form has errors").
				Field("data.budget", "预算不能超过榜单上限", "the budget exceeds the challenge's ceiling"))
		case "throttled":
			e := errs.E(errs.TooMany, "尝试过多", "too many attempts")
			e.RetryAfter = 90 * time.Second
			return e
		case "conflict":
			return fmt.Errorf("fire: %w", errs.ErrConflict)
		}
		return errors.New("pq: relation \"secret_internal_table\" does not exist")
	})

	type body struct {
		Error struct {
			Code    string
			Message string
			Fields  map[string]string
		}
	}
	decode := func(rec *httptest.ResponseRecorder) body {
		var b body
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &b), rec.Body.String())
		return b
	}

	rec := do(s, http.MethodGet, "/api/v1/test/invalid")
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	b := decode(rec)
	require.Equal(t, "invalid", b.Error.Code)
	require.Equal(t, "预算不能超过榜单上限", b.Error.Fields["data.budget"])

	rec = do(s, http.MethodGet, "/api/v1/test/invalid", "Accept-Language", "en")
	b = decode(rec)
	require.Equal(t, "the form has errors", b.Error.Message)
	require.Equal(t, "the budget exceeds the challenge's ceiling", b.Error.Fields["data.budget"])

	rec = do(s, http.MethodGet, "/api/v1/test/throttled")
	require.Equal(t, http.StatusTooManyRequests, rec.Code)
	require.Equal(t, "90", rec.Header().Get("Retry-After"))

	rec = do(s, http.MethodGet, "/api/v1/test/conflict")
	require.Equal(t, http.StatusConflict, rec.Code)
	require.Equal(t, "conflict", decode(rec).Error.Code)

	rec = do(s, http.MethodGet, "/api/v1/test/boom")
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	require.NotContains(t, rec.Body.String(), "secret_internal_table", "internals never leak to the caller")
	require.Contains(t, logged.String(), "secret_internal_table", "but they are logged")

	rec = do(s, http.MethodPost, "/healthz")
	require.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	require.Equal(t, "bad_request", decode(rec).Error.Code)

	rec = do(s, http.MethodGet, "/no/such/page", "Accept", "text/html")
	require.Equal(t, http.StatusNotFound, rec.Code)
	require.Contains(t, rec.Body.String(), "<h1>出错了</h1>")
}

func TestEnglishNegotiation(t *testing.T) {
	for header, want := range map[string]bool{
		"":                    false,
		"zh-CN,zh;q=0.9":      false,
		"en-US,en;q=0.9":      true,
		"fr-FR":               false,
		"zh;q=0.5,en;q=0.9":   true,
		"not a language tag!": false,
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Accept-Language", header)
		require.Equal(t, want, English(r), header)
	}
}
