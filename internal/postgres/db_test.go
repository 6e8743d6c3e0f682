package postgres_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/dbtest"
	"github.com/sciflow/sciflow/internal/postgres"
)

var quiet = slog.New(slog.DiscardHandler)

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	before, err := db.SchemaVersion(ctx)
	require.NoError(t, err)
	require.Positive(t, before)
	require.NoError(t, postgres.Migrate(ctx, db, quiet))
	after, err := db.SchemaVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, before, after)
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	_, err := db.ExecContext(ctx, `INSERT INTO schema_migrations (version_id, is_applied) VALUES (9999, true)`)
	require.NoError(t, err)
	err = postgres.Migrate(ctx, db, quiet)
	require.ErrorContains(t, err, "database schema is at version 9999")
}

func TestEachTestGetsItsOwnDatabase(t *testing.T) {
	t.Parallel()
	a, b := dbtest.New(t), dbtest.New(t)
	ctx := context.Background()
	_, err := a.ExecContext(ctx, `CREATE TABLE only_in_a (x int)`)
	require.NoError(t, err)
	var n int
	require.NoError(t, b.GetContext(ctx, &n, `SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'`))
	require.Zero(t, n)
}
