package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/httpapi/apitest"
)

// Hostile input, end to end: what a careless or malicious client sends
// (bodies too big or too deep, the wrong type, text PostgreSQL cannot
// store, markup and SQL in every text field, file names that climb
// directories or hide their extension, identifiers that name nothing) is
// refused with API.md's error shape or stored exactly as sent and shown
// escaped; never a 500.

// hostileYAML is a workflow with the shortest way to every place text is
// shown, 公示 included: submit, then staff publish it.
const hostileYAML = `key: hostile
title: {zh: 输入测试, en: Input test}
initial: draft
form: hostile.form.json
created_by: [applicant]
notice: {title: title, amount: amount}
states:
  draft: {title: {zh: 草稿, en: Draft}, kind: edit, editable_by: [applicant]}
  review: {title: {zh: 审核, en: Review}, kind: review}
  public_notice:
    title: {zh: 公示, en: Public notice}
    kind: notice
    timer: {after: {working_days: 5}, event: notice_end}
    on_objection: object
  objection_review: {title: {zh: 异议处理, en: Objection review}, kind: review}
  approved: {title: {zh: 已立项, en: Approved}, kind: terminal}
events:
  submit: {title: {zh: 提交, en: Submit}, from: [draft], to: review, roles: [applicant]}
  publish: {title: {zh: 公示, en: Publish}, from: [review], to: public_notice, roles: [staff], comment: optional}
  notice_end: {title: {zh: 公示期满, en: Notice ends}, from: [public_notice], to: approved, system: true}
  object: {title: {zh: 收到异议, en: Objection received}, from: [public_notice], to: objection_review, system: true}
  dismiss:
    title: {zh: 异议不成立, en: Dismiss}
    from: [objection_review]
    to: public_notice
    roles: [staff]
    comment: required
    resolves_objections: dismissed
`

// hostileForm takes free text, a list of rows and, in extra, anything.
const hostileForm = `{"type": "object", "properties": {
  "title": {"type": "string", "maxLength": 200},
  "summary": {"type": "string", "maxLength": 5000},
  "amount": {"type": "integer", "minimum": 1},
  "extra": {},
  "team": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}}
}, "additionalProperties": false}`

// hostileSite is a site that also runs the hostile workflow.
func hostileSite(t *testing.T) *site {
	t.Helper()
	s := newSite(t)
	require.NoError(t, os.WriteFile(filepath.Join(s.wfDir, "hostile.yaml"), []byte(hostileYAML), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(s.wfDir, "hostile.form.json"), []byte(hostileForm), 0o644))
	s.restart()
	return s
}

// requireErrorShape checks an answer is API.md's error and nothing else
// (apitest.ErrorCode), with the code given.
func requireErrorShape(t testing.TB, status int, header http.Header, raw []byte, code string, format string, args ...any) {
	t.Helper()
	got, err := apitest.ErrorCode(status, header, raw)
	require.NoError(t, err, fmt.Sprintf(format, args...))
	require.Equal(t, code, got, "%s: %s", fmt.Sprintf(format, args...), raw)
}

// hostileText is what an attacker types into a text field: SQL
// metacharacters (quotes, comment, LIKE's wildcards, backslash) and markup
// that would run if a page printed it as it is. tag tells the fields apart.
func hostileText(tag string) string {
	return tag + `'; DROP TABLE applications;-- %_\ <script>alert(1)</script>"><img src=x onerror=alert(1)>`
}

// rawMarkup is what must never reach a page unescaped.
var rawMarkup = []string{"<script>alert(1)</script>", "<img src=x onerror=alert(1)>"}

