package engine_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/dbtest"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
	"github.com/sciflow/sciflow/internal/workflow"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const secret = "test-secret-test-secret-test-secret!"

// world is a small county: a bureau, a recommending unit with an enterprise
// under it, a second enterprise, and one user per part.
type world struct {
	t      testing.TB
	db     *postgres.DB
	eng    *engine.Engine
	chain  *audit.Chain
	ctx    context.Context
	users  map[string]*identity.User
	orgs   map[string]identity.Org
	defDir string
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{t: t, db: dbtest.New(t), chain: audit.New(secret), ctx: context.Background(),
		users: map[string]*identity.User{}, orgs: map[string]identity.Org{}, defDir: "../workflow/testdata/valid"}
	w.eng = engine.New(w.db, w.chain, calendar.New(), slog.New(slog.DiscardHandler))
	w.sync(w.defDir)
	w.org("bureau", identity.Bureau, "")
	w.org("unit", identity.Bureau, "")
	w.org("alpha", identity.Enterprise, "unit")
	w.org("beta", identity.Enterprise, "")
	w.user("applicant", "alpha", identity.Applicant)
	w.user("colleague", "alpha", identity.Applicant)
	w.user("rival", "beta", identity.Applicant)
	w.user("unit_reviewer", "unit", identity.UnitReviewer)
	w.user("staff", "bureau", identity.Staff)
	w.user("staff2", "bureau", identity.Staff)
	w.user("leader", "bureau", identity.Leader)
	w.user("auditor", "bureau", identity.Auditor)
	w.user("admin", "bureau", identity.Admin)
	w.user("multi", "unit", identity.UnitReviewer, identity.Staff)
	return w
}

func (w *world) sync(dir string) []*workflow.Definition {
	w.t.Helper()
	defs, err := workflow.LoadDir(os.DirFS(dir))
	require.NoError(w.t, err)
	require.NoError(w.t, w.eng.Sync(w.ctx, defs))
	return defs
}

func (w *world) org(name string, kind identity.OrgKind, parent string) {
	o, err := w.db.CreateOrg(w.ctx, identity.Org{Name: name, Kind: kind, ParentID: w.orgs[parent].ID})
	require.NoError(w.t, err)
	w.orgs[name] = o
}

func (w *world) user(name, org string, roles ...identity.Role) {
	u, err := w.db.CreateUser(w.ctx, identity.User{Username: name, Name: name, OrgID: w.orgs[org].ID, Roles: roles}, "not-a-real-hash")
	require.NoError(w.t, err)
	w.users[name] = &u
}

var validData = map[string]any{"title": "茶叶深加工关键技术", "budget": 800000, "summary": "提升龙缸茶附加值"}

func (w *world) create(as string, data map[string]any) engine.Application {
	w.t.Helper()
	app, err := w.eng.Create(w.ctx, w.users[as], engine.CreateInput{Workflow: "grant", Data: data})
	require.NoError(w.t, err)
	return app
}

func (w *world) fire(as, id, event string, comment string, data map[string]any) (engine.FireResult, error) {
	return w.eng.Fire(w.ctx, w.users[as], id, engine.FireInput{Event: event, Comment: comment, Data: data})
}

func (w *world) mustFire(as, id, event string) engine.FireResult {
	w.t.Helper()
	res, err := w.fire(as, id, event, "ok", nil)
	require.NoError(w.t, err)
	return res
}

func (w *world) verify() audit.Report {
	w.t.Helper()
	r, err := w.chain.Verify(w.ctx, w.db)
	require.NoError(w.t, err)
	return r
}

// onMonday sets the engine's clock to a Monday at 9:00 in China, where the
// tests of deadlines and timers start, and returns it.
func (w *world) onMonday() time.Time {
	start := time.Date(2026, 11, 30, 9, 0, 0, 0, calendar.China)
	w.eng.Now = func() time.Time { return start }
	return start
}

