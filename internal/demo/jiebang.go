package demo

import (
	"time"

	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/engine"
)

// markerTitle names the demo's first challenge: once it exists, the
// programme data has been seeded and is not seeded again.
const markerTitle = "三峡库区船舶用耐腐蚀轻量化复合材料关键技术"

// date is the day days from the present (negative: before), as forms write it.
func (s *seeder) date(days int) string {
	return s.now.In(calendar.China).AddDate(0, 0, days).Format(time.DateOnly)
}

// member is one person of an application's team.
type member struct {
	name, born string
	serial     int
	male       bool
	role       string
	title      string
}

func team(ms ...member) []map[string]any {
	out := make([]map[string]any, len(ms))
	for i, m := range ms {
		out[i] = map[string]any{"name": m.name, "id_number": residentID(m.born, m.serial, m.male), "role": m.role, "title": m.title}
	}
	return out
}

// score is one expert's marks on the four criteria of the needs screening.
func score(industry, foundation, technical, financial float64) engine.DecisionInput {
	return engine.DecisionInput{Decision: "score", Scores: map[string]any{"industry": industry, "foundation": foundation,
		"technical": technical, "financial": financial}}
}

// jiebang seeds 揭榜挂帅: a challenge posted last year and awarded, whose
// project is under way with its first tranche paid; and two challenges open
// now, with an application in 公示, one with the experts, one in the formal
// check and a draft.
func (s *seeder) jiebang() {
	s.awardedChallenge()
	s.extractionChallenge()
	s.basaltChallenge()
}

// awardedChallenge: the bureau's challenge on ship composites, taken by
// 锦艺新材料 through every stage (an objection in 公示 was dismissed), now
// in progress with 40% paid; the challenge closed by its deadline and was
// awarded.
func (s *seeder) awardedChallenge() {
	st := s.story()
	var ch, app string
	var panel []string
	st.at(s.ago(232, "09:40"), func() {
		ch = s.create("staff", "jiebang_challenge", "", map[string]any{
			"title": markerTitle,
			"need": "库区客货运船舶上层建筑和舱室部件长期处于高湿、酸雨环境，现用钢材和普通玻璃钢易腐蚀、自重大、维护成本高。" +
				"需攻克耐腐蚀树脂基体改性、纤维与树脂界面增强、大尺寸构件一体化成型等关键技术，形成可在本县量产的船用轻量化复合材料部件。",
			"targets":        "拉伸强度不低于 600 MPa；中性盐雾试验 3000 小时无明显腐蚀；同等部件减重 30% 以上；建成年产 5 万平方米中试线 1 条。",
			"field":          "新材料",
			"owner":          bureauName,
			"budget_ceiling": 3000000, "deadline": s.date(-150), "duration_months": 24,
		})
	})
	st.at(s.ago(230, "10:15"), func() { s.fire("staff", ch, "publish", "", nil) })
	st.at(s.ago(216, "14:20"), func() {
		start := s.date(-160)
		app = s.create("jinyi", "jiebang", "", map[string]any{
			"challenge": ch, "title": "船用耐腐蚀碳纤维增强复合材料部件研制与产业化",
			"credit_code": orgCredit("重庆锦艺新材料有限公司"), "legal_rep": "陈锦华",
			"contact_name": "周文斌", "contact_phone": mobile(11),
			"team": team(
				member{"周文斌", "19790412", 3, true, "项目负责人，总体技术路线", "高级工程师"},
				member{"何丽娟", "19860907", 5, false, "树脂基体改性与配方", "工程师"},
				member{"邓涛", "19920118", 8, true, "成型工艺与中试线建设", "助理工程师"},
			),
			"plan": "以乙烯基酯树脂为基体，引入纳米二氧化硅与石墨烯协同改性提高耐腐蚀和耐候性能；" +
				"采用硅烷偶联剂梯度处理碳纤维表面，提升界面剪切强度；开发真空导入与模压复合的一体化成型工艺，" +
				"联合本县船厂完成舱门、格栅等典型部件的装船试用。",
			"milestones": []map[string]any{
				{"due": addMonths(start, 6), "goal": "完成树脂改性配方定型与小试"},
				{"due": addMonths(start, 14), "goal": "建成中试线，完成典型部件试制与第三方检测"},
				{"due": addMonths(start, 24), "goal": "完成装船试用并通过验收"},
			},
			"budget": 2000000, "self_funding": 1600000, "start_date": start, "end_date": addMonths(start, 24),
		})
		s.attach("jinyi", app, "license", "plan", "finance")
	})
	st.at(s.ago(214, "16:35"), func() { s.fire("jinyi", app, "submit", "", nil) })
	st.at(s.ago(212, "10:05"), func() {
		s.decide("unit", app, engine.DecisionInput{Decision: "recommend", Comment: "该企业为我县新材料骨干企业，同意推荐。"})
	})
	st.at(s.ago(208, "15:10"), func() {
		s.decide("staff", app, engine.DecisionInput{Decision: "formal_pass", Comment: "材料齐全，符合申报条件。"})
		panel = s.panel(app)
	})
	marks := []engine.DecisionInput{score(86, 82, 80, 78), score(90, 85, 84, 80), score(78, 80, 76, 74),
		score(88, 83, 85, 79), score(82, 79, 81, 77)}
	for i, m := range marks {
		st.at(s.ago(204-2*i, "09:30"), func() {
			if i < len(panel) {
				s.decide(panel[i], app, m)
			}
		})
	}
	st.at(s.ago(190, "15:30"), func() {
		s.expect(app, "decision")
		s.decide("leader", app, engine.DecisionInput{Decision: "approve", Comment: "局长办公会研究，同意立项，核定资助 180 万元。",
			Data: map[string]any{"amount": 1800000}})
	})
	st.at(s.ago(189, "20:15"), func() {
		s.object(app, engine.ObjectionInput{Name: "冉小军", Phone: mobile(40), Org: "个人",
			Reason: "建议核实项目团队成员是否同时承担其他在研财政科技项目，避免重复申报。"})
	})
	st.at(s.ago(187, "11:00"), func() {
		s.decide("staff", app, engine.DecisionInput{Decision: "dismiss",
			Comment: "经查询科技项目管理库，团队成员无在研财政科技项目，异议不成立。"})
	})
	st.at(s.ago(165, "10:20"), func() {
		s.expect(app, "contracting")
		s.fire("jinyi", app, "sign", "", map[string]any{"signed_on": s.today()})
		s.attach("jinyi", app, "contract")
	})
	st.at(s.ago(163, "09:45"), func() { s.fire("staff", app, "confirm_contract", "任务书已审核，项目进入实施。", nil) })
	st.at(s.ago(158, "14:00"), func() {
		s.fire("staff", app, "disburse", "拨付首笔资金（40%）。", map[string]any{"tranche": 1, "amount": 720000, "paid_on": s.today()})
	})
	st.at(s.ago(146, "10:30"), func() {
		s.expect(ch, "closed")
		s.fire("staff", ch, "award", "", nil)
	})
}

