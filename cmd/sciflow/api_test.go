package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/auth"
	"github.com/sciflow/sciflow/internal/dbtest"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
)

const testPassword = "Yunyang-2026!"

// site is a running sciflow (run() in this process) with a few accounts.
type site struct {
	t       testing.TB
	url     string
	dsn     string
	dataDir string
	wfDir   string
	db      *postgres.DB // superuser, for setup and tampering
	orgs    map[string]string
	tokens  map[string]string
	stop    func()
}

// copyDir copies the test workflow definitions into a directory the test
// may change.
func copyDir(t testing.TB, from string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(from)
	require.NoError(t, err)
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(from, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), raw, 0o644))
	}
	return dir
}

func newSite(t testing.TB) *site {
	t.Helper()
	s := &site{t: t, dsn: dbtest.NewDSN(t), dataDir: t.TempDir(), wfDir: copyDir(t, "../../internal/workflow/testdata/valid"),
		orgs: map[string]string{}, tokens: map[string]string{}}
	// Registration runs on the shipped verification workflow, and the
	// programmes' tests on the shipped programmes: the test workflows sit
	// beside them.
	shipped, err := filepath.Glob("../../workflows/*.[yj]*")
	require.NoError(t, err)
	for _, f := range shipped {
		if !strings.HasSuffix(f, ".yaml") && !strings.HasSuffix(f, ".json") {
			continue
		}
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(s.wfDir, filepath.Base(f)), raw, 0o644))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := postgres.Open(ctx, s.dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	s.db = db
	for _, o := range []struct {
		name   string
		kind   identity.OrgKind
		parent string
	}{{"bureau", identity.Bureau, ""}, {"unit", identity.Bureau, ""}, {"alpha", identity.Enterprise, "unit"}, {"beta", identity.Enterprise, ""}} {
		org, err := db.CreateOrg(ctx, identity.Org{Name: o.name, Kind: o.kind, ParentID: s.orgs[o.parent]})
		require.NoError(t, err)
		s.orgs[o.name] = org.ID
	}
	hash, err := auth.HashPassword(testPassword)
	require.NoError(t, err)
	for _, u := range []struct {
		name, org string
		roles     []identity.Role
	}{
		{"applicant", "alpha", []identity.Role{identity.Applicant}},
		{"rival", "beta", []identity.Role{identity.Applicant}},
		{"unit", "unit", []identity.Role{identity.UnitReviewer}},
		{"staff", "bureau", []identity.Role{identity.Staff}},
		{"leader", "bureau", []identity.Role{identity.Leader}},
		{"auditor", "bureau", []identity.Role{identity.Auditor}},
		{"admin", "bureau", []identity.Role{identity.Admin}},
		{"expert", "bureau", []identity.Role{identity.Expert}},
		{"colleague", "alpha", []identity.Role{identity.Applicant}},
	} {
		_, err := db.CreateUser(ctx, identity.User{Username: u.name, Name: u.name, OrgID: s.orgs[u.org], Roles: u.roles}, hash)
		require.NoError(t, err)
	}
	s.start()
	return s
}

func (s *site) env() map[string]string {
	return map[string]string{"DATABASE_URL": s.dsn, "SCIFLOW_ADDR": "127.0.0.1:0", "SCIFLOW_DATA_DIR": s.dataDir,
		"SCIFLOW_LOG_LEVEL": "error", "SCIFLOW_WORKFLOWS_DIR": s.wfDir, "SCIFLOW_MAX_UPLOAD_MB": "1",
		// Tests seal when they mean to, and read the plan indicators
		// right after the moves that change them.
		"SCIFLOW_SEAL_EVERY": "24h", "SCIFLOW_PLAN_MAX_AGE": "0"}
}

