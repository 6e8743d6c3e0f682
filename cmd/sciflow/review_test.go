package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// addUser creates an account through the administrators' API.
func (s *site) addUser(username, org string, roles []string, specialties []string, conflicts ...string) string {
	s.t.Helper()
	var u struct{ ID string }
	body := map[string]any{"username": username, "name": username, "roles": roles, "org": org, "password": testPassword}
	if len(specialties) > 0 {
		body["specialties"] = specialties
	}
	if len(conflicts) > 0 {
		body["conflicts"] = conflicts
	}
	require.Equal(s.t, http.StatusCreated, s.call("admin", "POST", "/api/v1/users", body, &u), "create %s", username)
	return u.ID
}

// expertPool adds seven materials experts at an institute, one who works
// for the applicant's enterprise and one who declared a conflict with it.
func (s *site) expertPool() {
	s.t.Helper()
	require.Equal(s.t, http.StatusCreated, s.call("admin", "POST", "/api/v1/orgs", map[string]string{"name": "研究院", "kind": "institute"}, nil))
	for i := 1; i <= 7; i++ {
		s.addUser(fmt.Sprintf("e%d", i), "研究院", []string{"expert"}, []string{"新材料"})
	}
	s.addUser("insider", "alpha", []string{"expert"}, []string{"新材料"})
	s.addUser("conflicted", "研究院", []string{"expert"}, []string{"新材料"}, "alpha")
}

type stageJSON struct {
	State   string
	Round   int
	Outcome *string
	Summary map[string]any
	Tasks   []taskJSON
	Draws   []struct {
		Seed    string
		Pool    []string
		Picked  []string
		Replays bool
	}
}

func (s *site) review(user, appID string) []stageJSON {
	s.t.Helper()
	var out []stageJSON
	require.Equal(s.t, http.StatusOK, s.call(user, "GET", "/api/v1/applications/"+appID+"/review", nil, &out))
	return out
}

func (s *site) decide(user, taskID string, body map[string]any) (int, apiError) {
	s.t.Helper()
	var e apiError
	return s.call(user, "POST", "/api/v1/tasks/"+taskID+"/decision", body, &e), e
}

func (s *site) taskOn(user, appID string) taskJSON {
	s.t.Helper()
	for _, t := range s.tasks(user) {
		if t.ApplicationID == appID {
			return t
		}
	}
	s.t.Fatalf("%s has no open task on %s", user, appID)
	return taskJSON{}
}

func (s *site) appState(user, appID string) string {
	s.t.Helper()
	var app appJSON
	require.Equal(s.t, http.StatusOK, s.call(user, "GET", "/api/v1/applications/"+appID, nil, &app))
	return app.State
}

