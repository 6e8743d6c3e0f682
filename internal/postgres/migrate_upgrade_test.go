package postgres_test

import (
	"context"
	"testing"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/dbtest"
	"github.com/sciflow/sciflow/internal/postgres"
	"github.com/sciflow/sciflow/migrations"
)

// A database sealed before migration 012 gets the list of which seals name
// which chain from its seals, so that its old applications find their seal.
func TestUpgradeListsTheChainsOfEarlierSeals(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	p, err := goose.NewProvider(goose.DialectPostgres, db.DB.DB, migrations.FS, goose.WithTableName("schema_migrations"))
	require.NoError(t, err)
	_, err = p.DownTo(ctx, 11)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO audit_seals (seq, content, prev_hash, hash) VALUES
		(1, '{"at_us": 1, "chains": [{"chain": "a", "count": 1, "hash": "x"}, {"chain": "b", "count": 2, "hash": "y"}]}', '', ''),
		(2, '{"at_us": 2, "chains": [{"chain": "a", "count": 3, "hash": "z"}]}', '', '')`)
	require.NoError(t, err)

	require.NoError(t, postgres.Migrate(ctx, db, quiet))
	var rows []struct {
		Chain string `db:"chain"`
		Seal  int64  `db:"seal"`
	}
	require.NoError(t, db.SelectContext(ctx, &rows, `SELECT chain, seal FROM audit_seal_chains ORDER BY chain, seal`))
	require.Equal(t, []struct {
		Chain string `db:"chain"`
		Seal  int64  `db:"seal"`
	}{{"a", 1}, {"a", 2}, {"b", 1}}, rows)
}