func (s *site) start() {
	s.t.Helper()
	env := s.env()
	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, strings.NewReader(""), outW, io.Discard)
		outW.Close()
	}()
	urls := make(chan string, 1)
	go func() {
		buf := make([]byte, 4096)
		var acc string
		for {
			n, err := outR.Read(buf)
			acc += string(buf[:n])
			if i := strings.Index(acc, "sciflow is serving on "); i >= 0 {
				if j := strings.Index(acc[i:], "\n"); j >= 0 {
					urls <- strings.TrimPrefix(acc[i:i+j], "sciflow is serving on ")
					io.Copy(io.Discard, outR)
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		require.NoError(s.t, <-done)
	}
	s.t.Cleanup(s.stop)
	select {
	case s.url = <-urls:
	case err := <-done:
		stopped = true // it has stopped: there is nothing left for the cleanup to wait for
		s.t.Fatalf("serve ended early: %v", err)
	case <-time.After(60 * time.Second):
		s.t.Fatal("serve did not start")
	}
	s.tokens = map[string]string{}
}

func (s *site) restart() {
	s.t.Helper()
	s.stop()
	s.start()
}

// send makes one request with a raw body and returns the answer whole. A
// body that is neither nil nor a *bytes.Reader goes without a length
// (chunked).
func (s *site) send(user, method, path string, body io.Reader, headers ...string) (int, http.Header, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, body)
	require.NoError(s.t, err)
	if tb, ok := body.(*typedBody); ok {
		req.Header.Set("Content-Type", tb.contentType)
	} else if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+s.token(user))
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return resp.StatusCode, resp.Header, raw
}

// typedBody is a raw body with its own Content-Type (a multipart form).
type typedBody struct {
	io.Reader
	contentType string
}

// call sends a request as user ("" for none) and decodes a JSON answer into out.
func (s *site) call(user, method, path string, body any, out any, headers ...string) int {
	s.t.Helper()
	var rdr io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rdr = strings.NewReader(b)
	case []byte:
		rdr = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(s.t, err)
		rdr = bytes.NewReader(raw)
	}
	status, _, raw := s.send(user, method, path, rdr, headers...)
	if out != nil && len(raw) > 0 {
		require.NoError(s.t, json.Unmarshal(raw, out), "%s %s -> %d %s", method, path, status, raw)
	}
	return status
}

func (s *site) token(user string) string {
	if tok, ok := s.tokens[user]; ok {
		return tok
	}
	var res struct{ Token string }
	req, _ := json.Marshal(map[string]string{"username": user, "password": testPassword})
	resp, err := http.Post(s.url+"/api/v1/session", "application/json", bytes.NewReader(req))
	require.NoError(s.t, err)
	defer resp.Body.Close()
	require.Equal(s.t, http.StatusOK, resp.StatusCode, "login %s", user)
	require.NoError(s.t, json.NewDecoder(resp.Body).Decode(&res))
	s.tokens[user] = res.Token
	return res.Token
}

type appJSON struct {
	ID              string
	State           string
	Version         int
	WorkflowVersion int `json:"workflow_version"`
	Data            map[string]any
	Actions         []struct{ Event, Title string }
}

type fireJSON struct {
	Application appJSON
	Transition  struct {
		Seq   int
		Event string
		Hash  string
	}
}

type apiError struct {
	Error struct {
		Code    string
		Message string
		Fields  map[string]string
	}
}

func (s *site) newApp(user string) appJSON {
	s.t.Helper()
	var app appJSON
	code := s.call(user, "POST", "/api/v1/applications", map[string]any{"workflow": "grant",
		"data": map[string]any{"title": "茶叶深加工关键技术", "budget": 800000}}, &app)
	require.Equal(s.t, http.StatusCreated, code)
	return app
}

// submitProject creates and submits a project (the staged review) as user.
func (s *site) submitProject(user string) appJSON {
	s.t.Helper()
	var app appJSON
	require.Equal(s.t, http.StatusCreated, s.call(user, "POST", "/api/v1/applications", map[string]any{"workflow": "project",
		"data": map[string]any{"title": "高性能复合材料研发", "field": "新材料", "budget": 2000000}}, &app))
	var res fireJSON
	require.Equal(s.t, http.StatusOK, s.call(user, "POST", "/api/v1/applications/"+app.ID+"/events", map[string]any{"event": "submit"}, &res))
	return res.Application
}

