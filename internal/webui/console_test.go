package webui

import (
	"context"
	"encoding/csv"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/account"
	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/auth"
	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/dbtest"
	"github.com/sciflow/sciflow/internal/demo"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/httpapi"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/notify"
	"github.com/sciflow/sciflow/internal/postgres"
	"github.com/sciflow/sciflow/internal/workflow"
	"github.com/sciflow/sciflow/workflows"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// consoleSite is the whole server, pages and API, on the demo county.
type consoleSite struct {
	t        *testing.T
	url      string
	db       *postgres.DB
	accounts *account.Service
	logins   map[string]string // password by username
}

func newConsoleSite(t *testing.T) *consoleSite {
	t.Helper()
	ctx := context.Background()
	const secret = "console-test-secret-console-test-secret"
	db := dbtest.New(t)
	chain := audit.New(secret)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cal := calendar.NewService(db, chain, calendar.New())
	require.NoError(t, cal.Refresh(ctx))
	eng := engine.New(db, chain, cal.Calendar, log)
	defs, err := workflow.LoadDir(workflows.FS)
	require.NoError(t, err)
	require.NoError(t, eng.Sync(ctx, defs))
	authService, err := auth.NewService(db, chain, secret)
	require.NoError(t, err)
	accounts := account.New(db, chain, eng, secret)
	notes := notify.New(db, eng, cal.Calendar, nil, log)
	sessions := auth.NewSessions(db, false)
	t.Cleanup(sessions.Close)
	ui, err := New(Deps{DB: db, Engine: eng, Auth: authService, Accounts: accounts, Sessions: sessions, Notify: notes,
		Chain: chain, MaxUpload: 1 << 20})
	require.NoError(t, err)
	srv := httpapi.New(httpapi.Deps{DB: db, Log: log, Engine: eng, Auth: authService, Chain: chain, Accounts: accounts,
		Sessions: sessions, Calendar: cal, Notify: notes, MaxUpload: 1 << 20, Pages: ui.Mount})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	logins, err := demo.Seed(ctx, db, accounts, eng)
	require.NoError(t, err)
	s := &consoleSite{t: t, url: ts.URL, db: db, accounts: accounts, logins: map[string]string{}}
	for _, l := range logins {
		s.logins[l.Username] = l.Password
	}
	return s
}

// browser is one person's browser: cookies kept, redirects not followed.
type browser struct {
	t      *testing.T
	base   string
	client *http.Client
	csrf   string
}

var csrfInPage = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func (s *consoleSite) signIn(username, password string) *browser {
	s.t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &browser{t: s.t, base: s.url, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	b.get("/login")
	code, _ := b.post("/login", url.Values{"username": {username}, "password": {password}})
	require.Equal(s.t, http.StatusSeeOther, code, "sign in as %s", username)
	b.get("/")
	return b
}

func (s *consoleSite) as(username string) *browser { return s.signIn(username, s.logins[username]) }

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.base+path, nil)
	require.NoError(b.t, err)
	req.Header.Set("Accept", "text/html")
	return b.do(req)
}

// post sends a form with the session's CSRF token.
func (b *browser) post(path string, form url.Values) (int, string) {
	b.t.Helper()
	form.Set("_csrf", b.csrf)
	req, err := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	return b.do(req)
}

func (b *browser) do(req *http.Request) (int, string) {
	b.t.Helper()
	resp, err := b.client.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	if m := csrfInPage.FindStringSubmatch(string(body)); m != nil {
		b.csrf = m[1]
	}
	if resp.StatusCode == http.StatusSeeOther {
		return resp.StatusCode, resp.Header.Get("Location")
	}
	return resp.StatusCode, string(body)
}

