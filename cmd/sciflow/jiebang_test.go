package main

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// publishChallenge has staff post and publish a challenge with a ceiling of
// three million yuan, open for a month.
func (s *site) publishChallenge(title string) appJSON {
	s.t.Helper()
	ch := s.create("staff", "jiebang_challenge", map[string]any{"title": title,
		"need": "研发耐高温、可回收的复合材料，用于三峡库区船舶部件", "targets": "耐温 300℃，回收率 90%",
		"field": "新材料", "owner": "云阳县科学技术局", "budget_ceiling": 3000000, "deadline": dateIn(30), "duration_months": 24})
	require.Equal(s.t, "published", s.mustFire("staff", ch.ID, "publish", nil))
	return ch
}

func jiebangForm(challenge string, budget float64) map[string]any {
	return map[string]any{"challenge": challenge, "title": "船用耐高温复合材料关键技术攻关",
		"credit_code": "91350100M000100Y43", "legal_rep": "周工", "contact_name": "周工程师", "contact_phone": "13912345678",
		"team":       []map[string]any{{"name": "周工程师", "id_number": residentID("19800101", 123), "role": "项目负责人", "title": "高级工程师"}},
		"plan":       "采用碳纤维增强热塑性树脂体系，突破界面改性与在线回收两项关键技术，完成中试验证。",
		"milestones": []map[string]any{{"due": dateIn(180), "goal": "完成配方与小试"}, {"due": dateIn(500), "goal": "完成中试与验收"}},
		"budget":     budget, "self_funding": 1000000, "start_date": dateIn(40), "end_date": dateIn(60)}
}