type taskJSON struct {
	ID            string
	ApplicationID string `json:"application_id"`
	State         string
	Status        string
	Kind          string
	Decisions     []struct{ Key, Title string }
	Assignee      struct{ ID, Username string }
	Total         string
	DueAt         *string `json:"due_at"`
	Overdue       bool
}

// tasks lists user's open tasks.
func (s *site) tasks(user string) []taskJSON {
	s.t.Helper()
	var out []taskJSON
	require.Equal(s.t, http.StatusOK, s.call(user, "GET", "/api/v1/tasks", nil, &out))
	return out
}

// awaitNotification waits for the server's queue to make a notification of
// kind for user, and returns its id.
func (s *site) awaitNotification(user, kind string) string {
	s.t.Helper()
	id := ""
	require.Eventually(s.t, func() bool {
		var list []struct{ ID, Kind string }
		require.Equal(s.t, http.StatusOK, s.call(user, "GET", "/api/v1/notifications", nil, &list))
		for _, n := range list {
			if n.Kind == kind {
				id = n.ID
				return true
			}
		}
		return false
	}, 20*time.Second, 100*time.Millisecond, "%s gets a %s notification", user, kind)
	return id
}

func (s *site) historyLen(user, id string) int {
	var hist []map[string]any
	require.Equal(s.t, http.StatusOK, s.call(user, "GET", "/api/v1/applications/"+id+"/history", nil, &hist))
	return len(hist)
}

// requireIntactChain asks the server, as the auditor, to verify the chain.
func (s *site) requireIntactChain() {
	s.t.Helper()
	var r struct {
		OK       bool
		Problems []map[string]any
	}
	require.Equal(s.t, http.StatusOK, s.call("auditor", "GET", "/api/v1/audit/verify", nil, &r))
	require.True(s.t, r.OK, "%v", r.Problems)
}

func TestConcurrentDoubleClicksMakeOneTransition(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	app := s.newApp("applicant")
	s.token("applicant")
	const n = 50
	codes := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes[i] = s.call("applicant", "POST", "/api/v1/applications/"+app.ID+"/events", map[string]any{"event": "submit"}, nil)
		}()
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	require.Equal(t, map[int]int{200: 1, 409: n - 1}, count)
	require.Equal(t, 2, s.historyLen("applicant", app.ID), "create and one submit")
	s.requireIntactChain()
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	app := s.newApp("applicant")
	path := "/api/v1/applications/" + app.ID + "/events"
	var first, second fireJSON
	require.Equal(t, 200, s.call("applicant", "POST", path, map[string]any{"event": "submit"}, &first, "Idempotency-Key", "k-1"))
	require.Equal(t, 200, s.call("applicant", "POST", path, map[string]any{"event": "submit"}, &second, "Idempotency-Key", "k-1"))
	require.Equal(t, first, second, "the same answer again")
	require.Equal(t, 2, s.historyLen("applicant", app.ID), "and no second transition")

	var e apiError
	require.Equal(t, 422, s.call("applicant", "POST", path, map[string]any{"event": "withdraw"}, &e, "Idempotency-Key", "k-1"))
	require.Contains(t, e.Error.Fields, "Idempotency-Key", "a key reused for another request is refused")

	// Concurrently: ten requests with one key, one transition, one answer.
	other := s.newApp("applicant")
	opath := "/api/v1/applications/" + other.ID + "/events"
	results := make([]fireJSON, 10)
	codes := make([]int, 10)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = s.call("applicant", "POST", opath, map[string]any{"event": "submit"}, &results[i], "Idempotency-Key", "k-2")
		}()
	}
	wg.Wait()
	for i := range results {
		require.Equal(t, 200, codes[i])
		require.Equal(t, results[0], results[i])
	}
	require.Equal(t, 2, s.historyLen("applicant", other.ID))
}

