package queue_test

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/dbtest"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/notify"
	"github.com/sciflow/sciflow/internal/postgres"
	"github.com/sciflow/sciflow/internal/queue"
	"github.com/sciflow/sciflow/internal/workflow"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// county is a bureau, a recommending unit with an enterprise under it, and
// the people of the project workflow's unit and formal stages.
type county struct {
	t      *testing.T
	ctx    context.Context
	db     *postgres.DB
	eng    *engine.Engine
	notify *notify.Service
	users  map[string]*identity.User
}

func newCounty(t *testing.T) *county {
	c := &county{t: t, ctx: context.Background(), db: dbtest.New(t), users: map[string]*identity.User{}}
	log := slog.New(slog.DiscardHandler)
	national := calendar.New()
	c.eng = engine.New(c.db, audit.New("queue-test-secret-queue-test-secret!"), national, log)
	defs, err := workflow.LoadDir(os.DirFS("../workflow/testdata/valid"))
	require.NoError(t, err)
	require.NoError(t, c.eng.Sync(c.ctx, defs))
	c.notify = notify.New(c.db, c.eng, national, nil, log)
	orgs := map[string]string{}
	for _, o := range []struct {
		name   string
		kind   identity.OrgKind
		parent string
	}{{"bureau", identity.Bureau, ""}, {"unit", identity.Bureau, ""}, {"alpha", identity.Enterprise, "unit"}} {
		org, err := c.db.CreateOrg(c.ctx, identity.Org{Name: o.name, Kind: o.kind, ParentID: orgs[o.parent]})
		require.NoError(t, err)
		orgs[o.name] = org.ID
	}
	for _, u := range []struct {
		name, org string
		role      identity.Role
	}{{"applicant", "alpha", identity.Applicant}, {"unit1", "unit", identity.UnitReviewer}, {"unit2", "unit", identity.UnitReviewer},
		{"staff", "bureau", identity.Staff}, {"leader", "bureau", identity.Leader}, {"leader2", "bureau", identity.Leader}} {
		created, err := c.db.CreateUser(c.ctx, identity.User{Username: u.name, Name: u.name, OrgID: orgs[u.org],
			Roles: []identity.Role{u.role}}, "not-a-real-hash")
		require.NoError(t, err)
		c.users[u.name] = &created
	}
	return c
}

// startQueue works the county's jobs until the test ends, as a server does.
func (c *county) startQueue() {
	c.t.Helper()
	q, err := queue.Start(c.ctx, queue.Deps{DB: c.db, Engine: c.eng, Notify: c.notify, Log: slog.New(slog.DiscardHandler)})
	require.NoError(c.t, err)
	c.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(c.t, q.Stop(ctx))
	})
}

func (c *county) notifications(user string) []notify.Notification {
	c.t.Helper()
	list, err := c.notify.List(c.ctx, c.users[user], false, 100)
	require.NoError(c.t, err)
	return list
}

func (c *county) kinds(user string) []string {
	var out []string
	for _, n := range c.notifications(user) {
		out = append(out, n.Kind)
	}
	return out
}

func (c *county) task(user string) engine.Task {
	c.t.Helper()
	tasks, err := c.eng.Tasks(c.ctx, c.users[user], engine.TaskFilter{})
	require.NoError(c.t, err)
	require.Len(c.t, tasks, 1)
	return tasks[0]
}

// TestEffectsBecomeNotifications runs the real queue: the side effects a
// transition queues reach the reviewers and the applicant within seconds.
func TestEffectsBecomeNotifications(t *testing.T) {
	t.Parallel()
	c := newCounty(t)
	c.startQueue()
	app, err := c.eng.Create(c.ctx, c.users["applicant"], engine.CreateInput{Workflow: "project",
		Data: map[string]any{"title": "新型电池材料", "field": "新材料", "budget": 100000}})
	require.NoError(t, err)
	_, err = c.eng.Fire(c.ctx, c.users["applicant"], app.ID, engine.FireInput{Event: "submit"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return len(c.notifications("unit1")) == 1 && len(c.notifications("unit2")) == 1
	}, 15*time.Second, 100*time.Millisecond, "each unit reviewer hears of their task")
	n := c.notifications("unit1")[0]
	require.Equal(t, "task", n.Kind)
	require.Equal(t, app.ID, n.ApplicationID)
	require.Contains(t, n.Title.Zh, "新型电池材料")
	require.Empty(t, c.notifications("applicant"), "nobody is told of what they did themselves")

	_, err = c.eng.Decide(c.ctx, c.users["unit1"], c.task("unit1").ID, engine.DecisionInput{Decision: "send_back",
		Questions: []string{"请补充预算明细"}})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(c.notifications("applicant")) == 1 }, 15*time.Second, 100*time.Millisecond)
	require.Equal(t, "returned", c.notifications("applicant")[0].Kind)
	require.NoError(t, c.notify.MarkRead(c.ctx, c.users["applicant"], c.notifications("applicant")[0].ID))
	unread, err := c.notify.List(c.ctx, c.users["applicant"], true, 100)
	require.NoError(t, err)
	require.Empty(t, unread)
	require.Error(t, c.notify.MarkRead(c.ctx, c.users["unit1"], c.notifications("applicant")[0].ID),
		"nobody marks another's notification")
	var pending int
	require.NoError(t, c.db.Get(&pending, `SELECT count(*) FROM river_job WHERE kind = 'effect' AND state <> 'completed'`))
	require.Zero(t, pending, "the outbox is consumed")
}

