package webui

import (
	"fmt"
	"html/template"
	"math"
	"math/big"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/workflow"
)

// The console's workflow pages: every definition, and one with its diagram
// and tables of states, events, slots, fields and indicators.

type workflowsPage struct {
	Workflows []workflowRow
}

type workflowRow struct {
	Key, Title, OtherTitle, Parent string
	Version, States, Events        int
	Indicators                     int
}

func (ui *UI) workflowList(c echo.Context) error {
	u := user(c)
	if err := requireDefinitionReader(u); err != nil {
		return err
	}
	d, err := ui.data(c, "流程定义", "Workflow definitions")
	if err != nil {
		return err
	}
	p := workflowsPage{}
	for _, def := range ui.Engine.Workflows() {
		r := workflowRow{Key: def.Key, Title: def.Title.In(d.En), OtherTitle: def.Title.In(!d.En), Version: def.Version,
			States: len(def.States), Events: len(def.Events), Indicators: len(def.Indicators)}
		if parent, ok := ui.Engine.Current(def.Parent); ok {
			r.Parent = parent.Title.In(d.En)
		}
		p.Workflows = append(p.Workflows, r)
	}
	d.Page = p
	return ui.render(c, http.StatusOK, "console_workflows", d)
}

type workflowPage struct {
	Key         string
	Title       string
	OtherTitle  string
	Version     int
	Hash        string
	Initial     string
	CreatedBy   []string
	Parent      string
	Diagram     template.HTML
	States      []stateRow
	Events      []eventRow
	Slots       []workflow.Slot
	Fields      []formFieldRow
	Indicators  []indicatorDef
	PublicState []string
}

type stateRow struct {
	Key, Title, Kind, KindWord string
	Initial                    bool
	EditableBy                 []string
	Deadline, Timer, Review    string
	Criteria                   []string
}

type eventRow struct {
	Key, Title string
	From       []string
	To         string
	Roles      []string
	System     bool
	Comment    string
	Validates  bool
	Questions  bool
	Payload    []string
	// Stages are the review stages whose reviewers decide the event.
	Stages []string
}

type formFieldRow struct {
	Name, Title, Type string
	Required, ByEvent bool
	Columns           []string
	Choices           []string
}

type indicatorDef struct {
	Key, Title, Unit, Target, By string
}

func (ui *UI) workflowPage(c echo.Context) error {
	u := user(c)
	if err := requireDefinitionReader(u); err != nil {
		return err
	}
	def, ok := ui.Engine.Current(c.Param("key"))
	if !ok {
		return errs.E(errs.NotFound, "未知的流程", "unknown workflow")
	}
	d, err := ui.data(c, "流程定义", "Workflow definition")
	if err != nil {
		return err
	}
	en := d.En
	d.Title = def.Title.In(en)
	stateTitle := func(key string) string {
		if s, ok := def.State(key); ok {
			return s.Title.In(en)
		}
		return key
	}
	p := workflowPage{Key: def.Key, Title: def.Title.In(en), OtherTitle: def.Title.In(!en), Version: def.Version,
		Hash: def.Hash, Initial: stateTitle(def.Initial), CreatedBy: roleList(def.CreatedBy, en),
		Diagram: template.HTML(def.Diagram(en)), Slots: def.Attachments}
	if len(p.Hash) > 12 {
		p.Hash = p.Hash[:12]
	}
	if parent, ok := ui.Engine.Current(def.Parent); ok {
		p.Parent = parent.Title.In(en)
	}
	for _, s := range def.PublicStates {
		p.PublicState = append(p.PublicState, stateTitle(s))
	}
	form, err := parseSchema(def.FormJSON)
	if err != nil {
		return err
	}
	fieldTitle := func(name string) string {
		for _, prop := range form.Properties {
			if prop.Name == name {
				return prop.Schema.title(en, name)
			}
		}
		return name
	}
	for _, s := range def.States {
		r := stateRow{Key: s.Key, Title: s.Title.In(en), Kind: string(s.Kind), KindWord: word(stateKindWords, string(s.Kind), en),
			Initial: s.Key == def.Initial, EditableBy: roleList(s.EditableBy, en)}
		if s.Deadline != nil {
			r.Deadline = workingDays(s.Deadline.WorkingDays, en)
		}
		if t := s.Timer; t != nil {
			r.Timer = timerWords(def, t, fieldTitle, en)
		}
		if s.Review != nil {
			r.Review, r.Criteria = reviewWords(def, s.Review, fieldTitle, en)
		}
		p.States = append(p.States, r)
	}
	for _, e := range def.Events {
		r := eventRow{Key: e.Key, Title: e.Title.In(en), To: stateTitle(e.To), Roles: roleList(e.Roles, en), System: e.System,
			Validates: e.ValidateForm, Questions: e.Questions}
		for _, f := range e.From {
			r.From = append(r.From, stateTitle(f))
		}
		for _, st := range def.States {
			if st.Review != nil && st.Review.DecidesBy(e.Key) {
				r.Stages = append(r.Stages, st.Title.In(en))
			}
		}
		r.Comment = pick(en, "可选", "optional")
		if e.Comment == workflow.CommentRequired {
			r.Comment = pick(en, "必填", "required")
		}
		if len(e.DataJSON) > 0 {
			if s, err := parseSchema(e.DataJSON); err == nil {
				for _, prop := range s.Properties {
					r.Payload = append(r.Payload, prop.Schema.title(en, prop.Name))
				}
			}
		}
		p.Events = append(p.Events, r)
	}
	byEvent := def.EventFields()
	required := tickedSet(form.Required)
	for _, prop := range form.Properties {
		f := formFieldRow{Name: prop.Name, Title: prop.Schema.title(en, prop.Name), Type: prop.Schema.typ(),
			Required: required[prop.Name], ByEvent: byEvent[prop.Name]}
		if f.Type == "array" && prop.Schema.Items != nil {
			for _, col := range prop.Schema.Items.Properties {
				f.Columns = append(f.Columns, col.Schema.title(en, col.Name))
			}
		}
		for _, v := range prop.Schema.Enum {
			f.Choices = append(f.Choices, prop.Schema.enumTitle(en, fmt.Sprint(v)))
		}
		p.Fields = append(p.Fields, f)
	}
	for _, ind := range def.Indicators {
		r := indicatorDef{Key: ind.Key, Title: ind.Title.In(en), Unit: ind.Unit.In(en), By: byWords(ind.By, fieldTitle, en)}
		if ind.Target != nil {
			r.Target = number(*ind.Target)
		}
		p.Indicators = append(p.Indicators, r)
	}
	d.Page = p
	return ui.render(c, http.StatusOK, "console_workflow", d)
}

