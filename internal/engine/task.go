package engine

import (
	"context"
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

// Task is a reviewer's task as they (or oversight) see it.
type Task struct {
	ID              string
	ApplicationID   string
	Workflow        string
	WorkflowVersion int
	State           string
	StateTitle      workflow.Text
	Round           int
	Policy          workflow.Policy
	// Kind is "score" for a scoring stage, else "approval".
	Kind      string
	Decisions []workflow.Decision
	Criteria  []workflow.Criterion
	Position  int
	Via       string
	Status    string
	Decision  string
	Scores    map[string]any
	Total     string
	Comment   string
	Reason    string
	Due       *time.Time
	Overdue   bool
	Created   time.Time
	Decided   *time.Time
	Assignee  UserRef
	// AppTitle and OrgName say what the task is about, for an inbox.
	AppTitle string
	OrgName  string
}

// The kinds of task.
const (
	TaskApproval = "approval"
	TaskScore    = "score"
)

func (e *Engine) toTask(def *workflow.Definition, stateKey string, round int, t postgres.ReviewTask) Task {
	out := Task{ID: t.ID, ApplicationID: t.ApplicationID, Workflow: def.Key, WorkflowVersion: def.Version, State: stateKey,
		Round: round, Kind: TaskApproval, Position: t.Position, Via: t.Via, Status: t.Status, Decision: t.Decision,
		Scores: t.Scores, Total: t.Total, Comment: t.Comment, Reason: t.Reason, Due: t.Due, Created: t.Created,
		Decided: t.Decided, Assignee: UserRef{ID: t.AssigneeID, Username: t.AssigneeUsername, Name: t.AssigneeName}}
	out.Overdue = t.Status == postgres.TaskOpen && t.Due != nil && e.Now().After(*t.Due)
	st, ok := def.State(stateKey)
	if !ok {
		return out
	}
	out.StateTitle = st.Title
	if st.Review != nil {
		out.Policy = st.Review.Policy
		out.Decisions = st.Review.Decisions(def)
		if st.Review.Score != nil {
			out.Kind, out.Criteria = TaskScore, st.Review.Score.Criteria
		}
	}
	return out
}

// TaskFilter narrows a task list.
type TaskFilter struct {
	Done     bool
	Workflow string
	State    string
	Overdue  bool
	Query    string
	Limit    int
}

// Tasks lists actor's own tasks: open ones soonest due first, or done ones.
func (e *Engine) Tasks(ctx context.Context, actor *identity.User, f TaskFilter) ([]Task, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 200
	}
	rows, err := e.db.Tasks(ctx, actor.ID, postgres.TaskFilter{Done: f.Done, Workflow: f.Workflow, State: f.State,
		Overdue: f.Overdue, Query: f.Query, Limit: f.Limit, Now: e.Now()})
	if err != nil {
		return nil, err
	}
	out := make([]Task, 0, len(rows))
	for _, r := range rows {
		def, err := e.Definition(ctx, r.Workflow, r.WorkflowVersion)
		if err != nil {
			return nil, err
		}
		t := e.toTask(def, r.State, r.Round, r.ReviewTask)
		t.AppTitle, t.OrgName = r.AppTitle, r.OrgName
		out = append(out, t)
	}
	return out, nil
}

// TaskCount is how many open tasks a reviewer has in one stage.
type TaskCount struct {
	Workflow      string
	WorkflowTitle workflow.Text
	State         string
	StateTitle    workflow.Text
	Open          int
	Overdue       int
}

// TaskCounts counts actor's open tasks per stage, for an inbox's headings.
func (e *Engine) TaskCounts(ctx context.Context, actor *identity.User) ([]TaskCount, error) {
	rows, err := e.db.TaskCounts(ctx, actor.ID, e.Now())
	if err != nil {
		return nil, err
	}
	out := make([]TaskCount, 0, len(rows))
	for _, r := range rows {
		c := TaskCount{Workflow: r.Workflow, State: r.State, Open: r.Open, Overdue: r.Overdue,
			WorkflowTitle: workflow.Text{Zh: r.Workflow, En: r.Workflow}, StateTitle: workflow.Text{Zh: r.State, En: r.State}}
		if def, ok := e.Current(r.Workflow); ok {
			c.WorkflowTitle, c.StateTitle = def.Title, stateTitle(def, r.State)
		}
		out = append(out, c)
	}
	return out, nil
}

