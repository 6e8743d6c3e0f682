package main

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// callers are every role (plus nobody signed in) in the authorisation matrix.
// applicant works for alpha, whose recommending unit is unit; rival works
// for beta.
var callers = []string{"", "applicant", "rival", "unit", "staff", "leader", "expert", "auditor", "admin"}

// fixture is what the matrix acts on: A is alpha's application, submitted
// and waiting for its unit; B is beta's unsubmitted draft. Each has a file.
type fixture struct {
	a, b         string
	fileA, fileB string
	target       string // an account administrators may change
	// p is alpha's project waiting in its unit stage, where unit holds
	// task; notice is unit's notification of that task.
	p, task, notice string
}

// authzCase is one endpoint on one record: how to call it and what each
// caller must get.
type authzCase struct {
	route  string // "METHOD /path" as openapi.json writes it
	record string
	call   func(s *site, fx fixture, caller string) (method, path string, body any, headers []string)
	want   map[string]int
}

// seeing lists the callers who can see a record; want builds the matrix
// row: seers get seen, the rest 404, nobody signed in 401.
func want(seen, unseen int, seers ...string) map[string]int {
	m := map[string]int{"": 401}
	for _, c := range callers[1:] {
		m[c] = unseen
	}
	for _, c := range seers {
		m[c] = seen
	}
	return m
}

func override(m map[string]int, kv ...any) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1].(int)
	}
	return out
}

var (
	seesA = []string{"applicant", "unit", "staff", "leader", "auditor", "admin"}
	seesB = []string{"rival", "auditor"}
	all   = callers[1:]
)

func plain(method, path string) func(*site, fixture, string) (string, string, any, []string) {
	return func(_ *site, fx fixture, _ string) (string, string, any, []string) {
		p := strings.NewReplacer("{A}", fx.a, "{B}", fx.b, "{fileA}", fx.fileA, "{fileB}", fx.fileB, "{target}", fx.target,
			"{P}", fx.p, "{task}", fx.task, "{notice}", fx.notice).Replace(path)
		return method, p, nil, nil
	}
}

func withBody(method, path string, body any, headers ...string) func(*site, fixture, string) (string, string, any, []string) {
	return func(s *site, fx fixture, c string) (string, string, any, []string) {
		m, p, _, _ := plain(method, path)(s, fx, c)
		return m, p, body, headers
	}
}

func upload(path string) func(*site, fixture, string) (string, string, any, []string) {
	return func(s *site, fx fixture, c string) (string, string, any, []string) {
		m, p, _, _ := plain("POST", path)(s, fx, c)
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile("file", "note.txt")
		fw.Write([]byte("说明材料"))
		mw.Close()
		return m, p, buf.Bytes(), []string{"Content-Type", mw.FormDataContentType()}
	}
}

