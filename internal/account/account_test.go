package account_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"

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

const secret = "account-test-secret-account-test!!"

func service(t *testing.T) (*account.Service, *postgres.DB, *audit.Chain) {
	t.Helper()
	db := dbtest.New(t)
	chain := audit.New(secret)
	eng := engine.New(db, chain, calendar.New(), slog.New(slog.DiscardHandler))
	defs, err := workflow.LoadDir(os.DirFS("../../workflows"))
	require.NoError(t, err)
	require.NoError(t, eng.Sync(context.Background(), defs))
	return account.New(db, chain, eng, secret), db, chain
}

// trail is every account entry in the chain: kind, subject and the "via".
func trail(t *testing.T, db *postgres.DB) []string {
	t.Helper()
	var rows []string
	require.NoError(t, db.Select(&rows, `SELECT content FROM audit_log WHERE kind IN ('org.create', 'user.create', 'user.change') ORDER BY seq`))
	var out []string
	for _, r := range rows {
		var e struct {
			Kind string
			Data map[string]any
		}
		require.NoError(t, json.Unmarshal([]byte(r), &e))
		out = append(out, e.Kind+" "+fmtAny(e.Data["via"])+" "+fmtAny(e.Data["password"]))
	}
	return out
}

func fmtAny(v any) string {
	if v == nil {
		return "-"
	}
	return v.(string)
}

func TestEveryAccountChangeIsInTheTrail(t *testing.T) {
	t.Parallel()
	acc, db, chain := service(t)
	ctx := context.Background()
	org, err := acc.CreateOrg(ctx, nil, identity.Org{Name: "云阳县科学技术局", Kind: identity.Bureau})
	require.NoError(t, err)
	admin, err := acc.CreateUser(ctx, nil, account.NewUser{User: identity.User{Username: "admin", Name: "管理员", OrgID: org.ID,
		Roles: []identity.Role{identity.Admin}}, Password: "Yunyang-2026!a"})
	require.NoError(t, err)
	leader, err := acc.CreateUser(ctx, &admin, account.NewUser{User: identity.User{Username: "leader", Name: "王局长", OrgID: org.Name,
		Roles: []identity.Role{identity.Leader}}, Password: "Yunyang-2026!b"})
	require.NoError(t, err)
	_, err = acc.CreateUser(ctx, &leader, account.NewUser{User: identity.User{Username: "x", Name: "x", OrgID: org.ID,
		Roles: []identity.Role{identity.Staff}}, Password: "Yunyang-2026!c"})
	require.Equal(t, errs.Forbidden, errs.CodeOf(err), "a leader cannot create users")
	_, err = acc.UpdateUser(ctx, &admin, "leader", account.UserChange{Roles: []identity.Role{identity.Leader, identity.Staff}})
	require.NoError(t, err)
	require.NoError(t, acc.SetPassword(ctx, nil, "leader", "Yunyang-2026!d"))
	_, _, err = acc.IssueReset(ctx, &admin, "leader")
	require.NoError(t, err)
	_, err = acc.UpdateUser(ctx, &admin, "leader", account.UserChange{Roles: []identity.Role{identity.Leader, identity.Auditor}})
	require.Equal(t, errs.Invalid, errs.CodeOf(err), "an auditor audits nobody's decisions but others'")
	_, err = acc.UpdateUser(ctx, &admin, "admin", account.UserChange{Roles: []identity.Role{identity.Staff}})
	require.Equal(t, errs.Forbidden, errs.CodeOf(err), "no one changes their own roles")

	require.Equal(t, []string{
		"org.create console -",
		"user.create console -",
		"user.create api -",
		"user.change api -",
		"user.change - set",
		"user.change - reset link issued",
	}, trail(t, db))
	r, err := chain.Verify(ctx, db)
	require.NoError(t, err)
	require.True(t, r.OK, "%+v", r.Problems)
}

func TestExpertProfile(t *testing.T) {
	t.Parallel()
	acc, db, _ := service(t)
	ctx := context.Background()
	org, err := acc.CreateOrg(ctx, nil, identity.Org{Name: "研究院", Kind: identity.Institute})
	require.NoError(t, err)
	tea, err := acc.CreateOrg(ctx, nil, identity.Org{Name: "茶业公司", Kind: identity.Enterprise, CreditCode: "911100007109288314"})
	require.NoError(t, err)
	u, err := acc.CreateUser(ctx, nil, account.NewUser{User: identity.User{Username: "expert", Name: "钱教授", OrgID: org.ID,
		Roles: []identity.Role{identity.Expert}}, Password: "Yunyang-2026!e", Specialties: []string{"茶叶加工", "农业"},
		ConflictOrgs: []string{"茶业公司"}})
	require.NoError(t, err)
	p, err := db.ExpertProfile(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"农业", "茶叶加工"}, p.Specialties)
	require.Equal(t, []string{tea.ID}, p.ConflictOrgs)

	// Changing the roles alone keeps the specialties and conflicts.
	_, err = acc.UpdateUser(ctx, nil, u.ID, account.UserChange{Roles: []identity.Role{identity.Expert}})
	require.NoError(t, err)
	p, err = db.ExpertProfile(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"农业", "茶叶加工"}, p.Specialties)
	require.Equal(t, []string{tea.ID}, p.ConflictOrgs)

	_, err = acc.CreateUser(ctx, nil, account.NewUser{User: identity.User{Username: "staffer", Name: "x", OrgID: org.ID,
		Roles: []identity.Role{identity.Staff}}, Password: "Yunyang-2026!c", Specialties: []string{"农业"}})
	require.Equal(t, errs.Invalid, errs.CodeOf(err), "only experts have specialties")
	_, err = acc.CreateOrg(ctx, nil, identity.Org{Name: "冒名公司", Kind: identity.Enterprise, CreditCode: "911100007109288314"})
	require.Contains(t, errs.As(err).Fields, "credit_code")
}

