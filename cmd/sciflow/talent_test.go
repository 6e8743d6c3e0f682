package main

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// registerTalent registers a person with their employer, as talents do,
// and has the employer's reviewer verify the registration.
func (s *site) registerTalent(username, name, employer, verifier string) {
	s.t.Helper()
	var res struct {
		Verification appJSON
	}
	require.Equal(s.t, http.StatusCreated, s.call("", "POST", "/api/v1/registrations", map[string]string{"kind": "individual",
		"username": username, "password": testPassword, "name": name, "phone": "13700001111", "employer": employer}, &res))
	s.mustFire(verifier, res.Verification.ID, "verify", nil)
}

func talentForm(name string, seq int, degree string) map[string]any {
	return map[string]any{"name": name, "id_number": residentID("19880520", seq), "phone": "13700001111",
		"position": "心血管内科主治医师", "employed_since": "2020-07-01", "degree": degree, "professional_title": "intermediate",
		"skill_level": "none", "achievements": "主持市级科研项目一项，发表核心期刊论文五篇。"}
}

// submitTalent creates and submits a talent application with its files.
func (s *site) submitTalent(user string, form map[string]any) appJSON {
	s.t.Helper()
	app := s.create(user, "talent", form)
	s.uploadTo(user, app.ID, "id_card", "id.pdf")
	s.uploadTo(user, app.ID, "employment", "contract.pdf")
	require.Equal(s.t, "employer_review", s.mustFire(user, app.ID, "submit", nil))
	return app
}

