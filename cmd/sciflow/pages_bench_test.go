package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/dbtest"
	"github.com/sciflow/sciflow/internal/postgres"
)

// BenchmarkPages times every page with the demo county loaded (`sciflow seed
// demo`), each as the role that uses it, over loopback: the time from the
// request to the last byte of the page, which bounds the server's own time
// from above. docs/BENCHMARKS.md keeps the figures.
//
//	go run ./cmd/testpg -- go test -run XXX -bench Pages -benchtime 200x ./cmd/sciflow
func BenchmarkPages(b *testing.B) {
	dsn := dbtest.NewDSN(b)
	wf, err := filepath.Abs("../../workflows")
	require.NoError(b, err)
	s := &site{t: b, dsn: dsn, dataDir: b.TempDir(), wfDir: wf, orgs: map[string]string{}, tokens: map[string]string{}}
	out, errOut, code := runCLI(b, []string{"DATABASE_URL=" + dsn, "SCIFLOW_DATA_DIR=" + s.dataDir, "SCIFLOW_WORKFLOWS_DIR=" + wf,
		"SCIFLOW_LOG_LEVEL=error"}, "", "seed", "demo")
	require.Equal(b, 0, code, errOut)
	passwords := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^  (\S+)\s+(\S+)\s+\S+`).FindAllStringSubmatch(out, -1) {
		passwords[m[1]] = m[2]
	}
	require.Contains(b, passwords, "staff", out)
	s.start()

	ctx := context.Background()
	db, err := postgres.Open(ctx, dsn)
	require.NoError(b, err)
	defer db.Close()
	// The busiest application (the longest history), an open challenge, an
	// expert with a task, and a notice running.
	var busiest, challenge, expert, expertApp, notice string
	require.NoError(b, db.GetContext(ctx, &busiest, `SELECT application_id FROM audit_log WHERE application_id IS NOT NULL
GROUP BY application_id ORDER BY count(*) DESC LIMIT 1`))
	require.NoError(b, db.GetContext(ctx, &challenge, `SELECT id FROM applications WHERE workflow = 'jiebang_challenge' AND state = 'published' LIMIT 1`))
	row := db.QueryRowxContext(ctx, `SELECT u.username, t.application_id FROM review_tasks t JOIN users u ON u.id = t.assignee_id
WHERE t.status = 'open' AND 'expert' = ANY (u.roles) LIMIT 1`)
	require.NoError(b, row.Scan(&expert, &expertApp))
	require.NoError(b, db.GetContext(ctx, &notice, `SELECT application_id FROM notices WHERE ends_at > now() LIMIT 1`))

	clients := map[string]*http.Client{"": {}}
	for _, user := range []string{"jinyi", "staff", "leader", "auditor", "admin", expert} {
		clients[user] = pageClient(b, s.url, user, passwords[user])
	}
	pages := []struct{ name, user, path string }{
		{"home", "", "/"},
		{"notices", "", "/notices"},
		{"notice", "", "/notices/" + notice},
		{"apply", "jinyi", "/apply"},
		{"new-application", "jinyi", "/apps/new?workflow=jiebang&challenge=" + challenge},
		{"my-applications", "jinyi", "/apps"},
		{"notifications", "jinyi", "/notifications"},
		{"applications-staff", "staff", "/apps"},
		{"inbox-staff", "staff", "/tasks"},
		{"busiest-application-staff", "staff", "/apps/" + busiest},
		{"inbox-expert", expert, "/tasks"},
		{"scoring-expert", expert, "/apps/" + expertApp},
		{"inbox-leader", "leader", "/tasks"},
		{"plan", "leader", "/plan"},
		{"workflow-diagram", "staff", "/admin/workflows/jiebang"},
		{"audit-log", "auditor", "/audit"},
		{"audit-verify", "auditor", "/audit/verify"},
		{"decision-record-busiest", "auditor", "/apps/" + busiest + "/record"},
		{"oversight", "auditor", "/oversight"},
		{"admin", "admin", "/admin"},
		{"users", "admin", "/admin/users"},
		{"orgs", "admin", "/admin/orgs"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			client := clients[p.user]
			for b.Loop() {
				resp, err := client.Get(s.url + p.path)
				if err != nil {
					b.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("%s as %s: %d %v\n%.300s", p.path, p.user, resp.StatusCode, err, body)
				}
			}
		})
	}
}

// pageClient signs user in through the sign-in form and keeps the session.
func pageClient(b *testing.B, base, user, password string) *http.Client {
	b.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(b, err)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := c.Get(base + "/login")
	require.NoError(b, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindSubmatch(page)
	require.NotNil(b, m)
	resp, err = c.PostForm(base+"/login", url.Values{"_csrf": {string(m[1])}, "username": {user}, "password": {password}})
	require.NoError(b, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(b, http.StatusOK, resp.StatusCode, "%s signs in: %.200s", user, body)
	require.True(b, strings.Contains(string(body), `action="/logout"`), "%s is signed in", user)
	return c
}
