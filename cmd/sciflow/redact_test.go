package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Retention end to end: an administrator cannot redact early, others
// cannot at all; the operator's sweep redacts what is due; the trail still
// verifies, against an anchor filed before the redaction too, and the
// names are gone from the form and the history.
func TestRedactionAtTheConsole(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	app := s.newApp("applicant")
	team := []any{map[string]any{"name": "张三", "title": "高级工程师"}}
	require.Equal(t, 200, s.call("applicant", "PATCH", "/api/v1/applications/"+app.ID, map[string]any{"data": map[string]any{"team": team}},
		nil, "If-Match", fmt.Sprintf(`"%d"`, app.Version)))
	require.Equal(t, 200, s.call("applicant", "POST", "/api/v1/applications/"+app.ID+"/events", map[string]any{"event": "submit"}, nil))
	require.Equal(t, 200, s.call("applicant", "POST", "/api/v1/applications/"+app.ID+"/events", map[string]any{"event": "withdraw"}, nil))

	redact := "/api/v1/applications/" + app.ID + "/redact"
	var apiErr struct {
		Error struct{ Code, Message string }
	}
	require.Equal(t, 409, s.call("admin", "POST", redact, nil, &apiErr), "finished today: retention not passed")
	require.Contains(t, apiErr.Error.Message, "保存期限未满")
	require.Equal(t, 403, s.call("staff", "POST", redact, nil, nil))
	require.Equal(t, 404, s.call("rival", "POST", redact, nil, nil))
	s.stop()

	env := []string{"DATABASE_URL=" + s.dsn, "SCIFLOW_DATA_DIR=" + s.dataDir, "SCIFLOW_WORKFLOWS_DIR=" + s.wfDir}
	anchor, errOut, code := runCLI(t, env, "", "audit", "anchor")
	require.Equal(t, 0, code, anchor+errOut)
	file := filepath.Join(t.TempDir(), "anchor.txt")
	require.NoError(t, os.WriteFile(file, []byte(anchor), 0o600))

	out, errOut, code := runCLI(t, env, "", "redact")
	require.Equal(t, 0, code, out+errOut)
	require.Contains(t, out, "redacted 0 application(s)")
	later := time.Now().AddDate(10, 0, 1).Format(time.RFC3339)
	out, errOut, code = runCLI(t, env, "", "redact", "--as-of", later)
	require.Equal(t, 0, code, out+errOut)
	require.Contains(t, out, app.ID+": 1 entries, fields team[].name")
	require.Contains(t, out, "redacted 1 application(s) past 10 years")

	out, errOut, code = runCLI(t, env, "", "audit", "verify", "--anchor", file)
	require.Equal(t, 0, code, out+errOut)
	require.Contains(t, out, "nothing sealed before the anchor")

	s.start()
	var got struct {
		Data       map[string]any
		RedactedAt string `json:"redacted_at"`
	}
	require.Equal(t, 200, s.call("staff", "GET", "/api/v1/applications/"+app.ID, nil, &got))
	require.Equal(t, []any{map[string]any{"title": "高级工程师"}}, got.Data["team"])
	require.NotEmpty(t, got.RedactedAt)
	var audit struct {
		Items []struct {
			Kind string
			Data map[string]any
		}
	}
	require.Equal(t, 200, s.call("auditor", "GET", "/api/v1/audit?application_id="+app.ID, nil, &audit))
	var kinds []string
	for _, it := range audit.Items {
		kinds = append(kinds, it.Kind)
		require.NotContains(t, fmt.Sprint(it.Data), "张三", it.Kind)
	}
	require.Contains(t, kinds, "application.redact")
	require.Contains(t, kinds, "data.patch")
}

