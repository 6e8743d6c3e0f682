package main

import (
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// creditCode completes the first 17 characters of a unified social credit
// code with their check character (GB 32100-2015).
func creditCode(body string) string {
	weights := []int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}
	sum := 0
	for i := range 17 {
		sum += strings.IndexByte(creditCodeChars, body[i]) * weights[i]
	}
	return body + string(creditCodeChars[(31-sum%31)%31])
}

// creditCodeChars are the characters of a credit code, in the order of
// their values.
const creditCodeChars = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// hitechForm is a complete 高新技术企业培育入库 form for year: 48 million yuan
// of revenue, of which rd yuan went on R&D.
func hitechForm(name, code string, year int, rd float64) map[string]any {
	return map[string]any{"year": year, "enterprise_name": name, "credit_code": code, "registered_on": "2016-03-18",
		"legal_rep": "陈立新", "contact_name": "刘工", "contact_phone": "023-55123456", "field": "新材料",
		"main_products": "船用耐高温碳纤维复合材料部件", "employees": 86, "rd_staff": 15, "invention_patents": 3, "other_ip": 12,
		"revenue": 48000000.00, "rd_spending": rd,
		"summary": "企业设有县级企业技术中心，自主研发碳纤维增强热塑性树脂体系，近三年科技成果转化 6 项，产品配套三峡库区船舶企业。"}
}

// fieldKeys are the fields an error answer names, sorted.
func fieldKeys(e apiError) []string { return slices.Sorted(maps.Keys(e.Error.Fields)) }