func TestConsole(t *testing.T) {
	s := newConsoleSite(t)
	admin, auditor, staff := s.as("admin"), s.as("auditor"), s.as("staff")

	t.Run("each page opens to the roles the API lets read it", func(t *testing.T) {
		pages := []string{"/admin", "/admin/users", "/admin/orgs", "/admin/workflows", "/admin/workflows/jiebang",
			"/audit", "/audit/verify", "/plan"}
		want := map[string][]int{
			"admin":   {200, 200, 200, 200, 200, 200, 200, 200},
			"auditor": {403, 403, 403, 200, 200, 200, 200, 200},
			"staff":   {403, 403, 403, 200, 200, 403, 403, 200},
			"leader":  {403, 403, 403, 403, 403, 403, 403, 200},
			"yunhai":  {403, 403, 403, 403, 403, 403, 403, 403},
			"expert1": {403, 403, 403, 403, 403, 403, 403, 403},
		}
		for who, codes := range want {
			b := s.as(who)
			for i, p := range pages {
				code, _ := b.get(p)
				require.Equal(t, codes[i], code, "%s opens %s", who, p)
			}
		}
		anonymous := &browser{t: t, base: s.url, client: &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
		code, to := anonymous.get("/audit")
		require.Equal(t, http.StatusSeeOther, code)
		require.Contains(t, to, "/login?next=")
		code, _ = staff.post("/admin/orgs", url.Values{"name": {"不该建成的单位"}, "kind": {"enterprise"}})
		require.Equal(t, http.StatusForbidden, code)
	})

	bureau, err := s.db.OrgByRef(context.Background(), "云阳县科学技术局")
	require.NoError(t, err)
	hospital, err := s.db.OrgByRef(context.Background(), "云阳县人民医院")
	require.NoError(t, err)

	t.Run("users are listed, created and refused like the API does", func(t *testing.T) {
		_, page := admin.get("/admin/users?role=expert&q=" + url.QueryEscape("钱教授"))
		require.Contains(t, page, "expert1")
		require.NotContains(t, page, ">yunhai<")

		code, page := admin.post("/admin/users", url.Values{"username": {"wang.jb"}, "name": {"王经办"}, "org": {bureau.ID},
			"roles": {"admin", "staff"}, "credential": {"password"}, "password": {"Secret-pass-2026"}})
		require.Equal(t, http.StatusUnprocessableEntity, code)
		require.Contains(t, page, `id="roles-error"`, "the faulty field is marked")
		require.Contains(t, page, `value="wang.jb"`, "what was typed is kept")

		code, to := admin.post("/admin/users", url.Values{"username": {"wang.jb"}, "name": {"王经办"}, "org": {bureau.ID},
			"roles": {"staff"}, "email": {"wang@example.cn"}, "phone": {"023-55123456"}, "credential": {"password"},
			"password": {"Secret-pass-2026"}})
		require.Equal(t, http.StatusSeeOther, code)
		require.Contains(t, to, "/admin/users/")
		created, err := s.db.UserByUsername(context.Background(), "wang.jb")
		require.NoError(t, err)
		require.Equal(t, "023-55123456", created.Phone)
		s.signIn("wang.jb", "Secret-pass-2026")
	})

	t.Run("a reset link instead of a password is shown once and works", func(t *testing.T) {
		code, page := admin.post("/admin/users", url.Values{"username": {"lin"}, "name": {"林专家"}, "org": {bureau.ID},
			"roles": {"expert"}, "specialties": {"新材料，化工"}, "conflicts": {hospital.ID}, "credential": {"link"}})
		require.Equal(t, http.StatusOK, code, page)
		m := regexp.MustCompile(`href="(/reset\?token=[^"]+)"`).FindStringSubmatch(page)
		require.NotNil(t, m, "the link is on the page")
		link := html.UnescapeString(m[1])

		stranger := &browser{t: t, base: s.url, client: &http.Client{}}
		stranger.client.Jar, _ = cookiejar.New(nil)
		code, _ = stranger.get(link)
		require.Equal(t, http.StatusOK, code)
		u, _ := url.Parse(link)
		code, _ = stranger.post("/reset", url.Values{"token": {u.Query().Get("token")}, "password": {"Forest-key-2026!"}})
		require.Equal(t, http.StatusOK, code)
		s.signIn("lin", "Forest-key-2026!")
	})

	lin, err := s.db.UserByUsername(context.Background(), "lin")
	require.NoError(t, err)

	t.Run("editing roles keeps an expert's specialties and conflicts", func(t *testing.T) {
		_, page := admin.get("/admin/users/" + lin.ID)
		require.Contains(t, page, "化工，新材料")
		code, to := admin.post("/admin/users/"+lin.ID, url.Values{"name": {"林专家"}, "email": {"lin@example.cn"},
			"roles": {"expert", "leader"}, "specialties": {"化工，新材料"}, "conflicts": {hospital.ID}})
		require.Equal(t, http.StatusSeeOther, code, to)
		p, err := s.db.ExpertProfile(context.Background(), lin.ID)
		require.NoError(t, err)
		require.Equal(t, []string{"化工", "新材料"}, p.Specialties)
		require.Equal(t, []string{hospital.ID}, p.ConflictOrgs)
		after, err := s.db.User(context.Background(), lin.ID)
		require.NoError(t, err)
		require.Equal(t, []identity.Role{identity.Expert, identity.Leader}, after.Roles)
		require.Equal(t, "lin@example.cn", after.Email)
	})

	t.Run("administrators edit their own name but not their own roles", func(t *testing.T) {
		me, err := s.db.UserByUsername(context.Background(), "admin")
		require.NoError(t, err)
		code, _ := admin.post("/admin/users/"+me.ID, url.Values{"name": {"系统管理员甲"}, "roles": {"admin"}})
		require.Equal(t, http.StatusSeeOther, code)
		code, page := admin.post("/admin/users/"+me.ID, url.Values{"name": {"系统管理员甲"}, "roles": {"auditor"}})
		require.Equal(t, http.StatusForbidden, code)
		require.Contains(t, page, "不能修改自己的角色")
	})

	t.Run("moving an account is audited with both organisations", func(t *testing.T) {
		code, page := admin.post("/admin/users/"+lin.ID+"/org", url.Values{"org": {"00000000-0000-0000-0000-000000000000"}})
		require.Equal(t, http.StatusUnprocessableEntity, code)
		require.Contains(t, page, `id="org-error"`)
		code, _ = admin.post("/admin/users/"+lin.ID+"/org", url.Values{"org": {hospital.ID}})
		require.Equal(t, http.StatusSeeOther, code)
		moved, err := s.db.User(context.Background(), lin.ID)
		require.NoError(t, err)
		require.Equal(t, hospital.ID, moved.OrgID)
		rows, err := s.db.AuditEntries(context.Background(), postgres.AuditQuery{Limit: 1000})
		require.NoError(t, err)
		last, err := audit.Decode(rows[len(rows)-1])
		require.NoError(t, err)
		require.Equal(t, audit.KindUserChange, last.Kind)
		require.Equal(t, bureau.ID, last.Data["org_id_before"])
		require.Equal(t, hospital.ID, last.Data["org_id"])
	})

	t.Run("organisations", func(t *testing.T) {
		code, page := admin.post("/admin/orgs", url.Values{"name": {"云阳县测试企业"}, "kind": {"enterprise"}, "credit_code": {"123"}})
		require.Equal(t, http.StatusUnprocessableEntity, code)
		require.Contains(t, page, `id="credit_code-error"`)
		code, _ = admin.post("/admin/orgs", url.Values{"name": {"云阳县测试企业"}, "kind": {"enterprise"}, "parent": {bureau.ID},
			"credit_code": {"911100007109288314"}})
		require.Equal(t, http.StatusSeeOther, code)
		_, page = admin.get("/admin/orgs?kind=enterprise")
		require.Contains(t, page, "云阳县测试企业")
		require.Contains(t, page, "911100007109288314")
	})

	t.Run("a workflow's page shows its diagram and its tables", func(t *testing.T) {
		_, page := staff.get("/admin/workflows")
		for _, key := range []string{"jiebang", "jiebang_challenge", "envoy", "talent", "talent_instalment"} {
			require.Contains(t, page, `href="/admin/workflows/`+key+`"`)
		}
		_, page = auditor.get("/admin/workflows/jiebang")
		require.Contains(t, page, `<figure class="diagram">`)
		require.Contains(t, page, "<svg")
		for _, want := range []string{"formal_review", "专家评审", "5 名评审专家", "finance", "近三年财务报表", "credit_code"} {
			require.Contains(t, page, want)
		}
		code, _ := auditor.get("/admin/workflows/nonsense")
		require.Equal(t, http.StatusNotFound, code)
	})

	t.Run("the audit log filters, pages and exports like the API", func(t *testing.T) {
		yunhai, err := s.db.UserByUsername(context.Background(), "yunhai")
		require.NoError(t, err)
		_, byName := auditor.get("/audit?actor=yunhai")
		_, byID := auditor.get("/audit?actor=" + yunhai.ID)
		rows := regexp.MustCompile(`data-label="序号">(\d+)<`)
		seqs := rows.FindAllStringSubmatch(byName, -1)
		require.NotEmpty(t, seqs)
		require.Equal(t, seqs, rows.FindAllStringSubmatch(byID, -1))
		require.Contains(t, byName, "刘经理")

		m := regexp.MustCompile(`href="(/api/v1/audit/export\?[^"]+)"`).FindStringSubmatch(byName)
		require.NotNil(t, m)
		req, _ := http.NewRequest(http.MethodGet, s.url+html.UnescapeString(m[1]), nil)
		resp, err := auditor.client.Do(req)
		require.NoError(t, err)
		records, err := csv.NewReader(resp.Body).ReadAll()
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Len(t, records, len(seqs)+1, "the export holds what the page lists, with a header")

		code, page := auditor.get("/audit?actor=nobody-at-all")
		require.Equal(t, http.StatusUnprocessableEntity, code)
		require.Contains(t, page, `id="actor-error"`)
		code, _ = auditor.get("/audit?from=2026-05-10&to=2026-05-01")
		require.Equal(t, http.StatusUnprocessableEntity, code)

		_, page = auditor.get("/audit")
		require.Len(t, rows.FindAllStringSubmatch(page, -1), auditPageSize)
		next := regexp.MustCompile(`href="(/audit\?cursor=\d+)"`).FindStringSubmatch(page)
		require.NotNil(t, next)
		_, second := auditor.get(next[1])
		first := rows.FindAllStringSubmatch(page, -1)
		require.Greater(t, rows.FindAllStringSubmatch(second, 1)[0][1], first[len(first)-1][1], "oldest first")
	})

	t.Run("verification finds tampering", func(t *testing.T) {
		_, page := auditor.get("/audit/verify")
		require.Contains(t, page, "校验通过")
		var seq, pos int64
		var chain string
		require.NoError(t, s.db.QueryRow(`SELECT seq, chain, chain_seq FROM audit_log WHERE kind = 'transition' ORDER BY seq LIMIT 1`).Scan(&seq, &chain, &pos))
		for _, q := range []string{`ALTER TABLE audit_log DISABLE TRIGGER USER`,
			`UPDATE audit_log SET content = replace(content, '"transition"', '"transition" ') WHERE seq = $1`,
			`ALTER TABLE audit_log ENABLE TRIGGER USER`} {
			var args []any
			if strings.Contains(q, "$1") {
				args = append(args, seq)
			}
			_, err := s.db.Exec(q, args...)
			require.NoError(t, err)
		}
		_, page = admin.get("/audit/verify")
		require.Contains(t, page, "发现问题")
		require.Contains(t, page, `<td class="mono">链 `+chain+` 第 `+strconv.FormatInt(pos, 10)+` 条</td><td>内容被改动`)
	})

	t.Run("the plan dashboard draws each indicator with its numbers", func(t *testing.T) {
		code, page := s.as("leader").get("/plan")
		require.Equal(t, http.StatusOK, code)
		require.GreaterOrEqual(t, strings.Count(page, "<svg"), 2)
		require.Contains(t, page, "选派科技特派员")
		require.Contains(t, page, "张榜中", "a breakdown by state names the states")
		require.Contains(t, page, "<th scope=\"row\">2025 年</th>", "a breakdown by year")
		_, page = s.as("leader").get("/plan?lang=en")
		require.Contains(t, page, "Envoys appointed")
		require.NotContains(t, page, "2025 年")
	})
}
