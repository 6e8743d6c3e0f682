package demo

import (
	"fmt"
	"time"

	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/engine"
)

// service is one entry of an envoy's service log.
type service struct {
	day         string // MM-DD, for last year's log
	kind        string
	hours       float64
	trained     int
	description string
}

// envoys seeds 科技特派员: 孙研究员 has served 坪天村 since last spring (a
// dozen confirmed services, last year's assessment graded 良好, one new
// service awaiting the village's confirmation); 谭晓雯 serves the navel
// orange co-operative; 冉志刚 has been appointed and waits for a match.
func (s *seeder) envoys() {
	s.villageEnvoy()
	s.coopEnvoy()
	s.appointedEnvoy()
}

// lastYear is hh:mm on month-day of the year before the present's.
func (s *seeder) lastYear(monthDay, hhmm string) time.Time {
	y := s.now.In(calendar.China).Year() - 1
	d, err := time.ParseInLocation(time.DateOnly, fmt.Sprintf("%d-%s", y, monthDay), calendar.China)
	if err != nil {
		panic("demo: bad month-day " + monthDay)
	}
	return onDay(d, hhmm)
}

// appoint schedules an envoy's way from application to appointment:
// submitted with the dispatching unit's consent letter, consented to,
// found eligible, through 公示. It returns the application's id, set once
// the first step has run.
func (s *seeder) appoint(st *story, who string, form map[string]any, applied, consented, eligible time.Time) *string {
	app := new(string)
	st.at(applied, func() {
		*app = s.create(who, "envoy", "", form)
		s.attach(who, *app, "consent", "title_certificate")
		s.fire(who, *app, "submit", "", nil)
	})
	st.at(consented, func() {
		s.decide("institute", *app, engine.DecisionInput{Decision: "consent", Comment: "同意派出，服务期间保留原岗位待遇。"})
	})
	st.at(eligible, func() {
		s.decide("staff", *app, engine.DecisionInput{Decision: "eligible", Comment: "符合科技特派员选派条件。"})
	})
	return app
}

// match schedules the three-party agreement with target and its person's
// confirmation that the service has started.
func (s *seeder) match(st *story, who string, app *string, target, confirmer, agreement string, matched, started time.Time) {
	st.at(matched, func() {
		s.expect(*app, "appointed")
		s.fire("staff", *app, "match", "", map[string]any{"target_org": s.orgs[target], "agreement_no": agreement,
			"agreement_signed_on": s.today()})
		s.attach(who, *app, "agreement")
	})
	st.at(started, func() { s.fire(confirmer, *app, "start_service", "", nil) })
}

// logService schedules one service: logged by the envoy in the evening of
// its day and, when confirmer is given, confirmed by the target two days
// later.
func (s *seeder) logService(st *story, who, confirmer string, app *string, day time.Time, sv service, evidence bool) {
	log := new(string)
	st.at(onDay(day, "19:10"), func() {
		*log = s.create(who, "envoy_service", *app, map[string]any{"date": day.Format(time.DateOnly), "kind": sv.kind,
			"hours": sv.hours, "people_trained": sv.trained, "description": sv.description})
		if evidence {
			s.attach(who, *log, "evidence")
		}
		s.fire(who, *log, "submit", "", nil)
	})
	if confirmer != "" {
		st.at(onDay(day.AddDate(0, 0, 2), "10:30"), func() { s.fire(confirmer, *log, "confirm", "", nil) })
	}
}