func TestDefinitionVersionsAndMigration(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	old := s.newApp("applicant")
	require.Equal(t, 1, old.WorkflowVersion)

	// The bureau renames the draft state and restarts.
	path := filepath.Join(s.wfDir, "grant.yaml")
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	changed := strings.ReplaceAll(string(raw), "draft", "drafting")
	require.NoError(t, os.WriteFile(path, []byte(changed), 0o644))
	s.restart()

	var still appJSON
	require.Equal(t, 200, s.call("applicant", "GET", "/api/v1/applications/"+old.ID, nil, &still))
	require.Equal(t, 1, still.WorkflowVersion, "running applications keep their version")
	require.Equal(t, "draft", still.State)
	fresh := s.newApp("applicant")
	require.Equal(t, 2, fresh.WorkflowVersion)
	require.Equal(t, "drafting", fresh.State)

	env := []string{"DATABASE_URL=" + s.dsn, "SCIFLOW_DATA_DIR=" + s.dataDir, "SCIFLOW_WORKFLOWS_DIR=" + s.wfDir}
	out, errOut, code := runCLI(t, env, "", "workflows", "migrate", "grant", "--to", "2", "--dry-run")
	require.Equal(t, 1, code, "draft does not exist in v2 without a map")
	require.Contains(t, errOut, `state "draft"`)
	out, errOut, code = runCLI(t, env, "", "workflows", "migrate", "grant", "--to", "2", "--map", "draft=drafting", "--dry-run")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "would move "+old.ID+": v1 draft -> v2 drafting")
	require.Equal(t, 200, s.call("applicant", "GET", "/api/v1/applications/"+old.ID, nil, &still))
	require.Equal(t, 1, still.WorkflowVersion, "a dry run changes nothing")

	out, errOut, code = runCLI(t, env, "", "workflows", "migrate", "grant", "--to", "2", "--map", "draft=drafting")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "moved 1 application(s)")
	require.Equal(t, 200, s.call("applicant", "GET", "/api/v1/applications/"+old.ID, nil, &still))
	require.Equal(t, 2, still.WorkflowVersion)
	require.Equal(t, "drafting", still.State)
	var hist []struct {
		Event, From, To string
		Data            map[string]any
	}
	require.Equal(t, 200, s.call("applicant", "GET", "/api/v1/applications/"+old.ID+"/history", nil, &hist))
	last := hist[len(hist)-1]
	require.Equal(t, "workflow.migrate", last.Event)
	require.Equal(t, "draft", last.From)
	require.Equal(t, "drafting", last.To)
	require.EqualValues(t, 1, last.Data["from_version"])

	var fired fireJSON
	require.Equal(t, 200, s.call("applicant", "POST", "/api/v1/applications/"+old.ID+"/events", map[string]any{"event": "submit"}, &fired),
		"the moved application runs on its new version")
	s.requireIntactChain()
}