// inFormalReview is an application submitted and recommended: in formal
// review, whose timer reminds after five working days.
func (w *world) inFormalReview() engine.Application {
	w.t.Helper()
	app := w.create("applicant", validData)
	w.mustFire("applicant", app.ID, "submit")
	w.mustFire("unit_reviewer", app.ID, "recommend")
	return app
}

func code(err error) errs.Code { return errs.CodeOf(err) }

func actions(app engine.Application) []string {
	out := []string{}
	for _, a := range app.Actions {
		out = append(out, a.Event)
	}
	return out
}

func TestHappyPath(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	app := w.create("applicant", validData)
	require.Equal(t, "draft", app.State)
	require.Equal(t, 1, app.Version)
	require.Equal(t, []string{"submit", "withdraw"}, actions(app))
	require.Equal(t, "草稿", app.StateTitle.Zh)

	res := w.mustFire("applicant", app.ID, "submit")
	require.Equal(t, "unit_review", res.Application.State)
	require.Equal(t, 2, res.Application.Version)
	require.NotNil(t, res.Application.Deadline, "unit review has a 5-working-day deadline")
	require.Equal(t, 2, res.Transition.Seq)
	require.Len(t, res.Transition.Hash, 64)

	unitView, err := w.eng.Get(w.ctx, w.users["unit_reviewer"], app.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"recommend", "reject", "send_back"}, actions(unitView))

	w.mustFire("unit_reviewer", app.ID, "recommend")
	w.mustFire("staff", app.ID, "pass")
	_, err = w.fire("leader", app.ID, "approve", "", map[string]any{"amount": 900000})
	require.Equal(t, errs.Invalid, code(err), "the amount exceeds the budget: the guard refuses")
	res, err = w.fire("leader", app.ID, "approve", "同意", map[string]any{"amount": 600000})
	require.NoError(t, err)
	require.Equal(t, "approved", res.Application.State)
	require.EqualValues(t, 600000, res.Application.Data["amount"], "sets copies the payload into the data")

	hist, err := w.eng.History(w.ctx, w.users["applicant"], app.ID)
	require.NoError(t, err)
	var steps []string
	for _, h := range hist {
		steps = append(steps, h.Event+":"+h.From+">"+h.To)
	}
	require.Equal(t, []string{"create:>draft", "submit:draft>unit_review", "recommend:unit_review>formal_review",
		"pass:formal_review>decision", "approve:decision>approved"}, steps)
	require.Equal(t, "unit_reviewer", hist[2].Actor.Username)
	require.Equal(t, "同意", hist[4].Comment)

	r := w.verify()
	require.True(t, r.OK, "%+v", r.Problems)
	require.EqualValues(t, 5+3, r.Checked, "five transitions and the three workflow versions")
}

func TestFiringRefusals(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	app := w.create("applicant", validData)

	_, err := w.fire("unit_reviewer", app.ID, "recommend", "", nil)
	require.Equal(t, errs.NotFound, code(err), "a draft is invisible to the unit")
	_, err = w.fire("rival", app.ID, "submit", "", nil)
	require.Equal(t, errs.NotFound, code(err), "another enterprise sees nothing")
	_, err = w.fire("admin", app.ID, "submit", "", nil)
	require.Equal(t, errs.NotFound, code(err), "administrators do not see drafts")
	_, err = w.fire("applicant", app.ID, "pass", "", nil)
	require.Equal(t, errs.Conflict, code(err), "not possible from draft")
	_, err = w.fire("applicant", app.ID, "fly", "", nil)
	require.Equal(t, errs.Invalid, code(err))
	require.Contains(t, errs.As(err).Fields, "event")
	stale := 7
	_, err = w.eng.Fire(w.ctx, w.users["applicant"], app.ID, engine.FireInput{Event: "submit", ExpectedVersion: &stale})
	require.Equal(t, errs.Conflict, code(err))

	w.mustFire("applicant", app.ID, "submit")
	_, err = w.fire("auditor", app.ID, "recommend", "", nil)
	require.Equal(t, errs.Forbidden, code(err), "oversight reads but never acts")
	_, err = w.fire("staff", app.ID, "recommend", "", nil)
	require.Equal(t, errs.Forbidden, code(err), "staff may not recommend for the unit")
	_, err = w.fire("unit_reviewer", app.ID, "send_back", "", nil)
	require.Equal(t, errs.Invalid, code(err), "sending back needs a comment")
	require.Contains(t, errs.As(err).Fields, "comment")
	_, err = w.fire("unit_reviewer", app.ID, "recommend", "", map[string]any{"x": 1})
	require.Equal(t, errs.Invalid, code(err), "recommend takes no data")

	hist, err := w.eng.History(w.ctx, w.users["applicant"], app.ID)
	require.NoError(t, err)
	require.Len(t, hist, 2, "refused events leave no trace in the history")
}