// extractionChallenge: a challenge open now on extracting plant compounds;
// 云海药业's application (sent back once in the formal check) was approved
// yesterday and stands 公示; 龙缸茶业's is with the experts, two of five
// scores in.
func (s *seeder) extractionChallenge() {
	st := s.story()
	var ch string
	st.at(s.ago(72, "09:20"), func() {
		ch = s.create("staff", "jiebang_challenge", "", map[string]any{
			"title": "特色植物活性成分绿色提取与高值化利用关键技术",
			"need": "我县黄精、前胡、青蒿等道地中药材和茶叶种植面积大，但以初加工为主、附加值低，传统溶剂提取能耗高、有效成分得率低。" +
				"需突破绿色高效提取、分离纯化与质量控制关键技术，开发高附加值产品并在本县实现产业化。",
			"targets":        "主要活性成分得率提高 20% 以上；有机溶剂用量减少 50%；制定企业标准 2 项以上；开发新产品 3 个。",
			"field":          "生物医药",
			"owner":          bureauName,
			"budget_ceiling": 2000000, "deadline": s.date(35), "duration_months": 36,
		})
	})
	st.at(s.ago(70, "10:00"), func() { s.fire("staff", ch, "publish", "", nil) })

	yh := s.story()
	var app string
	var panel []string
	yh.at(s.ago(53, "15:00"), func() {
		start := s.date(30)
		app = s.create("yunhai", "jiebang", "", map[string]any{
			"challenge": ch, "title": "黄精多糖超临界萃取与膜分离纯化关键技术及产业化",
			"credit_code": orgCredit("重庆三峡云海药业股份有限公司"), "legal_rep": "向云海",
			"contact_name": "刘经理", "contact_phone": mobile(12),
			"team": team(
				member{"刘春燕", "19820623", 11, false, "项目负责人", "正高级工程师"},
				member{"牟志勇", "19870302", 14, true, "超临界萃取工艺", "工程师"},
				member{"杨雪", "19930815", 17, false, "质量标准与检测", "主管药师"},
			),
			"plan": "建立黄精多糖超临界二氧化碳—乙醇梯度萃取工艺，以陶瓷膜与纳滤膜串联替代醇沉纯化，" +
				"配套近红外在线检测实现过程质量控制；在现有 GMP 车间建设年处理 500 吨鲜黄精的示范线，开发黄精多糖口服液等产品。",
			"milestones": []map[string]any{
				{"due": addMonths(start, 12), "goal": "完成萃取与膜分离工艺小试、中试"},
				{"due": addMonths(start, 24), "goal": "建成示范线，制定企业标准"},
				{"due": addMonths(start, 36), "goal": "新产品上市并通过验收"},
			},
			"budget": 1800000, "self_funding": 2200000, "start_date": start, "end_date": addMonths(start, 36),
		})
		s.attach("yunhai", app, "license", "plan", "finance")
	})
	yh.at(s.ago(51, "09:50"), func() { s.fire("yunhai", app, "submit", "", nil) })
	yh.at(s.ago(49, "11:20"), func() { s.decide("unit", app, engine.DecisionInput{Decision: "recommend", Comment: "同意推荐。"}) })
	yh.at(s.ago(46, "16:10"), func() {
		s.decide("staff", app, engine.DecisionInput{Decision: "send_back",
			Questions: []string{"请补充近三年研发投入专项审计报告。", "示范线建设用地是否已落实？请说明。"}})
	})
	yh.at(s.ago(44, "10:40"), func() {
		s.attach("yunhai", app, "finance")
		s.answer("yunhai", app, "已上传 2022—2024 年度研发投入专项审计报告。", "示范线利用公司现有 GMP 车间二楼改造，无需新增用地。")
		s.fire("yunhai", app, "submit", "", nil)
	})
	yh.at(s.ago(43, "09:15"), func() {
		s.decide("unit", app, engine.DecisionInput{Decision: "recommend", Comment: "补充材料已核实，同意推荐。"})
	})
	yh.at(s.ago(40, "14:30"), func() {
		s.decide("staff", app, engine.DecisionInput{Decision: "formal_pass", Comment: "补充材料齐全。"})
		panel = s.panel(app)
	})
	marks := []engine.DecisionInput{score(85, 88, 82, 80), score(80, 84, 78, 82), score(90, 86, 85, 83),
		score(76, 80, 79, 75), score(83, 85, 80, 81)}
	for i, m := range marks {
		yh.at(s.ago(38-2*i, "10:00"), func() {
			if i < len(panel) {
				s.decide(panel[i], app, m)
			}
		})
	}
	yh.at(s.ago(1, "16:00"), func() {
		s.expect(app, "decision")
		s.decide("leader", app, engine.DecisionInput{Decision: "approve", Comment: "局长办公会研究，同意立项，核定资助 150 万元。",
			Data: map[string]any{"amount": 1500000}})
	})

	tea := s.story()
	var teaApp string
	tea.at(s.ago(31, "10:30"), func() {
		start := s.date(45)
		teaApp = s.create("tea", "jiebang", "", map[string]any{
			"challenge": ch, "title": "茶多酚与茶氨酸绿色联产提取及功能食品开发",
			"credit_code": orgCredit("云阳县龙缸茶业有限公司"), "legal_rep": "黄德明",
			"contact_name": "黄厂长", "contact_phone": mobile(13),
			"team": team(
				member{"黄德明", "19750520", 21, true, "项目负责人", "高级农艺师"},
				member{"冉晓红", "19890214", 24, false, "提取工艺研发", "工程师"},
			),
			"plan": "以夏秋茶和修剪茶叶为原料，采用低温水提—大孔树脂吸附—膜浓缩工艺联产茶多酚和茶氨酸，" +
				"全程不用有机溶剂；开发茶多酚含片、茶氨酸饮品两类功能食品，提高夏秋茶资源利用率。",
			"milestones": []map[string]any{
				{"due": addMonths(start, 12), "goal": "完成联产工艺小试与中试"},
				{"due": addMonths(start, 30), "goal": "建成生产线并开发两类功能食品"},
			},
			"budget": 1200000, "self_funding": 800000, "start_date": start, "end_date": addMonths(start, 30),
		})
		s.attach("tea", teaApp, "license", "plan", "finance")
	})
	tea.at(s.ago(15, "17:20"), func() { s.fire("tea", teaApp, "submit_direct", "", nil) })
	var teaPanel []string
	tea.at(s.ago(9, "10:10"), func() {
		s.decide("staff", teaApp, engine.DecisionInput{Decision: "formal_pass", Comment: "材料齐全，符合申报条件。"})
		teaPanel = s.panel(teaApp)
	})
	for i, m := range []engine.DecisionInput{score(82, 78, 80, 76), score(79, 81, 77, 80)} {
		tea.at(s.ago(6-3*i, "15:40"), func() {
			if i < len(teaPanel) {
				s.decide(teaPanel[i], teaApp, m)
			}
		})
	}
}

