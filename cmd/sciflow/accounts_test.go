package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoginThrottling(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	login := func(pw string) (int, http.Header) {
		req, _ := http.NewRequest("POST", s.url+"/api/v1/session", strings.NewReader(`{"username":"staff","password":"`+pw+`"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	for i := range 20 {
		code, _ := login("wrong-password-" + strconv.Itoa(i))
		require.Equal(t, 401, code, "attempt %d", i+1)
	}
	code, h := login("wrong-password-21")
	require.Equal(t, 429, code)
	wait, err := strconv.Atoi(h.Get("Retry-After"))
	require.NoError(t, err)
	require.Greater(t, wait, 0)
	require.LessOrEqual(t, wait, 15*60)
	code, _ = login(testPassword)
	require.Equal(t, 429, code, "while throttled even the right password waits")

	// Guessing from elsewhere does not shut the owner out: the same name
	// from another address is judged on that address's own failures.
	_, err = s.db.Exec(`UPDATE login_failures SET address = '203.0.113.9'`)
	require.NoError(t, err)
	code, _ = login(testPassword)
	require.Equal(t, 200, code)
	_, err = s.db.Exec(`UPDATE login_failures SET address = '127.0.0.1'`)
	require.NoError(t, err)

	// The window slides: once the failures are older than it, the right
	// password works again (aged here rather than slept through).
	_, err = s.db.Exec(`UPDATE login_failures SET at = at - interval '16 minutes'`)
	require.NoError(t, err)
	code, _ = login(testPassword)
	require.Equal(t, 200, code)

	// A failed login, the throttling and the success are all in the trail.
	var kinds []string
	require.NoError(t, s.db.Select(&kinds, `SELECT DISTINCT kind FROM audit_log WHERE kind LIKE 'login%' ORDER BY kind`))
	require.Equal(t, []string{"login", "login.failed"}, kinds)
}

func TestRegistrationAndVerification(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	var e apiError
	reg := map[string]string{"kind": "enterprise", "username": "tea-co", "password": testPassword, "name": "黄厂长",
		"phone": "023-55512345", "org_name": "云阳县龙缸茶业有限公司", "credit_code": "91350100M000100Y44", "parent": s.orgs["unit"]}
	require.Equal(t, 422, s.call("", "POST", "/api/v1/registrations", reg, &e))
	require.Contains(t, e.Error.Fields, "credit_code", "a wrong check character is named")

	reg["credit_code"] = "91350100m000100y43"
	var res struct {
		User         struct{ ID, Username string }
		Verification appJSON
	}
	require.Equal(t, 201, s.call("", "POST", "/api/v1/registrations", reg, &res))
	require.Equal(t, "pending", res.Verification.State)

	dup := map[string]string{"kind": "enterprise", "username": "copycat", "password": testPassword, "name": "某人",
		"phone": "023-55512346", "org_name": "另一家公司", "credit_code": "91350100M000100Y43"}
	require.Equal(t, 422, s.call("", "POST", "/api/v1/registrations", dup, &e))
	require.Contains(t, e.Error.Fields, "credit_code", "a duplicate code is named")

	// The new account drafts at once but cannot submit.
	app := s.newApp("tea-co")
	require.Equal(t, 403, s.call("tea-co", "POST", "/api/v1/applications/"+app.ID+"/events", map[string]any{"event": "submit"}, &e))
	require.Contains(t, e.Error.Message, "认证")

	// The unit it named verifies it; then it may submit.
	var pending struct{ Items []appJSON }
	require.Equal(t, 200, s.call("unit", "GET", "/api/v1/applications?workflow=org_verification", nil, &pending))
	require.Len(t, pending.Items, 1)
	var acts []string
	for _, a := range pending.Items[0].Actions {
		acts = append(acts, a.Event)
	}
	require.Equal(t, []string{"refuse", "verify"}, acts)
	require.Equal(t, 200, s.call("unit", "POST", "/api/v1/applications/"+res.Verification.ID+"/events", map[string]any{"event": "verify"}, nil))
	require.Equal(t, 200, s.call("tea-co", "POST", "/api/v1/applications/"+app.ID+"/events", map[string]any{"event": "submit"}, nil))

	// An individual joins their employer but sees only their own applications.
	ind := map[string]string{"kind": "individual", "username": "talent", "password": testPassword, "name": "孙研究员",
		"phone": "13800000000", "employer": "alpha"}
	require.Equal(t, 201, s.call("", "POST", "/api/v1/registrations", ind, nil))
	colleagues := s.newApp("applicant")
	require.Equal(t, 404, s.call("talent", "GET", "/api/v1/applications/"+colleagues.ID, nil, &e))
	mine := s.newApp("talent")
	require.Equal(t, 200, s.call("talent", "GET", "/api/v1/applications/"+mine.ID, nil, nil))
	require.Equal(t, 403, s.call("talent", "POST", "/api/v1/applications/"+mine.ID+"/events", map[string]any{"event": "submit"}, &e))

	var bad apiError
	require.Equal(t, 422, s.call("", "POST", "/api/v1/registrations", map[string]string{"kind": "individual", "username": "x",
		"password": "short", "name": "", "phone": "no"}, &bad))
	for _, f := range []string{"username", "password", "name", "phone", "employer"} {
		require.Contains(t, bad.Error.Fields, f)
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	tok := s.token("applicant")
	s.restart()
	s.tokens["applicant"] = tok
	require.Equal(t, 200, s.call("applicant", "GET", "/api/v1/me", nil, nil), "a token survives a restart")

	require.Equal(t, 204, s.call("applicant", "DELETE", "/api/v1/session", nil, nil))
	var e apiError
	require.Equal(t, 401, s.call("applicant", "GET", "/api/v1/me", nil, &e), "and dies with logout")

	colleague := s.token("colleague")
	var users []struct{ ID, Username string }
	require.Equal(t, 200, s.call("admin", "GET", "/api/v1/users", nil, &users))
	var id string
	for _, u := range users {
		if u.Username == "colleague" {
			id = u.ID
		}
	}
	require.Equal(t, 200, s.call("admin", "PATCH", "/api/v1/users/"+id, map[string]any{"disabled": true}, nil))
	s.tokens["colleague"] = colleague
	require.Equal(t, 401, s.call("colleague", "GET", "/api/v1/me", nil, &e), "a disabled user's token stops at once")

	// Administrators cannot make themselves anything else.
	var admin struct{ ID string }
	require.Equal(t, 200, s.call("admin", "GET", "/api/v1/me", nil, &admin))
	require.Equal(t, 403, s.call("admin", "PATCH", "/api/v1/users/"+admin.ID, map[string]any{"roles": []string{"admin", "staff"}}, &e))
	require.Equal(t, 422, s.call("admin", "POST", "/api/v1/users", map[string]any{"username": "boss", "name": "x",
		"roles": []string{"admin", "leader"}, "org": "bureau", "password": testPassword}, &e), "admin stands alone")

	// A reset link: issued by the administrator, spent once by the user.
	var link struct{ Link string }
	require.Equal(t, 201, s.call("admin", "POST", "/api/v1/users/staff/password-reset", nil, &link))
	u, err := url.Parse(link.Link)
	require.NoError(t, err)
	token := u.Query().Get("token")
	require.NotEmpty(t, token)
	staffTok := s.token("staff")
	require.Equal(t, 204, s.call("", "POST", "/api/v1/password-reset", map[string]string{"token": token, "password": "Neu-Passwort-2026"}, nil))
	require.Equal(t, 422, s.call("", "POST", "/api/v1/password-reset", map[string]string{"token": token, "password": "Noch-Eins-2026"}, &e), "once only")
	s.tokens["staff"] = staffTok
	require.Equal(t, 401, s.call("staff", "GET", "/api/v1/me", nil, &e), "a new password signs the old tokens out")
}

// browser is a client with cookies, like a person's browser.
type browser struct {
	t      *testing.T
	client *http.Client
	base   string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (b *browser) get(path string) (int, string, http.Header) {
	resp, err := b.client.Get(b.base + path)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func (b *browser) post(path string, form url.Values, headers ...string) (int, string) {
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := b.client.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func TestBrowserSignIn(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	b := newBrowser(t, s.url)
	code, page, h := b.get("/login")
	require.Equal(t, 200, code)
	require.Contains(t, page, "登录")
	require.Contains(t, h.Get("Content-Security-Policy"), "frame-ancestors 'none'")
	require.NotContains(t, h.Get("Content-Security-Policy"), "unsafe-inline")
	require.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
	require.Equal(t, "no-referrer", h.Get("Referrer-Policy"))
	m := csrfField.FindStringSubmatch(page)
	require.NotNil(t, m)
	csrf := m[1]

	code, _ = b.post("/login", url.Values{"username": {"applicant"}, "password": {testPassword}})
	require.Equal(t, 403, code, "a form without the CSRF token is refused")
	code, page = b.post("/login", url.Values{"_csrf": {csrf}, "username": {"applicant"}, "password": {"wrong-password-1"}})
	require.Equal(t, 401, code)
	require.Contains(t, page, "用户名或密码错误")
	code, _ = b.post("/login", url.Values{"_csrf": {csrf}, "username": {"applicant"}, "password": {testPassword}})
	require.Equal(t, 303, code)

	code, page, _ = b.get("/")
	require.Equal(t, 200, code)
	require.Contains(t, page, "applicant")
	csrf = csrfField.FindStringSubmatch(page)[1]

	// The API accepts the session, and wants the CSRF token for changes.
	code, _, _ = b.get("/api/v1/me")
	require.Equal(t, 200, code)
	req, _ := http.NewRequest("POST", s.url+"/api/v1/applications", strings.NewReader(`{"workflow":"grant"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 403, resp.StatusCode)
	req, _ = http.NewRequest("POST", s.url+"/api/v1/applications", strings.NewReader(`{"workflow":"grant"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err = b.client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 201, resp.StatusCode)

	code, _ = b.post("/logout", url.Values{"_csrf": {csrf}})
	require.Equal(t, 303, code)
	code, _, _ = b.get("/api/v1/me")
	require.Equal(t, 401, code, "signed out")
}

func TestBrowserRegistration(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	b := newBrowser(t, s.url)
	_, page, _ := b.get("/register?lang=en")
	require.Contains(t, page, "Register")
	require.Contains(t, page, "unit", "recommending units are offered")
	csrf := csrfField.FindStringSubmatch(page)[1]
	form := url.Values{"_csrf": {csrf}, "kind": {"enterprise"}, "org_name": {"锦艺新材料"}, "credit_code": {"123"},
		"name": {"周工程师"}, "phone": {"023-55500000"}, "username": {"jinyi"}, "password": {testPassword}}
	code, page := b.post("/register", form)
	require.Equal(t, 422, code)
	require.Contains(t, page, `id="credit_code-error"`, "the faulty field is marked")
	require.Contains(t, page, `value="锦艺新材料"`, "what was typed is kept")
	form.Set("credit_code", "911100007109288314")
	code, page = b.post("/register", form)
	require.Equal(t, 201, code, page)
	require.Contains(t, page, "registered")
}

func TestHugeFormIsRefused(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	b := newBrowser(t, s.url)
	code, _ := b.post("/login", url.Values{"username": {strings.Repeat("x", 2<<20)}})
	require.Equal(t, 413, code, "the site's upload limit is 1 MiB")
}

type userDetail struct {
	ID       string
	Username string
	Email    *string
}

// userNamed finds an account in the administrator's list.
func (s *site) userNamed(username string) userDetail {
	s.t.Helper()
	var users []userDetail
	require.Equal(s.t, 200, s.call("auditor", "GET", "/api/v1/users", nil, &users))
	for _, u := range users {
		if u.Username == username {
			return u
		}
	}
	s.t.Fatalf("no user %s", username)
	return userDetail{}
}

// emailEntries is the e-mail part of every account entry about a user, in
// the chain's order, as the auditor reads it.
func (s *site) emailEntries(userID string) []string {
	s.t.Helper()
	var page struct {
		Items []struct {
			Kind    string
			Subject string
			Data    map[string]any
		}
	}
	require.Equal(s.t, 200, s.call("auditor", "GET", "/api/v1/audit?limit=1000", nil, &page))
	var out []string
	for _, e := range page.Items {
		if e.Subject != userID || (e.Kind != "user.create" && e.Kind != "user.change") {
			continue
		}
		before, _ := e.Data["email_before"].(string)
		after, ok := e.Data["email"].(string)
		if ok {
			out = append(out, e.Kind+" "+before+" -> "+after)
		}
	}
	return out
}

func TestUserEmailOverTheAPI(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	var e apiError
	newUser := map[string]any{"username": "qian", "name": "钱经办", "roles": []string{"staff"}, "org": "bureau",
		"password": testPassword, "email": " Qian@Bureau.Example.CN "}
	var created userDetail
	require.Equal(t, 201, s.call("admin", "POST", "/api/v1/users", newUser, &created))
	require.NotNil(t, created.Email)
	require.Equal(t, "Qian@bureau.example.cn", *created.Email, "trimmed, the domain lower-cased")
	require.Equal(t, "Qian@bureau.example.cn", *s.userNamed("qian").Email, "the list shows it")
	require.Nil(t, s.userNamed("staff").Email, "an account without an address shows null")

	var me struct {
		Username string
		Email    *string
	}
	require.Equal(t, 200, s.call("qian", "GET", "/api/v1/me", nil, &me))
	require.NotNil(t, me.Email, "the caller sees their own address")
	require.Equal(t, "Qian@bureau.example.cn", *me.Email)

	for _, bad := range []string{"qian.example.com", "qian @example.com", "A <a@b.c>", strings.Repeat("q", 290) + "@example.com"} {
		newUser["username"], newUser["email"] = "other", bad
		require.Equal(t, 422, s.call("admin", "POST", "/api/v1/users", newUser, &e), bad)
		require.Equal(t, "invalid", e.Error.Code)
		require.Contains(t, e.Error.Fields, "email", bad)
		e = apiError{}
		require.Equal(t, 422, s.call("admin", "PATCH", "/api/v1/users/"+created.ID, map[string]any{"email": bad}, &e), bad)
		require.Contains(t, e.Error.Fields, "email", bad)
	}
	require.Equal(t, 422, s.call("admin", "POST", "/api/v1/users", newUser, &e, "Accept-Language", "en"))
	require.Contains(t, e.Error.Fields["email"], "254 bytes", "the message follows Accept-Language")
	require.Equal(t, 422, s.call("admin", "PATCH", "/api/v1/users/"+created.ID, map[string]any{"email": "A <a@b.c>"}, &e))
	require.Contains(t, e.Error.Fields["email"], "姓名", "Chinese by default, naming the display name as the fault")

	var changed userDetail
	require.Equal(t, 200, s.call("admin", "PATCH", "/api/v1/users/"+created.ID, map[string]any{"email": "qian@example.org"}, &changed))
	require.Equal(t, "qian@example.org", *changed.Email)
	require.Equal(t, 200, s.call("admin", "PATCH", "/api/v1/users/"+created.ID, map[string]any{"name": "钱经办人"}, &changed))
	require.Equal(t, "qian@example.org", *changed.Email, "a change without the field keeps the address")
	require.Equal(t, 403, s.call("staff", "PATCH", "/api/v1/users/"+created.ID, map[string]any{"email": "x@example.org"}, &e),
		"only administrators change addresses")
	require.Equal(t, 200, s.call("admin", "PATCH", "/api/v1/users/"+created.ID, map[string]any{"email": ""}, &changed))
	require.Nil(t, changed.Email, "an empty string clears it")
	require.Equal(t, 200, s.call("qian", "GET", "/api/v1/me", nil, &me))
	require.Nil(t, me.Email)

	require.Equal(t, []string{
		"user.create  -> Qian@bureau.example.cn",
		"user.change Qian@bureau.example.cn -> qian@example.org",
		"user.change qian@example.org -> ",
	}, s.emailEntries(created.ID))
	s.requireIntactChain()
}

func TestRegistrationWithEmail(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	reg := map[string]string{"kind": "individual", "username": "talent", "password": testPassword, "name": "孙研究员",
		"phone": "13800000000", "employer": "alpha", "email": "sun@"}
	var e apiError
	require.Equal(t, 422, s.call("", "POST", "/api/v1/registrations", reg, &e))
	require.Contains(t, e.Error.Fields, "email")
	require.NotContains(t, e.Error.Fields, "username", "only the address is at fault")

	reg["email"] = "Sun@Alpha.Example.CN"
	var res struct {
		User struct {
			ID    string
			Email *string
		}
	}
	require.Equal(t, 201, s.call("", "POST", "/api/v1/registrations", reg, &res))
	require.NotNil(t, res.User.Email)
	require.Equal(t, "Sun@alpha.example.cn", *res.User.Email)
	require.Equal(t, "Sun@alpha.example.cn", *s.userNamed("talent").Email)
	require.Equal(t, []string{"user.create  -> Sun@alpha.example.cn"}, s.emailEntries(res.User.ID))
}

func TestUserEmailAtTheConsole(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	env := []string{"DATABASE_URL=" + s.dsn, "SCIFLOW_DATA_DIR=" + s.dataDir, "SCIFLOW_WORKFLOWS_DIR=" + s.wfDir}

	out, errOut, code := runCLI(t, env, testPassword+"\n", "user", "add", "--username", "zhao", "--name", "赵经办",
		"--roles", "staff", "--org", "bureau", "--email", "Zhao@Bureau.Example.CN", "--password-stdin")
	require.Equal(t, 0, code, errOut)
	id := strings.TrimSpace(out)
	zhao := s.userNamed("zhao")
	require.Equal(t, id, zhao.ID)
	require.Equal(t, "Zhao@bureau.example.cn", *zhao.Email)

	out, errOut, code = runCLI(t, env, "", "user", "email", "staff", " Staff@Bureau.Example.CN ")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "staff: Staff@bureau.example.cn\n", out, "prints what is stored")
	require.Equal(t, "Staff@bureau.example.cn", *s.userNamed("staff").Email)

	_, errOut, code = runCLI(t, env, "", "user", "email", "staff", "A <a@b.c>")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "user email: invalid e-mail address (email: ")
	require.Equal(t, "Staff@bureau.example.cn", *s.userNamed("staff").Email, "a refused address changes nothing")

	_, _, code = runCLI(t, env, "", "user", "email", "staff")
	require.Equal(t, 2, code, "the address or --clear is required")

	out, errOut, code = runCLI(t, env, "", "user", "email", "staff", "--clear")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "staff: no e-mail address\n", out)
	require.Nil(t, s.userNamed("staff").Email)

	staff := s.userNamed("staff")
	require.Equal(t, []string{
		"user.change  -> Staff@bureau.example.cn",
		"user.change Staff@bureau.example.cn -> ",
	}, s.emailEntries(staff.ID))
	s.requireIntactChain()
}