// TestStagedReviewOverTheAPI is the staged review end to end, as clients
// drive it: two unit reviewers who must both agree (会签), staff of whom
// any one decides (或签), five experts drawn by specialty who score, one of
// whom recuses and is replaced by a fresh draw, and the leader's decision.
func TestStagedReviewOverTheAPI(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.addUser("unit2", "unit", []string{"unit_reviewer"}, nil)
	s.addUser("staff2", "bureau", []string{"staff"}, nil)
	s.expertPool()
	app := s.submitProject("applicant")
	require.Equal(t, "unit_review", app.State)

	// 会签: both unit reviewers.
	first := s.taskOn("unit", app.ID)
	require.Equal(t, "approval", first.Kind)
	require.NotNil(t, first.DueAt, "the stage's deadline in working days")
	code, e := s.decide("unit", first.ID, map[string]any{"decision": "unit_reject"})
	require.Equal(t, 422, code, "rejecting needs a comment")
	require.Contains(t, e.Error.Fields, "comment")
	code, _ = s.decide("unit", first.ID, map[string]any{"decision": "recommend", "comment": "同意推荐"})
	require.Equal(t, 200, code)
	require.Equal(t, "unit_review", s.appState("applicant", app.ID), "waits for the second unit reviewer")
	code, _ = s.decide("unit2", s.taskOn("unit2", app.ID).ID, map[string]any{"decision": "recommend"})
	require.Equal(t, 200, code)
	require.Equal(t, "formal_review", s.appState("applicant", app.ID))

	// 或签: the first of the staff decides, the other's vote is late.
	staff2Task := s.taskOn("staff2", app.ID)
	code, _ = s.decide("staff", s.taskOn("staff", app.ID).ID, map[string]any{"decision": "formal_pass", "comment": "材料齐全"})
	require.Equal(t, 200, code)
	code, e = s.decide("staff2", staff2Task.ID, map[string]any{"decision": "formal_pass"})
	require.Equal(t, 409, code, "a late vote: %s", e.Error.Message)
	require.Equal(t, "expert_review", s.appState("applicant", app.ID))

	// Five experts drawn by specialty, never the insider or the conflicted.
	stages := s.review("auditor", app.ID)
	experts := stages[len(stages)-1]
	require.Equal(t, "expert_review", experts.State)
	require.Len(t, experts.Tasks, 5)
	require.Len(t, experts.Draws, 1)
	require.True(t, experts.Draws[0].Replays)
	require.Len(t, experts.Draws[0].Pool, 7, "the insider and the conflicted are not in the pool")
	var panel []string
	for _, tk := range experts.Tasks {
		require.Regexp(t, `^e\d$`, tk.Assignee.Username)
		panel = append(panel, tk.Assignee.Username)
	}
	require.Len(t, s.review("applicant", app.ID)[2].Tasks, 0, "the applicant does not learn who the experts are")

	// One recuses; a replacement is drawn at once from the rest.
	recused := panel[2]
	var e2 apiError
	require.Equal(t, 200, s.call(recused, "POST", "/api/v1/tasks/"+s.taskOn(recused, app.ID).ID+"/recuse",
		map[string]string{"reason": "近三年与申请单位有合作"}, &e2))
	stages = s.review("auditor", app.ID)
	experts = stages[len(stages)-1]
	require.Len(t, experts.Draws, 2)
	require.True(t, experts.Draws[1].Replays)
	require.Len(t, experts.Draws[1].Picked, 1)
	replacement := ""
	for _, tk := range experts.Tasks {
		if tk.Status == "open" && !slices.Contains(panel, tk.Assignee.Username) {
			replacement = tk.Assignee.Username
		}
	}
	require.NotEmpty(t, replacement)
	require.Equal(t, 404, s.call(recused, "GET", "/api/v1/applications/"+app.ID, nil, nil), "the recused expert sees it no more")

	scores := map[string]any{"industry": 80, "foundation": 75, "technical": 78, "financial": 70}
	for _, u := range append(slices.DeleteFunc(slices.Clone(panel), func(n string) bool { return n == recused }), replacement) {
		code, e = s.decide(u, s.taskOn(u, app.ID).ID, map[string]any{"decision": "score", "scores": scores, "comment": "技术路线可行"})
		require.Equal(t, 200, code, "%s: %v", u, e)
	}
	require.Equal(t, "decision", s.appState("applicant", app.ID))

	code, _ = s.decide("leader", s.taskOn("leader", app.ID).ID, map[string]any{"decision": "approve", "comment": "同意立项",
		"data": map[string]any{"amount": 1500000}})
	require.Equal(t, 200, code)
	require.Equal(t, "public_notice", s.appState("applicant", app.ID))

	var hist []struct {
		Event string
		Actor *struct{ Username string }
		Data  map[string]any
	}
	require.Equal(t, 200, s.call("auditor", "GET", "/api/v1/applications/"+app.ID+"/history", nil, &hist))
	var events []string
	for _, h := range hist {
		events = append(events, h.Event)
	}
	require.Equal(t, []string{"create", "submit", "recommend", "formal_pass", "experts_pass", "approve"}, events)
	require.Nil(t, hist[2].Actor, "each stage's outcome is fired by the system")
	require.Len(t, hist[2].Data["decided_by"], 2, "on the two unit reviewers' decisions")
	require.Len(t, hist[4].Data["decided_by"], 5, "and on the five experts' scores")
	var mine []struct{ Data map[string]any }
	require.Equal(t, 200, s.call("applicant", "GET", "/api/v1/applications/"+app.ID+"/history", nil, &mine))
	require.NotContains(t, mine[4].Data, "decided_by", "which the applicant does not see")
	require.Contains(t, mine[4].Data, "review", "though they see the aggregate")
	s.requireIntactChain()
	s.awaitNotification("applicant", "decision")
}

