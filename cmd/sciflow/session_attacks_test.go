package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/auth"
	"github.com/sciflow/sciflow/internal/config"
)

// Attacks on sessions against a running server: cross-site requests on
// every state-changing route, a session id planted before sign-in, tokens
// and cookies replayed after sign-out or a password change, guessing
// passwords past the throttle, and forged, stale or replayed reset links.

const sessionCookie = "sciflow_session"

// The two answers a missing or wrong CSRF token gets: the pages' and the
// API's. The sweep looks for them so that a 403 for any other reason (a
// role check that happened to come first) does not pass for a CSRF check.
var csrfRefusals = []string{"页面已过期，请刷新后重试", "缺少或错误的 CSRF 令牌"}

func isCSRFRefusal(code int, body string) bool {
	if code != http.StatusForbidden {
		return false
	}
	for _, m := range csrfRefusals {
		if strings.Contains(body, m) {
			return true
		}
	}
	return false
}

// signInBrowser signs username in through the sign-in form and returns the
// browser and its session's CSRF token, as the pages carry it.
func signInBrowser(t *testing.T, s *site, username, password string) (*browser, string) {
	t.Helper()
	b := newBrowser(t, s.url)
	_, page, _ := b.get("/login")
	m := csrfField.FindStringSubmatch(page)
	require.NotNil(t, m, "the sign-in form carries a CSRF token")
	code, body := b.post("/login", url.Values{"_csrf": {m[1]}, "username": {username}, "password": {password}})
	require.Equal(t, http.StatusSeeOther, code, "sign in %s: %s", username, body)
	return b, b.csrf()
}

// csrf reads the session's CSRF token off the home page.
func (b *browser) csrf() string {
	b.t.Helper()
	_, page, _ := b.get("/")
	m := csrfField.FindStringSubmatch(page)
	require.NotNil(b.t, m, "the page carries a CSRF token")
	return m[1]
}

// cookie is the browser's session cookie value ("" when it has none).
func (b *browser) cookie() string {
	u, _ := url.Parse(b.base)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	return ""
}

// browserWithCookie is a browser holding a session cookie it was handed,
// as an attacker replaying a stolen one, or a victim given a planted one.
func browserWithCookie(t *testing.T, base, value string) *browser {
	b := newBrowser(t, base)
	u, _ := url.Parse(base)
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: value, Path: "/"}})
	return b
}

