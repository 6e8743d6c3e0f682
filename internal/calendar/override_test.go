package calendar_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/dbtest"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const secret = "calendar-test-secret-calendar-test!!"

func day(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := calendar.ParseDay(s)
	require.NoError(t, err)
	return d
}

// people makes an administrator and a member of staff.
func people(t *testing.T, db *postgres.DB) (admin, staff identity.User) {
	t.Helper()
	ctx := context.Background()
	org, err := db.CreateOrg(ctx, identity.Org{Name: "云阳县科学技术局", Kind: identity.Bureau})
	require.NoError(t, err)
	admin, err = db.CreateUser(ctx, identity.User{Username: "admin", Name: "管理员", OrgID: org.ID,
		Roles: []identity.Role{identity.Admin}}, "$argon2id$not-checked-here")
	require.NoError(t, err)
	staff, err = db.CreateUser(ctx, identity.User{Username: "staff", Name: "李经办", OrgID: org.ID,
		Roles: []identity.Role{identity.Staff}}, "$argon2id$not-checked-here")
	require.NoError(t, err)
	return admin, staff
}

// entry is what a calendar.override audit entry says.
type entry struct {
	ActorID string `json:"actor_id"`
	Subject string
	Data    struct {
		Action, Day, Note, Via string
		Working                bool
		Before                 *struct {
			Working bool
			Note    string
		}
	}
}

func overrideEntries(t *testing.T, db *postgres.DB) []entry {
	t.Helper()
	var rows []string
	require.NoError(t, db.Select(&rows, `SELECT content FROM audit_log WHERE kind = 'calendar.override' ORDER BY seq`))
	out := make([]entry, len(rows))
	for i, r := range rows {
		require.NoError(t, json.Unmarshal([]byte(r), &out[i]))
	}
	return out
}

