package engine_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
)

// expert adds an expert with specialties and declared conflicts.
func (w *world) expert(name, org string, specialties []string, conflicts ...string) {
	w.t.Helper()
	w.user(name, org, identity.Expert)
	tx, err := w.db.Begin(w.ctx)
	require.NoError(w.t, err)
	defer tx.Rollback()
	var orgIDs []string
	for _, c := range conflicts {
		orgIDs = append(orgIDs, w.orgs[c].ID)
	}
	require.NoError(w.t, tx.SetExpertProfile(w.ctx, w.users[name].ID, postgres.ExpertProfile{Specialties: specialties, ConflictOrgs: orgIDs}))
	require.NoError(w.t, tx.Commit())
}

// reviewWorld adds a second unit reviewer, a second leader and an expert
// pool: eight materials experts in good standing, one who works for the
// applicant, one who declared a conflict with it, one of another specialty.
func reviewWorld(t testing.TB) *world {
	w := newWorld(t)
	w.org("institute", identity.Institute, "")
	w.user("unit_reviewer2", "unit", identity.UnitReviewer)
	w.user("leader2", "bureau", identity.Leader)
	for i := 1; i <= 8; i++ {
		w.expert(fmt.Sprintf("e%d", i), "institute", []string{"新材料"})
	}
	w.expert("insider", "alpha", []string{"新材料"})
	w.expert("conflicted", "institute", []string{"新材料"}, "alpha")
	w.expert("tea", "institute", []string{"茶叶加工"})
	return w
}

var projectData = map[string]any{"title": "高性能复合材料研发", "field": "新材料", "budget": 2000000}

func (w *world) submitProject(as string) engine.Application {
	w.t.Helper()
	app, err := w.eng.Create(w.ctx, w.users[as], engine.CreateInput{Workflow: "project", Data: projectData})
	require.NoError(w.t, err)
	w.mustFire(as, app.ID, "submit")
	return app
}

// stage is the current (last) stage of an application as the auditor sees it.
func (w *world) stage(appID string) engine.StageRecord {
	w.t.Helper()
	rec, err := w.eng.ReviewRecord(w.ctx, w.users["auditor"], appID)
	require.NoError(w.t, err)
	require.NotEmpty(w.t, rec)
	return rec[len(rec)-1]
}

// taskOf finds user's task in the current stage.
func (w *world) taskOf(appID, user string) engine.Task {
	w.t.Helper()
	for _, t := range w.stage(appID).Tasks {
		if t.Assignee.ID == w.users[user].ID {
			return t
		}
	}
	w.t.Fatalf("%s has no task in the current stage of %s", user, appID)
	return engine.Task{}
}

func (w *world) decide(user, appID string, in engine.DecisionInput) error {
	_, err := w.eng.Decide(w.ctx, w.users[user], w.taskOf(appID, user).ID, in)
	return err
}

func (w *world) mustDecide(user, appID, decision string) {
	w.t.Helper()
	require.NoError(w.t, w.decide(user, appID, engine.DecisionInput{Decision: decision, Comment: "意见：" + decision}))
}

func (w *world) state(appID string) string {
	w.t.Helper()
	app, err := w.eng.Get(w.ctx, w.users["auditor"], appID)
	require.NoError(w.t, err)
	return app.State
}

func (w *world) assignees(tasks []engine.Task, statuses ...string) []string {
	var out []string
	for _, t := range tasks {
		if len(statuses) == 0 || slices.Contains(statuses, t.Status) {
			out = append(out, t.Assignee.Username)
		}
	}
	slices.Sort(out)
	return out
}

func scores(industry, foundation, technical, financial float64) map[string]any {
	return map[string]any{"industry": industry, "foundation": foundation, "technical": technical, "financial": financial}
}