// TestOversizedAndMistypedBodiesAreRefused sends bodies too large (with a
// length, within the upload limit but past the JSON one, and without a
// length at all) and bodies of the wrong type to every kind of JSON
// endpoint, signed in and not: each answer is the error shape with
// too_large or bad_request, and nothing is created.
func TestOversizedAndMistypedBodiesAreRefused(t *testing.T) {
	t.Parallel()
	s := hostileSite(t)
	app := s.newApp("applicant")
	var users []struct{ ID, Username string }
	require.Equal(t, 200, s.call("admin", "GET", "/api/v1/users", nil, &users))
	colleague := ""
	for _, u := range users {
		if u.Username == "colleague" {
			colleague = u.ID
		}
	}
	endpoints := []struct {
		user, method, path string
		ok                 string // a body the endpoint takes, to show the refusals are for size and type alone
		okStatus           int
		headers            []string
	}{
		{"applicant", "POST", "/api/v1/applications", `{"workflow":"hostile","data":{"title":"正常的申请"}}`, 201, nil},
		{"applicant", "PATCH", "/api/v1/applications/" + app.ID, `{"data":{"budget":900000}}`, 200, []string{"If-Match", `"1"`}},
		{"applicant", "POST", "/api/v1/applications/" + app.ID + "/events", `{"event":"submit"}`, 200, nil},
		{"admin", "POST", "/api/v1/orgs", `{"name":"正常的单位","kind":"enterprise"}`, 201, nil},
		{"admin", "PATCH", "/api/v1/users/" + colleague, `{"name":"正常的名字"}`, 200, nil},
		{"", "POST", "/api/v1/session", `{"username":"staff","password":"` + testPassword + `"}`, 200, nil},
	}
	filler := func(n int) []byte { return []byte(`{"name":"` + strings.Repeat("x", n) + `"}`) }
	for _, ep := range endpoints {
		bodies := []struct {
			name string
			body func() io.Reader
		}{
			{"past the server's body limit, with a length", func() io.Reader { return bytes.NewReader(filler(3 << 20)) }},
			{"past the JSON limit, within the upload limit", func() io.Reader { return bytes.NewReader(filler(1<<20 + 100)) }},
			{"past both, without a length", func() io.Reader { return io.MultiReader(bytes.NewReader(filler(3 << 20))) }},
		}
		for _, b := range bodies {
			code, h, raw := s.send(ep.user, ep.method, ep.path, b.body(), ep.headers...)
			requireErrorShape(t, code, h, raw, "too_large", "%s %s: %s", ep.method, ep.path, b.name)
		}
		for _, ct := range []string{"text/plain", "application/xml", "application/x-www-form-urlencoded",
			"multipart/form-data; boundary=x", "application/json-patch+json", "application/json; charset", "json"} {
			code, h, raw := s.send(ep.user, ep.method, ep.path, strings.NewReader(ep.ok), append([]string{"Content-Type", ct}, ep.headers...)...)
			requireErrorShape(t, code, h, raw, "bad_request", "%s %s as %s", ep.method, ep.path, ct)
		}
	}
	// Nothing was created or changed by any of that; the same bodies
	// with the right type go through.
	var list struct{ Items []appJSON }
	require.Equal(t, 200, s.call("applicant", "GET", "/api/v1/applications?workflow=hostile", nil, &list))
	require.Empty(t, list.Items)
	require.Equal(t, 1, s.historyLen("applicant", app.ID))
	for _, ep := range endpoints {
		code, _, raw := s.send(ep.user, ep.method, ep.path, strings.NewReader(ep.ok),
			append([]string{"Content-Type", "application/json; charset=utf-8"}, ep.headers...)...)
		require.Equal(t, ep.okStatus, code, "%s %s: %s", ep.method, ep.path, raw)
	}

	// Uploads: a file over the limit, and a request over the server's
	// body limit, on the API and on the page; a JSON body where a form is
	// expected.
	draft := s.create("applicant", "hostile", map[string]any{"title": "上传测试"})
	for _, size := range []int{1<<20 + 1, 4 << 20} {
		body, ct := multipartBody(t, "file", "big.bin", bytes.Repeat([]byte{'a'}, size), map[string]string{"label": "大文件"})
		code, h, raw := s.send("applicant", "POST", "/api/v1/applications/"+draft.ID+"/attachments", bytes.NewReader(body), "Content-Type", ct)
		requireErrorShape(t, code, h, raw, "too_large", "upload of %d bytes", size)
		code, h, raw = s.send("applicant", "POST", "/api/v1/applications/"+draft.ID+"/attachments", io.MultiReader(bytes.NewReader(body)), "Content-Type", ct)
		requireErrorShape(t, code, h, raw, "too_large", "upload of %d bytes without a length", size)
	}
	// A page's form past the limit, with a length and without.
	for _, body := range []func() io.Reader{
		func() io.Reader { return strings.NewReader("username=" + strings.Repeat("x", 3<<20)) },
		func() io.Reader { return io.MultiReader(strings.NewReader("username=" + strings.Repeat("x", 3<<20))) },
	} {
		code, h, raw := s.send("", "POST", "/login", body(), "Content-Type", "application/x-www-form-urlencoded")
		requireErrorShape(t, code, h, raw, "too_large", "a sign-in form of 3 MiB")
	}
	b := s.browserAs(t, "applicant")
	body, ct := multipartBody(t, "file", "big.bin", bytes.Repeat([]byte{'a'}, 4<<20), map[string]string{"slot": "x"})
	code, _ := b.postRaw("/apps/"+draft.ID+"/attachments", ct, body)
	require.Equal(t, 413, code, "the page refuses the same upload")
	code, h, raw := s.send("applicant", "POST", "/api/v1/applications/"+draft.ID+"/attachments", strings.NewReader(`{"file":"x"}`))
	requireErrorShape(t, code, h, raw, "bad_request", "JSON for an upload")
	var files []map[string]any
	require.Equal(t, 200, s.call("applicant", "GET", "/api/v1/applications/"+draft.ID+"/attachments", nil, &files))
	require.Empty(t, files)
	// whatever was refused or attempted, the trail holds
	s.requireIntactChain()
}

// multipartBody builds an upload of one file part (name field) and text parts.
func multipartBody(t testing.TB, field, filename string, content []byte, text map[string]string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile(field, filename)
	require.NoError(t, err)
	_, err = fw.Write(content)
	require.NoError(t, err)
	keys := make([]string, 0, len(text))
	for k := range text {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		require.NoError(t, mw.WriteField(k, text[k]))
	}
	require.NoError(t, mw.Close())
	return buf.Bytes(), mw.FormDataContentType()
}

// browserAs is a browser signed in as user through the sign-in page.
func (s *site) browserAs(t *testing.T, user string) *browser {
	t.Helper()
	b := newBrowser(t, s.url)
	code, page, _ := b.get("/login")
	require.Equal(t, 200, code)
	code, _ = b.post("/login", url.Values{"_csrf": {csrfField.FindStringSubmatch(page)[1]}, "username": {user}, "password": {testPassword}})
	require.Equal(t, 303, code, "sign in as %s", user)
	return b
}