// onTask runs fn on one of actor's tasks, loaded with its stage under the
// application's lock, in one transaction, and answers with the task fn
// returns (the same one, or the one it was handed to).
func (e *Engine) onTask(ctx context.Context, actor *identity.User, taskID string,
	fn func(tx *postgres.Tx, sg *stage, task *postgres.ReviewTask) (postgres.ReviewTask, error)) (Task, error) {
	tx, err := e.db.Begin(ctx)
	if err != nil {
		return Task{}, err
	}
	defer tx.Rollback()
	sg, task, err := e.lockTask(ctx, tx, actor, taskID)
	if err != nil {
		return Task{}, err
	}
	out, err := fn(tx, sg, task)
	if err != nil {
		return Task{}, err
	}
	if err := tx.Commit(); err != nil {
		return Task{}, err
	}
	return e.toTask(sg.def, sg.row.State, sg.row.Round, out), nil
}

// lockTask loads one of actor's tasks with its stage under the
// application's lock; anyone else's task is not found.
func (e *Engine) lockTask(ctx context.Context, tx *postgres.Tx, actor *identity.User, taskID string) (*stage, *postgres.ReviewTask, error) {
	appID, stageID, err := tx.TaskApplication(ctx, taskID, actor.ID)
	if err != nil {
		return nil, nil, err
	}
	// The assignment is what lets them see it; read as the system.
	app, rows, err := tx.LockApplicationWithHistory(ctx, nil, appID)
	if err != nil {
		return nil, nil, err
	}
	hist, err := decodeHistory(rows)
	if err != nil {
		return nil, nil, err
	}
	sg, err := e.loadStage(ctx, tx, app, stageID, hist)
	if err != nil {
		return nil, nil, err
	}
	for i := range sg.tasks {
		if sg.tasks[i].ID == taskID {
			return sg, &sg.tasks[i], nil
		}
	}
	return nil, nil, fmt.Errorf("task %s: %w", taskID, errs.ErrNotFound)
}

// loadStage reads a stage and its tasks under the application's lock, with
// the application's history: hist when it was read with the lock, else read
// now.
func (e *Engine) loadStage(ctx context.Context, tx *postgres.Tx, app postgres.Application, stageID int64, hist []audit.Recorded) (*stage, error) {
	def, err := e.Definition(ctx, app.Workflow, app.WorkflowVersion)
	if err != nil {
		return nil, err
	}
	row, err := tx.Stage(ctx, stageID)
	if err != nil {
		return nil, err
	}
	st, ok := def.State(row.State)
	if !ok || st.Review == nil {
		return nil, fmt.Errorf("stage %d: state %s declares no review in %s v%d", stageID, row.State, def.Key, def.Version)
	}
	tasks, err := tx.StageTasks(ctx, stageID)
	if err != nil {
		return nil, err
	}
	if hist == nil {
		rows, err := tx.History(ctx, app.ID)
		if err != nil {
			return nil, err
		}
		if hist, err = decodeHistory(rows); err != nil {
			return nil, err
		}
	}
	return &stage{app: app, def: def, state: st, review: st.Review, row: row, tasks: tasks, hist: hist}, nil
}

// DecisionInput is a reviewer's decision on their task.
type DecisionInput struct {
	Decision string
	Comment  string
	Scores   map[string]any
	// Data is the payload of the decision's event (an amount approved),
	// used when this decision is the one that ends the stage.
	Data map[string]any
	// Questions go to the applicant with a send back.
	Questions []string
}