// send is one request from the browser, cookies and all.
func (b *browser) send(method, path, contentType string, body []byte, headers ...string) (int, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, bytes.NewReader(body))
	require.NoError(b.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := b.client.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// me is what GET /api/v1/me answers the browser: 200 while its session
// stands, 401 once it is gone.
func (b *browser) me() int {
	code, _, _ := b.get("/api/v1/me")
	return code
}

// asBearer is what a request with token answers.
func (s *site) asBearer(token, method, path string, body any) int {
	s.t.Helper()
	return s.call("", method, path, body, nil, "Authorization", "Bearer "+token)
}

// flip changes one character of a token.
func flip(tok string) string {
	c := byte('A')
	if tok[0] == 'A' {
		c = 'B'
	}
	return string(c) + tok[1:]
}

// servedRoutes builds the server as serve does, on the site's database and
// configuration, and lists its router's routes: the API's (httpapi.New)
// and the pages' (webui's Mount), which are everything serve answers. A
// route added to either later is in the list without this test changing.
func servedRoutes(t *testing.T, s *site) []*echo.Route {
	t.Helper()
	env := s.env()
	cfg, err := config.Load(func(k string) string { return env[k] })
	require.NoError(t, err)
	log := slog.New(slog.DiscardHandler)
	sys, err := openSystem(context.Background(), cfg, log)
	require.NoError(t, err)
	defer sys.close()
	sessions := auth.NewSessions(sys.db, false)
	defer sessions.Close()
	srv, err := newServer(sys, cfg, sessions, log)
	require.NoError(t, err)
	return srv.Handler().(*echo.Echo).Routes()
}

// stateChanging keeps the routes a cross-site request could use to change
// something: every method but the safe ones (and Echo's internal not-found
// routes), sorted for a stable order.
func stateChanging(routes []*echo.Route) []*echo.Route {
	var out []*echo.Route
	for _, r := range routes {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodConnect, echo.RouteNotFound:
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// fillParams puts a real record's id into a route's parameters, chosen by
// the collection the parameter follows (/apps/:id and
// /api/v1/applications/:id alike), so that with the right token the
// request would act on something; an unknown collection gets an id of
// nothing, which still meets the CSRF check first.
func fillParams(path string, ids map[string]string) string {
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		if strings.HasPrefix(seg, ":") || seg == "*" {
			v, ok := ids[strings.TrimPrefix(strings.Join(segs[:i], "/"), "/api/v1")]
			if !ok {
				v = "00000000-0000-4000-8000-000000000000"
			}
			segs[i] = v
		}
	}
	return strings.Join(segs, "/")
}

// fingerprint digests every table but the session store's (every request
// touches its session's expiry) and the job queue's bookkeeping (leases,
// heartbeats): a refused request must leave it as it was.
func (s *site) fingerprint() map[string]string {
	s.t.Helper()
	var tables []string
	require.NoError(s.t, s.db.Select(&tables, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()
AND tablename <> 'sessions' AND tablename NOT LIKE 'river\_%' ORDER BY tablename`))
	require.NotEmpty(s.t, tables)
	out := map[string]string{}
	for _, tbl := range tables {
		var digest string
		q := `SELECT coalesce(md5(string_agg(t::text, E'\n' ORDER BY t::text)), '') FROM ` + pq.QuoteIdentifier(tbl) + ` t`
		require.NoError(s.t, s.db.Get(&digest, q))
		out[tbl] = digest
	}
	return out
}

// settled waits until the job queue has worked off what the setup caused
// (notifications of opened tasks, and their announcement) and two looks at the database agree, and
// returns its fingerprint.
func (s *site) settled() map[string]string {
	s.t.Helper()
	var prev map[string]string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var pending int
		require.NoError(s.t, s.db.Get(&pending, `SELECT (SELECT count(*) FROM river_job WHERE state IN ('available', 'running', 'retryable', 'pending'))
			+ (SELECT count(*) FROM tasks_to_announce)`))
		if pending > 0 {
			prev = nil
			continue
		}
		fp := s.fingerprint()
		if prev != nil && len(changedTables(prev, fp)) == 0 {
			return fp
		}
		prev = fp
	}
	s.t.Fatal("the job queue did not settle within 30 s")
	return nil
}

// changedTables names the tables whose digests differ.
func changedTables(before, after map[string]string) []string {
	var out []string
	for tbl, d := range after {
		if before[tbl] != d {
			out = append(out, tbl)
		}
	}
	for tbl := range before {
		if _, ok := after[tbl]; !ok {
			out = append(out, tbl)
		}
	}
	sort.Strings(out)
	return out
}

// sweepRequest is one request of the CSRF sweep on route r with token in
// the place each side reads it: the X-CSRF-Token header for the API, the
// _csrf form field for the pages (a multipart form, which every page
// handler reads, the upload included). An empty token sends none.
func sweepRequest(b *browser, r *echo.Route, path, token string) (int, string) {
	if strings.HasPrefix(r.Path, "/api/") {
		var h []string
		if token != "" {
			h = []string{"X-CSRF-Token", token}
		}
		return b.send(r.Method, path, "application/json", []byte(`{}`), append(h, "Accept", "application/json")...)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if token != "" {
		require.NoError(b.t, mw.WriteField("_csrf", token))
	}
	fw, err := mw.CreateFormFile("file", "plan.txt")
	require.NoError(b.t, err)
	fw.Write([]byte("技术方案"))
	require.NoError(b.t, mw.Close())
	return b.send(r.Method, path, mw.FormDataContentType(), body.Bytes(), "Accept", "application/json")
}

// TestCSRFOnEveryStateChange takes every state-changing route from the
// server's own router and sends it, on a signed-in session's cookie,
// without the CSRF token, with a wrong one, and with other sessions'
// tokens: each must be refused with 403 for want of the token, and the
// database must be as it was. The API is swept the same way: a cookie
// without a bearer token is a browser, and changes nothing without the
// token. With the right token, no route may answer the CSRF refusal, which
// shows the sweep delivers its tokens where each route reads them.
func TestCSRFOnEveryStateChange(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	routes := stateChanging(servedRoutes(t, s))
	seen := map[string]bool{}
	var names []string
	for _, r := range routes {
		seen[r.Method+" "+r.Path] = true
		names = append(names, r.Method+" "+r.Path)
	}
	for _, known := range []string{"POST /login", "POST /logout", "POST /apps/:id/edit", "POST /apps/:id/attachments",
		"POST /admin/users/:id/reset", "DELETE /api/v1/session", "PATCH /api/v1/applications/:id",
		"PUT /api/v1/calendar/overrides/:day", "DELETE /api/v1/calendar/overrides/:day"} {
		require.True(t, seen[known], "the router lists %s", known)
	}
	t.Logf("CSRF sweep over %d state-changing routes: %s", len(routes), strings.Join(names, ", "))

	// Records for the routes to aim at: an applicant's draft, a project in
	// its unit's review with the unit's task and notification, an account.
	app := s.newApp("applicant")
	s.attach("applicant", app.ID)
	s.submitProject("applicant")
	task := s.tasks("unit")[0].ID
	note := s.awaitNotification("unit", "task")
	ids := map[string]string{"/apps": app.ID, "/applications": app.ID, "/notices": app.ID, "/tasks": task,
		"/notifications": note, "/admin/users": s.userNamed("staff").ID, "/users": s.userNamed("staff").ID,
		"/calendar/overrides": "2026-10-09"}

	admin, adminCSRF := signInBrowser(t, s, "admin", testPassword)
	_, otherAdminCSRF := signInBrowser(t, s, "admin", testPassword)
	applicant, applicantCSRF := signInBrowser(t, s, "applicant", testPassword)
	_, otherApplicantCSRF := signInBrowser(t, s, "applicant", testPassword)
	require.NotEqual(t, adminCSRF, otherAdminCSRF, "each session has its own token")

	before := s.settled()
	for _, sess := range []struct {
		name     string
		b        *browser
		variants map[string]string
		// strict: the refusal must be the CSRF one. The administrator
		// passes every role check, so nothing but the token can stop
		// them; the applicant is stopped at the console's routes by
		// their role first, which is a 403 all the same.
		strict bool
	}{
		{"admin", admin, map[string]string{"no token": "", "a wrong token": flip(adminCSRF),
			"another user's session's token": applicantCSRF, "their other session's token": otherAdminCSRF}, true},
		{"applicant", applicant, map[string]string{"no token": "", "a wrong token": flip(applicantCSRF),
			"another user's session's token": adminCSRF, "their other session's token": otherApplicantCSRF}, false},
	} {
		for _, r := range routes {
			path := fillParams(r.Path, ids)
			for variant, token := range sess.variants {
				code, body := sweepRequest(sess.b, r, path, token)
				if sess.strict {
					require.True(t, isCSRFRefusal(code, body), "%s %s as %s with %s: %d %s", r.Method, path, sess.name, variant, code, body)
				} else {
					require.Equal(t, http.StatusForbidden, code, "%s %s as %s with %s: %s", r.Method, path, sess.name, variant, body)
				}
			}
		}
		require.Equal(t, 200, sess.b.me(), "%s is still signed in: no sign-out went through", sess.name)
	}
	require.Empty(t, changedTables(before, s.fingerprint()), "no refused request changed anything")

	// The control: the very same requests with the right token get past
	// the check on every route (they may fail for other reasons), and
	// some of them do change the database. A route that ends the session
	// (signing out) is followed by a fresh sign-in.
	changed := 0
	for _, r := range routes {
		path := fillParams(r.Path, ids)
		fp := s.fingerprint()
		code, body := sweepRequest(admin, r, path, adminCSRF)
		require.False(t, isCSRFRefusal(code, body), "%s %s with the right token: %d %s", r.Method, path, code, body)
		if len(changedTables(fp, s.fingerprint())) > 0 {
			changed++
		}
		if admin.me() != 200 {
			admin, adminCSRF = signInBrowser(t, s, "admin", testPassword)
		}
	}
	require.Greater(t, changed, 0, "with the right token the sweep's requests do change things")
	t.Logf("with the right token, %d of %d routes changed the database as the administrator", changed, len(routes))
	// whatever was refused or attempted, the trail holds
	s.requireIntactChain()
}

// TestSessionFixation plants a session id in a victim's browser before they
// sign in: signing in moves the session to a new id and a new CSRF token,
// and the planted id opens nothing. An id the server never issued is not
// adopted at all.
func TestSessionFixation(t *testing.T) {
	t.Parallel()
	s := newSite(t)

	attacker := newBrowser(t, s.url)
	_, page, _ := attacker.get("/login")
	planted := attacker.cookie()
	require.NotEmpty(t, planted, "the sign-in page starts a session (for its CSRF token)")
	plantedCSRF := csrfField.FindStringSubmatch(page)[1]

	victim := browserWithCookie(t, s.url, planted)
	_, page, _ = victim.get("/login")
	require.Equal(t, plantedCSRF, csrfField.FindStringSubmatch(page)[1], "the victim is on the planted session")
	code, _ := victim.post("/login", url.Values{"_csrf": {plantedCSRF}, "username": {"applicant"}, "password": {testPassword}})
	require.Equal(t, http.StatusSeeOther, code)
	require.NotEmpty(t, victim.cookie())
	require.NotEqual(t, planted, victim.cookie(), "signing in moves the session to a new id")
	require.Equal(t, 200, victim.me())
	victimCSRF := victim.csrf()
	require.NotEqual(t, plantedCSRF, victimCSRF, "and gives it a new CSRF token")

	// The attacker's copy of the planted id is worthless now.
	require.Equal(t, 401, attacker.me())
	code, _, h := attacker.get("/apps")
	require.Equal(t, http.StatusSeeOther, code)
	require.True(t, strings.HasPrefix(h.Get("Location"), "/login"), "sent to sign in, not shown the victim's applications")
	apps := s.countRows(`SELECT count(*) FROM applications`)
	for _, tok := range []string{plantedCSRF, victimCSRF} {
		code, _ := attacker.send("POST", "/api/v1/applications", "application/json", []byte(`{"workflow":"grant"}`), "X-CSRF-Token", tok)
		require.Equal(t, 401, code)
	}
	require.Equal(t, apps, s.countRows(`SELECT count(*) FROM applications`))

	// An id the server never issued is replaced at once, and signing in
	// replaces it again.
	chosen := "attacker-chosen-session-id-0123456789abcdefghij"
	victim2 := browserWithCookie(t, s.url, chosen)
	_, page, _ = victim2.get("/login")
	require.NotEqual(t, chosen, victim2.cookie(), "an unknown id is not adopted")
	issued := victim2.cookie()
	code, _ = victim2.post("/login", url.Values{"_csrf": {csrfField.FindStringSubmatch(page)[1]}, "username": {"applicant"}, "password": {testPassword}})
	require.Equal(t, http.StatusSeeOther, code)
	require.NotEqual(t, issued, victim2.cookie())
	require.Equal(t, 401, browserWithCookie(t, s.url, chosen).me())
	require.Equal(t, 401, browserWithCookie(t, s.url, issued).me())
	require.Equal(t, 200, victim2.me())
	// whatever was refused or attempted, the trail holds
	s.requireIntactChain()
}

func (s *site) countRows(q string, args ...any) int {
	s.t.Helper()
	var n int
	require.NoError(s.t, s.db.Get(&n, q, args...))
	return n
}

// TestSignOutEndsTokensAndCookies replays a bearer token after DELETE
// /api/v1/session, and a session cookie after signing out by the form and
// by the API: each is dead, for reading and for changing.
func TestSignOutEndsTokensAndCookies(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	apps := func() int { return s.countRows(`SELECT count(*) FROM applications`) }
	create := map[string]any{"workflow": "grant", "data": map[string]any{"title": "重放", "budget": 1}}

	tok, kept := s.freshToken("applicant"), s.freshToken("applicant")
	require.Equal(t, 200, s.asBearer(tok, "GET", "/api/v1/me", nil))
	require.Equal(t, 204, s.asBearer(tok, "DELETE", "/api/v1/session", nil))
	n := apps()
	require.Equal(t, 401, s.asBearer(tok, "GET", "/api/v1/me", nil))
	require.Equal(t, 401, s.asBearer(tok, "POST", "/api/v1/applications", create))
	require.Equal(t, 401, s.asBearer(tok, "DELETE", "/api/v1/session", nil), "not even to sign out again")
	require.Equal(t, n, apps())
	require.Equal(t, 200, s.asBearer(kept, "GET", "/api/v1/me", nil), "signing out ends that token, not the user's others")

	for _, how := range []string{"form", "api"} {
		b, csrf := signInBrowser(t, s, "applicant", testPassword)
		stolen := b.cookie()
		if how == "form" {
			code, _ := b.post("/logout", url.Values{"_csrf": {csrf}})
			require.Equal(t, http.StatusSeeOther, code)
		} else {
			code, _ := b.send("DELETE", "/api/v1/session", "", nil, "X-CSRF-Token", csrf)
			require.Equal(t, 204, code)
		}
		require.Equal(t, 401, b.me(), how)
		replay := browserWithCookie(t, s.url, stolen)
		require.Equal(t, 401, replay.me(), "%s: the old cookie opens nothing", how)
		code, _ := replay.send("POST", "/api/v1/applications", "application/json", []byte(`{"workflow":"grant"}`), "X-CSRF-Token", csrf)
		require.Equal(t, 401, code, how)
		code, _ = replay.post("/apps", url.Values{"_csrf": {csrf}, "workflow": {"grant"}})
		require.Equal(t, 401, code, how)
		require.Equal(t, n, apps(), how)
	}
	// whatever was refused or attempted, the trail holds
	s.requireIntactChain()
}

// userSessions are a user's ways in: two browsers and two API tokens.
type userSessions struct {
	browsers []*browser
	tokens   []string
}

func openSessions(t *testing.T, s *site, username, password string) userSessions {
	var u userSessions
	for range 2 {
		b, _ := signInBrowser(t, s, username, password)
		u.browsers = append(u.browsers, b)
		var res struct{ Token string }
		require.Equal(t, 200, s.call("", "POST", "/api/v1/session", map[string]string{"username": username, "password": password}, &res))
		u.tokens = append(u.tokens, res.Token)
	}
	return u
}

// live counts how many of them still work.
func (u userSessions) live(s *site) int {
	n := 0
	for _, b := range u.browsers {
		if b.me() == 200 {
			n++
		}
	}
	for _, tok := range u.tokens {
		if s.asBearer(tok, "GET", "/api/v1/me", nil) == 200 {
			n++
		}
	}
	return n
}

// issueResetLink has the administrator issue a reset link for username and
// returns its token.
func (s *site) issueResetLink(username string) string {
	s.t.Helper()
	var link struct{ Link string }
	require.Equal(s.t, 201, s.call("admin", "POST", "/api/v1/users/"+username+"/password-reset", nil, &link))
	u, err := url.Parse(link.Link)
	require.NoError(s.t, err)
	tok := u.Query().Get("token")
	require.NotEmpty(s.t, tok)
	return tok
}

// resetByForm spends a reset link through the page, as the user would.
func resetByForm(t *testing.T, s *site, token, password string) (int, string) {
	b := newBrowser(t, s.url)
	_, page, _ := b.get("/reset?token=" + url.QueryEscape(token))
	m := csrfField.FindStringSubmatch(page)
	require.NotNil(t, m)
	return b.post("/reset", url.Values{"_csrf": {m[1]}, "token": {token}, "password": {password}})
}

// TestPasswordChangeEndsEverySession changes passwords three ways: a reset
// link spent over the API, one spent on the page, and the administrator
// setting it at the console. Each time every browser session and token the
// user had dies at once, while another user's live on.
func TestPasswordChangeEndsEverySession(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	env := []string{"DATABASE_URL=" + s.dsn, "SCIFLOW_DATA_DIR=" + s.dataDir, "SCIFLOW_WORKFLOWS_DIR=" + s.wfDir}
	bystander := openSessions(t, s, "auditor", testPassword)
	for i, tc := range []struct {
		how, user string
		change    func(newPassword string)
	}{
		{"a reset link over the API", "staff", func(pw string) {
			require.Equal(t, 204, s.call("", "POST", "/api/v1/password-reset", map[string]string{"token": s.issueResetLink("staff"), "password": pw}, nil))
		}},
		{"a reset link on the page", "leader", func(pw string) {
			code, page := resetByForm(t, s, s.issueResetLink("leader"), pw)
			require.Equal(t, 200, code, page)
		}},
		{"the administrator at the console", "expert", func(pw string) {
			_, errOut, code := runCLI(t, env, pw+"\n", "user", "passwd", "expert")
			require.Equal(t, 0, code, errOut)
		}},
	} {
		victim := openSessions(t, s, tc.user, testPassword)
		require.Equal(t, 4, victim.live(s), tc.how)
		// (A password may not contain the user's name.)
		newPassword := "Neu-Passwort-2026-" + strconv.Itoa(i)
		tc.change(newPassword)
		require.Equal(t, 0, victim.live(s), "%s: every session and token of %s ends", tc.how, tc.user)
		require.Equal(t, 4, bystander.live(s), "%s: another user's stay", tc.how)
		for _, b := range victim.browsers {
			code, _, h := b.get("/apps")
			require.Equal(t, http.StatusSeeOther, code, tc.how)
			require.True(t, strings.HasPrefix(h.Get("Location"), "/login"), tc.how)
		}
		require.Equal(t, 401, s.call("", "POST", "/api/v1/session", map[string]string{"username": tc.user, "password": testPassword}, nil), tc.how)
		require.Equal(t, 4, openSessions(t, s, tc.user, newPassword).live(s), "%s: the new password works", tc.how)
	}
	// whatever was refused or attempted, the trail holds
	s.requireIntactChain()
}

// TestResetLinkAttacks tries a reset link changed by one character, one
// past its time, one spent already (over the API and on the page), and one
// issued before the password was changed by another: all are refused and
// change nothing; the one good use ends the user's sessions.
func TestResetLinkAttacks(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	victim := openSessions(t, s, "staff", testPassword)
	bystander := openSessions(t, s, "auditor", testPassword)
	spend := func(token, pw string) (int, apiError) {
		var e apiError
		code := s.call("", "POST", "/api/v1/password-reset", map[string]string{"token": token, "password": pw}, &e)
		return code, e
	}
	refused := func(what, token string) {
		t.Helper()
		code, e := spend(token, "Angreifer-Passwort-1")
		require.Equal(t, 422, code, what)
		require.Contains(t, e.Error.Fields, "token", what)
		code, page := resetByForm(t, s, token, "Angreifer-Passwort-2")
		require.Equal(t, 422, code, what)
		require.Contains(t, page, "重置链接无效或已过期", what)
		require.Equal(t, 4, victim.live(s), "%s: nothing changed", what)
	}

	good := s.issueResetLink("staff")
	refused("one character changed", flip(good))
	refused("one character short", good[:len(good)-1])
	refused("one character more", good+"A")

	// Expired: the server's clock cannot be moved from here, so the link's
	// expiry is moved instead, to just past.
	_, err := s.db.Exec(`UPDATE password_resets SET expires_at = now() - interval '1 second' WHERE used_at IS NULL`)
	require.NoError(t, err)
	refused("expired", good)

	first, second := s.issueResetLink("staff"), s.issueResetLink("staff")
	code, _ := spend(first, "Neu-Passwort-2026")
	require.Equal(t, 204, code)
	require.Equal(t, 0, victim.live(s), "the reset ends every session and token of the user")
	require.Equal(t, 4, bystander.live(s), "and no one else's")
	victim = openSessions(t, s, "staff", "Neu-Passwort-2026")
	refused("spent already", first)
	refused("issued before the password changed", second)
	require.Equal(t, 200, s.call("", "POST", "/api/v1/session", map[string]string{"username": "staff", "password": "Neu-Passwort-2026"}, nil),
		"the password is the one the good link set")
	// whatever was refused or attempted, the trail holds
	s.requireIntactChain()
}

// TestGuessingCannotDodgeTheThrottle spreads wrong passwords over the API
// and the sign-in form, varying the name's case and spacing and claiming
// other addresses in forwarding headers: they all count against one name
// from one address, and the 21st attempt by either way answers 429, even
// with the right password. Guesses sent all at once cannot slip past the
// count while it is being taken either.
func TestGuessingCannotDodgeTheThrottle(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	apiLogin := func(name, pw string, headers ...string) (int, string) {
		req, err := http.NewRequest("POST", s.url+"/api/v1/session", strings.NewReader(
			`{"username":`+strconv.Quote(name)+`,"password":`+strconv.Quote(pw)+`}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	form := newBrowser(t, s.url)
	_, page, _ := form.get("/login")
	formCSRF := csrfField.FindStringSubmatch(page)[1]
	formLogin := func(b *browser, csrf, name, pw string) (int, string) {
		req, err := http.NewRequest("POST", s.url+"/login", strings.NewReader(url.Values{"_csrf": {csrf}, "username": {name}, "password": {pw}}.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := b.client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == 429 {
			require.Contains(t, string(body), "登录失败次数过多")
		}
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}

	attempts := []func(i int) (int, string){
		func(i int) (int, string) { return apiLogin("Staff", "wrong-"+strconv.Itoa(i)) },
		func(i int) (int, string) { return formLogin(form, formCSRF, "  STAFF\t", "wrong-"+strconv.Itoa(i)) },
		func(i int) (int, string) {
			return apiLogin(" sTaFf ", "wrong-"+strconv.Itoa(i), "X-Forwarded-For", "198.51.100."+strconv.Itoa(i), "X-Real-IP", "203.0.113."+strconv.Itoa(i))
		},
		func(i int) (int, string) { return formLogin(form, formCSRF, "staff\u00a0", "wrong-"+strconv.Itoa(i)) },
	}
	for i := range auth.MaxUserAddrFailures {
		code, _ := attempts[i%len(attempts)](i)
		require.Equal(t, 401, code, "attempt %d", i+1)
	}
	var rows []struct{ Username, Address string }
	require.NoError(t, s.db.Select(&rows, `SELECT DISTINCT username, address FROM login_failures`))
	require.Equal(t, []struct{ Username, Address string }{{"staff", "127.0.0.1"}}, rows, "one name, one address, however sent")

	for _, tc := range []struct {
		how     string
		attempt func() (int, string)
	}{
		{"the form, wrong", func() (int, string) { return formLogin(form, formCSRF, "staff", "wrong-again") }},
		{"the API, wrong", func() (int, string) { return apiLogin("STAFF", "wrong-again") }},
		{"the API, right", func() (int, string) { return apiLogin("staff", testPassword) }},
		{"the form, right", func() (int, string) { return formLogin(form, formCSRF, " Staff", testPassword) }},
		{"the API from a claimed address", func() (int, string) {
			return apiLogin("staff", testPassword, "X-Forwarded-For", "192.0.2.1", "X-Real-IP", "192.0.2.1")
		}},
	} {
		code, retry := tc.attempt()
		require.Equal(t, 429, code, tc.how)
		wait, err := strconv.Atoi(retry)
		require.NoError(t, err, "%s: Retry-After", tc.how)
		require.Greater(t, wait, 0, tc.how)
		require.LessOrEqual(t, wait, int(auth.Window.Seconds()), tc.how)
	}
	require.Equal(t, auth.MaxUserAddrFailures, s.countRows(`SELECT count(*) FROM login_failures`), "refused attempts are not even tried")

	// All at once: one short of the limit (the earlier failures are put
	// in the table rather than made, which would only take time), then
	// eight guesses in parallel, half by the form. One may be tried; the
	// rest must wait. The test holds back every write to the failures
	// while the guesses arrive, so each has counted before any is written
	// down: the worst interleaving, made certain instead of hoped for.
	_, err := s.db.Exec(`INSERT INTO login_failures (username, address, at)
SELECT 'leader', '127.0.0.1', now() FROM generate_series(1, $1::int)`, auth.MaxUserAddrFailures-1)
	require.NoError(t, err)
	const parallel = 8
	browsers := make([]*browser, parallel)
	tokens := make([]string, parallel)
	for i := range browsers {
		browsers[i] = newBrowser(t, s.url)
		_, page, _ := browsers[i].get("/login")
		tokens[i] = csrfField.FindStringSubmatch(page)[1]
	}
	gate, err := s.db.Beginx()
	require.NoError(t, err)
	defer gate.Rollback()
	_, err = gate.Exec(`LOCK TABLE login_failures IN SHARE MODE`)
	require.NoError(t, err)
	codes := make([]int, parallel)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if i%2 == 0 {
				codes[i], _ = apiLogin("leader", "guess-"+strconv.Itoa(i))
			} else {
				codes[i], _ = formLogin(browsers[i], tokens[i], "Leader", "guess-"+strconv.Itoa(i))
			}
		}()
	}
	close(start)
	waiting := func() int {
		return s.countRows(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)
	}
	for deadline := time.Now().Add(time.Minute); waiting() < parallel; time.Sleep(20 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "every guess reaches the count")
	}
	require.NoError(t, gate.Rollback())
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	require.Equal(t, map[int]int{401: 1, 429: parallel - 1}, count, "guesses in parallel are counted as they are made")
	require.Equal(t, auth.MaxUserAddrFailures, s.countRows(`SELECT count(*) FROM login_failures WHERE username = 'leader'`))
	// whatever was refused or attempted, the trail holds
	s.requireIntactChain()
}
