// Package postgres is sciflow's storage: the only package that knows the
// schema. It opens the database, applies migrations and runs every query.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river"

	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/migrations"
)

// DB is the storage handle every service method hangs off.
type DB struct {
	*sqlx.DB
	jobs *river.Client[*sql.Tx]
	// public are the workflow states every signed-in user may read.
	public *atomic.Pointer[[]string]
	// stmts are the hot path's prepared statements, by query (prepared.go).
	stmts *sync.Map
	// gate is the registration a submission waits for (SetRegistrationGate).
	gate *atomic.Pointer[RegistrationGate]
}

// Open connects to dsn and waits (up to the context's deadline) for the
// server to answer, so that a database still starting up is not an error.
func Open(ctx context.Context, dsn string) (*DB, error) {
	// One round trip per statement: parse, bind and execute go together
	// instead of a describe first. []byte arguments then travel in binary,
	// which is right for bytea; JSON goes as a string.
	dsn, err := WithParam(dsn, "binary_parameters", "yes")
	if err != nil {
		return nil, err
	}
	// The prepared statements (prepared.go) find rows by key: plan them
	// once, not again on every call as PostgreSQL would for their first
	// five and whenever it guesses a custom plan cheaper.
	if dsn, err = WithParam(dsn, "plan_cache_mode", "force_generic_plan"); err != nil {
		return nil, err
	}
	// Nor compile them: a generic plan's estimates are guesses, and a
	// guess past jit_above_cost (the open 公示, the plan indicators at a
	// province's size) paid 10 to 30 ms of compiling on every execution
	// for queries that take a few (docs/BENCHMARKS.md, "Read paths at
	// scale").
	if dsn, err = WithParam(dsn, "jit", "off"); err != nil {
		return nil, err
	}
	connector, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("database address: %w", err)
	}
	sqldb := sql.OpenDB(connector)
	sqldb.SetMaxOpenConns(20)
	sqldb.SetMaxIdleConns(10)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	jobs, err := newJobClient(sqldb)
	if err != nil {
		sqldb.Close()
		return nil, err
	}
	db := &DB{DB: sqlx.NewDb(sqldb, "postgres"), jobs: jobs, public: new(atomic.Pointer[[]string]), stmts: new(sync.Map),
		gate: new(atomic.Pointer[RegistrationGate])}
	for {
		pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err = db.PingContext(pingCtx)
		cancel()
		if err == nil {
			return db, nil
		}
		select {
		case <-ctx.Done():
			db.Close()
			return nil, fmt.Errorf("database does not answer: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// migrationsTable records which migrations have run.
const migrationsTable = "schema_migrations"

func provider(db *sql.DB, fsys fs.FS) (*goose.Provider, error) {
	// A session lock makes concurrent start-ups (two servers, parallel test
	// packages) apply each migration once.
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithSessionLocker(locker), goose.WithTableName(migrationsTable))
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// Migrate applies every pending migration, each in its own transaction. It
// refuses a database whose schema is newer than this binary knows: running
// old code against a new schema could corrupt what the new code wrote.
func Migrate(ctx context.Context, db *DB, log *slog.Logger) error {
	return migrate(ctx, db.DB.DB, migrations.FS, log)
}

func migrate(ctx context.Context, db *sql.DB, fsys fs.FS, log *slog.Logger) error {
	p, err := provider(db, fsys)
	if err != nil {
		return err
	}
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	known := latestVersion(p)
	if current > known {
		return fmt.Errorf("database schema is at version %d but this sciflow knows only up to %d: run a newer sciflow", current, known)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	for _, r := range results {
		log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}
	return migrateRiver(ctx, db, log)
}

func latestVersion(p *goose.Provider) int64 {
	var v int64
	for _, s := range p.ListSources() {
		v = max(v, s.Version)
	}
	return v
}

// SchemaVersion is the highest migration applied to the database.
func (db *DB) SchemaVersion(ctx context.Context) (int64, error) {
	var v int64
	q := `SELECT coalesce(max(version_id), 0) FROM ` + migrationsTable + ` WHERE is_applied`
	if err := db.GetContext(ctx, &v, q); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}

// mapError turns driver errors into the domain's: no rows is not found, a
// unique violation is a conflict. Everything else passes through wrapped.
func mapError(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, errs.ErrNotFound)
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code {
		case "23505":
			return fmt.Errorf("%s: %w", op, errs.E(errs.Conflict, "记录已存在", "it already exists"))
		case "23503":
			return fmt.Errorf("%s: %w", op, errs.E(errs.Invalid, "引用的记录不存在", "a referenced record does not exist"))
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

func isNotFound(err error) bool { return errs.CodeOf(err) == errs.NotFound }

// Unavailable reports whether err says the database could not be reached
// or went away (stopped, restarting, connection lost) rather than refusing
// the work: the same request may succeed once it is back. Checked where
// errors become answers, since such errors reach callers through many
// paths (begin, any statement, commit) that wrap them differently.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	// Dialling, reading or writing the connection failed: refused, no
	// socket, reset.
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return true
	}
	if pqErr := pq.As(err); pqErr != nil {
		switch pqErr.Code {
		case "57P01", "57P02", "57P03", "53300": // admin or crash shutdown, starting up, too many connections
			return true
		}
		return pqErr.Code.Class() == "08" // connection exception
	}
	return false
}

// AppRole is the role the server's queries run as (created by migration 002).
const AppRole = "sciflow_app"

// AppRoleUsable reports whether the connected user may act as AppRole.
func (db *DB) AppRoleUsable(ctx context.Context) (bool, error) {
	const q = `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)
	AND pg_has_role(current_user, (SELECT oid FROM pg_roles WHERE rolname = $1), 'MEMBER')`
	var ok bool
	if err := db.GetContext(ctx, &ok, q, AppRole); err != nil {
		return false, mapError("check app role", err)
	}
	return ok, nil
}

// EnableAppLogin lets AppRole log in by itself, for the embedded cluster,
// where the server then connects as it and holds no other role at all.
func (db *DB) EnableAppLogin(ctx context.Context) error {
	if _, err := db.ExecContext(ctx, `ALTER ROLE `+AppRole+` LOGIN`); err != nil {
		return mapError("enable app login", err)
	}
	return nil
}

// WithParam adds a connection parameter to a URL or key=value connection
// string; lib/pq sends unknown keys to the server as session settings.
func WithParam(dsn, key, value string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		kv, err := pq.ParseURL(dsn)
		if err != nil {
			return "", fmt.Errorf("database address: %w", err)
		}
		dsn = kv
	}
	return dsn + " " + key + "=" + pq.QuoteLiteral(value), nil
}
