package bench

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
)

// The floor is what a submission's own writes cost PostgreSQL with next to
// nothing of the engine around them: the same statements the engine sends
// (the postgres package's, prepared on a pool of their own), in the same
// order, with their arguments made up directly instead of from a workflow's
// definition, a form's schema, a guard, the fsm, the answer's actions. Where
// the baseline measures the least a transition can be in PostgreSQL, the
// floor measures the least this transition can be: the engine's distance
// from it is the engine's own cost, its distance from the baseline the cost
// of what a submission records.
//
// It writes to copies of the tables a submission touches, in a schema of
// its own (floorSchema) with their columns, generated columns, indexes and
// keys, so that its entries stay out of the audit chain the bench verifies;
// its pool finds them first on its search path.

// floorSchema holds the floor's copies of the tables a submission writes.
const floorSchema = "bench_floor"

// floorTables are the tables a submission reads under its lock or writes.
var floorTables = []string{"applications", "audit_log", "audit_chains", "review_stages", "review_tasks",
	"tasks_to_announce", "timers"}

// createFloorSchema copies floorTables into floorSchema, as the owner of
// the database: each with its columns, defaults, generated columns, checks
// and indexes, and each foreign key again, pointing at the copy where the
// referenced table has one and at the original otherwise (users, orgs).
func createFloorSchema(ctx context.Context, owner *postgres.DB) error {
	stmts := []string{`CREATE SCHEMA ` + floorSchema}
	for _, t := range floorTables {
		stmts = append(stmts, fmt.Sprintf(`CREATE TABLE %s.%s (LIKE public.%s INCLUDING ALL)`, floorSchema, t, t))
	}
	var keys []struct {
		Table string `db:"tab"`
		Name  string `db:"conname"`
		Def   string `db:"def"`
	}
	const q = `
SELECT c.conrelid::regclass::text AS tab, c.conname, pg_get_constraintdef(c.oid) AS def
FROM pg_constraint c
WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace AND c.conrelid::regclass::text = ANY ($1)
ORDER BY 1, 2`
	if err := owner.SelectContext(ctx, &keys, q, pq.StringArray(floorTables)); err != nil {
		return fmt.Errorf("floor: read foreign keys: %w", err)
	}
	references := regexp.MustCompile(`REFERENCES ([a-z_]+)\(`)
	for _, k := range keys {
		def := references.ReplaceAllStringFunc(k.Def, func(m string) string {
			table := references.FindStringSubmatch(m)[1]
			schema := "public"
			if slices.Contains(floorTables, table) {
				schema = floorSchema
			}
			return "REFERENCES " + schema + "." + table + "("
		})
		stmts = append(stmts, fmt.Sprintf(`ALTER TABLE %s.%s ADD CONSTRAINT %s %s`, floorSchema, k.Table, k.Name, def))
	}
	for _, s := range stmts {
		if _, err := owner.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("floor: %s: %w", s, err)
		}
	}
	return nil
}

// openFloor opens the floor's pool: the engine's pool settings
// (postgres.Open), its tables found in floorSchema first, and the engine
// pool's knowledge of public states and the registration gate, so that
// its lock statement is the engine's. It connects as the database's owner.
func openFloor(ctx context.Context, ownerDSN string, engineDB *postgres.DB) (*postgres.DB, error) {
	dsn, err := postgres.WithParam(ownerDSN, "search_path", floorSchema+",public")
	if err != nil {
		return nil, err
	}
	db, err := postgres.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	db.MirrorSettings(engineDB)
	return db, nil
}