// Decide records a reviewer's decision and, when it decides the stage by
// its policy, fires the stage's outcome as the system in the same
// transaction.
func (e *Engine) Decide(ctx context.Context, actor *identity.User, taskID string, in DecisionInput) (Task, error) {
	return e.onTask(ctx, actor, taskID, func(tx *postgres.Tx, sg *stage, task *postgres.ReviewTask) (postgres.ReviewTask, error) {
		if err := sg.mayAct(task); err != nil {
			return postgres.ReviewTask{}, err
		}
		decisions := sg.review.Decisions(sg.def)
		if !slices.ContainsFunc(decisions, func(d workflow.Decision) bool { return d.Key == in.Decision }) {
			keys := make([]string, len(decisions))
			for i, d := range decisions {
				keys[i] = d.Key
			}
			return postgres.ReviewTask{}, errs.E(errs.Invalid, "未知的决定："+in.Decision, "unknown decision: "+in.Decision).
				Field("decision", "应为 "+strings.Join(keys, "、"), "one of "+strings.Join(keys, ", "))
		}
		comment := strings.TrimSpace(in.Comment)
		if utf8.RuneCountInString(comment) > 10000 {
			return postgres.ReviewTask{}, errs.E(errs.Invalid, "意见过长", "the comment is too long").Field("comment", "不能超过 10000 字", "at most 10000 characters")
		}
		task.Scores, task.Total = nil, ""
		if in.Decision == workflow.ScoreDecision {
			total, bad := sg.review.Score.Total(in.Scores)
			if len(bad) > 0 {
				fail := errs.E(errs.Invalid, "评分不完整或有误", "the scores are incomplete or wrong")
				for _, b := range bad {
					fail.Field("scores."+b.Criterion, b.Msg.Zh, b.Msg.En)
				}
				return postgres.ReviewTask{}, fail
			}
			task.Scores, task.Total = in.Scores, total.FloatString(2)
		} else {
			if len(in.Scores) > 0 {
				return postgres.ReviewTask{}, errs.E(errs.Invalid, "此环节不打分", "this stage takes no scores").Field("scores", "不应填写", "not allowed")
			}
			// The decision's own rules (a comment required, questions, a
			// payload) hold for the reviewer, checked now rather than when the
			// stage happens to be decided.
			ev, _ := sg.def.Event(in.Decision)
			if ev.Comment == workflow.CommentRequired && comment == "" {
				return postgres.ReviewTask{}, errs.E(errs.Invalid, "请填写意见", "a comment is required").Field("comment", "必填", "required")
			}
			if _, err := checkQuestions(ev, in.Questions); err != nil {
				return postgres.ReviewTask{}, err
			}
			if ev.Data == nil && len(in.Data) > 0 {
				return postgres.ReviewTask{}, errs.E(errs.Invalid, "此决定不接受数据", "this decision takes no data").Field("data", "不应填写", "not allowed")
			}
			if ev.Data != nil {
				payload := in.Data
				if payload == nil {
					payload = map[string]any{}
				}
				if err := workflow.Validate(ev.Data, payload, "data", workflow.Complete); err != nil {
					return postgres.ReviewTask{}, err
				}
			}
		}
		if in.Decision == workflow.ScoreDecision && (len(in.Questions) > 0 || len(in.Data) > 0) {
			return postgres.ReviewTask{}, errs.E(errs.Invalid, "评分不附带问题或数据", "scores come without questions or data").Field("data", "不应填写", "not allowed")
		}
		now := e.Now()
		task.Status, task.Decision, task.Comment, task.Decided = postgres.TaskDecided, in.Decision, comment, &now
		if err := tx.SaveTask(ctx, *task); err != nil {
			return postgres.ReviewTask{}, err
		}
		data := map[string]any{"task": task.ID, "stage": sg.row.State, "round": sg.row.Round, "decision": in.Decision}
		if task.Scores != nil {
			data["scores"], data["total"] = task.Scores, task.Total
		}
		if len(in.Questions) > 0 {
			data["questions"] = in.Questions
		}
		entry := sg.entry(audit.KindReviewDecision, actor, now, comment, data)
		if err := e.settle(ctx, tx, sg, task, in, now, []audit.Entry{entry}); err != nil {
			return postgres.ReviewTask{}, err
		}
		return *task, nil
	})
}

// mayAct refuses work on a task that is not the reviewer's to do now.
func (sg *stage) mayAct(t *postgres.ReviewTask) error {
	switch {
	case sg.row.Closed != nil:
		return errs.E(errs.Conflict, "此环节已经结束，不能再作出决定", "this stage is already decided")
	case t.Status == postgres.TaskWaiting:
		return errs.E(errs.Conflict, "依次审批，尚未轮到您", "this stage goes in order and it is not your turn yet")
	case t.Status == postgres.TaskDecided:
		return errs.E(errs.Conflict, "您已作出决定；如需改变，请先取回", "you have decided already; recall your decision to change it")
	case t.Status != postgres.TaskOpen:
		return errs.E(errs.Conflict, "此任务已经结束", "this task is closed")
	}
	return nil
}