// villageEnvoy: 孙研究员 at 坪天村 since last April.
func (s *seeder) villageEnvoy() {
	st := s.story()
	app := s.appoint(st, "envoy", map[string]any{
		"name": "孙明远", "id_number": residentID("19780611", 41, true), "phone": mobile(21),
		"employer_type": "institute", "status": "serving", "professional_title": "senior",
		"expertise": "智慧农业与茶园数字化管理",
		"service_plan": "帮助坪天村建设茶园物联网监测系统，推广水肥一体化和病虫害绿色防控技术，" +
			"培训村民使用监测平台和开展农产品电商直播，带动茶叶、柑橘提质增收。",
	}, s.lastYear("03-09", "09:30"), s.lastYear("03-11", "10:00"), s.lastYear("03-16", "15:00"))
	s.match(st, "envoy", app, "双土镇坪天村", "pingtian", fmt.Sprintf("YYKJ-TPY-%d-07", s.now.In(calendar.China).Year()-1),
		s.lastYear("04-08", "09:30"), s.lastYear("04-10", "10:00"))
	services := []service{
		{"04-15", "visit", 6, 0, "实地踏勘全村 300 亩茶园和柑橘园，与村两委商定智慧农业改造方案。"},
		{"05-13", "technology", 8, 6, "在 120 亩茶园安装土壤墒情与气象监测传感器，引进茶园物联网监测系统。"},
		{"05-27", "training", 4, 35, "开展茶园物联网监测平台手机端使用培训。"},
		{"06-10", "problem", 7, 3, "解决山区信号弱导致监测数据无法回传的问题，改用 LoRa 中继组网。"},
		{"06-24", "visit", 5, 12, "指导夏茶采摘与病虫害绿色防控，分析虫情测报灯数据。"},
		{"07-15", "training", 6, 48, "举办农产品电商直播培训班，讲解选品、拍摄与直播技巧。"},
		{"08-05", "variety", 8, 15, "引进茶树良种“巴渝特早”扦插苗 2 万株，指导建设育苗圃。"},
		{"08-26", "problem", 5, 10, "诊断茶小绿叶蝉高发原因，制定黄板诱杀加生物农药的防控方案。"},
		{"09-16", "training", 4, 40, "秋季茶园管理与修剪技术培训。"},
		{"10-21", "technology", 8, 8, "引进水肥一体化滴灌技术，在 30 亩示范茶园建成自动灌溉系统。"},
		{"11-11", "visit", 4, 6, "回访示范户，核对全年茶园监测数据，指导冬季封园管理。"},
		{"12-02", "training", 5, 52, "年度技术总结暨来年茶园数字化管理培训。"},
	}
	trained := 0
	for i, sv := range services {
		s.logService(st, "envoy", "pingtian", app, s.lastYear(sv.day, "00:00"), sv, i%3 == 1)
		trained += sv.trained
	}
	var assessment string
	st.at(s.lastYear("12-15", "09:30"), func() {
		assessment = s.create("envoy", "envoy_assessment", *app, map[string]any{"year": s.now.In(calendar.China).Year() - 1,
			"summary": "全年深入坪天村服务 12 次，建成茶园物联网监测系统和 30 亩水肥一体化示范园，引进茶树良种 1 个，" +
				"解决技术难题 2 项，培训村民 " + fmt.Sprint(trained) + " 人次，带动示范户茶叶亩均增收约 800 元。",
			"technologies": 2, "varieties": 1, "people_trained": trained})
		s.attach("envoy", assessment, "materials")
		s.fire("envoy", assessment, "submit", "", nil)
	})
	st.at(s.lastYear("12-18", "11:00"), func() {
		s.fire("pingtian", assessment, "opine", "", map[string]any{"satisfaction": "very_satisfied",
			"target_opinion": "孙研究员服务及时、指导到位，监测系统和滴灌示范园效果明显，村民认可度高。"})
	})
	st.at(s.lastYear("12-23", "15:00"), func() {
		s.fire("staff", assessment, "grade", "全年服务 12 天，材料齐全，服务对象评价很满意。", map[string]any{"grade": "good", "score": 88})
	})
	// A service this week, which the village has still to confirm.
	s.logService(st, "envoy", "", app, s.ago(3, "00:00"), service{kind: "visit", hours: 5, trained: 9,
		description: "检查茶园监测设备运行情况，指导春茶开采前的茶园管理。"}, true)
}

// coopEnvoy: 谭晓雯 at the navel orange co-operative for four months.
func (s *seeder) coopEnvoy() {
	st := s.story()
	app := s.appoint(st, "envoy2", map[string]any{
		"name": "谭晓雯", "id_number": residentID("19880923", 44, false), "phone": mobile(22),
		"employer_type": "institute", "status": "serving", "professional_title": "intermediate",
		"expertise":    "农产品电商与冷链物流",
		"service_plan": "帮助合作社搭建脐橙线上销售渠道和产地预冷、分级包装体系，培训社员网络销售和品牌运营。",
	}, s.ago(152, "10:00"), s.ago(150, "09:40"), s.ago(147, "14:30"))
	s.match(st, "envoy2", app, coopName, "coop", "YYKJ-HS-"+s.date(-126)[:4]+"-15", s.ago(126, "10:00"), s.ago(123, "09:30"))
	services := []service{
		{kind: "visit", hours: 6, trained: 0, description: "调研合作社脐橙种植、采后处理和销售现状，制定服务计划。"},
		{kind: "training", hours: 5, trained: 36, description: "社员网络销售培训：网店开设、商品拍摄与客服。"},
		{kind: "technology", hours: 8, trained: 5, description: "引进产地预冷与光电分级技术，协助合作社选型采购分级设备。"},
		{kind: "problem", hours: 6, trained: 4, description: "解决冷链运输途中脐橙腐损率高的问题，优化包装与预冷时长。"},
		{kind: "training", hours: 4, trained: 42, description: "脐橙品牌运营与直播带货培训。"},
	}
	for i, sv := range services {
		s.logService(st, "envoy2", "coop", app, s.ago(112-20*i, "00:00"), sv, i == 2)
	}
}

// appointedEnvoy: 冉志刚, appointed after 公示 two weeks ago, waits for the
// bureau to find him a service target.
func (s *seeder) appointedEnvoy() {
	st := s.story()
	app := s.appoint(st, "envoy3", map[string]any{
		"name": "冉志刚", "id_number": residentID("19850304", 47, true), "phone": mobile(23),
		"employer_type": "institute", "status": "serving", "professional_title": "deputy_senior",
		"expertise":    "农业无人机植保与遥感监测",
		"service_plan": "为服务对象提供无人机飞防植保、作物长势遥感监测服务，培训本地飞手 10 名以上。",
	}, s.ago(46, "15:20"), s.ago(44, "10:10"), s.ago(41, "16:00"))
	st.at(s.ago(16, "09:00"), func() { s.expect(*app, "appointed") })
}
