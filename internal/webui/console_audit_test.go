package webui

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The log page searches comments and data, offers the selection as CSV and
// as XLSX, and tells administrators that their search leaves out what they
// may not read.
func TestConsoleAuditSearch(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	auditor, admin := s.as("auditor"), s.as("admin")
	rows := regexp.MustCompile(`data-label="序号">(\d+)<`)
	q := "/audit?q=" + url.QueryEscape("材料齐全")

	code, page := auditor.get(q)
	require.Equal(t, http.StatusOK, code)
	require.NotEmpty(t, rows.FindAllStringSubmatch(page, -1))
	require.Contains(t, page, "材料齐全")
	require.Contains(t, page, `value="材料齐全"`, "the search stays in its field")
	links := regexp.MustCompile(`href="(/api/v1/audit/export\?[^"]+)"`).FindAllStringSubmatch(page, -1)
	require.Len(t, links, 2)
	for i, format := range []string{"csv", "xlsx"} {
		v, err := url.ParseQuery(html.UnescapeString(links[i][1])[len("/api/v1/audit/export?"):])
		require.NoError(t, err)
		require.Equal(t, format, v.Get("format"))
		require.Equal(t, "材料齐全", v.Get("q"))
	}

	code, page = admin.get(q)
	require.Equal(t, http.StatusOK, code)
	require.Empty(t, rows.FindAllStringSubmatch(page, -1), "administrators do not find entries by their comments")
	require.Contains(t, page, "管理员的搜索只查不涉及申请的记录")

	code, _ = auditor.get("/audit?q=" + url.QueryEscape(strings.Repeat("长", 101)))
	require.Equal(t, http.StatusBadRequest, code)
}