// entry is an audit entry about the stage.
func (sg *stage) entry(kind string, actor *identity.User, at time.Time, comment string, data map[string]any) audit.Entry {
	en := audit.Entry{Kind: kind, AtMicros: at.UnixMicro(), ApplicationID: sg.app.ID, Workflow: sg.app.Workflow,
		WorkflowVersion: sg.app.WorkflowVersion, Comment: comment, Data: data}
	if actor != nil {
		en.ActorID = actor.ID
	}
	return en
}

// votes are the stage's active tasks as its policy counts them. Totals are
// recomputed from the scores, exactly: the stored total is rounded for
// display, and rounding before aggregating could tip a tie at the mark.
func (sg *stage) votes() []workflow.Vote {
	var out []workflow.Vote
	for _, t := range sg.tasks {
		if !t.Active() {
			continue
		}
		v := workflow.Vote{Decision: t.Decision}
		if t.Decision == workflow.ScoreDecision && sg.review.Score != nil {
			v.Total, _ = sg.review.Score.Total(t.Scores)
		}
		out = append(out, v)
	}
	return out
}

// settle applies the stage's policy after its tasks changed. When the
// stage is decided it fires the outcome as the system, the deciding
// reviewer's comment, payload and questions with it; otherwise a
// sequential stage opens its next task. entries (the change that led here)
// go into the chain ahead of any transition.
func (e *Engine) settle(ctx context.Context, tx *postgres.Tx, sg *stage, trigger *postgres.ReviewTask, in DecisionInput, now time.Time, entries []audit.Entry) error {
	minPanel := 0
	if sg.review.Reviewers.Source == workflow.FromAssignment {
		minPanel = sg.review.Reviewers.Min
	}
	out := sg.review.Decide(sg.votes(), minPanel)
	if out.Event == "" {
		if err := e.openNext(ctx, tx, sg); err != nil {
			return err
		}
		return e.appendAll(ctx, tx, entries)
	}
	var deciders []string
	for _, t := range sg.tasks {
		if t.Status == postgres.TaskDecided && (t.Decision == out.Event || sg.review.Policy == workflow.PolicyScore) {
			deciders = append(deciders, t.AssigneeID)
		}
	}
	fin := FireInput{Event: out.Event}
	if trigger != nil && trigger.Decision == out.Event {
		fin.Comment, fin.Data, fin.Questions = trigger.Comment, in.Data, in.Questions
	}
	askedBy := ""
	if trigger != nil {
		askedBy = trigger.AssigneeID
	}
	_, err := e.fire(ctx, tx, nil, sg.app, fin, fireOpts{hist: sg.hist, before: entries,
		outcome: &stageOutcome{summary: out.Summary, decidedBy: deciders, askedBy: askedBy}})
	return err
}

// openNext opens a sequential stage's next task once none is open.
func (e *Engine) openNext(ctx context.Context, tx *postgres.Tx, sg *stage) error {
	if sg.review.Policy != workflow.PolicySequential {
		return nil
	}
	for i := range sg.tasks {
		t := &sg.tasks[i]
		switch t.Status {
		case postgres.TaskOpen:
			return nil
		case postgres.TaskWaiting:
			t.Status = postgres.TaskOpen
			if err := tx.SaveTask(ctx, *t); err != nil {
				return err
			}
			return e.announce(ctx, tx, *t)
		}
	}
	return nil
}

func (e *Engine) appendAll(ctx context.Context, tx *postgres.Tx, entries []audit.Entry) error {
	for _, en := range entries {
		if _, err := e.chain.Append(ctx, tx, en); err != nil {
			return err
		}
	}
	return nil
}

