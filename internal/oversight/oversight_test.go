package oversight_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/account"
	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/dbtest"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/oversight"
	"github.com/sciflow/sciflow/internal/postgres"
	"github.com/sciflow/sciflow/internal/workflow"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const secret = "oversight-test-secret-oversight-test!"

// world is a small county running testdata/audited.yaml: a bureau with two
// staff members and a leader, an enterprise (alpha) that applies, a second
// one (beta), an institute with six materials experts, and an auditor. Its
// clock starts on a Monday morning and moves one second each time the
// engine reads it, so every act is later than the one before.
type world struct {
	t     testing.TB
	ctx   context.Context
	db    *postgres.DB
	eng   *engine.Engine
	svc   *oversight.Service
	users map[string]*identity.User
	orgs  map[string]identity.Org

	mu  sync.Mutex
	now time.Time
}

// monday is 2026-11-30 09:00 China time; a stage entered then with five
// working days is due at 2026-12-05 00:00.
var monday = time.Date(2026, 11, 30, 9, 0, 0, 0, calendar.China)

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{t: t, ctx: context.Background(), db: dbtest.New(t), users: map[string]*identity.User{},
		orgs: map[string]identity.Org{}, now: monday}
	w.eng = engine.New(w.db, audit.New(secret), calendar.New(), slog.New(slog.DiscardHandler))
	w.eng.Now = func() time.Time {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.now = w.now.Add(time.Second)
		return w.now
	}
	defs, err := workflow.LoadDir(os.DirFS("testdata"))
	require.NoError(t, err)
	require.NoError(t, w.eng.Sync(w.ctx, defs))
	w.svc = oversight.New(w.db, w.eng)
	w.org("bureau", identity.Bureau)
	w.org("institute", identity.Institute)
	w.org("alpha", identity.Enterprise)
	w.org("beta", identity.Enterprise)
	w.user("applicant", "alpha", identity.Applicant)
	w.user("rival", "beta", identity.Applicant)
	w.user("staff", "bureau", identity.Staff)
	w.user("staff2", "bureau", identity.Staff)
	w.user("leader", "bureau", identity.Leader)
	w.user("auditor", "bureau", identity.Auditor)
	w.user("admin", "bureau", identity.Admin)
	for i := 1; i <= 6; i++ {
		name := fmt.Sprintf("e%d", i)
		w.user(name, "institute", identity.Expert)
		w.expertProfile(name)
	}
	return w
}

func (w *world) setClock(t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = t
}

func (w *world) org(name string, kind identity.OrgKind) {
	o, err := w.db.CreateOrg(w.ctx, identity.Org{Name: name, Kind: kind})
	require.NoError(w.t, err)
	w.orgs[name] = o
}

func (w *world) user(name, org string, roles ...identity.Role) {
	u, err := w.db.CreateUser(w.ctx, identity.User{Username: name, Name: name, OrgID: w.orgs[org].ID, Roles: roles}, "not-a-real-hash")
	require.NoError(w.t, err)
	w.users[name] = &u
}

// expertProfile makes name a materials expert.
func (w *world) expertProfile(name string) {
	w.t.Helper()
	tx, err := w.db.Begin(w.ctx)
	require.NoError(w.t, err)
	defer tx.Rollback()
	require.NoError(w.t, tx.SetExpertProfile(w.ctx, w.users[name].ID, postgres.ExpertProfile{Specialties: []string{"新材料"}}))
	require.NoError(w.t, tx.Commit())
}

func (w *world) create(as string) string {
	w.t.Helper()
	app, err := w.eng.Create(w.ctx, w.users[as], engine.CreateInput{Workflow: "audited",
		Data: map[string]any{"title": "高性能复合材料研发", "budget": 2000000}})
	require.NoError(w.t, err)
	return app.ID
}

func (w *world) fire(as, appID, event string) {
	w.t.Helper()
	_, err := w.eng.Fire(w.ctx, w.users[as], appID, engine.FireInput{Event: event, Comment: "意见"})
	require.NoError(w.t, err)
}

func (w *world) submit(as string) string {
	w.t.Helper()
	id := w.create(as)
	w.fire(as, id, "submit")
	return id
}

