package main

import (
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