// Recall (取回) withdraws the reviewer's own decision: while the stage is
// undecided, just their vote; once their decision helped decide it, the
// stage's decision itself, as long as the application has not moved on
// since (nobody acted in the next stage). Otherwise it is too late: 409.
func (e *Engine) Recall(ctx context.Context, actor *identity.User, taskID, reason string) (Task, error) {
	return e.onTask(ctx, actor, taskID, func(tx *postgres.Tx, sg *stage, task *postgres.ReviewTask) (postgres.ReviewTask, error) {
		reason = strings.TrimSpace(reason)
		if utf8.RuneCountInString(reason) > 2000 {
			return postgres.ReviewTask{}, errs.E(errs.Invalid, "理由过长", "the reason is too long").Field("reason", "不能超过 2000 字", "at most 2000 characters")
		}
		if task.Status != postgres.TaskDecided {
			return postgres.ReviewTask{}, errs.E(errs.Conflict, "没有可取回的决定", "there is no decision of yours to recall")
		}
		now := e.Now()
		withdrawn := map[string]any{"task": task.ID, "stage": sg.row.State, "round": sg.row.Round, "decision": task.Decision}
		if task.Scores != nil {
			withdrawn["scores"], withdrawn["total"] = task.Scores, task.Total
		}
		if sg.row.Closed == nil {
			if err := sg.recallVote(ctx, tx, task); err != nil {
				return postgres.ReviewTask{}, err
			}
		} else if err := e.recallStage(ctx, tx, sg, task, actor, reason, now); err != nil {
			return postgres.ReviewTask{}, err
		}
		task.Status, task.Decision, task.Scores, task.Total, task.Comment, task.Decided = postgres.TaskOpen, "", nil, "", "", nil
		if err := tx.SaveTask(ctx, *task); err != nil {
			return postgres.ReviewTask{}, err
		}
		// The recall entry goes after a recall's transition: the transition
		// reopens the stage, the entry says whose decision was withdrawn.
		if err := e.appendAll(ctx, tx, []audit.Entry{sg.entry(audit.KindReviewRecall, actor, now, reason, withdrawn)}); err != nil {
			return postgres.ReviewTask{}, err
		}
		return *task, nil
	})
}

// recallVote takes back a vote in an undecided stage. In a sequential
// stage the next reviewer has not decided yet (else it is too late) and
// waits again.
func (sg *stage) recallVote(ctx context.Context, tx *postgres.Tx, task *postgres.ReviewTask) error {
	if sg.review.Policy != workflow.PolicySequential {
		return nil
	}
	for i := range sg.tasks {
		t := &sg.tasks[i]
		if t.Position <= task.Position || !t.Active() {
			continue
		}
		if t.Status == postgres.TaskDecided {
			return errs.E(errs.Conflict, "后面的审批人已经作出决定，不能再取回", "a later reviewer has decided already; it is too late to recall")
		}
		if t.Status == postgres.TaskOpen {
			t.Status = postgres.TaskWaiting
			if err := tx.SaveTask(ctx, *t); err != nil {
				return err
			}
		}
	}
	return nil
}

