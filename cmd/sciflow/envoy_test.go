package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// envoyCounty adds the institute that dispatches envoys (its unit reviewer
// consents), two villages with someone to speak for each, and envoy
// candidates envoy1..envoyN at the institute.
func (s *site) envoyCounty(candidates int) map[string]string {
	s.t.Helper()
	orgs := map[string]string{}
	for _, o := range []struct{ name, kind string }{{"云阳产业技术研究院", "institute"}, {"双土镇坪天村", "village"}, {"凤鸣镇黄岭村", "village"}} {
		var org struct{ ID string }
		require.Equal(s.t, http.StatusCreated, s.call("admin", "POST", "/api/v1/orgs", map[string]string{"name": o.name, "kind": o.kind}, &org))
		orgs[o.name] = org.ID
	}
	orgs["alpha"], orgs["beta"] = s.orgs["alpha"], s.orgs["beta"]
	s.addUser("inst", "云阳产业技术研究院", []string{"unit_reviewer"}, nil)
	s.addUser("pingtian", "双土镇坪天村", []string{"applicant"}, nil)
	s.addUser("huangling", "凤鸣镇黄岭村", []string{"applicant"}, nil)
	for i := 1; i <= candidates; i++ {
		s.addUser(fmt.Sprintf("envoy%d", i), "云阳产业技术研究院", []string{"applicant"}, nil)
	}
	return orgs
}

func envoyForm(name string, seq int) map[string]any {
	return map[string]any{"name": name, "id_number": residentID("19750315", seq), "phone": "13800001111",
		"employer_type": "institute", "status": "serving", "professional_title": "deputy_senior",
		"expertise": "茶叶种植与加工", "service_plan": "指导茶园病虫害绿色防控，培训村民茶叶加工技术。"}
}

// appointEnvoy takes a candidate through consent, eligibility and the
// notice period to appointed, and matches them with target.
func (s *site) appointEnvoy(user string, seq int, target string) appJSON {
	s.t.Helper()
	app := s.create(user, "envoy", envoyForm(user, seq))
	s.uploadTo(user, app.ID, "consent", "consent.pdf")
	require.Equal(s.t, "unit_review", s.mustFire(user, app.ID, "submit", nil))
	s.decideAs("inst", app.ID, map[string]any{"decision": "consent"})
	s.decideAs("staff", app.ID, map[string]any{"decision": "eligible"})
	s.timersAsOf(time.Now().AddDate(0, 0, 12))
	require.Equal(s.t, "appointed", s.appState("staff", app.ID))
	require.Equal(s.t, "matched", s.mustFire("staff", app.ID, "match", map[string]any{"data": map[string]any{
		"target_org": target, "agreement_no": "YY-" + user, "agreement_signed_on": dateIn(0)}}))
	return app
}

// logServices has the envoy log n services on n days of this year, each
// confirmed by the target's person.
func (s *site) logServices(envoy, appID, confirmer string, n int) {
	s.t.Helper()
	year := time.Now().Year()
	for i := 0; i < n; i++ {
		svc := s.create(envoy, "envoy_service", map[string]any{"date": fmt.Sprintf("%d-01-%02d", year, i+1), "kind": "visit",
			"hours": 4, "people_trained": 10, "description": "茶园走访，指导病虫害防治"}, appID)
		s.mustFire(envoy, svc.ID, "submit", nil)
		require.Equal(s.t, "confirmed", s.mustFire(confirmer, svc.ID, "confirm", nil))
	}
}

// assess has the envoy submit this year's self-assessment and the target
// give its opinion; the assessment then waits for the bureau's grade.
func (s *site) assess(envoy, appID, confirmer string) appJSON {
	s.t.Helper()
	a := s.create(envoy, "envoy_assessment", map[string]any{"year": time.Now().Year(),
		"summary": "全年走访茶园，开展技术培训，引进新品种一个。", "technologies": 1, "varieties": 1, "people_trained": 120}, appID)
	s.uploadTo(envoy, a.ID, "materials", "materials.pdf")
	require.Equal(s.t, "target_opinion", s.mustFire(envoy, a.ID, "submit", nil))
	require.Equal(s.t, "bureau_grading", s.mustFire(confirmer, a.ID, "opine", map[string]any{"data": map[string]any{
		"satisfaction": "very_satisfied", "target_opinion": "服务及时，效果明显"}}))
	return a
}

