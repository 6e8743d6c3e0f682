package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"
)

// Jobs are river jobs in the same database: side effects and timer wake-ups
// are inserted in the transaction that causes them, so they exist if and
// only if it commits, survive restarts, and are worked by whichever server
// process takes them first (river locks each job for one worker).

// EffectJob is a side effect of a committed change (the transactional
// outbox): a transition, a task handed to someone. Its worker turns it into
// notifications.
type EffectJob struct {
	Topic         string         `json:"topic"`
	ApplicationID string         `json:"application_id,omitempty"`
	Payload       map[string]any `json:"payload,omitempty"`
}

// Kind names the job for river.
func (EffectJob) Kind() string { return "effect" }

// TimerJob wakes the server when a timer falls due; the timers row, locked
// when it fires, makes it fire once however often the job runs.
type TimerJob struct {
	TimerID int64 `json:"timer_id"`
}

// Kind names the job for river.
func (TimerJob) Kind() string { return "timer" }

// newJobClient is an insert-only river client: every process inserts, only
// serve works (package queue starts the working client).
func newJobClient(sqldb *sql.DB) (*river.Client[*sql.Tx], error) {
	c, err := river.NewClient(riverdatabasesql.New(sqldb), &river.Config{})
	if err != nil {
		return nil, fmt.Errorf("job client: %w", err)
	}
	return c, nil
}

// Enqueue inserts a job in the transaction.
func (tx *Tx) Enqueue(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	if _, err := tx.jobs.InsertTx(ctx, tx.Tx.Tx, args, opts); err != nil {
		return mapError("enqueue "+args.Kind(), err)
	}
	return nil
}

// QueueEffect records a side effect in the transaction that causes it: it
// happens if and only if the transaction commits.
func (tx *Tx) QueueEffect(ctx context.Context, topic, appID string, payload map[string]any) error {
	return tx.Enqueue(ctx, EffectJob{Topic: topic, ApplicationID: appID, Payload: payload}, nil)
}

// RiverDriver is the river driver over this database, for the working client.
func (db *DB) RiverDriver() *riverdatabasesql.Driver { return riverdatabasesql.New(db.DB.DB) }

// riverLock serialises river's migrations between processes starting at once.
const riverLock = 0x5C1F11

// migrateRiver brings river's own tables up to date, then lets the
// application role use them (river's migrations know nothing of it).
func migrateRiver(ctx context.Context, sqldb *sql.DB, log *slog.Logger) error {
	m, err := rivermigrate.New(riverdatabasesql.New(sqldb), &rivermigrate.Config{Logger: log})
	if err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	// River applies each version in its own transaction (one adds an enum
	// value the next uses), so a session lock on a connection of our own
	// keeps two processes starting at once from racing.
	conn, err := sqldb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, riverLock); err != nil {
		return fmt.Errorf("river migration lock: %w", err)
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, riverLock)
	start := time.Now()
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("apply river migrations: %w", err)
	}
	const grant = `
DO $$
DECLARE t text;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sciflow_app') THEN
        FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'river\_%' LOOP
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO sciflow_app', t);
        END LOOP;
        GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO sciflow_app;
    END IF;
END
$$`
	if _, err := conn.ExecContext(ctx, grant); err != nil {
		return fmt.Errorf("grant river tables: %w", err)
	}
	for _, v := range res.Versions {
		log.Info("river migration applied", "version", v.Version, "took", time.Since(start))
	}
	return nil
}

// RiverSchemaVersion is the newest river migration this binary applies, for
// naming test templates by the schema they hold.
func RiverSchemaVersion() int {
	m, err := rivermigrate.New(riverdatabasesql.New(nil), nil)
	if err != nil {
		return 0
	}
	all := m.AllVersions()
	if len(all) == 0 {
		return 0
	}
	return all[len(all)-1].Version
}

// EnqueueMany inserts several jobs in the transaction in one statement.
func (tx *Tx) EnqueueMany(ctx context.Context, jobs []river.InsertManyParams) error {
	if len(jobs) == 0 {
		return nil
	}
	if _, err := tx.jobs.InsertManyTx(ctx, tx.Tx.Tx, jobs); err != nil {
		return mapError("enqueue jobs", err)
	}
	return nil
}