// recallStage takes back a stage's decision: the application returns to
// the stage's state as a step of its history, the stage reopens with the
// tasks its decision had cancelled, and whatever the next state had begun
// (its tasks, timers) ends.
func (e *Engine) recallStage(ctx context.Context, tx *postgres.Tx, sg *stage, task *postgres.ReviewTask, actor *identity.User, reason string, now time.Time) error {
	tooLate := errs.E(errs.Conflict, "申请已进入下一环节并已有处理，不能再取回", "the next stage has acted already; it is too late to recall")
	if !sg.row.Decided || sg.app.Version != sg.row.ResultVersion {
		return tooLate
	}
	if sg.review.Policy != workflow.PolicyScore && task.Decision != sg.row.Outcome {
		return errs.E(errs.Conflict, "您的决定不是本环节结论的依据，无需取回", "your decision was not part of the stage's outcome")
	}
	cur, ok := sg.def.State(sg.app.State)
	if !ok || cur.Kind == workflow.KindTerminal {
		return errs.E(errs.Conflict, "申请已经结束，不能再取回", "the application has ended; it cannot be recalled")
	}
	// The stage's outcome must be the last step, and nobody may have done
	// anything since in the state it led to: decided, answered, uploaded.
	last := sg.hist[len(sg.hist)-1]
	if last.From != sg.row.State || last.Event != sg.row.Outcome {
		return tooLate
	}
	acted, err := tx.ActedSince(ctx, sg.app.ID, last.Seq)
	if err != nil {
		return err
	}
	if acted {
		return tooLate
	}
	if cur.Review != nil {
		if err := tx.CloseStage(ctx, sg.app.ID, postgres.StageClose{Outcome: recallEvent, At: now}); err != nil {
			return err
		}
	}
	err = tx.UpdateApplication(ctx, postgres.ApplicationChange{ID: sg.app.ID, Version: sg.app.Version, State: sg.row.State,
		StateChanged: true, Data: sg.app.Data, Submitted: true, Deadline: sg.row.Due, WorkflowVersion: sg.app.WorkflowVersion,
		PartyOrgID: sg.app.PartyOrgID, At: now})
	if err != nil {
		return err
	}
	back := sg.app
	back.State = sg.row.State
	if err := e.enterState(ctx, tx, sg.def, back, sg.state, now); err != nil {
		return err
	}
	if err := tx.ReopenStage(ctx, sg.row.ID, sg.review.Policy == workflow.PolicySequential); err != nil {
		return err
	}
	entry := audit.Entry{Kind: audit.KindTransition, AtMicros: now.UnixMicro(), ActorID: actor.ID, ApplicationID: sg.app.ID,
		AppSeq: len(sg.hist) + 1, Workflow: sg.app.Workflow, WorkflowVersion: sg.app.WorkflowVersion, Event: recallEvent,
		From: sg.app.State, To: sg.row.State, Comment: reason, Data: map[string]any{"task": task.ID, "round": sg.row.Round}}
	_, err = e.chain.Append(ctx, tx, entry)
	return err
}

// Recuse (回避) takes the reviewer off their task for a stated reason. A
// stage that draws its experts draws a replacement at once, never anyone
// already drawn; if nobody eligible is left the recusal is refused (422)
// rather than leaving the panel short. The stage may be decided by the
// recusal (everyone left has decided).
func (e *Engine) Recuse(ctx context.Context, actor *identity.User, taskID, reason string) (Task, error) {
	return e.onTask(ctx, actor, taskID, func(tx *postgres.Tx, sg *stage, task *postgres.ReviewTask) (postgres.ReviewTask, error) {
		reason = strings.TrimSpace(reason)
		if reason == "" || utf8.RuneCountInString(reason) > 2000 {
			return postgres.ReviewTask{}, errs.E(errs.Invalid, "请说明回避理由", "give the reason for recusal").Field("reason", "必填，最多 2000 字", "required, at most 2000 characters")
		}
		if task.Status == postgres.TaskDecided && sg.row.Closed == nil {
			return postgres.ReviewTask{}, errs.E(errs.Conflict, "您已作出决定；请先取回再回避", "you have decided; recall your decision before recusing")
		}
		// Recusing before one's turn is allowed: the panel changes now.
		if task.Status != postgres.TaskWaiting {
			if err := sg.mayAct(task); err != nil {
				return postgres.ReviewTask{}, err
			}
		}
		now := e.Now()
		was := task.Status
		task.Status, task.Reason, task.Closed = postgres.TaskRecused, reason, &now
		if err := tx.SaveTask(ctx, *task); err != nil {
			return postgres.ReviewTask{}, err
		}
		entries := []audit.Entry{sg.entry(audit.KindReviewRecuse, actor, now, reason, map[string]any{"task": task.ID,
			"stage": sg.row.State, "round": sg.row.Round})}
		if sg.review.Reviewers.Source == workflow.FromDraw {
			cands, err := sg.drawCandidates(ctx, tx)
			if err != nil {
				return postgres.ReviewTask{}, err
			}
			d, err := sg.drawExperts(cands, 1, task.ID, actor, now)
			if err != nil {
				return postgres.ReviewTask{}, err
			}
			added, err := d.store(ctx, tx, sg, []postgres.NewTask{{AssigneeID: d.record.Picked[0], Position: task.Position,
				Via: "replacement", Status: was}}, now)
			if err != nil {
				return postgres.ReviewTask{}, err
			}
			sg.tasks = append(sg.tasks, added...)
			entries = append(entries, d.entry)
		}
		if err := e.settle(ctx, tx, sg, nil, DecisionInput{}, now, entries); err != nil {
			return postgres.ReviewTask{}, err
		}
		return *task, nil
	})
}

