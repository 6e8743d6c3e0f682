package engine

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
	"github.com/sciflow/sciflow/internal/workflow"
)

// DecisionRecord is the account of how one application was decided, for
// whoever must answer years later who approved it, on what grounds, and
// whether anything was changed afterwards (纪检监察): every step and who
// took it, every review stage with its panel, scores, recusals and draws,
// the questions of send backs, objections to its notice and their outcome,
// timers that fired, money paid out or clawed back, and every entry of the
// application's own audit chain with the proof that the chain is whole.
type DecisionRecord struct {
	// Application is where it stands now.
	Application Application
	// Title is the application's title (or the person's name); empty for
	// an administrator, who does not see the form.
	Title string
	// Redacted: the viewer oversees the process only (an administrator):
	// who did what and when, never comments, data, scores, objectors'
	// details or the questions asked.
	Redacted bool
	// AsOf is when the record was read.
	AsOf       time.Time
	Steps      []RecordStep
	Stages     []StageRecord
	Recusals   []Recusal
	Questions  []RecordQuestion
	Objections []ObjectionRecord
	// Timers are the steps the system took when a state's timer fired.
	Timers   []RecordStep
	Payments []Payment
	// Entries are the application's audit chain as stored, in order: the
	// steps above and everything else recorded about it (reviewers'
	// decisions, recalls, draws, answers, form edits, files, objections).
	Entries []RecordEntry
	// People names everyone the record refers to by id (the drawn experts
	// of a draw, say).
	People map[string]UserRef
	// Integrity is the application's chain verified on its own.
	Integrity audit.ChainReport
}

// RecordStep is one transition of the history, with who decided it when
// the system took it on a stage's decision, and whether a timer fired it.
type RecordStep struct {
	Transition
	ChainSeq int64
	// Timer says the state's timer fired it.
	Timer bool
	// DecidedBy are the reviewers whose decisions settled the stage whose
	// outcome this step is.
	DecidedBy []UserRef
}

// RecordEntry is one entry of an application's audit chain as stored.
type RecordEntry struct {
	// ChainSeq is its position in the application's chain; Seq its row in
	// the whole log. Legacy entries (written before per-chain hashing) have
	// no chain position.
	ChainSeq int64
	Seq      int64
	Legacy   bool
	Kind     string
	Event    string
	From, To string
	Actor    *UserRef
	At       time.Time
	Comment  string
	Data     map[string]any
	Hash     string
	// Problem is the kind of problem verification found at this entry, if any.
	Problem string
}

// Recusal is a reviewer stepping down (回避) from a stage, and who was
// drawn in their place.
type Recusal struct {
	TaskID     string
	State      string
	Round      int
	Reviewer   UserRef
	Reason     string
	At         time.Time
	ReplacedBy *UserRef
}

// RecordQuestion is a question of a send back, with who asked and who
// answered.
type RecordQuestion struct {
	Question
	AskedBy, AnsweredBy *UserRef
}

// ObjectionRecord is an objection to the application's notice and how it
// ended: the event that sustained or dismissed it, and on whose decision.
type ObjectionRecord struct {
	ObjectionView
	Outcome   string
	DecidedBy []UserRef
}

// Kinds of payment a record lists.
const (
	PaymentDisbursement = "disbursement"
	PaymentClawback     = "clawback"
)

// Payment is a step that paid money out (a tranche, an instalment) or
// recorded money clawed back.
type Payment struct {
	Seq   int
	Event string
	Kind  string
	// Amount is in yuan, exactly as recorded; Data the step's whole payload.
	Amount string
	Data   map[string]any
	Actor  *UserRef
	At     time.Time
}

// SeesDecisionRecord reports whether the caller may read the application's
// decision record: the bureau and oversight, and administrators (who see
// the process only). It names the panel, so applicants, units and experts
// may not.
func (a Application) SeesDecisionRecord() bool {
	return oversees(a.Through) || oversightOnly(a.Through)
}

