package webui

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDecisionRecordPage reads the demo's awarded 揭榜挂帅 project (sent
// through every stage, an objection dismissed, the first tranche paid) as
// each kind of reader: the page shows the stages, the panel and the
// chain's head hash to oversight, the process only to administrators, and
// is not found for the applicant and the experts.
func TestDecisionRecordPage(t *testing.T) {
	s := newConsoleSite(t)
	ctx := context.Background()
	var appID, headHash, panelist string
	require.NoError(t, s.db.QueryRowContext(ctx, `SELECT id FROM applications WHERE data ->> 'title' = $1`,
		"船用耐腐蚀碳纤维增强复合材料部件研制与产业化").Scan(&appID))
	require.NoError(t, s.db.QueryRowContext(ctx, `SELECT encode(last_hash, 'hex') FROM audit_chains WHERE chain = $1`, appID).Scan(&headHash))
	require.NoError(t, s.db.QueryRowContext(ctx, `SELECT u.username FROM review_tasks t JOIN users u ON u.id = t.assignee_id
WHERE t.application_id = $1 AND t.via = 'drawn' LIMIT 1`, appID).Scan(&panelist))
	path := "/apps/" + appID + "/record"
	auditor := s.as("auditor")

	code, page := auditor.get(path)
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{
		"<h1 id=\"record-h\">船用耐腐蚀碳纤维增强复合材料部件研制与产业化</h1>",
		"校验通过", `<dd class="mono" id="head-hash">` + headHash + `</dd>`,
		"推荐单位审核", "形式审查", "专家评审", "局长办公会审定", "异议处理", // every stage
		"可复核：按种子重算结果一致", "seed ", // the draw
		"局长办公会研究，同意立项，核定资助 180 万元。", "依据评审决定：王局长", // the grounds and who
		"冉小军", "异议不成立", "经查询科技项目管理库", // the objection and its outcome
		"公示期满", "到期自动", // the timer
		"拨付资金", "720,000.00", // the tranche
		"<caption>", `scope="col"`, `class="record-foot"`,
	} {
		require.Contains(t, page, want)
	}
	require.NotContains(t, page, "管理员视图")
	require.Equal(t, 5, strings.Count(page, `<section class="record-stage"`), "unit, formal, experts, leader, objection")
	css := regexp.MustCompile(`<link rel="stylesheet" href="(/apps/[^"]+/record\.css\?[^"]+)">`).FindStringSubmatch(page)
	require.NotNil(t, css, "the record's print stylesheet")
	require.Contains(t, css[1], "hash="+headHash)

	// Its print stylesheet carries the head hash and the time into every
	// page's margin; it takes nothing else.
	code, style := auditor.get(html.UnescapeString(css[1]))
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, style, `@bottom-left { content: "链头哈希 `+headHash+`"`)
	require.Contains(t, style, "counter(pages)")
	code, _ = auditor.get("/apps/" + appID + `/record.css?hash=%22%7D*%7Bdisplay:none&at=2026-01-01%2000:00:00`)
	require.Equal(t, http.StatusBadRequest, code)

	_, en := auditor.get(path + "?lang=en")
	for _, want := range []string{"Decision record", "Integrity of the trail", "Expert review", headHash} {
		require.Contains(t, en, want)
	}
	_, _ = auditor.get(path + "?lang=zh")

	_, app := auditor.get("/apps/" + appID)
	require.Contains(t, app, `href="`+path+`"`, "the application's page links its record")
	for _, who := range []string{"staff", "leader"} {
		code, _ := s.as(who).get(path)
		require.Equal(t, http.StatusOK, code, who)
	}

	code, adm := s.as("admin").get(path)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, adm, "管理员视图")
	require.Contains(t, adm, headHash)
	require.Contains(t, adm, "专家评审", "the stages happened")
	for _, secret := range []string{"局长办公会研究", "冉小军", "经查询科技项目管理库", "720,000.00", "seed "} {
		require.NotContains(t, adm, secret)
	}

	jinyi := s.as("jinyi")
	code, _ = jinyi.get(path)
	require.Equal(t, http.StatusNotFound, code, "the applicant does not learn who was on the panel")
	_, mine := jinyi.get("/apps/" + appID)
	require.NotContains(t, mine, `href="`+path+`"`, "nor is shown a link to it")
	code, _ = s.as(panelist).get(path)
	require.Equal(t, http.StatusNotFound, code, "nor do the experts")
}