// Retention reaches the objectors: their names, phones and addresses go
// from the objections and from the history; the objection's reason and its
// outcome stay, and the trail still verifies.
func TestRedactionReachesTheObjectors(t *testing.T) {
	t.Parallel()
	s := hostileSite(t)
	app := s.create("applicant", "hostile", map[string]any{"title": "茶叶深加工"})
	s.mustFire("applicant", app.ID, "submit", nil)
	s.mustFire("staff", app.ID, "publish", nil)
	var objErr apiError
	require.Equal(t, 201, s.call("", "POST", "/api/v1/notices/"+app.ID+"/objections",
		map[string]string{"name": "王五", "phone": "13800138000", "org": "某合作社", "reason": "经费测算明显偏高，与同类项目不符"}, &objErr), "%+v", objErr)
	s.mustFire("staff", app.ID, "dismiss", map[string]any{"comment": "经核实，测算合理"})
	s.stop()

	env := []string{"DATABASE_URL=" + s.dsn, "SCIFLOW_DATA_DIR=" + s.dataDir, "SCIFLOW_WORKFLOWS_DIR=" + s.wfDir}
	out, errOut, code := runCLI(t, env, "", "timers", "run", "--as-of", time.Now().AddDate(0, 1, 0).Format(time.RFC3339))
	require.Equal(t, 0, code, out+errOut)
	out, errOut, code = runCLI(t, env, "", "redact", "--as-of", time.Now().AddDate(10, 2, 0).Format(time.RFC3339))
	require.Equal(t, 0, code, out+errOut)
	require.Contains(t, out, app.ID+": 1 entries, fields objection.name, objection.phone; 1 objections")
	out, errOut, code = runCLI(t, env, "", "audit", "verify")
	require.Equal(t, 0, code, out+errOut)

	s.start()
	var objections []struct{ Name, Phone, Org, Reason, Status string }
	require.Equal(t, 200, s.call("staff", "GET", "/api/v1/applications/"+app.ID+"/objections", nil, &objections))
	require.Equal(t, []struct{ Name, Phone, Org, Reason, Status string }{{"", "", "某合作社", "经费测算明显偏高，与同类项目不符", "dismissed"}}, objections)
	var audit struct {
		Items []struct {
			Kind    string
			Comment string
			Data    map[string]any
		}
	}
	require.Equal(t, 200, s.call("auditor", "GET", "/api/v1/audit?application_id="+app.ID, nil, &audit))
	seen := false
	for _, it := range audit.Items {
		require.NotContains(t, fmt.Sprint(it.Data), "王五", it.Kind)
		if it.Kind == "notice.objection" {
			seen = true
			require.NotContains(t, it.Data, "phone_sha256")
			require.Equal(t, "经费测算明显偏高，与同类项目不符", it.Comment, "the reason stays")
		}
	}
	require.True(t, seen)
}

// filesYAML is a workflow with a slot for a person's identity card, marked
// personal, and one for a technical plan, which is not.
const filesYAML = `key: files
title: {zh: 附件测试, en: File test}
initial: draft
form: files.form.json
created_by: [applicant]
attachments:
  - {key: id_card, title: {zh: 身份证, en: Identity card}, confidential: true, personal: true}
  - {key: plan, title: {zh: 技术方案, en: Technical plan}}
states:
  draft: {title: {zh: 草稿, en: Draft}, kind: edit, editable_by: [applicant]}
  withdrawn: {title: {zh: 已撤回, en: Withdrawn}, kind: terminal}
events:
  withdraw: {title: {zh: 撤回, en: Withdraw}, from: [draft], to: withdrawn, roles: [applicant]}
`

// attachmentJSON is a file as the API describes it.
type attachmentJSON struct {
	ID, Name, Label, SHA256 string
	Size                    int64
	ContentType             string `json:"content_type"`
	Confidential            bool
	CreatedAt               string `json:"created_at"`
	RedactedAt              string `json:"redacted_at"`
}