// TestStagedReview walks the whole review: a unit stage everyone must
// approve, a formal check any staff member decides, five drawn experts who
// score (one recuses and is replaced), the leader's decision and the 公示
// timer.
func TestStagedReview(t *testing.T) {
	t.Parallel()
	w := reviewWorld(t)
	start := w.onMonday()
	app := w.submitProject("applicant")

	unit := w.stage(app.ID)
	require.Equal(t, "unit_review", unit.State)
	require.Equal(t, []string{"multi", "unit_reviewer", "unit_reviewer2"}, w.assignees(unit.Tasks),
		"every unit reviewer of the applicant's recommending unit")
	require.Equal(t, "2026-12-05T00:00:00+08:00", unit.Due.In(calendar.China).Format(time.RFC3339), "five working days, Monday to Friday")
	inbox, err := w.eng.Tasks(w.ctx, w.users["unit_reviewer"], engine.TaskFilter{})
	require.NoError(t, err)
	require.Len(t, inbox, 1)
	require.Equal(t, []string{"recommend", "unit_reject", "send_back"}, decisionKeys(inbox[0]))
	require.Equal(t, "高性能复合材料研发", inbox[0].AppTitle)
	require.False(t, inbox[0].Overdue)

	_, err = w.fire("unit_reviewer", app.ID, "recommend", "", nil)
	require.Equal(t, errs.Forbidden, code(err), "a stage with reviewers is decided through tasks, not by firing")
	w.mustDecide("unit_reviewer", app.ID, "recommend")
	w.mustDecide("unit_reviewer2", app.ID, "recommend")
	require.Equal(t, "unit_review", w.state(app.ID), "会签 waits for everyone")
	w.mustDecide("multi", app.ID, "recommend")
	require.Equal(t, "formal_review", w.state(app.ID))

	formal := w.stage(app.ID)
	require.Equal(t, []string{"staff", "staff2"}, w.assignees(formal.Tasks),
		"multi decided the unit stage, so may not decide the next one")
	w.mustDecide("staff2", app.ID, "formal_pass")
	require.Equal(t, "expert_review", w.state(app.ID))
	rec, err := w.eng.ReviewRecord(w.ctx, w.users["auditor"], app.ID)
	require.NoError(t, err)
	formal = rec[1]
	require.Equal(t, "formal_pass", formal.Outcome)
	require.Equal(t, []string{"staff"}, w.assignees(formal.Tasks, "cancelled"), "或签: the other task is no longer needed")
	_, err = w.eng.Decide(w.ctx, w.users["staff"], formal.Tasks[slices.IndexFunc(formal.Tasks, func(t engine.Task) bool {
		return t.Assignee.Username == "staff"
	})].ID, engine.DecisionInput{Decision: "reject", Comment: "晚了"})
	require.Equal(t, errs.Conflict, code(err), "a late vote after the stage is decided")

	experts := w.stage(app.ID)
	drawn := w.assignees(experts.Tasks)
	require.Len(t, drawn, 5)
	for _, d := range drawn {
		require.Regexp(t, `^e\d$`, d, "never the applicant's own, a declared conflict or another specialty")
	}
	require.Len(t, experts.Draws, 1)
	require.True(t, experts.Draws[0].Replays, "the draw replays from its stored seed")
	require.Len(t, experts.Draws[0].Pool, 8)
	require.Equal(t, "新材料", experts.Draws[0].Specialty)
	drawnBy := func(via string, draw int64) []string {
		t.Helper()
		var ids []string
		require.NoError(t, w.db.Select(&ids, `SELECT assignee_id FROM review_tasks
			WHERE application_id = $1 AND via = $2 AND draw_id = $3 ORDER BY assignee_id`, app.ID, via, draw))
		return ids
	}
	require.ElementsMatch(t, experts.Draws[0].Picked, drawnBy("drawn", experts.Draws[0].ID), "each drawn task names its draw")

	// One expert recuses in the middle of the stage; a replacement is drawn
	// at once from those not yet drawn.
	first := experts.Tasks[0].Assignee.Username
	_, err = w.eng.Recuse(w.ctx, w.users[first], w.taskOf(app.ID, first).ID, "")
	require.Equal(t, errs.Invalid, code(err), "a recusal needs its reason")
	_, err = w.eng.Recuse(w.ctx, w.users[first], w.taskOf(app.ID, first).ID, "曾参与该企业项目合作")
	require.NoError(t, err)
	experts = w.stage(app.ID)
	active := w.assignees(experts.Tasks, "open")
	require.Len(t, active, 5)
	require.NotContains(t, active, first)
	require.Len(t, experts.Draws, 2)
	replacement := experts.Draws[1]
	require.True(t, replacement.Replays)
	require.NotContains(t, replacement.Pool, w.users[first].ID, "the recused expert is not drawn again")
	require.Equal(t, replacement.Picked, drawnBy("replacement", replacement.ID), "the replacement's task names its draw")
	for _, d := range drawn {
		require.NotContains(t, replacement.Pool, w.users[d].ID, "nor anyone already drawn")
	}
	_, err = w.eng.Get(w.ctx, w.users[first], app.ID)
	require.Equal(t, errs.NotFound, code(err), "a recused expert no longer sees the application")
	err = w.decide(first, app.ID, engine.DecisionInput{Decision: "score", Scores: scores(90, 90, 90, 90)})
	require.Equal(t, errs.Conflict, code(err), "nor decides on it")

	given := [][4]float64{{95, 90, 92, 88}, {75, 70, 72, 70}, {70, 68, 71, 69}, {72, 74, 70, 73}, {40, 45, 50, 42}}
	for i, u := range active {
		if i == len(active)-1 {
			require.Equal(t, "expert_review", w.state(app.ID), "score waits for every expert")
		}
		g := given[i]
		require.NoError(t, w.decide(u, app.ID, engine.DecisionInput{Decision: "score", Scores: scores(g[0], g[1], g[2], g[3])}))
	}
	require.Equal(t, "decision", w.state(app.ID), "trimmed mean of the middle three is above 70")
	rec, err = w.eng.ReviewRecord(w.ctx, w.users["auditor"], app.ID)
	require.NoError(t, err)
	require.Equal(t, "trimmed_mean", rec[2].Summary["rule"])
	require.Equal(t, "71.25", rec[2].Summary["aggregate"])

	_, err = w.eng.Decide(w.ctx, w.users["leader"], w.taskOf(app.ID, "leader").ID,
		engine.DecisionInput{Decision: "approve", Data: map[string]any{"amount": 9000000}})
	require.Equal(t, errs.Invalid, code(err), "the approve event's guard holds for the leader's decision")
	_, err = w.eng.Decide(w.ctx, w.users["leader"], w.taskOf(app.ID, "leader").ID,
		engine.DecisionInput{Decision: "approve", Comment: "同意立项", Data: map[string]any{"amount": 1500000}})
	require.NoError(t, err)
	require.Equal(t, "public_notice", w.state(app.ID))

	fired, err := w.eng.RunTimers(w.ctx, start.AddDate(0, 2, 0))
	require.NoError(t, err)
	require.Equal(t, 1, fired)
	final, err := w.eng.Get(w.ctx, w.users["applicant"], app.ID)
	require.NoError(t, err)
	require.Equal(t, "approved", final.State)
	require.EqualValues(t, 1500000, final.Data["amount"])

	hist, err := w.eng.History(w.ctx, w.users["auditor"], app.ID)
	require.NoError(t, err)
	var steps []string
	for _, h := range hist {
		steps = append(steps, h.Event)
		if h.Event == "approve" {
			require.Nil(t, h.Actor, "the stage's policy fired it, as the system")
			require.Equal(t, "同意立项", h.Comment, "with the deciding reviewer's comment")
			require.Equal(t, []any{w.users["leader"].ID}, h.Data["decided_by"])
		}
	}
	require.Equal(t, []string{"create", "submit", "recommend", "formal_pass", "experts_pass", "approve", "notice_end"}, steps)
	mine, err := w.eng.History(w.ctx, w.users["applicant"], app.ID)
	require.NoError(t, err)
	require.NotContains(t, mine[4].Data, "decided_by", "the applicant does not learn who was on the panel")
	require.Contains(t, mine[4].Data, "review", "but sees the aggregate")
	theirs, err := w.eng.History(w.ctx, w.users["admin"], app.ID)
	require.NoError(t, err)
	require.Len(t, theirs, len(hist), "administrators see that each step happened")
	require.Empty(t, theirs[5].Comment, "but not what anyone wrote")
	require.Empty(t, theirs[5].Data)
	r := w.verify()
	require.True(t, r.OK, "%+v", r.Problems)
}