// basaltChallenge: a challenge on basalt fibre composites, published three
// weeks ago; the institute's application is in the formal check and
// 锦艺新材料 is still drafting one.
func (s *seeder) basaltChallenge() {
	st := s.story()
	var ch string
	st.at(s.ago(25, "09:30"), func() {
		ch = s.create("staff", "jiebang_challenge", "", map[string]any{
			"title": "高性能玄武岩纤维及其复合材料制备关键技术",
			"need": "玄武岩纤维耐高温、耐腐蚀、成本低，是我县新材料产业重点培育方向，但现有产品纤维强度离散大、与树脂结合差。" +
				"需攻克纤维表面改性、连续成型和复合材料结构设计等关键技术，支撑风电叶片、交通构件等应用。",
			"targets":        "单丝拉伸强度不低于 3000 MPa 且离散系数小于 5%；复合材料层间剪切强度提高 25%；形成 2 类示范产品。",
			"field":          "新材料",
			"owner":          bureauName,
			"budget_ceiling": 1500000, "deadline": s.date(50), "duration_months": 24,
		})
	})
	st.at(s.ago(24, "10:00"), func() { s.fire("staff", ch, "publish", "", nil) })

	in := s.story()
	var app string
	in.at(s.ago(12, "14:10"), func() {
		start := s.date(70)
		app = s.create("keyan", "jiebang", "", map[string]any{
			"challenge": ch, "title": "玄武岩纤维表面改性及增强复合材料成型工艺研究",
			"credit_code": orgCredit("重庆邮电大学云阳产业技术研究院"), "legal_rep": "吴建平",
			"contact_name": "马处长", "contact_phone": mobile(14),
			"team": team(
				member{"马立新", "19810309", 31, true, "项目负责人", "研究员"},
				member{"张倩", "19900726", 33, false, "界面表征与测试", "助理研究员"},
			),
			"plan": "采用等离子体与纳米涂层复合处理改善玄武岩纤维表面活性，建立纤维—树脂界面性能数据库；" +
				"结合拉挤与缠绕工艺开发连续成型装备的在线张力控制系统，与本县企业合作试制风电叶片梁帽和桥梁护栏构件。",
			"milestones": []map[string]any{
				{"due": addMonths(start, 10), "goal": "完成表面改性工艺与界面数据库"},
				{"due": addMonths(start, 24), "goal": "完成两类示范构件试制并通过验收"},
			},
			"budget": 1200000, "self_funding": 500000, "start_date": start, "end_date": addMonths(start, 24),
		})
		s.attach("keyan", app, "license", "plan", "finance")
	})
	in.at(s.ago(2, "10:20"), func() { s.fire("keyan", app, "submit_direct", "", nil) })

	draft := s.story()
	draft.at(s.ago(3, "16:45"), func() {
		d := s.create("jinyi", "jiebang", "", map[string]any{
			"challenge": ch, "title": "玄武岩纤维增强热塑性复合材料连续成型技术",
			"credit_code": orgCredit("重庆锦艺新材料有限公司"), "legal_rep": "陈锦华",
			"contact_name": "周文斌", "contact_phone": mobile(11),
			"budget": 1000000,
		})
		s.attach("jinyi", d, "license")
	})
}

// addMonths is the day months after day (YYYY-MM-DD), less one: a span of
// whole months, as project plans write them.
func addMonths(day string, months int) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return day
	}
	return t.AddDate(0, months, -1).Format(time.DateOnly)
}