// stage is the application's current review stage as the auditor sees it.
func (w *world) stage(appID string) engine.StageRecord {
	w.t.Helper()
	rec, err := w.eng.ReviewRecord(w.ctx, w.users["auditor"], appID)
	require.NoError(w.t, err)
	require.NotEmpty(w.t, rec)
	return rec[len(rec)-1]
}

// taskOf is user's task in the application's current stage.
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

func (w *world) decide(as, appID string, in engine.DecisionInput) {
	w.t.Helper()
	_, err := w.eng.Decide(w.ctx, w.users[as], w.taskOf(appID, as).ID, in)
	require.NoError(w.t, err)
}

func (w *world) state(appID string) string {
	w.t.Helper()
	app, err := w.eng.Get(w.ctx, w.users["auditor"], appID)
	require.NoError(w.t, err)
	return app.State
}

// sendBack has as send the application back from the formal review.
func (w *world) sendBack(as, appID string) {
	w.t.Helper()
	w.decide(as, appID, engine.DecisionInput{Decision: "send_back", Questions: []string{"请补充材料"}})
	require.Equal(w.t, "returned", w.state(appID))
}

// resubmit answers the open questions and resubmits.
func (w *world) resubmit(appID string) {
	w.t.Helper()
	qs, err := w.eng.Questions(w.ctx, w.users["applicant"], appID)
	require.NoError(w.t, err)
	answers := map[string]string{}
	for _, q := range qs {
		if !q.Answered {
			answers[q.ID] = "已补充"
		}
	}
	_, err = w.eng.Answer(w.ctx, w.users["applicant"], appID, answers)
	require.NoError(w.t, err)
	w.fire("applicant", appID, "resubmit")
}

// drawn lists the experts of the application's current stage, by username.
func (w *world) drawn(appID string) []string {
	w.t.Helper()
	var out []string
	for _, t := range w.stage(appID).Tasks {
		if t.Status == "open" {
			out = append(out, t.Assignee.Username)
		}
	}
	require.Len(w.t, out, 5)
	return out
}

// score has the drawn experts hand in these totals, in panel order.
func (w *world) score(appID string, totals ...float64) []string {
	w.t.Helper()
	experts := w.drawn(appID)
	for i, e := range experts {
		w.decide(e, appID, engine.DecisionInput{Decision: "score", Scores: map[string]any{"merit": totals[i]}})
	}
	return experts
}

// toDecision takes an application through the formal review (staff) and
// an expert panel that agrees.
func (w *world) toDecision(appID string) {
	w.t.Helper()
	w.decide("staff", appID, engine.DecisionInput{Decision: "formal_pass"})
	w.score(appID, 80, 82, 78, 85, 79)
	require.Equal(w.t, "decision", w.state(appID))
}

func (w *world) run(o oversight.Options) oversight.Report {
	w.t.Helper()
	r, err := w.svc.Run(w.ctx, w.users["auditor"], o)
	require.NoError(w.t, err)
	return r
}

// found runs one check and returns its findings.
func (w *world) found(check string, o ...oversight.Options) []oversight.Finding {
	w.t.Helper()
	opts := oversight.Options{}
	if len(o) > 0 {
		opts = o[0]
	}
	opts.Check = check
	r := w.run(opts)
	require.Len(w.t, r.Checks, 1)
	require.Equal(w.t, check, r.Checks[0].Key)
	require.Len(w.t, r.Findings, r.Checks[0].Count)
	for _, f := range r.Findings {
		require.Equal(w.t, check, f.Check)
		require.NotEmpty(w.t, f.Detail.Zh)
		require.NotEmpty(w.t, f.Detail.En)
		if f.ApplicationID != "" {
			require.Equal(w.t, "/apps/"+f.ApplicationID, f.Link)
		}
	}
	return r.Findings
}

func apps(fs []oversight.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ApplicationID)
	}
	slices.Sort(out)
	return out
}