func decisionKeys(t engine.Task) []string {
	var out []string
	for _, d := range t.Decisions {
		out = append(out, d.Key)
	}
	return out
}

func TestSendBackWithQuestions(t *testing.T) {
	t.Parallel()
	w := reviewWorld(t)
	app := w.submitProject("applicant")
	err := w.decide("unit_reviewer", app.ID, engine.DecisionInput{Decision: "send_back"})
	require.Equal(t, errs.Invalid, code(err), "a send back lists its questions")
	require.Contains(t, errs.As(err).Fields, "questions")
	require.NoError(t, w.decide("unit_reviewer", app.ID, engine.DecisionInput{Decision: "send_back", Comment: "请补充",
		Questions: []string{"请补充近三年财务报表", "请说明技术路线的可行性"}}))
	require.Equal(t, "returned", w.state(app.ID), "any reviewer's send back decides the stage at once")

	_, err = w.fire("applicant", app.ID, "resubmit", "", nil)
	require.Equal(t, errs.Invalid, code(err), "every question needs its answer first")
	qs, err := w.eng.Questions(w.ctx, w.users["applicant"], app.ID)
	require.NoError(t, err)
	require.Len(t, qs, 2)
	require.Len(t, errs.As(err2(w.fire("applicant", app.ID, "resubmit", "", nil))).Fields, 2)

	_, err = w.eng.Answer(w.ctx, w.users["rival"], app.ID, map[string]string{qs[0].ID: "x"})
	require.Equal(t, errs.NotFound, code(err))
	_, err = w.eng.Answer(w.ctx, w.users["applicant"], app.ID, map[string]string{qs[0].ID: "已补充 2023-2025 年报表"})
	require.NoError(t, err)
	_, err = w.fire("applicant", app.ID, "resubmit", "", nil)
	require.Len(t, errs.As(err).Fields, 1, "one question is still open")
	_, err = w.eng.Answer(w.ctx, w.users["applicant"], app.ID, map[string]string{qs[1].ID: "见附件技术路线图", "bogus": "?"})
	require.Equal(t, errs.Invalid, code(err))
	_, err = w.eng.Answer(w.ctx, w.users["applicant"], app.ID, map[string]string{qs[1].ID: "见附件技术路线图"})
	require.NoError(t, err)
	w.mustFire("applicant", app.ID, "resubmit")

	round2 := w.stage(app.ID)
	require.Equal(t, "unit_review", round2.State)
	require.Equal(t, 2, round2.Round, "a new round of the unit stage")
	_, err = w.eng.Answer(w.ctx, w.users["applicant"], app.ID, map[string]string{qs[1].ID: "改答案"})
	require.Equal(t, errs.Forbidden, code(err), "answers close when the application is handed back")

	hist, err := w.eng.History(w.ctx, w.users["applicant"], app.ID)
	require.NoError(t, err)
	back := hist[2]
	require.Equal(t, "send_back", back.Event)
	require.Equal(t, []any{"请补充近三年财务报表", "请说明技术路线的可行性"}, back.Data["questions"], "the round stays in the history")
	qs, err = w.eng.Questions(w.ctx, w.users["unit_reviewer"], app.ID)
	require.NoError(t, err)
	require.True(t, qs[0].Answered && qs[1].Answered)
	require.True(t, w.verify().OK)
}

