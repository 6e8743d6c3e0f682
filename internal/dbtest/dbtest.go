// Package dbtest gives tests a real, freshly migrated PostgreSQL database.
//
// Databases are copied from a migrated template, so each costs milliseconds.
// The server is TEST_DATABASE_URL when set (make test sets it to one
// throwaway cluster shared by every package), else a throwaway cluster this
// test binary starts for itself and stops in Main.
//
//	func TestMain(m *testing.M) { dbtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		db := dbtest.New(t)
//		...
//	}
package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/sciflow/sciflow/internal/pgcluster"
	"github.com/sciflow/sciflow/internal/postgres"
	"github.com/sciflow/sciflow/migrations"
)

var (
	setupOnce sync.Once
	server    *testServer
	setupErr  error
	stopOwn   func()
)

type testServer struct {
	baseDSN  string // key=value form, any database on the server
	admin    *sql.DB
	template string
	fileCopy bool // PostgreSQL 15+: copy files instead of WAL-logging the copy
}

// Main runs the package's tests, then stops the cluster New may have started.
func Main(m *testing.M) {
	code := m.Run()
	if server != nil {
		server.admin.Close()
	}
	if stopOwn != nil {
		stopOwn()
	}
	os.Exit(code)
}

// New returns a fresh migrated database, dropped when the test ends.
func New(t testing.TB) *postgres.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := postgres.Open(ctx, NewDSN(t))
	if err != nil {
		t.Fatalf("dbtest: open: %v", err)
	}
	// Registered after NewDSN's cleanup, so it runs first: close, then drop.
	t.Cleanup(func() { db.Close() })
	return db
}

// NewDSN creates a fresh migrated database and returns its connection string,
// for tests that hand it to code that opens its own connections (the server).
func NewDSN(t testing.TB) string {
	t.Helper()
	s, err := setup()
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	name := "t_" + randomHex(8)
	q := fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", pq.QuoteIdentifier(name), pq.QuoteIdentifier(s.template))
	if s.fileCopy {
		q += " STRATEGY FILE_COPY"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.admin.ExecContext(ctx, q); err != nil {
		t.Fatalf("dbtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := s.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("dbtest: drop database %s: %v", name, err)
		}
	})
	return DSNFor(s.baseDSN, name)
}

// DSNFor points a connection string at another database on the same server.
func DSNFor(dsn, dbname string) string {
	// lib/pq lets a later key override an earlier one.
	return dsn + " dbname=" + pq.QuoteLiteral(dbname)
}

func setup() (*testServer, error) {
	setupOnce.Do(func() { server, setupErr = connect() })
	return server, setupErr
}

func connect() (*testServer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn := os.Getenv("TEST_DATABASE_URL")
	if dsn == "" {
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		c, stop, err := pgcluster.StartThrowaway(ctx, log)
		if err != nil {
			return nil, fmt.Errorf("start throwaway cluster: %w", err)
		}
		stopOwn = stop
		dsn = c.DSN("postgres")
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		kv, err := pq.ParseURL(dsn)
		if err != nil {
			return nil, fmt.Errorf("TEST_DATABASE_URL: %w", err)
		}
		dsn = kv
	}
	admin, err := sql.Open("postgres", dsn)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	s := &testServer{baseDSN: dsn, admin: admin}
	var version int
	if err := admin.QueryRowContext(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&version); err != nil {
		return nil, fmt.Errorf("server version: %w", err)
	}
	s.fileCopy = version >= 150000
	if err := s.ensureTemplate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// ensureTemplate builds the migrated template database once per server and
// migration set. Test binaries run in parallel, so an advisory lock lets one
// build it while the others wait; it is built under a temporary name and
// renamed when complete, so a crash never leaves a half-migrated template.
func (s *testServer) ensureTemplate(ctx context.Context) error {
	sum, err := migrationsHash()
	if err != nil {
		return err
	}
	s.template = "sciflow_tmpl_" + sum
	conn, err := s.admin.Conn(ctx)
	if err != nil {
		return fmt.Errorf("admin connection: %w", err)
	}
	defer conn.Close()
	const lockKey = 0x5C1F10 // any constant shared by every test binary
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, lockKey); err != nil {
		return fmt.Errorf("template lock: %w", err)
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, lockKey)
	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, s.template).Scan(&exists); err != nil {
		return fmt.Errorf("look up template: %w", err)
	}
	if exists {
		return nil
	}
	building := s.template + "_building"
	if _, err := conn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(building)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop unfinished template: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(building)); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	db, err := postgres.Open(ctx, DSNFor(s.baseDSN, building))
	if err != nil {
		return fmt.Errorf("open template: %w", err)
	}
	err = postgres.Migrate(ctx, db, slog.New(slog.DiscardHandler))
	db.Close()
	if err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	// Closed connections may linger a moment on the server; make sure none
	// holds the template open, or copying from it would fail.
	if _, err := conn.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, building); err != nil {
		return fmt.Errorf("disconnect template: %w", err)
	}
	for i := 0; ; i++ {
		_, err = conn.ExecContext(ctx, "ALTER DATABASE "+pq.QuoteIdentifier(building)+" RENAME TO "+pq.QuoteIdentifier(s.template))
		if err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("finish template: %w", err)
	}
	return nil
}

func migrationsHash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := fs.ReadFile(migrations.FS, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(raw))
		h.Write(raw)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash migrations: %w", err)
	}
	// River's tables come from its own migrations, applied after ours.
	fmt.Fprintf(h, "river\x00%d", postgres.RiverSchemaVersion())
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
