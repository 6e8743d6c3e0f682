package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/auth"
	"github.com/sciflow/sciflow/internal/bench"
	"github.com/sciflow/sciflow/internal/config"
	"github.com/sciflow/sciflow/internal/dbtest"
	"github.com/sciflow/sciflow/internal/demo"
	"github.com/sciflow/sciflow/internal/postgres"
)

// The scale bench's generator at a small size: exactly the applications
// asked for, each with the entries and review tasks of the story it copies,
// and the whole trail, generated chains and seals included, verifying
// exactly as a written one does, through the audit package and through
// `sciflow audit verify`. Altering one generated entry is then found.
func TestScaleGeneratorChainsVerifyAndCountsMatch(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dsn := dbtest.NewDSN(t)
	dir := t.TempDir()
	sys, server, err := openBenchSystem(ctx, dsn, dir, newLogger(config.Config{LogLevel: slog.LevelWarn}, io.Discard))
	require.NoError(t, err)
	defer sys.close()
	_, err = demo.Seed(ctx, sys.db, sys.accounts, sys.engine)
	require.NoError(t, err)
	var demoApps int
	require.NoError(t, sys.db.GetContext(ctx, &demoApps, `SELECT count(*) FROM applications`))

	owner, err := postgres.Open(ctx, dsn)
	require.NoError(t, err)
	defer owner.Close()
	hash, err := auth.HashPassword("Scale-test-password")
	require.NoError(t, err)
	// The load drops the bulk tables' indexes and builds them again.
	const indexes = `SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY indexname`
	var before, after []string
	require.NoError(t, owner.SelectContext(ctx, &before, indexes))

	const n = 200
	var progress bytes.Buffer
	gen, err := bench.Generate(ctx, owner, sys.engine, sys.chain, hash, bench.GenerateSettings{Apps: n, InFlight: 0.05,
		Years: 4, BatchEntries: 300, Seed: 7, Manifest: true}, &progress)
	require.NoError(t, err, progress.String())
	require.NoError(t, owner.SelectContext(ctx, &after, indexes))
	require.Equal(t, before, after, "every index is back, as it was defined")

	// Exactly n applications, every one in the manifest.
	require.EqualValues(t, n, gen.Apps)
	require.Len(t, gen.Manifest, n)
	var apps int
	require.NoError(t, owner.GetContext(ctx, &apps, `SELECT count(*) FROM applications`))
	require.Equal(t, demoApps+n, apps)
	// Several transactions, each sealed: the seals chain on from the
	// demo's.
	require.Greater(t, gen.Transactions, int64(1))
	require.Equal(t, gen.Transactions, gen.Seals)

	// Each application has the entries and tasks of the story it copies,
	// and its chain's head counts exactly its entries.
	var ids []string
	var entries, tasks []int64
	var sumEntries, sumTasks int64
	for id, e := range gen.Manifest {
		ids, entries, tasks = append(ids, id), append(entries, e.Entries), append(tasks, e.Tasks)
		sumEntries += e.Entries
		sumTasks += e.Tasks
		require.Positive(t, e.Entries, id)
	}
	require.Equal(t, gen.Entries, sumEntries)
	require.Equal(t, gen.Tasks, sumTasks)
	const mismatches = `
SELECT x.id::text || ': ' || coalesce((SELECT count(*) FROM audit_log l WHERE l.application_id = x.id), 0) || ' entries, head ' ||
    coalesce((SELECT c.count FROM audit_chains c WHERE c.chain = x.id::text), -1) || ', ' ||
    (SELECT count(*) FROM review_tasks t WHERE t.application_id = x.id) || ' tasks; want ' || x.entries || ', ' || x.tasks
FROM unnest($1::uuid[], $2::bigint[], $3::bigint[]) AS x (id, entries, tasks)
WHERE (SELECT count(*) FROM audit_log l WHERE l.application_id = x.id) <> x.entries
   OR (SELECT c.count FROM audit_chains c WHERE c.chain = x.id::text) IS DISTINCT FROM x.entries
   OR (SELECT count(*) FROM review_tasks t WHERE t.application_id = x.id) <> x.tasks`
	var wrong []string
	require.NoError(t, owner.SelectContext(ctx, &wrong, mismatches, pq.StringArray(ids), pq.Int64Array(entries), pq.Int64Array(tasks)))
	require.Empty(t, wrong)
	var total int64
	require.NoError(t, owner.GetContext(ctx, &total, `SELECT count(*) FROM review_tasks WHERE application_id = ANY ($1::uuid[])`,
		pq.StringArray(ids)))
	require.Equal(t, gen.Tasks, total)

	// Applicants, envoys registered alone and experts see their lists
	// through narrow rules, gathered rule by rule: paged to the end, a list
	// holds exactly the applications each may open, newest first.
	for _, q := range []string{
		`SELECT u.username FROM users u JOIN applications a ON a.org_id = u.org_id
         WHERE 'applicant' = ANY (u.roles) AND NOT u.individual AND u.password_hash = $1 GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1`,
		`SELECT u.username FROM users u JOIN applications a ON a.applicant_id = u.id
         WHERE u.individual AND u.password_hash = $1 GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1`,
		`SELECT u.username FROM users u JOIN review_tasks t ON t.assignee_id = u.id
         WHERE 'expert' = ANY (u.roles) AND u.password_hash = $1 GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1`,
	} {
		var username string
		require.NoError(t, owner.GetContext(ctx, &username, q, hash))
		viewer, err := sys.db.UserByUsername(ctx, username)
		require.NoError(t, err)
		var all, want []string
		require.NoError(t, owner.SelectContext(ctx, &all, `SELECT id FROM applications ORDER BY created_at DESC, id DESC`))
		for _, id := range all {
			if _, err := sys.db.Application(ctx, &viewer, id); err == nil {
				want = append(want, id)
			}
		}
		var got []string
		cursor := ""
		for {
			page, next, err := sys.db.Applications(ctx, &viewer, postgres.ApplicationFilter{Limit: 7, Cursor: cursor})
			require.NoError(t, err)
			for _, a := range page {
				got = append(got, a.ID)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		require.NotEmpty(t, want, username)
		require.Equal(t, want, got, username)
	}

	// The whole trail verifies, everything sealed, and the count covers
	// every generated entry and the accounts chain's new ones.
	r, err := sys.chain.Verify(ctx, sys.db)
	require.NoError(t, err)
	require.True(t, r.OK, "%+v", r.Problems)
	require.Zero(t, r.Unsealed)
	require.GreaterOrEqual(t, r.Checked, gen.Entries+gen.AccountEntries)
	require.GreaterOrEqual(t, r.Chains, int64(n))

	// Verification says how far it has got, step by step, to the end.
	var steps []string
	var last audit.Progress
	r, err = sys.chain.Reporting(func(p audit.Progress) {
		if len(steps) == 0 || steps[len(steps)-1] != p.Step {
			steps = append(steps, p.Step)
		}
		last = p
	}).Verify(ctx, sys.db)
	require.NoError(t, err)
	require.True(t, r.OK)
	require.Equal(t, []string{audit.StepLegacy, audit.StepChains, audit.StepSeals, audit.StepStates}, steps)
	require.Equal(t, r.Checked, last.Checked)
	require.Equal(t, r.Chains, last.Chains)

	// Checked with another key, every entry looks altered: the report
	// lists the first thousand and counts the rest, in bounded memory.
	other, err := audit.New("not the installation's secret, at least thirty-two characters").Verify(ctx, sys.db)
	require.NoError(t, err)
	require.False(t, other.OK)
	require.Len(t, other.Problems, 1000)
	require.GreaterOrEqual(t, int64(len(other.Problems))+other.Omitted, r.Checked)

	// And so says the command an operator runs.
	getenv := func(k string) string { return server.Env[k] }
	var out, errOut bytes.Buffer
	require.NoError(t, run(ctx, []string{"audit", "verify"}, getenv, strings.NewReader(""), &out, &errOut), "%s %s", &out, &errOut)
	require.Contains(t, out.String(), "ok: the audit chain is intact")

	// A generated entry altered by someone who got past the triggers is
	// found, at its chain and position.
	var seq int64
	var chain string
	require.NoError(t, owner.QueryRowxContext(ctx, `SELECT seq, chain FROM audit_log WHERE application_id = $1 ORDER BY chain_seq LIMIT 1`,
		ids[0]).Scan(&seq, &chain))
	_, err = owner.ExecContext(ctx, `ALTER TABLE audit_log DISABLE TRIGGER USER`)
	require.NoError(t, err)
	_, err = owner.ExecContext(ctx, `UPDATE audit_log SET content = replace(content, '"kind":', '"comment":"x","kind":') WHERE seq = $1`, seq)
	require.NoError(t, err)
	_, err = owner.ExecContext(ctx, `ALTER TABLE audit_log ENABLE TRIGGER USER`)
	require.NoError(t, err)
	r, err = sys.chain.Verify(ctx, sys.db)
	require.NoError(t, err)
	require.False(t, r.OK)
	require.Contains(t, r.Problems, audit.Problem{Seq: seq, Chain: chain, ChainSeq: 1, Kind: audit.ProblemAltered})
}

// `sciflow bench --scale` end to end at a tiny size: it generates, times
// every read path over HTTP as the people who read them, captures their
// plans (on a database given, not its own cluster, it says so and goes on)
// and verifies the trail with the real command. The figures are not
// judged; docs/BENCHMARKS.md has them from a real run.
func TestBenchScaleTimesEveryReadPath(t *testing.T) {
	t.Parallel()
	bin := buildSciflow(t)
	dsn := dbtest.NewDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"bench", "--scale", "60", "--reads", "3", "--json", "--database-url", dsn, "--server-binary", bin},
		func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	require.NoError(t, err, errOut.String())

	var rep bench.ScaleReport
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep), out.String())
	require.EqualValues(t, 60, rep.Generated.Apps)
	require.Positive(t, rep.Generated.Entries)
	var paths []string
	for _, r := range rep.Reads {
		paths = append(paths, r.Path)
		require.Equal(t, 3, r.Requests, "%+v", r)
		require.Positive(t, r.P50Ms, "%+v", r)
		require.LessOrEqual(t, r.P50Ms, r.P95Ms, "%+v", r)
		require.Positive(t, r.Items, "%+v", r)
	}
	require.Equal(t, []string{bench.PathInbox, bench.PathApplicant, bench.PathProgramme, bench.PathApplication, bench.PathRecord, bench.PathAuditEvent,
		bench.PathAuditActor, bench.PathAuditMonth, bench.PathAuditApp, bench.PathNotices, bench.PathPlan}, paths)
	require.NotNil(t, rep.PeakRSSMiB)
	require.NotNil(t, rep.PlanRefresh, "the dashboard was served from a computation in the background")
	require.Positive(t, rep.Server.PeakMiB)
	require.True(t, rep.Verify.OK, rep.Verify.Output)
	require.GreaterOrEqual(t, rep.Verify.Checked, rep.Generated.Entries)
	require.Positive(t, rep.Verify.PeakRSSMiB)
	require.Empty(t, rep.Explains)
	require.Contains(t, errOut.String(), "plans: not captured")
}