// Delegate (转办) hands the reviewer's open task to another person who may
// review the stage: the stage's role within the application's scope,
// nobody barred, nobody already on the panel, and for a drawn expert the
// same specialty and conflict rules as the draw.
func (e *Engine) Delegate(ctx context.Context, actor *identity.User, taskID, toUser string) (Task, error) {
	return e.onTask(ctx, actor, taskID, func(tx *postgres.Tx, sg *stage, task *postgres.ReviewTask) (postgres.ReviewTask, error) {
		if task.Status != postgres.TaskWaiting {
			if err := sg.mayAct(task); err != nil {
				return postgres.ReviewTask{}, err
			}
		}
		drawn := task.Via == "drawn" || task.Via == "replacement" || (task.Via == "delegated" && task.DrawID != 0)
		to, err := sg.eligible(ctx, tx, toUser, "to_user", drawn)
		if err != nil {
			return postgres.ReviewTask{}, err
		}
		now := e.Now()
		was := task.Status
		task.Status, task.Reason, task.Closed = postgres.TaskDelegated, "delegated to "+to.Username, &now
		if err := tx.SaveTask(ctx, *task); err != nil {
			return postgres.ReviewTask{}, err
		}
		added, err := tx.InsertTasks(ctx, sg.row, []postgres.NewTask{{AssigneeID: to.ID, Position: task.Position,
			Via: "delegated", Status: was, DrawID: task.DrawID, DelegatedFrom: task.ID}}, now)
		if err != nil {
			return postgres.ReviewTask{}, err
		}
		entry := sg.entry(audit.KindReviewDelegate, actor, now, "", map[string]any{"task": task.ID, "to_task": added[0].ID,
			"to_user": to.ID, "stage": sg.row.State, "round": sg.row.Round})
		if err := e.appendAll(ctx, tx, []audit.Entry{entry}); err != nil {
			return postgres.ReviewTask{}, err
		}
		return added[0], nil
	})
}

// eligible finds the person ref names (an id or a login name) among those
// who may review the stage, or says why not under field.
func (sg *stage) eligible(ctx context.Context, tx *postgres.Tx, ref, field string, drawn bool) (postgres.Candidate, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return postgres.Candidate{}, errs.E(errs.Invalid, "请指定评审人", "name the reviewer").Field(field, "必填", "required")
	}
	u, err := tx.LockUser(ctx, ref)
	if errs.CodeOf(err) == errs.NotFound {
		return postgres.Candidate{}, errs.E(errs.Invalid, "没有这个用户："+ref, "no such user: "+ref).Field(field, "没有这个用户", "no such user")
	}
	if err != nil {
		return postgres.Candidate{}, err
	}
	cands, err := tx.ReviewCandidates(ctx, sg.candidateQuery(u.ID, drawn))
	if err != nil {
		return postgres.Candidate{}, err
	}
	if len(cands) == 0 {
		why := sg.whyNot(u)
		return postgres.Candidate{}, errs.E(errs.Invalid, "该用户不能评审此环节："+why.Zh, "this person may not review this stage: "+why.En).
			Field(field, why.Zh, why.En)
	}
	return cands[0], nil
}

// whyNot says, as precisely as the stage knows, why someone is not eligible.
func (sg *stage) whyNot(u identity.User) workflow.Text {
	role := sg.review.Reviewers.Role
	switch {
	case u.Disabled:
		return workflow.Text{Zh: "账号已停用", En: "the account is disabled"}
	case !u.Has(role):
		return workflow.Text{Zh: "不具有“" + string(role) + "”角色", En: "does not hold the role " + string(role)}
	case slices.Contains(sg.panel(), u.ID):
		return workflow.Text{Zh: "已在本环节评审名单中", En: "is already on this stage's panel"}
	case slices.Contains(sg.barred(), u.ID):
		return workflow.Text{Zh: "申请人、提交人或上一环节的决定人须回避", En: "the applicant, the submitter and the previous stage's deciders may not review it"}
	case role == identity.Expert && u.OrgID == sg.app.OrgID:
		return workflow.Text{Zh: "与申请单位同属一个单位，须回避", En: "works for the applicant's organisation"}
	}
	return workflow.Text{Zh: "不在可评审范围内（单位范围、专业或已申报的利益冲突）",
		En: "is outside the stage's scope (organisation, specialty or a declared conflict)"}
}