// TestFourthProgrammeAsFilesOnly adds a programme no Go code knows,
// 高新技术企业培育入库, by dropping its two files into the workflows
// directory and restarting, then runs an application through it as the real
// roles: refused on a bad credit code, on missing attachments (each slot
// named) and under 3% R&D spending; its unit recommends; staff send it back
// with a question, which is answered; five experts drawn in its technology
// field score it; the leader approves; the 公示 draws an objection that staff
// dismiss; the period ends by its timer and the enterprise is in the pool.
// Then the definition's own rule: one live application per enterprise and
// year, and an enterprise without a recommending unit submitting directly.
func TestFourthProgrammeAsFilesOnly(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	var e apiError
	require.Equal(t, http.StatusNotFound, s.call("applicant", "GET", "/api/v1/workflows/hitech", nil, &e), "unknown before its files are added")
	for _, f := range []string{"hitech.yaml", "hitech.form.json"} {
		raw, err := os.ReadFile(filepath.Join("../../internal/workflow/testdata/fourth", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(s.wfDir, f), raw, 0o644))
	}
	s.restart()
	s.expertPool()

	var wf struct {
		Key, Title, Initial string
		States              []struct {
			Key    string
			Review *struct {
				Reviewers, Specialty string
				Count                int
				Criteria             []struct {
					Key    string
					Weight int
				}
				PassMark string `json:"pass_mark"`
			}
		}
		Form map[string]any
	}
	require.Equal(t, http.StatusOK, s.call("applicant", "GET", "/api/v1/workflows/hitech", nil, &wf))
	require.Equal(t, "高新技术企业培育入库", wf.Title)
	require.Equal(t, "draft", wf.Initial)
	var stateKeys []string
	for _, st := range wf.States {
		stateKeys = append(stateKeys, st.Key)
	}
	require.Equal(t, []string{"draft", "unit_review", "formal_review", "returned", "expert_review", "decision", "public_notice",
		"objection_review", "admitted", "rejected", "withdrawn"}, stateKeys)
	experts := wf.States[4].Review
	require.NotNil(t, experts)
	require.Equal(t, "draw", experts.Reviewers)
	require.Equal(t, 5, experts.Count)
	require.Equal(t, "data.field", experts.Specialty)
	require.Len(t, experts.Criteria, 4)
	require.Equal(t, "70.00", experts.PassMark)
	require.Equal(t, "高新技术企业培育入库申请表", wf.Form["title"])

	year := time.Now().Year()
	code := creditCode("91500235MA5U00012")
	name := "重庆云阳新材料科技有限公司"

	// The form checks a credit code's check character and a phone number.
	wrongCheck := code[:17] + string(creditCodeChars[(strings.IndexByte(creditCodeChars, code[17])+1)%31])
	bad := hitechForm(name, wrongCheck, year, 1439999.99)
	status, e := s.tryCreate("applicant", "hitech", bad)
	require.Equal(t, http.StatusUnprocessableEntity, status)
	require.Equal(t, []string{"data.credit_code"}, fieldKeys(e), "only the check character is wrong: %+v", e)
	bad = hitechForm(name, code, year, 1439999.99)
	bad["contact_phone"] = "5512345"
	status, e = s.tryCreate("applicant", "hitech", bad)
	require.Equal(t, http.StatusUnprocessableEntity, status)
	require.Equal(t, []string{"data.contact_phone"}, fieldKeys(e))
	noYear := hitechForm(name, code, year, 1439999.99)
	delete(noYear, "year")
	status, e = s.tryCreate("applicant", "hitech", noYear)
	require.Equal(t, http.StatusUnprocessableEntity, status, "the year is settled when the application is started")
	require.Equal(t, []string{"data.year"}, fieldKeys(e))

	// A draft may be saved short of 3%; submitting needs every required
	// slot, each named, and then the 3%.
	app := s.create("applicant", "hitech", hitechForm(name, code, year, 1439999.99))
	require.Equal(t, "draft", app.State)
	status, _, e = s.fire("applicant", app.ID, "submit", nil)
	require.Equal(t, http.StatusUnprocessableEntity, status)
	require.Equal(t, []string{"attachments.ip_proof", "attachments.license", "attachments.rd_audit"}, fieldKeys(e))
	require.Contains(t, e.Error.Fields["attachments.rd_audit"], "研发费用专项审计报告")
	s.uploadTo("applicant", app.ID, "license", "营业执照.pdf")
	status, _, e = s.fire("applicant", app.ID, "submit", nil)
	require.Equal(t, http.StatusUnprocessableEntity, status)
	require.Equal(t, []string{"attachments.ip_proof", "attachments.rd_audit"}, fieldKeys(e))
	s.uploadTo("applicant", app.ID, "rd_audit", "研发费用专项审计报告.pdf")
	s.uploadTo("applicant", app.ID, "ip_proof", "发明专利证书.pdf")
	status, _, e = s.fire("applicant", app.ID, "submit", nil)
	require.Equal(t, http.StatusUnprocessableEntity, status)
	require.Equal(t, []string{"data.rd_spending"}, fieldKeys(e), "1,439,999.99 of 48,000,000.00 is a cent under 3%%: %+v", e)
	var got appJSON
	require.Equal(t, http.StatusOK, s.call("applicant", "PATCH", "/api/v1/applications/"+app.ID,
		map[string]any{"data": map[string]any{"rd_spending": 1440000.00}}, &got, "If-Match", `"`+strconv.Itoa(app.Version)+`"`))
	status, _, e = s.fire("applicant", app.ID, "submit_direct", nil)
	require.Equal(t, http.StatusUnprocessableEntity, status, "alpha has a recommending unit, which reviews first")
	require.Equal(t, []string{"event"}, fieldKeys(e))
	require.Equal(t, "unit_review", s.mustFire("applicant", app.ID, "submit", nil), "exactly 3%% is enough")

	// The unit recommends; staff send it back with a question, which must
	// be answered before it goes in again (through the unit).
	s.decideAs("unit", app.ID, map[string]any{"decision": "recommend", "comment": "同意推荐"})
	require.Equal(t, "formal_review", s.appState("applicant", app.ID))
	s.decideAs("staff", app.ID, map[string]any{"decision": "send_back", "questions": []string{"请补充第四项发明专利的授权证书"}})
	require.Equal(t, "returned", s.appState("applicant", app.ID))
	status, _, e = s.fire("applicant", app.ID, "submit", nil)
	require.Equal(t, http.StatusUnprocessableEntity, status, "the question is not answered yet")
	var qs []struct{ ID, Question string }
	require.Equal(t, http.StatusOK, s.call("applicant", "GET", "/api/v1/applications/"+app.ID+"/questions", nil, &qs))
	require.Len(t, qs, 1)
	require.Equal(t, "请补充第四项发明专利的授权证书", qs[0].Question)
	require.Equal(t, []string{"answers." + qs[0].ID}, fieldKeys(e))
	require.Equal(t, http.StatusOK, s.call("applicant", "POST", "/api/v1/applications/"+app.ID+"/answers",
		map[string]any{"answers": map[string]string{qs[0].ID: "已补充第四项发明专利证书，并更新知识产权数量"}}, nil))
	s.uploadTo("applicant", app.ID, "ip_proof", "第四项发明专利证书.pdf")
	require.Equal(t, http.StatusOK, s.call("applicant", "GET", "/api/v1/applications/"+app.ID, nil, &got))
	require.Equal(t, http.StatusOK, s.call("applicant", "PATCH", "/api/v1/applications/"+app.ID,
		map[string]any{"data": map[string]any{"invention_patents": 4}}, &got, "If-Match", `"`+strconv.Itoa(got.Version)+`"`))
	require.Equal(t, "unit_review", s.mustFire("applicant", app.ID, "submit", nil))
	s.decideAs("unit", app.ID, map[string]any{"decision": "recommend"})
	s.decideAs("staff", app.ID, map[string]any{"decision": "formal_pass", "comment": "材料齐全"})
	require.Equal(t, "expert_review", s.appState("applicant", app.ID))

	// Five experts drawn in the enterprise's technology field, never its
	// own or a conflicted one; they do not see the confidential audit.
	stages := s.review("auditor", app.ID)
	panel := stages[len(stages)-1]
	require.Equal(t, "expert_review", panel.State)
	require.Len(t, panel.Tasks, 5)
	require.Len(t, panel.Draws, 1)
	require.Len(t, panel.Draws[0].Pool, 7, "the insider and the conflicted are not in the pool")
	require.True(t, panel.Draws[0].Replays)
	expert := panel.Tasks[0].Assignee.Username
	require.Regexp(t, `^e\d$`, expert)
	var files []struct{ Label string }
	require.Equal(t, http.StatusOK, s.call(expert, "GET", "/api/v1/applications/"+app.ID+"/attachments", nil, &files))
	var labels []string
	for _, f := range files {
		labels = append(labels, f.Label)
	}
	require.ElementsMatch(t, []string{"license", "ip_proof", "ip_proof"}, labels)
	s.scorePanel(app.ID, map[string]any{"ip": 85, "transfer": 80, "rd_management": 75, "growth": 78})
	require.Equal(t, "decision", s.appState("applicant", app.ID))
	s.decideAs("leader", app.ID, map[string]any{"decision": "approve", "comment": "同意纳入高新技术企业培育库"})
	require.Equal(t, "public_notice", s.appState("applicant", app.ID))

	// 公示 for five working days: name and organisation, never the phone.
	notice := noticeOf(s.notices(), app.ID)
	require.NotNil(t, notice)
	require.Equal(t, "hitech", notice["workflow"])
	require.Equal(t, name, notice["title"])
	require.Equal(t, "alpha", notice["org_name"])
	require.Nil(t, notice["amount"], "cultivation carries no amount")
	raw, err := json.Marshal(notice)
	require.NoError(t, err)
	require.NotContains(t, string(raw), "55123456")
	require.NotContains(t, string(raw), code)
	ends := notice["ends_at"].(string)
	require.Equal(t, s.endsAt(notice["starts_at"].(string), 5), ends, "five working days")

	// An objection pauses it; staff dismiss it; the period runs on.
	status, _ = s.object(app.ID, "该企业研发人员多为生产人员兼职，研发投入真实性存疑。")
	require.Equal(t, http.StatusCreated, status)
	require.Equal(t, "objection_review", s.appState("staff", app.ID))
	s.decideAs("staff", app.ID, map[string]any{"decision": "dismiss", "comment": "经核查劳动合同与工时记录，研发人员属实"})
	require.Equal(t, "public_notice", s.appState("staff", app.ID))
	var objs []struct{ Status string }
	require.Equal(t, http.StatusOK, s.call("staff", "GET", "/api/v1/applications/"+app.ID+"/objections", nil, &objs))
	require.Len(t, objs, 1)
	require.Equal(t, "dismissed", objs[0].Status)
	notice = noticeOf(s.notices(), app.ID)
	require.NotNil(t, notice)
	require.Equal(t, ends, notice["ends_at"], "a dismissed objection does not restart the period")

	// The timer ends it at the end of the fifth working day, not before.
	end, err := time.Parse(time.RFC3339, ends)
	require.NoError(t, err)
	require.Contains(t, s.timersAsOf(end.Add(-time.Minute)), "fired 0 timer(s)")
	require.Equal(t, "public_notice", s.appState("applicant", app.ID))
	require.Contains(t, s.timersAsOf(end.Add(time.Minute)), "fired 1 timer(s)")
	require.Equal(t, "admitted", s.appState("applicant", app.ID))
	require.Nil(t, noticeOf(s.notices(), app.ID), "off the public list")
	status, _ = s.object(app.ID, "公示期满后才提出的异议，应当不予受理。")
	require.Equal(t, http.StatusConflict, status, "a late objection")
	require.Equal(t, []string{"create", "submit", "recommend", "send_back", "submit", "recommend", "formal_pass", "experts_pass",
		"approve", "object", "dismiss", "notice_end"}, s.events(app.ID))

	// One live application per enterprise and year, whoever in it applies.
	status, e = s.tryCreate("colleague", "hitech", hitechForm(name, code, year, 1500000))
	require.Equal(t, http.StatusUnprocessableEntity, status, "alpha is in the pool for this year already")
	require.Equal(t, []string{"data.year"}, fieldKeys(e))
	// Nor by changing the year of a draft started for another.
	next := s.create("colleague", "hitech", hitechForm(name, code, year+1, 1500000))
	require.Equal(t, http.StatusOK, s.call("colleague", "PATCH", "/api/v1/applications/"+next.ID,
		map[string]any{"data": map[string]any{"year": year}}, &got, "If-Match", `"`+strconv.Itoa(next.Version)+`"`))
	for _, slot := range []string{"license", "rd_audit", "ip_proof"} {
		s.uploadTo("colleague", next.ID, slot, slot+".pdf")
	}
	status, _, e = s.fire("colleague", next.ID, "submit", nil)
	require.Equal(t, http.StatusUnprocessableEntity, status)
	require.Equal(t, []string{"data.year"}, fieldKeys(e))
	require.Equal(t, "withdrawn", s.mustFire("colleague", next.ID, "withdraw", nil))

	// Another enterprise, with no recommending unit, submits straight to
	// the formal review; rejected or withdrawn, an application no longer
	// counts against its year, while a draft does.
	rivalName, rivalCode := "云阳县智联电子有限公司", creditCode("91500235MA60ABC0X")
	first := s.create("rival", "hitech", hitechForm(rivalName, rivalCode, year, 2000000))
	for _, slot := range []string{"license", "rd_audit", "ip_proof"} {
		s.uploadTo("rival", first.ID, slot, slot+".pdf")
	}
	status, _, e = s.fire("rival", first.ID, "submit", nil)
	require.Equal(t, http.StatusUnprocessableEntity, status, "beta has no unit to recommend it")
	require.Equal(t, []string{"event"}, fieldKeys(e))
	require.Equal(t, "formal_review", s.mustFire("rival", first.ID, "submit_direct", nil))
	s.decideAs("staff", first.ID, map[string]any{"decision": "reject", "comment": "研发费用审计报告非专项审计，不符合要求"})
	require.Equal(t, "rejected", s.appState("rival", first.ID))
	require.Equal(t, []string{"create", "submit_direct", "reject"}, s.events(first.ID))
	second := s.create("rival", "hitech", hitechForm(rivalName, rivalCode, year, 2000000))
	require.Equal(t, "withdrawn", s.mustFire("rival", second.ID, "withdraw", nil))
	s.create("rival", "hitech", hitechForm(rivalName, rivalCode, year, 2000000))
	status, e = s.tryCreate("rival", "hitech", hitechForm(rivalName, rivalCode, year, 2000000))
	require.Equal(t, http.StatusUnprocessableEntity, status, "the draft counts")
	require.Equal(t, []string{"data.year"}, fieldKeys(e))

	s.requireIntactChain()
}