// TestReminders: one reminder a day per overdue task, none once it is done;
// escalation to every leader once, after the stage's extra working days.
func TestReminders(t *testing.T) {
	t.Parallel()
	c := newCounty(t)
	monday := time.Date(2026, 11, 30, 9, 0, 0, 0, calendar.China)
	c.eng.Now = func() time.Time { return monday }
	app, err := c.eng.Create(c.ctx, c.users["applicant"], engine.CreateInput{Workflow: "project",
		Data: map[string]any{"title": "新型电池材料", "field": "新材料", "budget": 100000}})
	require.NoError(t, err)
	_, err = c.eng.Fire(c.ctx, c.users["applicant"], app.ID, engine.FireInput{Event: "submit"})
	require.NoError(t, err)
	// The unit stage is due after five working days: midnight after Friday.
	remind := func(at time.Time) int {
		n, err := c.notify.Remind(c.ctx, at)
		require.NoError(t, err)
		return n
	}
	require.Zero(t, remind(monday.AddDate(0, 0, 4)), "Friday: not overdue yet")
	saturday := monday.AddDate(0, 0, 5)
	require.Equal(t, 2, remind(saturday), "one reminder to each of the two unit reviewers")
	require.Zero(t, remind(saturday.Add(6*time.Hour)), "at most once a day")
	require.Equal(t, []string{"reminder"}, c.kinds("unit1"))

	// unit1 decides; unit2 stays overdue.
	c.eng.Now = func() time.Time { return saturday.AddDate(0, 0, 1) }
	_, err = c.eng.Decide(c.ctx, c.users["unit1"], c.task("unit1").ID, engine.DecisionInput{Decision: "recommend"})
	require.NoError(t, err)
	require.Equal(t, 1, remind(saturday.AddDate(0, 0, 1)), "the next day: only the task still open")
	require.Equal(t, []string{"reminder"}, c.kinds("unit1"), "never after the task is done")
	require.Equal(t, []string{"reminder", "reminder"}, c.kinds("unit2"))
	require.Empty(t, c.notifications("leader"), "the unit stage does not escalate")

	// The formal stage escalates two working days after its deadline.
	_, err = c.eng.Decide(c.ctx, c.users["unit2"], c.task("unit2").ID, engine.DecisionInput{Decision: "recommend"})
	require.NoError(t, err)
	due := c.task("staff").Due // five working days from Sunday: midnight after Friday 12-11
	require.Equal(t, "2026-12-12", due.In(calendar.China).Format(time.DateOnly))
	require.Equal(t, 1, remind(due.Add(time.Hour)), "overdue: the reviewer is reminded, the leaders not yet")
	require.Empty(t, c.notifications("leader"))
	tuesday := due.AddDate(0, 0, 3).Add(9 * time.Hour)
	require.Equal(t, 1, remind(tuesday), "Monday and Tuesday are the two extra working days: not escalated yet")
	require.Empty(t, c.notifications("leader"))
	wednesday := tuesday.AddDate(0, 0, 1)
	require.Equal(t, 3, remind(wednesday), "a reminder and an escalation to each leader")
	require.Equal(t, []string{"escalation"}, c.kinds("leader"))
	require.Equal(t, []string{"escalation"}, c.kinds("leader2"))
	require.Equal(t, 1, remind(wednesday.AddDate(0, 0, 1)), "escalated once; reminded daily")
}

// Opened tasks are announced in batches after their transitions commit:
// once each however many servers announce at the same time, and not at all
// when the task was done before its round came.
func TestOpenedTasksAreAnnouncedOnce(t *testing.T) {
	t.Parallel()
	c := newCounty(t)
	var apps []string
	for _, title := range []string{"新型电池材料", "茶叶深加工", "智能灌溉"} {
		app, err := c.eng.Create(c.ctx, c.users["applicant"], engine.CreateInput{Workflow: "project",
			Data: map[string]any{"title": title, "field": "新材料", "budget": 100000}})
		require.NoError(t, err)
		_, err = c.eng.Fire(c.ctx, c.users["applicant"], app.ID, engine.FireInput{Event: "submit"})
		require.NoError(t, err)
		apps = append(apps, app.ID)
	}
	require.Empty(t, c.notifications("unit1"), "nothing is announced inside the transition")
	tasks, err := c.eng.Tasks(c.ctx, c.users["unit1"], engine.TaskFilter{})
	require.NoError(t, err)
	for _, task := range tasks {
		if task.ApplicationID == apps[2] {
			_, err = c.eng.Decide(c.ctx, c.users["unit1"], task.ID, engine.DecisionInput{Decision: "send_back",
				Questions: []string{"请补充预算明细"}})
			require.NoError(t, err)
		}
	}

	made := make([]int, 4)
	errs := make([]error, len(made))
	var wg sync.WaitGroup
	for i := range made {
		wg.Add(1)
		go func() {
			defer wg.Done()
			made[i], errs[i] = c.notify.AnnounceTasks(c.ctx)
		}()
	}
	wg.Wait()
	total := 0
	for i := range made {
		require.NoError(t, errs[i])
		total += made[i]
	}
	require.Equal(t, 4, total, "two reviewers of the two applications still under review")
	for _, user := range []string{"unit1", "unit2"} {
		var on []string
		for _, n := range c.notifications(user) {
			require.Equal(t, "task", n.Kind)
			on = append(on, n.ApplicationID)
		}
		require.ElementsMatch(t, apps[:2], on, user)
	}
	var left int
	require.NoError(t, c.db.Get(&left, `SELECT count(*) FROM tasks_to_announce`))
	require.Zero(t, left)
	again, err := c.notify.AnnounceTasks(c.ctx)
	require.NoError(t, err)
	require.Zero(t, again)
}