func TestOverridesAreStoredAuditedAndInEffect(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	chain := audit.New(secret)
	ctx := context.Background()
	admin, staff := people(t, db)
	svc := calendar.NewService(db, chain, calendar.New())
	require.NoError(t, svc.Refresh(ctx), "an empty table loads")
	notice := func(c *calendar.Calendar) time.Time { return c.EndOfWorkingDays(day(t, "2026-09-28"), 5) }
	require.Equal(t, day(t, "2026-10-10"), notice(svc.Calendar))

	// An administrator gives 09-30 off: in effect in this process at once.
	o, err := svc.Set(ctx, &admin, day(t, "2026-09-30"), false, "  县庆放假  ")
	require.NoError(t, err)
	require.Equal(t, day(t, "2026-09-30"), o.Day)
	require.Equal(t, "县庆放假", o.Note, "the note is trimmed")
	require.Equal(t, admin.ID, o.SetBy)
	require.False(t, svc.IsWorkingDay(day(t, "2026-09-30")))
	require.Equal(t, day(t, "2026-10-11"), notice(svc.Calendar))

	// Another process sees it once it refreshes.
	other := calendar.NewService(db, chain, calendar.New())
	require.Equal(t, day(t, "2026-10-10"), notice(other.Calendar), "not before")
	require.NoError(t, other.Refresh(ctx))
	require.Equal(t, day(t, "2026-10-11"), notice(other.Calendar))

	// The console makes an ordinary Saturday a working day, then replaces
	// the 09-30 override.
	_, err = svc.Set(ctx, nil, day(t, "2026-11-28"), true, "")
	require.NoError(t, err)
	_, err = svc.Set(ctx, nil, day(t, "2026-09-30"), true, "改为上班")
	require.NoError(t, err)
	require.True(t, svc.IsWorkingDay(day(t, "2026-11-28")))
	require.True(t, svc.IsWorkingDay(day(t, "2026-09-30")))

	// Refused: not an administrator, a day out of range, a note too long.
	// Nothing of these is stored or audited.
	_, err = svc.Set(ctx, &staff, day(t, "2026-10-09"), false, "")
	require.Equal(t, errs.Forbidden, errs.CodeOf(err))
	_, err = svc.Set(ctx, &admin, day(t, "1999-12-31"), false, "")
	require.Equal(t, errs.Invalid, errs.CodeOf(err))
	require.Contains(t, errs.As(err).Fields, "day")
	_, err = svc.Set(ctx, &admin, day(t, "2101-01-03"), true, "")
	require.Contains(t, errs.As(err).Fields, "day")
	_, err = svc.Set(ctx, &admin, day(t, "2026-10-09"), false, strings.Repeat("假", calendar.MaxNote+1))
	require.Equal(t, errs.Invalid, errs.CodeOf(err))
	require.Contains(t, errs.As(err).Fields, "note")
	// 200 characters are 600 bytes here: the limit counts characters, as
	// the table's CHECK does.
	long, err := svc.Set(ctx, &admin, day(t, "2100-12-31"), false, strings.Repeat("假", calendar.MaxNote))
	require.NoError(t, err)
	require.Len(t, []rune(long.Note), calendar.MaxNote)

	list, err := svc.List(ctx)
	require.NoError(t, err)
	var days []string
	for _, o := range list {
		days = append(days, calendar.FormatDay(o.Day))
	}
	require.Equal(t, []string{"2026-09-30", "2026-11-28", "2100-12-31"}, days, "sorted by day")
	require.Equal(t, "改为上班", list[0].Note)
	require.Empty(t, list[0].SetBy, "set at the console")

	// Unset: the national table decides again; a second unset finds nothing.
	_, err = svc.Unset(ctx, &staff, day(t, "2026-11-28"))
	require.Equal(t, errs.Forbidden, errs.CodeOf(err))
	removed, err := svc.Unset(ctx, &admin, day(t, "2026-11-28"))
	require.NoError(t, err)
	require.True(t, removed.Working)
	require.False(t, svc.IsWorkingDay(day(t, "2026-11-28")))
	_, err = svc.Unset(ctx, &admin, day(t, "2026-11-28"))
	require.Equal(t, errs.NotFound, errs.CodeOf(err))

	entries := overrideEntries(t, db)
	require.Len(t, entries, 5, "four sets and one unset; refusals leave nothing")
	first := entries[0]
	require.Equal(t, admin.ID, first.ActorID)
	require.Equal(t, "2026-09-30", first.Subject)
	require.Equal(t, "set", first.Data.Action)
	require.False(t, first.Data.Working)
	require.Equal(t, "县庆放假", first.Data.Note)
	require.Equal(t, "api", first.Data.Via)
	require.Nil(t, first.Data.Before)
	replaced := entries[2]
	require.Empty(t, replaced.ActorID)
	require.Equal(t, "console", replaced.Data.Via)
	require.True(t, replaced.Data.Working)
	require.NotNil(t, replaced.Data.Before, "a replaced override says what it was")
	require.False(t, replaced.Data.Before.Working)
	require.Equal(t, "县庆放假", replaced.Data.Before.Note)
	unset := entries[4]
	require.Equal(t, "unset", unset.Data.Action)
	require.Equal(t, "2026-11-28", unset.Data.Day)
	require.True(t, unset.Data.Working, "what was removed")
	require.Equal(t, admin.ID, unset.ActorID)

	r, err := chain.Verify(ctx, db)
	require.NoError(t, err)
	require.True(t, r.OK, "%+v", r.Problems)
}

// A server rereads the overrides (each minute, a round of its own): what
// another process changed counts from its next refresh.
func TestRefreshSeesAnotherProcesssChange(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	chain := audit.New(secret)
	ctx := context.Background()
	writer := calendar.NewService(db, chain, calendar.New())
	reader := calendar.NewService(db, chain, calendar.New())
	require.NoError(t, reader.Refresh(ctx))

	saturday := day(t, "2026-11-28")
	require.False(t, reader.IsWorkingDay(saturday))
	_, err := writer.Set(ctx, nil, saturday, true, "补班")
	require.NoError(t, err)
	require.False(t, reader.IsWorkingDay(saturday), "not before its refresh")
	require.NoError(t, reader.Refresh(ctx))
	require.True(t, reader.IsWorkingDay(saturday))
	_, err = writer.Unset(ctx, nil, saturday)
	require.NoError(t, err)
	require.NoError(t, reader.Refresh(ctx))
	require.False(t, reader.IsWorkingDay(saturday))
}
