package webui

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/workflow"
)

// The decision record of one application (决定记录): what GET
// /api/v1/applications/{id}/decision-record answers, as a page that reads
// on screen and prints as a document an auditor can file, with the chain's
// head hash and the time it was produced on every printed page.

type recordPage struct {
	engine.DecisionRecord
	Workflow, StateTitle string
	// Printed is when the page was produced, to the second: a paper copy
	// says what the chain was at that moment.
	Printed    string
	Steps      []recordStep
	Stages     []recordStage
	Recusals   []recordRecusal
	Objections []recordObjection
	Timers     []recordStep
	Payments   []recordPayment
	Entries    []recordEntry
	Problems   []problemRow
	// Unsealed counts the chain's entries written since its latest seal.
	Unsealed int64
}

type recordStep struct {
	step
	ChainSeq  int64
	Timer     bool
	DecidedBy string
}

type recordStage struct {
	stageView
	// Tally is the stage's summary in words: the votes, or the scores'
	// aggregate against the pass mark.
	Tally string
	// Scored: the stage's reviewers score; other stages have no score columns.
	Scored    bool
	Vias      map[string]string // task id → how the reviewer came to it
	DrawViews []recordDraw
}

type recordDraw struct {
	engine.DrawRecord
	PickedNames string
}

type recordRecusal struct {
	engine.Recusal
	StateTitle string
}

type recordObjection struct {
	engine.ObjectionRecord
	StatusWord, OutcomeWord, DecidedByNames string
}

type recordPayment struct {
	engine.Payment
	Title, KindWord, AmountShown string
	Details                      []field
}

type recordEntry struct {
	engine.RecordEntry
	KindWord, Who, Summary, HashShort, ProblemWord string
}

var objectionStatusWords = map[string]errs.Text{
	"open":      {Zh: "待处理", En: "open"},
	"sustained": {Zh: "异议成立", En: "sustained"},
	"dismissed": {Zh: "异议不成立", En: "dismissed"},
}

var viaWords = map[string]errs.Text{
	"role":        {Zh: "按角色", En: "by role"},
	"assigned":    {Zh: "指派", En: "assigned"},
	"drawn":       {Zh: "随机抽取", En: "drawn"},
	"replacement": {Zh: "回避后补抽", En: "drawn as replacement"},
	"delegated":   {Zh: "转办", En: "handed over"},
}

var paymentWords = map[string]errs.Text{
	engine.PaymentDisbursement: {Zh: "拨付", En: "disbursement"},
	engine.PaymentClawback:     {Zh: "追回", En: "clawback"},
}