func err2(_ engine.FireResult, err error) error { return err }

// TestRecallASendBack: the reviewer who sent an application back may take
// it back until the applicant does anything with it.
func TestRecallASendBack(t *testing.T) {
	t.Parallel()
	w := reviewWorld(t)
	app := w.submitProject("applicant")
	back := func() string {
		task := w.taskOf(app.ID, "unit_reviewer")
		require.NoError(t, w.decide("unit_reviewer", app.ID, engine.DecisionInput{Decision: "send_back", Questions: []string{"请补充报表"}}))
		require.Equal(t, "returned", w.state(app.ID))
		return task.ID
	}
	task := back()
	_, err := w.eng.Recall(w.ctx, w.users["unit_reviewer"], task, "退错了")
	require.NoError(t, err)
	require.Equal(t, "unit_review", w.state(app.ID), "back in the stage, as a step of the history")
	require.Equal(t, "open", w.taskOf(app.ID, "unit_reviewer2").Status, "the other reviewer's task is open again")

	task = back()
	qs, err := w.eng.Questions(w.ctx, w.users["applicant"], app.ID)
	require.NoError(t, err)
	_, err = w.eng.Answer(w.ctx, w.users["applicant"], app.ID, map[string]string{qs[len(qs)-1].ID: "已补充"})
	require.NoError(t, err)
	_, err = w.eng.Recall(w.ctx, w.users["unit_reviewer"], task, "再想想")
	require.Equal(t, errs.Conflict, code(err), "the applicant has acted on it")
	require.Equal(t, "returned", w.state(app.ID))
	hist, err := w.eng.History(w.ctx, w.users["auditor"], app.ID)
	require.NoError(t, err)
	var events []string
	for _, h := range hist {
		events = append(events, h.Event)
	}
	require.Equal(t, []string{"create", "submit", "send_back", "review.recall", "send_back"}, events)
	require.True(t, w.verify().OK)
}

func TestTooSmallAPoolIsRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.org("institute", identity.Institute, "")
	for i := 1; i <= 4; i++ {
		w.expert(fmt.Sprintf("e%d", i), "institute", []string{"新材料"})
	}
	w.expert("insider", "alpha", []string{"新材料"})
	app := w.submitProject("applicant")
	for _, u := range []string{"unit_reviewer", "multi"} {
		w.mustDecide(u, app.ID, "recommend")
	}
	err := w.decide("staff", app.ID, engine.DecisionInput{Decision: "formal_pass"})
	require.Equal(t, errs.Invalid, code(err))
	require.Contains(t, errs.As(err).Msg.Zh, "需要 5 名，仅有 4 名", "the insider does not count")
	require.Contains(t, errs.As(err).Fields, "experts")
	require.Equal(t, "formal_review", w.state(app.ID), "nothing moved")
	require.Equal(t, "open", w.taskOf(app.ID, "staff").Status, "and the staff's vote was not kept")

	w.expert("e5", "institute", []string{"新材料"})
	w.mustDecide("staff", app.ID, "formal_pass")
	// Exactly five: a recusal has nobody to replace it, so it is refused.
	expert := w.stage(app.ID).Tasks[0].Assignee.Username
	_, err = w.eng.Recuse(w.ctx, w.users[expert], w.taskOf(app.ID, expert).ID, "利益冲突")
	require.Equal(t, errs.Invalid, code(err))
	require.Equal(t, "open", w.taskOf(app.ID, expert).Status)
	require.True(t, w.verify().OK)
}

