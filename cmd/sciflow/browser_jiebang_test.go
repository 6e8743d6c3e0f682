package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// setValue sets an input's value as a date picker or a select would, for
// the inputs that typing cannot fill the same way in every locale.
func (b *chromium) setValue(sel, value string) {
	b.t.Helper()
	js := fmt.Sprintf(`(() => { const el = document.querySelector(%s); el.value = %s; el.dispatchEvent(new Event("change", {bubbles: true})); })()`,
		jsString(sel), jsString(value))
	act(b, "set "+sel, chromedp.Steps(chromedp.WaitReady(chromedp.CSS(sel)), chromedp.Evaluate[chromedp.Void](js)))
}

// signOut uses the header's button.
func (b *chromium) signOut() {
	b.t.Helper()
	b.clickAndWait(`header form[action="/logout"] button`)
	require.Equal(b.t, 1, b.count(`header a[href="/login"]`), "signed out")
}

// pdf writes a small PDF for an upload.
func pdf(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"), 0o644))
	return path
}

// TestBrowserJiebangThroughThePages runs 揭榜挂帅 through the pages only, as
// each role would in a browser: staff post a challenge; an enterprise fills
// in the form (a wrong check digit is named beside its field, in Chinese),
// uploads its files and submits; staff send it back with a question; the
// enterprise answers and submits again; staff pass the formal check; the
// five drawn experts score; the leader approves an amount; and the public
// 公示 page, read without signing in, shows the project.
func TestBrowserJiebangThroughThePages(t *testing.T) {
	t.Parallel()
	start := time.Now()
	s := newSite(t)
	s.expertPool()
	b := newChromium(t, s)

	// Staff post and publish the challenge.
	b.signIn("staff")
	b.visit("/apps/new?workflow=jiebang_challenge")
	require.Equal(t, 200, b.lastStatus())
	b.fill("#new-data-title", "船用耐高温复合材料关键技术")
	b.fill("#new-data-need", "研发耐高温、可回收的复合材料，用于三峡库区船舶部件")
	b.fill("#new-data-targets", "耐温 300℃，回收率 90%")
	b.fill("#new-data-field", "新材料")
	b.fill("#new-data-owner", "云阳县科学技术局")
	b.fill("#new-data-budget-ceiling", "3000000")
	b.setValue("#new-data-deadline", dateIn(30))
	b.fill("#new-data-duration-months", "24")
	b.shot("staff-drafts-the-challenge")
	b.clickAndWait(`main form[action="/apps"] button[type=submit]`)
	require.Equal(t, 200, b.lastStatus())
	require.Contains(t, b.text(".flash"), "草稿已保存")
	b.clickAndWait(`#edit-form button[name=then][value=publish]`)
	require.Equal(t, "张榜中", b.text("#app-state"))
	b.shot("challenge-published")
	b.signOut()

	// The enterprise finds the challenge and fills in the application.
	b.signIn("rival")
	b.visit("/apply")
	require.Contains(t, b.text("main"), "船用耐高温复合材料关键技术")
	b.shot("enterprise-sees-the-challenge")
	b.clickAndWait(`main table a.button`)
	require.Contains(t, act(b, "read the chosen challenge", chromedp.Evaluate[string](
		`document.querySelector("#new-data-challenge").selectedOptions[0].textContent`)), "船用耐高温复合材料关键技术", "the challenge is chosen already")
	b.fill("#new-data-title", "船用耐高温复合材料关键技术攻关")
	b.fill("#new-data-credit-code", "91350100M000100Y44") // the check character should be 3
	b.fill("#new-data-legal-rep", "周工")
	b.fill("#new-data-contact-name", "周工程师")
	b.fill("#new-data-contact-phone", "13912345678")
	b.fill("#new-data-team-0-name", "周工程师")
	b.fill("#new-data-team-0-id-number", residentID("19800101", 123))
	b.fill("#new-data-team-0-role", "项目负责人")
	b.fill("#new-data-plan", "采用碳纤维增强热塑性树脂体系，突破界面改性与在线回收两项关键技术，完成中试验证。")
	b.setValue("#new-data-milestones-0-due", dateIn(180))
	b.fill("#new-data-milestones-0-goal", "完成配方与小试")
	b.fill("#new-data-budget", "1,000,000")
	b.fill("#new-data-self-funding", "800000")
	b.setValue("#new-data-start-date", dateIn(40))
	b.setValue("#new-data-end-date", dateIn(400))
	b.clickAndWait(`main form[action="/apps"] button[type=submit]`)

	// The wrong check character is refused beside its field, in Chinese,
	// and everything typed is still there.
	require.Equal(t, 422, b.lastStatus())
	require.Contains(t, b.text(`#new-data-credit-code-error`), "校验位")
	require.Equal(t, "true", act(b, "read aria-invalid", chromedp.Evaluate[string](
		`document.querySelector("#new-data-credit-code").getAttribute("aria-invalid")`)))
	require.Equal(t, "1", act(b, "the error sits beside its input", chromedp.Evaluate[string](
		`String(document.querySelector("#new-data-credit-code").closest(".field").querySelectorAll("#new-data-credit-code-error").length)`)))
	require.Equal(t, "周工程师", b.value("#new-data-team-0-name"))
	require.Equal(t, "1000000", b.value("#new-data-budget"))
	b.shot("form-error-beside-its-field")
	b.fill("#new-data-credit-code", "91350100M000100Y43")
	b.clickAndWait(`main form[action="/apps"] button[type=submit]`)
	require.Equal(t, 200, b.lastStatus())
	require.Contains(t, b.text(".flash"), "草稿已保存")
	appURL := b.location()
	appID := strings.TrimPrefix(appURL, "/apps/")

	// Submitting without the files is refused, naming each missing slot.
	b.clickAndWait(`#edit-form button[name=then][value=submit_direct]`)
	require.Equal(t, 422, b.lastStatus())
	require.Contains(t, b.text("#slot-license .error"), "请上传营业执照")
	b.shot("files-missing")

	for slot, name := range map[string]string{"license": "营业执照.pdf", "plan": "技术方案.pdf", "finance": "财务报表.pdf"} {
		b.upload("#file-"+slot, pdf(t, name))
		b.clickAndWait(fmt.Sprintf(`#slot-%s form button[type=submit]`, slot))
		require.Contains(t, b.text("#slot-"+slot), name)
	}
	b.shot("files-uploaded")
	b.clickAndWait(`#edit-form button[name=then][value=submit_direct]`)
	require.Equal(t, 200, b.lastStatus())
	require.Equal(t, "形式审查", b.text("#app-state"))
	b.shot("submitted")
	b.signOut()

	// Staff send it back with a question.
	b.signIn("staff")
	b.visit("/tasks")
	require.Contains(t, b.text("main table"), "船用耐高温复合材料关键技术攻关")
	b.shot("staff-inbox")
	b.clickAndWait(`main table a[href^="/apps/` + appID + `"]`)
	b.click(`.task input[name=decision][value=send_back]`)
	b.fill(`.task textarea[name=questions]`, "请补充中试场地的租赁合同")
	b.fill(`.task textarea[name=comment]`, "材料不全")
	b.shot("staff-sends-back")
	b.clickAndWait(`.task form.decision button[type=submit]`)
	require.Contains(t, b.text(".flash"), "已提交决定")
	b.signOut()

	// The enterprise answers the question and submits again.
	b.signIn("rival")
	b.visit(appURL)
	require.Equal(t, "退回修改", b.text("#app-state"))
	require.Contains(t, b.text("main"), "请补充中试场地的租赁合同")
	b.fill(`form[action$="/answers"] textarea`, "已补充：中试场地租赁合同见技术方案附件第 12 页")
	b.shot("enterprise-answers")
	b.clickAndWait(`form[action$="/answers"] button[type=submit]`)
	require.Contains(t, b.text(".flash"), "答复已保存")
	b.clickAndWait(`#edit-form button[name=then][value=submit_direct]`)
	require.Equal(t, "形式审查", b.text("#app-state"))
	b.shot("resubmitted")
	b.signOut()

	// Staff pass the formal check.
	b.signIn("staff")
	b.visit(appURL)
	require.Contains(t, b.text("main"), "已补充：中试场地租赁合同", "staff read the answer")
	b.click(`.task input[name=decision][value=formal_pass]`)
	b.clickAndWait(`.task form.decision button[type=submit]`)
	require.Contains(t, b.text(".flash"), "已提交决定")
	b.signOut()

	// The five drawn experts score on the four criteria.
	stages := s.review("auditor", appID)
	panel := stages[len(stages)-1]
	require.Equal(t, "expert_review", panel.State)
	require.Len(t, panel.Tasks, 5)
	for i, task := range panel.Tasks {
		b.signIn(task.Assignee.Username)
		b.visit("/tasks")
		b.clickAndWait(`main table a[href^="/apps/` + appID + `"]`)
		require.Contains(t, b.text(".task h2"), "专家评审")
		require.Contains(t, b.text("#slot-finance"), "保密", "experts are not shown the financial statements")
		require.Zero(t, b.count(`#slot-finance a[download]`))
		for key, score := range map[string]string{"industry": "85", "foundation": "80", "technical": "78.5", "financial": "90"} {
			b.fill(fmt.Sprintf(`.task input[name="scores.%s"]`, key), score)
		}
		require.Contains(t, b.text(".task .total"), "83.13", "the weighted total as the expert types: (85×30 + 80×25 + 78.5×25 + 90×20) / 100")
		if i == 0 {
			b.shot("expert-scores")
		}
		b.clickAndWait(`.task form.decision button[type=submit]`)
		require.Contains(t, b.text(".flash"), "已提交决定")
		b.signOut()
	}

	// The leader approves, with the amount.
	b.signIn("leader")
	b.visit(appURL)
	require.Equal(t, "局长办公会审定", b.text("#app-state"))
	b.click(`.task input[name=decision][value=approve]`)
	b.fill(`.task input[name="data.amount"]`, "900000")
	b.shot("leader-approves")
	b.clickAndWait(`.task form.decision button[type=submit]`)
	require.Contains(t, b.text(".flash"), "已提交决定")
	b.signOut()

	// The public notice, without signing in.
	b.visit("/notices")
	require.Contains(t, b.text("main table"), "船用耐高温复合材料关键技术攻关")
	require.Contains(t, b.text("main table"), "900,000.00")
	require.NotContains(t, b.text("main"), "13912345678", "no phone number on a notice")
	b.shot("public-notice")
	b.clickAndWait(`main table a[href="/notices/` + appID + `"]`)
	require.Contains(t, b.text("h1"), "船用耐高温复合材料关键技术攻关")
	b.shot("notice-with-objection-form")
	s.requireIntactChain()
	t.Logf("the 揭榜挂帅 path through the pages took %s", time.Since(start))
}
