package main

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type overrideJSON struct {
	Day       string
	Working   bool
	Note      string
	CreatedAt string `json:"created_at"`
}

// endsAt asks the server when n working days from from end.
func (s *site) endsAt(from string, n int) string {
	s.t.Helper()
	var r struct {
		From   string
		Days   int
		EndsAt string `json:"ends_at"`
	}
	path := "/api/v1/calendar/working-days?" + url.Values{"from": {from}, "days": {strconv.Itoa(n)}}.Encode()
	require.Equal(s.t, 200, s.call("applicant", "GET", path, nil, &r))
	require.Equal(s.t, n, r.Days)
	return r.EndsAt
}

func TestCalendarOverridesEndToEnd(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	const notice = "2026-09-28" // a Monday before the National Day week
	require.Equal(t, "2026-10-10T00:00:00+08:00", s.endsAt(notice, 5), "the national calendar: ends after 10-09")

	// An administrator gives 09-30 off; others may not.
	var o overrideJSON
	require.Equal(t, 200, s.call("admin", "PUT", "/api/v1/calendar/overrides/2026-09-30",
		map[string]any{"working": false, "note": "县庆放假"}, &o))
	require.Equal(t, "2026-09-30", o.Day)
	require.False(t, o.Working)
	require.Equal(t, "县庆放假", o.Note)
	_, err := time.Parse(time.RFC3339, o.CreatedAt)
	require.NoError(t, err)
	var e apiError
	require.Equal(t, 403, s.call("staff", "PUT", "/api/v1/calendar/overrides/2026-10-09", map[string]any{"working": false}, &e))
	require.Equal(t, "forbidden", e.Error.Code)
	require.Equal(t, 403, s.call("leader", "DELETE", "/api/v1/calendar/overrides/2026-09-30", nil, nil))

	// The server counts it at once: the notice ends a day later.
	require.Equal(t, "2026-10-11T00:00:00+08:00", s.endsAt(notice, 5))
	var list []overrideJSON
	require.Equal(t, 200, s.call("applicant", "GET", "/api/v1/calendar/overrides", nil, &list))
	require.Len(t, list, 1, "the staff member's attempt stored nothing")
	require.Equal(t, "2026-09-30", list[0].Day)

	// Refusals say which field is at fault.
	for _, tc := range []struct {
		path  string
		body  map[string]any
		field string
	}{
		{"/api/v1/calendar/overrides/1999-12-31", map[string]any{"working": true}, "day"},
		{"/api/v1/calendar/overrides/2026-02-30", map[string]any{"working": true}, "day"},
		{"/api/v1/calendar/overrides/2026-10-09", map[string]any{"note": "忘了说上不上班"}, "working"},
		{"/api/v1/calendar/overrides/2026-10-09", map[string]any{"working": false, "note": strings.Repeat("假", 201)}, "note"},
	} {
		var e apiError
		require.Equal(t, 422, s.call("admin", "PUT", tc.path, tc.body, &e), tc.path)
		require.Contains(t, e.Error.Fields, tc.field, tc.path)
	}
	require.Equal(t, 404, s.call("admin", "DELETE", "/api/v1/calendar/overrides/2026-10-09", nil, nil), "nothing to remove")
	require.Equal(t, 400, s.call("applicant", "GET", "/api/v1/calendar/working-days?from=2026-09-28", nil, nil), "days is required")
	require.Equal(t, 400, s.call("applicant", "GET", "/api/v1/calendar/working-days?days=5&day=2026-09-28", nil, nil), "unknown parameter")

	// Deadlines the engine computes count overrides too: make the next
	// working day off, and a submission's 5-day review deadline moves.
	now := time.Now().Format(time.RFC3339)
	national := s.endsAt(now, 5)
	firstEnd, err := time.Parse(time.RFC3339, s.endsAt(now, 1))
	require.NoError(t, err)
	next := firstEnd.AddDate(0, 0, -1).Format("2006-01-02")
	require.Equal(t, 200, s.call("admin", "PUT", "/api/v1/calendar/overrides/"+next, map[string]any{"working": false}, nil))
	app := s.newApp("applicant")
	var fired struct{ Application struct{ Deadline string } }
	require.Equal(t, 200, s.call("applicant", "POST", "/api/v1/applications/"+app.ID+"/events", map[string]any{"event": "submit"}, &fired))
	deadline, err := time.Parse(time.RFC3339, fired.Application.Deadline)
	require.NoError(t, err)
	moved, err := time.Parse(time.RFC3339, s.endsAt(now, 5))
	require.NoError(t, err)
	require.True(t, deadline.Equal(moved), "deadline %s, working-days says %s", deadline, moved)
	require.NotEqual(t, national, s.endsAt(now, 5), "and that is not the national answer")
	require.Equal(t, 204, s.call("admin", "DELETE", "/api/v1/calendar/overrides/"+next, nil, nil))

	// The console: set, list, unset, with one-line errors.
	env := []string{"DATABASE_URL=" + s.dsn, "SCIFLOW_DATA_DIR=" + s.dataDir, "SCIFLOW_WORKFLOWS_DIR=" + s.wfDir}
	out, errOut, code := runCLI(t, env, "", "calendar", "set", "2026-11-28", "--working", "--note", "补 10-01 的班")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "2026-11-28  working  补 10-01 的班\n", out)
	out, errOut, code = runCLI(t, env, "", "calendar", "list")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "2026-09-30  off      县庆放假\n2026-11-28  working  补 10-01 的班\n", out)
	out, errOut, code = runCLI(t, env, "", "calendar", "unset", "2026-09-30")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "removed 2026-09-30  off      县庆放假\n", out)

	_, errOut, code = runCLI(t, env, "", "calendar", "unset", "2026-09-30")
	require.Equal(t, 1, code)
	require.Equal(t, "sciflow: calendar unset: there is no override on 2026-09-30\n", errOut)
	_, errOut, code = runCLI(t, env, "", "calendar", "set", "2026-10-09", "--working", "--off")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "exactly one of --working or --off")
	_, errOut, code = runCLI(t, env, "", "calendar", "set", "10/09/2026", "--off")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "not a date: 10/09/2026")
	_, errOut, code = runCLI(t, env, "", "calendar", "set", "2101-01-01", "--off")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "day: must be in 2000 to 2100")
	_, errOut, code = runCLI(t, env, "", "calendar", "set", "2026-10-09", "--off", "--note", strings.Repeat("假", 201))
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "note: at most 200 characters")
	_, _, code = runCLI(t, env, "", "calendar", "frobnicate")
	require.Equal(t, 2, code)

	// The server reads the table at start: after a restart it counts the
	// console's changes (a running one would within a minute).
	s.restart()
	require.Equal(t, "2026-10-10T00:00:00+08:00", s.endsAt(notice, 5), "09-30 unset at the console")
	require.Equal(t, "2026-11-29T00:00:00+08:00", s.endsAt("2026-11-28", 1), "the Saturday set working at the console")

	// Each change is one entry, marked by where it came from.
	var contents []string
	require.NoError(t, s.db.Select(&contents, `SELECT content FROM audit_log WHERE kind = 'calendar.override' ORDER BY seq`))
	var trail []string
	for _, c := range contents {
		var entry struct {
			ActorID string `json:"actor_id"`
			Data    struct{ Action, Day, Via string }
		}
		require.NoError(t, json.Unmarshal([]byte(c), &entry))
		trail = append(trail, entry.Data.Action+" "+entry.Data.Day+" "+entry.Data.Via+" "+map[bool]string{true: "actor", false: "-"}[entry.ActorID != ""])
	}
	require.Equal(t, []string{
		"set 2026-09-30 api actor",
		"set " + next + " api actor",
		"unset " + next + " api actor",
		"set 2026-11-28 console -",
		"unset 2026-09-30 console -",
	}, trail)
	s.requireIntactChain()
}
