package demo

import (
	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/engine"
)

// talents seeds 梯城英才 in four tiers at four stages: a 高层次人才 approved
// last year, his first instalment paid and this year's waiting for the
// hospital; an 优秀人才 (sent back once by the hospital) in the bureau's
// review; a 骨干人才 waiting for the institute to confirm his employment; and
// a 紧缺人才 approved yesterday, in 公示.
func (s *seeder) talents() {
	s.topTalent()
	s.excellentTalent()
	s.backboneTalent()
	s.shortageTalent()
}

// talentForm is the application of a person born in Yunyang.
func talentForm(name, born string, serial int, male bool, phone, position, since, degree, title, achievements string) map[string]any {
	return map[string]any{"name": name, "id_number": residentID(born, serial, male), "phone": phone, "position": position,
		"employed_since": since, "degree": degree, "professional_title": title, "skill_level": "none",
		"achievements": achievements}
}

func (s *seeder) topTalent() {
	st := s.story()
	var app string
	st.at(s.ago(422, "20:30"), func() {
		form := talentForm("陶建国", "19700815", 51, true, mobile(31), "心血管内科主任、主任医师", "2003-07-15", "doctorate", "senior",
			"重庆英才·名家名师；主持省部级科研项目 3 项，在县内率先开展冠脉介入和心脏起搏器植入手术，带领科室建成市级临床重点专科。")
		form["honours"] = []string{"chongqing_talent"}
		app = s.create("taojg", "talent", "", form)
		s.attach("taojg", app, "id_card", "diploma", "title_certificate", "employment", "honours")
	})
	st.at(s.ago(421, "09:10"), func() { s.fire("taojg", app, "submit", "", nil) })
	st.at(s.ago(419, "15:00"), func() {
		s.decide("hospital", app, engine.DecisionInput{Decision: "confirm_employment", Comment: "该同志系我院在编在岗职工。"})
	})
	st.at(s.ago(413, "10:30"), func() {
		s.decide("staff", app, engine.DecisionInput{Decision: "bureau_pass", Comment: "重庆英才称号经核实，认定为高层次人才。"})
	})
	st.at(s.ago(405, "16:20"), func() {
		s.decide("leader", app, engine.DecisionInput{Decision: "approve", Comment: "人才工作领导小组审定同意。"})
	})
	var first string
	st.at(s.ago(383, "09:30"), func() {
		s.expect(app, "approved")
		first = s.create("staff", "talent_instalment", app, map[string]any{"year": s.clock.In(calendar.China).Year()})
	})
	st.at(s.ago(380, "11:00"), func() {
		s.decide("hospital", first, engine.DecisionInput{Decision: "still_employed", Comment: "仍在我院工作。"})
	})
	st.at(s.ago(375, "14:40"), func() {
		s.fire("staff", first, "pay", "拨付第一期人才资助。", map[string]any{"amount": 166666.67, "paid_on": s.today()})
	})
	// This year's instalment, which the hospital has yet to confirm.
	st.at(s.ago(5, "10:00"), func() {
		s.create("staff", "talent_instalment", app, map[string]any{"year": s.clock.In(calendar.China).Year()})
	})
}

func (s *seeder) excellentTalent() {
	st := s.story()
	var app string
	st.at(s.ago(12, "21:00"), func() {
		app = s.create("huangzy", "talent", "", talentForm("黄志远", "19840227", 53, true, mobile(32), "神经外科副主任医师",
			"2016-08-01", "doctorate", "deputy_senior",
			"医学博士；开展神经内镜下颅内血肿清除术等新技术 5 项，主持市级科研项目 1 项，发表 SCI 论文 4 篇。"))
		s.attach("huangzy", app, "id_card", "diploma", "title_certificate", "employment")
	})
	st.at(s.ago(11, "08:50"), func() { s.fire("huangzy", app, "submit", "", nil) })
	st.at(s.ago(9, "16:30"), func() {
		s.decide("hospital", app, engine.DecisionInput{Decision: "send_back", Questions: []string{"请上传与我院签订的最新聘用合同（含续签页）。"}})
	})
	st.at(s.ago(8, "12:20"), func() {
		s.attach("huangzy", app, "employment")
		s.answer("huangzy", app, "已上传 2024 年续签的聘用合同及续签页。")
		s.fire("huangzy", app, "submit", "", nil)
	})
	st.at(s.ago(5, "09:40"), func() {
		s.decide("hospital", app, engine.DecisionInput{Decision: "confirm_employment", Comment: "聘用合同已核实，确认在职。"})
	})
}

func (s *seeder) backboneTalent() {
	st := s.story()
	var app string
	st.at(s.ago(4, "19:45"), func() {
		app = s.create("liusy", "talent", "", talentForm("刘思远", "19890514", 55, true, mobile(33), "嵌入式系统研究室副研究员",
			"2019-03-01", "master", "deputy_senior",
			"工学硕士；负责研发的茶园物联网网关已在 12 个村推广应用，获授权发明专利 2 项、软件著作权 5 项。"))
		s.attach("liusy", app, "id_card", "diploma", "title_certificate", "employment")
	})
	st.at(s.ago(2, "09:20"), func() { s.fire("liusy", app, "submit", "", nil) })
}

func (s *seeder) shortageTalent() {
	st := s.story()
	var app string
	st.at(s.ago(17, "20:10"), func() {
		app = s.create("zhouxq", "talent", "", talentForm("周小琴", "19930708", 57, false, mobile(34), "重症医学科主管护师",
			"2015-09-01", "bachelor", "intermediate",
			"护理学学士；县级优秀护士，参与建成县内首个重症护理专科小组，开展院内专科护理培训 20 余场。"))
		s.attach("zhouxq", app, "id_card", "diploma", "employment")
	})
	st.at(s.ago(16, "08:40"), func() { s.fire("zhouxq", app, "submit", "", nil) })
	st.at(s.ago(14, "10:15"), func() {
		s.decide("hospital", app, engine.DecisionInput{Decision: "confirm_employment", Comment: "确认在职。"})
	})
	st.at(s.ago(8, "15:30"), func() {
		s.decide("staff", app, engine.DecisionInput{Decision: "bureau_pass", Comment: "学历、职称经核实，认定为紧缺人才。"})
	})
	st.at(s.ago(1, "10:00"), func() {
		s.decide("leader", app, engine.DecisionInput{Decision: "approve", Comment: "人才工作领导小组审定同意。"})
	})
}