// copyToFloor copies a run's applications, as the engine created them,
// into the floor's tables: each application, its chain's head and the
// entries of its chain (what the lock reads), without the columns the
// copies compute or number themselves.
func copyToFloor(ctx context.Context, owner *postgres.DB, ids []string) error {
	const columns = `
SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '' AND attidentity = ''`
	for _, c := range []struct{ table, where string }{
		{"applications", "id = ANY ($1::uuid[])"},
		{"audit_chains", "chain = ANY ($1::text[])"},
		{"audit_log", "chain = ANY ($1::text[]) ORDER BY seq"},
	} {
		var cols string
		if err := owner.GetContext(ctx, &cols, columns, "public."+c.table); err != nil {
			return fmt.Errorf("floor: columns of %s: %w", c.table, err)
		}
		q := fmt.Sprintf(`INSERT INTO %s.%s (%s) SELECT %s FROM public.%s WHERE %s`, floorSchema, c.table, cols, cols, c.table, c.where)
		if _, err := owner.ExecContext(ctx, q, pq.StringArray(ids)); err != nil {
			return fmt.Errorf("floor: copy %s: %w", c.table, err)
		}
	}
	return nil
}

// floorTransition makes a submission's writes on app with the engine's
// statements and none of its decisions: lock the application with its
// history and chain head, move it into formal review with its deadline,
// open the review stage with a task for every staff member and note them to
// be announced, append the transition to its chain with the caller's
// scope read back, commit.
func floorTransition(ctx context.Context, db *postgres.DB, chain *audit.Chain, app Application) error {
	actor := &app.Owner.User
	tx, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	a, hist, err := tx.LockApplicationWithHistory(ctx, actor, app.ID)
	if err != nil {
		return fmt.Errorf("floor: lock %s: %w", app.ID, err)
	}
	now := time.Now().Truncate(time.Microsecond)
	due := now.AddDate(0, 0, 7) // five working days
	const to = "formal_review"
	err = tx.UpdateApplication(ctx, postgres.ApplicationChange{ID: a.ID, Version: a.Version, State: to, StateChanged: true,
		Data: a.Data, Submitted: true, Deadline: &due, WorkflowVersion: a.WorkflowVersion, At: now})
	if err != nil {
		return fmt.Errorf("floor: move %s: %w", app.ID, err)
	}
	staff := postgres.CandidateQuery{Role: string(identity.Staff), OrgID: a.OrgID, OrgParentID: a.OrgParentID,
		Exclude: []string{actor.ID}}
	if _, err := tx.OpenRoleStage(ctx, a.ID, to, "any", &due, now, staff, false); err != nil {
		return fmt.Errorf("floor: open the stage of %s: %w", app.ID, err)
	}
	_, err = chain.Append(ctx, tx, audit.Entry{Kind: audit.KindTransition, AtMicros: now.UnixMicro(), ActorID: actor.ID,
		ApplicationID: a.ID, AppSeq: len(hist) + 1, Workflow: a.Workflow, WorkflowVersion: a.WorkflowVersion, Event: Event,
		From: a.State, To: to, Data: map[string]any{}})
	if err != nil {
		return fmt.Errorf("floor: append to the chain of %s: %w", app.ID, err)
	}
	if _, err := tx.ScopeWritten(ctx, actor, a.ID); err != nil {
		return fmt.Errorf("floor: write the entry of %s: %w", app.ID, err)
	}
	return tx.Commit()
}

// floorMisfired counts the applications the floor did not move exactly
// once: not one version on, not one stage, or not one entry more in their
// chain than the engine's creation wrote.
func floorMisfired(ctx context.Context, db *postgres.DB, ids []string) (int, error) {
	q := strings.ReplaceAll(`
SELECT count(*) FROM F.applications a
WHERE a.id = ANY ($1::uuid[])
  AND (a.version <> 2
       OR (SELECT count(*) FROM F.review_stages s WHERE s.application_id = a.id) <> 1
       OR (SELECT count(*) FROM F.audit_log l WHERE l.chain = a.id::text AND l.event = $2) <> 1)`, "F.", floorSchema+".")
	var bad int
	if err := db.GetContext(ctx, &bad, q, pq.Array(ids), Event); err != nil {
		return 0, fmt.Errorf("check the floor's steps: %w", err)
	}
	return bad, nil
}