func workingDays(n int, en bool) string {
	return pick(en, strconv.Itoa(n)+" 个工作日", strconv.Itoa(n)+" working days")
}

func timerWords(def *workflow.Definition, t *workflow.Timer, fieldTitle func(string) string, en bool) string {
	ev := eventWord(def, t.Event, en)
	if t.At != "" {
		return pick(en, "表单“"+fieldTitle(t.At)+"”所填日期当日结束时自动："+ev, "at the end of the day in “"+fieldTitle(t.At)+"”: "+ev)
	}
	return pick(en, "满 "+workingDays(t.After.WorkingDays, en)+"后自动："+ev, "after "+workingDays(t.After.WorkingDays, en)+": "+ev)
}

// reviewWords says who decides a review stage and how, in one line, with
// the scoring criteria apart.
func reviewWords(def *workflow.Definition, r *workflow.Review, fieldTitle func(string) string, en bool) (string, []string) {
	role := word(roleWords, string(r.Reviewers.Role), en)
	parts := []string{word(policyWords, string(r.Policy), en)}
	switch r.Reviewers.Source {
	case workflow.FromRole:
		parts = append(parts, pick(en, "由"+role+"办理", "by the "+role))
	case workflow.FromAssignment:
		parts = append(parts, pick(en, fmt.Sprintf("由经办人指定至少 %d 名%s", max(r.Reviewers.Min, 1), role),
			fmt.Sprintf("at least %d %s(s) named by staff", max(r.Reviewers.Min, 1), role)))
	case workflow.FromDraw:
		parts = append(parts, pick(en, fmt.Sprintf("随机抽取 %d 名%s", r.Reviewers.Count, role),
			fmt.Sprintf("%d %s(s) drawn at random", r.Reviewers.Count, role)))
	}
	if sp := r.Reviewers.Specialty; sp != "" {
		parts = append(parts, pick(en, "专业："+sp, "specialty: "+sp))
	} else if f := r.Reviewers.SpecialtyField; f != "" {
		parts = append(parts, pick(en, "专业取自表单“"+fieldTitle(f)+"”", "specialty from “"+fieldTitle(f)+"”"))
	}
	if r.K > 0 {
		parts = append(parts, pick(en, fmt.Sprintf("%d 票通过", r.K), fmt.Sprintf("%d approvals pass", r.K)))
	} else if r.Ratio != nil {
		parts = append(parts, pick(en, "通过比例 "+ratText(r.Ratio), "pass share "+ratText(r.Ratio)))
	}
	var criteria []string
	if sc := r.Score; sc != nil {
		parts = append(parts, word(aggregateWords, string(sc.Aggregate), en)+" ≥ "+ratText(sc.PassMark))
		if sc.Veto != nil {
			parts = append(parts, pick(en, "任一专家总分低于 "+ratText(sc.Veto)+" 即否决", "any total below "+ratText(sc.Veto)+" fails"))
		}
		for _, cr := range sc.Criteria {
			criteria = append(criteria, fmt.Sprintf("%s %d%%", cr.Title.In(en), cr.Weight))
		}
	}
	if r.Pass != "" || r.Fail != "" {
		var ends []string
		for _, k := range append([]string{r.Pass, r.Fail}, r.Also...) {
			if k != "" {
				ends = append(ends, eventWord(def, k, en))
			}
		}
		parts = append(parts, pick(en, "结果：", "ends with: ")+strings.Join(ends, pick(en, "、", ", ")))
	}
	if r.Escalate != nil {
		parts = append(parts, pick(en, "逾期 "+workingDays(r.Escalate.WorkingDays, en)+"报告领导", "escalated after "+workingDays(r.Escalate.WorkingDays, en)))
	}
	return strings.Join(parts, pick(en, "；", "; ")), criteria
}

func ratText(r *big.Rat) string {
	if r == nil {
		return ""
	}
	if r.IsInt() {
		return r.Num().String()
	}
	return strings.TrimRight(strings.TrimRight(r.FloatString(2), "0"), ".")
}

func byWords(by string, fieldTitle func(string) string, en bool) string {
	switch by {
	case "":
		return ""
	case "state":
		return pick(en, "按状态", "by state")
	case "year":
		return pick(en, "按年度", "by year")
	}
	return pick(en, "按“"+fieldTitle(by)+"”", "by “"+fieldTitle(by)+"”")
}

// number shows a count whole and an amount to the fen, with separators.
func number(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		s := money(v)
		return strings.TrimSuffix(s, ".00")
	}
	return money(v)
}