func TestSubmitValidatesTheWholeForm(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	app := w.create("applicant", map[string]any{"summary": "还没写完"})
	_, err := w.fire("applicant", app.ID, "submit", "", nil)
	require.Equal(t, errs.Invalid, code(err))
	fields := errs.As(err).Fields
	require.Equal(t, "必填", fields["data.title"].Zh)
	require.Equal(t, "required", fields["data.budget"].En)

	_, err = w.eng.Patch(w.ctx, w.users["applicant"], app.ID, app.Version, map[string]any{"title": "茶叶深加工", "budget": 6000000})
	require.NoError(t, err)
	_, err = w.fire("applicant", app.ID, "submit", "", nil)
	require.Equal(t, errs.Invalid, code(err))
	require.Equal(t, "The budget may not exceed 5 million yuan", errs.As(err).Fields["data.budget"].En)
}

func TestPatch(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	app := w.create("applicant", map[string]any{"title": "茶叶深加工", "summary": "初稿"})

	_, err := w.eng.Patch(w.ctx, w.users["applicant"], app.ID, app.Version, map[string]any{"budget": "lots"})
	require.Equal(t, errs.Invalid, code(err))
	require.Equal(t, "类型应为 整数", errs.As(err).Fields["data.budget"].Zh)

	updated, err := w.eng.Patch(w.ctx, w.users["colleague"], app.ID, app.Version, map[string]any{"budget": 500000, "summary": nil})
	require.NoError(t, err, "a colleague in the same enterprise may edit the draft")
	require.Equal(t, app.Version+1, updated.Version)
	require.EqualValues(t, 500000, updated.Data["budget"])
	require.NotContains(t, updated.Data, "summary", "null removes a field")

	_, err = w.eng.Patch(w.ctx, w.users["applicant"], app.ID, app.Version, map[string]any{"budget": 1})
	require.Equal(t, errs.Conflict, code(err), "a stale version is refused")

	_, err = w.eng.Patch(w.ctx, w.users["rival"], app.ID, updated.Version, map[string]any{"budget": 1})
	require.Equal(t, errs.NotFound, code(err))

	w.mustFire("applicant", app.ID, "submit")
	got, err := w.eng.Get(w.ctx, w.users["applicant"], app.ID)
	require.NoError(t, err)
	_, err = w.eng.Patch(w.ctx, w.users["applicant"], app.ID, got.Version, map[string]any{"budget": 1})
	require.Equal(t, errs.Forbidden, code(err), "no edits while under review")
	require.True(t, w.verify().OK)
}