var authzCases = []authzCase{
	{"GET /openapi.json", "-", plain("GET", "/api/v1/openapi.json"), override(want(200, 200, all...), "", 200)},
	{"POST /session", "-", func(s *site, _ fixture, c string) (string, string, any, []string) {
		user, pw := c, testPassword
		if c == "" {
			user, pw = "nobody", "wrong-password-1"
		}
		return "POST", "/api/v1/session", map[string]string{"username": user, "password": pw}, []string{"Authorization", ""}
	}, override(want(200, 200, all...), "", 401)},
	{"DELETE /session", "-", plain("DELETE", "/api/v1/session"), want(204, 204, all...)},
	{"GET /me", "-", plain("GET", "/api/v1/me"), want(200, 200, all...)},
	{"GET /workflows", "-", plain("GET", "/api/v1/workflows"), want(200, 200, all...)},
	{"GET /workflows/{key}", "-", plain("GET", "/api/v1/workflows/grant"), want(200, 200, all...)},
	{"GET /workflows/{key}/diagram.svg", "-", plain("GET", "/api/v1/workflows/grant/diagram.svg"), want(200, 200, all...)},
	{"POST /applications", "-", withBody("POST", "/api/v1/applications", map[string]any{"workflow": "grant"}),
		want(201, 403, "applicant", "rival")},
	{"GET /applications", "-", plain("GET", "/api/v1/applications"), want(200, 200, all...)},
	{"GET /applications/{id}", "A", plain("GET", "/api/v1/applications/{A}"), want(200, 404, seesA...)},
	{"GET /applications/{id}", "B", plain("GET", "/api/v1/applications/{B}"), want(200, 404, seesB...)},
	// Patching a submitted application: nobody may edit under review.
	{"PATCH /applications/{id}", "A", withBody("PATCH", "/api/v1/applications/{A}", map[string]any{"data": map[string]any{}}, "If-Match", `"2"`),
		want(403, 404, seesA...)},
	// Patching the draft on a stale version: its owner gets past every
	// check but the version.
	{"PATCH /applications/{id}", "B", withBody("PATCH", "/api/v1/applications/{B}", map[string]any{"data": map[string]any{"budget": 1}}, "If-Match", `"99"`),
		override(want(403, 404, seesB...), "rival", 409)},
	// An event with a payload it does not take: whoever may fire it gets
	// past the role checks to the 422; nothing moves.
	{"POST /applications/{id}/events", "A", withBody("POST", "/api/v1/applications/{A}/events", map[string]any{"event": "recommend", "data": map[string]any{"x": 1}}),
		override(want(403, 404, seesA...), "unit", 422)},
	{"POST /applications/{id}/events", "B", withBody("POST", "/api/v1/applications/{B}/events", map[string]any{"event": "submit", "data": map[string]any{"x": 1}}),
		override(want(403, 404, seesB...), "rival", 422)},
	{"GET /applications/{id}/history", "A", plain("GET", "/api/v1/applications/{A}/history"), want(200, 404, seesA...)},
	{"GET /applications/{id}/history", "B", plain("GET", "/api/v1/applications/{B}/history"), want(200, 404, seesB...)},
	// Redaction: administrators only, and only a finished application past
	// its retention period (A is under review: 409); others who see it 403.
	{"POST /applications/{id}/redact", "A", plain("POST", "/api/v1/applications/{A}/redact"),
		override(want(403, 404, seesA...), "admin", 409)},
	{"POST /applications/{id}/redact", "B", plain("POST", "/api/v1/applications/{B}/redact"), want(403, 404, seesB...)},
	{"POST /applications/{id}/attachments", "A", upload("/api/v1/applications/{A}/attachments"), want(403, 404, seesA...)},
	{"POST /applications/{id}/attachments", "B", upload("/api/v1/applications/{B}/attachments"), override(want(403, 404, seesB...), "rival", 201)},
	// Administrators see that an application exists, never its files.
	{"GET /attachments/{id}", "A", plain("GET", "/api/v1/attachments/{fileA}"), override(want(200, 404, seesA...), "admin", 404)},
	{"GET /attachments/{id}", "B", plain("GET", "/api/v1/attachments/{fileB}"), want(200, 404, seesB...)},
	{"POST /registrations", "-", func(_ *site, _ fixture, c string) (string, string, any, []string) {
		return "POST", "/api/v1/registrations", map[string]string{"kind": "individual", "username": "reg-" + callerName(c),
			"password": testPassword, "name": "注册人", "phone": "023-55512345", "employer": "alpha"}, nil
	}, override(want(201, 201, all...), "", 201)},
	{"POST /password-reset", "-", withBody("POST", "/api/v1/password-reset", map[string]string{"token": "bogus", "password": testPassword}),
		override(want(422, 422, all...), "", 422)},
	{"GET /orgs", "-", plain("GET", "/api/v1/orgs"), want(200, 200, all...)},
	{"POST /orgs", "-", func(_ *site, _ fixture, c string) (string, string, any, []string) {
		return "POST", "/api/v1/orgs", map[string]string{"name": "新单位-" + callerName(c), "kind": "enterprise"}, nil
	}, want(201, 403, "admin")},
	{"GET /users", "-", plain("GET", "/api/v1/users"), want(200, 403, "admin", "auditor")},
	{"POST /users", "-", func(_ *site, _ fixture, c string) (string, string, any, []string) {
		return "POST", "/api/v1/users", map[string]any{"username": "new-" + callerName(c), "name": "新用户", "roles": []string{"applicant"},
			"org": "alpha", "password": testPassword}, nil
	}, want(201, 403, "admin")},
	{"PATCH /users/{id}", "-", withBody("PATCH", "/api/v1/users/{target}", map[string]any{"name": "改名"}), want(200, 403, "admin")},
	{"POST /users/{id}/password-reset", "-", plain("POST", "/api/v1/users/{target}/password-reset"), want(201, 403, "admin")},
	{"GET /audit", "-", plain("GET", "/api/v1/audit"), want(200, 403, "admin", "auditor")},
	{"GET /audit/verify", "-", plain("GET", "/api/v1/audit/verify"), want(200, 403, "admin", "auditor")},
	{"GET /audit/export", "-", plain("GET", "/api/v1/audit/export"), want(200, 403, "admin", "auditor")},
	// Findings carry experts' scores: auditors only, not administrators.
	{"GET /oversight", "-", plain("GET", "/api/v1/oversight"), want(200, 403, "auditor")},
	{"GET /applications/{id}/attachments", "A", plain("GET", "/api/v1/applications/{A}/attachments"), want(200, 404, seesA...)},
	{"GET /applications/{id}/attachments", "B", plain("GET", "/api/v1/applications/{B}/attachments"), want(200, 404, seesB...)},
	{"GET /applications/{id}/review", "P", plain("GET", "/api/v1/applications/{P}/review"), want(200, 404, seesA...)},
	{"GET /applications/{id}/review", "B", plain("GET", "/api/v1/applications/{B}/review"), want(200, 404, seesB...)},
	// The decision record names the panel: the bureau and oversight read
	// it, administrators the process only; whoever else sees the
	// application gets 404.
	{"GET /applications/{id}/decision-record", "P", plain("GET", "/api/v1/applications/{P}/decision-record"),
		want(200, 404, "staff", "leader", "auditor", "admin")},
	{"GET /applications/{id}/decision-record", "B", plain("GET", "/api/v1/applications/{B}/decision-record"), want(200, 404, "auditor")},
	{"GET /applications/{id}/questions", "A", plain("GET", "/api/v1/applications/{A}/questions"), want(200, 404, seesA...)},
	{"GET /applications/{id}/questions", "B", plain("GET", "/api/v1/applications/{B}/questions"), want(200, 404, seesB...)},
	// Nothing is open to answer under review; the draft's owner gets past
	// the checks to the unknown question.
	{"POST /applications/{id}/answers", "A", withBody("POST", "/api/v1/applications/{A}/answers",
		map[string]any{"answers": map[string]string{"00000000-0000-0000-0000-000000000001": "答"}}), want(403, 404, seesA...)},
	{"POST /applications/{id}/answers", "B", withBody("POST", "/api/v1/applications/{B}/answers",
		map[string]any{"answers": map[string]string{"00000000-0000-0000-0000-000000000001": "答"}}), override(want(403, 404, seesB...), "rival", 422)},
	// Only staff add reviewers; unit is on the panel already, so staff get
	// as far as the eligibility check.
	{"POST /applications/{id}/reviewers", "P", withBody("POST", "/api/v1/applications/{P}/reviewers",
		map[string]string{"user": "unit", "state": "unit_review"}), override(want(403, 404, seesA...), "staff", 422)},
	{"POST /applications/{id}/reviewers", "B", withBody("POST", "/api/v1/applications/{B}/reviewers",
		map[string]string{"user": "unit", "state": "unit_review"}), want(403, 404, seesB...)},
	{"GET /tasks", "-", plain("GET", "/api/v1/tasks"), want(200, 200, all...)},
	{"GET /tasks/summary", "-", plain("GET", "/api/v1/tasks/summary"), want(200, 200, all...)},
	// A task exists only for its reviewer; each call stops at a check
	// after that one.
	{"POST /tasks/{id}/decision", "P", withBody("POST", "/api/v1/tasks/{task}/decision", map[string]string{"decision": "bogus"}), want(422, 404, "unit")},
	{"POST /tasks/{id}/recuse", "P", withBody("POST", "/api/v1/tasks/{task}/recuse", map[string]string{"reason": ""}), want(422, 404, "unit")},
	{"POST /tasks/{id}/delegate", "P", withBody("POST", "/api/v1/tasks/{task}/delegate", map[string]string{"to_user": "staff"}), want(422, 404, "unit")},
	{"POST /tasks/{id}/recall", "P", withBody("POST", "/api/v1/tasks/{task}/recall", map[string]string{"reason": "改主意"}), want(409, 404, "unit")},
	{"GET /notifications", "-", plain("GET", "/api/v1/notifications"), want(200, 200, all...)},
	{"POST /notifications/{id}/read", "P", plain("POST", "/api/v1/notifications/{notice}/read"), want(204, 404, "unit")},
	{"GET /stats/plan", "-", plain("GET", "/api/v1/stats/plan"), want(200, 403, "staff", "leader", "auditor", "admin")},
	{"GET /notices", "-", plain("GET", "/api/v1/notices"), override(want(200, 200, all...), "", 200)},
	// Nothing of the matrix is in 公示: an objection finds no notice.
	{"POST /notices/{application_id}/objections", "A", withBody("POST", "/api/v1/notices/{A}/objections",
		map[string]string{"name": "李四", "phone": "13800138000", "reason": "理由充分的书面异议内容"}), override(want(404, 404, all...), "", 404)},
	{"GET /applications/{id}/objections", "A", plain("GET", "/api/v1/applications/{A}/objections"),
		override(want(403, 404, seesA...), "staff", 200, "leader", 200, "auditor", 200)},
	{"GET /calendar/overrides", "-", plain("GET", "/api/v1/calendar/overrides"), want(200, 200, all...)},
	// admin, the last caller, leaves the override that the DELETE row
	// removes: a 204 there, not a 404, shows the delete got past the checks.
	{"PUT /calendar/overrides/{day}", "-", withBody("PUT", "/api/v1/calendar/overrides/2026-10-09", map[string]any{"working": false, "note": "县庆"}),
		want(200, 403, "admin")},
	{"DELETE /calendar/overrides/{day}", "-", plain("DELETE", "/api/v1/calendar/overrides/2026-10-09"), want(204, 403, "admin")},
	{"GET /calendar/working-days", "-", plain("GET", "/api/v1/calendar/working-days?from=2026-09-28&days=5"), want(200, 200, all...)},
}

