package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
)

// TestWorkingDaysParameters drives the handler directly, signed in, on a
// calendar with one override and no database (the answer needs none).
func TestWorkingDaysParameters(t *testing.T) {
	cal := calendar.New()
	cal.SetOverrides([]calendar.Override{{Day: time.Date(2026, 9, 30, 0, 0, 0, 0, calendar.China), Working: false}})
	s := New(Deps{DB: unreachableDB(t), Log: slog.New(slog.DiscardHandler), Calendar: calendar.NewService(nil, nil, cal)})
	ask := func(query string) (map[string]any, error) {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/calendar/working-days?"+query, nil)
		rec := httptest.NewRecorder()
		c := s.echo.NewContext(req, rec)
		c.Set(userKey, &identity.User{ID: "u", Roles: []identity.Role{identity.Applicant}})
		if err := s.workingDays(c); err != nil {
			return nil, err
		}
		var out map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
		return out, nil
	}

	out, err := ask("from=2026-09-28&days=5")
	require.NoError(t, err)
	require.Equal(t, map[string]any{"from": "2026-09-28T00:00:00+08:00", "days": float64(5),
		"ends_at": "2026-10-11T00:00:00+08:00"}, out, "the override on 09-30 counts")

	// An RFC 3339 time in another zone is placed on China's date: 20:00
	// UTC on Friday 10-09 is already Saturday 10-10, a make-up workday.
	out, err = ask("from=2026-10-09T20:00:00Z&days=1")
	require.NoError(t, err)
	require.Equal(t, "2026-10-11T00:00:00+08:00", out["ends_at"])

	out, err = ask("days=1")
	require.NoError(t, err)
	from, err := time.Parse(time.RFC3339, out["from"].(string))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), from, time.Minute, "from defaults to now")

	for query, field := range map[string]string{
		"from=2026-09-28":              "days",
		"from=2026-09-28&days=0":       "days",
		"from=2026-09-28&days=367":     "days",
		"from=2026-09-28&days=five":    "days",
		"from=28.09.2026&days=5":       "from",
		"from=2026-09-28&days=5&x=1":   "x",
		"from=2026-09-28T10:00&days=5": "from",
	} {
		_, err := ask(query)
		require.Equal(t, errs.BadRequest, errs.CodeOf(err), query)
		require.Contains(t, errs.As(err).Fields, field, query)
	}
}