func TestSeparationOfDuties(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	// multi is both unit reviewer and staff: they may recommend, but then not
	// also pass the formal review of the same application.
	app := w.create("applicant", validData)
	w.mustFire("applicant", app.ID, "submit")
	view, err := w.eng.Get(w.ctx, w.users["multi"], app.ID)
	require.NoError(t, err)
	require.Contains(t, actions(view), "recommend")
	w.mustFire("multi", app.ID, "recommend")
	view, err = w.eng.Get(w.ctx, w.users["multi"], app.ID)
	require.NoError(t, err)
	require.NotContains(t, actions(view), "pass", "actions respect separation of duties")
	listed, _, err := w.eng.List(w.ctx, w.users["multi"], engine.ListInput{})
	require.NoError(t, err)
	require.Len(t, listed, 1)
	require.NotContains(t, actions(listed[0]), "pass", "so do the actions of a listed page, whose histories load together")
	require.Equal(t, actions(view), actions(listed[0]))
	_, err = w.fire("multi", app.ID, "pass", "", nil)
	require.Equal(t, errs.Forbidden, code(err))
	w.mustFire("staff", app.ID, "pass")

	// The applicant may still withdraw while the application is under review.
	other := w.create("applicant", validData)
	w.mustFire("applicant", other.ID, "submit")
	w.mustFire("applicant", other.ID, "withdraw")
}

func TestChildWorkflow(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	app := w.create("applicant", validData)
	_, err := w.eng.Create(w.ctx, w.users["staff"], engine.CreateInput{Workflow: "instalment", Data: map[string]any{"year": 2026}})
	require.Equal(t, errs.Invalid, code(err), "an instalment needs its parent")
	_, err = w.eng.Create(w.ctx, w.users["staff"], engine.CreateInput{Workflow: "instalment", ParentID: app.ID})
	require.Equal(t, errs.NotFound, code(err), "staff cannot see a draft")
	for _, ev := range []string{"submit"} {
		w.mustFire("applicant", app.ID, ev)
	}
	w.mustFire("unit_reviewer", app.ID, "recommend")
	inst, err := w.eng.Create(w.ctx, w.users["staff"], engine.CreateInput{Workflow: "instalment", ParentID: app.ID, Data: map[string]any{"year": 2026}})
	require.NoError(t, err)
	require.Equal(t, app.ID, inst.ParentID)
	require.Equal(t, w.orgs["alpha"].ID, inst.Org.ID, "a child belongs to the parent's organisation")
	_, err = w.fire("staff2", inst.ID, "pay", "", nil)
	require.Equal(t, errs.Invalid, code(err), "the parent is not approved yet")
	require.Equal(t, "The project is not running", errs.As(err).Msg.En)

	mine, err := w.eng.Get(w.ctx, w.users["applicant"], inst.ID)
	require.NoError(t, err, "the applicant sees instalments of their own project")
	require.Empty(t, mine.Actions)
}

func TestListShowsOnlyWhatTheCallerMaySee(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a := w.create("applicant", validData)
	w.create("applicant", map[string]any{"title": "第二个草稿"})
	b := w.create("rival", map[string]any{"title": "竞争对手的项目", "budget": 1000})
	w.mustFire("applicant", a.ID, "submit")
	w.mustFire("rival", b.ID, "submit")

	count := func(as string, f engine.ListInput) int {
		items, _, err := w.eng.List(w.ctx, w.users[as], f)
		require.NoError(t, err)
		return len(items)
	}
	require.Equal(t, 2, count("applicant", engine.ListInput{}))
	require.Equal(t, 1, count("rival", engine.ListInput{}))
	require.Equal(t, 1, count("unit_reviewer", engine.ListInput{}), "the unit sees its enterprise's submitted one only")
	require.Equal(t, 2, count("staff", engine.ListInput{}), "staff see submitted applications, no drafts")
	require.Equal(t, 3, count("auditor", engine.ListInput{}))
	require.Equal(t, 2, count("admin", engine.ListInput{}), "administrators see that submitted applications exist")
	seen, _, err := w.eng.List(w.ctx, w.users["admin"], engine.ListInput{})
	require.NoError(t, err)
	for _, a := range seen {
		require.Empty(t, a.Data, "but not what they say")
		require.Empty(t, a.Actions)
	}
	require.Equal(t, 1, count("staff", engine.ListInput{Query: "竞争"}))
	require.Equal(t, 1, count("applicant", engine.ListInput{State: "draft"}))

	page1, next, err := w.eng.List(w.ctx, w.users["auditor"], engine.ListInput{Limit: 2})
	require.NoError(t, err)
	require.Len(t, page1, 2)
	require.NotEmpty(t, next)
	page2, next2, err := w.eng.List(w.ctx, w.users["auditor"], engine.ListInput{Limit: 2, Cursor: next})
	require.NoError(t, err)
	require.Len(t, page2, 1)
	require.Empty(t, next2)
	require.NotEqual(t, page1[1].ID, page2[0].ID)
}