// TestTalentEndToEnd runs 人才资助 as the real roles: a doctor registers with
// the hospital, applies, is sent back once by the employer, resubmits; the
// tier computed from the doctorate (优秀人才) is overridden by staff with a
// reason; the leader approves; the notice period ends by its timer; two
// yearly instalments are confirmed by the employer and paid; a second
// programme for the same person and a second instalment for one year are
// refused; when the hospital reports the doctor has left, the subsidy stops
// and the open instalment with it. A second applicant's notice draws an
// objection that staff sustain.
func TestTalentEndToEnd(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	require.Equal(t, http.StatusCreated, s.call("admin", "POST", "/api/v1/orgs", map[string]string{"name": "云阳县人民医院", "kind": "employer"}, nil))
	s.addUser("hospital", "云阳县人民医院", []string{"unit_reviewer"}, nil)
	s.registerTalent("drli", "李医生", "云阳县人民医院", "hospital")
	s.registerTalent("nurse", "王护士", "云阳县人民医院", "hospital")

	app := s.submitTalent("drli", talentForm("李医生", 1, "doctorate"))
	s.decideAs("hospital", app.ID, map[string]any{"decision": "send_back", "questions": []string{"请补充劳动合同续签页"}})
	var qs []struct{ ID string }
	require.Equal(t, 200, s.call("drli", "GET", "/api/v1/applications/"+app.ID+"/questions", nil, &qs))
	require.Equal(t, 200, s.call("drli", "POST", "/api/v1/applications/"+app.ID+"/answers",
		map[string]any{"answers": map[string]string{qs[0].ID: "已补充续签页"}}, nil))
	require.Equal(t, "employer_review", s.mustFire("drli", app.ID, "submit", nil))
	s.decideAs("hospital", app.ID, map[string]any{"decision": "confirm_employment"})
	var got appJSON
	require.Equal(t, 200, s.call("staff", "GET", "/api/v1/applications/"+app.ID, nil, &got))
	require.Equal(t, "excellent", got.Data["computed_tier"], "a doctorate reaches 优秀人才")
	code, _, e := s.fire("staff", app.ID, "override_tier", map[string]any{"data": map[string]any{"tier": "backbone", "tier_reason": "境外学位尚未认证"}})
	require.Equal(t, 422, code, "an override records its reason as a comment too")
	require.Contains(t, e.Error.Fields, "comment")
	s.mustFire("staff", app.ID, "override_tier", map[string]any{"comment": "学位认证前暂按骨干人才",
		"data": map[string]any{"tier": "backbone", "tier_reason": "境外学位尚未认证"}})
	s.decideAs("staff", app.ID, map[string]any{"decision": "bureau_pass"})
	s.decideAs("leader", app.ID, map[string]any{"decision": "approve"})
	notice := noticeOf(s.notices(), app.ID)
	require.Equal(t, "李医生", notice["person"])
	require.Equal(t, "梯城英才·骨干人才", notice["title"])
	require.EqualValues(t, 50000, notice["amount"])
	s.timersAsOf(time.Now().AddDate(0, 0, 12))
	require.Equal(t, "approved", s.appState("drli", app.ID))

	code, e = s.tryCreate("drli", "talent", talentForm("李医生", 1, "doctorate"))
	require.Equal(t, 422, code, "one programme per person at a time")
	require.Contains(t, e.Error.Fields, "data.id_number")

	year := time.Now().Year()
	for i := 0; i < 2; i++ {
		inst := s.create("staff", "talent_instalment", map[string]any{"year": year + i}, app.ID)
		s.decideAs("hospital", inst.ID, map[string]any{"decision": "still_employed"})
		code, _, e = s.fire("staff", inst.ID, "pay", map[string]any{"data": map[string]any{"amount": 20000, "paid_on": dateIn(0)}})
		require.Equal(t, 422, code, "more than a third of the subsidy")
		require.Equal(t, "paid", s.mustFire("staff", inst.ID, "pay", map[string]any{"data": map[string]any{"amount": 16666.67, "paid_on": dateIn(0)}}))
	}
	var bad apiError
	require.Equal(t, 422, s.call("staff", "POST", "/api/v1/applications", map[string]any{"workflow": "talent_instalment",
		"parent_id": app.ID, "data": map[string]any{"year": year}}, &bad), "one instalment a year")
	third := s.create("staff", "talent_instalment", map[string]any{"year": year + 2}, app.ID)
	s.decideAs("hospital", third.ID, map[string]any{"decision": "still_employed"})
	code, _, e = s.fire("staff", third.ID, "pay", map[string]any{"data": map[string]any{"amount": 16666.67, "paid_on": dateIn(0)}})
	require.Equal(t, 422, code, "three rounded shares would pay a fen more than the award: %+v", e)
	require.Contains(t, e.Error.Fields, "data.amount")
	require.Equal(t, "stopped", s.mustFire("hospital", app.ID, "leave", map[string]any{"comment": "已调往市中心医院",
		"data": map[string]any{"left_on": dateIn(0), "clawback": 0}}))
	require.Equal(t, "stopped", s.appState("staff", third.ID), "the open instalment stops with it")

	// The second applicant: an objection sustained.
	other := s.submitTalent("nurse", talentForm("王护士", 2, "bachelor"))
	s.decideAs("hospital", other.ID, map[string]any{"decision": "confirm_employment"})
	s.decideAs("staff", other.ID, map[string]any{"decision": "bureau_pass"})
	s.decideAs("leader", other.ID, map[string]any{"decision": "approve"})
	code, _ = s.object(other.ID, "该同志的学历证书系伪造，请核查学信网记录。")
	require.Equal(t, 201, code)
	s.decideAs("staff", other.ID, map[string]any{"decision": "sustain", "comment": "经学信网核查，学历证书不实"})
	require.Equal(t, "rejected", s.appState("staff", other.ID))
	var objs []struct{ Status, Decision string }
	require.Equal(t, 200, s.call("auditor", "GET", "/api/v1/applications/"+other.ID+"/objections", nil, &objs))
	require.Equal(t, "sustained", objs[0].Status)
	require.Equal(t, "经学信网核查，学历证书不实", objs[0].Decision)
	require.Nil(t, noticeOf(s.notices(), other.ID), "a rejected application leaves the notice list")

	require.Equal(t, []string{"create", "submit", "send_back", "submit", "confirm_employment", "override_tier", "bureau_pass",
		"approve", "notice_end", "leave"}, s.events(app.ID))

	// The plan dashboard counts the backbone talent funded and what was paid.
	funded, byYear := s.indicator("talents_backbone")
	require.EqualValues(t, 1, funded)
	require.EqualValues(t, 1, byYear[strconv.Itoa(year)])
	paid, _ := s.indicator("talent_paid")
	require.EqualValues(t, 33333.34, paid)
	top, _ := s.indicator("talents_top")
	require.Zero(t, top)
	require.Equal(t, 403, s.call("drli", "GET", "/api/v1/stats/plan", nil, nil), "applicants do not read the dashboard")
	s.requireIntactChain()
}