// record shows an application's decision record to those who may read it
// (the bureau, oversight; administrators the process only); not found for
// anyone else, as the API answers.
func (ui *UI) record(c echo.Context) error {
	d, err := ui.data(c, "决定记录", "Decision record")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	rec, err := ui.Engine.DecisionRecord(ctx, user(c), c.Param("id"))
	if err != nil {
		return err
	}
	def, err := ui.Engine.Definition(ctx, rec.Application.Workflow, rec.Application.WorkflowVersion)
	if err != nil {
		return err
	}
	p := recordPage{DecisionRecord: rec, Workflow: def.Title.In(d.En), StateTitle: rec.Application.StateTitle.In(d.En),
		Printed: rec.AsOf.In(calendar.China).Format("2006-01-02 15:04:05")}
	if p.Title == "" {
		p.Title = p.Workflow
	}
	d.Title = pick(d.En, "决定记录：", "Decision record: ") + p.Title
	names := func(refs []engine.UserRef) string {
		out := make([]string, 0, len(refs))
		for _, r := range refs {
			out = append(out, personName(r))
		}
		return strings.Join(out, pick(d.En, "、", ", "))
	}

	transitions := make([]engine.Transition, len(rec.Steps))
	for i, s := range rec.Steps {
		transitions[i] = s.Transition
	}
	steps := stepsOf(def, transitions, d.En)
	bySeq := map[int]recordStep{}
	for i, s := range rec.Steps {
		rs := recordStep{step: steps[i], ChainSeq: s.ChainSeq, Timer: s.Timer, DecidedBy: names(s.DecidedBy)}
		p.Steps = append(p.Steps, rs)
		bySeq[s.Seq] = rs
	}
	for _, s := range rec.Timers {
		p.Timers = append(p.Timers, bySeq[s.Seq])
	}
	for _, sv := range stageViews(def, rec.Stages, d.En) {
		rs := recordStage{stageView: sv, Tally: tally(def, sv.Summary, d.En), Vias: map[string]string{}}
		for _, t := range sv.Tasks {
			rs.Vias[t.ID] = word(viaWords, t.Via, d.En)
			rs.Scored = rs.Scored || t.Kind == engine.TaskScore
		}
		for _, dr := range sv.Draws {
			picked := make([]engine.UserRef, 0, len(dr.Picked))
			for _, id := range dr.Picked {
				picked = append(picked, rec.People[id])
			}
			rs.DrawViews = append(rs.DrawViews, recordDraw{DrawRecord: dr, PickedNames: names(picked)})
		}
		p.Stages = append(p.Stages, rs)
	}
	for _, r := range rec.Recusals {
		p.Recusals = append(p.Recusals, recordRecusal{Recusal: r, StateTitle: stateWord(def, r.State, d.En)})
	}
	for _, o := range rec.Objections {
		ro := recordObjection{ObjectionRecord: o, StatusWord: word(objectionStatusWords, o.Status, d.En),
			DecidedByNames: names(o.DecidedBy)}
		if o.Outcome != "" {
			ro.OutcomeWord = eventWord(def, o.Outcome, d.En)
		}
		p.Objections = append(p.Objections, ro)
	}
	for _, pm := range rec.Payments {
		rp := recordPayment{Payment: pm, Title: eventWord(def, pm.Event, d.En), KindWord: word(paymentWords, pm.Kind, d.En),
			Details: bySeq[pm.Seq].Details}
		if f, err := strconv.ParseFloat(pm.Amount, 64); err == nil {
			rp.AmountShown = money(f)
		}
		p.Payments = append(p.Payments, rp)
	}
	for _, e := range rec.Entries {
		re := recordEntry{RecordEntry: e, KindWord: word(auditKindWords, e.Kind, d.En), Summary: entrySummary(def, e, d.En),
			HashShort: e.Hash}
		if len(re.HashShort) > 16 {
			re.HashShort = re.HashShort[:16]
		}
		switch {
		case e.Actor != nil:
			re.Who = personName(*e.Actor)
		case e.Kind == engine.KindObjection:
			re.Who = pick(d.En, "公众", "the public")
		default:
			re.Who = pick(d.En, "系统", "the system")
		}
		if e.Problem != "" {
			re.ProblemWord = word(problemWords, e.Problem, d.En)
		}
		p.Entries = append(p.Entries, re)
	}
	for _, pr := range rec.Integrity.Problems {
		p.Problems = append(p.Problems, problemRow{Problem: pr, KindWord: word(problemWords, pr.Kind, d.En), Where: problemWhere(pr, d.En)})
	}
	p.Unsealed = rec.Integrity.HeadCount
	if s := rec.Integrity.Seal; s != nil {
		p.Unsealed = max(0, rec.Integrity.HeadCount-s.Count)
	}
	d.Page = p
	return ui.render(c, http.StatusOK, "record", d)
}