// Retention reaches the files in a personal slot: their content and name
// go, from the file and from its upload's entry; their slot, size and
// digest stay; a download answers 410; files in other slots are kept, and
// the trail still verifies.
func TestRedactionReachesTheFiles(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	require.NoError(t, os.WriteFile(filepath.Join(s.wfDir, "files.yaml"), []byte(filesYAML), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(s.wfDir, "files.form.json"),
		[]byte(`{"type": "object", "properties": {"title": {"type": "string"}}}`), 0o644))
	s.restart()
	app := s.create("applicant", "files", map[string]any{"title": "人才申报"})
	upload := func(slot, name, content string) attachmentJSON {
		t.Helper()
		body, ct := multipartBody(t, "file", name, []byte(content), map[string]string{"label": slot})
		code, _, raw := s.send("applicant", "POST", "/api/v1/applications/"+app.ID+"/attachments", &typedBody{bytes.NewReader(body), ct})
		require.Equal(t, 201, code, "%s", raw)
		var a attachmentJSON
		require.NoError(t, json.Unmarshal(raw, &a))
		return a
	}
	card := upload("id_card", "张三身份证.jpg", "张三 110101199001011234")
	plan := upload("plan", "技术方案.txt", "茶叶深加工技术方案")
	s.mustFire("applicant", app.ID, "withdraw", nil)
	s.stop()

	env := []string{"DATABASE_URL=" + s.dsn, "SCIFLOW_DATA_DIR=" + s.dataDir, "SCIFLOW_WORKFLOWS_DIR=" + s.wfDir}
	out, errOut, code := runCLI(t, env, "", "redact", "--as-of", time.Now().AddDate(10, 1, 0).Format(time.RFC3339))
	require.Equal(t, 0, code, out+errOut)
	require.Contains(t, out, app.ID+": 1 entries, fields attachments.id_card; 1 files")
	out, errOut, code = runCLI(t, env, "", "audit", "verify")
	require.Equal(t, 0, code, out+errOut)

	s.start()
	var files []attachmentJSON
	require.Equal(t, 200, s.call("staff", "GET", "/api/v1/applications/"+app.ID+"/attachments", nil, &files))
	require.Len(t, files, 2)
	byID := map[string]attachmentJSON{files[0].ID: files[0], files[1].ID: files[1]}
	gone := byID[card.ID]
	require.Equal(t, "id_card", gone.Name, "the name, which named the person, is the slot's key now")
	require.NotEmpty(t, gone.RedactedAt)
	require.Equal(t, card.SHA256, gone.SHA256, "the digest stays: a copy kept elsewhere can still be matched")
	require.Equal(t, card.Size, gone.Size)
	require.Equal(t, plan, byID[plan.ID], "a file in a slot not marked personal is kept as it was")

	status, header, raw := s.send("staff", "GET", "/api/v1/attachments/"+card.ID, nil)
	require.Equal(t, 410, status, "%s", raw)
	requireErrorShape(t, status, header, raw, "gone", "a redacted file")
	status, _, raw = s.send("staff", "GET", "/api/v1/attachments/"+plan.ID, nil)
	require.Equal(t, 200, status)
	require.Equal(t, "茶叶深加工技术方案", string(raw))
	require.Equal(t, 404, s.call("rival", "GET", "/api/v1/attachments/"+card.ID, nil, nil), "others are told nothing, redacted or not")

	var audit struct {
		Items []struct {
			Kind, Subject string
			Data          map[string]any
		}
	}
	require.Equal(t, 200, s.call("auditor", "GET", "/api/v1/audit?application_id="+app.ID, nil, &audit))
	uploads := map[string]map[string]any{}
	for _, it := range audit.Items {
		require.NotContains(t, fmt.Sprint(it.Data), "张三", it.Kind)
		if it.Kind == "attachment.add" {
			uploads[it.Subject] = it.Data
		}
	}
	require.NotContains(t, uploads[card.ID], "name")
	require.Equal(t, card.SHA256, uploads[card.ID]["sha256"])
	require.Equal(t, "技术方案.txt", uploads[plan.ID]["name"])

	b := s.browserAs(t, "staff")
	code, page, _ := b.get("/apps/" + app.ID)
	require.Equal(t, 200, code)
	require.Contains(t, page, "已脱敏")
	require.NotContains(t, page, "/api/v1/attachments/"+card.ID, "no link to a file that is gone")
	require.Contains(t, page, "/api/v1/attachments/"+plan.ID)
	code, page, _ = s.browserAs(t, "auditor").get("/apps/" + app.ID + "/record")
	require.Equal(t, 200, code)
	require.Contains(t, page, "（已脱敏）", "the record's upload entry says its name was redacted")
	require.Contains(t, page, "技术方案.txt")
	require.NotContains(t, page, "张三身份证")
}