// TestJiebangEndToEnd runs 揭榜挂帅 through the API as the real roles: the
// bureau posts a challenge, an enterprise applies (sent back once, answers,
// resubmits), its unit recommends, staff pass the formal check, five drawn
// experts score, the leader approves, 公示 draws an objection that staff
// dismiss, the notice period ends by its timer, the contract is signed and
// confirmed, tranches are paid (one refused as too much), the mid-term check
// passes, three experts accept, the final tranche is paid, the project
// completes and the challenge is awarded by its own deadline's timer.
func TestJiebangEndToEnd(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.expertPool()
	ch := s.publishChallenge("船用复合材料揭榜")

	var listed []appJSON
	var page struct{ Items []appJSON }
	require.Equal(t, http.StatusOK, s.call("rival", "GET", "/api/v1/applications?workflow=jiebang_challenge", nil, &page))
	listed = page.Items
	require.Len(t, listed, 1, "every signed-in enterprise sees a published challenge")
	require.Empty(t, listed[0].Actions, "and may do nothing to it")

	// Check characters are checked, not only the shape.
	bad := jiebangForm(ch.ID, 1000000)
	bad["credit_code"] = "91350100M000100Y44"
	bad["team"] = []map[string]any{{"name": "周工程师", "id_number": wrongCheck(residentID("19800101", 123)), "role": "负责人"}}
	code, e := s.tryCreate("applicant", "jiebang", bad)
	require.Equal(t, 422, code)
	require.Contains(t, e.Error.Fields["data.credit_code"], "校验位")
	require.Contains(t, e.Error.Fields["data.team.0.id_number"], "校验位")

	// Over the ceiling: refused on the field when submitting.
	app := s.create("applicant", "jiebang", jiebangForm(ch.ID, 3500000))
	for _, slot := range []string{"license", "plan"} {
		s.uploadTo("applicant", app.ID, slot, slot+".pdf")
	}
	code, _, e = s.fire("applicant", app.ID, "submit", nil)
	require.Equal(t, 422, code)
	require.Contains(t, e.Error.Fields, "attachments.finance", "the financial statements are required")
	s.uploadTo("applicant", app.ID, "finance", "finance.pdf")
	code, _, e = s.fire("applicant", app.ID, "submit", nil)
	require.Equal(t, 422, code)
	require.Contains(t, e.Error.Fields, "data.budget", "over the challenge's ceiling: %+v", e)
	var got appJSON
	require.Equal(t, 200, s.call("applicant", "PATCH", "/api/v1/applications/"+app.ID, map[string]any{"data": map[string]any{"budget": 2000000}},
		&got, "If-Match", `"`+strconv.Itoa(app.Version)+`"`))
	code, e = s.tryPatch("applicant", app.ID, map[string]any{"midterm_passed": true, "amount": 3000000})
	require.Equal(t, 422, code, "fields the workflow's steps fill in are not the applicant's to write")
	require.Contains(t, e.Error.Fields, "data.midterm_passed")
	require.Contains(t, e.Error.Fields, "data.amount")
	code, _, e = s.fire("applicant", app.ID, "submit_direct", nil)
	require.Equal(t, 422, code, "alpha has a recommending unit, so it goes through it")
	require.Equal(t, "unit_review", s.mustFire("applicant", app.ID, "submit", nil))

	// Sent back with a question; answered; resubmitted.
	s.decideAs("unit", app.ID, map[string]any{"decision": "send_back", "questions": []string{"请补充中试场地证明"}})
	require.Equal(t, "returned", s.appState("applicant", app.ID))
	var qs []struct{ ID string }
	require.Equal(t, 200, s.call("applicant", "GET", "/api/v1/applications/"+app.ID+"/questions", nil, &qs))
	require.Equal(t, 200, s.call("applicant", "POST", "/api/v1/applications/"+app.ID+"/answers",
		map[string]any{"answers": map[string]string{qs[0].ID: "已补充厂房租赁合同"}}, nil))
	require.Equal(t, "unit_review", s.mustFire("applicant", app.ID, "submit", nil))
	s.decideAs("unit", app.ID, map[string]any{"decision": "recommend"})
	s.decideAs("staff", app.ID, map[string]any{"decision": "formal_pass"})
	require.Equal(t, "expert_review", s.appState("applicant", app.ID))
	stages := s.review("auditor", app.ID)
	experts := stages[len(stages)-1]
	require.Len(t, experts.Tasks, 5, "five experts drawn in the challenge's field")
	require.Len(t, experts.Draws[0].Pool, 7)
	s.scorePanel(app.ID, map[string]any{"industry": 85, "foundation": 80, "technical": 78, "financial": 75})
	require.Equal(t, "decision", s.appState("applicant", app.ID))
	s.decideAs("leader", app.ID, map[string]any{"decision": "approve", "comment": "同意立项", "data": map[string]any{"amount": 1500000}})
	require.Equal(t, "public_notice", s.appState("applicant", app.ID))

	// 公示: on the public list, without phone or ID; an objection pauses it
	// and is dismissed; the period then runs out by its timer.
	notice := noticeOf(s.notices(), app.ID)
	require.NotNil(t, notice)
	require.Equal(t, "船用耐高温复合材料关键技术攻关", notice["title"])
	require.EqualValues(t, 1500000, notice["amount"])
	require.Equal(t, "alpha", notice["org_name"])
	code, e = s.object(app.ID, "短")
	require.Equal(t, 422, code, "an objection gives its reasons")
	require.Contains(t, e.Error.Fields, "reason")
	code, _ = s.object(app.ID, "该企业的中试线尚未建成，申报材料与实际不符。")
	require.Equal(t, 201, code)
	require.Equal(t, "objection_review", s.appState("staff", app.ID))
	require.NotNil(t, noticeOf(s.notices(), app.ID), "the notice stays up while the objection is looked into")
	var objs []struct{ Status, Name string }
	require.Equal(t, 200, s.call("staff", "GET", "/api/v1/applications/"+app.ID+"/objections", nil, &objs))
	require.Len(t, objs, 1)
	require.Equal(t, 403, s.call("applicant", "GET", "/api/v1/applications/"+app.ID+"/objections", nil, nil), "the applicant does not learn who objected")
	s.decideAs("staff", app.ID, map[string]any{"decision": "dismiss", "comment": "经核实，中试线已于上月投产"})
	require.Equal(t, "public_notice", s.appState("staff", app.ID), "the notice resumes")
	require.Equal(t, 200, s.call("staff", "GET", "/api/v1/applications/"+app.ID+"/objections", nil, &objs))
	require.Equal(t, "dismissed", objs[0].Status)
	out := s.timersAsOf(time.Now().AddDate(0, 0, 12))
	require.Contains(t, out, "fired 1 timer")
	require.Equal(t, "contracting", s.appState("applicant", app.ID))
	code, _ = s.object(app.ID, "公示期过后才提出的异议，应当不予受理。")
	require.Equal(t, 409, code, "a late objection")

	// Contract, tranches, mid-term, acceptance.
	code, _, e = s.fire("staff", app.ID, "confirm_contract", nil)
	require.Equal(t, 422, code, "not signed yet")
	s.mustFire("applicant", app.ID, "sign", map[string]any{"data": map[string]any{"signed_on": dateIn(0)}})
	require.Equal(t, "in_progress", s.mustFire("staff", app.ID, "confirm_contract", nil))
	code, _, e = s.fire("staff", app.ID, "disburse", map[string]any{"data": map[string]any{"tranche": 1, "amount": 700000, "paid_on": dateIn(0)}})
	require.Equal(t, 422, code, "more than the first tranche's 40%%")
	s.mustFire("staff", app.ID, "disburse", map[string]any{"data": map[string]any{"tranche": 1, "amount": 600000, "paid_on": dateIn(0)}})
	code, _, _ = s.fire("staff", app.ID, "disburse", map[string]any{"data": map[string]any{"tranche": 1, "amount": 600000, "paid_on": dateIn(0)}})
	require.Equal(t, 422, code, "the first tranche paid twice")
	code, _, e = s.fire("staff", app.ID, "disburse", map[string]any{"data": map[string]any{"tranche": 2, "amount": 450000, "paid_on": dateIn(0)}})
	require.Equal(t, 422, code, "the second tranche waits for the mid-term check")
	require.Contains(t, e.Error.Fields, "data.tranche")
	require.Equal(t, "midterm_check", s.mustFire("staff", app.ID, "start_midterm", nil))
	s.decideAs("staff", app.ID, map[string]any{"decision": "midterm_pass"})
	s.mustFire("staff", app.ID, "disburse", map[string]any{"data": map[string]any{"tranche": 2, "amount": 450000, "paid_on": dateIn(0)}})
	require.Equal(t, "acceptance", s.mustFire("applicant", app.ID, "apply_acceptance", nil))
	s.decidePanel(app.ID, "accept")
	require.Equal(t, "accepted", s.appState("applicant", app.ID))
	code, _, e = s.fire("staff", app.ID, "disburse_final", map[string]any{"data": map[string]any{"tranche": 3, "amount": 450000.01, "paid_on": dateIn(0)}})
	require.Equal(t, 422, code, "never more than approved")
	require.Contains(t, e.Error.Fields, "data.amount")
	s.mustFire("staff", app.ID, "disburse_final", map[string]any{"data": map[string]any{"tranche": 3, "amount": 450000, "paid_on": dateIn(0)}})
	require.Equal(t, "completed", s.mustFire("staff", app.ID, "complete", nil))
	var final appJSON
	require.Equal(t, 200, s.call("applicant", "GET", "/api/v1/applications/"+app.ID, nil, &final))
	require.EqualValues(t, 1500000, final.Data["disbursed"])
	require.Equal(t, []any{600000.0, 450000.0, 450000.0}, final.Data["tranches"])

	// An enterprise without a recommending unit goes straight to the
	// formal check; it withdraws before a decision.
	direct := s.create("rival", "jiebang", jiebangForm(ch.ID, 900000))
	for _, slot := range []string{"license", "plan", "finance"} {
		s.uploadTo("rival", direct.ID, slot, slot+".pdf")
	}
	code, _, _ = s.fire("rival", direct.ID, "submit", nil)
	require.Equal(t, 422, code, "beta has no recommending unit")
	require.Equal(t, "formal_review", s.mustFire("rival", direct.ID, "submit_direct", nil))
	require.Equal(t, "withdrawn", s.mustFire("rival", direct.ID, "withdraw", nil))

	// The challenge closes by its deadline's timer, and is awarded.
	code, _, _ = s.fire("staff", ch.ID, "award", nil)
	require.Equal(t, 409, code, "still published")
	s.timersAsOf(time.Now().AddDate(0, 0, 32))
	require.Equal(t, "closed", s.appState("staff", ch.ID))
	code, e = s.tryCreate("rival", "jiebang", jiebangForm(ch.ID, 100000))
	require.Equal(t, 409, code, "an application to a closed challenge: %+v", e)
	require.Equal(t, "awarded", s.mustFire("staff", ch.ID, "award", nil))
	awarded, _ := s.indicator("challenges_awarded")
	require.EqualValues(t, 1, awarded)
	disbursed, _ := s.indicator("jiebang_disbursed")
	require.EqualValues(t, 1500000, disbursed)
	committed, byState := s.indicator("jiebang_committed")
	require.EqualValues(t, 1500000, committed)
	require.EqualValues(t, 1500000, byState["completed"])

	require.Equal(t, []string{"create", "submit", "send_back", "submit", "recommend", "formal_pass", "experts_pass", "approve",
		"object", "dismiss", "notice_end", "sign", "confirm_contract", "disburse", "start_midterm", "midterm_pass", "disburse",
		"apply_acceptance", "accept", "disburse_final", "complete"}, s.events(app.ID))
	s.requireIntactChain()
}

// wrongCheck changes an ID's check character to another one.
func wrongCheck(id string) string {
	if id[17] == '0' {
		return id[:17] + "1"
	}
	return id[:17] + "0"
}