// What a record's print stylesheet accepts: an application id, a head
// hash, the time the record was produced as the page shows it.
var (
	idForm    = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	hashForm  = regexp.MustCompile(`^[0-9a-f]{0,64}$`)
	stampForm = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$`)
)

// recordStyle serves a record's print stylesheet: the margins of every
// printed page carry the application, the chain's head hash, when the
// record was produced and the page number (CSS @page boxes; a stylesheet
// of our own origin, since the pages allow no inline style). The page
// passes the values it shows in the link, so a footer cannot disagree with
// its page; only an id, a hex hash and a time pass, so nothing else can be
// made to appear. It reveals nothing, so it needs no sign-in.
func (ui *UI) recordStyle(c echo.Context) error {
	id, hash, at := c.Param("id"), c.QueryParam("hash"), c.QueryParam("at")
	if !idForm.MatchString(id) || !hashForm.MatchString(hash) || !stampForm.MatchString(at) {
		return errs.E(errs.BadRequest, "打印样式的参数不正确", "malformed print style parameters")
	}
	en := c.QueryParam("en") == "1"
	css := `@media print {
  @page {
    @top-right { content: "` + pick(en, "申请决定记录 ", "Decision record ") + id + `"; font-size: 7.5pt; color: #333; }
    @bottom-left { content: "` + pick(en, "链头哈希 ", "Head hash ") + hash + `"; font: 7pt ui-monospace, Menlo, monospace; color: #333; }
    @bottom-right { content: "` + pick(en, "生成于 ", "Produced ") + at + pick(en, " · 第 ", " · page ") + `" counter(page) " / " counter(pages)` +
		pick(en, ` " 页"`, ``) + `; font-size: 7.5pt; color: #333; }
  }
}
`
	// The same URL always says the same: cache it.
	c.Response().Header().Set("Cache-Control", "public, max-age=86400")
	return c.Blob(http.StatusOK, "text/css; charset=utf-8", []byte(css))
}

// personName is how a record names someone: their name, else their login,
// else their id (an account since removed).
func personName(r engine.UserRef) string {
	switch {
	case r.Name != "":
		return r.Name
	case r.Username != "":
		return r.Username
	}
	return r.ID
}

func stateWord(def *workflow.Definition, key string, en bool) string {
	if st, ok := def.State(key); ok {
		return st.Title.In(en)
	}
	return key
}

// tally words a stage's summary: the scores' aggregate against the pass
// mark and every total, or the votes.
func tally(def *workflow.Definition, sum map[string]any, en bool) string {
	if sum == nil {
		return ""
	}
	str := func(k string) string {
		if v, ok := sum[k]; ok && v != nil {
			return fmt.Sprint(v)
		}
		return ""
	}
	if agg := str("aggregate"); agg != "" {
		s := word(aggregateWords, str("rule"), en) + " " + agg
		if pm := str("pass_mark"); pm != "" {
			s += pick(en, "（及格线 ", " (pass mark ") + pm + pick(en, "）", ")")
		}
		if totals, ok := sum["totals"].([]any); ok {
			parts := make([]string, len(totals))
			for i, t := range totals {
				parts[i] = fmt.Sprint(t)
			}
			s += pick(en, "；各专家总分：", "; totals: ") + strings.Join(parts, pick(en, "、", ", "))
		}
		if str("vetoed") == "true" {
			s += pick(en, "；有低于否决线的评分", "; vetoed")
		}
		return s
	}
	if chosen := str("chosen"); chosen != "" {
		return pick(en, "一人决定：", "decided at once: ") + eventWord(def, chosen, en)
	}
	s := pick(en, "同意 ", "for ") + str("pass") + pick(en, " · 不同意 ", " · against ") + str("fail") +
		pick(en, " · 未决定 ", " · undecided ") + str("undecided") + pick(en, " · 共 ", " · of ") + str("panel")
	if n := str("needed"); n != "" {
		s += pick(en, "（需 ", " (needs ") + n + pick(en, "）", ")")
	}
	return s
}

// entrySummary says in a few words what an entry of the chain recorded,
// from what the reader may see of it.
func entrySummary(def *workflow.Definition, e engine.RecordEntry, en bool) string {
	text := func(k string) string { s, _ := e.Data[k].(string); return s }
	switch e.Kind {
	case audit.KindTransition:
		s := eventWord(def, e.Event, en)
		switch e.Event {
		case "create":
			s = pick(en, "创建", "Created")
		case "review.recall":
			s = pick(en, "取回决定", "Decision recalled")
		}
		switch {
		case e.From != "":
			s += pick(en, "：", ": ") + stateWord(def, e.From, en) + " → " + stateWord(def, e.To, en)
		case e.To != "":
			s += pick(en, "：", ": ") + stateWord(def, e.To, en)
		}
		return s
	case audit.KindReviewDecision:
		s := stateWord(def, text("stage"), en)
		if dec := text("decision"); dec != "" {
			s += pick(en, "：", ": ") + eventWord(def, dec, en)
		}
		if total := text("total"); total != "" {
			s += " " + total
		}
		return s
	case audit.KindReviewRecall, audit.KindReviewRecuse, audit.KindReviewDelegate, audit.KindReviewAssign:
		return stateWord(def, text("stage"), en)
	case audit.KindExpertDraw:
		if e.Data == nil {
			return ""
		}
		s := stateWord(def, text("stage"), en)
		if sp := text("specialty"); sp != "" {
			s += " · " + sp
		}
		if picked, ok := e.Data["picked"].([]any); ok {
			s += " · " + pick(en, "抽取 ", "drew ") + strconv.Itoa(len(picked))
		}
		return s
	case audit.KindDataPatch:
		patch, _ := e.Data["patch"].(map[string]any)
		keys := make([]string, 0, len(patch))
		for k := range patch {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return strings.Join(keys, ", ")
	case audit.KindAttachment, engine.KindObjection:
		// Both always name someone's file or someone; a redaction removes
		// the name (engine.Redact).
		if name := text("name"); name != "" {
			return name
		}
		return pick(en, "（已脱敏）", "(redacted)")
	}
	return e.Event
}
