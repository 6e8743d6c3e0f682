package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/dbtest"
	"github.com/sciflow/sciflow/internal/postgres"
)

// The server runs as sciflow_app: it can do its work, but it cannot remove
// or rewrite the trail, even by dropping the table or its triggers.
func TestAppRoleCannotTouchTheTrail(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := postgres.Open(ctx, dbtest.NewDSN(t)+" role=sciflow_app")
	require.NoError(t, err)
	defer db.Close()
	var who string
	require.NoError(t, db.Get(&who, `SELECT current_user`))
	require.Equal(t, "sciflow_app", who)

	_, err = db.Exec(`INSERT INTO orgs (name, kind) VALUES ('能写业务表', 'enterprise')`)
	require.NoError(t, err, "the app role does its ordinary work")
	_, err = db.Exec(`INSERT INTO audit_chains (chain, count, last_hash, signature) VALUES ('x', 0, '', '')`)
	require.NoError(t, err, "and may start a chain")
	_, err = db.Exec(`INSERT INTO audit_log (content, prev_hash, hash) VALUES ('{"chain":"x","chain_seq":1}', '', '')`)
	require.NoError(t, err, "and append to it")
	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, tx.QueueAnnouncements(ctx, []string{"00000000-0000-4000-8000-000000000001"}), "and queue opened tasks")
	_, taken, err := tx.AnnounceTasks(ctx, time.Now(), 10)
	require.NoError(t, err, "and announce them in batches")
	require.Equal(t, 1, taken)
	tx.Rollback()
	tx, _, _, err = db.BeginPlanRefresh(ctx)
	require.NoError(t, err)
	require.NoError(t, tx.StorePlanSnapshot(ctx, postgres.PlanSnapshot{Fingerprint: "f", AsOf: time.Now(),
		Indicators: map[string]map[string]float64{"k": {"": 1}}}), "and store the plan indicators")
	tx.Rollback()

	for _, q := range []string{
		`DROP TABLE audit_log`,
		`ALTER TABLE audit_log DISABLE TRIGGER USER`,
		`TRUNCATE audit_log`,
		`DELETE FROM audit_log`,
		`UPDATE audit_log SET content = ''`,
		`DROP TABLE workflow_versions`,
		`DELETE FROM workflow_versions`,
		`DROP TRIGGER audit_log_redaction_only ON audit_log`,
		`DROP TRIGGER audit_log_no_delete ON audit_log`,
		`UPDATE audit_log SET content = content, redacted_sha256 = 'x', redaction_sig = 'x', hash = 'x'`,
		`INSERT INTO audit_head (count, last_hash, signature) VALUES (0, '', '')`,
		`DELETE FROM audit_chains`,
		`DELETE FROM audit_seals`,
		`UPDATE audit_seals SET content = ''`,
		`DELETE FROM audit_seal_chains`,
		`UPDATE audit_seal_chains SET seal = 0`,
		`ALTER TABLE audit_seal_chains DISABLE TRIGGER USER`,
		`DELETE FROM audit_seal_head`,
	} {
		_, err := db.Exec(q)
		require.Error(t, err, q)
	}
}
