package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

type oversightJSON struct {
	Findings []struct {
		Check         string
		Severity      string
		ApplicationID *string `json:"application_id"`
		ActorID       *string `json:"actor_id"`
		At            string
		DetailZh      string `json:"detail_zh"`
		DetailEn      string `json:"detail_en"`
		Link          string
	}
	Checks []struct {
		Key     string
		TitleZh string `json:"title_zh"`
		TitleEn string `json:"title_en"`
		Count   int
	}
}

// TestOversightOverHTTP: a grant sent back twice is found by
// returned_often when the auditor asks for more than one return, and not
// by the default of more than two; staff and administrators are refused
// in API.md's error shape; a check that does not exist and an N out of
// range are the caller's mistakes.
func TestOversightOverHTTP(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	app := s.newApp("applicant")
	events := "/api/v1/applications/" + app.ID + "/events"
	require.Equal(t, 200, s.call("applicant", "POST", events, map[string]any{"event": "submit"}, nil))
	require.Equal(t, 200, s.call("unit", "POST", events, map[string]any{"event": "recommend"}, nil))
	for range 2 {
		require.Equal(t, 200, s.call("staff", "POST", events, map[string]any{"event": "send_back", "comment": "请补充预算说明"}, nil))
		require.Equal(t, 200, s.call("applicant", "POST", events, map[string]any{"event": "resubmit"}, nil))
	}

	var all oversightJSON
	require.Equal(t, http.StatusOK, s.call("auditor", "GET", "/api/v1/oversight", nil, &all))
	require.Len(t, all.Checks, 7)
	for _, c := range all.Checks {
		require.NotEmpty(t, c.TitleZh)
		require.NotEmpty(t, c.TitleEn)
		if c.Key == "returned_often" {
			require.Zero(t, c.Count, "two returns are not more than two")
		}
	}

	var one oversightJSON
	require.Equal(t, http.StatusOK, s.call("auditor", "GET", "/api/v1/oversight?check=returned_often&returned_more_than=1", nil, &one))
	require.Len(t, one.Checks, 1)
	require.Equal(t, "returned_often", one.Checks[0].Key)
	require.Equal(t, 1, one.Checks[0].Count)
	require.Len(t, one.Findings, 1)
	f := one.Findings[0]
	require.Equal(t, "returned_often", f.Check)
	require.Equal(t, app.ID, *f.ApplicationID)
	require.Nil(t, f.ActorID)
	require.Equal(t, "/apps/"+app.ID, f.Link)
	require.Contains(t, f.DetailZh, "2 次")
	require.Contains(t, f.DetailEn, "2 times")
	require.NotEmpty(t, f.At)

	var none oversightJSON
	require.Equal(t, http.StatusOK, s.call("auditor", "GET", "/api/v1/oversight?check=returned_often&returned_more_than=1&to=2000-01-01T00:00:00Z", nil, &none))
	require.Empty(t, none.Findings, "the window")

	for _, who := range []string{"staff", "admin"} {
		var e apiError
		require.Equal(t, http.StatusForbidden, s.call(who, "GET", "/api/v1/oversight", nil, &e), who)
		require.Equal(t, "forbidden", e.Error.Code)
		require.NotEmpty(t, e.Error.Message)
	}
	var e apiError
	require.Equal(t, http.StatusUnprocessableEntity, s.call("auditor", "GET", "/api/v1/oversight?check=bogus", nil, &e))
	require.Contains(t, e.Error.Fields, "check")
	require.Equal(t, http.StatusBadRequest, s.call("auditor", "GET", "/api/v1/oversight?returned_more_than=0", nil, &e))
	require.Contains(t, e.Error.Fields, "returned_more_than")
	require.Equal(t, http.StatusBadRequest, s.call("auditor", "GET", "/api/v1/oversight?limit=5", nil, &e), "an unknown parameter")
}
