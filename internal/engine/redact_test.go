package engine_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/postgres"
)

// A finished application, past its retention period, loses the names of
// its team (the field the form marks x-personal) from its form and from
// every entry that carried them, keeps everything else, and its chain still
// verifies, sealed or not; the redacted entries cannot then be changed
// unnoticed, nor redacted by hand.
func TestRedaction(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	team := []any{map[string]any{"name": "张三", "title": "高级工程师"}, map[string]any{"name": "李四"}}
	data := map[string]any{"title": "茶叶深加工关键技术", "budget": 800000, "team": team}
	app := w.create("applicant", data)
	_, err := w.eng.Patch(w.ctx, w.users["applicant"], app.ID, app.Version,
		map[string]any{"team": []any{map[string]any{"name": "王五", "title": "工程师"}}, "summary": "提升附加值"})
	require.NoError(t, err)
	w.mustFire("applicant", app.ID, "submit")
	w.sealed(app.ID)

	_, err = w.eng.Redact(w.ctx, w.users["admin"], app.ID)
	require.Equal(t, errs.Conflict, code(err), "a running application keeps its data")
	_, err = w.fire("applicant", app.ID, "withdraw", "不再申报", nil)
	require.NoError(t, err)
	_, err = w.eng.Redact(w.ctx, w.users["admin"], app.ID)
	require.Equal(t, errs.Conflict, code(err), "finished today: the retention period has not passed")
	require.Contains(t, errs.As(err).Msg.Zh, "保存期限未满")

	later := time.Now().AddDate(engine.DefaultRetentionYears, 0, 1)
	w.eng.Now = func() time.Time { return later }
	_, err = w.eng.Redact(w.ctx, w.users["staff"], app.ID)
	require.Equal(t, errs.Forbidden, code(err), "staff may see it but not redact it")
	_, err = w.eng.Redact(w.ctx, w.users["rival"], app.ID)
	require.Equal(t, errs.NotFound, code(err), "nor may anyone who cannot see it learn it exists")

	red, err := w.eng.Redact(w.ctx, w.users["admin"], app.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"team[].name"}, red.Fields)
	require.Equal(t, 1, red.Entries, "the data patch and nothing else carried names (create records only a digest)")

	got, err := w.eng.Get(w.ctx, w.users["staff"], app.ID)
	require.NoError(t, err)
	require.Equal(t, []any{map[string]any{"title": "工程师"}}, got.Data["team"])
	require.Equal(t, "茶叶深加工关键技术", got.Data["title"], "what is not personal stays")
	require.NotNil(t, got.Redacted)

	// Nothing in the trail names the team any more; the record of who did
	// what stays, and says it was redacted.
	var kinds []string
	r, err := w.chain.ReadChain(w.ctx, w.db, app.ID, func(rec audit.Recorded, _ postgres.ChainRow) error {
		kinds = append(kinds, rec.Kind)
		for _, name := range []string{"张三", "李四", "王五"} {
			require.NotContains(t, fmtEntry(rec), name)
		}
		return nil
	})
	require.NoError(t, err)
	require.True(t, r.OK, "%+v", r.Problems)
	require.Equal(t, []string{"transition", "data.patch", "transition", "transition", "application.redact"}, kinds)
	rep := w.verify()
	require.True(t, rep.OK, "%+v", rep.Problems)
	w.sealed(app.ID)
	require.True(t, w.verify().OK)

	again, err := w.eng.Redact(w.ctx, w.users["admin"], app.ID)
	require.NoError(t, err)
	require.Zero(t, again.Entries, "nothing new to remove, nothing recorded")

	// The app role may only strip data, with a digest: anything else is refused.
	for _, q := range []string{
		`UPDATE audit_log SET content = jsonb_set(content::jsonb, '{kind}', '"x"')::text, redacted_sha256 = 'x', redaction_sig = 'x' WHERE kind = 'data.patch'`,
		`UPDATE audit_log SET redacted_sha256 = NULL, redaction_sig = NULL WHERE kind = 'data.patch'`,
		`UPDATE audit_log SET redacted_sha256 = 'other' WHERE kind = 'data.patch'`,
		`UPDATE audit_log SET hash = 'x' WHERE kind = 'data.patch'`,
	} {
		_, err := w.db.Exec(q)
		require.ErrorContains(t, err, "append-only", q)
	}
	// A redacted entry changed within what the trigger allows (its comment
	// or data), without the key: verification names it.
	_, err = w.db.Exec(`UPDATE audit_log SET content = jsonb_set(content::jsonb, '{data,patch,summary}', '"改过"')::text
		WHERE application_id = $1 AND kind = 'data.patch'`, app.ID)
	require.NoError(t, err)
	rep = w.verify()
	require.False(t, rep.OK)
	require.Len(t, rep.Problems, 1)
	require.Equal(t, audit.ProblemAltered, rep.Problems[0].Kind)
}