func TestExpertsSeeOnlyWhatTheyReview(t *testing.T) {
	t.Parallel()
	w := reviewWorld(t)
	app := w.submitProject("applicant")
	_, err := w.eng.Get(w.ctx, w.users["e1"], app.ID)
	require.Equal(t, errs.NotFound, code(err), "nothing is assigned yet")
	// Files go in while the applicant edits; one is marked confidential.
	draft, err := w.eng.Create(w.ctx, w.users["applicant"], engine.CreateInput{Workflow: "project", Data: projectData})
	require.NoError(t, err)
	public, err := w.eng.AddAttachment(w.ctx, w.users["applicant"], draft.ID, engine.AttachmentInput{Name: "plan.txt", Content: []byte("技术方案")})
	require.NoError(t, err)
	secret, err := w.eng.AddAttachment(w.ctx, w.users["applicant"], draft.ID, engine.AttachmentInput{Name: "finance.txt",
		Content: []byte("财务明细"), Confidential: true})
	require.NoError(t, err)
	w.mustFire("applicant", draft.ID, "submit")
	for _, u := range []string{"unit_reviewer", "unit_reviewer2", "multi"} {
		w.mustDecide(u, draft.ID, "recommend")
	}
	w.mustDecide("staff", draft.ID, "formal_pass")
	panel := w.stage(draft.ID).Tasks
	in, out := panel[0].Assignee.Username, ""
	for i := 1; i <= 8; i++ {
		name := fmt.Sprintf("e%d", i)
		if !slices.ContainsFunc(panel, func(t engine.Task) bool { return t.Assignee.Username == name }) {
			out = name
		}
	}
	_, err = w.eng.Get(w.ctx, w.users[in], draft.ID)
	require.NoError(t, err, "a drawn expert sees what they review")
	_, err = w.eng.Get(w.ctx, w.users[out], draft.ID)
	require.Equal(t, errs.NotFound, code(err), "an expert not drawn sees nothing")
	_, err = w.eng.Get(w.ctx, w.users[in], app.ID)
	require.Equal(t, errs.NotFound, code(err), "nor other applications")
	_, _, err = w.eng.OpenAttachment(w.ctx, w.users[in], public.ID)
	require.NoError(t, err)
	_, _, err = w.eng.OpenAttachment(w.ctx, w.users[in], secret.ID)
	require.Equal(t, errs.NotFound, code(err), "never a confidential file")
	_, _, err = w.eng.OpenAttachment(w.ctx, w.users["staff"], secret.ID)
	require.NoError(t, err, "the bureau sees it")
	own, err := w.eng.ReviewRecord(w.ctx, w.users[in], draft.ID)
	require.NoError(t, err)
	last := own[len(own)-1]
	require.Len(t, last.Tasks, 1, "an expert sees only their own task of the panel")
	require.Empty(t, last.Draws, "and not the draw")
	listed, _, err := w.eng.List(w.ctx, w.users[in], engine.ListInput{})
	require.NoError(t, err)
	require.Len(t, listed, 1)
}