func TestAuditVerifyCommandFindsTampering(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	app := s.newApp("applicant")
	path := "/api/v1/applications/" + app.ID + "/events"
	require.Equal(t, 200, s.call("applicant", "POST", path, map[string]any{"event": "submit", "comment": "请审核"}, nil))
	require.Equal(t, 200, s.call("unit", "POST", path, map[string]any{"event": "recommend", "comment": "同意推荐"}, nil))
	require.Equal(t, 200, s.call("staff", "POST", path, map[string]any{"event": "pass", "comment": "材料齐全"}, nil))
	s.stop()
	env := []string{"DATABASE_URL=" + s.dsn, "SCIFLOW_DATA_DIR=" + s.dataDir, "SCIFLOW_WORKFLOWS_DIR=" + s.wfDir}
	out, errOut, code := runCLI(t, env, "", "audit", "verify")
	require.Equal(t, 0, code, out+errOut)
	require.Contains(t, out, "ok: the audit chain is intact")

	at := func(comment string) string {
		var chain string
		var pos int64
		require.NoError(t, s.db.QueryRow(`SELECT chain, chain_seq FROM audit_log WHERE content LIKE '%' || $1 || '%'`, comment).Scan(&chain, &pos))
		return fmt.Sprintf("chain %s entry %d", chain, pos)
	}
	tamper := func(q string, args ...any) {
		_, err := s.db.Exec(`ALTER TABLE audit_log DISABLE TRIGGER USER`)
		require.NoError(t, err)
		_, err = s.db.Exec(q, args...)
		require.NoError(t, err)
		_, err = s.db.Exec(`ALTER TABLE audit_log ENABLE TRIGGER USER`)
		require.NoError(t, err)
	}

	altered := at("同意推荐")
	tamper(`UPDATE audit_log SET content = replace(content, '同意推荐', '不同意') WHERE content LIKE '%同意推荐%'`)
	out, _, code = runCLI(t, env, "", "audit", "verify")
	require.Equal(t, 1, code)
	require.Contains(t, out, "altered: "+altered)

	middle := at("请审核")
	tamper(`DELETE FROM audit_log WHERE content LIKE '%请审核%'`)
	out, _, code = runCLI(t, env, "", "audit", "verify")
	require.Equal(t, 1, code)
	require.Contains(t, out, "deleted: "+middle)

	last := at("材料齐全")
	tamper(`DELETE FROM audit_log WHERE content LIKE '%材料齐全%'`)
	out, _, code = runCLI(t, env, "", "audit", "verify")
	require.Equal(t, 1, code)
	require.Contains(t, out, "truncated: "+last)
	require.Contains(t, out, "state_mismatch: application "+app.ID, "the application is ahead of its remaining history")
}

// Two ways to lose history without touching a single remaining entry: an
// application's whole history with its chain's head, and every entry
// written since the last seal. Both are reported.
func TestAuditVerifyFindsLostHistories(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	gone, recent := s.newApp("applicant"), s.newApp("applicant")
	fire := func(app, who, event string) {
		require.Equal(t, 200, s.call(who, "POST", "/api/v1/applications/"+app+"/events", map[string]any{"event": event}, nil))
	}
	fire(gone.ID, "applicant", "submit")
	fire(recent.ID, "applicant", "submit")
	s.stop()
	env := []string{"DATABASE_URL=" + s.dsn, "SCIFLOW_DATA_DIR=" + s.dataDir, "SCIFLOW_WORKFLOWS_DIR=" + s.wfDir}
	// A seal reaches as far as the oldest writing transaction still running
	// in the cluster (other tests' too): seal until everything is.
	for i := 0; ; i++ {
		out, errOut, code := runCLI(t, env, "", "audit", "seal")
		require.Equal(t, 0, code, out+errOut)
		if !strings.Contains(out, "still running") {
			require.Regexp(t, `(sealed \d+ chains|nothing to seal); last seal|sealed \d+ chains in seal \d+,`, out)
			break
		}
		require.Less(t, i, 500, "never sealed")
		time.Sleep(10 * time.Millisecond)
	}
	var sealedCount int
	require.NoError(t, s.db.Get(&sealedCount, `SELECT count FROM audit_chains WHERE chain = $1`, recent.ID))

	// After the seal: the unit reviewer recommends the second application.
	s.start()
	fire(recent.ID, "unit", "recommend")
	s.stop()
	out, errOut, code := runCLI(t, env, "", "audit", "verify")
	require.Equal(t, 0, code, out+errOut)
	require.Regexp(t, `[1-9]\d* chains written since the last seal`, out, "the recommendation is not sealed yet")

	var goneLast int
	require.NoError(t, s.db.Get(&goneLast, `SELECT count FROM audit_chains WHERE chain = $1`, gone.ID))
	_, err := s.db.Exec(fmt.Sprintf(`ALTER TABLE audit_log DISABLE TRIGGER USER; ALTER TABLE audit_chains DISABLE TRIGGER USER;
		DELETE FROM audit_log WHERE chain = '%[1]s' OR (chain = '%[2]s' AND chain_seq > %[3]d);
		DELETE FROM audit_chains WHERE chain = '%[1]s';
		ALTER TABLE audit_log ENABLE TRIGGER USER; ALTER TABLE audit_chains ENABLE TRIGGER USER`, gone.ID, recent.ID, sealedCount))
	require.NoError(t, err)
	out, _, code = runCLI(t, env, "", "audit", "verify")
	require.Equal(t, 1, code)
	require.Regexp(t, fmt.Sprintf(`deleted: chain %s entry %d \(sealed in seal \d+, gone from the log\)`, gone.ID, goneLast), out)
	require.Contains(t, out, "state_mismatch: application "+gone.ID)
	require.Contains(t, out, fmt.Sprintf("truncated: chain %s entry %d", recent.ID, sealedCount+1))
	require.Contains(t, out, "state_mismatch: application "+recent.ID)
}