// pageToken is the CSRF token of the browser's session, from a page.
func (b *browser) pageToken() string {
	_, page, _ := b.get("/")
	m := csrfField.FindStringSubmatch(page)
	require.NotNil(b.t, m)
	return m[1]
}

// postRaw posts a body of any type as the browser.
func (b *browser) postRaw(path, contentType string, body []byte) (int, string) {
	req, err := http.NewRequest("POST", b.base+path, bytes.NewReader(body))
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", contentType)
	resp, err := b.client.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// TestDeepAndBrokenJSONIsRefused: JSON nested 100,000 deep is refused
// with a 400 (the decoder stops at 10,000 levels, long before any stack
// would); what nests less deeply is stored and read back whole. Text that
// could not be stored exactly as sent (bytes that are not UTF-8, which
// encoding/json would silently turn into U+FFFD, a NUL, which PostgreSQL
// cannot store, half a surrogate pair) is refused with a 400 in every
// place text comes in: JSON strings and keys, query parameters, path
// segments, headers, page forms and upload fields. Escapes that only look
// like those, and other control characters, are kept exactly.
func TestDeepAndBrokenJSONIsRefused(t *testing.T) {
	t.Parallel()
	s := hostileSite(t)
	const create = "/api/v1/applications"
	for name, body := range map[string]string{
		"arrays as the body":      strings.Repeat("[", 100000),
		"arrays in the data":      `{"workflow":"hostile","data":{"extra":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}}`,
		"objects in the data":     `{"workflow":"hostile","data":{"extra":` + strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000) + `}}`,
		"10,001 levels, balanced": strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	} {
		code, h, raw := s.send("applicant", "POST", create, strings.NewReader(body))
		requireErrorShape(t, code, h, raw, "bad_request", "%s", name)
	}
	deep := strings.Repeat("[", 9000) + `"底"` + strings.Repeat("]", 9000)
	var app appJSON
	require.Equal(t, 201, s.call("applicant", "POST", create, `{"workflow":"hostile","data":{"title":"深","extra":`+deep+`}}`, &app))
	_, _, raw := s.send("applicant", "GET", "/api/v1/applications/"+app.ID, nil)
	var got struct{ Data map[string]json.RawMessage }
	require.NoError(t, json.Unmarshal(raw, &got))
	require.Equal(t, deep, string(got.Data["extra"]), "9,000 levels are kept whole")

	refused := map[string]string{
		"a byte that is not UTF-8":    "\"a\xffb\"",
		"an overlong encoding of /":   "\"a\xc0\xafb\"",
		"an encoded surrogate":        "\"a\xed\xa0\x80b\"",
		"a NUL":                       `"a\u0000b"`,
		"a lone high surrogate":       `"a\ud800b"`,
		"a lone low surrogate":        `"a\udc00b"`,
		"a high surrogate then text":  `"a\ud800\u0041"`,
		"two high surrogates":         `"\ud800\ud800"`,
		"a high surrogate at the end": `"\ud83d"`,
	}
	for name, str := range refused {
		for where, body := range map[string]string{
			"a value":        `{"workflow":"hostile","data":{"title":` + str + `}}`,
			"a key":          `{"workflow":"hostile","data":{"extra":{` + str + `:1}}}`,
			"a nested value": `{"workflow":"hostile","data":{"team":[{"name":` + str + `}]}}`,
		} {
			code, h, raw := s.send("applicant", "POST", create, strings.NewReader(body))
			requireErrorShape(t, code, h, raw, "bad_request", "%s in %s", name, where)
		}
	}
	var list struct{ Items []appJSON }
	require.Equal(t, 200, s.call("applicant", "GET", "/api/v1/applications?workflow=hostile", nil, &list))
	require.Len(t, list.Items, 1, "only the deep one was created")

	// Escapes that only look like the refused ones, a pair that makes one
	// character, and other control characters are text PostgreSQL keeps.
	kept := `a\\u0000b \ud83d\ude00 \u0001\u001f\u007f\u202e \\\ud83d\ude00`
	var keptApp appJSON
	require.Equal(t, 201, s.call("applicant", "POST", create, `{"workflow":"hostile","data":{"title":"`+kept+`"}}`, &keptApp))
	var want string
	require.NoError(t, json.Unmarshal([]byte(`"`+kept+`"`), &want))
	require.Equal(t, "a\\u0000b 😀 \x01\x1f\x7f\u202e \\😀", want)
	var back appJSON
	require.Equal(t, 200, s.call("applicant", "GET", "/api/v1/applications/"+keptApp.ID, nil, &back))
	require.Equal(t, want, back.Data["title"])

	// The other ways in: a comment, a sign-in, an objection, a query, a
	// path, a header.
	events := "/api/v1/applications/" + keptApp.ID + "/events"
	for name, str := range refused {
		code, h, raw := s.send("applicant", "POST", events, strings.NewReader(`{"event":"submit","comment":`+str+`}`))
		requireErrorShape(t, code, h, raw, "bad_request", "comment with %s", name)
		code, h, raw = s.send("", "POST", "/api/v1/session", strings.NewReader(`{"username":`+str+`,"password":"x"}`))
		requireErrorShape(t, code, h, raw, "bad_request", "username with %s", name)
		code, h, raw = s.send("", "POST", "/api/v1/notices/"+keptApp.ID+"/objections",
			strings.NewReader(`{"name":"张三","phone":"13800138000","reason":"理由充分的书面异议内容`+strings.Trim(str, `"`)+`"}`))
		requireErrorShape(t, code, h, raw, "bad_request", "objection with %s", name)
	}
	require.Equal(t, 1, s.historyLen("applicant", keptApp.ID), "no comment went in")
	for _, q := range []string{"q=a%00b", "q=a%FFb", "workflow=%00", "state=%C0%AF", "cursor=%FF", "parent_id=%00", "a%00=1"} {
		code, h, raw := s.send("staff", "GET", "/api/v1/applications?"+q, nil)
		requireErrorShape(t, code, h, raw, "bad_request", "%s", q)
	}
	code, h, raw := s.send("auditor", "GET", "/api/v1/audit?q=%00", nil)
	requireErrorShape(t, code, h, raw, "bad_request", "audit search")
	code, h, raw = s.send("admin", "PATCH", "/api/v1/users/a%FFb", strings.NewReader(`{"name":"x"}`))
	requireErrorShape(t, code, h, raw, "bad_request", "a user named in the path")
	code, h, raw = s.send("admin", "POST", "/api/v1/users/a%00b/password-reset", nil)
	requireErrorShape(t, code, h, raw, "bad_request", "a user named in the path")
	code, h, raw = s.send("applicant", "POST", events, strings.NewReader(`{"event":"submit"}`), "Idempotency-Key", "k\xff\xfe")
	requireErrorShape(t, code, h, raw, "bad_request", "an Idempotency-Key")
	require.Equal(t, 1, s.historyLen("applicant", keptApp.ID))

	// Pages: a search, the sign-in form, an action's comment, an upload's
	// field.
	anon := newBrowser(t, s.url)
	_, page, _ := anon.get("/login")
	code, _ = anon.post("/login", url.Values{"_csrf": {csrfField.FindStringSubmatch(page)[1]}, "username": {"staff\xff"}, "password": {testPassword}})
	require.Equal(t, 400, code, "sign-in with a name that is not UTF-8")
	code, _ = anon.post("/login", url.Values{"_csrf": {csrfField.FindStringSubmatch(page)[1]}, "username": {"staff\x00"}, "password": {testPassword}})
	require.Equal(t, 400, code, "sign-in with a NUL")
	b := s.browserAs(t, "applicant")
	code, _, _ = b.get("/apps?q=%00")
	require.Equal(t, 400, code)
	code, _, _ = b.get("/apps?q=%FF")
	require.Equal(t, 400, code)
	csrf := b.pageToken()
	for _, comment := range []string{"a\x00b", "a\xffb"} {
		code, _ = b.post("/apps/"+keptApp.ID+"/events", url.Values{"_csrf": {csrf}, "event": {"submit"}, "comment": {comment}, "nonce": {"n-" + comment}})
		require.Equal(t, 400, code, "%q", comment)
	}
	require.Equal(t, 1, s.historyLen("applicant", keptApp.ID))
	for _, label := range []string{"a\x00b", "a\xffb"} {
		body, ct := multipartBody(t, "file", "x.txt", []byte("内容"), map[string]string{"label": label})
		code, h, raw := s.send("applicant", "POST", "/api/v1/applications/"+keptApp.ID+"/attachments", bytes.NewReader(body), "Content-Type", ct)
		requireErrorShape(t, code, h, raw, "bad_request", "label %q", label)
		body, ct = multipartBody(t, "file", "x.txt", []byte("内容"), map[string]string{"_csrf": csrf, "slot": label})
		code, _ = b.postRaw("/apps/"+keptApp.ID+"/attachments", ct, body)
		require.Equal(t, 400, code, "slot %q on the page", label)
	}
	// A label longer than a text part may be is refused, not cut (inside a
	// character, as it used to be).
	body, ct := multipartBody(t, "file", "x.txt", []byte("内容"), map[string]string{"label": strings.Repeat("说", 400)})
	code, h, raw = s.send("applicant", "POST", "/api/v1/applications/"+keptApp.ID+"/attachments", bytes.NewReader(body), "Content-Type", ct)
	requireErrorShape(t, code, h, raw, "invalid", "a long label")
	var files []map[string]any
	require.Equal(t, 200, s.call("applicant", "GET", "/api/v1/applications/"+keptApp.ID+"/attachments", nil, &files))
	require.Empty(t, files)
	// whatever was refused or attempted, the trail holds
	s.requireIntactChain()
}