func TestDelegateAndAddReviewer(t *testing.T) {
	t.Parallel()
	w := reviewWorld(t)
	app := w.submitProject("applicant")
	for _, u := range []string{"unit_reviewer", "unit_reviewer2", "multi"} {
		w.mustDecide(u, app.ID, "recommend")
	}
	w.mustDecide("staff", app.ID, "formal_pass")
	panel := w.stage(app.ID).Tasks
	var spare []string
	for i := 1; i <= 8; i++ {
		name := fmt.Sprintf("e%d", i)
		if !slices.ContainsFunc(panel, func(t engine.Task) bool { return t.Assignee.Username == name }) {
			spare = append(spare, name)
		}
	}
	require.Len(t, spare, 3)
	from := panel[0].Assignee.Username
	for _, bad := range []struct{ to, why string }{
		{panel[1].Assignee.Username, "已在本环节评审名单中"},
		{"insider", "与申请单位同属一个单位"},
		{"tea", "不在可评审范围内"},
		{"staff", "不具有“expert”角色"},
		{"applicant", "不具有“expert”角色"},
		{"nobody", "没有这个用户"},
	} {
		_, err := w.eng.Delegate(w.ctx, w.users[from], panel[0].ID, bad.to)
		require.Equal(t, errs.Invalid, code(err), bad.to)
		require.Contains(t, errs.As(err).Fields["to_user"].Zh, bad.why, bad.to)
	}
	moved, err := w.eng.Delegate(w.ctx, w.users[from], panel[0].ID, spare[0])
	require.NoError(t, err)
	require.Equal(t, spare[0], moved.Assignee.Username)
	require.Equal(t, "open", moved.Status)
	_, err = w.eng.Get(w.ctx, w.users[from], app.ID)
	require.Equal(t, errs.NotFound, code(err), "who handed the task on no longer sees it")
	_, err = w.eng.Delegate(w.ctx, w.users["rival"], panel[1].ID, spare[1])
	require.Equal(t, errs.NotFound, code(err), "someone else's task does not exist for you")

	// 加签: staff adds a sixth expert to the open stage.
	_, err = w.eng.AddReviewer(w.ctx, w.users["leader"], app.ID, "expert_review", spare[1])
	require.Equal(t, errs.Forbidden, code(err))
	_, err = w.eng.AddReviewer(w.ctx, w.users["staff"], app.ID, "formal_review", spare[1])
	require.Equal(t, errs.Conflict, code(err), "the application has left that stage")
	_, err = w.eng.AddReviewer(w.ctx, w.users["staff"], app.ID, "expert_review", "insider")
	require.Equal(t, errs.Invalid, code(err))
	added, err := w.eng.AddReviewer(w.ctx, w.users["staff"], app.ID, "expert_review", spare[1])
	require.NoError(t, err)
	require.Equal(t, "assigned", added.Via)
	require.Len(t, w.assignees(w.stage(app.ID).Tasks, "open"), 6)
	_, err = w.eng.AddReviewer(w.ctx, w.users["staff"], app.ID, "expert_review", spare[1])
	require.Equal(t, errs.Invalid, code(err), "never the same person twice")
	require.True(t, w.verify().OK)
}

// policyDefinition is a one-stage workflow for the policy table: staff
// decide "check" by the policy given, then the leader decides "next".
const policyDefinition = `key: pol
title: {zh: 策略, en: Policy}
initial: draft
form: pol.form.json
created_by: [applicant]
states:
  draft:
    title: {zh: 草稿, en: Draft}
    kind: edit
    editable_by: [applicant]
  check:
    title: {zh: 审核, en: Check}
    kind: review
    review:
      reviewers: {role: staff}
      policy: %s
      pass: ok
      fail: "no"
      also: [back]
  returned:
    title: {zh: 退回, en: Returned}
    kind: edit
    editable_by: [applicant]
  next:
    title: {zh: 审定, en: Next}
    kind: review
    review:
      reviewers: {role: leader}
      policy: any
      pass: finish
      fail: refuse
  done:
    title: {zh: 完成, en: Done}
    kind: terminal
  refused:
    title: {zh: 未通过, en: Refused}
    kind: terminal
events:
  submit: {title: {zh: 提交, en: Submit}, from: [draft], to: check, roles: [applicant]}
  resubmit: {title: {zh: 重新提交, en: Resubmit}, from: [returned], to: check, roles: [applicant]}
  ok: {title: {zh: 通过, en: OK}, from: [check], to: next, system: true}
  "no": {title: {zh: 不通过, en: "No"}, from: [check], to: refused, system: true}
  back: {title: {zh: 退回, en: Back}, from: [check], to: returned, system: true, questions: true}
  finish: {title: {zh: 完成, en: Finish}, from: [next], to: done, system: true}
  refuse: {title: {zh: 否决, en: Refuse}, from: [next], to: refused, system: true}
`