func TestRequestsAreCheckedBeforeAnythingHappens(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	app := s.newApp("applicant")
	base := "/api/v1/applications/" + app.ID
	var e apiError

	require.Equal(t, 401, s.call("", "GET", base, nil, &e))
	require.Equal(t, "unauthenticated", e.Error.Code)
	require.Equal(t, 400, s.call("applicant", "POST", base+"/events", `{"event": "submit"`, &e))
	require.Equal(t, "bad_request", e.Error.Code)
	require.Equal(t, 400, s.call("applicant", "POST", base+"/events", `{"event": "submit", "colour": "red"}`, &e))
	require.Contains(t, e.Error.Fields, "colour")
	require.Equal(t, 400, s.call("applicant", "POST", base+"/events", `{"event": 5}`, &e))
	require.Contains(t, e.Error.Fields, "event")
	require.Equal(t, 400, s.call("applicant", "POST", base+"/events", `{"event": "submit"} trailing`, &e))
	require.Equal(t, 400, s.call("applicant", "GET", "/api/v1/applications?colour=red", nil, &e))
	require.Equal(t, 413, s.call("applicant", "POST", base+"/events", `{"event": "`+strings.Repeat("x", 2<<20)+`"}`, &e))
	require.Equal(t, "too_large", e.Error.Code)

	require.Equal(t, 400, s.call("applicant", "PATCH", base, map[string]any{"data": map[string]any{"budget": 1}}, &e))
	require.Contains(t, e.Error.Fields, "If-Match")
	require.Equal(t, 409, s.call("applicant", "PATCH", base, map[string]any{"data": map[string]any{"budget": 1}}, &e, "If-Match", `"9"`))
	require.Equal(t, 422, s.call("applicant", "PATCH", base, map[string]any{"data": map[string]any{"budget": "lots"}}, &e, "If-Match", `"1"`))
	require.Equal(t, "invalid", e.Error.Code)
	require.Contains(t, e.Error.Fields, "data.budget")
	var patched appJSON
	require.Equal(t, 200, s.call("applicant", "PATCH", base, map[string]any{"data": map[string]any{"budget": 1000}}, &patched, "If-Match", `"1"`))
	require.Equal(t, 2, patched.Version)

	require.Equal(t, 404, s.call("rival", "GET", base, nil, &e))
	require.Equal(t, 404, s.call("rival", "GET", base+"/history", nil, &e))
	require.Equal(t, 404, s.call("applicant", "GET", "/api/v1/applications/not-a-uuid", nil, &e))
	require.Equal(t, 409, s.call("applicant", "POST", base+"/events", map[string]any{"event": "pass"}, &e))
	require.Equal(t, 409, s.call("applicant", "POST", base+"/events", map[string]any{"event": "submit", "expected_version": 1}, &e))
	require.Equal(t, 1, s.historyLen("applicant", app.ID), "refused requests leave no trace; a patch is not a transition")
}

