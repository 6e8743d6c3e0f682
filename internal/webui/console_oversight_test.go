package webui

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConsoleOversight: auditors run the checks on their page, in either
// language, with the rule of each check beside its count; administrators
// and staff are refused as by the API, and do not see the menu entry.
func TestConsoleOversight(t *testing.T) {
	s := newConsoleSite(t)
	auditor := s.as("auditor")
	code, page := auditor.get("/oversight")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, "<h1>监督检查</h1>")
	require.Contains(t, page, `<a href="/oversight" aria-current="page">监督检查</a>`, "the console menu marks the page")
	require.Contains(t, page, `<caption class="sr">各项检查的规则与发现数</caption>`)
	for _, key := range []string{"two_stages", "conflicted_expert", "outlier_score", "late_decision", "returned_often",
		"attachment_replaced", "night_activity"} {
		require.Contains(t, page, `href="/oversight?check=`+key+`"`)
	}
	require.Contains(t, page, `<label for="o-returned">`)
	// The demo county's staff member handled both the formal review and the
	// objection review of one application: allowed, and found.
	findings := page[strings.Index(page, `<h2 id="findings-h">`):]
	require.Contains(t, findings, `<caption class="sr">发现，按检查项排列，每项中最新的在前</caption>`)
	require.Contains(t, findings, "“形式审查”、“异议处理”")
	require.Contains(t, findings, `<a href="/apps/`)

	code, page = auditor.get("/oversight?lang=en&check=returned_often&returned_more_than=1&from=2020-01-01&to=2030-12-31")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, "<h1>Oversight checks</h1>")
	require.Contains(t, page, "more than N times")

	code, page = auditor.get("/oversight?lang=zh&returned_more_than=0")
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.Contains(t, page, `id="returned_more_than-error"`)

	for _, who := range []string{"admin", "staff"} {
		code, _ := s.as(who).get("/oversight")
		require.Equal(t, http.StatusForbidden, code, who)
	}
	_, page = s.as("admin").get("/audit")
	require.NotContains(t, page, `href="/oversight"`, "administrators are not offered the page")
}