// DecisionRecord assembles an application's decision record as viewer may
// read it; not found for anyone else. It reads in a constant number of
// queries, whatever the length of the history: the application, its review
// stages (ReviewRecord), questions, objections, and last its audit chain
// with the chain's head and latest seal in one snapshot, so that the chain
// holds at least everything read before it.
func (e *Engine) DecisionRecord(ctx context.Context, viewer *identity.User, appID string) (DecisionRecord, error) {
	if viewer == nil {
		return DecisionRecord{}, fmt.Errorf("decision record of %s: %w", appID, errs.ErrNotFound)
	}
	app, err := e.db.Application(ctx, viewer, appID)
	if err != nil {
		return DecisionRecord{}, err
	}
	def, err := e.Definition(ctx, app.Workflow, app.WorkflowVersion)
	if err != nil {
		return DecisionRecord{}, err
	}
	view, err := e.view(ctx, e.db, nil, app, def, nil)
	if err != nil {
		return DecisionRecord{}, err
	}
	if !view.SeesDecisionRecord() {
		return DecisionRecord{}, fmt.Errorf("decision record of %s: %w", appID, errs.ErrNotFound)
	}
	rec := DecisionRecord{Application: view, Title: recordTitle(view.Data), Redacted: oversightOnly(app.ScopeRoles),
		AsOf: e.Now(), People: map[string]UserRef{}}
	if rec.Stages, err = e.ReviewRecord(ctx, viewer, app.ID); err != nil {
		return DecisionRecord{}, err
	}
	var questions []postgres.Question
	if !rec.Redacted {
		if questions, err = e.db.Questions(ctx, app.ID); err != nil {
			return DecisionRecord{}, err
		}
	}
	objections, err := e.db.Objections(ctx, app.ID)
	if err != nil {
		return DecisionRecord{}, err
	}
	var entries []audit.Recorded
	rec.Integrity, err = e.chain.ReadChain(ctx, e.db, app.ID, func(r audit.Recorded, row postgres.ChainRow) error {
		entries = append(entries, r)
		if r.ActorID != "" {
			rec.People[r.ActorID] = UserRef{ID: r.ActorID, Username: row.ActorUsername.String, Name: row.ActorName.String}
		}
		return nil
	})
	if err != nil {
		return DecisionRecord{}, err
	}

	rec.People[view.Applicant.ID] = view.Applicant
	for _, s := range rec.Stages {
		for _, t := range s.Tasks {
			rec.People[t.Assignee.ID] = t.Assignee
		}
	}
	person := func(id string) UserRef {
		if p, ok := rec.People[id]; ok {
			return p
		}
		return UserRef{ID: id}
	}
	people := func(ids []string) []UserRef {
		out := make([]UserRef, 0, len(ids))
		for _, id := range ids {
			out = append(out, person(id))
		}
		return out
	}

	// Where verification found something wrong: by chain position, or by
	// log row for a legacy entry.
	type at struct {
		legacy bool
		n      int64
	}
	problems := map[at]string{}
	for _, p := range rec.Integrity.Problems {
		if p.Chain != "" {
			problems[at{false, p.ChainSeq}] = p.Kind
		} else if p.Seq != 0 {
			problems[at{true, p.Seq}] = p.Kind
		}
	}
	for _, r := range entries {
		en := RecordEntry{ChainSeq: r.ChainSeq, Seq: r.Seq, Legacy: r.Chain == "", Kind: r.Kind, Event: r.Event, From: r.From,
			To: r.To, At: r.At(), Comment: r.Comment, Data: r.Data, Hash: hex.EncodeToString(r.Hash)}
		if r.ActorID != "" {
			p := person(r.ActorID)
			en.Actor = &p
		}
		if en.Legacy {
			en.Problem = problems[at{true, r.Seq}]
		} else {
			en.Problem = problems[at{false, r.ChainSeq}]
		}
		rec.Entries = append(rec.Entries, en)

		switch r.Kind {
		case audit.KindTransition:
			st := RecordStep{Transition: Transition{Seq: r.AppSeq, Event: r.Event, From: r.From, To: r.To, Actor: en.Actor,
				Comment: r.Comment, Data: r.Data, At: en.At, Hash: en.Hash}, ChainSeq: r.ChainSeq,
				DecidedBy: people(decidedBy(r.Data))}
			if from, ok := def.State(r.From); ok && r.ActorID == "" && from.Timer != nil && from.Timer.Event == r.Event {
				st.Timer = true
				rec.Timers = append(rec.Timers, st)
			}
			rec.Steps = append(rec.Steps, st)
			if ev, ok := def.Event(r.Event); ok {
				if p, ok := paymentOf(ev, st); ok {
					rec.Payments = append(rec.Payments, p)
				}
			}
		case audit.KindReviewRecuse:
			task, _ := r.Data["task"].(string)
			state, _ := r.Data["stage"].(string)
			rc := Recusal{TaskID: task, State: state, Round: intOf(r.Data["round"]), Reason: r.Comment, At: en.At}
			if en.Actor != nil {
				rc.Reviewer = *en.Actor
			}
			rec.Recusals = append(rec.Recusals, rc)
		}
	}
	// Who replaced a recused expert is in the draw that names their task.
	for i, rc := range rec.Recusals {
		for _, s := range rec.Stages {
			for _, d := range s.Draws {
				if d.ReplacesTask == rc.TaskID && rc.TaskID != "" && len(d.Picked) > 0 {
					p := person(d.Picked[0])
					rec.Recusals[i].ReplacedBy = &p
				}
			}
		}
	}

	for i, q := range toQuestions(questions) {
		rq := RecordQuestion{Question: q}
		if raw := questions[i]; raw.AskedBy.Valid {
			p := person(raw.AskedBy.String)
			rq.AskedBy = &p
		}
		if raw := questions[i]; raw.AnsweredBy.Valid {
			p := person(raw.AnsweredBy.String)
			rq.AnsweredBy = &p
		}
		rec.Questions = append(rec.Questions, rq)
	}

	for _, o := range objections {
		or := ObjectionRecord{ObjectionView: ObjectionView{ID: o.ID, Name: o.Name, Phone: o.Phone, Org: o.Org, Reason: o.Reason,
			Status: o.Status, Decision: o.Decision, Created: o.Created}}
		if o.Decided.Valid {
			or.Decided = &o.Decided.Time
			// The step that resolved it: the first after it was filed whose
			// event resolves objections the way it ended.
			for _, st := range rec.Steps {
				ev, ok := def.Event(st.Event)
				if ok && ev.ResolvesObjections == o.Status && !st.At.Before(o.Created) {
					or.Outcome, or.DecidedBy = st.Event, st.DecidedBy
					if len(or.DecidedBy) == 0 && st.Actor != nil {
						or.DecidedBy = []UserRef{*st.Actor}
					}
					break
				}
			}
		}
		rec.Objections = append(rec.Objections, or)
	}

	if rec.Redacted {
		rec.redact()
	}
	return rec, nil
}