func TestTimersFireSystemEvents(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	start := w.onMonday()
	app := w.inFormalReview()

	fired, err := w.eng.RunTimers(w.ctx, start.AddDate(0, 0, 4))
	require.NoError(t, err)
	require.Zero(t, fired, "five working days have not passed by Friday")
	fired, err = w.eng.RunTimers(w.ctx, start.AddDate(0, 0, 7))
	require.NoError(t, err)
	require.Equal(t, 1, fired)
	hist, err := w.eng.History(w.ctx, w.users["staff"], app.ID)
	require.NoError(t, err)
	last := hist[len(hist)-1]
	require.Equal(t, "remind", last.Event)
	require.Nil(t, last.Actor, "the system fired it")
	fired, err = w.eng.RunTimers(w.ctx, start.AddDate(0, 0, 30))
	require.NoError(t, err)
	require.Zero(t, fired, "a timer fires once")
	require.True(t, w.verify().OK)
}

// A timer whose firing fails in the database (here a serialisation
// failure, as a deadlock or a lost connection would) is not spent: it fires
// on the next run. One whose event the rules refuse is.
func TestATimerSurvivesADatabaseFailure(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	start := w.onMonday()
	w.inFormalReview()

	_, err := w.db.Exec(`
CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = 'serialization_failure'; END $$;
CREATE TRIGGER fail_once BEFORE UPDATE ON applications FOR EACH ROW EXECUTE FUNCTION fail_once()`)
	require.NoError(t, err)
	_, err = w.eng.RunTimers(w.ctx, start.AddDate(0, 0, 7))
	require.Error(t, err)
	_, err = w.db.Exec(`DROP TRIGGER fail_once ON applications`)
	require.NoError(t, err)

	fired, err := w.eng.RunTimers(w.ctx, start.AddDate(0, 0, 7))
	require.NoError(t, err)
	require.Equal(t, 1, fired, "the timer was kept for another try")
	require.True(t, w.verify().OK)
}

// An Idempotency-Key is kept as sent, so one that cannot be (too long, not
// text) is refused before anything happens, from the API and the pages
// alike.
func TestIdempotencyKeysThatCannotBeKept(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	app := w.create("applicant", validData)
	for _, key := range []string{strings.Repeat("k", engine.MaxIdempotencyKey+1), "k\xff", "k\x00"} {
		_, err := w.eng.Fire(w.ctx, w.users["applicant"], app.ID, engine.FireInput{Event: "submit", IdempotencyKey: key})
		require.Equal(t, errs.BadRequest, code(err), "%q", key)
		require.Contains(t, errs.As(err).Fields, "Idempotency-Key")
	}
	got, err := w.eng.Get(w.ctx, w.users["applicant"], app.ID)
	require.NoError(t, err)
	require.Equal(t, "draft", got.State, "nothing happened")
	res, err := w.eng.Fire(w.ctx, w.users["applicant"], app.ID, engine.FireInput{Event: "submit",
		IdempotencyKey: strings.Repeat("键", engine.MaxIdempotencyKey/3)})
	require.NoError(t, err, "a key of 198 bytes is kept")
	require.Equal(t, "unit_review", res.Application.State)
}
