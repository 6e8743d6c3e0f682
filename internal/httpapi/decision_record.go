package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/workflow"
)

// decisionRecordJSON is GET /applications/{id}/decision-record: how the
// application was decided, with the proof that its trail is whole.
type decisionRecordJSON struct {
	Application   applicationJSON      `json:"application"`
	Title         string               `json:"title"`
	Redacted      bool                 `json:"redacted"`
	AsOf          string               `json:"as_of"`
	Transitions   []recordStepJSON     `json:"transitions"`
	Stages        []recordStageJSON    `json:"stages"`
	Recusals      []recusalJSON        `json:"recusals"`
	Questions     []recordQuestionJSON `json:"questions"`
	Objections    []recordObjJSON      `json:"objections"`
	Timers        []timerJSON          `json:"timers"`
	Disbursements []paymentJSON        `json:"disbursements"`
	Entries       []recordEntryJSON    `json:"entries"`
	Integrity     integrityJSON        `json:"integrity"`
}

type recordStepJSON struct {
	Seq        int             `json:"seq"`
	ChainSeq   int64           `json:"chain_seq"`
	Event      string          `json:"event"`
	EventTitle string          `json:"event_title"`
	From       string          `json:"from"`
	FromTitle  string          `json:"from_title"`
	To         string          `json:"to"`
	ToTitle    string          `json:"to_title"`
	Actor      *applicantJSON  `json:"actor"`
	Comment    string          `json:"comment"`
	Data       map[string]any  `json:"data"`
	At         string          `json:"at"`
	Hash       string          `json:"hash"`
	Timer      bool            `json:"timer"`
	DecidedBy  []applicantJSON `json:"decided_by"`
}

// recordStageJSON is a stage as /review gives it, its outcome titled and
// its draws naming who was picked.
type recordStageJSON struct {
	stageJSON
	OutcomeTitle string           `json:"outcome_title,omitempty"`
	Draws        []recordDrawJSON `json:"draws"`
}

type recordDrawJSON struct {
	drawJSON
	PoolSize int             `json:"pool_size"`
	Picked   []applicantJSON `json:"picked"`
}

type recusalJSON struct {
	Task       string         `json:"task"`
	State      string         `json:"state"`
	StateTitle string         `json:"state_title"`
	Round      int            `json:"round"`
	Reviewer   applicantJSON  `json:"reviewer"`
	Reason     string         `json:"reason"`
	At         string         `json:"at"`
	ReplacedBy *applicantJSON `json:"replaced_by"`
}

type recordQuestionJSON struct {
	questionJSON
	AskedBy    *applicantJSON `json:"asked_by"`
	AnsweredBy *applicantJSON `json:"answered_by"`
}

type recordObjJSON struct {
	objectionJSON
	Outcome   string          `json:"outcome"`
	DecidedBy []applicantJSON `json:"decided_by"`
}

type timerJSON struct {
	Seq        int    `json:"seq"`
	Event      string `json:"event"`
	EventTitle string `json:"event_title"`
	From       string `json:"from"`
	To         string `json:"to"`
	At         string `json:"at"`
}

type paymentJSON struct {
	Seq        int            `json:"seq"`
	Event      string         `json:"event"`
	EventTitle string         `json:"event_title"`
	Kind       string         `json:"kind"`
	Amount     *string        `json:"amount"`
	Data       map[string]any `json:"data"`
	Actor      *applicantJSON `json:"actor"`
	At         string         `json:"at"`
}

type recordEntryJSON struct {
	ChainSeq int64          `json:"chain_seq"`
	Seq      int64          `json:"seq"`
	Legacy   bool           `json:"legacy"`
	Kind     string         `json:"kind"`
	Event    string         `json:"event,omitempty"`
	From     string         `json:"from,omitempty"`
	To       string         `json:"to,omitempty"`
	Actor    *applicantJSON `json:"actor"`
	At       string         `json:"at"`
	Comment  string         `json:"comment"`
	Data     map[string]any `json:"data"`
	Hash     string         `json:"hash"`
	Problem  *string        `json:"problem"`
}