func TestRegistrationsPerAddressAreLimited(t *testing.T) {
	t.Parallel()
	acc, _, _ := service(t)
	ctx := context.Background()
	_, err := acc.CreateOrg(ctx, nil, identity.Org{Name: "云阳县人民医院", Kind: identity.Employer})
	require.NoError(t, err)
	reg := func(i int, addr string) error {
		_, _, err := acc.Register(ctx, account.Registration{Kind: account.RegisterIndividual, Username: "talent" + string(rune('a'+i)),
			Password: "Yunyang-2026!", Name: "人才", Phone: "13800000000", Employer: "云阳县人民医院", Address: addr})
		return err
	}
	for i := range account.MaxRegistrations {
		require.NoError(t, reg(i, "198.51.100.7"))
	}
	err = reg(account.MaxRegistrations, "198.51.100.7")
	require.Equal(t, errs.TooMany, errs.CodeOf(err))
	require.Positive(t, errs.As(err).RetryAfter)
	require.NoError(t, reg(account.MaxRegistrations+1, "198.51.100.8"), "another address is not held back")
}

// userEntries is the data of every account entry about one user, oldest
// first.
func userEntries(t *testing.T, db *postgres.DB, userID string) []map[string]any {
	t.Helper()
	var rows []string
	require.NoError(t, db.Select(&rows, `SELECT content FROM audit_log WHERE kind IN ('user.create', 'user.change') ORDER BY seq`))
	var out []map[string]any
	for _, r := range rows {
		var e struct {
			Subject string
			Data    map[string]any
		}
		require.NoError(t, json.Unmarshal([]byte(r), &e))
		if e.Subject == userID {
			out = append(out, e.Data)
		}
	}
	return out
}

func TestEmailIsStoredChangedClearedAndAudited(t *testing.T) {
	t.Parallel()
	acc, db, chain := service(t)
	ctx := context.Background()
	org, err := acc.CreateOrg(ctx, nil, identity.Org{Name: "云阳县科学技术局", Kind: identity.Bureau})
	require.NoError(t, err)
	admin, err := acc.CreateUser(ctx, nil, account.NewUser{User: identity.User{Username: "admin", Name: "管理员", OrgID: org.ID,
		Roles: []identity.Role{identity.Admin}}, Password: "Yunyang-2026!a"})
	require.NoError(t, err)
	require.Empty(t, admin.Email, "the address is optional")

	staff, err := acc.CreateUser(ctx, &admin, account.NewUser{User: identity.User{Username: "staff", Name: "李经办", OrgID: org.ID,
		Roles: []identity.Role{identity.Staff}, Email: " Li.Jingban@YunYang.GOV.cn "}, Password: "Yunyang-2026!b"})
	require.NoError(t, err)
	require.Equal(t, "Li.Jingban@yunyang.gov.cn", staff.Email, "trimmed, the domain lower-cased")
	stored, err := db.User(ctx, staff.ID)
	require.NoError(t, err)
	require.Equal(t, "Li.Jingban@yunyang.gov.cn", stored.Email)

	for _, bad := range []string{"no-at-sign.example.com", "li jingban@example.com", "A <a@b.cn>", strings.Repeat("a", 300)} {
		_, err := acc.CreateUser(ctx, &admin, account.NewUser{User: identity.User{Username: "bad", Name: "x", OrgID: org.ID,
			Roles: []identity.Role{identity.Staff}, Email: bad}, Password: "Yunyang-2026!c"})
		require.Equal(t, errs.Invalid, errs.CodeOf(err), bad)
		require.Contains(t, errs.As(err).Fields, "email", bad)
		_, err = acc.UpdateUser(ctx, &admin, "staff", account.UserChange{Email: &bad})
		require.Equal(t, errs.Invalid, errs.CodeOf(err), bad)
		require.Contains(t, errs.As(err).Fields, "email", bad)
	}
	_, err = db.UserByUsername(ctx, "bad")
	require.Equal(t, errs.NotFound, errs.CodeOf(err), "a refused address creates nobody")

	changed := "li@example.com"
	u, err := acc.UpdateUser(ctx, &admin, "staff", account.UserChange{Email: &changed})
	require.NoError(t, err)
	require.Equal(t, changed, u.Email)
	name := "李经办人"
	_, err = acc.UpdateUser(ctx, &admin, "staff", account.UserChange{Name: &name})
	require.NoError(t, err)
	stored, err = db.User(ctx, staff.ID)
	require.NoError(t, err)
	require.Equal(t, changed, stored.Email, "a change that leaves the address out keeps it, and no bad address got in")

	cleared := ""
	u, err = acc.UpdateUser(ctx, nil, "staff", account.UserChange{Email: &cleared})
	require.NoError(t, err)
	require.Empty(t, u.Email)
	var isNull bool
	require.NoError(t, db.Get(&isNull, `SELECT email IS NULL FROM users WHERE id = $1`, staff.ID))
	require.True(t, isNull, "no address is stored as NULL, which notify reads as 'do not mail'")

	entries := userEntries(t, db, staff.ID)
	require.Len(t, entries, 4)
	require.Equal(t, "Li.Jingban@yunyang.gov.cn", entries[0]["email"], "creation records the first address")
	require.Equal(t, "Li.Jingban@yunyang.gov.cn", entries[1]["email_before"])
	require.Equal(t, changed, entries[1]["email"])
	require.NotContains(t, entries[2], "email", "an unchanged address is not copied into the entry")
	require.NotContains(t, entries[2], "email_before")
	require.Equal(t, changed, entries[3]["email_before"])
	require.Equal(t, "", entries[3]["email"])
	require.Equal(t, "console", entries[3]["via"])
	r, err := chain.Verify(ctx, db)
	require.NoError(t, err)
	require.True(t, r.OK, "%+v", r.Problems)
}