func TestAttachments(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	app := s.newApp("applicant")
	upload := func(user, name string, content []byte) (int, map[string]any) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, err := mw.CreateFormFile("file", name)
		require.NoError(t, err)
		fw.Write(content)
		mw.WriteField("label", "可行性报告")
		mw.Close()
		var out map[string]any
		code := s.call(user, "POST", "/api/v1/applications/"+app.ID+"/attachments", body.Bytes(), &out, "Content-Type", mw.FormDataContentType())
		return code, out
	}
	pdf := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("报告"), 100)...)
	code, a := upload("applicant", `..\..\etc/报告.pdf`, pdf)
	require.Equal(t, 201, code, "%v", a)
	require.Equal(t, "报告.pdf", a["name"], "the path is dropped")
	require.Equal(t, "application/pdf", a["content_type"], "sniffed from the bytes")
	require.EqualValues(t, len(pdf), a["size"])

	code, e := upload("applicant", "big.bin", bytes.Repeat([]byte{1}, 1<<20+1))
	require.Equal(t, 413, code, "%v", e)

	code, _ = upload("rival", "x.txt", []byte("hello"))
	require.Equal(t, 404, code)

	req, _ := http.NewRequest("GET", s.url+"/api/v1/attachments/"+a["id"].(string), nil)
	req.Header.Set("Authorization", "Bearer "+s.token("applicant"))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, pdf, got)
	require.Contains(t, resp.Header.Get("Content-Disposition"), "attachment;")

	var ae apiError
	require.Equal(t, 404, s.call("rival", "GET", "/api/v1/attachments/"+a["id"].(string), nil, &ae), "others' files do not exist for them")
	require.Equal(t, 200, s.call("applicant", "POST", "/api/v1/applications/"+app.ID+"/events", map[string]any{"event": "submit"}, nil))
	code, _ = upload("applicant", "late.pdf", pdf)
	require.Equal(t, 403, code, "no attachments once submitted")
}

// BenchmarkFireOverHTTP is one submit through the whole server: token
// check, JSON, the engine's transaction, the answer. Run with
// go run ./cmd/testpg -- go test -run XXX -bench FireOverHTTP ./cmd/sciflow
func BenchmarkFireOverHTTP(b *testing.B) {
	s := newSite(b)
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = s.newApp("applicant").ID
	}
	body := map[string]any{"event": "submit"}
	b.ResetTimer()
	for i := range b.N {
		if code := s.call("applicant", "POST", "/api/v1/applications/"+ids[i]+"/events", body, nil); code != 200 {
			b.Fatalf("status %d", code)
		}
	}
}