// TestTwoServersShareTheWork runs a second server process on the same
// database: a due timer fires exactly once, and an overdue task is
// reminded at most once a day and never after it is done, however many
// processes (and command-line runs) look at the same moment.
func TestTwoServersShareTheWork(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.addUser("unit2", "unit", []string{"unit_reviewer"}, nil)
	secret, err := os.ReadFile(filepath.Join(s.dataDir, "secret"))
	require.NoError(t, err)
	env := []string{"DATABASE_URL=" + s.dsn, "SCIFLOW_DATA_DIR=" + t.TempDir(), "SCIFLOW_SECRET=" + strings.TrimSpace(string(secret)),
		"SCIFLOW_WORKFLOWS_DIR=" + s.wfDir, "SCIFLOW_LOG_LEVEL=warn", "SCIFLOW_REMIND_EVERY=1s"}
	other := startProc(t, env, "serve")
	other.waitURL(t)

	// A grant in formal review has a timer: a reminder event after five
	// working days. Time passes: it is due now.
	grant := s.newApp("applicant")
	require.Equal(t, 200, s.call("applicant", "POST", "/api/v1/applications/"+grant.ID+"/events", map[string]any{"event": "submit"}, nil))
	require.Equal(t, 200, s.call("unit", "POST", "/api/v1/applications/"+grant.ID+"/events", map[string]any{"event": "recommend"}, nil))
	// A project waiting for its two unit reviewers, overdue as of now.
	project := s.submitProject("applicant")
	_, err = s.db.Exec(`UPDATE timers SET due_at = now() - interval '1 second' WHERE done_at IS NULL`)
	require.NoError(t, err)
	_, err = s.db.Exec(`UPDATE river_job SET scheduled_at = now() WHERE kind = 'timer' AND state = 'scheduled'`)
	require.NoError(t, err)
	_, err = s.db.Exec(`UPDATE review_tasks SET due_at = now() - interval '1 hour' WHERE application_id = $1`, project.ID)
	require.NoError(t, err)
	// The command line joins in at the same moment.
	for range 3 {
		out, stderr, code := runCLI(t, env, "", "timers", "run")
		require.Equal(t, 0, code, stderr)
		require.Contains(t, out, "fired")
	}
	require.Eventually(t, func() bool { return s.countHistory(grant.ID, "remind") == 1 }, 20*time.Second, 100*time.Millisecond)
	var pending int
	require.Eventually(t, func() bool {
		require.NoError(t, s.db.Get(&pending, `SELECT count(*) FROM river_job WHERE kind = 'timer' AND state NOT IN ('completed', 'discarded', 'cancelled')
			AND (args ->> 'timer_id')::bigint IN (SELECT id FROM timers WHERE application_id = $1)`, grant.ID))
		return pending == 0
	}, 20*time.Second, 100*time.Millisecond, "both servers have had their chance at the timer's job")
	require.Equal(t, 1, s.countHistory(grant.ID, "remind"), "the timer fired exactly once")

	reminders := func(user string) int {
		var list []struct{ Kind, ApplicationID string }
		require.Equal(t, 200, s.call(user, "GET", "/api/v1/notifications", nil, &list))
		n := 0
		for _, x := range list {
			if x.Kind == "reminder" {
				n++
			}
		}
		return n
	}
	require.Eventually(t, func() bool { return reminders("unit") == 1 && reminders("unit2") == 1 }, 20*time.Second, 100*time.Millisecond)
	time.Sleep(3 * time.Second) // several rounds of both servers
	require.Equal(t, 1, reminders("unit"), "at most once a day")
	code, _ := s.decide("unit", s.taskOn("unit", project.ID).ID, map[string]any{"decision": "recommend"})
	require.Equal(t, 200, code)
	tomorrow := time.Now().Add(24 * time.Hour).Format(time.RFC3339)
	out, stderr, code := runCLI(t, env, "", "timers", "run", "--as-of", tomorrow)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "made 1 reminder(s)", "tomorrow: only the task still open")
	require.Equal(t, 1, reminders("unit"), "never after the task is done")
	require.Equal(t, 2, reminders("unit2"))
	s.requireIntactChain()
}

func (s *site) countHistory(appID, event string) int {
	var hist []struct{ Event string }
	require.Equal(s.t, http.StatusOK, s.call("auditor", "GET", "/api/v1/applications/"+appID+"/history", nil, &hist))
	n := 0
	for _, h := range hist {
		if h.Event == event {
			n++
		}
	}
	return n
}