func TestRegistrationTakesAnOptionalEmail(t *testing.T) {
	t.Parallel()
	acc, db, _ := service(t)
	ctx := context.Background()
	_, err := acc.CreateOrg(ctx, nil, identity.Org{Name: "云阳县人民医院", Kind: identity.Employer})
	require.NoError(t, err)
	reg := account.Registration{Kind: account.RegisterIndividual, Username: "talent", Password: "Yunyang-2026!",
		Name: "孙研究员", Phone: "13800000000", Employer: "云阳县人民医院", Address: "198.51.100.7", Email: "sun@"}
	_, _, err = acc.Register(ctx, reg)
	require.Equal(t, errs.Invalid, errs.CodeOf(err))
	require.Contains(t, errs.As(err).Fields, "email")

	reg.Email = "Sun@Hospital.Example.CN"
	u, _, err := acc.Register(ctx, reg)
	require.NoError(t, err)
	stored, err := db.User(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, "Sun@hospital.example.cn", stored.Email)

	reg.Username, reg.Email = "talent2", ""
	u, _, err = acc.Register(ctx, reg)
	require.NoError(t, err, "the address is optional")
	require.Empty(t, u.Email)
}

// Every applicant's submission asks whether their registration is still
// pending; the answer comes from the index of pending registrations
// (migration 014), whose predicate spells out the verification workflow
// and its verified state: were either renamed here, the index would no
// longer serve it.
func TestPendingRegistrationsAreIndexed(t *testing.T) {
	t.Parallel()
	_, db, _ := service(t)
	ctx := context.Background()
	tx, err := db.BeginTxx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `SET LOCAL plan_cache_mode = force_generic_plan`)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, `PREPARE gate (uuid) AS SELECT EXISTS (SELECT 1 FROM applications WHERE workflow = '`+
		account.VerificationWorkflow+`' AND applicant_id = $1 AND state <> '`+account.VerifiedState+`')`)
	require.NoError(t, err)
	var plan []string
	require.NoError(t, tx.SelectContext(ctx, &plan, `EXPLAIN EXECUTE gate ('00000000-0000-4000-8000-000000000001')`))
	require.Contains(t, strings.Join(plan, "\n"), "applications_pending_registration_idx")
}

// The lock a submission takes reads whether the applicant's registration
// is pending, so that the gate asks the database nothing more.
func TestTheSubmissionsLockReadsTheRegistration(t *testing.T) {
	t.Parallel()
	acc, db, _ := service(t)
	ctx := context.Background()
	_, err := acc.CreateOrg(ctx, nil, identity.Org{Name: "云阳县人民医院", Kind: identity.Employer})
	require.NoError(t, err)
	user, verification, err := acc.Register(ctx, account.Registration{Kind: account.RegisterIndividual, Username: "talent",
		Password: "Yunyang-2026!", Name: "人才", Phone: "13800000000", Employer: "云阳县人民医院", Address: "198.51.100.7"})
	require.NoError(t, err)

	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback()
	_, _, err = tx.LockApplicationWithHistory(ctx, &user, verification.ID)
	require.NoError(t, err)
	gone, cancel := context.WithCancel(ctx)
	cancel()
	pending, err := tx.UnverifiedRegistration(gone, user.ID, account.VerificationWorkflow, account.VerifiedState)
	require.NoError(t, err, "answered from the lock's read, without the database")
	require.True(t, pending)
	_, err = tx.UnverifiedRegistration(gone, "00000000-0000-4000-8000-000000000001", account.VerificationWorkflow, account.VerifiedState)
	require.Error(t, err, "someone else's is asked")
}