// redact leaves an administrator's record the process: that each step
// happened, who took it and when, never what anyone wrote or scored, who
// objected, or the money's figures (the same as History and the audit log
// show them).
func (r *DecisionRecord) redact() {
	for i := range r.Steps {
		r.Steps[i].Comment, r.Steps[i].Data, r.Steps[i].DecidedBy = "", nil, nil
	}
	for i := range r.Timers {
		r.Timers[i].Comment, r.Timers[i].Data, r.Timers[i].DecidedBy = "", nil, nil
	}
	for i := range r.Entries {
		r.Entries[i].Comment, r.Entries[i].Data = "", nil
	}
	for i := range r.Recusals {
		r.Recusals[i].Reason, r.Recusals[i].ReplacedBy = "", nil
	}
	for i := range r.Payments {
		r.Payments[i].Amount, r.Payments[i].Data = "", nil
	}
	for i := range r.Objections {
		o := &r.Objections[i]
		o.Name, o.Phone, o.Org, o.Reason, o.Decision, o.DecidedBy = "", "", "", "", "", nil
	}
	r.Questions = nil
}

// paymentOf reads a step as a payment: an event that adds to a running
// total (a tranche to what was disbursed so far) or whose payload carries
// the day it was paid is a disbursement; one that records a clawback is a
// clawback. The shipped definitions name these fields so; nothing else in
// a definition says that an event moves money.
func paymentOf(ev *workflow.Event, st RecordStep) (Payment, bool) {
	p := Payment{Seq: st.Seq, Event: st.Event, Data: st.Data, Actor: st.Actor, At: st.At}
	amount := "amount"
	switch _, paidOn := st.Data["paid_on"]; {
	case st.Data["clawback"] != nil:
		p.Kind, amount = PaymentClawback, "clawback"
	case len(ev.Adds) > 0:
		p.Kind = PaymentDisbursement
		fields := make([]string, 0, len(ev.Adds))
		for _, f := range ev.Adds {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		amount = fields[0]
	case paidOn:
		p.Kind = PaymentDisbursement
	default:
		return Payment{}, false
	}
	if v, ok := st.Data[amount]; ok && v != nil {
		p.Amount = fmt.Sprint(v)
	}
	return p, true
}

// recordTitle is what names an application: its title, or the person's name.
func recordTitle(data map[string]any) string {
	for _, k := range []string{"title", "name"} {
		if s, ok := data[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// intOf reads a whole number from an entry's data: json.Number as read
// back from the chain, int as written.
func intOf(v any) int {
	switch x := v.(type) {
	case json.Number:
		n, _ := x.Int64()
		return int(n)
	case int:
		return x
	case int64:
		return int(x)
	case float64:
		return int(x)
	}
	return 0
}