// TestEnvoyEndToEnd runs 科技特派员 as the real roles: eligibility refused
// twice, then submitted; the dispatching unit consents; the bureau sends it
// back once; after the resubmission the notice draws an objection that is
// dismissed, and ends by its timer; the three-party agreement matches the
// envoy with a village that confirms the start and each logged service;
// the annual assessment is graded 良好 on twelve service days (优秀 would
// exceed 35% of the one envoy assessed so far); a second
// envoy with four days can only be graded 不合格, which ends the
// appointment by itself.
func TestEnvoyEndToEnd(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	orgs := s.envoyCounty(2)
	village := orgs["双土镇坪天村"]

	app := s.create("envoy1", "envoy", envoyForm("孙研究员", 1))
	s.uploadTo("envoy1", app.ID, "consent", "consent.pdf")
	var got appJSON
	patch := func(data map[string]any) {
		require.Equal(t, 200, s.call("envoy1", "GET", "/api/v1/applications/"+app.ID, nil, &got))
		require.Equal(t, 200, s.call("envoy1", "PATCH", "/api/v1/applications/"+app.ID, map[string]any{"data": data}, &got,
			"If-Match", fmt.Sprintf(`"%d"`, got.Version)))
	}
	patch(map[string]any{"employer_type": "government"})
	code, _, e := s.fire("envoy1", app.ID, "submit", nil)
	require.Equal(t, 422, code, "staff of a government organ are not eligible")
	require.Contains(t, e.Error.Fields, "data.employer_type")
	patch(map[string]any{"employer_type": "institute", "status": "retired", "professional_title": "none"})
	code, _, e = s.fire("envoy1", app.ID, "submit", nil)
	require.Equal(t, 422, code, "a retiree needs a professional title")
	require.Contains(t, e.Error.Fields, "data.professional_title")
	patch(map[string]any{"professional_title": "senior"})
	require.Equal(t, "unit_review", s.mustFire("envoy1", app.ID, "submit", nil))
	s.decideAs("inst", app.ID, map[string]any{"decision": "consent"})
	s.decideAs("staff", app.ID, map[string]any{"decision": "send_back", "questions": []string{"请上传职称证书"}})
	var qs []struct{ ID string }
	require.Equal(t, 200, s.call("envoy1", "GET", "/api/v1/applications/"+app.ID+"/questions", nil, &qs))
	s.uploadTo("envoy1", app.ID, "title_certificate", "title.pdf")
	require.Equal(t, 200, s.call("envoy1", "POST", "/api/v1/applications/"+app.ID+"/answers",
		map[string]any{"answers": map[string]string{qs[0].ID: "已上传正高级职称证书"}}, nil))
	require.Equal(t, "unit_review", s.mustFire("envoy1", app.ID, "submit", nil))
	s.decideAs("inst", app.ID, map[string]any{"decision": "consent"})
	s.decideAs("staff", app.ID, map[string]any{"decision": "eligible"})
	require.Equal(t, "public_notice", s.appState("envoy1", app.ID))

	notice := noticeOf(s.notices(), app.ID)
	require.Equal(t, "孙研究员", notice["person"])
	require.Equal(t, "茶叶种植与加工", notice["title"])
	require.Nil(t, notice["id_number"], "never an ID number")
	code, _ = s.object(app.ID, "该同志已于去年退休，且长期在外地居住。")
	require.Equal(t, 201, code)
	s.decideAs("staff", app.ID, map[string]any{"decision": "dismiss", "comment": "经核实，退休人员具有正高级职称，符合条件"})
	s.timersAsOf(time.Now().AddDate(0, 0, 12))
	require.Equal(t, "appointed", s.appState("envoy1", app.ID))

	// Three-party agreement with the village, whose people then see it and
	// confirm the start and each service.
	require.Equal(t, 404, s.call("pingtian", "GET", "/api/v1/applications/"+app.ID, nil, nil), "not a party yet")
	require.Equal(t, "matched", s.mustFire("staff", app.ID, "match", map[string]any{"data": map[string]any{
		"target_org": village, "agreement_no": "YY-2026-001", "agreement_signed_on": dateIn(0)}}))
	var seen appJSON
	require.Equal(t, 200, s.call("pingtian", "GET", "/api/v1/applications/"+app.ID, nil, &seen), "the target sees it now")
	require.Equal(t, []struct{ Event, Title string }{{"start_service", "确认开始服务"}}, seen.Actions)
	require.Equal(t, 404, s.call("huangling", "GET", "/api/v1/applications/"+app.ID, nil, nil), "another village does not")
	code, e = s.tryCreate("envoy1", "envoy_service", map[string]any{"date": dateIn(0), "kind": "visit", "hours": 2, "description": "走访"})
	require.Equal(t, 422, code, "a service log hangs under its envoy")
	require.Equal(t, "active", s.mustFire("pingtian", app.ID, "start_service", nil))
	s.logServices("envoy1", app.ID, "pingtian", 12)

	a := s.assess("envoy1", app.ID, "pingtian")
	code, _, e = s.fire("staff", a.ID, "grade", map[string]any{"data": map[string]any{"grade": "excellent", "score": 93}})
	require.Equal(t, 422, code, "35%% of one envoy assessed leaves no room for 优秀")
	require.Equal(t, "graded", s.mustFire("staff", a.ID, "grade", map[string]any{"data": map[string]any{"grade": "good", "score": 90}}))
	require.Equal(t, "ended", s.mustFire("staff", app.ID, "end", map[string]any{"comment": "聘期届满"}))

	// A second envoy with four service days: only 不合格, which ends the
	// appointment by itself.
	second := s.appointEnvoy("envoy2", 2, orgs["凤鸣镇黄岭村"])
	s.mustFire("huangling", second.ID, "start_service", nil)
	s.logServices("envoy2", second.ID, "huangling", 4)
	b := s.assess("envoy2", second.ID, "huangling")
	code, _, e = s.fire("staff", b.ID, "grade", map[string]any{"data": map[string]any{"grade": "pass", "score": 61}})
	require.Equal(t, 422, code, "fewer than 5 service days")
	require.Contains(t, e.Error.Fields, "data.grade")
	require.Equal(t, "failed", s.mustFire("staff", b.ID, "fail", map[string]any{"comment": "服务天数不足", "data": map[string]any{"score": 40}}))
	require.Equal(t, "ended", s.appState("staff", second.ID), "不合格 ends the appointment")
	require.Contains(t, s.events(second.ID), "dismiss_envoy")

	require.Equal(t, []string{"create", "submit", "consent", "send_back", "submit", "consent", "eligible", "object", "dismiss",
		"notice_end", "match", "start_service", "end"}, s.events(app.ID))
	s.requireIntactChain()
}