func TestWorkflowEndpoints(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	var list []struct {
		Key     string
		Version int
		States  []struct{ Key, Title, Kind string }
	}
	require.Equal(t, 200, s.call("applicant", "GET", "/api/v1/workflows", nil, &list))
	var keys []string
	for _, w := range list {
		keys = append(keys, w.Key)
	}
	require.True(t, slices.IsSorted(keys), "listed by key: %v", keys)
	require.Subset(t, keys, []string{"grant", "project", "org_verification", "jiebang", "jiebang_challenge"})
	require.Equal(t, "grant", list[slices.Index(keys, "grant")].Key)
	require.Equal(t, "草稿", list[slices.Index(keys, "grant")].States[0].Title)

	// Enough to render any decision form: who fires each event, whether it
	// needs a comment or asks questions, its payload's schema, and how each
	// review state is decided.
	var project struct {
		States []struct {
			Key    string
			Review *struct {
				Reviewers, Role, Policy string
				Count                   int
				Decisions               []struct{ Key, Title string }
				Criteria                []struct {
					Key    string
					Weight int
				}
				PassMark string `json:"pass_mark"`
			}
		}
		Events []struct {
			Key, Comment string
			Roles        []string
			System       bool
			Questions    bool
			Data         map[string]any
		}
	}
	require.Equal(t, 200, s.call("staff", "GET", "/api/v1/workflows/project", nil, &project))
	states := map[string]int{}
	for i, st := range project.States {
		states[st.Key] = i
	}
	experts := project.States[states["expert_review"]].Review
	require.Equal(t, "draw", experts.Reviewers)
	require.Equal(t, 5, experts.Count)
	require.Equal(t, "score", experts.Policy)
	require.Len(t, experts.Criteria, 4)
	require.Equal(t, "70.00", experts.PassMark)
	unit := project.States[states["unit_review"]].Review
	require.Equal(t, "unit_reviewer", unit.Role)
	require.Equal(t, []struct{ Key, Title string }{{"recommend", "同意推荐"}, {"unit_reject", "不予推荐"}, {"send_back", "退回修改"}}, unit.Decisions)
	require.Nil(t, project.States[states["draft"]].Review)
	events := map[string]int{}
	for i, ev := range project.Events {
		events[ev.Key] = i
	}
	require.Equal(t, []string{"applicant"}, project.Events[events["submit"]].Roles)
	require.True(t, project.Events[events["approve"]].System)
	require.Equal(t, "object", project.Events[events["approve"]].Data["type"])
	require.True(t, project.Events[events["send_back"]].Questions)
	require.Equal(t, "required", project.Events[events["reject"]].Comment)

	var one struct {
		Key  string
		Form map[string]any
	}
	require.Equal(t, 200, s.call("applicant", "GET", "/api/v1/workflows/grant", nil, &one, "Accept-Language", "en"))
	require.Equal(t, "object", one.Form["type"])

	req, _ := http.NewRequest("GET", s.url+"/api/v1/workflows/grant/diagram.svg", nil)
	req.Header.Set("Authorization", "Bearer "+s.token("applicant"))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	svg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "image/svg+xml; charset=utf-8", resp.Header.Get("Content-Type"))
	require.True(t, strings.HasPrefix(string(svg), "<svg "))
	for _, title := range []string{"草稿", "形式审查", "已立项", "批准立项"} {
		require.Contains(t, string(svg), title)
	}
	var e apiError
	require.Equal(t, 404, s.call("applicant", "GET", "/api/v1/workflows/nope", nil, &e))
	require.Equal(t, 401, s.call("", "GET", "/api/v1/workflows", nil, &e))
	var oa map[string]any
	require.Equal(t, 200, s.call("", "GET", "/api/v1/openapi.json", nil, &oa))
	require.Equal(t, "3.1.0", oa["openapi"])
}

// TestAdministratorsSeeThatStepsHappenedNotWhatWasWritten: in the audit log,
// as in an application's history, administrators see each step of an
// application (who, when, which event) but not its comments or data;
// auditors see everything, in the list and in the export alike.
func TestAdministratorsSeeThatStepsHappenedNotWhatWasWritten(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	app := s.submitProject("applicant")
	s.decideAs("unit", app.ID, map[string]any{"decision": "send_back", "comment": "请补充中试合同", "questions": []string{"中试场地？"}})

	type entry struct {
		Seq     int64
		Event   string
		Comment string
		Data    map[string]any
	}
	read := func(user string) []entry {
		var page struct{ Items []entry }
		require.Equal(t, 200, s.call(user, "GET", "/api/v1/audit?application_id="+app.ID, nil, &page))
		return page.Items
	}
	auditor, admin := read("auditor"), read("admin")
	require.Len(t, admin, len(auditor), "the same steps")
	written := 0
	for i := range auditor {
		require.Equal(t, auditor[i].Seq, admin[i].Seq)
		require.Equal(t, auditor[i].Event, admin[i].Event)
		require.Empty(t, admin[i].Comment)
		require.Empty(t, admin[i].Data)
		if auditor[i].Comment != "" || len(auditor[i].Data) > 0 {
			written++
		}
	}
	require.NotZero(t, written, "the auditor reads what was written")

	export := func(user string) string {
		req, err := http.NewRequest("GET", s.url+"/api/v1/audit/export?application_id="+app.ID, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+s.token(user))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode)
		return string(body)
	}
	require.Contains(t, export("auditor"), "请补充中试合同")
	require.NotContains(t, export("admin"), "请补充中试合同")
	require.NotContains(t, export("admin"), "中试场地")
}
