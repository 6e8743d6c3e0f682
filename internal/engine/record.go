package engine

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
	"github.com/sciflow/sciflow/internal/workflow"
)

// StageRecord is one round of a review stage with what happened in it.
type StageRecord struct {
	State      string
	StateTitle workflow.Text
	Round      int
	Policy     string
	Opened     time.Time
	Due        *time.Time
	Closed     *time.Time
	Outcome    string
	Decided    bool
	Summary    map[string]any
	Tasks      []Task
	Draws      []DrawRecord
}

// DrawRecord is a stored expert draw and whether it replays: the same seed
// and pool, drawn again by the documented rule, give the same panel.
type DrawRecord struct {
	ID           int64
	Seed         string
	Specialty    string
	Wanted       int
	Pool         []string
	Picked       []string
	ReplacesTask string
	DrawnAt      time.Time
	Replays      bool
}

// ReviewRecord is an application's review stages, oldest first, as actor
// may see them: the bureau and oversight see every task and draw; anyone
// else who sees the application sees the stages and their own tasks.
func (e *Engine) ReviewRecord(ctx context.Context, actor *identity.User, appID string) ([]StageRecord, error) {
	app, err := e.db.Application(ctx, actor, appID)
	if err != nil {
		return nil, err
	}
	def, err := e.Definition(ctx, app.Workflow, app.WorkflowVersion)
	if err != nil {
		return nil, err
	}
	stages, err := e.db.Stages(ctx, app.ID)
	if err != nil || len(stages) == 0 {
		return []StageRecord{}, err
	}
	ids := make([]int64, len(stages))
	for i, s := range stages {
		ids[i] = s.ID
	}
	bureau := oversees(app.ScopeRoles)
	tasks, err := e.db.TasksOfStages(ctx, ids)
	if err != nil {
		return nil, err
	}
	var draws []postgres.ExpertDraw
	if bureau {
		if draws, err = e.db.DrawsOfStages(ctx, ids); err != nil {
			return nil, err
		}
	}
	out := make([]StageRecord, 0, len(stages))
	for _, s := range stages {
		r := StageRecord{State: s.State, StateTitle: stateTitle(def, s.State), Round: s.Round, Policy: s.Policy,
			Opened: s.Opened, Due: s.Due, Closed: s.Closed, Outcome: s.Outcome, Decided: s.Decided, Summary: s.Summary,
			Tasks: []Task{}, Draws: []DrawRecord{}}
		if oversightOnly(app.ScopeRoles) {
			// Administrators see that stages happened, not how anyone decided.
			r.Summary = nil
		}
		for _, t := range tasks {
			if t.StageID == s.ID && (bureau || actor != nil && t.AssigneeID == actor.ID) {
				r.Tasks = append(r.Tasks, e.toTask(def, s.State, s.Round, t))
			}
		}
		for _, d := range draws {
			if d.StageID == s.ID {
				r.Draws = append(r.Draws, DrawRecord{ID: d.ID, Seed: d.Seed, Specialty: d.Specialty.String, Wanted: d.Wanted,
					Pool: d.Pool, Picked: d.Picked, ReplacesTask: d.ReplacesTask.String, DrawnAt: d.DrawnAt,
					Replays: slices.Equal(workflow.Draw(d.Seed, d.Pool, d.Wanted), d.Picked)})
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// Question is one question of a send back with its answer.
type Question struct {
	ID         string
	Round      int
	Position   int
	Question   string
	AskedIn    string
	AskedAt    time.Time
	Answer     string
	Answered   bool
	AnsweredAt *time.Time
}

// Questions lists the questions every send back of an application asked,
// round by round, with the answers: the record of each round stays.
func (e *Engine) Questions(ctx context.Context, actor *identity.User, appID string) ([]Question, error) {
	app, err := e.db.Application(ctx, actor, appID)
	if err != nil {
		return nil, err
	}
	if oversightOnly(app.ScopeRoles) {
		return []Question{}, nil
	}
	qs, err := e.db.Questions(ctx, app.ID)
	if err != nil {
		return nil, err
	}
	return toQuestions(qs), nil
}

func toQuestions(qs []postgres.Question) []Question {
	out := make([]Question, 0, len(qs))
	for _, q := range qs {
		v := Question{ID: q.ID, Round: q.Round, Position: q.Position, Question: q.Question, AskedIn: q.AskedIn,
			AskedAt: q.AskedAt, Answer: q.Answer.String, Answered: q.Answer.Valid}
		if q.AnsweredAt.Valid {
			v.AnsweredAt = &q.AnsweredAt.Time
		}
		out = append(out, v)
	}
	return out
}

// Answer records the applicant's answers to the latest send back's
// questions (question id → answer), while they may edit the application.
// Answers can be revised until the application is handed back.
func (e *Engine) Answer(ctx context.Context, actor *identity.User, appID string, answers map[string]string) ([]Question, error) {
	if len(answers) == 0 {
		return nil, errs.E(errs.Invalid, "请填写回答", "give at least one answer").Field("answers", "必填", "required")
	}
	tx, err := e.db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	app, err := tx.LockApplication(ctx, actor, appID)
	if err != nil {
		return nil, err
	}
	def, err := e.Definition(ctx, app.Workflow, app.WorkflowVersion)
	if err != nil {
		return nil, err
	}
	if st, ok := def.State(app.State); !ok || !st.MayEdit(app.ScopeRoles) {
		return nil, errs.E(errs.Forbidden, "当前状态下您不能回答问题", "you may not answer questions in the current state")
	}
	qs, err := tx.LockQuestions(ctx, app.ID)
	if err != nil {
		return nil, err
	}
	last := 0
	for _, q := range qs {
		last = max(last, q.Round)
	}
	bad := errs.E(errs.Invalid, "回答有误", "some answers are wrong")
	open := map[string]bool{}
	for _, q := range qs {
		if q.Round == last {
			open[q.ID] = true
		}
	}
	ids := make([]string, 0, len(answers))
	for id, a := range answers {
		a = strings.TrimSpace(a)
		switch {
		case !open[id]:
			bad.Field("answers."+id, "不是本轮退回的问题", "not a question of the latest send back")
		case a == "" || utf8.RuneCountInString(a) > 10000:
			bad.Field("answers."+id, "请填写 1-10000 字的回答", "answer in 1 to 10000 characters")
		}
		answers[id] = a
		ids = append(ids, id)
	}
	if len(bad.Fields) > 0 {
		return nil, bad
	}
	slices.Sort(ids)
	now := e.Now()
	for _, id := range ids {
		if err := tx.Answer(ctx, id, answers[id], actor.ID, now); err != nil {
			return nil, err
		}
	}
	entry := audit.Entry{Kind: audit.KindAnswer, AtMicros: now.UnixMicro(), ActorID: actor.ID, ApplicationID: app.ID,
		Workflow: app.Workflow, Data: map[string]any{"round": last, "answers": answers}}
	if _, err := e.chain.Append(ctx, tx, entry); err != nil {
		return nil, err
	}
	qs, err = tx.LockQuestions(ctx, app.ID)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return toQuestions(qs), nil
}
