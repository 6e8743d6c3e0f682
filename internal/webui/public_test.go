package webui

import (
	"html"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

var noticeLink = regexp.MustCompile(`href="/notices/([0-9a-f-]{36})"`)
var nextPage = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)

// The public notice list a page at a time, to anyone: the pages show every
// notice once and end; a programme narrows it; a bad page size or an
// unknown programme is refused.
func TestNoticesAPageAtATime(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	visitor := &browser{t: t, base: s.url, client: &http.Client{}}
	code, all := visitor.get("/notices")
	require.Equal(t, http.StatusOK, code)
	every := noticeLink.FindAllStringSubmatch(all, -1)
	require.Len(t, every, 2, "the demo county's two notices on one page")
	require.Contains(t, all, "共 2 项正在公示")
	require.NotContains(t, all, `rel="next"`)

	var seen []string
	path := "/notices?per=1"
	for path != "" {
		code, page := visitor.get(path)
		require.Equal(t, http.StatusOK, code, path)
		rows := noticeLink.FindAllStringSubmatch(page, -1)
		require.Len(t, rows, 1, path)
		seen = append(seen, rows[0][1])
		require.Contains(t, page, "共 2 项正在公示", "the count is the list's, not the page's")
		if len(seen) > 1 {
			require.Contains(t, page, `href="/notices?per=1">第一页</a>`)
		}
		path = ""
		if m := nextPage.FindStringSubmatch(page); m != nil {
			path = html.UnescapeString(m[1])
		}
		require.LessOrEqual(t, len(seen), 2, "the pages end")
	}
	require.Equal(t, []string{every[0][1], every[1][1]}, seen)

	for path, want := range map[string]int{"/notices?per=0": http.StatusUnprocessableEntity,
		"/notices?per=101": http.StatusUnprocessableEntity, "/notices?after=x": http.StatusUnprocessableEntity,
		"/notices?workflow=nonesuch": http.StatusNotFound} {
		code, _ := visitor.get(path)
		require.Equal(t, want, code, path)
	}
}