// TestPolicies runs each policy through decisions, recusals and recalls.
// Steps name panel positions (p1 is the first task of the stage) or the
// leader; after each step the application is where want says, and a step
// that must be refused says with which code.
func TestPolicies(t *testing.T) {
	type step struct {
		who, op string // op: ok, no, back, score:N, recuse, recall
		refused errs.Code
		state   string // where the application is after the step ("" = unchanged)
	}
	s := func(who, op, state string) step { return step{who: who, op: op, state: state} }
	refused := func(who, op string, c errs.Code) step { return step{who: who, op: op, refused: c} }
	for _, tc := range []struct {
		name   string
		policy string
		staff  int
		steps  []step
	}{
		{"all: everyone approves", "all", 3, []step{s("p1", "ok", "check"), s("p2", "ok", "check"), s("p3", "ok", "next")}},
		{"all: one rejection, then a late vote", "all", 3, []step{s("p1", "ok", "check"), s("p2", "no", "refused"),
			refused("p3", "ok", errs.Conflict)}},
		{"all: a recusal in the middle decides", "all", 3, []step{s("p1", "ok", "check"), s("p2", "ok", "check"),
			s("p3", "recuse", "next")}},
		{"any: the first decides, the second is late", "any", 3, []step{s("p2", "ok", "next"), refused("p1", "no", errs.Conflict)}},
		{"any: a rejection decides too", "any", 2, []step{s("p1", "no", "refused")}},
		{"k_of_n: 2 of 3", "k_of_n\n      k: 2", 3, []step{s("p1", "no", "check"), s("p2", "ok", "check"), s("p3", "ok", "next")}},
		{"k_of_n: unreachable after two rejections", "k_of_n\n      k: 2", 3, []step{s("p1", "no", "check"), s("p3", "no", "refused")}},
		{"k_of_n: recusal makes k unreachable", "k_of_n\n      k: 2", 2, []step{s("p1", "ok", "check"), s("p2", "recuse", "refused")}},
		{"ratio: a tie of two to two passes", "k_of_n\n      ratio: 0.5", 4, []step{s("p1", "ok", "check"), s("p2", "no", "check"),
			s("p3", "no", "check"), s("p4", "ok", "next")}},
		{"sequential: in order only", "sequential", 3, []step{refused("p2", "ok", errs.Conflict), s("p1", "ok", "check"),
			s("p2", "ok", "check"), s("p3", "ok", "next")}},
		{"sequential: a rejection stops it", "sequential", 3, []step{s("p1", "ok", "check"), s("p2", "no", "refused"),
			refused("p3", "ok", errs.Conflict)}},
		{"sequential: recall before the next decides", "sequential", 3, []step{s("p1", "ok", "check"), s("p1", "recall", "check"),
			refused("p2", "ok", errs.Conflict), s("p1", "no", "refused")}},
		{"sequential: too late once the next decided", "sequential", 3, []step{s("p1", "ok", "check"), s("p2", "ok", "check"),
			refused("p1", "recall", errs.Conflict), s("p3", "ok", "next")}},
		{"all: recall before the stage is decided", "all", 2, []step{s("p1", "ok", "check"), s("p1", "recall", "check"),
			s("p2", "ok", "check"), refused("p1", "recall", errs.Conflict), s("p1", "no", "refused")}},
		{"any: recall after the stage is decided", "any", 2, []step{s("p1", "ok", "next"), s("p1", "recall", "check"),
			s("p2", "no", "refused")}},
		{"all: the last approver recalls the stage's decision", "all", 2, []step{s("p1", "ok", "check"), s("p2", "ok", "next"),
			s("p2", "recall", "check"), s("p2", "ok", "next"), s("leader", "ok", "done")}},
		{"recall too late once the next stage acted", "any", 2, []step{s("p1", "ok", "next"), s("leader", "ok", "done"),
			refused("p1", "recall", errs.Conflict)}},
		{"recall by a reviewer outvoted", "k_of_n\n      k: 2", 3, []step{s("p1", "no", "check"), s("p2", "ok", "check"),
			s("p3", "ok", "next"), refused("p1", "recall", errs.Conflict), s("p3", "recall", "check")}},
		{"no recall into an ended application", "any", 2, []step{s("p1", "no", "refused"), refused("p1", "recall", errs.Conflict)}},
		{"send back by one reviewer", "all", 3, []step{s("p1", "ok", "check"), s("p2", "back", "returned"),
			refused("p3", "ok", errs.Conflict)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "pol.yaml"), []byte(fmt.Sprintf(policyDefinition, tc.policy)), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "pol.form.json"), []byte(`{"type": "object"}`), 0o644))
			w.sync(dir)
			// The world has staff, staff2 and multi (staff and unit
			// reviewer); add more staff as the case needs.
			names := []string{"staff", "staff2", "multi"}
			for i := 3; i < tc.staff; i++ {
				name := fmt.Sprintf("staff%d", i+1)
				w.user(name, "bureau", identity.Staff)
				names = append(names, name)
			}
			for _, extra := range names[tc.staff:] {
				u := *w.users[extra]
				u.Disabled = true
				tx, err := w.db.Begin(w.ctx)
				require.NoError(t, err)
				require.NoError(t, tx.UpdateUser(w.ctx, u, time.Now()))
				require.NoError(t, tx.Commit())
			}
			app, err := w.eng.Create(w.ctx, w.users["applicant"], engine.CreateInput{Workflow: "pol"})
			require.NoError(t, err)
			w.mustFire("applicant", app.ID, "submit")
			first := w.stage(app.ID)
			require.Len(t, first.Tasks, tc.staff)
			pos := map[string]engine.Task{}
			for _, task := range first.Tasks {
				pos[fmt.Sprintf("p%d", task.Position)] = task
			}
			for i, st := range tc.steps {
				var user *identity.User
				var taskID string
				if st.who == "leader" {
					user, taskID = w.users["leader"], w.taskOf(app.ID, "leader").ID
				} else {
					user, taskID = w.users[pos[st.who].Assignee.Username], pos[st.who].ID
				}
				var err error
				switch {
				case st.op == "recuse":
					_, err = w.eng.Recuse(w.ctx, user, taskID, "回避")
				case st.op == "recall":
					_, err = w.eng.Recall(w.ctx, user, taskID, "改变主意")
				case st.op == "back":
					_, err = w.eng.Decide(w.ctx, user, taskID, engine.DecisionInput{Decision: "back", Questions: []string{"请补充"}})
				case st.who == "leader":
					_, err = w.eng.Decide(w.ctx, user, taskID, engine.DecisionInput{Decision: map[string]string{"ok": "finish", "no": "refuse"}[st.op]})
				default:
					_, err = w.eng.Decide(w.ctx, user, taskID, engine.DecisionInput{Decision: st.op})
				}
				where := fmt.Sprintf("step %d (%s %s)", i+1, st.who, st.op)
				if st.refused != "" {
					require.Equal(t, st.refused, code(err), "%s: %v", where, err)
					continue
				}
				require.NoError(t, err, where)
				if st.state != "" {
					require.Equal(t, st.state, w.state(app.ID), where)
				}
			}
			r := w.verify()
			require.True(t, r.OK, "%+v", r.Problems)
		})
	}
}