// TestHostileTextIsKeptExactlyAndShownEscaped puts SQL and markup into
// every text field people type: an organisation's name, a user's name (on
// creation and when changed), every kind of form field (text, a list's
// rows, an object's keys), an attachment's label, the comments of two
// steps, and an objection's name, organisation and reasons. The API reads
// each back byte for byte; every page that shows them, to each role that
// sees them, shows them escaped and never as markup; a search for LIKE's
// wildcards finds them literally.
func TestHostileTextIsKeptExactlyAndShownEscaped(t *testing.T) {
	t.Parallel()
	s := hostileSite(t)
	orgName, firstName, userName := hostileText("O1"), hostileText("U0"), hostileText("U1")
	title, summary, member := hostileText("T1"), hostileText("S1"), hostileText("M1")
	key, value, label := hostileText("K1"), hostileText("V1"), hostileText("L1")
	submitNote, publishNote := hostileText("C1"), hostileText("C2")
	objector, objectorOrg, reason := hostileText("N1"), hostileText("G1"), hostileText("R1")

	require.Equal(t, 201, s.call("admin", "POST", "/api/v1/orgs", map[string]string{"name": orgName, "kind": "enterprise"}, nil))
	var mallory struct{ ID string }
	require.Equal(t, 201, s.call("admin", "POST", "/api/v1/users", map[string]any{"username": "mallory", "name": firstName,
		"roles": []string{"applicant"}, "org": orgName, "password": testPassword}, &mallory))
	var renamed struct{ Name string }
	require.Equal(t, 200, s.call("admin", "PATCH", "/api/v1/users/"+mallory.ID, map[string]any{"name": userName}, &renamed))
	require.Equal(t, userName, renamed.Name)

	data := map[string]any{"title": title, "summary": summary, "amount": 1000,
		"team": []any{map[string]any{"name": member}}, "extra": map[string]any{key: value}}
	app := s.create("mallory", "hostile", data)
	require.Equal(t, data["title"], app.Data["title"])
	body, ct := multipartBody(t, "file", "plan.txt", []byte("方案"), map[string]string{"label": label})
	var file struct{ ID, Label string }
	require.Equal(t, 201, s.call("mallory", "POST", "/api/v1/applications/"+app.ID+"/attachments", body, &file, "Content-Type", ct))
	require.Equal(t, label, file.Label)
	// A file's name loses what could climb or break a header (see
	// TestAttachmentNamesAreMadeSafe); this one has none of that and is
	// kept as it is.
	fileName := `F1'; DROP TABLE attachments;-- %_ <img src=x onerror=alert(1)>.pdf`
	body, ct = multipartBody(t, "file", fileName, []byte("%PDF-1.4"), nil)
	var named struct{ Name string }
	require.Equal(t, 201, s.call("mallory", "POST", "/api/v1/applications/"+app.ID+"/attachments", body, &named, "Content-Type", ct))
	require.Equal(t, fileName, named.Name)
	s.mustFire("mallory", app.ID, "submit", map[string]any{"comment": submitNote})
	s.mustFire("staff", app.ID, "publish", map[string]any{"comment": publishNote})

	// In 公示, before anyone objects: the public list and page.
	notice := noticeOf(s.notices(), app.ID)
	require.NotNil(t, notice)
	require.Equal(t, title, notice["title"])
	require.Equal(t, orgName, notice["org_name"])
	publicPages := map[string][]string{"/notices": {title, orgName}, "/notices/" + app.ID: {title, orgName}}
	anon := newBrowser(t, s.url)
	for path, shown := range publicPages {
		requireEscaped(t, anon, path, shown)
	}

	var e apiError
	require.Equal(t, 201, s.call("", "POST", "/api/v1/notices/"+app.ID+"/objections",
		map[string]string{"name": objector, "phone": "13800138000", "org": objectorOrg, "reason": reason}, &e), "%+v", e)

	// Read back through the API, byte for byte.
	var got struct {
		Data      map[string]any
		Org       struct{ Name string }
		Applicant struct{ Name string }
	}
	require.Equal(t, 200, s.call("mallory", "GET", "/api/v1/applications/"+app.ID, nil, &got))
	require.Equal(t, normalise(t, data), got.Data)
	require.Equal(t, orgName, got.Org.Name)
	require.Equal(t, userName, got.Applicant.Name)
	var me struct {
		Name string
		Org  struct{ Name string }
	}
	require.Equal(t, 200, s.call("mallory", "GET", "/api/v1/me", nil, &me))
	require.Equal(t, userName, me.Name)
	require.Equal(t, orgName, me.Org.Name)
	var hist []struct{ Event, Comment string }
	require.Equal(t, 200, s.call("staff", "GET", "/api/v1/applications/"+app.ID+"/history", nil, &hist))
	comments := map[string]string{}
	for _, h := range hist {
		comments[h.Event] = h.Comment
	}
	require.Equal(t, submitNote, comments["submit"])
	require.Equal(t, publishNote, comments["publish"])
	var files []struct{ Name, Label string }
	require.Equal(t, 200, s.call("staff", "GET", "/api/v1/applications/"+app.ID+"/attachments", nil, &files))
	require.ElementsMatch(t, []struct{ Name, Label string }{{"plan.txt", label}, {fileName, ""}}, files)
	var objections []struct{ Name, Org, Reason string }
	require.Equal(t, 200, s.call("staff", "GET", "/api/v1/applications/"+app.ID+"/objections", nil, &objections))
	require.Len(t, objections, 1)
	require.Equal(t, []string{objector, objectorOrg, reason}, []string{objections[0].Name, objections[0].Org, objections[0].Reason})
	var orgs []struct{ Name string }
	require.Equal(t, 200, s.call("admin", "GET", "/api/v1/orgs", nil, &orgs))
	require.Contains(t, orgs, struct{ Name string }{orgName})
	var people []struct{ Username, Name string }
	require.Equal(t, 200, s.call("admin", "GET", "/api/v1/users", nil, &people))
	require.Contains(t, people, struct{ Username, Name string }{"mallory", userName})
	// The tables the SQL in the text names are still there.
	var tables int
	require.NoError(t, s.db.Get(&tables, `SELECT count(*) FROM pg_tables WHERE tablename IN ('applications', 'orgs', 'users')`))
	require.Equal(t, 3, tables)

	// A search for LIKE's wildcards and escape finds them as characters:
	// the hostile title has each, the plain one none.
	plain := s.submitProject("applicant")
	for _, q := range []string{"%", "_", `\`, "%_", `'`, `';`} {
		var found struct{ Items []appJSON }
		require.Equal(t, 200, s.call("staff", "GET", "/api/v1/applications?q="+url.QueryEscape(q), nil, &found))
		ids := []string{}
		for _, a := range found.Items {
			ids = append(ids, a.ID)
		}
		require.Contains(t, ids, app.ID, "q=%s", q)
		require.NotContains(t, ids, plain.ID, "q=%s matches only where it is written", q)
	}

	// Every page that shows the text, as each role that sees it. The
	// header of mallory's own pages names mallory.
	appPage, recordPage := "/apps/"+app.ID, "/apps/"+app.ID+"/record"
	pages := map[string]map[string][]string{
		"mallory": {
			"/":        {userName},
			"/apps":    {title},
			appPage:    {title, summary, member, key, value, fileName, submitNote, publishNote, orgName},
			"/notices": {title, orgName},
		},
		"staff": {
			"/apps":    {title, orgName},
			appPage:    {title, summary, member, value, fileName, submitNote, publishNote, orgName, userName, objector, objectorOrg, reason},
			recordPage: {title, submitNote, publishNote, orgName, userName, objector, reason},
		},
		"auditor": {
			appPage:    {title, submitNote, publishNote, orgName, userName},
			recordPage: {title, submitNote, publishNote, orgName, userName, objector, reason},
			"/audit":   {userName},
		},
		"admin": {
			"/admin/users":               {userName, orgName},
			"/admin/users/" + mallory.ID: {userName, orgName},
			"/admin/orgs":                {orgName},
			"/audit":                     {userName},
			recordPage:                   {orgName, userName},
			"/apps":                      {orgName},
		},
	}
	for who, paths := range pages {
		b := s.browserAs(t, who)
		for path, shown := range paths {
			t.Run(who+path, func(t *testing.T) {
				b.t = t
				requireEscaped(t, b, path, shown)
			})
		}
	}
	// whatever was refused or attempted, the trail holds
	s.requireIntactChain()
}

// normalise is v as it comes back from JSON.
func normalise(t *testing.T, v any) map[string]any {
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out))
	return out
}

// requireEscaped fetches a page and checks that each of shown is on it,
// escaped, and that no hostile markup is on it as markup.
func requireEscaped(t *testing.T, b *browser, path string, shown []string) {
	t.Helper()
	code, page, _ := b.get(path)
	require.Equal(t, 200, code, "%s: %s", path, page)
	for _, m := range rawMarkup {
		require.NotContains(t, page, m, "%s shows markup unescaped", path)
	}
	for _, text := range shown {
		require.NotContains(t, page, text, "%s shows %.3s… unescaped", path, text)
		require.Contains(t, page, html.EscapeString(text), "%s shows %.3s… escaped", path, text)
	}
}

// TestAttachmentNamesAreMadeSafe uploads files whose names climb
// directories (Unix, Windows, absolute), hold control characters (NUL, CR
// LF to break the header), hide their extension behind a right-to-left
// override, or try to end the header's parameter: each is stored under a
// plain name, listed and served under it, and the download's
// Content-Disposition parses to exactly that name and nothing else. Names
// that are nothing once cleaned are refused.
func TestAttachmentNamesAreMadeSafe(t *testing.T) {
	t.Parallel()
	s := hostileSite(t)
	app := s.create("applicant", "hostile", map[string]any{"title": "附件名测试"})
	for _, tc := range []struct{ sent, stored string }{
		{"../../etc/passwd", "passwd"},
		{`..\..\windows\win.ini`, "win.ini"},
		{`..\\x`, "x"},
		{"/etc/shadow", "shadow"},
		{`C:\Users\Public\报告.pdf`, "报告.pdf"},
		{"a\x00b.pdf", "ab.pdf"},
		{"evil\r\nSet-Cookie: sid=1.pdf", "evilSet-Cookie: sid=1.pdf"},
		{"report\u202efdp.exe", "reportfdp.exe"},
		{"\u2067invoice\u2069\u200f.pdf", "invoice.pdf"},
		{"tab\tand\u0085next\x7f.txt", "tabandnext.txt"},
		{`x.pdf"; filename=evil.exe`, "x.pdf; filename=evil.exe"},
		{"x.pdf'; filename*=UTF-8''evil.exe", "x.pdf'; filename*=UTF-8''evil.exe"},
		{"项目 申报书 (终稿) 100%.docx", "项目 申报书 (终稿) 100%.docx"},
		{"bad\xffutf8.txt", "bad\ufffdutf8.txt"},
		{strings.Repeat("长", 100) + ".pdf", strings.Repeat("长", 85)},
	} {
		code, _, raw := s.send("applicant", "POST", "/api/v1/applications/"+app.ID+"/attachments", rawNameUpload(t, tc.sent))
		require.Equal(t, 201, code, "%q: %s", tc.sent, raw)
		var a struct{ ID, Name string }
		require.NoError(t, json.Unmarshal(raw, &a))
		require.Equal(t, tc.stored, a.Name, "%q", tc.sent)

		req, err := http.NewRequest("GET", s.url+"/api/v1/attachments/"+a.ID, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+s.token("applicant"))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		cd := resp.Header.Values("Content-Disposition")
		require.Len(t, cd, 1)
		for _, c := range []byte(cd[0]) {
			require.True(t, c > 0x20 && c < 0x7f || c == ' ', "%q in %q", c, cd[0])
		}
		disposition, params, err := mime.ParseMediaType(cd[0])
		require.NoError(t, err, cd[0])
		require.Equal(t, "attachment", disposition)
		require.Equal(t, map[string]string{"filename": tc.stored}, params, "%s", cd[0])
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
		require.Equal(t, "sandbox", resp.Header.Get("Content-Security-Policy"))
	}
	var files []struct{ Name string }
	require.Equal(t, 200, s.call("applicant", "GET", "/api/v1/applications/"+app.ID+"/attachments", nil, &files))
	for _, f := range files {
		require.NotContains(t, f.Name, "/")
		require.NotContains(t, f.Name, `\`)
		require.NotContains(t, f.Name, "..")
	}
	for _, sent := range []string{"..", "../", `..\`, "\x00", "\r\n", "\u202e", " ", "/", `"`} {
		code, h, raw := s.send("applicant", "POST", "/api/v1/applications/"+app.ID+"/attachments", rawNameUpload(t, sent))
		requireErrorShape(t, code, h, raw, "invalid", "%q", sent)
	}
	// whatever was refused or attempted, the trail holds
	s.requireIntactChain()
}

// rawNameUpload is a multipart body whose file part carries name exactly,
// byte for byte, in RFC 2231's filename* form (which multipart.Writer
// cannot write), so that control characters reach the server.
func rawNameUpload(t *testing.T, name string) io.Reader {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	var enc strings.Builder
	for i := 0; i < len(name); i++ {
		fmt.Fprintf(&enc, "%%%02X", name[i])
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename*=UTF-8''`+enc.String())
	h.Set("Content-Type", "application/octet-stream")
	pw, err := mw.CreatePart(h)
	require.NoError(t, err)
	pw.Write([]byte("内容"))
	require.NoError(t, mw.Close())
	return &typedBody{Reader: &buf, contentType: mw.FormDataContentType()}
}

// idRoute is how to call one route that names a record in its path: as
// whom, with what body, so that the record is all that can be wrong.
type idRoute struct {
	user    string
	body    any
	headers []string
	// value marks a parameter that is a value to set, not a record to
	// find (a calendar day): a malformed one is a 422 on that field.
	value string
}

// idRoutes are the routes openapi.json lists with a path parameter; a new
// one without a row here is called as every role with an empty body.
var idRoutes = map[string]idRoute{
	"GET /workflows/{key}":                      {user: "applicant"},
	"GET /workflows/{key}/diagram.svg":          {user: "applicant"},
	"GET /applications/{id}":                    {user: "staff"},
	"PATCH /applications/{id}":                  {user: "applicant", body: map[string]any{"data": map[string]any{}}, headers: []string{"If-Match", `"1"`}},
	"POST /applications/{id}/events":            {user: "applicant", body: map[string]any{"event": "submit"}},
	"GET /applications/{id}/history":            {user: "staff"},
	"POST /applications/{id}/attachments":       {user: "applicant", body: "upload"},
	"GET /applications/{id}/attachments":        {user: "staff"},
	"GET /attachments/{id}":                     {user: "staff"},
	"PATCH /users/{id}":                         {user: "admin", body: map[string]any{"name": "新名字"}},
	"POST /users/{id}/password-reset":           {user: "admin"},
	"PUT /calendar/overrides/{day}":             {user: "admin", body: map[string]any{"working": false, "note": "县庆"}, value: "day"},
	"DELETE /calendar/overrides/{day}":          {user: "admin", value: "day"},
	"GET /applications/{id}/review":             {user: "staff"},
	"GET /applications/{id}/decision-record":    {user: "staff"},
	"POST /applications/{id}/reviewers":         {user: "staff", body: map[string]string{"user": "unit", "state": "unit_review"}},
	"GET /applications/{id}/questions":          {user: "applicant"},
	"POST /applications/{id}/answers":           {user: "applicant", body: map[string]any{"answers": map[string]string{"00000000-0000-0000-0000-000000000001": "答"}}},
	"POST /tasks/{id}/decision":                 {user: "unit", body: map[string]string{"decision": "recommend"}},
	"POST /tasks/{id}/recuse":                   {user: "unit", body: map[string]string{"reason": "与申请单位有利害关系"}},
	"POST /tasks/{id}/recall":                   {user: "unit", body: map[string]string{"reason": "改主意"}},
	"POST /tasks/{id}/delegate":                 {user: "unit", body: map[string]string{"to_user": "staff"}},
	"POST /notifications/{id}/read":             {user: "unit"},
	"POST /notices/{application_id}/objections": {body: map[string]string{"name": "李四", "phone": "13800138000", "reason": "理由充分的书面异议内容"}},
	"GET /applications/{id}/objections":         {user: "staff"},
}

// TestRecordsThatAreNotThereAnswer404Or400 calls every route that names a
// record in its path, as a caller who may use it, with identifiers that
// name nothing: random and nil UUIDs, numbers, SQL, LIKE's wildcards, a
// path that climbs, markup, a very long one, and the identifier of a
// record of another kind. Each answer is a 404 (or a 400 for what cannot
// be an identifier at all) in the error shape, never a 500, never a 403
// that would say the record exists, and never the identifier echoed as
// markup. The pages answer 404 too, to other people's records as to
// records that do not exist.
func TestRecordsThatAreNotThereAnswer404Or400(t *testing.T) {
	t.Parallel()
	s := hostileSite(t)
	app := s.submitProject("applicant")
	task := s.tasks("unit")[0].ID
	notification := s.awaitNotification("unit", "task")
	ids := []string{
		"9b2f3c1e-6d4a-4e8b-9f1a-2c3d4e5f6a7b", "00000000-0000-0000-0000-000000000000", "not-a-uuid", "1", "-1", "0x10", "1e9",
		"'; DROP TABLE applications;--", "1' OR '1'='1", "%", "_", `\`, "../../etc/passwd", "..", "%2e%2e", "申请",
		"<script>alert(1)</script>", "{id}", strings.Repeat("9", 10000), " ", "null",
	}
	var doc struct {
		Paths map[string]map[string]any
	}
	require.Equal(t, 200, s.call("", "GET", "/api/v1/openapi.json", nil, &doc))
	routes := 0
	for path, ops := range doc.Paths {
		start := strings.Index(path, "{")
		if start < 0 {
			continue
		}
		for method := range ops {
			route := strings.ToUpper(method) + " " + path
			r, known := idRoutes[route]
			callers := []string{r.user}
			if !known {
				callers = callers[1:]
			}
			tried := ids
			if !strings.HasPrefix(path, "/applications/") && !strings.HasPrefix(path, "/notices/") {
				tried = append(tried, app.ID) // an application's id where another kind is named
			}
			routes++
			for _, id := range tried {
				p := "/api/v1" + path[:start] + url.PathEscape(id) + path[strings.Index(path, "}")+1:]
				nonexistent := false
				for _, caller := range append(callers, idCallers(known)...) {
					code, h, raw := s.sendTo(caller, strings.ToUpper(method), p, r)
					require.Less(t, code, 500, "%s as %q with %q: %s", route, caller, id, raw)
					require.NotContains(t, string(raw), "<script>", "%s echoes markup", route)
					if code == 400 || code == 404 {
						requireErrorShape(t, code, h, raw, map[int]string{400: "bad_request", 404: "not_found"}[code], "%s as %q with %q", route, caller, id)
						nonexistent = true
						continue
					}
					if code == 422 && r.value != "" {
						requireErrorShape(t, code, h, raw, "invalid", "%s as %q with %q", route, caller, id)
						var e apiError
						require.NoError(t, json.Unmarshal(raw, &e))
						require.Contains(t, e.Error.Fields, r.value)
						nonexistent = true
						continue
					}
					require.False(t, known, "%s as %q with %q: %d %s", route, caller, id, code, raw)
					require.Contains(t, []int{401, 403}, code, "%s as %q with %q: %s", route, caller, id, raw)
				}
				require.True(t, nonexistent, "%s with %q: nobody was told it does not exist", route, id)
			}
		}
	}
	require.Greater(t, routes, 20)

	// The same records, through the pages.
	staff := s.browserAs(t, "staff")
	for _, id := range ids {
		for _, p := range []string{"/apps/", "/notices/"} {
			code, page, _ := staff.get(p + url.PathEscape(id))
			require.Contains(t, []int{400, 404}, code, "%s%q", p, id)
			require.NotContains(t, page, "<script>alert(1)</script>")
		}
		code, page, _ := staff.get("/apps/" + url.PathEscape(id) + "/record")
		require.Contains(t, []int{400, 404}, code, "record %q", id)
		require.NotContains(t, page, "<script>alert(1)</script>")
	}
	// Someone else's application, task and notification are not there
	// for rival, on the pages as in the API.
	rival := s.browserAs(t, "rival")
	for _, p := range []string{"/apps/" + app.ID, "/apps/" + app.ID + "/record"} {
		code, _, _ := rival.get(p)
		require.Equal(t, 404, code, p)
	}
	token := rival.pageToken()
	for _, p := range []string{"/tasks/" + task + "/decision", "/tasks/" + task + "/recuse", "/notifications/" + notification + "/read",
		"/apps/" + app.ID + "/events"} {
		code, _ := rival.post(p, url.Values{"_csrf": {token}, "decision": {"recommend"}, "reason": {"理由"}, "event": {"withdraw"}, "nonce": {"n1"}})
		require.Equal(t, 404, code, p)
	}
	require.Equal(t, "unit_review", s.appState("applicant", app.ID), "nothing happened to it")
	// whatever was refused or attempted, the trail holds
	s.requireIntactChain()
}

// idCallers are the roles a route without a row in idRoutes is tried as.
func idCallers(known bool) []string {
	if known {
		return nil
	}
	return []string{"applicant", "unit", "staff", "leader", "expert", "auditor", "admin"}
}

// sendTo calls a route as r describes, as caller.
func (s *site) sendTo(caller, method, path string, r idRoute) (int, http.Header, []byte) {
	s.t.Helper()
	switch b := r.body.(type) {
	case nil:
		return s.send(caller, method, path, nil, r.headers...)
	case string: // "upload"
		body, ct := multipartBody(s.t, "file", "note.txt", []byte("说明材料"), nil)
		return s.send(caller, method, path, bytes.NewReader(body), append([]string{"Content-Type", ct}, r.headers...)...)
	default:
		raw, err := json.Marshal(b)
		require.NoError(s.t, err)
		return s.send(caller, method, path, bytes.NewReader(raw), r.headers...)
	}
}