// AddReviewer (加签, or assigning an assigned stage's reviewers) puts one
// more eligible person on the open stage of state; staff only.
func (e *Engine) AddReviewer(ctx context.Context, actor *identity.User, appID, state, userRef string) (Task, error) {
	tx, err := e.db.Begin(ctx)
	if err != nil {
		return Task{}, err
	}
	defer tx.Rollback()
	app, err := tx.LockApplication(ctx, actor, appID)
	if err != nil {
		return Task{}, err
	}
	if !slices.Contains(app.ScopeRoles, identity.Staff) {
		return Task{}, errs.E(errs.Forbidden, "只有科技局经办人可以增加评审人", "only bureau staff add reviewers")
	}
	def, err := e.Definition(ctx, app.Workflow, app.WorkflowVersion)
	if err != nil {
		return Task{}, err
	}
	st, ok := def.State(state)
	switch {
	case !ok:
		return Task{}, errs.E(errs.Invalid, "此流程没有该环节："+state, "this workflow has no state "+state).Field("state", "未知的环节", "unknown state")
	case st.Review == nil:
		return Task{}, errs.E(errs.Invalid, "该环节没有评审任务", "this state has no review tasks").Field("state", "该环节没有评审任务", "no review tasks")
	case app.State != state:
		return Task{}, errs.E(errs.Conflict, "申请当前不在“"+st.Title.Zh+"”环节", "the application is not in "+st.Title.En)
	}
	now := e.Now()
	sg, err := e.openStageOf(ctx, tx, def, app, st, actor, now)
	if err != nil {
		return Task{}, err
	}
	who, err := sg.eligible(ctx, tx, userRef, "user", false)
	if err != nil {
		return Task{}, err
	}
	pos, status := 1, postgres.TaskOpen
	for _, t := range sg.tasks {
		pos = max(pos, t.Position+1)
		if sg.review.Policy == workflow.PolicySequential && (t.Status == postgres.TaskOpen || t.Status == postgres.TaskWaiting) {
			status = postgres.TaskWaiting
		}
	}
	added, err := tx.InsertTasks(ctx, sg.row, []postgres.NewTask{{AssigneeID: who.ID, Position: pos, Via: "assigned", Status: status}}, now)
	if err != nil {
		return Task{}, err
	}
	sg.tasks = append(sg.tasks, added...)
	entry := sg.entry(audit.KindReviewAssign, actor, now, "", map[string]any{"task": added[0].ID, "user": who.ID,
		"stage": state, "round": sg.row.Round})
	// Adding can complete an assigned panel whose votes are already in.
	if err := e.settle(ctx, tx, sg, nil, DecisionInput{}, now, []audit.Entry{entry}); err != nil {
		return Task{}, err
	}
	if err := tx.Commit(); err != nil {
		return Task{}, err
	}
	return e.toTask(def, state, sg.row.Round, added[0]), nil
}

// openStageOf loads the open stage of the application's state, opening it
// first if the application entered the state before it declared reviewers
// (a definition migrated under it).
func (e *Engine) openStageOf(ctx context.Context, tx *postgres.Tx, def *workflow.Definition, app postgres.Application,
	st *workflow.State, actor *identity.User, now time.Time) (*stage, error) {
	last, err := tx.LastStage(ctx, app.ID)
	if err != nil && errs.CodeOf(err) != errs.NotFound {
		return nil, err
	}
	if err != nil || last.Closed != nil || last.State != st.Key {
		rows, err := tx.History(ctx, app.ID)
		if err != nil {
			return nil, err
		}
		hist, err := decodeHistory(rows)
		if err != nil {
			return nil, err
		}
		entries, err := e.openStage(ctx, tx, def, app, st, hist, app.Deadline, actor, now)
		if err != nil {
			return nil, err
		}
		if err := e.appendAll(ctx, tx, entries); err != nil {
			return nil, err
		}
		if last, err = tx.LastStage(ctx, app.ID); err != nil {
			return nil, err
		}
	}
	return e.loadStage(ctx, tx, app, last.ID, nil)
}
