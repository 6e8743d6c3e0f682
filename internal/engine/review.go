package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
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

// recallEvent is the history's name for a reviewer pulling back their
// stage's decision; dotted, so no declared event can be called that.
const recallEvent = "review.recall"

// stage is a review stage loaded under its application's lock.
type stage struct {
	app    postgres.Application
	def    *workflow.Definition
	state  *workflow.State
	review *workflow.Review
	row    postgres.ReviewStage
	tasks  []postgres.ReviewTask
	hist   []audit.Recorded
}

// openStage starts a round of a review state the application has just
// entered: the stage row, then a task for each reviewer the state declares
// (role holders in scope, or drawn experts; assigned stages wait for
// staff). It returns the audit entries of any draw, to append after the
// transition that caused it.
func (e *Engine) openStage(ctx context.Context, tx *postgres.Tx, def *workflow.Definition, app postgres.Application,
	st *workflow.State, hist []audit.Recorded, due *time.Time, actor *identity.User, now time.Time) ([]audit.Entry, error) {
	rv := st.Review
	sg := &stage{app: app, def: def, state: st, review: rv, hist: hist}
	if rv.Reviewers.Source == workflow.FromRole {
		// Every holder of the role in scope: the stage, who they are,
		// their tasks and their announcement in one statement.
		_, err := tx.OpenRoleStage(ctx, app.ID, st.Key, string(rv.Policy), due, now, sg.candidateQuery("", false),
			rv.Policy == workflow.PolicySequential)
		return nil, err
	}
	if rv.Reviewers.Source != workflow.FromDraw {
		row, err := tx.OpenStage(ctx, app.ID, st.Key, string(rv.Policy), due, now)
		sg.row = row
		return nil, err // staff assign the reviewers
	}
	// A drawn panel: the stage with who may be drawn, then the draw with
	// the tasks of those it picked (noted to be announced with them).
	if err := sg.drawable(); err != nil {
		return nil, err
	}
	row, cands, err := tx.OpenDrawStage(ctx, app.ID, st.Key, string(rv.Policy), due, now, sg.candidateQuery("", true))
	if err != nil {
		return nil, err
	}
	sg.row = row
	d, err := sg.drawExperts(cands, rv.Reviewers.Count, "", actor, now)
	if err != nil {
		return nil, err
	}
	news := make([]postgres.NewTask, len(d.record.Picked))
	for i, id := range d.record.Picked {
		status := postgres.TaskOpen
		if rv.Policy == workflow.PolicySequential && i > 0 {
			status = postgres.TaskWaiting
		}
		news[i] = postgres.NewTask{AssigneeID: id, Position: i + 1, Via: "drawn", Status: status}
	}
	if _, err := d.store(ctx, tx, sg, news, now); err != nil {
		return nil, err
	}
	return []audit.Entry{d.entry}, nil
}

// announce tells the reviewer of a waiting task that it is open now; new
// tasks are noted to be announced as they are inserted (InsertTasks,
// OpenRoleStage). The notifications are made by the queue, in batches,
// once this commits: written here they cost every submission rows and
// locks on the same few reviewers (docs/BENCHMARKS.md).
func (e *Engine) announce(ctx context.Context, tx *postgres.Tx, task postgres.ReviewTask) error {
	return tx.QueueAnnouncements(ctx, []string{task.ID})
}