func TestScoresAreChecked(t *testing.T) {
	t.Parallel()
	w := reviewWorld(t)
	app := w.submitProject("applicant")
	for _, u := range []string{"unit_reviewer", "unit_reviewer2", "multi"} {
		w.mustDecide(u, app.ID, "recommend")
	}
	w.mustDecide("staff", app.ID, "formal_pass")
	e := w.stage(app.ID).Tasks[0].Assignee.Username
	err := w.decide(e, app.ID, engine.DecisionInput{Decision: "score", Scores: map[string]any{"industry": 101.0, "technical": "高", "charm": 5.0}})
	require.Equal(t, errs.Invalid, code(err))
	fields := errs.As(err).Fields
	for _, f := range []string{"scores.industry", "scores.technical", "scores.charm", "scores.foundation", "scores.financial"} {
		require.Contains(t, fields, f)
	}
	err = w.decide(e, app.ID, engine.DecisionInput{Decision: "experts_pass"})
	require.Equal(t, errs.Invalid, code(err), "experts score; they do not pick the outcome")
	require.True(t, strings.Contains(errs.As(err).Fields["decision"].En, "score"))
	require.NoError(t, w.decide(e, app.ID, engine.DecisionInput{Decision: "score", Scores: scores(80, 70.5, 60, 90)}))
	task := w.taskOf(app.ID, e)
	require.Equal(t, "74.63", task.Total, "(80×30 + 70.5×25 + 60×25 + 90×20) / 100 = 74.625, shown to two places")
}

// Every task that opens is noted to be announced with it, whichever way it
// opens: a role's stage, a drawn panel, a delegate, a reviewer added.
func TestOpenedTasksAreNotedToBeAnnounced(t *testing.T) {
	t.Parallel()
	w := reviewWorld(t)
	app := w.submitProject("applicant")
	noted := func() []string {
		t.Helper()
		var ids []string
		require.NoError(t, w.db.Select(&ids, `SELECT n.task_id FROM tasks_to_announce n
			JOIN review_tasks t ON t.id = n.task_id WHERE t.application_id = $1 ORDER BY 1`, app.ID))
		return ids
	}
	open := func() []string {
		t.Helper()
		var ids []string
		for _, task := range w.stage(app.ID).Tasks {
			if task.Status == "open" {
				ids = append(ids, task.ID)
			}
		}
		slices.Sort(ids)
		return ids
	}
	require.Len(t, open(), 3)
	require.Subset(t, noted(), open(), "the unit reviewers' stage")
	for _, u := range []string{"unit_reviewer", "unit_reviewer2", "multi"} {
		w.mustDecide(u, app.ID, "recommend")
	}
	w.mustDecide("staff", app.ID, "formal_pass")
	panel := open()
	require.Len(t, panel, 5)
	require.Subset(t, noted(), panel, "the drawn panel")

	var spare []string
	for i := 1; i <= 8; i++ {
		if !slices.Contains(w.assignees(w.stage(app.ID).Tasks), fmt.Sprintf("e%d", i)) {
			spare = append(spare, fmt.Sprintf("e%d", i))
		}
	}
	first := w.stage(app.ID).Tasks[0]
	moved, err := w.eng.Delegate(w.ctx, w.users[first.Assignee.Username], first.ID, spare[0])
	require.NoError(t, err)
	require.Contains(t, noted(), moved.ID, "the delegate's task")
	added, err := w.eng.AddReviewer(w.ctx, w.users["staff"], app.ID, "expert_review", spare[1])
	require.NoError(t, err)
	require.Contains(t, noted(), added.ID, "the added reviewer's task")
}