type integrityJSON struct {
	Chain     string          `json:"chain"`
	OK        bool            `json:"ok"`
	Checked   int64           `json:"checked"`
	Legacy    int64           `json:"legacy"`
	HeadCount int64           `json:"head_count"`
	HeadHash  string          `json:"head_hash"`
	Problems  []audit.Problem `json:"problems"`
	Seal      *sealJSON       `json:"seal"`
	// Unsealed counts the chain's entries after the latest seal: they rest
	// on the chain's signed head alone until the next.
	Unsealed int64 `json:"unsealed"`
}

type sealJSON struct {
	Seq   int64  `json:"seq"`
	At    string `json:"at"`
	Count int64  `json:"count"`
	Hash  string `json:"hash"`
}

// decisionRecord answers GET /applications/{id}/decision-record for the
// bureau, oversight and (the process only) administrators; 404 for anyone
// else.
func (s *Server) decisionRecord(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	rec, err := s.engine.DecisionRecord(ctx, u, c.Param("id"))
	if err != nil {
		return err
	}
	def, err := s.engine.Definition(ctx, rec.Application.Workflow, rec.Application.WorkflowVersion)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toDecisionRecordJSON(rec, def, English(c.Request())))
}

func toDecisionRecordJSON(rec engine.DecisionRecord, def *workflow.Definition, en bool) decisionRecordJSON {
	person := func(r engine.UserRef) applicantJSON {
		return applicantJSON{ID: r.ID, Username: r.Username, Name: r.Name}
	}
	personPtr := func(r *engine.UserRef) *applicantJSON {
		if r == nil {
			return nil
		}
		p := person(*r)
		return &p
	}
	people := func(rs []engine.UserRef) []applicantJSON {
		out := make([]applicantJSON, 0, len(rs))
		for _, r := range rs {
			out = append(out, person(r))
		}
		return out
	}
	out := decisionRecordJSON{Application: toApplicationJSON(rec.Application, en), Title: rec.Title, Redacted: rec.Redacted,
		AsOf: timeJSON(rec.AsOf), Transitions: []recordStepJSON{}, Stages: []recordStageJSON{}, Recusals: []recusalJSON{},
		Questions: []recordQuestionJSON{}, Objections: []recordObjJSON{}, Timers: []timerJSON{}, Disbursements: []paymentJSON{},
		Entries: []recordEntryJSON{}}

	for _, st := range rec.Steps {
		j := recordStepJSON{Seq: st.Seq, ChainSeq: st.ChainSeq, Event: st.Event, EventTitle: eventTitle(def, st.Event, en),
			From: st.From, FromTitle: stateTitleOf(def, st.From, en), To: st.To, ToTitle: stateTitleOf(def, st.To, en),
			Actor: personPtr(st.Actor), Comment: st.Comment, Data: st.Data, At: timeJSON(st.At), Hash: st.Hash, Timer: st.Timer,
			DecidedBy: people(st.DecidedBy)}
		if j.Data == nil {
			j.Data = map[string]any{}
		}
		out.Transitions = append(out.Transitions, j)
	}
	for _, st := range rec.Stages {
		j := recordStageJSON{stageJSON: toStageJSON(st, en), Draws: []recordDrawJSON{}}
		if st.Outcome != "" {
			j.OutcomeTitle = eventTitle(def, st.Outcome, en)
		}
		for _, d := range st.Draws {
			dj := recordDrawJSON{drawJSON: toDrawJSON(d), PoolSize: len(d.Pool), Picked: []applicantJSON{}}
			for _, id := range d.Picked {
				p, ok := rec.People[id]
				if !ok {
					p = engine.UserRef{ID: id}
				}
				dj.Picked = append(dj.Picked, person(p))
			}
			j.Draws = append(j.Draws, dj)
		}
		out.Stages = append(out.Stages, j)
	}
	for _, r := range rec.Recusals {
		out.Recusals = append(out.Recusals, recusalJSON{Task: r.TaskID, State: r.State, StateTitle: stateTitleOf(def, r.State, en),
			Round: r.Round, Reviewer: person(r.Reviewer), Reason: r.Reason, At: timeJSON(r.At), ReplacedBy: personPtr(r.ReplacedBy)})
	}
	for _, q := range rec.Questions {
		j := recordQuestionJSON{AskedBy: personPtr(q.AskedBy), AnsweredBy: personPtr(q.AnsweredBy)}
		j.questionJSON = toQuestionsJSON([]engine.Question{q.Question})[0]
		out.Questions = append(out.Questions, j)
	}
	for _, o := range rec.Objections {
		out.Objections = append(out.Objections, recordObjJSON{objectionJSON: objectionJSON{ID: o.ID, Name: o.Name, Phone: o.Phone,
			Org: o.Org, Reason: o.Reason, Status: o.Status, Decision: o.Decision, CreatedAt: timeJSON(o.Created),
			DecidedAt: timePtrJSON(o.Decided)}, Outcome: o.Outcome, DecidedBy: people(o.DecidedBy)})
	}
	for _, t := range rec.Timers {
		out.Timers = append(out.Timers, timerJSON{Seq: t.Seq, Event: t.Event, EventTitle: eventTitle(def, t.Event, en),
			From: t.From, To: t.To, At: timeJSON(t.At)})
	}
	for _, p := range rec.Payments {
		j := paymentJSON{Seq: p.Seq, Event: p.Event, EventTitle: eventTitle(def, p.Event, en), Kind: p.Kind, Data: p.Data,
			Actor: personPtr(p.Actor), At: timeJSON(p.At)}
		if p.Amount != "" {
			amount := p.Amount
			j.Amount = &amount
		}
		if j.Data == nil {
			j.Data = map[string]any{}
		}
		out.Disbursements = append(out.Disbursements, j)
	}
	for _, e := range rec.Entries {
		j := recordEntryJSON{ChainSeq: e.ChainSeq, Seq: e.Seq, Legacy: e.Legacy, Kind: e.Kind, Event: e.Event, From: e.From,
			To: e.To, Actor: personPtr(e.Actor), At: timeJSON(e.At), Comment: e.Comment, Data: e.Data, Hash: e.Hash}
		if j.Data == nil {
			j.Data = map[string]any{}
		}
		if e.Problem != "" {
			problem := e.Problem
			j.Problem = &problem
		}
		out.Entries = append(out.Entries, j)
	}
	in := rec.Integrity
	out.Integrity = integrityJSON{Chain: in.Chain, OK: in.OK, Checked: in.Checked, Legacy: in.Legacy, HeadCount: in.HeadCount,
		HeadHash: in.HeadHash, Problems: in.Problems, Unsealed: in.HeadCount}
	if out.Integrity.Problems == nil {
		out.Integrity.Problems = []audit.Problem{}
	}
	if sl := in.Seal; sl != nil {
		out.Integrity.Seal = &sealJSON{Seq: sl.Seq, At: timeJSON(sl.At), Count: sl.Count, Hash: sl.Hash}
		out.Integrity.Unsealed = max(0, in.HeadCount-sl.Count)
	}
	return out
}

// eventTitle is an event's title in the definition the application runs
// on, or the words for the engine's own steps.
func eventTitle(def *workflow.Definition, key string, en bool) string {
	switch key {
	case "create":
		return errs.Text{Zh: "创建", En: "Created"}.In(en)
	case "review.recall":
		return errs.Text{Zh: "取回决定", En: "Decision recalled"}.In(en)
	case workflow.ScoreDecision:
		return errs.Text{Zh: "评分", En: "Scored"}.In(en)
	}
	if ev, ok := def.Event(key); ok {
		return ev.Title.In(en)
	}
	return key
}

func stateTitleOf(def *workflow.Definition, key string, en bool) string {
	if st, ok := def.State(key); ok {
		return st.Title.In(en)
	}
	return key
}