// The sweep redacts what is due and only that.
func TestRedactDue(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	team := []any{map[string]any{"name": "张三"}}
	old := w.create("applicant", map[string]any{"title": "茶叶深加工关键技术", "budget": 800000, "team": team})
	w.mustFire("applicant", old.ID, "withdraw")
	running := w.create("applicant", map[string]any{"title": "茶叶深加工关键技术", "budget": 800000, "team": team})

	due, err := w.eng.RedactDue(w.ctx, time.Time{})
	require.NoError(t, err)
	require.Empty(t, due, "nothing has passed its retention period")

	later := time.Now().AddDate(engine.DefaultRetentionYears, 0, 1)
	w.eng.Now = func() time.Time { return later }
	due, err = w.eng.RedactDue(w.ctx, time.Time{})
	require.NoError(t, err)
	require.Len(t, due, 1)
	require.Equal(t, old.ID, due[0].ApplicationID)
	due, err = w.eng.RedactDue(w.ctx, time.Time{})
	require.NoError(t, err)
	require.Empty(t, due, "redacted once")
	got, err := w.eng.Get(w.ctx, w.users["applicant"], running.ID)
	require.NoError(t, err)
	require.Equal(t, team, got.Data["team"])
	require.True(t, w.verify().OK)
}

func fmtEntry(rec audit.Recorded) string {
	b, _ := json.Marshal(rec.Entry)
	return string(b)
}

// A workflow that marks more personal later brings the sweep back to the
// applications it redacted before, once: what is newly marked goes, and
// an application checked against everything marked is left alone.
func TestRedactDueComesBackForWhatIsMarkedLater(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	app := w.create("applicant", map[string]any{"title": "茶叶深加工关键技术", "budget": 800000,
		"summary": "张三牵头", "team": []any{map[string]any{"name": "张三"}}})
	w.mustFire("applicant", app.ID, "withdraw")
	later := time.Now().AddDate(engine.DefaultRetentionYears, 0, 1)
	w.eng.Now = func() time.Time { return later }
	sweep := func() []engine.Redaction {
		t.Helper()
		due, err := w.eng.RedactDue(w.ctx, time.Time{})
		require.NoError(t, err)
		return due
	}
	due := sweep()
	require.Len(t, due, 1)
	require.Equal(t, []string{"team[].name"}, due[0].Fields)
	require.Empty(t, sweep(), "checked against everything marked: left alone")

	// The next version marks the summary personal too.
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(w.defDir)))
	form := filepath.Join(dir, "grant.form.json")
	raw, err := os.ReadFile(form)
	require.NoError(t, err)
	marked := strings.Replace(string(raw), `"summary": {"type": "string", "maxLength": 5000}`,
		`"summary": {"type": "string", "maxLength": 5000, "x-personal": true}`, 1)
	require.NotEqual(t, string(raw), marked)
	require.NoError(t, os.WriteFile(form, []byte(marked), 0o644))
	w.sync(dir)

	due = sweep()
	require.Len(t, due, 1, "redacted before the summary was marked: redacted again")
	require.Equal(t, app.ID, due[0].ApplicationID)
	require.Equal(t, []string{"summary"}, due[0].Fields)
	got, err := w.eng.Get(w.ctx, w.users["staff"], app.ID)
	require.NoError(t, err)
	require.NotContains(t, got.Data, "summary")
	require.Equal(t, "茶叶深加工关键技术", got.Data["title"])
	require.Empty(t, sweep(), "once")

	// A redaction from before what it checked was kept is checked once more.
	_, err = w.db.Exec(`UPDATE applications SET redacted_personal = NULL WHERE id = $1`, app.ID)
	require.NoError(t, err)
	due = sweep()
	require.Len(t, due, 1)
	require.Empty(t, due[0].Fields, "nothing left to remove, but the check is recorded")
	require.Empty(t, sweep())
	require.True(t, w.verify().OK)
}