// barred are the people who may not review this stage: the applicant,
// whoever handed the application over, and (unless the workflow allows it)
// whoever decided the previous review stage.
func (sg *stage) barred() []string {
	out := []string{sg.app.ApplicantID}
	for _, h := range sg.hist {
		if from, ok := sg.def.State(h.From); ok && from.Kind == workflow.KindEdit && h.ActorID != "" && !slices.Contains(out, h.ActorID) {
			out = append(out, h.ActorID)
		}
	}
	if sg.def.SeparateStages {
		for _, id := range previousDeciders(sg.def, sg.hist, sg.state.Key) {
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out
}

// panel lists everyone who has had a task in the stage, whatever became of
// it: nobody reviews one stage twice.
func (sg *stage) panel() []string {
	out := make([]string, 0, len(sg.tasks))
	for _, t := range sg.tasks {
		out = append(out, t.AssigneeID)
	}
	return out
}

// candidateQuery asks storage who may review the stage: holders of its
// role within the application's scope, minus the barred and the panel.
// Experts are never from the applicant's organisation or a declared
// conflict of it; a draw (and whoever stands in for a drawn expert) also
// needs the specialty.
func (sg *stage) candidateQuery(only string, drawn bool) postgres.CandidateQuery {
	r := sg.review.Reviewers
	q := postgres.CandidateQuery{Role: string(r.Role), OrgID: sg.app.OrgID, OrgParentID: sg.app.OrgParentID,
		Exclude: append(sg.barred(), sg.panel()...), Only: only}
	switch r.Role {
	case identity.UnitReviewer:
		q.UnitScope = true
	case identity.Expert:
		q.ExpertRules = true
	}
	if drawn {
		q.Specialty = sg.specialty()
	}
	return q
}

// specialty is what a draw looks for: the declared one, or the one the
// application's form names.
func (sg *stage) specialty() string {
	r := sg.review.Reviewers
	if r.SpecialtyField != "" {
		s, _ := sg.app.Data[r.SpecialtyField].(string)
		return strings.TrimSpace(s)
	}
	return r.Specialty
}

// draw is one expert draw, made (drawExperts) and not yet stored.
type draw struct {
	record postgres.ExpertDraw
	entry  audit.Entry
}

// store stores the draw with the tasks of those it picked (news, each of
// them drawn by it), and records its id in its entry.
func (d *draw) store(ctx context.Context, tx *postgres.Tx, sg *stage, news []postgres.NewTask, now time.Time) ([]postgres.ReviewTask, error) {
	id, tasks, err := tx.InsertDrawnTasks(ctx, d.record, sg.row, news, now)
	if err != nil {
		return nil, err
	}
	d.entry.Data["draw_id"] = id
	return tasks, nil
}

// drawable refuses a draw for an application that names no specialty when
// its workflow draws by the one it names.
func (sg *stage) drawable() error {
	if f := sg.review.Reviewers.SpecialtyField; f != "" && sg.specialty() == "" {
		return errs.E(errs.Invalid, "申请未填写专业领域，无法抽取专家", "the application names no specialty to draw experts for").
			Field("data."+f, "必填", "required")
	}
	return nil
}

// drawCandidates lists who may be drawn for the stage, by id.
func (sg *stage) drawCandidates(ctx context.Context, tx *postgres.Tx) ([]postgres.Candidate, error) {
	if err := sg.drawable(); err != nil {
		return nil, err
	}
	return tx.ReviewCandidates(ctx, sg.candidateQuery("", true))
}

// drawExperts draws n experts for the stage from cands (everyone eligible,
// by id), with a fresh random seed, and describes the draw: seed, pool and
// result, to be stored with the tasks (draw.store). Too small a pool is
// refused: a panel is never drawn short.
func (sg *stage) drawExperts(cands []postgres.Candidate, n int, replaces string, actor *identity.User, now time.Time) (draw, error) {
	spec := sg.specialty()
	if len(cands) < n {
		zhSpec, enSpec := "", ""
		if spec != "" {
			zhSpec, enSpec = "（专业："+spec+"）", " (specialty: "+spec+")"
		}
		return draw{}, errs.E(errs.Invalid,
			fmt.Sprintf("专家库中符合条件的专家不足%s：需要 %d 名，仅有 %d 名；请先补充专家库", zhSpec, n, len(cands)),
			fmt.Sprintf("the expert pool is too small%s: %d needed, %d eligible; widen the pool first", enSpec, n, len(cands))).
			Field("experts", fmt.Sprintf("需要 %d 名，仅有 %d 名", n, len(cands)), fmt.Sprintf("%d needed, %d eligible", n, len(cands)))
	}
	pool := make([]string, len(cands))
	for i, c := range cands {
		pool[i] = c.ID
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return draw{}, fmt.Errorf("draw seed: %w", err)
	}
	seed := hex.EncodeToString(raw[:])
	picked := workflow.Draw(seed, pool, n)
	d := postgres.ExpertDraw{StageID: sg.row.ID, Seed: seed, Wanted: n, Pool: pool, Picked: picked, DrawnAt: now}
	d.Specialty.String, d.Specialty.Valid = spec, spec != ""
	d.ReplacesTask.String, d.ReplacesTask.Valid = replaces, replaces != ""
	data := map[string]any{"stage": sg.state.Key, "round": sg.row.Round, "seed": seed, "specialty": spec, "wanted": n,
		"pool": pool, "picked": picked}
	entry := audit.Entry{Kind: audit.KindExpertDraw, AtMicros: now.UnixMicro(), ApplicationID: sg.app.ID,
		Workflow: sg.app.Workflow, Data: data}
	if replaces != "" {
		data["replaces_task"] = replaces
	}
	if actor != nil {
		d.DrawnBy.String, d.DrawnBy.Valid = actor.ID, true
		entry.ActorID = actor.ID
	}
	return draw{record: d, entry: entry}, nil
}

// decidedBy reads the deciders recorded with a stage's outcome; entries
// read back from the chain hold them as []any, fresh ones as []string.
func decidedBy(data map[string]any) []string {
	switch v := data["decided_by"].(type) {
	case []string:
		return v
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// checkQuestions checks the questions an event asks: one or more, each a
// real question, only on events that send back.
func checkQuestions(ev *workflow.Event, qs []string) ([]string, error) {
	if !ev.Questions {
		if len(qs) > 0 {
			return nil, errs.E(errs.Invalid, "此操作不提出问题", "this event asks no questions").Field("questions", "不应填写", "not allowed")
		}
		return nil, nil
	}
	bad := errs.E(errs.Invalid, "退回时请列出需要申请人回答或修改的问题", "list the questions the applicant must answer")
	if len(qs) == 0 {
		return nil, bad.Field("questions", "至少一个问题", "at least one question")
	}
	if len(qs) > 50 {
		return nil, bad.Field("questions", "最多 50 个问题", "at most 50 questions")
	}
	out := make([]string, 0, len(qs))
	for i, q := range qs {
		q = strings.TrimSpace(q)
		if q == "" || utf8.RuneCountInString(q) > 2000 {
			return nil, bad.Field(fmt.Sprintf("questions.%d", i), "每个问题 1-2000 字", "each question 1-2000 characters")
		}
		out = append(out, q)
	}
	return out, nil
}

// wasSentBack reports whether the history holds a send back with questions,
// so that only such applications pay for reading their questions.
func wasSentBack(hist []audit.Recorded) bool {
	for _, h := range hist {
		if _, ok := h.Data["questions"]; ok {
			return true
		}
	}
	return false
}

// requireAnswers refuses to hand an application back while a question of
// its latest send back has no answer.
func requireAnswers(ctx context.Context, tx *postgres.Tx, appID string) error {
	qs, err := tx.LockQuestions(ctx, appID)
	if err != nil {
		return err
	}
	last := 0
	for _, q := range qs {
		last = max(last, q.Round)
	}
	var missing *errs.Error
	for _, q := range qs {
		if q.Round == last && !q.Answer.Valid {
			if missing == nil {
				missing = errs.E(errs.Invalid, "请先逐条回答退回时提出的问题", "answer each question of the send back first")
			}
			missing.Field("answers."+q.ID, "请回答："+q.Question, "please answer: "+q.Question)
		}
	}
	if missing != nil {
		return missing
	}
	return nil
}
