package main

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"slices"
	"time"

	"github.com/stretchr/testify/require"
)

// The helpers the programmes' end-to-end tests drive the API with, as the
// real roles do.

// create starts an application of workflow as user and returns it.
func (s *site) create(user, workflow string, data map[string]any, parent ...string) appJSON {
	s.t.Helper()
	body := map[string]any{"workflow": workflow, "data": data}
	if len(parent) > 0 {
		body["parent_id"] = parent[0]
	}
	var app appJSON
	var e apiError
	code := s.call(user, "POST", "/api/v1/applications", body, &app)
	if code != http.StatusCreated {
		s.call(user, "POST", "/api/v1/applications", body, &e)
	}
	require.Equal(s.t, http.StatusCreated, code, "create %s as %s: %+v", workflow, user, e)
	return app
}

// tryCreate starts an application and returns the status and any error.
func (s *site) tryCreate(user, workflow string, data map[string]any) (int, apiError) {
	s.t.Helper()
	var e apiError
	return s.call(user, "POST", "/api/v1/applications", map[string]any{"workflow": workflow, "data": data}, &e), e
}

// fire fires event as user with body's comment and data; it returns the
// status, the application after, and the error answer.
func (s *site) fire(user, appID, event string, body map[string]any) (int, appJSON, apiError) {
	s.t.Helper()
	req := map[string]any{"event": event}
	for k, v := range body {
		req[k] = v
	}
	var res fireJSON
	code := s.call(user, "POST", "/api/v1/applications/"+appID+"/events", req, &res)
	var e apiError
	if code != http.StatusOK {
		s.call(user, "POST", "/api/v1/applications/"+appID+"/events", req, &e)
	}
	return code, res.Application, e
}

// mustFire fires event and requires it to succeed, returning the state.
func (s *site) mustFire(user, appID, event string, body map[string]any) string {
	s.t.Helper()
	code, app, e := s.fire(user, appID, event, body)
	require.Equal(s.t, http.StatusOK, code, "%s fires %s: %+v", user, event, e.Error)
	return app.State
}

// uploadTo puts a file into an application's slot as user.
func (s *site) uploadTo(user, appID, slot, name string) string {
	s.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write([]byte("%PDF-1.4 " + name))
	mw.WriteField("label", slot)
	mw.Close()
	var out struct{ ID string }
	code := s.call(user, "POST", "/api/v1/applications/"+appID+"/attachments", buf.Bytes(), &out, "Content-Type", mw.FormDataContentType())
	require.Equal(s.t, http.StatusCreated, code, "upload %s", slot)
	return out.ID
}

// decideAs decides user's open task on appID and requires success.
func (s *site) decideAs(user, appID string, body map[string]any) {
	s.t.Helper()
	code, e := s.decide(user, s.taskOn(user, appID).ID, body)
	require.Equal(s.t, http.StatusOK, code, "%s decides %v: %+v", user, body["decision"], e.Error)
}

// scorePanel has every open task of appID's current stage scored.
func (s *site) scorePanel(appID string, scores map[string]any) {
	s.t.Helper()
	stages := s.review("auditor", appID)
	for _, tk := range stages[len(stages)-1].Tasks {
		if tk.Status == "open" {
			s.decideAs(tk.Assignee.Username, appID, map[string]any{"decision": "score", "scores": scores})
		}
	}
}

// decidePanel has every open task of appID's current stage decide decision.
func (s *site) decidePanel(appID, decision string) {
	s.t.Helper()
	stages := s.review("auditor", appID)
	for _, tk := range stages[len(stages)-1].Tasks {
		if tk.Status == "open" && s.appState("auditor", appID) == stages[len(stages)-1].State {
			s.decideAs(tk.Assignee.Username, appID, map[string]any{"decision": decision})
		}
	}
}

// object files an objection to appID's notice from the public.
func (s *site) object(appID, reason string) (int, apiError) {
	s.t.Helper()
	var e apiError
	code := s.call("", "POST", "/api/v1/notices/"+appID+"/objections", map[string]string{"name": "张三", "phone": "13800138000",
		"org": "云阳县某合作社", "reason": reason}, &e)
	return code, e
}

// timersAsOf runs `sciflow timers run --as-of` against the site's database.
func (s *site) timersAsOf(at time.Time) string {
	s.t.Helper()
	env := []string{"DATABASE_URL=" + s.dsn, "SCIFLOW_DATA_DIR=" + s.dataDir, "SCIFLOW_WORKFLOWS_DIR=" + s.wfDir,
		"SCIFLOW_LOG_LEVEL=warn"}
	out, stderr, code := runCLI(s.t, env, "", "timers", "run", "--as-of", at.Format(time.RFC3339))
	require.Equal(s.t, 0, code, stderr)
	return out
}

// events lists appID's history events as the auditor sees them.
func (s *site) events(appID string) []string {
	s.t.Helper()
	var hist []struct{ Event string }
	require.Equal(s.t, http.StatusOK, s.call("auditor", "GET", "/api/v1/applications/"+appID+"/history", nil, &hist))
	out := make([]string, 0, len(hist))
	for _, h := range hist {
		out = append(out, h.Event)
	}
	return out
}

// notices lists the open public notices, without signing in.
func (s *site) notices() []map[string]any {
	s.t.Helper()
	var out []map[string]any
	require.Equal(s.t, http.StatusOK, s.call("", "GET", "/api/v1/notices", nil, &out))
	return out
}

func noticeOf(list []map[string]any, appID string) map[string]any {
	i := slices.IndexFunc(list, func(n map[string]any) bool { return n["application_id"] == appID })
	if i < 0 {
		return nil
	}
	return list[i]
}

func dateIn(days int) string { return time.Now().AddDate(0, 0, days).Format(time.DateOnly) }

// residentID makes a valid 18-digit resident ID for a birth date.
func residentID(born string, seq int) string {
	body := fmt.Sprintf("500235%s%03d", born, seq)
	weights := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, c := range body {
		sum += int(c-'0') * weights[i]
	}
	return body + string("10X98765432"[sum%11])
}

// indicator reads one plan indicator as the leader sees it.
func (s *site) indicator(key string) (actual float64, by map[string]float64) {
	s.t.Helper()
	var plan struct {
		Indicators []struct {
			Key    string
			Actual float64
			By     map[string]float64
		}
	}
	require.Equal(s.t, http.StatusOK, s.call("leader", "GET", "/api/v1/stats/plan", nil, &plan))
	for _, ind := range plan.Indicators {
		if ind.Key == key {
			return ind.Actual, ind.By
		}
	}
	s.t.Fatalf("no indicator %s", key)
	return 0, nil
}

// tryPatch changes an application's data as user at its current version.
func (s *site) tryPatch(user, appID string, data map[string]any) (int, apiError) {
	s.t.Helper()
	var app appJSON
	require.Equal(s.t, http.StatusOK, s.call(user, "GET", "/api/v1/applications/"+appID, nil, &app))
	var e apiError
	return s.call(user, "PATCH", "/api/v1/applications/"+appID, map[string]any{"data": data}, &e,
		"If-Match", fmt.Sprintf(`"%d"`, app.Version)), e
}
