package demo

import (
	"context"
	"log/slog"
	"net/http"
	"os"
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
	"github.com/sciflow/sciflow/internal/postgres"
	"github.com/sciflow/sciflow/internal/workflow"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const secret = "demo-test-secret-demo-test-secret!!"

// county is a fresh installation whose engine's clock stands at now.
type county struct {
	db       *postgres.DB
	chain    *audit.Chain
	eng      *engine.Engine
	accounts *account.Service
}

func newCounty(t *testing.T, now time.Time) county {
	t.Helper()
	db := dbtest.New(t)
	chain := audit.New(secret)
	eng := engine.New(db, chain, calendar.New(), slog.New(slog.DiscardHandler))
	defs, err := workflow.LoadDir(os.DirFS("../../workflows"))
	require.NoError(t, err)
	require.NoError(t, eng.Sync(context.Background(), defs))
	acc := account.New(db, chain, eng, secret)
	eng.SubmitGate = acc.SubmitGate
	eng.Now = func() time.Time { return now }
	return county{db: db, chain: chain, eng: eng, accounts: acc}
}

func (c county) seed(t *testing.T) []Login {
	t.Helper()
	started := time.Now()
	logins, err := Seed(context.Background(), c.db, c.accounts, c.eng)
	require.NoError(t, err)
	t.Logf("seeded in %s", time.Since(started).Round(time.Millisecond))
	return logins
}

// states counts applications by "workflow:state".
func (c county) states(t *testing.T) map[string]int {
	t.Helper()
	var rows []struct {
		Key string `db:"key"`
		N   int    `db:"n"`
	}
	require.NoError(t, c.db.Select(&rows, `SELECT workflow || ':' || state AS key, count(*) AS n FROM applications GROUP BY 1`))
	out := map[string]int{}
	for _, r := range rows {
		out[r.Key] = r.N
	}
	return out
}

func (c county) user(t *testing.T, username string) *identity.User {
	t.Helper()
	u, err := c.db.UserByUsername(context.Background(), username)
	require.NoError(t, err)
	return &u
}

// intact verifies the whole audit chain and every application's state
// against its history.
func (c county) intact(t *testing.T) audit.Report {
	t.Helper()
	report, err := c.chain.Verify(context.Background(), c.db)
	require.NoError(t, err)
	require.True(t, report.OK, "%+v", report.Problems)
	return report
}

// seeded is what the demo's stories leave, by workflow and state.
var seeded = map[string]int{
	"jiebang_challenge:awarded":           1,
	"jiebang_challenge:published":         2,
	"jiebang:in_progress":                 1,
	"jiebang:public_notice":               1,
	"jiebang:expert_review":               1,
	"jiebang:formal_review":               1,
	"jiebang:draft":                       1,
	"envoy:active":                        2,
	"envoy:appointed":                     1,
	"envoy_service:confirmed":             17,
	"envoy_service:awaiting_confirmation": 1,
	"envoy_assessment:graded":             1,
	"talent:approved":                     1,
	"talent:bureau_review":                1,
	"talent:employer_review":              1,
	"talent:public_notice":                1,
	"talent_instalment:paid":              1,
	"talent_instalment:employer_confirm":  1,
}

// believable checks what any seeding must leave, whatever the day: the
// counts by state, an intact audit chain, nothing dated after the present,
// no open task overdue, the open challenges taking applications for weeks
// yet, and two notices open for objections for days yet. It returns the
// chain's head count and the notices by title.
func (c county) believable(t *testing.T, now time.Time) (int64, map[string]noticeView) {
	t.Helper()
	ctx := context.Background()
	report := c.intact(t)
	require.Equal(t, seeded, c.states(t))
	var late int
	require.NoError(t, c.db.Get(&late, `SELECT count(*) FROM applications WHERE created_at > $1 OR updated_at > $1`, now))
	require.Zero(t, late, "nothing is dated after the present")
	require.NoError(t, c.db.Get(&late, `SELECT count(*) FROM review_tasks WHERE status = 'open' AND due_at <= $1`, now))
	require.Zero(t, late, "no open task is overdue")
	open, _, err := c.eng.List(ctx, c.user(t, "staff"), engine.ListInput{Workflow: "jiebang_challenge", State: "published"})
	require.NoError(t, err)
	require.Len(t, open, 2)
	for _, ch := range open {
		deadline, err := time.ParseInLocation(time.DateOnly, ch.Data["deadline"].(string), calendar.China)
		require.NoError(t, err)
		require.True(t, deadline.After(now.AddDate(0, 0, 20)), "%s closes on %s", ch.Data["title"], ch.Data["deadline"])
	}
	notices, err := c.eng.Notices(ctx)
	require.NoError(t, err)
	require.Len(t, notices, 2)
	count, err := c.eng.NoticeCount(ctx, "")
	require.NoError(t, err)
	require.Equal(t, 2, count, "counted as listed")
	for _, n := range notices {
		one, err := c.eng.Notice(ctx, n.ApplicationID)
		require.NoError(t, err)
		require.Equal(t, n, one, "read alone as listed")
	}
	// A page at a time, as the public list shows them: the pages make up the
	// list, in its order, and end.
	var paged []engine.NoticeItem
	cursor := ""
	for range notices {
		page, next, err := c.eng.NoticePage(ctx, "", cursor, 1)
		require.NoError(t, err)
		require.Len(t, page, 1)
		paged, cursor = append(paged, page...), next
	}
	require.Equal(t, notices, paged)
	require.Empty(t, cursor, "the last page says so")
	for _, n := range notices {
		page, next, err := c.eng.NoticePage(ctx, n.Workflow, "", engine.MaxNoticesPage)
		require.NoError(t, err)
		require.Empty(t, next)
		require.Contains(t, page, n)
		count, err := c.eng.NoticeCount(ctx, n.Workflow)
		require.NoError(t, err)
		require.Len(t, page, count, "one programme's, counted as listed")
		for _, other := range page {
			require.Equal(t, n.Workflow, other.Workflow)
		}
	}
	for _, bad := range []struct {
		cursor string
		limit  int
	}{{"", 0}, {"", engine.MaxNoticesPage + 1}, {"yesterday", 1}, {"1.x", 1}, {"12", 1}} {
		_, _, err := c.eng.NoticePage(ctx, "", bad.cursor, bad.limit)
		require.Equal(t, errs.Invalid, errs.CodeOf(err), "%+v", bad)
	}
	for _, id := range []string{open[0].ID, "not-an-id"} {
		_, err = c.eng.Notice(ctx, id)
		require.Equal(t, errs.NotFound, errs.CodeOf(err), "%s is not on notice", id)
	}
	byTitle := map[string]noticeView{}
	for _, n := range notices {
		require.True(t, n.Starts.Before(now) && n.Ends.After(now.Add(24*time.Hour)), "%s: %s to %s", n.Title, n.Starts, n.Ends)
		byTitle[n.Title] = noticeView{n.OrgName, n.Person, n.Amount}
	}
	return report.HeadCount, byTitle
}

// noticeView is what a public notice shows besides its title and period.
type noticeView struct {
	Org    string
	Person string
	Amount *float64
}

func TestSeedPlaysEveryProgramme(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now()
	c := newCounty(t, now)
	logins := c.seed(t)
	require.Len(t, logins, len(users), "every demo account is new, with its password")
	require.Equal(t, now, c.eng.Now(), "the engine's clock is given back")
	head, notices := c.believable(t, now)

	// 公示, as the public reads it (GET /api/v1/notices): the 揭榜
	// application and the talent approved yesterday.
	yunhai, talent := 1500000.0, 20000.0
	require.Equal(t, map[string]noticeView{
		"黄精多糖超临界萃取与膜分离纯化关键技术及产业化": {"重庆三峡云海药业股份有限公司", "", &yunhai},
		"梯城英才·紧缺人才": {hospitalName, "周小琴", &talent},
	}, notices)

	// The expert panel still at work: five drawn in the challenge's field,
	// none from the applicant, two scores in.
	auditor := c.user(t, "auditor")
	review, _, err := c.eng.List(ctx, auditor, engine.ListInput{Workflow: "jiebang", State: "expert_review"})
	require.NoError(t, err)
	require.Len(t, review, 1)
	stages, err := c.eng.ReviewRecord(ctx, auditor, review[0].ID)
	require.NoError(t, err)
	panel := stages[len(stages)-1]
	require.Len(t, panel.Draws, 1)
	require.Equal(t, "生物医药", panel.Draws[0].Specialty)
	require.Len(t, panel.Draws[0].Pool, 6, "a pool bigger than the panel")
	tea := c.user(t, "expert4")
	require.NotContains(t, panel.Draws[0].Pool, tea.ID, "never an expert of the applicant's organisation")
	status := map[string]int{}
	for _, task := range panel.Tasks {
		status[task.Status]++
	}
	require.Equal(t, map[string]int{"decided": 2, "open": 3}, status)

	// The dashboard counts what the stories did.
	leader := c.user(t, "leader")
	_, indicators, err := c.eng.PlanStats(ctx, leader)
	require.NoError(t, err)
	actual := map[string]float64{}
	for _, ind := range indicators {
		actual[ind.Key] = ind.Actual
	}
	for key, want := range map[string]float64{
		"challenges_posted": 3, "challenges_awarded": 1, "jiebang_committed": 1800000 + 1500000, "jiebang_disbursed": 720000,
		"envoys_appointed": 3, "envoys_active": 2, "envoy_services": 17, "envoy_technologies": 3, "envoy_varieties": 1,
		"talents_top": 1, "talent_paid": 166666.67,
	} {
		require.InDelta(t, want, actual[key], 0.001, key)
	}

	// Every account the stories acted as can see its part: the hospital
	// and the institute have a task each waiting, the village a service to
	// confirm.
	for who, want := range map[string]int{"hospital": 1, "institute": 1, "staff": 2, "leader": 0} {
		tasks, err := c.eng.Tasks(ctx, c.user(t, who), engine.TaskFilter{})
		require.NoError(t, err)
		require.Len(t, tasks, want, who)
	}
	pending, _, err := c.eng.List(ctx, c.user(t, "pingtian"), engine.ListInput{Workflow: "envoy_service", State: "awaiting_confirmation"})
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.Equal(t, []engine.Action{{Event: "confirm", Title: workflow.Text{Zh: "确认服务", En: "Confirm"}},
		{Event: "dispute", Title: workflow.Text{Zh: "不予确认", En: "Dispute"}}}, pending[0].Actions)

	// Seeding again makes nothing.
	again, err := Seed(ctx, c.db, c.accounts, c.eng)
	require.ErrorIs(t, err, ErrSeeded)
	require.Empty(t, again)
	require.Equal(t, seeded, c.states(t))
	require.Equal(t, head, c.intact(t).HeadCount, "not one more entry in the audit chain")
}

// TestSeedOnAnyDay: the demo is seeded whenever `make run` first starts, so
// its stories must hold on any day: on New Year's Day, on a Sunday in the
// Spring Festival and at night in the National Day holiday (the notice
// periods run longer, office hours move).
func TestSeedOnAnyDay(t *testing.T) {
	t.Parallel()
	for _, day := range []string{"2026-01-01T08:00:00+08:00", "2026-02-15T09:30:00+08:00", "2025-10-03T23:40:00+08:00"} {
		t.Run(day, func(t *testing.T) {
			t.Parallel()
			now, err := time.Parse(time.RFC3339, day)
			require.NoError(t, err)
			c := newCounty(t, now)
			c.seed(t)
			c.believable(t, now)
		})
	}
}

func TestIdentifiersCarryTheirCheckCharacters(t *testing.T) {
	t.Parallel()
	// A worked example: organisation code M000100Y4, credit code
	// 91350100M000100Y43.
	require.Equal(t, byte('4'), orgCodeCheck("M000100Y"))
	require.Equal(t, byte('3'), creditCheck("91350100M000100Y4"))
	for _, o := range orgs {
		if o.creditBody != "" {
			code := orgCredit(o.name)
			require.True(t, identity.ValidCreditCode(code), "%s: %s", o.name, code)
			require.Equal(t, yunyang, code[2:8])
		}
	}
	now := time.Now()
	for i := range 50 {
		male, female := residentID("19850314", i, true), residentID("19900101", i, false)
		require.True(t, identity.ValidResidentID(male, now), male)
		require.True(t, identity.ValidResidentID(female, now), female)
		require.Equal(t, 1, int(male[16]-'0')%2, "a man's order number is odd")
		require.Equal(t, 0, int(female[16]-'0')%2, "a woman's is even")
		require.True(t, identity.ValidPhone(mobile(i)), mobile(i))
	}
}

func TestPDFIsWellFormed(t *testing.T) {
	t.Parallel()
	b := pdf("sciflow demo attachment", "a (parenthesis) and a \\ backslash")
	require.Equal(t, "application/pdf", http.DetectContentType(b))
	require.Contains(t, string(b), `(a \(parenthesis\) and a \\ backslash) Tj`)
	require.Regexp(t, `startxref\n\d+\n%%EOF\n$`, string(b))
}