func callerName(c string) string {
	if c == "" {
		return "anonymous"
	}
	return c
}

// TestAuthorisationMatrix calls every endpoint as every role on its own and
// on someone else's record. The rows come from one table, and every route
// the server describes in openapi.json must have a row: a new endpoint
// without one fails here.
func TestAuthorisationMatrix(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	fx := fixture{target: "colleague"}
	a := s.newApp("applicant")
	fx.a = a.ID
	fx.fileA = s.attach("applicant", a.ID)
	require.Equal(t, 200, s.call("applicant", "POST", "/api/v1/applications/"+a.ID+"/events", map[string]any{"event": "submit"}, nil))
	b := s.newApp("rival")
	fx.b = b.ID
	fx.fileB = s.attach("rival", b.ID)
	var target struct{ ID string }
	var users []struct{ ID, Username string }
	require.Equal(t, 200, s.call("admin", "GET", "/api/v1/users", nil, &users))
	for _, u := range users {
		if u.Username == "colleague" {
			target.ID = u.ID
		}
	}
	fx.target = target.ID
	fx.p = s.submitProject("applicant").ID
	fx.task = s.tasks("unit")[0].ID
	fx.notice = s.awaitNotification("unit", "task")

	covered := map[string]bool{}
	for _, tc := range authzCases {
		covered[tc.route] = true
		for _, caller := range callers {
			method, path, body, headers := tc.call(s, fx, caller)
			user := caller
			if tc.route == "DELETE /session" && caller != "" {
				user = "" // a token of its own, so signing out spends nothing the other rows need
				headers = []string{"Authorization", "Bearer " + s.freshToken(caller)}
			}
			got := s.call(user, method, path, body, nil, headers...)
			require.Equal(t, tc.want[caller], got, "%s on %s as %q", tc.route, tc.record, callerName(caller))
		}
	}

	var doc struct {
		Paths map[string]map[string]any
	}
	require.Equal(t, 200, s.call("", "GET", "/api/v1/openapi.json", nil, &doc))
	var missing []string
	for path, ops := range doc.Paths {
		for method := range ops {
			route := strings.ToUpper(method) + " " + path
			if !covered[route] {
				missing = append(missing, route)
			}
		}
	}
	sort.Strings(missing)
	require.Empty(t, missing, "endpoints without a row in the authorisation matrix")
}

// attach uploads a small file as user and returns its id.
func (s *site) attach(user, appID string) string {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "plan.txt")
	fw.Write([]byte("技术方案"))
	mw.Close()
	var out struct{ ID string }
	code := s.call(user, "POST", "/api/v1/applications/"+appID+"/attachments", buf.Bytes(), &out, "Content-Type", mw.FormDataContentType())
	require.Equal(s.t, http.StatusCreated, code)
	return out.ID
}

// freshToken signs user in again for a token no other request shares.
func (s *site) freshToken(user string) string {
	var res struct{ Token string }
	require.Equal(s.t, 200, s.call("", "POST", "/api/v1/session", map[string]string{"username": user, "password": testPassword}, &res))
	return res.Token
}
