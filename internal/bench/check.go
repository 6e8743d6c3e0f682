package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/sciflow/sciflow/internal/postgres"
)

// Misfired counts the applications among ids whose history does not hold
// exactly one step of event: none means a transition was lost, two that
// one was made twice. It reads the audit log, where the history is.
func Misfired(ctx context.Context, db *postgres.DB, ids []string, event string) (int, error) {
	const q = `
SELECT count(*) FROM unnest($1::uuid[]) AS a(id)
WHERE (SELECT count(*) FROM audit_log l
       WHERE l.application_id = a.id AND l.kind = 'transition' AND l.event = $2) <> 1`
	var bad int
	if err := db.GetContext(ctx, &bad, q, pq.Array(ids), event); err != nil {
		return 0, fmt.Errorf("count %s steps: %w", event, err)
	}
	return bad, nil
}

// RequireEmpty refuses a database that already holds people: the bench
// fills it with its own and leaves them behind, which must never happen to
// a database in use. A database without sciflow's tables is empty.
func RequireEmpty(ctx context.Context, dsn string) error {
	db, err := postgres.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	var migrated bool
	if err := db.GetContext(ctx, &migrated, `SELECT to_regclass('users') IS NOT NULL`); err != nil {
		return fmt.Errorf("look for the users table: %w", err)
	}
	if !migrated {
		return nil
	}
	var used bool
	if err := db.GetContext(ctx, &used, `SELECT EXISTS (SELECT 1 FROM users)`); err != nil {
		return fmt.Errorf("look for users: %w", err)
	}
	if used {
		return errors.New("the database already has users: sciflow bench needs an empty database (it creates its own people and applications and leaves them there)")
	}
	return nil
}

// jobsTimeout bounds the wait for the servers to work off earlier runs' jobs.
const jobsTimeout = 10 * time.Minute

// waitForJobs waits until no side-effect job is waiting or running. The
// in-process runs queue jobs that no server works; without this the first
// server of the next run would work them off while being timed.
func waitForJobs(ctx context.Context, db *postgres.DB, progress func(string, ...any)) error {
	// The opened tasks waiting to be announced are work of the same kind.
	const q = `SELECT (SELECT count(*) FROM river_job WHERE state IN ('available', 'running'))
    + (SELECT count(*) FROM tasks_to_announce)`
	start := time.Now()
	deadline := start.Add(jobsTimeout)
	queued := 0
	for {
		var n int
		if err := db.GetContext(ctx, &n, q); err != nil {
			return fmt.Errorf("count jobs: %w", err)
		}
		if n == 0 {
			if queued > 0 {
				took := time.Since(start).Seconds()
				progress("worked off %d jobs in %.1f s, %.0f/s", queued, took, float64(queued)/took)
			}
			return nil
		}
		if queued == 0 {
			progress("waiting for the servers to work off %d queued jobs", n)
			queued = n
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d jobs still queued after %s", n, jobsTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// machineWithDatabase is machine with the facts of db that decide what a
// commit costs, and the pool the bench's own process uses.
func machineWithDatabase(ctx context.Context, db *postgres.DB, embedded bool) (Machine, error) {
	m := machine()
	facts, err := databaseFacts(ctx, db)
	if err != nil {
		return m, err
	}
	facts.Embedded = embedded
	facts.PoolMaxOpen = db.Stats().MaxOpenConnections
	m.Database = facts
	return m, nil
}

// databaseFacts are the server's version and the settings that decide what
// a commit costs.
func databaseFacts(ctx context.Context, db *postgres.DB) (Database, error) {
	var d Database
	for _, s := range []struct {
		name string
		into *string
	}{
		{"server_version", &d.Version},
		{"fsync", &d.Fsync},
		{"synchronous_commit", &d.SynchronousCommit},
		{"full_page_writes", &d.FullPageWrites},
	} {
		if err := db.GetContext(ctx, s.into, "SELECT current_setting($1)", s.name); err != nil {
			return d, fmt.Errorf("read setting %s: %w", s.name, err)
		}
	}
	return d, nil
}