// TestEnvoyRules: at most three envoys per enterprise, and 优秀 capped at
// 35% of the envoys assessed in the county that year (a fourth 优秀 among
// ten is refused).
func TestEnvoyRules(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	orgs := s.envoyCounty(10)
	targets := []struct{ org, user string }{{"alpha", "applicant"}, {"beta", "rival"}, {"双土镇坪天村", "pingtian"}, {"凤鸣镇黄岭村", "huangling"}}
	var envoys []appJSON
	for i := 1; i <= 10; i++ {
		tg := targets[(i-1)/3]
		user := fmt.Sprintf("envoy%d", i)
		if i == 4 {
			// A fourth envoy for alpha is refused.
			app := s.create(user, "envoy", envoyForm(user, i))
			s.uploadTo(user, app.ID, "consent", "consent.pdf")
			s.mustFire(user, app.ID, "submit", nil)
			s.decideAs("inst", app.ID, map[string]any{"decision": "consent"})
			s.decideAs("staff", app.ID, map[string]any{"decision": "eligible"})
			s.timersAsOf(time.Now().AddDate(0, 0, 12))
			code, _, e := s.fire("staff", app.ID, "match", map[string]any{"data": map[string]any{
				"target_org": orgs["alpha"], "agreement_no": "YY-4", "agreement_signed_on": dateIn(0)}})
			require.Equal(t, 422, code, "alpha has three envoys")
			require.Contains(t, e.Error.Fields, "data.target_org")
			require.Equal(t, "matched", s.mustFire("staff", app.ID, "match", map[string]any{"data": map[string]any{
				"target_org": orgs[tg.org], "agreement_no": "YY-4", "agreement_signed_on": dateIn(0)}}))
			envoys = append(envoys, app)
			continue
		}
		envoys = append(envoys, s.appointEnvoy(user, i, orgs[tg.org]))
	}
	var assessments []appJSON
	for i, app := range envoys {
		tg := targets[i/3]
		user := fmt.Sprintf("envoy%d", i+1)
		s.mustFire(tg.user, app.ID, "start_service", nil)
		s.logServices(user, app.ID, tg.user, 12)
		assessments = append(assessments, s.assess(user, app.ID, tg.user))
	}
	for i, a := range assessments[:3] {
		require.Equal(t, "graded", s.mustFire("staff", a.ID, "grade", map[string]any{"data": map[string]any{"grade": "excellent", "score": 95 - i}}))
	}
	code, _, e := s.fire("staff", assessments[3].ID, "grade", map[string]any{"data": map[string]any{"grade": "excellent", "score": 90}})
	require.Equal(t, 422, code, "a fourth 优秀 among ten assessed")
	require.Contains(t, e.Error.Fields, "data.grade")
	require.Equal(t, "graded", s.mustFire("staff", assessments[3].ID, "grade", map[string]any{"data": map[string]any{"grade": "good", "score": 88}}))
	s.requireIntactChain()
}