func sorted(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// TestOversightTwoStages: staff decide the formal review through a task and
// then fire the decision themselves, two stages apart, which the engine
// allows (the expert review stands between them). Someone else deciding
// the second stage, or one person deciding the same stage in two rounds,
// is not a finding; nor are the experts, each in one stage.
func TestOversightTwoStages(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	same := w.submit("applicant")
	w.toDecision(same)
	w.fire("staff", same, "approve")

	other := w.submit("applicant")
	w.toDecision(other)
	w.fire("leader", other, "approve")

	rounds := w.submit("applicant")
	w.sendBack("staff", rounds)
	w.resubmit(rounds)
	w.toDecision(rounds)
	w.fire("leader", rounds, "approve")

	fs := w.found(oversight.CheckTwoStages)
	require.Len(t, fs, 1)
	f := fs[0]
	require.Equal(t, same, f.ApplicationID)
	require.Equal(t, w.users["staff"].ID, f.ActorID)
	require.Equal(t, oversight.SeverityHigh, f.Severity)
	require.Contains(t, f.Detail.Zh, "形式审查")
	require.Contains(t, f.Detail.Zh, "局长办公会审定")
	require.Contains(t, f.Detail.En, "Formal review, Decision")

	// The window applies to the latest of the acts.
	require.Empty(t, w.found(oversight.CheckTwoStages, oversight.Options{To: f.At}))
	require.Len(t, w.found(oversight.CheckTwoStages, oversight.Options{From: f.At, To: f.At.Add(time.Second)}), 1)
}

// TestOversightConflictedExpert: the engine never draws an expert who
// declares a conflict with the applicant or works for it, so the test
// makes the two situations the way they arise once a panel is drawn, as an
// administrator does through the account service: one expert's profile
// gains a conflict with alpha, another expert moves to alpha (a change of
// employer). Both then score anyway and are found; the three others, with
// no conflict, are not. A member of staff employed by alpha who decides
// the formal review is no finding either: working for the applicant counts
// only in stages that draw experts (unit reviewers decide for their own).
func TestOversightConflictedExpert(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.user("alpha_staff", "alpha", identity.Staff)
	app := w.submit("applicant")
	w.decide("alpha_staff", app, engine.DecisionInput{Decision: "formal_pass"})
	panel := w.drawn(app)
	declared, moved := panel[0], panel[1]
	accounts := account.New(w.db, audit.New(secret), w.eng, secret)
	_, err := accounts.UpdateUser(w.ctx, w.users["admin"], declared, account.UserChange{ExpertSet: true,
		Specialties: []string{"新材料"}, ConflictOrgs: []string{w.orgs["alpha"].ID}})
	require.NoError(t, err)
	_, err = accounts.MoveUser(w.ctx, w.users["admin"], moved, "alpha")
	require.NoError(t, err)
	w.score(app, 80, 82, 78, 85, 79)

	fs := w.found(oversight.CheckConflictedExpert)
	require.Len(t, fs, 2)
	byActor := map[string]oversight.Finding{}
	for _, f := range fs {
		require.Equal(t, app, f.ApplicationID)
		require.Equal(t, oversight.SeverityHigh, f.Severity)
		require.NotEmpty(t, f.Subject, "the task")
		byActor[f.ActorUsername] = f
	}
	require.Contains(t, byActor, declared)
	require.Contains(t, byActor, moved)
	require.Contains(t, byActor[declared].Detail.Zh, "声明与申请单位“alpha”存在利益冲突")
	require.Contains(t, byActor[declared].Detail.En, "scored it, total 80.00")
	require.Contains(t, byActor[moved].Detail.En, "works for the applicant's organisation, alpha")
}

// TestOversightOutlierScore: a panel of 80, 82, 78, 85 and 40 flags the 40
// (41 points from the others' median of 81, above the 15-point floor) and
// nobody else; a panel of 80, 82, 78, 85 and 70 flags nothing (70 is 11
// points from 81).
func TestOversightOutlierScore(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	wild := w.submit("applicant")
	w.decide("staff", wild, engine.DecisionInput{Decision: "formal_pass"})
	experts := w.score(wild, 80, 82, 78, 85, 40)

	calm := w.submit("applicant")
	w.decide("staff", calm, engine.DecisionInput{Decision: "formal_pass"})
	w.score(calm, 80, 82, 78, 85, 70)

	fs := w.found(oversight.CheckOutlierScore)
	require.Len(t, fs, 1)
	f := fs[0]
	require.Equal(t, wild, f.ApplicationID)
	require.Equal(t, experts[4], f.ActorUsername)
	require.Equal(t, oversight.SeverityMedium, f.Severity)
	require.Contains(t, f.Detail.En, "a total of 40.00")
	require.Contains(t, f.Detail.En, "median of the other 4 totals is 81.00: 41.00 points apart, more than the threshold of 15.00")
}

// TestOversightLateDecision: the formal review entered on Monday 09:00 is
// due at Saturday 00:00 (five working days). A decision a minute after is
// late; one a minute before is not.
func TestOversightLateDecision(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	late := w.submit("applicant")
	onTime := w.submit("applicant")
	due := time.Date(2026, 12, 5, 0, 0, 0, 0, calendar.China)
	require.Equal(t, due, w.taskOf(late, "staff").Due.In(calendar.China))

	w.setClock(due.Add(-time.Minute))
	w.decide("staff", onTime, engine.DecisionInput{Decision: "formal_pass"})
	w.setClock(due.Add(time.Minute))
	w.decide("staff2", late, engine.DecisionInput{Decision: "formal_pass"})

	fs := w.found(oversight.CheckLateDecision)
	require.Len(t, fs, 1)
	f := fs[0]
	require.Equal(t, late, f.ApplicationID)
	require.Equal(t, w.users["staff2"].ID, f.ActorID)
	require.Equal(t, oversight.SeverityLow, f.Severity)
	require.Contains(t, f.Detail.Zh, "到期时间为 2026-12-05 00:00，逾期 2 分钟", "a minute and the clock's seconds, rounded up")
	require.Contains(t, f.Detail.En, "2 min late")

	require.Empty(t, w.found(oversight.CheckLateDecision, oversight.Options{To: due}), "the window applies to the decision's time")
}

// TestOversightReturnedOften: three send backs are more than the default
// two; two are not, unless the caller asks for more than one; a send back
// its reviewer recalled does not count.
func TestOversightReturnedOften(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	three := w.submit("applicant")
	for range 3 {
		w.sendBack("staff", three)
		w.resubmit(three)
	}
	two := w.submit("applicant")
	for range 2 {
		w.sendBack("staff", two)
		w.resubmit(two)
	}
	recalled := w.submit("applicant")
	for range 2 {
		w.sendBack("staff", recalled)
		w.resubmit(recalled)
	}
	task := w.taskOf(recalled, "staff")
	w.sendBack("staff", recalled)
	_, err := w.eng.Recall(w.ctx, w.users["staff"], task.ID, "退错了")
	require.NoError(t, err)
	require.Equal(t, "formal_review", w.state(recalled))

	fs := w.found(oversight.CheckReturnedOften)
	require.Equal(t, []string{three}, apps(fs))
	require.Equal(t, oversight.SeverityMedium, fs[0].Severity)
	require.Contains(t, fs[0].Detail.Zh, "退回申请人修改 3 次，超过 2 次")
	require.Empty(t, fs[0].ActorID)

	fs = w.found(oversight.CheckReturnedOften, oversight.Options{ReturnedMoreThan: 1})
	require.Equal(t, sorted(three, two, recalled), apps(fs))
	for _, f := range fs {
		if f.ApplicationID == recalled {
			require.Contains(t, f.Detail.En, "2 times", "the recalled send back is not counted")
		}
	}
}

// TestOversightAttachmentReplaced: a technical plan uploaded again after the
// application was sent back is a finding; a supplement to a slot that was
// empty is not, nor is a plan uploaded twice before submission.
func TestOversightAttachmentReplaced(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	attach := func(appID, slot, name string) string {
		a, err := w.eng.AddAttachment(w.ctx, w.users["applicant"], appID, engine.AttachmentInput{Name: name, Label: slot, Content: []byte(name)})
		require.NoError(t, err)
		return a.ID
	}
	replaced := w.create("applicant")
	attach(replaced, "plan", "plan-v1.pdf")
	w.fire("applicant", replaced, "submit")
	w.sendBack("staff", replaced)
	second := attach(replaced, "plan", "plan-v2.pdf")
	attach(replaced, "supplement", "extra.pdf")
	w.resubmit(replaced)

	early := w.create("applicant")
	attach(early, "plan", "plan-v1.pdf")
	attach(early, "plan", "plan-v2.pdf")
	w.fire("applicant", early, "submit")

	fs := w.found(oversight.CheckAttachmentReplaced)
	require.Len(t, fs, 1)
	f := fs[0]
	require.Equal(t, replaced, f.ApplicationID)
	require.Equal(t, second, f.Subject)
	require.Equal(t, w.users["applicant"].ID, f.ActorID)
	require.Contains(t, f.Detail.Zh, "上传了“plan-v2.pdf”，附件类别“plan”已有“plan-v1.pdf”")
}

// TestOversightNightActivity: 25 changes to a draft between 02:00 and 02:01
// China time are bulk work at night; 25 at 10:00 are not, nor are 19 at
// 23:00 (below the threshold).
func TestOversightNightActivity(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	patch := func(as string, at time.Time, n int) {
		w.setClock(at)
		id := w.create(as)
		for i := range n - 1 { // the creation is the first action
			_, err := w.eng.Patch(w.ctx, w.users[as], id, i+1, map[string]any{"note": fmt.Sprintf("第 %d 次修改", i+1)})
			require.NoError(t, err)
		}
	}
	w.user("owl", "alpha", identity.Applicant)
	w.user("lark", "alpha", identity.Applicant)
	w.user("late", "beta", identity.Applicant)
	patch("owl", time.Date(2026, 12, 2, 2, 0, 0, 0, calendar.China), 25)
	patch("lark", time.Date(2026, 12, 2, 10, 0, 0, 0, calendar.China), 25)
	patch("late", time.Date(2026, 12, 2, 23, 0, 0, 0, calendar.China), 19)

	fs := w.found(oversight.CheckNightActivity)
	require.Len(t, fs, 1)
	f := fs[0]
	require.Equal(t, w.users["owl"].ID, f.ActorID)
	require.Empty(t, f.ApplicationID)
	require.Contains(t, f.Detail.Zh, "2026-12-01 夜间（22:00 至次日 6:00）有 25 条审计记录", "02:00 belongs to the night that began the evening before")
	require.Equal(t, "/audit?actor="+w.users["owl"].ID+"&from=2026-12-01&to=2026-12-02", f.Link)

	// An evening and the morning after are one night.
	w.user("both", "beta", identity.Applicant)
	patch("both", time.Date(2026, 12, 3, 23, 50, 0, 0, calendar.China), 10)
	patch("both", time.Date(2026, 12, 4, 0, 10, 0, 0, calendar.China), 10)
	fs = w.found(oversight.CheckNightActivity)
	require.Len(t, fs, 2)
	require.Contains(t, fs[0].Detail.En, "both (both) made 20 audited actions in the night of 2026-12-03")

	// The window counts only the actions inside it.
	require.Empty(t, w.found(oversight.CheckNightActivity, oversight.Options{From: time.Date(2026, 12, 2, 2, 0, 30, 0, calendar.China),
		To: time.Date(2026, 12, 3, 0, 0, 0, 0, calendar.China)}))
}

// TestOversightRun: every check runs in the order of Checks; only auditors
// may run them; a check the service does not know, a negative N and an
// empty window are refused.
func TestOversightRun(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := w.run(oversight.Options{})
	require.Empty(t, r.Findings)
	require.NotNil(t, r.Findings)
	var keys []string
	for _, c := range r.Checks {
		keys = append(keys, c.Key)
		require.Zero(t, c.Count)
		require.NotEmpty(t, c.Title.Zh)
		require.NotEmpty(t, c.Rule.En)
	}
	require.Equal(t, []string{oversight.CheckTwoStages, oversight.CheckConflictedExpert, oversight.CheckOutlierScore,
		oversight.CheckLateDecision, oversight.CheckReturnedOften, oversight.CheckAttachmentReplaced, oversight.CheckNightActivity}, keys)

	for _, who := range []string{"admin", "staff", "leader", "e1", "applicant"} {
		_, err := w.svc.Run(w.ctx, w.users[who], oversight.Options{})
		require.Equal(t, errs.Forbidden, errs.CodeOf(err), who)
	}
	_, err := w.svc.Run(w.ctx, nil, oversight.Options{})
	require.Equal(t, errs.Forbidden, errs.CodeOf(err))
	_, err = w.svc.Run(w.ctx, w.users["auditor"], oversight.Options{Check: "bogus"})
	require.Equal(t, errs.Invalid, errs.CodeOf(err))
	require.Contains(t, errs.As(err).Fields, "check")
	_, err = w.svc.Run(w.ctx, w.users["auditor"], oversight.Options{ReturnedMoreThan: -1})
	require.Equal(t, errs.Invalid, errs.CodeOf(err))
	_, err = w.svc.Run(w.ctx, w.users["auditor"], oversight.Options{From: monday, To: monday})
	require.Equal(t, errs.Invalid, errs.CodeOf(err))
}
